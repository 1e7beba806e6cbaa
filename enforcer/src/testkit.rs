//! Test support (feature `test-util`): the enforcement table, IAM fixtures, SQS queues that watch
//! the alert topic and the event bus, DynamoDB Streams reads, and an IAM snapshot to compare
//! before and after, all against moto server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support

use crate::aws::{AwsIam, DynamoStore, DynamoWindows, EventBus, SnsTopic, WATCH_INDEX};
use crate::engine::{Overflow, Settings};
use crate::App;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
};
use serde_json::{json, Value};
use spendguard_core::clock::Clock;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

pub use spendguard_aws::testkit::{emulator, emulator_config, unique, KINESIS_VAR, MOTO_VAR};

fn attr(n: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(n)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .unwrap()
}

fn key(n: &str, t: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(n)
        .key_type(t)
        .build()
        .unwrap()
}

/// The enforcement table as the template declares it (with the sparse `watching` index).
pub async fn create_enforcement_table(d: &aws_sdk_dynamodb::Client, name: &str) {
    d.create_table()
        .table_name(name)
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .attribute_definitions(attr("watch"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(WATCH_INDEX)
                .key_schema(key("watch", KeyType::Hash))
                .key_schema(key("pk", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
}

/// The ledger table with its NEW_AND_OLD_IMAGES stream; returns the stream ARN.
pub async fn create_ledger_with_stream(d: &aws_sdk_dynamodb::Client, name: &str) -> String {
    spendguard_aws::testkit::create_ledger_table(d, name).await;
    let r = d
        .update_table()
        .table_name(name)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    r.table_description()
        .and_then(|t| t.latest_stream_arn())
        .map(str::to_string)
        .expect("a stream ARN")
}

/// One AWS JSON-protocol call to moto (`X-Amz-Target`), routed by the credential scope.
pub fn aws_json(endpoint: &str, service: &str, target: &str, body: &Value) -> Value {
    let hostport = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let body = body.to_string();
    let mut s = std::net::TcpStream::connect(hostport).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: {hostport}\r\nX-Amz-Target: {target}\r\n\
         Content-Type: application/x-amz-json-1.0\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=test/20261122/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response");
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let mut b = buf[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = Vec::new();
        let mut rest: &[u8] = &b;
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let n = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap().trim(), 16)
                .unwrap_or(0);
            if n == 0 {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + n]);
            rest = &rest[eol + 2 + n + 2..];
        }
        b = out;
    }
    assert!(
        head.contains(" 200 "),
        "{target}: {head}\n{}",
        String::from_utf8_lossy(&b)
    );
    serde_json::from_slice(&b).unwrap_or(Value::Null)
}

/// An SQS queue: (url, arn).
pub fn sqs_queue(moto: &str, name: &str) -> (String, String) {
    let r = aws_json(
        moto,
        "sqs",
        "AmazonSQS.CreateQueue",
        &json!({"QueueName": name}),
    );
    let url = r["QueueUrl"].as_str().unwrap().to_string();
    let a = aws_json(
        moto,
        "sqs",
        "AmazonSQS.GetQueueAttributes",
        &json!({"QueueUrl": url, "AttributeNames": ["QueueArn"]}),
    );
    let arn = a["Attributes"]["QueueArn"].as_str().unwrap().to_string();
    (url, arn)
}

/// Every message body in a queue right now (received and deleted).
pub fn sqs_drain(moto: &str, url: &str) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let r = aws_json(
            moto,
            "sqs",
            "AmazonSQS.ReceiveMessage",
            &json!({"QueueUrl": url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 0}),
        );
        let msgs = r["Messages"].as_array().cloned().unwrap_or_default();
        if msgs.is_empty() {
            return out;
        }
        for m in msgs {
            out.push(m["Body"].as_str().unwrap_or_default().to_string());
            aws_json(
                moto,
                "sqs",
                "AmazonSQS.DeleteMessage",
                &json!({"QueueUrl": url, "ReceiptHandle": m["ReceiptHandle"]}),
            );
        }
    }
}

/// An SNS topic delivering raw messages to a fresh queue: (topic ARN, queue URL).
pub async fn topic_to_queue(sns: &aws_sdk_sns::Client, moto: &str) -> (String, String) {
    let t = sns
        .create_topic()
        .name(unique("alerts"))
        .send()
        .await
        .unwrap();
    let topic = t.topic_arn().unwrap().to_string();
    let (url, arn) = sqs_queue(moto, &unique("alerts-q"));
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    (topic, url)
}

/// A custom bus with a rule sending spendguard's events to a fresh queue: (bus name, queue URL).
pub async fn bus_to_queue(eb: &aws_sdk_eventbridge::Client, moto: &str) -> (String, String) {
    let bus = unique("spendguard-bus");
    eb.create_event_bus().name(&bus).send().await.unwrap();
    let (url, arn) = sqs_queue(moto, &unique("events-q"));
    let rule = unique("to-queue");
    eb.put_rule()
        .name(&rule)
        .event_bus_name(&bus)
        .event_pattern(json!({"source": ["spendguard"]}).to_string())
        .send()
        .await
        .unwrap();
    eb.put_targets()
        .rule(&rule)
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    (bus, url)
}

