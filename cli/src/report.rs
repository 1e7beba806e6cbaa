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

/// Builds the report as JSON (the table and CSV forms are printed from it).
pub fn build(
    lake_dir: &Path,
    from: Option<&str>,
    to: Option<&str>,
    by: By,
    teams: &BudgetConfig,
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
