//! The transform handler against Firehose event fixtures: every test checks record ids, results,
//! partition keys and the decoded rows (or re-ingested envelopes).
use crate::util::*;
use serde_json::Value;
use spendguard_core::pipeline::RecordOutcome;
use spendguard_core::reenvelope::Gzipper;
use spendguard_core::{Catalogue, Pipeline, Pricer, PricerConfig};
use spendguard_schemas::fixtures as fx;
use spendguard_schemas::row::COLUMNS;
use spendguard_transform::firehose::TransformResult::{Dropped, Ok as OkR, ProcessingFailed};
use spendguard_transform::process::{
    base64_len, process_batch, InRecord, Options, ReingestReason, Verdict, RECORD_FRAMING_BYTES,
};
use spendguard_transform::send::{PutError, Target};
use spendguard_transform::Config;
use std::collections::BTreeSet;

fn rids(rows: &[Value]) -> Vec<&str> {
    rows.iter()
        .map(|r| r["request_id"].as_str().unwrap())
        .collect()
}

/// The rows the core pipeline gives for the same record, serialised the same way.
fn core_rows(data_b64: &str) -> Vec<Value> {
    let pricer = Pricer::new(Catalogue::builtin().unwrap(), PricerConfig::default());
    let mut p = Pipeline::new(pricer, 64 << 20).unwrap();
    let mut out = Vec::new();
    p.process_base64(data_b64.as_bytes(), &mut |o| {
        if let RecordOutcome::Priced(r) = o {
            out.push(serde_json::to_value(&r).unwrap());
        }
    })
    .unwrap();
    out
}

#[test]
fn many_envelopes_give_one_ok_record_each_with_the_core_rows() {
    let h = harness(Recorder::default(), Config::default());
    let resp = h.run(fx::FIREHOSE_KINESIS_MANY);
    let ev = event(fx::FIREHOSE_KINESIS_MANY);
    assert_eq!(
        resp.records
            .iter()
            .map(|r| r.record_id.clone())
            .collect::<Vec<_>>(),
        record_ids(fx::FIREHOSE_KINESIS_MANY)
    );
    let counts: Vec<usize> = resp.records.iter().map(|r| rows(r).len()).collect();
    assert_eq!(counts, vec![5, 5, 3, 1]);
    let columns: BTreeSet<&str> = COLUMNS.iter().map(|c| c.name).collect();
    for (out, inp) in resp.records.iter().zip(&ev.records) {
        assert_eq!(out.result, OkR);
        assert_eq!(dt(out), "2026-11-20");
        let got = rows(out);
        let b64 = base64_simd::STANDARD.encode_to_string(inp.data.as_slice());
        assert_eq!(got, core_rows(&b64), "rows are exactly the core's rows");
        for r in &got {
            let keys: BTreeSet<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(
                keys, columns,
                "a row's fields are the Glue columns (plus dt)"
            );
            assert!(!r.as_object().unwrap().values().any(Value::is_array));
        }
    }
    let first = rows(&resp.records[0]);
    assert_eq!(
        rids(&first),
        vec![
            "6f1e0b0a-0001-4c3e-9b1a-000000000001",
            "6f1e0b0a-0002-4c3e-9b1a-000000000002",
            "6f1e0b0a-0003-4c3e-9b1a-000000000003",
            "6f1e0b0a-0005-4c3e-9b1a-000000000005",
            "6f1e0b0a-0006-4c3e-9b1a-000000000006",
        ]
    );
    // the unknown model: fallback-priced, never $0
    let unknown = &rows(&resp.records[3])[0];
    assert_eq!(unknown["price_status"], "fallback");
    assert_eq!(unknown["model_id"], "acme.unknown-model-v9:0");
    assert_ne!(unknown["cost_usd"], "0.000000000000");
    assert!(
        h.deps.sink.calls.lock().unwrap().is_empty(),
        "nothing to re-ingest"
    );
    let m = h.metrics();
    assert_eq!(m["RecordsIn"], 4);
    assert_eq!(m["RecordsOk"], 4);
    assert_eq!(m["RowsOut"], 14);
    // the unknown model and the unmapped application profile
    let fallback: Vec<Value> = resp
        .records
        .iter()
        .flat_map(rows)
        .filter(|r| r["price_status"] == "fallback")
        .map(|r| r["model_id"].clone())
        .collect();
    assert_eq!(
        fallback,
        vec![
            "arn:aws:bedrock:us-east-2:111122223333:application-inference-profile/abc123",
            "acme.unknown-model-v9:0"
        ]
    );
    assert_eq!(m["FallbackPriced"], 2);
    // one log line names what the catalogue lacks, for the fallback alarm's runbook
    let logs = h.logs();
    let named: Vec<_> = logs
        .iter()
        .filter(|l| l["message"] == "fallback-priced models")
        .collect();
    assert_eq!(named.len(), 1, "{logs:?}");
    // the models field is a JSON object's text (model id: rows)
    let models: Value = serde_json::from_str(named[0]["models"].as_str().unwrap()).unwrap();
    assert_eq!(models["acme.unknown-model-v9:0"], 1);
    assert_eq!(named[0]["rows"], 2);
    assert_eq!(m["RecordsFailed"], 0);
    assert!(m["DecompressedBytes"].as_u64().unwrap() > 10_000);
}

