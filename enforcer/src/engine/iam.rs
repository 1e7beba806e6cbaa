//! The IAM deny and its exact removal: the managed deny policy on a user or role (one path for
//! both), the suspended group when a user has no managed-policy slot, spendguard's inline policy
//! on a role (whole, or per session), a session overflowing to its role, and whether a recorded
//! deny is still in place.

use super::*;

impl Enforcer<'_> {
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
                        tracing::warn!(
                            session = %session,
                            role = %role_name,
                            why = %why,
                            "session deny overflowed to its role"
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
}
