//! The aggregator's integration tests: DynamoDB ledger on moto, Kinesis handler on kinesalite, properties.
//! One binary per crate: each test binary links the whole AWS SDK, so one link instead of
//! several keeps CI's build time and disk down.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod dynamodb;
mod kinesis;
mod property;
mod util;
