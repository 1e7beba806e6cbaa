//! `spendguard simulate`: the lake replayed in event-time order through a budgets file's rules
//! (`core::timeline`, the evaluator's and enforcer's own decisions), twice: observed (every logged
//! call counts, as in the ledger) and counterfactual (calls inside a deny failed, and later
//! decisions follow the reduced spend). `--compare` puts a second budgets file beside the first.
//! Memory holds the keys, their current windows and one day of the lake, never the period.

use crate::lake;
use crate::spill::Spilled;
use anyhow::{bail, Context, Result};
use rust_decimal::Decimal;
use serde::Serialize;
use spendguard_core::budget::{BudgetConfig, Mode};
use spendguard_core::ledger::WindowTotal;
use spendguard_core::timeline::{Caller, KeyView, Options, Replay};
use spendguard_core::window::{window_reset_ms, window_starts, LocalDay, WindowKind};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

/// What `simulate` was asked: the budgets files by name, parsed.
pub struct SimArgs<'a> {
    pub lake: &'a Path,
    pub budgets: (&'a str, &'a BudgetConfig),
    pub compare: Option<(&'a str, &'a BudgetConfig)>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub delay_seconds: u64,
    /// Keep the observed windows of the first budgets file (the report's burn charts).
    pub keep_windows: bool,
}

/// Seconds from a suspension's decision to the deny in effect, unless told: the top of the 5-30 s
/// estimate of log delivery and IAM propagation (docs/budgets-and-enforcement.md).
pub const DEFAULT_DELAY_SECONDS: u64 = 30;

/// The assumptions every simulation states.
const ASSUMPTIONS: [&str; 4] = [
    "a suspension takes effect --delay seconds after the decision (log delivery and IAM propagation)",
    "every principal may be suspended (IAM enforceable/exempt tags are not in the lake)",
    "the circuit breaker is not applied; bursts that would have opened it are counted",
    "no operator actions (suspend, restore, protect) and no budget changes during the period",
];

#[derive(Serialize)]
pub struct Simulation {
    pub lake: String,
    pub timezone: String,
    /// First and last local day of the period (the budgets' time zone).
    pub from: String,
    pub to: String,
    pub delay_seconds: u64,
    pub assumptions: Vec<&'static str>,
    /// Invocations in the period (after de-duplication by request id).
    pub invocations: u64,
    /// Invocations before --from that count towards the period's first windows.
    pub loaded_before_from: u64,
    /// Local days in the period without a single invocation: a gap, not zero spend.
    pub days_without_data: Vec<String>,
    pub runs: Vec<Run>,
    /// With `keep_windows`: every window of the first file's observed replay, the month's days
    /// before `--from` included.
    #[serde(skip)]
    pub windows: Vec<WindowTotal>,
}

/// One budgets file's outcome.
#[derive(Serialize)]
pub struct Run {
    pub budgets: String,
    /// What the logs say happened, with the budgets' decisions on it.
    pub observed: Side,
    /// What would have been spent with the budgets in force.
    pub counterfactual: Side,
}

#[derive(Serialize)]
pub struct Side {
    pub spend_usd: String,
    /// Calls inside a deny in force (observed: they happened but would have failed;
    /// counterfactual: they failed).
    pub stopped_usd: String,
    pub stopped_invocations: u64,
    pub would_stop_usd: String,
    pub keys_alerted: usize,
    pub keys_suspended: usize,
    pub alerts: u64,
    pub suspensions: u64,
    pub shadow_suspensions: u64,
    pub held: u64,
    pub breaker_bursts: u32,
    pub keys: Vec<KeyOut>,
    pub decisions: Vec<spendguard_core::enforce::DecisionRecord>,
}