/// spendguard's managed deny policy and suspended group (whose policy is the deny): (policy ARN,
/// group name).
pub async fn deny_policy_and_group(iam: &aws_sdk_iam::Client) -> (String, String) {
    let name = unique("spendguard-deny");
    // the document names its own ARN; moto's account is 123456789012
    let arn = format!("arn:aws:iam::123456789012:policy/{name}");
    let group = unique("spendguard-suspended");
    let doc = spendguard_core::enforce::deny_policy_document(
        &arn,
        Some(&format!("arn:aws:iam::123456789012:group/{group}")),
    );
    let r = iam
        .create_policy()
        .policy_name(&name)
        .policy_document(doc)
        .send()
        .await
        .unwrap();
    assert_eq!(r.policy().unwrap().arn().unwrap(), arn);
    iam.create_group().group_name(&group).send().await.unwrap();
    iam.attach_group_policy()
        .group_name(&group)
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    (arn, group)
}

/// Everything IAM says about a user or role that spendguard could touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub attached: Vec<String>,
    pub inline: BTreeMap<String, Value>,
    pub groups: Vec<String>,
}

/// A user's IAM state.
pub async fn user_snapshot(iam: &aws_sdk_iam::Client, user: &str) -> Snapshot {
    let mut attached: Vec<String> = iam
        .list_attached_user_policies()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .attached_policies()
        .iter()
        .map(|p| p.policy_arn().unwrap().to_string())
        .collect();
    attached.sort();
    let mut inline = BTreeMap::new();
    for n in iam
        .list_user_policies()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .policy_names()
    {
        let d = iam
            .get_user_policy()
            .user_name(user)
            .policy_name(n)
            .send()
            .await
            .unwrap();
        inline.insert(
            n.clone(),
            serde_json::from_str(&crate::aws::percent_decode(d.policy_document())).unwrap(),
        );
    }
    let mut groups: Vec<String> = iam
        .list_groups_for_user()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .groups()
        .iter()
        .map(|g| g.group_name().to_string())
        .collect();
    groups.sort();
    Snapshot {
        attached,
        inline,
        groups,
    }
}

/// A role's IAM state.
pub async fn role_snapshot(iam: &aws_sdk_iam::Client, role: &str) -> Snapshot {
    let mut attached: Vec<String> = iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .unwrap()
        .attached_policies()
        .iter()
        .map(|p| p.policy_arn().unwrap().to_string())
        .collect();
    attached.sort();
    let mut inline = BTreeMap::new();
    for n in iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .unwrap()
        .policy_names()
    {
        let d = iam
            .get_role_policy()
            .role_name(role)
            .policy_name(n)
            .send()
            .await
            .unwrap();
        inline.insert(
            n.clone(),
            serde_json::from_str(&crate::aws::percent_decode(d.policy_document())).unwrap(),
        );
    }
    Snapshot {
        attached,
        inline,
        groups: Vec::new(),
    }
}

/// A customer-managed policy of the user's own (moto does not load the AWS-managed ones).
pub async fn own_policy(iam: &aws_sdk_iam::Client, prefix: &str) -> String {
    iam.create_policy()
        .policy_name(unique(prefix))
        .policy_document(padded_policy(200))
        .send()
        .await
        .unwrap()
        .policy()
        .unwrap()
        .arn()
        .unwrap()
        .to_string()
}

/// A role any principal of the account may assume.
pub async fn create_role(iam: &aws_sdk_iam::Client, name: &str) -> String {
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}]});
    let r = iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    r.role().unwrap().role_id().to_string()
}

/// A policy document with `chars` non-whitespace characters (for the inline-limit tests).
pub fn padded_policy(chars: usize) -> String {
    let base = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::x"}]})
    .to_string();
    let pad = chars.saturating_sub(base.len());
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::x{}", "a".repeat(pad))}]})
    .to_string()
}

/// Names of one test's resources on moto.
#[derive(Debug, Clone)]
pub struct Stack {
    pub moto: String,
    pub ledger_table: String,
    pub enforcement_table: String,
    pub stream_arn: String,
    pub topic_arn: String,
    pub alerts_queue: String,
    pub bus: String,
    pub events_queue: String,
    pub settings: Settings,
}

