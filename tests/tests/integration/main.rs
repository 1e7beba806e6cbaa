//! spendguard integration tests: one binary, one module per area.

mod decode;
mod pricing;
