//! Our own processing from a Kinesis batch arriving at the aggregator to the deny being written,
//! grace 0, with no emulator or network: the aggregator's handler on one CloudWatch Logs envelope
//! (embedded in-memory ledger), the evaluator on the window items it wrote (as stream records),
//! the enforcer on the state event (in-memory enforcement table, IAM and topic). Prints p50, p99
//! and max over many runs, each with a fresh user. The emulator figures are in `tests/e2e.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use async_trait::async_trait;
use base64::Engine;
use serde_json::{json, Value};
use spendguard_aggregator::{handle, Deps, KinesisEvent};
use spendguard_core::budget::BudgetConfig;
use spendguard_core::clock::{Clock, SystemClock};
use spendguard_core::enforce::KeyRef;
use spendguard_core::ledger::{Query, WindowTotal};
use spendguard_core::synth::{envelope_json, gzip};
use spendguard_embedded::EmbeddedLedger;
use spendguard_enforcer::engine::{Overflow, Settings};
use spendguard_enforcer::evaluator::stream_record;
use spendguard_enforcer::memory::{MemBus, MemIam, MemStore, MemTopic, Principal};
use spendguard_enforcer::ports::{PortResult, Windows};
use spendguard_enforcer::App;
use std::sync::Arc;
use std::time::{Duration, Instant};

const RUNS: usize = 2000;
const POLICY: &str = "arn:aws:iam::123456789012:policy/spendguard-deny";
const BUDGETS: &str =
    "[defaults]\ndaily_usd = \"0.000001\"\nmonthly_usd = \"1000\"\ngrace_seconds = 0\n";

/// The embedded ledger read through the enforcer's port.
#[derive(Clone)]
struct Ledger(Arc<EmbeddedLedger>);

#[async_trait]
impl Windows for Ledger {
    async fn of_key(&self, key: &KeyRef) -> PortResult<Vec<WindowTotal>> {
        Ok(self
            .0
            .windows_now(&Query {
                key: Some(key.key.clone()),
                kind: None,
            })
            .unwrap()
            .into_iter()
            .filter(|w| w.window.scope == key.scope)
            .collect())
    }
    async fn keys_with_windows(&self, _: &str, _: &str) -> PortResult<Vec<KeyRef>> {
        Ok(Vec::new())
    }
}

impl spendguard_core::ledger::SpendLedger for Ledger {
    fn apply(
        &self,
        entries: &[spendguard_core::ledger::Entry],
    ) -> impl std::future::Future<
        Output = Result<spendguard_core::ledger::Applied, spendguard_core::ledger::LedgerError>,
    > + Send {
        self.0.apply(entries)
    }
    fn windows(
        &self,
        q: &Query,
    ) -> impl std::future::Future<
        Output = Result<Vec<WindowTotal>, spendguard_core::ledger::LedgerError>,
    > + Send {
        self.0.windows(q)
    }
}

fn kinesis_event(user: &str, run: usize, now: i64) -> KinesisEvent {
    let mut r: Value =
        serde_json::from_str(spendguard_schemas::fixtures::BEDROCK_CONVERSE_GLOBAL).unwrap();
    r["identity"]["arn"] = json!(user);
    r["requestId"] = json!(format!("req-{run}"));
    r["timestamp"] = json!(jiff::Timestamp::from_millisecond(now).unwrap().to_string());
    let env = gzip(envelope_json("123456789012", &[(r.to_string(), now)], run as u64).as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD;
    serde_json::from_value(json!({"Records": [{"kinesis": {"partitionKey": "p",
        "sequenceNumber": format!("{run:056}"), "data": b64.encode(env)}}]}))
    .unwrap()
}

fn pct(v: &[Duration], p: usize) -> Duration {
    v[((v.len() * p).div_ceil(100))
        .saturating_sub(1)
        .min(v.len() - 1)]
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ledger = Arc::new(EmbeddedLedger::in_memory().unwrap());
    let deps = Deps::new(
        spendguard_aws::pricing::PricingConfig::default()
            .pipeline()
            .unwrap(),
        BudgetConfig::parse(BUDGETS).unwrap(),
        Ledger(ledger.clone()),
        Arc::new(SystemClock),
        Some(14 * 86_400_000),
    );
    let iam = MemIam::new();
    let bus = MemBus::default();
    let app = App::new(
        Box::new(MemStore::default()),
        Box::new(Ledger(ledger.clone())),
        Box::new(iam.clone()),
        Box::new(MemTopic::default()),
        Box::new(bus.clone()),
        Arc::new(SystemClock),
        Settings {
            deny_policy_arn: POLICY.into(),
            suspended_group: None,
            session_overflow: Overflow::Role,
            managed_quota: 10,
            enforceable: Default::default(),
            own_role_arn: None,
        },
        BUDGETS.into(),
    );
    let mut stages: [Vec<Duration>; 4] = Default::default();
    for run in 0..RUNS {
        let name = format!("u{run}");
        iam.users
            .lock()
            .unwrap()
            .insert(name.clone(), Principal::default());
        let user = format!("arn:aws:iam::123456789012:user/{name}");
        let event = kinesis_event(&user, run, SystemClock.now_ms());
        rt.block_on(async {
            let t0 = Instant::now();
            let (resp, _) = handle(&event, &deps).await;
            assert!(resp.batch_item_failures.is_empty());
            let t1 = Instant::now();
            let windows = Ledger(ledger.clone())
                .of_key(&KeyRef::new(
                    spendguard_core::budget::Scope::Principal,
                    user.clone(),
                ))
                .await
                .unwrap();
            let records: Vec<Value> = windows
                .iter()
                .map(|w| stream_record(w, &format!("{run}")))
                .collect();
            app.evaluate_stream(&json!({ "Records": records }))
                .await
                .unwrap();
            let t2 = Instant::now();
            let state = bus
                .0
                .lock()
                .unwrap()
                .drain(..)
                .find(|e| e.detail_type == "Budget State Changed")
                .expect("a state event");
            let ev = json!({"detail-type": state.detail_type, "source": "spendguard",
                            "detail": serde_json::from_str::<Value>(&state.detail).unwrap()});
            app.enforce_event(&ev).await.unwrap();
            let t3 = Instant::now();
            assert_eq!(
                iam.users.lock().unwrap()[&name].attached,
                vec![POLICY.to_string()]
            );
            stages[0].push(t1 - t0);
            stages[1].push(t2 - t1);
            stages[2].push(t3 - t2);
            stages[3].push(t3 - t0);
        });
    }
    for (name, v) in ["aggregator", "evaluator", "enforcer", "batch to deny"]
        .iter()
        .zip(stages.iter_mut())
    {
        v.sort();
        println!(
            "enforce_latency {name:>13}: p50 {:>9.3?}  p99 {:>9.3?}  max {:>9.3?}  ({RUNS} runs, in process)",
            pct(v, 50),
            pct(v, 99),
            v[v.len() - 1]
        );
    }
}
