//! The price catalogue: a versioned, effective-dated data file (TOML) keyed by (base model,
//! endpoint tier, source Region, on-demand/batch), plus overlays in the same format that take
//! precedence (a price fix needs no rebuild), plus the application-inference-profile mapping, and
//! the fallback ladder for what it does not price (same model, then family, then the global
//! fallback).
//!
//! Prices are USD per 1M tokens as exact decimal strings with at most 6 decimal places, so that
//! price x tokens / 1e6 is exact at the money scale (12): no rounding anywhere.

use rust_decimal::Decimal;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use spendguard_schemas::{row::MONEY_SCALE, time, EndpointTier};
use std::collections::HashMap;

/// The catalogue shipped with this build (`prices/bedrock.toml`).
pub const BUILTIN: &str = include_str!("../../prices/bedrock.toml");

/// Largest scale of a per-1M price: 6 + 6 (the /1e6) = the money scale.
const MAX_PRICE_SCALE: u32 = MONEY_SCALE - 6;

/// A catalogue that failed to load: names the file, and the entry or TOML line.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("{file}: {source}")]
    Toml {
        file: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("{file}: {what}: {problem}")]
    Invalid {
        file: String,
        what: String,
        problem: String,
    },
}

/// On-demand or batch inference: part of the price key. Invocation logs only carry on-demand
/// calls; batch is here so the same catalogue prices batch jobs from other sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    OnDemand,
    Batch,
}

/// Per-1M-token prices of one token class set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rates {
    pub input: Decimal,
    pub output: Decimal,
    /// `None`: the model has no cache-read price (tokens, if any, are billed at `input` and the
    /// row is marked estimated).
    pub cache_read: Option<Decimal>,
    pub cache_write_5m: Option<Decimal>,
    pub cache_write_1h: Option<Decimal>,
}

/// A threshold tier: applies to ALL token classes of a request whose prompt (input + cache read
/// + cache write tokens) is strictly greater than `threshold_tokens`. An entry may have several;
///   the highest threshold the prompt is over wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LongContext {
    pub threshold_tokens: i64,
    pub rates: Rates,
}

/// One catalogue entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceEntry {
    pub model: String,
    /// The display name, as AWS's Price List spells it (`servicename` without "(Amazon Bedrock
    /// Edition)"): the join key for a Price List sync.
    pub name: Option<String>,
    /// A model-id prefix naming the family (`anthropic.claude-haiku`): an unknown model id that
    /// starts with it is priced at the family's dearest member.
    pub family: Option<String>,
    pub aliases: Vec<String>,
    tiers: TierSet,
    regions: Vec<String>,
    /// Epoch ms, inclusive.
    effective_from: i64,
    /// Epoch ms, exclusive.
    effective_to: Option<i64>,
    pub rates: Rates,
    pub batch: Option<(Decimal, Decimal)>,
    /// Ascending by threshold.
    pub long_context: Vec<LongContext>,
    pub source: Option<String>,
    /// Version of the file this entry came from (base or overlay).
    pub version: String,
    /// 0 for the base catalogue, n for the n-th overlay: higher wins.
    layer: u32,
}

impl PriceEntry {
    /// The rates for one request whose prompt (input + cache read + cache write) has
    /// `prompt_tokens`: the highest threshold tier it is strictly over, else the base rates.
    pub fn rates_for(&self, prompt_tokens: i64) -> &Rates {
        self.long_context
            .iter()
            .rev()
            .find(|l| prompt_tokens > l.threshold_tokens)
            .map_or(&self.rates, |l| &l.rates)
    }

