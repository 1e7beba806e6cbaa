//! The whole per-record path, shared by the CLI and the Lambdas: decode an envelope (or take
//! NDJSON records), parse each event's message, price it, and hand each outcome to a sink. One
//! bad event never loses the good events around it.

use crate::decode::{self, DecodeError, Decoder, MessageError};
use crate::price::{PriceError, Pricer};
use crate::scan::{EventBody, Scanned, ScannedEvent};
use spendguard_schemas::{LogEvent, MessageType, PricedRow};

/// Why one event (one invocation) produced no row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error(transparent)]
    Message(#[from] MessageError),
    #[error(transparent)]
    Price(#[from] PriceError),
}

impl EventError {
    /// A short stable label for counting failures by reason.
    pub fn reason(&self) -> &'static str {
        match self {
            EventError::Message(_) => "malformed_record_json",
            EventError::Price(PriceError::MissingRequestId) => "missing_request_id",
            EventError::Price(PriceError::MissingTimestamp) => "missing_timestamp",
            EventError::Price(PriceError::BadTimestamp { .. }) => "bad_timestamp",
            EventError::Price(PriceError::MissingModelId) => "missing_model_id",
            EventError::Price(PriceError::NegativeTokens { .. }) => "negative_tokens",
            EventError::Price(PriceError::ImplausibleTokens { .. }) => "implausible_tokens",
            EventError::Price(PriceError::Overflow) => "cost_overflow",
            EventError::Price(PriceError::TimestampOutOfRange { .. }) => "timestamp_out_of_range",
        }
    }
}

/// A whole-record failure (the envelope itself).
pub type PipelineError = DecodeError;

/// What happened to one log event. Rows are handed straight to the sink, never stored in bulk,
/// so the size difference between the variants costs nothing worth a box.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum RecordOutcome<'a> {
    Priced(PricedRow<'a>),
    Bad {
        /// Index of the event in the envelope's `logEvents` (or the line index for NDJSON).
        event_index: usize,
        /// The CloudWatch log event id, when there is one.
        event_id: Option<&'a str>,
        error: EventError,
    },
}

/// Counts for one envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeSummary {
    pub message_type: MessageType,
    pub events: usize,
    pub priced: usize,
    pub bad: usize,
    pub decompressed_bytes: usize,
    /// In a record of several gzip members (one envelope each): the members that could not be
    /// read, with why. The others are priced.
    pub bad_members: Vec<(usize, String)>,
}

/// Decoder + pricer: one per worker thread.
#[derive(Debug)]
pub struct Pipeline {
    pub decoder: Decoder,
    pub pricer: Pricer,
}

impl Pipeline {
    pub fn new(pricer: Pricer, max_decompressed: usize) -> Result<Self, DecodeError> {
        Ok(Pipeline {
            decoder: Decoder::new(max_decompressed)?,
            pricer,
        })
    }

