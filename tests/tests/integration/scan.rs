//! The single-pass scanner against the strict parsers (simd-json envelope + serde_json record):
//! on generated data it must read every record itself, and on any input (fixtures, thousands of
//! mutated records and envelopes) whatever it accepts must be exactly what the strict path gives.

use spendguard_core::decode::{self, Decoder};
use spendguard_core::scan::{self, EventBody};
use spendguard_core::synth::{self, Rng, Spec};
use spendguard_schemas::fixtures;

/// The strict path's envelope: header and (id, timestamp, message) per event.
fn strict(json: &[u8]) -> Result<(String, Vec<(String, i64, String)>), String> {
    let mut buf = json.to_vec();
    let mut d = Decoder::new(64 << 20).unwrap();
    d.envelope_from_json(&mut buf)
        .map(|env| {
            let head = format!(
                "{:?} {} {} {}",
                env.message_type, env.owner, env.log_group, env.log_stream
            );
            let evs = env
                .log_events
                .iter()
                .map(|e| (e.id.to_string(), e.timestamp, e.message.to_string()))
                .collect();
            (head, evs)
        })
        .map_err(|e| e.to_string())
}

/// Checks the scanner against the strict path on one envelope. `None`: the scanner left the
/// whole envelope to the strict path; `Some(n)`: it agreed, reading `n` records itself.
fn check(json: &[u8]) -> Option<usize> {
    let sc = scan::scan(json)?;
    let (head, events) = strict(json).unwrap_or_else(|e| {
        panic!(
            "the scanner accepted an envelope the strict parser refuses ({e}):\n{}",
            String::from_utf8_lossy(json)
        )
    });
    let sc_head = format!(
        "{:?} {} {} {}",
        sc.message_type, sc.owner, sc.log_group, sc.log_stream
    );
    assert_eq!(sc_head, head);
    assert_eq!(sc.events.len(), events.len());
    let mut taken = 0;
    for (ev, (id, ts, msg)) in sc.events.iter().zip(&events) {
        assert_eq!(ev.id, id.as_str());
        assert_eq!(ev.timestamp, *ts);
        match &ev.body {
            EventBody::Record(r) => {
                let s = decode::parse_record(msg).unwrap_or_else(|e| {
                    panic!("the scanner read a record the strict parser refuses ({e}):\n{msg}")
                });
                assert_eq!(format!("{r:?}"), format!("{s:?}"), "record differs:\n{msg}");
                taken += 1;
            }
            EventBody::Message(m) => assert_eq!(m, msg),
        }
    }
    Some(taken)
}

fn envelope_of(messages: &[&str]) -> String {
    let events: Vec<(String, i64)> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| (m.to_string(), 1_700_000_000_000 + i as i64))
        .collect();
    synth::envelope_json("123456789012", &events, 1)
}

#[test]
fn reads_every_generated_record_itself_and_agrees() {
    let corpus = synth::corpus(Spec {
        invocations: 3_000,
        ..Spec::default()
    });
    let mut d = Decoder::new(64 << 20).unwrap();
    let (mut records, mut envelopes) = (0, 0);
    for gz in &corpus.envelopes_gz {
        let json = d.gunzip(gz).unwrap().to_vec();
        records += check(&json).expect("the scanner gave a generated envelope to the strict path");
        envelopes += 1;
    }
    assert!(envelopes > 10);
    // every invocation read in the single pass: none silently took the slow path
    assert_eq!(records, 3_000);
}

#[test]
fn reads_every_fixture_itself_and_agrees() {
    let mut n = 0;
    for (name, text) in fixtures::ALL {
        if !name.starts_with("example-bedrock-") {
            continue;
        }
        let env = envelope_of(&[text]);
        assert_eq!(check(env.as_bytes()), Some(1), "{name}");
        n += 1;
    }
    assert!(n >= 14);
    // and the CloudWatch fixtures as they are
    for f in [fixtures::CWL_DATA_MESSAGE, fixtures::CWL_CONTROL_MESSAGE] {
        let compact =
            serde_json::to_string(&serde_json::from_str::<serde_json::Value>(f).unwrap()).unwrap();
        assert!(check(compact.as_bytes()).is_some());
    }
}

