//! `spendguard report`: spend and tokens over a period, read back from the Parquet lake
//! (arrow/parquet, no database), grouped, with cost per 1K invocations and a month-end
//! projection from the period's run rate. Acts locally only.

use crate::lake::{self, LakeRow};
use anyhow::{bail, Context, Result};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use spendguard_core::budget::{BudgetConfig, Scope};
use spendguard_core::enforce::{self, Action};
use spendguard_core::window::WindowKind;
use spendguard_schemas::time;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Principal,
    Session,
    Model,
    Day,
    /// The `[[team]]`s of `--budgets` (an invocation counts for every team it belongs to;
    /// "(no team)" holds the rest).
    Team,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Default, Clone)]
struct Group {
    invocations: u64,
    cost: Decimal,
    input: i64,
    output: i64,
    cache_read: i64,
    cache_write: i64,
}

impl Group {
    /// Adds a row; a token total past `i64` is an error, never a wrap (rows are bounded per
    /// class when read, so this takes ~900 million rows in one group).
    fn add(&mut self, r: &LakeRow) -> Result<()> {
        let sum = |a: i64, b: i64, what: &str| {
            a.checked_add(b)
                .with_context(|| format!("the {what} token total overflows a 64-bit integer"))
        };
        self.invocations += 1;
        self.cost += r.cost;
        self.input = sum(self.input, r.input_tokens, "input")?;
        self.output = sum(self.output, r.output_tokens, "output")?;
        self.cache_read = sum(self.cache_read, r.cache_read_tokens, "cache read")?;
        self.cache_write = sum(self.cache_write, r.cache_write_tokens, "cache write")?;
        Ok(())
    }
}

fn day_number(dt: &str) -> Result<i64> {
    Ok(time::parse_rfc3339_ms(&format!("{dt}T00:00:00Z"))
        .map_err(|e| anyhow::anyhow!("{dt:?} is not a YYYY-MM-DD date: {e}"))?
        / 86_400_000)
}

fn money(d: Decimal) -> String {
    d.normalize().to_string()
}

fn keys(r: &LakeRow, by: By, teams: &BudgetConfig) -> Vec<String> {
    if by == By::Team {
        let session = r.session_name.as_ref().map(|_| r.principal_arn.as_str());
        let ts: Vec<String> = teams
            .teams_for(&r.principal, session)
            .into_iter()
            .map(|t| t.name.clone())
            .collect();
        return if ts.is_empty() {
            vec!["(no team)".into()]
        } else {
            ts
        };
    }
    vec![key(r, by)]
}

fn key(r: &LakeRow, by: By) -> String {
    match by {
        By::Team => String::new(),
        By::Principal => r.principal.clone(),
        // A session is its full assumed-role ARN; an IAM user has no sessions.
        By::Session => match &r.session_name {
            Some(_) => r.principal_arn.clone(),
            None => r.principal.clone(),
        },
        By::Model => r.model.clone(),
        By::Day => r.dt.clone(),
    }
}

/// The groups a chart draws on their own (the rest are "(other)"): more colours do not read.
const CHART_SERIES: usize = 8;

/// Money is kept to the lake's scale (12 decimal places) where a figure is derived by division.
const MONEY_DP: u32 = 12;

/// The statuses the data-quality panel lists: rows not priced exactly from the catalogue.
const QUALITY: [&str; 4] = [
    "fallback",
    "estimated",
    "not_token_priced",
    "error_no_charge",
];

/// Cache tokens valued at the request's own input price (see [`Sums::caching`]).
#[derive(Default)]
struct Caching {
    read_tokens: i128,
    write_tokens: i128,
    read_cost: Decimal,
    write_cost: Decimal,
    read_at_input: Decimal,
    write_at_input: Decimal,
    unvalued: u64,
}

/// Spend per local day (YYYY-MM-DD).
type SpendByDay = BTreeMap<String, Decimal>;

