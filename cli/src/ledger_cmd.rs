//! The spend ledger from the CLI: applying priced rows to the embedded ledger (`run --ledger`)
//! and deciding on them in time order (`run --budgets`), reading it back (`ledger`), and `redrive`, which re-applies Kinesis batches that the
//! aggregator's event source mapping gave up on (its S3 on-failure records) to the embedded
//! ledger or to the DynamoDB ledger table.

use crate::spill::DaySpill;
use anyhow::{bail, Context, Result};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use spendguard_aggregator::dynamo::DynamoLedger;
use spendguard_aggregator::{handle, BatchReport, Deps, KinesisEvent};
use spendguard_core::budget::{BudgetConfig, Scope};
use spendguard_core::clock::{Clock, SystemClock};
use spendguard_core::enforce::{Action, DecisionRecord, KeyRef, KeyState};
use spendguard_core::ledger::{Applied, Entry, Query, SpendLedger, WindowTotal};
use spendguard_core::timeline::{Caller, Options, Replay};
use spendguard_core::window::WindowKind;
use spendguard_core::Pipeline;
use spendguard_embedded::EmbeddedLedger;
use spendguard_schemas::PricedRow;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Reads and validates the budget config (`None`: UTC, no teams).
pub fn budgets(path: Option<&Path>) -> Result<BudgetConfig> {
    let text = match path {
        Some(p) => std::fs::read_to_string(p).with_context(|| format!("{}", p.display()))?,
        None => String::new(),
    };
    BudgetConfig::parse(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e}",
            path.map_or("budgets".into(), |p| p.display().to_string())
        )
    })
}

