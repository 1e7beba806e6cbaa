//! Decoding of one Kinesis/Firehose record: base64 -> capped gunzip -> CloudWatch envelope and
//! each event's Bedrock record, read in one pass through the escapes ([`crate::scan`]). The strict
//! path, for whatever the scanner leaves alone: simd-json for the envelope (in place, on a copy)
//! and a typed serde_json parse of each message (bodies validated and skipped).

use crate::inflate::{InflateError, Inflater};
use crate::scan::{self, Scanned};
use spendguard_schemas::{Envelope, InvocationRecord};

/// Default cap on one decompressed envelope. A CloudWatch Logs batch is at most 1 MiB of events
/// (about 2-3 MB once the messages are escaped as JSON strings); 64 MiB leaves room for 10 MiB
/// Kinesis records and refuses gzip bombs.
pub const DEFAULT_MAX_DECOMPRESSED: usize = 64 << 20;

/// Why a record (a whole envelope) could not be decoded. Every variant is a property of the
/// input, so retrying cannot help: the disposition is "failed, keep the raw data".
///
/// The cause is part of the message and deliberately not a `source()`: an error chain printed
/// with its sources (`{:#}`) would say it twice.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("base64: {0}")]
    Base64(base64_simd::Error),
    #[error("gzip: {0}")]
    Gzip(InflateError),
    #[error("envelope JSON: {0}")]
    Envelope(String),
}

impl DecodeError {
    /// The stable word for the kind of problem, for counts and metrics (the text has the rest).
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::Base64(_) => "bad_base64",
            DecodeError::Gzip(_) => "bad_gzip",
            DecodeError::Envelope(_) => "bad_envelope",
        }
    }
}

impl From<base64_simd::Error> for DecodeError {
    fn from(e: base64_simd::Error) -> Self {
        DecodeError::Base64(e)
    }
}

impl From<InflateError> for DecodeError {
    fn from(e: InflateError) -> Self {
        DecodeError::Gzip(e)
    }
}

/// Why one log event's `message` could not be parsed as a Bedrock record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("message JSON at line {line} column {column}: {reason}")]
pub struct MessageError {
    pub line: usize,
    pub column: usize,
    pub reason: String,
}

/// Spare bytes after the decompressed data, so simd-json parses the inflate buffer in place
/// (`fill_tape_padded`) without first copying it into a padded buffer of its own.
const SIMD_PADDING: usize = simd_json::INPUT_PADDING;

/// Reusable decode buffers: one per worker, no allocation per record in the steady state.
pub struct Decoder {
    inflater: Inflater,
    b64: Vec<u8>,
    raw: Vec<u8>,
    /// The strict path's copy of an envelope the scanner left alone (simd-json works in place).
    strict: Vec<u8>,
    buffers: simd_json::Buffers,
    max_decompressed: usize,
    last_len: usize,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("max_decompressed", &self.max_decompressed)
            .field("buffer_capacity", &self.raw.capacity())
            .finish_non_exhaustive()
    }
}

impl Decoder {
    pub fn new(max_decompressed: usize) -> Result<Self, DecodeError> {
        Ok(Decoder {
            inflater: Inflater::new()?,
            b64: Vec::new(),
            raw: Vec::new(),
            strict: Vec::new(),
            buffers: simd_json::Buffers::default(),
            max_decompressed,
            last_len: 0,
        })
    }

