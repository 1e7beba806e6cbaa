//! One classification of AWS errors for every adapter (the transform's Kinesis sends, the
//! aggregator's DynamoDB transactions, the enforcer's IAM, DynamoDB, SNS and EventBridge calls):
//! which service error codes, HTTP statuses and SDK failures may clear on another try. The three
//! adapters kept lists of their own that disagreed, and an unknown SDK failure was fatal in one
//! and retryable in the others. It also holds the one retry policy and the one backoff (capped,
//! full jitter) every retry loop waits with; the loops were three, one without jitter.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use std::time::Duration;

/// How hard to try: calls in all (the first included) and the backoff's base and cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 20 calls (AWS's Firehose transformation blueprint re-ingests with 20), 50 ms to 2 s.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 20,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
        }
    }
}

/// Full-jitter backoff: before retry `n` (1 for the first), a uniform delay in
/// `[0, min(cap, base * 2^(n-1))]`, so a fleet of throttled callers spreads out instead of
/// retrying in lockstep. xorshift, seeded from the clock: no rand crate.
#[derive(Debug)]
pub struct Backoff(u64);

impl Backoff {
    pub fn seeded() -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as u64)
            .unwrap_or(0);
        Backoff(t | 1)
    }

    /// A fixed seed, for tests.
    pub fn with_seed(seed: u64) -> Self {
        Backoff(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// The delay before retry `retry` (1 for the first) under `p`.
    pub fn delay(&mut self, p: &RetryPolicy, retry: u32) -> Duration {
        let exp = p
            .base_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20));
        let ceiling = exp.min(p.max_delay).as_micros() as u64;
        if ceiling == 0 {
            return Duration::ZERO;
        }
        Duration::from_micros(self.next() % (ceiling + 1))
    }

    /// Waits [`Self::delay`].
    pub async fn wait(&mut self, p: &RetryPolicy, retry: u32) {
        tokio::time::sleep(self.delay(p, retry)).await;
    }
}

/// Service error codes (whole-call, per record, or a transaction's cancellation reason) that can
/// clear by waiting: throttling, capacity, conflicts in flight, the service's own failures.
/// Anything else (validation, access denied, a missing resource, a disabled KMS key) cannot.
pub const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottlingError",
    "ThrottledException",
    "KMSThrottlingException",
    "ProvisionedThroughputExceeded",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "TransactionConflict",
    "TransactionConflictException",
    "TransactionInProgressException",
    "ConcurrentModification",
    "ServiceFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalFailureException",
    "InternalServerError",
    "InternalException",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// A service error worth another try: a listed code, a 5xx (the service's fault, whatever its
/// code) or a 429.
pub fn service_error_is_retryable(code: &str, http_status: u16) -> bool {
    RETRYABLE_CODES.contains(&code) || http_status >= 500 || http_status == 429
}

/// An SDK error worth another try: a retryable service error, a timeout, a dispatch or response
/// failure, or a kind a newer SDK adds; never a request that could not be built.
pub fn sdk_error_is_retryable<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    match e {
        SdkError::ServiceError(s) => service_error_is_retryable(
            s.err().code().unwrap_or_default(),
            s.raw().status().as_u16(),
        ),
        SdkError::ConstructionFailure(_) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_grows_and_spreads() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(100),
        };
        let mut b = Backoff::with_seed(12345);
        for retry in 1..30 {
            let d = b.delay(&p, retry);
            let ceiling = Duration::from_millis(10 * (1u64 << (retry - 1).min(20)))
                .min(Duration::from_millis(100));
            assert!(d <= ceiling, "retry {retry}: {d:?} > {ceiling:?}");
        }
        // jitter: many delays at the cap are not all the same
        let many: std::collections::HashSet<Duration> = (0..50).map(|_| b.delay(&p, 10)).collect();
        assert!(many.len() > 25, "{}", many.len());
        let zero = RetryPolicy {
            base_delay: Duration::ZERO,
            ..p
        };
        assert_eq!(b.delay(&zero, 3), Duration::ZERO);
    }

    #[test]
    fn throttling_capacity_and_server_errors_are_retried_validation_is_not() {
        for code in [
            "ThrottlingException",
            "ProvisionedThroughputExceededException",
            "TransactionConflict",
            "ConcurrentModification",
        ] {
            assert!(service_error_is_retryable(code, 400), "{code}");
        }
        for code in [
            "ValidationException",
            "AccessDeniedException",
            "ResourceNotFoundException",
            "KMSDisabledException",
        ] {
            assert!(!service_error_is_retryable(code, 400), "{code}");
        }
        assert!(service_error_is_retryable("SomethingNew", 503));
        assert!(service_error_is_retryable("SlowDown", 429));
    }
}
