//! Budget state and enforcement decisions, as data: which limits govern a key, the state of a key
//! from all its current windows, and what to do about it given what was done before. Also the IAM
//! deny documents spendguard owns and the character count IAM sizes them by. Pure: the enforcer
//! Lambda and the local CLI apply the decisions.
//!
//! State, not edges: a key is `over` while any of its current windows (day, month; its own and
//! its teams') is at or past 100% of its limit. The decision compares that state with the key's
//! recorded [`KeyState`], so a lowered budget, a missed event or a window reset is caught by the
//! next evaluation, whatever triggered it.
//!
//! Teams: a team over its limit applies the team's mode to each member key (a user, a role, or a
//! session matched by the team's `members`): the members' evaluation includes the team windows.
//! The team itself is never suspended; its windows alert once, keyed by the team window.

use crate::budget::{BudgetConfig, Limits, Mode, Scope, Team};
use crate::ledger::WindowTotal;
use crate::window::{window_starts, WindowKey, WindowKind};
use rust_decimal::Decimal;
pub use spendguard_schemas::event::DecisionRecord;
pub use spendguard_schemas::words::{Action, Hold};
use std::collections::HashSet;

/// The actions a suspension denies: model invocation (InvokeModel covers Converse;
/// InvokeModelWithResponseStream covers ConverseStream), Bedrock API keys, batch and async jobs.
pub const DENIED_BEDROCK_ACTIONS: &[&str] = &[
    "bedrock:InvokeModel",
    "bedrock:InvokeModelWithResponseStream",
    "bedrock:CallWithBearerToken",
    "bedrock:CreateModelInvocationJob",
    "bedrock:StartAsyncInvoke",
];

/// A role's inline policies share this many characters (whitespace not counted).
pub const ROLE_INLINE_LIMIT: usize = 10_240;
/// A user's inline policies share this many characters; spendguard never adds inline policies to
/// a user for this reason.
pub const USER_INLINE_LIMIT: usize = 2_048;
/// Managed policies attachable to one user or role without a quota increase.
pub const DEFAULT_MANAGED_POLICY_QUOTA: usize = 10;
/// The name of spendguard's one inline policy per role (session and fallback role denies).
pub const ROLE_INLINE_POLICY: &str = "spendguard-suspended";

/// A budget key: a user or role ARN (`principal`), an assumed-role session ARN (`session`), or a
/// team name (`team`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyRef {
    pub scope: Scope,
    pub key: String,
}

impl KeyRef {
    pub fn new(scope: Scope, key: impl Into<String>) -> KeyRef {
        KeyRef {
            scope,
            key: key.into(),
        }
    }
}

/// The limits that govern a key's own windows, and whether the key is protected. A principal
/// without a `[[budget]]` falls under `[defaults]`; a session only has limits of its own when a
/// `scope = "session"` budget matches it; a team has its `[[team]]` limits.
pub fn governing<'c>(cfg: &'c BudgetConfig, scope: Scope, key: &str) -> Option<(&'c Limits, bool)> {
    match scope {
        Scope::Principal => Some(
            cfg.budget_for(Scope::Principal, key)
                .map_or((&cfg.defaults, false), |b| (&b.limits, b.protected)),
        ),
        Scope::Session => cfg
            .budget_for(Scope::Session, key)
            .map(|b| (&b.limits, b.protected)),
        Scope::Team => cfg
            .teams
            .iter()
            .find(|t| t.name == key)
            .map(|t| (&t.limits, false)),
    }
}

/// A window kind's limit.
pub fn limit_of(l: &Limits, kind: WindowKind) -> Option<Decimal> {
    match kind {
        WindowKind::Day => l.daily_usd,
        WindowKind::Month => l.monthly_usd,
    }
}

/// The teams whose windows count towards a member key.
pub fn teams_of_key<'c>(cfg: &'c BudgetConfig, key: &KeyRef) -> Vec<&'c Team> {
    match key.scope {
        Scope::Principal => cfg.teams_for(&key.key, None),
        Scope::Session => {
            let p = crate::principal::parse(&key.key);
            cfg.teams_for(&p.principal, Some(&key.key))
        }
        Scope::Team => Vec::new(),
    }
}

