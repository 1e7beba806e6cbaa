//! The transform's integration tests: the Firehose handler and its sinks on the emulators.
//! One binary per crate: each test binary links the whole AWS SDK, so one link instead of
//! several keeps CI's build time and disk down.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod emulators;
mod handler;
mod util;
