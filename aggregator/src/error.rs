//! What can fail before the handler runs: the configuration, with the error type every function
//! shares. The handler itself never fails as a whole; a record's problem is its disposition in the
//! batch response.

pub use spendguard_aws::pricing::ConfigError;
