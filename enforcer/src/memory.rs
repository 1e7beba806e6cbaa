//! In-memory ports (feature `test-util`): for the engine's unit tests and the in-process latency
//! benchmark, which measures our own processing without any emulator time. The emulator tests use
//! the AWS adapters against moto; these fakes only model what the engine relies on.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: a poisoned lock is a test bug

use crate::ports::{
    BreakerState, BreakerTrip, BudgetsDoc, Bus, BusEvent, Entity, ErrorKind, FallbackModel, Iam,
    Notifier, PortError, PortResult, Store, Stored, Windows,
};
use async_trait::async_trait;
use spendguard_core::enforce::KeyRef;
use spendguard_core::ledger::WindowTotal;
use spendguard_core::window::WindowKey;
use spendguard_schemas::event::AuditRecord;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// One IAM user or role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principal {
    pub id: String,
    pub attached: Vec<String>,
    pub inline: BTreeMap<String, String>,
    pub groups: BTreeSet<String>,
    pub tags: BTreeMap<String, String>,
}

/// IAM in memory, with the managed-policy quota enforced (`LimitExceeded`).
/// Clones share the same IAM (a test keeps one to inspect what the engine did).
#[derive(Debug, Default, Clone)]
pub struct MemIam {
    pub users: Arc<Mutex<BTreeMap<String, Principal>>>,
    pub roles: Arc<Mutex<BTreeMap<String, Principal>>>,
    pub quota: usize,
}

impl MemIam {
    pub fn new() -> MemIam {
        MemIam {
            quota: 10,
            ..MemIam::default()
        }
    }

    fn missing(op: &'static str, what: &str) -> PortError {
        PortError::new("iam", op, ErrorKind::NotFound, format!("{what} not found"))
    }

    fn with<T>(
        &self,
        who: Entity<'_>,
        op: &'static str,
        f: impl FnOnce(&mut Principal) -> PortResult<T>,
    ) -> PortResult<T> {
        let (map, name) = match who {
            Entity::User(n) => (&self.users, n),
            Entity::Role(n) => (&self.roles, n),
        };
        let mut g = map.lock().unwrap();
        let p = g.get_mut(name).ok_or_else(|| Self::missing(op, name))?;
        f(p)
    }
}