#[test]
fn escapes_in_kept_fields_are_decoded_through_both_levels() {
    let rec = r#"{"schemaType":"ModelInvocationLog","timestamp":"2026-11-06T10:00:00Z","accountId":"123456789012","identity":{"arn":"arn:aws:sts::123456789012:assumed-role\/app\/s1"},"region":"us-east-1","requestId":"r-1","operation":"Converse","modelId":"anthropic.claude-sonnet-4-5-20250929-v1:0","requestMetadata":{"team":"caf\u00e9 \"blue\"","k\\1":"x\ty"},"input":{"inputBodyJson":{"messages":[{"content":[{"text":"a \"q\" \\ \u00e9 \ud83d\ude00 \/ done"}]}]},"inputTokenCount":12},"output":{"outputBodyJson":{"usage":{"cacheDetails":[{"ttl":"1h","inputTokens":7}]}},"outputTokenCount":3}}"#;
    let env = envelope_of(&[rec]);
    assert_eq!(check(env.as_bytes()), Some(1));
    let sc = scan::scan(env.as_bytes()).unwrap();
    let EventBody::Record(r) = &sc.events[0].body else {
        panic!("not read by the scanner")
    };
    let md = r.request_metadata.as_ref().unwrap();
    assert_eq!(md["team"], "café \"blue\"");
    assert_eq!(md["k\\1"], "x\ty");
    assert_eq!(
        r.identity.as_ref().unwrap().arn.as_deref(),
        Some("arn:aws:sts::123456789012:assumed-role/app/s1")
    );
    let split = r.output.as_ref().unwrap().output_body_json.unwrap().split;
    assert_eq!(split.map(|s| s.one_hour), Some(7));
}

#[test]
fn unusual_records_go_to_the_strict_parser_which_decides() {
    let base = fixtures::BEDROCK_CONVERSE_NOVA_CACHE_READ;
    let v: serde_json::Value = serde_json::from_str(base).unwrap();
    let compact = serde_json::to_string(&v).unwrap();
    let nested = format!(
        "{},\"extra\":{}{}}}",
        &compact[..compact.len() - 1],
        "[".repeat(120),
        "]".repeat(120)
    );
    let cases = [
        // a duplicate field: serde refuses it
        compact.replacen("{", "{\"requestId\":\"dup\",", 1),
        // a float token count: serde refuses it for an i64
        compact.replacen("\"inputTokenCount\":", "\"inputTokenCount\":1.5,\"x\":", 1),
        // deeper than the scanner follows (serde's limit is 128)
        nested,
        // trailing garbage after the record
        format!("{compact} x"),
        // a key written with an escape
        compact.replacen("\"modelId\"", "\"model\\u0049d\"", 1),
    ];
    for (i, m) in cases.iter().enumerate() {
        let env = envelope_of(&[m, &compact]);
        // the scanner leaves the odd message to the strict parser and still reads the other
        assert_eq!(check(env.as_bytes()), Some(1), "case {i}");
        let sc = scan::scan(env.as_bytes()).unwrap();
        assert!(
            matches!(sc.events[0].body, EventBody::Message(_)),
            "case {i}"
        );
    }
    // the escaped key is the real modelId for serde: the strict parse finds it
    let rec = decode::parse_record(&cases[4]).unwrap();
    assert!(rec.model_id.is_some());
}

/// A character that tends to break JSON in interesting ways.
fn nasty(rng: &mut Rng) -> char {
    const SET: &[char] = &[
        '"', '\\', '{', '}', '[', ']', ',', ':', ' ', '0', '7', '-', '.', 'e', 'E', '+', 'n', 'u',
        't', '/', '\n', '\t', '\u{1}', '\u{7f}', 'é', '😀', 'a', 'l',
    ];
    SET[rng.below(SET.len())]
}

fn mutate(s: &str, rng: &mut Rng) -> String {
    let mut c: Vec<char> = s.chars().collect();
    for _ in 0..1 + rng.below(3) {
        if c.is_empty() {
            break;
        }
        let at = rng.below(c.len());
        match rng.below(6) {
            0 => {
                let n = (1 + rng.below(3)).min(c.len() - at);
                c.drain(at..at + n);
            }
            1 | 2 => c.insert(at, nasty(rng)),
            3 => c[at] = nasty(rng),
            4 => {
                let end = (at + 1 + rng.below(40)).min(c.len());
                let dup: Vec<char> = c[at..end].to_vec();
                c.splice(at..at, dup);
            }
            _ => {
                const LITS: &[&str] = &[
                    "null",
                    "\\u0041",
                    "\\ud83d",
                    "\\udc00",
                    "1e5",
                    "1e999",
                    "-1e400",
                    "-0",
                    "18446744073709551616",
                    "\\\"",
                    "\\\\",
                ];
                let lit = LITS[rng.below(LITS.len())];
                c.splice(at..at, lit.chars());
            }
        }
    }
    c.into_iter().collect()
}

