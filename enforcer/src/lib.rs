//! spendguard-enforcer: budgets in force. Two Lambdas share this crate:
//!
//! - `spendguard-evaluator` ([`evaluator`]): the ledger table's DynamoDB Stream in, typed events
//!   (`Budget Threshold Crossed`, `Budget State Changed`) out to the project's EventBridge bus.
//! - `spendguard-enforcer` ([`engine`]): triggered by EventBridge rules (our events, CloudTrail IAM
//!   events for the tamper response) and by a one-minute schedule (grace periods, restoration at
//!   window reset, budgets changes, drift repair). It alerts, suspends through an IAM deny it
//!   owns, restores exactly, and audits every action.
//!
//! Grace periods run on the schedule: a key over budget is recorded `pending` with its due time
//! and the first tick at or after it suspends. That is at most one tick period (60 s) late, needs
//! no per-key schedule to create and clean up, and the same tick restores, reconciles and picks up
//! budgets pushed since the last run.
//!
//! `lib.rs` unpacks events and packs responses (`config.rs` reads the environment, `error.rs` says
//! what can fail); the decisions are `spendguard_core::enforce`, the SDK calls `aws.rs`.

pub mod aws;
mod config;
pub mod engine;
mod error;
pub mod evaluator;
#[cfg(any(test, feature = "test-util"))]
pub mod memory;
pub mod ports;
#[cfg(feature = "test-util")]
pub mod testkit;

pub use config::Config;
use engine::{Cause, Enforcer, Report, Settings};
pub use error::{ConfigError, HandlerError};
use ports::{Bus, Iam, Notifier, Store, Windows};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use spendguard_core::budget::{BudgetConfig, InForce, Offer};
use spendguard_core::clock::Clock;
use spendguard_core::enforce::KeyRef;
use spendguard_schemas::event::{EnforcerEvent, EnforcerInput};
use std::sync::{Arc, Mutex};

/// Everything both handlers need.
pub struct App {
    pub store: Box<dyn Store>,
    pub windows: Box<dyn Windows>,
    pub iam: Box<dyn Iam>,
    pub notify: Box<dyn Notifier>,
    pub bus: Box<dyn Bus>,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
    pub fallback_budgets: String,
    pub function_name: String,
    cache: Mutex<Option<InForce>>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl App {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Box<dyn Store>,
        windows: Box<dyn Windows>,
        iam: Box<dyn Iam>,
        notify: Box<dyn Notifier>,
        bus: Box<dyn Bus>,
        clock: Arc<dyn Clock>,
        settings: Settings,
        fallback_budgets: String,
    ) -> App {
        App {
            store,
            windows,
            iam,
            notify,
            bus,
            clock,
            settings,
            fallback_budgets,
            function_name: "spendguard-enforcer".into(),
            cache: Mutex::new(None),
        }
    }

    /// The budgets in force: the pushed document (one consistent read per invocation, parsed
    /// again only when its version changes), else `SPENDGUARD_BUDGETS`. A document that does not
    /// parse is refused and the budgets in force stay ([`InForce::offer`], the aggregator's rule
    /// too): logged, with its metric, every time it is read. Only with nothing in force yet (a
    /// cold start on a bad document) does `SPENDGUARD_BUDGETS` stand in; if that does not parse
    /// either, the call fails.
    pub async fn budgets(&self) -> Result<(u64, Arc<BudgetConfig>), HandlerError> {
        let doc = self.store.budgets().await?;
        let (version, text) = match doc {
            Some(d) => (d.version, d.text),
            None => (0, self.fallback_budgets.clone()),
        };
        let mut guard = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let offer = match guard.as_mut() {
            Some(f) => f.offer(version, &text),
            None => match BudgetConfig::parse(&text) {
                Ok(cfg) => {
                    *guard = Some(InForce::new(version, cfg));
                    Offer::Loaded { version }
                }
                Err(error) => {
                    let fallback = BudgetConfig::parse(&self.fallback_budgets).map_err(|e| {
                        HandlerError::Budgets {
                            version,
                            why: format!("{error}; SPENDGUARD_BUDGETS does not parse either: {e}"),
                        }
                    })?;
                    *guard = Some(InForce::new(0, fallback));
                    Offer::Refused {
                        version,
                        in_force: 0,
                        error,
                    }
                }
            },
        };
        spendguard_aws::budgets::say(&offer, &self.function_name, self.clock.now_ms());
        match guard.as_ref() {
            Some(f) => Ok((f.version, f.cfg.clone())),
            None => Err(HandlerError::Budgets {
                version,
                why: "no budgets in force".into(),
            }),
        }
    }

