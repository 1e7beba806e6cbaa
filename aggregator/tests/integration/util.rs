//! Shared helpers for the aggregator's tests: synthetic traffic as Kinesis records, the handler
//! wired to a ledger, an ESM simulator that retries from the reported record, fault injection
//! around a real ledger, and the exact expected totals.

use spendguard_aggregator::dynamo::{Transact, TxError};
use spendguard_aggregator::{handle, BatchReport, BatchResponse, Deps};
use spendguard_core::budget::BudgetConfig;
use spendguard_core::clock::FixedClock;
use spendguard_core::ledger::{
    expected_totals, Applied, Disposition, Entry, LedgerError, Query, SpendLedger, WindowTotal,
};
use spendguard_core::synth::{envelope_json, gzip, Generator, Spec};
use spendguard_core::window::{Delta, WindowKey};
use spendguard_core::Pipeline;
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// 2026-11-22T00:00:00Z; the synthetic traffic starts 2026-11-20.
pub const NOW_MS: i64 = 1_795_305_600_000;

pub const BUDGETS: &str = r#"
timezone = "America/New_York"
[[team]]
name = "data-science"
members = ["arn:aws:sts::*:assumed-role/DataScience*/*"]
[[team]]
name = "everyone"
members = ["arn:aws:*"]
"#;

pub fn budgets() -> BudgetConfig {
    BudgetConfig::parse(BUDGETS).unwrap()
}

/// `n` synthetic Bedrock records (json, event ms): Zipf principals, a few unknown models.
pub fn pool(n: usize, seed: u64) -> Vec<(String, i64)> {
    let mut g = Generator::new(Spec {
        seed,
        invocations: n,
        principals: 40,
        spacing_ms: 60_000, // spread over days, so windows roll over
        error_per_mille: 20,
        ..Spec::default()
    });
    (0..n).map(|_| g.next_record()).collect()
}

/// A gzip CloudWatch Logs envelope over `events`.
pub fn envelope(events: &[(String, i64)], first_id: u64) -> Vec<u8> {
    gzip(envelope_json("111122223333", events, first_id).as_bytes())
}

