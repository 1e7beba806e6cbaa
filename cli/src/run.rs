//! `spendguard run`: any mix of log files in, the priced Parquet lake out, idempotently, with a
//! summary. Acts locally only.
#![allow(clippy::float_arithmetic)] // throughput and sizes, never money

use crate::idset::{IdKey, IdMap};
use crate::input::{self, for_each_row};
use crate::lake;
use crate::PriceOpts;
use anyhow::Result;
use rust_decimal::Decimal;
use serde::Serialize;
use spendguard_core::ledger::content_digest;
use spendguard_core::Pipeline;
use spendguard_schemas::{PriceStatus, PricedRow};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Default)]
struct Tally {
    invocations: usize,
    cost: Decimal,
    by_principal: HashMap<String, (Decimal, usize)>,
    by_model: HashMap<String, (Decimal, usize)>,
    fallback: usize,
    estimated: usize,
    not_token_priced: usize,
    errors_no_charge: usize,
}

fn money(d: Decimal) -> String {
    d.normalize().to_string()
}

/// What a run did: the `--json` output (its field names are the contract) and the source of
/// the human summary.
#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub invocations: usize,
    pub cost_usd: String,
    pub by_principal: BTreeMap<String, String>,
    pub by_model: BTreeMap<String, String>,
    pub fallback_priced: usize,
    pub estimated: usize,
    pub not_token_priced: usize,
    pub errors_no_charge: usize,
    pub unreadable: usize,
    pub unreadable_by_reason: BTreeMap<String, usize>,
    pub unreadable_files: Vec<String>,
    pub duplicates_in_input: usize,
    /// A repeated request id with other contents (in the input, or against the ledger's
    /// markers): the first counted is kept, the ids are named.
    pub conflicting_duplicates: usize,
    pub conflicting_request_ids: Vec<String>,
    pub already_in_lake: usize,
    pub stale_temp_files_removed: usize,
    pub lake: Option<String>,
    pub ledger: Option<LedgerSummary>,
    /// Each budget decision with the time it was taken (`at`).
    pub decisions: Vec<spendguard_core::enforce::DecisionRecord>,
    pub rows_written: usize,
    pub files_written: Vec<String>,
    pub partitions: Vec<String>,
    pub input_files: usize,
    pub skipped_files: usize,
    pub control_messages: usize,
    pub decompressed_mb: f64,
    pub parquet_bytes: u64,
    pub parquet_bytes_per_row: f64,
    pub read_mb_per_s: f64,
    pub invocations_per_s: f64,
    pub elapsed_s: f64,
}

/// What a run did to the embedded ledger.
#[derive(Debug, Serialize)]
pub struct LedgerSummary {
    pub path: Option<String>,
    pub applied: usize,
    pub already_counted: usize,
    pub conflicting_duplicates: usize,
    pub unwindowed: usize,
    pub timezone: String,
    pub windows: usize,
    /// The logs' own clock: the latest invocation in the ledger.
    pub decided_at: Option<String>,
}

pub struct RunArgs<'a> {
    pub inputs: &'a [PathBuf],
    pub lake: Option<&'a Path>,
    pub ledger: Option<&'a Path>,
    pub budgets: Option<&'a Path>,
    pub json: bool,
    /// Fail at once, instead of waiting, when another run is writing the lake.
    pub no_wait: bool,
    pub opts: &'a PriceOpts,
}