/// One window measured against its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowStatus {
    pub window: WindowKey,
    pub spend_usd: Decimal,
    pub limit_usd: Decimal,
    /// The thresholds reached, ascending.
    pub reached_pct: Vec<u32>,
    /// At or past 100% of the limit (a zero limit is over once anything is spent).
    pub over: bool,
    /// The part of `spend_usd` priced at a fallback price (a model the catalogue lacks).
    pub fallback_usd: Decimal,
    /// Still at or past 100% without the fallback-priced spend: only such a window suspends. A
    /// fallback price is a conservative upper bound, so a key over only through it is alerted
    /// and held, never suspended.
    pub over_without_fallback: bool,
    pub mode: Mode,
    pub grace_seconds: u64,
}

impl WindowStatus {
    /// Spend as a percentage of the limit, rounded down to 0.01 (for messages).
    pub fn percent(&self) -> Decimal {
        if self.limit_usd.is_zero() {
            return Decimal::ONE_HUNDRED;
        }
        (self.spend_usd * Decimal::ONE_HUNDRED / self.limit_usd)
            .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::ToZero)
    }
}

/// What a change of one window says, given the highest level already said for it: the
/// thresholds newly reached (ascending), whether it went over for the first time, and the level
/// to record. Going over records at least 100, so it is said once whatever the thresholds are (a
/// window past its limit with thresholds of [50, 80] used to say nothing). The evaluator and the
/// timeline both decide their events with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crossing {
    pub fresh: Vec<u32>,
    pub newly_over: bool,
    pub level: u32,
}

impl WindowStatus {
    pub fn crossing(&self, level: u32) -> Crossing {
        let fresh: Vec<u32> = self
            .reached_pct
            .iter()
            .copied()
            .filter(|&p| p > level)
            .collect();
        let mut next = fresh.last().copied().unwrap_or(level);
        if self.over {
            next = next.max(100);
        }
        Crossing {
            newly_over: self.over && level < 100,
            fresh,
            level: next,
        }
    }
}

/// Measures one window (its spend, and the part of it priced at a fallback) against the limits
/// that govern its (scope, key). `None` when no limit applies to that window kind.
pub fn window_status(
    cfg: &BudgetConfig,
    window: &WindowKey,
    spend: Decimal,
    fallback: Decimal,
) -> Option<WindowStatus> {
    let (limits, _) = governing(cfg, window.scope, &window.key)?;
    let limit = limit_of(limits, window.kind)?;
    let reached = |spend: Decimal, pct: u32| {
        if limit.is_zero() {
            spend > Decimal::ZERO
        } else {
            // spend / limit >= pct / 100, without division
            spend * Decimal::ONE_HUNDRED >= limit * Decimal::from(pct)
        }
    };
    let fallback = fallback.clamp(Decimal::ZERO, spend.max(Decimal::ZERO));
    Some(WindowStatus {
        window: window.clone(),
        spend_usd: spend,
        limit_usd: limit,
        reached_pct: limits
            .thresholds_pct
            .iter()
            .copied()
            .filter(|&p| reached(spend, p))
            .collect(),
        over: reached(spend, 100),
        fallback_usd: fallback,
        over_without_fallback: reached(spend - fallback, 100),
        mode: limits.mode,
        grace_seconds: limits.grace_seconds,
    })
}

/// The current windows' starts at `now_ms` in the config's zone: (day, month).
pub fn current_starts(cfg: &BudgetConfig, now_ms: i64) -> Option<(String, String)> {
    window_starts(&cfg.timezone, now_ms)
}

/// Whether a window is current at `now_ms`.
pub fn is_current(w: &WindowKey, starts: &(String, String)) -> bool {
    match w.kind {
        WindowKind::Day => w.start == starts.0,
        WindowKind::Month => w.start == starts.1,
    }
}

/// A key's state: its current windows that have a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub key: KeyRef,
    pub windows: Vec<WindowStatus>,
    /// The key's own budget says `protected = true`.
    pub protected: bool,
}

impl Evaluation {
    pub fn over(&self) -> bool {
        self.windows.iter().any(|w| w.over)
    }

    /// The over window that decides the response: over even without its fallback-priced spend;
    /// the strictest mode (enforce, then shadow, then alert_only), then the shortest grace, then
    /// the first window.
    pub fn deciding(&self) -> Option<&WindowStatus> {
        strictest(self.windows.iter().filter(|w| w.over_without_fallback))
    }

