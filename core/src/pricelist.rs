//! AWS's own machine-readable Bedrock prices (Price List `GetProducts` responses and bulk offer
//! files for `AmazonBedrock`, `AmazonBedrockFoundationModels` and `AmazonBedrockService`) turned
//! into a catalogue overlay: every token SKU classified to (model, class, tier, Region, on-demand
//! or batch), joined to catalogue entries by name, never guessed; and the diff of an overlay
//! against the catalogue in force.

use crate::catalogue::{Catalogue, CatalogueError, Lookup, PriceEntry, Rates};
use rust_decimal::Decimal;
use serde_json::Value;
use spendguard_schemas::{time, EndpointTier};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// A file that cannot be read as Price List data: nothing is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceListError {
    #[error("{file}: not JSON: {reason}")]
    Json { file: String, reason: String },
    #[error("{file}: {what}")]
    Shape { file: String, what: String },
    #[error("{file}: SKU {sku}: {what}")]
    Sku {
        file: String,
        sku: String,
        what: String,
    },
}

/// One priced SKU (one OnDemand price dimension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub file: String,
    pub sku: String,
    pub service_code: String,
    pub attributes: BTreeMap<String, String>,
    pub unit: String,
    pub usd: Decimal,
    pub description: String,
    /// The term's `effectiveDate` (RFC 3339).
    pub effective: String,
    /// The offer version (`20260501202025`).
    pub version: String,
}

impl Product {
    fn attr(&self, k: &str) -> &str {
        self.attributes.get(k).map_or("", String::as_str)
    }
    /// The model's display name: `servicename` without "(Amazon Bedrock Edition)" for the
    /// marketplace listings, else the `model` attribute.
    pub fn model_name(&self) -> Option<String> {
        let sn = self.attr("servicename");
        if let Some(n) = sn.strip_suffix("(Amazon Bedrock Edition)") {
            return Some(n.trim().to_string());
        }
        let m = self.attr("model").trim();
        (!m.is_empty()).then(|| m.to_string())
    }
}

/// Reads one file: a `GetProducts` response (`{"FormatVersion", "PriceList": ["<json>", ...]}`)
/// or a bulk offer file (`{"offerCode", "version", "products": {...}, "terms": {...}}`).
pub fn parse_file(file: &str, text: &str) -> Result<Vec<Product>, PriceListError> {
    let v: Value = serde_json::from_str(text).map_err(|e| PriceListError::Json {
        file: file.to_string(),
        reason: e.to_string(),
    })?;
    let shape = |what: &str| PriceListError::Shape {
        file: file.to_string(),
        what: what.to_string(),
    };
    let mut out = Vec::new();
    if let Some(list) = v.get("PriceList") {
        let list = list
            .as_array()
            .ok_or_else(|| shape("PriceList is not an array"))?;
        for (i, item) in list.iter().enumerate() {
            // The API returns each product as a JSON string; accept an object too.
            let p: Value = match item {
                Value::String(s) => serde_json::from_str(s).map_err(|e| PriceListError::Json {
                    file: file.to_string(),
                    reason: format!("PriceList[{i}]: {e}"),
                })?,
                Value::Object(_) => item.clone(),
                _ => return Err(shape(&format!("PriceList[{i}] is not a product"))),
            };
            let product = p
                .get("product")
                .ok_or_else(|| shape(&format!("PriceList[{i}] has no product")))?;
            let service = p
                .get("serviceCode")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let version = p.get("version").and_then(Value::as_str).unwrap_or_default();
            let terms = p.get("terms").and_then(|t| t.get("OnDemand"));
            products_of(file, product, service, version, terms, &mut out)?;
        }
    } else if let (Some(products), Some(terms)) = (v.get("products"), v.get("terms")) {
        let service = v
            .get("offerCode")
            .and_then(Value::as_str)
            .ok_or_else(|| shape("offer file without offerCode"))?;
        let version = v.get("version").and_then(Value::as_str).unwrap_or_default();
        let products = products
            .as_object()
            .ok_or_else(|| shape("products is not an object"))?;
        for (sku, product) in products {
            let t = terms.get("OnDemand").and_then(|o| o.get(sku));
            if t.is_none() && terms.get("Reserved").and_then(|r| r.get(sku)).is_some() {
                continue; // a reserved-only SKU: no on-demand price to read
            }
            products_of(file, product, service, version, t, &mut out)?;
        }
    } else if v.get("regions").is_some() {
        return Err(shape(
            "a region index: pass the Region offer files (each currentVersionUrl) instead",
        ));
    } else {
        return Err(shape(
            "neither a GetProducts response (PriceList) nor an offer file (products, terms)",
        ));
    }
    Ok(out)
}

