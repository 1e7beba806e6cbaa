//! The operator's commands (`spendguard suspend`, `restore`, `protect`, `breaker resume`):
//! each writes the key's state, changes IAM where it must, and leaves an audit record with the
//! reason given.

use super::*;

impl Enforcer<'_> {
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
