//! The enforcer's engine: evaluate a key from the ledger, decide with the core, and carry the
//! decisions out through the ports: alerts once per window and threshold, the IAM deny (user,
//! role, or one session) and its exact removal, shadow and protected keys, the audit trail, the
//! scheduled tick (grace, restoration, budgets changes, drift repair) and the tamper response.
//!
//! Order of effects, so a crash or a retry never loses or doubles anything that matters: IAM is
//! changed first and the state row last (a retry re-decides and the IAM calls are idempotent);
//! an alert marker is written before the alert is sent and removed again if sending fails.

use crate::ports::{
    BreakerState, BreakerTrip, Entity, ErrorKind, Iam, Notifier, PortError, Store, Stored, Windows,
    BREAKER_KEYS_KEPT,
};
use spendguard_core::budget::{BudgetConfig, Mode, Scope};
use spendguard_core::clock::Clock;
use spendguard_core::enforce::{
    self, decide, evaluate, may_write, parse_role_inline, policy_chars, role_inline_document,
    target_of, teams_of_key, Action, Decision, Enforceable, Evaluation, Held, Hold, KeyRef,
    KeyState, Status, Target, ROLE_INLINE_LIMIT, ROLE_INLINE_POLICY,
};
use spendguard_core::window::window_reset_ms;
use spendguard_schemas::event::AuditRecord;
use spendguard_schemas::words::{AuditAction, AuditScope, Mechanism, RoleDeny};
use std::collections::{BTreeSet, HashSet};

/// What to do when a role has no inline-policy room for a session deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Deny the whole role instead (every session), and say so.
    Role,
    /// Do not suspend; alert loudly (audited as `fail`).
    Alert,
}

/// Deployment settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// spendguard's managed deny policy (see `enforce::deny_policy_document`).
    pub deny_policy_arn: String,
    /// spendguard's "suspended" group (its policy is the deny), for users whose managed-policy
    /// slots are full. `None`: such a user cannot be suspended, loudly.
    pub suspended_group: Option<String>,
    pub session_overflow: Overflow,
    /// Managed policies per user or role (10 unless raised by a quota increase).
    pub managed_quota: usize,
    /// Which principals a deny may be written on (the stack's `EnforceableRoles`).
    pub enforceable: Enforceable,
    /// The enforcer's own role ARN: CloudTrail events of its own IAM writes are self-audited
    /// against what it writes. `None`: no self-audit.
    pub own_role_arn: Option<String>,
}

pub use spendguard_schemas::words::Cause;

/// An enforcement failure.
#[derive(Debug, thiserror::Error)]
pub enum EnforceError {
    #[error(transparent)]
    Port(#[from] PortError),
    /// The key cannot be suspended as configured (root, no room, unknown ARN): alerted and audited.
    #[error("cannot suspend {key}: {why}")]
    Unsuspendable { key: String, why: String },
    #[error("the state of {0} kept changing under us")]
    Contended(String),
    /// The principal may not be written to (`EnforceableRoles`, the exempt tag): alerted once per
    /// window and audited; the key stays pending, so a tag added later lets the next tick act.
    #[error("refused to suspend {key}: {why}")]
    Refused { key: String, why: String },
}

impl EnforceError {
    /// Whether the invocation should fail so that EventBridge or the schedule retries it.
    pub fn retryable(&self) -> bool {
        match self {
            EnforceError::Port(e) => e.retryable() || e.kind == ErrorKind::Retryable,
            EnforceError::Unsuspendable { .. } | EnforceError::Refused { .. } => false,
            EnforceError::Contended(_) => true,
        }
    }
}

/// The ports and settings of one enforcer.
pub struct Enforcer<'a> {
    pub cfg: &'a BudgetConfig,
    pub settings: &'a Settings,
    pub windows: &'a dyn Windows,
    pub store: &'a dyn Store,
    pub iam: &'a dyn Iam,
    pub notify: &'a dyn Notifier,
    pub clock: &'a dyn Clock,
    /// The function's structured log (stdout on Lambda, a buffer in tests).
    pub log: &'a (dyn Fn(&str) + Send + Sync),
}

impl std::fmt::Debug for Enforcer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enforcer")
            .field("settings", self.settings)
            .finish_non_exhaustive()
    }
}

/// What one run did, for logs, metrics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub decisions: Vec<Decision>,
    /// Alerts skipped because they were already sent for that window and threshold.
    pub alerts_already_sent: usize,
    /// Keys whose recorded suspension was missing in IAM and was re-applied.
    pub reapplied: Vec<KeyRef>,
    pub failures: Vec<String>,
    /// This run opened the circuit breaker.
    pub breaker_opened: bool,
    /// Fallback-priced model ids this run named in an alert.
    pub fallback_models: Vec<String>,
    /// Keys whose suspension was refused (not enforceable, or exempt).
    pub refused: Vec<KeyRef>,
    /// Own IAM writes (seen in CloudTrail) that are not what the enforcer writes.
    pub self_audit_mismatches: Vec<String>,
}

impl Report {
    fn merge(&mut self, o: Report) {
        self.decisions.extend(o.decisions);
        self.alerts_already_sent += o.alerts_already_sent;
        self.reapplied.extend(o.reapplied);
        self.failures.extend(o.failures);
        self.breaker_opened |= o.breaker_opened;
        self.fallback_models.extend(o.fallback_models);
        self.refused.extend(o.refused);
        self.self_audit_mismatches.extend(o.self_audit_mismatches);
    }
}

/// The circuit breaker's own audit partition (`scope`/`key` of its records).
pub const BREAKER_KEY: &str = "suspensions";

pub(crate) fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| ms.to_string())
}

fn money(d: rust_decimal::Decimal) -> String {
    let mut x = d.round_dp(2);
    x.rescale(2);
    format!("${x}")
}

const MAX_ATTEMPTS: usize = 4;

