//! The enforcer Lambda's entry point: wires configuration, the AWS clients and the clock, then
//! hands each EventBridge event (ours, CloudTrail IAM calls, the schedule) to `enforcer_handler`.

use spendguard_aws::sdk_config;
use spendguard_core::clock::SystemClock;
use spendguard_enforcer::{aws_app, enforcer_handler, Config};
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    // stdout is the function's log stream: problems and the EMF metrics lines go there
    spendguard_aws::log::init_stdout();
    let config = Config::from_env()?;
    let conf = sdk_config(None).await;
    let mut app = aws_app(&conf, &config, Arc::new(SystemClock)).await;
    if let Ok(name) = std::env::var("AWS_LAMBDA_FUNCTION_NAME") {
        app.function_name = name;
    }
    let app = &app;
    lambda_runtime::run(lambda_runtime::service_fn(move |event| async move {
        enforcer_handler(event, app).await
    }))
    .await
}
