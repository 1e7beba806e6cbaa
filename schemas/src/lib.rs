//! spendguard-schemas: the single source of truth for the data shapes that cross a boundary.
//!
//! - [`record`]: one Bedrock model-invocation-log record, parsed without materialising bodies.
//! - [`envelope`]: the CloudWatch Logs subscription envelope that Kinesis and Firehose carry.
//! - [`row`]: the priced row (one per invocation) and the column table that yields the Arrow
//!   schema, the Glue `Columns` and the Glue `PartitionKeys`.
//!
//! - [`words`]: the domain's words (scope, window kind, mode, audit action, deny mechanism, ...)
//!   as enums with their one wire spelling.
//!
//! No I/O, no async: these are types and constants only.

pub mod envelope;
pub mod event;
pub mod record;
pub mod row;
pub mod time;
pub mod words;

#[cfg(any(test, feature = "test-util"))]
pub mod fixtures;

pub use envelope::{Envelope, LogEvent, MessageType};
pub use record::{Identity, InvocationRecord, RecordInput, RecordOutput};
pub use row::{
    CacheTtlSource, ColumnType, EndpointTier, PriceStatus, PricedRow, PrincipalType, COLUMNS,
};