#[derive(Serialize, Clone)]
pub struct KeyOut {
    pub scope: &'static str,
    pub key: String,
    pub mode: Option<&'static str>,
    pub protected: bool,
    pub daily_limit_usd: Option<String>,
    pub monthly_limit_usd: Option<String>,
    pub spend_usd: String,
    pub invocations: u64,
    pub peak_day_pct: Option<String>,
    pub peak_month_pct: Option<String>,
    pub alerts: u32,
    pub suspensions: u32,
    pub first_suspended_at: Option<String>,
    pub suspended_seconds: i64,
    pub stopped_usd: String,
    pub stopped_invocations: u64,
    pub shadow_suspensions: u32,
    pub first_shadow_suspended_at: Option<String>,
    pub shadow_suspended_seconds: i64,
    pub would_stop_usd: String,
    pub held: u32,
    pub protected_over: u32,
    pub state_at_end: &'static str,
}

fn money(d: Decimal) -> String {
    d.normalize().to_string()
}

use spendguard_core::window::rfc3339;

/// Local midnight at the start of `date` (YYYY-MM-DD) in `cfg`'s zone.
fn local_midnight(cfg: &BudgetConfig, date: &str, flag: &str) -> Result<i64> {
    let d: jiff::civil::Date = date
        .parse()
        .map_err(|e| anyhow::anyhow!("{flag} {date:?} is not a YYYY-MM-DD date: {e}"))?;
    Ok(d.to_zoned(cfg.timezone.clone())
        .with_context(|| format!("{flag} {date}"))?
        .timestamp()
        .as_millisecond())
}

fn utc_date(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date().to_string())
        .unwrap_or_default()
}

/// Replays of one budgets file, and its callers as that replay interned them.
struct Pair<'c> {
    path: String,
    obs: Replay<'c>,
    cf: Replay<'c>,
    callers: Vec<Option<(Caller, Caller)>>,
}

/// The local date of `at` in `tz` (cached: the lake is read in time order).
fn local_day<'d>(
    tz: &jiff::tz::TimeZone,
    cache: &'d mut Option<LocalDay>,
    at: i64,
) -> Option<&'d str> {
    LocalDay::holding(cache, tz, at).map(|d| d.day.as_str())
}

