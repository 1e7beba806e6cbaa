//! The two guards that keep a wrong price from suspending many people, against moto server (IAM,
//! DynamoDB, SNS to SQS): keys over budget only through fallback-priced spend are alerted and
//! held, never suspended; more than 20 suspensions within 10 minutes open the circuit breaker,
//! which holds the rest with one operator alert until `resume`, after which suspensions work.
use crate::util::ledger_writer;
use serde_json::{json, Value};
use spendguard_core::budget::{BudgetConfig, Scope};
use spendguard_core::enforce::{KeyRef, Status};
use spendguard_core::ledger::SpendLedger;
use spendguard_enforcer::testkit::*;
use spendguard_schemas::event::THRESHOLD_CROSSED;

// 2026-11-22T10:00:00Z
const NOW: i64 = 1_795_341_600_000;
const BUDGETS: &str = "[defaults]\ndaily_usd = \"10\"\nmonthly_usd = \"1000\"\ngrace_seconds = 0\n";

fn user_arn(name: &str) -> String {
    format!("arn:aws:iam::123456789012:user/{name}")
}

fn over_event(key: &str) -> Value {
    eventbridge(
        THRESHOLD_CROSSED,
        "spendguard",
        json!({"scope": "principal", "key": key, "window": "day", "window_start": "2026-11-22",
               "threshold_pct": 100, "thresholds_pct": [100], "spend_usd": "12", "limit_usd": "10",
               "mode": "enforce", "at": "2026-11-22T10:00:00Z"}),
    )
}

fn actions(out: &Value) -> Vec<String> {
    out["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let hold = d["hold"]
                .as_str()
                .map_or(String::new(), |h| format!(":{h}"));
            format!("{}{hold}", d["action"].as_str().unwrap())
        })
        .collect()
}

async fn denied(iam: &aws_sdk_iam::Client, name: &str, policy: &str) -> bool {
    user_snapshot(iam, name)
        .await
        .attached
        .iter()
        .any(|a| a == policy)
}