/// Runs the pipeline; returns its summary.
pub fn run(a: &RunArgs<'_>) -> Result<RunSummary> {
    let t0 = Instant::now();
    // the budget config and the ledger first: a bad config fails before any work
    let budgets = crate::ledger_cmd::budgets(a.budgets)?;
    let ledger = a.ledger.map(crate::ledger_cmd::open).transpose()?;
    // one writer per lake, for the whole run: what is already there is read under the lock
    let lock = a.lake.map(|l| lake::lock(l, !a.no_wait)).transpose()?;
    let pricer = input::pricer(a.opts)?;
    let mut pipe = Pipeline::new(pricer, a.opts.max_decompressed_mib << 20)?;
    let (files, skipped_files) = input::discover(a.inputs)?;
    let progress = std::io::stderr().is_terminal() && !a.json;
    let mut last_progress = Instant::now();

    // Rows stream through: counted, fed to the ledger and written to their partition's part file
    // as they arrive, so memory is bounded by the open partitions and the de-dup keys, never by
    // the run. Each request id (as 16 bytes) with the digest of what it counted: a repeat is a
    // replay or a conflict.
    let mut seen: IdMap<u64> = IdMap::default();
    let mut conflicts: Vec<String> = Vec::new();
    let tag = format!(
        "{}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0),
        std::process::id()
    );
    // with limits to decide on, what the ledger counts is spilled for the timeline, and the
    // windows it counted before are kept to start from
    let timeline = ledger.is_some() && budgets.limits_anything();
    let before = match (&ledger, timeline) {
        (Some(l), true) => l.windows_now(&Default::default())?,
        _ => Vec::new(),
    };
    let mut feed = match (&ledger, a.ledger) {
        (Some(l), Some(path)) => Some(crate::ledger_cmd::LedgerFeed::new(
            l,
            timeline
                .then(|| crate::spill::DaySpill::new(path))
                .transpose()?,
        )),
        _ => None,
    };
    let mut sink = a.lake.map(|l| lake::LakeWriter::new(l, tag)).transpose()?;
    let mut partitions: BTreeSet<String> = BTreeSet::new();
    let mut failure: Option<anyhow::Error> = None;
    let mut t = Tally::default();
    let mut duplicates_in_input = 0usize;
    let mut unreadable: BTreeMap<String, usize> = BTreeMap::new();
    let mut unreadable_files: Vec<String> = Vec::new();
    let mut reported = 0usize;
    let mut decompressed = 0usize;
    let mut control = 0usize;

    for (fi, source) in files.iter().enumerate() {
        let shown = source.to_string();
        let bytes = match source.read() {
            Ok(b) => b,
            Err(e) => {
                *unreadable.entry("unreadable_file".into()).or_default() += 1;
                unreadable_files.push(shown.clone());
                eprintln!("{e:#}");
                continue;
            }
        };
        let mut on_row = |r: PricedRow<'_>| {
            if failure.is_some() {
                return;
            }
            let digest = content_digest(&r);
            // the first is kept: files are read in sorted order, so the choice is stable
            let id = IdKey::of(&r.request_id);
            if let Some(first) = seen.first(id, digest) {
                duplicates_in_input += 1;
                if *first != digest {
                    conflicts.push(r.request_id.to_string());
                }
                return;
            }
            t.invocations += 1;
            t.cost += r.cost_usd;
            let p = t.by_principal.entry(r.principal.to_string()).or_default();
            p.0 += r.cost_usd;
            p.1 += 1;
            let m = t.by_model.entry(r.model.to_string()).or_default();
            m.0 += r.cost_usd;
            m.1 += 1;
            match r.price_status {
                PriceStatus::Fallback => t.fallback += 1,
                PriceStatus::Estimated => t.estimated += 1,
                PriceStatus::NotTokenPriced => t.not_token_priced += 1,
                PriceStatus::ErrorNoCharge => t.errors_no_charge += 1,
                PriceStatus::Exact => {}
            }
            if !partitions.contains(r.dt.as_str()) {
                partitions.insert(r.dt.clone());
            }
            let fed = match &mut feed {
                Some(f) => f.push(&r, &budgets),
                None => Ok(()),
            };
            let written = match &mut sink {
                Some(w) => fed.and_then(|()| w.push(id, r)),
                None => fed,
            };
            if let Err(e) = written {
                failure = Some(e);
            }
        };
        let mut on_bad = |place: input::Place, problem: input::Problem| {
            *unreadable.entry(problem.reason.to_string()).or_default() += 1;
            if reported < 20 {
                eprintln!("{shown}: {place}: {problem}");
            }
            reported += 1;
        };
        let read = for_each_row(&mut pipe, &bytes, &mut on_row, &mut on_bad);
        // a write that failed (disk full, the ledger) ends the run before it publishes any file;
        // ledger transactions already made stay, and a re-run counts nothing twice
        if let Some(e) = failure.take() {
            return Err(e);
        }
        match read {
            Ok(s) => {
                decompressed += s.decompressed_bytes;
                control += s.control_messages;
            }
            Err(e) => {
                *unreadable.entry("unreadable_file".into()).or_default() += 1;
                unreadable_files.push(shown.clone());
                eprintln!("{shown}: {e:#}");
            }
        }
        if progress && last_progress.elapsed().as_millis() >= 250 {
            eprint!(
                "\r  {}/{} files, {} invocations, {:.1} MB",
                fi + 1,
                files.len(),
                t.invocations,
                decompressed as f64 / 1e6
            );
            last_progress = Instant::now();
        }
    }
    if progress {
        eprintln!();
    }
    if reported > 20 {
        eprintln!(
            "... and {} more problems (counted in the summary)",
            reported - 20
        );
    }
    let read_s = t0.elapsed().as_secs_f64();

    // The ledger: every unique invocation, counted once per window (markers make re-runs safe).
    let mut decisions = Vec::new();
    let ledger_summary = match &ledger {
        None => None,
        Some(l) => {
            let (applied, unwindowed, spill) = match feed.take() {
                Some(f) => f.finish()?,
                None => Default::default(),
            };
            conflicts.extend(applied.conflicts.iter().cloned());
            let windows = l.windows_now(&Default::default())?;
            // Local enforcement runs on the logs' own clock: "now" is the latest invocation in
            // the ledger. This run's invocations are decided in time order first (a suspension
            // and its restore at midnight both show), then every key at "now" (a budget lowered
            // since the last run reaches windows this run did not touch).
            let now = windows.iter().map(|w| w.totals.last_event_ms).max();
            if let Some(now) = now {
                if let Some(spill) = spill {
                    decisions =
                        crate::ledger_cmd::timeline_decisions(l, &budgets, &before, spill, now)?;
                }
                decisions.extend(
                    l.enforce_local(&budgets, now)?
                        .iter()
                        .map(|d| d.record(Some(now))),
                );
            }
            Some(LedgerSummary {
                path: a.ledger.map(|p| p.display().to_string()),
                applied: applied.applied,
                already_counted: applied.already,
                conflicting_duplicates: applied.conflicts.len(),
                unwindowed,
                timezone: budgets.timezone_name.clone(),
                windows: windows.len(),
                decided_at: now
                    .and_then(|n| jiff::Timestamp::from_millisecond(n).ok())
                    .map(|t| t.to_string()),
            })
        }
    };

    // Publish the run's part files (a row already in its partition was not written).
    let (already, published) = match sink {
        Some(w) => (w.already, w.publish()?),
        None => (0, lake::Published::default()),
    };
    let (rows_written, parquet_bytes) = (published.rows, published.bytes);
    let files_written: Vec<String> = published
        .files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let partitions: Vec<String> = partitions.into_iter().collect();
    let elapsed = t0.elapsed().as_secs_f64();
    let unreadable_total: usize = unreadable.values().sum();
    let obj = |m: &HashMap<String, (Decimal, usize)>| {
        m.iter()
            .map(|(k, (c, _))| (k.clone(), money(*c)))
            .collect::<BTreeMap<String, String>>()
    };
    let ratio = |a: f64, b: f64, scale: f64| {
        if b > 0.0 {
            (a / b * scale).round() / scale
        } else {
            0.0
        }
    };
    Ok(RunSummary {
        invocations: t.invocations,
        cost_usd: money(t.cost),
        by_principal: obj(&t.by_principal),
        by_model: obj(&t.by_model),
        fallback_priced: t.fallback,
        estimated: t.estimated,
        not_token_priced: t.not_token_priced,
        errors_no_charge: t.errors_no_charge,
        unreadable: unreadable_total,
        unreadable_by_reason: unreadable,
        unreadable_files: unreadable_files.into_iter().take(20).collect(),
        duplicates_in_input,
        conflicting_duplicates: conflicts.len(),
        conflicting_request_ids: conflicts.into_iter().take(20).collect(),
        already_in_lake: already,
        stale_temp_files_removed: lock.as_ref().map_or(0, |l| l.stale_removed),
        lake: a.lake.map(|p| p.display().to_string()),
        ledger: ledger_summary,
        decisions,
        rows_written,
        files_written,
        partitions,
        input_files: files.len(),
        skipped_files,
        control_messages: control,
        decompressed_mb: (decompressed as f64 / 1e4).round() / 100.0,
        parquet_bytes,
        parquet_bytes_per_row: ratio(parquet_bytes as f64, rows_written as f64, 10.0),
        read_mb_per_s: ratio(decompressed as f64 / 1e6, read_s, 10.0),
        invocations_per_s: ratio(t.invocations as f64, elapsed, 1.0),
        elapsed_s: (elapsed * 1000.0).round() / 1000.0,
    })
}

