//! `spendguard simulate` through the built binary on a generated lake: the observed figures are
//! the ledger's (a differential test against `run --ledger` on the same logs), the counterfactual
//! spend is the observed spend less what the denies stopped, suspensions are restored at local
//! midnight, and bad input (a budgets file that does not parse, an empty period, a missing lake,
//! a missing day) is said plainly.
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::HashMap;

use crate::util::{bin, gen_logs, ok, Tmp};

const BUDGETS: &str = r#"timezone = "America/Chicago"
[defaults]
daily_usd = "1"
monthly_usd = "40"
grace_seconds = 120

[[budget]]
principal = "arn:aws:iam::*:user/*"
mode = "shadow"

[[team]]
name = "data-science"
members = ["arn:aws:sts::*:assumed-role/DataScience/*"]
daily_usd = "2"
"#;

fn dec(v: &Value) -> Decimal {
    v.as_str().unwrap().parse().unwrap()
}

fn simulate(args: &[&str]) -> std::process::Output {
    bin().arg("simulate").args(args).output().unwrap()
}

#[test]
fn observed_figures_are_the_ledgers_and_the_counterfactual_subtracts_what_was_stopped() {
    let t = Tmp::new("simulate");
    let logs = gen_logs(&t, 4000, 3);
    let b = t.0.join("b.toml");
    std::fs::write(&b, BUDGETS).unwrap();
    let (lake, db) = (t.0.join("lake"), t.0.join("l.db"));
    let run: Value = serde_json::from_str(&ok(bin()
        .args(["run", "--json", "--input"])
        .arg(&logs)
        .arg("--lake")
        .arg(&lake)
        .arg("--ledger")
        .arg(&db)
        .arg("--budgets")
        .arg(&b)))
    .unwrap();
    let out = ok(bin()
        .args(["simulate", "--format", "json", "--lake"])
        .arg(&lake)
        .arg("--budgets")
        .arg(&b));
    let sim: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(sim["invocations"], 4000);
    assert_eq!(sim["timezone"], "America/Chicago");
    // 2026-11-20T00:00Z is the 19th in Chicago
    assert_eq!(sim["from"], "2026-11-19");
    assert_eq!(sim["days_without_data"], serde_json::json!([]));
    let runs = sim["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let (obs, cf) = (&runs[0]["observed"], &runs[0]["counterfactual"]);
    assert_eq!(dec(&obs["spend_usd"]), dec(&run["cost_usd"]));

    // the ledger's day windows, per key
    let ws: Vec<Value> =
        serde_json::from_str(&ok(bin().args(["ledger", "--json", "--ledger"]).arg(&db))).unwrap();
    let mut days: HashMap<(String, String), Vec<Decimal>> = HashMap::new();
    for w in ws.iter().filter(|w| w["window"] == "day") {
        days.entry((
            w["scope"].as_str().unwrap().into(),
            w["key"].as_str().unwrap().into(),
        ))
        .or_default()
        .push(dec(&w["spend_usd"]));
    }
    let keys = obs["keys"].as_array().unwrap();
    assert!(keys.len() > 10, "{}", keys.len());
    let mut compared = 0;
    for k in keys {
        let id = (
            k["scope"].as_str().unwrap().to_string(),
            k["key"].as_str().unwrap().to_string(),
        );
        let ledger_days = &days[&id];
        let spend: Decimal = ledger_days.iter().sum();
        assert_eq!(dec(&k["spend_usd"]), spend, "{id:?}");
        if let Some(limit) = k["daily_limit_usd"].as_str() {
            let limit: Decimal = limit.parse().unwrap();
            let peak = ledger_days.iter().max().unwrap() * Decimal::ONE_HUNDRED / limit;
            assert_eq!(dec(&k["peak_day_pct"]), peak.round_dp(2), "{id:?}");
            compared += 1;
        }
    }
    assert!(compared > 10);

    // something was suspended and lifted at a Chicago midnight (06:00Z in November)
    let ds = obs["decisions"].as_array().unwrap();
    let at = |d: &Value| d["at"].as_str().unwrap().to_string();
    assert!(ds.windows(2).all(|w| at(&w[0]) <= at(&w[1])), "time order");
    let suspended = ds
        .iter()
        .find(|d| d["action"] == "suspend" && d["scope"] == "principal")
        .expect("a suspension");
    let restored = ds
        .iter()
        .find(|d| {
            d["action"] == "restore"
                && d["principal"] == suspended["principal"]
                && at(d) > at(suspended)
        })
        .expect("its restore");
    assert!(at(restored).ends_with("T06:00:00Z"), "{restored}");
    // users are in shadow mode: would_suspend, never suspend
    assert!(ds.iter().any(|d| d["action"] == "would_suspend"));
    assert!(!ds
        .iter()
        .any(|d| d["action"] == "suspend" && d["principal"].as_str().unwrap().contains(":user/")));

    // counterfactual: what the denies stopped did not happen
    let stopped: Decimal = dec(&cf["stopped_usd"]);
    assert!(stopped > Decimal::ZERO);
    assert!(dec(&obs["stopped_usd"]) > Decimal::ZERO);
    let cf_spend_by_principal: Decimal = cf["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["scope"] == "principal")
        .map(|k| dec(&k["spend_usd"]))
        .sum();
    assert_eq!(dec(&cf["spend_usd"]), dec(&obs["spend_usd"]) - stopped);
    assert!(cf_spend_by_principal <= dec(&cf["spend_usd"]));

    // the same through the table and CSV
    let table = ok(bin()
        .args(["simulate", "--lake"])
        .arg(&lake)
        .arg("--budgets")
        .arg(&b));
    assert!(
        table.contains("observed (the logs, as the ledger counts them)"),
        "{table}"
    );
    assert!(
        table.contains("counterfactual (with these budgets in force)"),
        "{table}"
    );
    let csv = ok(bin()
        .args(["simulate", "--format", "csv", "--lake"])
        .arg(&lake)
        .arg("--budgets")
        .arg(&b));
    assert_eq!(csv.lines().count(), keys.len() + 1);

    // --compare: a looser file stops less
    let loose = t.0.join("loose.toml");
    std::fs::write(
        &loose,
        "timezone = \"America/Chicago\"\n[defaults]\ndaily_usd = \"50\"\n",
    )
    .unwrap();
    let both: Value = serde_json::from_str(&ok(bin()
        .args(["simulate", "--format", "json", "--lake"])
        .arg(&lake)
        .arg("--budgets")
        .arg(&b)
        .arg("--compare")
        .arg(&loose)))
    .unwrap();
    let runs = both["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["observed"], *obs);
    assert!(dec(&runs[1]["observed"]["stopped_usd"]) < dec(&obs["stopped_usd"]));

    // --from inside the month: the earlier days count towards the month windows, the period
    // holds only the later days
    let later: Value = serde_json::from_str(&ok(bin()
        .args([
            "simulate",
            "--format",
            "json",
            "--from",
            "2026-11-21",
            "--lake",
        ])
        .arg(&lake)
        .arg("--budgets")
        .arg(&b)))
    .unwrap();
    let n = later["invocations"].as_u64().unwrap();
    assert!(n > 0 && n < 4000);
    assert_eq!(n + later["loaded_before_from"].as_u64().unwrap(), 4000);

    // a day missing from the lake is listed, not read as zero spend
    let gap = t.0.join("gap");
    std::fs::rename(&lake, &gap).unwrap();
    std::fs::remove_dir_all(gap.join("dt=2026-11-21")).unwrap();
    let utc = t.0.join("utc.toml");
    std::fs::write(&utc, "[defaults]\ndaily_usd = \"50\"\n").unwrap();
    let holey: Value = serde_json::from_str(&ok(bin()
        .args(["simulate", "--format", "json", "--lake"])
        .arg(&gap)
        .arg("--budgets")
        .arg(&utc)))
    .unwrap();
    let missing = holey["days_without_data"].as_array().unwrap();
    assert_eq!(missing, &[Value::from("2026-11-21")]);
}

#[test]
fn bad_input_is_said_plainly() {
    let t = Tmp::new("simulate-bad");
    let logs = gen_logs(&t, 200, 1);
    let lake = t.0.join("lake");
    ok(bin()
        .args(["run", "--input"])
        .arg(&logs)
        .arg("--lake")
        .arg(&lake));
    let bad = t.0.join("bad.toml");
    std::fs::write(&bad, "[defaults]\ngrace_seconds = 60\ndaily_usd = 5\n").unwrap();
    let o = simulate(&[
        "--lake",
        lake.to_str().unwrap(),
        "--budgets",
        bad.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("line 3"), "{err}");

    let good = t.0.join("good.toml");
    std::fs::write(&good, "[defaults]\ndaily_usd = \"5\"\n").unwrap();
    let o = simulate(&[
        "--lake",
        lake.to_str().unwrap(),
        "--budgets",
        good.to_str().unwrap(),
        "--from",
        "2027-01-01",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("no invocations"), "{err}");

    let o = simulate(&[
        "--lake",
        t.0.join("nowhere").to_str().unwrap(),
        "--budgets",
        good.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not exist"));

    let o = simulate(&[
        "--lake",
        lake.to_str().unwrap(),
        "--budgets",
        good.to_str().unwrap(),
        "--from",
        "2026-11-22",
        "--to",
        "2026-11-20",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("before --from"));
}
