//! What the enforcer's integration tests share beyond the crate's testkit: spend written into
//! the ledger table the way the aggregator writes it (the aggregator is a dev-dependency only).

use spendguard_enforcer::testkit::Stack;

/// A writer for the stack's ledger table.
pub fn ledger_writer(
    conf: &aws_config::SdkConfig,
    s: &Stack,
) -> spendguard_aggregator::dynamo::DynamoLedger<
    spendguard_aggregator::testkit::OneAtATime<aws_sdk_dynamodb::Client>,
> {
    let d = aws_sdk_dynamodb::Client::new(conf);
    spendguard_aggregator::dynamo::DynamoLedger::with_transact(
        spendguard_aggregator::testkit::OneAtATime::new(d.clone()),
        d,
        s.ledger_table.clone(),
        14 * 86_400,
    )
}
