//! The enforcement commands through the built binary against moto: `budgets push|show`,
//! `suspend`, `status`, `restore` and `protect` act on IAM and the enforcement table exactly as
//! the enforcer Lambda does (audited, alerted); `status --ledger` reads a local run.
use serde_json::Value;
use spendguard_enforcer::testkit::{emulator, sqs_drain, stack, unique, user_snapshot, MOTO_VAR};

use crate::util::{bin, gen_logs, ok, Tmp};

#[tokio::test]
async fn operators_suspend_restore_and_protect_on_aws() {
    let Some(moto) = emulator(MOTO_VAR) else {
        return;
    };
    let (conf, s) = stack(&moto).await;
    let iam = aws_sdk_iam::Client::new(&conf);
    let name = unique("ops");
    iam.create_user().user_name(&name).send().await.unwrap();
    let user = format!("arn:aws:iam::123456789012:user/{name}");
    let before = user_snapshot(&iam, &name).await;
    let t = Tmp::new("enforce-cli");
    let cmd = |args: &[&str]| -> String {
        let mut c = bin();
        c.args(args)
            .args(["--endpoint-url", &moto, "--ledger-table", &s.ledger_table])
            .args(["--enforcement-table", &s.enforcement_table])
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("SPENDGUARD_DENY_POLICY_ARN", &s.settings.deny_policy_arn)
            .env("SPENDGUARD_ALERT_TOPIC_ARN", &s.topic_arn)
            .env_remove("SPENDGUARD_BUDGETS");
        ok(&mut c)
    };

    // a bad document is refused before anything is stored
    std::fs::write(t.0.join("bad.toml"), "[defaults]\ndaily_usd = \"ten\"\n").unwrap();
    let mut bad = bin();
    bad.args(["budgets", "push"]).arg(t.0.join("bad.toml"));
    let out = bad.output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 2"),
        "{out:?}"
    );
    let doc = format!(
        "[defaults]\ndaily_usd = \"10\"\n[[budget]]\nprincipal = \"{user}\"\ndaily_usd = \"3\"\n"
    );
    std::fs::write(t.0.join("b.toml"), &doc).unwrap();
    let pushed: Value = serde_json::from_str(&cmd(&[
        "budgets",
        "push",
        t.0.join("b.toml").to_str().unwrap(),
    ]))
    .unwrap();
    assert_eq!(pushed["version"], 1);
    let mut show = bin();
    show.args([
        "budgets",
        "show",
        "--endpoint-url",
        &moto,
        "--ledger-table",
        &s.ledger_table,
        "--enforcement-table",
        &s.enforcement_table,
    ])
    .env("AWS_ACCESS_KEY_ID", "test")
    .env("AWS_SECRET_ACCESS_KEY", "test")
    .env("AWS_REGION", "us-east-1");
    assert_eq!(ok(&mut show), doc);

    let s1: Value = serde_json::from_str(&cmd(&[
        "suspend",
        "--principal",
        &user,
        "--reason",
        "runaway agent",
    ]))
    .unwrap();
    assert_eq!(s1["state"], "suspended");
    assert_eq!(s1["operator_suspended_until"], "until restored");
    assert!(user_snapshot(&iam, &name)
        .await
        .attached
        .contains(&s.settings.deny_policy_arn));
    let st: Value =
        serde_json::from_str(&cmd(&["status", "--principal", &user, "--json"])).unwrap();
    assert_eq!(st["state"], "suspended");
    assert_eq!(st["mechanism"], "user-policy");
    assert_eq!(st["audit"][0]["action"], "suspend");
    assert_eq!(st["audit"][0]["detail"], "runaway agent");
    // a tick does not lift an operator suspension although nothing is spent
    let human = cmd(&["status", "--principal", &user]);
    assert!(human.contains("suspended"), "{human}");

    let r: Value = serde_json::from_str(&cmd(&[
        "restore",
        "--principal",
        &user,
        "--until",
        "2030-01-01T00:00:00Z",
    ]))
    .unwrap();
    assert_eq!(r["state"], "ok");
    assert_eq!(r["protected_until"], "2030-01-01T00:00:00Z");
    assert_eq!(
        user_snapshot(&iam, &name).await,
        before,
        "restore leaves the user as before"
    );
    let p: Value = serde_json::from_str(&cmd(&["protect", "--principal", &user])).unwrap();
    assert_eq!(p["protected_until"], "forever");
    let alerts = sqs_drain(&moto, &s.alerts_queue);
    assert!(
        alerts
            .iter()
            .any(|a| a.contains("SUSPENDED by an operator") && a.contains("runaway agent")),
        "{alerts:#?}"
    );
    assert!(alerts.iter().any(|a| a.contains("RESTORED by an operator")));
    assert!(alerts
        .iter()
        .any(|a| a.contains("PROTECTED by an operator")));
}