    /// The tier set as written in the file (`global`, `geo`, `in_region`, `regional`, `*`).
    pub fn tier_label(&self) -> &'static str {
        self.tiers.label()
    }

    /// The endpoint tiers the entry prices.
    pub fn tiers(&self) -> &'static [EndpointTier] {
        self.tiers.covers()
    }

    pub fn regions(&self) -> &[String] {
        &self.regions
    }

    /// (inclusive, exclusive) epoch ms.
    pub fn effective(&self) -> (i64, Option<i64>) {
        (self.effective_from, self.effective_to)
    }

    /// 0 for the base catalogue, n for the n-th overlay.
    pub fn layer(&self) -> u32 {
        self.layer
    }

    fn in_force(&self, at_ms: i64) -> bool {
        at_ms >= self.effective_from && self.effective_to.is_none_or(|to| at_ms < to)
    }

    /// The order "dearer than": output, then input, then the later overlay.
    fn dearness(&self) -> (Decimal, Decimal, u32) {
        (self.rates.output, self.rates.input, self.layer)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TierSet {
    Any,
    Global,
    Geo,
    InRegion,
    /// geo profiles and in-Region ids, which share a price for every model we know.
    Regional,
}

/// Each tier set as written in the file.
const TIER_SETS: [(&str, TierSet); 5] = [
    ("*", TierSet::Any),
    ("global", TierSet::Global),
    ("geo", TierSet::Geo),
    ("in_region", TierSet::InRegion),
    ("regional", TierSet::Regional),
];

impl TierSet {
    fn parse(s: &str) -> Option<Self> {
        TIER_SETS.iter().find(|(l, _)| *l == s).map(|(_, t)| *t)
    }
    fn label(self) -> &'static str {
        TIER_SETS
            .iter()
            .find(|(_, t)| *t == self)
            .map_or("*", |(l, _)| l)
    }
    /// The endpoint tiers the set covers.
    fn covers(self) -> &'static [EndpointTier] {
        use EndpointTier as E;
        match self {
            TierSet::Any => &[E::Global, E::Geo, E::InRegion],
            TierSet::Global => &[E::Global],
            TierSet::Geo => &[E::Geo],
            TierSet::InRegion => &[E::InRegion],
            TierSet::Regional => &[E::Geo, E::InRegion],
        }
    }
    /// None: no match; Some(true): an exact tier match (beats a set or `*`).
    fn matches(self, t: EndpointTier) -> Option<bool> {
        use EndpointTier as E;
        match (self, t) {
            (TierSet::Any, _) => Some(false),
            (TierSet::Global, E::Global) | (TierSet::Geo, E::Geo) => Some(true),
            (TierSet::InRegion, E::InRegion) => Some(true),
            (TierSet::Regional, E::Geo | E::InRegion) => Some(false),
            _ => None,
        }
    }
}

/// The fallback price for what neither the model's own entries nor its family can price:
/// conservative (the dearest listed base price, checked by a test), never $0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    pub rates: Rates,
    pub version: String,
}

/// A loaded catalogue (base + overlays).
#[derive(Debug, Clone)]
pub struct Catalogue {
    entries: Vec<PriceEntry>,
    /// model id, alias, and loose forms (without a trailing `:N`) -> entry indexes.
    index: HashMap<String, Vec<usize>>,
    /// family prefix -> the distinct model ids of its entries; longest prefix first.
    families: Vec<(String, Vec<String>)>,
    fallback: Fallback,
    app_profiles: HashMap<String, (String, EndpointTier)>,
    version: String,
}

/// The result of a lookup.
#[derive(Debug, Clone, Copy)]
pub enum Lookup<'c> {
    Found(&'c PriceEntry),
    /// The model is in the catalogue, but not for this tier/Region/date.
    NoPriceForKey,
    UnknownModel,
}