    /// The window that would decide were fallback-priced spend a bill, when no window is over
    /// without it: the key is over only through fallback prices.
    pub fn over_only_by_fallback(&self) -> Option<&WindowStatus> {
        if self.deciding().is_some() {
            return None;
        }
        strictest(self.windows.iter().filter(|w| w.over))
    }
}

fn strictest<'w>(windows: impl Iterator<Item = &'w WindowStatus>) -> Option<&'w WindowStatus> {
    let rank = |m: Mode| match m {
        Mode::Enforce => 0,
        Mode::Shadow => 1,
        Mode::AlertOnly => 2,
    };
    windows.min_by_key(|w| (rank(w.mode), w.grace_seconds))
}

/// Evaluates a key from window totals that include its own windows and its teams' (others are
/// ignored). Only windows current at `now_ms` count.
pub fn evaluate(
    cfg: &BudgetConfig,
    key: &KeyRef,
    totals: &[WindowTotal],
    now_ms: i64,
) -> Evaluation {
    let teams: HashSet<&str> = teams_of_key(cfg, key)
        .into_iter()
        .map(|t| t.name.as_str())
        .collect();
    let starts = current_starts(cfg, now_ms);
    let mine = |w: &WindowKey| {
        (w.scope == key.scope && w.key == key.key)
            || (w.scope == Scope::Team && teams.contains(w.key.as_str()))
    };
    let mut windows: Vec<WindowStatus> = totals
        .iter()
        .filter(|t| mine(&t.window))
        .filter(|t| starts.as_ref().is_some_and(|s| is_current(&t.window, s)))
        .filter_map(|t| window_status(cfg, &t.window, t.totals.cost_usd, t.totals.fallback_usd))
        .collect();
    windows.sort_by(|a, b| a.window.cmp(&b.window));
    windows.dedup_by(|a, b| a.window == b.window);
    Evaluation {
        key: key.clone(),
        protected: governing(cfg, key.scope, &key.key).is_some_and(|(_, p)| p),
        windows,
    }
}

/// What spendguard has done to a key so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Status {
    #[default]
    Ok,
    /// Over, waiting out the grace period.
    Pending { due_ms: i64 },
    /// The deny is in place.
    Suspended,
    /// Shadow mode: recorded as "would have suspended"; nothing was applied.
    ShadowSuspended,
}

impl Status {
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Pending { .. } => "pending",
            Status::Suspended => "suspended",
            Status::ShadowSuspended => "shadow_suspended",
        }
    }

    /// A stored status back: its spelling and, for `pending`, when it is due. The one reading
    /// for every store (DynamoDB, SQLite).
    pub fn decode(status: &str, due_ms: Option<i64>) -> Result<Status, String> {
        Ok(match status {
            "ok" => Status::Ok,
            "pending" => Status::Pending {
                due_ms: due_ms.ok_or("pending state without due_ms")?,
            },
            "suspended" => Status::Suspended,
            "shadow_suspended" => Status::ShadowSuspended,
            x => return Err(format!("unknown status {x:?}")),
        })
    }
}

/// A suspension held back, and the window it was for: the hold is alerted once per window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub hold: Hold,
    pub window: WindowKey,
}

impl Held {
    /// One text field for the stores: `hold<TAB>scope<TAB>kind<TAB>start<TAB>key` (the key last:
    /// ARNs and team names hold no tab).
    pub fn encode(&self) -> String {
        let w = &self.window;
        format!(
            "{}\t{}\t{}\t{}\t{}",
            self.hold.as_str(),
            w.scope.as_str(),
            w.kind.as_str(),
            w.start,
            w.key
        )
    }

    pub fn decode(s: &str) -> Option<Held> {
        let mut it = s.splitn(5, '\t');
        let hold = Hold::parse(it.next()?)?;
        let scope = Scope::parse(it.next()?)?;
        let kind = WindowKind::parse(it.next()?)?;
        let start = it.next()?.to_string();
        let key = it.next()?.to_string();
        Some(Held {
            hold,
            window: WindowKey {
                scope,
                key,
                kind,
                start,
            },
        })
    }
}

