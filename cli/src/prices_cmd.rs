//! `spendguard prices`: how the catalogue in force (built-in plus `--prices` overlays) prices a
//! logged model id, overlays from AWS's Price List (`sync`, `diff`), and the stack's stored
//! overlay (`push`, `current`, through the shared S3 adapter).

use crate::input;
use crate::PriceOpts;
use anyhow::{Context, Result};
use spendguard_aws::prices::{Fetched, PriceObject, OVERLAY_NAME};
use spendguard_core::catalogue::{Rates, BUILTIN};
use spendguard_core::clock::Clock as _;
use spendguard_core::explain::Explanation;
use std::fmt::Write as _;
use std::io::Write;
use std::process::ExitCode;

/// `--at`: a `YYYY-MM-DD` day (its first instant, UTC) or an RFC 3339 instant; default now.
pub fn at_ms(at: Option<&str>) -> Result<i64> {
    use spendguard_core::clock::{Clock, SystemClock};
    match at {
        None => Ok(SystemClock.now_ms()),
        Some(s) => spendguard_schemas::time::parse_day_or_instant_ms(s).map_err(|e| {
            anyhow::anyhow!("--at {s:?}: not a YYYY-MM-DD day or RFC 3339 instant: {e}")
        }),
    }
}

/// Writes to stdout: `Ok(false)` once the reader has gone (`| head`), so the command can end
/// quietly.
fn print(text: &str) -> Result<bool> {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Prints one explanation per model id (JSON lines with `json`). Exit 1 if any id falls to a
/// fallback, so a script can tell.
pub fn explain(
    model_ids: &[String],
    region: &str,
    at: Option<&str>,
    json: bool,
    opts: &PriceOpts,
) -> Result<ExitCode> {
    let pricer = input::pricer(opts)?;
    let at = at_ms(at)?;
    let mut any_fallback = false;
    for id in model_ids {
        let e = pricer.explain(id, region, at);
        any_fallback |= e.outcome.starts_with("fallback");
        let text = if json {
            let mut s = serde_json::to_string(&e)?;
            s.push('\n');
            s
        } else {
            human(&e)
        };
        if !print(&text)? {
            return Ok(ExitCode::SUCCESS);
        }
    }
    Ok(if any_fallback {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn rates_line(r: &Rates) -> String {
    let mut s = format!("input {}  output {}", r.input, r.output);
    for (k, v) in [
        ("cache_read", r.cache_read),
        ("cache_write_5m", r.cache_write_5m),
        ("cache_write_1h", r.cache_write_1h),
    ] {
        match v {
            Some(v) => {
                let _ = write!(s, "  {k} {v}");
            }
            None => {
                let _ = write!(s, "  {k} (none: billed at input, estimated)");
            }
        }
    }
    s
}

fn human(e: &Explanation) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}  (Region {}, at {})", e.model_id, e.region, e.at);
    let _ = writeln!(s, "  base model {}, tier {}", e.base, e.tier);
    let what = match e.outcome {
        "priced" => "priced by its own entry".to_string(),
        "fallback_same_model" => {
            "FALLBACK: the model has no price for this tier, Region or time; its dearest entry applies".to_string()
        }
        "fallback_family" => format!(
            "FALLBACK: unknown model of family {}; the family's dearest member applies",
            e.family.as_deref().unwrap_or("?")
        ),
        "fallback_global" => {
            "FALLBACK: unknown model of no known family; the global fallback (the dearest listed price) applies".to_string()
        }
        _ => "not token-priced (provisioned, custom or imported model): billed by the hour, not from logs".to_string(),
    };
    let _ = writeln!(s, "  {what}");
    if let Some(en) = &e.entry {
        let _ = writeln!(
            s,
            "  entry {} [{}] {}{}",
            en.model,
            en.tier,
            en.name
                .as_deref()
                .map(|n| format!("\"{n}\""))
                .unwrap_or_default(),
            en.family
                .as_deref()
                .map(|f| format!(", family {f}"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            s,
            "  Regions {}; effective {} .. {}",
            en.regions.join(","),
            en.effective_from,
            en.effective_to.as_deref().unwrap_or("(open)")
        );
        let _ = writeln!(
            s,
            "  source: {}",
            en.source.as_deref().unwrap_or("(none given)")
        );
        let _ = writeln!(s, "  price_version on rows: {}", en.version);
        if let (Some(i), Some(o)) = (en.batch_input, en.batch_output) {
            let _ = writeln!(s, "  batch: input {i}  output {o}");
        }
    }
    if let Some(r) = &e.rates {
        let _ = writeln!(s, "  USD per 1M tokens: {}", rates_line(r));
    }
    for l in &e.long_context {
        let _ = writeln!(
            s,
            "  prompt over {} tokens (input + cache read + cache write), every class: {}",
            l.threshold_tokens,
            rates_line(&l.rates)
        );
    }
    let _ = writeln!(s, "  catalogue {}", e.catalogue_version);
    s
}

/// The Price List files under `paths` (files, or directories read for `*.json`), in name order.
fn price_list_files(paths: &[std::path::PathBuf]) -> Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut v: Vec<_> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "json"))
                .collect();
            v.sort();
            if v.is_empty() {
                anyhow::bail!("{}: no .json files", p.display());
            }
            out.extend(v);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Writes `text` to `path` atomically: a temporary file beside it, then a rename.
pub fn write_atomic(path: &std::path::Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp-spendguard");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
}

/// What `prices sync` reads and how strict it is.
#[derive(Debug)]
pub struct SyncArgs<'a> {
    pub from: &'a [std::path::PathBuf],
    pub url: Option<&'a str>,
    pub regions: &'a [String],
    pub services: &'a [String],
    pub previous: Option<&'a std::path::Path>,
    pub max_factor: rust_decimal::Decimal,
    pub accept_moves: bool,
    pub out: Option<&'a std::path::Path>,
    pub opts: &'a PriceOpts,
}

/// `prices sync`: the overlay on stdout (or `out`), the report on stderr. Nothing is written
/// unless every file reads, the overlay loads with the pricer's own code, no model of
/// `--previous` disappears and no price moves by more than `--max-factor` (or
/// `--accept-moves`).
pub fn sync(a: &SyncArgs<'_>) -> Result<ExitCode> {
    use spendguard_core::pricelist;
    let sources: Vec<(String, String)> = match a.url {
        Some(base) => crate::offers::fetch_offers(base, a.services, a.regions)?,
        None => price_list_files(a.from)?
            .into_iter()
            .map(|f| {
                let text = std::fs::read_to_string(&f)
                    .with_context(|| format!("reading {}", f.display()))?;
                Ok((f.display().to_string(), text))
            })
            .collect::<Result<_>>()?,
    };
    let previous = match a.previous {
        Some(p) => Some((
            p.display().to_string(),
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )),
        None => None,
    };
    let files = input::catalogue_files(a.opts)?;
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let c = pricelist::candidate(
        &refs,
        &sources,
        previous.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
        a.max_factor,
    )?;
    let (rep, cat, v) = (&c.report, &c.base, &c.validation);
    let mut e = String::new();
    let _ = writeln!(
        e,
        "prices sync: {} files, {} SKUs read, {} mapped to {} entries, {} skipped, {} unclassified",
        sources.len(),
        rep.skus_total,
        rep.skus_mapped,
        rep.entries,
        rep.skipped.values().sum::<usize>(),
        rep.unclassified.len()
    );
    for (why, n) in &rep.skipped {
        let _ = writeln!(e, "  skipped {n:>4}: {why}");
    }
    for u in &rep.unclassified {
        let _ = writeln!(e, "  unclassified (listed, skipped): {u}");
    }
    for n in &rep.not_in_catalogue {
        let _ = writeln!(e, "  on the Price List, not in the catalogue: {n}");
    }
    for x in &rep.ambiguous {
        let _ = writeln!(e, "  ambiguous name, not joined: {x}");
    }
    for c in &rep.conflicts {
        let _ = writeln!(e, "  conflicting SKUs: {c}");
    }
    for i in &rep.incomplete {
        let _ = writeln!(e, "  incomplete, no entry written: {i}");
    }
    let _ = write!(e, "{}", diff_text(cat, &c.entries(), "the Price List wins"));
    for m in &v.disappeared {
        let _ = writeln!(
            e,
            "  HELD: {m} is in the overlay in force and not in this one"
        );
    }
    for m in &v.moves {
        let _ = writeln!(
            e,
            "  {}: {m}",
            if a.accept_moves { "accepted" } else { "HELD" }
        );
    }
    let held = !v.disappeared.is_empty() || (!v.moves.is_empty() && !a.accept_moves);
    if held {
        let _ = writeln!(
            e,
            "prices sync: held for an operator, nothing written (check the lines above; --accept-moves takes the moves)"
        );
    }
    eprint!("{e}");
    if held {
        return Ok(ExitCode::from(1));
    }
    match a.out {
        Some(p) => write_atomic(p, &rep.overlay)?,
        None => {
            print(&rep.overlay)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn diff_text(
    base: &spendguard_core::Catalogue,
    entries: &[&spendguard_core::catalogue::PriceEntry],
    decision: &str,
) -> String {
    use spendguard_core::pricelist::{diff, DiffLine};
    let lines = diff(base, entries);
    let (mut added, mut changed, mut same) = (0, 0, 0);
    let mut s = String::new();
    let show = |d: Option<rust_decimal::Decimal>| d.map_or("(none)".to_string(), |d| d.to_string());
    for l in &lines {
        match l {
            DiffLine::Added { key, rates } => {
                added += 1;
                let _ = writeln!(s, "  added   {key}: {rates}");
            }
            DiffLine::Changed {
                key,
                class,
                from,
                to,
            } => {
                changed += 1;
                let _ = writeln!(
                    s,
                    "  changed {key}: {class} {} -> {} ({decision})",
                    show(*from),
                    show(*to)
                );
            }
            DiffLine::ChangedTiers { key, from, to } => {
                changed += 1;
                let _ = writeln!(
                    s,
                    "  changed {key}: threshold tiers {from} -> {to} ({decision})"
                );
            }
            DiffLine::Same { .. } => same += 1,
        }
    }
    let _ = writeln!(
        s,
        "diff against catalogue {}: {added} added, {changed} price changes, {same} keys unchanged",
        base.version()
    );
    s
}

/// `prices diff FILE`: what an overlay changes against the catalogue in force.
pub fn diff(file: &std::path::Path, opts: &PriceOpts) -> Result<ExitCode> {
    let base = input::pricer(opts)?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let with = input::catalogue(opts, &[(file.display().to_string(), text)])?;
    let text = diff_text(
        base.catalogue(),
        &spendguard_core::pricelist::last_layer(&with),
        "the overlay wins",
    );
    print(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Where the stack's price overlay is.
#[derive(clap::Args, Debug, Clone)]
pub struct S3Opts {
    /// The stack's lake bucket (default: $SPENDGUARD_PRICES_BUCKET).
    #[arg(long, value_name = "NAME")]
    pub bucket: Option<String>,
    /// An emulator's endpoint instead of AWS.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
}

fn price_object(o: &S3Opts, rt: &tokio::runtime::Runtime) -> Result<PriceObject> {
    let bucket = match &o.bucket {
        Some(b) => b.clone(),
        None => std::env::var("SPENDGUARD_PRICES_BUCKET")
            .ok()
            .filter(|b| !b.trim().is_empty())
            .context("--bucket or SPENDGUARD_PRICES_BUCKET: the stack's lake bucket")?,
    };
    let conf = rt.block_on(spendguard_aws::sdk_config(o.endpoint_url.as_deref()));
    Ok(PriceObject::new(spendguard_aws::s3_client(&conf), bucket))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}

/// `prices push FILE`: the refresh's checks, then a new version of the overlay object.
pub fn push(
    file: &std::path::Path,
    max_factor: rust_decimal::Decimal,
    accept_moves: bool,
    s3: &S3Opts,
) -> Result<ExitCode> {
    use spendguard_core::pricelist;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let name = file.display().to_string();
    let builtin = ("prices/bedrock.toml", BUILTIN);
    let base = spendguard_core::Catalogue::load(&[builtin])?;
    let with = spendguard_core::Catalogue::load(&[builtin, (name.as_str(), text.as_str())])?;
    let rt = runtime()?;
    let object = price_object(s3, &rt)?;
    let current = match rt.block_on(object.get(None))? {
        Fetched::Body(s) => Some(s.text),
        Fetched::Missing | Fetched::NotModified => None,
    };
    let previous = current
        .as_deref()
        .map(|t| spendguard_core::Catalogue::load(&[builtin, (OVERLAY_NAME, t)]))
        .transpose()
        .context("the overlay in force does not load")?;
    let v = pricelist::validate(
        previous.as_ref().map(pricelist::last_layer).as_deref(),
        &base,
        &pricelist::last_layer(&with),
        max_factor,
    );
    let mut e = String::new();
    for m in &v.disappeared {
        let _ = writeln!(
            e,
            "  HELD: {m} is in the overlay in force and not in {name}"
        );
    }
    for m in &v.moves {
        let _ = writeln!(
            e,
            "  {}: {m}",
            if accept_moves { "accepted" } else { "HELD" }
        );
    }
    eprint!("{e}");
    if !v.disappeared.is_empty() || (!v.moves.is_empty() && !accept_moves) {
        eprintln!("prices push: held, nothing stored (--accept-moves takes the moves)");
        return Ok(ExitCode::from(1));
    }
    let w = rt.block_on(object.put(&object.key, &text))?;
    print(&format!(
        "{}\n",
        serde_json::json!({"bucket": object.bucket, "key": w.key, "versionId": w.version_id,
                            "etag": w.etag, "entries": pricelist::last_layer(&with).len(),
                            "note": "the transform and the aggregator price with it within a minute"})
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// `prices current`: the stored overlay on stdout, what it is on stderr.
pub fn current(s3: &S3Opts) -> Result<ExitCode> {
    let rt = runtime()?;
    let object = price_object(s3, &rt)?;
    match rt.block_on(object.get(None))? {
        Fetched::Body(st) => {
            let age = st.last_modified_ms.map(|t| {
                let h = (spendguard_core::clock::SystemClock.now_ms() - t) / 3_600_000;
                format!(", {h} h old")
            });
            eprintln!(
                "# s3://{}/{} version {} etag {}{}",
                object.bucket,
                object.key,
                st.version_id.as_deref().unwrap_or("(unversioned)"),
                st.etag,
                age.unwrap_or_default()
            );
            print(&st.text)?;
            Ok(ExitCode::SUCCESS)
        }
        Fetched::Missing | Fetched::NotModified => {
            eprintln!(
                "no overlay at s3://{}/{}: the built-in catalogue (and SPENDGUARD_PRICE_OVERLAY) is in force",
                object.bucket, object.key
            );
            Ok(ExitCode::from(1))
        }
    }
}