/// What prices one request: the entry for its key, or a rung of the fallback ladder. Every rung
/// but `Entry` makes the row `fallback`.
#[derive(Debug, Clone, Copy)]
pub enum Priced<'c> {
    /// The entry for (model, tier, Region, time).
    Entry(&'c PriceEntry),
    /// The model is known, but not for this tier, Region or time: its dearest entry in force
    /// then (any tier or Region), or its dearest entry of any date.
    SameModel(&'c PriceEntry),
    /// An unknown model of a known family: the family's dearest member for this key.
    Family {
        family: &'c str,
        entry: &'c PriceEntry,
    },
    /// An unknown model of no known family: the global fallback.
    Global(&'c Fallback),
}

impl<'c> Priced<'c> {
    pub fn rates_for(&self, prompt_tokens: i64) -> &'c Rates {
        match *self {
            Priced::Entry(e) | Priced::SameModel(e) | Priced::Family { entry: e, .. } => {
                e.rates_for(prompt_tokens)
            }
            Priced::Global(f) => &f.rates,
        }
    }
    pub fn version(&self) -> &'c str {
        match *self {
            Priced::Entry(e) | Priced::SameModel(e) | Priced::Family { entry: e, .. } => &e.version,
            Priced::Global(f) => &f.version,
        }
    }
    pub fn entry(&self) -> Option<&'c PriceEntry> {
        match *self {
            Priced::Entry(e) | Priced::SameModel(e) | Priced::Family { entry: e, .. } => Some(e),
            Priced::Global(_) => None,
        }
    }
    pub fn is_fallback(&self) -> bool {
        !matches!(self, Priced::Entry(_))
    }
    /// `priced`, `fallback_same_model`, `fallback_family` or `fallback_global`.
    pub fn label(&self) -> &'static str {
        match self {
            Priced::Entry(_) => "priced",
            Priced::SameModel(_) => "fallback_same_model",
            Priced::Family { .. } => "fallback_family",
            Priced::Global(_) => "fallback_global",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    version: String,
    #[serde(default)]
    currency: Option<String>,
    // Documentation for people editing the file: accepted, not used.
    #[serde(default, rename = "unit")]
    _unit: Option<IgnoredAny>,
    #[serde(default, rename = "source")]
    _source: Option<IgnoredAny>,
    #[serde(default, rename = "notes")]
    _notes: Option<IgnoredAny>,
    #[serde(default)]
    fallback: Option<RawRates>,
    #[serde(default)]
    price: Vec<RawEntry>,
    #[serde(default)]
    application_profile: Vec<RawAppProfile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRates {
    input: String,
    output: String,
    #[serde(default)]
    cache_read: Option<String>,
    #[serde(default)]
    cache_write_5m: Option<String>,
    #[serde(default)]
    cache_write_1h: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLong {
    threshold_tokens: i64,
    #[serde(flatten)]
    rates: RawRates,
}

/// `long_context = { ... }` (one threshold) or `long_context = [{ ... }, { ... }]` (several).
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(RawLong),
    Many(Vec<RawLong>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    model: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    family: Option<String>,
    tier: String,
    #[serde(default = "any_region")]
    regions: Vec<String>,
    effective_from: String,
    #[serde(default)]
    effective_to: Option<String>,
    input: String,
    output: String,
    #[serde(default)]
    cache_read: Option<String>,
    #[serde(default)]
    cache_write_5m: Option<String>,
    #[serde(default)]
    cache_write_1h: Option<String>,
    #[serde(default)]
    batch_input: Option<String>,
    #[serde(default)]
    batch_output: Option<String>,
    #[serde(default)]
    long_context: Option<OneOrMany>,
    #[serde(default)]
    source: Option<String>,
}

fn any_region() -> Vec<String> {
    vec!["*".to_string()]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAppProfile {
    arn: String,
    model: String,
    tier: String,
}

struct Ctx<'f> {
    file: &'f str,
}

impl Ctx<'_> {
    fn bad(&self, what: impl Into<String>, problem: impl Into<String>) -> CatalogueError {
        CatalogueError::Invalid {
            file: self.file.to_string(),
            what: what.into(),
            problem: problem.into(),
        }
    }
    fn money(&self, what: &str, s: &str) -> Result<Decimal, CatalogueError> {
        let d: Decimal = s
            .trim()
            .parse()
            .map_err(|e| self.bad(what, format!("{s:?} is not a decimal: {e}")))?;
        if d.is_sign_negative() {
            return Err(self.bad(what, format!("{s} is negative")));
        }
        let d = d.normalize();
        if d.scale() > MAX_PRICE_SCALE {
            return Err(self.bad(
                what,
                format!("{s} has more than {MAX_PRICE_SCALE} decimal places (USD per 1M tokens)"),
            ));
        }
        Ok(d)
    }
    fn opt(&self, what: &str, s: &Option<String>) -> Result<Option<Decimal>, CatalogueError> {
        s.as_deref().map(|s| self.money(what, s)).transpose()
    }
    fn rates(&self, what: &str, r: &RawRates) -> Result<Rates, CatalogueError> {
        Ok(Rates {
            input: self.money(&format!("{what}.input"), &r.input)?,
            output: self.money(&format!("{what}.output"), &r.output)?,
            cache_read: self.opt(&format!("{what}.cache_read"), &r.cache_read)?,
            cache_write_5m: self.opt(&format!("{what}.cache_write_5m"), &r.cache_write_5m)?,
            cache_write_1h: self.opt(&format!("{what}.cache_write_1h"), &r.cache_write_1h)?,
        })
    }
    /// `YYYY-MM-DD` is midnight UTC of that day (AWS dates its price changes to the day, and
    /// genai-prices applies a dated price from the UTC day); a full RFC 3339 instant
    /// (`2026-08-21T17:00:00Z`) takes effect at that instant, for a change announced to the
    /// minute. Epoch ms.
    fn instant(&self, what: &str, s: &str) -> Result<i64, CatalogueError> {
        time::parse_day_or_instant_ms(s).map_err(|e| {
            self.bad(
                what,
                format!("{s:?} is not a YYYY-MM-DD date or an RFC 3339 instant: {e}"),
            )
        })
    }
    fn tier(&self, what: &str, s: &str) -> Result<EndpointTier, CatalogueError> {
        match EndpointTier::parse(s) {
            Some(t) if t != EndpointTier::Unknown => Ok(t),
            _ => Err(self.bad(what, format!("tier {s:?} is not global, geo or in_region"))),
        }
    }
    fn long_context(
        &self,
        what: &str,
        raw: &Option<OneOrMany>,
    ) -> Result<Vec<LongContext>, CatalogueError> {
        let raws: Vec<&RawLong> = match raw {
            None => Vec::new(),
            Some(OneOrMany::One(l)) => vec![l],
            Some(OneOrMany::Many(ls)) => ls.iter().collect(),
        };
        let mut out = Vec::with_capacity(raws.len());
        for (i, l) in raws.into_iter().enumerate() {
            let w = format!("{what}.long_context[{i}]");
            if l.threshold_tokens <= 0 {
                return Err(self.bad(&w, "threshold_tokens must be > 0"));
            }
            if out
                .last()
                .is_some_and(|p: &LongContext| p.threshold_tokens >= l.threshold_tokens)
            {
                return Err(self.bad(&w, "thresholds must be strictly increasing"));
            }
            out.push(LongContext {
                threshold_tokens: l.threshold_tokens,
                rates: self.rates(&w, &l.rates)?,
            });
        }
        Ok(out)
    }
}

/// The model id without a trailing `:N` version (`...-v1:0` -> `...-v1`), for matching logged
/// ids that omit or add it.
fn loose(id: &str) -> &str {
    match id.rsplit_once(':') {
        Some((head, tail)) if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) => head,
        _ => id,
    }
}

