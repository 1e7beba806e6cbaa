//! `spendguard transform` and `spendguard replay` through the built binary; replay against
//! kinesalite (Kinesis `PutRecords`) and moto (Firehose `PutRecordBatch`), started by
//! scripts/test.sh on 127.0.0.1.
use serde_json::Value;
use spendguard_core::Decoder;
use spendguard_transform::testkit::{self, KINESIS_VAR, MOTO_VAR};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_spendguard"));
    c.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1");
    c
}

struct Tmp(PathBuf);
impl Tmp {
    fn new(name: &str) -> Tmp {
        let p = std::env::temp_dir().join(testkit::unique(&format!("sg-{name}")));
        std::fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }
}
impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fixture(name: &str) -> String {
    format!(
        "{}/../schemas/fixtures/example-firehose-{name}.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn transform_prints_only_the_firehose_response_on_stdout() {
    let out = run(bin().args(["transform", "--event", &fixture("kinesis-midnight")]));
    assert!(out.status.success());
    let resp: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    let results: Vec<&str> = resp["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, vec!["Dropped", "Ok"]);
    assert_eq!(
        resp["records"][1]["metadata"]["partitionKeys"]["dt"],
        "2026-11-20"
    );
    let err = String::from_utf8(out.stderr).unwrap();
    // re-ingest is reported, not sent, without --reingest
    assert_eq!(
        err.matches("re-ingest (not sent: no --reingest)").count(),
        2,
        "{err}"
    );
    assert!(err.contains("kinesis:bedrock-invocation-logs"));
    assert!(err.contains("\"RecordsIn\":2"));

    let bad = run(bin().args([
        "transform",
        "--event",
        &fixture("kinesis-many"),
        "--max-response-bytes",
        "x",
    ]));
    assert!(!bad.status.success());
    let not_event = run(bin().args(["transform", "--event", "Cargo.toml"]));
    assert_eq!(not_event.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&not_event.stderr).contains("not a Firehose transformation event")
    );
}

/// `spendguard gen` into `dir`.
fn gen(dir: &Path, invocations: usize, format: &str, seed: u64) {
    let (n, seed) = (invocations.to_string(), seed.to_string());
    let d = dir.to_str().unwrap();
    ok(bin().args([
        "gen",
        "--out",
        d,
        "--invocations",
        &n,
        "--format",
        format,
        "--seed",
        &seed,
    ]));
}

/// A fresh one-shard stream on kinesalite.
async fn kinesis_stream(url: &str, prefix: &str) -> (aws_sdk_kinesis::Client, String) {
    let conf = testkit::emulator_config(url).await;
    let k = aws_sdk_kinesis::Client::new(&conf);
    let stream = testkit::unique(prefix);
    testkit::create_stream(&k, &stream).await;
    (k, stream)
}

/// Request ids of every invocation in gzip envelopes.
fn request_ids(payloads: &[Vec<u8>]) -> Vec<String> {
    let mut ids = Vec::new();
    let mut d = Decoder::new(64 << 20).unwrap();
    for p in payloads {
        let (env, _) = d.envelope_from_gzip(p).unwrap();
        for e in &env.log_events {
            let v: Value = serde_json::from_str(&e.message).unwrap();
            ids.push(v["requestId"].as_str().unwrap().to_string());
        }
    }
    ids
}

/// Request ids of every invocation in generated files (via `spendguard price`).
fn generated_ids(dir: &Path) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let rows = ok(bin().args(["price", p.to_str().unwrap()]));
        for l in rows.lines() {
            let v: Value = serde_json::from_str(l).unwrap();
            ids.insert(v["request_id"].as_str().unwrap().to_string());
        }
    }
    ids
}

#[tokio::test]
async fn replay_sends_envelopes_and_reenvelopes_records_into_kinesalite() {
    let Some(url) = testkit::emulator(KINESIS_VAR) else {
        return;
    };
    let t = Tmp::new("replay");
    let cwl = t.0.join("cwl");
    let nd = t.0.join("nd");
    gen(&cwl, 1500, "cwl", 42);
    gen(&nd, 700, "ndjson", 7);
    let (k, stream) = kinesis_stream(&url, "replay").await;

    let out = ok(bin().args([
        "replay",
        "--to",
        &format!("kinesis:{stream}"),
        "--endpoint-url",
        &url,
        "--now",
        "2026-11-22T00:00:00Z",
        "--rate",
        "2000",
        cwl.to_str().unwrap(),
        nd.to_str().unwrap(),
    ]));
    let s: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["invocations"], 2200);
    assert_eq!(s["records_failed"], 0);
    assert_eq!(s["records_not_sent"], 0);
    assert!(s["records_per_s"].as_f64().unwrap() > 0.0);
    assert!(s["mb_per_s"].as_f64().unwrap() > 0.0);

    let got = testkit::read_stream(&k, &stream).await;
    assert_eq!(got.len() as u64, s["records_sent"].as_u64().unwrap());
    let keys: BTreeSet<_> = got.iter().map(|r| r.partition_key.clone()).collect();
    assert!(keys.len() > 1, "partition keys spread the records");
    let ids = request_ids(&got.iter().map(|r| r.data.clone()).collect::<Vec<_>>());
    let unique: BTreeSet<_> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), 2200, "every invocation once");
    let mut want = generated_ids(&cwl);
    want.extend(generated_ids(&nd));
    assert_eq!(unique, want);
}