    /// Decodes base64 text (a Firehose record's `data`) into an internal buffer. SIMD
    /// (runtime-detected): the scalar `base64` crate cost about 8% of the whole path.
    pub fn base64<'s>(&'s mut self, text: &[u8]) -> Result<&'s [u8], DecodeError> {
        self.b64.clear();
        base64_simd::STANDARD.decode_append(text, &mut self.b64)?;
        Ok(&self.b64)
    }

    /// Inflates `gz` and reads the envelope with every record it can ([`crate::scan`]); the
    /// envelope borrows the decoder's buffers, so it lives until the next call. This is the hot
    /// path; [`Decoder::envelope_from_gzip`] is the strict one, for re-enveloping.
    pub fn scan_from_gzip<'s>(
        &'s mut self,
        gz: &[u8],
    ) -> Result<(Scanned<'s>, usize), DecodeError> {
        let n = self
            .inflater
            .gunzip_into(gz, &mut self.raw, self.max_decompressed, 0)?;
        self.last_len = n;
        let json = self.raw.get(..n).unwrap_or_default();
        Ok((
            scan_or_strict(json, &mut self.strict, &mut self.buffers)?,
            n,
        ))
    }

    /// Inflates `gz` (every member) into the decoder's buffer and returns how many gzip members
    /// it held; [`Decoder::scan_member`] then reads each one as its own envelope. A record may
    /// carry several members, one envelope each, as files do.
    pub fn gunzip_members(&mut self, gz: &[u8]) -> Result<usize, DecodeError> {
        let n = self
            .inflater
            .gunzip_into(gz, &mut self.raw, self.max_decompressed, 0)?;
        self.last_len = n;
        Ok(self.inflater.members().len())
    }

    /// The members of the last inflate, in order.
    pub fn members(&self) -> &[crate::inflate::Member] {
        self.inflater.members()
    }

    /// Member `k` of the last [`Decoder::gunzip_members`], read as one envelope, or `None` when
    /// its output is empty or only whitespace (an empty trailing member).
    pub fn scan_member(&mut self, k: usize) -> Option<Result<Scanned<'_>, DecodeError>> {
        let members = self.inflater.members();
        let end = members.get(k)?.output_end;
        let start = k
            .checked_sub(1)
            .and_then(|j| members.get(j))
            .map_or(0, |m| m.output_end);
        let json = self.raw.get(start..end).unwrap_or_default();
        if json.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        Some(scan_or_strict(json, &mut self.strict, &mut self.buffers))
    }

    /// base64 -> gunzip -> [`Decoder::scan_from_gzip`], for one Firehose/Kinesis record's `data`.
    pub fn scan_from_base64<'s>(
        &'s mut self,
        text: &[u8],
    ) -> Result<(Scanned<'s>, usize), DecodeError> {
        self.b64.clear();
        base64_simd::STANDARD.decode_append(text, &mut self.b64)?;
        let n = self
            .inflater
            .gunzip_into(&self.b64, &mut self.raw, self.max_decompressed, 0)?;
        self.last_len = n;
        let json = self.raw.get(..n).unwrap_or_default();
        Ok((
            scan_or_strict(json, &mut self.strict, &mut self.buffers)?,
            n,
        ))
    }

    /// An already-decompressed envelope (read in place when the scanner takes it, else copied
    /// for the strict parser).
    pub fn scan_from_json<'j>(&'j mut self, json: &'j [u8]) -> Result<Scanned<'j>, DecodeError> {
        scan_or_strict(json, &mut self.strict, &mut self.buffers)
    }

    /// Inflates `gz` and parses the envelope in place. The envelope borrows the decoder's
    /// buffer, so it lives until the next call.
    pub fn envelope_from_gzip<'s>(
        &'s mut self,
        gz: &[u8],
    ) -> Result<(Envelope<'s>, usize), DecodeError> {
        let n =
            self.inflater
                .gunzip_into(gz, &mut self.raw, self.max_decompressed, SIMD_PADDING)?;
        self.last_len = n;
        Ok((
            parse_envelope_padded(&mut self.raw, n, &mut self.buffers)?,
            n,
        ))
    }

    /// Parses an already-decompressed envelope, in place in `json` (the caller's buffer, which
    /// gets simd-json's padding appended: no second copy of the envelope is made).
    pub fn envelope_from_json<'j>(
        &mut self,
        json: &'j mut Vec<u8>,
    ) -> Result<Envelope<'j>, DecodeError> {
        let len = json.len();
        json.resize(len + SIMD_PADDING, 0);
        parse_envelope_padded(json, len, &mut self.buffers)
    }

    /// Gunzips into the decoder's buffer and returns the bytes (for NDJSON files).
    pub fn gunzip<'s>(&'s mut self, gz: &[u8]) -> Result<&'s mut [u8], DecodeError> {
        let n = self
            .inflater
            .gunzip_into(gz, &mut self.raw, self.max_decompressed, 0)?;
        self.last_len = n;
        Ok(&mut self.raw[..n])
    }

    /// Bytes produced by the last gunzip (throughput is counted in decompressed bytes).
    pub fn last_decompressed(&self) -> usize {
        self.last_len
    }
}

/// The scanner's reading of `json`, or the strict parser's when the scanner gives up.
fn scan_or_strict<'s>(
    json: &'s [u8],
    strict: &'s mut Vec<u8>,
    buffers: &mut simd_json::Buffers,
) -> Result<Scanned<'s>, DecodeError> {
    if let Some(s) = scan::scan(json) {
        return Ok(s);
    }
    strict.clear();
    strict.extend_from_slice(json);
    strict.resize(json.len() + SIMD_PADDING, 0);
    Ok(parse_envelope_padded(strict, json.len(), buffers)?.into())
}

/// Parses `buf[..len]` in place; `buf[len..]` is at least [`SIMD_PADDING`] bytes of padding.
fn parse_envelope_padded<'j>(
    buf: &'j mut [u8],
    len: usize,
    buffers: &mut simd_json::Buffers,
) -> Result<Envelope<'j>, DecodeError> {
    let mut tape = simd_json::Tape::null();
    simd_json::fill_tape_padded(buf, len, buffers, &mut tape)
        .map_err(|e| DecodeError::Envelope(e.to_string()))?;
    let mut de = simd_json::Deserializer::from_tape(tape);
    // the path of the failing field costs a little per value, and only the strict parser pays
    // it: the scanner reads nearly every envelope
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let what = describe(e.inner());
        DecodeError::Envelope(match e.path().to_string().as_str() {
            "." => what,
            path => format!("field {path}: {what}"),
        })
    })
}

/// simd-json's error kinds in words ("ExpectedSigned at character 0" says nothing to a user).
fn describe(e: &simd_json::Error) -> String {
    use simd_json::ErrorType as T;
    match e.error() {
        T::Serde(s) => s.clone(),
        T::ExpectedString => "expected a string".into(),
        T::ExpectedSigned | T::ExpectedUnsigned | T::ExpectedInteger | T::Overflow => {
            "expected an integer".into()
        }
        T::ExpectedArray => "expected an array".into(),
        T::ExpectedMap => "expected an object".into(),
        T::ExpectedEnum => "expected one of the known values".into(),
        _ => e.to_string(),
    }
}

/// serde_json's error text without the position it appends (" at line L column C"): callers
/// report the position apart, so it is never said twice.
pub fn json_error_text(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let at = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&at).unwrap_or(&text).to_string()
}

/// Parses one `message` as a Bedrock record: serde_json typed, straight from the unescaped
/// `&str` (no copy); bodies are validated and skipped, never materialised. (sonic-rs measured
/// the same end to end on a baseline x86-64 build, so the common parser stays.)
pub fn parse_record(message: &str) -> Result<InvocationRecord<'_>, MessageError> {
    serde_json::from_str(message).map_err(|e| MessageError {
        line: e.line(),
        column: e.column(),
        reason: json_error_text(&e),
    })
}
