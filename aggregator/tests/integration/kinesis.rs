//! The handler on records read back from kinesalite (real 56-digit sequence numbers), applying to
//! DynamoDB on moto: a failure part-way names the first record with an uncommitted invocation,
//! the retry from there completes the ledger exactly, and unreadable records never block it.
use crate::util::*;
use spendguard_aggregator::dynamo::DynamoLedger;
use spendguard_aggregator::testkit::{create_table, emulator, emulator_config, unique, MOTO_VAR};
use spendguard_aggregator::{function_handler, handle};
use spendguard_aws::testkit::{create_stream, read_stream, KINESIS_VAR};
use spendguard_core::ledger::{group_order, plan, prepare, Entry, MAX_TRANSACTION_ITEMS};

#[tokio::test]
async fn batch_item_failures_carry_real_sequence_numbers() {
    let (Some(kin), Some(moto)) = (emulator(KINESIS_VAR), emulator(MOTO_VAR)) else {
        return;
    };
    // 12 envelopes of 25 invocations, a CONTROL_MESSAGE and a record that is not gzip
    let recs = pool(300, 5);
    let mut payloads: Vec<Vec<u8>> = recs
        .chunks(25)
        .enumerate()
        .map(|(i, c)| envelope(c, (i * 25) as u64))
        .collect();
    payloads.insert(3, control_message());
    payloads.insert(7, b"not a gzip envelope".to_vec());
    let k = aws_sdk_kinesis::Client::new(&emulator_config(&kin).await);
    let stream = unique("agg");
    create_stream(&k, &stream).await;
    for p in &payloads {
        k.put_record()
            .stream_name(&stream)
            .partition_key("111122223333")
            .data(aws_sdk_kinesis::primitives::Blob::new(p.clone()))
            .send()
            .await
            .unwrap();
    }
    let read = read_stream(&k, &stream).await;
    assert_eq!(read.len(), payloads.len());
    let records: Vec<(String, Vec<u8>)> = read
        .into_iter()
        .map(|r| (r.sequence_number, r.data))
        .collect();
    assert!(records
        .iter()
        .all(|(s, _)| s.len() >= 56 && s.bytes().all(|b| b.is_ascii_digit())));

    // the plan the ledger will follow: pick the failing transaction k whose pending part
    // (chunks k..) starts latest in the batch, so the report is not trivially the first record
    let p = pipeline();
    let cfg = budgets();
    let mut entries = Vec::new();
    for (i, (_, data)) in records.iter().enumerate() {
        let mut dec = spendguard_core::Decoder::new(64 << 20).unwrap();
        if let Ok((env, _)) = dec.envelope_from_gzip(data) {
            for (j, ev) in env.log_events.iter().enumerate() {
                if let spendguard_core::RecordOutcome::Priced(row) =
                    spendguard_core::pipeline::price_event(&p.pricer, ev, j)
                {
                    entries.push(Entry::of(&row, &cfg, i).unwrap());
                }
            }
        }
    }
    let fresh = prepare(entries, NOW_MS, None).fresh;
    let order = group_order(&fresh);
    let chunks = plan(
        order.iter().map(|&i| fresh[i].clone()).collect(),
        MAX_TRANSACTION_ITEMS,
    )
    .unwrap();
    assert!(chunks.len() >= 3);
    let min_origin = |k: usize| -> usize {
        chunks[k..]
            .iter()
            .flat_map(|c| &c.entries)
            .map(|e| e.origin)
            .min()
            .unwrap()
    };
    let k = (1..chunks.len())
        .max_by_key(|&k| (min_origin(k), k))
        .unwrap();
    let at = min_origin(k);
    assert!(
        at > 0,
        "the data must let a failure land past the first record"
    );
    // the ledger: transaction k fails for good (access denied)
    let d = aws_sdk_dynamodb::Client::new(&emulator_config(&moto).await);
    let table = unique("agg");
    create_table(&d, &table).await;
    let mut flaky = Flaky::new(d.clone());
    flaky.fatal_from = Some(k);
    let (deps, logs) = deps(DynamoLedger::with_transact(
        flaky,
        d.clone(),
        table.clone(),
        14 * 86_400,
    ));

    // the Lambda handler itself, on the event JSON Lambda sends
    let ev = serde_json::to_value(event(&records)).unwrap();
    let ctx = lambda_runtime::Context::default();
    let resp = function_handler(lambda_runtime::LambdaEvent::new(ev, ctx), &deps)
        .await
        .unwrap();
    let json = serde_json::to_value(&resp).unwrap();
    let failed = json["batchItemFailures"][0]["itemIdentifier"]
        .as_str()
        .unwrap();

    assert_eq!(
        failed, records[at].0,
        "the earliest record with an invocation not known to be counted"
    );
    let logs = logs.lines();
    assert!(logs
        .iter()
        .any(|l| l.contains("undecodable record skipped") && l.contains(&records[7].0)));
    // every line is JSON: an EMF line, or a log line in the one naming
    for l in &logs {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        if v.get("_aws").is_none() {
            assert!(
                v["timestamp"].is_string() && v["message"].is_string(),
                "{l}"
            );
            assert!(["ERROR", "WARN", "INFO"].contains(&v["level"].as_str().unwrap_or("")));
        }
    }
    let emf: serde_json::Value = serde_json::from_str(logs.last().unwrap()).unwrap();
    assert_eq!(emf["FailedRecords"], 1);
    assert_eq!(emf["ControlMessages"], 1);
    assert_eq!(emf["UndecodableRecords"], 1);

    // Lambda retries from the reported record with a healthy ledger: exact totals
    let healthy = DynamoLedger::new(d, table, 14 * 86_400);
    let (deps2, _) = crate::util::deps(healthy);
    let (resp, report) = handle(&event(&records[at..]), &deps2).await;
    assert!(resp.batch_item_failures.is_empty(), "{resp:?}");
    assert!(
        report.applied.already > 0,
        "the re-delivered, committed part is skipped: {report:?}"
    );
    check(&deps2.ledger, &expected(&recs), "after retry").await;
}

#[tokio::test]
async fn input_older_than_the_horizon_is_refused_and_reported() {
    let Some(moto) = emulator(MOTO_VAR) else {
        return;
    };
    let l = spendguard_aggregator::testkit::ledger(&moto, "horizon").await;
    let (mut deps, logs) = deps(l);
    // 3 days of horizon: traffic from 2026-11-20 on, "now" 2026-11-22 plus 2 days
    deps.horizon_ms = Some(3 * 86_400_000);
    deps.clock = std::sync::Arc::new(spendguard_core::clock::FixedClock(NOW_MS + 2 * 86_400_000));
    let recs = pool(200, 8); // one a minute: about 3.3 hours
    let old: Vec<(String, i64)> = recs.clone();
    let records = vec![(seq(0), envelope(&old, 0))];
    let (resp, report) = handle(&event(&records), &deps).await;
    assert!(
        resp.batch_item_failures.is_empty(),
        "a refusal is not a retryable failure"
    );
    assert!(report.beyond_horizon > 0);
    assert_eq!(
        report.applied.applied + report.beyond_horizon + report.stats.bad_events,
        recs.len()
    );
    assert_eq!(
        report.spend_dropped,
        report.beyond_horizon + report.stats.bad_events
    );
    let logs = logs.lines();
    assert_eq!(
        logs.iter()
            .filter(|l| l.contains("older than the dedup horizon"))
            .count(),
        report.beyond_horizon
    );
}
