//! What the decode-and-price pipeline of every function reads from its environment: the decoder
//! bound, the price overlays, the assumed cache TTL and the bucket of the stored overlay. The
//! transform and the aggregator price the same way, so they share this one configuration.

use crate::prices::{PricesSource, Update};
use spendguard_core::catalogue::BUILTIN;
use spendguard_core::price::AssumedTtl;
use spendguard_core::{Catalogue, Pipeline, Pricer, PricerConfig};

/// The pricing configuration, from the function's environment.
#[derive(Debug, Clone)]
pub struct PricingConfig {
    /// Refuse any record that decompresses to more than this (gzip bombs).
    pub max_decompressed: usize,
    /// Price catalogue overlays as (name, TOML text in the catalogue format), later ones win:
    /// price fixes and application-profile mappings without a rebuild.
    pub price_overlays: Vec<(String, String)>,
    pub assumed_cache_ttl: AssumedTtl,
    /// The bucket whose `prices/overlay.toml` (the daily refresh, `spendguard prices push`) is
    /// read at most once a minute; `None`: the built-in catalogue and the variable only.
    pub prices_bucket: Option<String>,
}

impl Default for PricingConfig {
    fn default() -> Self {
        PricingConfig {
            max_decompressed: spendguard_core::decode::DEFAULT_MAX_DECOMPRESSED,
            price_overlays: Vec::new(),
            assumed_cache_ttl: AssumedTtl::FiveMinutes,
            prices_bucket: None,
        }
    }
}

/// A configuration or start-up error, the one type every function's `from_env` returns: the
/// function cannot start, nothing is processed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{name}={value:?}: {why}")]
    Bad {
        name: &'static str,
        value: String,
        why: String,
    },
    #[error("price catalogue: {0}")]
    Catalogue(#[from] spendguard_core::CatalogueError),
    #[error("decoder: {0}")]
    Decoder(#[from] spendguard_core::DecodeError),
}

/// A whole number from the environment, `default` when the variable is unset.
pub fn env_num(name: &'static str, default: u64) -> Result<u64, ConfigError> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => v.trim().parse().map_err(|e| ConfigError::Bad {
            name,
            value: v.clone(),
            why: format!("{e}"),
        }),
    }
}

impl PricingConfig {
    /// `SPENDGUARD_MAX_DECOMPRESSED_MIB`, `SPENDGUARD_PRICE_OVERLAY` (TOML text),
    /// `SPENDGUARD_ASSUME_CACHE_TTL` (`5m` | `1h`), `SPENDGUARD_PRICES_BUCKET`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let d = PricingConfig::default();
        let assumed_cache_ttl = match std::env::var("SPENDGUARD_ASSUME_CACHE_TTL").as_deref() {
            Err(_) | Ok("5m") => AssumedTtl::FiveMinutes,
            Ok("1h") => AssumedTtl::OneHour,
            Ok(other) => {
                return Err(ConfigError::Bad {
                    name: "SPENDGUARD_ASSUME_CACHE_TTL",
                    value: other.to_string(),
                    why: "expected 5m or 1h".into(),
                })
            }
        };
        Ok(PricingConfig {
            max_decompressed: (env_num(
                "SPENDGUARD_MAX_DECOMPRESSED_MIB",
                (d.max_decompressed >> 20) as u64,
            )? as usize)
                << 20,
            price_overlays: std::env::var("SPENDGUARD_PRICE_OVERLAY")
                .ok()
                .map(|t| ("SPENDGUARD_PRICE_OVERLAY".to_string(), t))
                .into_iter()
                .collect(),
            assumed_cache_ttl,
            prices_bucket: std::env::var("SPENDGUARD_PRICES_BUCKET")
                .ok()
                .filter(|b| !b.trim().is_empty()),
        })
    }

    /// The pricer: the built-in catalogue plus the overlay variable.
    pub fn pricer(&self) -> Result<Pricer, ConfigError> {
        Ok(self.pricer_with(None)?)
    }

    /// The decode-and-price pipeline with [`Self::pricer`] and the decoder bound.
    pub fn pipeline(&self) -> Result<Pipeline, ConfigError> {
        Ok(Pipeline::new(self.pricer()?, self.max_decompressed)?)
    }

    /// The pricer with the stored overlay (name, text) between the built-in catalogue and the
    /// variable: the refresh updates the catalogue, an operator's variable still wins.
    pub fn pricer_with(
        &self,
        stored: Option<(&str, &str)>,
    ) -> Result<Pricer, spendguard_core::CatalogueError> {
        let mut files = vec![("prices/bedrock.toml", BUILTIN)];
        files.extend(stored);
        for (name, text) in &self.price_overlays {
            files.push((name.as_str(), text.as_str()));
        }
        Ok(Pricer::new(
            Catalogue::load(&files)?,
            PricerConfig {
                assumed_cache_ttl: self.assumed_cache_ttl,
            },
        ))
    }

    /// Polls the stored overlay (when `source` is set and due) and hands a new pricer that
    /// loads to `swap`, and logs what happened. The prices in force stay on any failure. One
    /// implementation for the transform and the aggregator.
    pub async fn refresh_prices(
        &self,
        source: Option<&PricesSource>,
        now_ms: i64,
        swap: impl FnOnce(Pricer),
    ) {
        let Some(src) = source else {
            return;
        };
        let update = src
            .poll(now_ms, |name, text| self.pricer_with(Some((name, text))))
            .await;
        update.say(&src.object.bucket);
        if let Update::New { pricer, .. } = update {
            swap(*pricer);
        }
    }
}