impl Enforcer<'_> {
    /// The key's current evaluation: its own windows and its teams'.
    pub async fn evaluate(&self, key: &KeyRef) -> Result<Evaluation, PortError> {
        let mut totals = self.windows.of_key(key).await?;
        for t in teams_of_key(self.cfg, key) {
            totals.extend(
                self.windows
                    .of_key(&KeyRef::new(Scope::Team, t.name.clone()))
                    .await?,
            );
        }
        Ok(evaluate(self.cfg, key, &totals, self.clock.now_ms()))
    }

    /// When the suspension of an evaluated key lifts at the latest: the reset of its last over
    /// window (budgets change, operator actions and protection can lift it sooner).
    pub fn lifts_at(&self, ev: &Evaluation) -> Option<i64> {
        ev.windows
            .iter()
            .filter(|w| w.over)
            .filter_map(|w| window_reset_ms(&self.cfg.timezone, w.window.kind, &w.window.start))
            .max()
    }

    /// Evaluates a key and carries out the decisions. A team over its limit enforces its
    /// members (the exact ARNs in `members`, and every key with spend in a current window that a
    /// member pattern matches).
    pub async fn enforce_key(&self, key: &KeyRef, cause: Cause) -> Result<Report, EnforceError> {
        let mut report = Report::default();
        let mut attempt = 0;
        let ev = loop {
            attempt += 1;
            let ev = self.evaluate(key).await?;
            let stored = self.store.state(key).await?;
            let now = self.clock.now_ms();
            let outcome = decide(&ev, &stored.state, &HashSet::new(), now);
            let mut next = Stored {
                state: outcome.next.clone(),
                mechanism: stored.mechanism,
                version: stored.version + 1,
            };
            for d in &outcome.decisions {
                self.carry_out(d, &ev, &stored, &mut next, cause, &mut report)
                    .await?;
            }
            if next.state == stored.state && next.mechanism == stored.mechanism {
                break ev;
            }
            if self.store.put_state(key, &next, stored.version).await? {
                break ev;
            }
            if attempt >= MAX_ATTEMPTS {
                return Err(EnforceError::Contended(key.key.clone()));
            }
        };
        // The member sweep reads the whole ledger table: only when the team's enforcement starts
        // (its suspend or would-suspend decision). Members already suspended are watched by the
        // tick; members who start spending later are flagged by the evaluator.
        let team_starts = key.scope == Scope::Team
            && ev.over()
            && report.decisions.iter().any(|d| {
                d.key == *key && matches!(d.action, Action::Suspend | Action::WouldSuspend)
            });
        if team_starts {
            for member in self.team_members(&key.key).await? {
                match Box::pin(self.enforce_key(&member, cause)).await {
                    Ok(r) => report.merge(r),
                    Err(e) => report.failures.push(e.to_string()),
                }
            }
        }
        Ok(report)
    }

    async fn team_members(&self, team: &str) -> Result<Vec<KeyRef>, PortError> {
        let Some(t) = self.cfg.teams.iter().find(|t| t.name == team) else {
            return Ok(Vec::new());
        };
        let mut out = BTreeSet::new();
        for m in t.members.iter().filter(|m| m.is_exact()) {
            let scope = if m.text.contains(":assumed-role/") {
                Scope::Session
            } else {
                Scope::Principal
            };
            out.insert(KeyRef::new(scope, m.text.clone()));
        }
        if t.members.iter().any(|m| !m.is_exact()) {
            let Some((day, month)) = enforce::current_starts(self.cfg, self.clock.now_ms()) else {
                return Ok(out.into_iter().collect());
            };
            for k in self.windows.keys_with_windows(&day, &month).await? {
                if k.scope != Scope::Team
                    && teams_of_key(self.cfg, &k).iter().any(|x| x.name == team)
                {
                    out.insert(k);
                }
            }
        }
        Ok(out.into_iter().collect())
    }

    async fn carry_out(
        &self,
        d: &Decision,
        ev: &Evaluation,
        prior: &Stored,
        next: &mut Stored,
        cause: Cause,
        report: &mut Report,
    ) -> Result<(), EnforceError> {
        let key = &d.key;
        let lifts = self.lifts_at(ev);
        let mut rec = self.record(d, cause, lifts);
        let team = key.scope == Scope::Team;
        if d.action == Action::Suspend {
            if let Some(trip) = self.breaker_check(d, team, report).await? {
                return self
                    .hold_for_breaker(d, prior, next, cause, &trip, report)
                    .await;
            }
        }
        match d.action {
            Action::Alert => {
                let (Some(w), Some(pct)) = (&d.window, d.threshold_pct) else {
                    return Ok(());
                };
                if !self.store.mark_alert(w, pct).await? {
                    report.alerts_already_sent += 1;
                    return Ok(());
                }
                rec.message = alert_message(d, lifts);
                if let Err(e) = self.notify.publish(&subject(d), &rec.message).await {
                    // let a retry send it: better a rare duplicate than a lost alert
                    self.store.unmark_alert(w, pct).await?;
                    return Err(e.into());
                }
                self.store.audit(&rec).await?;
            }
            Action::Pending | Action::WouldSuspend | Action::Cancel => {
                rec.message = action_message(d, &rec);
                self.send(&rec).await?;
            }
            Action::Suspend if team => {
                rec.detail = "team over budget: its members are suspended".into();
                rec.message = action_message(d, &rec);
                self.store.audit(&rec).await?;
            }
            Action::Suspend => match self.apply(key).await {
                Err(EnforceError::Refused { why, .. }) => {
                    return self.hold_refused(d, prior, next, cause, &why, report).await;
                }
                Ok(mechanism) => {
                    rec.mechanism = Some(mechanism);
                    next.mechanism = Some(mechanism);
                    rec.message = action_message(d, &rec);
                    self.send(&rec).await?;
                }
                Err(e) => {
                    rec.action = AuditAction::Fail;
                    rec.detail = e.to_string();
                    rec.message = format!(
                        "spendguard FAILED to suspend {} ({}): {}. It is over budget and still has Bedrock access.",
                        key.key,
                        key.scope.as_str(),
                        e
                    );
                    self.send(&rec).await?;
                    report.failures.push(e.to_string());
                    if e.retryable() {
                        return Err(e);
                    }
                    // not retryable: record it as pending so the tick keeps trying and alerting
                    next.state.status = Status::Pending {
                        due_ms: self.clock.now_ms(),
                    };
                }
            },
            Action::Held => {
                let w = d
                    .window
                    .as_ref()
                    .and_then(|dw| ev.windows.iter().find(|w| &w.window == dw));
                let fallback = w.map_or(rust_decimal::Decimal::ZERO, |w| w.fallback_usd);
                rec.detail = format!(
                    "{}: {} of the spend is priced at a fallback price",
                    Hold::Fallback.as_str(),
                    money(fallback)
                );
                rec.message = format!(
                    "spendguard: {} ({}) is over budget only through spend priced at a fallback \
                     price: {}, of which {} is priced at a fallback (a model the price catalogue \
                     does not know), {} on known prices. It is NOT suspended: a fallback price is an \
                     upper bound, not the bill. Find the model ids in the transform's \"fallback-priced \
                     models\" log line, add their prices (`spendguard prices explain MODEL_ID`, \
                     `spendguard prices sync`), then redrive to re-price.",
                    key.key,
                    key.scope.as_str(),
                    window_phrase(d),
                    money(fallback),
                    money(d.spend_usd.unwrap_or_default() - fallback),
                );
                self.send(&rec).await?;
            }
            Action::Restore => {
                if !team && prior.state.status == Status::Suspended {
                    self.remove(key, prior.mechanism).await?;
                    rec.mechanism = prior.mechanism;
                }
                next.mechanism = None;
                rec.message = action_message(d, &rec);
                self.send(&rec).await?;
            }
        }
        report.decisions.push(d.clone());
        Ok(())
    }

    async fn send(&self, rec: &AuditRecord) -> Result<(), PortError> {
        self.store.audit(rec).await?;
        self.notify.publish(&subject_of(rec), &rec.message).await
    }

    fn record(&self, d: &Decision, cause: Cause, lifts: Option<i64>) -> AuditRecord {
        AuditRecord {
            at: rfc3339(self.clock.now_ms()),
            scope: d.key.scope.into(),
            key: d.key.key.clone(),
            action: d.action.into(),
            cause,
            window: d.window.as_ref().map(|w| w.kind),
            window_start: d.window.as_ref().map(|w| w.start.clone()),
            threshold_pct: d.threshold_pct,
            spend_usd: d.spend_usd,
            limit_usd: d.limit_usd,
            mode: d.mode,
            mechanism: None,
            lifts_at: match d.action {
                Action::Suspend | Action::WouldSuspend | Action::Pending => lifts.map(rfc3339),
                _ => None,
            },
            detail: String::new(),
            message: String::new(),
        }
    }

    /// The circuit breaker's say on one suspension decision: `None` lets it go ahead; `Some` is
    /// the open breaker's trip, and the suspension is held. A suspension counts once per key
    /// within the window; a member suspended because its team is over does not count (the team's
    /// own decision did). The decision that takes the count past the limit opens the breaker and
    /// sends the one operator alert.
    async fn breaker_check(
        &self,
        d: &Decision,
        team: bool,
        report: &mut Report,
    ) -> Result<Option<BreakerTrip>, EnforceError> {
        let b = self.cfg.breaker;
        let state = self.store.breaker().await?;
        if let Some(trip) = state.open {
            return Ok(Some(trip));
        }
        let counts = team || d.window.as_ref().is_none_or(|w| w.scope != Scope::Team);
        if !counts {
            return Ok(None);
        }
        let now = self.clock.now_ms();
        let keys = self
            .store
            .count_suspension(state.epoch, &d.key, now, b.window_ms())
            .await?;
        if !b.trips(keys.len()) {
            return Ok(None);
        }
        let trip = BreakerTrip {
            at_ms: now,
            count: keys.len(),
            max_suspensions: b.max_suspensions,
            window_minutes: b.window_minutes,
            by: d.key.key.clone(),
            keys: keys.into_iter().take(BREAKER_KEYS_KEPT).collect(),
            alerted: false,
        };
        if self.store.open_breaker(state.epoch, &trip).await? {
            report.breaker_opened = true;
            self.breaker_alert(state.epoch, &trip).await?;
            return Ok(Some(trip));
        }
        // another enforcer opened it at the same moment (or an operator resumed in between)
        Ok(self.store.breaker().await?.open.or(Some(trip)))
    }

    /// The one loud alert of an open breaker, audited; marked sent only once it went out (the
    /// tick repeats a failed send).
    async fn breaker_alert(&self, epoch: u64, trip: &BreakerTrip) -> Result<(), EnforceError> {
        let shown: Vec<&str> = trip.keys.iter().map(String::as_str).collect();
        let rec = AuditRecord {
            detail: format!(
                "{} suspensions within {} minutes (limit {}); tripped by {}; keys: {}",
                trip.count,
                trip.window_minutes,
                trip.max_suspensions,
                trip.by,
                shown.join(", ")
            ),
            message: format!(
                "spendguard CIRCUIT BREAKER OPEN: {} keys were to be suspended within {} minutes \
                 (the limit is {}). Suspensions are PAUSED: keys over budget from now on are \
                 alerted and held, not suspended; suspensions already in place stand. A wrong \
                 price or a wrong budget is the usual cause: check `spendguard prices explain` for \
                 the models in use and `spendguard budgets show`, then re-arm with `spendguard \
                 enforcement resume` (held keys still over are suspended at the next tick). \
                 Opened at {} by the suspension of {}. Keys counted: {}.",
                trip.count,
                trip.window_minutes,
                trip.max_suspensions,
                rfc3339(trip.at_ms),
                trip.by,
                shown.join(", ")
            ),
            ..bare_record(
                trip.at_ms,
                (AuditScope::Breaker, BREAKER_KEY),
                AuditAction::BreakerOpen,
                Cause::Event,
            )
        };
        self.store.audit(&rec).await?;
        self.notify
            .publish(
                "spendguard: CIRCUIT BREAKER OPEN, suspensions paused",
                &rec.message,
            )
            .await?;
        self.store.breaker_alerted(epoch).await?;
        Ok(())
    }

    /// A suspension the open breaker holds back: the key stays pending (so the tick suspends it
    /// once the breaker is re-armed, if it is still over), alerted once per window.
    async fn hold_for_breaker(
        &self,
        d: &Decision,
        prior: &Stored,
        next: &mut Stored,
        cause: Cause,
        trip: &BreakerTrip,
        report: &mut Report,
    ) -> Result<(), EnforceError> {
        let detail = format!(
            "{}: opened at {} after {} suspensions within {} minutes",
            Hold::Breaker.as_str(),
            rfc3339(trip.at_ms),
            trip.count,
            trip.window_minutes
        );
        let message = format!(
            "spendguard: {} ({}) is over budget: {}. It is NOT suspended: the circuit breaker is \
             open ({} suspensions within {} minutes, opened at {}). It will be suspended when an \
             operator runs `spendguard enforcement resume`, if it is still over then.",
            d.key.key,
            d.key.scope.as_str(),
            window_phrase(d),
            trip.count,
            trip.window_minutes,
            rfc3339(trip.at_ms)
        );
        let hold = Hold::Breaker;
        self.hold(d, prior, next, cause, (hold, detail, message), report)
            .await
    }

    /// A suspension the enforcer may not write ([`EnforceError::Refused`]): held like the
    /// breaker's, and said plainly: nothing was written.
    async fn hold_refused(
        &self,
        d: &Decision,
        prior: &Stored,
        next: &mut Stored,
        cause: Cause,
        why: &str,
        report: &mut Report,
    ) -> Result<(), EnforceError> {
        let detail = format!("{}: {why}", Hold::Refused.as_str());
        let message = format!(
            "spendguard: {} ({}) is over budget: {}. It is NOT suspended: spendguard may not \
             write IAM policy on it ({why}). Nothing was written. Tag it {}=true to let \
             spendguard act (it will at the next check if it is still over), or suspend it by \
             other means.",
            d.key.key,
            d.key.scope.as_str(),
            window_phrase(d),
            enforce::ENFORCEABLE_TAG,
        );
        report.refused.push(d.key.clone());
        let hold = Hold::Refused;
        self.hold(d, prior, next, cause, (hold, detail, message), report)
            .await
    }

    /// Holds a suspension back: the key stays pending (the tick decides again, and suspends once
    /// nothing holds it), and the hold is alerted and audited once per window.
    async fn hold(
        &self,
        d: &Decision,
        prior: &Stored,
        next: &mut Stored,
        cause: Cause,
        (hold, detail, message): (Hold, String, String),
        report: &mut Report,
    ) -> Result<(), EnforceError> {
        let now = self.clock.now_ms();
        let (due_ms, since_ms) = match prior.state.status {
            Status::Pending { due_ms } => (due_ms, prior.state.since_ms),
            _ => (now, Some(now)),
        };
        next.state.status = Status::Pending { due_ms };
        next.state.since_ms = since_ms;
        next.state.window = d.window.clone();
        next.mechanism = prior.mechanism;
        let held = d.window.clone().map(|window| Held { hold, window });
        next.state.held = held.clone();
        if held.is_some() && prior.state.held == held {
            return Ok(());
        }
        let mut h = d.clone();
        h.action = Action::Held;
        h.hold = Some(hold);
        let mut rec = self.record(&h, cause, None);
        rec.detail = detail;
        rec.message = message;
        self.send(&rec).await?;
        report.decisions.push(h);
        Ok(())
    }

    /// Operator re-arm (`spendguard enforcement resume`): closes the breaker and restarts its
    /// count. Keys it held stay pending and are suspended by the next tick if still over.
    /// Returns the state it had.
    pub async fn resume_breaker(&self, reason: &str) -> Result<BreakerState, EnforceError> {
        let before = self.store.resume_breaker().await?;
        let was = match &before.open {
            Some(t) => format!(
                "it had opened at {} after {} suspensions within {} minutes",
                rfc3339(t.at_ms),
                t.count,
                t.window_minutes
            ),
            None => "it was not open".into(),
        };
        let mut rec = self.operator_record(
            &KeyRef::new(Scope::Team, BREAKER_KEY),
            AuditAction::BreakerResume,
            reason,
            None,
            &format!("re-armed by an operator ({was}); suspensions resume at the next tick"),
        );
        rec.scope = AuditScope::Breaker;
        rec.message = format!(
            "spendguard: the circuit breaker was re-armed by an operator ({was}); suspensions \
             resume, held keys still over budget are suspended at the next tick. Reason: {}.",
            if reason.is_empty() {
                "none given"
            } else {
                reason
            }
        );
        self.send(&rec).await?;
        Ok(before)
    }

    /// Applies the deny for a key; returns the mechanism used. Idempotent.
    pub async fn apply(&self, key: &KeyRef) -> Result<Mechanism, EnforceError> {
        let unsuspendable = |why: String| EnforceError::Unsuspendable {
            key: key.key.clone(),
            why,
        };
        let target = target_of(key).map_err(unsuspendable)?;
        // the enforcer's own check, before any write: the role's IAM conditions say the same,
        // and a refusal here is a clear, audited alert instead of an AccessDenied
        let subject = match &target {
            Target::User { name, .. } => Entity::User(name),
            Target::Role { name, .. } => Entity::Role(name),
            Target::Session { role_name, .. } => Entity::Role(role_name),
        };
        let tags = self.iam.tags(subject).await?;
        may_write(self.settings.enforceable, &tags).map_err(|why| EnforceError::Refused {
            key: key.key.clone(),
            why: match subject {
                Entity::User(n) => format!("user {n}: {why}"),
                Entity::Role(n) => format!("role {n}: {why}"),
            },
        })?;
        match target {
            Target::User { name, .. } => {
                if self.attach_deny(Entity::User(&name)).await? {
                    return Ok(Mechanism::UserPolicy);
                }
                // no managed-policy slot: the suspended group carries the deny
                let Some(group) = &self.settings.suspended_group else {
                    return Err(unsuspendable(format!(
                        "user {name} has no free managed-policy slot (the quota is {}) and no suspended group is configured",
                        self.settings.managed_quota
                    )));
                };
                if !self.iam.groups(&name).await?.iter().any(|g| g == group) {
                    self.iam.add_to_group(&name, group).await?;
                }
                Ok(Mechanism::UserGroup)
            }
            Target::Role { name, .. } => Ok(Mechanism::of_role(
                self.deny_role(&name).await?.map_err(unsuspendable)?,
            )),
            Target::Session {
                role_name, session, ..
            } => {
                let uid = format!("{}:{session}", self.iam.role_id(&role_name).await?);
                let added = self
                    .edit_role_inline(&role_name, |ids, _| {
                        if !ids.contains(&uid) {
                            ids.push(uid.clone());
                        }
                    })
                    .await?;
                match (added, self.settings.session_overflow) {
                    (Ok(()), _) => Ok(Mechanism::SessionInline),
                    (Err(why), Overflow::Alert) => Err(unsuspendable(why)),
                    (Err(why), Overflow::Role) => {
                        // the role's tags were checked above (a session's subject is its role)
                        let role = self.deny_role(&role_name).await?.map_err(unsuspendable)?;
                        (self.log)(
                            &serde_json::json!({"level": "warn",
                                "msg": "session deny overflowed to its role",
                                "session": session, "role": role_name, "why": why})
                            .to_string(),
                        );
                        Ok(Mechanism::SessionOverflow(role))
                    }
                }
            }
        }
    }

    /// Attaches the managed deny policy to a user or role unless it is there; `false` when no
    /// managed-policy slot is free (nothing was written). The one path for users and roles.
    async fn attach_deny(&self, who: Entity<'_>) -> Result<bool, EnforceError> {
        let policy = self.settings.deny_policy_arn.as_str();
        let attached = self.iam.attached(who).await?;
        if attached.iter().any(|a| a == policy) {
            return Ok(true);
        }
        if attached.len() >= self.settings.managed_quota {
            return Ok(false);
        }
        match self.iam.attach(who, policy).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind == ErrorKind::LimitExceeded => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Denies a whole role: the managed policy, else an unconditional statement in spendguard's
    /// inline policy. The inner `Err` says why neither had room.
    async fn deny_role(&self, role: &str) -> Result<Result<RoleDeny, String>, EnforceError> {
        if self.attach_deny(Entity::Role(role)).await? {
            return Ok(Ok(RoleDeny::Policy));
        }
        Ok(self
            .edit_role_inline(role, |_, whole| *whole = true)
            .await?
            .map(|()| RoleDeny::Inline))
    }

    /// Rewrites spendguard's inline policy on a role. The inner `Err` says there is no room
    /// within the role's aggregate inline limit (nothing was written).
    async fn edit_role_inline(
        &self,
        role: &str,
        edit: impl FnOnce(&mut Vec<String>, &mut bool),
    ) -> Result<Result<(), String>, PortError> {
        let inline = self.iam.role_inline(role).await?;
        let (mut ids, mut whole) = inline
            .iter()
            .find(|(n, _)| n == ROLE_INLINE_POLICY)
            .map(|(_, d)| parse_role_inline(d))
            .unwrap_or_default();
        let before = (ids.clone(), whole);
        edit(&mut ids, &mut whole);
        if (ids.clone(), whole) == before && inline.iter().any(|(n, _)| n == ROLE_INLINE_POLICY) {
            return Ok(Ok(()));
        }
        let others: usize = inline
            .iter()
            .filter(|(n, _)| n != ROLE_INLINE_POLICY)
            .map(|(_, d)| policy_chars(d))
            .sum();
        match role_inline_document(&ids, whole) {
            None => {
                self.iam
                    .delete_role_inline(role, ROLE_INLINE_POLICY)
                    .await?;
                Ok(Ok(()))
            }
            Some(doc) => {
                let ours = policy_chars(&doc);
                if others + ours > ROLE_INLINE_LIMIT {
                    return Ok(Err(format!(
                        "role {role} has {others} characters of other inline policies; spendguard's would need {ours} more (limit {ROLE_INLINE_LIMIT})"
                    )));
                }
                self.iam
                    .put_role_inline(role, ROLE_INLINE_POLICY, &doc)
                    .await?;
                Ok(Ok(()))
            }
        }
    }

    /// Removes exactly what spendguard added for a key (never grants anything). Idempotent.
    pub async fn remove(
        &self,
        key: &KeyRef,
        mechanism: Option<Mechanism>,
    ) -> Result<(), EnforceError> {
        let policy = self.settings.deny_policy_arn.as_str();
        let Ok(target) = target_of(key) else {
            return Ok(());
        };
        match target {
            Target::User { name, .. } => {
                self.iam.detach(Entity::User(&name), policy).await?;
                if let Some(group) = &self.settings.suspended_group {
                    if self.iam.groups(&name).await?.iter().any(|g| g == group) {
                        self.iam.remove_from_group(&name, group).await?;
                    }
                }
            }
            Target::Role { name, .. } => {
                self.iam.detach(Entity::Role(&name), policy).await?;
                self.edit_role_inline(&name, |_, whole| *whole = false)
                    .await?
                    .ok();
            }
            Target::Session {
                role_name,
                role_arn,
                session,
            } => {
                let uid = format!("{}:{session}", self.iam.role_id(&role_name).await?);
                self.edit_role_inline(&role_name, |ids, _| ids.retain(|i| i != &uid))
                    .await?
                    .ok();
                if matches!(mechanism, Some(Mechanism::SessionOverflow(_))) {
                    // the whole role was denied for this session: lift it unless the role is
                    // itself suspended, or another of its sessions overflowed to it too
                    let role = KeyRef::new(Scope::Principal, role_arn.clone());
                    let mut keep = self.store.state(&role).await?.state.status == Status::Suspended;
                    for other in self.store.watched().await? {
                        if keep {
                            break;
                        }
                        let same_role = matches!(target_of(&other),
                            Ok(Target::Session { role_arn: r, .. }) if r == role_arn);
                        if other != *key && same_role {
                            let st = self.store.state(&other).await?;
                            keep = st.state.status == Status::Suspended
                                && matches!(st.mechanism, Some(Mechanism::SessionOverflow(_)));
                        }
                    }
                    if !keep {
                        Box::pin(self.remove(&role, None)).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether the deny recorded for a key is in place in IAM.
    pub async fn is_applied(
        &self,
        key: &KeyRef,
        mechanism: Option<Mechanism>,
    ) -> Result<bool, EnforceError> {
        let policy = self.settings.deny_policy_arn.as_str();
        let Ok(target) = target_of(key) else {
            return Ok(true);
        };
        Ok(match target {
            Target::User { name, .. } => {
                if mechanism == Some(Mechanism::UserGroup) {
                    match &self.settings.suspended_group {
                        Some(g) => self.iam.groups(&name).await?.iter().any(|x| x == g),
                        None => false,
                    }
                } else {
                    self.iam
                        .attached(Entity::User(&name))
                        .await?
                        .iter()
                        .any(|a| a == policy)
                }
            }
            Target::Role { name, .. } => {
                if mechanism == Some(Mechanism::RoleInline) {
                    self.role_inline_state(&name).await?.1
                } else {
                    self.iam
                        .attached(Entity::Role(&name))
                        .await?
                        .iter()
                        .any(|a| a == policy)
                }
            }
            Target::Session {
                role_name,
                role_arn,
                session,
            } => {
                if let Some(Mechanism::SessionOverflow(d)) = mechanism {
                    let role = KeyRef::new(Scope::Principal, role_arn);
                    return Box::pin(self.is_applied(&role, Some(Mechanism::of_role(d)))).await;
                }
                let uid = format!("{}:{session}", self.iam.role_id(&role_name).await?);
                self.role_inline_state(&role_name).await?.0.contains(&uid)
            }
        })
    }

    async fn role_inline_state(&self, role: &str) -> Result<(Vec<String>, bool), PortError> {
        Ok(self
            .iam
            .role_inline(role)
            .await?
            .iter()
            .find(|(n, _)| n == ROLE_INLINE_POLICY)
            .map(|(_, d)| parse_role_inline(d))
            .unwrap_or_default())
    }

    /// Checks a suspended key's deny in IAM and re-applies it if it is gone (drift or tamper).
    pub async fn reconcile_key(
        &self,
        key: &KeyRef,
        cause: Cause,
        detail: &str,
    ) -> Result<Report, EnforceError> {
        let mut report = Report::default();
        let stored = self.store.state(key).await?;
        if stored.state.status != Status::Suspended {
            return Ok(report);
        }
        let applied = self.is_applied(key, stored.mechanism).await?;
        if applied && cause != Cause::Tamper {
            return Ok(report);
        }
        let mechanism = if applied {
            stored.mechanism
        } else {
            Some(self.apply(key).await?)
        };
        let rec = AuditRecord {
            at: rfc3339(self.clock.now_ms()),
            scope: key.scope.into(),
            key: key.key.clone(),
            action: if applied {
                AuditAction::Tamper
            } else {
                AuditAction::Reapply
            },
            cause,
            window: stored.state.window.as_ref().map(|w| w.kind),
            window_start: stored.state.window.as_ref().map(|w| w.start.clone()),
            threshold_pct: None,
            spend_usd: None,
            limit_usd: None,
            mode: Mode::Enforce,
            mechanism,
            lifts_at: None,
            detail: detail.to_string(),
            message: if applied {
                format!(
                    "spendguard: an IAM change touched suspended {} ({}); the suspension is intact. {detail}",
                    key.key,
                    key.scope.as_str()
                )
            } else {
                format!(
                    "spendguard RE-APPLIED the suspension of {} ({}): the deny ({}) was missing from IAM ({}). {detail}",
                    key.key,
                    key.scope.as_str(),
                    stored.mechanism.map_or("none recorded", Mechanism::as_str),
                    cause.as_str()
                )
            },
        };
        self.send(&rec).await?;
        if !applied {
            report.reapplied.push(key.clone());
            if mechanism != stored.mechanism {
                let next = Stored {
                    mechanism,
                    version: stored.version + 1,
                    ..stored.clone()
                };
                self.store.put_state(key, &next, stored.version).await?;
            }
        }
        Ok(report)
    }

    /// The scheduled run: a full re-evaluation when the budgets changed since the last one, then
    /// every watched key (grace periods that ran out, windows that reset, expired overrides), then
    /// drift repair for every suspended key.
    pub async fn tick(&self, budgets_version: u64) -> Result<Report, EnforceError> {
        let mut report = Report::default();
        let breaker = self.store.breaker().await?;
        if let Some(trip) = breaker.open.as_ref().filter(|t| !t.alerted) {
            self.breaker_alert(breaker.epoch, trip).await?;
        }
        report.fallback_models = self.fallback_alert().await?;
        let mut keys: BTreeSet<KeyRef> = self.store.watched().await?.into_iter().collect();
        let full = budgets_version != 0 && self.store.evaluated_version().await? != budgets_version;
        if full {
            if let Some((day, month)) = enforce::current_starts(self.cfg, self.clock.now_ms()) {
                keys.extend(self.windows.keys_with_windows(&day, &month).await?);
            }
        }
        for key in &keys {
            match self.enforce_key(key, Cause::Schedule).await {
                Ok(r) => report.merge(r),
                Err(e) if e.retryable() => return Err(e),
                Err(e) => report.failures.push(e.to_string()),
            }
            match self.reconcile_key(key, Cause::Reconcile, "").await {
                Ok(r) => report.merge(r),
                Err(e) if e.retryable() => return Err(e),
                Err(e) => report.failures.push(e.to_string()),
            }
        }
        if full {
            self.store.set_evaluated_version(budgets_version).await?;
        }
        Ok(report)
    }

    /// One alert naming the model ids the aggregator priced at a fallback price that are not
    /// alerted yet (each once per UTC day), audited; they are marked only after it went out, so
    /// a failed send is repeated by the next tick.
    async fn fallback_alert(&self) -> Result<Vec<String>, EnforceError> {
        let models = self.store.fallback_models().await?;
        if models.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = models
            .iter()
            .map(|m| format!("{} ({} invocations on {})", m.model, m.invocations, m.day))
            .collect();
        let rec = AuditRecord {
            detail: list.join("; "),
            message: format!(
                "spendguard: {} logged model id(s) priced at a FALLBACK price (the price catalogue \
                 does not know them): {}. Their spend is an upper bound, never a bill, and never \
                 suspends anyone on its own. Add their prices: `spendguard prices explain \
                 MODEL_ID` shows the rung used; store a fix with `spendguard prices push FILE` (the \
                 daily refresh adds models AWS's Price List names).",
                models.len(),
                list.join(", ")
            ),
            ..bare_record(
                self.clock.now_ms(),
                (AuditScope::Prices, "fallback-models"),
                AuditAction::FallbackPriced,
                Cause::Schedule,
            )
        };
        self.send(&rec).await?;
        for m in &models {
            self.store.mark_fallback_alerted(m).await?;
        }
        Ok(models.into_iter().map(|m| m.model).collect())
    }

    /// A CloudTrail IAM event: every suspended key it touches is checked and re-applied at once.
    pub async fn tamper(&self, detail: &serde_json::Value) -> Result<Report, EnforceError> {
        let mut report = Report::default();
        let by_us = self.settings.own_role_arn.as_deref().is_some_and(|own| {
            detail["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"].as_str() == Some(own)
        });
        if by_us {
            match self.self_audit(detail) {
                // our own write, as meant: nothing to repair
                None => return Ok(report),
                Some(why) => {
                    self.self_audit_alert(detail, &why).await?;
                    report.self_audit_mismatches.push(why);
                    // then repair as for anyone's write: the watched keys are reconciled
                }
            }
        }
        let params = &detail["requestParameters"];
        let user = params["userName"].as_str();
        let role = params["roleName"].as_str();
        let ours = params["policyArn"].as_str() == Some(self.settings.deny_policy_arn.as_str())
            || params["groupName"].as_str().is_some()
                && params["groupName"].as_str() == self.settings.suspended_group.as_deref();
        let what = format!(
            "{} by {} on {}",
            detail["eventName"].as_str().unwrap_or("an IAM call"),
            detail["userIdentity"]["arn"].as_str().unwrap_or("unknown"),
            user.or(role)
                .or(params["policyArn"].as_str())
                .unwrap_or("unknown")
        );
        for key in self.store.watched().await? {
            let hit = ours
                || match target_of(&key) {
                    Ok(Target::User { name, .. }) => user == Some(name.as_str()),
                    Ok(Target::Role { name, .. }) => role == Some(name.as_str()),
                    Ok(Target::Session { role_name, .. }) => role == Some(role_name.as_str()),
                    Err(_) => false,
                };
            if hit {
                report.merge(self.reconcile_key(&key, Cause::Tamper, &what).await?);
            }
        }
        Ok(report)
    }

    /// The self-audit: whether an IAM write the enforcer made (its CloudTrail event) is one it
    /// writes. `None` when it is; else what differs. The enforcer only ever attaches or detaches
    /// its own deny policy, adds or removes users of its suspended group, and puts or deletes
    /// its own inline policy in the form `role_inline_document` renders (deny statements only):
    /// anything else from its role is a bug or a compromise.
    fn self_audit(&self, detail: &serde_json::Value) -> Option<String> {
        let p = &detail["requestParameters"];
        let event = detail["eventName"].as_str().unwrap_or("");
        let ours = self.settings.deny_policy_arn.as_str();
        let group = self.settings.suspended_group.as_deref();
        match event {
            "AttachUserPolicy" | "AttachRolePolicy" | "DetachUserPolicy" | "DetachRolePolicy" => {
                (p["policyArn"].as_str() != Some(ours)).then(|| {
                    format!(
                        "{event} of {} (not spendguard's deny policy)",
                        p["policyArn"]
                    )
                })
            }
            "AddUserToGroup" | "RemoveUserFromGroup" => (group.is_none()
                || p["groupName"].as_str() != group)
                .then(|| format!("{event} on group {} (not spendguard's)", p["groupName"])),
            "PutRolePolicy" | "DeleteRolePolicy"
                if p["policyName"].as_str() != Some(ROLE_INLINE_POLICY) =>
            {
                Some(format!(
                    "{event} of inline policy {} (not {ROLE_INLINE_POLICY})",
                    p["policyName"]
                ))
            }
            "DeleteRolePolicy" => None,
            "PutRolePolicy" => {
                let doc = p["policyDocument"].as_str().unwrap_or("");
                (!enforce::is_own_role_inline(doc)).then(|| {
                    format!(
                        "PutRolePolicy on role {} wrote a document spendguard does not write: {doc}",
                        p["roleName"]
                    )
                })
            }
            other => Some(format!("{other}: a call spendguard never makes")),
        }
    }

    /// A self-audit mismatch: audited, and an operator alert (the stack alarms on the metric).
    async fn self_audit_alert(
        &self,
        detail: &serde_json::Value,
        why: &str,
    ) -> Result<(), EnforceError> {
        let rec = AuditRecord {
            detail: why.to_string(),
            message: format!(
                "spendguard SELF-AUDIT MISMATCH: the enforcer's own role made an IAM write that \
                 spendguard does not make: {why}. Event {} at {}. Treat the enforcer as suspect: \
                 check its code and configuration (and its code signing), review the principal \
                 the call touched, and disable the enforcer's role if the call was not expected. \
                 spendguard re-applies its own denies on the keys it watches now.",
                detail["eventID"].as_str().unwrap_or("unknown"),
                detail["eventTime"].as_str().unwrap_or("unknown"),
            ),
            ..bare_record(
                self.clock.now_ms(),
                (AuditScope::SelfAudit, "iam"),
                AuditAction::SelfAuditMismatch,
                Cause::Tamper,
            )
        };
        self.store.audit(&rec).await?;
        self.notify
            .publish("spendguard: SELF-AUDIT MISMATCH", &rec.message)
            .await?;
        Ok(())
    }

    /// Operator suspension (`spendguard suspend`): applies the deny now and holds it until
    /// `until` (or until `spendguard restore`), over budget or not. Protection does not stop it.
    pub async fn suspend_now(
        &self,
        key: &KeyRef,
        until_ms: Option<i64>,
        reason: &str,
    ) -> Result<Report, EnforceError> {
        let stored = self.store.state(key).await?;
        let mechanism = Some(self.apply(key).await?);
        let now = self.clock.now_ms();
        let next = Stored {
            state: KeyState {
                status: Status::Suspended,
                since_ms: Some(now),
                window: stored.state.window.clone(),
                manual_until_ms: Some(until_ms.unwrap_or(i64::MAX)),
                protected_until_ms: None,
                held: None,
            },
            mechanism,
            version: stored.version + 1,
        };
        self.write(key, &next, stored.version).await?;
        let mut rec = self.operator_record(
            key,
            AuditAction::Suspend,
            reason,
            until_ms,
            &format!(
                "SUSPENDED by an operator{}",
                until_ms.map_or(" until `spendguard restore`".into(), |t| format!(
                    " until {}",
                    rfc3339(t)
                ))
            ),
        );
        rec.mechanism = mechanism;
        self.send(&rec).await?;
        Ok(Report::default())
    }

    /// Operator restore (`spendguard restore`): removes the deny now and protects the key until
    /// `until`, or, by default, until its over windows reset (otherwise the next evaluation would
    /// suspend it again).
    pub async fn restore_now(
        &self,
        key: &KeyRef,
        until_ms: Option<i64>,
        reason: &str,
    ) -> Result<Report, EnforceError> {
        let stored = self.store.state(key).await?;
        self.remove(key, stored.mechanism).await?;
        let ev = self.evaluate(key).await?;
        let protect = until_ms.or_else(|| self.lifts_at(&ev));
        let next = Stored {
            state: KeyState {
                status: Status::Ok,
                since_ms: Some(self.clock.now_ms()),
                window: None,
                manual_until_ms: None,
                protected_until_ms: protect,
                held: None,
            },
            mechanism: None,
            version: stored.version + 1,
        };
        self.write(key, &next, stored.version).await?;
        let mut rec = self.operator_record(
            key,
            AuditAction::Restore,
            reason,
            protect,
            &format!(
                "RESTORED by an operator{}",
                protect.map_or(String::new(), |t| format!(
                    "; not suspended again before {}",
                    rfc3339(t)
                ))
            ),
        );
        rec.mechanism = stored.mechanism;
        self.send(&rec).await?;
        Ok(Report::default())
    }

    /// Operator protection (`spendguard protect`): never suspended until `until` (forever when
    /// absent; `--until` a past time ends it). A current suspension is lifted by the evaluation.
    pub async fn protect(
        &self,
        key: &KeyRef,
        until_ms: Option<i64>,
        reason: &str,
    ) -> Result<Report, EnforceError> {
        let stored = self.store.state(key).await?;
        let mut next = stored.clone();
        next.state.protected_until_ms = Some(until_ms.unwrap_or(i64::MAX));
        next.state.manual_until_ms = None;
        next.version = stored.version + 1;
        self.write(key, &next, stored.version).await?;
        let rec = self.operator_record(
            key,
            AuditAction::Protect,
            reason,
            until_ms,
            &format!(
                "PROTECTED by an operator{}: alerted, never suspended",
                until_ms.map_or(String::new(), |t| format!(" until {}", rfc3339(t)))
            ),
        );
        self.send(&rec).await?;
        self.enforce_key(key, Cause::Cli).await
    }

    async fn write(&self, key: &KeyRef, next: &Stored, expected: u64) -> Result<(), EnforceError> {
        if self.store.put_state(key, next, expected).await? {
            Ok(())
        } else {
            Err(EnforceError::Contended(key.key.clone()))
        }
    }

    /// An operator action's audit record; its message reads "spendguard: <key> (<scope>)
    /// <headline>. Reason: <reason>."
    fn operator_record(
        &self,
        key: &KeyRef,
        action: AuditAction,
        reason: &str,
        until_ms: Option<i64>,
        headline: &str,
    ) -> AuditRecord {
        AuditRecord {
            lifts_at: until_ms.map(rfc3339),
            detail: reason.into(),
            message: format!(
                "spendguard: {} ({}) {headline}. Reason: {}.",
                key.key,
                key.scope.as_str(),
                if reason.is_empty() {
                    "none given"
                } else {
                    reason
                }
            ),
            ..bare_record(
                self.clock.now_ms(),
                (key.scope.into(), &key.key),
                action,
                Cause::Cli,
            )
        }
    }
}

/// An audit record of an action that is not one budget window's (the breaker, fallback prices,
/// an operator command, the self-audit): callers add the detail and the message.
fn bare_record(
    at_ms: i64,
    (scope, key): (AuditScope, &str),
    action: AuditAction,
    cause: Cause,
) -> AuditRecord {
    AuditRecord {
        at: rfc3339(at_ms),
        scope,
        key: key.into(),
        action,
        cause,
        window: None,
        window_start: None,
        threshold_pct: None,
        spend_usd: None,
        limit_usd: None,
        mode: Mode::Enforce,
        mechanism: None,
        lifts_at: None,
        detail: String::new(),
        message: String::new(),
    }
}

fn subject(d: &Decision) -> String {
    let who = d.key.key.rsplit(['/', ':']).next().unwrap_or_default();
    let s = match d.threshold_pct {
        Some(p) => format!("spendguard: {who} reached {p}% of its budget"),
        None => format!("spendguard: {who} {}", d.action.as_str()),
    };
    // SNS subjects: at most 100 characters
    s.chars().take(100).collect()
}

fn subject_of(r: &AuditRecord) -> String {
    let who = r.key.rsplit(['/', ':']).next().unwrap_or_default();
    format!("spendguard: {} {who}", r.action.as_str().to_uppercase())
        .chars()
        .take(100)
        .collect()
}

fn window_phrase(d: &Decision) -> String {
    match (&d.window, d.spend_usd, d.limit_usd) {
        (Some(w), Some(s), Some(l)) => format!(
            "{} window from {}{}: {} spent of a {} limit",
            w.kind.as_str(),
            w.start,
            if w.scope == Scope::Team {
                format!(" (team {})", w.key)
            } else {
                String::new()
            },
            money(s),
            money(l)
        ),
        (Some(w), _, _) => format!("{} window from {}", w.kind.as_str(), w.start),
        _ => "no window".into(),
    }
}

fn alert_message(d: &Decision, lifts: Option<i64>) -> String {
    let pct = d.threshold_pct.unwrap_or(0);
    let then = if pct < 100 {
        "No action yet.".to_string()
    } else if d.protected {
        "It is protected: it will not be suspended.".to_string()
    } else {
        match d.mode {
            Mode::Enforce => format!(
                "Bedrock access will be suspended after the grace period{}.",
                lifts.map_or(String::new(), |t| format!(
                    ", until {} at the latest",
                    rfc3339(t)
                ))
            ),
            Mode::Shadow => "Shadow mode: it would be suspended; nothing is applied.".into(),
            Mode::AlertOnly => "Alert-only budget: no suspension.".into(),
        }
    };
    format!(
        "spendguard: {} ({}) reached {pct}% of its budget: {}. {then}",
        d.key.key,
        d.key.scope.as_str(),
        window_phrase(d)
    )
}

fn action_message(d: &Decision, rec: &AuditRecord) -> String {
    let who = format!("{} ({})", d.key.key, d.key.scope.as_str());
    let lifts = rec
        .lifts_at
        .as_ref()
        .map_or(String::new(), |t| format!(" It lifts at {t} at the latest, when the window resets, or sooner if the budget is raised."));
    match d.action {
        Action::Pending => format!(
            "spendguard: {who} is over budget: {}. Bedrock access will be suspended at {} unless spend falls back under the limit.",
            window_phrase(d),
            d.due_ms.map(rfc3339).unwrap_or_default()
        ),
        Action::Suspend => format!(
            "spendguard SUSPENDED Bedrock access of {who}: {} (denied by {}).{lifts}",
            window_phrase(d),
            rec.mechanism.map_or("its members' denies", Mechanism::as_str)
        ),
        Action::WouldSuspend => format!(
            "spendguard (shadow mode) WOULD HAVE SUSPENDED {who}: {}. Nothing was applied.{lifts}",
            window_phrase(d)
        ),
        Action::Restore => format!(
            "spendguard RESTORED {who}: no window is over budget any more{}.",
            if d.mode == Mode::Shadow {
                " (shadow mode: nothing had been applied)"
            } else {
                ""
            }
        ),
        Action::Cancel => format!(
            "spendguard: {who} is back under budget before the grace period ended; no suspension."
        ),
        Action::Alert | Action::Held => String::new(),
    }
}
