//! The two functions' configuration, read once from the environment at cold start.

use crate::engine::{Overflow, Settings};
use crate::ConfigError;
use spendguard_core::budget::BudgetConfig;
use std::ops::RangeInclusive;

/// Configuration from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `SPENDGUARD_LEDGER_TABLE`: the spend ledger (read by key).
    pub ledger_table: String,
    /// `SPENDGUARD_ENFORCEMENT_TABLE`: state, alert markers, audit, the budgets document.
    pub enforcement_table: String,
    /// `SPENDGUARD_EVENT_BUS`: where the evaluator publishes (evaluator only).
    pub event_bus: String,
    /// `SPENDGUARD_ALERT_TOPIC_ARN`: readable alerts and every action (enforcer only).
    pub alert_topic_arn: String,
    /// `SPENDGUARD_BUDGETS`: the budget TOML used until `spendguard budgets push` stores one.
    pub fallback_budgets: String,
    pub settings: Settings,
    /// `SPENDGUARD_AUDIT_RETENTION_DAYS` (default 400).
    pub audit_retention_days: i64,
}

fn var(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A whole number within `range`, `default` when unset or blank.
fn ranged<T>(name: &'static str, default: T, range: RangeInclusive<T>) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    match var(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| ConfigError::Bad {
                name,
                value: v,
                why: format!("expected {} to {}", range.start(), range.end()),
            }),
    }
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        let bad = |name: &'static str, value: String, why: &str| ConfigError::Bad {
            name,
            value,
            why: why.into(),
        };
        let session_overflow = match var("SPENDGUARD_SESSION_OVERFLOW").as_deref() {
            None | Some("role") => Overflow::Role,
            Some("alert") => Overflow::Alert,
            Some(x) => {
                return Err(bad(
                    "SPENDGUARD_SESSION_OVERFLOW",
                    x.into(),
                    "expected role or alert",
                ))
            }
        };
        let enforceable = match var("SPENDGUARD_ENFORCEABLE") {
            None => spendguard_core::enforce::Enforceable::All,
            Some(v) => spendguard_core::enforce::Enforceable::parse(v.trim())
                .ok_or_else(|| bad("SPENDGUARD_ENFORCEABLE", v, "expected all or tagged"))?,
        };
        let managed_quota = ranged(
            "SPENDGUARD_MANAGED_POLICY_QUOTA",
            spendguard_core::enforce::DEFAULT_MANAGED_POLICY_QUOTA,
            1..=20,
        )?;
        let audit_retention_days = ranged("SPENDGUARD_AUDIT_RETENTION_DAYS", 400, 1..=3650)?;
        let fallback_budgets = std::env::var("SPENDGUARD_BUDGETS").unwrap_or_default();
        BudgetConfig::parse(&fallback_budgets)
            .map_err(|e| bad("SPENDGUARD_BUDGETS", String::new(), &e.to_string()))?;
        Ok(Config {
            ledger_table: var("SPENDGUARD_LEDGER_TABLE")
                .ok_or(ConfigError::Missing("SPENDGUARD_LEDGER_TABLE"))?,
            enforcement_table: var("SPENDGUARD_ENFORCEMENT_TABLE")
                .ok_or(ConfigError::Missing("SPENDGUARD_ENFORCEMENT_TABLE"))?,
            event_bus: var("SPENDGUARD_EVENT_BUS").unwrap_or_default(),
            alert_topic_arn: var("SPENDGUARD_ALERT_TOPIC_ARN").unwrap_or_default(),
            fallback_budgets,
            settings: Settings {
                deny_policy_arn: var("SPENDGUARD_DENY_POLICY_ARN").unwrap_or_default(),
                suspended_group: var("SPENDGUARD_SUSPENDED_GROUP"),
                session_overflow,
                managed_quota,
                enforceable,
                own_role_arn: var("SPENDGUARD_ENFORCER_ROLE_ARN"),
            },
            audit_retention_days,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_bounded_number_is_its_default_when_blank_and_refused_out_of_range() {
        const V: &str = "SPENDGUARD_TEST_RANGED";
        std::env::remove_var(V);
        assert_eq!(ranged(V, 400_i64, 1..=3650).unwrap(), 400);
        std::env::set_var(V, "  ");
        assert_eq!(ranged(V, 400_i64, 1..=3650).unwrap(), 400);
        std::env::set_var(V, " 3650 ");
        assert_eq!(ranged(V, 400_i64, 1..=3650).unwrap(), 3650);
        for bad in ["0", "3651", "ten", "-1"] {
            std::env::set_var(V, bad);
            let e = ranged(V, 400_i64, 1..=3650).unwrap_err().to_string();
            assert!(e.contains("expected 1 to 3650") && e.contains(bad), "{e}");
        }
        std::env::remove_var(V);
    }
}
