//! Shared helpers for the transform's tests: events from fixtures, a recording sink, decoding
//! of response rows and of re-ingested envelopes.

use aws_lambda_events::firehose::KinesisFirehoseEvent;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use spendguard_core::clock::FixedClock;
use spendguard_core::Decoder;
use spendguard_transform::firehose::{FirehoseResponse, ResponseRecord, TransformResult};
use spendguard_transform::send::{Entry, PutError, Sink, Target};
use spendguard_transform::{function_handler, Config, Deps};
use std::sync::{Arc, Mutex};

/// The request ids of the midnight fixture's straddling envelope once split: the 2026-11-20 part,
/// then the 2026-11-21 part.
pub const MIDNIGHT_PARTS: [&[&str]; 2] = [
    &[
        "6f1e0b0a-0010-4c3e-9b1a-0000000f0010",
        "6f1e0b0a-0012-4c3e-9b1a-0000000f0012",
    ],
    &["6f1e0b0a-0011-4c3e-9b1a-0000000f0011"],
];

/// 2026-11-22T00:00:00Z: "now" for every handler test.
pub const NOW_MS: i64 = 1_795_305_600_000;

/// What a recording sink saw, and what it answers.
#[derive(Default)]
pub struct Recorder {
    pub calls: Mutex<Vec<(Target, Vec<Entry>)>>,
    pub fail_with: Option<PutError>,
}

impl Sink for Recorder {
    async fn put(
        &self,
        target: &Target,
        entries: &[&Entry],
    ) -> Result<Vec<Option<String>>, PutError> {
        self.calls.lock().unwrap().push((
            target.clone(),
            entries.iter().map(|e| (*e).clone()).collect(),
        ));
        match &self.fail_with {
            Some(e) => Err(e.clone()),
            None => Ok(vec![None; entries.len()]),
        }
    }
}

impl Recorder {
    pub fn entries(&self) -> Vec<(Target, Entry)> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .flat_map(|(t, es)| es.iter().map(move |e| (t.clone(), e.clone())))
            .collect()
    }
}

/// The handler with its dependencies, and everything it logs on this thread.
pub struct Harness<S> {
    pub deps: Deps<S>,
    pub logs: spendguard_aws::log::Captured,
}

pub fn harness<S: Sink>(sink: S, config: Config) -> Harness<S> {
    let logs = spendguard_aws::log::capture();
    let deps = Deps::new(config, sink, Arc::new(FixedClock(NOW_MS))).unwrap();
    Harness { deps, logs }
}

impl<S: Sink> Harness<S> {
    pub fn run_event(&self, event: KinesisFirehoseEvent, deadline_ms: u64) -> FirehoseResponse {
        let mut ctx = Context::default();
        ctx.deadline = deadline_ms;
        let ev = LambdaEvent::new(event, ctx);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(function_handler(ev, &self.deps)).unwrap()
    }

    /// The handler inside the caller's runtime (SDK clients must stay on one runtime).
    pub async fn handle(&self, event: KinesisFirehoseEvent) -> FirehoseResponse {
        let ev = LambdaEvent::new(event, Context::default());
        function_handler(ev, &self.deps).await.unwrap()
    }

    pub fn run(&self, json: &str) -> FirehoseResponse {
        self.run_event(serde_json::from_str(json).unwrap(), 0)
    }

    /// The Lambda's own entry point: the event as JSON, checked record by record.
    pub fn run_json(&self, event: Value) -> FirehoseResponse {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(spendguard_transform::event_handler(
            LambdaEvent::new(event, Context::default()),
            &self.deps,
        ))
        .unwrap()
    }

    /// Every line logged so far, each of which must be JSON: an EMF line, or a log line with
    /// the one naming (`timestamp`, `level`, `message`).
    pub fn logs(&self) -> Vec<Value> {
        let lines: Vec<Value> = self
            .logs
            .lines()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        for v in lines.iter().filter(|v| v.get("_aws").is_none()) {
            assert!(v["timestamp"].is_string(), "{v}");
            assert!(["ERROR", "WARN", "INFO"].contains(&v["level"].as_str().unwrap_or("")));
            assert!(v["message"].is_string(), "{v}");
        }
        lines
    }

    /// The EMF metrics line of the last invocation.
    pub fn metrics(&self) -> Value {
        self.logs()
            .into_iter()
            .rev()
            .find(|v| v.get("_aws").is_some())
            .expect("an EMF line")
    }
}

pub fn event(json: &str) -> KinesisFirehoseEvent {
    serde_json::from_str(json).unwrap()
}

pub fn record_ids(json: &str) -> Vec<String> {
    event(json)
        .records
        .iter()
        .map(|r| r.record_id.clone().unwrap())
        .collect()
}

/// The JSON rows of an `Ok` record.
pub fn rows(rec: &ResponseRecord) -> Vec<Value> {
    assert_eq!(rec.result, TransformResult::Ok, "{rec:?}");
    let data = base64_simd::STANDARD
        .decode_to_vec(rec.data.as_ref().unwrap())
        .unwrap();
    let text = String::from_utf8(data).unwrap();
    assert!(text.ends_with('\n'), "rows are newline-terminated");
    text.lines()
        .map(|l| {
            assert!(
                l.starts_with('{'),
                "one JSON object per line, never an array"
            );
            serde_json::from_str(l).unwrap()
        })
        .collect()
}

pub fn dt(rec: &ResponseRecord) -> &str {
    &rec.metadata.as_ref().unwrap().partition_keys["dt"]
}

/// (event id, record requestId or raw message) of each event in a gzip envelope.
pub fn envelope_events(gz: &[u8]) -> Vec<(String, String)> {
    let mut d = Decoder::new(64 << 20).unwrap();
    let (env, _) = d.envelope_from_gzip(gz).unwrap();
    env.log_events
        .iter()
        .map(|e| {
            let rid = serde_json::from_str::<Value>(&e.message)
                .ok()
                .and_then(|v| v["requestId"].as_str().map(str::to_string))
                .unwrap_or_else(|| e.message.to_string());
            (e.id.to_string(), rid)
        })
        .collect()
}

/// A Firehose event (Kinesis source) carrying `payloads` as records, as Firehose would deliver
/// re-ingested data the second time round.
pub fn event_from_payloads(payloads: &[(Vec<u8>, String)], kinesis: bool) -> KinesisFirehoseEvent {
    let records: Vec<Value> = payloads
        .iter()
        .enumerate()
        .map(|(i, (data, pk))| {
            let mut r = serde_json::json!({
                "recordId": format!("re-{i:04}"),
                "approximateArrivalTimestamp": NOW_MS,
                "data": base64_simd::STANDARD.encode_to_string(data),
            });
            if kinesis {
                r["kinesisRecordMetadata"] = serde_json::json!({
                    "shardId": "shardId-000000000000", "partitionKey": pk,
                    "approximateArrivalTimestamp": NOW_MS,
                    "sequenceNumber": format!("{:056}", i), "subsequenceNumber": 0});
            }
            r
        })
        .collect();
    let mut e = serde_json::json!({
        "invocationId": "again", "region": "us-east-1",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:111122223333:deliverystream/spendguard-lake",
        "records": records});
    if kinesis {
        e["sourceKinesisStreamArn"] =
            "arn:aws:kinesis:us-east-1:111122223333:stream/bedrock-invocation-logs".into();
    }
    serde_json::from_value(e).unwrap()
}
