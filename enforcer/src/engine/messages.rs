//! The words people read: alert and action messages, SNS subjects, and the bare audit record
//! the breaker, the fallback-price alert, the self-audit and operator commands start from.

use super::*;

/// An audit record of an action that is not one budget window's (the breaker, fallback prices,
/// an operator command, the self-audit): callers add the detail and the message.
pub(super) fn bare_record(
    at_ms: i64,
    (scope, key): (AuditScope, &str),
    action: AuditAction,
    cause: Cause,
) -> AuditRecord {
    AuditRecord {
        at: rfc3339(at_ms),
        scope,
        key: key.into(),
        action,
        cause,
        window: None,
        window_start: None,
        threshold_pct: None,
        spend_usd: None,
        limit_usd: None,
        mode: Mode::Enforce,
        mechanism: None,
        lifts_at: None,
        detail: String::new(),
        message: String::new(),
    }
}

pub(super) fn subject(d: &Decision) -> String {
    let who = d.key.key.rsplit(['/', ':']).next().unwrap_or_default();
    let s = match d.threshold_pct {
        Some(p) => format!("spendguard: {who} reached {p}% of its budget"),
        None => format!("spendguard: {who} {}", d.action.as_str()),
    };
    // SNS subjects: at most 100 characters
    s.chars().take(100).collect()
}

pub(super) fn subject_of(r: &AuditRecord) -> String {
    let who = r.key.rsplit(['/', ':']).next().unwrap_or_default();
    format!("spendguard: {} {who}", r.action.as_str().to_uppercase())
        .chars()
        .take(100)
        .collect()
}

pub(super) fn window_phrase(d: &Decision) -> String {
    match (&d.window, d.spend_usd, d.limit_usd) {
        (Some(w), Some(s), Some(l)) => format!(
            "{} window from {}{}: {} spent of a {} limit",
            w.kind.as_str(),
            w.start,
            if w.scope == Scope::Team {
                format!(" (team {})", w.key)
            } else {
                String::new()
            },
            money(s),
            money(l)
        ),
        (Some(w), _, _) => format!("{} window from {}", w.kind.as_str(), w.start),
        _ => "no window".into(),
    }
}

pub(super) fn alert_message(d: &Decision, lifts: Option<i64>) -> String {
    let pct = d.threshold_pct.unwrap_or(0);
    let then = if pct < 100 {
        "No action yet.".to_string()
    } else if d.protected {
        "It is protected: it will not be suspended.".to_string()
    } else {
        match d.mode {
            Mode::Enforce => format!(
                "Bedrock access will be suspended after the grace period{}.",
                lifts.map_or(String::new(), |t| format!(
                    ", until {} at the latest",
                    rfc3339(t)
                ))
            ),
            Mode::Shadow => "Shadow mode: it would be suspended; nothing is applied.".into(),
            Mode::AlertOnly => "Alert-only budget: no suspension.".into(),
        }
    };
    format!(
        "spendguard: {} ({}) reached {pct}% of its budget: {}. {then}",
        d.key.key,
        d.key.scope.as_str(),
        window_phrase(d)
    )
}

pub(super) fn action_message(d: &Decision, rec: &AuditRecord) -> String {
    let who = format!("{} ({})", d.key.key, d.key.scope.as_str());
    let lifts = rec
        .lifts_at
        .as_ref()
        .map_or(String::new(), |t| format!(" It lifts at {t} at the latest, when the window resets, or sooner if the budget is raised."));
    match d.action {
        Action::Pending => format!(
            "spendguard: {who} is over budget: {}. Bedrock access will be suspended at {} unless spend falls back under the limit.",
            window_phrase(d),
            d.due_ms.map(rfc3339).unwrap_or_default()
        ),
        Action::Suspend => format!(
            "spendguard SUSPENDED Bedrock access of {who}: {} (denied by {}).{lifts}",
            window_phrase(d),
            rec.mechanism.map_or("its members' denies", Mechanism::as_str)
        ),
        Action::WouldSuspend => format!(
            "spendguard (shadow mode) WOULD HAVE SUSPENDED {who}: {}. Nothing was applied.{lifts}",
            window_phrase(d)
        ),
        Action::Restore => format!(
            "spendguard RESTORED {who}: no window is over budget any more{}.",
            if d.mode == Mode::Shadow {
                " (shadow mode: nothing had been applied)"
            } else {
                ""
            }
        ),
        Action::Cancel => format!(
            "spendguard: {who} is back under budget before the grace period ended; no suspension."
        ),
        Action::Alert | Action::Held => String::new(),
    }
}
