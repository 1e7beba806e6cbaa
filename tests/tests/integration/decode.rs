//! The whole record path on envelopes: base64 -> gunzip -> envelope -> messages -> rows, and
//! what malformed input does (a typed error, never a panic, never losing the good events).

use flate2::{write::GzEncoder, Compression};
use spendguard_core::decode::DEFAULT_MAX_DECOMPRESSED;
use spendguard_core::pipeline::{EnvelopeSummary, RecordOutcome};
use spendguard_core::{Catalogue, DecodeError, Pipeline, Pricer, PricerConfig};
use spendguard_schemas::fixtures as fx;
use spendguard_schemas::MessageType;
use std::io::Write;

fn pipeline() -> Pipeline {
    let pricer = Pricer::new(Catalogue::builtin().unwrap(), PricerConfig::default());
    Pipeline::new(pricer, DEFAULT_MAX_DECOMPRESSED).unwrap()
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::new(6));
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// (summary, priced request ids, bad (index, reason))
fn run(
    p: &mut Pipeline,
    gzip: &[u8],
) -> Result<(EnvelopeSummary, Vec<String>, Vec<(usize, &'static str)>), DecodeError> {
    let mut ids = Vec::new();
    let mut bad = Vec::new();
    let s = p.process_gzip(gzip, &mut |o| match o {
        RecordOutcome::Priced(r) => ids.push(r.request_id.to_string()),
        RecordOutcome::Bad {
            event_index, error, ..
        } => bad.push((event_index, error.reason())),
    })?;
    Ok((s, ids, bad))
}

#[test]
fn data_message_prices_good_events_around_a_bad_one() {
    let mut p = pipeline();
    let (s, ids, bad) = run(&mut p, &gz(fx::CWL_DATA_MESSAGE.as_bytes())).unwrap();
    assert_eq!(s.message_type, MessageType::Data);
    assert_eq!((s.events, s.priced, s.bad), (4, 3, 1));
    assert_eq!(
        ids,
        [
            "6f1e0b0a-0001-4c3e-9b1a-000000000001",
            "6f1e0b0a-0002-4c3e-9b1a-000000000002",
            "6f1e0b0a-0015-4c3e-9b1a-000000000015"
        ]
    );
    assert_eq!(bad, [(1, "malformed_record_json")]);
    assert_eq!(s.decompressed_bytes, fx::CWL_DATA_MESSAGE.len());
}

#[test]
fn double_parse_keeps_escapes_and_unicode_exact() {
    // The message is a JSON string inside JSON: quotes, backslashes and non-ASCII must survive
    // both levels exactly.
    let mut p = pipeline();
    let mut rows = Vec::new();
    p.process_gzip(&gz(fx::CWL_DATA_MESSAGE.as_bytes()), &mut |o| {
        if let RecordOutcome::Priced(r) = o {
            rows.push(r.into_owned());
        }
    })
    .unwrap();
    let direct = spendguard_core::decode::parse_record(fx::BEDROCK_CONVERSE_STREAM_1H).unwrap();
    let via_envelope = &rows[1];
    assert_eq!(via_envelope.request_id, direct.request_id.unwrap());
    assert_eq!(via_envelope.cost_usd.normalize().to_string(), "0.0087285");
    // the last event has no record timestamp: its log-event timestamp gives event_time and dt
    assert_eq!(rows[2].event_time, 1_795_947_332_000);
    assert_eq!(rows[2].dt, "2026-11-29");
}

#[test]
fn base64_path_equals_gzip_path() {
    use base64::Engine as _;
    let gzip = gz(fx::CWL_DATA_MESSAGE.as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD.encode(&gzip);
    let mut p = pipeline();
    let mut a = Vec::new();
    p.process_base64(b64.as_bytes(), &mut |o| {
        if let RecordOutcome::Priced(r) = o {
            a.push(serde_json::to_string(&r).unwrap());
        }
    })
    .unwrap();
    let mut b = Vec::new();
    p.process_gzip(&gzip, &mut |o| {
        if let RecordOutcome::Priced(r) = o {
            b.push(serde_json::to_string(&r).unwrap());
        }
    })
    .unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), 3);
    assert!(matches!(
        p.process_base64(b"not base64 !!!", &mut |_| {}),
        Err(DecodeError::Base64(_))
    ));
}

#[test]
fn control_message_yields_nothing() {
    let mut p = pipeline();
    let (s, ids, bad) = run(&mut p, &gz(fx::CWL_CONTROL_MESSAGE.as_bytes())).unwrap();
    assert_eq!(s.message_type, MessageType::Control);
    assert!(ids.is_empty() && bad.is_empty());
}

