//! Hand-computed timelines: every expected time below was worked out from the budgets by hand.

use super::*;
use crate::window::window_starts;
use std::collections::BTreeMap;
use std::str::FromStr;

const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const BOB: &str = "arn:aws:iam::111122223333:user/bob";
const CAROL: &str = "arn:aws:iam::111122223333:user/carol";
const DAVE: &str = "arn:aws:iam::111122223333:user/dave";
const ROLE: &str = "arn:aws:iam::111122223333:role/ML";
const S1: &str = "arn:aws:sts::111122223333:assumed-role/ML/s1";
const S2: &str = "arn:aws:sts::111122223333:assumed-role/ML/s2";
const S3: &str = "arn:aws:sts::111122223333:assumed-role/ML/s3";

// New York: EST (UTC-5) after 2026-11-01, so local midnight is 05:00Z.
const BUDGETS: &str = r#"timezone = "America/New_York"
[defaults]
thresholds_pct = [50, 100]
grace_seconds = 300

[[budget]]
principal = "arn:aws:iam::111122223333:user/alice"
daily_usd = "10"
monthly_usd = "1000"

[[budget]]
principal = "arn:aws:iam::111122223333:user/bob"
daily_usd = "100"
monthly_usd = "25"

[[budget]]
principal = "arn:aws:iam::111122223333:user/carol"
daily_usd = "10"
mode = "shadow"

[[budget]]
principal = "arn:aws:iam::111122223333:user/dave"
daily_usd = "10"
protected = true

[[team]]
name = "ml"
members = ["arn:aws:sts::111122223333:assumed-role/ML/*"]
daily_usd = "20"
grace_seconds = 0
"#;