#[test]
fn mutated_records_never_make_the_two_paths_disagree() {
    let mut gen = synth::Generator::new(Spec {
        invocations: 40,
        ..Spec::default()
    });
    let mut bases: Vec<String> = (0..12)
        .map(|_| {
            // keep the bodies short so mutations land on the fields as often as on the text
            let (json, _) = gen.next_record();
            json
        })
        .collect();
    for (name, text) in fixtures::ALL {
        if name.starts_with("example-bedrock-") {
            let v: serde_json::Value = serde_json::from_str(text).unwrap();
            bases.push(serde_json::to_string(&v).unwrap());
        }
    }
    let mut rng = Rng::new(0x5ca7_7e57);
    let (mut scanned, mut strict_only) = (0, 0);
    for round in 0..6_000 {
        let base = &bases[round % bases.len()];
        let m = mutate(base, &mut rng);
        let env = envelope_of(&[&m]);
        match check(env.as_bytes()) {
            Some(1) => scanned += 1,
            Some(_) | None => strict_only += 1,
        }
    }
    // both outcomes are exercised: the comparison above is not vacuous
    assert!(scanned > 1_000, "scanned {scanned}");
    assert!(strict_only > 500, "strict only {strict_only}");
}

#[test]
fn mutated_envelopes_never_make_the_two_paths_disagree() {
    let mut gen = synth::Generator::new(Spec::default());
    let msgs: Vec<String> = (0..3).map(|_| gen.next_record().0).collect();
    let refs: Vec<&str> = msgs.iter().map(String::as_str).collect();
    let env = envelope_of(&refs);
    let mut rng = Rng::new(42);
    let mut accepted = 0;
    for _ in 0..4_000 {
        let m = mutate(&env, &mut rng);
        accepted += usize::from(check(m.as_bytes()).is_some());
    }
    assert!(accepted > 200, "accepted {accepted}");
}

#[test]
fn values_serde_decodes_are_not_merely_skipped() {
    // Where `OutputBody` reads a scalar (the body itself, list elements, `message`/`metadata`),
    // serde_json decodes it: lone surrogates and numbers past f64 are errors there.
    let refused = [
        r#"{"requestId":"r","output":{"outputBodyJson":"\ud800"}}"#.to_string(),
        r#"{"requestId":"r","output":{"outputBodyJson":["ok","\udc00"]}}"#.to_string(),
        r#"{"requestId":"r","output":{"outputBodyJson":{"message":"\ud83d x"}}}"#.to_string(),
        r#"{"requestId":"r","output":{"outputBodyJson":{"metadata":"\ud83d\u0041"}}}"#.to_string(),
        r#"{"requestId":"r","output":{"outputBodyJson":1e309}}"#.to_string(),
        r#"{"requestId":"r","output":{"outputBodyJson":[{"usage":{"cacheDetails":[{"ttl":"1h","inputTokens":5}]}},-1e400]}}"#.to_string(),
        format!(r#"{{"requestId":"r","output":{{"outputBodyJson":[1{}]}}}}"#, "0".repeat(400)),
    ];
    for m in &refused {
        assert!(decode::parse_record(m).is_err(), "strict accepts {m}");
        let env = envelope_of(&[m]);
        assert_eq!(check(env.as_bytes()), Some(0), "{m}");
    }
    // under ordinary keys serde_json skips them: both paths accept
    let accepted = [
        r#"{"requestId":"r","output":{"outputBodyJson":{"text":"\ud800","n":1e400}}}"#,
        r#"{"requestId":"r","output":{"outputBodyJson":[1.5,"\u00e9",{"usage":null},true]}}"#,
    ];
    for m in accepted {
        assert!(decode::parse_record(m).is_ok(), "strict refuses {m}");
        let env = envelope_of(&[m]);
        assert_eq!(check(env.as_bytes()), Some(1), "{m}");
    }
    // numbers simd-json refuses at the envelope level leave the envelope to the strict path
    for env in [
        r#"{"messageType":"CONTROL_MESSAGE","x":18446744073709551616}"#,
        r#"{"messageType":"DATA_MESSAGE","x":1e309,"logEvents":[]}"#,
        r#"{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","timestamp":1,"message":"m","seq":-9223372036854775809}]}"#,
    ] {
        assert!(strict(env.as_bytes()).is_err(), "strict accepts {env}");
        assert!(scan::scan(env.as_bytes()).is_none(), "{env}");
    }
}
