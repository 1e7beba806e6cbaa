//! The enforcer against moto server (IAM, DynamoDB, SNS to an SQS subscription, EventBridge to
//! SQS): the actual IAM state after suspend and after restore (restore leaves the principal
//! exactly as before), idempotent repeats, a user near its 2,048-character inline limit, the
//! role capacity fallbacks, tamper re-apply, drift repair, protected and shadow principals, and a
//! budget lowered mid-window.
use crate::util::ledger_writer;
use serde_json::{json, Value};
use spendguard_core::budget::Scope;
use spendguard_core::enforce::{
    policy_chars, KeyRef, Status, ROLE_INLINE_POLICY, USER_INLINE_LIMIT,
};
use spendguard_core::ledger::SpendLedger;
use spendguard_enforcer::engine::Overflow;
use spendguard_enforcer::testkit::*;
use spendguard_schemas::event::{STATE_CHANGED, THRESHOLD_CROSSED};
use spendguard_schemas::words::{Mechanism, RoleDeny};

// 2026-11-22T10:00:00Z
const NOW: i64 = 1_795_341_600_000;
const DAY: i64 = 86_400_000;

fn acct_user(name: &str) -> String {
    format!("arn:aws:iam::123456789012:user/{name}")
}

fn threshold_event(scope: &str, key: &str) -> Value {
    eventbridge(
        THRESHOLD_CROSSED,
        "spendguard",
        json!({"scope": scope, "key": key, "window": "day", "window_start": "2026-11-22",
               "threshold_pct": 100, "thresholds_pct": [100], "spend_usd": "12", "limit_usd": "10",
               "mode": "enforce", "at": "2026-11-22T10:00:00Z"}),
    )
}

fn budgets(extra: &str) -> String {
    format!("[defaults]\ndaily_usd = \"10\"\nmonthly_usd = \"1000\"\ngrace_seconds = 0\n{extra}")
}

async fn create_user(iam: &aws_sdk_iam::Client, name: &str) {
    iam.create_user().user_name(name).send().await.unwrap();
}

