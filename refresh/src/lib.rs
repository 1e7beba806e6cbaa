//! spendguard-refresh: the daily price refresh Lambda. It fetches AWS's public Price List offer
//! files (no credentials), builds the catalogue overlay with the same code as `spendguard prices
//! sync` (`core::pricelist::candidate`: parsed, joined by name, loaded by the pricer's own code),
//! checks it against the overlay in force (no model disappears, no price moves by more than the
//! factor), and writes it as the new version of the overlay object, which the transform and the
//! aggregator pick up within a minute. A candidate that fails the check is left beside it for an
//! operator (`prices/held/overlay.toml`) and the prices in force stay. One EMF line says how it
//! went: the stack's alarms watch the refresh age, holds and Price List products no catalogue
//! entry names.

use rust_decimal::Decimal;
use serde_json::{json, Value};
use spendguard_aws::offers::{self, FetchError};
use spendguard_aws::prices::{Fetched, ObjectError, PriceObject, HELD_KEY, OVERLAY_NAME};
use spendguard_core::catalogue::BUILTIN;
use spendguard_core::pricelist::{self, CandidateError};

/// Configuration, from the function's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `SPENDGUARD_PRICES_BUCKET`: the stack's bucket that holds `prices/overlay.toml`.
    pub bucket: String,
    /// `SPENDGUARD_OFFERS_URL`: where the offer files are (AWS's public endpoint by default).
    pub offers_url: String,
    /// `SPENDGUARD_PRICE_SERVICES` (comma-separated; default every Bedrock service code).
    pub services: Vec<String>,
    /// `SPENDGUARD_PRICE_REGIONS` (comma-separated; default the function's own Region): prices
    /// follow the Region the invocations are logged in.
    pub regions: Vec<String>,
    /// `SPENDGUARD_PRICE_MAX_FACTOR` (default 2): a larger move either way holds the refresh.
    pub max_factor: Decimal,
}

/// A configuration error: the function cannot start.
#[derive(Debug, thiserror::Error)]
#[error("{name}={value:?}: {why}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub why: String,
}

fn list(v: Option<String>) -> Vec<String> {
    v.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl Config {
    /// Reads the configuration through `var` (the environment in the Lambda).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let bucket = var("SPENDGUARD_PRICES_BUCKET")
            .filter(|b| !b.trim().is_empty())
            .ok_or(ConfigError {
                name: "SPENDGUARD_PRICES_BUCKET",
                value: String::new(),
                why: "is not set (the bucket that holds prices/overlay.toml)".into(),
            })?;
        let max_factor = match var("SPENDGUARD_PRICE_MAX_FACTOR") {
            None => Decimal::TWO,
            Some(v) => v
                .trim()
                .parse::<Decimal>()
                .ok()
                .filter(|f| *f > Decimal::ONE)
                .ok_or(ConfigError {
                    name: "SPENDGUARD_PRICE_MAX_FACTOR",
                    value: v,
                    why: "expected a decimal greater than 1".into(),
                })?,
        };
        let mut regions = list(var("SPENDGUARD_PRICE_REGIONS"));
        if regions.is_empty() {
            regions = list(var("AWS_REGION"));
        }
        Ok(Config {
            bucket,
            offers_url: var("SPENDGUARD_OFFERS_URL")
                .filter(|u| !u.trim().is_empty())
                .unwrap_or_else(|| pricelist::OFFERS_HOST.to_string()),
            services: offers::services_or_all(&list(var("SPENDGUARD_PRICE_SERVICES"))),
            regions,
            max_factor,
        })
    }
}

/// A refresh that could not run: the invocation fails (the schedule's retries try again) and
/// the prices in force stay.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Candidate(#[from] CandidateError),
    #[error(transparent)]
    Object(#[from] ObjectError),
}

/// What the refresh did with the candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Written as the new version of the overlay.
    Written { version_id: Option<String> },
    /// The Price List says what the overlay in force says.
    Unchanged,
    /// Failed the check: left at [`HELD_KEY`] for an operator; the prices in force stay.
    Held { reasons: Vec<String> },
}

