//! The ports the evaluator and the enforcer talk through: IAM, the enforcement table (state,
//! alert markers, levels, audit, the budgets document), the alert topic, the event bus and the
//! ledger's windows. The AWS adapters live in `aws.rs`; in-memory ones in `memory.rs`.

use async_trait::async_trait;
use spendguard_core::enforce::{KeyRef, KeyState};
use spendguard_core::ledger::WindowTotal;
use spendguard_core::window::WindowKey;
use spendguard_schemas::event::AuditRecord;
use spendguard_schemas::words::Mechanism;

/// What kind of failure a port call had: it decides retry or alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The entity does not exist (IAM `NoSuchEntity`, SNS `NotFound`).
    NotFound,
    /// A quota was hit (IAM `LimitExceeded`): retrying will not help.
    LimitExceeded,
    /// A conditional write lost a race.
    Conflict,
    /// Throttling, a timeout, a 5xx: retry.
    Retryable,
    /// Bad input or permissions: retrying will not help.
    Fatal,
}

/// A failed port call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{service} {op}: {message}")]
pub struct PortError {
    pub service: &'static str,
    pub op: &'static str,
    pub kind: ErrorKind,
    pub message: String,
}

impl PortError {
    pub fn new(
        service: &'static str,
        op: &'static str,
        kind: ErrorKind,
        message: impl Into<String>,
    ) -> PortError {
        PortError {
            service,
            op,
            kind,
            message: message.into(),
        }
    }

    pub fn retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Retryable | ErrorKind::Conflict)
    }
}

pub type PortResult<T> = Result<T, PortError>;

/// An IAM user or role, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity<'a> {
    User(&'a str),
    Role(&'a str),
}

/// The IAM calls spendguard makes. Removals of something absent succeed (idempotent).
#[async_trait]
pub trait Iam: Send + Sync {
    /// `RoleId` (`AROA...`) of a role, from `iam:GetRole`.
    async fn role_id(&self, role: &str) -> PortResult<String>;
    /// ARNs of the managed policies attached to a user or role.
    async fn attached(&self, who: Entity<'_>) -> PortResult<Vec<String>>;
    async fn attach(&self, who: Entity<'_>, policy_arn: &str) -> PortResult<()>;
    async fn detach(&self, who: Entity<'_>, policy_arn: &str) -> PortResult<()>;
    /// A role's inline policies as (name, decoded JSON document).
    async fn role_inline(&self, role: &str) -> PortResult<Vec<(String, String)>>;
    async fn put_role_inline(&self, role: &str, name: &str, doc: &str) -> PortResult<()>;
    async fn delete_role_inline(&self, role: &str, name: &str) -> PortResult<()>;
    /// Names of the groups a user is in.
    async fn groups(&self, user: &str) -> PortResult<Vec<String>>;
    async fn add_to_group(&self, user: &str, group: &str) -> PortResult<()>;
    async fn remove_from_group(&self, user: &str, group: &str) -> PortResult<()>;
    /// A user's or role's tags as (key, value).
    async fn tags(&self, who: Entity<'_>) -> PortResult<Vec<(String, String)>>;
}

/// A key's recorded state, with what the last suspension used and the row version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    pub state: KeyState,
    /// How the deny was applied; `None` when nothing is applied.
    pub mechanism: Option<Mechanism>,
    /// 0 when there is no row yet.
    pub version: u64,
}

/// The budgets document as stored, with its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetsDoc {
    pub version: u64,
    pub text: String,
}

/// Why the circuit breaker opened: the evidence the operator alert carries.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BreakerTrip {
    pub at_ms: i64,
    /// Keys suspended (or about to be) within the window, the tripping one included.
    pub count: usize,
    pub max_suspensions: u32,
    pub window_minutes: u32,
    /// The key whose suspension tripped it (held, not suspended).
    pub by: String,
    /// The keys counted, oldest first (at most [`BREAKER_KEYS_KEPT`]).
    pub keys: Vec<String>,
    /// The operator alert went out (a failed send is repeated by the tick).
    #[serde(default)]
    pub alerted: bool,
}

/// How many of the counted keys a trip keeps as evidence.
pub const BREAKER_KEYS_KEPT: usize = 50;

/// The circuit breaker's shared state: one item in the enforcement table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BreakerState {
    /// Counting restarts in a new epoch after each resume.
    pub epoch: u64,
    /// `Some` while open.
    pub open: Option<BreakerTrip>,
}

/// A logged model id priced at a fallback price on one UTC day (recorded by the aggregator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FallbackModel {
    pub day: String,
    pub model: String,
    pub invocations: u64,
}

