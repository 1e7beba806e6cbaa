//! The priced row, one per invocation, and [`COLUMNS`]: the column table that is the contract
//! for the JSON rows (Firehose), the Parquet files (local lake and Firehose's converter) and the
//! Glue table Athena reads. Column names here are the contract; everything else derives from it.

use crate::words::words;
use rust_decimal::Decimal;
use serde::{Serialize, Serializer};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Scale of every money column: decimal(38,12) holds Nova Micro's 8.75e-9 USD per cache-read
/// token exactly, and a catalogue price per 1M tokens with at most 6 decimals times an integer
/// token count is exact at this scale (no rounding anywhere).
pub const MONEY_SCALE: u32 = 12;
/// Precision of every money column (the Athena maximum).
pub const MONEY_PRECISION: u32 = 38;

/// Logical column types, each with exactly one Arrow and one Glue spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// Arrow `Timestamp(Millisecond, "UTC")`; Glue `timestamp`. Never nanoseconds, never INT96.
    TimestampMsUtc,
    /// Arrow `Utf8`; Glue `string`.
    Utf8,
    /// Arrow `Int64`; Glue `bigint`. Signed: Athena has no unsigned integers.
    Int64,
    /// Arrow `Decimal128(38, 12)`; Glue `decimal(38,12)`.
    Money,
    /// Arrow `Map<Utf8, Utf8>`; Glue `map<string,string>`.
    StringMap,
}

impl ColumnType {
    /// The Glue/Hive type string used in the table's `Columns` / `PartitionKeys`.
    pub const fn glue_type(self) -> &'static str {
        match self {
            ColumnType::TimestampMsUtc => "timestamp",
            ColumnType::Utf8 => "string",
            ColumnType::Int64 => "bigint",
            ColumnType::Money => "decimal(38,12)",
            ColumnType::StringMap => "map<string,string>",
        }
    }

    /// The Arrow type, spelled as arrow-rs `DataType`'s Debug output (the Parquet writer builds
    /// the real `DataType` from the variant).
    pub const fn arrow_type(self) -> &'static str {
        match self {
            ColumnType::TimestampMsUtc => "Timestamp(Millisecond, Some(\"UTC\"))",
            ColumnType::Utf8 => "Utf8",
            ColumnType::Int64 => "Int64",
            ColumnType::Money => "Decimal128(38, 12)",
            ColumnType::StringMap => "Map(Utf8, Utf8)",
        }
    }
}

/// One column of the priced-row table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
    pub nullable: bool,
    /// A Hive partition key (`dt=...` in the path), never a column inside a Parquet file.
    pub partition: bool,
    pub comment: &'static str,
}

const fn col(name: &'static str, ty: ColumnType, nullable: bool, comment: &'static str) -> Column {
    Column {
        name,
        ty,
        nullable,
        partition: false,
        comment,
    }
}

use ColumnType::{Int64, Money, StringMap, TimestampMsUtc, Utf8};

/// The priced-row columns in file order, then the partition key(s).
pub const COLUMNS: &[Column] = &[
    col(
        "event_time",
        TimestampMsUtc,
        false,
        "the record's own timestamp (UTC, ms)",
    ),
    col("account_id", Utf8, false, "account that made the call"),
    col("region", Utf8, false, "source Region: prices follow it"),
    col(
        "inference_region",
        Utf8,
        true,
        "Region that ran the call (cross-Region profiles)",
    ),
    col(
        "request_id",
        Utf8,
        false,
        "Bedrock requestId: one row per invocation",
    ),
    col(
        "operation",
        Utf8,
        false,
        "InvokeModel | InvokeModelWithResponseStream | Converse | ConverseStream",
    ),
    col("model_id", Utf8, false, "modelId as logged"),
    col("model", Utf8, false, "resolved base model id"),
    col(
        "endpoint_tier",
        Utf8,
        false,
        "global | geo | in_region | unknown",
    ),
    col("principal_arn", Utf8, false, "identity.arn as logged"),
    col(
        "principal_type",
        Utf8,
        false,
        "iam_user | assumed_role | root | other",
    ),
    col(
        "principal",
        Utf8,
        false,
        "IAM user ARN, or the role ARN for a role session",
    ),
    col(
        "session_name",
        Utf8,
        true,
        "role session name (caller-chosen unless pinned)",
    ),
    col("price_version", Utf8, false, "price catalogue version used"),
    col(
        "price_status",
        Utf8,
        false,
        "exact | estimated | fallback | not_token_priced | error_no_charge",
    ),
    col(
        "cache_ttl_source",
        Utf8,
        false,
        "none | logged | default_5m | assumed",
    ),
    col("error_code", Utf8, true, "errorCode of a failed call"),
    col(
        "input_tokens",
        Int64,
        false,
        "inputTokenCount (excludes cache tokens)",
    ),
    col(
        "output_tokens",
        Int64,
        false,
        "outputTokenCount (0 when absent)",
    ),
    col(
        "cache_read_tokens",
        Int64,
        false,
        "cacheReadInputTokenCount",
    ),
    col(
        "cache_write_5m_tokens",
        Int64,
        false,
        "cache-write tokens at the 5-minute TTL",
    ),
    col(
        "cache_write_1h_tokens",
        Int64,
        false,
        "cache-write tokens at the 1-hour TTL",
    ),
    col("input_cost_usd", Money, false, "USD"),
    col("output_cost_usd", Money, false, "USD"),
    col("cache_read_cost_usd", Money, false, "USD"),
    col("cache_write_cost_usd", Money, false, "USD, both TTLs"),
    col("cost_usd", Money, false, "USD, the sum of the four"),
    col(
        "request_metadata",
        StringMap,
        true,
        "caller-supplied tags (untrusted, never identity)",
    ),
    Column {
        name: "dt",
        ty: Utf8,
        nullable: false,
        partition: true,
        comment: "UTC date of event_time, YYYY-MM-DD",
    },
];

