//! Enforcement on a timeline: priced invocations replayed in event-time order through the same
//! decisions the evaluator and the enforcer take ([`evaluate`] and [`decide`]), with the clock
//! moved by the events themselves. Used by `spendguard simulate` (observed and counterfactual
//! histories) and by `run --budgets` (each decision at the time it would have been taken). Pure:
//! no I/O, no wall clock.
//!
//! The triggers mirror the live system, so the timeline is what the Lambdas would have done:
//! - a window that reaches a new threshold, or goes over, alerts once per (window, threshold) and
//!   evaluates its key (the evaluator's threshold and state events);
//! - a member key spending while one of its teams is not `ok` is evaluated (the evaluator's
//!   member event), and a team's suspension evaluates its members (the enforcer's sweep);
//! - a watched key (pending, suspended, held) is evaluated when its grace period ends, at every
//!   local midnight, and (held) at its next call (the enforcer's schedule, which runs every
//!   minute; the timeline uses the exact instants instead, so it leads the live system by less
//!   than one tick).
//!
//! A suspension denies from its decision plus `delay_ms` (log delivery and IAM propagation) until
//! its restore. The deny's reach: a session deny stops that session, a user or role deny stops
//! every call of it, and a team is suspended through its members' own denies. The circuit
//! breaker and IAM's refusal of untagged principals are not modelled: bursts that would open the
//! breaker are counted instead.

use crate::budget::{BudgetConfig, Limits, Mode, Scope};
use crate::enforce::{
    decide, evaluate, governing, limit_of, teams_of_key, window_status, Action, Decision, KeyRef,
    KeyState, Status,
};
use crate::ledger::WindowTotal;
use crate::window::{window_reset_ms, Delta, LocalDay, WindowKey, WindowKind};
use rust_decimal::Decimal;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};

/// An index into the timeline's keys.
pub type KeyId = usize;

/// A caller (a principal and, for an assumed role, its session), interned once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Caller(usize);

/// How the timeline runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// From a suspension's decision to the deny taking effect, in milliseconds.
    pub delay_ms: i64,
    /// Counterfactual: an invocation inside a deny's reach failed, so its spend is not counted
    /// and later decisions follow the reduced spend. Otherwise observed: every logged invocation
    /// counts (the ledger's totals) and the deny's reach is only measured.
    pub counterfactual: bool,
    /// Keep every closed window's totals (for comparing with the ledger).
    pub keep_windows: bool,
}

/// One decision and when it was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timed {
    pub at_ms: i64,
    pub decision: Decision,
}

/// What happened to one key over the period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyStats {
    /// Spend counted in the period (observed: all of it; counterfactual: what was not stopped).
    pub spend_usd: Decimal,
    pub invocations: u64,
    /// The largest share of a day's and of a month's limit reached, in percent (2 places).
    pub peak_day_pct: Option<Decimal>,
    pub peak_month_pct: Option<Decimal>,
    pub alerts: u32,
    pub suspensions: u32,
    pub first_suspended_ms: Option<i64>,
    /// Time spent suspended, from each suspension to its restore (or the period's end).
    pub suspended_ms: i64,
    pub shadow_suspensions: u32,
    pub first_shadow_ms: Option<i64>,
    pub shadow_suspended_ms: i64,
    /// Spend inside this key's deny (from its effect to its restore): calls that would have failed.
    pub stopped_usd: Decimal,
    pub stopped_invocations: u64,
    /// The same for a shadow suspension: what the deny would have stopped.
    pub shadow_stopped_usd: Decimal,
    pub shadow_stopped_invocations: u64,
    /// Suspensions held because the key was over only through fallback-priced spend.
    pub held: u32,
    /// Times the key went over in enforce or shadow mode while protected (never suspended).
    pub protected_over: u32,
}

/// What an invocation met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Met {
    /// No deny covered it.
    Open,
    /// A deny in force covered it: the call would have failed (the key whose deny it was).
    Denied(KeyId),
    /// Only a shadow suspension covered it: it would have failed in enforce mode.
    Shadow(KeyId),
}

