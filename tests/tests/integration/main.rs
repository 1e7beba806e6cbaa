//! spendguard integration tests: one binary, one module per area.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::type_complexity
)] // test code

mod decode;
mod pricelist;
mod prices_2026;
mod pricing;
mod scan;
mod synth_corpus;