fn ms(t: &str) -> i64 {
    t.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

fn usd(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// (time, principal, session, usd)
const HISTORY: &[(&str, &str, Option<&str>, &str)] = &[
    ("2026-11-20T14:00:00Z", ALICE, None, "6"),
    ("2026-11-20T14:10:00Z", ALICE, None, "5"),
    ("2026-11-20T14:20:00Z", ALICE, None, "1"),
    ("2026-11-20T15:00:00Z", BOB, None, "20"),
    ("2026-11-20T16:00:00Z", BOB, None, "10"),
    ("2026-11-20T17:00:00Z", CAROL, None, "12"),
    ("2026-11-20T18:00:00Z", CAROL, None, "1"),
    ("2026-11-20T18:30:00Z", DAVE, None, "11"),
    ("2026-11-20T19:00:00Z", ROLE, Some(S1), "15"),
    ("2026-11-20T19:30:00Z", ROLE, Some(S2), "6"),
    ("2026-11-20T19:45:00Z", ROLE, Some(S1), "1"),
    ("2026-11-20T20:00:00Z", ROLE, Some(S3), "2"),
    ("2026-11-21T04:59:59Z", ALICE, None, "1"),
    ("2026-11-21T06:00:00Z", ALICE, None, "2"),
    ("2026-11-25T12:00:00Z", BOB, None, "3"),
    ("2026-12-01T06:00:00Z", BOB, None, "4"),
];

const END: &str = "2026-12-02T00:00:00Z";

fn replay(cfg: &BudgetConfig, counterfactual: bool) -> Replay<'_> {
    let mut r = Replay::new(
        cfg,
        Options {
            delay_ms: 30_000,
            counterfactual,
            keep_windows: true,
        },
    );
    for (t, p, s, c) in HISTORY {
        let caller = r.caller(p, *s);
        r.invoke(ms(t), caller, usd(c), false);
    }
    r.finish(ms(END));
    r
}

fn short(k: &str) -> &str {
    k.rsplit('/').next().unwrap_or(k)
}

fn lines(r: &Replay<'_>) -> Vec<String> {
    r.decisions()
        .iter()
        .map(|t| {
            let d = &t.decision;
            let at = jiff::Timestamp::from_millisecond(t.at_ms).unwrap();
            match d.threshold_pct {
                Some(p) => format!(
                    "{at} {} alert {} {p}",
                    short(&d.key.key),
                    d.window.as_ref().map_or("?", |w| w.kind.as_str())
                ),
                None => format!("{at} {} {}", short(&d.key.key), d.action.as_str()),
            }
        })
        .collect()
}

fn stats<'r>(r: &'r Replay<'_>, scope: Scope, key: &str) -> &'r KeyStats {
    r.keys()
        .find(|k| k.key.scope == scope && k.key.key == key)
        .unwrap()
        .stats
}

#[test]
fn the_observed_timeline_matches_the_hand_computed_one() {
    let cfg = BudgetConfig::parse(BUDGETS).unwrap();
    let r = replay(&cfg, false);
    let expected = [
        "2026-11-20T14:00:00Z alice alert day 50",
        "2026-11-20T14:10:00Z alice alert day 100",
        "2026-11-20T14:10:00Z alice pending",
        // the crossing plus the 300 s grace
        "2026-11-20T14:15:00Z alice suspend",
        // bob's month window: 20 of 25
        "2026-11-20T15:00:00Z bob alert month 50",
        "2026-11-20T16:00:00Z bob alert month 100",
        "2026-11-20T16:00:00Z bob pending",
        "2026-11-20T16:05:00Z bob suspend",
        "2026-11-20T17:00:00Z carol alert day 50",
        "2026-11-20T17:00:00Z carol alert day 100",
        "2026-11-20T17:00:00Z carol pending",
        "2026-11-20T17:05:00Z carol would_suspend",
        // protected: alerted, never pending
        "2026-11-20T18:30:00Z dave alert day 50",
        "2026-11-20T18:30:00Z dave alert day 100",
        "2026-11-20T19:00:00Z ml alert day 50",
        // the team goes over with no grace: it and its members with spend are suspended at once
        "2026-11-20T19:30:00Z ml alert day 100",
        "2026-11-20T19:30:00Z ml suspend",
        "2026-11-20T19:30:00Z s1 suspend",
        "2026-11-20T19:30:00Z s2 suspend",
        // a new session of the team spends while the team is suspended
        "2026-11-20T20:00:00Z s3 suspend",
        // local midnight in New York; bob stays: his month is still over
        "2026-11-21T05:00:00Z alice restore",
        "2026-11-21T05:00:00Z carol restore",
        "2026-11-21T05:00:00Z ml restore",
        "2026-11-21T05:00:00Z s1 restore",
        "2026-11-21T05:00:00Z s2 restore",
        "2026-11-21T05:00:00Z s3 restore",
        // the month window outlasts the day window: local midnight of December 1
        "2026-12-01T05:00:00Z bob restore",
    ];
    let mut got = lines(&r);
    // decisions taken at one instant (the midnight wake-ups) come in key order; compare sorted
    // within the instant
    got.sort_by(|a, b| a[..20].cmp(&b[..20]));
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort_by(|a, b| a[..20].cmp(&b[..20]));
    let group = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    assert_eq!(group(&got), group(&want));
    assert_eq!(got.len(), want.len());
    // time order holds
    let times: Vec<i64> = r.decisions().iter().map(|t| t.at_ms).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));

    let a = stats(&r, Scope::Principal, ALICE);
    assert_eq!(a.spend_usd, usd("15"));
    assert_eq!(a.suspensions, 1);
    assert_eq!(a.first_suspended_ms, Some(ms("2026-11-20T14:15:00Z")));
    assert_eq!(
        a.suspended_ms,
        ms("2026-11-21T05:00:00Z") - ms("2026-11-20T14:15:00Z")
    );
    // the deny takes effect at 14:15:30; 14:20 and 04:59:59 are inside it, 06:00 is after
    assert_eq!((a.stopped_usd, a.stopped_invocations), (usd("2"), 2));
    assert_eq!(a.peak_day_pct, Some(usd("130")));
    assert_eq!(a.alerts, 2);

    let b = stats(&r, Scope::Principal, BOB);
    assert_eq!(
        b.suspended_ms,
        ms("2026-12-01T05:00:00Z") - ms("2026-11-20T16:05:00Z")
    );
    assert_eq!((b.stopped_usd, b.stopped_invocations), (usd("3"), 1));
    assert_eq!(b.peak_month_pct, Some(usd("132")));

    let c = stats(&r, Scope::Principal, CAROL);
    assert_eq!((c.suspensions, c.shadow_suspensions), (0, 1));
    assert_eq!(
        c.shadow_suspended_ms,
        ms("2026-11-21T05:00:00Z") - ms("2026-11-20T17:05:00Z")
    );
    assert_eq!((c.stopped_usd, c.shadow_stopped_usd), (usd("0"), usd("1")));

    let d = stats(&r, Scope::Principal, DAVE);
    assert_eq!((d.suspensions, d.protected_over, d.alerts), (0, 1, 2));

    let team = stats(&r, Scope::Team, "ml");
    assert_eq!((team.spend_usd, team.suspensions), (usd("24"), 1));
    let s1 = stats(&r, Scope::Session, S1);
    assert_eq!((s1.stopped_usd, s1.stopped_invocations), (usd("1"), 1));
    assert_eq!(
        s1.suspended_ms,
        ms("2026-11-21T05:00:00Z") - ms("2026-11-20T19:30:00Z")
    );
    // s3's own call was before its deny took effect
    let s3 = stats(&r, Scope::Session, S3);
    assert_eq!((s3.suspensions, s3.stopped_invocations), (1, 0));
    assert_eq!(stats(&r, Scope::Session, S2).stopped_invocations, 0);
    assert_eq!(r.breaker_bursts, 0);
}

