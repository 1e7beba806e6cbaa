//! The domain's words as types: scope, window kind, mode, window state, a decision's action and
//! hold, the audit record's subject, action and cause, and the deny mechanism. Each has exactly one spelling on the wire
//! (its serde form, `as_str`), parsed once here; the stored and emitted JSON is what it was when
//! these were strings.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A closed set of words: the enum, its one spelling each way, `Display` and serde.
macro_rules! words {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vm])* $v),+ }

        impl $name {
            /// Every word, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$v),+];

            /// The wire spelling.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }

            /// The word a spelling names; `None` for anything else.
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($s => Some($name::$v),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as ::serde::Deserialize>::deserialize(d)?;
                $name::parse(&s).ok_or_else(|| ::serde::de::Error::unknown_variant(&s, &[$($s),+]))
            }
        }
    };
}

/// The row's column values are words too (`row::PriceStatus`, ...).
pub(crate) use words;

words! {
    /// Which spend a budget or a window counts.
    Scope {
        /// An IAM user, or a whole role across all its sessions.
        Principal = "principal",
        /// One assumed-role session ARN as logged.
        Session = "session",
        /// A named team.
        Team = "team",
    }
}

words! {
    /// A window's length.
    WindowKind {
        Day = "day",
        Month = "month",
    }
}

words! {
    /// What happens when a budget is exceeded.
    Mode {
        /// Alert, then suspend after the grace period.
        Enforce = "enforce",
        /// Alert and record what would have been suspended; never suspend.
        Shadow = "shadow",
        /// Alert only.
        AlertOnly = "alert_only",
    }
}

words! {
    /// Whether a window is over its limit (`Budget State Changed`'s `state`).
    WindowState {
        Over = "over",
        Ok = "ok",
    }
}

words! {
    /// What an audit record is about: a budget key, or one of spendguard's own concerns.
    AuditScope {
        Principal = "principal",
        Session = "session",
        Team = "team",
        /// The circuit breaker (key `suspensions`).
        Breaker = "breaker",
        /// Model ids priced at a fallback price (key `fallback-models`).
        Prices = "prices",
        /// The self-audit of IAM calls on spendguard's own policies (key `iam`).
        SelfAudit = "self-audit",
    }
}

impl From<Scope> for AuditScope {
    fn from(s: Scope) -> AuditScope {
        match s {
            Scope::Principal => AuditScope::Principal,
            Scope::Session => AuditScope::Session,
            Scope::Team => AuditScope::Team,
        }
    }
}

words! {
    /// What an audit record says was done.
    AuditAction {
        /// A threshold was reached.
        Alert = "alert",
        /// Over; suspension due after the grace period.
        Pending = "pending",
        /// The deny was applied (or, from the CLI, an operator suspended the key).
        Suspend = "suspend",
        /// Shadow mode: the deny would have been applied.
        WouldSuspend = "would_suspend",
        /// What spendguard added was removed.
        Restore = "restore",
        /// Back under within the grace period.
        Cancel = "cancel",
        /// Over, but the suspension is held back (fallback prices, the breaker, a refusal).
        Held = "held",
        /// Applying or removing the deny failed.
        Fail = "fail",
        /// The deny was found in place after a change to IAM (checked, nothing to do).
        Tamper = "tamper",
        /// The deny was found missing and applied again.
        Reapply = "reapply",
        /// An operator protected the key from suspension.
        Protect = "protect",
        /// The circuit breaker opened.
        BreakerOpen = "breaker_open",
        /// An operator resumed suspensions after the breaker opened.
        BreakerResume = "breaker_resume",
        /// Model ids were priced at a fallback price.
        FallbackPriced = "fallback_priced",
        /// An IAM call on spendguard's policies that spendguard did not make.
        SelfAuditMismatch = "self_audit_mismatch",
    }
}

words! {
    /// What started an enforcement action.
    Cause {
        /// A budget event from the evaluator.
        Event = "event",
        /// The enforcer's scheduled tick.
        Schedule = "schedule",
        /// A CloudTrail event on an IAM entity spendguard watches.
        Tamper = "tamper",
        /// The scheduled reconciliation of suspended keys with IAM.
        Reconcile = "reconcile",
        /// An operator's `spendguard enforce` command.
        Cli = "cli",
    }
}

words! {
    /// A budget decision's action (the audit record's [`AuditAction`] has these and more).
    Action {
        /// A threshold was reached in a window (once per window and threshold).
        Alert = "alert",
        /// Over in enforce or shadow mode; suspension is due after the grace period.
        Pending = "pending",
        /// Apply the deny now.
        Suspend = "suspend",
        /// Shadow mode: the deny would have been applied now.
        WouldSuspend = "would_suspend",
        /// No window is over any more: remove what spendguard added (for a shadow suspension,
        /// record that it would have been lifted).
        Restore = "restore",
        /// Back under before the grace period ran out: the pending suspension is dropped.
        Cancel = "cancel",
        /// Over, but the suspension is held back (see [`Hold`]): alerted, not applied.
        Held = "held",
    }
}

words! {
    /// Why a key that is over is not suspended.
    Hold {
        /// Over only through spend priced at a fallback price.
        Fallback = "fallback",
        /// The circuit breaker is open: too many suspensions in too short a time.
        Breaker = "breaker",
        /// The principal may not be written to: not opted in, or exempt.
        Refused = "refused",
    }
}

