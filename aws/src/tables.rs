//! The DynamoDB tables more than one function reads: the ledger table's window items (the
//! aggregator writes them; the evaluator reads their stream images, the enforcer queries them)
//! and the enforcement table's shared items (the budgets document `spendguard budgets push`
//! writes and every function reads; the fallback-priced model ids the aggregator notes and the
//! enforcer alerts). The key layout and the item codecs live here once.
//!
//! Ledger table layout:
//! - marker: `pk = "req#<requestId>"`, `sk = "req"`, `expires_at` (now + the dedup horizon),
//!   `digest` (what was counted, 16 hex digits: tells a replay from a conflict);
//! - window: `pk = "<scope>#<key>"`, `sk = "<day|month>#<start>"`, `spend_usd` (Number: an exact
//!   decimal), token and invocation counters, `first_event_ms` (of the first batch applied),
//!   `last_event_ms` (of the latest batch applied: update expressions have no min/max), and
//!   `expires_at` 400 days after the window ends.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use rust_decimal::Decimal;
use spendguard_core::budget::Scope;
use spendguard_core::ledger::WindowTotal;
use spendguard_core::window::{Delta, WindowKey, WindowKind};
use std::collections::HashMap;

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// A string attribute.
pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number attribute.
pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The budgets document's item in the enforcement table: `spendguard budgets push` writes it, and
/// the aggregator, the evaluator and the enforcer all read it (the one place budgets live).
pub const BUDGETS_PK: &str = "config";
pub const BUDGETS_SK: &str = "budgets";

/// Reads the budgets document: `(version, TOML text)`, or `None` before the first push. One
/// consistent `GetItem`.
pub async fn read_budgets_doc(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<
    Option<(u64, String)>,
    SdkError<
        aws_sdk_dynamodb::operation::get_item::GetItemError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
> {
    let r = client
        .get_item()
        .table_name(table)
        .key("pk", s(BUDGETS_PK))
        .key("sk", s(BUDGETS_SK))
        .consistent_read(true)
        .send()
        .await?;
    Ok(r.item().and_then(|i| {
        let version = i.get("version")?.as_n().ok()?.parse().ok()?;
        let text = i.get("text")?.as_s().ok()?.clone();
        Some((version, text))
    }))
}

/// `pk` and `sk` of a window item.
pub fn window_key(w: &WindowKey) -> (String, String) {
    (
        format!("{}#{}", w.scope.as_str(), w.key),
        format!("{}#{}", w.kind.as_str(), w.start),
    )
}

pub fn get_s<'i>(item: &'i Item, name: &str) -> Result<&'i str, String> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| format!("window item without string {name}"))
}

pub fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, String> {
    let v = item
        .get(name)
        .and_then(|v| v.as_n().ok())
        .ok_or_else(|| format!("window item without number {name}"))?;
    v.parse()
        .map_err(|_| format!("window item {name} = {v:?} does not fit"))
}

/// A window item back into totals.
pub fn parse_window(item: &Item) -> Result<WindowTotal, String> {
    let scope = get_s(item, "scope")
        .and_then(|x| Scope::parse(x).ok_or_else(|| format!("unknown scope {x:?}")))?;
    let kind = get_s(item, "window")
        .and_then(|x| WindowKind::parse(x).ok_or_else(|| format!("unknown window {x:?}")))?;
    Ok(WindowTotal {
        window: WindowKey {
            scope,
            key: get_s(item, "key")?.to_string(),
            kind,
            start: get_s(item, "window_start")?.to_string(),
        },
        totals: Delta {
            cost_usd: get_n::<Decimal>(item, "spend_usd")?,
            // absent on items that never had fallback-priced spend
            fallback_usd: match item.get("fallback_usd") {
                None => Decimal::ZERO,
                Some(_) => get_n::<Decimal>(item, "fallback_usd")?,
            },
            input_tokens: get_n(item, "input_tokens")?,
            output_tokens: get_n(item, "output_tokens")?,
            cache_read_tokens: get_n(item, "cache_read_tokens")?,
            cache_write_tokens: get_n(item, "cache_write_tokens")?,
            invocations: get_n(item, "invocations")?,
            first_event_ms: get_n(item, "first_event_ms")?,
            last_event_ms: get_n(item, "last_event_ms")?,
        },
    })
}

/// The enforcement table's partition of fallback-priced model ids: one item per (UTC day,
/// model id), `sk` = `<day>#<model id>`, counting invocations; the enforcer's tick alerts each
/// once (it sets `alerted`).
pub const FALLBACK_MODELS_PK: &str = "fallback-models";

/// Adds a batch's fallback-priced model ids to today's items (UTC), one `UpdateItem` per model
/// (there are few: a model the catalogue lacks).
pub async fn note_fallback_models(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    now_ms: i64,
    models: &std::collections::BTreeMap<String, u64>,
) -> Result<(), String> {
    let day = jiff::Timestamp::from_millisecond(now_ms)
        .map_err(|e| e.to_string())?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string();
    for (model, count) in models {
        client
            .update_item()
            .table_name(table)
            .key("pk", s(FALLBACK_MODELS_PK))
            .key("sk", s(format!("{day}#{model}")))
            .update_expression(
                "ADD invocations :n SET model = :m, #day = :d, first_seen_ms = if_not_exists(first_seen_ms, :t), expires_at = :e",
            )
            .expression_attribute_names("#day", "day")
            .expression_attribute_values(":n", n(*count))
            .expression_attribute_values(":m", s(model.clone()))
            .expression_attribute_values(":d", s(day.clone()))
            .expression_attribute_values(":t", n(now_ms))
            .expression_attribute_values(":e", n(now_ms / 1000 + 35 * 86_400))
            .send()
            .await
            .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string())?;
    }
    Ok(())
}
