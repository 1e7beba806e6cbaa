//! The one conformance suite every [`SpendLedger`] passes (DynamoDB on moto, the embedded SQLite
//! store): exact totals, re-application, overlap, concurrency, queries. Test support only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::{expected_totals, Entry, Query, SpendLedger, WindowTotal};
use crate::budget::Scope;
use crate::window::{Delta, WindowKey, WindowKind};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::task::Poll;

/// Deterministic entries: `n` invocations over a few users, role sessions and two teams, across
/// two months, with costs down to 1e-12 and up to five integer digits.
pub fn entries(n: usize, seed: u64, prefix: &str) -> Vec<Entry> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        s >> 33
    };
    let days = ["2026-10-31", "2026-11-01", "2026-11-21"];
    (0..n)
        .map(|i| {
            let who = (next() % 7) as usize;
            let day = days[(next() % 3) as usize];
            let month = format!("{}-01", &day[..7]);
            let mut keys = Vec::new();
            if who < 3 {
                keys.push((
                    Scope::Principal,
                    format!("arn:aws:iam::111122223333:user/u{who}"),
                ));
            } else {
                keys.push((
                    Scope::Principal,
                    format!("arn:aws:iam::111122223333:role/R{}", who % 2),
                ));
                keys.push((
                    Scope::Session,
                    format!("arn:aws:sts::111122223333:assumed-role/R{}/s{who}", who % 2),
                ));
                keys.push((Scope::Team, "payments".to_string()));
            }
            if who == 0 {
                keys.push((Scope::Team, "research".to_string()));
            }
            let mut windows = Vec::new();
            for (scope, key) in keys {
                for (kind, start) in [
                    (WindowKind::Day, day.to_string()),
                    (WindowKind::Month, month.clone()),
                ] {
                    windows.push(WindowKey {
                        scope,
                        key: key.clone(),
                        kind,
                        start,
                    });
                }
            }
            let cost = Decimal::new((next() % 10_000_000_000_000) as i64, 12)
                + if i % 97 == 0 {
                    Decimal::new(12_345, 0)
                } else {
                    Decimal::ZERO
                };
            let ms = 1_793_000_000_000 + (next() % 1_000_000) as i64;
            Entry {
                request_id: format!("{prefix}-{i:05}-{}", next() % 1000),
                event_ms: ms,
                windows,
                amount: Delta {
                    cost_usd: cost,
                    // every 7th invocation of a model the catalogue lacks: the stores keep it apart
                    fallback_usd: if i % 7 == 3 { cost } else { Decimal::ZERO },
                    input_tokens: (next() % 5000) as i64,
                    output_tokens: (next() % 900) as i64,
                    cache_read_tokens: (next() % 3) as i64 * 1024,
                    cache_write_tokens: (next() % 2) as i64 * 2048,
                    invocations: 1,
                    first_event_ms: ms,
                    last_event_ms: ms,
                },
                origin: i,
                digest: i as u64,
            }
        })
        .collect()
}

/// Polls two futures to completion on whatever executor runs the suite.
pub async fn join2<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = pin!(a);
    let mut b = pin!(b);
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    (ra.unwrap(), rb.unwrap())
}

/// Asserts that the ledger holds exactly `expected` (totals, counts, tokens) and nothing else.
pub async fn assert_totals<L: SpendLedger>(
    l: &L,
    expected: &BTreeMap<WindowKey, Delta>,
    what: &str,
) {
    let got: Vec<WindowTotal> = l.windows(&Query::default()).await.unwrap();
    let got: BTreeMap<WindowKey, Delta> = got.into_iter().map(|w| (w.window, w.totals)).collect();
    assert_eq!(got.len(), expected.len(), "{what}: window count");
    for (w, e) in expected {
        let g = got
            .get(w)
            .unwrap_or_else(|| panic!("{what}: missing window {w:?}"));
        assert_eq!(g.cost_usd, e.cost_usd, "{what}: spend of {w:?}");
        assert_eq!(g.invocations, e.invocations, "{what}: invocations of {w:?}");
        assert_eq!(
            (
                g.input_tokens,
                g.output_tokens,
                g.cache_read_tokens,
                g.cache_write_tokens
            ),
            (
                e.input_tokens,
                e.output_tokens,
                e.cache_read_tokens,
                e.cache_write_tokens
            ),
            "{what}: tokens of {w:?}"
        );
    }
}

/// Runs every case, each on a fresh ledger from `fresh`. Returns the number of cases.
pub async fn run<L, F, Fut>(mut fresh: F) -> usize
where
    L: SpendLedger,
    F: FnMut(&'static str) -> Fut,
    Fut: Future<Output = L>,
{
    let all = entries(260, 7, "conf");
    let want = expected_totals(&all);

    // 1. one batch, many transactions' worth, counted exactly
    let l = fresh("once").await;
    let a = l.apply(&all).await.unwrap();
    assert_eq!((a.applied, a.already), (all.len(), 0), "once");
    assert!(a.transactions >= 1);
    assert_totals(&l, &want, "once").await;

    // 2. the same batch again changes nothing
    let a = l.apply(&all).await.unwrap();
    assert_eq!((a.applied, a.already), (0, all.len()), "again");
    assert_totals(&l, &want, "again").await;

    // 3. overlapping batches: only the new part counts
    let l = fresh("overlap").await;
    let a = l.apply(&all[..150]).await.unwrap();
    assert_eq!(a.applied, 150);
    let b = l.apply(&all[100..]).await.unwrap();
    assert_eq!((b.applied, b.already), (all.len() - 150, 50), "overlap");
    assert_totals(&l, &want, "overlap").await;

    // 4. two consumers apply the same batch at once: each invocation counted once
    let l = fresh("concurrent").await;
    let (x, y) = join2(l.apply(&all[..120]), l.apply(&all[60..])).await;
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.applied + y.applied, all.len(), "concurrent: applied");
    assert_eq!(x.already + y.already, 60, "concurrent: overlap seen once");
    assert_totals(&l, &want, "concurrent").await;

    // 5. queries by key and by window kind
    let key = "arn:aws:iam::111122223333:role/R1".to_string();
    let by_key = l
        .windows(&Query {
            key: Some(key.clone()),
            kind: Some(WindowKind::Month),
        })
        .await
        .unwrap();
    let want_key: Vec<(&WindowKey, &Delta)> = want
        .iter()
        .filter(|(w, _)| w.key == key && w.kind == WindowKind::Month)
        .collect();
    assert!(!want_key.is_empty());
    assert_eq!(by_key.len(), want_key.len(), "query by key");
    for (g, (w, d)) in by_key.iter().zip(&want_key) {
        assert_eq!(&g.window, *w, "query order");
        assert_eq!(g.totals.cost_usd, d.cost_usd);
    }

    // 6. an empty batch is a no-op
    let a = l.apply(&[]).await.unwrap();
    assert_eq!((a.applied, a.already), (0, 0));

    // 7. a later record under a counted requestId: a replay (same digest) is only already
    // counted; other contents are a conflict, named, and the first stays counted
    let l = fresh("conflict").await;
    l.apply(&all[..10]).await.unwrap();
    let mut changed = all[3].clone();
    changed.digest ^= 0xff;
    changed.amount.input_tokens += 1;
    let batch = [all[2].clone(), changed, all[10].clone()];
    let a = l.apply(&batch).await.unwrap();
    assert_eq!((a.applied, a.already), (1, 2), "conflict: counts");
    assert_eq!(
        a.conflicts,
        vec![all[3].request_id.clone()],
        "conflict: named"
    );
    assert_totals(&l, &expected_totals(&all[..11]), "conflict").await;
    7
}