fn products_of(
    file: &str,
    product: &Value,
    service: &str,
    version: &str,
    terms: Option<&Value>,
    out: &mut Vec<Product>,
) -> Result<(), PriceListError> {
    let sku = product
        .get("sku")
        .and_then(Value::as_str)
        .ok_or_else(|| PriceListError::Shape {
            file: file.to_string(),
            what: "a product without sku".into(),
        })?;
    let bad = |what: &str| PriceListError::Sku {
        file: file.to_string(),
        sku: sku.to_string(),
        what: what.to_string(),
    };
    let attributes: BTreeMap<String, String> = product
        .get("attributes")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("no attributes"))?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    let terms = terms
        .and_then(Value::as_object)
        .ok_or_else(|| bad("no OnDemand term"))?;
    if terms.is_empty() {
        return Err(bad("an empty OnDemand term"));
    }
    for term in terms.values() {
        let effective = term
            .get("effectiveDate")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("a term without effectiveDate"))?;
        time::parse_rfc3339_ms(effective)
            .map_err(|e| bad(&format!("effectiveDate {effective:?}: {e}")))?;
        let dims = term
            .get("priceDimensions")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("a term without priceDimensions"))?;
        if dims.is_empty() {
            return Err(bad("a term with no price dimension"));
        }
        for d in dims.values() {
            let usd = d
                .get("pricePerUnit")
                .and_then(|p| p.get("USD"))
                .and_then(Value::as_str)
                .ok_or_else(|| bad("a price dimension without pricePerUnit.USD"))?;
            let usd: Decimal = usd
                .trim()
                .parse()
                .map_err(|_| bad(&format!("price {usd:?} is not a number")))?;
            if usd.is_sign_negative() {
                return Err(bad(&format!("price {usd} is negative")));
            }
            out.push(Product {
                file: file.to_string(),
                sku: sku.to_string(),
                service_code: service.to_string(),
                attributes: attributes.clone(),
                unit: d
                    .get("unit")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                usd: usd.normalize(),
                description: d
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                effective: effective.to_string(),
                version: version.to_string(),
            });
        }
    }
    Ok(())
}

/// A token class as the Price List bills it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    Input,
    Output,
    CacheRead,
    CacheWrite5m,
    CacheWrite1h,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Input => "input",
            Class::Output => "output",
            Class::CacheRead => "cache_read",
            Class::CacheWrite5m => "cache_write_5m",
            Class::CacheWrite1h => "cache_write_1h",
        }
    }
}

/// What one SKU is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Token {
        class: Class,
        global: bool,
        batch: bool,
        per_million: Decimal,
    },
    /// Not a per-token on-demand or batch price of the standard tier: why.
    Skip(&'static str),
    /// A token SKU we cannot classify: listed, never guessed.
    Unclassified(String),
}

