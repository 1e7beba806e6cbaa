//! The enforcement commands. `status` is `[local]` with `--ledger PATH` (the embedded ledger and
//! its recorded decisions) and `[AWS]` otherwise; `suspend`, `restore`, `protect` and
//! `budgets push|show` are `[AWS]`. The AWS commands read the same `SPENDGUARD_*` variables as the
//! Lambdas (the stack's outputs), with flags for the two tables, and call the enforcer's library:
//! the same code path, the same audit trail and alerts.

use anyhow::{bail, Context, Result};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{json, Value};
use spendguard_core::budget::Mode;
use spendguard_core::budget::{BudgetConfig, Scope};
use spendguard_core::clock::{Clock, SystemClock};
use spendguard_core::enforce::Hold;
use spendguard_core::enforce::{evaluate, Evaluation, KeyRef, KeyState, Status};
use spendguard_core::ledger::Query;
use spendguard_core::window::WindowKind;
use spendguard_enforcer::App;
use spendguard_schemas::event::AuditRecord;
use spendguard_schemas::words::Mechanism;
use std::path::Path;
use std::sync::Arc;

/// Where the AWS commands find the stack.
#[derive(clap::Args, Debug, Clone)]
pub struct AwsOpts {
    /// The ledger table (default: $SPENDGUARD_LEDGER_TABLE).
    #[arg(long, value_name = "NAME")]
    pub ledger_table: Option<String>,
    /// The enforcement table (default: $SPENDGUARD_ENFORCEMENT_TABLE).
    #[arg(long, value_name = "NAME")]
    pub enforcement_table: Option<String>,
    /// An emulator's endpoint instead of AWS.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
}

/// `--scope`: which budget key the ARN is.
#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum ScopeArg {
    Principal,
    Session,
    Team,
}

/// The key for `--principal`: a session ARN is a session key unless told otherwise.
pub fn key_of(principal: &str, scope: Option<ScopeArg>) -> KeyRef {
    let scope = match scope {
        Some(ScopeArg::Principal) => Scope::Principal,
        Some(ScopeArg::Session) => Scope::Session,
        Some(ScopeArg::Team) => Scope::Team,
        None if principal.contains(":assumed-role/") => Scope::Session,
        None => Scope::Principal,
    };
    KeyRef::new(scope, principal)
}

/// `--until`: an RFC 3339 time.
pub fn until_ms(s: Option<&str>) -> Result<Option<i64>> {
    s.map(|t| {
        spendguard_schemas::time::parse_rfc3339_ms(t)
            .map_err(|e| anyhow::anyhow!("--until {t:?}: {e} (expected e.g. 2026-11-23T09:00:00Z)"))
    })
    .transpose()
}

fn rt() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

async fn app(o: &AwsOpts) -> Result<App> {
    if let Some(t) = &o.ledger_table {
        std::env::set_var("SPENDGUARD_LEDGER_TABLE", t);
    }
    if let Some(t) = &o.enforcement_table {
        std::env::set_var("SPENDGUARD_ENFORCEMENT_TABLE", t);
    }
    let config = spendguard_enforcer::Config::from_env()
        .context("the AWS commands read the stack's SPENDGUARD_* variables")?;
    let conf = spendguard_transform::aws::sdk_config(o.endpoint_url.as_deref()).await;
    Ok(spendguard_enforcer::aws_app(&conf, &config, Arc::new(SystemClock)).await)
}

fn ms_to_rfc3339(ms: i64) -> Option<String> {
    (ms != i64::MAX)
        .then(|| jiff::Timestamp::from_millisecond(ms).ok())
        .flatten()
        .map(|t| t.to_string())
}

/// What `status` says about a key (`--json` prints it; the text view reads the same struct).
#[derive(Debug, Serialize)]
struct KeyStatus {
    principal: String,
    scope: Scope,
    state: &'static str,
    over: bool,
    protected: bool,
    since: Option<String>,
    due: Option<String>,
    /// Empty when no deny is recorded.
    mechanism: &'static str,
    lifts_at: Option<String>,
    operator_suspended_until: Option<String>,
    protected_until: Option<String>,
    held: Option<Hold>,
    windows: Vec<WindowView>,
    /// The key's last audit records (`[AWS]` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    audit: Option<Vec<AuditRecord>>,
}

/// One current window of the key (or of its team).
#[derive(Debug, Serialize)]
struct WindowView {
    scope: Scope,
    key: String,
    window: WindowKind,
    window_start: String,
    spend_usd: Decimal,
    limit_usd: Decimal,
    percent: Decimal,
    fallback_usd: Decimal,
    over: bool,
    over_without_fallback: bool,
    mode: Mode,
    thresholds_reached: Vec<u32>,
}

