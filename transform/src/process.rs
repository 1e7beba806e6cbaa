//! The pure part of the transform: one Firehose batch in, one verdict per record and the
//! envelopes to re-ingest out. Decoding, parsing and pricing come from the core; this module owns
//! the Firehose rules around them (one date per output record, the 6 MB response, what is
//! `Dropped` and what is `ProcessingFailed`). No AWS SDK and no async: `lib.rs` sends the jobs.

use spendguard_core::pipeline::{price_scanned, RecordOutcome};
use spendguard_core::reenvelope::Gzipper;
use spendguard_core::Pipeline;
use spendguard_schemas::{MessageType, PriceStatus};

/// Lambda's synchronous response limit is 6 MiB; like the AWS blueprint we budget 6,000,000
/// bytes of `data` + `recordId` and leave the rest for framing.
pub const MAX_RESPONSE_BYTES: usize = 6_000_000;

/// Response JSON per record besides `data` and `recordId`:
/// `{"recordId":"","result":"Ok","data":"","metadata":{"partitionKeys":{"dt":"YYYY-MM-DD"}}},`.
pub const RECORD_FRAMING_BYTES: usize = 96;

/// One input record, as the handler unpacked it.
#[derive(Debug, Clone, Copy)]
pub struct InRecord<'a> {
    pub record_id: &'a str,
    /// The record's bytes after base64: a gzip CloudWatch Logs envelope.
    pub data: &'a [u8],
    /// `kinesisRecordMetadata.partitionKey` when Firehose reads a Kinesis stream.
    pub partition_key: Option<&'a str>,
}

/// Why a record is re-ingested rather than returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReingestReason {
    /// Its events fall on `dates` UTC dates: one envelope per date.
    SplitByDate { dates: usize },
    /// Its rows alone would exceed the response budget: two envelopes, half the events each.
    SplitOversize,
    /// The response budget is used up by earlier records: the original payload, unchanged.
    ResponseFull,
    /// Too close to the function timeout to price it: the original payload, unchanged.
    Deadline,
    /// Several gzip members, one envelope each (as files may hold): one record per member, each
    /// member's bytes unchanged, so each comes back as the one envelope a record carries.
    SeveralEnvelopes { members: usize },
}

impl ReingestReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ReingestReason::SplitByDate { .. } => "split_by_date",
            ReingestReason::SplitOversize => "split_oversize",
            ReingestReason::ResponseFull => "response_full",
            ReingestReason::Deadline => "deadline",
            ReingestReason::SeveralEnvelopes { .. } => "several_envelopes",
        }
    }
}

/// What becomes of one record (before re-ingest is attempted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Rows for one date: newline-separated JSON objects.
    Ok {
        dt: String,
        rows: Vec<u8>,
        count: usize,
    },
    /// A CONTROL_MESSAGE: no data, by design.
    Control,
    /// A DATA_MESSAGE with no log events.
    NoEvents,
    /// Replaced by the envelopes of the job with the same record index.
    Reingest(ReingestReason),
    /// Firehose keeps the raw record in its error prefix.
    Failed(String),
}

/// Envelopes (gzip) to send back to the source in place of record `record`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub record: usize,
    pub payloads: Vec<Vec<u8>>,
    pub partition_key: String,
    pub reason: ReingestReason,
}

/// Counts for the metrics line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub records_in: usize,
    pub events: usize,
    pub bad_events: usize,
    /// Rows priced at the conservative fallback rate (unknown model), among returned rows.
    pub fallback_rows: usize,
    pub decompressed_bytes: usize,
}

/// The outcome of a batch: `verdicts[i]` belongs to input record `i`.
#[derive(Debug, Default)]
pub struct Plan {
    pub verdicts: Vec<Verdict>,
    pub jobs: Vec<Job>,
    pub stats: Stats,
    /// The logged model ids priced at a fallback rung, with their row counts: the operator's
    /// answer to the fallback alarm ("which model is missing from the catalogue?").
    pub fallback_models: std::collections::BTreeMap<String, usize>,
}

/// Options of one batch.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub max_response_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_response_bytes: MAX_RESPONSE_BYTES,
        }
    }
}

/// Rows of one date within a record, and which events made them.
struct Group {
    dt: String,
    rows: Vec<u8>,
    events: Vec<usize>,
    fallback: usize,
}

