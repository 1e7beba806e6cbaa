//! The spend ledger's contract: the [`SpendLedger`] port both stores implement (DynamoDB in the
//! aggregator, SQLite in `spendguard-embedded`), and the pure planning they share: invocations as
//! ledger entries, de-duplication within a batch, the dedup horizon, and the deterministic split
//! of a batch into transactions of at most 100 distinct items.
//!
//! Exactly once rests on one rule, the same in both stores: an invocation's window deltas are
//! committed in the same atomic step as its `requestId` marker, and a marker that already exists
//! means the invocation was counted before. Nothing here is async-runtime specific.

use crate::budget::BudgetConfig;
use crate::window::{keys_of, window_starts, Delta, WindowKey, WindowKind};
use spendguard_schemas::PricedRow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;

#[cfg(feature = "test-util")]
pub mod conformance;

/// DynamoDB's limit on distinct items in one `TransactWriteItems`.
pub const MAX_TRANSACTION_ITEMS: usize = 100;

/// One priced invocation as the ledger sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub request_id: String,
    pub event_ms: i64,
    /// Every window the invocation counts towards (day and month of each scope key).
    pub windows: Vec<WindowKey>,
    /// What it adds to each of them.
    pub amount: Delta,
    /// The caller's index of where the entry came from (the aggregator: the Kinesis record).
    pub origin: usize,
    /// What was counted, as [`content_digest`]: stored with the marker, so a later record under
    /// the same `requestId` is told apart as a replay (same digest) or a conflict (different).
    pub digest: u64,
}

/// The digest of what an invocation counts: model, caller and every token class. Prices are
/// left out on purpose: re-running the same logs after a price change is a replay, not a
/// conflict. FNV-1a 64 over a fixed field order, so every store, process and release computes the
/// same value for the same log record (std's hasher makes no such promise).
pub fn content_digest(row: &PricedRow<'_>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes.iter().chain(std::iter::once(&0xff)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(row.model_id.as_bytes());
    eat(row.principal_arn.as_bytes());
    eat(row.session_name.as_deref().unwrap_or("").as_bytes());
    for n in [
        row.input_tokens,
        row.output_tokens,
        row.cache_read_tokens,
        row.cache_write_5m_tokens,
        row.cache_write_1h_tokens,
    ] {
        eat(&n.to_le_bytes());
    }
    h
}

/// A digest as stored beside a marker (16 hex digits): one spelling for both stores.
pub fn digest_hex(d: u64) -> String {
    format!("{d:016x}")
}

/// Whether a marker's stored digest says the new entry is a conflict. A marker written before
/// digests were stored (`None`) cannot tell, and is taken as a replay.
pub fn conflicts_with(stored: Option<&str>, new: u64) -> bool {
    stored.is_some_and(|s| u64::from_str_radix(s, 16) != Ok(new))
}

impl Entry {
    /// `None` when the event time is outside the calendar (never in real logs).
    pub fn of(row: &PricedRow<'_>, cfg: &BudgetConfig, origin: usize) -> Option<Entry> {
        let (day, month) = window_starts(&cfg.timezone, row.event_time)?;
        let mut windows = Vec::new();
        for (scope, key) in keys_of(row, cfg) {
            windows.push(WindowKey {
                scope,
                key: key.clone(),
                kind: WindowKind::Day,
                start: day.clone(),
            });
            windows.push(WindowKey {
                scope,
                key,
                kind: WindowKind::Month,
                start: month.clone(),
            });
        }
        Some(Entry {
            request_id: row.request_id.to_string(),
            event_ms: row.event_time,
            windows,
            amount: Delta::of(row),
            origin,
            digest: content_digest(row),
        })
    }
}

/// A batch made ready to apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prepared {
    /// Unique by `requestId`, in input order (the first occurrence wins).
    pub fresh: Vec<Entry>,
    /// Entries dropped because their `requestId` came earlier in the same batch.
    pub in_batch_duplicates: usize,
    /// Those of them whose contents differ from the first (a conflict, not a replay), by
    /// `requestId`. The first is kept: input order decides, so the choice is deterministic.
    pub conflicts: Vec<String>,
    /// Entries older than the dedup horizon: their markers may be gone, so applying them could
    /// count them twice. They are refused and reported, never applied.
    pub beyond_horizon: Vec<Entry>,
}

