//! The enforcer's blast radius (issue 20 case 11) on in-memory ports: with `EnforceableRoles =
//! tagged` it writes only on principals tagged `spendguard:enforceable=true`, never on ones tagged
//! `spendguard:exempt=true`, and a refusal is an audited alert once per window that leaves the key
//! pending (a tag added later lets the next tick act). Its own IAM writes, seen in CloudTrail, are
//! self-audited against what it writes. (moto does not evaluate IAM conditions: the template's
//! conditions are checked by the guard rules; here is the enforcer's own check.)
use serde_json::json;
use spendguard_core::budget::{BudgetConfig, Scope};
use spendguard_core::clock::FixedClock;
use spendguard_core::enforce::{
    role_inline_document, Action, Enforceable, Hold, KeyRef, ENFORCEABLE_TAG, EXEMPT_TAG,
    ROLE_INLINE_POLICY,
};
use spendguard_core::window::{WindowKey, WindowKind};
use spendguard_enforcer::engine::{Cause, Enforcer, Overflow, Settings};
use spendguard_enforcer::memory::*;
use spendguard_schemas::event::CloudTrailCall;
use spendguard_schemas::words::AuditAction;

// 2026-11-22T10:00:00Z
const NOW: i64 = 1_795_341_600_000;
const ACCOUNT: &str = "123456789012";
const DENY: &str = "arn:aws:iam::123456789012:policy/spendguard-deny";
const OWN_ROLE: &str = "arn:aws:iam::123456789012:role/spendguard-s/enforcer";

fn user(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/{name}")
}

fn session(role: &str, name: &str) -> String {
    format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{name}")
}

fn principal(id: &str, tags: &[(&str, &str)]) -> Principal {
    Principal {
        id: id.into(),
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Principal::default()
    }
}

struct World {
    iam: MemIam,
    store: MemStore,
    windows: MemWindows,
    topic: MemTopic,
    cfg: BudgetConfig,
    settings: Settings,
    clock: FixedClock,
}

impl World {
    fn new(mode: Enforceable) -> World {
        let iam = MemIam::new();
        iam.users.lock().unwrap().extend([
            (
                "alice".to_string(),
                principal("AIDAALICE", &[(ENFORCEABLE_TAG, "true")]),
            ),
            ("bob".to_string(), principal("AIDABOB", &[])),
        ]);
        iam.roles.lock().unwrap().extend([
            (
                "Exempt".to_string(),
                principal("AROAEX", &[(ENFORCEABLE_TAG, "true"), (EXEMPT_TAG, "true")]),
            ),
            (
                "Open".to_string(),
                principal("AROAOPEN", &[(ENFORCEABLE_TAG, "true")]),
            ),
        ]);
        World {
            iam,
            store: MemStore::default(),
            windows: MemWindows::default(),
            topic: MemTopic::default(),
            cfg: BudgetConfig::parse(
                "[defaults]\ngrace_seconds = 0\ndaily_usd = \"10\"\n\
                 [[budget]]\nprincipal = \"arn:aws:sts::*:assumed-role/*\"\nscope = \"session\"\n\
                 daily_usd = \"10\"\n",
            )
            .unwrap(),
            settings: Settings {
                deny_policy_arn: DENY.into(),
                suspended_group: None,
                session_overflow: Overflow::Role,
                managed_quota: 10,
                enforceable: mode,
                own_role_arn: Some(OWN_ROLE.into()),
            },
            clock: FixedClock(NOW),
        }
    }

    fn engine(&self) -> Enforcer<'_> {
        Enforcer {
            cfg: &self.cfg,
            settings: &self.settings,
            windows: &self.windows,
            store: &self.store,
            iam: &self.iam,
            notify: &self.topic,
            clock: &self.clock,
        }
    }

    fn over(&self, scope: Scope, key: &str) -> KeyRef {
        self.windows.set(
            WindowKey {
                scope,
                key: key.into(),
                kind: WindowKind::Day,
                start: "2026-11-22".into(),
            },
            "12".parse().unwrap(),
        );
        KeyRef::new(scope, key.to_string())
    }

    fn messages(&self) -> Vec<String> {
        self.topic
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, m)| m.clone())
            .collect()
    }
}

#[tokio::test]
async fn tagged_mode_writes_only_on_opted_in_principals_and_refusals_are_held_once() {
    let w = World::new(Enforceable::Tagged);
    let e = w.engine();
    let alice = w.over(Scope::Principal, &user("alice"));
    let bob = w.over(Scope::Principal, &user("bob"));
    let open = w.over(Scope::Session, &session("Open", "s1"));
    let exempt = w.over(Scope::Session, &session("Exempt", "s2"));

    for k in [&alice, &bob, &open, &exempt] {
        e.enforce_key(k, Cause::Event).await.unwrap();
    }
    let users = w.iam.users.lock().unwrap().clone();
    let roles = w.iam.roles.lock().unwrap().clone();
    assert_eq!(users["alice"].attached, vec![DENY.to_string()]);
    assert!(
        users["bob"].attached.is_empty(),
        "not opted in: nothing written"
    );
    assert!(roles["Open"].inline.contains_key(ROLE_INLINE_POLICY));
    assert!(
        roles["Exempt"].inline.is_empty() && roles["Exempt"].attached.is_empty(),
        "exempt: nothing written"
    );
    let refusals: Vec<String> = w
        .messages()
        .into_iter()
        .filter(|m| m.contains("NOT suspended: spendguard may not write IAM policy"))
        .collect();
    assert_eq!(refusals.len(), 2, "{refusals:#?}");
    assert!(refusals.iter().any(|m| m.contains("user bob")));
    assert!(refusals
        .iter()
        .any(|m| m.contains("role Exempt") && m.contains(EXEMPT_TAG)));
    let audited: Vec<_> = w
        .store
        .audits
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.action == AuditAction::Held && r.detail.starts_with("refused"))
        .cloned()
        .collect();
    assert_eq!(audited.len(), 2);

    // the tick decides again: still refused, no second alert in the window
    let before = w.messages().len();
    let report = e.tick(0).await.unwrap();
    assert!(report.decisions.iter().all(|d| d.action != Action::Suspend));
    assert_eq!(
        w.messages().len(),
        before,
        "a refusal is alerted once per window"
    );

    // bob opts in: the next tick suspends him; the exempt role stays untouched
    w.iam
        .users
        .lock()
        .unwrap()
        .get_mut("bob")
        .unwrap()
        .tags
        .insert(ENFORCEABLE_TAG.into(), "true".into());
    let report = e.tick(0).await.unwrap();
    assert!(
        report
            .decisions
            .iter()
            .any(|d| d.key == bob && d.action == Action::Suspend),
        "{:#?}",
        report.decisions
    );
    assert_eq!(
        w.iam.users.lock().unwrap()["bob"].attached,
        vec![DENY.to_string()]
    );
    assert!(w.iam.roles.lock().unwrap()["Exempt"].inline.is_empty());
    let held = w.store.states.lock().unwrap()[&exempt].state.held.clone();
    assert_eq!(held.map(|h| h.hold), Some(Hold::Refused));
}