impl Catalogue {
    /// The built-in catalogue.
    pub fn builtin() -> Result<Self, CatalogueError> {
        Self::load(&[("prices/bedrock.toml", BUILTIN)])
    }

    /// Loads a base catalogue and overlays, in order: `files[0]` is the base (must have a
    /// `[fallback]`), later files override earlier ones for the same key.
    pub fn load(files: &[(&str, &str)]) -> Result<Self, CatalogueError> {
        let mut entries = Vec::new();
        let mut fallback = None;
        let mut app_profiles = HashMap::new();
        let mut version = String::new();
        let mut names: Vec<Vec<String>> = Vec::new();
        for (layer, (name, text)) in files.iter().enumerate() {
            let ctx = Ctx { file: name };
            let raw: RawFile = toml::from_str(text).map_err(|source| CatalogueError::Toml {
                file: name.to_string(),
                source,
            })?;
            if raw.version.trim().is_empty() {
                return Err(ctx.bad("version", "must not be empty"));
            }
            if let Some(cur) = &raw.currency {
                if cur != "USD" {
                    return Err(ctx.bad("currency", format!("{cur:?}: only USD is supported")));
                }
            }
            if let Some(f) = &raw.fallback {
                let rates = ctx.rates("fallback", f)?;
                if rates.input.is_zero() || rates.output.is_zero() {
                    return Err(ctx.bad(
                        "fallback",
                        "input and output must be > 0: never a silent $0",
                    ));
                }
                fallback = Some(Fallback {
                    rates,
                    version: raw.version.clone(),
                });
            }
            for (i, e) in raw.price.iter().enumerate() {
                let what = format!("price[{i}] ({})", e.model);
                if e.model.trim().is_empty() {
                    return Err(ctx.bad(&what, "model must not be empty"));
                }
                let tiers = TierSet::parse(&e.tier).ok_or_else(|| {
                    ctx.bad(
                        &what,
                        format!("tier {:?}: use global|geo|in_region|regional|*", e.tier),
                    )
                })?;
                if e.regions.is_empty() {
                    return Err(ctx.bad(&what, "regions must not be empty (use [\"*\"])"));
                }
                let family = e.family.as_deref().map(str::trim).map(str::to_string);
                if let Some(f) = &family {
                    if f.is_empty() || !e.model.trim().starts_with(f.as_str()) {
                        return Err(ctx.bad(
                            &what,
                            format!("family {f:?} must be a non-empty prefix of the model id"),
                        ));
                    }
                }
                let batch = match (&e.batch_input, &e.batch_output) {
                    (Some(i), Some(o)) => Some((ctx.money(&what, i)?, ctx.money(&what, o)?)),
                    (None, None) => None,
                    _ => return Err(ctx.bad(&what, "batch_input and batch_output go together")),
                };
                let long_context = ctx.long_context(&what, &e.long_context)?;
                let effective_from = ctx.instant(&what, &e.effective_from)?;
                let effective_to = e
                    .effective_to
                    .as_deref()
                    .map(|d| ctx.instant(&what, d))
                    .transpose()?;
                if effective_to.is_some_and(|to| to <= effective_from) {
                    return Err(ctx.bad(&what, "effective_to must be after effective_from"));
                }
                let aliases: Vec<String> = e.aliases.iter().map(|a| a.trim().to_string()).collect();
                let mut keys = vec![e.model.trim().to_string()];
                keys.extend(aliases.iter().cloned());
                names.push(keys);
                entries.push(PriceEntry {
                    model: e.model.trim().to_string(),
                    name: e.name.clone(),
                    family,
                    aliases,
                    tiers,
                    regions: e.regions.clone(),
                    effective_from,
                    effective_to,
                    rates: ctx.rates(
                        &what,
                        &RawRates {
                            input: e.input.clone(),
                            output: e.output.clone(),
                            cache_read: e.cache_read.clone(),
                            cache_write_5m: e.cache_write_5m.clone(),
                            cache_write_1h: e.cache_write_1h.clone(),
                        },
                    )?,
                    batch,
                    long_context,
                    source: e.source.clone(),
                    version: raw.version.clone(),
                    layer: layer as u32,
                });
            }
            for (i, p) in raw.application_profile.iter().enumerate() {
                let what = format!("application_profile[{i}]");
                let tier = ctx.tier(&what, &p.tier)?;
                if !p.arn.contains(":application-inference-profile/") {
                    return Err(ctx.bad(
                        &what,
                        format!("{:?} is not an application-inference-profile ARN", p.arn),
                    ));
                }
                app_profiles.insert(p.arn.clone(), (p.model.clone(), tier));
            }
            version = if version.is_empty() {
                raw.version.clone()
            } else {
                format!("{version}+{}", raw.version)
            };
        }
        let fallback = fallback.ok_or_else(|| CatalogueError::Invalid {
            file: files.first().map(|f| f.0.to_string()).unwrap_or_default(),
            what: "fallback".into(),
            problem: "the base catalogue must define [fallback] prices".into(),
        })?;
        let mut cat = Catalogue {
            entries,
            index: HashMap::new(),
            families: Vec::new(),
            fallback,
            app_profiles,
            version,
        };
        cat.build_index(names);
        Ok(cat)
    }