/// Everything a report sums, in one pass over the lake: memory grows with groups, days and
/// models, never with invocations.
#[derive(Default)]
struct Sums {
    groups: HashMap<String, Group>,
    total: Group,
    /// Per day: the spend, and the spend per group.
    days: BTreeMap<String, (Decimal, HashMap<String, Decimal>)>,
    models: HashMap<String, Group>,
    /// The chargeback tables: per principal, and per team when the budgets define teams.
    principals: HashMap<String, Group>,
    teams: HashMap<String, Group>,
    caching: Caching,
    /// Per status in [`QUALITY`]: invocations per model id.
    quality: HashMap<&'static str, BTreeMap<String, u64>>,
}

impl Sums {
    fn add(&mut self, r: &LakeRow, by: By, teams: &BudgetConfig) -> Result<()> {
        let day = self.days.entry(r.dt.clone()).or_default();
        day.0 += r.cost;
        for k in keys(r, by, teams) {
            *day.1.entry(k.clone()).or_default() += r.cost;
            self.groups.entry(k).or_default().add(r)?;
        }
        self.total.add(r)?;
        self.models.entry(r.model.clone()).or_default().add(r)?;
        self.principals
            .entry(r.principal.clone())
            .or_default()
            .add(r)?;
        if !teams.teams.is_empty() {
            for k in keys(r, By::Team, teams) {
                self.teams.entry(k).or_default().add(r)?;
            }
        }
        if let Some(status) = QUALITY.iter().find(|s| **s == r.price_status) {
            *self
                .quality
                .entry(status)
                .or_default()
                .entry(r.model_id.clone())
                .or_default() += 1;
        }
        self.caching.add(r);
        Ok(())
    }
}

/// The keys a burn chart is drawn for, at most this many (the most spent first).
const BURN_KEYS: usize = 6;

/// A decision on a burn chart: when (local HH:MM) and what. The HTML reads it back typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub at: String,
    pub action: Action,
    pub window: Option<WindowKind>,
    pub threshold_pct: Option<u32>,
}

/// The decisions of a burn chart's key on one local day.
type Marks = HashMap<(Scope, String, String), Vec<Mark>>;

/// The budgets' decisions of a simulation's observed timeline, by key and local day.
fn marks(sim: &crate::simulate::Simulation, cfg: &BudgetConfig) -> Marks {
    let mut out = Marks::new();
    for run in sim.runs.iter().take(1) {
        for d in &run.observed.decisions {
            let Some(Ok(at)) = d.at.as_deref().map(time::parse_rfc3339_ms) else {
                continue;
            };
            let Ok(ts) = jiff::Timestamp::from_millisecond(at) else {
                continue;
            };
            let local = ts.to_zoned(cfg.timezone.clone());
            let key = (d.scope, d.principal.clone(), local.date().to_string());
            out.entry(key).or_default().push(Mark {
                at: format!("{:02}:{:02}", local.hour(), local.minute()),
                action: d.action,
                window: d.window,
                threshold_pct: d.threshold_pct,
            });
        }
    }
    out
}

