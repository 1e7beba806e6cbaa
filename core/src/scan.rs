//! Single-pass reading of a CloudWatch Logs envelope: each event's `message` (a Bedrock record
//! embedded as an escaped JSON string) is read straight through the envelope's escapes, bodies
//! skipped with memchr, without first unescaping the message into a string of its own.
//!
//! Why: the envelope is the expensive level (PERF-LIMITS.md). simd-json unescapes every message
//! in place (about 1 GB/s) and the record parse then reads it all again; together they cost more
//! than inflate. Reading the inner JSON through the outer escapes does both in one pass.
//!
//! The scanner is an accelerator, never an authority. It returns a record only for input it has
//! validated in full (UTF-8, no raw control bytes, every escape of both levels, the JSON grammar of
//! bodies and unknown fields). On anything unusual it gives up (`None`): a key or kept value with
//! escapes it does not decode, a duplicate key, a number that is not a plain `i64`, a shape serde
//! would reject, deep nesting. Then the strict parsers decide (simd-json for the envelope,
//! serde_json for the record) and report errors exactly as before. A message it gives up on is
//! unescaped and parsed strictly on its own; an envelope it gives up on is parsed strictly whole.
//! `tests` and `tests/` hold the two paths to the same answers.

use memchr::memchr2;
use serde::de::IgnoredAny;
use spendguard_schemas::record::{CacheCreation, CacheDetail, CacheSplit, OutputBody, UsageFields};
use spendguard_schemas::{
    Envelope, Identity, InvocationRecord, MessageType, RecordInput, RecordOutput,
};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Nesting the scanner follows before it leaves the input to the strict parser: below serde_json's
/// own limit of 128, so nothing the scanner accepts is too deep for the strict parser (deeper input
/// goes to the strict path, which decides).
const MAX_DEPTH: usize = 100;

/// A decoded envelope: its header and, per event, either the record read in the single pass or
/// the unescaped message for the strict parser.
#[derive(Debug)]
pub struct Scanned<'a> {
    pub message_type: MessageType,
    pub owner: Cow<'a, str>,
    pub log_group: Cow<'a, str>,
    pub log_stream: Cow<'a, str>,
    pub events: Vec<ScannedEvent<'a>>,
}

/// One log event of a [`Scanned`] envelope.
#[derive(Debug)]
pub struct ScannedEvent<'a> {
    pub id: Cow<'a, str>,
    /// Ingestion timestamp, epoch milliseconds.
    pub timestamp: i64,
    pub body: EventBody<'a>,
}

/// What the decoder made of an event's `message`. `Record` is the usual variant, so it is kept
/// inline: a box would add an allocation per invocation to save space on the rare other one.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum EventBody<'a> {
    /// Read in the single pass (what the strict parser would have produced).
    Record(InvocationRecord<'a>),
    /// The message text, for the strict record parser (which reports its errors).
    Message(Cow<'a, str>),
}

impl<'a> From<Envelope<'a>> for Scanned<'a> {
    /// The strict path's envelope, every message left for the strict record parser.
    fn from(env: Envelope<'a>) -> Self {
        Scanned {
            message_type: env.message_type,
            owner: env.owner,
            log_group: env.log_group,
            log_stream: env.log_stream,
            events: env
                .log_events
                .into_iter()
                .map(|ev| ScannedEvent {
                    id: ev.id,
                    timestamp: ev.timestamp,
                    body: EventBody::Message(ev.message),
                })
                .collect(),
        }
    }
}

/// Reads a decompressed envelope in one pass, or `None` when the strict parser must decide.
pub fn scan(json: &[u8]) -> Option<Scanned<'_>> {
    // Raw control bytes are legal only as whitespace between tokens, which CloudWatch never
    // writes; refusing them all here lets string content be skipped by looking for `"` and `\`
    // alone. Chunked so the check vectorises instead of stopping at each byte.
    if json
        .chunks(64)
        .any(|ch| ch.iter().fold(false, |a, &c| a | (c < 0x20)))
    {
        return None;
    }
    let s = simdutf8::basic::from_utf8(json).ok()?;
    let mut c = Cur {
        s,
        b: s.as_bytes(),
        i: 0,
    };
    let env = c.envelope()?;
    (c.i == c.b.len()).then_some(env)
}

