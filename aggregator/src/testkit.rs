//! Test support (feature `test-util`): a ledger on a fresh moto table, transactions one at a
//! time, and the Kinesis events the function receives.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support

use crate::dynamo::{DynamoLedger, Transact, TxError};
pub use spendguard_aws::testkit::{
    create_ledger_table as create_table, emulator, emulator_config, unique, MOTO_VAR,
};

/// moto applies a transaction by deep-copying the table and restoring the copy when it cancels:
/// two requests at once can fail (HTTP 500) or, worse, a cancelled one can restore over the
/// other's commit. DynamoDB's transactions are serialisable, so the tests send one transaction
/// at a time per client: applies still interleave at transaction boundaries, as they do on AWS.
#[derive(Debug)]
pub struct OneAtATime<T> {
    pub inner: T,
    gate: tokio::sync::Mutex<()>,
}

impl<T> OneAtATime<T> {
    pub fn new(inner: T) -> Self {
        OneAtATime {
            inner,
            gate: tokio::sync::Mutex::new(()),
        }
    }
}

impl<T: Transact> Transact for OneAtATime<T> {
    async fn transact(
        &self,
        items: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
    ) -> Result<(), TxError> {
        let _one = self.gate.lock().await;
        self.inner.transact(items).await
    }
}

/// A DynamoDB ledger on a new table of the emulator at `endpoint`.
pub async fn ledger(
    endpoint: &str,
    prefix: &str,
) -> DynamoLedger<OneAtATime<aws_sdk_dynamodb::Client>> {
    let d = aws_sdk_dynamodb::Client::new(&emulator_config(endpoint).await);
    let table = unique(prefix);
    create_table(&d, &table).await;
    DynamoLedger::with_transact(OneAtATime::new(d.clone()), d, table, 14 * 86_400)
}

/// A 56-digit Kinesis sequence number, increasing with `i`.
pub fn kinesis_sequence(i: usize) -> String {
    format!("4959033827149025660855969253836157109592157598913{i:07}")
}

/// A Lambda Kinesis event over (sequence number, data), as the event source mapping sends it.
pub fn kinesis_event(records: &[(String, Vec<u8>)]) -> crate::KinesisEvent {
    let recs: Vec<serde_json::Value> = records
        .iter()
        .map(|(s, d)| {
            serde_json::json!({
                "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "pk", "sequenceNumber": s,
                            "data": base64_simd::STANDARD.encode_to_string(d),
                            "approximateArrivalTimestamp": 1795305600.5},
                "eventSource": "aws:kinesis", "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:{s}"), "eventName": "aws:kinesis:record",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:111122223333:stream/bedrock-logs"
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": recs })).unwrap()
}
