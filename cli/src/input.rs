//! Reading local log files of any supported format, detected by content: gzip or not, then per
//! line either a CloudWatch Logs envelope or a Bedrock record. Shared by the commands that read
//! logs.

use crate::{CacheTtlArg, PriceOpts};
use anyhow::{Context, Result};
use serde_json::value::RawValue;
use spendguard_core::catalogue::BUILTIN;
use spendguard_core::pipeline::{price_envelope, RecordOutcome};
use spendguard_core::price::AssumedTtl;
use spendguard_core::{Catalogue, Pipeline, Pricer, PricerConfig};
use std::collections::HashSet;
use std::io::Read;
use std::path::PathBuf;

/// The `--prices` overlay files as (name, text), in order.
pub fn price_overlays(opts: &PriceOpts) -> Result<Vec<(String, String)>> {
    opts.prices
        .iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            Ok((p.display().to_string(), text))
        })
        .collect()
}

/// The built-in catalogue, the `--prices` overlays, then `extra` (name, text) files, in order.
pub fn catalogue(opts: &PriceOpts, extra: &[(String, String)]) -> Result<Catalogue> {
    let mut files = catalogue_files(opts)?;
    files.extend(extra.iter().cloned());
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    Ok(Catalogue::load(&refs)?)
}

/// The catalogue's files as (name, text): the built-in catalogue, then the `--prices` overlays.
pub fn catalogue_files(opts: &PriceOpts) -> Result<Vec<(String, String)>> {
    let mut files = vec![("prices/bedrock.toml".to_string(), BUILTIN.to_string())];
    files.extend(price_overlays(opts)?);
    Ok(files)
}

/// The cache TTL assumed when a log does not say (`--assume-cache-ttl`).
pub fn assumed_ttl(opts: &PriceOpts) -> AssumedTtl {
    match opts.assume_cache_ttl {
        CacheTtlArg::FiveMinutes => AssumedTtl::FiveMinutes,
        CacheTtlArg::OneHour => AssumedTtl::OneHour,
    }
}

/// Builds the pricer from the built-in catalogue plus overlays.
pub fn pricer(opts: &PriceOpts) -> Result<Pricer> {
    Ok(Pricer::new(
        catalogue(opts, &[])?,
        PricerConfig {
            assumed_cache_ttl: assumed_ttl(opts),
        },
    ))
}

/// The inputs of every command that reads logs (`price`, `run`, `redrive`, `replay`): files,
/// directories (walked), several of them, or `-` for stdin; as arguments or with `--input`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Inputs {
    /// Files or directories (walked; hidden files and links to directories are skipped), or `-`
    /// for stdin.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The same, as an option (repeatable).
    #[arg(long = "input", value_name = "PATH", num_args = 1..)]
    pub flagged: Vec<PathBuf>,
}

impl Inputs {
    /// Every path given, options first; `-` alone when none is given and `stdin_default`.
    pub fn all(&self, stdin_default: bool) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self.flagged.iter().chain(&self.paths).cloned().collect();
        if v.is_empty() && stdin_default {
            v.push(PathBuf::from("-"));
        }
        v
    }
}

/// One input to read: a file found by [`discover`], or stdin.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Stdin,
    File(PathBuf),
}