/// Spend against limits per budgeted key, per local day of the budgets' time zone, from the
/// simulation's observed replay of the lake (the ledger's windows): the day's spend against the
/// daily limit, the month-to-date (the month's days before the period included) against the
/// monthly one, and the decisions the budgets would have taken that day.
fn burn(
    lake_dir: &Path,
    from: Option<&str>,
    to: Option<&str>,
    cfg: &BudgetConfig,
) -> Result<serde_json::Value> {
    if !cfg.limits_anything() {
        return Ok(serde_json::Value::Null);
    }
    let sim = crate::simulate::simulate(&crate::simulate::SimArgs {
        lake: lake_dir,
        budgets: ("budgets", cfg),
        compare: None,
        from,
        to,
        delay_seconds: crate::simulate::DEFAULT_DELAY_SECONDS,
        keep_windows: true,
    })?;
    let marks = marks(&sim, cfg);
    // per limited key: spend per local day, every day the replay saw
    let mut by_key: HashMap<(Scope, String), SpendByDay> = HashMap::new();
    for w in sim
        .windows
        .iter()
        .filter(|w| w.window.kind == WindowKind::Day)
    {
        let limited =
            enforce::governing(cfg, w.window.scope, &w.window.key).is_some_and(|(l, _)| l.any());
        if limited {
            *by_key
                .entry((w.window.scope, w.window.key.clone()))
                .or_default()
                .entry(w.window.start.clone())
                .or_default() += w.totals.cost_usd;
        }
    }
    let in_period = |day: &str| day >= sim.from.as_str() && day <= sim.to.as_str();
    let mut keys: Vec<_> = by_key.iter().collect();
    let spent = |m: &SpendByDay| {
        m.iter()
            .filter(|(d, _)| in_period(d))
            .map(|(_, v)| *v)
            .sum::<Decimal>()
    };
    keys.retain(|(_, m)| spent(m) > Decimal::ZERO);
    keys.sort_by(|a, b| spent(b.1).cmp(&spent(a.1)).then(a.0 .1.cmp(&b.0 .1)));
    let pct = |v: Decimal, l: Option<Decimal>| {
        l.filter(|l| !l.is_zero())
            .map(|l| money((v * Decimal::from(100) / l).round_dp(1)))
    };
    Ok(json!({
        "timezone": cfg.timezone_name,
        "from": sim.from, "to": sim.to,
        "markers": true,
        "note": format!("Days are the budgets' local days, {} to {}; a month to date counts the month's days before the period too. Marked: the decisions these budgets would have taken on the logged spend (spendguard simulate's observed timeline, a suspension taking effect {} s after its decision), at local times.", sim.from, sim.to, sim.delay_seconds),
        "keys": keys.iter().take(BURN_KEYS).map(|((scope, key), days)| {
            let (limits, protected) = enforce::governing(cfg, *scope, key).map_or((None, false), |(l, p)| (Some(l), p));
            let daily = limits.and_then(|l| l.daily_usd);
            let monthly = limits.and_then(|l| l.monthly_usd);
            let mut month = String::new();
            let mut mtd = Decimal::ZERO;
            let mut shown = Vec::new();
            // every local day of the period, a day without spend included
            let mut day = sim.from.parse::<jiff::civil::Date>().ok();
            let last = sim.to.parse::<jiff::civil::Date>().ok();
            // the month's days before the period count towards its month to date
            if let Some(first) = day {
                let m = first.first_of_month().to_string();
                month = m.get(..7).unwrap_or("").to_string();
                mtd = days.range(m..sim.from.clone()).map(|(_, v)| *v).sum();
            }
            while let (Some(d), Some(l)) = (day, last) {
                if d > l {
                    break;
                }
                let ds = d.to_string();
                let spend = days.get(&ds).copied().unwrap_or_default();
                if ds.get(..7) != Some(month.as_str()) {
                    month = ds.get(..7).unwrap_or("").to_string();
                    mtd = Decimal::ZERO;
                }
                mtd += spend;
                let decided = marks
                    .get(&(*scope, key.clone(), ds.clone()))
                    .cloned()
                    .unwrap_or_default();
                shown.push(json!({"day": ds, "spend_usd": money(spend), "daily_pct": pct(spend, daily),
                       "month_to_date_usd": money(mtd), "monthly_pct": pct(mtd, monthly),
                       "decisions": decided}));
                day = d.tomorrow().ok();
            }
            json!({
                "scope": scope.as_str(), "key": key,
                "mode": limits.map(|l| l.mode.as_str()), "protected": protected,
                "daily_limit_usd": daily.map(money), "monthly_limit_usd": monthly.map(money),
                "thresholds_pct": limits.map(|l| l.thresholds_pct.clone()).unwrap_or_default(),
                "days": shown,
            })
        }).collect::<Vec<_>>(),
    }))
}

impl Caching {
    /// A request's input price is its input cost over its input tokens (exact: the cost is
    /// tokens times price); requests with no input tokens, or not priced from the catalogue
    /// (fallback, not token-priced), cannot be valued and are counted instead.
    fn add(&mut self, r: &LakeRow) {
        if r.cache_read_tokens == 0 && r.cache_write_tokens == 0 {
            return;
        }
        let priced = r.price_status == "exact" || r.price_status == "estimated";
        if !priced || r.input_tokens == 0 {
            self.unvalued += 1;
            return;
        }
        let price = r.input_cost / Decimal::from(r.input_tokens);
        self.read_tokens += i128::from(r.cache_read_tokens);
        self.write_tokens += i128::from(r.cache_write_tokens);
        self.read_cost += r.cache_read_cost;
        self.write_cost += r.cache_write_cost;
        self.read_at_input += price * Decimal::from(r.cache_read_tokens);
        self.write_at_input += price * Decimal::from(r.cache_write_tokens);
    }