/// The human summary of a run.
pub fn print_summary(s: &RunSummary) {
    println!(
        "priced {} invocations, total ${} ({} fallback-priced, {} estimated, {} unreadable)",
        s.invocations, s.cost_usd, s.fallback_priced, s.estimated, s.unreadable
    );
    if s.lake.is_some() {
        println!(
            "lake: {} rows written to {} partition(s) ({} already present, {} duplicates in input), {} B/row",
            s.rows_written,
            s.partitions.len(),
            s.already_in_lake,
            s.duplicates_in_input,
            s.parquet_bytes_per_row
        );
    }
    if !s.unreadable_by_reason.is_empty() {
        let parts: Vec<String> = s
            .unreadable_by_reason
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        println!("unreadable, by reason: {}", parts.join(", "));
        for f in &s.unreadable_files {
            println!("  unreadable file: {f}");
        }
    }
    if s.conflicting_duplicates > 0 {
        println!(
            "{} request id(s) seen again with DIFFERENT contents (the first counted is kept): {}",
            s.conflicting_duplicates,
            s.conflicting_request_ids.join(", ")
        );
    }
    if let Some(l) = &s.ledger {
        println!(
            "ledger {}: {} invocations counted now, {} already counted, {} windows ({})",
            l.path.as_deref().unwrap_or(""),
            l.applied,
            l.already_counted,
            l.windows,
            l.timezone
        );
    }
    if !s.decisions.is_empty() {
        println!("budget decisions, on the logs' clock (local: recorded in the ledger file, nothing applied to IAM):");
        for d in s.decisions.iter().take(20) {
            println!(
                "  {} {:<13} {} ({}) {} {} {}{}: ${} of ${}",
                d.at.as_deref().unwrap_or(""),
                d.action.as_str(),
                d.principal,
                d.scope,
                d.window
                    .map_or("", spendguard_core::window::WindowKind::as_str),
                d.window_start.as_deref().unwrap_or(""),
                d.threshold_pct.map_or(String::new(), |p| format!("{p}%")),
                if d.protected { " protected" } else { "" },
                d.spend_usd.map_or("-".into(), |v| v.to_string()),
                d.limit_usd.map_or("-".into(), |v| v.to_string()),
            );
        }
        if s.decisions.len() > 20 {
            println!("  ... and {} more (see --json)", s.decisions.len() - 20);
        }
    }
    println!(
        "read {} MB decompressed at {} MB/s, {} invocations/s, {} s",
        s.decompressed_mb, s.read_mb_per_s, s.invocations_per_s, s.elapsed_s
    );
    for (title, m) in [
        ("top principals", &s.by_principal),
        ("top models", &s.by_model),
    ] {
        println!("{title}:");
        let mut v: Vec<(Decimal, &String)> = m
            .iter()
            .map(|(k, c)| (c.parse().unwrap_or_default(), k))
            .collect();
        v.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        for (cost, k) in v.into_iter().take(5) {
            println!("  {:>14}  {k}", format!("${}", money(cost)));
        }
    }
}