impl Source {
    pub fn read(&self) -> Result<Vec<u8>> {
        match self {
            Source::Stdin => read_all("-"),
            // the path itself, not its display form (which is lossy for non-UTF-8 names)
            Source::File(p) => std::fs::read(p).with_context(|| format!("reading {}", p.display())),
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Stdin => f.write_str("-"),
            Source::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Every input under the paths given, in one order (stdin first, then files sorted), and how many
/// files were skipped: Bedrock's zero-byte permission-check markers, the offloaded bodies under
/// `.../data/` (`<requestId>_input.json.gz`), hidden files inside a walk, and links to
/// directories inside a walk (not followed, as ripgrep and find do, so a link back to a parent
/// cannot loop; give it as an input to read it). Each directory is walked once. A path given
/// must exist; one found inside a walk that cannot be read is that file's problem, reported
/// when it is read.
pub fn discover(inputs: &[PathBuf]) -> Result<(Vec<Source>, usize)> {
    let mut files = Vec::new();
    let mut skipped = 0usize;
    let mut stdin = false;
    let mut walked: HashSet<PathBuf> = HashSet::new();
    let mut stack: Vec<(PathBuf, bool)> = Vec::new();
    for p in inputs {
        if p.as_os_str() == "-" {
            stdin = true;
        } else {
            stack.push((p.clone(), true));
        }
    }
    while let Some((p, given)) = stack.pop() {
        let meta = match std::fs::metadata(&p) {
            Ok(m) => m,
            Err(e) if given => return Err(e).with_context(|| format!("reading {}", p.display())),
            Err(_) => {
                files.push(p);
                continue;
            }
        };
        if meta.is_dir() {
            let link = std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink());
            if link && !given {
                eprintln!(
                    "{}: a link to a directory, not followed (give it as an input to read it)",
                    p.display()
                );
                skipped += 1;
                continue;
            }
            let real = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
            if !walked.insert(real) {
                continue;
            }
            for e in std::fs::read_dir(&p).with_context(|| format!("listing {}", p.display()))? {
                stack.push((e?.path(), false));
            }
            continue;
        }
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        // hidden files inside a walk (a lake's lock, editor swap files) are not logs
        if !given && name.starts_with('.') {
            skipped += 1;
            continue;
        }
        let in_data_dir = p
            .parent()
            .and_then(|d| d.file_name())
            .is_some_and(|d| d == "data");
        if name == "amazon-bedrock-logs-permission-check"
            || meta.len() == 0
            || (in_data_dir
                && (name.ends_with("_input.json.gz") || name.ends_with("_output.json.gz")))
        {
            skipped += 1;
            continue;
        }
        files.push(p);
    }
    files.sort();
    files.dedup();
    let mut out: Vec<Source> = Vec::with_capacity(files.len() + 1);
    if stdin {
        out.push(Source::Stdin);
    }
    out.extend(files.into_iter().map(Source::File));
    Ok((out, skipped))
}

/// Reads a file or stdin (`-`) whole.
pub fn read_all(path: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    if path == "-" {
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading stdin")?;
    } else {
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut buf))
            .with_context(|| format!("reading {path}"))?;
    }
    Ok(buf)
}

/// Where a problem was found, for the report on stderr.
#[derive(Debug, Clone)]
pub struct Place {
    pub line: usize,
    pub event: Option<(usize, Option<String>)>,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some((i, id)) = &self.event {
            write!(f, " event {i}")?;
            if let Some(id) = id {
                write!(f, " (id {id})")?;
            }
        }
        Ok(())
    }
}

/// Counts of one read.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadStats {
    pub rows: usize,
    pub bad: usize,
    pub control_messages: usize,
    pub decompressed_bytes: usize,
}

/// Decodes `bytes` (gzip or plain; NDJSON records or envelopes) and calls `row` for each priced
/// invocation and `bad` for each problem. Never stops at a bad line.
/// What a file is when it is plainly not log input: a Parquet file (the lake is read by
/// `report`), another archive, or binary data (a NUL byte near the start: JSON text has none).
fn not_log_input(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"PAR1") {
        Some("a Parquet file (the lake is read by `spendguard report`)")
    } else if bytes.starts_with(b"PK\x03\x04") {
        Some("a zip archive")
    } else if !bytes.starts_with(&[0x1f, 0x8b]) && bytes.iter().take(8192).any(|&b| b == 0) {
        Some("binary data")
    } else {
        None
    }
}