#[test]
fn malformed_envelopes_are_typed_errors() {
    let mut p = pipeline();
    let good = gz(fx::CWL_DATA_MESSAGE.as_bytes());
    // truncated gzip
    let e = run(&mut p, &good[..good.len() / 2]).unwrap_err();
    assert!(matches!(e, DecodeError::Gzip(_)), "{e}");
    // not gzip at all
    let e = run(&mut p, fx::CWL_DATA_MESSAGE.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("not gzip"), "{e}");
    // invalid UTF-8 inside the envelope
    let mut bytes = fx::CWL_DATA_MESSAGE.as_bytes().to_vec();
    let at = bytes.windows(6).position(|w| w == b"Sure: ").unwrap();
    bytes[at] = 0xff;
    let e = run(&mut p, &gz(&bytes)).unwrap_err();
    assert!(matches!(e, DecodeError::Envelope(_)), "{e}");
    // wrong JSON types in the envelope
    for doc in [
        r#"{"messageType":"DATA_MESSAGE","logEvents":{"id":"1"}}"#,
        r#"{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","timestamp":"x","message":"{}"}]}"#,
        r#"{"messageType":"SOMETHING_ELSE","logEvents":[]}"#,
        r#"[1,2,3]"#,
        r#"{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","timestamp":1,"message":"{}"}"#,
        "",
    ] {
        let e = run(&mut p, &gz(doc.as_bytes())).unwrap_err();
        assert!(matches!(e, DecodeError::Envelope(_)), "{doc}: {e}");
    }
    // the pipeline still works after every failure
    assert_eq!(run(&mut p, &good).unwrap().1.len(), 3);
}

#[test]
fn wrong_types_and_garbage_inside_messages_are_per_event_errors() {
    let msgs = [
        r#"{"requestId":"a","timestamp":"2026-01-01T00:00:00Z","modelId":"amazon.nova-lite-v1:0","input":{"inputTokenCount":"12"}}"#,
        r#"{"requestId":"b","timestamp":"2026-01-01T00:00:00Z","modelId":"amazon.nova-lite-v1:0","input":{"inputTokenCount":1.5}}"#,
        r#"not json at all"#,
        r#"{"requestId":"c","timestamp":"2026-01-01T00:00:00Z","modelId":"amazon.nova-lite-v1:0","input":{"inputTokenCount":12}}"#,
        r#"{"requestId":"d","timestamp":"2026-01-01T00:00:00Z","modelId":"amazon.nova-lite-v1:0","input":{"inputTokenCount":99999999999999999999999}}"#,
        r#"{"requestId":"e","timestamp":"2026-01-01T00:00:00Z","modelId":"amazon.nova-lite-v1:0","input":{"inputTokenCount":-3}}"#,
    ];
    let env = serde_json::json!({
        "messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "g", "logStream": "s",
        "subscriptionFilters": ["f"],
        "logEvents": msgs.iter().enumerate().map(|(i, m)| serde_json::json!({"id": i.to_string(), "timestamp": 1, "message": m})).collect::<Vec<_>>()
    });
    let mut p = pipeline();
    let (s, ids, bad) = run(&mut p, &gz(env.to_string().as_bytes())).unwrap();
    assert_eq!(ids, ["c"]);
    assert_eq!(s.bad, 5);
    assert_eq!(
        bad.iter().map(|b| b.1).collect::<Vec<_>>(),
        [
            "malformed_record_json",
            "malformed_record_json",
            "malformed_record_json",
            "malformed_record_json",
            "negative_tokens"
        ]
    );
}

#[test]
fn huge_bodies_are_skipped_not_materialised_and_priced_right() {
    // a 2 MB request body full of escapes and unicode, inside an envelope
    let big: String = "répète \"ceci\" \\ 日本語 🙂\n".repeat(70_000);
    let rec = serde_json::json!({
        "schemaType": "ModelInvocationLog", "timestamp": "2026-11-20T00:00:00Z",
        "accountId": "111122223333", "identity": {"arn": "arn:aws:iam::111122223333:user/u"},
        "region": "us-east-1", "requestId": "big-1", "operation": "Converse",
        "modelId": "amazon.nova-pro-v1:0",
        "input": {"inputBodyJson": {"messages": [{"role": "user", "content": [{"text": big}]}]}, "inputTokenCount": 500000},
        "output": {"outputBodyJson": {"usage": {"inputTokens": 500000}}, "outputTokenCount": 1000}
    });
    let env = serde_json::json!({
        "messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "g", "logStream": "s",
        "subscriptionFilters": [], "logEvents": [{"id": "1", "timestamp": 1, "message": rec.to_string()}]
    });
    let doc = env.to_string();
    assert!(doc.len() > 2_000_000);
    let mut p = pipeline();
    let mut rows = Vec::new();
    p.process_gzip(&gz(doc.as_bytes()), &mut |o| {
        if let RecordOutcome::Priced(r) = o {
            rows.push(r.into_owned());
        }
    })
    .unwrap();
    // 500000 x 0.8 + 1000 x 3.2 (per 1M)
    assert_eq!(rows[0].cost_usd.normalize().to_string(), "0.4032");
}

#[test]
fn a_gzip_bomb_is_refused() {
    let padding = " ".repeat(80 << 20);
    let doc = format!(r#"{{"messageType":"DATA_MESSAGE","logEvents":[]{padding}}}"#);
    let mut p = pipeline();
    let e = run(&mut p, &gz(doc.as_bytes())).unwrap_err();
    assert!(e.to_string().contains("exceeds the cap"), "{e}");
}