fn key_status(
    ev: &Evaluation,
    st: &KeyState,
    mechanism: Option<Mechanism>,
    lifts: Option<i64>,
) -> KeyStatus {
    KeyStatus {
        principal: ev.key.key.clone(),
        scope: ev.key.scope,
        state: st.status.as_str(),
        over: ev.over(),
        protected: ev.protected,
        since: st.since_ms.and_then(ms_to_rfc3339),
        due: match st.status {
            Status::Pending { due_ms } => ms_to_rfc3339(due_ms),
            _ => None,
        },
        mechanism: mechanism.map_or("", Mechanism::as_str),
        lifts_at: if st.status == Status::Suspended {
            lifts.and_then(ms_to_rfc3339)
        } else {
            None
        },
        operator_suspended_until: st
            .manual_until_ms
            .map(|t| ms_to_rfc3339(t).unwrap_or_else(|| "until restored".into())),
        protected_until: st
            .protected_until_ms
            .map(|t| ms_to_rfc3339(t).unwrap_or_else(|| "forever".into())),
        held: st.held.as_ref().map(|h| h.hold),
        windows: ev
            .windows
            .iter()
            .map(|w| WindowView {
                scope: w.window.scope,
                key: w.window.key.clone(),
                window: w.window.kind,
                window_start: w.window.start.clone(),
                spend_usd: w.spend_usd,
                limit_usd: w.limit_usd,
                percent: w.percent(),
                fallback_usd: w.fallback_usd,
                over: w.over,
                over_without_fallback: w.over_without_fallback,
                mode: w.mode,
                thresholds_reached: w.reached_pct.clone(),
            })
            .collect(),
        audit: None,
    }
}

fn show_status(v: &KeyStatus, json_out: bool) {
    if json_out {
        // through a Value: its keys print sorted, as they always have
        println!("{}", serde_json::to_value(v).unwrap_or_default());
        return;
    }
    println!(
        "{} ({}): {}{}{}{}",
        v.principal,
        v.scope,
        v.state,
        if v.protected { ", protected" } else { "" },
        v.lifts_at
            .as_ref()
            .map_or(String::new(), |t| format!(", lifts by {t} at the latest")),
        v.held.map_or(String::new(), |h| format!(
            ", suspension held ({})",
            match h {
                Hold::Fallback => "over only through fallback-priced spend",
                Hold::Breaker => "the circuit breaker is open",
                Hold::Refused => "the principal is not enforceable, or exempt",
            }
        ))
    );
    for w in &v.windows {
        println!(
            "  {:<5} {} {:<9} ${} of ${} ({}%){}{}{}",
            w.window.as_str(),
            w.window_start,
            w.scope.as_str(),
            w.spend_usd,
            w.limit_usd,
            w.percent,
            if w.over { "  OVER" } else { "" },
            if w.fallback_usd.is_zero() {
                String::new()
            } else {
                format!("  (${} at fallback prices)", w.fallback_usd)
            },
            if w.scope == Scope::Team {
                format!("  team {}", w.key)
            } else {
                String::new()
            }
        );
    }
    if v.windows.is_empty() {
        println!("  no budget applies to any current window of this key");
    }
    for a in v.audit.iter().flatten() {
        println!("  {} {:<13} {}", a.at, a.action.as_str(), a.message);
    }
}

/// `status` on the embedded ledger: the logs' own clock (the latest invocation), as `run` decides.
pub fn status_local(
    ledger: &Path,
    budgets: &BudgetConfig,
    key: &KeyRef,
    json_out: bool,
) -> Result<()> {
    let l = crate::ledger_cmd::open_existing(ledger)?;
    let all = l.windows_now(&Query::default())?;
    let now = all
        .iter()
        .map(|w| w.totals.last_event_ms)
        .max()
        .unwrap_or_else(|| SystemClock.now_ms());
    let ev = evaluate(budgets, key, &all, now);
    let st = l.key_state(key)?;
    show_status(&key_status(&ev, &st, None, None), json_out);
    Ok(())
}

/// `status` on AWS: the ledger table, the enforcement state and the key's last audit records.
pub fn status_aws(o: &AwsOpts, key: &KeyRef, json_out: bool) -> Result<()> {
    rt()?.block_on(async {
        let app = app(o).await?;
        let (_, cfg) = app.budgets().await?;
        let e = app.enforcer(&cfg);
        let ev = e.evaluate(key).await?;
        let st = app.store.state(key).await?;
        let mut v = key_status(&ev, &st.state, st.mechanism, e.lifts_at(&ev));
        let mut audit = app.store.audit_of(key).await?;
        audit.drain(..audit.len().saturating_sub(10));
        v.audit = Some(audit);
        show_status(&v, json_out);
        Ok(())
    })
}

