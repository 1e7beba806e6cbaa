//! The transform Lambda's entry point: wires configuration, the SDK clients and the clock, then
//! hands each Firehose invocation to `event_handler`.

use spendguard_aws::prices::{PriceObject, PricesSource, POLL_MS};
use spendguard_core::clock::SystemClock;
use spendguard_transform::aws::{sdk_config, AwsSink};
use spendguard_transform::{event_handler, Config, Deps};
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    // stdout is the function's CloudWatch log stream: problems and the EMF metrics line go there.
    spendguard_aws::log::init_stdout();
    let config = Config::from_env()?;
    let conf = sdk_config(None).await;
    let sink = AwsSink::new(&conf);
    let bucket = config.pricing.prices_bucket.clone();
    let mut deps = Deps::new(config, sink, Arc::new(SystemClock))?;
    deps.prices = bucket.map(|b| {
        PricesSource::new(
            PriceObject::new(spendguard_aws::s3_client(&conf), b),
            POLL_MS,
        )
    });
    if let Ok(name) = std::env::var("AWS_LAMBDA_FUNCTION_NAME") {
        deps.function_name = name;
    }
    let deps = &deps;
    lambda_runtime::run(lambda_runtime::service_fn(move |event| async move {
        event_handler(event, deps).await
    }))
    .await
}
