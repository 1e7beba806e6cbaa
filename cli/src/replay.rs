//! `spendguard replay`: sends generated or archived Bedrock logs to a real stream, the load
//! generator for a deployed stack and the backfill path (the stack's stream feeds both the lake
//! and the ledger). Any input `run` reads; CloudWatch envelopes go as they are (gzip), bare
//! records are re-enveloped per account the way CloudWatch Logs would batch them. Batching and
//! retries are the transform's re-ingest code. Input older than the ledger's dedup horizon is
//! refused unless `--allow-beyond-horizon`: it could be counted twice.
#![allow(clippy::float_arithmetic)] // rates and MB/s, never money

use crate::input::{is_envelope, pricer, Source};
use crate::PriceOpts;
use anyhow::{bail, Context, Result};
use serde_json::value::RawValue;
use spendguard_core::clock::Clock;
use spendguard_core::pipeline::{price_event, RecordOutcome};
use spendguard_core::reenvelope::{log_event_id, Gzipper};
use spendguard_core::Pipeline;
use spendguard_schemas::{Envelope, LogEvent, MessageType};
use spendguard_transform::aws::{sdk_config, AwsSink};
use spendguard_transform::send::{send_all, Entry, RetryPolicy, Target};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// CloudWatch Logs batches at most 10,000 events and 1 MiB of event bytes, counting 26 bytes
/// per event on top of its message.
const MAX_EVENTS: usize = 10_000;
const MAX_EVENT_BYTES: usize = 1 << 20;
const EVENT_OVERHEAD: usize = 26;

/// Invocations this close to the horizon are refused too: they reach the ledger after the send
/// and the pipeline's lag, by which time they may be past it.
const HORIZON_MARGIN_MS: i64 = 3_600_000;

/// `spendguard replay`'s arguments.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// kinesis:STREAM or firehose:STREAM (a name or an ARN).
    #[arg(long, value_name = "KIND:STREAM")]
    pub to: String,
    #[command(flatten)]
    pub inputs: crate::input::Inputs,
    /// Target rate in records (envelopes) per second; default: as fast as accepted.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: Option<u32>,
    /// Stop after this many seconds (what is left is reported as not sent).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<u64>,
    /// Endpoint URL (an emulator, a VPC endpoint); default: the environment's.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// The ledger's dedup horizon: older invocations could be counted twice.
    #[arg(long, default_value_t = spendguard_core::clock::DEFAULT_DEDUP_HORIZON_DAYS)]
    pub dedup_horizon_days: u32,
    /// Send invocations older than the dedup horizon anyway.
    #[arg(long)]
    pub allow_beyond_horizon: bool,
    /// "Now" for the horizon check (RFC 3339); default: the system clock.
    #[arg(long, hide = true)]
    pub now: Option<String>,
    #[command(flatten)]
    pub opts: PriceOpts,
}

#[derive(Debug, Default)]
struct Prepared {
    entries: Vec<Entry>,
    events: usize,
    decompressed_bytes: usize,
    control_skipped: usize,
    too_old: usize,
    oldest_ms: Option<i64>,
    /// Events whose record could not be priced (sent anyway: the transform reports them).
    unpriced: usize,
}

/// Pending bare records of one account, waiting to fill an envelope.
#[derive(Default)]
struct Pending {
    events: Vec<(String, i64)>,
    bytes: usize,
}

