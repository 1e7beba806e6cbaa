//! The CloudWatch Logs subscription envelope (after base64 and gunzip), as delivered to Kinesis
//! Data Streams and Firehose.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// `messageType` of an envelope. `CONTROL_MESSAGE` is a reachability probe with no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageType {
    #[serde(rename = "DATA_MESSAGE")]
    Data,
    #[serde(rename = "CONTROL_MESSAGE")]
    Control,
}

/// One subscription payload: a batch of log events from one log stream.
///
/// Strings borrow from the (in-place unescaped) decompressed buffer where the parser allows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<'a> {
    pub message_type: MessageType,
    #[serde(borrow, default)]
    pub owner: Cow<'a, str>,
    #[serde(borrow, default)]
    pub log_group: Cow<'a, str>,
    #[serde(borrow, default)]
    pub log_stream: Cow<'a, str>,
    #[serde(borrow, default)]
    pub subscription_filters: Vec<Cow<'a, str>>,
    /// Required: an envelope without it is malformed, never an empty batch.
    #[serde(borrow)]
    pub log_events: Vec<LogEvent<'a>>,
}

/// One log event: `message` is one Bedrock record as a JSON *string* (parsed a second time).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogEvent<'a> {
    /// A 56-digit (up to 129) decimal string: never a number.
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    /// Ingestion timestamp, epoch milliseconds.
    pub timestamp: i64,
    #[serde(borrow)]
    pub message: Cow<'a, str>,
}
