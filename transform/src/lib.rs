//! spendguard-transform: the Firehose data-transformation Lambda. `function_handler` unpacks the
//! Firehose event, prices the batch with the core (`process`), re-ingests what cannot be returned
//! in this response (`send`, through the SDK adapter in `aws`), and packs one output record per
//! input `recordId`. Every problem becomes a per-record disposition: the handler itself never
//! fails, so one bad record never sends a whole batch to Firehose's retry and error path.

pub mod aws;
mod config;
pub mod firehose;
pub mod metrics;
pub mod process;
pub mod send;
#[cfg(feature = "test-util")]
pub mod testkit;

use aws_lambda_events::firehose::KinesisFirehoseEvent;
use firehose::{FirehoseResponse, ResponseMetadata, ResponseRecord, TransformResult};
use lambda_runtime::LambdaEvent;
use metrics::TransformMetrics;
use process::{InRecord, Options, Verdict};
use send::{Entry, Sink, Target};
use serde_json::json;
use spendguard_aws::prices::PricesSource;
use spendguard_core::clock::Clock;
use spendguard_core::reenvelope::Gzipper;
use spendguard_core::Pipeline;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use config::Config;
pub use spendguard_aws::pricing::{ConfigError, PricingConfig};

/// Per-instance buffers, reused across invocations.
#[derive(Debug)]
struct State {
    pipeline: Pipeline,
    gzipper: Gzipper,
}

/// Everything the handler needs, built once per Lambda instance.
pub struct Deps<S> {
    state: Mutex<State>,
    /// The stored price overlay, when the stack has one.
    pub prices: Option<PricesSource>,
    pub sink: S,
    pub config: Config,
    pub clock: Arc<dyn Clock>,
    /// The `Function` dimension of the metrics.
    pub function_name: String,
}

impl<S> std::fmt::Debug for Deps<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deps")
            .field("config", &self.config)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl<S: Sink> Deps<S> {
    pub fn new(config: Config, sink: S, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        let pipeline = config.pricing.pipeline()?;
        Ok(Deps {
            state: Mutex::new(State {
                pipeline,
                gzipper: Gzipper::default(),
            }),
            prices: None,
            sink,
            config,
            clock,
            function_name: "transform".into(),
        })
    }
}

/// The re-ingest destination: the source stream. Firehose refuses `PutRecordBatch` on a
/// delivery stream that reads from Kinesis, so a Kinesis-sourced stream is re-fed through the
/// Kinesis stream itself.
pub fn reingest_target(event: &KinesisFirehoseEvent) -> Result<Target, String> {
    let from = |arn: &str| {
        send::stream_name_from_arn(arn)
            .map(str::to_string)
            .ok_or_else(|| format!("cannot read a stream name from {arn:?}"))
    };
    if let Some(arn) = event.source_kinesis_stream_arn.as_deref() {
        Ok(Target::Kinesis { stream: from(arn)? })
    } else if let Some(arn) = event.delivery_stream_arn.as_deref() {
        Ok(Target::Firehose { stream: from(arn)? })
    } else {
        Err("the event names neither sourceKinesisStreamArn nor deliveryStreamArn".into())
    }
}

/// The invocation's deadline as epoch ms. Lambda sends epoch ms; 0 (a hand-made context, as in
/// the CLI) means none; a value too small to be an epoch (before 2001) is a duration from now:
/// cargo lambda's runtime emulator sends the timeout that way.
pub fn absolute_deadline(deadline: u64, now_ms: i64) -> Option<i64> {
    const EPOCH_2001_MS: i64 = 978_307_200_000;
    let d = i64::try_from(deadline).ok().filter(|&d| d > 0)?;
    Some(if d < EPOCH_2001_MS {
        now_ms.saturating_add(d)
    } else {
        d
    })
}

