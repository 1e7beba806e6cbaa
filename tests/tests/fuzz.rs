//! Fuzzing on the stable toolchain (issue 20): proptest drives every decoder entry point the
//! Lambdas and the CLI share (gzip, envelope, record, and the Firehose event with its base64
//! `data`, through the transform Lambda's own entry point) with a fixed, deterministic case
//! budget, and asserts no
//! panic, no case past a time bound, and allocation within a bound, measured by a counting
//! global allocator. Inputs are real shapes (the fixtures, synthetic envelopes) mutated at the
//! byte level, and plain arbitrary bytes. What a run finds is kept under `fixtures/fuzz/` and
//! replayed first, every run.
//!
//! `SPENDGUARD_FUZZ_CASES` raises the budget for a longer hunt (default 256 per target).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng, TestRunner};
use spendguard_core::alloc_count::{peak_during, Counting};
use spendguard_core::synth::{envelope_json, gzip, Generator, Spec};
use spendguard_core::{scan, Catalogue, Decoder, Pipeline, Pricer, PricerConfig};
use spendguard_schemas::fixtures as fx;
use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: Counting = Counting;

/// Measured sections run one at a time: the allocator is global.
static SERIAL: Mutex<()> = Mutex::new(());

/// The CLI's default `--max-decompressed-mib`: the bound must hold without a small cap's help.
const CAP: usize = 4096 << 20;
/// Allocation above the start of a case, at most: the 100 MB.
const MEM_BOUND: usize = 100 << 20;
/// Wall time of one case, at most (a debug build with optimised dependencies, on a busy
/// 2-core machine; a hang is minutes).
const TIME_BOUND: Duration = Duration::from_secs(10);

fn cases() -> u32 {
    std::env::var("SPENDGUARD_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn runner() -> TestRunner {
    TestRunner::new_with_rng(
        Config {
            cases: cases(),
            failure_persistence: None,
            max_shrink_iters: 1000,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    )
}

fn pipeline() -> Pipeline {
    Pipeline::new(
        Pricer::new(Catalogue::builtin().unwrap(), PricerConfig::default()),
        CAP,
    )
    .unwrap()
}

fn compact(json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json)
        .unwrap()
        .to_string()
}

/// Real shapes to mutate: the envelope fixtures, a synthetic envelope, and the record fixtures.
fn envelope_seeds() -> Vec<Vec<u8>> {
    let mut g = Generator::new(Spec {
        invocations: 8,
        ..Spec::default()
    });
    let events: Vec<(String, i64)> = (0..8).map(|_| g.next_record()).collect();
    vec![
        compact(fx::CWL_DATA_MESSAGE).into_bytes(),
        compact(fx::CWL_CONTROL_MESSAGE).into_bytes(),
        envelope_json("111122223333", &events, 1).into_bytes(),
    ]
}

fn record_seeds() -> Vec<Vec<u8>> {
    fx::ALL
        .iter()
        .filter(|(name, _)| name.starts_with("example-bedrock-"))
        .map(|(_, json)| compact(json).into_bytes())
        .collect()
}

/// Tokens that break JSON in interesting ways when spliced in.
const TOKENS: &[&str] = &[
    "null",
    "\"",
    "\\",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "-1",
    "1e999",
    "99999999999999999999999",
    "\\u0000",
    "\\ud800",
    "true",
    "é",
    "\"logEvents\":",
    "\"message\":\"",
    "\"requestId\":\"\"",
    "\"inputTokenCount\":",
];

/// One byte-level edit: (kind, position, argument).
type Op = (u8, u32, u8);

fn apply(seed: &[u8], ops: &[Op]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for &(kind, pos, arg) in ops {
        let at = if b.is_empty() {
            0
        } else {
            pos as usize % b.len()
        };
        match kind % 5 {
            0 if !b.is_empty() => b[at] ^= arg | 1,
            1 => b.truncate(at),
            2 => {
                let end = (at + arg as usize).min(b.len());
                b.drain(at..end);
            }
            3 => {
                let t = TOKENS[arg as usize % TOKENS.len()].as_bytes();
                b.splice(at..at, t.iter().copied());
            }
            _ => {
                let end = (at + arg as usize).min(b.len());
                let copy = b[at..end].to_vec();
                b.splice(end..end, copy);
            }
        }
    }
    b
}

fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let n = seeds.len();
    (0..n, vec((any::<u8>(), any::<u32>(), any::<u8>()), 0..6))
        .prop_map(move |(i, ops)| apply(&seeds[i], &ops))
}

