//! The aggregator Lambda (Kinesis event source): each record, a gzip CloudWatch Logs envelope of
//! Bedrock invocation logs, is decoded and priced by the core, folded per (scope, key, window)
//! and applied to the spend ledger exactly once per `requestId`.
//!
//! The handler never fails as a whole. A record that cannot be read is logged, counted and
//! skipped (retrying cannot make it readable, and it must not block the shard). When the ledger
//! fails part-way, everything before the failed transaction is committed, and the response names
//! the first record with an uncommitted invocation in `batchItemFailures`; Lambda retries from
//! there, and the `requestId` markers make the re-delivered invocations count once.

mod config;
pub mod dynamo;
mod error;
pub mod process;
#[cfg(feature = "test-util")]
pub mod testkit;

use base64_simd::STANDARD as B64;
pub use config::{Config, BUDGETS_REFRESH_MS};
pub use error::ConfigError;
use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use spendguard_aws::pricing::PricingConfig;
use spendguard_core::budget::{BudgetConfig, InForce, Offer};
use spendguard_core::clock::Clock;
use spendguard_core::ledger::{first_pending_origin, prepare, Applied, Disposition, SpendLedger};
use spendguard_core::Pipeline;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

/// The Kinesis event as Lambda delivers it. Our own type rather than aws_lambda_events': its
/// `data` is decoded while deserialising, so one bad record would fail the whole batch.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct KinesisEvent {
    #[serde(rename = "Records", default)]
    pub records: Vec<KinesisEventRecord>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct KinesisEventRecord {
    pub kinesis: KinesisRecord,
    #[serde(rename = "eventID", default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(
        rename = "eventSourceARN",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub event_source_arn: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KinesisRecord {
    /// Base64 of the record's bytes.
    pub data: String,
    /// Up to 129 decimal digits: kept as a string, never a number.
    pub sequence_number: String,
    #[serde(default)]
    pub partition_key: String,
}

/// `{"batchItemFailures":[{"itemIdentifier":"<sequenceNumber>"}]}`; an empty list is success
/// (lambda-events' own type).
pub use aws_lambda_events::streams::KinesisEventResponse as BatchResponse;

/// Where pushed budgets come from: the enforcement table's budgets document, read again at most
/// every `refresh_ms` (one GetItem) and parsed only when its version changes. The budgets' time
/// zone and teams shape the windows, so a `spendguard budgets push` reaches the ledger within
/// `refresh_ms` without a redeploy.
#[derive(Debug)]
pub struct BudgetsSource {
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
    pub refresh_ms: i64,
    /// When the document was last read.
    checked: Mutex<i64>,
}

impl BudgetsSource {
    pub fn new(client: aws_sdk_dynamodb::Client, table: String, refresh_ms: i64) -> Self {
        BudgetsSource {
            client,
            table,
            refresh_ms,
            checked: Mutex::new(i64::MIN),
        }
    }
}

/// Everything the handler needs.
pub struct Deps<L> {
    pipeline: Mutex<Pipeline>,
    /// Version 0 is the fallback from `SPENDGUARD_BUDGETS`.
    budgets: RwLock<InForce>,
    budgets_source: Option<BudgetsSource>,
    /// The stored price overlay and the pricing configuration to rebuild the pricer with.
    prices: Option<(spendguard_aws::prices::PricesSource, PricingConfig)>,
    pub ledger: L,
    pub clock: Arc<dyn Clock>,
    /// `None`: no horizon (markers never expire, as in the embedded ledger).
    pub horizon_ms: Option<i64>,
    pub function_name: String,
}

impl<L> std::fmt::Debug for Deps<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deps")
            .field("horizon_ms", &self.horizon_ms)
            .field("function_name", &self.function_name)
            .finish_non_exhaustive()
    }
}

impl<L: SpendLedger> Deps<L> {
    pub fn new(
        pipeline: Pipeline,
        budgets: BudgetConfig,
        ledger: L,
        clock: Arc<dyn Clock>,
        horizon_ms: Option<i64>,
    ) -> Self {
        Deps {
            pipeline: Mutex::new(pipeline),
            budgets: RwLock::new(InForce::new(0, budgets)),
            budgets_source: None,
            prices: None,
            ledger,
            clock,
            horizon_ms,
            function_name: "spendguard-aggregator".into(),
        }
    }

    /// Reads pushed budgets from `source` (the budgets given to `new` are the fallback until a
    /// document exists).
    pub fn with_budgets_source(mut self, source: BudgetsSource) -> Self {
        self.budgets_source = Some(source);
        self
    }

    /// Reads the stored price overlay from `source` at most once a minute and prices with it
    /// (`pricing` rebuilds the pricer: the built-in catalogue, the overlay, the variable).
    pub fn with_prices_source(
        mut self,
        source: spendguard_aws::prices::PricesSource,
        pricing: PricingConfig,
    ) -> Self {
        self.prices = Some((source, pricing));
        self
    }