/// FNV-1a: spreads partition keys over the shards without a hashing dependency.
fn fnv(s: &str, seq: u64) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes().chain(seq.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

impl Prepared {
    fn note_time(&mut self, ms: i64, horizon_ms: i64) {
        if ms < horizon_ms {
            self.too_old += 1;
        }
        self.oldest_ms = Some(self.oldest_ms.map_or(ms, |o| o.min(ms)));
    }

    fn push(&mut self, data: Vec<u8>, key_seed: &str) {
        let seq = self.entries.len() as u64;
        self.entries.push(Entry {
            data,
            partition_key: fnv(key_seed, seq),
            tag: self.entries.len(),
        });
    }
}

fn flush(
    gz: &mut Gzipper,
    account: &str,
    p: &mut Pending,
    out: &mut Prepared,
    seq: &mut u64,
) -> Result<()> {
    if p.events.is_empty() {
        return Ok(());
    }
    let log_events: Vec<LogEvent<'_>> = p
        .events
        .iter()
        .map(|(m, ts)| {
            *seq += 1;
            LogEvent {
                id: Cow::Owned(log_event_id(*ts, *seq)),
                timestamp: *ts,
                message: Cow::Borrowed(m.as_str()),
            }
        })
        .collect();
    let env = Envelope {
        message_type: MessageType::Data,
        owner: Cow::Borrowed(account),
        log_group: Cow::Borrowed("/aws/bedrock/modelinvocations"),
        log_stream: Cow::Borrowed("aws/bedrock/modelinvocations"),
        subscription_filters: vec![Cow::Borrowed("spendguard-replay")],
        log_events,
    };
    let data = gz.envelope(&env, &env.log_events)?;
    drop(env);
    out.push(data, account);
    p.events.clear();
    p.bytes = 0;
    Ok(())
}

fn prepare(
    pipe: &mut Pipeline,
    files: &[Source],
    horizon_ms: i64,
    now_ms: i64,
) -> Result<Prepared> {
    let mut out = Prepared::default();
    let mut gz = Gzipper::default();
    let mut pending: BTreeMap<String, Pending> = BTreeMap::new();
    let mut seq = 0u64;
    let mut scratch = Vec::new();
    for f in files {
        let raw = f.read()?;
        let text: Vec<u8> = if raw.starts_with(&[0x1f, 0x8b]) {
            pipe.decoder
                .gunzip(&raw)
                .with_context(|| format!("{}", f))?
                .to_vec()
        } else {
            raw
        };
        out.decompressed_bytes += text.len();
        let text = std::str::from_utf8(&text).with_context(|| format!("{}: not UTF-8 text", f))?;
        let mut docs = serde_json::Deserializer::from_str(text).into_iter::<&RawValue>();
        while let Some(doc) = docs.next() {
            let doc = doc.with_context(|| {
                format!("{}: malformed JSON near byte {}", f, docs.byte_offset())
            })?;
            let json = doc.get();
            if is_envelope(json) {
                scratch.clear();
                scratch.extend_from_slice(json.as_bytes());
                let env = pipe
                    .decoder
                    .envelope_from_json(&mut scratch)
                    .with_context(|| format!("{}: bad envelope", f))?;
                if env.message_type == MessageType::Control {
                    out.control_skipped += 1;
                    continue;
                }
                let mut times = Vec::with_capacity(env.log_events.len());
                for (i, ev) in env.log_events.iter().enumerate() {
                    match price_event(&pipe.pricer, ev, i) {
                        RecordOutcome::Priced(r) => times.push(Some(r.event_time)),
                        RecordOutcome::Bad { .. } => times.push(None),
                    }
                }
                let owner = env.owner.to_string();
                out.events += times.len();
                for t in times {
                    match t {
                        Some(ms) => out.note_time(ms, horizon_ms),
                        None => out.unpriced += 1,
                    }
                }
                let data = gz.gzip(json.as_bytes())?;
                out.push(data, &owner);
            } else {
                let (account, ts) = match pipe.process_record(json, 0) {
                    RecordOutcome::Priced(r) => {
                        out.note_time(r.event_time, horizon_ms);
                        (r.account_id.to_string(), r.event_time)
                    }
                    // Sent anyway, stamped now: the transform logs it as a bad event.
                    RecordOutcome::Bad { .. } => {
                        out.unpriced += 1;
                        ("unknown".to_string(), now_ms)
                    }
                };
                out.events += 1;
                let p = pending.entry(account.clone()).or_default();
                let size = json.len() + EVENT_OVERHEAD;
                if p.events.len() == MAX_EVENTS || p.bytes + size > MAX_EVENT_BYTES {
                    flush(&mut gz, &account, p, &mut out, &mut seq)?;
                }
                p.bytes += size;
                p.events.push((json.to_string(), ts));
            }
        }
    }
    for (account, p) in pending.iter_mut() {
        flush(&mut gz, account, p, &mut out, &mut seq)?;
    }
    Ok(out)
}

pub fn run(a: &ReplayArgs, clock: &dyn Clock) -> Result<ExitCode> {
    let target = Target::parse(&a.to).map_err(anyhow::Error::msg)?;
    let now_ms = match &a.now {
        Some(t) => spendguard_schemas::time::parse_rfc3339_ms(t)
            .map_err(|e| anyhow::anyhow!("--now {t:?}: {e}"))?,
        None => clock.now_ms(),
    };
    let (files, _) = crate::input::discover(&a.inputs.all(false))?;
    if files.is_empty() {
        bail!("no input files");
    }
    let mut pipe = Pipeline::new(pricer(&a.opts)?, a.opts.max_decompressed_mib << 20)?;
    let send_ms = a
        .duration
        .map_or(0, |d| i64::try_from(d).unwrap_or(i64::MAX / 4) * 1000);
    let horizon_ms = (now_ms - i64::from(a.dedup_horizon_days) * 86_400_000)
        .saturating_add(HORIZON_MARGIN_MS)
        .saturating_add(send_ms);
    let t0 = Instant::now();
    let prep = prepare(&mut pipe, &files, horizon_ms, now_ms)?;
    let prepare_s = t0.elapsed().as_secs_f64();
    if prep.too_old > 0 && !a.allow_beyond_horizon {
        let oldest = prep
            .oldest_ms
            .map(spendguard_schemas::time::format_rfc3339_ms)
            .unwrap_or_default();
        bail!(
            "{} of {} invocations are older than the ledger's dedup horizon ({} days before {}, \
             less an hour and the send time for lag; the oldest is {oldest}). Their dedup markers \
             may have expired, so replaying them \
             could count them twice. Nothing was sent. Pass --allow-beyond-horizon to send \
             anyway, or --dedup-horizon-days to match the ledger's configured horizon.",
            prep.too_old,
            prep.events,
            a.dedup_horizon_days,
            spendguard_schemas::time::format_rfc3339_ms(now_ms),
        );
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = rt.block_on(send(a, &target, &prep.entries))?;
    let secs = report.seconds.max(1e-9);
    let summary = serde_json::json!({
        "target": a.to,
        "records_sent": report.sent,
        "records_failed": report.failed.len(),
        "records_not_sent": report.not_sent,
        "invocations": prep.events,
        "unpriceable_events": prep.unpriced,
        "control_messages_skipped": prep.control_skipped,
        "bytes_sent": report.bytes,
        "decompressed_bytes": prep.decompressed_bytes,
        "seconds": (secs * 1000.0).round() / 1000.0,
        "records_per_s": (report.sent as f64 / secs).round(),
        "mb_per_s": ((report.bytes as f64 / 1e6 / secs) * 100.0).round() / 100.0,
        "calls": report.calls,
        "retried_records": report.retried,
        "prepare_s": (prepare_s * 1000.0).round() / 1000.0,
    });
    println!("{summary}");
    for (i, why) in report.failed.iter().take(10) {
        eprintln!("record {i}: {why}");
    }
    Ok(crate::input_status(
        report.sent as u64,
        (report.failed.len() + report.not_sent) as u64,
    ))
}

#[derive(Debug, Default)]
struct Sent {
    sent: usize,
    failed: Vec<(usize, String)>,
    not_sent: usize,
    bytes: usize,
    calls: usize,
    retried: usize,
    seconds: f64,
}

/// Sends in slices paced to `rate` records/s, stopping at `duration`.
async fn send(a: &ReplayArgs, target: &Target, entries: &[Entry]) -> Result<Sent> {
    let conf = sdk_config(a.endpoint_url.as_deref()).await;
    let sink = AwsSink::new(&conf);
    let policy = RetryPolicy::default();
    // A slice is at most one full call, and about a tenth of a second at the target rate so the
    // pacing stays smooth.
    let slice = a.rate.map_or(500, |r| (r as usize / 10).clamp(1, 500));
    let start = Instant::now();
    let stop = a
        .duration
        .and_then(|d| start.checked_add(Duration::from_secs(d)));
    let mut out = Sent::default();
    let mut done = 0usize;
    for chunk in entries.chunks(slice) {
        if stop.is_some_and(|s| Instant::now() >= s) {
            break;
        }
        if let Some(r) = a.rate.filter(|&r| r > 0) {
            let due = start + Duration::from_secs_f64(done as f64 / f64::from(r));
            if stop.is_some_and(|s| due >= s) {
                break;
            }
            let now = Instant::now();
            if due > now {
                tokio::time::sleep(due - now).await;
            }
        }
        let rep = send_all(&sink, target, chunk, &policy, stop).await;
        out.sent += rep.sent.len();
        out.bytes += rep.bytes_sent;
        out.calls += rep.calls;
        out.retried += rep.retried_entries;
        out.failed
            .extend(rep.failed.into_iter().map(|(i, e)| (done + i, e)));
        done += chunk.len();
    }
    out.not_sent = entries.len() - done;
    out.seconds = start.elapsed().as_secs_f64();
    Ok(out)
}