/// Runs `check` on one input inside the bounds; the error names the bound that broke.
fn bounded(what: &str, input: &[u8], check: impl FnOnce()) -> Result<(), TestCaseError> {
    let t0 = Instant::now();
    let ((), peak) = peak_during(check);
    let took = t0.elapsed();
    if took > TIME_BOUND {
        return Err(TestCaseError::fail(format!(
            "{what}: {took:?} on {} input bytes",
            input.len()
        )));
    }
    if peak > MEM_BOUND {
        return Err(TestCaseError::fail(format!(
            "{what}: {peak} bytes allocated on {} input bytes",
            input.len()
        )));
    }
    Ok(())
}

fn fixtures_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/fuzz")
        .join(target)
}

/// Replays what earlier runs found, then runs the budget; a failure is saved (minimised) for
/// the next run and fails the test.
fn fuzz(target: &str, strategy: impl Strategy<Value = Vec<u8>>, check: impl Fn(&[u8])) {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = fixtures_dir(target);
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries {
            let path = e.unwrap().path();
            let input = std::fs::read(&path).unwrap();
            bounded(target, &input, || check(&input))
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
    let result = runner().run(&strategy, |input| bounded(target, &input, || check(&input)));
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, input)) => {
            std::fs::create_dir_all(&dir).unwrap();
            let name = format!("found-{:016x}", fnv(&input));
            std::fs::write(dir.join(&name), &input).unwrap();
            panic!("{target}: {why}; the input is kept as fixtures/fuzz/{target}/{name}");
        }
        Err(e) => panic!("{target}: {e}"),
    }
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Every outcome counts: rows and bad events are read, never dropped on the floor.
fn drain(p: &mut Pipeline, gz: &[u8]) {
    let mut n = 0usize;
    let _ = p.process_gzip(gz, &mut |_| n += 1);
}

#[test]
fn gzip_entry_point() {
    let state = RefCell::new((pipeline(), Decoder::new(CAP).unwrap()));
    let gz_seeds: Vec<Vec<u8>> = envelope_seeds().iter().map(|s| gzip(s)).collect();
    let strategy = prop_oneof![
        mutated(gz_seeds),
        vec(any::<u8>(), 0..2048).prop_map(|mut b| {
            b.splice(0..0, [0x1f, 0x8b, 8, 0]);
            b
        }),
    ];
    fuzz("gzip", strategy, |input| {
        let (p, d) = &mut *state.borrow_mut();
        let _ = d.gunzip(input);
        drain(p, input);
    });
}

#[test]
fn envelope_entry_point() {
    let state = RefCell::new((pipeline(), Decoder::new(CAP).unwrap()));
    // (scanned, refused by the scanner) cases: the run must exercise both sides
    let seen = RefCell::new((0usize, 0usize));
    fuzz("envelope", mutated(envelope_seeds()), |input| {
        let (p, d) = &mut *state.borrow_mut();
        // the scanner accelerates, the strict parser decides: whatever the scanner accepts,
        // the strict parser accepts with the same events
        let fast = scan::scan(input);
        let mut s = seen.borrow_mut();
        if fast.is_some() {
            s.0 += 1;
        } else {
            s.1 += 1;
        }
        if let Some(fast) = fast {
            let mut copy = input.to_vec();
            let strict = d.envelope_from_json(&mut copy).unwrap_or_else(|e| {
                panic!(
                    "the scanner accepted what the strict parser refuses ({e}): {}",
                    String::from_utf8_lossy(input)
                )
            });
            assert_eq!(fast.events.len(), strict.log_events.len());
            for (a, b) in fast.events.iter().zip(&strict.log_events) {
                assert_eq!((&*a.id, a.timestamp), (&*b.id, b.timestamp));
            }
        }
        drain(p, &gzip(input));
    });
    let (scanned, refused) = *seen.borrow();
    eprintln!("envelope: {scanned} scanned, {refused} refused by the scanner");
    let total = scanned + refused;
    assert!(
        scanned * 10 >= total && refused * 10 >= total,
        "the mutations must reach both sides: {scanned} scanned, {refused} refused"
    );
}

#[test]
fn record_entry_point() {
    let p = pipeline();
    fuzz("record", mutated(record_seeds()), |input| {
        let text = String::from_utf8_lossy(input);
        let _ = p.process_record(&text, 0);
    });
}