#[tokio::test]
async fn operators_see_and_re_arm_the_circuit_breaker() {
    use spendguard_enforcer::ports::{BreakerTrip, Store};
    let Some(moto) = emulator(MOTO_VAR) else {
        return;
    };
    let (conf, s) = stack(&moto).await;
    let cmd = |args: &[&str]| -> String {
        let mut c = bin();
        c.args(args)
            .args(["--endpoint-url", &moto, "--ledger-table", &s.ledger_table])
            .args(["--enforcement-table", &s.enforcement_table])
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("SPENDGUARD_ALERT_TOPIC_ARN", &s.topic_arn)
            .env_remove("SPENDGUARD_BUDGETS");
        ok(&mut c)
    };
    let closed: Value = serde_json::from_str(&cmd(&["enforcement", "status", "--json"])).unwrap();
    assert_eq!(closed["breaker"], "closed");
    assert_eq!(closed["epoch"], 0);
    let store = spendguard_enforcer::aws::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&conf),
        s.enforcement_table.clone(),
        30,
        std::sync::Arc::new(spendguard_core::clock::SystemClock),
    );
    let trip = BreakerTrip {
        at_ms: 1_795_341_600_000,
        count: 21,
        max_suspensions: 20,
        window_minutes: 10,
        by: "principal#arn:aws:iam::123456789012:user/u21".into(),
        keys: vec!["principal#arn:aws:iam::123456789012:user/u01".into()],
        alerted: true,
    };
    assert!(store.open_breaker(0, &trip).await.unwrap());
    assert!(!store.open_breaker(0, &trip).await.unwrap(), "opened once");
    let open: Value = serde_json::from_str(&cmd(&["enforcement", "status", "--json"])).unwrap();
    assert_eq!(open["breaker"], "open");
    assert_eq!(open["count"], 21);
    assert_eq!(open["opened_at"], "2026-11-22T10:00:00Z");
    let human = cmd(&["enforcement", "status"]);
    assert!(
        human.contains("OPEN since 2026-11-22T10:00:00Z") && human.contains("user/u01"),
        "{human}"
    );
    let r: Value = serde_json::from_str(&cmd(&[
        "enforcement",
        "resume",
        "--reason",
        "Fable 5.2 priced",
    ]))
    .unwrap();
    assert_eq!(r["before"]["breaker"], "open");
    assert_eq!(r["now"]["breaker"], "closed");
    assert_eq!(r["now"]["epoch"], 1, "counting restarts in a new epoch");
    let alerts = sqs_drain(&moto, &s.alerts_queue);
    assert!(
        alerts
            .iter()
            .any(|a| a.contains("re-armed by an operator") && a.contains("Fable 5.2 priced")),
        "{alerts:#?}"
    );
}

#[test]
fn status_reads_a_local_run() {
    let t = Tmp::new("status-local");
    let logs = gen_logs(&t, 300, 1);
    std::fs::write(
        t.0.join("b.toml"),
        "[defaults]\ndaily_usd = \"0.01\"\ngrace_seconds = 0\n",
    )
    .unwrap();
    let db = t.0.join("l.db");
    let run: Value = serde_json::from_str(&ok(bin()
        .args(["run", "--json", "--input"])
        .arg(&logs)
        .arg("--ledger")
        .arg(&db)
        .arg("--budgets")
        .arg(t.0.join("b.toml"))))
    .unwrap();
    let suspended = run["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["action"] == "suspend" && d["scope"] == "principal")
        .expect("a suspension")
        .clone();
    let key = suspended["principal"].as_str().unwrap();
    let st: Value = serde_json::from_str(&ok(bin()
        .args(["status", "--json", "--principal", key, "--ledger"])
        .arg(&db)
        .arg("--budgets")
        .arg(t.0.join("b.toml"))))
    .unwrap();
    assert_eq!(st["state"], "suspended");
    assert_eq!(st["over"], true);
    let day = st["windows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["window"] == "day")
        .unwrap();
    assert_eq!(day["limit_usd"], "0.01");
    // the suspension was decided when the day went over, on the logs' clock: the day's spend
    // has grown since
    let usd = |v: &Value| {
        v.as_str()
            .unwrap()
            .parse::<rust_decimal::Decimal>()
            .unwrap()
    };
    assert!(usd(&suspended["spend_usd"]) >= usd(&day["limit_usd"]));
    assert!(usd(&day["spend_usd"]) >= usd(&suspended["spend_usd"]));
}
