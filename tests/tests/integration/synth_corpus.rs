//! The fast path and the naive path (flate2 GzDecoder + serde_json::Value) agree, row for row
//! and to the last decimal digit, on a generated corpus with every model-id form, operation,
//! cache class, error records and unknown models.

use rust_decimal::Decimal;
use spendguard_core::pipeline::RecordOutcome;
use spendguard_core::synth::{self, Spec};
use spendguard_core::{baseline, Catalogue, Pipeline, Pricer, PricerConfig};
use spendguard_schemas::PriceStatus;
use std::collections::HashMap;

#[test]
fn fast_and_naive_paths_agree_and_every_status_occurs() {
    let corpus = synth::corpus(Spec {
        invocations: 3_000,
        seed: 7,
        ..Spec::default()
    });
    let pricer = Pricer::new(Catalogue::builtin().unwrap(), PricerConfig::default());
    let mut pipe = Pipeline::new(pricer.clone(), 64 << 20).unwrap();
    let (mut cost, mut rows, mut bytes) = (Decimal::ZERO, 0usize, 0usize);
    let mut statuses: HashMap<PriceStatus, usize> = HashMap::new();
    let mut ttl_sources: HashMap<spendguard_schemas::CacheTtlSource, usize> = HashMap::new();
    for gz in &corpus.envelopes_gz {
        let s = pipe
            .process_gzip(gz, &mut |o| match o {
                RecordOutcome::Priced(r) => {
                    cost += r.cost_usd;
                    rows += 1;
                    *statuses.entry(r.price_status).or_default() += 1;
                    *ttl_sources.entry(r.cache_ttl_source).or_default() += 1;
                }
                RecordOutcome::Bad { error, .. } => panic!("generated record refused: {error}"),
            })
            .unwrap();
        bytes += s.decompressed_bytes;
    }
    let mut naive = baseline::Totals::default();
    for gz in &corpus.envelopes_gz {
        baseline::process_gzip(&pricer, gz, &mut naive).unwrap();
    }
    assert_eq!(rows, 3_000);
    assert_eq!((naive.rows, naive.bad), (rows, 0));
    assert_eq!(naive.cost, cost);
    assert_eq!(naive.decompressed_bytes, bytes);
    assert_eq!(bytes, corpus.decompressed_bytes);
    for s in [
        PriceStatus::Exact,
        PriceStatus::Fallback,
        PriceStatus::ErrorNoCharge,
    ] {
        assert!(
            statuses.get(&s).copied().unwrap_or(0) > 0,
            "{s} never occurred: {statuses:?}"
        );
    }
    assert!(ttl_sources.len() >= 2, "{ttl_sources:?}");
    // shaped like PERF-LIMITS.md: about 13-15 KB per invocation, gzip about 3.6x
    let per_inv = bytes / rows;
    assert!(
        (9_000..20_000).contains(&per_inv),
        "{per_inv} bytes per invocation"
    );
    let compressed: usize = corpus.envelopes_gz.iter().map(Vec::len).sum();
    let ratio = bytes as f64 / compressed as f64;
    assert!((3.0..4.5).contains(&ratio), "gzip ratio {ratio}");
}

#[test]
fn the_generator_is_deterministic() {
    let a = synth::corpus(Spec {
        invocations: 200,
        ..Spec::default()
    });
    let b = synth::corpus(Spec {
        invocations: 200,
        ..Spec::default()
    });
    assert_eq!(a.envelopes_gz, b.envelopes_gz);
    let c = synth::corpus(Spec {
        invocations: 200,
        seed: 43,
        ..Spec::default()
    });
    assert_ne!(a.envelopes_gz, c.envelopes_gz);
}