/// De-duplicates a batch by `requestId` and refuses what is older than `horizon_ms` before `now_ms`
/// (`horizon_ms = None`: markers never expire, nothing is refused, as in the embedded store).
pub fn prepare(entries: Vec<Entry>, now_ms: i64, horizon_ms: Option<i64>) -> Prepared {
    let mut out = Prepared::default();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let oldest = horizon_ms.map(|h| now_ms.saturating_sub(h));
    for e in entries {
        if let Some(&first) = seen.get(&e.request_id) {
            out.in_batch_duplicates += 1;
            if first != e.digest {
                out.conflicts.push(e.request_id);
            }
            continue;
        }
        seen.insert(e.request_id.clone(), e.digest);
        match oldest {
            Some(o) if e.event_ms < o => out.beyond_horizon.push(e),
            _ => out.fresh.push(e),
        }
    }
    out
}

/// One transaction: markers for `entries`, one update per window they touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub entries: Vec<Entry>,
    pub deltas: BTreeMap<WindowKey, Delta>,
}

impl Chunk {
    fn new() -> Chunk {
        Chunk {
            entries: Vec::new(),
            deltas: BTreeMap::new(),
        }
    }

    fn push(&mut self, e: Entry) {
        for w in &e.windows {
            self.deltas.entry(w.clone()).or_default().merge(&e.amount);
        }
        self.entries.push(e);
    }

    /// Items the transaction writes: one marker per entry plus one per window.
    pub fn items(&self) -> usize {
        self.entries.len() + self.deltas.len()
    }

    /// The same chunk without the entries whose markers turned out to exist already.
    pub fn without(self, applied: &HashSet<&str>) -> Chunk {
        let mut c = Chunk::new();
        for e in self.entries {
            if !applied.contains(e.request_id.as_str()) {
                c.push(e);
            }
        }
        c
    }
}

/// Planning failed: an entry alone needs more items than one transaction holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invocation {request_id} counts towards {windows} windows: more than one transaction of {MAX_TRANSACTION_ITEMS} items holds")]
pub struct PlanError {
    pub request_id: String,
    pub windows: usize,
}

/// Splits entries, in order, into chunks of at most `max_items` distinct items. Greedy and
/// deterministic: an entry joins the current chunk if its marker and the windows it adds still
/// fit. Chunks keep the given order (stores pass [`group_order`]), so a failure at chunk k means
/// every entry of the chunks before it is committed.
pub fn plan(entries: Vec<Entry>, max_items: usize) -> Result<Vec<Chunk>, PlanError> {
    let mut chunks = Vec::new();
    let mut cur = Chunk::new();
    for e in entries {
        let distinct: HashSet<&WindowKey> = e.windows.iter().collect();
        if 1 + distinct.len() > max_items {
            return Err(PlanError {
                request_id: e.request_id.clone(),
                windows: distinct.len(),
            });
        }
        let new = distinct
            .iter()
            .filter(|w| !cur.deltas.contains_key(**w))
            .count();
        if cur.items() + 1 + new > max_items {
            chunks.push(std::mem::replace(&mut cur, Chunk::new()));
        }
        cur.push(e);
    }
    if !cur.entries.is_empty() {
        chunks.push(cur);
    }
    Ok(chunks)
}

/// The order a store commits entries in: grouped by the windows they touch (so that a hot key's
/// invocations share their window items inside one transaction), ties in input order. With
/// Zipf-shaped traffic this is what keeps the write units per invocation low.
pub fn group_order(entries: &[Entry]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by(|&a, &b| entries[a].windows.cmp(&entries[b].windows).then(a.cmp(&b)));
    order
}

/// The record to retry from after a failed apply: the smallest `origin` among the entries not
/// known to be counted (`None` when every entry is counted).
pub fn first_pending_origin(entries: &[Entry], err: &LedgerError) -> Option<usize> {
    match &err.pending {
        None => entries.iter().map(|e| e.origin).min(),
        Some(p) => p
            .iter()
            .filter_map(|&i| entries.get(i))
            .map(|e| e.origin)
            .min(),
    }
}

/// What one `apply` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Invocations counted now.
    pub applied: usize,
    /// Invocations whose marker already existed: counted before, skipped now.
    pub already: usize,
    /// Those of them whose marker holds a different digest: the same `requestId` with different
    /// contents. The one counted first stays counted; these are named so they can be looked at.
    pub conflicts: Vec<String>,
    /// Transactions committed (the embedded store commits one per apply).
    pub transactions: usize,
    /// Write units the store's writes cost, computed from item sizes (DynamoDB only: emulators do
    /// not report consumed capacity, so this is a computation, not a measurement).
    pub computed_write_units: u64,
}

impl Applied {
    /// Adds another apply's counts (a run applies in several batches).
    pub fn merge(&mut self, o: Applied) {
        self.applied += o.applied;
        self.already += o.already;
        self.conflicts.extend(o.conflicts);
        self.transactions += o.transactions;
        self.computed_write_units += o.computed_write_units;
    }
}