/// Classifies a SKU by its usage type, unit, `inferenceType` and description. Both usage-type
/// spellings of the marketplace listings (`InputTokenCount_Global`, `input_tokens_global_standard`)
/// and the kebab-case first-party ones (`NovaMicro-input-tokens-batch`).
pub fn classify(p: &Product) -> Kind {
    let u = p.attr("usagetype").to_ascii_lowercase();
    let d = p.description.to_ascii_lowercase();
    let feature = p.attr("feature").to_ascii_lowercase();
    let unit = p.unit.trim().to_ascii_lowercase();
    if u.contains("reserved") || u.contains("tpm") || unit.contains("tpm") {
        return Kind::Skip("reserved TPM");
    }
    if u.contains("provisioned") || feature.contains("provisioned") {
        return Kind::Skip("provisioned throughput");
    }
    if u.contains("custom-model") || feature.contains("customization") {
        return Kind::Skip("custom model, customization, training or storage");
    }
    if u.contains("training") || u.contains("storage") {
        return Kind::Skip("custom model, customization, training or storage");
    }
    if u.contains("-mantle-") || u.contains("_mantle_") {
        return Kind::Skip("bedrock-mantle endpoint (not in invocation logs)");
    }
    if has_word(&u, "flex") || has_word(&u, "priority") {
        return Kind::Skip("flex or priority service tier");
    }
    if u.contains("long-context")
        || u.contains("long_ctx")
        || u.contains("long-ctx")
        || d.contains("long context")
    {
        return Kind::Skip("long-context rate (the threshold is not on the Price List)");
    }
    let per_million = match unit.as_str() {
        "1k tokens" => match p.usd.checked_mul(Decimal::from(1000)) {
            Some(d) => d,
            None => return Kind::Unclassified(format!("price {} per 1K is out of range", p.usd)),
        },
        "1m tokens" => p.usd,
        // The marketplace listings quote per 1M tokens as "Units", even where the description
        // does not say "Million" (the Opus 4.7 listing).
        "units" if p.service_code == "AmazonBedrockFoundationModels" => p.usd,
        "units" => {
            return Kind::Unclassified(format!(
                "unit \"Units\" outside AmazonBedrockFoundationModels ({})",
                p.service_code
            ))
        }
        "" => return Kind::Unclassified("no unit".into()),
        _ if !u.contains("token") && !d.contains("token") => {
            return Kind::Skip("not per token (image, video, audio second, request, ...)")
        }
        other => return Kind::Unclassified(format!("token SKU in unit {other:?}")),
    };
    let tokenish = u.contains("token") || d.contains("token");
    if !tokenish {
        return Kind::Skip("not per token (image, video, audio second, request, ...)");
    }
    let it = p.attr("inferenceType").to_ascii_lowercase();
    let squashed: String = u.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let class = if squashed.contains("cacheread") || it.contains("cache read") {
        Class::CacheRead
    } else if squashed.contains("cachewrite") || it.contains("cache write") {
        if squashed.contains("cachewrite1h")
            || squashed.contains("tokens1h")
            || d.contains("1 hour")
            || d.contains("1h ttl")
        {
            Class::CacheWrite1h
        } else {
            Class::CacheWrite5m
        }
    } else if squashed.contains("inputtoken") || it == "input tokens" {
        Class::Input
    } else if squashed.contains("outputtoken")
        || squashed.contains("responsetoken")
        || it == "output tokens"
    {
        Class::Output
    } else {
        return Kind::Unclassified("a token SKU whose class cannot be read".into());
    };
    let global = has_word(&u, "global") || u.contains("cross-region-global");
    let batch = u.contains("batch") || feature.contains("batch");
    Kind::Token {
        class,
        global,
        batch,
        per_million: per_million.normalize(),
    }
}

/// `word` between separators (`_`, `-`, `:`) or at an end.
fn has_word(s: &str, word: &str) -> bool {
    s.split(['_', '-', ':']).any(|part| part == word)
}

/// What a sync produced and what it left out.
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    /// The overlay in the catalogue's own format.
    pub overlay: String,
    pub entries: usize,
    pub skus_total: usize,
    pub skus_mapped: usize,
    /// Skipped SKUs by reason.
    pub skipped: BTreeMap<&'static str, usize>,
    /// `file: SKU usagetype: why`.
    pub unclassified: Vec<String>,
    /// Product names on the Price List that no catalogue entry names.
    pub not_in_catalogue: BTreeSet<String>,
    /// Names that join to more than one model id: not guessed.
    pub ambiguous: Vec<String>,
    /// Two SKUs for the same (model, Region, tier, class, mode) at different prices: the dearer
    /// is kept.
    pub conflicts: Vec<String>,
    /// Groups without an input and output price and no catalogue entry to complete them.
    pub incomplete: Vec<String>,
}

/// `file: SKU sku usagetype: why`, for a SKU listed instead of mapped.
fn listed(p: &Product, why: &str) -> String {
    format!("{}: SKU {} {}: {why}", p.file, p.sku, p.attr("usagetype"))
}

fn norm_name(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase()
}

type GroupKey = (String, String, bool); // (model id, Region, global)

#[derive(Default)]
struct Group {
    prices: BTreeMap<(Class, bool), (Decimal, String)>,
    effective: String,
    versions: BTreeSet<String>,
    services: BTreeSet<String>,
}

