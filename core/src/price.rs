//! Prices one Bedrock record: resolve model and principal, choose the catalogue entry, split
//! cache writes by TTL, apply the long-context tier, and compute exact decimal costs.
//!
//! `inputTokenCount` EXCLUDES cache tokens, so the four token classes (input, output, cache
//! read, cache write 5m/1h) are priced separately.

use crate::catalogue::{Catalogue, Priced, Rates};
use crate::clock::{Clock, SystemClock};
use crate::model::{self, ModelRef};
use crate::principal;
use rust_decimal::Decimal;
use spendguard_schemas::record::CacheSplit;
use spendguard_schemas::{
    time, CacheTtlSource, EndpointTier, InvocationRecord, PriceStatus, PricedRow,
};
use std::borrow::Cow;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Why a record could not be priced. All are properties of the record (not retryable).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    #[error(
        "record has no requestId (missing, empty or blank): it cannot be counted exactly once"
    )]
    MissingRequestId,
    #[error("record has no timestamp and no log-event timestamp")]
    MissingTimestamp,
    #[error("timestamp {value:?}: {reason}")]
    BadTimestamp { value: String, reason: String },
    #[error("record has no modelId")]
    MissingModelId,
    #[error("{field} is negative ({value})")]
    NegativeTokens { field: &'static str, value: i64 },
    #[error(
        "{field} is {value}, beyond any real request (at most {MAX_TOKENS_PER_CLASS} per class)"
    )]
    ImplausibleTokens { field: &'static str, value: i64 },
    #[error("cost overflows the money type")]
    Overflow,
    /// Before Bedrock's invocation logs existed, or further ahead of the clock than any delivery
    /// delay or clock skew explains: a corrupt or forged record, which would land in a partition
    /// and a window nobody looks at.
    #[error("timestamp {value} is outside {earliest} .. now + 1 day ({latest})")]
    TimestampOutOfRange {
        value: String,
        earliest: &'static str,
        latest: String,
    },
}

/// The earliest event time accepted: 2023-01-01T00:00:00Z (Bedrock became generally available,
/// with invocation logging, in September 2023).
pub const EARLIEST_EVENT_MS: i64 = 1_672_531_200_000;
const EARLIEST_EVENT: &str = "2023-01-01T00:00:00Z";
/// How far ahead of the clock an event time may be: clock skew and delivery, never a day.
pub const MAX_AHEAD_MS: i64 = 86_400_000;

/// The TTL assumed for cache writes when the bodies that carry the split are not in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssumedTtl {
    #[default]
    FiveMinutes,
    OneHour,
}

/// Pricing options.
#[derive(Debug, Clone, Default)]
pub struct PricerConfig {
    pub assumed_cache_ttl: AssumedTtl,
}

/// Refuses an event time before [`EARLIEST_EVENT_MS`] or more than [`MAX_AHEAD_MS`] ahead of
/// `now_ms`.
pub fn event_time_in_range(ms: i64, now_ms: i64) -> Result<(), PriceError> {
    let latest = now_ms.saturating_add(MAX_AHEAD_MS);
    if (EARLIEST_EVENT_MS..=latest).contains(&ms) {
        return Ok(());
    }
    let shown = |ms: i64| {
        jiff::Timestamp::from_millisecond(ms)
            .map_or_else(|_| format!("{ms} ms since the epoch"), |t| t.to_string())
    };
    Err(PriceError::TimestampOutOfRange {
        value: shown(ms),
        earliest: EARLIEST_EVENT,
        latest: shown(latest),
    })
}

/// Prices records against one catalogue.
#[derive(Debug, Clone)]
pub struct Pricer {
    catalogue: Catalogue,
    config: PricerConfig,
    clock: Arc<dyn Clock>,
    /// The latest event time known to be acceptable (clock + [`MAX_AHEAD_MS`] when last read),
    /// shared by clones. Time only moves on, so an older bound is only stricter: the clock is
    /// read again only for an event past it, not once per record on the hot path.
    latest_ok: Arc<AtomicI64>,
}

