//! Property: whatever the delivery schedule, the ledger holds the exact sum of the unique
//! invocations. Seeded schedules drive the aggregator's handler with generated traffic under
//! injected faults: duplicated records, the same requestId twice in one batch, whole-batch
//! retries, bisected batches, two consumers on one shard, a transaction failed half-way (and, on
//! DynamoDB, commits whose answer is lost and throttled calls), re-ingested split envelopes, and
//! a replay of the whole stream. Checked after every schedule, to the last decimal digit, on the
//! embedded SQLite ledger (many schedules) and on DynamoDB in moto (fewer: moto copies the table
//! on every transaction).
use crate::util::*;
use spendguard_aggregator::dynamo::DynamoLedger;
use spendguard_aggregator::testkit::{
    create_table, emulator, emulator_config, unique, OneAtATime, MOTO_VAR,
};
use spendguard_aggregator::{handle, Deps};
use spendguard_core::ledger::conformance::join2;
use spendguard_core::ledger::SpendLedger;
use spendguard_core::synth::Rng;
use spendguard_embedded::EmbeddedLedger;

/// The stream a schedule reads: envelopes of 1-20 invocations, plus duplicated records, the
/// halves of some envelopes re-ingested later (what the transform does at midnight), a
/// CONTROL_MESSAGE and an unreadable record.
fn stream(recs: &[(String, i64)], rng: &mut Rng) -> Vec<(String, Vec<u8>)> {
    let mut payloads: Vec<Vec<u8>> = Vec::new();
    let mut i = 0;
    let mut id = 0u64;
    while i < recs.len() {
        let n = (1 + rng.below(20)).min(recs.len() - i);
        let part = &recs[i..i + n];
        payloads.push(envelope(part, id));
        id += n as u64;
        match rng.below(10) {
            // the producer delivered the record twice
            0 => payloads.push(payloads[payloads.len() - 1].clone()),
            // re-ingested halves of this envelope, later in the stream
            1 | 2 if n >= 2 => {
                let (a, b) = part.split_at(n / 2);
                payloads.push(envelope(a, id));
                payloads.push(envelope(b, id + 1000));
            }
            3 => payloads.push(control_message()),
            4 if rng.below(4) == 0 => payloads.push(b"\x1f\x8b garbage".to_vec()),
            _ => {}
        }
        i += n;
    }
    payloads
        .into_iter()
        .enumerate()
        .map(|(i, p)| (seq(i), p))
        .collect()
}

/// Arms a fault inside the ledger for its next write (beyond the half-way fault around it).
trait Faults {
    fn arm(&self, rng: &mut Rng);
}

impl Faults for EmbeddedLedger {
    fn arm(&self, _: &mut Rng) {}
}

impl Faults for DynamoLedger<Flaky<OneAtATime<aws_sdk_dynamodb::Client>>> {
    fn arm(&self, rng: &mut Rng) {
        let f = &self.tx;
        let next = f.calls.load(std::sync::atomic::Ordering::SeqCst);
        if rng.below(2) == 0 {
            f.lost_after_commit.lock().unwrap().insert(next);
        } else {
            f.fail_before.lock().unwrap().insert(next);
        }
    }
}

/// One schedule: batches of 1-8 records with a fault each, then a replay of everything.
async fn run_schedule<L: SpendLedger + Faults + Sync>(
    deps: &Deps<HalfWay<L>>,
    records: &[(String, Vec<u8>)],
    rng: &mut Rng,
) -> usize {
    let mut deliveries = 0;
    let mut at = 0;
    while at < records.len() {
        let n = (1 + rng.below(8)).min(records.len() - at);
        let batch = &records[at..at + n];
        match rng.below(7) {
            // whole-batch retry: delivered, then delivered again
            0 => {
                deliveries += deliver(deps, batch).await.0;
                deliveries += deliver(deps, batch).await.0;
            }
            // bisect: the first half alone (as after a function error), then the whole batch
            1 if n >= 2 => {
                deliveries += deliver(deps, &batch[..n / 2]).await.0;
                deliveries += deliver(deps, batch).await.0;
            }
            // two consumers on the same shard see overlapping batches at once
            2 => {
                let other = &records[at.saturating_sub(2)..(at + n + 2).min(records.len())];
                let ((a, _), (b, _)) = join2(deliver(deps, batch), deliver(deps, other)).await;
                deliveries += a + b;
            }
            // a transaction fails half-way (or a commit's answer is lost, or a call throttled)
            3 | 4 => {
                if rng.below(2) == 0 {
                    deps.ledger.arm();
                } else {
                    deps.ledger.inner.arm(rng);
                }
                deliveries += deliver(deps, batch).await.0;
            }
            // the same record twice in one batch
            5 => {
                let mut twice = batch.to_vec();
                twice.push(batch[0].clone());
                twice.push(batch[rng.below(n)].clone());
                deliveries += deliver(deps, &twice).await.0;
            }
            _ => deliveries += deliver(deps, batch).await.0,
        }
        at += n;
    }
    // replay of the whole stream (a fault armed for a batch too small to fire it is cleared)
    deps.ledger
        .armed
        .store(0, std::sync::atomic::Ordering::SeqCst);
    for b in records.chunks(7) {
        let (resp, report) = handle(&event(b), deps).await;
        assert!(resp.batch_item_failures.is_empty());
        assert_eq!(report.applied.applied, 0, "a replay counts nothing again");
        deliveries += 1;
    }
    deliveries
}

