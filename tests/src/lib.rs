//! spendguard-tests: the integration-test binary lives in `tests/integration/`.
