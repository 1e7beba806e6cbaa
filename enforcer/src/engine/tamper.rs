//! The response to IAM changes CloudTrail reports: re-checking the denies of watched keys, and
//! the self-audit of calls on spendguard's own policies that spendguard did not make.

use super::*;
use spendguard_schemas::event::CloudTrailCall;

/// A request parameter as the alert quotes it: `"value"`, or `null` when the call had none.
fn quoted(v: &Option<String>) -> String {
    v.as_deref()
        .map_or_else(|| "null".into(), |s| format!("{s:?}"))
}

impl Enforcer<'_> {
    /// A CloudTrail IAM event: every suspended key it touches is checked and re-applied at once.
    pub async fn tamper(&self, detail: &CloudTrailCall) -> Result<Report, EnforceError> {
        let mut report = Report::default();
        let issuer = detail
            .user_identity
            .session_context
            .session_issuer
            .arn
            .as_deref();
        let by_us = self
            .settings
            .own_role_arn
            .as_deref()
            .is_some_and(|own| issuer == Some(own));
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
        let params = &detail.request_parameters;
        let user = params.user_name.as_deref();
        let role = params.role_name.as_deref();
        let ours = params.policy_arn.as_deref() == Some(self.settings.deny_policy_arn.as_str())
            || params.group_name.is_some()
                && params.group_name.as_deref() == self.settings.suspended_group.as_deref();
        let what = format!(
            "{} by {} on {}",
            detail.event_name.as_deref().unwrap_or("an IAM call"),
            detail.user_identity.arn.as_deref().unwrap_or("unknown"),
            user.or(role)
                .or(params.policy_arn.as_deref())
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
    pub(super) fn self_audit(&self, detail: &CloudTrailCall) -> Option<String> {
        let p = &detail.request_parameters;
        let event = detail.event_name.as_deref().unwrap_or("");
        let ours = self.settings.deny_policy_arn.as_str();
        let group = self.settings.suspended_group.as_deref();
        match event {
            "AttachUserPolicy" | "AttachRolePolicy" | "DetachUserPolicy" | "DetachRolePolicy" => {
                (p.policy_arn.as_deref() != Some(ours)).then(|| {
                    format!(
                        "{event} of {} (not spendguard's deny policy)",
                        quoted(&p.policy_arn)
                    )
                })
            }
            "AddUserToGroup" | "RemoveUserFromGroup" => {
                (group.is_none() || p.group_name.as_deref() != group).then(|| {
                    format!(
                        "{event} on group {} (not spendguard's)",
                        quoted(&p.group_name)
                    )
                })
            }
            "PutRolePolicy" | "DeleteRolePolicy"
                if p.policy_name.as_deref() != Some(ROLE_INLINE_POLICY) =>
            {
                Some(format!(
                    "{event} of inline policy {} (not {ROLE_INLINE_POLICY})",
                    quoted(&p.policy_name)
                ))
            }
            "DeleteRolePolicy" => None,
            "PutRolePolicy" => {
                let doc = p.policy_document.as_deref().unwrap_or("");
                (!enforce::is_own_role_inline(doc)).then(|| {
                    format!(
                        "PutRolePolicy on role {} wrote a document spendguard does not write: {doc}",
                        quoted(&p.role_name)
                    )
                })
            }
            other => Some(format!("{other}: a call spendguard never makes")),
        }
    }

    /// A self-audit mismatch: audited, and an operator alert (the stack alarms on the metric).
    pub(super) async fn self_audit_alert(
        &self,
        detail: &CloudTrailCall,
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
                detail.event_id.as_deref().unwrap_or("unknown"),
                detail.event_time.as_deref().unwrap_or("unknown"),
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
}