/// Builds the overlay from Price List products against the catalogue in force.
pub fn sync(products: &[Product], catalogue: &Catalogue) -> SyncReport {
    let mut rep = SyncReport {
        skus_total: products.len(),
        ..SyncReport::default()
    };
    // name -> model ids, from the catalogue's names; ids and aliases join to themselves.
    let mut by_name: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for e in catalogue.entries() {
        if let Some(n) = &e.name {
            by_name.entry(norm_name(n)).or_default().insert(&e.model);
        }
        by_name
            .entry(norm_name(&e.model))
            .or_default()
            .insert(&e.model);
        for a in &e.aliases {
            by_name.entry(norm_name(a)).or_default().insert(&e.model);
        }
    }
    let mut groups: BTreeMap<GroupKey, Group> = BTreeMap::new();
    for p in products {
        let (class, global, batch, per_million) = match classify(p) {
            Kind::Token {
                class,
                global,
                batch,
                per_million,
            } => (class, global, batch, per_million),
            Kind::Skip(why) => {
                *rep.skipped.entry(why).or_default() += 1;
                continue;
            }
            Kind::Unclassified(why) => {
                rep.unclassified.push(listed(p, &why));
                continue;
            }
        };
        let Some(name) = p.model_name() else {
            rep.unclassified
                .push(listed(p, "no model name (servicename or model attribute)"));
            continue;
        };
        let model = match by_name.get(&norm_name(&name)) {
            None => {
                rep.not_in_catalogue.insert(name);
                continue;
            }
            Some(ids) if ids.len() > 1 => {
                let ids: Vec<&str> = ids.iter().copied().collect();
                let line = format!("{name:?} names {}", ids.join(", "));
                if !rep.ambiguous.contains(&line) {
                    rep.ambiguous.push(line);
                }
                continue;
            }
            Some(ids) => ids.iter().next().copied().unwrap_or_default().to_string(),
        };
        let region = p.attr("regionCode").to_string();
        if region.is_empty() {
            rep.unclassified
                .push(format!("{}: SKU {}: no regionCode", p.file, p.sku));
            continue;
        }
        rep.skus_mapped += 1;
        let g = groups
            .entry((model.clone(), region.clone(), global))
            .or_default();
        if p.effective > g.effective {
            g.effective = p.effective.clone();
        }
        g.versions.insert(p.version.clone());
        g.services.insert(p.service_code.clone());
        match g.prices.get(&(class, batch)) {
            Some((old, old_sku)) if *old != per_million => {
                rep.conflicts.push(format!(
                    "{model} {region} {} {}{}: SKU {old_sku} {old} vs SKU {} {per_million}: the dearer is kept",
                    if global { "global" } else { "regional" },
                    class.as_str(),
                    if batch { " (batch)" } else { "" },
                    p.sku
                ));
                if per_million > *old {
                    g.prices
                        .insert((class, batch), (per_million, p.sku.clone()));
                }
            }
            Some(_) => {}
            None => {
                g.prices
                    .insert((class, batch), (per_million, p.sku.clone()));
            }
        }
    }

    let version = groups
        .values()
        .flat_map(|g| g.versions.iter())
        .filter(|v| !v.is_empty())
        .max()
        .cloned()
        .unwrap_or_else(|| "unknown".into());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Generated by `spendguard prices sync` from AWS's Price List (offer version {version}).\n\
         # Each entry: the Price List's own prices for one (model, tier, Region); classes the Price\n\
         # List does not state, and threshold tiers, are kept from the catalogue in force ({}).\n\
         # Load it with --prices FILE.\n\
         version = \"pricelist-{version}\"\ncurrency = \"USD\"\n",
        catalogue.version()
    );
    for ((model, region, global), g) in &groups {
        let tier = if *global {
            EndpointTier::Global
        } else {
            EndpointTier::InRegion
        };
        let at = time::parse_rfc3339_ms(&g.effective).unwrap_or(0);
        let known = match catalogue.lookup(model, tier, region, at) {
            Lookup::Found(e) => Some(e),
            _ => None,
        };
        let get = |c: Class, batch: bool| g.prices.get(&(c, batch)).map(|p| p.0);
        let input = get(Class::Input, false).or(known.map(|e| e.rates.input));
        let output = get(Class::Output, false).or(known.map(|e| e.rates.output));
        let (Some(input), Some(output)) = (input, output) else {
            rep.incomplete.push(format!(
                "{model} {region} {}: the Price List states {} and the catalogue has no entry to complete it",
                if *global { "global" } else { "regional" },
                g.prices
                    .keys()
                    .map(|(c, b)| format!("{}{}", c.as_str(), if *b { " (batch)" } else { "" }))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            continue;
        };
        let cls = |c: Class, k: Option<Decimal>| get(c, false).or(k);
        let rates = Rates {
            input,
            output,
            cache_read: cls(Class::CacheRead, known.and_then(|e| e.rates.cache_read)),
            cache_write_5m: cls(
                Class::CacheWrite5m,
                known.and_then(|e| e.rates.cache_write_5m),
            ),
            cache_write_1h: cls(
                Class::CacheWrite1h,
                known.and_then(|e| e.rates.cache_write_1h),
            ),
        };
        let batch = match (get(Class::Input, true), get(Class::Output, true)) {
            (Some(i), Some(o)) => Some((i, o)),
            _ => known.and_then(|e| e.batch),
        };
        let skus: Vec<&str> = g.prices.values().map(|p| p.1.as_str()).collect();
        let mut source = format!(
            "AWS Price List {} {}: SKUs {}",
            g.services.iter().cloned().collect::<Vec<_>>().join("+"),
            g.versions.iter().cloned().collect::<Vec<_>>().join("+"),
            skus.join(" ")
        );
        if let Some(e) = known {
            let _ = write!(source, "; other classes from catalogue {}", e.version);
        }
        out.push_str("\n[[price]]\n");
        let _ = writeln!(out, "model = {}", q(model));
        if let Some(e) = known.or_else(|| any_entry(catalogue, model)) {
            if let Some(n) = &e.name {
                let _ = writeln!(out, "name = {}", q(n));
            }
            if let Some(f) = &e.family {
                let _ = writeln!(out, "family = {}", q(f));
            }
        }
        let _ = writeln!(
            out,
            "tier = \"{}\"\nregions = [{}]\neffective_from = {}",
            if *global { "global" } else { "regional" },
            q(region),
            q(&g.effective)
        );
        write_rates(&mut out, "", &rates);
        if let Some((i, o)) = batch {
            let _ = writeln!(out, "batch_input = \"{i}\"\nbatch_output = \"{o}\"");
        }
        if let Some(e) = known {
            if !e.long_context.is_empty() {
                out.push_str("long_context = [\n");
                for l in &e.long_context {
                    let mut inner = String::new();
                    write_rates(&mut inner, ", ", &l.rates);
                    let _ = writeln!(
                        out,
                        "  {{ threshold_tokens = {}{} }},",
                        l.threshold_tokens, inner
                    );
                }
                out.push_str("]\n");
            }
        }
        let _ = writeln!(out, "source = {}", q(&source));
        rep.entries += 1;
    }
    rep.overlay = out;
    rep
}

fn any_entry<'c>(c: &'c Catalogue, model: &str) -> Option<&'c PriceEntry> {
    c.entries().iter().find(|e| e.model == model)
}