/// The recorded enforcement state of one key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyState {
    pub status: Status,
    /// When the current status began.
    pub since_ms: Option<i64>,
    /// The window that caused the suspension (or pending suspension).
    pub window: Option<WindowKey>,
    /// An operator suspension (`spendguard suspend --until`) holds until then, over or not.
    pub manual_until_ms: Option<i64>,
    /// An operator protection (`spendguard protect --until`, or `restore`) holds until then.
    pub protected_until_ms: Option<i64>,
    /// A suspension held back (fallback prices, the circuit breaker), already alerted.
    pub held: Option<Held>,
}

impl KeyState {
    /// Whether the key needs the scheduled re-evaluation (grace, restoration, drift, expiry). A
    /// held suspension is watched too: the key is over, and its spend at known prices may cross
    /// the limit later without another threshold event (found by `spendguard simulate`: such a
    /// key was never suspended).
    pub fn watched(&self) -> bool {
        self.status != Status::Ok
            || self.manual_until_ms.is_some()
            || self.protected_until_ms.is_some()
            || self.held.is_some()
    }
}

/// One decision, with the facts behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub key: KeyRef,
    pub action: Action,
    pub window: Option<WindowKey>,
    pub threshold_pct: Option<u32>,
    pub spend_usd: Option<Decimal>,
    pub limit_usd: Option<Decimal>,
    pub mode: Mode,
    pub protected: bool,
    /// For `pending`: when the suspension is due.
    pub due_ms: Option<i64>,
    /// For `held`: why the suspension is held back.
    pub hold: Option<Hold>,
}

/// The decisions and the state to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub decisions: Vec<Decision>,
    pub next: KeyState,
}

fn decision(
    ev: &Evaluation,
    action: Action,
    w: Option<&WindowStatus>,
    protected: bool,
) -> Decision {
    Decision {
        key: ev.key.clone(),
        action,
        window: w.map(|w| w.window.clone()),
        threshold_pct: None,
        spend_usd: w.map(|w| w.spend_usd),
        limit_usd: w.map(|w| w.limit_usd),
        mode: w.map_or(Mode::Enforce, |w| w.mode),
        protected,
        due_ms: None,
        hold: None,
    }
}

