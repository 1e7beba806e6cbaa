//! The payloads of spendguard's own EventBridge events (`source: spendguard`) and the audit and
//! alert record: what the evaluator publishes, what the enforcer consumes, what lands in the audit
//! table. Money stays exact on the wire: decimals are JSON strings.

use crate::words::{
    Action, AuditAction, AuditScope, Cause, Hold, Mechanism, Mode, Scope, WindowKind, WindowState,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The `source` of every event spendguard publishes.
pub const EVENT_SOURCE: &str = "spendguard";
/// `detail-type` of a threshold event.
pub const THRESHOLD_CROSSED: &str = "Budget Threshold Crossed";
/// `detail-type` of a state event.
pub const STATE_CHANGED: &str = "Budget State Changed";

/// A window of a key reached one or more alert thresholds (`thresholds_pct`). Published once per
/// level reached; a duplicate is harmless (the enforcer alerts once per window and threshold).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetThresholdCrossed {
    pub scope: Scope,
    /// The user, role or session ARN, or the team name.
    pub key: String,
    pub window: WindowKind,
    /// First local date of the window, `YYYY-MM-DD`, in the budget config's time zone.
    pub window_start: String,
    /// The highest threshold reached.
    pub threshold_pct: u32,
    /// Every threshold newly reached by this change, ascending.
    pub thresholds_pct: Vec<u32>,
    #[serde(with = "rust_decimal::serde::str")]
    pub spend_usd: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub limit_usd: Decimal,
    pub mode: Mode,
    /// RFC 3339 time of the evaluation.
    pub at: String,
}

/// A window of a key went over (`state: over`) or back under (`state: ok`) its limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetStateChanged {
    pub scope: Scope,
    pub key: String,
    pub state: WindowState,
    pub window: WindowKind,
    pub window_start: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub spend_usd: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub limit_usd: Decimal,
    pub mode: Mode,
    pub at: String,
    /// Set when the key is over because a team it belongs to is: the team's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
}

/// One enforcement action or failure, as written to the audit table and sent to the alert topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// RFC 3339 time of the action.
    pub at: String,
    pub scope: AuditScope,
    pub key: String,
    pub action: AuditAction,
    /// What started it.
    pub cause: Cause,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_pct: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_decimal")]
    pub spend_usd: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_decimal")]
    pub limit_usd: Option<Decimal>,
    pub mode: Mode,
    /// How the deny was (or would be) applied; `""` on the wire when nothing was.
    #[serde(default, with = "crate::words::mechanism_or_empty")]
    pub mechanism: Option<Mechanism>,
    /// When the suspension lifts, if known (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifts_at: Option<String>,
    /// Free text: the reason given on the CLI, or the error.
    #[serde(default)]
    pub detail: String,
    /// The readable alert message sent to the topic.
    pub message: String,
}

/// A budget decision as the CLI and the Lambdas report it (`run --json`, `simulate`, the
/// enforcer's response): `principal` is the key the budget applies to (a user, role or session
/// ARN, or a team name); money as decimal strings; `at` when it is placed on a timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    pub principal: String,
    pub scope: Scope,
    pub window: Option<WindowKind>,
    pub window_start: Option<String>,
    pub window_scope: Option<Scope>,
    pub window_key: Option<String>,
    pub threshold_pct: Option<u32>,
    #[serde(with = "opt_decimal")]
    pub spend_usd: Option<Decimal>,
    #[serde(with = "opt_decimal")]
    pub limit_usd: Option<Decimal>,
    pub action: Action,
    pub mode: Mode,
    pub protected: bool,
    pub due_ms: Option<i64>,
    pub hold: Option<Hold>,
}

/// `detail-type` of the CloudTrail events EventBridge delivers for IAM calls.
pub const CLOUDTRAIL_CALL: &str = "AWS API Call via CloudTrail";

/// The `detail` of an IAM call that CloudTrail reports through EventBridge: the fields the
/// enforcer reads. An absent or `null` field is empty, never an error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CloudTrailCall {
    pub event_name: Option<String>,
    #[serde(rename = "eventID")]
    pub event_id: Option<String>,
    pub event_time: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub user_identity: UserIdentity,
    #[serde(deserialize_with = "null_as_default")]
    pub request_parameters: IamRequest,
}

/// Who made the call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserIdentity {
    pub arn: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub session_context: SessionContext,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SessionContext {
    #[serde(deserialize_with = "null_as_default")]
    pub session_issuer: SessionIssuer,
}

/// The role whose session made the call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SessionIssuer {
    pub arn: Option<String>,
}

