//! End to end on emulators, grace 0: a Bedrock log envelope put on Kinesis (kinesalite) and read
//! back -> the aggregator handler -> the ledger (moto DynamoDB) -> its stream (moto DynamoDB
//! Streams) -> the evaluator -> the event bus (moto EventBridge, a rule to SQS) -> the enforcer ->
//! the deny attached in moto IAM. Repeated over fresh users; the stage times of our own handlers
//! (which include their emulator calls, but not the test's transport hops) are printed as p50/p99.
use crate::util::ledger_writer;
use base64::Engine;
use serde_json::{json, Value};
use spendguard_aggregator::{handle, Deps, KinesisEvent};
use spendguard_core::budget::BudgetConfig;
use spendguard_core::clock::{Clock, SystemClock};
use spendguard_core::synth::{envelope_json, gzip};
use spendguard_enforcer::testkit::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

const RUNS: usize = 20;

fn record_for(user: &str, request_id: &str, now_ms: i64) -> String {
    let mut r: Value =
        serde_json::from_str(spendguard_schemas::fixtures::BEDROCK_CONVERSE_GLOBAL).unwrap();
    r["identity"]["arn"] = json!(user);
    r["requestId"] = json!(request_id);
    r["accountId"] = json!("123456789012");
    r["timestamp"] = json!(jiff::Timestamp::from_millisecond(now_ms)
        .unwrap()
        .to_string());
    r.to_string()
}

fn pct(sorted: &[Duration], p: usize) -> Duration {
    sorted[((sorted.len() * p).div_ceil(100))
        .saturating_sub(1)
        .min(sorted.len() - 1)]
}

#[tokio::test]
async fn a_kinesis_batch_ends_in_a_deny_in_iam() {
    let (Some(kin), Some(moto)) = (emulator(KINESIS_VAR), emulator(MOTO_VAR)) else {
        return;
    };
    let (conf, s) = stack(&moto).await;
    let iam = aws_sdk_iam::Client::new(&conf);
    let k = aws_sdk_kinesis::Client::new(&emulator_config(&kin).await);
    let stream = unique("bedrock-logs");
    spendguard_aws::testkit::create_stream(&k, &stream).await;
    let budgets =
        "[defaults]\ndaily_usd = \"0.000001\"\nmonthly_usd = \"1000\"\ngrace_seconds = 0\n";
    let cfg = BudgetConfig::parse(budgets).unwrap();
    let deps = Deps::new(
        spendguard_aws::pricing::PricingConfig::default()
            .pipeline()
            .unwrap(),
        cfg,
        ledger_writer(&conf, &s),
        Arc::new(SystemClock),
        Some(14 * 86_400_000),
    );
    let app = app(&conf, &s, budgets, Arc::new(SystemClock));
    let b64 = base64::engine::general_purpose::STANDARD;
    let (mut agg, mut eval, mut enf, mut ours) = (vec![], vec![], vec![], vec![]);
    for run in 0..RUNS {
        let name = unique("e2e");
        iam.create_user().user_name(&name).send().await.unwrap();
        let user = format!("arn:aws:iam::123456789012:user/{name}");
        let now = SystemClock.now_ms();
        let env = gzip(
            envelope_json(
                "123456789012",
                &[(record_for(&user, &unique("req"), now), now)],
                run as u64,
            )
            .as_bytes(),
        );
        let put = k
            .put_record()
            .stream_name(&stream)
            .partition_key("123456789012")
            .data(aws_sdk_kinesis::primitives::Blob::new(env))
            .send()
            .await
            .unwrap();
        let shard = put.shard_id().to_string();
        let it = k
            .get_shard_iterator()
            .stream_name(&stream)
            .shard_id(&shard)
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::AtSequenceNumber)
            .starting_sequence_number(put.sequence_number())
            .send()
            .await
            .unwrap();
        let got = k
            .get_records()
            .shard_iterator(it.shard_iterator().unwrap())
            .limit(1)
            .send()
            .await
            .unwrap();
        let rec = &got.records()[0];
        assert!(rec.sequence_number().len() >= 56);
        let event: KinesisEvent = serde_json::from_value(json!({"Records": [{
            "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": rec.partition_key(),
                        "sequenceNumber": rec.sequence_number(), "data": b64.encode(rec.data().as_ref()),
                        "approximateArrivalTimestamp": 1795305600.5},
            "eventSource": "aws:kinesis", "eventID": format!("{shard}:{}", rec.sequence_number()),
            "eventSourceARN": format!("arn:aws:kinesis:us-east-1:123456789012:stream/{stream}")}]}))
        .unwrap();

        let t0 = Instant::now();
        let (resp, report) = handle(&event, &deps).await;
        let t_agg = t0.elapsed();
        assert!(resp.batch_item_failures.is_empty(), "{report:?}");

        // the stream hop (on AWS: the evaluator's event source mapping)
        let mut stream_ev = stream_event(&moto, &s.stream_arn);
        let mine: Vec<Value> = stream_ev["Records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                r["dynamodb"]["Keys"]["pk"]["S"]
                    .as_str()
                    .is_some_and(|pk| pk.ends_with(&user))
            })
            .cloned()
            .collect();
        let kinds: Vec<String> = mine
            .iter()
            .map(|r| format!("{} {}", r["eventName"], r["dynamodb"]["Keys"]["sk"]["S"]))
            .collect();
        // moto emits each transactional write twice on the stream: duplicates must be harmless
        let distinct: std::collections::BTreeSet<&String> = kinds.iter().collect();
        assert_eq!(
            distinct.len(),
            2,
            "the user's day and month windows: {kinds:?}"
        );
        stream_ev["Records"] = Value::Array(mine);
        let t1 = Instant::now();
        let er = app.evaluate_stream(&stream_ev).await.unwrap();
        let t_eval = t1.elapsed();
        assert!(er.batch_item_failures.is_empty());

        // the bus hop (on AWS: the rule's Lambda target)
        let events: Vec<Value> = sqs_drain(&moto, &s.events_queue)
            .iter()
            .map(|e| serde_json::from_str(e).unwrap())
            .collect();
        let state = events
            .iter()
            .find(|e| e["detail-type"] == "Budget State Changed")
            .expect("a state event");
        assert_eq!(state["detail"]["key"], json!(user));
        assert_eq!(state["source"], "spendguard");
        let t2 = Instant::now();
        let out = app.enforce_event(state).await.unwrap();
        let t_enf = t2.elapsed();
        assert!(
            out["decisions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["action"] == "suspend"),
            "{out}"
        );
        let snap = user_snapshot(&iam, &name).await;
        assert_eq!(
            snap.attached,
            vec![s.settings.deny_policy_arn.clone()],
            "the deny is in IAM"
        );
        // the other events (thresholds) are harmless repeats
        for e in events.iter().filter(|e| *e != state) {
            app.enforce_event(e).await.unwrap();
        }
        assert_eq!(user_snapshot(&iam, &name).await, snap);
        agg.push(t_agg);
        eval.push(t_eval);
        enf.push(t_enf);
        ours.push(t_agg + t_eval + t_enf);
    }
    for (name, v) in [
        ("aggregator", &mut agg),
        ("evaluator", &mut eval),
        ("enforcer", &mut enf),
        ("ours total", &mut ours),
    ] {
        v.sort();
        eprintln!(
            "e2e {name}: p50 {:?} p99 {:?} over {RUNS} runs (handlers incl. their emulator calls)",
            pct(v, 50),
            pct(v, 99)
        );
    }
}
