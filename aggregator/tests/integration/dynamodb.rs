//! The DynamoDB ledger against moto server: the shared conformance suite, and the fault paths
//! (cancellation reasons, ambiguous commits, throttling, a fatal error part-way) with exact totals.
use crate::util::Flaky;
use crate::util::NOW_MS;
use spendguard_aggregator::dynamo::DynamoLedger;
use spendguard_aggregator::testkit::{
    self, create_table, emulator, emulator_config, unique, OneAtATime, MOTO_VAR,
};
use spendguard_core::clock::FixedClock;
use spendguard_core::ledger::{conformance, expected_totals, Disposition, SpendLedger};
use std::sync::Arc;

async fn flaky(
    moto: &str,
    prefix: &str,
) -> DynamoLedger<Flaky<OneAtATime<aws_sdk_dynamodb::Client>>> {
    let d = aws_sdk_dynamodb::Client::new(&emulator_config(moto).await);
    let table = unique(prefix);
    create_table(&d, &table).await;
    let mut l = DynamoLedger::with_transact(
        Flaky::new(OneAtATime::new(d.clone())),
        d,
        table,
        14 * 86_400,
    );
    l.retry.base_delay = std::time::Duration::from_millis(1);
    l
}

#[tokio::test]
async fn dynamodb_passes_the_conformance_suite() {
    let Some(moto) = emulator(MOTO_VAR) else {
        return;
    };
    let cases = conformance::run(|name| {
        let moto = moto.clone();
        async move { testkit::ledger(&moto, &format!("conf-{name}")).await }
    })
    .await;
    assert_eq!(cases, 7);
}

#[tokio::test]
async fn an_ambiguous_commit_is_resolved_by_the_markers_and_throttling_is_retried() {
    let Some(moto) = emulator(MOTO_VAR) else {
        return;
    };
    let l = flaky(&moto, "ambiguous").await;
    // the second transaction commits but its answer is lost; the fourth call is throttled
    l.tx.lost_after_commit.lock().unwrap().insert(1);
    l.tx.fail_before.lock().unwrap().insert(3);
    let es = conformance::entries(260, 11, "amb");
    let a = l.apply(&es).await.unwrap();
    assert!(a.transactions >= 3, "{a:?}");
    // the lost commit's invocations come back as already counted when retried
    assert_eq!(a.applied + a.already, es.len());
    assert!(
        a.already > 0,
        "the retried transaction met its own markers: {a:?}"
    );
    conformance::assert_totals(&l, &expected_totals(&es), "ambiguous").await;
    assert!(a.computed_write_units >= 2 * es.len() as u64);
}

#[tokio::test]
async fn a_fatal_error_part_way_reports_what_was_committed() {
    let Some(moto) = emulator(MOTO_VAR) else {
        return;
    };
    let mut l = flaky(&moto, "fatal").await;
    l.tx.fatal_from = Some(1);
    let es = conformance::entries(260, 12, "fat");
    let e = l.apply(&es).await.unwrap_err();
    assert_eq!(e.disposition, Disposition::Fatal);
    let pending: std::collections::HashSet<usize> =
        e.pending.clone().unwrap().into_iter().collect();
    let committed: Vec<_> = (0..es.len())
        .filter(|i| !pending.contains(i))
        .map(|i| es[i].clone())
        .collect();
    assert!(!committed.is_empty() && !pending.is_empty(), "{e:?}");
    assert_eq!(e.partial.applied, committed.len());
    // exactly the entries not pending are in the ledger
    conformance::assert_totals(&l, &expected_totals(&committed), "committed part").await;
    // once the fault is gone, applying everything again completes the ledger exactly
    l.tx.fatal_from = None;
    let a = l.apply(&es).await.unwrap();
    assert_eq!((a.applied, a.already), (pending.len(), committed.len()));
    conformance::assert_totals(&l, &expected_totals(&es), "completed").await;
}

