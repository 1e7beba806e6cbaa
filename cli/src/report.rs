//! `spendguard report`: spend and tokens over a period, read back from the Parquet lake
//! (arrow/parquet, no database), grouped, with cost per 1K invocations and a month-end
//! projection from the period's run rate. Acts locally only.

use crate::lake::{self, LakeRow};
use anyhow::{bail, Context, Result};
use rust_decimal::Decimal;
use serde_json::json;
use spendguard_core::budget::BudgetConfig;
use spendguard_schemas::time;
use std::collections::HashMap;
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

/// Spend per day, stacked by the first groups (by cost) and "(other)".
fn daily(
    rows: &[LakeRow],
    by: By,
    teams: &BudgetConfig,
    sorted: &[(String, Group)],
    top: usize,
) -> serde_json::Value {
    let series: Vec<String> = sorted
        .iter()
        .take(top.min(CHART_SERIES))
        .map(|(k, _)| k.clone())
        .collect();
    let other = sorted.len() > series.len();
    let mut days: std::collections::BTreeMap<&str, (Decimal, Vec<Decimal>)> = Default::default();
    for r in rows {
        let d = days
            .entry(r.dt.as_str())
            .or_insert_with(|| (Decimal::ZERO, vec![Decimal::ZERO; series.len() + 1]));
        d.0 += r.cost;
        for k in keys(r, by, teams) {
            let i = series.iter().position(|s| *s == k).unwrap_or(series.len());
            d.1[i] += r.cost;
        }
    }
    let mut names = series.clone();
    if other {
        names.push("(other)".into());
    }
    json!({
        "series": names,
        "days": days.into_iter().map(|(dt, (total, mut v))| {
            if !other {
                v.pop();
            }
            json!({"dt": dt, "cost_usd": money(total), "values": v.into_iter().map(money).collect::<Vec<_>>()})
        }).collect::<Vec<_>>(),
    })
}

/// Per model: spend, tokens, and what 1K invocations and 1M tokens cost.
fn models(rows: &[LakeRow]) -> Result<serde_json::Value> {
    let mut m: HashMap<&str, Group> = HashMap::new();
    for r in rows {
        m.entry(r.model.as_str()).or_default().add(r)?;
    }
    let mut v: Vec<(&str, Group)> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cost.cmp(&a.1.cost).then(a.0.cmp(b.0)));
    Ok(json!(v.iter().map(|(k, g)| {
        let tokens = i128::from(g.input) + i128::from(g.output) + i128::from(g.cache_read) + i128::from(g.cache_write);
        json!({
            "model": k, "invocations": g.invocations, "cost_usd": money(g.cost),
            "tokens": tokens.to_string(),
            "cost_per_1k_invocations_usd": money((g.cost * Decimal::from(1000) / Decimal::from(g.invocations.max(1))).round_dp(6)),
            "cost_per_1m_tokens_usd": (tokens > 0).then(|| money((g.cost * Decimal::from(1_000_000) / Decimal::from_i128_with_scale(tokens, 0)).round_dp(6))),
        })
    }).collect::<Vec<_>>()))
}

/// What prompt caching saved: cache reads valued at the request's own input price against what
/// they cost, minus the premium cache writes paid over that price. A request's input price is
/// its input cost over its input tokens (exact: the cost is tokens times price); requests with
/// no input tokens, or not priced from the catalogue (fallback, not token-priced), cannot be
/// valued and are counted instead.
fn caching(rows: &[LakeRow]) -> serde_json::Value {
    let (mut read_tokens, mut write_tokens) = (0i128, 0i128);
    let (mut read_cost, mut read_at_input, mut write_cost, mut write_at_input) =
        (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    let mut unvalued = 0u64;
    for r in rows
        .iter()
        .filter(|r| r.cache_read_tokens > 0 || r.cache_write_tokens > 0)
    {
        let priced = r.price_status == "exact" || r.price_status == "estimated";
        if !priced || r.input_tokens == 0 {
            unvalued += 1;
            continue;
        }
        let price = r.input_cost / Decimal::from(r.input_tokens);
        read_tokens += i128::from(r.cache_read_tokens);
        write_tokens += i128::from(r.cache_write_tokens);
        read_cost += r.cache_read_cost;
        write_cost += r.cache_write_cost;
        read_at_input += price * Decimal::from(r.cache_read_tokens);
        write_at_input += price * Decimal::from(r.cache_write_tokens);
    }
    let round = |d: Decimal| money(d.round_dp(MONEY_DP));
    let saved = read_at_input - read_cost;
    let premium = write_cost - write_at_input;
    json!({
        "cache_read_tokens": read_tokens.to_string(), "cache_read_cost_usd": round(read_cost),
        "cache_read_at_input_price_usd": round(read_at_input), "saved_on_reads_usd": round(saved),
        "cache_write_tokens": write_tokens.to_string(), "cache_write_cost_usd": round(write_cost),
        "cache_write_at_input_price_usd": round(write_at_input), "write_premium_usd": round(premium),
        "net_saved_usd": round(saved - premium),
        "unvalued_invocations": unvalued,
    })
}

/// Money is kept to the lake's scale (12 decimal places) where a figure is derived by division.
const MONEY_DP: u32 = 12;

/// Rows not priced exactly from the catalogue, per status, with the model ids (as logged).
fn data_quality(rows: &[LakeRow]) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for status in [
        "fallback",
        "estimated",
        "not_token_priced",
        "error_no_charge",
    ] {
        let mut ids: std::collections::BTreeMap<&str, u64> = Default::default();
        for r in rows.iter().filter(|r| r.price_status == status) {
            *ids.entry(r.model_id.as_str()).or_default() += 1;
        }
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
    for r in lake::read(lake_dir, Some(&pf), Some(&pt))? {
        total += r.cost;
        for k in keys(&r, by, teams) {
            *before.entry(k).or_default() += r.cost;
        }
    }
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
    let rows = lake::read(lake_dir, from, to)?;
    let first = from
        .map(str::to_string)
        .or_else(|| rows.iter().map(|r| r.dt.clone()).min());
    let last = to
        .map(str::to_string)
        .or_else(|| rows.iter().map(|r| r.dt.clone()).max());
    let mut groups: HashMap<String, Group> = HashMap::new();
    let mut total = Group::default();
    let mut fallback = 0u64;
    for r in &rows {
        for k in keys(r, by, teams) {
            groups.entry(k).or_default().add(r)?;
        }
        total.add(r)?;
        if r.price_status == "fallback" {
            fallback += 1;
        }
    }
    let mut sorted: Vec<(String, Group)> = groups.into_iter().collect();
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
                lake::read(lake_dir, Some(&month_start), Some(l))?
                    .iter()
                    .map(|r| r.cost)
                    .sum()
            } else {
                rows.iter()
                    .filter(|r| r.dt >= month_start && &r.dt <= l)
                    .map(|r| r.cost)
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
        "groups": sorted.iter().map(|(k, g)| json!({
            "key": k, "invocations": g.invocations, "cost_usd": money(g.cost),
            "input_tokens": g.input, "output_tokens": g.output,
            "cache_read_tokens": g.cache_read, "cache_write_tokens": g.cache_write,
        })).collect::<Vec<_>>(),
        "daily": daily(&rows, by, teams, &sorted, top),
        "movers": movers,
        "models": models(&rows)?,
        "caching": caching(&rows),
        "data_quality": data_quality(&rows),
    }))
}

fn csv_field(s: &str) -> String {
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