/// Token counts of one invocation, by class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    pub input: i64,
    pub output: i64,
    pub cache_read: i64,
    pub cache_write_5m: i64,
    pub cache_write_1h: i64,
}

impl Tokens {
    /// The prompt that threshold tiers are measured on: input + cache read + cache write.
    pub fn prompt(&self) -> i64 {
        self.input
            .saturating_add(self.cache_read)
            .saturating_add(self.cache_write_5m)
            .saturating_add(self.cache_write_1h)
    }
}

/// Costs of one invocation, by class, in USD.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Costs {
    pub input: Decimal,
    pub output: Decimal,
    pub cache_read: Decimal,
    pub cache_write: Decimal,
    pub total: Decimal,
}

/// tokens x (USD per 1M tokens) / 1e6, exact: the division only moves the decimal point.
fn cost(tokens: i64, per_million: Decimal) -> Result<Decimal, PriceError> {
    if tokens == 0 || per_million.is_zero() {
        return Ok(Decimal::ZERO);
    }
    let mut d = Decimal::from(tokens)
        .checked_mul(per_million)
        .ok_or(PriceError::Overflow)?;
    let scale = d.scale() + 6;
    if scale > 28 {
        return Err(PriceError::Overflow);
    }
    d.set_scale(scale).map_err(|_| PriceError::Overflow)?;
    Ok(d)
}

/// Costs for `t` at `r`. Returns whether a missing class price forced the input price (an
/// estimate).
pub fn costs(t: &Tokens, r: &Rates) -> Result<(Costs, bool), PriceError> {
    let mut estimated = false;
    let mut or_input = |p: Option<Decimal>, n: i64| {
        if p.is_none() && n > 0 {
            estimated = true;
        }
        p.unwrap_or(r.input)
    };
    let cr = or_input(r.cache_read, t.cache_read);
    let w5 = or_input(r.cache_write_5m, t.cache_write_5m);
    // A missing 1h price falls back to the 5m one (and then input): both are estimates.
    let w1 = or_input(r.cache_write_1h.or(r.cache_write_5m), t.cache_write_1h);
    if r.cache_write_1h.is_none() && t.cache_write_1h > 0 {
        estimated = true;
    }
    let input = cost(t.input, r.input)?;
    let output = cost(t.output, r.output)?;
    let cache_read = cost(t.cache_read, cr)?;
    let cache_write = cost(t.cache_write_5m, w5)?
        .checked_add(cost(t.cache_write_1h, w1)?)
        .ok_or(PriceError::Overflow)?;
    let total = input
        .checked_add(output)
        .and_then(|x| x.checked_add(cache_read))
        .and_then(|x| x.checked_add(cache_write))
        .ok_or(PriceError::Overflow)?;
    Ok((
        Costs {
            input,
            output,
            cache_read,
            cache_write,
            total,
        },
        estimated,
    ))
}

/// The most tokens of one class one request may log: far beyond any model's context window
/// (10 billion), and small enough that sums over billions of invocations stay inside `i64`.
/// Anything larger is a broken or hostile record, refused with its field named, never a wrap.
pub const MAX_TOKENS_PER_CLASS: i64 = 10_000_000_000;

fn tokens_field(v: Option<i64>, field: &'static str) -> Result<i64, PriceError> {
    match v.unwrap_or(0) {
        n if n < 0 => Err(PriceError::NegativeTokens { field, value: n }),
        n if n > MAX_TOKENS_PER_CLASS => Err(PriceError::ImplausibleTokens { field, value: n }),
        n => Ok(n),
    }
}

/// A logged `modelId` resolved for pricing: the base model id (an application profile through
/// its configured mapping), the endpoint tier, and whether it is billed other than per token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub base: String,
    pub tier: EndpointTier,
    /// `provisioned-model`, `custom-model`, ...: not priced from tokens.
    pub not_token_priced: Option<String>,
}

