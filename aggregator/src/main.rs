//! The aggregator Lambda's entry point: wires configuration, the DynamoDB client and the clock,
//! then hands each Kinesis batch to `function_handler`.

use spendguard_aggregator::dynamo::DynamoLedger;
use spendguard_aggregator::{function_handler, BudgetsSource, Config, Deps, BUDGETS_REFRESH_MS};
use spendguard_aws::prices::{PriceObject, PricesSource, POLL_MS};
use spendguard_aws::sdk_config;
use spendguard_core::clock::SystemClock;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    // stdout is the function's CloudWatch log stream: problems and the EMF metrics line go there.
    spendguard_aws::log::init_stdout();
    let config = Config::from_env()?;
    let conf = sdk_config(None).await;
    let horizon_ms = config.horizon_ms();
    let client = aws_sdk_dynamodb::Client::new(&conf);
    let ledger = DynamoLedger::new(client.clone(), config.table.clone(), horizon_ms / 1000);
    let pipeline = config.pricing.pipeline()?;
    let mut deps = Deps::new(
        pipeline,
        config.budgets,
        ledger,
        Arc::new(SystemClock),
        Some(horizon_ms),
    );
    if let Some(table) = config.enforcement_table.clone() {
        deps = deps.with_budgets_source(BudgetsSource::new(client, table, BUDGETS_REFRESH_MS));
    }
    if let Some(bucket) = config.pricing.prices_bucket.clone() {
        let object = PriceObject::new(spendguard_aws::s3_client(&conf), bucket);
        deps = deps.with_prices_source(PricesSource::new(object, POLL_MS), config.pricing.clone());
    }
    if let Ok(name) = std::env::var("AWS_LAMBDA_FUNCTION_NAME") {
        deps.function_name = name;
    }
    let deps = &deps;
    lambda_runtime::run(lambda_runtime::service_fn(move |event| async move {
        function_handler(event, deps).await
    }))
    .await
}
