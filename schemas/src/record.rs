//! One Bedrock model-invocation-log record (`schemaType: ModelInvocationLog`), typed.
//!
//! Request and response bodies can be hundreds of KB. The request body is skipped (validated,
//! never materialised); the response body is walked once, in the same parse, only to pick up the
//! cache-write TTL split from its `usage` block ([`OutputBody`]). Unknown fields are ignored, so
//! new log fields never break parsing.

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The log record. Every field is optional at this level: which absences are errors is a
/// pricing decision (see `spendguard-core`), not a parse failure.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvocationRecord<'a> {
    #[serde(borrow, default)]
    pub schema_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub schema_version: Option<Cow<'a, str>>,
    /// RFC 3339, e.g. `2025-03-11T00:38:02Z`.
    #[serde(borrow, default)]
    pub timestamp: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub account_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub identity: Option<Identity<'a>>,
    /// The Region the call was made in: prices follow it.
    #[serde(borrow, default)]
    pub region: Option<Cow<'a, str>>,
    /// Where a cross-Region profile actually ran the call: recorded, never priced on.
    #[serde(borrow, default)]
    pub inference_region: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub request_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub operation: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub model_id: Option<Cow<'a, str>>,
    /// Caller-supplied attribution tags: data, never identity.
    #[serde(borrow, default)]
    pub request_metadata: Option<BTreeMap<Cow<'a, str>, Cow<'a, str>>>,
    #[serde(borrow, default)]
    pub input: Option<RecordInput<'a>>,
    #[serde(borrow, default)]
    pub output: Option<RecordOutput<'a>>,
    #[serde(borrow, default)]
    pub error_code: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub status: Option<Cow<'a, str>>,
}

/// `identity`: the caller.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Identity<'a> {
    #[serde(borrow, default)]
    pub arn: Option<Cow<'a, str>>,
}

/// A token count that is present must be a number. `null` is refused, naming the field, instead
/// of being read as 0 (absent is `None`: embeddings log no output count).
fn count<'de, D: de::Deserializer<'de>>(d: D, field: &str) -> Result<Option<i64>, D::Error> {
    Option::<i64>::deserialize(d)?.map(Some).ok_or_else(|| {
        de::Error::custom(format!("{field} is null: a logged token count is a number"))
    })
}

fn input_token_count<'de, D: de::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    count(d, "inputTokenCount")
}

fn cache_read_input_token_count<'de, D: de::Deserializer<'de>>(
    d: D,
) -> Result<Option<i64>, D::Error> {
    count(d, "cacheReadInputTokenCount")
}

fn cache_write_input_token_count<'de, D: de::Deserializer<'de>>(
    d: D,
) -> Result<Option<i64>, D::Error> {
    count(d, "cacheWriteInputTokenCount")
}

fn output_token_count<'de, D: de::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    count(d, "outputTokenCount")
}

/// `input`: request side. `inputTokenCount` EXCLUDES cache read and cache write tokens.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordInput<'a> {
    #[serde(borrow, default)]
    pub input_content_type: Option<Cow<'a, str>>,
    /// Present or not; its content is never needed for pricing.
    #[serde(default, skip_serializing)]
    pub input_body_json: Option<IgnoredAny>,
    #[serde(borrow, default)]
    pub input_body_s3_path: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "input_token_count")]
    pub input_token_count: Option<i64>,
    #[serde(default, deserialize_with = "cache_read_input_token_count")]
    pub cache_read_input_token_count: Option<i64>,
    #[serde(default, deserialize_with = "cache_write_input_token_count")]
    pub cache_write_input_token_count: Option<i64>,
}

/// `output`: response side. For streaming operations `outputBodyJson` is a LIST of stream events.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordOutput<'a> {
    #[serde(borrow, default)]
    pub output_content_type: Option<Cow<'a, str>>,
    /// What pricing needs from the response body: the logged 5m/1h cache-write split, if any.
    #[serde(default, skip_serializing)]
    pub output_body_json: Option<OutputBody>,
    #[serde(borrow, default)]
    pub output_body_s3_path: Option<Cow<'a, str>>,
    /// Absent on embeddings records: treated as 0.
    #[serde(default, deserialize_with = "output_token_count")]
    pub output_token_count: Option<i64>,
}