/// The IAM request's parameters the enforcer looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IamRequest {
    pub user_name: Option<String>,
    pub role_name: Option<String>,
    pub group_name: Option<String>,
    pub policy_arn: Option<String>,
    pub policy_name: Option<String>,
    pub policy_document: Option<String>,
}

/// `detail-type` of an EventBridge schedule rule's events.
pub const SCHEDULED_EVENT: &str = "Scheduled Event";

/// What the enforcer Lambda is invoked with: an EventBridge event (spendguard's budget events, a
/// CloudTrail IAM call, a schedule rule's event) or the stack's EventBridge Scheduler input
/// `{"spendguard": "tick"}`. Every field is optional so that any JSON object reads (an event the
/// enforcer does not know is acknowledged, not retried); [`EnforcerEvent::input`] says what it
/// asks for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EnforcerEvent {
    #[serde(rename = "detail-type", skip_serializing_if = "Option::is_none")]
    pub detail_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
    /// The scheduler's own input (`tick`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spendguard: Option<String>,
}

/// What an [`EnforcerEvent`] asks the enforcer to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnforcerInput {
    /// A budget event (threshold or state): look at this key.
    Budget { scope: Scope, key: String },
    /// An IAM call seen by CloudTrail; `unreadable` holds why its detail did not read (the call
    /// is then empty: it names no key, so nothing is reconciled wrongly).
    CloudTrail {
        call: Box<CloudTrailCall>,
        unreadable: Option<String>,
    },
    /// The schedule: grace periods, restores, budgets changes, drift repair.
    Tick,
}

/// Why an [`EnforcerEvent`] asks for nothing: logged and acknowledged (retrying cannot help).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unrecognised {
    BudgetEventWithoutKey,
    UnknownEvent,
}

impl Unrecognised {
    pub fn as_str(self) -> &'static str {
        match self {
            Unrecognised::BudgetEventWithoutKey => "budget event without scope and key",
            Unrecognised::UnknownEvent => "unrecognised event",
        }
    }
}

impl EnforcerEvent {
    /// The one reading of the envelope: its `detail-type` (or the scheduler's input) and, for
    /// budget events and CloudTrail calls, the typed detail.
    pub fn input(&self) -> Result<EnforcerInput, Unrecognised> {
        match self.detail_type.as_deref() {
            Some(THRESHOLD_CROSSED | STATE_CHANGED) => {
                // both budget events name their key the same way
                #[derive(Deserialize)]
                struct Named {
                    scope: Scope,
                    key: String,
                }
                match Named::deserialize(&self.detail) {
                    Ok(n) if !n.key.is_empty() => Ok(EnforcerInput::Budget {
                        scope: n.scope,
                        key: n.key,
                    }),
                    _ => Err(Unrecognised::BudgetEventWithoutKey),
                }
            }
            Some(CLOUDTRAIL_CALL) => Ok(match CloudTrailCall::deserialize(&self.detail) {
                Ok(call) => EnforcerInput::CloudTrail {
                    call: Box::new(call),
                    unreadable: None,
                },
                Err(e) => EnforcerInput::CloudTrail {
                    call: Box::default(),
                    unreadable: Some(e.to_string()),
                },
            }),
            Some(SCHEDULED_EVENT) => Ok(EnforcerInput::Tick),
            _ if self.spendguard.as_deref() == Some("tick") => Ok(EnforcerInput::Tick),
            _ => Err(Unrecognised::UnknownEvent),
        }
    }
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

mod opt_decimal {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};
    use std::str::FromStr;