#[test]
fn observed_windows_are_the_ledgers_and_counterfactual_spend_excludes_what_was_stopped() {
    let cfg = BudgetConfig::parse(BUDGETS).unwrap();
    let observed = replay(&cfg, false);
    // the ledger's fold of the same invocations
    let mut want: BTreeMap<(Scope, String, WindowKind, String), Decimal> = BTreeMap::new();
    for (t, p, s, c) in HISTORY {
        let (day, month) = window_starts(&cfg.timezone, ms(t)).unwrap();
        for (scope, key) in crate::window::keys_for(p, *s, &cfg) {
            for (kind, start) in [(WindowKind::Day, &day), (WindowKind::Month, &month)] {
                *want
                    .entry((scope, key.clone(), kind, start.clone()))
                    .or_default() += usd(c);
            }
        }
    }
    let got: BTreeMap<_, _> = observed
        .windows()
        .iter()
        .map(|w| {
            let k = &w.window;
            (
                (k.scope, k.key.clone(), k.kind, k.start.clone()),
                w.totals.cost_usd,
            )
        })
        .collect();
    assert_eq!(got, want);

    let cf = replay(&cfg, true);
    for key in [ALICE, BOB] {
        let (o, c) = (
            stats(&observed, Scope::Principal, key),
            stats(&cf, Scope::Principal, key),
        );
        assert_eq!(c.spend_usd, o.spend_usd - o.stopped_usd, "{key}");
        assert_eq!(c.stopped_usd, o.stopped_usd, "{key}");
    }
}

