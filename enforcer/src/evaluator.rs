//! The evaluator: the ledger table's DynamoDB Stream (NEW_AND_OLD_IMAGES) in, spendguard's budget
//! events out. For each changed window item it measures the new totals against the budgets in
//! force now and publishes `Budget Threshold Crossed` for every threshold reached above the level
//! already published for that window, and `Budget State Changed` (`over`) when it reaches 100%.
//!
//! State, not edges: the comparison is with the recorded level, not with the old image, so a
//! budget lowered mid-window fires on the next change of the window. A member of a team whose
//! budget is being enforced gets a `Budget State Changed` for itself too, so members who start
//! spending after the team went over are caught. A failed publish fails the record (and the rest
//! of the batch after it): Lambda retries from there; a duplicate event is harmless.

use crate::ports::{Bus, BusEvent, PortError, Store};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use spendguard_core::budget::{BudgetConfig, Mode, Scope};
use spendguard_core::clock::Clock;
use spendguard_core::enforce::{teams_of_key, window_status, KeyRef, Status};
use spendguard_core::ledger::WindowTotal;
use spendguard_schemas::event::{
    BudgetStateChanged, BudgetThresholdCrossed, STATE_CHANGED, THRESHOLD_CROSSED,
};
use spendguard_schemas::words::WindowState;
use std::collections::HashMap;

/// Lambda's partial batch response for a DynamoDB Stream (lambda-events' own type).
pub use aws_lambda_events::streams::DynamoDbEventResponse as BatchResponse;

/// A response that asks Lambda to retry from the record `sequence_number` (order per key is kept).
fn retry_from(sequence_number: &str) -> BatchResponse {
    let mut failure = aws_lambda_events::streams::DynamoDbBatchItemFailure::default();
    failure.item_identifier = Some(sequence_number.to_string());
    let mut r = BatchResponse::default();
    r.batch_item_failures.push(failure);
    r
}

#[derive(Debug, Deserialize)]
struct StreamEvent {
    #[serde(rename = "Records", default)]
    records: Vec<StreamRecord>,
}

#[derive(Debug, Deserialize)]
struct StreamRecord {
    #[serde(rename = "eventName", default)]
    event_name: String,
    #[serde(default)]
    dynamodb: StreamData,
}

#[derive(Debug, Default, Deserialize)]
struct StreamData {
    #[serde(rename = "NewImage", default)]
    new_image: Option<serde_json::Map<String, Value>>,
    #[serde(rename = "SequenceNumber", default)]
    sequence_number: String,
}

/// A stream image (DynamoDB JSON) as an SDK item; only the S and N attributes window items use.
fn image_item(image: &serde_json::Map<String, Value>) -> HashMap<String, AttributeValue> {
    image
        .iter()
        .filter_map(|(k, v)| {
            let v = if let Some(s) = v.get("S").and_then(Value::as_str) {
                AttributeValue::S(s.to_string())
            } else if let Some(n) = v.get("N").and_then(Value::as_str) {
                AttributeValue::N(n.to_string())
            } else {
                return None;
            };
            Some((k.clone(), v))
        })
        .collect()
}

/// The window totals in a stream record, if it is a window item's insert or update.
fn window_of(r: &StreamRecord) -> Option<Result<WindowTotal, String>> {
    if r.event_name == "REMOVE" {
        return None;
    }
    let image = r.dynamodb.new_image.as_ref()?;
    let sk = image.get("sk")?.get("S")?.as_str()?;
    // dedup markers (`req`) and anything else that is not a window
    if !(sk.starts_with("day#") || sk.starts_with("month#")) {
        return None;
    }
    Some(spendguard_aws::tables::parse_window(&image_item(image)))
}

/// What one stream batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvalReport {
    pub windows: usize,
    pub skipped: usize,
    pub malformed: usize,
    pub events: Vec<BusEvent>,
}

/// The evaluator's dependencies.
pub struct Evaluator<'a> {
    pub cfg: &'a BudgetConfig,
    pub store: &'a dyn Store,
    pub bus: &'a dyn Bus,
    pub clock: &'a dyn Clock,
}

impl std::fmt::Debug for Evaluator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator").finish_non_exhaustive()
    }
}

