//! The embedded ledger through the built binary: `run --ledger` counts every invocation once
//! (re-runs add nothing), `ledger --json` adds up to the run's exact total in each scope, team
//! windows follow `--budgets`, `report --by team`, config errors name their line, and `redrive`
//! re-applies an S3 on-failure record exactly once (locally here; on DynamoDB it shares the
//! aggregator's tested path).
use base64::Engine;
use rust_decimal::Decimal;
use serde_json::Value;
use std::path::PathBuf;

use crate::util::{bin, gen_logs, ok, Tmp};

const BUDGETS: &str = r#"timezone = "America/Los_Angeles"
[[team]]
name = "data-science"
members = ["arn:aws:sts::*:assumed-role/DataScience/*"]
"#;

fn sum(ws: &[Value], scope: &str, window: &str) -> (Decimal, u64) {
    ws.iter()
        .filter(|w| w["scope"] == scope && w["window"] == window)
        .fold((Decimal::ZERO, 0), |(c, n), w| {
            (
                c + w["spend_usd"].as_str().unwrap().parse::<Decimal>().unwrap(),
                n + w["invocations"].as_u64().unwrap(),
            )
        })
}

#[test]
fn run_counts_each_invocation_once_per_window() {
    let t = Tmp::new("ledger-run");
    let logs = gen_logs(&t, 2500, 2);
    std::fs::write(t.0.join("b.toml"), BUDGETS).unwrap();
    let db = t.0.join("l.db");
    let run = |extra: &[&str]| -> Value {
        let mut c = bin();
        c.args(["run", "--json", "--input"])
            .arg(&logs)
            .arg("--ledger")
            .arg(&db)
            .arg("--budgets")
            .arg(t.0.join("b.toml"))
            .args(extra);
        serde_json::from_str(&ok(&mut c)).unwrap()
    };
    let first = run(&[]);
    assert_eq!(first["invocations"], 2500);
    assert_eq!(first["ledger"]["applied"], 2500);
    // the same files again, plus a second copy of one of them: nothing is counted twice
    let one = std::fs::read_dir(&logs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let again = run(&["--input", one.to_str().unwrap()]);
    assert_eq!(again["ledger"]["applied"], 0);
    assert_eq!(again["ledger"]["already_counted"], 2500);

    let ws: Vec<Value> =
        serde_json::from_str(&ok(bin().args(["ledger", "--json", "--ledger"]).arg(&db))).unwrap();
    let total: Decimal = first["cost_usd"].as_str().unwrap().parse().unwrap();
    assert!(total > Decimal::ZERO);
    // every invocation is in exactly one principal day window and one principal month window
    assert_eq!(sum(&ws, "principal", "day"), (total, 2500));
    assert_eq!(sum(&ws, "principal", "month"), (total, 2500));
    // days follow the config's zone: 2026-11-20T00:00Z is still the 19th in Los Angeles
    assert!(ws
        .iter()
        .any(|w| w["window"] == "day" && w["window_start"] == "2026-11-19"));
    // sessions are the assumed-role part of the traffic; the team is a subset of it
    let (sessions, n_sessions) = sum(&ws, "session", "month");
    let (team, n_team) = sum(&ws, "team", "month");
    assert!(n_sessions > 0 && n_sessions < 2500 && sessions < total);
    assert!(n_team > 0 && n_team < n_sessions && team < sessions);
    for w in &ws {
        assert!(["principal", "session", "team"].contains(&w["scope"].as_str().unwrap()));
        assert!(w["spend_usd"].as_str().unwrap().parse::<Decimal>().is_ok());
    }
    // --key and --window filter
    let only: Vec<Value> = serde_json::from_str(&ok(bin()
        .args([
            "ledger",
            "--json",
            "--key",
            "data-science",
            "--window",
            "month",
            "--ledger",
        ])
        .arg(&db)))
    .unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(sum(&only, "team", "month"), (team, n_team));

    // the lake's team report agrees with the ledger's team windows
    let lake = t.0.join("lake");
    ok(bin()
        .args(["run", "--input"])
        .arg(&logs)
        .arg("--lake")
        .arg(&lake));
    let r: Value = serde_json::from_str(&ok(bin()
        .args(["report", "--by", "team", "--format", "json", "--lake"])
        .arg(&lake)
        .arg("--budgets")
        .arg(t.0.join("b.toml"))))
    .unwrap();
    let ds = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == "data-science")
        .unwrap();
    assert_eq!(
        ds["cost_usd"].as_str().unwrap().parse::<Decimal>().unwrap(),
        team
    );
    assert_eq!(ds["invocations"], n_team);
    let rest = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == "(no team)")
        .unwrap();
    assert_eq!(rest["invocations"].as_u64().unwrap() + n_team, 2500);
}