pub fn for_each_row(
    pipe: &mut Pipeline,
    bytes: &[u8],
    row: &mut dyn FnMut(spendguard_schemas::PricedRow<'_>),
    bad: &mut dyn FnMut(Place, Problem),
) -> Result<ReadStats> {
    let mut stats = ReadStats::default();
    if let Some(what) = not_log_input(bytes) {
        // one message for the file, not one per "line" of binary data
        anyhow::bail!("{what}, not Bedrock log input (gzip, JSON lines or envelopes)");
    }
    let plain: Vec<u8>;
    let text: &[u8] = if bytes.starts_with(&[0x1f, 0x8b]) {
        plain = pipe.decoder.gunzip(bytes)?.to_vec();
        &plain
    } else {
        bytes
    };
    stats.decompressed_bytes = text.len();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        let lineno = i + 1;
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        // Fast path: a line that looks like a CloudWatch envelope (its top-level keys come first,
        // in any order) is read as one envelope directly; the decoder validates UTF-8 and JSON.
        // Anything that fails takes the general path below.
        let looks_like_envelope = looks_like_envelope(line);
        if looks_like_envelope {
            if let Ok(env) = pipe.decoder.scan_from_json(line) {
                price_one_envelope(&pipe.pricer, env, line.len(), lineno, &mut stats, row, bad);
                continue;
            }
        }
        let Ok(line_str) = std::str::from_utf8(line) else {
            line_problem(
                &mut stats,
                bad,
                lineno,
                "invalid_utf8",
                "the line is not UTF-8".into(),
            );
            continue;
        };
        // Fast path for NDJSON: the line is one record. Anything else (a bad line, several
        // documents on one line) takes the general path, which reports problems.
        if !looks_like_envelope {
            if let RecordOutcome::Priced(r) = pipe.process_record(line_str, i) {
                stats.rows += 1;
                row(r);
                continue;
            }
        }
        // General path: one line may hold several concatenated documents (gzip members without
        // newlines), envelopes or records.
        let mut docs = serde_json::Deserializer::from_str(line_str).into_iter::<&RawValue>();
        loop {
            let doc = match docs.next() {
                None => break,
                Some(Ok(d)) => d,
                Some(Err(e)) => {
                    let what = spendguard_core::decode::json_error_text(&e);
                    let msg = format!("at column {}: {what}", e.column());
                    line_problem(&mut stats, bad, lineno, "malformed_json", msg);
                    break;
                }
            };
            let json = doc.get();
            if is_envelope(json) {
                match pipe.decoder.scan_from_json(json.as_bytes()) {
                    Ok(env) => price_one_envelope(
                        &pipe.pricer,
                        env,
                        json.len(),
                        lineno,
                        &mut stats,
                        row,
                        bad,
                    ),
                    Err(e) => line_problem(&mut stats, bad, lineno, e.reason(), e.to_string()),
                }
            } else {
                match pipe.process_record(json, i) {
                    RecordOutcome::Priced(r) => {
                        stats.rows += 1;
                        row(r);
                    }
                    RecordOutcome::Bad { error, .. } => {
                        line_problem(&mut stats, bad, lineno, error.reason(), error.to_string());
                    }
                }
            }
        }
    }
    Ok(stats)
}

/// Why a line or an event could not be read: a stable word to count by (`unreadable_by_reason`)
/// and the detail to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub reason: &'static str,
    pub detail: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

/// Counts and reports a problem with a whole line (not one event inside an envelope).
fn line_problem(
    stats: &mut ReadStats,
    bad: &mut dyn FnMut(Place, Problem),
    line: usize,
    reason: &'static str,
    detail: String,
) {
    stats.bad += 1;
    bad(Place { line, event: None }, Problem { reason, detail });
}

/// Prices one decoded envelope, reporting bad events with their place.
fn price_one_envelope(
    pricer: &Pricer,
    env: spendguard_core::Scanned<'_>,
    len: usize,
    lineno: usize,
    stats: &mut ReadStats,
    row: &mut dyn FnMut(spendguard_schemas::PricedRow<'_>),
    bad: &mut dyn FnMut(Place, Problem),
) {
    let s = price_envelope(pricer, env, len, &mut |o| match o {
        RecordOutcome::Priced(r) => row(r),
        RecordOutcome::Bad {
            event_index,
            event_id,
            error,
        } => bad(
            Place {
                line: lineno,
                event: Some((event_index, event_id.map(str::to_string))),
            },
            Problem {
                reason: error.reason(),
                detail: error.to_string(),
            },
        ),
    });
    stats.rows += s.priced;
    stats.bad += s.bad;
    if s.message_type == spendguard_schemas::MessageType::Control {
        stats.control_messages += 1;
    }
}

/// The envelope keys `"messageType":` / `"logEvents":` near the start of a line: only a hint
/// for choosing the fast path (a wrong guess costs a retry, never a wrong result).
fn looks_like_envelope(line: &[u8]) -> bool {
    let head = &line[..line.len().min(1024)];
    head.windows(14).any(|w| w == b"\"messageType\":")
        || head.windows(12).any(|w| w == b"\"logEvents\":")
}

/// A CloudWatch envelope has a top-level `messageType`; a Bedrock record does not. Decided by
/// a skip-everything typed parse of the top-level keys (bodies may contain any key).
pub fn is_envelope(json: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "messageType", default)]
        message_type: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_str::<Probe>(json).is_ok_and(|p| p.message_type.is_some())
}