/// The non-partition columns, in file order.
pub fn data_columns() -> impl Iterator<Item = &'static Column> {
    COLUMNS.iter().filter(|c| !c.partition)
}

/// The partition keys, in path order.
pub fn partition_columns() -> impl Iterator<Item = &'static Column> {
    COLUMNS.iter().filter(|c| c.partition)
}

/// The Glue `Columns` (non-partition) as `(name, glue type)`.
pub fn glue_columns() -> Vec<(&'static str, &'static str)> {
    data_columns().map(|c| (c.name, c.ty.glue_type())).collect()
}

/// The Glue `PartitionKeys` as `(name, glue type)`.
pub fn glue_partition_keys() -> Vec<(&'static str, &'static str)> {
    partition_columns()
        .map(|c| (c.name, c.ty.glue_type()))
        .collect()
}

words! {
    /// Which kind of endpoint served the call: `global.` profiles, geo profiles (`us.`, `eu.`,
    /// ...), an in-Region model id, or unknown (an unmapped application profile).
    EndpointTier { Global = "global", Geo = "geo", InRegion = "in_region", Unknown = "unknown" }
}
words! {
    /// The caller's kind, from `identity.arn`.
    PrincipalType { IamUser = "iam_user", AssumedRole = "assumed_role", Root = "root", Other = "other" }
}
words! {
    /// How a row was priced.
    PriceStatus {
        Exact = "exact",
        Estimated = "estimated",
        Fallback = "fallback",
        NotTokenPriced = "not_token_priced",
        ErrorNoCharge = "error_no_charge",
    }
}
words! {
    /// Where the 5m/1h split of cache-write tokens came from.
    CacheTtlSource { None = "none", Logged = "logged", Default5m = "default_5m", Assumed = "assumed" }
}

/// One priced invocation. Serialises to one JSON object whose keys are exactly the [`COLUMNS`]
/// names (money as exact decimal strings, `event_time` as RFC 3339 with milliseconds).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PricedRow<'a> {
    #[serde(serialize_with = "ser_event_time")]
    pub event_time: i64,
    pub account_id: Cow<'a, str>,
    pub region: Cow<'a, str>,
    pub inference_region: Option<Cow<'a, str>>,
    pub request_id: Cow<'a, str>,
    pub operation: Cow<'a, str>,
    pub model_id: Cow<'a, str>,
    pub model: Cow<'a, str>,
    pub endpoint_tier: EndpointTier,
    pub principal_arn: Cow<'a, str>,
    pub principal_type: PrincipalType,
    pub principal: Cow<'a, str>,
    pub session_name: Option<Cow<'a, str>>,
    pub price_version: Cow<'a, str>,
    pub price_status: PriceStatus,
    pub cache_ttl_source: CacheTtlSource,
    pub error_code: Option<Cow<'a, str>>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_5m_tokens: i64,
    pub cache_write_1h_tokens: i64,
    #[serde(serialize_with = "ser_money")]
    pub input_cost_usd: Decimal,
    #[serde(serialize_with = "ser_money")]
    pub output_cost_usd: Decimal,
    #[serde(serialize_with = "ser_money")]
    pub cache_read_cost_usd: Decimal,
    #[serde(serialize_with = "ser_money")]
    pub cache_write_cost_usd: Decimal,
    #[serde(serialize_with = "ser_money")]
    pub cost_usd: Decimal,
    pub request_metadata: Option<BTreeMap<Cow<'a, str>, Cow<'a, str>>>,
    pub dt: String,
}