#[test]
fn bad_records_fail_alone_and_a_bad_event_loses_nothing_else() {
    let h = harness(Recorder::default(), Config::default());
    let resp = h.run(fx::FIREHOSE_KINESIS_BAD);
    let ids = record_ids(fx::FIREHOSE_KINESIS_BAD);
    assert_eq!(
        resp.records
            .iter()
            .map(|r| r.record_id.clone())
            .collect::<Vec<_>>(),
        ids
    );
    let results: Vec<_> = resp.records.iter().map(|r| r.result).collect();
    assert_eq!(
        results,
        vec![
            Dropped,
            ProcessingFailed,
            ProcessingFailed,
            OkR,
            Dropped,
            ProcessingFailed
        ]
    );
    for r in &resp.records {
        if r.result != OkR {
            assert!(r.data.is_none() && r.metadata.is_none(), "{r:?}");
        }
    }
    // the envelope with one malformed event still yields its two good rows
    let good = rows(&resp.records[3]);
    assert_eq!(
        rids(&good),
        vec![
            "6f1e0b0a-0003-4c3e-9b1a-0000000f0003",
            "6f1e0b0a-0004-4c3e-9b1a-0000000f0004"
        ]
    );
    assert_eq!(dt(&resp.records[3]), "2026-11-20");

    let logs = h.logs();
    let find = |id: &str| -> Vec<&Value> {
        logs.iter()
            .filter(|l| l["recordId"] == id && l.get("_aws").is_none())
            .collect()
    };
    assert!(find(&ids[1])[0]["reason"]
        .as_str()
        .unwrap()
        .contains("truncated or corrupt"));
    assert!(find(&ids[2])[0]["reason"]
        .as_str()
        .unwrap()
        .contains("not gzip"));
    let skipped = find(&ids[3]);
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["reason"], "malformed_record_json");
    assert_eq!(skipped[0]["eventIndex"], 1);
    assert_eq!(skipped[0]["eventId"], format!("{:056}", 401));
    assert_eq!(skipped[0]["logGroup"], "/aws/bedrock/modelinvocations");
    let all_bad = find(&ids[5]);
    assert_eq!(
        all_bad.len(),
        3,
        "two bad events and the failed record: {all_bad:?}"
    );
    assert_eq!(all_bad[1]["reason"], "bad_timestamp");
    assert!(all_bad[2]["reason"]
        .as_str()
        .unwrap()
        .contains("none of the 2 log events"));
    let m = h.metrics();
    assert_eq!(
        (
            m["RecordsOk"].as_u64(),
            m["RecordsDropped"].as_u64(),
            m["RecordsFailed"].as_u64()
        ),
        (Some(1), Some(2), Some(3))
    );
    assert_eq!(m["BadEvents"], 3);
    assert_eq!(m["RowsOut"], 2);
}