pub fn simulate(a: &SimArgs<'_>) -> Result<Simulation> {
    let primary = a.budgets.1;
    let second = a.compare.map(|c| c.1);
    if !a.lake.is_dir() {
        bail!(
            "lake {} does not exist (write one with `spendguard run LOGS --lake DIR`)",
            a.lake.display()
        );
    }
    let tz = primary.timezone.clone();
    let from_ms = a
        .from
        .map(|f| local_midnight(primary, f, "--from"))
        .transpose()?;
    let end_ms =
        a.to.map(|t| -> Result<i64> {
            let start = local_midnight(primary, t, "--to")?;
            window_reset_ms(
                &tz,
                WindowKind::Day,
                &window_starts(&tz, start).map(|s| s.0).unwrap_or_default(),
            )
            .with_context(|| format!("--to {t}"))
        })
        .transpose()?;
    if let (Some(f), Some(e)) = (from_ms, end_ms) {
        if e <= f {
            bail!(
                "--to {} is before --from {}",
                a.to.unwrap_or(""),
                a.from.unwrap_or("")
            );
        }
    }
    // spend earlier in the first month counts towards its month window: read from the month's
    // first local day in every budgets file's zone
    let mut load_from = from_ms;
    if let Some(f) = from_ms {
        for cfg in std::iter::once(primary).chain(second) {
            if let Some((_, month)) = window_starts(&cfg.timezone, f) {
                let m = local_midnight(cfg, &month, "--from")?;
                load_from = load_from.map(|l| l.min(m));
            }
        }
    }
    let dt_from = load_from.map(utc_date);
    let dt_to = end_ms.map(|e| utc_date(e - 1));

    let opts = |counterfactual, keep_windows| Options {
        delay_ms: (a.delay_seconds as i64).saturating_mul(1000),
        counterfactual,
        keep_windows,
    };
    let mut pairs: Vec<Pair<'_>> = std::iter::once(a.budgets)
        .chain(a.compare)
        .enumerate()
        .map(|(i, (name, cfg))| Pair {
            path: name.to_string(),
            obs: Replay::new(cfg, opts(false, a.keep_windows && i == 0)),
            cf: Replay::new(cfg, opts(true, false)),
            callers: Vec::new(),
        })
        .collect();

    let mut names: Vec<(String, Option<String>)> = Vec::new();
    let mut index: HashMap<(String, Option<String>), u32> = HashMap::new();
    let mut day: Vec<Spilled> = Vec::new();
    let mut dt = String::new();
    let mut started = from_ms.is_none();
    let mut invocations = 0u64;
    let mut loaded = 0u64;
    let mut first_ms: Option<i64> = None;
    let mut last_ms: Option<i64> = None;
    let mut days_seen: BTreeSet<String> = BTreeSet::new();
    let mut day_cache = None;

    let mut replay_day =
        |day: &mut Vec<Spilled>, names: &[(String, Option<String>)], pairs: &mut Vec<Pair<'_>>| {
            // one partition is one UTC day: sorted within it, the lake is in time order
            day.sort_by_key(|r| r.at);
            for r in day.drain(..) {
                if end_ms.is_some_and(|e| r.at >= e) {
                    continue;
                }
                let before = from_ms.is_some_and(|f| r.at < f);
                if !before && !started {
                    for p in pairs.iter_mut() {
                        p.obs.start(from_ms.unwrap_or(r.at));
                        p.cf.start(from_ms.unwrap_or(r.at));
                    }
                    started = true;
                }
                if before {
                    loaded += 1;
                } else {
                    invocations += 1;
                    first_ms.get_or_insert(r.at);
                    last_ms = Some(r.at);
                    if let Some(d) = local_day(&tz, &mut day_cache, r.at) {
                        if !days_seen.contains(d) {
                            days_seen.insert(d.to_string());
                        }
                    }
                }
                for p in pairs.iter_mut() {
                    let i = r.caller as usize;
                    if p.callers.len() <= i {
                        p.callers.resize(i + 1, None);
                    }
                    let (o, c) = match p.callers[i] {
                        Some(c) => c,
                        None => {
                            let (pr, s) = &names[i];
                            let c = (
                                p.obs.caller(pr, s.as_deref()),
                                p.cf.caller(pr, s.as_deref()),
                            );
                            p.callers[i] = Some(c);
                            c
                        }
                    };
                    if before {
                        p.obs.preload(r.at, o, r.cost, r.fallback);
                        p.cf.preload(r.at, c, r.cost, r.fallback);
                    } else {
                        p.obs.invoke(r.at, o, r.cost, r.fallback);
                        p.cf.invoke(r.at, c, r.cost, r.fallback);
                    }
                }
            }
        };

    lake::for_each(a.lake, dt_from.as_deref(), dt_to.as_deref(), |row| {
        if row.dt != dt {
            replay_day(&mut day, &names, &mut pairs);
            dt = row.dt.clone();
        }
        if load_from.is_some_and(|l| row.event_time < l) {
            return Ok(());
        }
        let session = row.session_name.as_ref().map(|_| row.principal_arn);
        let k = (row.principal, session);
        let caller = match index.get(&k) {
            Some(&c) => c,
            None => {
                let c = u32::try_from(names.len()).context("more than 4 billion callers")?;
                names.push(k.clone());
                index.insert(k, c);
                c
            }
        };
        day.push(Spilled {
            at: row.event_time,
            caller,
            cost: row.cost,
            fallback: row.price_status == "fallback",
        });
        Ok(())
    })?;
    replay_day(&mut day, &names, &mut pairs);

    let (Some(first), Some(last)) = (first_ms, last_ms) else {
        bail!(
            "no invocations in {} between {} and {}: nothing to simulate",
            a.lake.display(),
            a.from.unwrap_or("the first day"),
            a.to.unwrap_or("the last day")
        );
    };
    let mut cache = None;
    let first_day = match a.from {
        Some(f) => f.to_string(),
        None => local_day(&tz, &mut cache, first)
            .unwrap_or_default()
            .to_string(),
    };
    let last_day = match a.to {
        Some(t) => t.to_string(),
        None => local_day(&tz, &mut cache, last)
            .unwrap_or_default()
            .to_string(),
    };
    let end = match end_ms {
        Some(e) => e,
        None => window_reset_ms(&tz, WindowKind::Day, &last_day).unwrap_or(last + 1),
    };
    let mut gaps = Vec::new();
    if let (Ok(mut d), Ok(l)) = (
        first_day.parse::<jiff::civil::Date>(),
        last_day.parse::<jiff::civil::Date>(),
    ) {
        while d <= l {
            let s = d.to_string();
            if !days_seen.contains(&s) {
                gaps.push(s);
            }
            match d.tomorrow() {
                Ok(n) => d = n,
                Err(_) => break,
            }
        }
    }
    let mut windows = Vec::new();
    let runs = pairs
        .into_iter()
        .enumerate()
        .map(|(i, mut p)| {
            p.obs.finish(end);
            p.cf.finish(end);
            if i == 0 {
                windows = p.obs.windows().to_vec();
            }
            let observed = side(&p.obs, &HashSet::new());
            let shown: HashSet<(&'static str, String)> = observed
                .keys
                .iter()
                .map(|k| (k.scope, k.key.clone()))
                .collect();
            let counterfactual = side(&p.cf, &shown);
            Run {
                budgets: p.path,
                observed,
                counterfactual,
            }
        })
        .collect();
    Ok(Simulation {
        lake: a.lake.display().to_string(),
        timezone: primary.timezone_name.clone(),
        from: first_day,
        to: last_day,
        delay_seconds: a.delay_seconds,
        assumptions: ASSUMPTIONS.to_vec(),
        invocations,
        loaded_before_from: loaded,
        days_without_data: gaps,
        runs,
        windows,
    })
}