    /// Indexes every entry under its id, its aliases, and their loose forms; groups the model
    /// ids of each family.
    fn build_index(&mut self, names: Vec<Vec<String>>) {
        for (i, ns) in names.into_iter().enumerate() {
            let mut keys: Vec<String> = Vec::new();
            for n in ns {
                let l = loose(&n).to_string();
                keys.push(n);
                keys.push(l);
            }
            keys.sort();
            keys.dedup();
            for k in keys {
                self.index.entry(k).or_default().push(i);
            }
        }
        let mut fams: HashMap<&str, Vec<String>> = HashMap::new();
        for e in &self.entries {
            if let Some(f) = &e.family {
                let models = fams.entry(f.as_str()).or_default();
                if !models.contains(&e.model) {
                    models.push(e.model.clone());
                }
            }
        }
        let mut families: Vec<(String, Vec<String>)> = fams
            .into_iter()
            .map(|(f, ms)| (f.to_string(), ms))
            .collect();
        families.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        self.families = families;
    }

    /// Version string of the whole catalogue (base `+` overlays).
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn fallback(&self) -> &Fallback {
        &self.fallback
    }

    pub fn entries(&self) -> &[PriceEntry] {
        &self.entries
    }

    /// The configured (model, tier) of an application inference profile ARN.
    pub fn application_profile(&self, arn: &str) -> Option<(&str, EndpointTier)> {
        self.app_profiles.get(arn).map(|(m, t)| (m.as_str(), *t))
    }

    fn candidates(&self, model: &str) -> Option<&Vec<usize>> {
        self.index
            .get(model)
            .or_else(|| self.index.get(loose(model)))
    }