impl Pricer {
    /// Resolves a logged `modelId` (every form [`model::resolve`] knows), mapping application
    /// inference profiles through the catalogue. An unmapped profile keeps its ARN and tier
    /// `unknown`, so it reaches the global fallback.
    pub fn resolve(&self, model_id: &str) -> Resolved {
        match model::resolve(model_id) {
            ModelRef::Base { id, tier } => Resolved {
                base: id.to_string(),
                tier,
                not_token_priced: None,
            },
            ModelRef::ApplicationProfile { arn } => match self.catalogue.application_profile(arn) {
                Some((m, t)) => Resolved {
                    base: m.to_string(),
                    tier: t,
                    not_token_priced: None,
                },
                None => Resolved {
                    base: arn.to_string(),
                    tier: EndpointTier::Unknown,
                    not_token_priced: None,
                },
            },
            ModelRef::NotTokenPriced { kind } => Resolved {
                base: model_id.to_string(),
                tier: EndpointTier::Unknown,
                not_token_priced: Some(kind.to_string()),
            },
        }
    }

    pub fn new(catalogue: Catalogue, config: PricerConfig) -> Self {
        Pricer {
            catalogue,
            config,
            clock: Arc::new(SystemClock),
            latest_ok: Arc::new(AtomicI64::new(i64::MIN)),
        }
    }