/// An operator action.
#[derive(Debug, Clone, Copy)]
pub enum Act {
    Suspend,
    Restore,
    Protect,
}

/// `suspend`, `restore`, `protect` on AWS (audited, alerted).
pub fn act(o: &AwsOpts, what: Act, key: &KeyRef, until: Option<i64>, reason: &str) -> Result<()> {
    rt()?.block_on(async {
        let app = app(o).await?;
        if app.settings.deny_policy_arn.is_empty() && !matches!(what, Act::Protect) {
            bail!("SPENDGUARD_DENY_POLICY_ARN is not set (the stack's deny policy)");
        }
        let (_, cfg) = app.budgets().await?;
        let e = app.enforcer(&cfg);
        match what {
            Act::Suspend => e.suspend_now(key, until, reason).await?,
            Act::Restore => e.restore_now(key, until, reason).await?,
            Act::Protect => e.protect(key, until, reason).await?,
        };
        let st = app.store.state(key).await?;
        println!(
            "{}",
            json!({"principal": key.key, "scope": key.scope.as_str(), "state": st.state.status.as_str(),
                   "mechanism": st.mechanism.map_or("", Mechanism::as_str),
                   "protected_until": st.state.protected_until_ms.map(|t| ms_to_rfc3339(t).unwrap_or_else(|| "forever".into())),
                   "operator_suspended_until": st.state.manual_until_ms.map(|t| ms_to_rfc3339(t).unwrap_or_else(|| "until restored".into()))})
        );
        Ok(())
    })
}

fn breaker_json(b: &spendguard_enforcer::ports::BreakerState) -> Value {
    match &b.open {
        None => json!({"breaker": "closed", "epoch": b.epoch}),
        Some(t) => json!({
            "breaker": "open", "epoch": b.epoch, "opened_at": ms_to_rfc3339(t.at_ms),
            "count": t.count, "max_suspensions": t.max_suspensions,
            "window_minutes": t.window_minutes, "opened_by": t.by, "keys": t.keys,
            "operator_alert_sent": t.alerted,
        }),
    }
}

/// `enforcement status`: the circuit breaker's state.
pub fn breaker_status(o: &AwsOpts, json_out: bool) -> Result<()> {
    rt()?.block_on(async {
        let app = app(o).await?;
        let b = app.store.breaker().await?;
        let v = breaker_json(&b);
        if json_out {
            println!("{v}");
        } else if let Some(t) = &b.open {
            println!(
                "circuit breaker OPEN since {}: {} suspensions within {} minutes (limit {}), \
                 opened by {}; suspensions are held until `spendguard enforcement resume`",
                v["opened_at"].as_str().unwrap_or(""),
                t.count,
                t.window_minutes,
                t.max_suspensions,
                t.by
            );
            for k in &t.keys {
                println!("  {k}");
            }
        } else {
            println!("circuit breaker closed: suspensions go ahead");
        }
        Ok(())
    })
}

/// `enforcement resume`: re-arms the circuit breaker (audited, alerted).
pub fn breaker_resume(o: &AwsOpts, reason: &str) -> Result<()> {
    rt()?.block_on(async {
        let app = app(o).await?;
        let (_, cfg) = app.budgets().await?;
        let before = app.enforcer(&cfg).resume_breaker(reason).await?;
        let after = app.store.breaker().await?;
        println!(
            "{}",
            json!({"before": breaker_json(&before), "now": breaker_json(&after),
                   "note": "held keys still over budget are suspended at the enforcer's next scheduled run"})
        );
        Ok(())
    })
}

/// `budgets push FILE`: validates, then stores the document where the functions load it.
pub fn budgets_push(o: &AwsOpts, file: &Path) -> Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("{}", file.display()))?;
    BudgetConfig::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    rt()?.block_on(async {
        let app = app(o).await?;
        let v = app.store.put_budgets(&text).await?;
        println!(
            "{}",
            json!({"version": v, "bytes": text.len(),
                   "note": "the evaluator and enforcer use it from their next invocation, the aggregator within 30 s; the enforcer's next scheduled run re-evaluates every key with spend this month"})
        );
        Ok(())
    })
}

/// `budgets show`: the document in force and its version.
pub fn budgets_show(o: &AwsOpts) -> Result<()> {
    rt()?.block_on(async {
        let app = app(o).await?;
        match app.store.budgets().await? {
            Some(d) => {
                eprintln!("# version {}", d.version);
                print!("{}", d.text);
            }
            None => {
                eprintln!("# nothing pushed: the functions use their SPENDGUARD_BUDGETS variable")
            }
        }
        Ok(())
    })
}
