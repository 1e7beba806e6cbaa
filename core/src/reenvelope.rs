//! Re-enveloping: CloudWatch Logs envelopes rebuilt from some of another envelope's events (split
//! by date, or in halves) or from bare Bedrock records, and gzip at CloudWatch's level 6. Used by
//! the transform's re-ingest and by `spendguard replay`. Pure: the sending lives in the adapters.

use serde::Serialize;
use spendguard_schemas::{Envelope, LogEvent, MessageType};
use std::borrow::Cow;

/// Why an envelope could not be rebuilt.
#[derive(Debug, thiserror::Error)]
pub enum ReenvelopeError {
    #[error("serialising an envelope: {0}")]
    Json(#[from] serde_json::Error),
    #[error("gzip: {0}")]
    Gzip(String),
}

/// The wire shape of an envelope, borrowing its header and events from another one.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EnvelopeOut<'r, 'a> {
    message_type: MessageType,
    owner: &'r str,
    log_group: &'r str,
    log_stream: &'r str,
    subscription_filters: &'r [Cow<'a, str>],
    log_events: Vec<&'r LogEvent<'a>>,
}

/// The JSON of a DATA_MESSAGE with `env`'s header and the given events (in the given order).
pub fn envelope_json<'r, 'a: 'r>(
    env: &'r Envelope<'a>,
    events: impl IntoIterator<Item = &'r LogEvent<'a>>,
) -> Result<Vec<u8>, ReenvelopeError> {
    let out = EnvelopeOut {
        message_type: MessageType::Data,
        owner: &env.owner,
        log_group: &env.log_group,
        log_stream: &env.log_stream,
        subscription_filters: &env.subscription_filters,
        log_events: events.into_iter().collect(),
    };
    Ok(serde_json::to_vec(&out)?)
}

/// A reusable gzip compressor (libdeflate, level 6 as CloudWatch Logs uses).
pub struct Gzipper {
    c: libdeflater::Compressor,
}

impl std::fmt::Debug for Gzipper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gzipper").finish_non_exhaustive()
    }
}

impl Default for Gzipper {
    fn default() -> Self {
        Gzipper {
            c: libdeflater::Compressor::new(libdeflater::CompressionLvl::default()),
        }
    }
}

impl Gzipper {
    /// One gzip member holding `data`.
    pub fn gzip(&mut self, data: &[u8]) -> Result<Vec<u8>, ReenvelopeError> {
        let mut out = vec![0u8; self.c.gzip_compress_bound(data.len())];
        let n = self
            .c
            .gzip_compress(data, &mut out)
            .map_err(|e| ReenvelopeError::Gzip(e.to_string()))?;
        out.truncate(n);
        Ok(out)
    }

    /// The gzip envelope of `env`'s header with the given events.
    pub fn envelope<'r, 'a: 'r>(
        &mut self,
        env: &'r Envelope<'a>,
        events: impl IntoIterator<Item = &'r LogEvent<'a>>,
    ) -> Result<Vec<u8>, ReenvelopeError> {
        let json = envelope_json(env, events)?;
        self.gzip(&json)
    }

    /// The AWS blueprint's split for an oversize record: two gzip envelopes with the first and
    /// second half of the events. `None` when there is fewer than two events to split.
    pub fn halves(&mut self, env: &Envelope<'_>) -> Result<Option<[Vec<u8>; 2]>, ReenvelopeError> {
        let n = env.log_events.len();
        if n < 2 {
            return Ok(None);
        }
        let mid = n / 2;
        let a = self.envelope(env, &env.log_events[..mid])?;
        let b = self.envelope(env, &env.log_events[mid..])?;
        Ok(Some([a, b]))
    }
}

/// A CloudWatch-style log event id: 56 decimal digits. CloudWatch ids are opaque; ours encode the
/// event time and a sequence number so that replayed envelopes carry distinct, stable ids.
pub fn log_event_id(timestamp_ms: i64, seq: u64) -> String {
    format!("{:020}{:036}", timestamp_ms.max(0), seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Decoder;

    fn sample(n: usize) -> Vec<u8> {
        let events: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    r#"{{"id":"{}","timestamp":{},"message":"{{\"requestId\":\"r{i}\",\"note\":\"quote \\\" and \\\\ backslash\"}}"}}"#,
                    log_event_id(1_700_000_000_000 + i as i64, i as u64),
                    1_700_000_000_000 + i as i64
                )
            })
            .collect();
        format!(
            r#"{{"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":"g","logStream":"s","subscriptionFilters":["f"],"logEvents":[{}]}}"#,
            events.join(",")
        )
        .into_bytes()
    }

    #[test]
    fn halves_round_trip_every_event_once_with_the_header() {
        let mut json = sample(5);
        let mut d = Decoder::new(1 << 20).unwrap();
        let env = d.envelope_from_json(&mut json).unwrap();
        let [a, b] = Gzipper::default().halves(&env).unwrap().unwrap();
        let mut seen = Vec::new();
        for gz in [a, b] {
            let mut d2 = Decoder::new(1 << 20).unwrap();
            let (e, _) = d2.envelope_from_gzip(&gz).unwrap();
            assert_eq!(e.owner, "111122223333");
            assert_eq!(e.log_group, "g");
            assert_eq!(e.log_stream, "s");
            assert_eq!(e.subscription_filters, vec!["f"]);
            assert_eq!(e.message_type, MessageType::Data);
            for ev in &e.log_events {
                seen.push((ev.id.to_string(), ev.timestamp, ev.message.to_string()));
            }
        }
        let want: Vec<_> = env
            .log_events
            .iter()
            .map(|ev| (ev.id.to_string(), ev.timestamp, ev.message.to_string()))
            .collect();
        assert_eq!(seen, want);
        assert!(want[0].2.contains(r#"quote \" and \\ backslash"#));
    }

    #[test]
    fn one_event_cannot_be_halved() {
        let mut json = sample(1);
        let mut d = Decoder::new(1 << 20).unwrap();
        let env = d.envelope_from_json(&mut json).unwrap();
        assert!(Gzipper::default().halves(&env).unwrap().is_none());
    }

    #[test]
    fn ids_are_56_digits_and_ordered_by_time_then_sequence() {
        let a = log_event_id(1_700_000_000_000, 7);
        let b = log_event_id(1_700_000_000_001, 0);
        assert_eq!(a.len(), 56);
        assert!(a.bytes().all(|c| c.is_ascii_digit()));
        assert!(a < b);
    }
}
