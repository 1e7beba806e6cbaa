//! The transform's configuration, read once from the environment at cold start: its own response
//! and re-ingest bounds, and the pricing every function shares (`spendguard_aws::pricing`).

use crate::process;
use crate::send::RetryPolicy;
use spendguard_aws::pricing::{env_num, ConfigError, PricingConfig};
use std::time::Duration;

/// Configuration, from the function's environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Budget for `data` + `recordId` in one response (the Lambda limit is 6 MiB).
    pub max_response_bytes: usize,
    /// Stop pricing new records this long before the function's deadline and re-ingest the rest
    /// instead: re-ingest itself needs time, and a timeout would fail the whole batch.
    pub deadline_reserve: Duration,
    pub retry: RetryPolicy,
    /// Decoding and pricing, as the aggregator does them.
    pub pricing: PricingConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_response_bytes: process::MAX_RESPONSE_BYTES,
            deadline_reserve: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            pricing: PricingConfig::default(),
        }
    }
}

impl Config {
    /// `SPENDGUARD_MAX_RESPONSE_BYTES`, `SPENDGUARD_DEADLINE_RESERVE_MS`,
    /// `SPENDGUARD_REINGEST_MAX_ATTEMPTS`, and [`PricingConfig::from_env`]'s variables.
    pub fn from_env() -> Result<Self, ConfigError> {
        let d = Config::default();
        Ok(Config {
            max_response_bytes: env_num(
                "SPENDGUARD_MAX_RESPONSE_BYTES",
                d.max_response_bytes as u64,
            )? as usize,
            deadline_reserve: Duration::from_millis(env_num(
                "SPENDGUARD_DEADLINE_RESERVE_MS",
                d.deadline_reserve.as_millis() as u64,
            )?),
            retry: RetryPolicy {
                max_attempts: env_num(
                    "SPENDGUARD_REINGEST_MAX_ATTEMPTS",
                    u64::from(d.retry.max_attempts),
                )?
                .clamp(1, 100) as u32,
                ..d.retry
            },
            pricing: PricingConfig::from_env()?,
        })
    }
}