/// The logged split of cache-write tokens by TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSplit {
    /// Tokens written with the 1-hour TTL (the rest of the logged cache writes are 5-minute).
    pub one_hour: i64,
    /// False when a TTL we do not know appeared (its tokens are counted as 1h, the dearer class).
    pub exact: bool,
}

/// A response body reduced to what pricing needs. Accepts any JSON: an object (InvokeModel,
/// Converse, ConverseStream as Bedrock logs it), or a list of stream events
/// (InvokeModelWithResponseStream, ConverseStream event lists). The split is read from
/// `usage.cacheDetails` (Converse: `[{"ttl":"5m"|"1h","inputTokens":N}]`) or
/// `usage.cache_creation` (Anthropic: `ephemeral_5m_input_tokens` / `ephemeral_1h_input_tokens`),
/// at the top level, in `message.usage` (Anthropic `message_start`) or in `metadata.usage`
/// (ConverseStream `metadata` event). The first split found wins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputBody {
    pub split: Option<CacheSplit>,
}

impl<'de> Deserialize<'de> for OutputBody {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BodyVisitor)
    }
}

struct BodyVisitor;

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = OutputBody;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OutputBody, A::Error> {
        let mut split = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "usage" if split.is_none() => split = map.next_value::<UsageSplit>()?.0,
                "message" | "metadata" if split.is_none() => {
                    split = map.next_value::<OutputBody>()?.split
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(OutputBody { split })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OutputBody, A::Error> {
        let mut split = None;
        while let Some(ev) = seq.next_element::<OutputBody>()? {
            split = split.or(ev.split);
        }
        Ok(OutputBody { split })
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<OutputBody, E> {
        Ok(OutputBody::default())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<OutputBody, E> {
        Ok(OutputBody::default())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<OutputBody, E> {
        Ok(OutputBody::default())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<OutputBody, E> {
        Ok(OutputBody::default())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<OutputBody, E> {
        Ok(OutputBody::default())
    }
    fn visit_unit<E: de::Error>(self) -> Result<OutputBody, E> {
        Ok(OutputBody::default())
    }
}

struct UsageSplit(Option<CacheSplit>);

/// A `usage` block, reduced to the two places a cache-write split is logged. Public so the
/// single-pass scanner in `spendguard-core` builds the same value and shares [`UsageFields::split`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UsageFields<'a> {
    #[serde(borrow, default, rename = "cacheDetails")]
    pub cache_details: Option<Vec<CacheDetail<'a>>>,
    #[serde(default)]
    pub cache_creation: Option<CacheCreation>,
}

/// One Converse `usage.cacheDetails` entry.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CacheDetail<'a> {
    #[serde(borrow, default)]
    pub ttl: Option<Cow<'a, str>>,
    #[serde(default, rename = "inputTokens")]
    pub input_tokens: Option<i64>,
}

/// Anthropic's `usage.cache_creation`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct CacheCreation {
    #[serde(default)]
    pub ephemeral_1h_input_tokens: Option<i64>,
    #[serde(default)]
    pub ephemeral_5m_input_tokens: Option<i64>,
}

impl UsageFields<'_> {
    /// The logged split: `cacheDetails` when it lists anything, else `cache_creation`.
    pub fn split(self) -> Option<CacheSplit> {
        if let Some(details) = self.cache_details.filter(|d| !d.is_empty()) {
            let (mut one_hour, mut exact) = (0i64, true);
            for c in details {
                let n = c.input_tokens.unwrap_or(0).max(0);
                match c.ttl.as_deref() {
                    Some("5m") => {}
                    Some("1h") => one_hour = one_hour.saturating_add(n),
                    _ => {
                        one_hour = one_hour.saturating_add(n);
                        exact = false;
                    }
                }
            }
            return Some(CacheSplit { one_hour, exact });
        }
        self.cache_creation.and_then(|c| {
            (c.ephemeral_1h_input_tokens.is_some() || c.ephemeral_5m_input_tokens.is_some()).then(
                || CacheSplit {
                    one_hour: c.ephemeral_1h_input_tokens.unwrap_or(0).max(0),
                    exact: true,
                },
            )
        })
    }
}

impl<'de> Deserialize<'de> for UsageSplit {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let u = Option::<UsageFields>::deserialize(d)?;
        Ok(UsageSplit(u.and_then(UsageFields::split)))
    }
}
