//! The timeline against the live system: seeded random histories (users, a role's sessions, a
//! team; several time zones, graces and limits; across a month end) are driven through the real
//! evaluator and enforcer handlers on in-memory ports, with a clock that ticks the schedule every
//! 60 s, and through `core::timeline`. Both must take the same decisions for the same keys, the
//! live one at most one tick later.
use rust_decimal::Decimal;
use serde_json::{json, Value};
use spendguard_core::budget::BudgetConfig;
use spendguard_core::ledger::WindowTotal;
use spendguard_core::timeline::{Options, Replay};
use spendguard_core::window::{keys_for, window_starts, Delta, WindowKey, WindowKind};
use spendguard_enforcer::evaluator::stream_record;
use spendguard_enforcer::memory::*;
use spendguard_enforcer::testkit::StepClock;
use spendguard_enforcer::App;
use std::collections::BTreeMap;

const ACCOUNT: &str = "123456789012";
const TICK: i64 = 60_000;

/// splitmix64: a seeded generator without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

struct History {
    budgets: String,
    /// (time, principal, session, usd), in time order.
    calls: Vec<(i64, String, Option<String>, Decimal)>,
    end: i64,
}

fn history(seed: u64) -> History {
    let mut r = Rng(seed);
    let tz = r.pick(&["UTC", "America/New_York", "Asia/Kolkata", "Europe/Berlin"]);
    let grace = r.pick(&[0, 45, 90, 300, 1800]);
    let team_grace = r.pick(&[0, 120, 600]);
    let mode = r.pick(&["enforce", "enforce", "shadow"]);
    // thresholds without 100 too: going over must still be seen
    let thresholds = r.pick(&["[50, 100]", "[50, 80]", "[80]", "[50, 100, 150]"]);
    let budgets = format!(
        "timezone = \"{tz}\"\n[defaults]\ndaily_usd = \"{}\"\nmonthly_usd = \"{}\"\n\
         thresholds_pct = {thresholds}\ngrace_seconds = {grace}\n\
         [[budget]]\nprincipal = \"arn:aws:iam::{ACCOUNT}:user/bob\"\nmode = \"{mode}\"\n\
         [[team]]\nname = \"ds\"\nmembers = [\"arn:aws:sts::{ACCOUNT}:assumed-role/DS/*\"]\n\
         daily_usd = \"{}\"\ngrace_seconds = {team_grace}\n\
         [breaker]\nmax_suspensions = 100000\n",
        1 + r.below(4),
        6 + r.below(10),
        2 + r.below(5),
    );
    // 2026-11-29T00:00Z: three days that cross the month's end in every zone above
    let start = 1_796_083_200_000i64;
    let span = 3 * 86_400_000;
    let n = 20 + r.below(50) as usize;
    let mut calls: Vec<(i64, String, Option<String>, Decimal)> = (0..n)
        .map(|_| {
            // away from the minute's edge, so a call and a tick are never at one instant
            let t = start
                + (r.below(span as u64 / TICK as u64) as i64) * TICK
                + 1
                + r.below(59_000) as i64;
            let usd = Decimal::new(5 + r.below(150) as i64, 2);
            let (p, s) = match r.below(4) {
                0 => (format!("arn:aws:iam::{ACCOUNT}:user/alice"), None),
                1 => (format!("arn:aws:iam::{ACCOUNT}:user/bob"), None),
                _ => (
                    format!("arn:aws:iam::{ACCOUNT}:role/DS"),
                    Some(format!(
                        "arn:aws:sts::{ACCOUNT}:assumed-role/DS/s{}",
                        r.below(3)
                    )),
                ),
            };
            (t, p, s, usd)
        })
        .collect();
    calls.sort_by_key(|c| c.0);
    History {
        budgets,
        calls,
        end: start + span + 86_400_000,
    }
}

/// A decision as both sides report it: (key or window, action) and when.
type Seen = BTreeMap<String, Vec<(String, i64)>>;

fn note(seen: &mut Seen, d: &Value, at: i64) {
    let action = d["action"].as_str().unwrap();
    // an alert is once per (window, threshold) whichever key's evaluation sent it
    let who = if action == "alert" {
        format!(
            "{} {} {} {} {}",
            d["window_scope"], d["window_key"], d["window"], d["window_start"], d["threshold_pct"]
        )
    } else {
        format!("{} {}", d["scope"], d["principal"])
    };
    seen.entry(who).or_default().push((action.to_string(), at));
}

fn timeline(h: &History, cfg: &BudgetConfig) -> Seen {
    let mut r = Replay::new(cfg, Options::default());
    for (t, p, s, usd) in &h.calls {
        let c = r.caller(p, s.as_deref());
        r.invoke(*t, c, *usd, false);
    }
    r.finish(h.end);
    let mut seen = Seen::new();
    for t in r.decisions() {
        note(&mut seen, &t.decision.to_json(), t.at_ms);
    }
    seen
}

fn take(out: &Value, at: i64, seen: &mut Seen) {
    for d in out["decisions"].as_array().unwrap() {
        note(seen, d, at);
    }
}

/// The schedule's ticks up to `until`: it only has work while a key is watched.
async fn ticks_until(
    app: &App,
    clock: &StepClock,
    until: i64,
    next_tick: &mut i64,
    seen: &mut Seen,
) {
    while *next_tick <= until {
        if !app.store.watched().await.unwrap().is_empty() {
            clock.set(*next_tick);
            let out = app
                .enforce_event(&json!({"spendguard": "tick"}))
                .await
                .unwrap();
            take(&out, *next_tick, seen);
        }
        *next_tick += TICK;
    }
}