/// Decides what to do for an evaluated key, given its recorded state and the (window,
/// threshold) alerts already sent. Alerts come first, in window order.
pub fn decide(
    ev: &Evaluation,
    prior: &KeyState,
    alerted: &HashSet<(WindowKey, u32)>,
    now_ms: i64,
) -> Outcome {
    let mut out = Vec::new();
    let protected = ev.protected || prior.protected_until_ms.is_some_and(|t| t > now_ms);
    for w in &ev.windows {
        for &pct in &w.reached_pct {
            if !alerted.contains(&(w.window.clone(), pct)) {
                let mut d = decision(ev, Action::Alert, Some(w), protected);
                d.threshold_pct = Some(pct);
                out.push(d);
            }
        }
    }
    let manual = prior.manual_until_ms.is_some_and(|t| t > now_ms);
    let mut next = prior.clone();
    // expired operator overrides are dropped so the key stops being watched
    if prior.manual_until_ms.is_some_and(|t| t <= now_ms) {
        next.manual_until_ms = None;
    }
    if prior.protected_until_ms.is_some_and(|t| t <= now_ms) {
        next.protected_until_ms = None;
    }
    let deciding = ev
        .deciding()
        .filter(|w| w.mode != Mode::AlertOnly && !protected);
    let lift = |out: &mut Vec<Decision>, next: &mut KeyState| {
        let w = prior
            .window
            .as_ref()
            .and_then(|pw| ev.windows.iter().find(|w| &w.window == pw));
        let mut d = decision(ev, Action::Restore, w, protected);
        d.window = prior.window.clone();
        if prior.status == Status::ShadowSuspended {
            d.mode = Mode::Shadow;
        }
        out.push(d);
        next.status = Status::Ok;
        next.since_ms = Some(now_ms);
        next.window = None;
    };
    match (deciding, prior.status) {
        (_, _) if manual => {}
        (Some(w), Status::Suspended) if w.mode == Mode::Enforce => {}
        (Some(w), Status::ShadowSuspended) if w.mode == Mode::Shadow => {}
        // the mode changed while suspended: switch at once, the grace period was already served
        (Some(w), Status::Suspended) => {
            lift(&mut out, &mut next);
            out.push(decision(ev, Action::WouldSuspend, Some(w), protected));
            next.status = Status::ShadowSuspended;
            next.window = Some(w.window.clone());
        }
        (Some(w), Status::ShadowSuspended) => {
            out.push(decision(ev, Action::Suspend, Some(w), protected));
            next.status = Status::Suspended;
            next.since_ms = Some(now_ms);
            next.window = Some(w.window.clone());
        }
        (Some(w), status) => {
            let due = match status {
                Status::Pending { due_ms } => due_ms,
                _ => now_ms.saturating_add((w.grace_seconds as i64).saturating_mul(1000)),
            };
            if now_ms >= due {
                let (action, status) = if w.mode == Mode::Enforce {
                    (Action::Suspend, Status::Suspended)
                } else {
                    (Action::WouldSuspend, Status::ShadowSuspended)
                };
                out.push(decision(ev, action, Some(w), protected));
                next.status = status;
                next.since_ms = Some(now_ms);
                next.window = Some(w.window.clone());
            } else if !matches!(status, Status::Pending { .. }) {
                let mut d = decision(ev, Action::Pending, Some(w), protected);
                d.due_ms = Some(due);
                out.push(d);
                next.status = Status::Pending { due_ms: due };
                next.since_ms = Some(now_ms);
                next.window = Some(w.window.clone());
            }
        }
        (None, Status::Suspended | Status::ShadowSuspended) => lift(&mut out, &mut next),
        (None, Status::Pending { .. }) => {
            let w = prior
                .window
                .as_ref()
                .and_then(|pw| ev.windows.iter().find(|w| &w.window == pw));
            let mut d = decision(ev, Action::Cancel, w, protected);
            d.window = prior.window.clone();
            out.push(d);
            next.status = Status::Ok;
            next.since_ms = Some(now_ms);
            next.window = None;
        }
        (None, Status::Ok) => {}
    }
    // over only through fallback prices: alert the hold once per window, suspend nothing
    let fallback_only = ev
        .over_only_by_fallback()
        .filter(|w| w.mode != Mode::AlertOnly && !protected && !manual);
    let suspends = out
        .iter()
        .any(|d| matches!(d.action, Action::Suspend | Action::WouldSuspend));
    match fallback_only {
        Some(w) => {
            let held = Held {
                hold: Hold::Fallback,
                window: w.window.clone(),
            };
            if prior.held.as_ref() != Some(&held) {
                let mut d = decision(ev, Action::Held, Some(w), protected);
                d.hold = Some(Hold::Fallback);
                out.push(d);
            }
            next.held = Some(held);
        }
        None if suspends || !ev.over() => next.held = None,
        None if next.held.as_ref().is_some_and(|h| h.hold == Hold::Fallback) => next.held = None,
        None => {}
    }
    Outcome {
        decisions: out,
        next,
    }
}

/// How a key is denied Bedrock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An IAM user, by name.
    User { name: String, arn: String },
    /// A whole role, by name.
    Role { name: String, arn: String },
    /// One session of a role.
    Session {
        role_name: String,
        role_arn: String,
        session: String,
    },
}

/// The suspension target of a key; `Err` says why it cannot be suspended (root, a team, an ARN
/// spendguard does not recognise).
pub fn target_of(key: &KeyRef) -> Result<Target, String> {
    let p = crate::principal::parse(&key.key);
    let last = |arn: &str| arn.rsplit('/').next().unwrap_or_default().to_string();
    use spendguard_schemas::PrincipalType as T;
    match (key.scope, p.kind) {
        (Scope::Principal, T::IamUser) => Ok(Target::User {
            name: last(&key.key),
            arn: key.key.clone(),
        }),
        (Scope::Principal, T::Other)
            if key.key.contains(":iam::") && key.key.contains(":role/") =>
        {
            Ok(Target::Role {
                name: last(&key.key),
                arn: key.key.clone(),
            })
        }
        (Scope::Session, T::AssumedRole) => Ok(Target::Session {
            role_name: last(&p.principal),
            role_arn: p.principal.to_string(),
            session: p.session_name.unwrap_or_default().to_string(),
        }),
        (Scope::Team, _) => Err("a team is never suspended itself; its members are".into()),
        (_, T::Root) => Err("the account root user cannot be denied by IAM policy".into()),
        _ => Err(format!(
            "{} {:?} is not an IAM user, role or assumed-role session ARN",
            key.scope.as_str(),
            key.key
        )),
    }
}