    /// One Firehose/Kinesis record as base64 text.
    pub fn process_base64(
        &mut self,
        b64: &[u8],
        sink: &mut dyn FnMut(RecordOutcome<'_>),
    ) -> Result<EnvelopeSummary, DecodeError> {
        let (env, n) = self.decoder.scan_from_base64(b64)?;
        Ok(price_envelope(&self.pricer, env, n, sink))
    }

    /// One gzip CloudWatch Logs envelope (what a Kinesis record carries once base64-decoded), or
    /// several gzip members of one envelope each (as `run` reads from files): every member is
    /// read and priced in order. A member that cannot be read is listed in `bad_members` and the
    /// others are priced; the record is an error only when no member can be read.
    pub fn process_gzip(
        &mut self,
        gz: &[u8],
        sink: &mut dyn FnMut(RecordOutcome<'_>),
    ) -> Result<EnvelopeSummary, DecodeError> {
        let members = self.decoder.gunzip_members(gz)?;
        let n = self.decoder.last_decompressed();
        let mut total: Option<EnvelopeSummary> = None;
        let mut bad_members = Vec::new();
        for k in 0..members.max(1) {
            match self.decoder.scan_member(k) {
                None => {}
                Some(Err(e)) => bad_members.push((k, e)),
                Some(Ok(env)) => {
                    let s = price_envelope(&self.pricer, env, n, sink);
                    match &mut total {
                        None => total = Some(s),
                        Some(t) => {
                            if s.message_type == MessageType::Data {
                                t.message_type = MessageType::Data;
                            }
                            t.events += s.events;
                            t.priced += s.priced;
                            t.bad += s.bad;
                        }
                    }
                }
            }
        }
        match total {
            Some(mut t) => {
                t.bad_members = bad_members
                    .into_iter()
                    .map(|(k, e)| (k, e.to_string()))
                    .collect();
                Ok(t)
            }
            None => Err(bad_members
                .into_iter()
                .next()
                .map(|(_, e)| e)
                .unwrap_or(DecodeError::Envelope("no envelope in the record".into()))),
        }
    }

    /// One Bedrock record (a JSON object), e.g. one NDJSON line.
    pub fn process_record<'a>(&self, json: &'a str, index: usize) -> RecordOutcome<'a> {
        price_message(&self.pricer, json, None, index, None)
    }
}

/// Prices one event of a scanned envelope (its timestamp is the fallback event time when the record
/// has none). The record read by the scanner is taken out of the event (priced once).
pub fn price_scanned<'a>(
    pricer: &Pricer,
    ev: &'a mut ScannedEvent<'_>,
    index: usize,
) -> RecordOutcome<'a> {
    match &mut ev.body {
        EventBody::Record(rec) => match pricer.price(std::mem::take(rec), Some(ev.timestamp)) {
            Ok(row) => RecordOutcome::Priced(row),
            Err(e) => RecordOutcome::Bad {
                event_index: index,
                event_id: Some(&ev.id),
                error: e.into(),
            },
        },
        EventBody::Message(m) => price_message(pricer, m, Some(ev.timestamp), index, Some(&ev.id)),
    }
}

/// Prices one log event of a strictly parsed envelope (its `message` is one Bedrock record; its
/// timestamp is the fallback event time when the record has none).
pub fn price_event<'a>(pricer: &Pricer, ev: &'a LogEvent<'_>, index: usize) -> RecordOutcome<'a> {
    price_message(pricer, &ev.message, Some(ev.timestamp), index, Some(&ev.id))
}

fn price_message<'a>(
    pricer: &Pricer,
    message: &'a str,
    log_ms: Option<i64>,
    index: usize,
    id: Option<&'a str>,
) -> RecordOutcome<'a> {
    let outcome = decode::parse_record(message)
        .map_err(EventError::from)
        .and_then(|rec| pricer.price(rec, log_ms).map_err(EventError::from));
    match outcome {
        Ok(row) => RecordOutcome::Priced(row),
        Err(error) => RecordOutcome::Bad {
            event_index: index,
            event_id: id,
            error,
        },
    }
}

/// Prices every event of a decoded envelope. A CONTROL_MESSAGE yields nothing.
pub fn price_envelope(
    pricer: &Pricer,
    mut env: Scanned<'_>,
    decompressed_bytes: usize,
    sink: &mut dyn FnMut(RecordOutcome<'_>),
) -> EnvelopeSummary {
    let mut s = EnvelopeSummary {
        message_type: env.message_type,
        events: env.events.len(),
        priced: 0,
        bad: 0,
        decompressed_bytes,
        bad_members: Vec::new(),
    };
    if env.message_type == MessageType::Control {
        return s;
    }
    for (i, ev) in env.events.iter_mut().enumerate() {
        let out = price_scanned(pricer, ev, i);
        match out {
            RecordOutcome::Priced(_) => s.priced += 1,
            RecordOutcome::Bad { .. } => s.bad += 1,
        }
        sink(out);
    }
    s
}
