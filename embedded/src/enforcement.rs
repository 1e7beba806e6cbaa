//! Local enforcement: the same decisions as the enforcer Lambda (`spendguard_core::enforce`),
//! recorded in the ledger file instead of applied to IAM. Alerts are kept per window and
//! threshold (each once), and each key's state (pending, suspended, shadow-suspended) persists
//! between runs, so a later run restores what an earlier one suspended.

use crate::{err, EmbeddedLedger};
use rusqlite::{params, OptionalExtension};
use spendguard_core::budget::{BudgetConfig, Scope};
use spendguard_core::enforce::{
    decide, evaluate, window_status, Action, Decision, Held, KeyRef, KeyState, Status,
};
use spendguard_core::ledger::{LedgerError, Query};
use spendguard_core::window::{WindowKey, WindowKind};
use std::collections::{BTreeSet, HashSet};

impl EmbeddedLedger {
    /// Evaluates every key in the ledger at `now_ms` and records the outcome: first the alerts
    /// (every window, current or not, each threshold once), then the state decisions of every
    /// user, role and session key (teams apply to their members). Returns the new decisions.
    pub fn enforce_local(
        &self,
        cfg: &BudgetConfig,
        now_ms: i64,
    ) -> Result<Vec<Decision>, LedgerError> {
        let all = self.windows_now(&Query::default())?;
        let mut alerted = self.alerted()?;
        let mut out = Vec::new();
        for t in &all {
            let Some(st) = window_status(cfg, &t.window, t.totals.cost_usd, t.totals.fallback_usd)
            else {
                continue;
            };
            for &pct in &st.reached_pct {
                if alerted.insert((t.window.clone(), pct)) {
                    let key = KeyRef::new(t.window.scope, t.window.key.clone());
                    let protected = spendguard_core::enforce::governing(cfg, key.scope, &key.key)
                        .is_some_and(|(_, p)| p);
                    out.push(Decision::alert(key, &st, pct, protected));
                    self.mark_alerted(&t.window, pct)?;
                }
            }
        }
        let mut keys: BTreeSet<KeyRef> = all
            .iter()
            .filter(|t| t.window.scope != Scope::Team)
            .map(|t| KeyRef::new(t.window.scope, t.window.key.clone()))
            .collect();
        keys.extend(self.watched_keys()?);
        for key in keys {
            let ev = evaluate(cfg, &key, &all, now_ms);
            let prior = self.key_state(&key)?;
            let o = decide(&ev, &prior, &alerted, now_ms);
            out.extend(
                o.decisions
                    .into_iter()
                    .filter(|d| d.action != Action::Alert),
            );
            if o.next != prior {
                self.put_key_state(&key, &o.next)?;
            }
        }
        Ok(out)
    }