#[async_trait]
impl Iam for MemIam {
    async fn role_id(&self, role: &str) -> PortResult<String> {
        self.with(Entity::Role(role), "GetRole", |p| Ok(p.id.clone()))
    }
    async fn attached(&self, who: Entity<'_>) -> PortResult<Vec<String>> {
        self.with(who, "ListAttached", |p| Ok(p.attached.clone()))
    }
    async fn attach(&self, who: Entity<'_>, arn: &str) -> PortResult<()> {
        let quota = self.quota;
        self.with(who, "Attach", |p| {
            if p.attached.iter().any(|a| a == arn) {
                return Ok(());
            }
            if p.attached.len() >= quota {
                return Err(PortError::new(
                    "iam",
                    "Attach",
                    ErrorKind::LimitExceeded,
                    "quota",
                ));
            }
            p.attached.push(arn.into());
            Ok(())
        })
    }
    async fn detach(&self, who: Entity<'_>, arn: &str) -> PortResult<()> {
        self.with(who, "Detach", |p| {
            p.attached.retain(|a| a != arn);
            Ok(())
        })
    }
    async fn role_inline(&self, role: &str) -> PortResult<Vec<(String, String)>> {
        self.with(Entity::Role(role), "ListRolePolicies", |p| {
            Ok(p.inline
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect())
        })
    }
    async fn put_role_inline(&self, role: &str, name: &str, doc: &str) -> PortResult<()> {
        self.with(Entity::Role(role), "PutRolePolicy", |p| {
            p.inline.insert(name.into(), doc.into());
            Ok(())
        })
    }
    async fn delete_role_inline(&self, role: &str, name: &str) -> PortResult<()> {
        self.with(Entity::Role(role), "DeleteRolePolicy", |p| {
            p.inline.remove(name);
            Ok(())
        })
    }
    async fn groups(&self, user: &str) -> PortResult<Vec<String>> {
        self.with(Entity::User(user), "ListGroupsForUser", |p| {
            Ok(p.groups.iter().cloned().collect())
        })
    }
    async fn add_to_group(&self, user: &str, group: &str) -> PortResult<()> {
        self.with(Entity::User(user), "AddUserToGroup", |p| {
            p.groups.insert(group.into());
            Ok(())
        })
    }
    async fn remove_from_group(&self, user: &str, group: &str) -> PortResult<()> {
        self.with(Entity::User(user), "RemoveUserFromGroup", |p| {
            p.groups.remove(group);
            Ok(())
        })
    }
    async fn tags(&self, who: Entity<'_>) -> PortResult<Vec<(String, String)>> {
        self.with(who, "ListTags", |p| {
            Ok(p.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        })
    }
}

/// The enforcement table in memory.
#[derive(Debug, Default)]
pub struct MemStore {
    pub states: Mutex<HashMap<KeyRef, Stored>>,
    pub alerts: Mutex<BTreeSet<(WindowKey, u32)>>,
    pub levels: Mutex<HashMap<WindowKey, u32>>,
    pub audits: Mutex<Vec<AuditRecord>>,
    pub doc: Mutex<Option<BudgetsDoc>>,
    pub evaluated: Mutex<u64>,
    pub breaker: Mutex<BreakerState>,
    /// (epoch, key) -> when it was counted.
    pub suspensions: Mutex<BTreeMap<(u64, String), i64>>,
    /// (day, model) -> (invocations, alerted), as the aggregator records them.
    pub fallback: Mutex<BTreeMap<(String, String), (u64, bool)>>,
}

#[async_trait]
impl Store for MemStore {
    async fn state(&self, key: &KeyRef) -> PortResult<Stored> {
        Ok(self
            .states
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .unwrap_or_default())
    }
    async fn put_state(&self, key: &KeyRef, s: &Stored, expected: u64) -> PortResult<bool> {
        let mut g = self.states.lock().unwrap();
        let current = g.get(key).map_or(0, |x| x.version);
        if current != expected {
            return Ok(false);
        }
        g.insert(key.clone(), s.clone());
        Ok(true)
    }
    async fn watched(&self) -> PortResult<Vec<KeyRef>> {
        let mut v: Vec<KeyRef> = self
            .states
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, s)| s.state.watched())
            .map(|(k, _)| k.clone())
            .collect();
        v.sort();
        Ok(v)
    }
    async fn mark_alert(&self, w: &WindowKey, pct: u32) -> PortResult<bool> {
        Ok(self.alerts.lock().unwrap().insert((w.clone(), pct)))
    }
    async fn unmark_alert(&self, w: &WindowKey, pct: u32) -> PortResult<()> {
        self.alerts.lock().unwrap().remove(&(w.clone(), pct));
        Ok(())
    }
    async fn level(&self, w: &WindowKey) -> PortResult<u32> {
        Ok(self.levels.lock().unwrap().get(w).copied().unwrap_or(0))
    }
    async fn set_level(&self, w: &WindowKey, pct: u32) -> PortResult<()> {
        let mut g = self.levels.lock().unwrap();
        let e = g.entry(w.clone()).or_insert(0);
        *e = (*e).max(pct);
        Ok(())
    }
    async fn audit(&self, r: &AuditRecord) -> PortResult<()> {
        self.audits.lock().unwrap().push(r.clone());
        Ok(())
    }
    async fn audit_of(&self, key: &KeyRef) -> PortResult<Vec<AuditRecord>> {
        Ok(self
            .audits
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.key == key.key && r.scope == key.scope.into())
            .cloned()
            .collect())
    }
    async fn budgets(&self) -> PortResult<Option<BudgetsDoc>> {
        Ok(self.doc.lock().unwrap().clone())
    }
    async fn put_budgets(&self, text: &str) -> PortResult<u64> {
        let mut g = self.doc.lock().unwrap();
        let version = g.as_ref().map_or(0, |d| d.version) + 1;
        *g = Some(BudgetsDoc {
            version,
            text: text.into(),
        });
        Ok(version)
    }
    async fn evaluated_version(&self) -> PortResult<u64> {
        Ok(*self.evaluated.lock().unwrap())
    }
    async fn set_evaluated_version(&self, v: u64) -> PortResult<()> {
        *self.evaluated.lock().unwrap() = v;
        Ok(())
    }
    async fn breaker(&self) -> PortResult<BreakerState> {
        Ok(self.breaker.lock().unwrap().clone())
    }
    async fn count_suspension(
        &self,
        epoch: u64,
        key: &KeyRef,
        now_ms: i64,
        window_ms: i64,
    ) -> PortResult<Vec<String>> {
        let cutoff = now_ms - window_ms;
        let mut g = self.suspensions.lock().unwrap();
        let at = g.entry((epoch, crate::aws::key_pk(key))).or_insert(now_ms);
        if *at < cutoff {
            *at = now_ms;
        }
        let mut keys: Vec<(i64, String)> = g
            .iter()
            .filter(|((e, _), at)| *e == epoch && **at >= cutoff)
            .map(|((_, k), at)| (*at, k.clone()))
            .collect();
        keys.sort();
        Ok(keys.into_iter().map(|(_, k)| k).collect())
    }
    async fn open_breaker(&self, epoch: u64, trip: &BreakerTrip) -> PortResult<bool> {
        let mut g = self.breaker.lock().unwrap();
        if g.epoch != epoch || g.open.is_some() {
            return Ok(false);
        }
        g.open = Some(trip.clone());
        Ok(true)
    }
    async fn breaker_alerted(&self, epoch: u64) -> PortResult<()> {
        let mut g = self.breaker.lock().unwrap();
        if g.epoch == epoch {
            if let Some(t) = g.open.as_mut() {
                t.alerted = true;
            }
        }
        Ok(())
    }
    async fn fallback_models(&self) -> PortResult<Vec<FallbackModel>> {
        Ok(self
            .fallback
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, (_, alerted))| !alerted)
            .map(|((day, model), (n, _))| FallbackModel {
                day: day.clone(),
                model: model.clone(),
                invocations: *n,
            })
            .collect())
    }
    async fn mark_fallback_alerted(&self, m: &FallbackModel) -> PortResult<()> {
        if let Some(e) = self
            .fallback
            .lock()
            .unwrap()
            .get_mut(&(m.day.clone(), m.model.clone()))
        {
            e.1 = true;
        }
        Ok(())
    }
    async fn resume_breaker(&self) -> PortResult<BreakerState> {
        let mut g = self.breaker.lock().unwrap();
        let before = g.clone();
        *g = BreakerState {
            epoch: before.epoch + 1,
            open: None,
        };
        Ok(before)
    }
}