    pub fn enforcer<'a>(&'a self, cfg: &'a BudgetConfig) -> Enforcer<'a> {
        Enforcer {
            cfg,
            settings: &self.settings,
            windows: self.windows.as_ref(),
            store: self.store.as_ref(),
            iam: self.iam.as_ref(),
            notify: self.notify.as_ref(),
            clock: self.clock.as_ref(),
        }
    }

    /// The enforcer's handler: one EventBridge event (ours, a CloudTrail IAM call, or the
    /// schedule). An event it does not recognise is logged and acknowledged: retrying cannot help.
    pub async fn enforce(&self, event: &EnforcerEvent) -> Result<Outcome, HandlerError> {
        let (version, cfg) = self.budgets().await?;
        let e = self.enforcer(&cfg);
        let (kind, report) = match event.input() {
            Ok(EnforcerInput::Budget { scope, key }) => (
                Kind::Budget,
                e.enforce_key(&KeyRef::new(scope, key), Cause::Event)
                    .await?,
            ),
            Ok(EnforcerInput::CloudTrail { call, unreadable }) => {
                if let Some(error) = unreadable {
                    tracing::error!(error, "CloudTrail detail unreadable");
                }
                (Kind::Tamper, e.tamper(&call).await?)
            }
            Ok(EnforcerInput::Tick) => (Kind::Tick, e.tick(version).await?),
            Err(why) => {
                tracing::error!(
                    "detail-type" = event.detail_type.as_deref(),
                    source = event.source.as_deref(),
                    "{}",
                    why.as_str()
                );
                return Ok(Outcome::Ignored {
                    ignored: why.as_str(),
                });
            }
        };
        self.metrics(&report);
        Ok(Outcome::Done(Summary::of(kind, &report)))
    }

    /// [`App::enforce`] on an event's JSON (tests, benches, the CLI). A payload that does not read
    /// as an envelope (not an object) is an empty one: unrecognised, logged, acknowledged. On
    /// Lambda the runtime's own deserialisation refuses such a payload before the handler runs.
    pub async fn enforce_event(&self, event: &Value) -> Result<Value, HandlerError> {
        let event = EnforcerEvent::deserialize(event).unwrap_or_default();
        let outcome = self.enforce(&event).await?;
        Ok(serde_json::to_value(&outcome).unwrap_or_default())
    }

    fn metrics(&self, r: &Report) {
        use spendguard_core::enforce::Action;
        let count = |a: Action| r.decisions.iter().filter(|d| d.action == a).count() as u64;
        spendguard_aws::log::emit_metrics(&spendguard_aws::emf::emf_line(
            &self.function_name,
            self.clock.now_ms(),
            &[
                ("Alerts", "Count", count(Action::Alert)),
                ("Suspensions", "Count", count(Action::Suspend)),
                ("ShadowSuspensions", "Count", count(Action::WouldSuspend)),
                ("Restorations", "Count", count(Action::Restore)),
                ("Reapplied", "Count", r.reapplied.len() as u64),
                ("EnforcementFailures", "Count", r.failures.len() as u64),
                ("HeldSuspensions", "Count", count(Action::Held)),
                ("CircuitBreakerOpened", "Count", u64::from(r.breaker_opened)),
                ("SuspensionsRefused", "Count", r.refused.len() as u64),
                (
                    "SelfAuditMismatches",
                    "Count",
                    r.self_audit_mismatches.len() as u64,
                ),
            ],
        ));
    }