fn key_out(k: &KeyView<'_>) -> KeyOut {
    let s = k.stats;
    KeyOut {
        scope: k.key.scope.as_str(),
        key: k.key.key.clone(),
        mode: k.limits.map(|l| l.mode.as_str()),
        protected: k.protected,
        daily_limit_usd: k.limits.and_then(|l| l.daily_usd).map(money),
        monthly_limit_usd: k.limits.and_then(|l| l.monthly_usd).map(money),
        spend_usd: money(s.spend_usd),
        invocations: s.invocations,
        peak_day_pct: s.peak_day_pct.map(|p| p.to_string()),
        peak_month_pct: s.peak_month_pct.map(|p| p.to_string()),
        alerts: s.alerts,
        suspensions: s.suspensions,
        first_suspended_at: s.first_suspended_ms.map(rfc3339),
        suspended_seconds: s.suspended_ms / 1000,
        stopped_usd: money(s.stopped_usd),
        stopped_invocations: s.stopped_invocations,
        shadow_suspensions: s.shadow_suspensions,
        first_shadow_suspended_at: s.first_shadow_ms.map(rfc3339),
        shadow_suspended_seconds: s.shadow_suspended_ms / 1000,
        would_stop_usd: money(s.shadow_stopped_usd),
        held: s.held,
        protected_over: s.protected_over,
        state_at_end: k.state.status.as_str(),
    }
}

