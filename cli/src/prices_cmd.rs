//! `spendguard prices`: how the catalogue in force (built-in plus `--prices` overlays) prices a
//! logged model id.

use crate::input;
use crate::PriceOpts;
use anyhow::{Context, Result};
use spendguard_core::catalogue::Rates;
use spendguard_core::explain::Explanation;
use std::fmt::Write as _;
use std::io::Write;
use std::process::ExitCode;

/// `--at`: a `YYYY-MM-DD` day (its first instant, UTC) or an RFC 3339 instant; default now.
pub fn at_ms(at: Option<&str>) -> Result<i64> {
    match at {
        None => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .context("the system clock is before 1970")?;
            i64::try_from(now.as_millis()).context("the system clock is out of range")
        }
        Some(s) => {
            let full = if s.len() == 10 {
                format!("{s}T00:00:00Z")
            } else {
                s.to_string()
            };
            spendguard_schemas::time::parse_rfc3339_ms(&full).map_err(|e| {
                anyhow::anyhow!("--at {s:?}: not a YYYY-MM-DD day or RFC 3339 instant: {e}")
            })
        }
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
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
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
        if let Err(err) = out.write_all(text.as_bytes()) {
            if err.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(ExitCode::SUCCESS);
            }
            return Err(err.into());
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
