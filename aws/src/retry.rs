//! One classification of AWS errors for every adapter (the transform's Kinesis sends, the
//! aggregator's DynamoDB transactions, the enforcer's IAM, DynamoDB, SNS and EventBridge calls):
//! which service error codes, HTTP statuses and SDK failures may clear on another try. The three
//! adapters kept lists of their own that disagreed, and an unknown SDK failure was fatal in one
//! and retryable in the others. Callers bound their attempts; this only says whether one more
//! can help.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

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
