//! The `spendguard` command's integration tests: the built binary run on generated input.
//! One binary per crate: each test binary links the whole AWS SDK, so one link instead of
//! several keeps CI's build time and disk down.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod enforce_cli;
mod ledger_cli;
mod price_cli;
mod prices_cli;
mod replay_cli;
mod robust_cli;
mod run_cli;
mod simulate_cli;
mod util;
