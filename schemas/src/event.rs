//! The payloads of spendguard's own EventBridge events (`source: spendguard`) and the audit and
//! alert record: what the evaluator publishes, what the enforcer consumes, what lands in the audit
//! table. Money stays exact on the wire: decimals are JSON strings.

use crate::words::{
    AuditAction, AuditScope, Cause, Mechanism, Mode, Scope, WindowKind, WindowState,
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
}
