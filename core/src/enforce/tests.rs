//! Tests of the pure budget state and decisions.

use super::*;
use crate::ledger::WindowTotal;
use crate::window::Delta;
use std::str::FromStr;

const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const ROLE: &str = "arn:aws:iam::111122223333:role/DataScience";
const BOB: &str = "arn:aws:sts::111122223333:assumed-role/DataScience/bob@example.com";
// 2026-11-22T10:00:00Z
const NOW: i64 = 1_795_341_600_000;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn cfg(extra: &str) -> BudgetConfig {
    BudgetConfig::parse(&format!(
        "[defaults]\ndaily_usd = \"10\"\nmonthly_usd = \"100\"\nthresholds_pct = [50, 80, 100]\ngrace_seconds = 60\n{extra}"
    ))
    .unwrap()
}

fn total(scope: Scope, key: &str, kind: WindowKind, start: &str, usd: &str) -> WindowTotal {
    WindowTotal {
        window: WindowKey {
            scope,
            key: key.into(),
            kind,
            start: start.into(),
        },
        totals: Delta {
            cost_usd: d(usd),
            invocations: 1,
            ..Delta::default()
        },
    }
}

fn day(scope: Scope, key: &str, usd: &str) -> WindowTotal {
    total(scope, key, WindowKind::Day, "2026-11-22", usd)
}

fn actions(o: &Outcome) -> Vec<(&'static str, Option<u32>)> {
    o.decisions
        .iter()
        .map(|d| (d.action.as_str(), d.threshold_pct))
        .collect()
}

#[test]
fn thresholds_and_over_are_exact_at_the_boundary() {
    let c = cfg("");
    let w = day(Scope::Principal, ALICE, "9.999999999").window;
    let below = window_status(&c, &w, d("9.999999999"), Decimal::ZERO).unwrap();
    assert_eq!(below.reached_pct, vec![50, 80]);
    assert!(!below.over);
    let at = window_status(&c, &w, d("10"), Decimal::ZERO).unwrap();
    assert_eq!(at.reached_pct, vec![50, 80, 100]);
    assert!(at.over, "at 100% is over");
    assert_eq!(at.percent(), d("100"));
    // a session without a session budget has no limits of its own
    let s = day(Scope::Session, BOB, "50").window;
    assert_eq!(window_status(&c, &s, d("50"), Decimal::ZERO), None);
    // a zero limit is over once anything is spent
    let z =
        cfg("[[budget]]\nprincipal = \"arn:aws:iam::111122223333:user/zero\"\ndaily_usd = \"0\"\n");
    let zw = day(Scope::Principal, "arn:aws:iam::111122223333:user/zero", "0").window;
    assert!(!window_status(&z, &zw, d("0"), Decimal::ZERO).unwrap().over);
    assert!(
        window_status(&z, &zw, d("0.000001"), Decimal::ZERO)
            .unwrap()
            .over
    );
}

#[test]
fn evaluation_counts_only_current_windows_and_includes_teams() {
    let c = cfg(
        "[[team]]\nname = \"ds\"\nmembers = [\"arn:aws:sts::111122223333:assumed-role/DataScience/*\"]\ndaily_usd = \"20\"\nmode = \"shadow\"\n",
    );
    let key = KeyRef::new(Scope::Session, BOB);
    let totals = vec![
        day(Scope::Session, BOB, "3"),
        total(Scope::Team, "ds", WindowKind::Day, "2026-11-21", "500"), // yesterday: ended
        day(Scope::Team, "ds", "25"),
        day(Scope::Team, "other", "999"),
        day(Scope::Principal, ALICE, "999"),
    ];
    let ev = evaluate(&c, &key, &totals, NOW);
    assert_eq!(ev.windows.len(), 1, "{ev:?}");
    let w = &ev.windows[0];
    assert_eq!((w.window.scope, w.window.key.as_str()), (Scope::Team, "ds"));
    assert!(ev.over());
    assert_eq!(ev.deciding().unwrap().mode, Mode::Shadow);
    // the team mode applies to its member
    let o = decide(&ev, &KeyState::default(), &HashSet::new(), NOW);
    assert_eq!(
        actions(&o),
        vec![
            ("alert", Some(50)),
            ("alert", Some(80)),
            ("alert", Some(100)),
            ("pending", None)
        ]
    );
    let later = decide(&ev, &o.next, &HashSet::new(), NOW + 60_000);
    assert!(actions(&later).contains(&("would_suspend", None)));
    assert_eq!(later.next.status, Status::ShadowSuspended);
}