/// Every decision is audited under its own action.
impl From<Action> for AuditAction {
    fn from(a: Action) -> Self {
        use AuditAction as A;
        match a {
            Action::Alert => A::Alert,
            Action::Pending => A::Pending,
            Action::Suspend => A::Suspend,
            Action::WouldSuspend => A::WouldSuspend,
            Action::Restore => A::Restore,
            Action::Cancel => A::Cancel,
            Action::Held => A::Held,
        }
    }
}

/// How a role was denied: its managed deny policy, or spendguard's inline policy when no
/// managed-policy slot was free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoleDeny {
    Policy,
    Inline,
}

/// How a deny was (or would be) applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// The deny policy attached to the user.
    UserPolicy,
    /// The user added to the suspended group (no managed-policy slot was free).
    UserGroup,
    /// The deny policy attached to the role.
    RolePolicy,
    /// spendguard's inline policy on the role denies it whole.
    RoleInline,
    /// spendguard's inline policy on the role denies this session.
    SessionInline,
    /// The role's inline policy had no room for the session, so the whole role was denied
    /// (`session_overflow = "role"`); restoring the session lifts the role unless something else
    /// holds it.
    SessionOverflow(RoleDeny),
}

impl Mechanism {
    /// Every mechanism.
    pub const ALL: &'static [Mechanism] = &[
        Mechanism::UserPolicy,
        Mechanism::UserGroup,
        Mechanism::RolePolicy,
        Mechanism::RoleInline,
        Mechanism::SessionInline,
        Mechanism::SessionOverflow(RoleDeny::Policy),
        Mechanism::SessionOverflow(RoleDeny::Inline),
    ];

    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Mechanism::UserPolicy => "user-policy",
            Mechanism::UserGroup => "user-group",
            Mechanism::RolePolicy => "role-policy",
            Mechanism::RoleInline => "role-inline",
            Mechanism::SessionInline => "session-inline",
            Mechanism::SessionOverflow(RoleDeny::Policy) => "role-policy+session-overflow",
            Mechanism::SessionOverflow(RoleDeny::Inline) => "role-inline+session-overflow",
        }
    }

    /// The mechanism a spelling names; `None` for anything else.
    pub fn parse(s: &str) -> Option<Mechanism> {
        Mechanism::ALL.iter().copied().find(|m| m.as_str() == s)
    }

    /// A role's deny as a mechanism.
    pub const fn of_role(d: RoleDeny) -> Mechanism {
        match d {
            RoleDeny::Policy => Mechanism::RolePolicy,
            RoleDeny::Inline => Mechanism::RoleInline,
        }
    }
}

impl std::fmt::Display for Mechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Mechanism {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Mechanism {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Mechanism::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown deny mechanism {s:?}")))
    }
}

/// `Option<Mechanism>` as the audit record has always carried it: `""` for none.
pub mod mechanism_or_empty {
    use super::Mechanism;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Mechanism>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.map_or("", Mechanism::as_str))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Mechanism>, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Ok(None);
        }
        Mechanism::parse(&s)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown deny mechanism {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire names are fixed: stored items and published events use them, and a rename here
    /// would strand them. Each word serialises to its spelling and parses back.
    #[test]
    fn wire_names_are_fixed_and_round_trip() {
        fn check<T>(all: &[T], spelled: &[&str])
        where
            T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug + Copy,
        {
            assert_eq!(all.len(), spelled.len());
            for (w, s) in all.iter().zip(spelled) {
                let json = serde_json::to_string(w).unwrap();
                assert_eq!(json, format!("\"{s}\""));
                assert_eq!(serde_json::from_str::<T>(&json).unwrap(), *w);
            }
        }
        check(Scope::ALL, &["principal", "session", "team"]);
        check(WindowKind::ALL, &["day", "month"]);
        check(Mode::ALL, &["enforce", "shadow", "alert_only"]);
        check(WindowState::ALL, &["over", "ok"]);
        check(
            AuditScope::ALL,
            &[
                "principal",
                "session",
                "team",
                "breaker",
                "prices",
                "self-audit",
            ],
        );
        check(
            AuditAction::ALL,
            &[
                "alert",
                "pending",
                "suspend",
                "would_suspend",
                "restore",
                "cancel",
                "held",
                "fail",
                "tamper",
                "reapply",
                "protect",
                "breaker_open",
                "breaker_resume",
                "fallback_priced",
                "self_audit_mismatch",
            ],
        );
        check(
            Action::ALL,
            &[
                "alert",
                "pending",
                "suspend",
                "would_suspend",
                "restore",
                "cancel",
                "held",
            ],
        );
        check(Hold::ALL, &["fallback", "breaker", "refused"]);
        check(
            Cause::ALL,
            &["event", "schedule", "tamper", "reconcile", "cli"],
        );
        check(
            Mechanism::ALL,
            &[
                "user-policy",
                "user-group",
                "role-policy",
                "role-inline",
                "session-inline",
                "role-policy+session-overflow",
                "role-inline+session-overflow",
            ],
        );
    }

    #[test]
    fn unknown_spellings_are_refused_by_name() {
        let e = serde_json::from_str::<Mode>("\"enforced\"").unwrap_err();
        assert!(e.to_string().contains("enforced"), "{e}");
        assert!(serde_json::from_str::<Mechanism>("\"user-policy+session-overflow\"").is_err());
        assert_eq!(Scope::parse("Principal"), None);
    }
}