/// Creates a whole enforcement stack on moto.
pub async fn stack(moto: &str) -> (aws_config::SdkConfig, Stack) {
    let conf = emulator_config(moto).await;
    let d = aws_sdk_dynamodb::Client::new(&conf);
    let ledger_table = unique("ledger");
    let enforcement_table = unique("enforcement");
    let stream_arn = create_ledger_with_stream(&d, &ledger_table).await;
    create_enforcement_table(&d, &enforcement_table).await;
    let (topic_arn, alerts_queue) = topic_to_queue(&aws_sdk_sns::Client::new(&conf), moto).await;
    let (bus, events_queue) = bus_to_queue(&aws_sdk_eventbridge::Client::new(&conf), moto).await;
    let (policy, group) = deny_policy_and_group(&aws_sdk_iam::Client::new(&conf)).await;
    (
        conf,
        Stack {
            moto: moto.to_string(),
            ledger_table,
            enforcement_table,
            stream_arn,
            topic_arn,
            alerts_queue,
            bus,
            events_queue,
            settings: Settings {
                deny_policy_arn: policy,
                suspended_group: Some(group),
                session_overflow: Overflow::Role,
                managed_quota: 10,
                enforceable: Default::default(),
                own_role_arn: None,
            },
        },
    )
}

/// The application on a stack, with the AWS adapters.
pub fn app(conf: &aws_config::SdkConfig, s: &Stack, budgets: &str, clock: Arc<dyn Clock>) -> App {
    let d = aws_sdk_dynamodb::Client::new(conf);
    App::new(
        Box::new(DynamoStore::new(
            d.clone(),
            s.enforcement_table.clone(),
            30,
            clock.clone(),
        )),
        Box::new(DynamoWindows {
            client: d,
            table: s.ledger_table.clone(),
        }),
        Box::new(AwsIam(aws_sdk_iam::Client::new(conf))),
        Box::new(SnsTopic {
            client: aws_sdk_sns::Client::new(conf),
            topic_arn: s.topic_arn.clone(),
        }),
        Box::new(EventBus {
            client: aws_sdk_eventbridge::Client::new(conf),
            bus_name: s.bus.clone(),
        }),
        clock,
        s.settings.clone(),
        budgets.to_string(),
    )
}

/// Every record on the ledger stream from its start, as the Lambda event the evaluator gets.
pub fn stream_event(moto: &str, stream_arn: &str) -> Value {
    let d = aws_json(
        moto,
        "dynamodb",
        "DynamoDBStreams_20120810.DescribeStream",
        &json!({"StreamArn": stream_arn}),
    );
    let mut records = Vec::new();
    for shard in d["StreamDescription"]["Shards"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let it = aws_json(
            moto,
            "dynamodb",
            "DynamoDBStreams_20120810.GetShardIterator",
            &json!({"StreamArn": stream_arn, "ShardId": shard["ShardId"], "ShardIteratorType": "TRIM_HORIZON"}),
        );
        let mut iter = it["ShardIterator"].clone();
        loop {
            let r = aws_json(
                moto,
                "dynamodb",
                "DynamoDBStreams_20120810.GetRecords",
                &json!({"ShardIterator": iter, "Limit": 1000}),
            );
            let got = r["Records"].as_array().cloned().unwrap_or_default();
            if got.is_empty() {
                break;
            }
            records.extend(got);
            iter = r["NextShardIterator"].clone();
            if iter.is_null() {
                break;
            }
        }
    }
    json!({ "Records": records })
}

/// A clock the test moves.
#[derive(Debug)]
pub struct StepClock(pub std::sync::atomic::AtomicI64);

impl StepClock {
    pub fn at(ms: i64) -> Arc<StepClock> {
        Arc::new(StepClock(std::sync::atomic::AtomicI64::new(ms)))
    }
    pub fn set(&self, ms: i64) {
        self.0.store(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for StepClock {
    fn now_ms(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// One invocation's spend on the day and month windows (UTC) of each (scope, key).
pub fn spend_entry(
    keys: &[(spendguard_core::budget::Scope, &str)],
    usd: &str,
    event_ms: i64,
    request_id: &str,
) -> spendguard_core::ledger::Entry {
    use spendguard_core::window::{window_starts, Delta, WindowKey, WindowKind};
    let (day, month) = window_starts(&jiff::tz::TimeZone::UTC, event_ms).unwrap();
    let mut windows = Vec::new();
    for (scope, key) in keys {
        for (kind, start) in [(WindowKind::Day, &day), (WindowKind::Month, &month)] {
            windows.push(WindowKey {
                scope: *scope,
                key: key.to_string(),
                kind,
                start: start.clone(),
            });
        }
    }
    spendguard_core::ledger::Entry {
        request_id: request_id.into(),
        event_ms,
        windows,
        amount: Delta {
            cost_usd: usd.parse().unwrap(),
            invocations: 1,
            first_event_ms: event_ms,
            last_event_ms: event_ms,
            ..Delta::default()
        },
        origin: 0,
        digest: 0,
    }
}

/// An EventBridge event as the enforcer receives it.
pub fn eventbridge(detail_type: &str, source: &str, detail: Value) -> Value {
    json!({"version": "0", "id": unique("ev"), "detail-type": detail_type, "source": source,
           "account": "123456789012", "time": "2026-11-22T10:00:00Z", "region": "us-east-1",
           "resources": [], "detail": detail})
}
