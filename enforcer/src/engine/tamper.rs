//! The response to IAM changes CloudTrail reports: re-checking the denies of watched keys, and
//! the self-audit of calls on spendguard's own policies that spendguard did not make.

use super::*;

impl Enforcer<'_> {
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
    pub(super) fn self_audit(&self, detail: &serde_json::Value) -> Option<String> {
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
    pub(super) async fn self_audit_alert(
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
}