/// Messages published, as (subject, message).
#[derive(Debug, Default, Clone)]
pub struct MemTopic(pub Arc<Mutex<Vec<(String, String)>>>);

#[async_trait]
impl Notifier for MemTopic {
    async fn publish(&self, subject: &str, message: &str) -> PortResult<()> {
        self.0
            .lock()
            .unwrap()
            .push((subject.into(), message.into()));
        Ok(())
    }
}

/// Events put on the bus.
#[derive(Debug, Default, Clone)]
pub struct MemBus(pub Arc<Mutex<Vec<BusEvent>>>);

#[async_trait]
impl Bus for MemBus {
    async fn put(&self, events: &[BusEvent]) -> PortResult<()> {
        self.0.lock().unwrap().extend_from_slice(events);
        Ok(())
    }
}

/// Ledger windows in memory; clones share them.
#[derive(Debug, Default, Clone)]
pub struct MemWindows(pub Arc<Mutex<Vec<WindowTotal>>>);

impl MemWindows {
    /// Sets one window's spend (replacing it).
    pub fn set(&self, w: WindowKey, usd: rust_decimal::Decimal) {
        let mut g = self.0.lock().unwrap();
        g.retain(|t| t.window != w);
        g.push(WindowTotal {
            window: w,
            totals: spendguard_core::window::Delta {
                cost_usd: usd,
                invocations: 1,
                ..Default::default()
            },
        });
    }
}

impl MemWindows {
    /// One window's totals as stored.
    pub fn of_key_now(&self, w: &WindowKey) -> WindowTotal {
        self.0
            .lock()
            .unwrap()
            .iter()
            .find(|t| &t.window == w)
            .cloned()
            .expect("a window that was set")
    }
}

#[async_trait]
impl Windows for MemWindows {
    async fn of_key(&self, key: &KeyRef) -> PortResult<Vec<WindowTotal>> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|t| t.window.scope == key.scope && t.window.key == key.key)
            .cloned()
            .collect())
    }
    async fn keys_with_windows(&self, day: &str, month: &str) -> PortResult<Vec<KeyRef>> {
        let set: BTreeSet<KeyRef> = self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|t| t.window.start == day || t.window.start == month)
            .map(|t| KeyRef::new(t.window.scope, t.window.key.clone()))
            .collect();
        Ok(set.into_iter().collect())
    }
}

/// The ports of an in-memory [`App`](crate::App); clones share their state with the app built
/// from them, so a test sets windows and reads IAM, the topic and the bus through them.
#[derive(Debug, Clone)]
pub struct MemPorts {
    pub iam: MemIam,
    pub windows: MemWindows,
    pub topic: MemTopic,
    pub bus: MemBus,
}

impl MemPorts {
    pub fn new() -> MemPorts {
        MemPorts {
            iam: MemIam::new(),
            windows: MemWindows::default(),
            topic: MemTopic::default(),
            bus: MemBus::default(),
        }
    }

    /// An app on these ports with a fresh store and the test settings (a deny policy in account
    /// 123456789012, a session overflowing to its role, 10 managed slots, every principal
    /// enforceable); `budgets` stands for `SPENDGUARD_BUDGETS`.
    pub fn app(
        &self,
        budgets: impl Into<String>,
        clock: Arc<dyn spendguard_core::clock::Clock>,
    ) -> crate::App {
        crate::App::new(
            Box::new(MemStore::default()),
            Box::new(self.windows.clone()),
            Box::new(self.iam.clone()),
            Box::new(self.topic.clone()),
            Box::new(self.bus.clone()),
            clock,
            crate::engine::Settings {
                deny_policy_arn: "arn:aws:iam::123456789012:policy/deny".into(),
                suspended_group: None,
                session_overflow: crate::engine::Overflow::Role,
                managed_quota: 10,
                enforceable: Default::default(),
                own_role_arn: None,
            },
            budgets.into(),
        )
    }
}

impl Default for MemPorts {
    fn default() -> MemPorts {
        MemPorts::new()
    }
}