/// One replay's figures: its keys with a limit or a decision (and those in `also`, so the
/// counterfactual lists every key the observed side does).
fn side(r: &Replay<'_>, also: &HashSet<(&'static str, String)>) -> Side {
    let mut keys: Vec<KeyOut> = Vec::new();
    let (mut spend, mut stopped, mut would) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    let (mut stopped_n, mut alerts, mut susp, mut shadow, mut held) = (0, 0, 0, 0, 0);
    let (mut keys_alerted, mut keys_suspended) = (0, 0);
    for k in r.keys() {
        let s = k.stats;
        // the principal keys hold every call once (sessions and teams count them again)
        if k.key.scope == spendguard_core::budget::Scope::Principal {
            spend += s.spend_usd;
        }
        stopped += s.stopped_usd;
        stopped_n += s.stopped_invocations;
        would += s.shadow_stopped_usd;
        alerts += u64::from(s.alerts);
        susp += u64::from(s.suspensions);
        shadow += u64::from(s.shadow_suspensions);
        held += u64::from(s.held);
        keys_alerted += usize::from(s.alerts > 0);
        keys_suspended += usize::from(s.suspensions + s.shadow_suspensions > 0);
        let limited = k.limits.is_some_and(|l| l.any());
        let decided = s.alerts + s.suspensions + s.shadow_suspensions + s.held > 0;
        if limited || decided || also.contains(&(k.key.scope.as_str(), k.key.key.clone())) {
            keys.push(key_out(&k));
        }
    }
    // the keys that matter first: suspended longest, then most stopped, then most spend
    keys.sort_by(|a, b| {
        let d = |s: &str| s.parse::<Decimal>().unwrap_or_default();
        (b.suspended_seconds + b.shadow_suspended_seconds)
            .cmp(&(a.suspended_seconds + a.shadow_suspended_seconds))
            .then(d(&b.stopped_usd).cmp(&d(&a.stopped_usd)))
            .then(d(&b.spend_usd).cmp(&d(&a.spend_usd)))
            .then(a.key.cmp(&b.key))
    });
    Side {
        spend_usd: money(spend),
        stopped_usd: money(stopped),
        stopped_invocations: stopped_n,
        would_stop_usd: money(would),
        keys_alerted,
        keys_suspended,
        alerts,
        suspensions: susp,
        shadow_suspensions: shadow,
        held,
        breaker_bursts: r.breaker_bursts,
        keys,
        decisions: r
            .decisions()
            .iter()
            .map(|t| t.decision.record(Some(t.at_ms)))
            .collect(),
    }
}

/// Money for the table: dollars and cents (the JSON and CSV keep every digit).
fn cents(s: &str) -> String {
    match s.parse::<Decimal>() {
        Ok(d) => format!("${:.2}", d.round_dp(2)),
        Err(_) => s.to_string(),
    }
}

fn duration(s: i64) -> String {
    if s == 0 {
        return "-".into();
    }
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h{m:02}m"),
        _ => format!("{d}d{h:02}h"),
    }
}

/// Prints the simulation as a table, JSON or CSV.
pub fn print(sim: &Simulation, format: crate::report::Format, top: usize) -> Result<()> {
    use crate::report::Format;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(sim)?),
        Format::Csv => {
            println!("budgets,scope,key,mode,protected,spend_usd,counterfactual_spend_usd,peak_day_pct,peak_month_pct,alerts,suspensions,first_suspended_at,suspended_seconds,stopped_usd,stopped_invocations,shadow_suspensions,would_stop_usd,counterfactual_suspensions");
            for r in &sim.runs {
                let cf: HashMap<(&str, &str), &KeyOut> = r
                    .counterfactual
                    .keys
                    .iter()
                    .map(|k| ((k.scope, k.key.as_str()), k))
                    .collect();
                for k in &r.observed.keys {
                    let c = cf.get(&(k.scope, k.key.as_str()));
                    println!(
                        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                        crate::report::csv_field(&r.budgets),
                        k.scope,
                        crate::report::csv_field(&k.key),
                        k.mode.unwrap_or(""),
                        k.protected,
                        k.spend_usd,
                        c.map_or("", |c| c.spend_usd.as_str()),
                        k.peak_day_pct.as_deref().unwrap_or(""),
                        k.peak_month_pct.as_deref().unwrap_or(""),
                        k.alerts,
                        k.suspensions,
                        k.first_suspended_at.as_deref().unwrap_or(""),
                        k.suspended_seconds,
                        k.stopped_usd,
                        k.stopped_invocations,
                        k.shadow_suspensions,
                        k.would_stop_usd,
                        c.map_or(0, |c| c.suspensions),
                    );
                }
            }
        }
        Format::Table => print_table(sim, top),
    }
    Ok(())
}