#[tokio::test]
async fn items_hold_exact_numbers_and_ttls_and_no_sequence_numbers() {
    let Some(moto) = emulator(MOTO_VAR) else {
        return;
    };
    let mut l = testkit::ledger(&moto, "layout").await;
    // the marker TTL is read from the injected clock, as the handler's own time is
    l.clock = Arc::new(FixedClock(NOW_MS));
    let es = conformance::entries(30, 13, "lay");
    l.apply(&es).await.unwrap();
    let items = l.reader.scan().table_name(&l.table).send().await.unwrap();
    let mut markers = 0;
    for it in items.items() {
        let sk = it["sk"].as_s().unwrap();
        let ttl: i64 = it["expires_at"].as_n().unwrap().parse().unwrap();
        assert!(ttl > 1_790_000_000, "TTL in epoch seconds: {ttl}");
        if sk == "req" {
            markers += 1;
            assert_eq!(
                ttl,
                NOW_MS / 1000 + l.horizon_s,
                "marker TTL from the clock"
            );
            assert!(it["pk"].as_s().unwrap().starts_with("req#"));
            continue;
        }
        // spend is a Number holding the exact decimal
        let spend = it["spend_usd"].as_n().unwrap();
        assert!(spend.parse::<rust_decimal::Decimal>().is_ok(), "{spend}");
        for (k, v) in it {
            if let Ok(n) = v.as_n() {
                assert!(
                    n.len() < 39,
                    "{k} = {n}: no 38+ digit numbers (sequence numbers are never stored)"
                );
            }
        }
    }
    assert_eq!(markers, 30);
}

/// `spendguard budgets push` reaches the ledger without a redeploy: the aggregator re-reads the
/// enforcement table's budgets document, and its teams shape the windows of the next batches. A
/// document that does not parse keeps the budgets in force (logged), and nothing is lost.
#[tokio::test]
async fn pushed_budgets_shape_the_next_batches() {
    use crate::util::*;
    use aws_sdk_dynamodb::types::AttributeValue as Av;
    use spendguard_aggregator::{handle, BudgetsSource, Deps};
    use spendguard_core::budget::{BudgetConfig, Scope};
    use spendguard_core::clock::FixedClock;
    use spendguard_core::window::WindowKind;
    use std::sync::Arc;
    let Some(moto) = emulator(MOTO_VAR) else {
        return;
    };
    let d = aws_sdk_dynamodb::Client::new(&emulator_config(&moto).await);
    let enforcement = unique("enf");
    create_table(&d, &enforcement).await;
    let push = |version: u32, text: &str| {
        d.put_item()
            .table_name(&enforcement)
            .item("pk", Av::S("config".into()))
            .item("sk", Av::S("budgets".into()))
            .item("version", Av::N(version.to_string()))
            .item("text", Av::S(text.into()))
            .send()
    };
    let logs = spendguard_aws::log::capture();
    let deps = Deps::new(
        pipeline(),
        BudgetConfig::parse("").unwrap(), // the fallback: no teams
        testkit::ledger(&moto, "pushed").await,
        Arc::new(FixedClock(NOW_MS)),
        Some(14 * 86_400_000),
    )
    .with_budgets_source(BudgetsSource::new(d.clone(), enforcement.clone(), 0));
    let recs = pool(90, 21);
    let batch = |i: usize| {
        let part = &recs[i * 30..(i + 1) * 30];
        event(&[(seq(i), envelope(part, (i * 30) as u64))])
    };
    let team_invocations = |ws: &[spendguard_core::ledger::WindowTotal]| -> u64 {
        ws.iter()
            .filter(|w| w.window.scope == Scope::Team && w.window.kind == WindowKind::Month)
            .map(|w| w.totals.invocations)
            .sum()
    };
    let q = spendguard_core::ledger::Query::default();

    // no document yet: the fallback has no teams
    let (r, rep1) = handle(&batch(0), &deps).await;
    assert!(r.batch_item_failures.is_empty());
    assert!(rep1.applied.applied > 0);
    assert_eq!(team_invocations(&deps.ledger.windows(&q).await.unwrap()), 0);

    // pushed: every principal is in team "everyone" from the next batch on
    push(
        1,
        "[[team]]\nname = \"everyone\"\nmembers = [\"arn:aws:*\"]\n",
    )
    .await
    .unwrap();
    let (_, rep2) = handle(&batch(1), &deps).await;
    let after2 = team_invocations(&deps.ledger.windows(&q).await.unwrap());
    assert_eq!(after2, rep2.applied.applied as u64);
    assert!(logs
        .lines()
        .iter()
        .any(|l| l.contains("budgets document loaded")));

    // a document that does not parse: logged, version 1 stays in force
    push(2, "[[team]\nname = ").await.unwrap();
    let (r, rep3) = handle(&batch(2), &deps).await;
    assert!(r.batch_item_failures.is_empty());
    let after3 = team_invocations(&deps.ledger.windows(&q).await.unwrap());
    assert_eq!(after3, after2 + rep3.applied.applied as u64);
    assert!(logs.lines().iter().any(|l| l.contains("does not parse")));
    // with its metric, said again at each read of the bad version (the stack alarms on it)
    let refused = || {
        logs.lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["BudgetsDocumentRefused"] == 1)
            .count()
    };
    assert_eq!(refused(), 1);
    let (r, _) = handle(&batch(2), &deps).await;
    assert!(r.batch_item_failures.is_empty());
    assert_eq!(refused(), 2);
}