#[derive(Debug, Clone)]
struct Win {
    start: String,
    cost: Decimal,
    fallback: Decimal,
    invocations: u64,
    /// The highest level already said ([`WindowStatus::crossing`]): at least 100 once over.
    level: u32,
    /// The spend at which the next threshold (or 100%) is reached; `None` when none is left.
    next: Option<Decimal>,
}

#[derive(Debug)]
struct Slot<'c> {
    key: KeyRef,
    limits: Option<&'c Limits>,
    protected: bool,
    /// The team keys whose windows count towards this key.
    teams: Vec<KeyId>,
    /// For a team: its exact members and every member key seen spending.
    members: Vec<KeyId>,
    member_set: HashSet<KeyId>,
    wins: [Option<Win>; 2],
    state: KeyState,
    deny_from: Option<i64>,
    shadow_from: Option<i64>,
    wake_at: Option<i64>,
    protected_over: bool,
    stats: KeyStats,
}

/// The replay. Feed it invocations in event-time order; read the decisions and the keys.
#[derive(Debug)]
pub struct Replay<'c> {
    cfg: &'c BudgetConfig,
    opts: Options,
    slots: Vec<Slot<'c>>,
    index: HashMap<KeyRef, KeyId>,
    callers: Vec<(KeyId, Option<KeyId>, Vec<KeyId>)>,
    caller_index: HashMap<(String, Option<String>), Caller>,
    wakes: BinaryHeap<Reverse<(i64, KeyId)>>,
    day: Option<LocalDay>,
    now: i64,
    period_from: Option<i64>,
    decisions: Vec<Timed>,
    closed: Vec<WindowTotal>,
    recent_suspensions: VecDeque<i64>,
    /// Times more suspensions began within the breaker's window than it allows.
    pub breaker_bursts: u32,
    /// Invocations outside the calendar jiff represents (never in real logs).
    pub unwindowed: u64,
}

const KINDS: [WindowKind; 2] = [WindowKind::Day, WindowKind::Month];

fn kind_ix(k: WindowKind) -> usize {
    match k {
        WindowKind::Day => 0,
        WindowKind::Month => 1,
    }
}