/// Issue 20 case 2: a truncated gzip costs what it really inflates to, not what its trailer
/// claims, under the CLI's default 4 GiB cap (it once cost 1.3-3.9 GB).
#[test]
fn truncated_gzip_allocates_what_it_inflates_to() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let mut g = Generator::new(Spec {
        invocations: 4000,
        ..Spec::default()
    });
    let events: Vec<(String, i64)> = (0..4000).map(|_| g.next_record()).collect();
    let json = envelope_json("111122223333", &events, 1);
    let whole = gzip(json.as_bytes());
    eprintln!("envelope: {} bytes, {} gzip", json.len(), whole.len());
    assert!(whole.len() > 300_000, "{}", whole.len());
    for cut in [27, 300, 1400, 150_000, whole.len() / 2, whole.len() - 1] {
        let part = &whole[..cut];
        // a fresh decoder each time: its reused buffer would hide the allocation
        let mut d = Decoder::new(CAP).unwrap();
        let (result, peak) = peak_during(|| d.gunzip(part).map(|b| b.len()));
        assert!(result.is_err(), "a cut at {cut} is an error");
        let mut p = pipeline();
        let ((), pipe_peak) = peak_during(|| drain(&mut p, part));
        eprintln!(
            "truncated at {cut} bytes: gunzip peak {} KB, pipeline peak {} KB",
            peak >> 10,
            pipe_peak >> 10
        );
        for (what, peak) in [("gunzip", peak), ("pipeline", pipe_peak)] {
            assert!(peak < MEM_BOUND, "{what}, cut at {cut}: {} MB", peak >> 20);
        }
    }
}

/// A sink that accepts every re-ingest (the fuzz run checks the response, not the sends).
#[derive(Debug)]
struct Accept;

impl spendguard_transform::send::Sink for Accept {
    async fn put(
        &self,
        _target: &spendguard_transform::send::Target,
        entries: &[&spendguard_transform::send::Entry],
    ) -> Result<Vec<Option<String>>, spendguard_transform::send::PutError> {
        Ok(vec![None; entries.len()])
    }
}

/// One Firehose record's `data`, by kind: a real gzip envelope (mutated first), base64 of
/// arbitrary bytes, text that is not base64, a truncated envelope.
fn record_data() -> impl Strategy<Value = String> {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    prop_oneof![
        mutated(envelope_seeds()).prop_map(move |e| b64(&gzip(&e))),
        vec(any::<u8>(), 0..512).prop_map(move |b| b64(&b)),
        "[ -~]{0,64}",
        (mutated(envelope_seeds()), any::<u16>()).prop_map(move |(e, cut)| {
            let g = gzip(&e);
            b64(&g[..cut as usize % g.len().max(1)])
        }),
    ]
}

/// The transform Lambda's entry point under generated Firehose events: records with repeated
/// ids, missing or non-string fields and any data. Every distinct `recordId` is answered
/// exactly once (Firehose fails the whole batch otherwise), within the bounds.
#[test]
fn firehose_event_entry_point() {
    let deps = spendguard_transform::Deps::new(
        spendguard_transform::Config::default(),
        Accept,
        std::sync::Arc::new(spendguard_core::clock::SystemClock),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let record = (0u8..6, record_data(), 0u8..8).prop_map(|(id, data, shape)| {
        let mut r = serde_json::json!({"recordId": format!("r{id}"),
            "approximateArrivalTimestamp": 1_795_219_200_000_i64, "data": data});
        match shape {
            0 => {
                r.as_object_mut().unwrap().remove("data");
            }
            1 => r["data"] = serde_json::json!(42),
            2 => r["recordId"] = serde_json::json!(null),
            _ => {}
        }
        r
    });
    let events = vec(record, 0..10).prop_map(|records| {
        serde_json::json!({"invocationId": "fuzz", "region": "us-east-1",
            "deliveryStreamArn": "arn:aws:firehose:us-east-1:111122223333:deliverystream/d",
            "records": records})
        .to_string()
        .into_bytes()
    });
    fuzz("firehose", events, |input| {
        let event: serde_json::Value = serde_json::from_slice(input).unwrap();
        let mut ids: Vec<&str> = event["records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["recordId"].as_str())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let response = rt
            .block_on(spendguard_transform::event_handler(
                lambda_runtime::LambdaEvent::new(event.clone(), lambda_runtime::Context::default()),
                &deps,
            ))
            .unwrap();
        let mut answered: Vec<&str> = response
            .records
            .iter()
            .map(|r| r.record_id.as_str())
            .collect();
        answered.sort_unstable();
        assert_eq!(answered, ids, "each recordId answered exactly once");
    });
}
