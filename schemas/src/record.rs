//! One Bedrock model-invocation-log record (`schemaType: ModelInvocationLog`), typed.
//!
//! Request and response bodies can be hundreds of KB. They are captured as borrowed raw JSON
//! ([`RawValue`]) so the parser only validates and skips them; the pricer looks inside a body
//! only when it needs the cache-write TTL split. Unknown fields are ignored, so new log fields
//! never break parsing.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
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

/// `input`: request side. `inputTokenCount` EXCLUDES cache read and cache write tokens.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordInput<'a> {
    #[serde(borrow, default)]
    pub input_content_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub input_body_json: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub input_body_s3_path: Option<Cow<'a, str>>,
    #[serde(default)]
    pub input_token_count: Option<i64>,
    #[serde(default)]
    pub cache_read_input_token_count: Option<i64>,
    #[serde(default)]
    pub cache_write_input_token_count: Option<i64>,
}

/// `output`: response side. For streaming operations `outputBodyJson` is a LIST of stream events.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordOutput<'a> {
    #[serde(borrow, default)]
    pub output_content_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub output_body_json: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub output_body_s3_path: Option<Cow<'a, str>>,
    /// Absent on embeddings records: treated as 0.
    #[serde(default)]
    pub output_token_count: Option<i64>,
}