impl<'c> Replay<'c> {
    pub fn new(cfg: &'c BudgetConfig, opts: Options) -> Replay<'c> {
        let mut r = Replay {
            cfg,
            opts,
            slots: Vec::new(),
            index: HashMap::new(),
            callers: Vec::new(),
            caller_index: HashMap::new(),
            wakes: BinaryHeap::new(),
            day: None,
            now: i64::MIN,
            period_from: None,
            decisions: Vec::new(),
            closed: Vec::new(),
            recent_suspensions: VecDeque::new(),
            breaker_bursts: 0,
            unwindowed: 0,
        };
        // a team's exact members are enforced with it whether or not they spent (the enforcer's
        // sweep names them)
        for t in &cfg.teams {
            let team = r.slot(KeyRef::new(Scope::Team, t.name.clone()));
            for m in t.members.iter().filter(|m| m.is_exact()) {
                let scope = if m.text.contains(":assumed-role/") {
                    Scope::Session
                } else {
                    Scope::Principal
                };
                let member = r.slot(KeyRef::new(scope, m.text.clone()));
                r.add_member(team, member);
            }
        }
        r
    }

    fn add_member(&mut self, team: KeyId, member: KeyId) {
        if self.slots[team].member_set.insert(member) {
            self.slots[team].members.push(member);
        }
    }

    fn slot(&mut self, key: KeyRef) -> KeyId {
        if let Some(&id) = self.index.get(&key) {
            return id;
        }
        let gov = governing(self.cfg, key.scope, &key.key);
        let team_names: Vec<String> = teams_of_key(self.cfg, &key)
            .into_iter()
            .map(|t| t.name.clone())
            .collect();
        let id = self.slots.len();
        self.slots.push(Slot {
            key: key.clone(),
            limits: gov.map(|(l, _)| l),
            protected: gov.is_some_and(|(_, p)| p),
            teams: Vec::new(),
            members: Vec::new(),
            member_set: HashSet::new(),
            wins: [None, None],
            state: KeyState::default(),
            deny_from: None,
            shadow_from: None,
            wake_at: None,
            protected_over: false,
            stats: KeyStats::default(),
        });
        self.index.insert(key, id);
        let teams: Vec<KeyId> = team_names
            .into_iter()
            .map(|n| self.slot(KeyRef::new(Scope::Team, n)))
            .collect();
        for &t in &teams {
            self.add_member(t, id);
        }
        self.slots[id].teams = teams;
        id
    }

    /// The caller's keys: its principal, its session (assumed roles), and its teams.
    pub fn caller(&mut self, principal: &str, session: Option<&str>) -> Caller {
        let k = (principal.to_string(), session.map(str::to_string));
        if let Some(&c) = self.caller_index.get(&k) {
            return c;
        }
        let p = self.slot(KeyRef::new(Scope::Principal, principal));
        let s = session.map(|s| self.slot(KeyRef::new(Scope::Session, s)));
        let teams: Vec<KeyId> = self
            .cfg
            .teams_for(principal, session)
            .into_iter()
            .map(|t| t.name.clone())
            .collect::<Vec<_>>()
            .into_iter()
            .map(|n| self.slot(KeyRef::new(Scope::Team, n)))
            .collect();
        let c = Caller(self.callers.len());
        self.callers.push((p, s, teams));
        self.caller_index.insert(k, c);
        c
    }

    /// The local day holding `at` (cached: events arrive in order).
    fn day_of(&mut self, at: i64) -> Option<&LocalDay> {
        LocalDay::holding(&mut self.day, &self.cfg.timezone, at)
    }

    /// Seeds a window's totals counted before the replay (the ledger's, from an earlier run):
    /// thresholds they reach count as alerted. A later window of the same kind is kept.
    pub fn seed_window(&mut self, w: &WindowTotal) {
        let k = self.slot(KeyRef::new(w.window.scope, w.window.key.clone()));
        let ix = kind_ix(w.window.kind);
        if self.slots[k].wins[ix]
            .as_ref()
            .is_some_and(|have| have.start >= w.window.start)
        {
            return;
        }
        let limits = self.slots[k].limits;
        let st = window_status(
            self.cfg,
            &w.window,
            w.totals.cost_usd,
            w.totals.fallback_usd,
        );
        let level = st.as_ref().map_or(0, |s| s.crossing(0).level);
        let next = limits
            .and_then(|l| limit_of(l, w.window.kind))
            .and_then(|l| next_amount(l, limits, level));
        self.slots[k].wins[ix] = Some(Win {
            start: w.window.start.clone(),
            cost: w.totals.cost_usd,
            fallback: w.totals.fallback_usd,
            invocations: w.totals.invocations,
            level,
            next,
        });
    }

    /// Seeds a key's recorded state (an earlier run's): a watched key is looked at again when
    /// its grace ends and at the first local midnight after its state began (or after `at`).
    pub fn seed_state(&mut self, key: KeyRef, state: KeyState, at: i64) {
        let k = self.slot(key);
        let since = state.since_ms.unwrap_or(at);
        if state.status == Status::Suspended && self.slots[k].key.scope != Scope::Team {
            self.slots[k].deny_from = Some(since.saturating_add(self.opts.delay_ms));
        }
        if state.status == Status::ShadowSuspended && self.slots[k].key.scope != Scope::Team {
            self.slots[k].shadow_from = Some(since.saturating_add(self.opts.delay_ms));
        }
        self.slots[k].state = state;
        self.schedule_from(k, since);
    }

    /// Adds spend before the period (a `--from` inside a window): it counts towards the windows'
    /// limits; thresholds it reached count as alerted before the period. No decision is taken.
    pub fn preload(&mut self, at: i64, caller: Caller, cost: Decimal, fallback: bool) {
        self.add(at, caller, cost, fallback, true);
    }

    /// Starts the period at `at`: every key over a limit by spend loaded before it is evaluated
    /// now, and only what follows is counted in the keys' figures.
    pub fn start(&mut self, at: i64) {
        self.now = self.now.max(at);
        self.period_from = Some(at);
        let over: Vec<KeyId> = (0..self.slots.len())
            .filter(|&k| self.slots[k].wins.iter().flatten().any(|w| w.level >= 100))
            .collect();
        for k in over {
            self.enforce(k);
        }
    }

    /// Moves the clock to `at`: each wake-up due by then (grace ends, local midnights) is taken
    /// at its own time.
    pub fn advance(&mut self, at: i64) {
        while let Some(&Reverse((t, k))) = self.wakes.peek() {
            if t > at {
                break;
            }
            self.wakes.pop();
            if self.slots[k].wake_at != Some(t) {
                continue; // superseded
            }
            self.slots[k].wake_at = None;
            self.now = self.now.max(t);
            self.enforce(k);
        }
        self.now = self.now.max(at);
    }

    /// One invocation at `at` (event-time order): what it met, after which its spend is counted
    /// (in a counterfactual replay, only when no deny stopped it) and its keys are decided.
    pub fn invoke(&mut self, at: i64, caller: Caller, cost: Decimal, fallback: bool) -> Met {
        self.advance(at);
        let (p, s, _) = &self.callers[caller.0];
        let (p, s) = (*p, *s);
        let in_force = |from: Option<i64>| from.is_some_and(|f| f <= at);
        let met = match (p, s) {
            (p, _) if in_force(self.slots[p].deny_from) => Met::Denied(p),
            (_, Some(s)) if in_force(self.slots[s].deny_from) => Met::Denied(s),
            (p, _) if in_force(self.slots[p].shadow_from) => Met::Shadow(p),
            (_, Some(s)) if in_force(self.slots[s].shadow_from) => Met::Shadow(s),
            _ => Met::Open,
        };
        let counting = self.period_from.is_none_or(|f| at >= f);
        if counting {
            match met {
                Met::Denied(k) => {
                    self.slots[k].stats.stopped_usd += cost;
                    self.slots[k].stats.stopped_invocations += 1;
                }
                Met::Shadow(k) => {
                    self.slots[k].stats.shadow_stopped_usd += cost;
                    self.slots[k].stats.shadow_stopped_invocations += 1;
                }
                Met::Open => {}
            }
        }
        if self.opts.counterfactual && matches!(met, Met::Denied(_)) {
            return met;
        }
        self.add(at, caller, cost, fallback, false);
        met
    }

    fn add(&mut self, at: i64, caller: Caller, cost: Decimal, fallback: bool, quiet: bool) {
        let Some(day) = self.day_of(at).cloned() else {
            self.unwindowed += 1;
            return;
        };
        let (p, s, teams) = self.callers[caller.0].clone();
        let counting = !quiet && self.period_from.is_none_or(|f| at >= f);
        let mut keys = Vec::with_capacity(2 + teams.len());
        keys.push(p);
        keys.extend(s);
        keys.extend(teams.iter().copied());
        let mut evaluate_keys: Vec<KeyId> = Vec::new();
        for &k in &keys {
            if counting {
                self.slots[k].stats.spend_usd += cost;
                self.slots[k].stats.invocations += 1;
            }
            let mut crossed = false;
            for kind in KINDS {
                let start = match kind {
                    WindowKind::Day => &day.day,
                    WindowKind::Month => &day.month,
                };
                crossed |= self.add_to_window(k, kind, start, cost, fallback, quiet);
            }
            if crossed && !quiet {
                evaluate_keys.push(k);
            }
        }
        if quiet {
            return;
        }
        // a held suspension is watched: the schedule looks again within a minute, so its
        // known-price spend crossing the limit is seen at this call
        for &k in &keys {
            if self.slots[k].state.held.is_some() {
                evaluate_keys.push(k);
            }
        }
        // the evaluator's member event: a member spending while its team is not ok
        for &k in keys.iter().take(if s.is_some() { 2 } else { 1 }) {
            let slot = &self.slots[k];
            if slot.state.status == Status::Ok
                && slot
                    .teams
                    .iter()
                    .any(|&t| self.slots[t].state.status != Status::Ok)
            {
                evaluate_keys.push(k);
            }
        }
        let mut done = HashSet::new();
        for k in evaluate_keys {
            if done.insert(k) {
                self.enforce(k);
                // a team's change reaches its watched members now (the schedule would, within
                // a minute)
                if self.slots[k].key.scope == Scope::Team {
                    let watched: Vec<KeyId> = self.slots[k]
                        .members
                        .iter()
                        .copied()
                        .filter(|&m| self.slots[m].state.watched())
                        .collect();
                    for m in watched {
                        if done.insert(m) {
                            self.enforce(m);
                        }
                    }
                }
            }
        }
    }

    /// Adds to one window of one key; true when it reached a new threshold or went over (alerts
    /// are recorded here, as the evaluator sends them).
    fn add_to_window(
        &mut self,
        k: KeyId,
        kind: WindowKind,
        start: &str,
        cost: Decimal,
        fallback: bool,
        quiet: bool,
    ) -> bool {
        let limit = self.slots[k].limits.and_then(|l| limit_of(l, kind));
        let ix = kind_ix(kind);
        if self.slots[k].wins[ix]
            .as_ref()
            .is_none_or(|w| w.start != start)
        {
            self.close_window(k, kind);
            let next = limit.and_then(|l| next_amount(l, self.slots[k].limits, 0));
            self.slots[k].wins[ix] = Some(Win {
                start: start.to_string(),
                cost: Decimal::ZERO,
                fallback: Decimal::ZERO,
                invocations: 0,
                level: 0,
                next,
            });
        }
        let Some(w) = self.slots[k].wins[ix].as_mut() else {
            return false;
        };
        w.cost += cost;
        if fallback {
            w.fallback += cost;
        }
        w.invocations += 1;
        let (Some(limit), Some(next)) = (limit, w.next) else {
            return false;
        };
        let reached = if limit.is_zero() {
            w.cost > Decimal::ZERO
        } else {
            w.cost >= next
        };
        if !reached {
            return false;
        }
        let (cost, fb, level) = (w.cost, w.fallback, w.level);
        // the exact rule decides; the amount above only says when to look
        let slot = &self.slots[k];
        let window = WindowKey {
            scope: slot.key.scope,
            key: slot.key.key.clone(),
            kind,
            start: start.to_string(),
        };
        let Some(st) = window_status(self.cfg, &window, cost, fb) else {
            return false;
        };
        let c = st.crossing(level);
        let limits = self.slots[k].limits;
        if let Some(w) = self.slots[k].wins[ix].as_mut() {
            w.level = c.level;
            w.next = next_amount(limit, limits, c.level);
        }
        if quiet {
            return false;
        }
        let protected = self.slots[k].protected;
        for &pct in &c.fresh {
            let d = Decision::alert(self.slots[k].key.clone(), &st, pct, protected);
            self.record(k, d);
        }
        !c.fresh.is_empty() || c.newly_over
    }

    fn close_window(&mut self, k: KeyId, kind: WindowKind) {
        let ix = kind_ix(kind);
        let Some(w) = self.slots[k].wins[ix].take() else {
            return;
        };
        let limit = self.slots[k].limits.and_then(|l| limit_of(l, kind));
        if let Some(limit) = limit.filter(|l| !l.is_zero()) {
            let in_period = self.period_from.is_none_or(|f| {
                window_reset_ms(&self.cfg.timezone, kind, &w.start).is_none_or(|end| end > f)
            });
            if in_period {
                let pct = (w.cost * Decimal::ONE_HUNDRED / limit).round_dp(2);
                let peak = match kind {
                    WindowKind::Day => &mut self.slots[k].stats.peak_day_pct,
                    WindowKind::Month => &mut self.slots[k].stats.peak_month_pct,
                };
                if peak.is_none_or(|p| pct > p) {
                    *peak = Some(pct);
                }
            }
        }
        if self.opts.keep_windows {
            let slot = &self.slots[k];
            self.closed.push(WindowTotal {
                window: WindowKey {
                    scope: slot.key.scope,
                    key: slot.key.key.clone(),
                    kind,
                    start: w.start,
                },
                totals: Delta {
                    cost_usd: w.cost,
                    fallback_usd: w.fallback,
                    invocations: w.invocations,
                    ..Delta::default()
                },
            });
        }
    }

    fn totals_of(&self, k: KeyId, into: &mut Vec<WindowTotal>) {
        let slot = &self.slots[k];
        for (ix, w) in slot.wins.iter().enumerate() {
            if let Some(w) = w {
                into.push(WindowTotal {
                    window: WindowKey {
                        scope: slot.key.scope,
                        key: slot.key.key.clone(),
                        kind: KINDS[ix],
                        start: w.start.clone(),
                    },
                    totals: Delta {
                        cost_usd: w.cost,
                        fallback_usd: w.fallback,
                        invocations: w.invocations,
                        ..Delta::default()
                    },
                });
            }
        }
    }

    /// The enforcer's step for one key at the current time: evaluate, decide, record, and
    /// schedule the next look while the key is watched.
    fn enforce(&mut self, k: KeyId) {
        let now = self.now;
        let mut totals = Vec::with_capacity(6);
        self.totals_of(k, &mut totals);
        for &t in &self.slots[k].teams {
            self.totals_of(t, &mut totals);
        }
        let ev = evaluate(self.cfg, &self.slots[k].key, &totals, now);
        let prior = self.slots[k].state.clone();
        let out = decide(&ev, &prior, &HashSet::new(), now);
        let protected_over =
            ev.protected && ev.deciding().is_some_and(|w| w.mode != Mode::AlertOnly);
        if protected_over && !self.slots[k].protected_over {
            self.slots[k].stats.protected_over += 1;
        }
        self.slots[k].protected_over = protected_over;
        let mut sweep = false;
        for d in out.decisions {
            match d.action {
                Action::Alert => continue,
                Action::Suspend | Action::WouldSuspend if d.key.scope == Scope::Team => {
                    sweep = true
                }
                Action::Held => self.slots[k].stats.held += 1,
                _ => {}
            }
            self.record(k, d);
        }
        let next = out.next;
        let team = self.slots[k].key.scope == Scope::Team;
        let delay = self.opts.delay_ms;
        let counting = self.period_from.is_none_or(|f| now >= f);
        {
            let slot = &mut self.slots[k];
            let since = prior.since_ms.unwrap_or(now);
            let from = self.period_from.unwrap_or(i64::MIN);
            if prior.status == Status::Suspended && next.status != Status::Suspended {
                slot.stats.suspended_ms += now - since.max(from);
                slot.deny_from = None;
            }
            if prior.status == Status::ShadowSuspended && next.status != Status::ShadowSuspended {
                slot.stats.shadow_suspended_ms += now - since.max(from);
                slot.shadow_from = None;
            }
            if next.status == Status::Suspended && prior.status != Status::Suspended {
                if counting {
                    slot.stats.suspensions += 1;
                    slot.stats.first_suspended_ms.get_or_insert(now);
                }
                if !team {
                    slot.deny_from = Some(now.saturating_add(delay));
                }
            }
            if next.status == Status::ShadowSuspended && prior.status != Status::ShadowSuspended {
                if counting {
                    slot.stats.shadow_suspensions += 1;
                    slot.stats.first_shadow_ms.get_or_insert(now);
                }
                if !team {
                    slot.shadow_from = Some(now.saturating_add(delay));
                }
            }
        }
        if next.status == Status::Suspended && prior.status != Status::Suspended && !team {
            self.count_for_breaker(now);
        }
        self.slots[k].state = next;
        self.schedule(k);
        if sweep {
            let members = self.current_members(k);
            for m in members {
                self.enforce(m);
            }
        }
    }

    /// A team's members to sweep: its exact members, and the member keys with spend in a
    /// current window.
    fn current_members(&mut self, team: KeyId) -> Vec<KeyId> {
        let now = self.now;
        let Some(day) = self.day_of(now).cloned() else {
            return Vec::new();
        };
        let exact: HashSet<&str> = self
            .cfg
            .teams
            .iter()
            .filter(|t| t.name == self.slots[team].key.key)
            .flat_map(|t| t.members.iter().filter(|m| m.is_exact()))
            .map(|m| m.text.as_str())
            .collect();
        self.slots[team]
            .members
            .iter()
            .copied()
            .filter(|&m| {
                let s = &self.slots[m];
                exact.contains(s.key.key.as_str())
                    || s.wins[0].as_ref().is_some_and(|w| w.start == day.day)
                    || s.wins[1].as_ref().is_some_and(|w| w.start == day.month)
            })
            .collect()
    }

    fn count_for_breaker(&mut self, now: i64) {
        let b = self.cfg.breaker;
        while self
            .recent_suspensions
            .front()
            .is_some_and(|&t| t <= now - b.window_ms())
        {
            self.recent_suspensions.pop_front();
        }
        self.recent_suspensions.push_back(now);
        if b.trips(self.recent_suspensions.len()) {
            self.breaker_bursts += 1;
            self.recent_suspensions.clear();
        }
    }

    /// A watched key is looked at again when its grace period ends, and at the next local
    /// midnight (a window reset).
    fn schedule(&mut self, k: KeyId) {
        self.schedule_from(k, self.now);
    }

    fn schedule_from(&mut self, k: KeyId, now: i64) {
        if !self.slots[k].state.watched() {
            self.slots[k].wake_at = None;
            return;
        }
        let midnight = self.day_of(now).map(|d| d.hi);
        let due = match self.slots[k].state.status {
            Status::Pending { due_ms } => Some(due_ms.max(now)),
            _ => None,
        };
        let Some(at) = [due, midnight].into_iter().flatten().min() else {
            return;
        };
        if self.slots[k].wake_at == Some(at) {
            return;
        }
        self.slots[k].wake_at = Some(at);
        self.wakes.push(Reverse((at, k)));
    }

    fn record(&mut self, k: KeyId, d: Decision) {
        let counting = self.period_from.is_none_or(|f| self.now >= f);
        if counting {
            if d.action == Action::Alert {
                self.slots[k].stats.alerts += 1;
            }
            self.decisions.push(Timed {
                at_ms: self.now,
                decision: d,
            });
        }
    }

    /// Ends the period at `end`: wake-ups due by then are taken (a restore at the midnight that
    /// ends the period is shown), open suspensions are counted up to it, and every window is
    /// closed.
    pub fn finish(&mut self, end: i64) {
        self.advance(end);
        self.now = self.now.max(end);
        let from = self.period_from.unwrap_or(i64::MIN);
        for k in 0..self.slots.len() {
            let slot = &mut self.slots[k];
            let since = slot.state.since_ms.unwrap_or(end).max(from);
            match slot.state.status {
                Status::Suspended => slot.stats.suspended_ms += end - since,
                Status::ShadowSuspended => slot.stats.shadow_suspended_ms += end - since,
                _ => {}
            }
            for kind in KINDS {
                self.close_window(k, kind);
            }
        }
    }

    /// Every decision, in time order.
    pub fn decisions(&self) -> &[Timed] {
        &self.decisions
    }

    /// Every closed window's totals (with `keep_windows`).
    pub fn windows(&self) -> &[WindowTotal] {
        &self.closed
    }

    /// Every key: its reference, its limits and protection, its state at the end, its figures.
    pub fn keys(&self) -> impl Iterator<Item = KeyView<'_>> {
        self.slots.iter().map(|s| KeyView {
            key: &s.key,
            limits: s.limits,
            protected: s.protected,
            state: &s.state,
            stats: &s.stats,
        })
    }

    pub fn key_id(&self, key: &KeyRef) -> Option<KeyId> {
        self.index.get(key).copied()
    }

    pub fn key_of(&self, id: KeyId) -> Option<&KeyRef> {
        self.slots.get(id).map(|s| &s.key)
    }
}

/// One key as the timeline ends.
#[derive(Debug, Clone, Copy)]
pub struct KeyView<'r> {
    pub key: &'r KeyRef,
    pub limits: Option<&'r Limits>,
    pub protected: bool,
    pub state: &'r KeyState,
    pub stats: &'r KeyStats,
}

/// The spend at which a window reaches its next threshold above `level`, or 100% when not yet
/// over (the state event); `None` when nothing is left to reach.
fn next_amount(limit: Decimal, limits: Option<&Limits>, level: u32) -> Option<Decimal> {
    let thresholds = limits.map_or(&[][..], |l| &l.thresholds_pct[..]);
    let pct = thresholds
        .iter()
        .copied()
        .filter(|&p| p > level)
        .chain((level < 100).then_some(100))
        .min()?;
    Some(limit * Decimal::from(pct) / Decimal::ONE_HUNDRED)
}

#[cfg(test)]
mod tests;
