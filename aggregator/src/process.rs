//! The pure part of the aggregator: a Kinesis batch (each record one gzip CloudWatch Logs
//! envelope) into ledger entries in record order, with counts of what could not be counted and
//! why. Decoding, parsing, pricing and windows come from the core; no SDK and no async here.

use spendguard_core::budget::BudgetConfig;
use spendguard_core::ledger::Entry;
use spendguard_core::pipeline::RecordOutcome;
use spendguard_core::Pipeline;
use spendguard_schemas::{MessageType, PriceStatus};
use std::collections::BTreeMap;

/// One Kinesis record, unpacked.
#[derive(Debug, Clone, Copy)]
pub struct InRecord<'a> {
    pub sequence_number: &'a str,
    /// `None`: the record's `data` was not valid base64.
    pub data: Option<&'a [u8]>,
}

/// What a batch held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub records: usize,
    pub control_messages: usize,
    /// Records that are not a readable envelope (bad base64, not gzip, truncated, not JSON).
    pub undecodable_records: usize,
    pub events: usize,
    /// Events that are not a priceable Bedrock record (logged with their event id).
    pub bad_events: usize,
    pub priced: usize,
    /// Priced invocations whose time has no calendar window (never in real logs).
    pub unwindowed: usize,
}

/// Logged model ids priced at a fallback price in a batch, with their invocation counts.
pub type FallbackModels = BTreeMap<String, u64>;

/// An event of a readable record that adds nothing to the ledger: said once the record is
/// known to be readable, with its sequence number.
enum Bad {
    OutsideCalendar {
        request_id: String,
        event_time: String,
    },
    Event {
        event_index: usize,
        event_id: Option<String>,
        reason: &'static str,
        detail: String,
    },
}

impl Bad {
    fn say(self, sequence_number: &str) {
        match self {
            Bad::OutsideCalendar {
                request_id,
                event_time,
            } => tracing::error!(
                requestId = request_id,
                eventTime = event_time,
                sequenceNumber = sequence_number,
                "invocation outside the calendar"
            ),
            Bad::Event {
                event_index,
                event_id,
                reason,
                detail,
            } => tracing::error!(
                eventIndex = event_index,
                eventId = event_id,
                reason,
                detail,
                sequenceNumber = sequence_number,
                "bad event skipped"
            ),
        }
    }
}

/// Decodes and prices every record; entries carry their record's index as `origin`. Skipped
/// records and events are logged (one line each) and counted, never silently lost: a poison
/// record must not block the shard, and retrying it cannot make it readable. Model ids priced at
/// a fallback price are collected for the operator alert.
pub fn entries_of_batch(
    pipeline: &mut Pipeline,
    cfg: &BudgetConfig,
    records: &[InRecord<'_>],
) -> (Vec<Entry>, Stats, FallbackModels) {
    let mut fallback = FallbackModels::new();
    let mut st = Stats {
        records: records.len(),
        ..Stats::default()
    };
    let mut entries = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let Some(data) = r.data else {
            st.undecodable_records += 1;
            tracing::error!(
                sequenceNumber = r.sequence_number,
                reason = "invalid base64",
                "undecodable record skipped"
            );
            continue;
        };
        let mut bad = Vec::new();
        let res = pipeline.process_gzip(data, &mut |out| match out {
            RecordOutcome::Priced(row) => match Entry::of(&row, cfg, i) {
                Some(e) => {
                    if row.price_status == PriceStatus::Fallback {
                        *fallback.entry(row.model_id.to_string()).or_default() += 1;
                    }
                    entries.push(e)
                }
                None => bad.push(Bad::OutsideCalendar {
                    request_id: row.request_id.to_string(),
                    event_time: row.event_time.to_string(),
                }),
            },
            RecordOutcome::Bad {
                event_index,
                event_id,
                error,
            } => bad.push(Bad::Event {
                event_index,
                event_id: event_id.map(str::to_string),
                reason: error.reason(),
                detail: error.to_string(),
            }),
        });
        match res {
            Err(e) => {
                st.undecodable_records += 1;
                tracing::error!(
                    sequenceNumber = r.sequence_number,
                    reason = %e,
                    "undecodable record skipped"
                );
            }
            Ok(sum) => {
                // a record of several gzip members (one envelope each): the readable ones are
                // priced, each unreadable one is said and counted like an undecodable record
                for (member, why) in &sum.bad_members {
                    st.undecodable_records += 1;
                    tracing::error!(
                        sequenceNumber = r.sequence_number,
                        member,
                        reason = %why,
                        "undecodable gzip member skipped"
                    );
                }
                if sum.message_type == MessageType::Control {
                    st.control_messages += 1;
                    continue;
                }
                st.events += sum.events;
                st.priced += sum.priced;
                st.bad_events += sum.bad;
                for b in bad {
                    if matches!(b, Bad::OutsideCalendar { .. }) {
                        st.unwindowed += 1;
                    }
                    b.say(r.sequence_number);
                }
            }
        }
    }
    (entries, st, fallback)
}
