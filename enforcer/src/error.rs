//! What can fail: configuration at cold start, and a handler invocation, each knowing whether a
//! retry can help.

use crate::engine::EnforceError;
use crate::ports::PortError;

/// A configuration error, at cold start (the type every function shares).
pub use spendguard_aws::pricing::ConfigError;

/// A handler failure: retryable ones fail the invocation so the source retries it.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Enforce(#[from] EnforceError),
    #[error(transparent)]
    Port(#[from] PortError),
    #[error("stored budgets document (version {version}) does not parse: {why}")]
    Budgets { version: u64, why: String },
}

impl HandlerError {
    /// Whether the same event can succeed on another try (EventBridge's asynchronous invoke and
    /// the stream retry it either way; this names the failure for whoever reads it).
    pub fn retryable(&self) -> bool {
        match self {
            HandlerError::Enforce(e) => e.retryable(),
            HandlerError::Port(e) => e.retryable(),
            // no budgets in force until a document that parses is pushed
            HandlerError::Budgets { .. } => false,
        }
    }
}

/// The error Lambda reports: `errorType` is `Retryable` or `NonRetryable`, `errorMessage` says
/// what failed.
impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: if e.retryable() {
                "Retryable"
            } else {
                "NonRetryable"
            }
            .into(),
            error_message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{ErrorKind, PortError};

    #[test]
    fn handler_errors_tell_lambda_whether_a_retry_can_help() {
        let throttled = HandlerError::Port(PortError::new(
            "iam",
            "AttachUserPolicy",
            ErrorKind::Retryable,
            "Throttling",
        ));
        let denied = HandlerError::Port(PortError::new(
            "dynamodb",
            "GetItem",
            ErrorKind::Fatal,
            "AccessDeniedException",
        ));
        let budgets = HandlerError::Budgets {
            version: 7,
            why: "budgets line 3: expected a number".into(),
        };
        let contended = HandlerError::Enforce(EnforceError::Contended("alice".into()));
        let d: lambda_runtime::Diagnostic = throttled.into();
        assert_eq!(d.error_type, "Retryable");
        assert!(
            d.error_message.contains("Throttling"),
            "{}",
            d.error_message
        );
        let d: lambda_runtime::Diagnostic = contended.into();
        assert_eq!(d.error_type, "Retryable");
        let d: lambda_runtime::Diagnostic = denied.into();
        assert_eq!(d.error_type, "NonRetryable");
        let d: lambda_runtime::Diagnostic = budgets.into();
        assert_eq!(d.error_type, "NonRetryable");
        assert!(d.error_message.contains("version 7"), "{}", d.error_message);
    }
}