/// A requestId that comes back with other token counts, in the same batch or a later one, is a
/// conflict: the first stays counted, the batch's EMF line counts it (`ConflictingDuplicates`,
/// which the stack alarms on) and an error line names it. An identical replay is not one. The
/// marker holds the digest the later batch is compared with (returned by the failed condition).
#[tokio::test]
async fn a_request_id_with_other_contents_is_a_conflict_counted_named_and_the_first_kept() {
    use crate::util::*;
    use spendguard_aggregator::handle;
    let Some(moto) = emulator(MOTO_VAR) else {
        return;
    };
    let ledger = testkit::ledger(&moto, "conflict").await;
    let (deps, logs) = crate::util::deps(ledger);
    let recs = pool(40, 5);
    // the same invocation with 1,000 more input tokens (its requestId unchanged)
    let altered = |(json, ms): &(String, i64)| -> (String, i64) {
        let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
        let n = v["input"]["inputTokenCount"].as_i64().unwrap();
        v["input"]["inputTokenCount"] = serde_json::json!(n + 1000);
        (v.to_string(), *ms)
    };
    let emf = |r: &spendguard_aggregator::BatchReport| -> serde_json::Value {
        serde_json::from_str(&r.emf("agg", NOW_MS)).unwrap()
    };
    // batch 1: 20 invocations, one repeated unchanged and one repeated altered
    let mut first: Vec<(String, i64)> = recs[..20].to_vec();
    first.push(recs[3].clone());
    first.push(altered(&recs[4]));
    let (resp, r1) = handle(&event(&[(seq(0), envelope(&first, 0))]), &deps).await;
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(r1.in_batch_duplicates, 2);
    assert_eq!(r1.conflicts().count(), 1);
    assert_eq!(emf(&r1)["ConflictingDuplicates"], 1);
    check(&deps.ledger, &expected(&recs[..20]), "first kept").await;

    // batch 2: an unchanged replay, an altered one, and new invocations
    let mut second: Vec<(String, i64)> = vec![recs[7].clone(), altered(&recs[9])];
    second.extend(recs[20..].iter().cloned());
    let (_, r2) = handle(&event(&[(seq(1), envelope(&second, 100))]), &deps).await;
    assert_eq!(r2.applied.already, 2);
    assert_eq!(r2.applied.conflicts.len(), 1);
    assert_eq!(emf(&r2)["ConflictingDuplicates"], 1);
    check(
        &deps.ledger,
        &expected(&recs),
        "replays and conflicts count nothing",
    )
    .await;
    let logs = logs.lines();
    let named: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains("different contents"))
        .collect();
    assert_eq!(named.len(), 2, "{logs:?}");
    let id = |json: &str| {
        serde_json::from_str::<serde_json::Value>(json).unwrap()["requestId"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(named[0].contains(&id(&recs[4].0)) && named[1].contains(&id(&recs[9].0)));
}