#[tokio::test]
async fn totals_are_exact_under_every_schedule_on_the_embedded_ledger() {
    let recs = pool(600, 21);
    let mut schedules = 0;
    let mut invocations = 0;
    let mut deliveries = 0;
    for seed in 0..120u64 {
        let mut rng = Rng::new(1000 + seed);
        let start = rng.below(400);
        let len = 40 + rng.below(160);
        let part = &recs[start..(start + len).min(recs.len())];
        let records = stream(part, &mut rng);
        let (deps, _) = deps(HalfWay::new(EmbeddedLedger::in_memory().unwrap()));
        deliveries += run_schedule(&deps, &records, &mut rng).await;
        check(
            &deps.ledger,
            &expected(part),
            &format!("embedded schedule {seed}"),
        )
        .await;
        schedules += 1;
        invocations += part.len();
    }
    eprintln!(
        "property (embedded): {schedules} schedules, {invocations} invocations, {deliveries} deliveries checked"
    );
}

#[tokio::test]
async fn totals_are_exact_under_every_schedule_on_dynamodb() {
    let Some(moto) = emulator(MOTO_VAR) else {
        return;
    };
    let recs = pool(300, 22);
    let d = aws_sdk_dynamodb::Client::new(&emulator_config(&moto).await);
    let mut schedules = 0;
    let mut invocations = 0;
    let mut deliveries = 0;
    let mut fired = 0;
    for seed in 0..10u64 {
        let mut rng = Rng::new(2000 + seed);
        let start = rng.below(150);
        let len = 40 + rng.below(80);
        let part = &recs[start..(start + len).min(recs.len())];
        let records = stream(part, &mut rng);
        let table = unique("prop");
        create_table(&d, &table).await;
        let mut l = DynamoLedger::with_transact(
            Flaky::new(OneAtATime::new(d.clone())),
            d.clone(),
            table,
            14 * 86_400,
        );
        l.retry.base_delay = std::time::Duration::from_millis(1);
        let (deps, _) = deps(HalfWay::new(l));
        deliveries += run_schedule(&deps, &records, &mut rng).await;
        check(
            &deps.ledger,
            &expected(part),
            &format!("dynamodb schedule {seed}"),
        )
        .await;
        fired += deps.ledger.fired.load(std::sync::atomic::Ordering::SeqCst);
        schedules += 1;
        invocations += part.len();
    }
    assert!(fired > 0, "the half-way fault fired");
    eprintln!(
        "property (dynamodb): {schedules} schedules, {invocations} invocations, {deliveries} deliveries checked"
    );
}

/// Issue 17: a Kinesis record of several gzip members, one envelope each (what `spendguard run`
/// reads from a file), is counted whole; an unreadable member is said and counted as
/// undecodable while the others are counted.
#[tokio::test]
async fn a_record_of_several_gzip_members_counts_every_envelope() {
    let recs = pool(60, 17);
    let mut data = envelope(&recs[..25], 0);
    data.extend(envelope(&recs[25..], 25));
    let (one, _) = deps(EmbeddedLedger::in_memory().unwrap());
    let (resp, report) = handle(&event(&[(seq(0), data)]), &one).await;
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(report.stats.undecodable_records, 0);
    check(&one.ledger, &expected(&recs), "both members").await;

    // a member whose envelope is not JSON: the good member is counted, the bad one named
    let (two, logs) = deps(EmbeddedLedger::in_memory().unwrap());
    let mut bad = envelope(&recs[..25], 0);
    bad.extend(spendguard_core::synth::gzip(b"{not an envelope"));
    let (_, report) = handle(&event(&[(seq(1), bad)]), &two).await;
    assert_eq!(report.stats.undecodable_records, 1);
    check(&two.ledger, &expected(&recs[..25]), "the good member").await;
    assert!(logs
        .lines()
        .iter()
        .any(|l| l.contains("undecodable gzip member skipped") && l.contains("\"member\":1")));
}