/// The tag that opts a user or role in to enforcement when the stack's `EnforceableRoles` is
/// `tagged` (value `true`).
pub const ENFORCEABLE_TAG: &str = "spendguard:enforceable";
/// The tag that exempts a user or role from enforcement in every mode (value `true`).
pub const EXEMPT_TAG: &str = "spendguard:exempt";

/// Which principals the enforcer may write IAM policy on (the stack's `EnforceableRoles`; the
/// role's IAM conditions say the same, this is the enforcer's own check before it tries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Enforceable {
    /// Every user and role, except those tagged [`EXEMPT_TAG`].
    #[default]
    All,
    /// Only users and roles tagged [`ENFORCEABLE_TAG`] (and not exempt).
    Tagged,
}

impl Enforceable {
    pub fn parse(s: &str) -> Option<Enforceable> {
        match s {
            "all" => Some(Enforceable::All),
            "tagged" => Some(Enforceable::Tagged),
            _ => None,
        }
    }
}

/// Whether a principal with these tags may have a deny written on it; `Err` says why not. Tag
/// values compare exactly (`true`), as IAM's `StringEquals` does.
pub fn may_write(mode: Enforceable, tags: &[(String, String)]) -> Result<(), String> {
    let has = |k: &str| tags.iter().any(|(tk, tv)| tk == k && tv == "true");
    if has(EXEMPT_TAG) {
        return Err(format!("it is tagged {EXEMPT_TAG}=true"));
    }
    if mode == Enforceable::Tagged && !has(ENFORCEABLE_TAG) {
        return Err(format!(
            "enforcement is limited to principals tagged {ENFORCEABLE_TAG}=true, and it is not"
        ));
    }
    Ok(())
}

/// Whether a role inline policy document is one spendguard writes: deny statements only, in the
/// exact form [`role_inline_document`] renders for what it denies. The enforcer's self-audit
/// holds each of its own `PutRolePolicy` calls (seen in CloudTrail) to this.
pub fn is_own_role_inline(doc: &str) -> bool {
    let Ok(got) = serde_json::from_str::<serde_json::Value>(doc) else {
        return false;
    };
    let (ids, whole) = parse_role_inline(doc);
    role_inline_document(&ids, whole)
        .and_then(|d| serde_json::from_str::<serde_json::Value>(&d).ok())
        .is_some_and(|want| want == got)
}

/// The characters IAM counts in a policy document: whitespace is not counted.
pub fn policy_chars(doc: &str) -> usize {
    doc.chars().filter(|c| !c.is_whitespace()).count()
}

