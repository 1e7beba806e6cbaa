//! `spendguard bench`: one run, three paths over the same generated corpus, median of N passes:
//! (a) our pipeline (base64 -> libdeflate -> simd-json envelope -> typed messages -> price),
//! (b) libdeflate inflate alone (the physical ceiling), (c) the naive flate2 `GzDecoder` +
//! `serde_json::Value` path, (d) the transform Lambda's whole handler on Firehose events of up to
//! 3 MB (event JSON parse, base64, the pipeline, rows as JSON, base64 out, response JSON), and
//! (e) the aggregator's whole batch path on Kinesis events of up to 6 MB (event JSON parse,
//! base64, the pipeline, windows, dedup, transaction planning and the DynamoDB request items),
//! with the transaction call itself answered in-process: no emulator in the timing. It also
//! reports the write units those transactions cost, computed from the item sizes.
//! Throughput is MB/s of decompressed envelope bytes.
#![allow(clippy::float_arithmetic)] // timings, not money

use anyhow::{bail, Result};
use aws_lambda_events::firehose::KinesisFirehoseEvent;
use base64::Engine as _;
use lambda_runtime::{Context as LambdaContext, LambdaEvent};
use rust_decimal::Decimal;
use spendguard_core::clock::SystemClock;
use spendguard_core::pipeline::RecordOutcome;
use spendguard_core::synth::{self, Spec};
use spendguard_core::{baseline, Catalogue, Pipeline, Pricer, PricerConfig};
use spendguard_transform::firehose::TransformResult;
use spendguard_transform::send::{Entry, PutError, Sink, Target};
use spendguard_transform::{function_handler, Deps};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// Accepts everything: the handler benchmark measures pricing, not a network.
struct NullSink;

impl Sink for NullSink {
    async fn put(&self, _: &Target, e: &[&Entry]) -> Result<Vec<Option<String>>, PutError> {
        Ok(vec![None; e.len()])
    }
}

/// Commits every transaction at once: the aggregator benchmark measures our work, not a network.
struct NullTransact;

impl spendguard_aggregator::dynamo::Transact for NullTransact {
    async fn transact(
        &self,
        _: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
    ) -> Result<(), spendguard_aggregator::dynamo::TxError> {
        Ok(())
    }
}