#[test]
fn an_empty_batch_gives_an_empty_response() {
    let h = harness(Recorder::default(), Config::default());
    let resp = h.run(fx::FIREHOSE_KINESIS_EMPTY);
    assert!(resp.records.is_empty());
    assert_eq!(serde_json::to_string(&resp).unwrap(), r#"{"records":[]}"#);
    assert_eq!(h.metrics()["RecordsIn"], 0);
}

/// Processes re-ingested payloads as Firehose would deliver them the second time round.
fn second_round(
    payloads: Vec<(Vec<u8>, String)>,
    kinesis: bool,
) -> (Vec<(String, Vec<String>)>, usize) {
    let h = harness(Recorder::default(), Config::default());
    let resp = h.run_event(event_from_payloads(&payloads, kinesis), 0);
    assert_eq!(resp.records.len(), payloads.len());
    let out = resp
        .records
        .iter()
        .map(|r| {
            (
                dt(r).to_string(),
                rows(r)
                    .iter()
                    .map(|v| v["request_id"].as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    let calls = h.deps.sink.calls.lock().unwrap().len();
    (out, calls)
}

#[test]
fn a_midnight_straddling_envelope_is_split_per_date_into_the_kinesis_source() {
    let h = harness(Recorder::default(), Config::default());
    let resp = h.run(fx::FIREHOSE_KINESIS_MIDNIGHT);
    let ids = record_ids(fx::FIREHOSE_KINESIS_MIDNIGHT);
    assert_eq!(resp.records[0].record_id, ids[0]);
    assert_eq!(resp.records[0].result, Dropped);
    assert!(resp.records[0].data.is_none());
    assert_eq!(resp.records[1].record_id, ids[1]);
    assert_eq!(dt(&resp.records[1]), "2026-11-20");
    assert_eq!(
        rids(&rows(&resp.records[1])),
        vec!["6f1e0b0a-0013-4c3e-9b1a-0000000f0013"]
    );

    let sent = h.deps.sink.entries();
    assert_eq!(sent.len(), 2, "one envelope per date");
    for (t, e) in &sent {
        assert_eq!(
            t,
            &Target::Kinesis {
                stream: "bedrock-invocation-logs".into()
            }
        );
        assert_eq!(
            e.partition_key, "c3f6e8a1b2d40000",
            "the original partition key"
        );
    }
    let first: Vec<_> = envelope_events(&sent[0].1.data);
    let second: Vec<_> = envelope_events(&sent[1].1.data);
    assert_eq!(
        first,
        vec![
            (
                format!("{:056}", 1000),
                "6f1e0b0a-0010-4c3e-9b1a-0000000f0010".to_string()
            ),
            (
                format!("{:056}", 1002),
                "6f1e0b0a-0012-4c3e-9b1a-0000000f0012".to_string()
            ),
        ]
    );
    assert_eq!(
        second,
        vec![(
            format!("{:056}", 1001),
            "6f1e0b0a-0011-4c3e-9b1a-0000000f0011".to_string()
        )]
    );
    let logs = h.logs();
    assert!(
        logs.iter().any(|l| l["eventId"] == format!("{:056}", 1003)),
        "the bad event is logged"
    );
    assert_eq!(h.metrics()["ReingestedEnvelopes"], 2);

    // processed again, each part is Ok with its own date and never splits again
    let payloads = sent
        .into_iter()
        .map(|(_, e)| (e.data, e.partition_key))
        .collect();
    let (again, calls) = second_round(payloads, true);
    assert_eq!(calls, 0);
    assert_eq!(
        again,
        vec![
            (
                "2026-11-20".to_string(),
                vec![
                    "6f1e0b0a-0010-4c3e-9b1a-0000000f0010".to_string(),
                    "6f1e0b0a-0012-4c3e-9b1a-0000000f0012".to_string()
                ]
            ),
            (
                "2026-11-21".to_string(),
                vec!["6f1e0b0a-0011-4c3e-9b1a-0000000f0011".to_string()]
            ),
        ]
    );
}

#[test]
fn a_directput_stream_reingests_through_firehose() {
    let h = harness(Recorder::default(), Config::default());
    let resp = h.run(fx::FIREHOSE_DIRECTPUT_MIDNIGHT);
    assert_eq!(resp.records[0].result, Dropped);
    let sent = h.deps.sink.entries();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[0].0,
        Target::Firehose {
            stream: "spendguard-lake".into()
        }
    );
    let payloads = sent
        .into_iter()
        .map(|(_, e)| (e.data, e.partition_key))
        .collect();
    let (again, _) = second_round(payloads, false);
    assert_eq!(again[0].0, "2026-11-20");
    assert_eq!(again[1].0, "2026-11-21");
}

#[test]
fn a_failed_reingest_leaves_the_record_to_firehose_error_output() {
    let sink = Recorder {
        fail_with: Some(PutError::Fatal(
            "ResourceNotFoundException: no such stream".into(),
        )),
        ..Recorder::default()
    };
    let h = harness(sink, Config::default());
    let resp = h.run(fx::FIREHOSE_KINESIS_MIDNIGHT);
    assert_eq!(resp.records[0].result, ProcessingFailed);
    assert_eq!(resp.records[1].result, OkR);
    let logs = h.logs();
    let l = logs
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("re-ingest failed"))
        })
        .unwrap();
    assert_eq!(l["recordId"], record_ids(fx::FIREHOSE_KINESIS_MIDNIGHT)[0]);
    assert_eq!(l["reason"], "split_by_date");
    assert!(l["error"]
        .as_str()
        .unwrap()
        .contains("ResourceNotFoundException"));
    assert_eq!(h.metrics()["ReingestedEnvelopes"], 0);
    assert_eq!(h.metrics()["RecordsFailed"], 1);
}

/// Projected response bytes of each record with an unlimited budget.
fn projected_sizes(json: &str) -> Vec<usize> {
    let h = harness(Recorder::default(), Config::default());
    h.run(json)
        .records
        .iter()
        .map(|r| {
            base64_len(
                base64_simd::STANDARD
                    .decode_to_vec(r.data.as_ref().unwrap())
                    .unwrap()
                    .len(),
            ) + r.record_id.len()
                + RECORD_FRAMING_BYTES
        })
        .collect()
}

#[test]
fn a_full_response_reingests_the_remaining_records_unchanged() {
    let p = projected_sizes(fx::FIREHOSE_KINESIS_MANY);
    let cfg = Config {
        max_response_bytes: p[0] + p[1] + p[2] + p[3] - 1,
        ..Config::default()
    };
    let h = harness(Recorder::default(), cfg);
    let resp = h.run(fx::FIREHOSE_KINESIS_MANY);
    let results: Vec<_> = resp.records.iter().map(|r| r.result).collect();
    assert_eq!(results, vec![OkR, OkR, OkR, Dropped]);
    let sent = h.deps.sink.entries();
    assert_eq!(sent.len(), 1);
    let ev = event(fx::FIREHOSE_KINESIS_MANY);
    assert_eq!(
        sent[0].1.data,
        ev.records[3].data.as_slice(),
        "the original payload, unchanged"
    );
    assert_eq!(sent[0].1.partition_key, "c3f6e8a1b2d40003");
    let body = serde_json::to_vec(&resp).unwrap();
    assert!(
        body.len() <= p[0] + p[1] + p[2] + 200,
        "the response stays inside the budget"
    );
}

/// Runs rounds of re-ingest until nothing is re-ingested; returns every row's request id (with
/// its dt) and the final ProcessingFailed count.
fn until_settled(json: &str, cfg: Config) -> (Vec<(String, String)>, usize, usize) {
    let mut rows_seen = Vec::new();
    let mut failed = 0;
    let mut rounds = 0;
    let mut next = Some(event(json));
    while let Some(ev) = next.take() {
        rounds += 1;
        assert!(rounds < 50, "re-ingest did not settle");
        let h = harness(Recorder::default(), cfg.clone());
        let resp = h.run_event(ev, 0);
        for r in &resp.records {
            match r.result {
                OkR => {
                    for row in rows(r) {
                        rows_seen.push((
                            row["request_id"].as_str().unwrap().to_string(),
                            dt(r).to_string(),
                        ));
                    }
                }
                ProcessingFailed => failed += 1,
                Dropped => {}
            }
        }
        let sent: Vec<_> = h
            .deps
            .sink
            .entries()
            .into_iter()
            .map(|(_, e)| (e.data, e.partition_key))
            .collect();
        if !sent.is_empty() {
            next = Some(event_from_payloads(&sent, true));
        }
    }
    (rows_seen, failed, rounds)
}

#[test]
fn an_oversize_record_is_halved_until_every_invocation_lands_exactly_once() {
    let p = projected_sizes(fx::FIREHOSE_KINESIS_MANY);
    let biggest = *p.iter().max().unwrap();
    let cfg = Config {
        max_response_bytes: biggest - 1,
        ..Config::default()
    };
    // first round: the biggest record is split in two halves of its events
    let h = harness(Recorder::default(), cfg.clone());
    let resp = h.run(fx::FIREHOSE_KINESIS_MANY);
    let k = p.iter().position(|&x| x == biggest).unwrap();
    assert_eq!(resp.records[k].result, Dropped);
    let ev = event(fx::FIREHOSE_KINESIS_MANY);
    let original = envelope_events(ev.records[k].data.as_slice());
    let halves: Vec<_> = h
        .deps
        .sink
        .entries()
        .into_iter()
        .filter(|(_, e)| e.partition_key == format!("c3f6e8a1b2d4{k:04}"))
        .map(|(_, e)| envelope_events(&e.data))
        .collect();
    assert_eq!(halves.len(), 2);
    assert_eq!(halves[0].len(), original.len() / 2);
    assert_eq!(halves.concat(), original);

    // and over as many rounds as it takes, all 14 invocations land once, none fails
    let (seen, failed, rounds) = until_settled(fx::FIREHOSE_KINESIS_MANY, cfg);
    assert_eq!(failed, 0);
    assert!(rounds >= 2);
    let ids: BTreeSet<_> = seen.iter().map(|(r, _)| r.clone()).collect();
    assert_eq!(seen.len(), 14, "{seen:?}");
    assert_eq!(ids.len(), 14);
    assert!(seen.iter().all(|(_, d)| d == "2026-11-20"));
}

#[test]
fn a_single_event_too_large_for_any_response_fails_instead_of_looping() {
    let cfg = Config {
        max_response_bytes: 200,
        ..Config::default()
    };
    let (seen, failed, _) = until_settled(fx::FIREHOSE_KINESIS_MANY, cfg);
    assert!(seen.is_empty());
    assert_eq!(
        failed, 14,
        "each single-event envelope ends ProcessingFailed"
    );
}

#[test]
fn near_the_deadline_the_remaining_records_are_reingested_unpriced() {
    // the batch core: once out of time, later records go back whole (the first is always priced)
    let ev = event(fx::FIREHOSE_KINESIS_MANY);
    let records: Vec<InRecord<'_>> = ev
        .records
        .iter()
        .map(|r| InRecord {
            record_id: r.record_id.as_deref().unwrap(),
            data: r.data.as_slice(),
            partition_key: r
                .kinesis_firehose_record_metadata
                .as_ref()
                .unwrap()
                .partition_key
                .as_deref(),
        })
        .collect();
    let pricer = Pricer::new(Catalogue::builtin().unwrap(), PricerConfig::default());
    let mut pipe = Pipeline::new(pricer, 64 << 20).unwrap();
    let mut asked = 0;
    let mut out_of_time = || {
        asked += 1;
        asked >= 2 // time runs out after the second record
    };
    let plan = process_batch(
        &mut pipe,
        &mut Gzipper::default(),
        &records,
        &Options::default(),
        &mut out_of_time,
    );
    assert!(matches!(plan.verdicts[0], Verdict::Ok { .. }));
    assert!(matches!(plan.verdicts[1], Verdict::Ok { .. }));
    assert_eq!(
        plan.verdicts[2],
        Verdict::Reingest(ReingestReason::Deadline)
    );
    assert_eq!(
        plan.verdicts[3],
        Verdict::Reingest(ReingestReason::Deadline)
    );
    assert_eq!(plan.jobs.len(), 2);
    for (job, k) in plan.jobs.iter().zip([2, 3]) {
        assert_eq!(job.record, k);
        assert_eq!(
            job.payloads,
            vec![ev.records[k].data.to_vec()],
            "the original payload"
        );
        assert_eq!(job.partition_key, format!("c3f6e8a1b2d4{k:04}"));
    }

    // a deadline already passed: the first record is priced, the others cannot even be
    // re-ingested in time, so Firehose keeps them (ProcessingFailed), never lost
    let h = harness(Recorder::default(), Config::default());
    let resp = h.run_event(event(fx::FIREHOSE_KINESIS_MANY), NOW_MS as u64 - 1);
    let results: Vec<_> = resp.records.iter().map(|r| r.result).collect();
    assert_eq!(
        results,
        vec![OkR, ProcessingFailed, ProcessingFailed, ProcessingFailed]
    );
    assert!(
        h.deps.sink.calls.lock().unwrap().is_empty(),
        "no call starts past the deadline"
    );
}

#[test]
fn a_short_function_timeout_still_prices_the_batch() {
    // Lambda's default 3 s timeout is shorter than the 10 s reserve: the reserve shrinks to a
    // third of the time left instead of re-ingesting every record unpriced, forever
    let h = harness(Recorder::default(), Config::default());
    let resp = h.run_event(event(fx::FIREHOSE_KINESIS_MANY), NOW_MS as u64 + 3_000);
    assert!(resp.records.iter().all(|r| r.result == OkR));
    assert!(h.deps.sink.calls.lock().unwrap().is_empty());
}

#[test]
fn a_record_that_is_not_base64_fails_alone_and_a_repeated_record_id_is_answered_once() {
    let h = harness(Recorder::default(), Config::default());
    let mut ev: Value = serde_json::from_str(fx::FIREHOSE_KINESIS_MANY).unwrap();
    let records = ev["records"].as_array_mut().unwrap();
    let ids: Vec<String> = records
        .iter()
        .map(|r| r["recordId"].as_str().unwrap().to_string())
        .collect();
    records[1]["data"] = "!!not base64!!".into();
    let repeat = records[0].clone();
    records.push(repeat);
    let resp = h.run_json(ev);
    assert_eq!(resp.records.len(), 4, "one answer per recordId");
    let got: std::collections::BTreeMap<String, _> = resp
        .records
        .iter()
        .map(|r| (r.record_id.clone(), r.result))
        .collect();
    let want: std::collections::BTreeMap<String, _> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), if i == 1 { ProcessingFailed } else { OkR }))
        .collect();
    assert_eq!(got, want, "one answer per recordId");
    let m = h.metrics();
    assert_eq!(
        (m["RecordsIn"].as_u64(), m["RecordsFailed"].as_u64()),
        (Some(4), Some(1))
    );
    let logs = h.logs();
    assert!(logs.iter().any(|l| l["message"]
        .as_str()
        .is_some_and(|m| m.contains("not base64"))
        && l["recordId"] == ids[1].as_str()));
    assert!(logs.iter().any(|l| l["message"]
        .as_str()
        .is_some_and(|m| m.contains("repeated"))));
    // the good records still carry their rows
    assert!(resp
        .records
        .iter()
        .filter(|r| r.result == OkR)
        .all(|r| !rows(r).is_empty()));
}