/// The four hex digits of a `\u` escape.
fn hex4(h: &[u8]) -> Option<u32> {
    let h: &[u8; 4] = h.try_into().ok()?;
    h.iter().try_fold(0u32, |acc, &d| {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return None,
        };
        Some(acc << 4 | u32::from(v))
    })
}

/// Marks envelope field `bit` seen; a second occurrence is a duplicate field for serde.
fn once(seen: &mut u32, bit: u32) -> Option<()> {
    if *seen & bit != 0 {
        return None;
    }
    *seen |= bit;
    Some(())
}

/// A cursor over the envelope. Methods prefixed `i` read the inner level: JSON text seen through
/// the escapes of the outer string that holds it (`\"` is an inner quote, `\\` an inner
/// backslash, `\n` inner whitespace).
struct Cur<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    /// The byte `k` ahead, or 0 past the end (0 never occurs: control bytes were refused).
    #[inline(always)]
    fn at(&self, k: usize) -> u8 {
        self.b.get(self.i + k).copied().unwrap_or(0)
    }

    // ---------------------------------------------------------------- outer level (the envelope)

    fn ws(&mut self) {
        while self.at(0) == b' ' {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.at(0) == c).then(|| self.i += 1)
    }

    /// After a member or element: `true` on `,`, `false` on the closing `close`.
    fn next(&mut self, close: u8) -> Option<bool> {
        self.ws();
        match self.at(0) {
            b',' => {
                self.i += 1;
                Some(true)
            }
            c if c == close => {
                self.i += 1;
                Some(false)
            }
            _ => None,
        }
    }

    /// `true` (and consumed) when the container just opened is empty.
    fn empty(&mut self, close: u8) -> bool {
        self.ws();
        let e = self.at(0) == close;
        self.i += usize::from(e);
        e
    }

    /// An outer string; borrowed unless it has escapes, which serde_json decodes.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.ws();
        if self.at(0) != b'"' {
            return None;
        }
        let start = self.i + 1;
        let p = start + memchr2(b'"', b'\\', self.b.get(start..)?)?;
        if self.b.get(p) == Some(&b'"') {
            self.i = p + 1;
            return Some(Cow::Borrowed(self.s.get(start..p)?));
        }
        let mut j = p;
        let end = loop {
            let q = j + memchr2(b'"', b'\\', self.b.get(j..)?)?;
            if self.b.get(q) == Some(&b'"') {
                break q;
            }
            j = q + 2; // an escape: its second byte is never the closing quote
        };
        let owned: String = serde_json::from_str(self.s.get(start - 1..=end)?).ok()?;
        self.i = end + 1;
        Some(Cow::Owned(owned))
    }

    /// An outer key without escapes, and its colon.
    fn key(&mut self) -> Option<&'a [u8]> {
        self.ws();
        if self.at(0) != b'"' {
            return None;
        }
        let start = self.i + 1;
        let p = start + memchr2(b'"', b'\\', self.b.get(start..)?)?;
        if self.b.get(p) != Some(&b'"') {
            return None;
        }
        self.i = p + 1;
        self.eat(b':')?;
        self.b.get(start..p)
    }

    /// A value of a key the envelope does not use: a string, a literal or a plain integer.
    /// simd-json converts every number while it parses (refusing values past u64/i64 or f64), so
    /// other numbers and containers go to the strict parser.
    fn skip_scalar(&mut self) -> Option<()> {
        self.ws();
        match self.at(0) {
            b'"' => self.string().map(drop),
            b'-' | b'0'..=b'9' => self.ii64().map(drop),
            _ => self.iscalar(),
        }
    }

    fn envelope(&mut self) -> Option<Scanned<'a>> {
        let mut env = Scanned {
            message_type: MessageType::Data,
            owner: Cow::Borrowed(""),
            log_group: Cow::Borrowed(""),
            log_stream: Cow::Borrowed(""),
            events: Vec::new(),
        };
        let mut seen = 0u32;
        self.eat(b'{')?;
        if !self.empty(b'}') {
            loop {
                match self.key()? {
                    b"messageType" => {
                        once(&mut seen, 1)?;
                        env.message_type = match self.string()?.as_ref() {
                            "DATA_MESSAGE" => MessageType::Data,
                            "CONTROL_MESSAGE" => MessageType::Control,
                            _ => return None,
                        };
                    }
                    b"owner" => {
                        once(&mut seen, 2)?;
                        env.owner = self.string()?;
                    }
                    b"logGroup" => {
                        once(&mut seen, 4)?;
                        env.log_group = self.string()?;
                    }
                    b"logStream" => {
                        once(&mut seen, 8)?;
                        env.log_stream = self.string()?;
                    }
                    b"subscriptionFilters" => {
                        once(&mut seen, 16)?;
                        self.eat(b'[')?;
                        if !self.empty(b']') {
                            while {
                                self.string()?;
                                self.next(b']')?
                            } {}
                        }
                    }
                    b"logEvents" => {
                        once(&mut seen, 32)?;
                        self.eat(b'[')?;
                        if !self.empty(b']') {
                            while {
                                let ev = self.event()?;
                                env.events.push(ev);
                                self.next(b']')?
                            } {}
                        }
                    }
                    _ => self.skip_scalar()?,
                }
                if !self.next(b'}')? {
                    break;
                }
            }
        }
        self.ws();
        // `messageType` and `logEvents` have no default in the strict parser: without either,
        // that parser decides (and names the missing field)
        (seen & 1 != 0 && seen & 32 != 0).then_some(env)
    }

    fn event(&mut self) -> Option<ScannedEvent<'a>> {
        let (mut id, mut timestamp, mut body) = (None, None, None);
        self.eat(b'{')?;
        if !self.empty(b'}') {
            loop {
                match self.key()? {
                    b"id" if id.is_none() => id = Some(self.string()?),
                    b"timestamp" if timestamp.is_none() => {
                        self.ws();
                        timestamp = Some(self.ii64()?);
                    }
                    b"message" if body.is_none() => body = Some(self.message()?),
                    b"id" | b"timestamp" | b"message" => return None,
                    _ => self.skip_scalar()?,
                }
                if !self.next(b'}')? {
                    break;
                }
            }
        }
        Some(ScannedEvent {
            id: id?,
            timestamp: timestamp?,
            body: body?,
        })
    }

    /// An event's `message`: the record read through the escapes, or (when the scanner gives up
    /// on it) the unescaped text for the strict record parser.
    fn message(&mut self) -> Option<EventBody<'a>> {
        self.ws();
        if self.at(0) != b'"' {
            return None;
        }
        let open = self.i;
        self.i += 1;
        if let Some(rec) = self.irecord() {
            self.iws();
            if self.at(0) == b'"' {
                self.i += 1;
                return Some(EventBody::Record(rec));
            }
        }
        self.i = open;
        self.string().map(EventBody::Message)
    }

    // ------------------------------------------------- inner level (the record inside `message`)

    /// Inner whitespace: a space, or an outer `\n` `\t` `\r` escape.
    #[inline]
    fn iws(&mut self) {
        loop {
            match self.at(0) {
                b' ' => self.i += 1,
                b'\\' if matches!(self.at(1), b'n' | b't' | b'r') => self.i += 2,
                _ => return,
            }
        }
    }

    /// One inner structural character (never a quote or backslash).
    #[inline]
    fn ieat(&mut self, c: u8) -> Option<()> {
        self.iws();
        (self.at(0) == c).then(|| self.i += 1)
    }

    #[inline]
    fn inext(&mut self, close: u8) -> Option<bool> {
        self.iws();
        match self.at(0) {
            b',' => {
                self.i += 1;
                Some(true)
            }
            c if c == close => {
                self.i += 1;
                Some(false)
            }
            _ => None,
        }
    }

    #[inline]
    fn iempty(&mut self, close: u8) -> bool {
        self.iws();
        let e = self.at(0) == close;
        self.i += usize::from(e);
        e
    }

    /// At an inner quote (outer `\"`)?
    #[inline]
    fn iquote(&self) -> bool {
        self.at(0) == b'\\' && self.at(1) == b'"'
    }

    fn inull(&mut self) -> bool {
        self.iws();
        let n = self.b.get(self.i..self.i + 4) == Some(b"null");
        self.i += if n { 4 } else { 0 };
        n
    }

    /// Skips the rest of an inner string whose opening quote is consumed, validating every
    /// escape of both levels. This loop is where most of the bytes go.
    fn iskip_str(&mut self) -> Option<()> {
        loop {
            let p = self.i + memchr2(b'"', b'\\', self.b.get(self.i..)?)?;
            // A raw quote ends the outer string inside an inner one: not ours to judge.
            if self.b.get(p) != Some(&b'\\') {
                return None;
            }
            match self.b.get(p + 1).copied()? {
                b'"' => {
                    self.i = p + 2;
                    return Some(());
                }
                // An inner escape; its letter may itself be escaped in the outer string.
                b'\\' => match self.b.get(p + 2).copied()? {
                    b'\\' => match self.b.get(p + 3).copied()? {
                        b'"' | b'\\' | b'/' => self.i = p + 4,
                        _ => return None,
                    },
                    b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i = p + 3,
                    b'u' => {
                        hex4(self.b.get(p + 3..p + 7)?)?;
                        self.i = p + 7;
                    }
                    _ => return None,
                },
                b'/' => self.i = p + 2,
                b'u' => {
                    self.i = p;
                    self.iouter_u()?;
                }
                // An outer \b \f \n \r \t is a raw control character inside the inner string.
                _ => return None,
            }
        }
    }

    /// An outer `\uXXXX` (or surrogate pair) inside inner string content.
    fn iouter_u(&mut self) -> Option<()> {
        let cp = hex4(self.b.get(self.i + 2..self.i + 6)?)?;
        match cp {
            // a control character (invalid in a string), or a quote or backslash in disguise
            0..=0x1f | 0x22 | 0x5c => None,
            0xd800..=0xdbff => {
                if self.b.get(self.i + 6..self.i + 8) != Some(b"\\u") {
                    return None;
                }
                let lo = hex4(self.b.get(self.i + 8..self.i + 12)?)?;
                (0xdc00..=0xdfff).contains(&lo).then(|| self.i += 12)
            }
            0xdc00..=0xdfff => None,
            _ => {
                self.i += 6;
                Some(())
            }
        }
    }

    /// An inner string kept as a value: borrowed when neither level escapes anything in it,
    /// otherwise decoded through both levels.
    fn istr(&mut self) -> Option<Cow<'a, str>> {
        self.iws();
        if !self.iquote() {
            return None;
        }
        let start = self.i + 2;
        let p = start + memchr2(b'"', b'\\', self.b.get(start..)?)?;
        if self.b.get(p..p + 2) == Some(b"\\\"") {
            self.i = p + 2;
            return Some(Cow::Borrowed(self.s.get(start..p)?));
        }
        self.i = start;
        self.iskip_str()?;
        let outer = self.s.get(start..self.i - 2)?;
        // Outer escapes first (giving the inner string's JSON text), then the inner ones.
        let inner: String = serde_json::from_str(&format!("\"{outer}\"")).ok()?;
        let value: String = serde_json::from_str(&format!("\"{inner}\"")).ok()?;
        Some(Cow::Owned(value))
    }

    /// `null` or a string (an `Option<Cow<str>>` field).
    fn iopt_str(&mut self) -> Option<Option<Cow<'a, str>>> {
        if self.inull() {
            return Some(None);
        }
        self.istr().map(Some)
    }

    /// An inner object key without escapes, and its colon.
    #[inline]
    fn ikey(&mut self) -> Option<&'a [u8]> {
        self.iws();
        if !self.iquote() {
            return None;
        }
        let start = self.i + 2;
        let p = start + memchr2(b'"', b'\\', self.b.get(start..)?)?;
        if self.b.get(p..p + 2) != Some(b"\\\"") {
            return None;
        }
        self.i = p + 2;
        self.ieat(b':')?;
        self.b.get(start..p)
    }

    /// A plain integer that fits an `i64` (what serde accepts for an `i64` field without
    /// question); anything else (fractions, exponents, huge values) is left to the strict parser.
    fn ii64(&mut self) -> Option<i64> {
        let neg = self.at(0) == b'-';
        let first = self.i + usize::from(neg);
        let mut j = first;
        let mut v: i64 = 0;
        while let Some(&d @ b'0'..=b'9') = self.b.get(j) {
            if j - first == 18 {
                return None;
            }
            v = v * 10 + i64::from(d - b'0');
            j += 1;
        }
        let digits = j - first;
        if digits == 0 || (digits > 1 && self.b.get(first) == Some(&b'0')) {
            return None;
        }
        // serde_json reads `-0` as a float (refused for an i64): not ours to judge
        if matches!(self.b.get(j), Some(b'.' | b'e' | b'E')) || (neg && v == 0) {
            return None;
        }
        self.i = j;
        Some(if neg { -v } else { v })
    }

    /// `null` or an integer (an `Option<i64>` field).
    fn iopt_i64(&mut self) -> Option<Option<i64>> {
        if self.inull() {
            return Some(None);
        }
        self.iws();
        self.ii64().map(Some)
    }

    /// A record's logged token count. `null` is not read as absent: the scanner gives up, and
    /// the strict parser refuses the record naming the field.
    fn icount(&mut self) -> Option<Option<i64>> {
        if self.inull() {
            return None;
        }
        self.iws();
        self.ii64().map(Some)
    }

    /// A number, `true`, `false` or `null`, validated by the JSON grammar. Digits, signs and
    /// letters are written raw at both levels, so this serves both.
    fn iscalar(&mut self) -> Option<()> {
        for lit in [&b"true"[..], b"false", b"null"] {
            if self.b.get(self.i..self.i + lit.len()) == Some(lit) {
                self.i += lit.len();
                return Some(());
            }
        }
        let digits = |c: &Self, mut j: usize| {
            let k = j;
            while matches!(c.b.get(j), Some(b'0'..=b'9')) {
                j += 1;
            }
            (j > k).then_some(j)
        };
        let mut j = self.i + usize::from(self.at(0) == b'-');
        j = match self.b.get(j) {
            Some(b'0') => j + 1,
            Some(b'1'..=b'9') => digits(self, j)?,
            _ => return None,
        };
        if self.b.get(j) == Some(&b'.') {
            j = digits(self, j + 1)?;
        }
        if matches!(self.b.get(j), Some(b'e' | b'E')) {
            j += 1 + usize::from(matches!(self.b.get(j + 1), Some(b'+' | b'-')));
            j = digits(self, j)?;
        }
        self.i = j;
        Some(())
    }

    /// Skips (and validates) one inner value nested `depth` deep. Iterative: the open
    /// containers are bits of `stack` (1 = object).
    fn iskip(&mut self, depth: usize) -> Option<()> {
        let mut stack: u128 = 0;
        let mut d = 0usize;
        loop {
            self.iws();
            match self.at(0) {
                b'\\' if self.at(1) == b'"' => {
                    self.i += 2;
                    self.iskip_str()?;
                }
                c @ (b'{' | b'[') => {
                    self.i += 1;
                    if depth + d + 1 >= MAX_DEPTH {
                        return None;
                    }
                    let obj = c == b'{';
                    if !self.iempty(if obj { b'}' } else { b']' }) {
                        stack |= u128::from(obj) << d;
                        d += 1;
                        if obj {
                            self.iskip_key()?;
                        }
                        continue;
                    }
                }
                _ => self.iscalar()?,
            }
            // after a value: members, elements and closings
            loop {
                if d == 0 {
                    return Some(());
                }
                let obj = (stack >> (d - 1)) & 1 == 1;
                match self.inext(if obj { b'}' } else { b']' })? {
                    true if obj => {
                        self.iskip_key()?;
                        break;
                    }
                    true => break,
                    false => {
                        stack &= !(1u128 << (d - 1));
                        d -= 1;
                    }
                }
            }
        }
    }

    /// Any key (escapes allowed: it is skipped, not compared) and its colon.
    fn iskip_key(&mut self) -> Option<()> {
        self.iws();
        if !self.iquote() {
            return None;
        }
        self.i += 2;
        self.iskip_str()?;
        self.ieat(b':')
    }

    /// Calls `member` for each key of an inner object (`null` is refused: callers that accept it
    /// check first). `member` answers whether the key is a field of the struct being read: serde
    /// refuses a field given twice (unknown keys may repeat), so a repeated field is left to it.
    fn iobject(
        &mut self,
        mut member: impl FnMut(&mut Self, &'a [u8]) -> Option<bool>,
    ) -> Option<()> {
        let mut fields: [&[u8]; 16] = [&[]; 16];
        let mut n = 0usize;
        self.ieat(b'{')?;
        if self.iempty(b'}') {
            return Some(());
        }
        loop {
            let k = self.ikey()?;
            if member(self, k)? {
                if fields.get(..n)?.contains(&k) {
                    return None;
                }
                *fields.get_mut(n)? = k;
                n += 1;
            }
            if !self.inext(b'}')? {
                return Some(());
            }
        }
    }

    /// The record: the fields of [`InvocationRecord`], unknown ones skipped.
    fn irecord(&mut self) -> Option<InvocationRecord<'a>> {
        let mut r = InvocationRecord::default();
        self.iobject(|c, k| {
            let field = match k {
                b"schemaType" => &mut r.schema_type,
                b"schemaVersion" => &mut r.schema_version,
                b"timestamp" => &mut r.timestamp,
                b"accountId" => &mut r.account_id,
                b"region" => &mut r.region,
                b"inferenceRegion" => &mut r.inference_region,
                b"requestId" => &mut r.request_id,
                b"operation" => &mut r.operation,
                b"modelId" => &mut r.model_id,
                b"errorCode" => &mut r.error_code,
                b"status" => &mut r.status,
                b"identity" => {
                    r.identity = c.iidentity()?;
                    return Some(true);
                }
                b"requestMetadata" => {
                    r.request_metadata = c.imetadata()?;
                    return Some(true);
                }
                b"input" => {
                    r.input = c.iinput()?;
                    return Some(true);
                }
                b"output" => {
                    r.output = c.ioutput()?;
                    return Some(true);
                }
                _ => return c.iskip(1).map(|()| false),
            };
            *field = c.iopt_str()?;
            Some(true)
        })?;
        Some(r)
    }

    fn iidentity(&mut self) -> Option<Option<Identity<'a>>> {
        if self.inull() {
            return Some(None);
        }
        let mut id = Identity::default();
        self.iobject(|c, k| match k {
            b"arn" => {
                id.arn = c.iopt_str()?;
                Some(true)
            }
            _ => c.iskip(2).map(|()| false),
        })?;
        Some(Some(id))
    }

    /// `requestMetadata`: a map of strings (a repeated key keeps the last value, as serde's map).
    #[allow(clippy::type_complexity)]
    fn imetadata(&mut self) -> Option<Option<BTreeMap<Cow<'a, str>, Cow<'a, str>>>> {
        if self.inull() {
            return Some(None);
        }
        let mut m = BTreeMap::new();
        self.ieat(b'{')?;
        if !self.iempty(b'}') {
            while {
                let k = self.istr()?;
                self.ieat(b':')?;
                m.insert(k, self.istr()?);
                self.inext(b'}')?
            } {}
        }
        Some(Some(m))
    }

    fn iinput(&mut self) -> Option<Option<RecordInput<'a>>> {
        if self.inull() {
            return Some(None);
        }
        let mut x = RecordInput::default();
        self.iobject(|c, k| {
            match k {
                b"inputContentType" => {
                    x.input_content_type = c.iopt_str()?;
                }
                b"inputBodyJson" => {
                    x.input_body_json = if c.inull() {
                        None
                    } else {
                        c.iskip(2)?;
                        Some(IgnoredAny)
                    };
                }
                b"inputBodyS3Path" => {
                    x.input_body_s3_path = c.iopt_str()?;
                }
                b"inputTokenCount" => {
                    x.input_token_count = c.icount()?;
                }
                b"cacheReadInputTokenCount" => {
                    x.cache_read_input_token_count = c.icount()?;
                }
                b"cacheWriteInputTokenCount" => {
                    x.cache_write_input_token_count = c.icount()?;
                }
                _ => return c.iskip(2).map(|()| false),
            }
            Some(true)
        })?;
        Some(Some(x))
    }

    fn ioutput(&mut self) -> Option<Option<RecordOutput<'a>>> {
        if self.inull() {
            return Some(None);
        }
        let mut x = RecordOutput::default();
        self.iobject(|c, k| {
            match k {
                b"outputContentType" => {
                    x.output_content_type = c.iopt_str()?;
                }
                b"outputBodyJson" => {
                    x.output_body_json = if c.inull() {
                        None
                    } else {
                        Some(OutputBody { split: c.ibody(2)? })
                    };
                }
                b"outputBodyS3Path" => {
                    x.output_body_s3_path = c.iopt_str()?;
                }
                b"outputTokenCount" => {
                    x.output_token_count = c.icount()?;
                }
                _ => return c.iskip(2).map(|()| false),
            }
            Some(true)
        })?;
        Some(Some(x))
    }

    /// A response body reduced to its cache-write split, with [`OutputBody`]'s rules: `usage` at
    /// the top, in `message` or `metadata`, or in any list element; the first split found wins.
    fn ibody(&mut self, depth: usize) -> Option<Option<CacheSplit>> {
        if depth >= MAX_DEPTH {
            return None;
        }
        self.iws();
        let mut split = None;
        match self.at(0) {
            b'{' => self.iobject(|c, k| {
                match k {
                    b"usage" if split.is_none() => split = c.iusage(depth + 1)?,
                    b"message" | b"metadata" if split.is_none() => split = c.ibody(depth + 1)?,
                    _ => c.iskip(depth + 1)?,
                }
                // OutputBody's own visitor: a repeated key is read again, never refused
                Some(false)
            })?,
            b'[' => {
                self.i += 1;
                if !self.iempty(b']') {
                    while {
                        let s = self.ibody(depth + 1)?;
                        split = split.or(s);
                        self.inext(b']')?
                    } {}
                }
            }
            _ => self.ibody_scalar()?,
        }
        Some(split)
    }

    /// A scalar where [`OutputBody`] is read with `deserialize_any`: serde_json decodes it there
    /// instead of skipping it, refusing lone surrogates in strings and numbers past f64. So a
    /// string is decoded (`istr` refuses what serde_json refuses) and a number is taken only
    /// without an exponent and short enough that no f64 overflows (about 1.8e308).
    fn ibody_scalar(&mut self) -> Option<()> {
        self.iws();
        if self.iquote() {
            return self.istr().map(drop);
        }
        let start = self.i;
        self.iscalar()?;
        let n = self.b.get(start..self.i)?;
        let number = matches!(n.first(), Some(b'-' | b'0'..=b'9'));
        (!number || (n.len() <= 300 && !n.iter().any(|c| matches!(c, b'e' | b'E')))).then_some(())
    }

    /// `usage`: `null`, or an object whose `cacheDetails` / `cache_creation` give the split.
    fn iusage(&mut self, depth: usize) -> Option<Option<CacheSplit>> {
        if self.inull() {
            return Some(None);
        }
        let mut u = UsageFields::default();
        self.iobject(|c, k| {
            match k {
                b"cacheDetails" => {
                    u.cache_details = c.icache_details(depth + 1)?;
                }
                b"cache_creation" => {
                    u.cache_creation = c.icache_creation(depth + 1)?;
                }
                _ => return c.iskip(depth + 1).map(|()| false),
            }
            Some(true)
        })?;
        Some(u.split())
    }

    fn icache_details(&mut self, depth: usize) -> Option<Option<Vec<CacheDetail<'a>>>> {
        if self.inull() {
            return Some(None);
        }
        let mut v = Vec::new();
        self.ieat(b'[')?;
        if !self.iempty(b']') {
            while {
                let mut d = CacheDetail::default();
                self.iobject(|c, k| {
                    match k {
                        b"ttl" => {
                            d.ttl = c.iopt_str()?;
                        }
                        b"inputTokens" => {
                            d.input_tokens = c.iopt_i64()?;
                        }
                        _ => return c.iskip(depth + 2).map(|()| false),
                    }
                    Some(true)
                })?;
                v.push(d);
                self.inext(b']')?
            } {}
        }
        Some(Some(v))
    }

    fn icache_creation(&mut self, depth: usize) -> Option<Option<CacheCreation>> {
        if self.inull() {
            return Some(None);
        }
        let mut x = CacheCreation::default();
        self.iobject(|c, k| {
            match k {
                b"ephemeral_1h_input_tokens" => {
                    x.ephemeral_1h_input_tokens = c.iopt_i64()?;
                }
                b"ephemeral_5m_input_tokens" => {
                    x.ephemeral_5m_input_tokens = c.iopt_i64()?;
                }
                _ => return c.iskip(depth + 1).map(|()| false),
            }
            Some(true)
        })?;
        Some(Some(x))
    }
}
