//! CloudWatch Embedded Metric Format: one JSON log line per invocation that CloudWatch turns into
//! metrics, with no API call on the hot path. Every function writes its metrics through this.

use serde_json::{json, Map, Value};

/// The namespace every spendguard metric lives in.
pub const NAMESPACE: &str = "spendguard";

/// A stored budgets document was refused (it does not parse) and the budgets in force were kept:
/// said by every function that reads the document, each time it reads the bad version.
pub const BUDGETS_REFUSED: &str = "BudgetsDocumentRefused";

/// One EMF line: every metric declared under [`NAMESPACE`] with the `Function` dimension, and its
/// value at the root.
pub fn emf_line(function: &str, timestamp_ms: i64, metrics: &[(&str, &str, u64)]) -> String {
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": metrics.iter().map(|(n, u, _)| json!({"Name": n, "Unit": u})).collect::<Vec<_>>(),
            }],
        }),
    );
    root.insert("Function".into(), Value::from(function));
    for (name, _, v) in metrics {
        root.insert((*name).into(), Value::from(*v));
    }
    Value::Object(root).to_string()
}
