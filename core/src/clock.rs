//! Injected time: every decision that depends on "now" (deadlines, dedup horizons, windows)
//! takes a [`Clock`], so tests fix the time instead of sleeping or racing it.

/// Milliseconds since the Unix epoch, UTC.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            // A clock before 1970 is a broken host; 0 keeps every comparison well defined.
            Err(_) => 0,
        }
    }
}

/// A clock that always says the same time (tests, reproducible runs).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub i64);

impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        self.0
    }
}

/// Default dedup horizon of the spend ledger, in days: the Kinesis stream's retention (7 days in
/// the stack) plus the longest backfill `spendguard replay` accepts without being told (7 days).
/// Input older than this could be counted twice (its dedup markers may have expired), so replay
/// refuses it unless told otherwise.
pub const DEFAULT_DEDUP_HORIZON_DAYS: u32 = 14;
