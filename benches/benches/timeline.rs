//! Criterion benchmark of the simulation's replay loop (`core::timeline`): a month of 100,000
//! invocations from 300 callers (users, role sessions, one team) through a budgets file tight
//! enough that keys are alerted, suspended and restored every day. Throughput is invocations.
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark setup, not a handler path

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rust_decimal::Decimal;
use spendguard_core::budget::BudgetConfig;
use spendguard_core::timeline::{Options, Replay};
use std::hint::black_box;

const N: usize = 100_000;
const BUDGETS: &str = r#"timezone = "America/New_York"
[defaults]
daily_usd = "3"
monthly_usd = "60"
grace_seconds = 300
[[team]]
name = "ds"
members = ["arn:aws:sts::111122223333:assumed-role/DS/*"]
daily_usd = "40"
"#;

/// (time, principal, session, usd, fallback) in time order: 2026-11-01 to 2026-11-30.
fn history() -> Vec<(i64, String, Option<String>, Decimal, bool)> {
    let mut x: u64 = 42;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let start = 1_793_491_200_000i64;
    let step = 30 * 86_400_000 / N as i64;
    (0..N)
        .map(|i| {
            let r = next();
            let who = r % 300;
            let (p, s) = if who < 100 {
                (format!("arn:aws:iam::111122223333:user/u{who}"), None)
            } else {
                (
                    format!("arn:aws:iam::111122223333:role/R{}", who % 7),
                    Some(format!(
                        "arn:aws:sts::111122223333:assumed-role/{}/s{who}",
                        if who % 7 == 0 {
                            "DS".to_string()
                        } else {
                            format!("R{}", who % 7)
                        }
                    )),
                )
            };
            let usd = Decimal::new((next() % 4000) as i64, 5);
            (start + i as i64 * step, p, s, usd, next() % 200 == 0)
        })
        .collect()
}

fn replay(c: &mut Criterion) {
    let cfg = BudgetConfig::parse(BUDGETS).unwrap();
    let h = history();
    let mut g = c.benchmark_group("timeline");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    for (name, counterfactual) in [("observed", false), ("counterfactual", true)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut r = Replay::new(
                    &cfg,
                    Options {
                        delay_ms: 30_000,
                        counterfactual,
                        keep_windows: false,
                    },
                );
                let callers: Vec<_> = h
                    .iter()
                    .map(|(_, p, s, _, _)| r.caller(p, s.as_deref()))
                    .collect();
                for ((t, _, _, usd, fb), c) in h.iter().zip(callers) {
                    r.invoke(*t, c, *usd, *fb);
                }
                r.finish(1_796_083_200_000);
                black_box(r.decisions().len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, replay);
criterion_main!(benches);
