//! Test support (feature `test-util`) every crate's emulator tests share: finding the emulators
//! (moto server, kinesalite) with the CI rule that a missing one fails, their SDK
//! configuration, unique names, a one-request-per-connection HTTP server for offer files, Kinesis
//! streams (created, read back) and the ledger table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support

use aws_config::BehaviorVersion;
use aws_sdk_s3::config::{Credentials, Region};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

/// Kinesis emulator endpoint variable (kinesalite), set by scripts/test.sh.
pub const KINESIS_VAR: &str = "SPENDGUARD_TEST_KINESIS";
/// moto server endpoint variable (Firehose, S3, ...), set by scripts/test.sh.
pub const MOTO_VAR: &str = "SPENDGUARD_TEST_MOTO";

/// The emulator's URL. Without it: under CI (`CI=true`) the test fails; elsewhere it says why it
/// skips, on stderr, and returns `None`.
pub fn emulator(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{var} is not set: under CI the emulator must run (scripts/test.sh starts it)")
        }
        _ => {
            eprintln!("SKIPPED: {var} is not set (scripts/test.sh starts the emulators)");
            None
        }
    }
}

/// SDK configuration for an emulator: fixed region and dummy static credentials.
pub async fn emulator_config(endpoint: &str) -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new().build_http();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "emulator"))
        .load()
        .await
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    // a counter too: two tests of one binary can read the same clock value
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{}-{n}-{seq}", std::process::id())
}

/// Serves `pages` (path -> body) over HTTP/1.1 on 127.0.0.1, one request per connection; any
/// other path is a 404. Returns the base URL.
pub fn serve(pages: HashMap<String, String>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut s) = conn else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            let (status, body) = match pages.get(&path) {
                Some(b) => ("200 OK", b.as_str()),
                None => ("404 Not Found", "no such offer"),
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    base
}

/// A service's `region_index.json`: (Region code, offer file path) pairs.
pub fn region_index(regions: &[(&str, &str)]) -> String {
    let r: serde_json::Map<String, serde_json::Value> = regions
        .iter()
        .map(|(code, url)| {
            (
                code.to_string(),
                serde_json::json!({"regionCode": code, "currentVersionUrl": url}),
            )
        })
        .collect();
    serde_json::json!({"formatVersion": "v1.0", "publicationDate": "2026-05-01T20:20:25Z", "regions": r})
        .to_string()
}

/// A bucket with versioning on (as the stack's lake bucket), on moto.
pub async fn versioned_bucket(s3: &aws_sdk_s3::Client, name: &str) {
    s3.create_bucket().bucket(name).send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket(name)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// Creates a ledger table as the SAM template declares it (`pk`/`sk` strings, on-demand, TTL on
/// `expires_at`).
#[cfg(feature = "dynamodb")]
pub async fn create_ledger_table(d: &aws_sdk_dynamodb::Client, name: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        TimeToLiveSpecification,
    };
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |n: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .unwrap()
    };
    d.create_table()
        .table_name(name)
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    d.update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("expires_at")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// Creates a one-shard stream and waits until it is ACTIVE.
pub async fn create_stream(k: &aws_sdk_kinesis::Client, name: &str) {
    k.create_stream()
        .stream_name(name)
        .shard_count(1)
        .send()
        .await
        .unwrap();
    for _ in 0..200 {
        let d = k
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .unwrap();
        if d.stream_description_summary()
            .map(|s| s.stream_status().as_str() == "ACTIVE")
            .unwrap_or(false)
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("stream {name} never became ACTIVE");
}

/// One record read back from a stream.
#[derive(Debug, Clone)]
pub struct ReadRecord {
    pub partition_key: String,
    pub sequence_number: String,
    pub data: Vec<u8>,
}

/// Every record of every shard, from the start.
pub async fn read_stream(k: &aws_sdk_kinesis::Client, name: &str) -> Vec<ReadRecord> {
    let shards = k.list_shards().stream_name(name).send().await.unwrap();
    let mut out = Vec::new();
    for shard in shards.shards() {
        let mut it = k
            .get_shard_iterator()
            .stream_name(name)
            .shard_id(shard.shard_id())
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator()
            .map(str::to_string);
        while let Some(i) = it.take() {
            let r = k
                .get_records()
                .shard_iterator(i)
                .limit(10_000)
                .send()
                .await
                .unwrap();
            for rec in r.records() {
                out.push(ReadRecord {
                    partition_key: rec.partition_key().unwrap_or_default().to_string(),
                    sequence_number: rec.sequence_number().to_string(),
                    data: rec.data().as_ref().to_vec(),
                });
            }
            if r.records().is_empty() || r.millis_behind_latest() == Some(0) {
                break;
            }
            it = r.next_shard_iterator().map(str::to_string);
        }
    }
    out
}