    /// Records the model ids priced at a fallback price, per UTC day, in the enforcement table
    /// (where the enforcer's tick alerts each once, naming them). A failure is logged, never
    /// fails the batch: the spend is counted either way, and the next batch records them again.
    async fn note_fallback_models(&self, models: &process::FallbackModels) {
        let Some(src) = &self.budgets_source else {
            return;
        };
        if models.is_empty() {
            return;
        }
        let now = self.clock.now_ms();
        if let Err(e) =
            spendguard_aws::tables::note_fallback_models(&src.client, &src.table, now, models).await
        {
            tracing::error!(
                models = %json!(models),
                error = %e,
                "fallback-priced models not recorded for the alert"
            );
        }
    }

    /// Swaps in a newly stored price overlay when one is due and loads (the transform's rule).
    async fn refresh_prices(&self) {
        let Some((src, pricing)) = &self.prices else {
            return;
        };
        pricing
            .refresh_prices(Some(src), self.clock.now_ms(), |p| {
                self.pipeline
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .pricer = p;
            })
            .await;
    }

    /// The budgets in force, re-read from the source when due. A failed read or a document that
    /// does not parse keeps the budgets in force (the one rule, [`InForce::offer`]) and is logged,
    /// a refusal with its metric: the invocations are still counted exactly once; only the shape
    /// of new windows waits for the next good document.
    pub async fn budgets(&self) -> Arc<BudgetConfig> {
        if let Some(src) = &self.budgets_source {
            let now = self.clock.now_ms();
            let checked_at = *src.checked.lock().unwrap_or_else(|p| p.into_inner());
            if now.saturating_sub(checked_at) >= src.refresh_ms {
                match spendguard_aws::tables::read_budgets_doc(&src.client, &src.table).await {
                    Ok(doc) => {
                        if let Some((v, text)) = doc {
                            let offer = self
                                .budgets
                                .write()
                                .unwrap_or_else(|p| p.into_inner())
                                .offer(v, &text);
                            self.said(&offer, now);
                        }
                        *src.checked.lock().unwrap_or_else(|p| p.into_inner()) = now;
                    }
                    // tried again with the next batch
                    Err(e) => tracing::error!(
                        table = src.table,
                        error = %aws_sdk_dynamodb::error::DisplayErrorContext(&e),
                        "budgets document unreadable; keeping the budgets in force"
                    ),
                }
            }
        }
        self.budgets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .cfg
            .clone()
    }

    fn said(&self, offer: &Offer, now: i64) {
        spendguard_aws::budgets::say(offer, &self.function_name, now);
    }
}

/// One batch's figures, for the EMF line and for callers (CLI, tests, bench).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    pub stats: process::Stats,
    pub applied: Applied,
    pub in_batch_duplicates: usize,
    /// Repeats within the batch whose contents differ from the first (by `requestId`).
    pub in_batch_conflicts: Vec<String>,
    pub beyond_horizon: usize,
    /// Invocations that will never be counted: refused past the horizon, bad events, no window.
    pub spend_dropped: usize,
    /// Index of the record reported in `batchItemFailures`.
    pub failed_at: Option<usize>,
    pub duration_ms: u64,
    /// What the batch's unique invocations add up to, for the dashboard. A redelivered batch adds
    /// again here; the ledger itself counts each `requestId` once.
    pub batch_totals: spendguard_core::window::Delta,
}

impl BatchReport {
    /// Every `requestId` seen again with other contents, in the batch or against the ledger.
    pub fn conflicts(&self) -> impl Iterator<Item = &String> {
        self.in_batch_conflicts
            .iter()
            .chain(&self.applied.conflicts)
    }

    pub fn emf(&self, function: &str, timestamp_ms: i64) -> String {
        let b = &self.batch_totals;
        // CloudWatch values are doubles: spend goes out as whole micro-USD, never a float.
        let micro_usd = (b.cost_usd * rust_decimal::Decimal::from(1_000_000))
            .round()
            .try_into()
            .unwrap_or(u64::MAX);
        let tokens = |n: i64| u64::try_from(n).unwrap_or(0);
        let m: [(&str, &str, u64); 19] = [
            ("RecordsIn", "Count", self.stats.records as u64),
            (
                "ControlMessages",
                "Count",
                self.stats.control_messages as u64,
            ),
            (
                "UndecodableRecords",
                "Count",
                self.stats.undecodable_records as u64,
            ),
            ("BadEvents", "Count", self.stats.bad_events as u64),
            ("InvocationsApplied", "Count", self.applied.applied as u64),
            (
                "DuplicatesSkipped",
                "Count",
                (self.applied.already + self.in_batch_duplicates) as u64,
            ),
            (
                "ConflictingDuplicates",
                "Count",
                self.conflicts().count() as u64,
            ),
            ("BeyondHorizon", "Count", self.beyond_horizon as u64),
            ("spend_dropped", "Count", self.spend_dropped as u64),
            ("Transactions", "Count", self.applied.transactions as u64),
            // computed from item sizes: emulators do not report consumed capacity
            (
                "ComputedWriteUnits",
                "Count",
                self.applied.computed_write_units,
            ),
            (
                "FailedRecords",
                "Count",
                u64::from(self.failed_at.is_some()),
            ),
            ("BatchLatency", "Milliseconds", self.duration_ms),
            ("Invocations", "Count", self.stats.priced as u64),
            ("SpendMicroUsd", "Count", micro_usd),
            ("InputTokens", "Count", tokens(b.input_tokens)),
            ("OutputTokens", "Count", tokens(b.output_tokens)),
            ("CacheReadTokens", "Count", tokens(b.cache_read_tokens)),
            ("CacheWriteTokens", "Count", tokens(b.cache_write_tokens)),
        ];
        spendguard_aws::emf::emf_line(function, timestamp_ms, &m)
    }
}