#[tokio::test]
async fn all_mode_writes_on_untagged_principals_but_never_on_exempt_ones() {
    let w = World::new(Enforceable::All);
    let e = w.engine();
    let bob = w.over(Scope::Principal, &user("bob"));
    let exempt = w.over(Scope::Session, &session("Exempt", "s2"));
    e.enforce_key(&bob, Cause::Event).await.unwrap();
    let r = e.enforce_key(&exempt, Cause::Event).await.unwrap();
    assert_eq!(r.refused, vec![exempt.clone()]);
    assert_eq!(
        w.iam.users.lock().unwrap()["bob"].attached,
        vec![DENY.to_string()]
    );
    assert!(w.iam.roles.lock().unwrap()["Exempt"].inline.is_empty());
}

/// A CloudTrail event of an IAM write by `who`.
/// A CloudTrail IAM call's detail as EventBridge delivers it, read as the enforcer reads it.
fn trail(who: &str, event: &str, params: serde_json::Value) -> CloudTrailCall {
    serde_json::from_value(
        json!({"eventName": event, "eventID": "ev-1", "eventTime": "2026-11-22T10:00:00Z",
               "userIdentity": {"type": "AssumedRole",
                   "arn": format!("{who}/session").replace(":role/", ":assumed-role/"),
                   "sessionContext": {"sessionIssuer": {"type": "Role", "arn": who}}},
               "requestParameters": params}),
    )
    .unwrap()
}

#[tokio::test]
async fn the_enforcers_own_writes_are_audited_against_what_it_writes() {
    let w = World::new(Enforceable::All);
    let e = w.engine();
    let ours = role_inline_document(&["AROAOPEN:s1".to_string()], false).unwrap();
    // its own writes, as it writes them: nothing to say
    for (event, params) in [
        (
            "PutRolePolicy",
            json!({"roleName": "Open", "policyName": ROLE_INLINE_POLICY, "policyDocument": ours}),
        ),
        (
            "DeleteRolePolicy",
            json!({"roleName": "Open", "policyName": ROLE_INLINE_POLICY}),
        ),
        (
            "AttachUserPolicy",
            json!({"userName": "bob", "policyArn": DENY}),
        ),
        (
            "DetachRolePolicy",
            json!({"roleName": "Open", "policyArn": DENY}),
        ),
    ] {
        let r = e.tamper(&trail(OWN_ROLE, event, params)).await.unwrap();
        assert!(r.self_audit_mismatches.is_empty(), "{event}");
    }
    assert!(w.messages().is_empty());

    // a grant in its inline policy, another policy attached, another inline policy deleted
    let grant = ours.replace("\"Deny\"", "\"Allow\"");
    for (event, params, says) in [
        (
            "PutRolePolicy",
            json!({"roleName": "Open", "policyName": ROLE_INLINE_POLICY, "policyDocument": grant}),
            "a document spendguard does not write",
        ),
        (
            "AttachRolePolicy",
            json!({"roleName": "Open", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
            "not spendguard's deny policy",
        ),
        (
            "DeleteRolePolicy",
            json!({"roleName": "Open", "policyName": "guardrails"}),
            "not spendguard-suspended",
        ),
        (
            "CreatePolicyVersion",
            json!({"policyArn": DENY}),
            "never makes",
        ),
    ] {
        let r = e.tamper(&trail(OWN_ROLE, event, params)).await.unwrap();
        assert_eq!(r.self_audit_mismatches.len(), 1, "{event}");
        assert!(r.self_audit_mismatches[0].contains(says), "{event}: {r:?}");
    }
    let alerts: Vec<String> = w
        .messages()
        .into_iter()
        .filter(|m| m.contains("SELF-AUDIT MISMATCH"))
        .collect();
    assert_eq!(alerts.len(), 4);
    let audited = w
        .store
        .audits
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.action == AuditAction::SelfAuditMismatch)
        .count();
    assert_eq!(audited, 4);

    // someone else's write is no self-audit matter (it is tamper repair, as before)
    let other = "arn:aws:iam::123456789012:role/Admin";
    let r = e
        .tamper(&trail(
            other,
            "PutRolePolicy",
            json!({"roleName": "Open", "policyName": ROLE_INLINE_POLICY, "policyDocument": grant}),
        ))
        .await
        .unwrap();
    assert!(r.self_audit_mismatches.is_empty());
}