impl Evaluator<'_> {
    /// Handles one stream batch. Never fails as a whole: the first record that could not be
    /// published is reported with its sequence number and every record after it is left for the
    /// retry (stream order per key is kept).
    pub async fn handle(&self, event: &Value) -> (BatchResponse, EvalReport) {
        let mut report = EvalReport::default();
        let parsed = match StreamEvent::deserialize(event) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "not a DynamoDB stream event");
                report.malformed += 1;
                return (BatchResponse::default(), report);
            }
        };
        let mut teams: HashMap<String, Status> = HashMap::new();
        for r in &parsed.records {
            let w = match window_of(r) {
                None => {
                    report.skipped += 1;
                    continue;
                }
                Some(Err(e)) => {
                    // our own table: a malformed window item is a bug to see, not to retry
                    tracing::error!(
                        sequenceNumber = r.dynamodb.sequence_number,
                        error = %e,
                        "malformed window item"
                    );
                    report.malformed += 1;
                    continue;
                }
                Some(Ok(w)) => w,
            };
            report.windows += 1;
            match self.evaluate(&w, &mut teams).await {
                Ok(events) => report.events.extend(events),
                Err(e) => {
                    tracing::error!(
                        sequenceNumber = r.dynamodb.sequence_number,
                        error = %e,
                        "record failed: retried from here"
                    );
                    return (retry_from(&r.dynamodb.sequence_number), report);
                }
            }
        }
        (BatchResponse::default(), report)
    }

    async fn evaluate(
        &self,
        w: &WindowTotal,
        teams: &mut HashMap<String, Status>,
    ) -> Result<Vec<BusEvent>, PortError> {
        let at = crate::engine::rfc3339(self.clock.now_ms());
        let mut events = Vec::new();
        let status = window_status(
            self.cfg,
            &w.window,
            w.totals.cost_usd,
            w.totals.fallback_usd,
        );
        let mut level_to_set = None;
        if let Some(st) = status
            .as_ref()
            .filter(|s| !s.reached_pct.is_empty() || s.over)
        {
            let level = self.store.level(&w.window).await?;
            let c = st.crossing(level);
            if let Some(&top) = c.fresh.last() {
                let detail = BudgetThresholdCrossed {
                    scope: w.window.scope,
                    key: w.window.key.clone(),
                    window: w.window.kind,
                    window_start: w.window.start.clone(),
                    threshold_pct: top,
                    thresholds_pct: c.fresh.clone(),
                    spend_usd: st.spend_usd,
                    limit_usd: st.limit_usd,
                    mode: st.mode,
                    at: at.clone(),
                };
                events.push(BusEvent {
                    detail_type: THRESHOLD_CROSSED,
                    detail: to_json(&detail)?,
                });
            }
            // over for the first time, whether or not a threshold sits at 100%
            if c.newly_over {
                events.push(state_event(
                    w,
                    st.spend_usd,
                    st.limit_usd,
                    st.mode,
                    &at,
                    None,
                )?);
            }
            if c.level != level {
                level_to_set = Some(c.level);
            }
        }
        if w.window.scope != Scope::Team {
            let key = KeyRef::new(w.window.scope, w.window.key.clone());
            for team in teams_of_key(self.cfg, &key) {
                let st = match teams.get(&team.name) {
                    Some(s) => *s,
                    None => {
                        let s = self
                            .store
                            .state(&KeyRef::new(Scope::Team, team.name.clone()))
                            .await?
                            .state
                            .status;
                        teams.insert(team.name.clone(), s);
                        s
                    }
                };
                if st == Status::Ok {
                    continue;
                }
                if self.store.state(&key).await?.state.status == Status::Ok {
                    let (limit, mode) = status
                        .as_ref()
                        .map_or((rust_decimal::Decimal::ZERO, team.limits.mode), |s| {
                            (s.limit_usd, s.mode)
                        });
                    events.push(state_event(
                        w,
                        w.totals.cost_usd,
                        limit,
                        mode,
                        &at,
                        Some(&team.name),
                    )?);
                }
                break;
            }
        }
        if !events.is_empty() {
            self.bus.put(&events).await?;
        }
        if let Some(top) = level_to_set {
            self.store.set_level(&w.window, top).await?;
        }
        Ok(events)
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<String, PortError> {
    serde_json::to_string(v).map_err(|e| {
        PortError::new(
            "events",
            "PutEvents",
            crate::ports::ErrorKind::Fatal,
            e.to_string(),
        )
    })
}

fn state_event(
    w: &WindowTotal,
    spend: rust_decimal::Decimal,
    limit: rust_decimal::Decimal,
    mode: Mode,
    at: &str,
    team: Option<&str>,
) -> Result<BusEvent, PortError> {
    Ok(BusEvent {
        detail_type: STATE_CHANGED,
        detail: to_json(&BudgetStateChanged {
            scope: w.window.scope,
            key: w.window.key.clone(),
            state: WindowState::Over,
            window: w.window.kind,
            window_start: w.window.start.clone(),
            spend_usd: spend,
            limit_usd: limit,
            mode,
            at: at.into(),
            team: team.map(str::to_string),
        })?,
    })
}

/// A window item as the ledger table's stream shows it (`INSERT`, DynamoDB JSON), for tests,
/// benchmarks and local runs that feed the evaluator without a stream.
pub fn stream_record(w: &WindowTotal, sequence_number: &str) -> Value {
    let (pk, sk) = spendguard_aws::tables::window_key(&w.window);
    let t = &w.totals;
    let mut image = serde_json::json!({
        "pk": {"S": pk}, "sk": {"S": sk},
        "scope": {"S": w.window.scope.as_str()}, "key": {"S": w.window.key},
        "window": {"S": w.window.kind.as_str()}, "window_start": {"S": w.window.start},
        "spend_usd": {"N": t.cost_usd.to_string()},
        "input_tokens": {"N": t.input_tokens.to_string()},
        "output_tokens": {"N": t.output_tokens.to_string()},
        "cache_read_tokens": {"N": t.cache_read_tokens.to_string()},
        "cache_write_tokens": {"N": t.cache_write_tokens.to_string()},
        "invocations": {"N": t.invocations.to_string()},
        "first_event_ms": {"N": t.first_event_ms.to_string()},
        "last_event_ms": {"N": t.last_event_ms.to_string()},
    });
    if !t.fallback_usd.is_zero() {
        image["fallback_usd"] = serde_json::json!({"N": t.fallback_usd.to_string()});
    }
    serde_json::json!({
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "dynamodb": {"Keys": {"pk": image["pk"], "sk": image["sk"]}, "NewImage": image,
                     "SequenceNumber": sequence_number, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    })
}
