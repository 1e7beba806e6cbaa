//! The aggregator's configuration, read once from the environment at cold start.

use crate::ConfigError;
use spendguard_aws::pricing::PricingConfig;
use spendguard_core::budget::BudgetConfig;
use spendguard_core::clock::DEFAULT_DEDUP_HORIZON_DAYS;

/// Configuration from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Decoding and pricing, shared with the transform (`SPENDGUARD_PRICE_OVERLAY`, ...).
    pub pricing: PricingConfig,
    pub table: String,
    /// `SPENDGUARD_DEDUP_HORIZON_DAYS`: how long `requestId` markers live. Must cover the stream's
    /// retention plus the longest backfill; older input is refused, never double-counted.
    pub horizon_days: u32,
    /// `SPENDGUARD_BUDGETS`: the budget TOML (time zone and teams decide the windows), in force
    /// until a document is pushed to the enforcement table.
    pub budgets: BudgetConfig,
    /// `SPENDGUARD_ENFORCEMENT_TABLE`: where `spendguard budgets push` stores the budgets
    /// document; read again every [`BUDGETS_REFRESH_MS`].
    pub enforcement_table: Option<String>,
}

/// How often the aggregator looks for a newly pushed budgets document (one GetItem).
pub const BUDGETS_REFRESH_MS: i64 = 30_000;

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        let table = std::env::var("SPENDGUARD_LEDGER_TABLE")
            .map_err(|_| ConfigError::Missing("SPENDGUARD_LEDGER_TABLE"))?;
        let horizon_days = match std::env::var("SPENDGUARD_DEDUP_HORIZON_DAYS") {
            Err(_) => DEFAULT_DEDUP_HORIZON_DAYS,
            Ok(v) => v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|d| (1..=3650).contains(d))
                .ok_or_else(|| ConfigError::Bad {
                    name: "SPENDGUARD_DEDUP_HORIZON_DAYS",
                    value: v.clone(),
                    why: "expected whole days, 1 to 3650".into(),
                })?,
        };
        let text = std::env::var("SPENDGUARD_BUDGETS").unwrap_or_default();
        let budgets = BudgetConfig::parse(&text).map_err(|e| ConfigError::Bad {
            name: "SPENDGUARD_BUDGETS",
            value: String::new(),
            why: e.to_string(),
        })?;
        Ok(Config {
            pricing: PricingConfig::from_env()?,
            table,
            horizon_days,
            budgets,
            enforcement_table: std::env::var("SPENDGUARD_ENFORCEMENT_TABLE")
                .ok()
                .filter(|t| !t.trim().is_empty()),
        })
    }

    pub fn horizon_ms(&self) -> i64 {
        i64::from(self.horizon_days) * 86_400_000
    }
}