pub fn control_message() -> Vec<u8> {
    gzip(br#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1795132800000,"message":"CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]}"#)
}

pub use spendguard_aggregator::testkit::{kinesis_event as event, kinesis_sequence as seq};

pub fn pipeline() -> Pipeline {
    spendguard_aws::pricing::PricingConfig::default()
        .pipeline()
        .unwrap()
}

/// Handler deps over `ledger`, clock at [`NOW_MS`], 14-day horizon; logs are kept.
pub fn deps<L: SpendLedger>(ledger: L) -> (Deps<L>, spendguard_aws::log::Captured) {
    let logs = spendguard_aws::log::capture();
    let d = Deps::new(
        pipeline(),
        budgets(),
        ledger,
        Arc::new(FixedClock(NOW_MS)),
        Some(14 * 86_400_000),
    );
    (d, logs)
}

/// What the ledger must hold: every unique invocation of `records` (by `requestId`), once.
pub fn expected(records: &[(String, i64)]) -> BTreeMap<WindowKey, Delta> {
    let p = pipeline();
    let cfg = budgets();
    let mut seen = HashSet::new();
    let mut entries: Vec<Entry> = Vec::new();
    for (json, _) in records {
        if let spendguard_core::RecordOutcome::Priced(row) = p.process_record(json, 0) {
            if seen.insert(row.request_id.to_string()) {
                entries.push(Entry::of(&row, &cfg, 0).unwrap());
            }
        }
    }
    expected_totals(&entries)
}

/// Compares a ledger with the expected totals, to the last decimal digit.
pub async fn check<L: SpendLedger>(l: &L, want: &BTreeMap<WindowKey, Delta>, what: &str) {
    spendguard_core::ledger::conformance::assert_totals(l, want, what).await;
}

/// Lambda's event source mapping, as far as exactly-once is concerned: deliver the batch; on a
/// reported failure, retry from the reported record (the records after it are re-delivered too).
/// Returns the number of invocations of the handler.
pub async fn deliver<L: SpendLedger>(
    deps: &Deps<L>,
    records: &[(String, Vec<u8>)],
) -> (usize, Vec<BatchReport>) {
    let mut from = 0;
    let mut calls = 0;
    let mut reports = Vec::new();
    while from < records.len() {
        calls += 1;
        assert!(calls < 50, "the batch never succeeds");
        let (resp, report) = handle(&event(&records[from..]), deps).await;
        reports.push(report);
        match failed_index(&resp, &records[from..]) {
            None => break,
            Some(i) => from += i,
        }
    }
    (calls, reports)
}

/// Index of the reported record; panics on an identifier that is not in the batch (that would
/// make Lambda fail the whole batch).
pub fn failed_index(resp: &BatchResponse, records: &[(String, Vec<u8>)]) -> Option<usize> {
    let f = resp.batch_item_failures.first()?;
    assert_eq!(resp.batch_item_failures.len(), 1);
    Some(
        records
            .iter()
            .position(|(s, _)| f.item_identifier.as_deref() == Some(s.as_str()))
            .expect("the failure names a record of the batch"),
    )
}

/// A ledger wrapper that, when armed, commits only the first part of an apply and then fails:
/// the "transaction failed half-way" fault, around any real ledger.
pub struct HalfWay<L> {
    pub inner: L,
    pub armed: AtomicUsize,
    pub fired: AtomicUsize,
}

impl<L> HalfWay<L> {
    pub fn new(inner: L) -> Self {
        HalfWay {
            inner,
            armed: AtomicUsize::new(0),
            fired: AtomicUsize::new(0),
        }
    }
    pub fn arm(&self) {
        self.armed.store(1, Ordering::SeqCst);
    }
}

impl<L: SpendLedger + Sync> SpendLedger for HalfWay<L> {
    async fn apply(&self, entries: &[Entry]) -> Result<Applied, LedgerError> {
        if entries.len() >= 2 && self.armed.swap(0, Ordering::SeqCst) == 1 {
            self.fired.fetch_add(1, Ordering::SeqCst);
            let half = entries.len() / 2;
            let partial = self.inner.apply(&entries[..half]).await?;
            return Err(LedgerError {
                pending: Some((half..entries.len()).collect()),
                disposition: Disposition::Retryable,
                message: "injected: failed half-way".into(),
                partial,
            });
        }
        self.inner.apply(entries).await
    }

    fn windows(
        &self,
        q: &Query,
    ) -> impl Future<Output = Result<Vec<WindowTotal>, LedgerError>> + Send {
        self.inner.windows(q)
    }
}

/// Faults around the real DynamoDB client: call numbers (0-based) in `lost_after_commit` commit
/// and then report a timeout (an ambiguous outcome); those in `fail_before` fail without sending.
pub struct Flaky<T> {
    pub inner: T,
    pub calls: AtomicUsize,
    pub lost_after_commit: Mutex<HashSet<usize>>,
    pub fail_before: Mutex<HashSet<usize>>,
    pub fatal_from: Option<usize>,
}

impl<T> Flaky<T> {
    pub fn new(inner: T) -> Self {
        Flaky {
            inner,
            calls: AtomicUsize::new(0),
            lost_after_commit: Mutex::new(HashSet::new()),
            fail_before: Mutex::new(HashSet::new()),
            fatal_from: None,
        }
    }
}

impl<T: Transact> Transact for Flaky<T> {
    async fn transact(
        &self,
        items: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
    ) -> Result<(), TxError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fatal_from.is_some_and(|f| n >= f) {
            return Err(TxError::Fatal("injected: AccessDeniedException".into()));
        }
        if self.fail_before.lock().unwrap().remove(&n) {
            return Err(TxError::Retryable("injected: ThrottlingException".into()));
        }
        let r = self.inner.transact(items).await;
        if r.is_ok() && self.lost_after_commit.lock().unwrap().remove(&n) {
            return Err(TxError::Retryable("injected: timeout after commit".into()));
        }
        r
    }
}
