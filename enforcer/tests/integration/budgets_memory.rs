//! A stored budgets document that does not parse, through the evaluator and the enforcer on
//! in-memory ports: both keep the budgets in force (the aggregator's rule too, tested against
//! moto in its own crate), log the refusal and emit `BudgetsDocumentRefused` every time they read
//! the bad version; on a cold start the deployment's `SPENDGUARD_BUDGETS` stands in.
use serde_json::{json, Value};
use spendguard_aws::log::Captured;
use spendguard_core::budget::Scope;
use spendguard_core::clock::FixedClock;
use spendguard_core::window::{WindowKey, WindowKind};
use spendguard_enforcer::evaluator::stream_record;
use spendguard_enforcer::memory::*;
use spendguard_enforcer::App;
use std::sync::Arc;

// 2026-11-22T10:00:00Z
const NOW: i64 = 1_795_341_600_000;
const ALICE: &str = "arn:aws:iam::123456789012:user/alice";

fn app(fallback: &str) -> (App, Captured, MemWindows) {
    let logs = spendguard_aws::log::capture();
    let ports = MemPorts::new();
    ports
        .iam
        .users
        .lock()
        .unwrap()
        .insert("alice".into(), Principal::default());
    let app = ports.app(fallback, Arc::new(FixedClock(NOW)));
    (app, logs, ports.windows)
}

fn refusals(logs: &Captured) -> usize {
    logs.metric("BudgetsDocumentRefused")
        .iter()
        .filter(|&&n| n == 1)
        .count()
}

const BAD: &str = "[defaults]\ndaily_usd = \"1\"\nfield_from_a_newer_cli = true\n";

#[tokio::test]
async fn a_refused_document_keeps_the_budgets_in_force_in_the_evaluator_and_the_enforcer() {
    let (app, logs, windows) = app("");
    app.store
        .put_budgets("[defaults]\ndaily_usd = \"10\"\ngrace_seconds = 0\n")
        .await
        .unwrap();
    assert_eq!(app.budgets().await.unwrap().0, 1);
    app.store.put_budgets(BAD).await.unwrap();

    // the enforcer: a key at $12 of the $10 in force is suspended, not an error
    let w = WindowKey {
        scope: Scope::Principal,
        key: ALICE.into(),
        kind: WindowKind::Day,
        start: "2026-11-22".into(),
    };
    windows.set(w.clone(), "12".parse().unwrap());
    let ev = json!({"detail-type": "Budget State Changed", "source": "spendguard",
                    "detail": {"scope": "principal", "key": ALICE}});
    let out = app.enforce_event(&ev).await.unwrap();
    assert!(
        out["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["action"] == "suspend" && d["limit_usd"] == "10"),
        "{out}"
    );
    // the evaluator: the window is evaluated against $10, not refused
    let resp = app
        .evaluate_stream(&json!({"Records": [stream_record(&windows.of_key_now(&w), "1")]}))
        .await
        .unwrap();
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(
        app.budgets().await.unwrap().0,
        1,
        "version 1 stays in force"
    );
    // said every time the bad version was read: the two handlers and the call above
    assert_eq!(refusals(&logs), 3);
    assert!(logs.lines().iter().any(|l| l
        .contains("does not parse; keeping the budgets in force")
        && l.contains("line 3")));

    // a good version after it is taken at once
    app.store
        .put_budgets("[defaults]\ndaily_usd = \"20\"\n")
        .await
        .unwrap();
    assert_eq!(app.budgets().await.unwrap().0, 3);
    assert_eq!(refusals(&logs), 3);
}

#[tokio::test]
async fn a_cold_start_on_a_refused_document_uses_the_deployments_budgets() {
    let (cold, logs, _) = app("[defaults]\ndaily_usd = \"7\"\n");
    cold.store.put_budgets(BAD).await.unwrap();
    let (version, cfg) = cold.budgets().await.unwrap();
    assert_eq!(
        (version, cfg.defaults.daily_usd),
        (0, Some("7".parse().unwrap()))
    );
    assert_eq!(refusals(&logs), 1);

    // with nothing to stand in, the call fails (and says why)
    let (broken, _, _) = app("not toml [");
    broken.store.put_budgets(BAD).await.unwrap();
    let e = broken.budgets().await.unwrap_err().to_string();
    assert!(
        e.contains("SPENDGUARD_BUDGETS does not parse either"),
        "{e}"
    );
}

#[tokio::test]
async fn every_log_line_is_json_with_level_and_message() {
    // a malformed event whose error text holds quotes, an unknown event, a refused document
    let (app, logs, _) = app("");
    app.store.put_budgets(BAD).await.unwrap();
    let _ = app
        .evaluate_stream(&json!({"Records": "a \"quoted\" string"}))
        .await;
    let _ = app
        .enforce_event(&json!({"detail-type": "Something \"else\"", "source": "x"}))
        .await;
    let lines = logs.lines();
    assert!(lines.len() >= 4, "{lines:?}");
    for l in &lines {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        if v.get("_aws").is_some() {
            continue; // an EMF metrics line
        }
        assert!(
            ["ERROR", "WARN", "INFO"].contains(&v["level"].as_str().unwrap_or("")),
            "{l}"
        );
        assert!(v["message"].is_string(), "{l}");
        assert!(v["timestamp"].is_string(), "{l}");
    }
}