/// Prices a batch. `out_of_time` is asked before each record; once it says yes, the remaining
/// records are re-ingested unpriced (`Deadline`).
pub fn process_batch(
    pipe: &mut Pipeline,
    gz: &mut Gzipper,
    records: &[InRecord<'_>],
    opts: &Options,
    out_of_time: &mut dyn FnMut() -> bool,
) -> Plan {
    let mut plan = Plan {
        stats: Stats {
            records_in: records.len(),
            ..Stats::default()
        },
        ..Plan::default()
    };
    let mut fallback_by_record = vec![0usize; records.len()];
    let mut late = false;
    for (i, rec) in records.iter().enumerate() {
        // The first record is always priced: every invocation makes progress.
        late = late || (i > 0 && out_of_time());
        let v = if late {
            plan.jobs.push(whole(i, rec, ReingestReason::Deadline));
            Verdict::Reingest(ReingestReason::Deadline)
        } else {
            one_record(pipe, gz, i, rec, &mut plan, &mut fallback_by_record[i])
        };
        plan.verdicts.push(v);
    }
    enforce_response_budget(pipe, gz, records, opts, &mut plan);
    plan.stats.fallback_rows = plan
        .verdicts
        .iter()
        .zip(&fallback_by_record)
        .filter(|(v, _)| matches!(v, Verdict::Ok { .. }))
        .map(|(_, n)| n)
        .sum();
    plan
}

fn whole(i: usize, rec: &InRecord<'_>, reason: ReingestReason) -> Job {
    Job {
        record: i,
        payloads: vec![rec.data.to_vec()],
        partition_key: partition_key(rec),
        reason,
    }
}

/// The original partition key keeps re-ingested data on the shard (and in the order) its log
/// stream uses; without one (DirectPut has none) the record id is as good as any.
fn partition_key(rec: &InRecord<'_>) -> String {
    rec.partition_key.unwrap_or(rec.record_id).to_string()
}

fn failed(rec: &InRecord<'_>, reason: String) -> Verdict {
    tracing::error!(recordId = rec.record_id, reason, "record failed");
    Verdict::Failed(reason)
}

fn one_record(
    pipe: &mut Pipeline,
    gz: &mut Gzipper,
    i: usize,
    rec: &InRecord<'_>,
    plan: &mut Plan,
    fallback: &mut usize,
) -> Verdict {
    let (mut env, n) = match pipe.decoder.scan_from_gzip(rec.data) {
        Ok(x) => x,
        Err(e) => {
            // several gzip members (one envelope each) read as one document do not parse: each
            // member goes back as its own record, its bytes unchanged
            let mut payloads = Vec::new();
            let mut out_start = 0;
            for m in pipe.decoder.members() {
                if m.output_end > out_start {
                    payloads.push(
                        rec.data
                            .get(m.input.0..m.input.1)
                            .unwrap_or_default()
                            .to_vec(),
                    );
                }
                out_start = m.output_end;
            }
            // only when every member inflated (a gzip error leaves the members before it)
            let inflated = matches!(e, spendguard_core::DecodeError::Envelope(_));
            if inflated && payloads.len() > 1 {
                let reason = ReingestReason::SeveralEnvelopes {
                    members: payloads.len(),
                };
                plan.jobs.push(Job {
                    record: i,
                    payloads,
                    partition_key: partition_key(rec),
                    reason,
                });
                return Verdict::Reingest(reason);
            }
            return failed(rec, format!("undecodable record: {e}"));
        }
    };
    plan.stats.decompressed_bytes += n;
    if env.message_type == MessageType::Control {
        return Verdict::Control;
    }
    if env.events.is_empty() {
        return Verdict::NoEvents;
    }
    let events = env.events.len();
    plan.stats.events += events;
    let mut groups: Vec<Group> = Vec::with_capacity(1);
    let mut bad = 0usize;
    for (k, ev) in env.events.iter_mut().enumerate() {
        match price_scanned(&pipe.pricer, ev, k) {
            RecordOutcome::Priced(row) => {
                let g = match groups.iter().position(|g| g.dt == row.dt) {
                    Some(p) => &mut groups[p],
                    None => {
                        groups.push(Group {
                            dt: row.dt.clone(),
                            rows: Vec::with_capacity(n / 4),
                            events: Vec::new(),
                            fallback: 0,
                        });
                        let last = groups.len() - 1;
                        &mut groups[last]
                    }
                };
                if let Err(e) = serde_json::to_writer(&mut g.rows, &row) {
                    // Serialising strings and integers into a Vec cannot fail; if it ever does,
                    // the record must not return a half-written row.
                    return failed(rec, format!("serialising a row: {e}"));
                }
                g.rows.push(b'\n');
                g.events.push(k);
                if row.price_status == PriceStatus::Fallback {
                    g.fallback += 1;
                    *plan
                        .fallback_models
                        .entry(row.model_id.to_string())
                        .or_default() += 1;
                }
            }
            RecordOutcome::Bad {
                event_index,
                event_id,
                error,
            } => {
                bad += 1;
                // Where to find the event again: CloudWatch Logs keeps it under this id.
                tracing::warn!(
                    recordId = rec.record_id,
                    reason = error.reason(),
                    detail = %error,
                    eventIndex = event_index,
                    eventId = event_id,
                    logGroup = %env.log_group,
                    logStream = %env.log_stream,
                    owner = %env.owner,
                    "bad log event skipped"
                );
            }
        }
    }
    plan.stats.bad_events += bad;
    match groups.len() {
        0 => failed(
            rec,
            format!("none of the {events} log events is a valid Bedrock record"),
        ),
        1 => {
            let g = groups.remove(0);
            *fallback = g.fallback;
            Verdict::Ok {
                dt: g.dt,
                count: g.events.len(),
                rows: g.rows,
            }
        }
        dates => {
            // One output record has one partition: re-ingest one envelope per date. Bad events
            // were logged above with their ids and are not carried (they would fail again).
            // Re-enveloping needs the messages' text: the record is decoded again, strictly (it
            // decoded a moment ago, and split-by-date records are rare).
            let env = match pipe.decoder.envelope_from_gzip(rec.data) {
                Ok((env, _)) if env.log_events.len() == events => env,
                Ok(_) => return failed(rec, "the strict decode disagrees".into()),
                Err(e) => return failed(rec, format!("undecodable record: {e}")),
            };
            let mut payloads = Vec::with_capacity(dates);
            for g in &groups {
                match gz.envelope(&env, g.events.iter().map(|&k| &env.log_events[k])) {
                    Ok(p) => payloads.push(p),
                    Err(e) => return failed(rec, format!("re-enveloping: {e}")),
                }
            }
            let reason = ReingestReason::SplitByDate { dates };
            plan.jobs.push(Job {
                record: i,
                payloads,
                partition_key: partition_key(rec),
                reason,
            });
            Verdict::Reingest(reason)
        }
    }
}

/// base64 length of `n` bytes.
pub const fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// The AWS blueprint's size rule: a record whose rows alone exceed the budget is split in two
/// halves and re-ingested (one oversize event fails); once the running total would pass the
/// budget, further records are re-ingested unchanged.
fn enforce_response_budget(
    pipe: &mut Pipeline,
    gz: &mut Gzipper,
    records: &[InRecord<'_>],
    opts: &Options,
    plan: &mut Plan,
) {
    // Every record is in the response, whatever its result: charge its framing up front.
    let mut total: usize = records
        .iter()
        .map(|r| r.record_id.len() + RECORD_FRAMING_BYTES)
        .sum();
    for (i, rec) in records.iter().enumerate() {
        let Verdict::Ok { rows, .. } = &plan.verdicts[i] else {
            continue;
        };
        let framing = rec.record_id.len() + RECORD_FRAMING_BYTES;
        let projected = base64_len(rows.len()) + framing;
        if projected > opts.max_response_bytes {
            let split = match pipe.decoder.envelope_from_gzip(rec.data) {
                Ok((env, _)) => gz.halves(&env).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            plan.verdicts[i] = match split {
                Ok(Some([a, b])) => {
                    plan.jobs.push(Job {
                        record: i,
                        payloads: vec![a, b],
                        partition_key: partition_key(rec),
                        reason: ReingestReason::SplitOversize,
                    });
                    Verdict::Reingest(ReingestReason::SplitOversize)
                }
                Ok(None) => failed(
                    rec,
                    format!(
                        "one log event whose row ({projected} bytes in the response) exceeds the \
                         {} byte response budget",
                        opts.max_response_bytes
                    ),
                ),
                Err(e) => failed(rec, format!("splitting an oversize record: {e}")),
            };
        } else if total + projected - framing > opts.max_response_bytes {
            plan.jobs.push(whole(i, rec, ReingestReason::ResponseFull));
            plan.verdicts[i] = Verdict::Reingest(ReingestReason::ResponseFull);
        } else {
            total += projected - framing;
        }
    }
    plan.jobs.sort_by_key(|j| j.record);
}