    /// What prompt caching saved: cache reads valued at the input price against what they cost,
    /// minus the premium cache writes paid over that price.
    fn to_json(&self) -> serde_json::Value {
        let round = |d: Decimal| money(d.round_dp(MONEY_DP));
        let saved = self.read_at_input - self.read_cost;
        let premium = self.write_cost - self.write_at_input;
        json!({
            "cache_read_tokens": self.read_tokens.to_string(),
            "cache_read_cost_usd": round(self.read_cost),
            "cache_read_at_input_price_usd": round(self.read_at_input),
            "saved_on_reads_usd": round(saved),
            "cache_write_tokens": self.write_tokens.to_string(),
            "cache_write_cost_usd": round(self.write_cost),
            "cache_write_at_input_price_usd": round(self.write_at_input),
            "write_premium_usd": round(premium),
            "net_saved_usd": round(saved - premium),
            "unvalued_invocations": self.unvalued,
        })
    }
}

/// Spend per day, stacked by the first groups (by cost) and "(other)".
fn daily(sums: &Sums, sorted: &[(String, Group)], top: usize) -> serde_json::Value {
    let series: Vec<&str> = sorted
        .iter()
        .take(top.min(CHART_SERIES))
        .map(|(k, _)| k.as_str())
        .collect();
    let other = sorted.len() > series.len();
    let mut names: Vec<&str> = series.clone();
    if other {
        names.push("(other)");
    }
    json!({
        "series": names,
        "days": sums.days.iter().map(|(dt, (total, by_key))| {
            let mut v: Vec<Decimal> = series.iter().map(|k| by_key.get(*k).copied().unwrap_or_default()).collect();
            if other {
                let shown: Decimal = v.iter().sum();
                let all: Decimal = by_key.values().sum();
                v.push(all - shown);
            }
            json!({"dt": dt, "cost_usd": money(*total), "values": v.into_iter().map(money).collect::<Vec<_>>()})
        }).collect::<Vec<_>>(),
    })
}

/// Per model: spend, tokens, and what 1K invocations and 1M tokens cost.
fn models(sums: &Sums) -> serde_json::Value {
    let mut v: Vec<(&String, &Group)> = sums.models.iter().collect();
    v.sort_by(|a, b| b.1.cost.cmp(&a.1.cost).then(a.0.cmp(b.0)));
    json!(v.iter().map(|(k, g)| {
        let tokens = i128::from(g.input) + i128::from(g.output) + i128::from(g.cache_read) + i128::from(g.cache_write);
        json!({
            "model": k, "invocations": g.invocations, "cost_usd": money(g.cost),
            "tokens": tokens.to_string(),
            "cost_per_1k_invocations_usd": money((g.cost * Decimal::from(1000) / Decimal::from(g.invocations.max(1))).round_dp(6)),
            "cost_per_1m_tokens_usd": (tokens > 0).then(|| money((g.cost * Decimal::from(1_000_000) / Decimal::from_i128_with_scale(tokens, 0)).round_dp(6))),
        })
    }).collect::<Vec<_>>())
}

/// One group's row (the table, the CSV and the chargeback tables share it).
fn group_json(k: &str, g: &Group) -> serde_json::Value {
    json!({
        "key": k, "invocations": g.invocations, "cost_usd": money(g.cost),
        "input_tokens": g.input, "output_tokens": g.output,
        "cache_read_tokens": g.cache_read, "cache_write_tokens": g.cache_write,
    })
}

/// A chargeback table: every group, the most spent first.
fn chargeback(groups: &HashMap<String, Group>) -> Vec<serde_json::Value> {
    let mut v: Vec<(&String, &Group)> = groups.iter().collect();
    v.sort_by(|a, b| b.1.cost.cmp(&a.1.cost).then(a.0.cmp(b.0)));
    v.iter().map(|(k, g)| group_json(k, g)).collect()
}

/// Rows not priced exactly from the catalogue, per status, with the model ids (as logged).
fn data_quality(sums: &Sums) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for status in QUALITY {
        let ids = sums.quality.get(status).cloned().unwrap_or_default();
        out.insert(status.into(), json!({
            "invocations": ids.values().sum::<u64>(),
            "model_ids": ids.iter().map(|(k, n)| json!({"model_id": k, "invocations": n})).collect::<Vec<_>>(),
        }));
    }
    serde_json::Value::Object(out)
}