    pub fn serialize<S: Serializer>(v: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => s.serialize_str(&d.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        let o: Option<String> = Option::deserialize(d)?;
        o.map(|t| Decimal::from_str(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(v: serde_json::Value) -> Result<EnforcerInput, Unrecognised> {
        serde_json::from_value::<EnforcerEvent>(v).unwrap().input()
    }

    #[test]
    fn the_envelope_reads_every_event_the_enforcer_is_sent() {
        let ev: EnforcerEvent =
            serde_json::from_str(crate::fixtures::EVENTBRIDGE_THRESHOLD).unwrap();
        let e: BudgetThresholdCrossed = serde_json::from_value(ev.detail.clone()).unwrap();
        assert_eq!(
            ev.input(),
            Ok(EnforcerInput::Budget {
                scope: e.scope,
                key: e.key
            })
        );
        assert_eq!(
            input(serde_json::json!({"spendguard": "tick"})),
            Ok(EnforcerInput::Tick)
        );
        assert_eq!(
            input(serde_json::json!({"detail-type": "Scheduled Event", "source": "aws.events"})),
            Ok(EnforcerInput::Tick)
        );
        let call = input(
            serde_json::json!({"detail-type": CLOUDTRAIL_CALL, "detail": {
            "eventName": "DetachUserPolicy", "requestParameters": {"userName": "alice"}}}),
        );
        let Ok(EnforcerInput::CloudTrail { call, unreadable }) = call else {
            panic!("{call:?}")
        };
        assert_eq!(call.event_name.as_deref(), Some("DetachUserPolicy"));
        assert_eq!(call.request_parameters.user_name.as_deref(), Some("alice"));
        assert_eq!(unreadable, None);
    }

    #[test]
    fn the_envelope_refuses_by_name_what_asks_for_nothing() {
        // a budget event that names no key, an unknown detail-type, an empty object
        let no_key =
            serde_json::json!({"detail-type": STATE_CHANGED, "detail": {"scope": "principal"}});
        assert_eq!(input(no_key), Err(Unrecognised::BudgetEventWithoutKey));
        let blank = serde_json::json!({"detail-type": THRESHOLD_CROSSED,
            "detail": {"scope": "principal", "key": ""}});
        assert_eq!(input(blank), Err(Unrecognised::BudgetEventWithoutKey));
        let bad_scope = serde_json::json!({"detail-type": THRESHOLD_CROSSED,
            "detail": {"scope": "galaxy", "key": "k"}});
        assert_eq!(input(bad_scope), Err(Unrecognised::BudgetEventWithoutKey));
        assert_eq!(
            input(serde_json::json!({"detail-type": "Something else", "source": "x"})),
            Err(Unrecognised::UnknownEvent)
        );
        assert_eq!(
            input(serde_json::json!({})),
            Err(Unrecognised::UnknownEvent)
        );
        assert_eq!(
            input(serde_json::json!({"spendguard": "tock"})),
            Err(Unrecognised::UnknownEvent)
        );
        // a CloudTrail detail of the wrong shape is an empty call with its reason
        let Ok(EnforcerInput::CloudTrail { call, unreadable }) =
            input(serde_json::json!({"detail-type": CLOUDTRAIL_CALL, "detail": "text"}))
        else {
            panic!()
        };
        assert_eq!(*call, CloudTrailCall::default());
        assert!(unreadable.is_some_and(|u| u.contains("invalid type: string")));
    }

    #[test]
    fn threshold_events_round_trip_with_exact_decimals() {
        let ev: serde_json::Value =
            serde_json::from_str(crate::fixtures::EVENTBRIDGE_THRESHOLD).unwrap();
        assert_eq!(ev["detail-type"], THRESHOLD_CROSSED);
        assert_eq!(ev["source"], EVENT_SOURCE);
        let e: BudgetThresholdCrossed = serde_json::from_value(ev["detail"].clone()).unwrap();
        assert_eq!(e.spend_usd.to_string(), "4.000000001");
        assert_eq!(e.thresholds_pct, vec![80, 100]);
        let back = serde_json::to_value(&e).unwrap();
        assert_eq!(back["spend_usd"], "4.000000001");
        assert_eq!(
            serde_json::from_value::<BudgetThresholdCrossed>(back).unwrap(),
            e
        );
    }

    #[test]
    fn cloudtrail_calls_read_what_the_enforcer_needs_and_tolerate_nulls() {
        let c: CloudTrailCall = serde_json::from_value(serde_json::json!({
            "eventName": "DetachUserPolicy", "eventID": "e-1", "eventTime": "2026-11-30T10:00:00Z",
            "userIdentity": {"arn": "arn:aws:sts::1:assumed-role/Ops/x",
                "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::1:role/Ops"}}},
            "requestParameters": {"userName": "alice", "policyArn": "arn:aws:iam::1:policy/deny"},
            "responseElements": null
        }))
        .unwrap();
        assert_eq!(c.event_name.as_deref(), Some("DetachUserPolicy"));
        assert_eq!(c.event_id.as_deref(), Some("e-1"));
        assert_eq!(
            c.user_identity
                .session_context
                .session_issuer
                .arn
                .as_deref(),
            Some("arn:aws:iam::1:role/Ops")
        );
        assert_eq!(c.request_parameters.user_name.as_deref(), Some("alice"));
        let bare: CloudTrailCall = serde_json::from_value(serde_json::json!({
            "eventName": "ListUsers", "requestParameters": null,
            "userIdentity": {"sessionContext": null}
        }))
        .unwrap();
        assert_eq!(bare.request_parameters, IamRequest::default());
        assert_eq!(bare.user_identity.session_context.session_issuer.arn, None);
    }
}
