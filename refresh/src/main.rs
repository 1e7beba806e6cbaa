//! The price refresh Lambda's entry point: wires configuration, the S3 client and the clock,
//! then runs one refresh per (scheduled) invocation.

use spendguard_aws::prices::PriceObject;
use spendguard_core::clock::{Clock, SystemClock};
use spendguard_refresh::{handle, Config, Deps};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    // stdout is the function's CloudWatch log stream: the summary and the EMF line go there.
    spendguard_aws::log::init_stdout();
    let config = Config::from_vars(|k| std::env::var(k).ok())?;
    let conf = spendguard_aws::sdk_config(None).await;
    let object = PriceObject::new(spendguard_aws::s3_client(&conf), config.bucket.clone());
    let deps = Deps {
        config,
        object,
        function_name: std::env::var("AWS_LAMBDA_FUNCTION_NAME")
            .unwrap_or_else(|_| "spendguard-refresh".into()),
    };
    let deps = &deps;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |_event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
            handle(deps, SystemClock.now_ms())
                .await
                .map_err(lambda_runtime::Error::from)
        },
    ))
    .await
}