/// The groups that moved most against the previous period of the same length.
fn movers(
    lake_dir: &Path,
    first: &str,
    days: i64,
    by: By,
    teams: &BudgetConfig,
    now: &[(String, Group)],
) -> Result<serde_json::Value> {
    let start = day_number(first)?;
    let date = |n: i64| {
        let (y, m, d) = time::civil_from_days(n);
        format!("{y:04}-{m:02}-{d:02}")
    };
    let (pf, pt) = (date(start - days), date(start - 1));
    let mut before: HashMap<String, Decimal> = HashMap::new();
    let mut total = Decimal::ZERO;
    lake::for_each(lake_dir, Some(&pf), Some(&pt), |r| {
        total += r.cost;
        for k in keys(&r, by, teams) {
            *before.entry(k).or_default() += r.cost;
        }
        Ok(())
    })?;
    let mut all: HashMap<&str, (Decimal, Decimal)> = HashMap::new();
    for (k, g) in now {
        all.entry(k.as_str()).or_default().0 = g.cost;
    }
    for (k, c) in &before {
        all.entry(k.as_str()).or_default().1 = *c;
    }
    let mut v: Vec<(&str, (Decimal, Decimal))> = all.into_iter().collect();
    v.sort_by(|a, b| {
        let d = |x: &(Decimal, Decimal)| (x.0 - x.1).abs();
        d(&b.1).cmp(&d(&a.1)).then(a.0.cmp(b.0))
    });
    Ok(json!({
        "previous_from": pf, "previous_to": pt, "previous_cost_usd": money(total),
        "rows": v.iter().take(10).map(|(k, (n, b))| json!({
            "key": k, "cost_usd": money(*n), "previous_cost_usd": money(*b),
            "change_usd": money(*n - *b),
            "change_pct": (!b.is_zero()).then(|| money(((*n - *b) * Decimal::from(100) / *b).round_dp(1))),
        })).collect::<Vec<_>>(),
    }))
}