    /// The same pricer judging "now" by `clock` (tests, replays of a fixed past).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self.latest_ok = Arc::new(AtomicI64::new(i64::MIN));
        self
    }

    /// [`event_time_in_range`] against this pricer's clock.
    pub fn check_event_time(&self, ms: i64) -> Result<(), PriceError> {
        if ms >= EARLIEST_EVENT_MS && ms <= self.latest_ok.load(Ordering::Relaxed) {
            return Ok(());
        }
        let now = self.clock.now_ms();
        self.latest_ok
            .fetch_max(now.saturating_add(MAX_AHEAD_MS), Ordering::Relaxed);
        event_time_in_range(ms, now)
    }

    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// Prices one record. `log_event_ms` is the CloudWatch log event's timestamp, used only when
    /// the record has none of its own.
    pub fn price<'a>(
        &self,
        rec: InvocationRecord<'a>,
        log_event_ms: Option<i64>,
    ) -> Result<PricedRow<'a>, PriceError> {
        // an empty id would merge every such invocation into one: refused like a missing one
        let request_id = rec
            .request_id
            .filter(|r| !r.trim().is_empty())
            .ok_or(PriceError::MissingRequestId)?;
        let event_time = match &rec.timestamp {
            Some(ts) => time::parse_rfc3339_ms(ts).map_err(|e| PriceError::BadTimestamp {
                value: ts.to_string(),
                reason: e.to_string(),
            })?,
            None => log_event_ms.ok_or(PriceError::MissingTimestamp)?,
        };
        self.check_event_time(event_time)
            .map_err(|e| match (e, &rec.timestamp) {
                // name the time as the record spells it (a year past 9999 has no other spelling)
                (
                    PriceError::TimestampOutOfRange {
                        earliest, latest, ..
                    },
                    Some(ts),
                ) => PriceError::TimestampOutOfRange {
                    value: ts.to_string(),
                    earliest,
                    latest,
                },
                (e, _) => e,
            })?;
        let input = rec.input.unwrap_or_default();
        let output = rec.output.unwrap_or_default();
        let cache_write = tokens_field(
            input.cache_write_input_token_count,
            "cacheWriteInputTokenCount",
        )?;
        let mut tokens = Tokens {
            input: tokens_field(input.input_token_count, "inputTokenCount")?,
            output: tokens_field(output.output_token_count, "outputTokenCount")?,
            cache_read: tokens_field(
                input.cache_read_input_token_count,
                "cacheReadInputTokenCount",
            )?,
            cache_write_5m: 0,
            cache_write_1h: 0,
        };
        let error_code = rec.error_code.filter(|e| !e.is_empty());
        if error_code.is_none() && rec.model_id.is_none() {
            return Err(PriceError::MissingModelId);
        }
        let model_id = rec.model_id.unwrap_or(Cow::Borrowed(""));

        // Cache-write TTL split: logged in the output body when present.
        let mut ttl_source = CacheTtlSource::None;
        let mut estimated = false;
        if cache_write > 0 {
            let logged = output.output_body_json.and_then(|b| b.split);
            match (logged, output.output_body_json.is_some()) {
                (Some(CacheSplit { one_hour, exact }), _) => {
                    tokens.cache_write_1h = one_hour.clamp(0, cache_write);
                    tokens.cache_write_5m = cache_write - tokens.cache_write_1h;
                    ttl_source = CacheTtlSource::Logged;
                    estimated |= !exact;
                }
                (None, true) => {
                    tokens.cache_write_5m = cache_write;
                    ttl_source = CacheTtlSource::Default5m;
                }
                (None, false) => {
                    match self.config.assumed_cache_ttl {
                        AssumedTtl::FiveMinutes => tokens.cache_write_5m = cache_write,
                        AssumedTtl::OneHour => tokens.cache_write_1h = cache_write,
                    }
                    ttl_source = CacheTtlSource::Assumed;
                    estimated = true;
                }
            }
        }

        let arn = rec
            .identity
            .and_then(|i| i.arn)
            .unwrap_or(Cow::Borrowed(""));
        let who = principal::parse(&arn);
        let account_id = match rec.account_id {
            Some(a) => a,
            None => Cow::Owned(who.account.unwrap_or("").to_string()),
        };
        let region = rec.region.unwrap_or(Cow::Borrowed(""));
        let (model, tier, status, costs, version) = {
            let Resolved {
                base,
                tier,
                not_token_priced,
            } = self.resolve(&model_id);
            if error_code.is_some() {
                (
                    base,
                    tier,
                    PriceStatus::ErrorNoCharge,
                    Costs::default(),
                    self.catalogue.version().to_string(),
                )
            } else if not_token_priced.is_some() {
                (
                    base,
                    tier,
                    PriceStatus::NotTokenPriced,
                    Costs::default(),
                    self.catalogue.version().to_string(),
                )
            } else {
                let priced = self.catalogue.price_for(&base, tier, &region, event_time);
                let (c, est) = costs(&tokens, priced.rates_for(tokens.prompt()))?;
                let (model, status) = match priced {
                    Priced::Entry(e) if estimated || est => {
                        (e.model.clone(), PriceStatus::Estimated)
                    }
                    Priced::Entry(e) => (e.model.clone(), PriceStatus::Exact),
                    _ => (base, PriceStatus::Fallback),
                };
                (model, tier, status, c, priced.version().to_string())
            }
        };

        Ok(PricedRow {
            event_time,
            account_id,
            region,
            inference_region: rec.inference_region,
            request_id,
            operation: rec.operation.unwrap_or(Cow::Borrowed("")),
            model_id,
            model: Cow::Owned(model),
            endpoint_tier: tier,
            principal_type: who.kind,
            principal: Cow::Owned(who.principal.into_owned()),
            session_name: who.session_name.map(|s| Cow::Owned(s.to_string())),
            principal_arn: arn.clone(),
            price_version: Cow::Owned(version),
            price_status: status,
            cache_ttl_source: ttl_source,
            error_code,
            input_tokens: tokens.input,
            output_tokens: tokens.output,
            cache_read_tokens: tokens.cache_read,
            cache_write_5m_tokens: tokens.cache_write_5m,
            cache_write_1h_tokens: tokens.cache_write_1h,
            input_cost_usd: costs.input,
            output_cost_usd: costs.output,
            cache_read_cost_usd: costs.cache_read,
            cache_write_cost_usd: costs.cache_write,
            cost_usd: costs.total,
            request_metadata: rec.request_metadata,
            dt: time::date_of_ms(event_time),
        })
    }
}