    /// Finds the price entry for (model, tier, Region, instant): the most specific match wins
    /// (overlay over base, exact tier over a set, exact Region over `*`, latest effective date).
    pub fn lookup(&self, model: &str, tier: EndpointTier, region: &str, at_ms: i64) -> Lookup<'_> {
        let Some(cands) = self.candidates(model) else {
            return Lookup::UnknownModel;
        };
        // (layer, exact tier, exact Region, effective_from): compared lexicographically.
        type Rank = (u32, bool, bool, i64);
        let mut best: Option<(&PriceEntry, Rank)> = None;
        for &i in cands {
            let Some(e) = self.entries.get(i) else {
                continue;
            };
            let Some(tier_exact) = e.tiers.matches(tier) else {
                continue;
            };
            let region_exact = if e.regions.iter().any(|r| r == region) {
                true
            } else if e.regions.iter().any(|r| r == "*") {
                false
            } else {
                continue;
            };
            if !e.in_force(at_ms) {
                continue;
            }
            let rank = (e.layer, tier_exact, region_exact, e.effective_from);
            if best.as_ref().is_none_or(|(_, r)| rank > *r) {
                best = Some((e, rank));
            }
        }
        match best {
            Some((e, _)) => Lookup::Found(e),
            None => Lookup::NoPriceForKey,
        }
    }

    /// What prices a request of `model` through `tier` from `region` at `at_ms`: its entry, or
    /// the fallback ladder (same model, family, global). One rule for the pricer, `prices
    /// explain` and the simulation.
    pub fn price_for(
        &self,
        model: &str,
        tier: EndpointTier,
        region: &str,
        at_ms: i64,
    ) -> Priced<'_> {
        match self.lookup(model, tier, region, at_ms) {
            Lookup::Found(e) => Priced::Entry(e),
            Lookup::NoPriceForKey => self.same_model(model, at_ms),
            Lookup::UnknownModel => self.family_fallback(model, tier, region, at_ms),
        }
    }

    /// The dearest entry of a known model in force at `at_ms` (any tier or Region); if none is
    /// in force then, its dearest entry of any date.
    fn same_model(&self, model: &str, at_ms: i64) -> Priced<'_> {
        let ents = || {
            self.candidates(model)
                .into_iter()
                .flatten()
                .filter_map(|&i| self.entries.get(i))
        };
        let dearest = ents()
            .filter(|e| e.in_force(at_ms))
            .max_by_key(|e| e.dearness())
            .or_else(|| ents().max_by_key(|e| e.dearness()));
        match dearest {
            Some(e) => Priced::SameModel(e),
            None => Priced::Global(&self.fallback),
        }
    }

    /// The family an unknown model id belongs to: the longest family prefix it starts with.
    pub fn family_of(&self, model: &str) -> Option<&str> {
        self.family(model).map(|(f, _)| f.as_str())
    }

    /// (family prefix, its model ids) for the longest family prefix of `model`.
    fn family(&self, model: &str) -> Option<&(String, Vec<String>)> {
        self.families
            .iter()
            .find(|(f, _)| model.starts_with(f.as_str()))
    }

    /// An unknown model of a known family: the dearest price any member has for this key (each
    /// member through the ordinary lookup, so overlays count); if no member is priced for the
    /// key, the dearest member entry in force. Unknown family: the global fallback.
    fn family_fallback(
        &self,
        model: &str,
        tier: EndpointTier,
        region: &str,
        at_ms: i64,
    ) -> Priced<'_> {
        let Some((family, members)) = self.family(model) else {
            return Priced::Global(&self.fallback);
        };
        let for_key = members
            .iter()
            .filter_map(|m| match self.lookup(m, tier, region, at_ms) {
                Lookup::Found(e) => Some(e),
                _ => None,
            })
            .max_by_key(|e| e.dearness());
        let entry = for_key.or_else(|| {
            self.entries
                .iter()
                .filter(|e| e.family.as_deref() == Some(family.as_str()) && e.in_force(at_ms))
                .max_by_key(|e| e.dearness())
        });
        match entry {
            Some(entry) => Priced::Family { family, entry },
            None => Priced::Global(&self.fallback),
        }
    }

    /// Base prices (class by class) dearer than the global fallback: a catalogue whose fallback
    /// is not the dearest listed price would under-count unknown models. Empty when sound.
    pub fn dearer_than_fallback(&self) -> Vec<(&PriceEntry, &'static str, Decimal)> {
        let f = &self.fallback.rates;
        let mut out = Vec::new();
        for e in &self.entries {
            let r = &e.rates;
            let pairs: [(&'static str, Option<Decimal>, Option<Decimal>); 5] = [
                ("input", Some(r.input), Some(f.input)),
                ("output", Some(r.output), Some(f.output)),
                ("cache_read", r.cache_read, f.cache_read),
                ("cache_write_5m", r.cache_write_5m, f.cache_write_5m),
                ("cache_write_1h", r.cache_write_1h, f.cache_write_1h),
            ];
            for (class, ours, fb) in pairs {
                if let Some(p) = ours {
                    if p > fb.unwrap_or(f.input) {
                        out.push((e, class, p));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
version = "t1"
[fallback]
input = "15"
output = "75"
[[price]]
model = "m.one-v1:0"
aliases = ["m.one"]
tier = "global"
effective_from = "2025-01-01"
input = "1"
output = "2"
[[price]]
model = "m.one-v1:0"
tier = "regional"
effective_from = "2025-01-01"
input = "1.1"
output = "2.2"
[[price]]
model = "m.one-v1:0"
tier = "regional"
regions = ["eu-west-3"]
effective_from = "2025-01-01"
input = "1.2"
output = "2.4"
[[price]]
model = "m.one-v1:0"
tier = "regional"
effective_from = "2026-01-01"
input = "0.9"
output = "1.8"
"#;

    /// Noon UTC of a day, in epoch ms.
    fn day(s: &str) -> i64 {
        time::parse_rfc3339_ms(&format!("{s}T12:00:00Z")).unwrap()
    }

    fn input_of(l: Lookup<'_>) -> String {
        match l {
            Lookup::Found(e) => e.rates.input.to_string(),
            Lookup::NoPriceForKey => "no-key".into(),
            Lookup::UnknownModel => "unknown".into(),
        }
    }

    #[test]
    fn most_specific_entry_wins() {
        let c = Catalogue::load(&[("base", BASE)]).unwrap();
        let d = day("2025-06-01");
        assert_eq!(
            input_of(c.lookup("m.one-v1:0", EndpointTier::Global, "us-east-1", d)),
            "1"
        );
        assert_eq!(
            input_of(c.lookup("m.one-v1:0", EndpointTier::Geo, "us-east-1", d)),
            "1.1"
        );
        assert_eq!(
            input_of(c.lookup("m.one-v1:0", EndpointTier::InRegion, "eu-west-3", d)),
            "1.2"
        );
        // effective dating: the 2026 price replaces the 2025 one from its first day
        assert_eq!(
            input_of(c.lookup(
                "m.one-v1:0",
                EndpointTier::Geo,
                "us-east-1",
                day("2026-01-01")
            )),
            "0.9"
        );
        assert_eq!(
            input_of(c.lookup(
                "m.one-v1:0",
                EndpointTier::Geo,
                "us-east-1",
                day("2024-12-31")
            )),
            "no-key"
        );
        // alias and loose (no `:0`) forms
        assert_eq!(
            input_of(c.lookup("m.one", EndpointTier::Global, "x", d)),
            "1"
        );
        assert_eq!(
            input_of(c.lookup("m.one-v1", EndpointTier::Global, "x", d)),
            "1"
        );
        assert_eq!(
            input_of(c.lookup("m.two", EndpointTier::Global, "x", d)),
            "unknown"
        );
        assert_eq!(
            input_of(c.lookup("m.one-v1:0", EndpointTier::Unknown, "x", d)),
            "no-key"
        );
    }

    #[test]
    fn overlay_overrides_without_rebuild() {
        let overlay = r#"
version = "fix-1"
[[price]]
model = "m.one-v1:0"
tier = "global"
effective_from = "2025-01-01"
input = "0.5"
output = "1"
[[application_profile]]
arn = "arn:aws:bedrock:us-east-1:1:application-inference-profile/p1"
model = "m.one-v1:0"
tier = "global"
"#;
        let c = Catalogue::load(&[("base", BASE), ("overlay", overlay)]).unwrap();
        let Lookup::Found(e) = c.lookup(
            "m.one-v1:0",
            EndpointTier::Global,
            "us-east-1",
            day("2025-06-01"),
        ) else {
            panic!("not found")
        };
        assert_eq!(e.rates.input.to_string(), "0.5");
        assert_eq!(e.version, "fix-1");
        assert_eq!(c.version(), "t1+fix-1");
        assert_eq!(
            c.application_profile("arn:aws:bedrock:us-east-1:1:application-inference-profile/p1"),
            Some(("m.one-v1:0", EndpointTier::Global))
        );
    }

    #[test]
    fn invalid_files_are_refused_with_a_reason() {
        let cases = [
            ("version = \"x\"\n", "fallback"),
            ("version = \"x\"\n[fallback]\ninput = \"0\"\noutput = \"0\"\n", "never a silent $0"),
            ("version = \"x\"\n[fallback]\ninput = \"1\"\noutput = \"1.0000001\"\n", "decimal places"),
            ("version = \"x\"\n[fallback]\ninput = \"-1\"\noutput = \"1\"\n", "negative"),
            ("version = \"x\"\n[fallback]\ninput = \"1\"\noutput = \"1\"\n[[price]]\nmodel=\"a\"\ntier=\"moon\"\neffective_from=\"2025-01-01\"\ninput=\"1\"\noutput=\"1\"\n", "tier"),
            ("version = \"x\"\n[fallback]\ninput = \"1\"\noutput = \"1\"\n[[price]]\nmodel=\"a\"\ntier=\"*\"\neffective_from=\"2025-13-01\"\ninput=\"1\"\noutput=\"1\"\n", "YYYY-MM-DD"),
            ("version = \"x\"\n[fallback]\ninput = 1\noutput = \"1\"\n", "invalid type"),
            ("version = \"x\"\nunknown_key = 1\n[fallback]\ninput = \"1\"\noutput = \"1\"\n", "unknown field"),
        ];
        for (text, want) in cases {
            let err = Catalogue::load(&[("f.toml", text)])
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{err:?} should mention {want:?}");
            assert!(err.starts_with("f.toml"), "{err}");
        }
    }

    const LADDER: &str = r#"
version = "t2"
[fallback]
input = "20"
output = "80"
[[price]]
model = "a.fam-small-v1"
family = "a.fam"
tier = "*"
effective_from = "2025-01-01"
input = "1"
output = "5"
[[price]]
model = "a.fam-big-v1"
name = "Fam Big"
family = "a.fam"
tier = "regional"
effective_from = "2025-01-01"
input = "3"
output = "15"
long_context = [
  { threshold_tokens = 1000, input = "6", output = "30" },
  { threshold_tokens = 5000, input = "9", output = "45" },
]
[[price]]
model = "a.fam-big-v1"
family = "a.fam"
tier = "regional"
effective_from = "2026-08-21T17:00:00Z"
input = "2"
output = "10"
"#;

    #[test]
    fn several_thresholds_the_highest_exceeded_wins() {
        let c = Catalogue::load(&[("l", LADDER)]).unwrap();
        let Lookup::Found(e) = c.lookup("a.fam-big-v1", EndpointTier::Geo, "x", day("2025-06-01"))
        else {
            panic!()
        };
        assert_eq!(e.name.as_deref(), Some("Fam Big"));
        assert_eq!(e.family.as_deref(), Some("a.fam"));
        let input = |p| e.rates_for(p).input.to_string();
        assert_eq!(input(1000), "3", "exactly at the threshold is not over it");
        assert_eq!(input(1001), "6");
        assert_eq!(input(5000), "6");
        assert_eq!(input(5001), "9");
    }

    #[test]
    fn a_price_dated_to_the_instant_starts_at_that_instant() {
        let c = Catalogue::load(&[("l", LADDER)]).unwrap();
        let at = |s: &str| time::parse_rfc3339_ms(s).unwrap();
        let input = |ms| match c.lookup("a.fam-big-v1", EndpointTier::InRegion, "x", ms) {
            Lookup::Found(e) => e.rates.input.to_string(),
            _ => "none".into(),
        };
        assert_eq!(input(at("2026-08-21T16:59:59.999Z")), "3");
        assert_eq!(input(at("2026-08-21T17:00:00Z")), "2");
    }

    #[test]
    fn the_fallback_ladder_same_model_then_family_then_global() {
        let c = Catalogue::load(&[("l", LADDER)]).unwrap();
        let d = day("2025-06-01");
        // known model, tier it is not sold on: its own dearest entry in force
        let p = c.price_for("a.fam-big-v1", EndpointTier::Global, "x", d);
        assert_eq!(p.label(), "fallback_same_model");
        assert_eq!(p.rates_for(0).input.to_string(), "3");
        // unknown member of a known family: the family's dearest member for the key
        let p = c.price_for("a.fam-huge-v2", EndpointTier::Geo, "x", d);
        assert_eq!(p.label(), "fallback_family");
        assert_eq!(p.rates_for(0).output.to_string(), "15");
        // ... whose thresholds come with it
        assert_eq!(p.rates_for(1001).output.to_string(), "30");
        // for the global tier only the `*` member is priced for the key
        let p = c.price_for("a.fam-huge-v2", EndpointTier::Global, "x", d);
        assert_eq!(p.rates_for(0).output.to_string(), "5");
        assert_eq!(c.family_of("a.fam-huge-v2"), Some("a.fam"));
        // an unknown provider: the global fallback
        let p = c.price_for("z.other-v1", EndpointTier::Geo, "x", d);
        assert_eq!(p.label(), "fallback_global");
        assert_eq!(p.rates_for(0).input.to_string(), "20");
        assert!(p.is_fallback());
        assert!(!c
            .price_for("a.fam-small-v1", EndpointTier::Global, "x", d)
            .is_fallback());
    }

    #[test]
    fn family_must_prefix_the_model_and_thresholds_must_increase() {
        let bad_family = LADDER.replace(
            "family = \"a.fam\"\ntier = \"*\"",
            "family = \"b.fam\"\ntier = \"*\"",
        );
        let err = Catalogue::load(&[("f", &bad_family)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("prefix of the model id"), "{err}");
        let bad_order = LADDER.replace("threshold_tokens = 5000", "threshold_tokens = 1000");
        let err = Catalogue::load(&[("f", &bad_order)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("strictly increasing"), "{err}");
    }

    #[test]
    fn builtin_fallback_is_the_dearest_base_price_listed() {
        let c = Catalogue::builtin().unwrap();
        let dearer: Vec<String> = c
            .dearer_than_fallback()
            .iter()
            .map(|(e, class, p)| format!("{} [{}] {class} {p}", e.model, e.tier_label()))
            .collect();
        assert!(dearer.is_empty(), "dearer than the fallback: {dearer:?}");
        // and it is not dearer than it needs to be: each class is some entry's price
        let f = &c.fallback().rates;
        for (class, want) in [("input", f.input), ("output", f.output)] {
            assert!(
                c.entries().iter().any(|e| match class {
                    "input" => e.rates.input == want,
                    _ => e.rates.output == want,
                }),
                "fallback {class} {want} is no listed price"
            );
        }
    }

    #[test]
    fn every_builtin_entry_has_a_name_family_and_source() {
        let c = Catalogue::builtin().unwrap();
        for e in c.entries() {
            assert!(e.name.is_some(), "{} has no name", e.model);
            assert!(e.family.is_some(), "{} has no family", e.model);
            assert!(e.source.is_some(), "{} has no source", e.model);
        }
    }

    #[test]
    fn builtin_catalogue_loads() {
        let c = Catalogue::builtin().unwrap();
        assert!(c.entries().len() > 120);
        assert!(!c.version().is_empty());
    }
}
