//! What a function says about the stored budgets document it read ([`Offer`], the one rule in
//! `core`): a new version loaded, or a version refused (an error line naming the line that does
//! not parse, and the `BudgetsDocumentRefused` metric the stack alarms on). The aggregator, the
//! evaluator and the enforcer all log these lines.

use serde_json::json;
use spendguard_core::budget::Offer;

/// The log lines (JSON; the metric as an EMF line) for one offer; none when unchanged.
pub fn said(offer: &Offer, function: &str, now_ms: i64) -> Vec<String> {
    match offer {
        Offer::Unchanged => Vec::new(),
        Offer::Loaded { version } => vec![json!({"level": "info",
            "msg": "budgets document loaded", "version": version})
        .to_string()],
        Offer::Refused {
            version,
            in_force,
            error,
        } => vec![
            json!({"level": "error",
                   "msg": "budgets document does not parse; keeping the budgets in force",
                   "version": version, "inForce": in_force, "error": error.to_string()})
            .to_string(),
            crate::emf::emf_line(
                function,
                now_ms,
                &[(crate::emf::BUDGETS_REFUSED, "Count", 1)],
            ),
        ],
    }
}