#[test]
fn grace_then_suspend_then_restore_when_the_window_resets() {
    let c = cfg("");
    let key = KeyRef::new(Scope::Principal, ALICE);
    let over = evaluate(&c, &key, &[day(Scope::Principal, ALICE, "12")], NOW);
    let o1 = decide(&over, &KeyState::default(), &HashSet::new(), NOW);
    assert_eq!(
        o1.next.status,
        Status::Pending {
            due_ms: NOW + 60_000
        }
    );
    assert_eq!(o1.decisions.last().unwrap().due_ms, Some(NOW + 60_000));
    let alerted: HashSet<(WindowKey, u32)> = o1
        .decisions
        .iter()
        .filter(|d| d.action == Action::Alert)
        .map(|d| (d.window.clone().unwrap(), d.threshold_pct.unwrap()))
        .collect();
    // before the grace runs out: nothing new, and no alert twice
    let o2 = decide(&over, &o1.next, &alerted, NOW + 59_999);
    assert!(o2.decisions.is_empty(), "{o2:?}");
    assert_eq!(o2.next, o1.next);
    let o3 = decide(&over, &o2.next, &alerted, NOW + 60_000);
    assert_eq!(actions(&o3), vec![("suspend", None)]);
    assert_eq!(o3.next.status, Status::Suspended);
    let s = &o3.decisions[0];
    assert_eq!((s.spend_usd, s.limit_usd), (Some(d("12")), Some(d("10"))));
    // idempotent: still over, already suspended
    assert!(decide(&over, &o3.next, &alerted, NOW + 61_000)
        .decisions
        .is_empty());
    // the next day the day window is not current any more: restore
    let tomorrow = NOW + 86_400_000;
    let next_day = evaluate(&c, &key, &[day(Scope::Principal, ALICE, "12")], tomorrow);
    assert!(!next_day.over());
    let o4 = decide(&next_day, &o3.next, &alerted, tomorrow);
    assert_eq!(actions(&o4), vec![("restore", None)]);
    assert_eq!(o4.next.status, Status::Ok);
    assert!(!o4.next.watched());
}

#[test]
fn back_under_before_the_grace_period_cancels() {
    let c = cfg("");
    let key = KeyRef::new(Scope::Principal, ALICE);
    let over = evaluate(&c, &key, &[day(Scope::Principal, ALICE, "10")], NOW);
    let o1 = decide(&over, &KeyState::default(), &HashSet::new(), NOW);
    // the budget is raised before the grace period ends
    let raised = cfg(
        "[[budget]]\nprincipal = \"arn:aws:iam::111122223333:user/alice\"\ndaily_usd = \"40\"\n",
    );
    let ev = evaluate(
        &raised,
        &key,
        &[day(Scope::Principal, ALICE, "10")],
        NOW + 1000,
    );
    let o2 = decide(&ev, &o1.next, &HashSet::new(), NOW + 1000);
    assert_eq!(
        actions(&o2),
        vec![("cancel", None)],
        "25% of the new limit: no threshold"
    );
    assert_eq!(o2.next.status, Status::Ok);
}

#[test]
fn a_budget_lowered_mid_window_is_caught_by_state_not_edges() {
    let key = KeyRef::new(Scope::Principal, ALICE);
    let totals = [day(Scope::Principal, ALICE, "6")];
    let before = evaluate(&cfg(""), &key, &totals, NOW);
    let o1 = decide(&before, &KeyState::default(), &HashSet::new(), NOW);
    assert_eq!(actions(&o1), vec![("alert", Some(50))]);
    // same spend, no new invocation: the limit drops to 5 with no grace
    let lowered = cfg(
        "[[budget]]\nprincipal = \"arn:aws:iam::111122223333:user/alice\"\ndaily_usd = \"5\"\ngrace_seconds = 0\n",
    );
    let after = evaluate(&lowered, &key, &totals, NOW + 5);
    let alerted = HashSet::from([(totals[0].window.clone(), 50)]);
    let o2 = decide(&after, &o1.next, &alerted, NOW + 5);
    assert_eq!(
        actions(&o2),
        vec![("alert", Some(80)), ("alert", Some(100)), ("suspend", None)]
    );
}

