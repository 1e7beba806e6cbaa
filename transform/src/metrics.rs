//! Metrics as CloudWatch Embedded Metric Format log lines: one JSON line per invocation that
//! CloudWatch turns into metrics, with no API call on the hot path.

pub use spendguard_aws::emf::{emf_line, NAMESPACE};

/// One invocation's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransformMetrics {
    pub records_in: usize,
    pub rows_out: usize,
    pub records_ok: usize,
    pub records_dropped: usize,
    pub records_failed: usize,
    pub bad_events: usize,
    pub fallback_priced: usize,
    pub reingested_envelopes: usize,
    pub decompressed_bytes: usize,
    pub duration_ms: u64,
}

impl TransformMetrics {
    /// The EMF line (`timestamp_ms` is the metric's time).
    pub fn emf(&self, function: &str, timestamp_ms: i64) -> String {
        let metrics: [(&str, &str, u64); 10] = [
            ("RecordsIn", "Count", self.records_in as u64),
            ("RowsOut", "Count", self.rows_out as u64),
            ("RecordsOk", "Count", self.records_ok as u64),
            ("RecordsDropped", "Count", self.records_dropped as u64),
            ("RecordsFailed", "Count", self.records_failed as u64),
            ("BadEvents", "Count", self.bad_events as u64),
            ("FallbackPriced", "Count", self.fallback_priced as u64),
            (
                "ReingestedEnvelopes",
                "Count",
                self.reingested_envelopes as u64,
            ),
            ("DecompressedBytes", "Bytes", self.decompressed_bytes as u64),
            ("HandlerDuration", "Milliseconds", self.duration_ms),
        ];
        emf_line(function, timestamp_ms, &metrics)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn every_declared_metric_has_a_value_at_the_root() {
        let m = TransformMetrics {
            records_in: 3,
            rows_out: 7,
            duration_ms: 12,
            ..Default::default()
        };
        let v: Value = serde_json::from_str(&m.emf("transform", 1_700_000_000_000)).unwrap();
        let decl = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(decl["Namespace"], "spendguard");
        assert_eq!(decl["Dimensions"], json!([["Function"]]));
        assert_eq!(v["Function"], "transform");
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000i64);
        let names: Vec<&str> = decl["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names.len(), 10);
        for n in names {
            assert!(v[n].is_u64(), "{n} has no numeric value");
        }
        assert_eq!(v["RecordsIn"], 3);
        assert_eq!(v["RowsOut"], 7);
        assert_eq!(v["HandlerDuration"], 12);
    }
}
