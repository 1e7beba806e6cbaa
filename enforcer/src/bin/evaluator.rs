//! The evaluator Lambda's entry point: wires configuration, the AWS clients and the clock, then
//! hands each batch of the ledger table's stream to `evaluator_handler`.

use spendguard_aws::sdk_config;
use spendguard_core::clock::SystemClock;
use spendguard_enforcer::{aws_app, evaluator_handler, Config};
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    // stdout is the function's log stream: problems and the EMF metrics lines go there
    spendguard_aws::log::init_stdout();
    let config = Config::from_env()?;
    if config.event_bus.is_empty() {
        return Err("SPENDGUARD_EVENT_BUS is not set".into());
    }
    let conf = sdk_config(None).await;
    let mut app = aws_app(&conf, &config, Arc::new(SystemClock)).await;
    app.function_name =
        std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "spendguard-evaluator".into());
    let app = &app;
    lambda_runtime::run(lambda_runtime::service_fn(move |event| async move {
        evaluator_handler(event, app).await
    }))
    .await
}
