//! The one log format of every function and the CLI: each line is a `tracing` event written as
//! one JSON object by tracing-subscriber, with the same field names everywhere:
//!
//! - `timestamp` (RFC 3339, UTC), `level` (`ERROR`, `WARN`, `INFO`: Lambda's own spelling) and
//!   `message` (a fixed phrase: search for it, never for a value);
//! - the event's own fields beside them, camelCase (`recordId`, `sequenceNumber`, `error`);
//! - `span`: the Lambda runtime's invocation span, whose `requestId` ties the line to the
//!   invocation's REPORT line.
//!
//! Metrics are events too ([`emit_metrics`]): an EMF line must reach CloudWatch as the whole log
//! line, so events on [`EMF_TARGET`] are written as their text, unwrapped. One subscriber, one
//! writer: lines never interleave, and a test captures everything a handler says by installing
//! the same format on its own thread ([`capture`], feature `test-util`).

use std::fmt;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{Format, Json, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// The target of metrics events: their `emf` field is the whole line.
pub const EMF_TARGET: &str = "spendguard::emf";

/// Writes one EMF line (see [`crate::emf::emf_line`]) to the log stream.
pub fn emit_metrics(line: &str) {
    tracing::info!(target: EMF_TARGET, emf = line);
}

/// The event format: EMF events as their text (or nothing, where metrics are not wanted),
/// everything else as flattened JSON.
struct Lines {
    json: Format<Json>,
    metrics: bool,
}

impl<S, N> FormatEvent<S, N> for Lines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if event.metadata().target() == EMF_TARGET {
            if !self.metrics {
                return Ok(());
            }
            let mut raw = Raw(None);
            event.record(&mut raw);
            if let Some(line) = raw.0 {
                return writeln!(writer, "{line}");
            }
        }
        self.json.format_event(ctx, writer, event)
    }
}

/// The `emf` field's text.
struct Raw(Option<String>);

impl Visit for Raw {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "emf" {
            self.0 = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn fmt::Debug) {}
}

/// The subscriber every binary installs, writing to `writer`: INFO and above; EMF lines only
/// with `metrics`.
pub fn subscriber<W>(writer: W, metrics: bool) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let json = tracing_subscriber::fmt::format()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false);
    tracing_subscriber::fmt()
        .json()
        .event_format(Lines { json, metrics })
        .with_max_level(Level::INFO)
        .with_writer(writer)
        .finish()
}

/// A Lambda function's logs: stdout is its CloudWatch log stream. Call once, first thing in
/// `main`; a second call is a no-op.
pub fn init_stdout() {
    let _ = tracing::subscriber::set_global_default(subscriber(std::io::stdout, true));
}

/// The CLI's logs (what a handler it runs says): stderr, beside its own messages; the EMF lines
/// only with `metrics` (they are for CloudWatch, not a terminal, except where a command shows
/// what the Lambda would write).
pub fn init_stderr(metrics: bool) {
    let _ = tracing::subscriber::set_global_default(subscriber(std::io::stderr, metrics));
}

/// Everything logged on this thread while it is alive, in the functions' own format (tests).
#[cfg(feature = "test-util")]
#[derive(Debug)]
pub struct Captured {
    buf: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

/// Starts capturing this thread's log lines (a `#[tokio::test]` runs its handler on the test's
/// thread).
#[cfg(feature = "test-util")]
pub fn capture() -> Captured {
    let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = buf.clone();
    let guard = tracing::subscriber::set_default(subscriber(move || Buffer(sink.clone()), true));
    Captured { buf, _guard: guard }
}

/// A writer into the captured bytes.
#[cfg(feature = "test-util")]
struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(feature = "test-util")]
impl std::io::Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(feature = "test-util")]
impl Captured {
    /// The lines so far.
    pub fn lines(&self) -> Vec<String> {
        let buf = self.buf.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&buf)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The lines so far, each parsed (a line that is not JSON is a JSON string, which no
    /// assertion on fields will match).
    pub fn json(&self) -> Vec<serde_json::Value> {
        self.lines()
            .into_iter()
            .map(|l| serde_json::from_str(&l).unwrap_or(serde_json::Value::String(l)))
            .collect()
    }

    /// The log lines with this `message`.
    pub fn said(&self, message: &str) -> Vec<serde_json::Value> {
        self.json()
            .into_iter()
            .filter(|v| v["message"] == message)
            .collect()
    }

    /// The EMF lines' values of `metric`, in order.
    pub fn metric(&self, metric: &str) -> Vec<u64> {
        self.json()
            .into_iter()
            .filter(|v| v.get("_aws").is_some())
            .filter_map(|v| v[metric].as_u64())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_line_is_json_with_one_naming_and_metrics_stay_emf() {
        let logs = capture();
        let quoted = "a \"quoted\" error\nover two lines";
        tracing::error!(recordId = "r-1", error = quoted, "record failed");
        tracing::warn!(rows = 3_u64, "fallback-priced models");
        let span = tracing::info_span!("Lambda runtime invoke", requestId = "req-42");
        span.in_scope(|| tracing::info!(version = 7_u64, "budgets document loaded"));
        emit_metrics(&crate::emf::emf_line("fn", 5, &[("Rows", "Count", 2)]));
        tracing::debug!("below the level: not written");

        let lines = logs.json();
        assert_eq!(lines.len(), 4, "{:?}", logs.lines());
        let e = &lines[0];
        assert_eq!(e["level"], "ERROR");
        assert_eq!(e["message"], "record failed");
        assert_eq!(e["recordId"], "r-1");
        assert_eq!(e["error"], quoted);
        assert!(e["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(lines[1]["level"], "WARN");
        assert_eq!(lines[1]["rows"], 3);
        assert_eq!(lines[2]["span"]["requestId"], "req-42");
        assert_eq!(lines[2]["version"], 7);
        // the EMF line is the whole line, exactly as built
        assert_eq!(
            logs.lines()[3],
            crate::emf::emf_line("fn", 5, &[("Rows", "Count", 2)])
        );
        assert_eq!(logs.metric("Rows"), vec![2]);
        assert_eq!(logs.said("record failed").len(), 1);
    }
}
