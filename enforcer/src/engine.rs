//! The enforcer's engine: evaluate a key from the ledger, decide with the core, and carry the
//! decisions out through the ports: alerts once per window and threshold, shadow and protected
//! keys, the audit trail and the scheduled tick (grace, restoration, budgets changes, drift
//! repair). Beside it: the IAM deny and its exact removal (`iam`), the circuit breaker
//! (`breaker`), the response to IAM changes (`tamper`), the operator's commands (`operator`) and
//! the words people read (`messages`).
//!
//! Order of effects, so a crash or a retry never loses or doubles anything that matters: IAM is
//! changed first and the state row last (a retry re-decides and the IAM calls are idempotent);
//! an alert marker is written before the alert is sent and removed again if sending fails.

mod breaker;
mod iam;
mod messages;
mod operator;
mod tamper;

use crate::ports::{
    BreakerState, BreakerTrip, Entity, ErrorKind, Iam, Notifier, PortError, Store, Stored, Windows,
    BREAKER_KEYS_KEPT,
};
use messages::{action_message, alert_message, bare_record, subject, subject_of, window_phrase};
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
            EnforceError::Port(e) => e.retryable(),
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

pub(crate) use spendguard_core::window::rfc3339;

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

    async fn write(&self, key: &KeyRef, next: &Stored, expected: u64) -> Result<(), EnforceError> {
        if self.store.put_state(key, next, expected).await? {
            Ok(())
        } else {
            Err(EnforceError::Contended(key.key.clone()))
        }
    }
}