impl PricedRow<'_> {
    /// Copies every borrowed string, for rows that must outlive the decompressed buffer.
    pub fn into_owned(self) -> PricedRow<'static> {
        fn o(c: Cow<'_, str>) -> Cow<'static, str> {
            Cow::Owned(c.into_owned())
        }
        PricedRow {
            event_time: self.event_time,
            account_id: o(self.account_id),
            region: o(self.region),
            inference_region: self.inference_region.map(o),
            request_id: o(self.request_id),
            operation: o(self.operation),
            model_id: o(self.model_id),
            model: o(self.model),
            endpoint_tier: self.endpoint_tier,
            principal_arn: o(self.principal_arn),
            principal_type: self.principal_type,
            principal: o(self.principal),
            session_name: self.session_name.map(o),
            price_version: o(self.price_version),
            price_status: self.price_status,
            cache_ttl_source: self.cache_ttl_source,
            error_code: self.error_code.map(o),
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cache_read_tokens: self.cache_read_tokens,
            cache_write_5m_tokens: self.cache_write_5m_tokens,
            cache_write_1h_tokens: self.cache_write_1h_tokens,
            input_cost_usd: self.input_cost_usd,
            output_cost_usd: self.output_cost_usd,
            cache_read_cost_usd: self.cache_read_cost_usd,
            cache_write_cost_usd: self.cache_write_cost_usd,
            cost_usd: self.cost_usd,
            request_metadata: self
                .request_metadata
                .map(|m| m.into_iter().map(|(k, v)| (o(k), o(v))).collect()),
            dt: self.dt,
        }
    }
}

fn ser_event_time<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::time::format_rfc3339_ms(*ms))
}

/// Money as an exact decimal string, trailing zeros removed ("0.0000132", "0").
fn ser_money<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&d.normalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_unique_and_snake_case() {
        let mut names: Vec<_> = COLUMNS.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COLUMNS.len());
        assert!(COLUMNS.iter().all(|c| c
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')));
    }

    #[test]
    fn dt_is_the_only_partition_and_comes_last() {
        let parts: Vec<_> = partition_columns().map(|c| c.name).collect();
        assert_eq!(parts, ["dt"]);
        assert_eq!(COLUMNS.last().map(|c| c.name), Some("dt"));
        assert_eq!(glue_partition_keys(), vec![("dt", "string")]);
        assert!(glue_columns().iter().all(|(n, _)| *n != "dt"));
    }

    #[test]
    fn money_columns_are_decimal_38_12() {
        let money: Vec<_> = COLUMNS
            .iter()
            .filter(|c| c.ty == ColumnType::Money)
            .map(|c| c.name)
            .collect();
        assert_eq!(
            money,
            [
                "input_cost_usd",
                "output_cost_usd",
                "cache_read_cost_usd",
                "cache_write_cost_usd",
                "cost_usd"
            ]
        );
        assert_eq!(
            ColumnType::Money.glue_type(),
            format!("decimal({MONEY_PRECISION},{MONEY_SCALE})")
        );
    }

    #[test]
    fn a_serialised_row_has_exactly_the_column_keys() {
        let row = PricedRow {
            event_time: 1_741_653_482_000,
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
            inference_region: None,
            request_id: "r".into(),
            operation: "Converse".into(),
            model_id: "amazon.nova-lite-v1:0".into(),
            model: "amazon.nova-lite-v1:0".into(),
            endpoint_tier: EndpointTier::InRegion,
            principal_arn: "arn:aws:iam::111122223333:user/a".into(),
            principal_type: PrincipalType::IamUser,
            principal: "arn:aws:iam::111122223333:user/a".into(),
            session_name: None,
            price_version: "v".into(),
            price_status: PriceStatus::Exact,
            cache_ttl_source: CacheTtlSource::None,
            error_code: None,
            input_tokens: 1,
            output_tokens: 2,
            cache_read_tokens: 0,
            cache_write_5m_tokens: 0,
            cache_write_1h_tokens: 0,
            input_cost_usd: Decimal::new(6, 8),
            output_cost_usd: Decimal::new(48, 8),
            cache_read_cost_usd: Decimal::ZERO,
            cache_write_cost_usd: Decimal::ZERO,
            cost_usd: Decimal::new(540_000, 12),
            request_metadata: None,
            dt: "2025-03-11".into(),
        };
        let v = serde_json::to_value(&row).unwrap();
        let obj = v.as_object().unwrap();
        let mut keys: Vec<_> = obj.keys().map(String::as_str).collect();
        let mut names: Vec<_> = COLUMNS.iter().map(|c| c.name).collect();
        keys.sort_unstable();
        names.sort_unstable();
        assert_eq!(keys, names);
        assert_eq!(obj["event_time"], "2025-03-11T00:38:02.000Z");
        assert_eq!(obj["cost_usd"], "0.00000054");
        assert_eq!(obj["cache_read_cost_usd"], "0");
        assert_eq!(obj["endpoint_tier"], "in_region");
    }
}