/// The managed deny policy spendguard attaches to a suspended user or role. Besides Bedrock it
/// denies the IAM calls a suspended principal could use to lift its own suspension: detaching
/// this policy, rewriting or deleting it, leaving the suspended group, and editing role inline
/// policies (where session denies live).
pub fn deny_policy_document(policy_arn: &str, group_arn: Option<&str>) -> String {
    let mut statements = vec![
        serde_json::json!({
            "Sid": "SpendguardDenyBedrock",
            "Effect": "Deny",
            "Action": DENIED_BEDROCK_ACTIONS,
            "Resource": "*"
        }),
        serde_json::json!({
            "Sid": "SpendguardKeepAttached",
            "Effect": "Deny",
            "Action": ["iam:DetachUserPolicy", "iam:DetachRolePolicy", "iam:DetachGroupPolicy"],
            "Resource": "*",
            "Condition": {"ArnEquals": {"iam:PolicyARN": policy_arn}}
        }),
        serde_json::json!({
            "Sid": "SpendguardKeepPolicy",
            "Effect": "Deny",
            "Action": ["iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion",
                       "iam:SetDefaultPolicyVersion"],
            "Resource": policy_arn
        }),
        // Session denies live in a role's inline policy. IAM has no condition that compares the
        // resource with the caller, so a suspended principal may not edit any role's inline
        // policies until it is restored.
        serde_json::json!({
            "Sid": "SpendguardKeepRoleInline",
            "Effect": "Deny",
            "Action": ["iam:PutRolePolicy", "iam:DeleteRolePolicy"],
            "Resource": "arn:*:iam::*:role/*"
        }),
    ];
    if let Some(g) = group_arn {
        statements.push(serde_json::json!({
            "Sid": "SpendguardKeepGroup",
            "Effect": "Deny",
            "Action": ["iam:RemoveUserFromGroup", "iam:DeleteGroup", "iam:DetachGroupPolicy",
                       "iam:PutGroupPolicy", "iam:DeleteGroupPolicy"],
            "Resource": g
        }));
    }
    serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

/// spendguard's inline policy on a role: one statement denying the listed sessions (by
/// `aws:userid` = `<RoleId>:<session>`), and, when the role's managed-policy slots are full, one
/// unconditional statement for the whole role. `None` when there is nothing to deny.
pub fn role_inline_document(userids: &[String], whole_role: bool) -> Option<String> {
    let mut actions: Vec<&str> = DENIED_BEDROCK_ACTIONS.to_vec();
    actions.extend(["iam:PutRolePolicy", "iam:DeleteRolePolicy"]);
    let mut statements = Vec::new();
    if whole_role {
        statements.push(serde_json::json!({
            "Sid": "SpendguardRole",
            "Effect": "Deny",
            "Action": actions,
            "Resource": "*"
        }));
    }
    if !userids.is_empty() {
        let mut ids = userids.to_vec();
        ids.sort();
        ids.dedup();
        statements.push(serde_json::json!({
            "Sid": "SpendguardSessions",
            "Effect": "Deny",
            "Action": actions,
            "Resource": "*",
            // StringEquals, not StringLike: a session name must never act as a pattern
            "Condition": {"StringEquals": {"aws:userid": ids}}
        }));
    }
    (!statements.is_empty())
        .then(|| serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string())
}

/// What spendguard's inline policy on a role currently denies: (session user ids, whole role).
/// A document that is not ours, or that does not parse, reads as empty.
pub fn parse_role_inline(doc: &str) -> (Vec<String>, bool) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(doc) else {
        return (Vec::new(), false);
    };
    let mut ids = Vec::new();
    let mut whole = false;
    let statements = match &v["Statement"] {
        serde_json::Value::Array(a) => a.clone(),
        s @ serde_json::Value::Object(_) => vec![s.clone()],
        _ => Vec::new(),
    };
    for s in statements {
        match s["Sid"].as_str() {
            Some("SpendguardRole") => whole = true,
            Some("SpendguardSessions") => match &s["Condition"]["StringEquals"]["aws:userid"] {
                serde_json::Value::Array(a) => {
                    ids.extend(a.iter().filter_map(|x| x.as_str().map(str::to_string)))
                }
                serde_json::Value::String(x) => ids.push(x.clone()),
                _ => {}
            },
            _ => {}
        }
    }
    (ids, whole)
}

#[cfg(test)]
mod tests;

impl Decision {
    /// An alert: `pct` of the window's limit reached.
    pub fn alert(key: KeyRef, st: &WindowStatus, pct: u32, protected: bool) -> Decision {
        Decision {
            key,
            action: Action::Alert,
            window: Some(st.window.clone()),
            threshold_pct: Some(pct),
            spend_usd: Some(st.spend_usd),
            limit_usd: Some(st.limit_usd),
            mode: st.mode,
            protected,
            due_ms: None,
            hold: None,
        }
    }

    /// The decision as the CLI and the Lambdas report it; `at_ms` places it on a timeline.
    pub fn record(&self, at_ms: Option<i64>) -> DecisionRecord {
        let w = self.window.as_ref();
        DecisionRecord {
            at: at_ms.map(crate::window::rfc3339),
            principal: self.key.key.clone(),
            scope: self.key.scope,
            window: w.map(|w| w.kind),
            window_start: w.map(|w| w.start.clone()),
            window_scope: w.map(|w| w.scope),
            window_key: w.map(|w| w.key.clone()),
            threshold_pct: self.threshold_pct,
            spend_usd: self.spend_usd,
            limit_usd: self.limit_usd,
            action: self.action,
            mode: self.mode,
            protected: self.protected,
            due_ms: self.due_ms,
            hold: self.hold,
        }
    }

    /// [`Decision::record`] as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.record(None)).unwrap_or_default()
    }
}