/// Builds the report as JSON (the table, CSV and HTML forms are printed from it).
pub fn build(
    lake_dir: &Path,
    from: Option<&str>,
    to: Option<&str>,
    by: By,
    teams: &BudgetConfig,
    top: usize,
) -> Result<serde_json::Value> {
    for d in [from, to].into_iter().flatten() {
        day_number(d)?;
    }
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            bail!("--from {f} is after --to {t}");
        }
    }
    let mut sums = Sums::default();
    lake::for_each(lake_dir, from, to, |r| sums.add(&r, by, teams))?;
    // the burn charts: the lake replayed in time order through the budgets (a second pass);
    // said, not fatal, when it cannot be: the report's figures stand without it
    let budgets = if sums.total.invocations == 0 {
        serde_json::Value::Null
    } else {
        burn(lake_dir, from, to, teams).unwrap_or_else(|e| {
            eprintln!("the burn charts are left out: {e:#}");
            serde_json::Value::Null
        })
    };
    let first = from
        .map(str::to_string)
        .or_else(|| sums.days.keys().next().cloned());
    let last = to
        .map(str::to_string)
        .or_else(|| sums.days.keys().next_back().cloned());
    let total = sums.total.clone();
    let fallback = sums
        .quality
        .get("fallback")
        .map_or(0, |m| m.values().sum::<u64>());
    let mut sorted: Vec<(String, Group)> = std::mem::take(&mut sums.groups).into_iter().collect();
    if by == By::Day {
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
    } else {
        sorted.sort_by(|a, b| b.1.cost.cmp(&a.1.cost).then(a.0.cmp(&b.0)));
    }
    let (days, projection) = match (&first, &last) {
        (Some(f), Some(l)) => {
            let days = day_number(l)? - day_number(f)? + 1;
            // month-to-date of the last day's month + the period's daily rate for its remaining days
            let (y, m, d) = time::civil_from_days(day_number(l)?);
            let month_start = format!("{y:04}-{m:02}-01");
            // month-to-date counts the whole month up to the last day, also before the period
            let mtd: Decimal = if *f > month_start {
                let mut sum = Decimal::ZERO;
                lake::for_each(lake_dir, Some(&month_start), Some(l), |r| {
                    sum += r.cost;
                    Ok(())
                })?;
                sum
            } else {
                sums.days
                    .range(month_start.clone()..=l.clone())
                    .map(|(_, (c, _))| *c)
                    .sum()
            };
            let next = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            let days_in_month =
                time::days_from_civil(next.0, next.1, 1) - time::days_from_civil(y, m, 1);
            let rate = total.cost / Decimal::from(days.max(1));
            let proj = mtd + rate * Decimal::from(days_in_month - i64::from(d));
            (days, Some(proj.round_dp(6)))
        }
        _ => (0, None),
    };
    let movers = match &first {
        Some(f) if days > 0 => movers(lake_dir, f, days, by, teams, &sorted)?,
        _ => serde_json::Value::Null,
    };
    let per_1k = if total.invocations > 0 {
        (total.cost * Decimal::from(1000) / Decimal::from(total.invocations)).round_dp(6)
    } else {
        Decimal::ZERO
    };
    Ok(json!({
        "from": first, "to": last, "days": days,
        "by": format!("{by:?}").to_lowercase(),
        "invocations": total.invocations,
        "cost_usd": money(total.cost),
        "cost_per_1k_invocations_usd": money(per_1k),
        "projected_month_end_usd": projection.map(money),
        "fallback_priced": fallback,
        "input_tokens": total.input, "output_tokens": total.output,
        "cache_read_tokens": total.cache_read, "cache_write_tokens": total.cache_write,
        "groups": sorted.iter().map(|(k, g)| group_json(k, g)).collect::<Vec<_>>(),
        // chargeback: the same figures per principal, model and team, whatever --by says
        "chargeback": {
            "principal": chargeback(&sums.principals),
            "model": chargeback(&sums.models),
            "team": (!teams.teams.is_empty()).then(|| chargeback(&sums.teams)),
        },
        "daily": daily(&sums, &sorted, top),
        "movers": movers,
        "models": models(&sums),
        "caching": sums.caching.to_json(),
        "data_quality": data_quality(&sums),
        "budgets": budgets,
    }))
}

pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn print(report: &serde_json::Value, format: Format, top: usize) -> Result<()> {
    let groups = report["groups"].as_array().cloned().unwrap_or_default();
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(report)?),
        Format::Csv => {
            println!("key,invocations,cost_usd,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens");
            for g in &groups {
                println!(
                    "{},{},{},{},{},{},{}",
                    csv_field(g["key"].as_str().unwrap_or("")),
                    g["invocations"],
                    g["cost_usd"].as_str().unwrap_or("0"),
                    g["input_tokens"],
                    g["output_tokens"],
                    g["cache_read_tokens"],
                    g["cache_write_tokens"]
                );
            }
        }
        Format::Table => {
            let s = |k: &str| {
                report[k]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| report[k].to_string())
            };
            println!(
                "{} .. {} ({} day(s)): {} invocations, ${} (${} per 1K invocations), month-end projection ${}",
                s("from"), s("to"), report["days"], report["invocations"], s("cost_usd"),
                s("cost_per_1k_invocations_usd"), s("projected_month_end_usd")
            );
            if report["fallback_priced"].as_u64().unwrap_or(0) > 0 {
                println!(
                    "{} invocations priced at the fallback price (unknown model or profile)",
                    report["fallback_priced"]
                );
            }
            println!(
                "{:>16}  {:>11}  {:>13}  {:>13}  {}",
                "cost_usd",
                "invocations",
                "input_tok",
                "output_tok",
                report["by"].as_str().unwrap_or("")
            );
            for g in groups.iter().take(top) {
                println!(
                    "{:>16}  {:>11}  {:>13}  {:>13}  {}",
                    format!("${}", g["cost_usd"].as_str().unwrap_or("0")),
                    g["invocations"],
                    g["input_tokens"],
                    g["output_tokens"],
                    g["key"].as_str().unwrap_or("")
                );
            }
            if groups.len() > top {
                println!("... {} more", groups.len() - top);
            }
        }
    }
    Ok(())
}
