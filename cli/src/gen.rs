//! `spendguard gen`: deterministic, realistic Bedrock invocation logs on disk, in the three
//! layouts `run` reads: gzip CloudWatch Logs envelopes (as Kinesis/Firehose records carry them),
//! Bedrock's S3 delivery layout, or NDJSON.

use anyhow::{Context, Result};
use spendguard_core::synth::{self, Generator, Rng, Spec};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Cwl,
    S3,
    Ndjson,
    /// Firehose transformation events (JSON) carrying gzip envelopes, as the transform Lambda
    /// receives them from a Kinesis-sourced delivery stream: input for `spendguard transform`.
    Firehose,
}

/// What was written.
#[derive(Debug, Default)]
pub struct Written {
    pub files: usize,
    pub invocations: usize,
    pub bytes: u64,
}

fn write(path: &Path, data: &[u8], w: &mut Written) -> Result<()> {
    if let Some(d) = path.parent() {
        fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    fs::write(path, data).with_context(|| format!("writing {}", path.display()))?;
    w.files += 1;
    w.bytes += data.len() as u64;
    Ok(())
}

/// `DAY 00:00:00Z` of 2026-11-20, the default first day.
pub const DEFAULT_START_MS: i64 = 1_795_132_800_000;

/// gzip CloudWatch envelopes of 50-500 events, at most about 1 MB of raw events each
/// (PutLogEvents' cap), until `invocations` are used. Each goes to `sink` as it is made, so
/// writing a large set holds one envelope, not the set.
fn each_envelope(
    g: &mut Generator,
    rng: &mut Rng,
    invocations: usize,
    mut sink: impl FnMut(Vec<u8>) -> Result<()>,
) -> Result<()> {
    let (mut left, mut id) = (invocations, 0u64);
    while left > 0 {
        let want = (50 + rng.below(451)).min(left);
        let mut events = Vec::with_capacity(want);
        let mut bytes = 0usize;
        while events.len() < want && bytes < 1_000_000 {
            let r = g.next_full();
            bytes += r.json.len();
            events.push((r.json, r.event_ms));
        }
        left -= events.len();
        let env = synth::envelope_json("111122223333", &events, id);
        id += events.len() as u64;
        sink(synth::gzip(env.as_bytes()))?;
    }
    Ok(())
}

/// All envelopes at once, for formats that pack them further.
fn envelopes(g: &mut Generator, rng: &mut Rng, invocations: usize) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    each_envelope(g, rng, invocations, |gz| {
        out.push(gz);
        Ok(())
    })?;
    Ok(out)
}

/// Packs gzip envelopes into Firehose transformation events of at most `event_bytes` of base64
/// record data each (Firehose buffers at most 3 MB for a Lambda processor).
pub fn firehose_events(gz: &[Vec<u8>], event_bytes: usize) -> Vec<String> {
    use base64::Engine as _;
    let mut events = Vec::new();
    let mut records: Vec<serde_json::Value> = Vec::new();
    let mut size = 0usize;
    let mut flush = |records: &mut Vec<serde_json::Value>| {
        if !records.is_empty() {
            events.push(
                serde_json::json!({
                    "invocationId": format!("gen-{}", events.len()),
                    "deliveryStreamArn": "arn:aws:firehose:us-east-1:111122223333:deliverystream/spendguard-lake",
                    "sourceKinesisStreamArn": "arn:aws:kinesis:us-east-1:111122223333:stream/bedrock-invocation-logs",
                    "region": "us-east-1",
                    "records": std::mem::take(records),
                })
                .to_string(),
            );
        }
    };
    for (i, g) in gz.iter().enumerate() {
        let data = base64::engine::general_purpose::STANDARD.encode(g);
        if size + data.len() > event_bytes {
            flush(&mut records);
            size = 0;
        }
        size += data.len();
        let ts = DEFAULT_START_MS + i as i64;
        records.push(serde_json::json!({
            "recordId": format!("{:056}", i),
            "approximateArrivalTimestamp": ts,
            "data": data,
            "kinesisRecordMetadata": {"shardId": "shardId-000000000000",
                "partitionKey": format!("{:016x}", i), "approximateArrivalTimestamp": ts,
                "sequenceNumber": format!("{:056}", i), "subsequenceNumber": 0},
        }));
    }
    flush(&mut records);
    events
}