#[test]
fn config_errors_name_the_line_and_team_reports_need_budgets() {
    let t = Tmp::new("ledger-bad");
    std::fs::write(
        t.0.join("bad.toml"),
        "timezone = \"UTC\"\n[defaults]\ndaily_usd = 5\n",
    )
    .unwrap();
    let out = bin()
        .args(["run", "--input"])
        .arg(&t.0)
        .arg("--ledger")
        .arg(t.0.join("l.db"))
        .arg("--budgets")
        .arg(t.0.join("bad.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml") && err.contains("line 3"), "{err}");
    let out = bin()
        .args(["report", "--by", "team", "--lake"])
        .arg(&t.0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--budgets"));
    let out = bin()
        .args(["ledger", "--ledger"])
        .arg(t.0.join("none.db"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no ledger here"));
}

#[test]
fn redrive_reapplies_an_on_failure_record_exactly_once() {
    let t = Tmp::new("ledger-redrive");
    let logs = t.0.join("logs");
    ok(bin()
        .args(["gen", "--invocations", "300", "--out"])
        .arg(&logs));
    // an S3 on-failure record: metadata plus the invocation's payload (the Kinesis event)
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut records = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for (i, f) in files.iter().enumerate() {
        let data = std::fs::read(f).unwrap();
        records.push(
            serde_json::json!({"kinesis": {"data": b64.encode(&data), "partitionKey": "k",
            "sequenceNumber": format!("4959033827149025660855969253836157109592157598913{i:07}")}}),
        );
    }
    let payload = serde_json::json!({"Records": records}).to_string();
    let failure = serde_json::json!({
        "requestContext": {"requestId": "r", "functionArn": "arn:aws:lambda:us-east-1:111122223333:function:agg",
                           "condition": "RetryAttemptsExhausted", "approximateInvokeCount": 4},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0", "timestamp": "2026-11-21T00:00:00.000Z",
        "KinesisBatchInfo": {"shardId": "shardId-000000000000", "batchSize": files.len(),
                             "streamArn": "arn:aws:kinesis:us-east-1:111122223333:stream/logs"},
        "payload": payload,
    });
    let dir = t.0.join("failures");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.json"), failure.to_string()).unwrap();
    let db = t.0.join("l.db");
    let redrive = || -> Value {
        serde_json::from_str(&ok(bin()
            .args(["redrive", "--input"])
            .arg(&dir)
            .arg("--ledger")
            .arg(&db)))
        .unwrap()
    };
    let r = redrive();
    assert_eq!(r["invocations"], 300);
    assert_eq!(r["applied"], 300);
    let r = redrive();
    assert_eq!(
        (r["applied"].as_u64(), r["already_counted"].as_u64()),
        (Some(0), Some(300))
    );
    // the same invocations through `run` are already counted too
    let v: Value = serde_json::from_str(&ok(bin()
        .args(["run", "--json", "--input"])
        .arg(&logs)
        .arg("--ledger")
        .arg(&db)))
    .unwrap();
    assert_eq!(v["ledger"]["applied"], 0);
    // a metadata-only record (SQS/SNS destination) cannot be redriven: said plainly
    let mut meta = failure.clone();
    meta.as_object_mut().unwrap().remove("payload");
    std::fs::write(dir.join("b.json"), meta.to_string()).unwrap();
    let out = bin()
        .args(["redrive", "--input"])
        .arg(dir.join("b.json"))
        .arg("--ledger")
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only metadata"));
}

#[test]
fn run_reports_budget_decisions_and_records_them_in_the_ledger_file() {
    let t = Tmp::new("ledger-decisions");
    let logs = gen_logs(&t, 1500, 1);
    // a tiny default budget: the top spenders go over; one protected, teams in shadow
    std::fs::write(
        t.0.join("b.toml"),
        "[defaults]\ndaily_usd = \"0.05\"\nmonthly_usd = \"1000\"\ngrace_seconds = 0\n\
         [[budget]]\nprincipal = \"arn:aws:iam::*:user/*\"\nprotected = true\ndaily_usd = \"0.05\"\n",
    )
    .unwrap();
    let db = t.0.join("l.db");
    let run = || -> Value {
        let mut c = bin();
        c.args(["run", "--json", "--input"])
            .arg(&logs)
            .arg("--ledger")
            .arg(&db)
            .arg("--budgets")
            .arg(t.0.join("b.toml"));
        serde_json::from_str(&ok(&mut c)).unwrap()
    };
    let first = run();
    let ds = first["decisions"].as_array().unwrap();
    assert!(!ds.is_empty(), "{first}");
    for d in ds {
        for k in [
            "principal",
            "scope",
            "window",
            "window_start",
            "threshold_pct",
            "spend_usd",
            "limit_usd",
            "action",
            "protected",
        ] {
            assert!(d.get(k).is_some(), "{k} missing in {d}");
        }
        let action = d["action"].as_str().unwrap();
        assert!(
            [
                "alert",
                "suspend",
                "would_suspend",
                "restore",
                "pending",
                "held",
                "cancel"
            ]
            .contains(&action),
            "{d}"
        );
        if action == "suspend" {
            // only roles and sessions: every user is protected
            assert!(!d["principal"].as_str().unwrap().contains(":user/"), "{d}");
            let spend: Decimal = d["spend_usd"].as_str().unwrap().parse().unwrap();
            let limit: Decimal = d["limit_usd"].as_str().unwrap().parse().unwrap();
            assert!(spend >= limit, "{d}");
        }
        if action == "alert" {
            let spend: Decimal = d["spend_usd"].as_str().unwrap().parse().unwrap();
            let limit: Decimal = d["limit_usd"].as_str().unwrap().parse().unwrap();
            let pct = Decimal::from(d["threshold_pct"].as_u64().unwrap());
            assert!(spend * Decimal::ONE_HUNDRED >= limit * pct, "{d}");
        }
    }
    assert!(ds.iter().any(|d| d["action"] == "suspend"), "{ds:#?}");
    assert!(ds
        .iter()
        .any(|d| d["action"] == "alert" && d["protected"] == true));
    // alerts are once per window and threshold, suspensions once per key
    let mut seen = std::collections::HashSet::new();
    for d in ds.iter().filter(|d| d["action"] == "alert") {
        assert!(
            seen.insert((
                d["principal"].to_string(),
                d["window"].to_string(),
                d["window_start"].to_string(),
                d["threshold_pct"].to_string()
            )),
            "{d}"
        );
    }
    // the state is in the ledger file: the same input again decides nothing new
    let again = run();
    assert_eq!(again["decisions"], serde_json::json!([]), "{again}");
}

#[test]
fn run_decides_in_time_order_across_days_and_split_runs_decide_the_same() {
    // three days in Chicago with a $1 day limit: a key goes over on the first day, is
    // suspended after the grace, restored at local midnight (06:00Z), and over again later
    let t = Tmp::new("ledger-timeline");
    let logs = gen_logs(&t, 4000, 3);
    let b = t.0.join("b.toml");
    std::fs::write(
        &b,
        "timezone = \"America/Chicago\"\n[defaults]\ndaily_usd = \"1\"\nmonthly_usd = \"40\"\n\
         grace_seconds = 120\n",
    )
    .unwrap();
    let run = |inputs: &[&std::path::Path], db: &std::path::Path| -> Value {
        let mut c = bin();
        c.args(["run", "--json"]);
        for i in inputs {
            c.arg("--input").arg(i);
        }
        c.arg("--ledger").arg(db).arg("--budgets").arg(&b);
        serde_json::from_str(&ok(&mut c)).unwrap()
    };
    let whole = run(&[&logs], &t.0.join("one.db"));
    let ds = whole["decisions"].as_array().unwrap();
    let at = |d: &Value| d["at"].as_str().unwrap().to_string();
    let suspend = ds
        .iter()
        .find(|d| d["action"] == "suspend")
        .expect("a suspension");
    let pending = ds
        .iter()
        .find(|d| d["action"] == "pending" && d["principal"] == suspend["principal"])
        .unwrap();
    // the suspension comes 120 s after the crossing, on the logs' clock
    let ms =
        |d: &Value| spendguard_schemas::time::parse_rfc3339_ms(d["at"].as_str().unwrap()).unwrap();
    assert_eq!(ms(suspend) - ms(pending), 120_000);
    let restore = ds
        .iter()
        .find(|d| d["action"] == "restore" && d["principal"] == suspend["principal"])
        .expect("the restore of a past suspension");
    assert!(at(restore) > at(suspend));
    assert!(at(restore).ends_with("T06:00:00Z"), "{restore}");
    assert!(
        at(restore).as_str() < whole["ledger"]["decided_at"].as_str().unwrap(),
        "restored before the end of the input"
    );

    // the same logs in two runs (the files are in time order): the same decisions at the same
    // times, the second run picking up the first one's state from the ledger file
    let mut files: Vec<_> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let (first, second) = files.split_at(files.len() / 2);
    let (da, db_) = (t.0.join("a"), t.0.join("b"));
    for (dir, part) in [(&da, first), (&db_, second)] {
        std::fs::create_dir_all(dir).unwrap();
        for f in part {
            std::fs::copy(f, dir.join(f.file_name().unwrap())).unwrap();
        }
    }
    let split = t.0.join("split.db");
    let a = run(&[&da], &split);
    let b2 = run(&[&db_], &split);
    let key = |d: &Value| {
        format!(
            "{} {} {} {} {} {}",
            d["at"], d["scope"], d["principal"], d["action"], d["window_start"], d["threshold_pct"]
        )
    };
    let mut one: Vec<String> = ds.iter().map(key).collect();
    let mut two: Vec<String> = a["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .chain(b2["decisions"].as_array().unwrap())
        .map(key)
        .collect();
    one.sort();
    two.sort();
    assert!(!a["decisions"].as_array().unwrap().is_empty());
    assert_eq!(one, two);
    // the spill is gone
    let left: Vec<_> = std::fs::read_dir(&t.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.contains("spill"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
