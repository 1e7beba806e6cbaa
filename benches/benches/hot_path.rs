//! Criterion benchmarks of the hot-path stages on deterministic generated data shaped like
//! PERF-LIMITS.md (13-14 KB median invocation, escape-dense messages, unicode, 2-200 KB bodies).
//! Throughput is bytes of decompressed envelope JSON (message bytes for the message stage).
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark setup, not a handler path

use base64::Engine as _;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use spendguard_core::decode::{self, Decoder};
use spendguard_core::pipeline::RecordOutcome;
use spendguard_core::synth::{self, Spec};
use spendguard_core::{baseline, Catalogue, Pipeline, Pricer, PricerConfig};
use std::hint::black_box;

fn corpus() -> synth::Corpus {
    synth::corpus(Spec {
        invocations: 2_000,
        ..Spec::default()
    })
}

fn stages(c: &mut Criterion) {
    let corpus = corpus();
    let bytes = corpus.decompressed_bytes as u64;
    let b64: Vec<String> = corpus
        .envelopes_gz
        .iter()
        .map(|g| base64::engine::general_purpose::STANDARD.encode(g))
        .collect();
    let plain: Vec<Vec<u8>> = corpus
        .envelopes_gz
        .iter()
        .map(|g| {
            let mut d = Decoder::new(64 << 20).unwrap();
            d.gunzip(g).unwrap().to_vec()
        })
        .collect();
    let messages: Vec<String> = plain
        .iter()
        .flat_map(|p| {
            let v: serde_json::Value = serde_json::from_slice(p).unwrap();
            v["logEvents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["message"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let msg_bytes: u64 = messages.iter().map(|m| m.len() as u64).sum();
    let pricer = Pricer::new(Catalogue::builtin().unwrap(), PricerConfig::default());

    let mut g = c.benchmark_group("hot_path");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(bytes));

    g.bench_function("decode_base64", |b| {
        let mut d = Decoder::new(64 << 20).unwrap();
        b.iter(|| {
            for r in &b64 {
                black_box(d.base64(r.as_bytes()).unwrap().len());
            }
        })
    });
    g.bench_function("inflate_libdeflate_capped", |b| {
        let mut d = Decoder::new(64 << 20).unwrap();
        b.iter(|| {
            for gz in &corpus.envelopes_gz {
                black_box(d.gunzip(gz).unwrap().len());
            }
        })
    });
    // The hot path: envelope and every record in one pass (read-only, so no buffer copies).
    g.bench_function("envelope_and_records_single_pass_scan", |b| {
        b.iter(|| {
            for buf in &plain {
                let s = spendguard_core::scan::scan(buf).unwrap();
                black_box(s.events.len());
            }
        })
    });
    // The strict path's envelope level alone (messages unescaped, not yet parsed).
    g.bench_function("envelope_parse_simd_json", |b| {
        let mut d = Decoder::new(64 << 20).unwrap();
        b.iter_batched(
            || plain.clone(),
            |mut bufs| {
                for buf in bufs.iter_mut() {
                    black_box(d.envelope_from_json(buf).unwrap().log_events.len());
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("pipeline_base64_to_priced_rows", |b| {
        let mut p = Pipeline::new(pricer.clone(), 64 << 20).unwrap();
        b.iter(|| {
            for r in &b64 {
                p.process_base64(r.as_bytes(), &mut |o| {
                    black_box(matches!(o, RecordOutcome::Priced(_)));
                })
                .unwrap();
            }
        })
    });
    g.bench_function("naive_gzdecoder_serde_value", |b| {
        b.iter(|| {
            let mut t = baseline::Totals::default();
            for gz in &corpus.envelopes_gz {
                baseline::process_gzip(&pricer, gz, &mut t).unwrap();
            }
            black_box(t)
        })
    });
    g.finish();

    let mut g = c.benchmark_group("message");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(msg_bytes));
    g.bench_function("message_parse_typed_skip_bodies", |b| {
        b.iter(|| {
            for m in &messages {
                black_box(decode::parse_record(m).unwrap());
            }
        })
    });
    g.bench_function("message_parse_serde_value", |b| {
        b.iter(|| {
            for m in &messages {
                black_box(serde_json::from_str::<serde_json::Value>(m).unwrap());
            }
        })
    });
    g.finish();

    let records: Vec<_> = messages
        .iter()
        .map(|m| decode::parse_record(m).unwrap())
        .collect();
    let mut g = c.benchmark_group("pricing");
    g.throughput(Throughput::Elements(records.len() as u64));
    g.bench_function("price_records", |b| {
        b.iter_batched(
            || records.clone(),
            |recs| {
                for r in recs {
                    black_box(pricer.price(r, None).unwrap());
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