    fn alerted(&self) -> Result<HashSet<(WindowKey, u32)>, LedgerError> {
        let conn = self.lock()?;
        let mut st = conn
            .prepare("SELECT scope, key, kind, start, pct FROM alerts")
            .map_err(err)?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, u32>(4)?,
                ))
            })
            .map_err(err)?;
        let mut out = HashSet::new();
        for row in rows {
            let (scope, key, kind, start, pct) = row.map_err(err)?;
            if let (Some(scope), Some(kind)) = (Scope::parse(&scope), WindowKind::parse(&kind)) {
                out.insert((
                    WindowKey {
                        scope,
                        key,
                        kind,
                        start,
                    },
                    pct,
                ));
            }
        }
        Ok(out)
    }

    fn mark_alerted(&self, w: &WindowKey, pct: u32) -> Result<(), LedgerError> {
        self.lock()?
            .execute(
                "INSERT OR IGNORE INTO alerts (scope, key, kind, start, pct) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![w.scope.as_str(), w.key, w.kind.as_str(), w.start, pct],
            )
            .map_err(err)?;
        Ok(())
    }

    /// The recorded state of a key (`ok` when none).
    pub fn key_state(&self, key: &KeyRef) -> Result<KeyState, LedgerError> {
        let conn = self.lock()?;
        let row = conn
            .query_row(
                "SELECT status, due_ms, since_ms, w_scope, w_key, w_kind, w_start, \
                 manual_until_ms, protected_until_ms, held FROM key_states \
                 WHERE scope = ?1 AND key = ?2",
                params![key.scope.as_str(), key.key],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<i64>>(1)?,
                        r.get::<_, Option<i64>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, Option<String>>(6)?,
                        r.get::<_, Option<i64>>(7)?,
                        r.get::<_, Option<i64>>(8)?,
                        r.get::<_, Option<String>>(9)?,
                    ))
                },
            )
            .optional()
            .map_err(err)?;
        let Some((status, due, since, ws, wk, wkind, wstart, manual, protected, held)) = row else {
            return Ok(KeyState::default());
        };
        // an unreadable state is an error, never silently `ok` (that would lift a suspension)
        let status = Status::decode(&status, due).map_err(LedgerError::fatal)?;
        let window = match (
            ws.as_deref().and_then(Scope::parse),
            wk,
            wkind.as_deref().and_then(WindowKind::parse),
            wstart,
        ) {
            (Some(scope), Some(key), Some(kind), Some(start)) => Some(WindowKey {
                scope,
                key,
                kind,
                start,
            }),
            _ => None,
        };
        Ok(KeyState {
            status,
            since_ms: since,
            window,
            manual_until_ms: manual,
            protected_until_ms: protected,
            held: held.as_deref().and_then(Held::decode),
        })
    }

    /// The keys under watch (pending, suspended, held, or with an operator override) and their
    /// recorded states: where a timeline of decisions picks up from the last run.
    pub fn watched_states(&self) -> Result<Vec<(KeyRef, KeyState)>, LedgerError> {
        let keys = self.watched_keys()?;
        keys.into_iter()
            .map(|k| {
                let st = self.key_state(&k)?;
                Ok((k, st))
            })
            .collect()
    }

    /// Records what a timeline of decisions ended with: each key's state and each alert sent.
    pub fn record_decisions(
        &self,
        states: &[(KeyRef, KeyState)],
        alerts: &[(WindowKey, u32)],
    ) -> Result<(), LedgerError> {
        for (k, st) in states {
            self.put_key_state(k, st)?;
        }
        for (w, pct) in alerts {
            self.mark_alerted(w, *pct)?;
        }
        Ok(())
    }

    fn put_key_state(&self, key: &KeyRef, s: &KeyState) -> Result<(), LedgerError> {
        let due = match s.status {
            Status::Pending { due_ms } => Some(due_ms),
            _ => None,
        };
        let w = s.window.as_ref();
        self.lock()?
            .execute(
                "INSERT OR REPLACE INTO key_states (scope, key, status, due_ms, since_ms, w_scope, \
                 w_key, w_kind, w_start, manual_until_ms, protected_until_ms, held) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    key.scope.as_str(),
                    key.key,
                    s.status.as_str(),
                    due,
                    s.since_ms,
                    w.map(|w| w.scope.as_str()),
                    w.map(|w| w.key.as_str()),
                    w.map(|w| w.kind.as_str()),
                    w.map(|w| w.start.as_str()),
                    s.manual_until_ms,
                    s.protected_until_ms,
                    s.held.as_ref().map(Held::encode)
                ],
            )
            .map_err(err)?;
        Ok(())
    }

    fn watched_keys(&self) -> Result<Vec<KeyRef>, LedgerError> {
        let conn = self.lock()?;
        let mut st = conn
            .prepare(
                "SELECT scope, key FROM key_states WHERE status != 'ok' \
                 OR manual_until_ms IS NOT NULL OR protected_until_ms IS NOT NULL \
                 OR held IS NOT NULL",
            )
            .map_err(err)?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (scope, key) = row.map_err(err)?;
            if let Some(scope) = Scope::parse(&scope) {
                out.push(KeyRef::new(scope, key));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spendguard_core::ledger::Entry;
    use spendguard_core::window::Delta;

    const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
    // 2026-11-22T10:00:00Z
    const NOW: i64 = 1_795_341_600_000;

    fn entry(id: &str, usd: &str, ms: i64) -> Entry {
        let (day, month) =
            spendguard_core::window::window_starts(&jiff::tz::TimeZone::UTC, ms).unwrap();
        Entry {
            request_id: id.into(),
            event_ms: ms,
            windows: vec![
                WindowKey {
                    scope: Scope::Principal,
                    key: ALICE.into(),
                    kind: WindowKind::Day,
                    start: day,
                },
                WindowKey {
                    scope: Scope::Principal,
                    key: ALICE.into(),
                    kind: WindowKind::Month,
                    start: month,
                },
            ],
            amount: Delta {
                cost_usd: usd.parse().unwrap(),
                invocations: 1,
                first_event_ms: ms,
                last_event_ms: ms,
                ..Delta::default()
            },
            origin: 0,
            digest: 0,
        }
    }

    #[test]
    fn local_runs_alert_once_suspend_and_restore_across_runs() {
        let l = EmbeddedLedger::in_memory().unwrap();
        let cfg =
            BudgetConfig::parse("[defaults]\ndaily_usd = \"10\"\ngrace_seconds = 0\n").unwrap();
        l.apply_now(&[entry("a", "6", NOW)]).unwrap();
        let d1 = l.enforce_local(&cfg, NOW).unwrap();
        let acts: Vec<_> = d1.iter().map(|d| (d.action, d.threshold_pct)).collect();
        assert_eq!(acts, vec![(Action::Alert, Some(50))]);
        l.apply_now(&[entry("b", "5", NOW + 1)]).unwrap();
        let d2 = l.enforce_local(&cfg, NOW + 1).unwrap();
        let acts: Vec<_> = d2.iter().map(|d| (d.action, d.threshold_pct)).collect();
        assert_eq!(
            acts,
            vec![
                (Action::Alert, Some(80)),
                (Action::Alert, Some(100)),
                (Action::Suspend, None)
            ]
        );
        assert!(
            l.enforce_local(&cfg, NOW + 2).unwrap().is_empty(),
            "nothing twice"
        );
        let key = KeyRef::new(Scope::Principal, ALICE);
        assert_eq!(l.key_state(&key).unwrap().status, Status::Suspended);
        // the next day (a new run with a later event): restored
        l.apply_now(&[entry("c", "1", NOW + 86_400_000)]).unwrap();
        let d3 = l.enforce_local(&cfg, NOW + 86_400_000).unwrap();
        assert_eq!(
            d3.iter().map(|d| d.action).collect::<Vec<_>>(),
            vec![Action::Restore]
        );
        assert_eq!(l.key_state(&key).unwrap().status, Status::Ok);
    }

    #[test]
    fn spend_over_only_through_fallback_prices_is_held_not_suspended_locally() {
        let l = EmbeddedLedger::in_memory().unwrap();
        let cfg =
            BudgetConfig::parse("[defaults]\ndaily_usd = \"10\"\ngrace_seconds = 0\n").unwrap();
        let mut unknown = entry("a", "9", NOW);
        unknown.amount.fallback_usd = unknown.amount.cost_usd;
        l.apply_now(&[entry("k", "4", NOW), unknown]).unwrap();
        let d = l.enforce_local(&cfg, NOW).unwrap();
        let acts: Vec<_> = d.iter().map(|d| d.action).collect();
        assert_eq!(acts.last(), Some(&Action::Held), "{acts:?}");
        assert!(!acts.contains(&Action::Suspend));
        let key = KeyRef::new(Scope::Principal, ALICE);
        let st = l.key_state(&key).unwrap();
        assert_eq!(st.status, Status::Ok);
        assert_eq!(
            st.held.map(|h| h.hold),
            Some(spendguard_core::enforce::Hold::Fallback)
        );
        assert!(
            l.enforce_local(&cfg, NOW + 1).unwrap().is_empty(),
            "said once"
        );
        // $7 more on known prices: $11 known, over: suspended
        l.apply_now(&[entry("b", "7", NOW + 2)]).unwrap();
        let d = l.enforce_local(&cfg, NOW + 2).unwrap();
        assert_eq!(d.last().map(|d| d.action), Some(Action::Suspend));
        assert_eq!(l.key_state(&key).unwrap().held, None);
    }
}