/// One refresh, for the log line, the metrics and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub outcome: Outcome,
    pub files: usize,
    pub skus_total: usize,
    pub skus_mapped: usize,
    pub entries: usize,
    pub skipped: usize,
    pub unclassified: Vec<String>,
    /// Product names on the Price List that no catalogue entry names.
    pub not_in_catalogue: Vec<String>,
    /// The overlay in force did not load (and was replaced unless held).
    pub previous_unloadable: Option<String>,
}

/// Fetches, builds, checks and writes (or holds) one overlay.
pub async fn refresh(cfg: &Config, object: &PriceObject) -> Result<Report, RefreshError> {
    let current = match object.get(None).await? {
        Fetched::Body(s) => Some(s.text),
        Fetched::Missing | Fetched::NotModified => None,
    };
    let sources = offers::fetch_offers(&cfg.offers_url, &cfg.services, &cfg.regions).await?;
    let base = [("prices/bedrock.toml", BUILTIN)];
    let previous = current.as_deref().map(|t| (OVERLAY_NAME, t));
    // An overlay in force that does not load prices nothing (the functions keep what they had):
    // it cannot be compared against, and a good candidate replaces it. The rare retry parses the
    // offer files again; the common path loads the overlay in force once.
    let mut previous_unloadable = None;
    let c = match pricelist::candidate(&base, &sources, previous, cfg.max_factor) {
        Err(e @ CandidateError::Previous { .. }) => {
            previous_unloadable = Some(e.to_string());
            pricelist::candidate(&base, &sources, None, cfg.max_factor)?
        }
        r => r?,
    };
    let v = &c.validation;
    let outcome = if current.as_deref() == Some(c.report.overlay.as_str()) {
        Outcome::Unchanged
    } else if v.passes() {
        let w = object.put(&object.key, &c.report.overlay).await?;
        Outcome::Written {
            version_id: w.version_id,
        }
    } else {
        object.put(HELD_KEY, &c.report.overlay).await?;
        let mut reasons: Vec<String> = v
            .disappeared
            .iter()
            .map(|m| format!("{m} is in the overlay in force and not in this one"))
            .collect();
        reasons.extend(v.moves.iter().cloned());
        Outcome::Held { reasons }
    };
    let r = &c.report;
    Ok(Report {
        outcome,
        files: sources.len(),
        skus_total: r.skus_total,
        skus_mapped: r.skus_mapped,
        entries: r.entries,
        skipped: r.skipped.values().sum(),
        unclassified: r.unclassified.clone(),
        not_in_catalogue: r.not_in_catalogue.iter().cloned().collect(),
        previous_unloadable,
    })
}

impl Report {
    /// Logs it: one `price refresh` line with its figures (lists as JSON text), and an error
    /// line when it was held.
    pub fn say(&self) {
        let list = |v: &[String]| serde_json::to_string(v).unwrap_or_default();
        let (outcome, version_id) = match &self.outcome {
            Outcome::Written { version_id } => ("written", version_id.as_deref()),
            Outcome::Unchanged => ("unchanged", None),
            Outcome::Held { .. } => ("held", None),
        };
        tracing::info!(
            outcome,
            versionId = version_id,
            files = self.files,
            skusTotal = self.skus_total,
            skusMapped = self.skus_mapped,
            entries = self.entries,
            skipped = self.skipped,
            unclassified = %list(&self.unclassified),
            notInCatalogue = %list(&self.not_in_catalogue),
            previousUnloadable = self.previous_unloadable.as_deref(),
            "price refresh"
        );
        if let Outcome::Held { reasons } = &self.outcome {
            tracing::error!(
                held = %list(reasons),
                heldAt = HELD_KEY,
                "price refresh held: nothing written, the prices in force stay"
            );
        }
    }

