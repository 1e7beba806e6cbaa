//! The evaluator's and the enforcer's integration tests: in-memory ports, moto, end to end, the timeline property.
//! One binary per crate: each test binary links the whole AWS SDK, so one link instead of
//! several keeps CI's build time and disk down.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod blast_radius;
mod breaker_moto;
mod budgets_memory;
mod e2e;
mod enforce_moto;
mod team_memory;
mod timeline_property;
mod util;