#[test]
fn counterfactual_decisions_follow_the_reduced_spend() {
    // eve: $10 a day, $30 a month. Day 1: $11 suspends her; $10 more that day is denied. Day 2:
    // $9 more. Observed, the month reaches $30 and suspends her again; counterfactually the
    // denied $10 never happened, the month is at $20 and she is never suspended on day 2.
    let cfg = BudgetConfig::parse(
        "[[budget]]\nprincipal = \"arn:aws:iam::1:user/eve\"\ndaily_usd = \"10\"\nmonthly_usd = \"30\"\nthresholds_pct = [100]\ngrace_seconds = 0\n",
    )
    .unwrap();
    let eve = "arn:aws:iam::1:user/eve";
    let run = |cf: bool| {
        let mut r = Replay::new(
            &cfg,
            Options {
                delay_ms: 0,
                counterfactual: cf,
                keep_windows: false,
            },
        );
        let c = r.caller(eve, None);
        r.invoke(ms("2026-11-20T10:00:00Z"), c, usd("11"), false);
        r.invoke(ms("2026-11-20T11:00:00Z"), c, usd("10"), false);
        r.invoke(ms("2026-11-21T10:00:00Z"), c, usd("9"), false);
        r.finish(ms("2026-11-22T00:00:00Z"));
        let s = stats(&r, Scope::Principal, eve).clone();
        (lines(&r), s)
    };
    let (obs, o) = run(false);
    let (cf, c) = run(true);
    assert_eq!(
        obs,
        [
            "2026-11-20T10:00:00Z eve alert day 100",
            "2026-11-20T10:00:00Z eve suspend",
            "2026-11-21T00:00:00Z eve restore",
            "2026-11-21T10:00:00Z eve alert month 100",
            "2026-11-21T10:00:00Z eve suspend",
        ]
    );
    assert_eq!(
        cf,
        [
            "2026-11-20T10:00:00Z eve alert day 100",
            "2026-11-20T10:00:00Z eve suspend",
            "2026-11-21T00:00:00Z eve restore",
        ]
    );
    assert_eq!((o.spend_usd, o.suspensions), (usd("30"), 2));
    assert_eq!((c.spend_usd, c.suspensions), (usd("20"), 1));
    assert_eq!(c.peak_month_pct, Some(usd("66.67")));
}

#[test]
fn spend_before_the_period_counts_towards_its_windows_without_realerting() {
    // $8 of a $10 day before --from: the 50% alert belongs to before; $3 after it goes over
    let cfg = BudgetConfig::parse(
        "[defaults]\ndaily_usd = \"10\"\nthresholds_pct = [50, 100]\ngrace_seconds = 0\n",
    )
    .unwrap();
    let mut r = Replay::new(&cfg, Options::default());
    let c = r.caller(ALICE, None);
    r.preload(ms("2026-11-20T08:00:00Z"), c, usd("8"), false);
    r.start(ms("2026-11-20T12:00:00Z"));
    r.invoke(ms("2026-11-20T13:00:00Z"), c, usd("3"), false);
    r.finish(ms("2026-11-21T00:00:00Z"));
    assert_eq!(
        lines(&r),
        [
            "2026-11-20T13:00:00Z alice alert day 100",
            "2026-11-20T13:00:00Z alice suspend",
            "2026-11-21T00:00:00Z alice restore",
        ]
    );
    let s = stats(&r, Scope::Principal, ALICE);
    assert_eq!((s.spend_usd, s.peak_day_pct), (usd("3"), Some(usd("110"))));
    // restored at the midnight that ends the period: 11 hours
    assert_eq!(s.suspended_ms, 11 * 3_600_000);
}

#[test]
fn a_key_over_only_through_fallback_prices_is_held_not_suspended() {
    let cfg = BudgetConfig::parse(
        "[defaults]\ndaily_usd = \"10\"\nthresholds_pct = [100]\ngrace_seconds = 0\n",
    )
    .unwrap();
    let mut r = Replay::new(&cfg, Options::default());
    let c = r.caller(ALICE, None);
    r.invoke(ms("2026-11-20T08:00:00Z"), c, usd("4"), false);
    r.invoke(ms("2026-11-20T09:00:00Z"), c, usd("7"), true);
    // $7 more on known prices: $11 known, over without the fallback: suspended at this call
    // (no threshold is left to trigger it: the held key is watched)
    r.invoke(ms("2026-11-20T10:00:00Z"), c, usd("7"), false);
    r.finish(ms("2026-11-21T00:00:00Z"));
    assert_eq!(
        lines(&r),
        [
            "2026-11-20T09:00:00Z alice alert day 100",
            "2026-11-20T09:00:00Z alice held",
            "2026-11-20T10:00:00Z alice suspend",
            "2026-11-21T00:00:00Z alice restore",
        ]
    );
    let s = stats(&r, Scope::Principal, ALICE);
    assert_eq!((s.suspensions, s.held), (1, 1));
}