/// Issue 17: a record of several gzip members, one envelope each (what `spendguard run` reads
/// from a file), is accepted: each member goes back to the source as its own record, bytes
/// unchanged, and comes back as one Ok record; every invocation lands once.
#[test]
fn a_record_of_several_gzip_members_is_reingested_one_envelope_per_member() {
    use spendguard_core::synth::{envelope_json, gzip, Generator, Spec};
    let mut g = Generator::new(Spec {
        invocations: 6,
        spacing_ms: 1000,
        ..Spec::default()
    });
    let events: Vec<(String, i64)> = (0..6).map(|_| g.next_record()).collect();
    let mut data = gzip(envelope_json("111122223333", &events[..4], 1).as_bytes());
    data.extend(gzip(
        envelope_json("111122223333", &events[4..], 5).as_bytes(),
    ));
    data.extend(gzip(b"")); // an empty trailing member carries nothing
    let h = harness(Recorder::default(), Config::default());
    let resp = h.run_event(event_from_payloads(&[(data, "pk-1".to_string())], true), 0);
    assert_eq!(resp.records.len(), 1);
    assert_eq!(resp.records[0].result, Dropped, "{:?}", resp.records[0]);
    let sent = h.deps.sink.entries();
    assert_eq!(sent.len(), 2, "one record per non-empty member");
    assert_eq!(envelope_events(&sent[0].1.data).len(), 4);
    assert_eq!(envelope_events(&sent[1].1.data).len(), 2);
    let payloads = sent
        .into_iter()
        .map(|(_, e)| (e.data, e.partition_key))
        .collect();
    let (again, calls) = second_round(payloads, true);
    assert_eq!(calls, 0, "each comes back as one envelope and is priced");
    let ids: BTreeSet<String> = again.into_iter().flat_map(|(_, ids)| ids).collect();
    assert_eq!(ids.len(), 6, "every invocation once");
}
