//! Teams through the engine and the evaluator on in-memory ports: a team over its limit enforces
//! its members (the sweep runs once, when the team's enforcement starts), and a member who starts
//! spending afterwards is flagged by the evaluator with the team's name.
use serde_json::{json, Value};
use spendguard_core::budget::Scope;
use spendguard_core::clock::FixedClock;
use spendguard_core::enforce::{parse_role_inline, ROLE_INLINE_POLICY};
use spendguard_core::window::{WindowKey, WindowKind};
use spendguard_enforcer::evaluator::stream_record;
use spendguard_enforcer::memory::*;
use std::sync::Arc;

// 2026-11-22T10:00:00Z
const NOW: i64 = 1_795_341_600_000;
const BUDGETS: &str = "[defaults]\ngrace_seconds = 0\n[[team]]\nname = \"ds\"\n\
    members = [\"arn:aws:sts::123456789012:assumed-role/DS/*\"]\ndaily_usd = \"10\"\n";

fn day(scope: Scope, key: &str) -> WindowKey {
    WindowKey {
        scope,
        key: key.into(),
        kind: WindowKind::Day,
        start: "2026-11-22".into(),
    }
}

/// The ports with role DS (id AROADS) in IAM.
fn ports() -> MemPorts {
    let ports = MemPorts::new();
    ports.iam.roles.lock().unwrap().insert(
        "DS".into(),
        Principal {
            id: "AROADS".into(),
            ..Principal::default()
        },
    );
    ports
}

fn session(name: &str) -> String {
    format!("arn:aws:sts::123456789012:assumed-role/DS/{name}")
}

#[tokio::test]
async fn a_team_over_budget_suspends_its_members_once_and_flags_late_spenders() {
    let ports = ports();
    let app = ports.app(BUDGETS, Arc::new(FixedClock(NOW)));
    let (iam, windows, bus) = (&ports.iam, &ports.windows, &ports.bus);
    for (who, usd) in [("bob", "7"), ("carol", "5")] {
        windows.set(day(Scope::Session, &session(who)), usd.parse().unwrap());
    }
    windows.set(day(Scope::Team, "ds"), "12".parse().unwrap());
    let team = json!({"detail-type": "Budget State Changed", "source": "spendguard",
                      "detail": {"scope": "team", "key": "ds", "state": "over", "window": "day",
                                 "window_start": "2026-11-22", "spend_usd": "12", "limit_usd": "10",
                                 "mode": "enforce", "at": "2026-11-22T10:00:00Z"}});
    let out = app.enforce_event(&team).await.unwrap();
    let suspended: Vec<&str> = out["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["action"] == "suspend" && d["scope"] == "session")
        .map(|d| d["principal"].as_str().unwrap())
        .collect();
    assert_eq!(suspended, [session("bob"), session("carol")], "{out}");
    let doc = iam.roles.lock().unwrap()["DS"].inline[ROLE_INLINE_POLICY].clone();
    assert_eq!(
        parse_role_inline(&doc).0,
        vec!["AROADS:bob".to_string(), "AROADS:carol".to_string()]
    );
    // the same event again: no sweep, nothing new
    let again = app.enforce_event(&team).await.unwrap();
    assert_eq!(again["decisions"], json!([]), "{again}");

    // dave starts spending after the team went over: the evaluator flags him by the team
    let dave = day(Scope::Session, &session("dave"));
    windows.set(dave.clone(), "0.5".parse().unwrap());
    let total = windows.of_key_now(&dave);
    let resp = app
        .evaluate_stream(&json!({"Records": [stream_record(&total, "1")]}))
        .await
        .unwrap();
    assert!(resp.batch_item_failures.is_empty());
    let events: Vec<Value> = bus
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|e| serde_json::from_str(&e.detail).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["team"], "ds");
    assert_eq!(events[0]["key"], json!(session("dave")));
    let ev =
        json!({"detail-type": "Budget State Changed", "source": "spendguard", "detail": events[0]});
    let out = app.enforce_event(&ev).await.unwrap();
    assert!(
        out["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["action"] == "suspend"),
        "{out}"
    );
    let doc = iam.roles.lock().unwrap()["DS"].inline[ROLE_INLINE_POLICY].clone();
    assert!(parse_role_inline(&doc)
        .0
        .contains(&"AROADS:dave".to_string()));
}

#[tokio::test]
async fn a_team_suspension_counts_once_towards_the_circuit_breaker() {
    let ports = ports();
    // a breaker of 3: a team of 25 members over is still one suspension decision
    let budgets = format!("{BUDGETS}[breaker]\nmax_suspensions = 3\n");
    let app = ports.app(budgets, Arc::new(FixedClock(NOW)));
    let (windows, topic) = (&ports.windows, &ports.topic);
    for i in 0..25 {
        windows.set(
            day(Scope::Session, &session(&format!("m{i:02}"))),
            "0.5".parse().unwrap(),
        );
    }
    windows.set(day(Scope::Team, "ds"), "12.5".parse().unwrap());
    let team = json!({"detail-type": "Budget State Changed", "source": "spendguard",
                      "detail": {"scope": "team", "key": "ds", "state": "over", "window": "day",
                                 "window_start": "2026-11-22", "spend_usd": "12.5", "limit_usd": "10",
                                 "mode": "enforce", "at": "2026-11-22T10:00:00Z"}});
    let out = app.enforce_event(&team).await.unwrap();
    let suspended = out["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["action"] == "suspend" && d["scope"] == "session")
        .count();
    assert_eq!(suspended, 25, "{out}");
    assert_eq!(out["breaker_opened"], false);
    let b = app.store.breaker().await.unwrap();
    assert!(b.open.is_none());
    // counted: the team alone (a probe key makes two)
    let probe = spendguard_core::enforce::KeyRef::new(Scope::Principal, "probe");
    let mut counted = app
        .store
        .count_suspension(b.epoch, &probe, NOW, 600_000)
        .await
        .unwrap();
    counted.sort();
    assert_eq!(counted, ["principal#probe", "team#ds"]);
    assert!(topic
        .0
        .lock()
        .unwrap()
        .iter()
        .all(|(s, _)| !s.contains("CIRCUIT BREAKER")));
}