    /// The evaluator's handler: one DynamoDB Stream batch.
    pub async fn evaluate_stream(
        &self,
        event: &Value,
    ) -> Result<evaluator::BatchResponse, HandlerError> {
        let (_, cfg) = self.budgets().await?;
        let ev = evaluator::Evaluator {
            cfg: &cfg,
            store: self.store.as_ref(),
            bus: self.bus.as_ref(),
            clock: self.clock.as_ref(),
        };
        let (resp, report) = ev.handle(event).await;
        spendguard_aws::log::emit_metrics(&spendguard_aws::emf::emf_line(
            &self.function_name,
            self.clock.now_ms(),
            &[
                ("WindowsEvaluated", "Count", report.windows as u64),
                ("BudgetEvents", "Count", report.events.len() as u64),
                ("MalformedWindowItems", "Count", report.malformed as u64),
            ],
        ));
        Ok(resp)
    }
}

/// Which of the enforcer's paths an event took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Budget,
    Tamper,
    Tick,
}

/// What the enforcer answers one event with (its Lambda response, and what tests read).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    Done(Summary),
    /// The event asked for nothing (see [`spendguard_schemas::event::Unrecognised`]).
    Ignored {
        ignored: &'static str,
    },
}

/// One handled event: its decisions (as the CLI reports them) and what the run found.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub kind: Kind,
    pub decisions: Vec<Value>,
    pub alerts_already_sent: usize,
    /// The keys whose suspension was re-applied.
    pub reapplied: Vec<String>,
    pub failures: Vec<String>,
    pub breaker_opened: bool,
    pub fallback_models: Vec<String>,
}

impl Summary {
    fn of(kind: Kind, r: &Report) -> Summary {
        Summary {
            kind,
            decisions: r.decisions.iter().map(|d| d.to_json()).collect(),
            alerts_already_sent: r.alerts_already_sent,
            reapplied: r.reapplied.iter().map(|k| k.key.clone()).collect(),
            failures: r.failures.clone(),
            breaker_opened: r.breaker_opened,
            fallback_models: r.fallback_models.clone(),
        }
    }
}

/// Builds the AWS adapters from an SDK configuration.
pub async fn aws_app(conf: &aws_config::SdkConfig, config: &Config, clock: Arc<dyn Clock>) -> App {
    let conf = aws::retrying(conf);
    let dynamo = aws_sdk_dynamodb::Client::new(&conf);
    App::new(
        Box::new(aws::DynamoStore::new(
            dynamo.clone(),
            config.enforcement_table.clone(),
            config.audit_retention_days,
            clock.clone(),
        )),
        Box::new(aws::DynamoWindows {
            client: dynamo,
            table: config.ledger_table.clone(),
        }),
        Box::new(aws::AwsIam(aws_sdk_iam::Client::new(&conf))),
        Box::new(aws::SnsTopic {
            client: aws_sdk_sns::Client::new(&conf),
            topic_arn: config.alert_topic_arn.clone(),
        }),
        Box::new(aws::EventBus {
            client: aws_sdk_eventbridge::Client::new(&conf),
            bus_name: config.event_bus.clone(),
        }),
        clock,
        config.settings.clone(),
        config.fallback_budgets.clone(),
    )
}

/// The enforcer Lambda's handler.
pub async fn enforcer_handler(
    event: lambda_runtime::LambdaEvent<EnforcerEvent>,
    app: &App,
) -> Result<Outcome, HandlerError> {
    // a failed invocation is retried by EventBridge's asynchronous invoke
    app.enforce(&event.payload).await
}

/// The evaluator Lambda's handler.
pub async fn evaluator_handler(
    event: lambda_runtime::LambdaEvent<Value>,
    app: &App,
) -> Result<evaluator::BatchResponse, HandlerError> {
    app.evaluate_stream(&event.payload).await
}
