//! The price catalogue: a versioned, effective-dated data file (TOML) keyed by (base model,
//! endpoint tier, source Region, on-demand/batch), plus overlays in the same format that take
//! precedence (a price fix needs no rebuild), plus the application-inference-profile mapping.
//!
//! Prices are USD per 1M tokens as exact decimal strings with at most 6 decimal places, so that
//! price x tokens / 1e6 is exact at the money scale (12): no rounding anywhere.

use rust_decimal::Decimal;
use serde::de::IgnoredAny;
use serde::Deserialize;
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rates {
    pub input: Decimal,
    pub output: Decimal,
    /// `None`: the model has no cache-read price (tokens, if any, are billed at `input` and the
    /// row is marked estimated).
    pub cache_read: Option<Decimal>,
    pub cache_write_5m: Option<Decimal>,
    pub cache_write_1h: Option<Decimal>,
}

/// The long-context tier: applies to ALL token classes of a request whose prompt
/// (input + cache read + cache write tokens) is strictly greater than `threshold_tokens`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongContext {
    pub threshold_tokens: i64,
    pub rates: Rates,
}

/// One catalogue entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceEntry {
    pub model: String,
    tiers: TierSet,
    regions: Vec<String>,
    effective_from: i64,
    effective_to: Option<i64>,
    pub rates: Rates,
    pub batch: Option<(Decimal, Decimal)>,
    pub long_context: Option<LongContext>,
    /// Version of the file this entry came from (base or overlay).
    pub version: String,
    /// 0 for the base catalogue, n for the n-th overlay: higher wins.
    layer: u32,
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

impl TierSet {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "*" => TierSet::Any,
            "global" => TierSet::Global,
            "geo" => TierSet::Geo,
            "in_region" => TierSet::InRegion,
            "regional" => TierSet::Regional,
            _ => return None,
        })
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

/// The fallback price for what the catalogue cannot price: conservative, never $0.
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    model: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default, rename = "name")]
    _name: Option<IgnoredAny>,
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
    long_context: Option<RawLong>,
    #[serde(default, rename = "source")]
    _source: Option<IgnoredAny>,
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
    fn date(&self, what: &str, s: &str) -> Result<i64, CatalogueError> {
        time::parse_rfc3339_ms(&format!("{s}T00:00:00Z"))
            .map(|ms| ms.div_euclid(86_400_000))
            .map_err(|e| self.bad(what, format!("{s:?} is not a YYYY-MM-DD date: {e}")))
    }
    fn tier(&self, what: &str, s: &str) -> Result<EndpointTier, CatalogueError> {
        match EndpointTier::parse(s) {
            Some(t) if t != EndpointTier::Unknown => Ok(t),
            _ => Err(self.bad(what, format!("tier {s:?} is not global, geo or in_region"))),
        }
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
                let batch = match (&e.batch_input, &e.batch_output) {
                    (Some(i), Some(o)) => Some((ctx.money(&what, i)?, ctx.money(&what, o)?)),
                    (None, None) => None,
                    _ => return Err(ctx.bad(&what, "batch_input and batch_output go together")),
                };
                let long_context = match &e.long_context {
                    Some(l) if l.threshold_tokens <= 0 => {
                        return Err(ctx.bad(&what, "long_context.threshold_tokens must be > 0"))
                    }
                    Some(l) => Some(LongContext {
                        threshold_tokens: l.threshold_tokens,
                        rates: ctx.rates(&format!("{what}.long_context"), &l.rates)?,
                    }),
                    None => None,
                };
                let effective_from = ctx.date(&what, &e.effective_from)?;
                let effective_to = e
                    .effective_to
                    .as_deref()
                    .map(|d| ctx.date(&what, d))
                    .transpose()?;
                if effective_to.is_some_and(|to| to <= effective_from) {
                    return Err(ctx.bad(&what, "effective_to must be after effective_from"));
                }
                let mut keys = vec![e.model.trim().to_string()];
                keys.extend(e.aliases.iter().map(|a| a.trim().to_string()));
                names.push(keys);
                entries.push(PriceEntry {
                    model: e.model.trim().to_string(),
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
            fallback,
            app_profiles,
            version,
        };
        cat.build_index(names);
        Ok(cat)
    }

    /// Indexes every entry under its id, its aliases, and their loose forms.
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

    /// Finds the price entry for (model, tier, Region, event day): the most specific match wins
    /// (overlay over base, exact tier over a set, exact Region over `*`, latest effective date).
    pub fn lookup(&self, model: &str, tier: EndpointTier, region: &str, day: i64) -> Lookup<'_> {
        let Some(cands) = self
            .index
            .get(model)
            .or_else(|| self.index.get(loose(model)))
        else {
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
            if day < e.effective_from || e.effective_to.is_some_and(|to| day >= to) {
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

    fn day(s: &str) -> i64 {
        time::parse_rfc3339_ms(&format!("{s}T12:00:00Z")).unwrap() / 86_400_000
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

    #[test]
    fn builtin_catalogue_loads() {
        let c = Catalogue::builtin().unwrap();
        assert!(c.entries().len() > 40);
        assert!(!c.version().is_empty());
    }
}