/// Whether retrying the same input can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Retryable,
    Fatal,
}

/// A failed apply. `pending` lists the entries (indices into the slice given) that are not known
/// to be counted; every other entry is durably counted. `None`: none of them is known counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ledger: {message}")]
pub struct LedgerError {
    pub pending: Option<Vec<usize>>,
    pub disposition: Disposition,
    pub message: String,
    /// What was done before the failure.
    pub partial: Applied,
}

impl LedgerError {
    pub fn fatal(message: impl Into<String>) -> LedgerError {
        LedgerError {
            pending: None,
            disposition: Disposition::Fatal,
            message: message.into(),
            partial: Applied::default(),
        }
    }
}

/// Which windows to read back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub key: Option<String>,
    pub kind: Option<WindowKind>,
}

impl Query {
    pub fn matches(&self, w: &WindowKey) -> bool {
        self.key.as_deref().is_none_or(|k| k == w.key) && self.kind.is_none_or(|k| k == w.kind)
    }
}

/// One window's running totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowTotal {
    pub window: WindowKey,
    pub totals: Delta,
}

/// The port. `apply` counts each entry exactly once per `requestId`, however often it is called
/// with it, concurrently or not; entries must already be unique within the call (see
/// [`prepare`]). `windows` reads totals back, sorted by window.
pub trait SpendLedger {
    fn apply(&self, entries: &[Entry])
        -> impl Future<Output = Result<Applied, LedgerError>> + Send;
    fn windows(
        &self,
        query: &Query,
    ) -> impl Future<Output = Result<Vec<WindowTotal>, LedgerError>> + Send;
}