/// Decodes, prices, folds and applies one batch; returns the response and the figures.
pub async fn handle<L: SpendLedger>(
    event: &KinesisEvent,
    deps: &Deps<L>,
) -> (BatchResponse, BatchReport) {
    let started = Instant::now();
    let decoded: Vec<Option<Vec<u8>>> = event
        .records
        .iter()
        .map(|r| B64.decode_to_vec(r.kinesis.data.as_bytes()).ok())
        .collect();
    let records: Vec<process::InRecord<'_>> = event
        .records
        .iter()
        .zip(&decoded)
        .map(|(r, d)| process::InRecord {
            sequence_number: &r.kinesis.sequence_number,
            data: d.as_deref(),
        })
        .collect();
    let budgets = deps.budgets().await;
    deps.refresh_prices().await;
    let (entries, stats, fallback_models) = {
        // a poisoned lock only means an earlier batch panicked; the decoder keeps no state
        let mut p = deps.pipeline.lock().unwrap_or_else(|p| p.into_inner());
        process::entries_of_batch(&mut p, &budgets, &records)
    };
    deps.note_fallback_models(&fallback_models).await;
    let prepared = prepare(entries, deps.clock.now_ms(), deps.horizon_ms);
    let mut report = BatchReport {
        stats,
        in_batch_duplicates: prepared.in_batch_duplicates,
        in_batch_conflicts: prepared.conflicts.clone(),
        beyond_horizon: prepared.beyond_horizon.len(),
        spend_dropped: prepared.beyond_horizon.len() + stats.bad_events + stats.unwindowed,
        ..BatchReport::default()
    };
    for e in &prepared.fresh {
        report.batch_totals.merge(&e.amount);
    }
    for e in &prepared.beyond_horizon {
        tracing::error!(
            requestId = e.request_id,
            eventTimeMs = e.event_ms,
            sequenceNumber = records[e.origin].sequence_number,
            horizonMs = deps.horizon_ms,
            "invocation older than the dedup horizon refused"
        );
    }
    let mut response = BatchResponse::default();
    match deps.ledger.apply(&prepared.fresh).await {
        Ok(a) => report.applied = a,
        Err(e) => {
            report.applied = e.partial.clone();
            // the earliest record with an invocation not known to be counted is where Lambda
            // must retry from; everything after it is re-delivered and de-duplicated
            let at = first_pending_origin(&prepared.fresh, &e);
            if let Some(r) = at.and_then(|a| records.get(a)) {
                response.add_failure(r.sequence_number.to_string());
                report.failed_at = at;
            }
            tracing::error!(
                retryable = e.disposition == Disposition::Retryable,
                error = e.message,
                pendingInvocations = e.pending.as_ref().map_or(prepared.fresh.len(), Vec::len),
                failedSequenceNumber = at.and_then(|a| records.get(a)).map(|r| r.sequence_number),
                "ledger apply failed"
            );
        }
    }
    let conflicts: Vec<&String> = report.conflicts().collect();
    if !conflicts.is_empty() {
        // the first record stays counted; these are named (up to 100) for someone to look at
        // the ids as a JSON list's text
        tracing::error!(
            conflictingDuplicates = conflicts.len(),
            requestIds = %json!(conflicts.iter().take(100).collect::<Vec<_>>()),
            "requestId seen again with different contents: the first is kept"
        );
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    (response, report)
}

/// The Lambda handler: never fails as a whole (see the module docs).
pub async fn function_handler<L: SpendLedger>(
    event: LambdaEvent<Value>,
    deps: &Deps<L>,
) -> Result<BatchResponse, std::convert::Infallible> {
    let parsed: Result<KinesisEvent, _> = serde_json::from_value(event.payload);
    let event = match parsed {
        Ok(e) => e,
        Err(e) => {
            // Not a Kinesis event at all: nothing to retry from and nothing that a retry could
            // read. Say so loudly; an empty response acknowledges it.
            tracing::error!(error = %e, "event is not a Kinesis batch");
            return Ok(BatchResponse::default());
        }
    };
    let (response, report) = handle(&event, deps).await;
    spendguard_aws::log::emit_metrics(&report.emf(&deps.function_name, deps.clock.now_ms()));
    Ok(response)
}