pub fn open(path: &Path) -> Result<EmbeddedLedger> {
    EmbeddedLedger::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Opens a ledger that must exist (commands that only read one never create it).
pub fn open_existing(path: &Path) -> Result<EmbeddedLedger> {
    EmbeddedLedger::open_existing(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Feeds priced rows to the embedded ledger as they arrive, one transaction per 20,000
/// invocations, so a run never holds its rows for the ledger. With a spill, each invocation the
/// ledger counted (not one it had counted before) is also spilled for the run's timeline.
#[derive(Debug)]
pub struct LedgerFeed<'l> {
    ledger: &'l EmbeddedLedger,
    batch: Vec<Entry>,
    pub total: Applied,
    /// Rows whose event time has no window (never in real logs: the pricer checks the time).
    pub unwindowed: usize,
    spill: Option<DaySpill>,
}

impl<'l> LedgerFeed<'l> {
    pub fn new(ledger: &'l EmbeddedLedger, spill: Option<DaySpill>) -> LedgerFeed<'l> {
        LedgerFeed {
            ledger,
            batch: Vec::new(),
            total: Applied::default(),
            unwindowed: 0,
            spill,
        }
    }

    pub fn push(&mut self, row: &PricedRow<'_>, cfg: &BudgetConfig) -> Result<()> {
        match Entry::of(row, cfg, 0) {
            Some(e) => self.batch.push(e),
            None => self.unwindowed += 1,
        }
        if self.batch.len() >= 20_000 {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        let mut spilled: Result<()> = Ok(());
        let spill = &mut self.spill;
        let applied = self.ledger.apply_now_each(&self.batch, |e| {
            let Some(sp) = spill.as_mut() else { return };
            if spilled.is_err() {
                return;
            }
            let of = |scope: Scope| {
                e.windows
                    .iter()
                    .find(|w| w.scope == scope)
                    .map(|w| w.key.as_str())
            };
            let fallback = !e.amount.fallback_usd.is_zero();
            if let Some(p) = of(Scope::Principal) {
                spilled = sp.push(
                    e.event_ms,
                    p,
                    of(Scope::Session),
                    e.amount.cost_usd,
                    fallback,
                );
            }
        })?;
        spilled?;
        self.total.merge(applied);
        self.batch.clear();
        Ok(())
    }

    /// Applies what is left; returns what the whole feed applied, the unwindowed count and the
    /// spill of what it counted.
    pub fn finish(mut self) -> Result<(Applied, usize, Option<DaySpill>)> {
        self.flush()?;
        Ok((self.total, self.unwindowed, self.spill.take()))
    }
}

/// `run --budgets`: the invocations this run counted, replayed in event-time order from where
/// the ledger stood (its windows before the run, its recorded key states) up to `now`, each
/// decision at the time it would have been taken (`core::timeline`, the Lambdas' own rules). The
/// states and alerts it ends with are recorded in the ledger file.
pub fn timeline_decisions(
    ledger: &EmbeddedLedger,
    cfg: &BudgetConfig,
    before: &[WindowTotal],
    spill: DaySpill,
    now: i64,
) -> Result<Vec<DecisionRecord>> {
    let mut r = Replay::new(cfg, Options::default());
    let Some(first) = spill.first_ms() else {
        return Ok(Vec::new());
    };
    // the windows an earlier run counted that this run's invocations can still add to
    if let Some((day, month)) = spendguard_core::window::window_starts(&cfg.timezone, first) {
        for w in before {
            let bound = match w.window.kind {
                WindowKind::Day => &day,
                WindowKind::Month => &month,
            };
            if w.window.start >= *bound {
                r.seed_window(w);
            }
        }
    }
    let mut touched: HashSet<KeyRef> = HashSet::new();
    for (k, st) in ledger
        .watched_states()
        .map_err(|e| anyhow::anyhow!("{e}"))?
    {
        touched.insert(k.clone());
        r.seed_state(k, st, first);
    }
    let mut callers: Vec<Option<Caller>> = Vec::new();
    spill.for_each_day(|sp, rows| {
        for row in rows {
            let i = row.caller as usize;
            if callers.len() <= i {
                callers.resize(i + 1, None);
            }
            let c = match callers[i] {
                Some(c) => c,
                None => {
                    let Some((p, s)) = sp.caller(row.caller) else {
                        continue;
                    };
                    let c = r.caller(p, s);
                    callers[i] = Some(c);
                    c
                }
            };
            r.invoke(row.at, c, row.cost, row.fallback);
        }
    })?;
    r.advance(now);
    let mut alerts = Vec::new();
    let mut out = Vec::with_capacity(r.decisions().len());
    for t in r.decisions() {
        let d = &t.decision;
        match (d.action, &d.window, d.threshold_pct) {
            (Action::Alert, Some(w), Some(pct)) => alerts.push((w.clone(), pct)),
            _ => {
                touched.insert(d.key.clone());
            }
        }
        out.push(d.record(Some(t.at_ms)));
    }
    let states: Vec<(KeyRef, KeyState)> = r
        .keys()
        .filter(|k| touched.contains(k.key))
        .map(|k| (k.key.clone(), k.state.clone()))
        .collect();
    ledger
        .record_decisions(&states, &alerts)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(out)
}

fn money(d: Decimal) -> String {
    d.normalize().to_string()
}

/// `spendguard ledger`: the windows, as a table or as the JSON list the issue defines.
pub fn show(
    path: &Path,
    key: Option<&str>,
    window: Option<WindowKind>,
    as_json: bool,
) -> Result<()> {
    let l = open_existing(path)?;
    let ws = l.windows_now(&Query {
        key: key.map(str::to_string),
        kind: window,
    })?;
    if as_json {
        let v: Vec<Value> = ws
            .iter()
            .map(|w| {
                json!({"scope": w.window.scope.as_str(), "key": w.window.key,
                       "window": w.window.kind.as_str(), "window_start": w.window.start,
                       "spend_usd": money(w.totals.cost_usd), "invocations": w.totals.invocations})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "{:<9} {:<6} {:<10} {:>14} {:>11}  key",
        "scope", "window", "start", "spend_usd", "invocations"
    );
    for w in &ws {
        println!(
            "{:<9} {:<6} {:<10} {:>14} {:>11}  {}",
            w.window.scope.as_str(),
            w.window.kind.as_str(),
            w.window.start,
            money(w.totals.cost_usd),
            w.totals.invocations,
            w.window.key
        );
    }
    println!("{} windows, {} invocations counted", ws.len(), l.counted()?);
    Ok(())
}

/// The Kinesis batches in an on-failure record (the whole invocation record, as S3 destinations
/// keep it: `payload` holds the event, as JSON text or as an object) or in a bare event file.
pub fn events_in(text: &str) -> Result<Vec<KinesisEvent>> {
    let v: Value = serde_json::from_str(text).context("not JSON")?;
    let payload = match v.get("payload") {
        Some(Value::String(s)) => serde_json::from_str(s).context("payload is not JSON")?,
        Some(p) => p.clone(),
        None => v.clone(),
    };
    if payload.get("Records").is_none() {
        if v.get("KinesisBatchInfo").is_some() {
            bail!(
                "this on-failure record holds only metadata (an SQS or SNS destination): the \
                 records must be read from the stream; use an S3 destination, which keeps them"
            );
        }
        bail!("neither a Kinesis event nor an on-failure record with a payload");
    }
    Ok(vec![
        serde_json::from_value(payload).context("not a Kinesis event")?
    ])
}

/// Where `redrive` applies.
#[derive(Debug)]
pub enum Target {
    Embedded(PathBuf),
    Dynamo {
        table: String,
        endpoint_url: Option<String>,
    },
}

async fn redrive_with<L: SpendLedger>(deps: &Deps<L>, inputs: &[PathBuf]) -> Result<Value> {
    let mut totals = BatchReport::default();
    let mut failed = Vec::new();
    let mut batches = 0;
    for f in crate::input::discover(inputs)?.0 {
        let text = String::from_utf8(f.read()?).with_context(|| format!("{f}: not UTF-8 text"))?;
        for ev in events_in(&text).with_context(|| f.to_string())? {
            let (resp, r) = handle(&ev, deps).await;
            batches += 1;
            totals.stats.records += r.stats.records;
            totals.stats.priced += r.stats.priced;
            totals.stats.undecodable_records += r.stats.undecodable_records;
            totals.stats.bad_events += r.stats.bad_events;
            totals.in_batch_conflicts.extend(r.in_batch_conflicts);
            totals.applied.merge(r.applied);
            totals.beyond_horizon += r.beyond_horizon;
            totals.spend_dropped += r.spend_dropped;
            if let Some(fl) = resp.batch_item_failures.first() {
                failed.push(
                    json!({"file": f.to_string(), "from_sequence_number": fl.item_identifier}),
                );
            }
        }
    }
    Ok(json!({
        "batches": batches, "records": totals.stats.records, "invocations": totals.stats.priced,
        "applied": totals.applied.applied, "already_counted": totals.applied.already,
        "conflicting_duplicates": totals.conflicts().count(),
        "conflicting_request_ids": totals.conflicts().take(20).collect::<Vec<_>>(),
        "beyond_horizon": totals.beyond_horizon, "spend_dropped": totals.spend_dropped,
        "undecodable_records": totals.stats.undecodable_records, "bad_events": totals.stats.bad_events,
        "computed_write_units": totals.applied.computed_write_units,
        "failed": failed,
    }))
}

/// `spendguard redrive`: re-applies on-failure records; safe to repeat (the markers de-duplicate).
pub fn redrive(
    inputs: &[PathBuf],
    target: Target,
    budgets_file: Option<&Path>,
    pipeline: Pipeline,
    horizon_days: u32,
) -> Result<Value> {
    let cfg = budgets(budgets_file)?;
    // problems on stderr; the per-batch metrics line is for CloudWatch, not a terminal
    spendguard_aws::log::init_stderr(false);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match target {
        Target::Embedded(path) => {
            let deps = Deps::new(pipeline, cfg, open(&path)?, clock, None);
            rt.block_on(redrive_with(&deps, inputs))
        }
        Target::Dynamo {
            table,
            endpoint_url,
        } => rt.block_on(async {
            let conf = spendguard_transform::aws::sdk_config(endpoint_url.as_deref()).await;
            let horizon_ms = i64::from(horizon_days) * 86_400_000;
            let ledger = DynamoLedger::new(
                aws_sdk_dynamodb::Client::new(&conf),
                table,
                horizon_ms / 1000,
            );
            let deps = Deps::new(pipeline, cfg, ledger, clock, Some(horizon_ms));
            redrive_with(&deps, inputs).await
        }),
    }
}