/// `key = "value"` lines for each stated class; with `sep` = ", " an inline-table body.
fn write_rates(out: &mut String, sep: &str, r: &Rates) {
    let mut kv = vec![("input", Some(r.input)), ("output", Some(r.output))];
    kv.push(("cache_read", r.cache_read));
    kv.push(("cache_write_5m", r.cache_write_5m));
    kv.push(("cache_write_1h", r.cache_write_1h));
    for (k, v) in kv {
        if let Some(v) = v {
            if sep.is_empty() {
                let _ = writeln!(out, "{k} = \"{v}\"");
            } else {
                let _ = write!(out, "{sep}{k} = \"{v}\"");
            }
        }
    }
}

/// A TOML basic string.
fn q(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(o, "\\u{:04X}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// One line of a diff between an overlay entry and the catalogue it would override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffLine {
    /// The catalogue has no price for this (model, tier, Region, date).
    Added {
        key: String,
        rates: String,
    },
    Changed {
        key: String,
        class: &'static str,
        from: Option<Decimal>,
        to: Option<Decimal>,
    },
    /// The threshold tiers differ (thresholds or any tier rate): both described.
    ChangedTiers {
        key: String,
        from: String,
        to: String,
    },
    Same {
        key: String,
    },
}

fn tiers_text(e: &PriceEntry) -> String {
    if e.long_context.is_empty() {
        return "(none)".into();
    }
    e.long_context
        .iter()
        .map(|l| {
            let mut r = String::new();
            write_rates(&mut r, " ", &l.rates);
            format!("over {}:{}", l.threshold_tokens, r)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Compares every entry of the overlay (the last file loaded into `with_overlay`) with what
/// `base` (the catalogue in force without it) prices for the same key at the entry's start.
pub fn diff(base: &Catalogue, overlay_entries: &[&PriceEntry]) -> Vec<DiffLine> {
    let mut out = Vec::new();
    for e in overlay_entries {
        let (from, _) = e.effective();
        for region in e.regions() {
            for &tier in e.tiers() {
                let key = format!(
                    "{} {} {} from {}",
                    e.model,
                    tier,
                    region,
                    time::format_rfc3339_ms(from)
                );
                let old = match base.lookup(&e.model, tier, region, from) {
                    Lookup::Found(o) => o,
                    _ => {
                        out.push(DiffLine::Added {
                            key,
                            rates: format!("input {} output {}", e.rates.input, e.rates.output),
                        });
                        continue;
                    }
                };
                let (a, b) = (&old.rates, &e.rates);
                let pairs = [
                    ("input", Some(a.input), Some(b.input)),
                    ("output", Some(a.output), Some(b.output)),
                    ("cache_read", a.cache_read, b.cache_read),
                    ("cache_write_5m", a.cache_write_5m, b.cache_write_5m),
                    ("cache_write_1h", a.cache_write_1h, b.cache_write_1h),
                    ("batch_input", old.batch.map(|x| x.0), e.batch.map(|x| x.0)),
                    ("batch_output", old.batch.map(|x| x.1), e.batch.map(|x| x.1)),
                ];
                let before = out.len();
                for (class, from_p, to_p) in pairs {
                    if from_p != to_p {
                        out.push(DiffLine::Changed {
                            key: key.clone(),
                            class,
                            from: from_p,
                            to: to_p,
                        });
                    }
                }
                if old.long_context != e.long_context {
                    out.push(DiffLine::ChangedTiers {
                        key: key.clone(),
                        from: tiers_text(old),
                        to: tiers_text(e),
                    });
                }
                if out.len() == before {
                    out.push(DiffLine::Same { key });
                }
            }
        }
    }
    out
}

/// The service codes whose offer files carry Bedrock token prices.
pub const SERVICE_CODES: &[&str] = &[
    "AmazonBedrock",
    "AmazonBedrockFoundationModels",
    "AmazonBedrockService",
];

/// AWS's public offer host (no credentials needed).
pub const OFFERS_HOST: &str = "https://pricing.us-east-1.amazonaws.com";

/// The region index of a service code, relative to the offers host.
pub fn region_index_path(service_code: &str) -> String {
    format!("/offers/v1.0/aws/{service_code}/current/region_index.json")
}

/// Reads a region index (`{"regions": {"us-east-1": {"regionCode", "currentVersionUrl"}}}`):
/// (Region, offer-file path) pairs, in Region order.
pub fn parse_region_index(file: &str, text: &str) -> Result<Vec<(String, String)>, PriceListError> {
    let v: Value = serde_json::from_str(text).map_err(|e| PriceListError::Json {
        file: file.to_string(),
        reason: e.to_string(),
    })?;
    let regions =
        v.get("regions")
            .and_then(Value::as_object)
            .ok_or_else(|| PriceListError::Shape {
                file: file.to_string(),
                what: "a region index without regions".into(),
            })?;
    let mut out = Vec::with_capacity(regions.len());
    for (name, r) in regions {
        let code = r
            .get("regionCode")
            .and_then(Value::as_str)
            .unwrap_or(name.as_str());
        let url = r
            .get("currentVersionUrl")
            .and_then(Value::as_str)
            .ok_or_else(|| PriceListError::Shape {
                file: file.to_string(),
                what: format!("region {name} has no currentVersionUrl"),
            })?;
        out.push((code.to_string(), url.to_string()));
    }
    out.sort();
    Ok(out)
}

/// What the refresh found wrong with a candidate overlay; empty `disappeared` and `moves` and
/// `Ok` parse mean it may take effect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validation {
    /// Model ids the overlay in force prices that the candidate does not.
    pub disappeared: Vec<String>,
    /// Prices that move by more than the factor: held for an operator.
    pub moves: Vec<String>,
}

impl Validation {
    pub fn passes(&self) -> bool {
        self.disappeared.is_empty() && self.moves.is_empty()
    }
}

/// The entries of a catalogue's last layer (the file loaded last; none when only the first
/// file, the built-in catalogue, is loaded).
pub fn last_layer(c: &Catalogue) -> Vec<&PriceEntry> {
    let last = c.entries().iter().map(PriceEntry::layer).max().unwrap_or(0);
    c.entries()
        .iter()
        .filter(|x| x.layer() == last && last > 0)
        .collect()
}

/// A candidate overlay from Price List files: the sync report, the catalogue with it loaded by
/// the pricer's own code, and its validation against the overlay in force.
#[derive(Debug)]
pub struct Candidate {
    pub report: SyncReport,
    /// The base files without the candidate.
    pub base: Catalogue,
    /// The base files plus the candidate overlay.
    pub with: Catalogue,
    pub validation: Validation,
}

impl Candidate {
    /// The candidate's own entries.
    pub fn entries(&self) -> Vec<&PriceEntry> {
        last_layer(&self.with)
    }
}

/// Why no candidate could be built: nothing may be written.
#[derive(Debug, thiserror::Error)]
pub enum CandidateError {
    #[error(transparent)]
    PriceList(#[from] PriceListError),
    #[error("the catalogue files do not load: {0}")]
    Base(Box<CatalogueError>),
    #[error("the generated overlay does not load (a bug): {0}")]
    Overlay(Box<CatalogueError>),
    #[error("the overlay in force ({name}) does not load: {err}")]
    Previous {
        name: String,
        err: Box<CatalogueError>,
    },
}

/// The one path from Price List files to a checked overlay, for `spendguard prices sync` and the
/// stack's daily refresh: parse every file (all before any is used), sync against the catalogue
/// `base_files` load to, load the result with the pricer's own code, and validate it against
/// `previous` (name, text), the overlay in force.
pub fn candidate(
    base_files: &[(&str, &str)],
    sources: &[(String, String)],
    previous: Option<(&str, &str)>,
    max_factor: Decimal,
) -> Result<Candidate, CandidateError> {
    let mut products = Vec::new();
    for (name, text) in sources {
        products.extend(parse_file(name, text)?);
    }
    let base = Catalogue::load(base_files).map_err(|e| CandidateError::Base(Box::new(e)))?;
    let report = sync(&products, &base);
    let mut files = base_files.to_vec();
    files.push(("overlay", report.overlay.as_str()));
    let with = Catalogue::load(&files).map_err(|e| CandidateError::Overlay(Box::new(e)))?;
    let prev = match previous {
        Some((name, text)) => {
            let mut files = base_files.to_vec();
            files.push((name, text));
            Some(
                Catalogue::load(&files).map_err(|err| CandidateError::Previous {
                    name: name.to_string(),
                    err: Box::new(err),
                })?,
            )
        }
        None => None,
    };
    let validation = validate(
        prev.as_ref().map(last_layer).as_deref(),
        &base,
        &last_layer(&with),
        max_factor,
    );
    Ok(Candidate {
        report,
        base,
        with,
        validation,
    })
}

/// Checks a candidate overlay before it takes effect: it must load with the pricer's own code
/// (the caller passes the loaded catalogues), no model the overlay in force prices may disappear,
/// and no price may move by more than `max_factor` either way (a 0 price moving at all counts).
pub fn validate(
    previous: Option<&[&PriceEntry]>,
    base: &Catalogue,
    candidate: &[&PriceEntry],
    max_factor: Decimal,
) -> Validation {
    let mut v = Validation::default();
    if let Some(prev) = previous {
        let now: BTreeSet<&str> = candidate.iter().map(|e| e.model.as_str()).collect();
        let gone: BTreeSet<&str> = prev
            .iter()
            .map(|e| e.model.as_str())
            .filter(|m| !now.contains(m))
            .collect();
        v.disappeared = gone.into_iter().map(str::to_string).collect();
    }
    for line in diff(base, candidate) {
        if let DiffLine::Changed {
            key,
            class,
            from: Some(from),
            to: Some(to),
        } = line
        {
            // checked: a price near the decimal's range must not panic the refresh
            let over = |a: Decimal, b: Decimal| b.checked_mul(max_factor).is_none_or(|m| a > m);
            let big = if from.is_zero() || to.is_zero() {
                from != to
            } else {
                over(to, from) || over(from, to)
            };
            if big {
                v.moves.push(format!(
                    "{key}: {class} {from} -> {to} (more than x{max_factor})"
                ));
            }
        }
    }
    v
}