#[tokio::test]
async fn a_user_is_suspended_idempotently_and_restored_exactly_as_before() {
    let Some(moto) = emulator(MOTO_VAR) else {
        return;
    };
    let (conf, s) = stack(&moto).await;
    let iam = aws_sdk_iam::Client::new(&conf);
    let name = unique("alice");
    create_user(&iam, &name).await;
    // near the 2,048-character aggregate inline limit, plus two managed policies of its own
    let doc = padded_policy(USER_INLINE_LIMIT - 40);
    assert!(policy_chars(&doc) > USER_INLINE_LIMIT - 60);
    iam.put_user_policy()
        .user_name(&name)
        .policy_name("own")
        .policy_document(&doc)
        .send()
        .await
        .unwrap();
    for _ in 0..2 {
        let p = &own_policy(&iam, "own").await;
        iam.attach_user_policy()
            .user_name(&name)
            .policy_arn(p)
            .send()
            .await
            .unwrap();
    }
    let before = user_snapshot(&iam, &name).await;

    let user = acct_user(&name);
    let clock = StepClock::at(NOW);
    let app = app(&conf, &s, &budgets(""), clock.clone());
    ledger_writer(&conf, &s)
        .apply(&[spend_entry(
            &[(Scope::Principal, &user)],
            "12.000000001",
            NOW - 1000,
            "r1",
        )])
        .await
        .unwrap();
    let out = app
        .enforce_event(&threshold_event("principal", &user))
        .await
        .unwrap();
    let actions: Vec<&str> = out["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["alert", "alert", "alert", "suspend"], "{out}");

    let during = user_snapshot(&iam, &name).await;
    assert!(during.attached.contains(&s.settings.deny_policy_arn));
    assert_eq!(
        during.inline, before.inline,
        "no inline policy is added to a user"
    );
    assert_eq!(during.groups, before.groups);
    let alerts = sqs_drain(&moto, &s.alerts_queue);
    assert_eq!(alerts.len(), 4, "{alerts:#?}");
    assert!(
        alerts[3].contains("SUSPENDED")
            && alerts[3].contains("$12.00 spent of a $10.00 limit")
            && alerts[3].contains("2026-11-23T00:00:00Z"),
        "{}",
        alerts[3]
    );

    // idempotent: the same event again changes nothing and sends nothing
    let again = app
        .enforce_event(&threshold_event("principal", &user))
        .await
        .unwrap();
    assert_eq!(again["decisions"].as_array().unwrap().len(), 0, "{again}");
    assert_eq!(user_snapshot(&iam, &name).await, during);
    assert!(sqs_drain(&moto, &s.alerts_queue).is_empty());

    // the next day: the day window reset, the tick restores exactly the previous state
    clock.set(NOW + DAY);
    let tick = app
        .enforce_event(&json!({"spendguard": "tick"}))
        .await
        .unwrap();
    assert_eq!(tick["decisions"][0]["action"], "restore", "{tick}");
    assert_eq!(user_snapshot(&iam, &name).await, before);
    let tick2 = app
        .enforce_event(&json!({"spendguard": "tick"}))
        .await
        .unwrap();
    assert_eq!(tick2["decisions"].as_array().unwrap().len(), 0);
    assert_eq!(user_snapshot(&iam, &name).await, before);

    let audit = app
        .store
        .audit_of(&KeyRef::new(Scope::Principal, user.clone()))
        .await
        .unwrap();
    let trail: Vec<&str> = audit.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(trail, ["alert", "alert", "alert", "suspend", "restore"]);
    assert_eq!(audit[3].mechanism, Some(Mechanism::UserPolicy));
    assert_eq!(audit[3].spend_usd.unwrap().to_string(), "12.000000001");

    // each audit item's TTL follows the engine's clock, as its `at` does (the test clock is in
    // 2026: a TTL from the wall clock would disagree)
    let items = aws_sdk_dynamodb::Client::new(&conf)
        .query()
        .table_name(&s.enforcement_table)
        .key_condition_expression("pk = :p AND begins_with(sk, :a)")
        .expression_attribute_values(
            ":p",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("principal#{user}")),
        )
        .expression_attribute_values(
            ":a",
            aws_sdk_dynamodb::types::AttributeValue::S("audit#".into()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(items.items().len(), 5);
    for it in items.items() {
        let expires: i64 = it["expires_at"].as_n().unwrap().parse().unwrap();
        let rec: Value = serde_json::from_str(it["record"].as_s().unwrap()).unwrap();
        let at = spendguard_schemas::time::parse_rfc3339_ms(rec["at"].as_str().unwrap()).unwrap();
        assert_eq!(expires, at / 1000 + 30 * 86_400, "{rec}");
    }
}

#[tokio::test]
async fn full_managed_slots_fall_back_to_the_group_and_the_inline_role_statement() {
    let Some(moto) = emulator(MOTO_VAR) else {
        return;
    };
    let (conf, mut s) = stack(&moto).await;
    s.settings.managed_quota = 2; // moto does not enforce the quota: ours is the check
    let iam = aws_sdk_iam::Client::new(&conf);
    let name = unique("bob");
    create_user(&iam, &name).await;
    let role = unique("Analytics");
    create_role(&iam, &role).await;
    for _ in 0..2 {
        let p = &own_policy(&iam, "own").await;
        iam.attach_user_policy()
            .user_name(&name)
            .policy_arn(p)
            .send()
            .await
            .unwrap();
        iam.attach_role_policy()
            .role_name(&role)
            .policy_arn(p)
            .send()
            .await
            .unwrap();
    }
    let (ub, rb) = (
        user_snapshot(&iam, &name).await,
        role_snapshot(&iam, &role).await,
    );
    let user = acct_user(&name);
    let role_arn = format!("arn:aws:iam::123456789012:role/{role}");
    let clock = StepClock::at(NOW);
    let app = app(&conf, &s, &budgets(""), clock.clone());
    let l = ledger_writer(&conf, &s);
    l.apply(&[
        spend_entry(&[(Scope::Principal, &user)], "11", NOW, "u1"),
        spend_entry(&[(Scope::Principal, &role_arn)], "11", NOW, "r1"),
    ])
    .await
    .unwrap();
    app.enforce_event(&threshold_event("principal", &user))
        .await
        .unwrap();
    app.enforce_event(&threshold_event("principal", &role_arn))
        .await
        .unwrap();
    let u = user_snapshot(&iam, &name).await;
    assert_eq!(u.attached, ub.attached);
    assert_eq!(u.groups, vec![s.settings.suspended_group.clone().unwrap()]);
    let r = role_snapshot(&iam, &role).await;
    assert_eq!(r.attached, rb.attached);
    assert_eq!(
        r.inline[ROLE_INLINE_POLICY]["Statement"][0]["Sid"],
        "SpendguardRole"
    );

    clock.set(NOW + DAY);
    app.enforce_event(&json!({"spendguard": "tick"}))
        .await
        .unwrap();
    assert_eq!(user_snapshot(&iam, &name).await, ub);
    assert_eq!(role_snapshot(&iam, &role).await, rb);
}

#[tokio::test]
async fn one_session_is_denied_by_role_id_and_a_full_role_falls_back_or_alerts() {
    let Some(moto) = emulator(MOTO_VAR) else {
        return;
    };
    let (conf, mut s) = stack(&moto).await;
    let iam = aws_sdk_iam::Client::new(&conf);
    let role = unique("DataScience");
    let role_id = create_role(&iam, &role).await;
    iam.put_role_policy()
        .role_name(&role)
        .policy_name("own")
        .policy_document(padded_policy(3000))
        .send()
        .await
        .unwrap();
    let before = role_snapshot(&iam, &role).await;
    let bob = format!("arn:aws:sts::123456789012:assumed-role/{role}/bob@example.com");
    let carol = format!("arn:aws:sts::123456789012:assumed-role/{role}/carol@example.com");
    let cfg = budgets(&format!(
        "[[budget]]\nprincipal = \"arn:aws:sts::123456789012:assumed-role/{role}/*\"\nscope = \"session\"\ndaily_usd = \"1\"\n"
    ));
    let clock = StepClock::at(NOW);
    let app = app(&conf, &s, &cfg, clock.clone());
    ledger_writer(&conf, &s)
        .apply(&[
            spend_entry(&[(Scope::Session, &bob)], "2", NOW, "b1"),
            spend_entry(&[(Scope::Session, &carol)], "3", NOW, "c1"),
        ])
        .await
        .unwrap();
    for k in [&bob, &carol] {
        let out = app
            .enforce_event(&threshold_event("session", k))
            .await
            .unwrap();
        assert!(
            out["decisions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["action"] == "suspend"),
            "{out}"
        );
    }
    let during = role_snapshot(&iam, &role).await;
    assert_eq!(
        during.attached, before.attached,
        "a session never gets the role-wide deny"
    );
    let st = &during.inline[ROLE_INLINE_POLICY]["Statement"][0];
    assert_eq!(
        st["Condition"]["StringEquals"]["aws:userid"],
        json!([
            format!("{role_id}:bob@example.com"),
            format!("{role_id}:carol@example.com")
        ])
    );
    assert_eq!(during.inline["own"], before.inline["own"]);

    // restore one session: the other stays denied; then both: the role is exactly as before
    let bob_key = KeyRef::new(Scope::Session, bob.clone());
    app.enforcer(&app.budgets().await.unwrap().1)
        .restore_now(&bob_key, None, "test")
        .await
        .unwrap();
    let one = role_snapshot(&iam, &role).await;
    assert_eq!(
        one.inline[ROLE_INLINE_POLICY]["Statement"][0]["Condition"]["StringEquals"]["aws:userid"],
        json!([format!("{role_id}:carol@example.com")])
    );
    clock.set(NOW + DAY);
    app.enforce_event(&json!({"spendguard": "tick"}))
        .await
        .unwrap();
    assert_eq!(role_snapshot(&iam, &role).await, before);

    // no room left in the role's 10,240 characters: fall back to the whole role, or alert
    iam.put_role_policy()
        .role_name(&role)
        .policy_name("big")
        .policy_document(padded_policy(7200))
        .send()
        .await
        .unwrap();
    let full = role_snapshot(&iam, &role).await;
    let dave = format!("arn:aws:sts::123456789012:assumed-role/{role}/dave");
    ledger_writer(&conf, &s)
        .apply(&[spend_entry(
            &[(Scope::Session, &dave)],
            "2",
            NOW + DAY,
            "d1",
        )])
        .await
        .unwrap();
    let out = app
        .enforce_event(&threshold_event("session", &dave))
        .await
        .unwrap();
    assert!(
        out["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["action"] == "suspend"),
        "{out}"
    );
    let fell_back = role_snapshot(&iam, &role).await;
    assert!(
        fell_back.attached.contains(&s.settings.deny_policy_arn),
        "whole-role fallback"
    );
    assert!(!fell_back.inline.contains_key(ROLE_INLINE_POLICY));
    let dave_key = KeyRef::new(Scope::Session, dave.clone());
    let audit = app.store.audit_of(&dave_key).await.unwrap();
    assert_eq!(
        audit.last().unwrap().mechanism,
        Some(Mechanism::SessionOverflow(RoleDeny::Policy))
    );
    // a second session overflows to the role too: restoring the first keeps the role denied
    let frank = format!("arn:aws:sts::123456789012:assumed-role/{role}/frank");
    ledger_writer(&conf, &s)
        .apply(&[spend_entry(
            &[(Scope::Session, &frank)],
            "2",
            NOW + DAY,
            "f1",
        )])
        .await
        .unwrap();
    app.enforce_event(&threshold_event("session", &frank))
        .await
        .unwrap();
    app.enforcer(&app.budgets().await.unwrap().1)
        .restore_now(&dave_key, None, "test")
        .await
        .unwrap();
    assert!(
        role_snapshot(&iam, &role)
            .await
            .attached
            .contains(&s.settings.deny_policy_arn),
        "frank still needs the whole-role deny"
    );
    clock.set(NOW + 2 * DAY);
    app.enforce_event(&json!({"spendguard": "tick"}))
        .await
        .unwrap();
    assert_eq!(
        role_snapshot(&iam, &role).await,
        full,
        "the fallback is lifted exactly"
    );

    s.settings.session_overflow = Overflow::Alert;
    let strict = spendguard_enforcer::testkit::app(&conf, &s, &cfg, clock.clone());
    let erin = format!("arn:aws:sts::123456789012:assumed-role/{role}/erin");
    ledger_writer(&conf, &s)
        .apply(&[spend_entry(
            &[(Scope::Session, &erin)],
            "2",
            NOW + 2 * DAY,
            "e1",
        )])
        .await
        .unwrap();
    sqs_drain(&moto, &s.alerts_queue);
    let out = strict
        .enforce_event(&threshold_event("session", &erin))
        .await
        .unwrap();
    assert_eq!(out["failures"].as_array().unwrap().len(), 1, "{out}");
    assert_eq!(role_snapshot(&iam, &role).await, full, "nothing applied");
    let alerts = sqs_drain(&moto, &s.alerts_queue);
    assert!(
        alerts
            .iter()
            .any(|a| a.contains("FAILED to suspend") && a.contains("still has Bedrock access")),
        "{alerts:#?}"
    );
    let st = strict
        .store
        .state(&KeyRef::new(Scope::Session, erin))
        .await
        .unwrap();
    assert!(
        matches!(st.state.status, Status::Pending { .. }),
        "kept for the tick to retry: {st:?}"
    );
}

#[tokio::test]
async fn tampering_and_drift_are_repaired_at_once_and_alerted() {
    let Some(moto) = emulator(MOTO_VAR) else {
        return;
    };
    let (conf, s) = stack(&moto).await;
    let iam = aws_sdk_iam::Client::new(&conf);
    let name = unique("mallory");
    create_user(&iam, &name).await;
    let user = acct_user(&name);
    let clock = StepClock::at(NOW);
    let app = app(&conf, &s, &budgets(""), clock.clone());
    ledger_writer(&conf, &s)
        .apply(&[spend_entry(&[(Scope::Principal, &user)], "50", NOW, "m1")])
        .await
        .unwrap();
    app.enforce_event(&threshold_event("principal", &user))
        .await
        .unwrap();
    sqs_drain(&moto, &s.alerts_queue);
    // the principal detaches the deny (IAM is not enforced by moto), CloudTrail reports it
    iam.detach_user_policy()
        .user_name(&name)
        .policy_arn(&s.settings.deny_policy_arn)
        .send()
        .await
        .unwrap();
    assert!(!user_snapshot(&iam, &name)
        .await
        .attached
        .contains(&s.settings.deny_policy_arn));
    let ct = eventbridge(
        "AWS API Call via CloudTrail",
        "aws.iam",
        json!({"eventSource": "iam.amazonaws.com", "eventName": "DetachUserPolicy",
               "userIdentity": {"arn": user},
               "requestParameters": {"userName": name, "policyArn": s.settings.deny_policy_arn}}),
    );
    let out = app.enforce_event(&ct).await.unwrap();
    assert_eq!(out["reapplied"], json!([user]), "{out}");
    assert!(user_snapshot(&iam, &name)
        .await
        .attached
        .contains(&s.settings.deny_policy_arn));
    let alerts = sqs_drain(&moto, &s.alerts_queue);
    assert!(
        alerts
            .iter()
            .any(|a| a.contains("RE-APPLIED") && a.contains("DetachUserPolicy by")),
        "{alerts:#?}"
    );

    // drift without an event: the tick finds it
    iam.detach_user_policy()
        .user_name(&name)
        .policy_arn(&s.settings.deny_policy_arn)
        .send()
        .await
        .unwrap();
    let tick = app
        .enforce_event(&json!({"spendguard": "tick"}))
        .await
        .unwrap();
    assert_eq!(tick["reapplied"], json!([user]), "{tick}");
    assert!(user_snapshot(&iam, &name)
        .await
        .attached
        .contains(&s.settings.deny_policy_arn));
    let trail: Vec<String> = app
        .store
        .audit_of(&KeyRef::new(Scope::Principal, user))
        .await
        .unwrap()
        .into_iter()
        .map(|r| format!("{}/{}", r.action, r.cause))
        .collect();
    assert!(
        trail.ends_with(&[
            "reapply/tamper".to_string(),
            "reapply/reconcile".to_string()
        ]),
        "{trail:?}"
    );
}

#[tokio::test]
async fn protected_and_shadow_principals_keep_their_access() {
    let Some(moto) = emulator(MOTO_VAR) else {
        return;
    };
    let (conf, s) = stack(&moto).await;
    let iam = aws_sdk_iam::Client::new(&conf);
    let (p, sh) = (unique("vip"), unique("trial"));
    create_user(&iam, &p).await;
    create_user(&iam, &sh).await;
    let (pu, su) = (acct_user(&p), acct_user(&sh));
    let cfg = budgets(&format!(
        "[[budget]]\nprincipal = \"{pu}\"\nprotected = true\n[[budget]]\nprincipal = \"{su}\"\nmode = \"shadow\"\n"
    ));
    let app = app(&conf, &s, &cfg, StepClock::at(NOW));
    let before = (
        user_snapshot(&iam, &p).await,
        user_snapshot(&iam, &sh).await,
    );
    ledger_writer(&conf, &s)
        .apply(&[
            spend_entry(&[(Scope::Principal, &pu)], "99", NOW, "p1"),
            spend_entry(&[(Scope::Principal, &su)], "99", NOW, "s1"),
        ])
        .await
        .unwrap();
    let po = app
        .enforce_event(&threshold_event("principal", &pu))
        .await
        .unwrap();
    let so = app
        .enforce_event(&threshold_event("principal", &su))
        .await
        .unwrap();
    let acts = |v: &Value| {
        v["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["action"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(acts(&po), ["alert", "alert", "alert"]);
    assert_eq!(acts(&so), ["alert", "alert", "alert", "would_suspend"]);
    assert_eq!(
        (
            user_snapshot(&iam, &p).await,
            user_snapshot(&iam, &sh).await
        ),
        before
    );
    let alerts = sqs_drain(&moto, &s.alerts_queue);
    assert!(
        alerts
            .iter()
            .any(|a| a.contains("protected: it will not be suspended")),
        "{alerts:#?}"
    );
    assert!(alerts.iter().any(
        |a| a.contains("WOULD HAVE SUSPENDED") && a.contains("$99.00 spent of a $10.00 limit")
    ));
    let st = app
        .store
        .state(&KeyRef::new(Scope::Principal, su))
        .await
        .unwrap();
    assert_eq!(st.state.status, Status::ShadowSuspended);
}

#[tokio::test]
async fn a_budget_lowered_mid_window_is_enforced_by_the_evaluator_and_the_tick() {
    let Some(moto) = emulator(MOTO_VAR) else {
        return;
    };
    let (conf, s) = stack(&moto).await;
    let iam = aws_sdk_iam::Client::new(&conf);
    let name = unique("carol");
    create_user(&iam, &name).await;
    let user = acct_user(&name);
    let clock = StepClock::at(NOW);
    let app = app(&conf, &s, &budgets(""), clock.clone());
    let l = ledger_writer(&conf, &s);
    l.apply(&[spend_entry(&[(Scope::Principal, &user)], "6", NOW, "c1")])
        .await
        .unwrap();
    // the evaluator sees the window at 60% of 10: one threshold event (50%)
    let resp = app
        .evaluate_stream(&stream_event(&moto, &s.stream_arn))
        .await
        .unwrap();
    assert!(resp.batch_item_failures.is_empty());
    let events: Vec<Value> = sqs_drain(&moto, &s.events_queue)
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let kinds: Vec<(&str, u64)> = events
        .iter()
        .map(|e| {
            (
                e["detail-type"].as_str().unwrap(),
                e["detail"]["threshold_pct"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [(THRESHOLD_CROSSED, 50)],
        "the day window only; 6 of 1000 is no threshold: {events:#?}"
    );
    for e in &events {
        app.enforce_event(e).await.unwrap();
    }
    assert!(!user_snapshot(&iam, &name)
        .await
        .attached
        .contains(&s.settings.deny_policy_arn));

    // an operator lowers the limit to 5 with no new spend: the tick's full re-evaluation acts
    let v = app
        .store
        .put_budgets(&budgets(&format!(
            "[[budget]]\nprincipal = \"{user}\"\ndaily_usd = \"5\"\n"
        )))
        .await
        .unwrap();
    assert_eq!(v, 1);
    let tick = app
        .enforce_event(&json!({"spendguard": "tick"}))
        .await
        .unwrap();
    let acts: Vec<&str> = tick["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["action"].as_str().unwrap())
        .collect();
    assert_eq!(acts, ["alert", "alert", "suspend"], "{tick}");
    assert!(user_snapshot(&iam, &name)
        .await
        .attached
        .contains(&s.settings.deny_policy_arn));

    // and the evaluator, re-run over the stream under the lowered budget, publishes 80 and 100
    let resp = app
        .evaluate_stream(&stream_event(&moto, &s.stream_arn))
        .await
        .unwrap();
    assert!(resp.batch_item_failures.is_empty());
    let events: Vec<Value> = sqs_drain(&moto, &s.events_queue)
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let day: Vec<&Value> = events
        .iter()
        .filter(|e| e["detail"]["window"] == "day")
        .collect();
    assert_eq!(day.len(), 2, "{events:#?}");
    assert_eq!(day[0]["detail-type"], THRESHOLD_CROSSED);
    assert_eq!(day[0]["detail"]["thresholds_pct"], json!([80, 100]));
    assert_eq!(day[1]["detail-type"], STATE_CHANGED);
    assert_eq!(day[1]["detail"]["state"], "over");
    // re-running the same stream publishes nothing new: the level is recorded
    app.evaluate_stream(&stream_event(&moto, &s.stream_arn))
        .await
        .unwrap();
    assert!(sqs_drain(&moto, &s.events_queue).is_empty());
}

/// Issue 20 case 11 through the real IAM adapter: tags are read with ListUserTags/ListRoleTags
/// (paginated), and with `EnforceableRoles = tagged` an untagged user is refused (an audited
/// alert, nothing attached) while an opted-in one is suspended.
#[tokio::test]
async fn tagged_mode_reads_tags_from_iam_and_refuses_untagged_users() {
    use spendguard_core::enforce::{Enforceable, ENFORCEABLE_TAG};
    use spendguard_enforcer::ports::{Entity, Iam};
    let Some(moto) = emulator(MOTO_VAR) else {
        return;
    };
    let (conf, mut s) = stack(&moto).await;
    s.settings.enforceable = Enforceable::Tagged;
    let iam = aws_sdk_iam::Client::new(&conf);
    let (opted, plain) = (unique("opted"), unique("plain"));
    for n in [&opted, &plain] {
        create_user(&iam, n).await;
    }
    let tag = |k: &str, v: &str| {
        aws_sdk_iam::types::Tag::builder()
            .key(k)
            .value(v)
            .build()
            .unwrap()
    };
    let mut req = iam
        .tag_user()
        .user_name(&opted)
        .tags(tag(ENFORCEABLE_TAG, "true"));
    for i in 0..30 {
        req = req.tags(tag(&format!("team-{i}"), "x"));
    }
    req.send().await.unwrap();
    let tags = spendguard_enforcer::aws::AwsIam(iam.clone())
        .tags(Entity::User(&opted))
        .await
        .unwrap();
    assert_eq!(tags.len(), 31, "every page of tags");
    assert!(tags.contains(&(ENFORCEABLE_TAG.to_string(), "true".to_string())));

    let app = app(&conf, &s, &budgets(""), StepClock::at(NOW));
    for (i, n) in [&opted, &plain].into_iter().enumerate() {
        ledger_writer(&conf, &s)
            .apply(&[spend_entry(
                &[(Scope::Principal, &acct_user(n))],
                "12",
                NOW - 1000,
                &format!("t{i}"),
            )])
            .await
            .unwrap();
        app.enforce_event(&threshold_event("principal", &acct_user(n)))
            .await
            .unwrap();
    }
    assert_eq!(
        user_snapshot(&iam, &opted).await.attached,
        vec![s.settings.deny_policy_arn.clone()]
    );
    assert!(user_snapshot(&iam, &plain).await.attached.is_empty());
    let alerts = sqs_drain(&moto, &s.alerts_queue);
    assert!(
        alerts
            .iter()
            .any(|m| m.contains(&plain) && m.contains("may not write IAM policy")),
        "{alerts:#?}"
    );
}