/// Kinesis events (JSON) over the envelopes, each under Lambda's 6 MB payload limit.
fn kinesis_events(envelopes: &[Vec<u8>]) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::new();
    let mut cur: Vec<serde_json::Value> = Vec::new();
    let mut size = 0usize;
    for (i, g) in envelopes.iter().enumerate() {
        let data = b64.encode(g);
        if size + data.len() + 300 > 6_000_000 && !cur.is_empty() {
            out.push(serde_json::json!({ "Records": std::mem::take(&mut cur) }).to_string());
            size = 0;
        }
        size += data.len() + 300;
        cur.push(
            serde_json::json!({"kinesis": {"data": data, "partitionKey": "111122223333",
            "sequenceNumber": format!("49590338271490256608559692538361571095921575989{i:09}")}}),
        );
    }
    if !cur.is_empty() {
        out.push(serde_json::json!({ "Records": cur }).to_string());
    }
    out
}

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

    // (d) the handler, over the same envelopes packed into Firehose events
    let events = crate::gen::firehose_events(&corpus.envelopes_gz, 3_000_000);
    let event_mb_avg =
        events.iter().map(String::len).sum::<usize>() as f64 / events.len().max(1) as f64 / 1e6;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let deps = Deps::new(
        spendguard_transform::Config::default(),
        NullSink,
        Arc::new(SystemClock),
    )?;
    let mut t_handler = Vec::new();
    let (mut handler_rows, mut handler_not_ok) = (0usize, 0usize);

    // (e) the aggregator over the same envelopes as Kinesis events
    let k_events = kinesis_events(&corpus.envelopes_gz);
    let dummy = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .build(),
    );
    let agg = spendguard_aggregator::Deps::new(
        Pipeline::new(pricer.clone(), 64 << 20)?,
        spendguard_core::budget::BudgetConfig::parse("")?,
        spendguard_aggregator::dynamo::DynamoLedger::with_transact(
            NullTransact,
            dummy,
            "bench".into(),
            14 * 86_400,
        ),
        Arc::new(SystemClock),
        None,
    );
    let mut t_agg = Vec::new();
    let mut agg_last = (0usize, 0u64, 0usize, 0usize);

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

        let t = Instant::now();
        let (mut rows_h, mut not_ok) = (0usize, 0usize);
        for ev in &events {
            let event: KinesisFirehoseEvent = serde_json::from_str(ev)?;
            let resp = match rt.block_on(function_handler(
                LambdaEvent::new(event, LambdaContext::default()),
                &deps,
            )) {
                Ok(r) => r,
                Err(never) => match never {},
            };
            let body = serde_json::to_string(&resp)?;
            for r in &resp.records {
                match &r.data {
                    Some(d) if r.result == TransformResult::Ok => {
                        rows_h += base64::engine::general_purpose::STANDARD
                            .decode(d)
                            .map(|v| v.iter().filter(|&&b| b == b'\n').count())
                            .unwrap_or(0);
                    }
                    _ => not_ok += 1,
                }
            }
            std::hint::black_box(body);
        }
        let el_handler = t.elapsed().as_secs_f64();

        let t = Instant::now();
        let (mut applied, mut wcu, mut txs, mut windows) = (0usize, 0u64, 0usize, 0usize);
        for ev in &k_events {
            let event: spendguard_aggregator::KinesisEvent = serde_json::from_str(ev)?;
            let (resp, r) = rt.block_on(spendguard_aggregator::handle(&event, &agg));
            if !resp.batch_item_failures.is_empty() {
                bail!("the aggregator reported a failure on generated data");
            }
            applied += r.applied.applied;
            wcu += r.applied.computed_write_units;
            txs += r.applied.transactions;
            windows += r.stats.priced;
        }
        let el_agg = t.elapsed().as_secs_f64();
        agg_last = (applied, wcu, txs, windows);

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
            t_handler.push(el_handler);
            t_agg.push(el_agg);
        }
        handler_rows = rows_h;
        handler_not_ok = not_ok;
        pipe_cost = cost;
        pipe_rows = rows;
        naive_totals = totals;
    }
    let (p, i, n) = (median(t_pipe), median(t_inflate), median(t_naive));
    let h = median(t_handler);
    let a = median(t_agg);
    let (agg_applied, agg_wcu, agg_txs, agg_priced) = agg_last;
    let totals_match = pipe_cost == naive_totals.cost
        && pipe_rows == naive_totals.rows
        && handler_rows == pipe_rows
        && handler_not_ok == 0
        && agg_priced == pipe_rows;
    let report = serde_json::json!({
        "pipeline_mb_per_s": round1(mb / p),
        "inflate_only_mb_per_s": round1(mb / i),
        "naive_mb_per_s": round1(mb / n),
        "invocations_per_s": (invocations as f64 / p).round(),
        "pipeline_vs_inflate_only": round3(i / p),
        "pipeline_vs_naive": round3(n / p),
        "handler_mb_per_s": round1(mb / h),
        "handler_vs_pipeline": round3(p / h),
        "handler_vs_naive": round3(n / h),
        "handler_events": events.len(),
        "handler_event_mb_avg": round3(event_mb_avg),
        "handler_rows": handler_rows,
        "handler_records_not_ok": handler_not_ok,
        "aggregator_invocations_per_s": (agg_applied as f64 / a).round(),
        "aggregator_vs_pipeline": round3(p / a),
        "aggregator_events": k_events.len(),
        "aggregator_invocations": agg_applied,
        "aggregator_transactions": agg_txs,
        "computed_wcu_per_invocation": if agg_applied > 0 { round3(agg_wcu as f64 / agg_applied as f64) } else { 0.0 },
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
        eprintln!(
            "spendguard bench: the pipeline, the handler and the naive path disagree on totals"
        );
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