#[tokio::test]
async fn replay_refuses_input_beyond_the_dedup_horizon_unless_told() {
    let Some(url) = testkit::emulator(KINESIS_VAR) else {
        return;
    };
    let t = Tmp::new("horizon");
    let nd = t.0.join("nd");
    gen(&nd, 50, "ndjson", 42);
    let (k, stream) = kinesis_stream(&url, "horizon").await;
    let args = |extra: &[&str]| {
        let mut c = bin();
        c.args([
            "replay",
            "--to",
            &format!("kinesis:{stream}"),
            "--endpoint-url",
            &url,
        ]);
        c.args(["--now", "2027-01-01T00:00:00Z", nd.to_str().unwrap()]);
        c.args(extra);
        c
    };
    let refused = run(&mut args(&[]));
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("50 of 50 invocations are older than the ledger's dedup horizon"),
        "{err}"
    );
    assert!(err.contains("Nothing was sent"));
    assert!(testkit::read_stream(&k, &stream).await.is_empty());

    // a ledger configured with a longer horizon accepts them; so does an explicit override
    let s: Value = serde_json::from_str(&ok(&mut args(&["--dedup-horizon-days", "60"]))).unwrap();
    assert_eq!(s["invocations"], 50);
    let s: Value = serde_json::from_str(&ok(&mut args(&["--allow-beyond-horizon"]))).unwrap();
    assert_eq!(s["records_failed"], 0);

    let ids = request_ids(
        &testkit::read_stream(&k, &stream)
            .await
            .into_iter()
            .map(|r| r.data)
            .collect::<Vec<_>>(),
    );
    assert_eq!(ids.len(), 100, "two replays of 50");
    let before = testkit::read_stream(&k, &stream).await.len() as u64;

    // --duration stops a paced replay; what is left is reported and the exit status says so
    let cwl = t.0.join("cwl");
    gen(&cwl, 2000, "cwl", 42);
    let mut c = bin();
    c.args([
        "replay",
        "--to",
        &format!("kinesis:{stream}"),
        "--endpoint-url",
        &url,
    ]);
    c.args([
        "--now",
        "2026-11-22T00:00:00Z",
        "--rate",
        "2",
        "--duration",
        "1",
    ]);
    let cut = run(c.arg(cwl.to_str().unwrap()));
    assert_eq!(cut.status.code(), Some(1));
    let s: Value = serde_json::from_slice(&cut.stdout).unwrap();
    let sent = s["records_sent"].as_u64().unwrap();
    assert!((1..=2).contains(&sent), "{s}");
    assert!(s["records_not_sent"].as_u64().unwrap() >= 1);
    let in_stream = testkit::read_stream(&k, &stream).await.len() as u64;
    assert_eq!(
        in_stream,
        before + sent,
        "what it says it sent is in the stream"
    );
}

#[tokio::test]
async fn replay_to_a_directput_firehose_on_moto() {
    let Some(moto) = testkit::emulator(MOTO_VAR) else {
        return;
    };
    let t = Tmp::new("firehose");
    let cwl = t.0.join("cwl");
    gen(&cwl, 300, "cwl", 42);
    let conf = testkit::emulator_config(&moto).await;
    let f = aws_sdk_firehose::Client::new(&conf);
    let bucket = testkit::unique("replay").to_lowercase();
    let stream = testkit::unique("replay-direct");
    testkit::create_bucket(&moto, &bucket);
    testkit::create_delivery_stream(&f, &stream, &bucket).await;
    let s: Value = serde_json::from_str(&ok(bin().args([
        "replay",
        "--to",
        &format!("firehose:{stream}"),
        "--endpoint-url",
        &moto,
        "--now",
        "2026-11-22T00:00:00Z",
        cwl.to_str().unwrap(),
    ])))
    .unwrap();
    assert_eq!(s["records_failed"], 0);
    let objects = testkit::bucket_objects(&moto, &bucket);
    assert!(!objects.is_empty());
    // moto concatenates the raw records: gzip members, one envelope each
    let mut d = Decoder::new(64 << 20).unwrap();
    let mut n = 0;
    for (_, body) in objects {
        let text = d.gunzip(&body).unwrap().to_vec();
        for doc in serde_json::Deserializer::from_slice(&text).into_iter::<Value>() {
            n += doc.unwrap()["logEvents"].as_array().unwrap().len();
        }
    }
    assert_eq!(n, 300);
}