#[test]
fn protected_and_alert_only_keys_are_alerted_never_suspended() {
    let key = KeyRef::new(Scope::Principal, ALICE);
    let totals = [day(Scope::Principal, ALICE, "50")];
    for extra in ["protected = true\n", "mode = \"alert_only\"\n"] {
        let c = cfg(&format!(
            "[[budget]]\nprincipal = \"arn:aws:iam::111122223333:user/alice\"\n{extra}"
        ));
        let ev = evaluate(&c, &key, &totals, NOW);
        let o = decide(&ev, &KeyState::default(), &HashSet::new(), NOW + 3_600_000);
        assert!(
            o.decisions.iter().all(|d| d.action == Action::Alert),
            "{extra}: {o:?}"
        );
        assert_eq!(o.decisions.len(), 3);
        assert_eq!(o.decisions[0].protected, extra.starts_with("protected"));
        // becoming protected while suspended lifts the suspension
        let suspended = KeyState {
            status: Status::Suspended,
            ..KeyState::default()
        };
        let lifted = decide(&ev, &suspended, &HashSet::new(), NOW);
        assert_eq!(lifted.next.status, Status::Ok);
        assert!(lifted.decisions.iter().any(|d| d.action == Action::Restore));
    }
}

#[test]
fn operator_overrides_hold_until_they_expire() {
    let c = cfg(
        "[[budget]]\nprincipal = \"arn:aws:iam::111122223333:user/alice\"\ngrace_seconds = 0\n",
    );
    let key = KeyRef::new(Scope::Principal, ALICE);
    let under = evaluate(&c, &key, &[day(Scope::Principal, ALICE, "1")], NOW);
    let manual = KeyState {
        status: Status::Suspended,
        manual_until_ms: Some(NOW + 1000),
        ..KeyState::default()
    };
    assert!(decide(&under, &manual, &HashSet::new(), NOW)
        .decisions
        .is_empty());
    let expired = decide(&under, &manual, &HashSet::new(), NOW + 1000);
    assert_eq!(actions(&expired), vec![("restore", None)]);
    assert_eq!(expired.next.manual_until_ms, None);
    let over = evaluate(&c, &key, &[day(Scope::Principal, ALICE, "11")], NOW);
    let protected = KeyState {
        protected_until_ms: Some(NOW + 1000),
        ..KeyState::default()
    };
    let o = decide(&over, &protected, &HashSet::new(), NOW);
    assert!(o
        .decisions
        .iter()
        .all(|d| d.action == Action::Alert && d.protected));
    let after = decide(&over, &o.next, &HashSet::new(), NOW + 1000);
    assert!(actions(&after).contains(&("suspend", None)));
}

#[test]
fn a_mode_change_while_suspended_switches_at_once() {
    let key = KeyRef::new(Scope::Principal, ALICE);
    let totals = [day(Scope::Principal, ALICE, "11")];
    let shadow = cfg(
        "[[budget]]\nprincipal = \"arn:aws:iam::111122223333:user/alice\"\nmode = \"shadow\"\n",
    );
    let ev = evaluate(&shadow, &key, &totals, NOW);
    let suspended = KeyState {
        status: Status::Suspended,
        ..KeyState::default()
    };
    let o = decide(&ev, &suspended, &HashSet::new(), NOW);
    let acts: Vec<_> = o
        .decisions
        .iter()
        .filter(|d| d.action != Action::Alert)
        .map(|d| d.action)
        .collect();
    assert_eq!(acts, vec![Action::Restore, Action::WouldSuspend]);
    assert_eq!(o.next.status, Status::ShadowSuspended);
}