/// The totals a set of unique entries adds up to: what a ledger must hold after applying them.
pub fn expected_totals<'e>(
    entries: impl IntoIterator<Item = &'e Entry>,
) -> BTreeMap<WindowKey, Delta> {
    let mut c = Chunk::new();
    for e in entries {
        for w in &e.windows {
            c.deltas.entry(w.clone()).or_default().merge(&e.amount);
        }
    }
    c.deltas
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::Scope;
    use rust_decimal::Decimal;

    pub(crate) fn entry(id: &str, key: &str, cost: &str, origin: usize) -> Entry {
        let w = |kind, start: &str| WindowKey {
            scope: Scope::Principal,
            key: key.to_string(),
            kind,
            start: start.to_string(),
        };
        Entry {
            request_id: id.to_string(),
            event_ms: 1_763_683_200_000,
            windows: vec![
                w(WindowKind::Day, "2025-11-21"),
                w(WindowKind::Month, "2025-11-01"),
            ],
            amount: Delta {
                cost_usd: cost.parse::<Decimal>().unwrap(),
                input_tokens: 10,
                output_tokens: 5,
                invocations: 1,
                first_event_ms: 1_763_683_200_000,
                last_event_ms: 1_763_683_200_000,
                ..Delta::default()
            },
            origin,
            digest: 1,
        }
    }

    #[test]
    fn prepare_drops_repeats_and_refuses_what_is_past_the_horizon() {
        let mut old = entry("old", "a", "1", 2);
        old.event_ms -= 15 * 86_400_000;
        let now = 1_763_683_200_000 + 1000;
        let p = prepare(
            vec![
                entry("x", "a", "1", 0),
                entry("x", "a", "1", 1),
                old.clone(),
            ],
            now,
            Some(14 * 86_400_000),
        );
        assert_eq!(p.fresh.len(), 1);
        assert_eq!(p.fresh[0].origin, 0, "the first occurrence wins");
        assert_eq!(p.in_batch_duplicates, 1);
        assert_eq!(p.beyond_horizon, vec![old.clone()]);
        let p = prepare(vec![old], now, None);
        assert_eq!(p.fresh.len(), 1, "no horizon: nothing refused");
    }

    #[test]
    fn a_repeat_with_other_contents_is_a_named_conflict_and_the_first_is_kept() {
        let mut other = entry("x", "a", "1.80", 1);
        other.digest = 2;
        let p = prepare(
            vec![entry("x", "a", "1", 0), entry("x", "a", "1", 2), other],
            1_763_683_200_000,
            None,
        );
        assert_eq!(p.fresh.len(), 1);
        assert_eq!(
            p.fresh[0].amount.cost_usd,
            Decimal::ONE,
            "the first is kept"
        );
        assert_eq!(p.in_batch_duplicates, 2);
        assert_eq!(p.conflicts, vec!["x".to_string()], "only the differing one");
    }

    #[test]
    fn the_digest_follows_tokens_model_and_caller_but_not_prices() {
        let p = crate::Pricer::new(
            crate::Catalogue::builtin().unwrap(),
            crate::PricerConfig::default(),
        );
        let rec = || {
            crate::decode::parse_record(spendguard_schemas::fixtures::BEDROCK_CONVERSE_GLOBAL)
                .unwrap()
        };
        let a = p.price(rec(), None).unwrap();
        let d = content_digest(&a);
        assert_eq!(d, content_digest(&p.price(rec(), None).unwrap()), "stable");
        let mut repriced = a.clone();
        repriced.cost_usd += Decimal::ONE;
        assert_eq!(content_digest(&repriced), d, "a price change is a replay");
        for change in [
            |r: &mut PricedRow<'_>| r.input_tokens += 1,
            |r: &mut PricedRow<'_>| r.output_tokens += 1,
            |r: &mut PricedRow<'_>| r.cache_read_tokens += 1,
            |r: &mut PricedRow<'_>| r.cache_write_5m_tokens += 1,
            |r: &mut PricedRow<'_>| r.cache_write_1h_tokens += 1,
            |r: &mut PricedRow<'_>| r.model_id = "other".into(),
            |r: &mut PricedRow<'_>| r.principal_arn = "other".into(),
        ] {
            let mut b = a.clone();
            change(&mut b);
            assert_ne!(content_digest(&b), d);
        }
        assert!(!conflicts_with(None, d), "an old marker cannot tell");
        assert!(!conflicts_with(Some(&digest_hex(d)), d));
        assert!(conflicts_with(Some(&digest_hex(d ^ 1)), d));
    }

    #[test]
    fn chunks_hold_at_most_the_limit_and_keep_the_order() {
        // 150 entries over 30 keys: 2 windows per key
        let es: Vec<Entry> = (0..150)
            .map(|i| entry(&format!("r{i}"), &format!("k{}", i % 30), "0.001", i))
            .collect();
        let chunks = plan(es.clone(), MAX_TRANSACTION_ITEMS).unwrap();
        assert!(chunks.len() >= 3);
        let mut order = Vec::new();
        for c in &chunks {
            assert!(c.items() <= MAX_TRANSACTION_ITEMS, "{}", c.items());
            order.extend(c.entries.iter().map(|e| e.origin));
        }
        assert_eq!(order, (0..150).collect::<Vec<_>>());
        // the chunks' deltas add up to the whole
        let mut sum: BTreeMap<WindowKey, Delta> = BTreeMap::new();
        for c in &chunks {
            for (w, d) in &c.deltas {
                sum.entry(w.clone()).or_default().merge(d);
            }
        }
        assert_eq!(sum, expected_totals(&es));
        // same input, same plan
        assert_eq!(plan(es, MAX_TRANSACTION_ITEMS).unwrap(), chunks);
    }

    #[test]
    fn grouping_puts_a_key_together_and_keeps_input_order_within_it() {
        let es = vec![
            entry("a", "k2", "1", 0),
            entry("b", "k1", "1", 1),
            entry("c", "k2", "1", 2),
            entry("d", "k1", "1", 3),
        ];
        assert_eq!(group_order(&es), vec![1, 3, 0, 2]);
        let err = LedgerError {
            pending: Some(vec![2, 3]),
            ..LedgerError::fatal("x")
        };
        assert_eq!(first_pending_origin(&es, &err), Some(2));
        assert_eq!(first_pending_origin(&es, &LedgerError::fatal("x")), Some(0));
    }

    #[test]
    fn a_chunk_without_applied_ids_recomputes_its_deltas() {
        let c = plan(
            vec![entry("a", "k", "1.5", 0), entry("b", "k", "2.25", 1)],
            MAX_TRANSACTION_ITEMS,
        )
        .unwrap()
        .remove(0);
        let c = c.without(&HashSet::from(["a"]));
        assert_eq!(c.entries.len(), 1);
        assert!(c
            .deltas
            .values()
            .all(|d| d.cost_usd == "2.25".parse::<Decimal>().unwrap() && d.invocations == 1));
    }

    #[test]
    fn an_entry_too_wide_for_a_transaction_is_an_error() {
        let mut e = entry("wide", "k", "1", 0);
        e.windows = (0..100)
            .map(|i| WindowKey {
                scope: Scope::Team,
                key: format!("t{i}"),
                kind: WindowKind::Day,
                start: "2025-11-21".into(),
            })
            .collect();
        assert_eq!(
            plan(vec![e], MAX_TRANSACTION_ITEMS).unwrap_err().windows,
            100
        );
    }
}
