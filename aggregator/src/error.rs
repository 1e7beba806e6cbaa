//! What can fail before the handler runs: the configuration. The handler itself never fails as a
//! whole; a record's problem is its disposition in the batch response.

/// A configuration error, at cold start: the function cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{name}={value:?}: {why}")]
    Bad {
        name: &'static str,
        value: String,
        why: String,
    },
    #[error(transparent)]
    Pricing(#[from] spendguard_aws::pricing::ConfigError),
}