    /// The summary the function returns.
    pub fn to_json(&self) -> Value {
        let (outcome, version_id, reasons) = match &self.outcome {
            Outcome::Written { version_id } => ("written", version_id.clone(), Vec::new()),
            Outcome::Unchanged => ("unchanged", None, Vec::new()),
            Outcome::Held { reasons } => ("held", None, reasons.clone()),
        };
        json!({
            "outcome": outcome,
            "versionId": version_id,
            "held": reasons,
            "heldAt": if reasons.is_empty() { None } else { Some(HELD_KEY) },
            "files": self.files,
            "skusTotal": self.skus_total,
            "skusMapped": self.skus_mapped,
            "entries": self.entries,
            "skipped": self.skipped,
            "unclassified": self.unclassified,
            "notInCatalogue": self.not_in_catalogue,
            "previousUnloadable": self.previous_unloadable,
        })
    }

    /// The EMF line: a successful refresh (written or unchanged) counts 1, a held one 0 (the
    /// age alarm fires when no refresh succeeded for 48 hours).
    pub fn emf(&self, function: &str, now_ms: i64) -> String {
        let held = matches!(self.outcome, Outcome::Held { .. });
        spendguard_aws::emf::emf_line(
            function,
            now_ms,
            &[
                ("PriceRefreshSucceeded", "Count", u64::from(!held)),
                ("PriceRefreshHeld", "Count", u64::from(held)),
                (
                    "PriceListProductsUnnamed",
                    "Count",
                    self.not_in_catalogue.len() as u64,
                ),
                (
                    "PriceListSkusUnclassified",
                    "Count",
                    self.unclassified.len() as u64,
                ),
            ],
        )
    }
}

/// Everything the handler needs.
#[derive(Debug)]
pub struct Deps {
    pub config: Config,
    pub object: PriceObject,
    pub function_name: String,
}

/// The handler: any event (the schedule's) runs one refresh. The summary and the EMF line go to
/// the log (stdout, the function's log stream); a failure is logged and fails the invocation.
pub async fn handle(deps: &Deps, now_ms: i64) -> Result<Value, RefreshError> {
    match refresh(&deps.config, &deps.object).await {
        Ok(r) => {
            r.say();
            spendguard_aws::log::emit_metrics(&r.emf(&deps.function_name, now_ms));
            Ok(r.to_json())
        }
        Err(e) => {
            tracing::error!(error = %e, "price refresh failed; the prices in force stay");
            spendguard_aws::log::emit_metrics(&spendguard_aws::emf::emf_line(
                &deps.function_name,
                now_ms,
                &[("PriceRefreshSucceeded", "Count", 0)],
            ));
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn configuration_defaults_and_refusals() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let c = Config::from_vars(env(&[
            ("SPENDGUARD_PRICES_BUCKET", "lake"),
            ("AWS_REGION", "eu-west-1"),
        ]))
        .unwrap();
        assert_eq!(c.offers_url, pricelist::OFFERS_HOST);
        assert_eq!(c.regions, ["eu-west-1"]);
        assert_eq!(c.services.len(), pricelist::SERVICE_CODES.len());
        assert_eq!(c.max_factor, Decimal::TWO);
        let c = Config::from_vars(env(&[
            ("SPENDGUARD_PRICES_BUCKET", "lake"),
            ("SPENDGUARD_PRICE_REGIONS", "us-east-1, us-west-2"),
            ("SPENDGUARD_PRICE_SERVICES", "AmazonBedrock"),
            ("SPENDGUARD_PRICE_MAX_FACTOR", "1.5"),
        ]))
        .unwrap();
        assert_eq!(c.regions, ["us-east-1", "us-west-2"]);
        assert_eq!(c.services, ["AmazonBedrock"]);
        assert_eq!(c.max_factor, Decimal::new(15, 1));
        assert!(Config::from_vars(env(&[])).is_err());
        let e = Config::from_vars(env(&[
            ("SPENDGUARD_PRICES_BUCKET", "lake"),
            ("SPENDGUARD_PRICE_MAX_FACTOR", "0.5"),
        ]))
        .unwrap_err();
        assert_eq!(e.name, "SPENDGUARD_PRICE_MAX_FACTOR");
    }
}
