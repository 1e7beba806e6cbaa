//! What a logged `modelId` resolves to and what would price it, as data: the entry (or fallback
//! rung), its tier set, rates, thresholds, effective dates, source and version. Serves
//! `spendguard prices explain` and the catalogue check, through the same code the pricer uses.

use crate::catalogue::{LongContext, Priced, Rates};
use crate::price::{Pricer, Resolved};
use rust_decimal::Decimal;
use serde::Serialize;
use spendguard_schemas::{time, EndpointTier};

/// The explanation of one model id at one Region and instant.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The id as logged.
    pub model_id: String,
    /// The base model id pricing looks up.
    pub base: String,
    pub tier: EndpointTier,
    pub region: String,
    /// RFC 3339, UTC.
    pub at: String,
    /// `priced`, `fallback_same_model`, `fallback_family`, `fallback_global` or
    /// `not_token_priced`.
    pub outcome: &'static str,
    /// The family whose dearest member prices an unknown model (`fallback_family` only).
    pub family: Option<String>,
    /// The catalogue entry that prices it (none for `fallback_global` and `not_token_priced`).
    pub entry: Option<EntryView>,
    /// The base rates applied (USD per 1M tokens); none for `not_token_priced`.
    pub rates: Option<Rates>,
    /// Threshold tiers, ascending: above `threshold_tokens` prompt tokens, every class moves.
    pub long_context: Vec<LongContext>,
    /// The whole catalogue's version (base `+` overlays).
    pub catalogue_version: String,
}

/// The parts of a catalogue entry a person needs to check a price.
#[derive(Debug, Clone, Serialize)]
pub struct EntryView {
    pub model: String,
    pub name: Option<String>,
    pub family: Option<String>,
    pub aliases: Vec<String>,
    pub tier: &'static str,
    pub regions: Vec<String>,
    pub effective_from: String,
    pub effective_to: Option<String>,
    pub batch_input: Option<Decimal>,
    pub batch_output: Option<Decimal>,
    pub source: Option<String>,
    /// The version of the file (base or overlay) the entry came from: what rows record as
    /// `price_version`.
    pub version: String,
}

impl Pricer {
    /// Explains how `model_id`, called from `region` at `at_ms`, is priced.
    pub fn explain(&self, model_id: &str, region: &str, at_ms: i64) -> Explanation {
        let cat = self.catalogue();
        let Resolved {
            base,
            tier,
            not_token_priced,
        } = self.resolve(model_id);
        let mut out = Explanation {
            model_id: model_id.to_string(),
            base,
            tier,
            region: region.to_string(),
            at: time::format_rfc3339_ms(at_ms),
            outcome: "not_token_priced",
            family: None,
            entry: None,
            rates: None,
            long_context: Vec::new(),
            catalogue_version: cat.version().to_string(),
        };
        if not_token_priced.is_some() {
            return out;
        }
        let priced = cat.price_for(&out.base, tier, region, at_ms);
        out.outcome = priced.label();
        if let Priced::Family { family, .. } = priced {
            out.family = Some(family.to_string());
        }
        out.rates = Some(priced.rates_for(0).clone());
        if let Some(e) = priced.entry() {
            let (from, to) = e.effective();
            out.long_context = e.long_context.clone();
            out.entry = Some(EntryView {
                model: e.model.clone(),
                name: e.name.clone(),
                family: e.family.clone(),
                aliases: e.aliases.clone(),
                tier: e.tier_label(),
                regions: e.regions().to_vec(),
                effective_from: time::format_rfc3339_ms(from),
                effective_to: to.map(time::format_rfc3339_ms),
                batch_input: e.batch.map(|b| b.0),
                batch_output: e.batch.map(|b| b.1),
                source: e.source.clone(),
                version: e.version.clone(),
            });
        }
        out
    }
}