/// The enforcement table.
#[async_trait]
pub trait Store: Send + Sync {
    async fn state(&self, key: &KeyRef) -> PortResult<Stored>;
    /// Writes the state if the row is still at `expected` (0: no row). `Ok(false)` on a race.
    async fn put_state(&self, key: &KeyRef, s: &Stored, expected: u64) -> PortResult<bool>;
    /// Keys with a non-`ok` status or an operator override.
    async fn watched(&self) -> PortResult<Vec<KeyRef>>;
    /// Marks (window, threshold) as alerted; `Ok(true)` only for the first caller.
    async fn mark_alert(&self, w: &WindowKey, pct: u32) -> PortResult<bool>;
    /// Undoes `mark_alert` when the alert could not be sent (so a retry sends it).
    async fn unmark_alert(&self, w: &WindowKey, pct: u32) -> PortResult<()>;
    /// The highest threshold the evaluator has published for a window (0: none).
    async fn level(&self, w: &WindowKey) -> PortResult<u32>;
    async fn set_level(&self, w: &WindowKey, pct: u32) -> PortResult<()>;
    async fn audit(&self, r: &AuditRecord) -> PortResult<()>;
    /// A key's audit records, oldest first.
    async fn audit_of(&self, key: &KeyRef) -> PortResult<Vec<AuditRecord>>;
    async fn budgets(&self) -> PortResult<Option<BudgetsDoc>>;
    /// Stores a new budgets document; returns its version.
    async fn put_budgets(&self, text: &str) -> PortResult<u64>;
    /// The budgets version the last full re-evaluation ran against (0: never).
    async fn evaluated_version(&self) -> PortResult<u64>;
    async fn set_evaluated_version(&self, v: u64) -> PortResult<()>;
    /// The circuit breaker (closed, epoch 0, when never used).
    async fn breaker(&self) -> PortResult<BreakerState>;
    /// Counts a suspension of `key` in `epoch` (once per key while it is within the window:
    /// retries and concurrent enforcers do not count it twice) and returns the keys counted
    /// within `window_ms` before `now_ms`, oldest first, `key` included.
    async fn count_suspension(
        &self,
        epoch: u64,
        key: &KeyRef,
        now_ms: i64,
        window_ms: i64,
    ) -> PortResult<Vec<String>>;
    /// Opens the breaker of `epoch`; `Ok(true)` only for the one caller that opened it.
    async fn open_breaker(&self, epoch: u64, trip: &BreakerTrip) -> PortResult<bool>;
    /// Records that the operator alert of `epoch`'s trip went out.
    async fn breaker_alerted(&self, epoch: u64) -> PortResult<()>;
    /// Closes the breaker and starts a new epoch (counting from zero); returns the state before.
    async fn resume_breaker(&self) -> PortResult<BreakerState>;
    /// Fallback-priced model ids recorded by the aggregator and not alerted yet.
    async fn fallback_models(&self) -> PortResult<Vec<FallbackModel>>;
    /// Marks one as alerted (after the alert went out).
    async fn mark_fallback_alerted(&self, m: &FallbackModel) -> PortResult<()>;
}

/// The alert topic.
#[async_trait]
pub trait Notifier: Send + Sync {
    async fn publish(&self, subject: &str, message: &str) -> PortResult<()>;
}

/// One event for the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusEvent {
    pub detail_type: &'static str,
    /// JSON.
    pub detail: String,
}

/// The event bus. `put` succeeds only when every entry was accepted.
#[async_trait]
pub trait Bus: Send + Sync {
    async fn put(&self, events: &[BusEvent]) -> PortResult<()>;
}

/// Reads the spend ledger.
#[async_trait]
pub trait Windows: Send + Sync {
    /// Every window of one (scope, key).
    async fn of_key(&self, key: &KeyRef) -> PortResult<Vec<WindowTotal>>;
    /// Every key with a window starting on `day` or `month` (a full read: rare).
    async fn keys_with_windows(&self, day: &str, month: &str) -> PortResult<Vec<KeyRef>>;
}