#[test]
fn targets_and_documents() {
    assert_eq!(
        target_of(&KeyRef::new(
            Scope::Principal,
            "arn:aws:iam::111122223333:user/dev/alice"
        )),
        Ok(Target::User {
            name: "alice".into(),
            arn: "arn:aws:iam::111122223333:user/dev/alice".into()
        })
    );
    assert_eq!(
        target_of(&KeyRef::new(Scope::Principal, ROLE)),
        Ok(Target::Role {
            name: "DataScience".into(),
            arn: ROLE.into()
        })
    );
    assert_eq!(
        target_of(&KeyRef::new(Scope::Session, BOB)),
        Ok(Target::Session {
            role_name: "DataScience".into(),
            role_arn: ROLE.into(),
            session: "bob@example.com".into()
        })
    );
    assert!(target_of(&KeyRef::new(
        Scope::Principal,
        "arn:aws:iam::111122223333:root"
    ))
    .is_err());
    assert!(target_of(&KeyRef::new(Scope::Team, "ds")).is_err());

    let doc = role_inline_document(
        &["AROA1:b".into(), "AROA1:a".into(), "AROA1:b".into()],
        false,
    )
    .unwrap();
    assert_eq!(
        parse_role_inline(&doc),
        (vec!["AROA1:a".to_string(), "AROA1:b".to_string()], false)
    );
    let whole = role_inline_document(&[], true).unwrap();
    assert_eq!(parse_role_inline(&whole), (vec![], true));
    assert_eq!(role_inline_document(&[], false), None);
    let v: serde_json::Value = serde_json::from_str(&deny_policy_document(
        "arn:aws:iam::1:policy/p",
        Some("arn:aws:iam::1:group/g"),
    ))
    .unwrap();
    let denied: Vec<&str> = v["Statement"][0]["Action"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(denied, DENIED_BEDROCK_ACTIONS);
    assert_eq!(v["Statement"].as_array().unwrap().len(), 5);
    assert_eq!(policy_chars("{ \"a\" :\n\t\"b c\" }"), 10);
}

fn with_fallback(mut t: WindowTotal, fallback: &str) -> WindowTotal {
    t.totals.fallback_usd = d(fallback);
    t
}

#[test]
fn a_key_over_only_through_fallback_prices_is_held_once_per_window_never_suspended() {
    let c = cfg("");
    let key = KeyRef::new(Scope::Principal, ALICE);
    // $12 spent of $10, $5 of it at a fallback price: $7 on known prices
    let totals = [with_fallback(day(Scope::Principal, ALICE, "12"), "5")];
    let ev = evaluate(&c, &key, &totals, NOW);
    assert!(ev.over());
    assert!(ev.deciding().is_none());
    let w = ev.over_only_by_fallback().unwrap();
    assert_eq!((w.fallback_usd, w.over_without_fallback), (d("5"), false));
    let o = decide(&ev, &KeyState::default(), &HashSet::new(), NOW);
    assert_eq!(
        actions(&o),
        vec![
            ("alert", Some(50)),
            ("alert", Some(80)),
            ("alert", Some(100)),
            ("held", None)
        ]
    );
    assert_eq!(o.decisions[3].hold, Some(Hold::Fallback));
    assert_eq!(
        o.next.status,
        Status::Ok,
        "nothing pending, nothing applied"
    );
    let held = o.next.held.clone().unwrap();
    assert_eq!(Held::decode(&held.encode()), Some(held));
    // past the grace period and on every later evaluation: still held, said once
    let all_alerted: HashSet<_> = [50, 80, 100]
        .into_iter()
        .map(|p| (totals[0].window.clone(), p))
        .collect();
    let later = decide(&ev, &o.next, &all_alerted, NOW + 3_600_000);
    assert!(later.decisions.is_empty(), "{later:?}");
    assert_eq!(later.next, o.next);

    // known spend crosses the limit: the usual grace, then suspension, and the hold is gone
    let totals = [with_fallback(day(Scope::Principal, ALICE, "16"), "5")];
    let ev = evaluate(&c, &key, &totals, NOW);
    let o2 = decide(&ev, &o.next, &all_alerted, NOW);
    assert_eq!(actions(&o2), vec![("pending", None)]);
    let o3 = decide(&ev, &o2.next, &all_alerted, NOW + 60_000);
    assert_eq!(actions(&o3), vec![("suspend", None)]);
    assert_eq!(o3.next.held, None);

    // exactly at the limit without the fallback part is over (at 100% is over)
    let ev = evaluate(
        &c,
        &key,
        &[with_fallback(day(Scope::Principal, ALICE, "15"), "5")],
        NOW,
    );
    assert!(ev.deciding().is_some());

    // alert_only and protected keys have nothing to hold
    let a = cfg(&format!(
        "[[budget]]\nprincipal = \"{ALICE}\"\ndaily_usd = \"10\"\nmode = \"alert_only\"\n"
    ));
    let ev = evaluate(&a, &key, &totals[..], NOW);
    let o = decide(&ev, &KeyState::default(), &HashSet::new(), NOW);
    assert!(!actions(&o).contains(&("held", None)), "{o:?}");
}

#[test]
fn only_tagged_or_unexempt_principals_may_be_written() {
    let t = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert!(may_write(Enforceable::All, &[]).is_ok());
    assert!(may_write(Enforceable::All, &t(&[(EXEMPT_TAG, "true")])).is_err());
    assert!(
        may_write(Enforceable::All, &t(&[(EXEMPT_TAG, "True")])).is_ok(),
        "exact"
    );
    assert!(may_write(Enforceable::Tagged, &[]).is_err());
    assert!(may_write(Enforceable::Tagged, &t(&[(ENFORCEABLE_TAG, "true")])).is_ok());
    assert!(may_write(Enforceable::Tagged, &t(&[(ENFORCEABLE_TAG, "yes")])).is_err());
    let both = t(&[(ENFORCEABLE_TAG, "true"), (EXEMPT_TAG, "true")]);
    assert!(
        may_write(Enforceable::Tagged, &both).is_err(),
        "exempt wins"
    );
    assert_eq!(Enforceable::parse("tagged"), Some(Enforceable::Tagged));
    assert_eq!(Enforceable::parse("some"), None);
    assert_eq!(Hold::parse(Hold::Refused.as_str()), Some(Hold::Refused));
}

#[test]
fn only_documents_spendguard_renders_pass_the_self_audit() {
    let ids = vec!["AROAEXAMPLE:s1".to_string()];
    let ours = role_inline_document(&ids, true).unwrap();
    assert!(is_own_role_inline(&ours));
    // the same document re-serialised with other spacing is still ours
    let pretty =
        serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(&ours).unwrap())
            .unwrap();
    assert!(is_own_role_inline(&pretty));
    // a grant, an extra statement, a widened action, or garbage is not
    let grant = ours.replace("\"Deny\"", "\"Allow\"");
    assert!(!is_own_role_inline(&grant));
    let mut v: serde_json::Value = serde_json::from_str(&ours).unwrap();
    v["Statement"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"Effect": "Allow", "Action": "*", "Resource": "*"}));
    assert!(!is_own_role_inline(&v.to_string()));
    assert!(!is_own_role_inline(
        &ours.replace("bedrock:InvokeModel\"", "bedrock:*\"")
    ));
    assert!(!is_own_role_inline("not json"));
}

#[test]
fn going_over_is_said_once_whatever_the_thresholds() {
    let c =
        BudgetConfig::parse("[defaults]\ndaily_usd = \"10\"\nthresholds_pct = [50, 80]\n").unwrap();
    let st = |usd: &str| {
        let t = day(Scope::Principal, ALICE, usd);
        window_status(&c, &t.window, t.totals.cost_usd, Decimal::ZERO).unwrap()
    };
    let at_85 = st("8.5").crossing(0);
    assert_eq!(
        (at_85.fresh, at_85.newly_over, at_85.level),
        (vec![50, 80], false, 80)
    );
    // no threshold left, but over for the first time: said, and 100 recorded
    let over = st("12").crossing(80);
    assert_eq!(
        (over.fresh, over.newly_over, over.level),
        (vec![], true, 100)
    );
    let again = st("15").crossing(100);
    assert_eq!(
        (again.fresh, again.newly_over, again.level),
        (vec![], false, 100)
    );
    // one call from nothing past the limit: both thresholds and the state at once
    let jump = st("30").crossing(0);
    assert_eq!(
        (jump.fresh, jump.newly_over, jump.level),
        (vec![50, 80], true, 100)
    );
}
