//! The Firehose transformation response, typed: `result` is exactly `Ok`, `Dropped` or
//! `ProcessingFailed` on the wire (an enum, never a free string), and `data` is absent on records
//! that carry none, as in the AWS blueprint.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One record's status, with the wire spellings Firehose requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransformResult {
    Ok,
    Dropped,
    ProcessingFailed,
}

/// `metadata` of an output record: the dynamic-partitioning keys (`dt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseMetadata {
    pub partition_keys: BTreeMap<String, String>,
}

/// One output record: exactly one per input `recordId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseRecord {
    pub record_id: String,
    pub result: TransformResult,
    /// base64 of newline-separated JSON rows; only on `Ok` records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ResponseMetadata>,
}

/// The handler's response to Firehose.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirehoseResponse {
    pub records: Vec<ResponseRecord>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_spellings_are_the_firehose_literals() {
        let r = FirehoseResponse {
            records: vec![
                ResponseRecord {
                    record_id: "a".into(),
                    result: TransformResult::Ok,
                    data: Some("e30K".into()),
                    metadata: Some(ResponseMetadata {
                        partition_keys: [("dt".to_string(), "2026-11-21".to_string())].into(),
                    }),
                },
                ResponseRecord {
                    record_id: "b".into(),
                    result: TransformResult::Dropped,
                    data: None,
                    metadata: None,
                },
                ResponseRecord {
                    record_id: "c".into(),
                    result: TransformResult::ProcessingFailed,
                    data: None,
                    metadata: None,
                },
            ],
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"records":[{"recordId":"a","result":"Ok","data":"e30K","metadata":{"partitionKeys":{"dt":"2026-11-21"}}},{"recordId":"b","result":"Dropped"},{"recordId":"c","result":"ProcessingFailed"}]}"#
        );
    }
}
