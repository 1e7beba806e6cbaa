//! spendguard-aws: the AWS plumbing that more than one function (and the CLI) uses, in one place
//! (the delta-rs `crates/aws` pattern): the SDK configuration, the pricing configuration, the
//! price overlay object in S3 with its at-most-once-a-minute conditional read, the DynamoDB items
//! several functions read (`tables`, feature `dynamodb`), the one retry classification, the one
//! log format (`log`) and the EMF line, what a function says about the budgets document, and
//! AWS's public Price List offer files. Lambda crates stay thin and side by side: they depend on
//! this crate, never on each other (scripts/test.sh checks it).

pub mod budgets;
pub mod emf;
pub mod log;
pub mod offers;
pub mod prices;
pub mod pricing;
pub mod retry;
#[cfg(feature = "dynamodb")]
pub mod tables;
#[cfg(feature = "test-util")]
pub mod testkit;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_smithy_http_client::tls;
use std::time::Duration;

/// The shared SDK configuration: region and credentials from the environment (Lambda sets
/// them), `endpoint_url` for emulators (else `AWS_ENDPOINT_URL*` as usual). rustls on ring (no
/// aws-lc build); the SDK's own retries are off, so that each caller alone decides what is
/// retried.
pub async fn sdk_config(endpoint_url: Option<&str>) -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    // Bounded calls: a hung connection must not eat the function's time.
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(10))
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts);
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// An S3 client; path-style addressing when the endpoint is overridden (emulators serve no
/// per-bucket host names).
pub fn s3_client(conf: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let mut b = aws_sdk_s3::config::Builder::from(conf);
    if conf.endpoint_url().is_some() {
        b = b.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}