/// The Lambda entry point: the event as JSON, checked record by record before it is typed. A
/// record whose `data` is not base64 is that record's `ProcessingFailed` (Firehose keeps its raw
/// data), not a failed invocation that sends the whole batch to the error output; a `recordId`
/// seen twice is answered once and logged; a record without a `recordId` cannot be answered and
/// is logged. Infallible by design (see the module docs).
pub async fn event_handler<S: Sink>(
    event: LambdaEvent<serde_json::Value>,
    deps: &Deps<S>,
) -> Result<FirehoseResponse, std::convert::Infallible> {
    let (payload, context) = event.into_parts();
    let serde_json::Value::Object(mut obj) = payload else {
        tracing::error!("not a Firehose transformation event: not a JSON object");
        return Ok(FirehoseResponse::default());
    };
    let records = match obj.remove("records") {
        Some(serde_json::Value::Array(a)) => a,
        _ => Vec::new(),
    };
    let mut good = Vec::with_capacity(records.len());
    let mut failed = Vec::new();
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    for r in records {
        let Some(id) = r
            .get("recordId")
            .and_then(|v| v.as_str())
            .map(str::to_string)
        else {
            tracing::error!("record without a recordId: it cannot be answered");
            continue;
        };
        if !seen.insert(id.clone()) {
            tracing::error!(
                recordId = id,
                "recordId repeated in one event: answered once"
            );
            continue;
        }
        let data = r.get("data").and_then(|v| v.as_str()).unwrap_or("");
        if let Err(e) = base64_simd::STANDARD.decode_to_vec(data.as_bytes()) {
            tracing::error!(
                recordId = id,
                reason = "bad_base64",
                error = %e,
                "record data is not base64: ProcessingFailed"
            );
            failed.push(ResponseRecord {
                record_id: id,
                result: TransformResult::ProcessingFailed,
                data: None,
                metadata: None,
            });
            continue;
        }
        good.push(r);
    }
    let ids: Vec<String> = good
        .iter()
        .filter_map(|r| {
            r.get("recordId")
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .collect();
    obj.insert("records".into(), serde_json::Value::Array(good));
    match serde_json::from_value::<KinesisFirehoseEvent>(serde_json::Value::Object(obj)) {
        Ok(typed) => handle(LambdaEvent::new(typed, context), deps, failed).await,
        Err(e) => {
            // the records' own fields do not fit the event's shape: each is answered failed
            tracing::error!(error = %e, "not a Firehose transformation event");
            failed.extend(ids.into_iter().map(|record_id| ResponseRecord {
                record_id,
                result: TransformResult::ProcessingFailed,
                data: None,
                metadata: None,
            }));
            Ok(FirehoseResponse { records: failed })
        }
    }
}

/// The handler on a typed event. Infallible by design (see the module docs).
pub async fn function_handler<S: Sink>(
    event: LambdaEvent<KinesisFirehoseEvent>,
    deps: &Deps<S>,
) -> Result<FirehoseResponse, std::convert::Infallible> {
    handle(event, deps, Vec::new()).await
}

/// `prefailed`: records already answered `ProcessingFailed` (undecodable `data`), counted in
/// this invocation's metrics and appended to the response.
async fn handle<S: Sink>(
    event: LambdaEvent<KinesisFirehoseEvent>,
    deps: &Deps<S>,
    prefailed: Vec<ResponseRecord>,
) -> Result<FirehoseResponse, std::convert::Infallible> {
    let started = Instant::now();
    deps.config
        .pricing
        .refresh_prices(deps.prices.as_ref(), deps.clock.now_ms(), |p| {
            deps.state
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pipeline
                .pricer = p;
        })
        .await;
    let payload = event.payload;
    let deadline_ms = absolute_deadline(event.context.deadline, deps.clock.now_ms());
    let records: Vec<InRecord<'_>> = payload
        .records
        .iter()
        .map(|r| InRecord {
            record_id: r.record_id.as_deref().unwrap_or(""),
            data: r.data.as_slice(),
            partition_key: r
                .kinesis_firehose_record_metadata
                .as_ref()
                .and_then(|m| m.partition_key.as_deref()),
        })
        .collect();
    let clock = &deps.clock;
    // The reserve never takes more than a third of the time this invocation has: with a short
    // function timeout a fixed reserve would re-ingest every record unpriced, forever.
    let configured = i64::try_from(deps.config.deadline_reserve.as_millis()).unwrap_or(i64::MAX);
    let reserve_ms = match deadline_ms {
        Some(d) => configured.min(d.saturating_sub(clock.now_ms()).max(0) / 3),
        None => configured,
    };
    let mut out_of_time =
        || deadline_ms.is_some_and(|d| clock.now_ms().saturating_add(reserve_ms) >= d);
    let opts = Options {
        max_response_bytes: deps.config.max_response_bytes,
    };
    let mut plan = {
        // A poisoned lock only means an earlier invocation panicked mid-batch; the buffers hold
        // no state between batches, so they are safe to reuse.
        let mut st = deps.state.lock().unwrap_or_else(|p| p.into_inner());
        let State { pipeline, gzipper } = &mut *st;
        process::process_batch(pipeline, gzipper, &records, &opts, &mut out_of_time)
    };

    // Re-ingest. A record whose envelopes do not all reach the source is ProcessingFailed, so
    // Firehose keeps its raw data: never silently lost.
    let mut job_failures: HashMap<usize, String> = HashMap::new();
    let mut reingested = 0usize;
    let mut partly_sent: HashMap<usize, Vec<usize>> = HashMap::new();
    if !plan.jobs.is_empty() {
        let jobs = std::mem::take(&mut plan.jobs);
        match reingest_target(&payload) {
            Err(why) => {
                for j in &jobs {
                    job_failures.insert(j.record, why.clone());
                }
            }
            Ok(target) => {
                let mut entries = Vec::new();
                for j in jobs {
                    for data in j.payloads {
                        entries.push(Entry {
                            data,
                            partition_key: j.partition_key.clone(),
                            tag: j.record,
                        });
                    }
                }
                // Leave a second for packing the response after the last retry.
                let send_deadline = deadline_ms.and_then(|d| {
                    let left = d.saturating_sub(clock.now_ms()).saturating_sub(1000).max(0);
                    Instant::now().checked_add(Duration::from_millis(left as u64))
                });
                let report = send::send_all(
                    &deps.sink,
                    &target,
                    &entries,
                    &deps.config.retry,
                    send_deadline,
                )
                .await;
                reingested = report.sent.len();
                for (i, err) in report.failed {
                    job_failures.entry(entries[i].tag).or_insert(err);
                }
                // A record whose parts went only partly is left to Firehose's error output whole;
                // say which parts already went, so a redrive can tell (the ledger de-duplicates,
                // the lake is at-least-once).
                for &i in &report.sent {
                    if job_failures.contains_key(&entries[i].tag) {
                        partly_sent.entry(entries[i].tag).or_default().push(i);
                    }
                }
                for &i in &report.sent {
                    tracing::info!(
                        recordId = records[entries[i].tag].record_id,
                        target = target.stream(),
                        bytes = entries[i].data.len(),
                        partitionKey = entries[i].partition_key,
                        "re-ingested"
                    );
                }
            }
        }
    }

    let mut m = TransformMetrics {
        records_in: records.len() + prefailed.len(),
        records_failed: prefailed.len(),
        bad_events: plan.stats.bad_events,
        fallback_priced: plan.stats.fallback_rows,
        reingested_envelopes: reingested,
        decompressed_bytes: plan.stats.decompressed_bytes,
        ..TransformMetrics::default()
    };
    let mut out = Vec::with_capacity(records.len());
    for (i, (rec, verdict)) in records.iter().zip(plan.verdicts).enumerate() {
        let (result, data, metadata) = match verdict {
            Verdict::Ok { dt, rows, count } => {
                m.rows_out += count;
                let meta = ResponseMetadata {
                    partition_keys: [("dt".to_string(), dt)].into(),
                };
                (
                    TransformResult::Ok,
                    Some(base64_simd::STANDARD.encode_to_string(&rows)),
                    Some(meta),
                )
            }
            Verdict::Control | Verdict::NoEvents => (TransformResult::Dropped, None, None),
            Verdict::Reingest(reason) => match job_failures.remove(&i) {
                None => (TransformResult::Dropped, None, None),
                Some(err) => {
                    tracing::error!(
                        recordId = rec.record_id,
                        reason = reason.as_str(),
                        error = err,
                        partsAlreadySent = partly_sent.get(&i).map_or(0, Vec::len),
                        "re-ingest failed: record left to Firehose's error output"
                    );
                    (TransformResult::ProcessingFailed, None, None)
                }
            },
            Verdict::Failed(_) => (TransformResult::ProcessingFailed, None, None),
        };
        match result {
            TransformResult::Ok => m.records_ok += 1,
            TransformResult::Dropped => m.records_dropped += 1,
            TransformResult::ProcessingFailed => m.records_failed += 1,
        }
        out.push(ResponseRecord {
            record_id: rec.record_id.to_string(),
            result,
            data,
            metadata,
        });
    }
    if !plan.fallback_models.is_empty() {
        // One line per batch naming what the catalogue lacks (`spendguard prices explain ID`
        // says which fallback rung priced it).
        // the models as a JSON object (model id: rows), one field to read
        tracing::warn!(
            models = %json!(plan.fallback_models),
            rows = plan.stats.fallback_rows,
            "fallback-priced models"
        );
    }
    out.extend(prefailed);
    m.duration_ms = started.elapsed().as_millis() as u64;
    spendguard_aws::log::emit_metrics(&m.emf(&deps.function_name, clock.now_ms()));
    Ok(FirehoseResponse { records: out })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_epoch_ms_or_a_relative_timeout() {
        let now = 1_795_305_600_000;
        assert_eq!(absolute_deadline(0, now), None);
        assert_eq!(
            absolute_deadline(1_795_305_660_000, now),
            Some(1_795_305_660_000)
        );
        assert_eq!(absolute_deadline(600_000, now), Some(now + 600_000));
        assert_eq!(absolute_deadline(u64::MAX, now), None);
    }
}
