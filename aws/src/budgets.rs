//! What a function says about the stored budgets document it read ([`Offer`], the one rule in
//! `core`): a new version loaded, or a version refused (an error line naming the line that does
//! not parse, and the `BudgetsDocumentRefused` metric the stack alarms on). The aggregator, the
//! evaluator and the enforcer all say it through this.

use spendguard_core::budget::Offer;

/// Logs one offer (the refusal with its metric); nothing when unchanged.
pub fn say(offer: &Offer, function: &str, now_ms: i64) {
    match offer {
        Offer::Unchanged => {}
        Offer::Loaded { version } => tracing::info!(version, "budgets document loaded"),
        Offer::Refused {
            version,
            in_force,
            error,
        } => {
            tracing::error!(
                version,
                inForce = in_force,
                error = %error,
                "budgets document does not parse; keeping the budgets in force"
            );
            crate::log::emit_metrics(&crate::emf::emf_line(
                function,
                now_ms,
                &[(crate::emf::BUDGETS_REFUSED, "Count", 1)],
            ));
        }
    }
}