fn print_table(sim: &Simulation, top: usize) {
    println!(
        "{} .. {} ({}): {} invocations; a suspension takes effect {} s after its decision",
        sim.from, sim.to, sim.timezone, sim.invocations, sim.delay_seconds
    );
    if sim.loaded_before_from > 0 {
        println!(
            "{} earlier invocations of the first month count towards its windows",
            sim.loaded_before_from
        );
    }
    if !sim.days_without_data.is_empty() {
        println!(
            "no data on {} day(s): {} (a gap in the lake, not zero spend)",
            sim.days_without_data.len(),
            sim.days_without_data.join(", ")
        );
    }
    for r in &sim.runs {
        let (o, c) = (&r.observed, &r.counterfactual);
        println!();
        println!("budgets {}", r.budgets);
        println!(
            "  observed (the logs, as the ledger counts them): {} spent; {} alerts on {} keys; {} suspensions of {} keys; {} in {} calls inside a deny would have failed{}",
            cents(&o.spend_usd), o.alerts, o.keys_alerted, o.suspensions, o.keys_suspended, cents(&o.stopped_usd), o.stopped_invocations,
            if o.shadow_suspensions > 0 { format!("; {} shadow suspensions (would have stopped {})", o.shadow_suspensions, cents(&o.would_stop_usd)) } else { String::new() }
        );
        println!(
            "  counterfactual (with these budgets in force): {} spent, {} stopped; {} suspensions of {} keys",
            cents(&c.spend_usd), cents(&c.stopped_usd), c.suspensions, c.keys_suspended
        );
        if o.breaker_bursts > 0 {
            println!(
                "  {} burst(s) of suspensions would have opened the circuit breaker ([breaker])",
                o.breaker_bursts
            );
        }
        let affected: Vec<&KeyOut> = o
            .keys
            .iter()
            .filter(|k| k.alerts > 0 || k.suspensions > 0 || k.shadow_suspensions > 0)
            .collect();
        if affected.is_empty() {
            println!("  no key reached a threshold");
            continue;
        }
        let cf: HashMap<(&str, &str), &KeyOut> = c
            .keys
            .iter()
            .map(|k| ((k.scope, k.key.as_str()), k))
            .collect();
        println!(
            "  {:>10}  {:>12}  {:>8}  {:>8}  {:>6}  {:>5}  {:>9}  {:>9}  {:<9} key",
            "spend",
            "with budgets",
            "peak day",
            "peak mon",
            "alerts",
            "susp",
            "suspended",
            "stopped",
            "scope"
        );
        for k in affected.iter().take(top) {
            let pct = |p: &Option<String>| p.as_deref().map_or("-".into(), |p| format!("{p}%"));
            let (susp, time) = if k.shadow_suspensions > 0 && k.suspensions == 0 {
                (
                    format!("{}s", k.shadow_suspensions),
                    duration(k.shadow_suspended_seconds),
                )
            } else {
                (k.suspensions.to_string(), duration(k.suspended_seconds))
            };
            let note = match (k.protected, k.mode) {
                (true, _) => " (protected)",
                (_, Some(m)) if m == Mode::Shadow.as_str() => " (shadow)",
                (_, Some(m)) if m == Mode::AlertOnly.as_str() => " (alert only)",
                _ => "",
            };
            println!(
                "  {:>10}  {:>12}  {:>8}  {:>8}  {:>6}  {:>5}  {:>9}  {:>9}  {:<9} {}{}",
                cents(&k.spend_usd),
                cf.get(&(k.scope, k.key.as_str()))
                    .map_or("-".into(), |c| cents(&c.spend_usd)),
                pct(&k.peak_day_pct),
                pct(&k.peak_month_pct),
                k.alerts,
                susp,
                time,
                cents(&k.stopped_usd),
                k.scope,
                k.key,
                note
            );
        }
        if affected.len() > top {
            println!(
                "  ... {} more keys (--top, or --format json)",
                affected.len() - top
            );
        }
    }
}