#[tokio::test]
async fn fallback_spend_never_suspends_and_the_breaker_caps_a_burst_until_resumed() {
    let Some(moto) = emulator(MOTO_VAR) else {
        return;
    };
    let (conf, s) = stack(&moto).await;
    let iam = aws_sdk_iam::Client::new(&conf);
    let policy = s.settings.deny_policy_arn.clone();
    let clock = StepClock::at(NOW);
    let app = app(&conf, &s, BUDGETS, clock.clone());
    let ledger = ledger_writer(&conf, &s);

    // 30 keys over only through fallback-priced spend: $12 of $10, $5 of it at a fallback price
    let run = unique("fb");
    let fb_users: Vec<String> = (0..30).map(|i| format!("{run}-{i:02}")).collect();
    for (i, name) in fb_users.iter().enumerate() {
        iam.create_user().user_name(name).send().await.unwrap();
        let arn = user_arn(name);
        let known = spend_entry(
            &[(Scope::Principal, &arn)],
            "7",
            NOW - 1000,
            &format!("k{i}"),
        );
        let mut unknown = spend_entry(
            &[(Scope::Principal, &arn)],
            "5",
            NOW - 900,
            &format!("u{i}"),
        );
        unknown.amount.fallback_usd = unknown.amount.cost_usd;
        ledger.apply(&[known, unknown]).await.unwrap();
    }
    for name in &fb_users {
        let out = app
            .enforce_event(&over_event(&user_arn(name)))
            .await
            .unwrap();
        assert_eq!(
            actions(&out),
            ["alert", "alert", "alert", "held:fallback"],
            "{out}"
        );
        // the state stays ok and the hold is said once
        let again = app
            .enforce_event(&over_event(&user_arn(name)))
            .await
            .unwrap();
        assert!(actions(&again).is_empty(), "{again}");
    }
    for name in &fb_users {
        assert!(!denied(&iam, name, &policy).await, "{name} was suspended");
    }
    let msgs = sqs_drain(&moto, &s.alerts_queue);
    let held: Vec<&String> = msgs
        .iter()
        .filter(|m| m.contains("only through spend priced at a fallback"))
        .collect();
    assert_eq!(held.len(), 30, "{msgs:#?}");
    assert!(
        held[0].contains("$5.00 is priced at a fallback")
            && held[0].contains("$7.00 on known prices")
            && held[0].contains("NOT suspended"),
        "{}",
        held[0]
    );
    let b = app.store.breaker().await.unwrap();
    assert!(b.open.is_none(), "fallback holds are not suspensions");
    let st = app
        .store
        .state(&KeyRef::new(Scope::Principal, user_arn(&fb_users[0])))
        .await
        .unwrap();
    assert_eq!(st.state.status, Status::Ok);
    assert!(st.state.held.is_some());

    // 30 keys legitimately over, one every 10 s: within 10 minutes
    let run = unique("over");
    let users: Vec<String> = (0..30).map(|i| format!("{run}-{i:02}")).collect();
    for (i, name) in users.iter().enumerate() {
        iam.create_user().user_name(name).send().await.unwrap();
        let arn = user_arn(name);
        ledger
            .apply(&[spend_entry(
                &[(Scope::Principal, &arn)],
                "12",
                NOW - 1000,
                &format!("o{i}"),
            )])
            .await
            .unwrap();
    }
    let mut opened_by = Vec::new();
    for (i, name) in users.iter().enumerate() {
        clock.set(NOW + i as i64 * 10_000);
        let out = app
            .enforce_event(&over_event(&user_arn(name)))
            .await
            .unwrap();
        let want = if i < 20 { "suspend" } else { "held:breaker" };
        assert_eq!(
            actions(&out).last().map(String::as_str),
            Some(want),
            "{i}: {out}"
        );
        if out["breaker_opened"] == true {
            opened_by.push(i);
        }
    }
    assert_eq!(opened_by, [20], "the 21st suspension opens it, once");
    let mut suspended = 0;
    for name in &users {
        suspended += usize::from(denied(&iam, name, &policy).await);
    }
    assert_eq!(suspended, 20);
    let msgs = sqs_drain(&moto, &s.alerts_queue);
    let operator: Vec<&String> = msgs
        .iter()
        .filter(|m| m.contains("CIRCUIT BREAKER OPEN"))
        .collect();
    assert_eq!(operator.len(), 1, "one operator alert: {msgs:#?}");
    assert!(
        operator[0].contains("21 keys were to be suspended within 10 minutes (the limit is 20)")
            && operator[0].contains(&users[20])
            && operator[0].contains("spendguard enforcement resume"),
        "{}",
        operator[0]
    );
    let held_alerts = msgs
        .iter()
        .filter(|m| m.contains("NOT suspended: the circuit breaker is open"))
        .count();
    assert_eq!(held_alerts, 10, "{msgs:#?}");
    let b = app.store.breaker().await.unwrap();
    let trip = b.open.clone().expect("open");
    assert_eq!((trip.count, trip.alerted), (21, true));
    // the trip is audited in the breaker's own partition
    let audit = aws_sdk_dynamodb::Client::new(&conf)
        .query()
        .table_name(&s.enforcement_table)
        .key_condition_expression("pk = :p")
        .expression_attribute_values(
            ":p",
            aws_sdk_dynamodb::types::AttributeValue::S("breaker#suspensions".into()),
        )
        .send()
        .await
        .unwrap();
    let opened: Vec<&str> = audit
        .items()
        .iter()
        .filter_map(|i| i.get("action").and_then(|a| a.as_s().ok()))
        .map(String::as_str)
        .collect();
    assert_eq!(opened, ["breaker_open"]);

    // the tick while open: nobody new suspended, nothing said again
    clock.set(NOW + 330_000);
    let tick = app
        .enforce_event(&json!({"spendguard": "tick"}))
        .await
        .unwrap();
    assert!(
        !actions(&tick)
            .iter()
            .any(|a| a == "suspend" || a.starts_with("held")),
        "{tick}"
    );
    assert!(sqs_drain(&moto, &s.alerts_queue)
        .iter()
        .all(|m| !m.contains("CIRCUIT BREAKER")));

    // an operator re-arms it: the next tick suspends the 10 held keys, and no fallback key
    let cfg = BudgetConfig::parse(BUDGETS).unwrap();
    let before = app
        .enforcer(&cfg)
        .resume_breaker("prices checked")
        .await
        .unwrap();
    assert_eq!(before.open.map(|t| t.count), Some(21));
    assert!(app.store.breaker().await.unwrap().open.is_none());
    clock.set(NOW + 360_000);
    let tick = app
        .enforce_event(&json!({"spendguard": "tick"}))
        .await
        .unwrap();
    assert_eq!(
        actions(&tick).iter().filter(|a| *a == "suspend").count(),
        10,
        "{tick}"
    );
    for name in &users {
        assert!(denied(&iam, name, &policy).await, "{name}");
    }
    for name in &fb_users {
        assert!(!denied(&iam, name, &policy).await, "{name}");
    }
    let msgs = sqs_drain(&moto, &s.alerts_queue);
    assert!(msgs.iter().any(|m| m.contains("re-armed by an operator")));
    assert_eq!(
        msgs.iter()
            .filter(|m| m.contains("SUSPENDED Bedrock access"))
            .count(),
        10
    );
}

