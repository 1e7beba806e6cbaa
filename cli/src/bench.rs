//! `spendguard bench`: one run, three paths over the same generated corpus, median of N passes:
//! (a) our pipeline (base64 -> libdeflate -> simd-json envelope -> typed messages -> price),
//! (b) libdeflate inflate alone (the physical ceiling), (c) the naive flate2 `GzDecoder` +
//! `serde_json::Value` path. Throughput is MB/s of decompressed envelope bytes.
#![allow(clippy::float_arithmetic)] // timings, not money

use anyhow::{bail, Result};
use base64::Engine as _;
use rust_decimal::Decimal;
use spendguard_core::pipeline::RecordOutcome;
use spendguard_core::synth::{self, Spec};
use spendguard_core::{baseline, Catalogue, Pipeline, Pricer, PricerConfig};
use std::process::ExitCode;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn run(json: bool, invocations: usize, passes: usize, seed: u64) -> Result<ExitCode> {
    if passes < 1 || invocations < 1 {
        bail!("--passes and --invocations must be at least 1");
    }
    let t0 = Instant::now();
    let corpus = synth::corpus(Spec {
        seed,
        invocations,
        ..Spec::default()
    });
    let b64: Vec<String> = corpus
        .envelopes_gz
        .iter()
        .map(|g| base64::engine::general_purpose::STANDARD.encode(g))
        .collect();
    let gen_s = t0.elapsed().as_secs_f64();
    let mb = corpus.decompressed_bytes as f64 / 1e6;
    let pricer = Pricer::new(Catalogue::builtin()?, PricerConfig::default());
    let mut pipe = Pipeline::new(pricer.clone(), 64 << 20)?;
    let mut inflater = libdeflater::Decompressor::new();

    let (mut t_pipe, mut t_inflate, mut t_naive) = (Vec::new(), Vec::new(), Vec::new());
    let (mut pipe_cost, mut pipe_rows, mut naive_totals) =
        (Decimal::ZERO, 0usize, baseline::Totals::default());
    let mut out = Vec::new();
    // one warm-up pass of each, then `passes` timed passes, interleaved so drift hits all three
    for pass in 0..=passes {
        let t = Instant::now();
        let (mut cost, mut rows) = (Decimal::ZERO, 0usize);
        for rec in &b64 {
            pipe.process_base64(rec.as_bytes(), &mut |o| {
                if let RecordOutcome::Priced(r) = o {
                    cost += r.cost_usd;
                    rows += 1;
                }
            })?;
        }
        let el = t.elapsed().as_secs_f64();

        let t = Instant::now();
        let mut inflated = 0usize;
        for gz in &corpus.envelopes_gz {
            let n = gz.len();
            let isize = u32::from_le_bytes([gz[n - 4], gz[n - 3], gz[n - 2], gz[n - 1]]) as usize;
            if out.len() < isize {
                out.resize(isize, 0);
            }
            inflated += inflater
                .gzip_decompress(gz, &mut out[..isize])
                .map_err(|e| anyhow::anyhow!("inflate: {e}"))?;
        }
        let el_inflate = t.elapsed().as_secs_f64();

        let t = Instant::now();
        let mut totals = baseline::Totals::default();
        for rec in &b64 {
            let gz = base64::engine::general_purpose::STANDARD.decode(rec)?;
            baseline::process_gzip(&pricer, &gz, &mut totals).map_err(anyhow::Error::msg)?;
        }
        let el_naive = t.elapsed().as_secs_f64();

        if inflated != corpus.decompressed_bytes {
            bail!(
                "inflate-only produced {inflated} bytes, expected {}",
                corpus.decompressed_bytes
            );
        }
        if pass > 0 {
            t_pipe.push(el);
            t_inflate.push(el_inflate);
            t_naive.push(el_naive);
        }
        pipe_cost = cost;
        pipe_rows = rows;
        naive_totals = totals;
    }
    let (p, i, n) = (median(t_pipe), median(t_inflate), median(t_naive));
    let totals_match = pipe_cost == naive_totals.cost && pipe_rows == naive_totals.rows;
    let report = serde_json::json!({
        "pipeline_mb_per_s": round1(mb / p),
        "inflate_only_mb_per_s": round1(mb / i),
        "naive_mb_per_s": round1(mb / n),
        "invocations_per_s": (invocations as f64 / p).round(),
        "pipeline_vs_inflate_only": round3(i / p),
        "pipeline_vs_naive": round3(n / p),
        "decompressed_mb": round1(mb),
        "compressed_mb": round1(corpus.envelopes_gz.iter().map(Vec::len).sum::<usize>() as f64 / 1e6),
        "envelopes": corpus.envelopes_gz.len(),
        "invocations": invocations,
        "rows": pipe_rows,
        "cost_usd": pipe_cost.normalize().to_string(),
        "totals_match_naive": totals_match,
        "passes": passes,
        "generate_s": round1(gen_s),
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
    });
    if json {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    if !totals_match {
        eprintln!("spendguard bench: the pipeline and the naive path disagree on totals");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