async fn live(h: &History, cfg: &BudgetConfig) -> Seen {
    let ports = MemPorts::new();
    for u in ["alice", "bob"] {
        ports
            .iam
            .users
            .lock()
            .unwrap()
            .insert(u.into(), Principal::default());
    }
    ports.iam.roles.lock().unwrap().insert(
        "DS".into(),
        Principal {
            id: "AROADS".into(),
            ..Principal::default()
        },
    );
    let (windows, bus) = (&ports.windows, &ports.bus);
    let clock = StepClock::at(h.calls[0].0);
    let app = ports.app(h.budgets.clone(), clock.clone());
    let mut seen = Seen::new();
    let mut next_tick = (h.calls[0].0 / TICK + 1) * TICK;
    let mut seq = 0u64;
    for (t, p, s, usd) in &h.calls {
        ticks_until(&app, &clock, *t, &mut next_tick, &mut seen).await;
        clock.set(*t);
        // the aggregator's part: the call's windows in the ledger, as stream records
        let (day, month) = window_starts(&cfg.timezone, *t).unwrap();
        let mut records = Vec::new();
        for (scope, key) in keys_for(p, s.as_deref(), cfg) {
            for (kind, start) in [(WindowKind::Day, &day), (WindowKind::Month, &month)] {
                let w = WindowKey {
                    scope,
                    key: key.clone(),
                    kind,
                    start: start.clone(),
                };
                let before = windows
                    .0
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|x| x.window == w)
                    .map_or(Decimal::ZERO, |x| x.totals.cost_usd);
                windows.set(w.clone(), before + usd);
                seq += 1;
                records.push(stream_record(
                    &WindowTotal {
                        window: w,
                        totals: Delta {
                            cost_usd: before + usd,
                            invocations: 1,
                            ..Delta::default()
                        },
                    },
                    &seq.to_string(),
                ));
            }
        }
        let resp = app
            .evaluate_stream(&json!({ "Records": records }))
            .await
            .unwrap();
        assert!(resp.batch_item_failures.is_empty());
        let events: Vec<_> = std::mem::take(&mut *bus.0.lock().unwrap());
        for e in events {
            let detail: Value = serde_json::from_str(&e.detail).unwrap();
            let ev =
                json!({"detail-type": e.detail_type, "source": "spendguard", "detail": detail});
            let out = app.enforce_event(&ev).await.unwrap();
            take(&out, *t, &mut seen);
        }
    }
    ticks_until(&app, &clock, h.end, &mut next_tick, &mut seen).await;
    seen
}

#[tokio::test]
async fn the_timeline_takes_the_live_systems_decisions_within_one_tick() {
    let mut decided = 0;
    for seed in 1..=40u64 {
        let h = history(seed);
        let cfg = BudgetConfig::parse(&h.budgets).unwrap();
        let sim = timeline(&h, &cfg);
        let real = live(&h, &cfg).await;
        let keys: std::collections::BTreeSet<&String> = sim.keys().chain(real.keys()).collect();
        for k in keys {
            let (a, b) = (
                sim.get(k).cloned().unwrap_or_default(),
                real.get(k).cloned().unwrap_or_default(),
            );
            let actions = |v: &[(String, i64)]| v.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
            assert_eq!(
                actions(&a),
                actions(&b),
                "seed {seed}, {k}\nbudgets:\n{}\ntimeline {a:?}\nlive {b:?}",
                h.budgets
            );
            for ((act, ts), (_, tl)) in a.iter().zip(&b) {
                assert!(
                    (0..=TICK).contains(&(tl - ts)),
                    "seed {seed}, {k}: {act} at {ts} in the timeline, {tl} live"
                );
                decided += usize::from(act != "alert");
            }
        }
    }
    // the histories exercise suspensions and restores, not only alerts
    assert!(decided > 40, "{decided}");
}

#[tokio::test]
async fn a_window_going_over_without_a_100_threshold_suspends_live_and_in_the_timeline() {
    // thresholds [50, 80]: the first call alerts both, the second goes over with no threshold
    // left to cross; the evaluator used to publish nothing then, and the key was never suspended
    let alice = format!("arn:aws:iam::{ACCOUNT}:user/alice");
    let h = History {
        budgets: "[defaults]\ndaily_usd = \"1\"\nthresholds_pct = [50, 80]\ngrace_seconds = 0\n"
            .into(),
        calls: vec![
            (1_796_090_400_500, alice.clone(), None, Decimal::new(85, 2)),
            (1_796_094_000_500, alice.clone(), None, Decimal::new(30, 2)),
        ],
        end: 1_796_169_600_000,
    };
    let cfg = BudgetConfig::parse(&h.budgets).unwrap();
    let key = format!("\"principal\" \"{alice}\"");
    for seen in [timeline(&h, &cfg), live(&h, &cfg).await] {
        assert_eq!(
            seen[&key],
            vec![
                ("suspend".to_string(), 1_796_094_000_500),
                // the next UTC midnight, on the schedule's tick
                ("restore".to_string(), 1_796_169_600_000),
            ],
            "{seen:?}"
        );
    }
}