fn kinesis_event(envelopes: &[Vec<u8>]) -> spendguard_aggregator::KinesisEvent {
    use spendguard_aggregator::testkit::{kinesis_event, kinesis_sequence};
    let records: Vec<(String, Vec<u8>)> = envelopes
        .iter()
        .enumerate()
        .map(|(i, d)| (kinesis_sequence(i), d.clone()))
        .collect();
    kinesis_event(&records)
}

#[tokio::test]
async fn fallback_priced_model_ids_are_named_in_one_alert_per_day() {
    use spendguard_core::synth::{envelope_json, gzip};
    let Some(moto) = emulator(MOTO_VAR) else {
        return;
    };
    let (conf, s) = stack(&moto).await;
    let clock = StepClock::at(NOW);
    let app = app(&conf, &s, BUDGETS, clock.clone());
    let deps = spendguard_aggregator::Deps::new(
        spendguard_aws::pricing::PricingConfig::default()
            .pipeline()
            .unwrap(),
        BudgetConfig::parse(BUDGETS).unwrap(),
        ledger_writer(&conf, &s),
        clock.clone(),
        Some(14 * 86_400_000),
    )
    .with_budgets_source(spendguard_aggregator::BudgetsSource::new(
        aws_sdk_dynamodb::Client::new(&conf),
        s.enforcement_table.clone(),
        60_000,
    ));
    let record = |model: &str, rid: &str| {
        let mut r: Value =
            serde_json::from_str(spendguard_schemas::fixtures::BEDROCK_CONVERSE_GLOBAL).unwrap();
        r["modelId"] = json!(model);
        r["requestId"] = json!(rid);
        r["timestamp"] = json!("2026-11-22T09:59:00Z");
        (r.to_string(), NOW - 60_000)
    };
    let batch = |rids: &[(&str, &str)], n: u64| {
        let recs: Vec<(String, i64)> = rids.iter().map(|(m, r)| record(m, r)).collect();
        kinesis_event(&[gzip(envelope_json("123456789012", &recs, n).as_bytes())])
    };
    let (resp, _) = spendguard_aggregator::handle(
        &batch(
            &[
                ("acme.frontier-x-v1:0", "fb-1"),
                ("acme.frontier-x-v1:0", "fb-2"),
                ("global.anthropic.claude-haiku-5-5", "ok-1"),
            ],
            1,
        ),
        &deps,
    )
    .await;
    assert!(resp.batch_item_failures.is_empty());
    let tick = app
        .enforce_event(&json!({"spendguard": "tick"}))
        .await
        .unwrap();
    assert_eq!(
        tick["fallback_models"],
        json!(["acme.frontier-x-v1:0"]),
        "{tick}"
    );
    let msgs = sqs_drain(&moto, &s.alerts_queue);
    let named: Vec<&String> = msgs
        .iter()
        .filter(|m| m.contains("FALLBACK price"))
        .collect();
    assert_eq!(named.len(), 1, "{msgs:#?}");
    assert!(
        named[0].contains("acme.frontier-x-v1:0 (2 invocations on 2026-11-22)")
            && !named[0].contains("claude-haiku"),
        "{}",
        named[0]
    );
    // the same model again that day: counted, not alerted again
    spendguard_aggregator::handle(&batch(&[("acme.frontier-x-v1:0", "fb-3")], 2), &deps).await;
    let tick = app
        .enforce_event(&json!({"spendguard": "tick"}))
        .await
        .unwrap();
    assert_eq!(tick["fallback_models"], json!([]), "{tick}");
    assert!(sqs_drain(&moto, &s.alerts_queue)
        .iter()
        .all(|m| !m.contains("FALLBACK price")));
}