#[allow(clippy::too_many_arguments)]
pub fn generate(
    out: &Path,
    invocations: usize,
    seed: u64,
    days: u32,
    format: Format,
    start_ms: i64,
    event_bytes: usize,
) -> Result<Written> {
    let days = days.max(1);
    let spacing_ms = (i64::from(days) * 86_400_000 / invocations.max(1) as i64).max(1);
    let spec = Spec {
        seed,
        invocations,
        start_ms,
        spacing_ms,
        ..Spec::default()
    };
    let mut g = Generator::new(spec);
    let mut rng = Rng::new(seed ^ 0xC0FFEE);
    let mut w = Written {
        invocations,
        ..Written::default()
    };
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    match format {
        Format::Ndjson => {
            let mut text = String::new();
            for _ in 0..invocations {
                text.push_str(&g.next_full().json);
                text.push('\n');
            }
            write(
                &out.join("bedrock-invocations.ndjson"),
                text.as_bytes(),
                &mut w,
            )?;
        }
        Format::Cwl => {
            // A reachability probe, as CloudWatch Logs sends when a subscription is created.
            let control = serde_json::json!({"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs",
                "logGroup": "", "logStream": "", "subscriptionFilters": [],
                "logEvents": [{"id": "", "timestamp": start_ms,
                    "message": "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]});
            write(
                &out.join("envelope-000000.gz"),
                &synth::gzip(control.to_string().as_bytes()),
                &mut w,
            )?;
            let mut n = 0usize;
            each_envelope(&mut g, &mut rng, invocations, |gz| {
                n += 1;
                write(&out.join(format!("envelope-{n:06}.gz")), &gz, &mut w)
            })?;
        }
        Format::Firehose => {
            let gz = envelopes(&mut g, &mut rng, invocations)?;
            for (n, ev) in firehose_events(&gz, event_bytes).iter().enumerate() {
                write(
                    &out.join(format!("firehose-event-{n:04}.json")),
                    ev.as_bytes(),
                    &mut w,
                )?;
            }
        }
        Format::S3 => {
            // AWSLogs/<acct>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/<stamp>_<hex>.json.gz
            let mut files: BTreeMap<PathBuf, String> = BTreeMap::new();
            let mut accounts = Vec::new();
            for _ in 0..invocations {
                let r = g.next_full();
                let hour_ms = r.event_ms - r.event_ms.rem_euclid(3_600_000);
                let stamp = spendguard_schemas::time::format_rfc3339_ms(hour_ms);
                let (date, hh) = (&stamp[..10], &stamp[11..13]);
                let dir = out
                    .join("AWSLogs")
                    .join(&r.account)
                    .join("BedrockModelInvocationLogs")
                    .join(r.region)
                    .join(date.replace('-', "/"))
                    .join(hh);
                let compact: String = stamp.chars().filter(|c| c.is_ascii_digit()).collect();
                let name = format!(
                    "{}T{}Z_{:016x}.json.gz",
                    &compact[..8],
                    &compact[8..17],
                    seed ^ hour_ms as u64
                );
                let e = files.entry(dir.join(name)).or_default();
                e.push_str(&r.json);
                e.push('\n');
                if !accounts.contains(&r.account) {
                    accounts.push(r.account.clone());
                }
            }
            for (path, text) in files {
                write(&path, &synth::gzip(text.as_bytes()), &mut w)?;
            }
            // Bedrock writes zero-byte permission-check markers; `run` must skip them.
            for a in accounts {
                let p = out
                    .join("AWSLogs")
                    .join(a)
                    .join("BedrockModelInvocationLogs")
                    .join("amazon-bedrock-logs-permission-check");
                write(&p, b"", &mut w)?;
            }
        }
    }
    Ok(w)
}
