//! The naive pipeline, kept as the yardstick for `spendguard bench`: flate2's default streaming
//! `GzDecoder` and `serde_json::Value` for both JSON levels (every body materialised), then the
//! same pricer. It must produce the same totals as the real path (a test checks that).

use crate::price::Pricer;
use flate2::read::GzDecoder;
use rust_decimal::Decimal;
use serde_json::Value;
use spendguard_schemas::record::OutputBody;
use spendguard_schemas::{Identity, InvocationRecord, RecordInput, RecordOutput};
use std::borrow::Cow;
use std::io::Read;

/// Totals of a naive run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub rows: usize,
    pub bad: usize,
    pub cost: Decimal,
    pub decompressed_bytes: usize,
}

fn s(v: &Value, k: &str) -> Option<Cow<'static, str>> {
    v.get(k)
        .and_then(Value::as_str)
        .map(|x| Cow::Owned(x.to_string()))
}

/// The naive path re-reads the body from the materialised `Value` tree.
fn body(v: Option<&Value>) -> Option<OutputBody> {
    v.map(|b| serde_json::from_value(b.clone()).unwrap_or_default())
}

/// Decodes and prices one gzip envelope the naive way.
pub fn process_gzip(pricer: &Pricer, gz: &[u8], totals: &mut Totals) -> Result<(), String> {
    let mut buf = Vec::new();
    GzDecoder::new(gz)
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    totals.decompressed_bytes += buf.len();
    let env: Value = serde_json::from_slice(&buf).map_err(|e| e.to_string())?;
    let Some(events) = env.get("logEvents").and_then(Value::as_array) else {
        return Ok(());
    };
    for ev in events {
        let Some(msg) = ev.get("message").and_then(Value::as_str) else {
            totals.bad += 1;
            continue;
        };
        let Ok(rec) = serde_json::from_str::<Value>(msg) else {
            totals.bad += 1;
            continue;
        };
        let input = rec.get("input").cloned().unwrap_or(Value::Null);
        let output = rec.get("output").cloned().unwrap_or(Value::Null);
        let in_body = input.get("inputBodyJson").map(|_| serde::de::IgnoredAny);
        let out_body = body(output.get("outputBodyJson"));
        let r = InvocationRecord {
            timestamp: s(&rec, "timestamp"),
            account_id: s(&rec, "accountId"),
            identity: rec.get("identity").map(|i| Identity { arn: s(i, "arn") }),
            region: s(&rec, "region"),
            inference_region: s(&rec, "inferenceRegion"),
            request_id: s(&rec, "requestId"),
            operation: s(&rec, "operation"),
            model_id: s(&rec, "modelId"),
            error_code: s(&rec, "errorCode"),
            input: Some(RecordInput {
                input_body_json: in_body,
                input_token_count: input.get("inputTokenCount").and_then(Value::as_i64),
                cache_read_input_token_count: input
                    .get("cacheReadInputTokenCount")
                    .and_then(Value::as_i64),
                cache_write_input_token_count: input
                    .get("cacheWriteInputTokenCount")
                    .and_then(Value::as_i64),
                ..Default::default()
            }),
            output: Some(RecordOutput {
                output_body_json: out_body,
                output_token_count: output.get("outputTokenCount").and_then(Value::as_i64),
                ..Default::default()
            }),
            ..Default::default()
        };
        match pricer.price(r, ev.get("timestamp").and_then(Value::as_i64)) {
            Ok(row) => {
                totals.rows += 1;
                totals.cost += row.cost_usd;
            }
            Err(_) => totals.bad += 1,
        }
    }
    Ok(())
}
