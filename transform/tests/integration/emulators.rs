//! Re-ingest against real implementations of the APIs: Kinesis `PutRecords` on kinesalite and
//! Firehose `PutRecordBatch` on moto server, both started by scripts/test.sh on 127.0.0.1.
use crate::util::*;
use spendguard_core::Decoder;
use spendguard_schemas::fixtures as fx;
use spendguard_transform::aws::AwsSink;
use spendguard_transform::firehose::TransformResult;
use spendguard_transform::send::{send_all, Entry, RetryPolicy, Target};
use spendguard_transform::testkit::{self, KINESIS_VAR, MOTO_VAR};
use spendguard_transform::Config;

fn request_ids(envelope_json: &[u8]) -> Vec<String> {
    let mut buf = envelope_json.to_vec();
    let mut d = Decoder::new(1 << 20).unwrap();
    let env = d.envelope_from_json(&mut buf).unwrap();
    env.log_events
        .iter()
        .map(|e| {
            serde_json::from_str::<serde_json::Value>(&e.message).unwrap()["requestId"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn midnight_split_goes_to_kinesalite_and_prices_again_per_date() {
    let Some(url) = testkit::emulator(KINESIS_VAR) else {
        return;
    };
    let conf = testkit::emulator_config(&url).await;
    let k = aws_sdk_kinesis::Client::new(&conf);
    let stream = testkit::unique("midnight");
    testkit::create_stream(&k, &stream).await;

    let mut ev = event(fx::FIREHOSE_KINESIS_MIDNIGHT);
    ev.source_kinesis_stream_arn = Some(format!(
        "arn:aws:kinesis:us-east-1:000000000000:stream/{stream}"
    ));
    let h = harness(AwsSink::new(&conf), Config::default());
    let resp = h.handle(ev).await;
    assert_eq!(resp.records[0].result, TransformResult::Dropped);
    assert_eq!(resp.records[1].result, TransformResult::Ok);
    assert_eq!(h.metrics()["ReingestedEnvelopes"], 2);

    let got = testkit::read_stream(&k, &stream).await;
    assert_eq!(got.len(), 2);
    for r in &got {
        assert_eq!(r.partition_key, "c3f6e8a1b2d40000");
        // real-format sequence numbers: decimal strings of ~56 digits, never small integers
        assert!(r.sequence_number.len() >= 50, "{}", r.sequence_number);
        assert!(r.sequence_number.bytes().all(|b| b.is_ascii_digit()));
    }
    assert!(
        got[0].sequence_number.len() < got[1].sequence_number.len()
            || got[0].sequence_number < got[1].sequence_number
    );

    // what Firehose would read from the stream next: each part prices to Ok with its own date
    let payloads: Vec<_> = got
        .iter()
        .map(|r| (r.data.clone(), r.partition_key.clone()))
        .collect();
    let h2 = harness(AwsSink::new(&conf), Config::default());
    let again = h2.handle(event_from_payloads(&payloads, true)).await;
    let dts: Vec<_> = again.records.iter().map(|r| dt(r).to_string()).collect();
    assert_eq!(dts, vec!["2026-11-20", "2026-11-21"]);
    let ids: Vec<Vec<String>> = again
        .records
        .iter()
        .map(|r| {
            rows(r)
                .iter()
                .map(|v| v["request_id"].as_str().unwrap().to_string())
                .collect()
        })
        .collect();
    assert_eq!(ids, MIDNIGHT_PARTS);
    assert_eq!(h2.metrics()["ReingestedEnvelopes"], 0);
}

#[tokio::test]
async fn a_missing_stream_is_fatal_at_once_on_kinesalite() {
    let Some(url) = testkit::emulator(KINESIS_VAR) else {
        return;
    };
    let conf = testkit::emulator_config(&url).await;
    let sink = AwsSink::new(&conf);
    let entries = vec![Entry {
        data: b"x".to_vec(),
        partition_key: "k".into(),
        tag: 0,
    }];
    let target = Target::Kinesis {
        stream: testkit::unique("missing"),
    };
    let r = send_all(&sink, &target, &entries, &RetryPolicy::default(), None).await;
    assert_eq!(r.calls, 1, "not retried");
    assert!(r.sent.is_empty());
    assert!(
        r.failed[0].1.starts_with("ResourceNotFoundException"),
        "{:?}",
        r.failed
    );
}

#[tokio::test]
async fn directput_reingest_goes_through_firehose_put_record_batch_on_moto() {
    let Some(moto) = testkit::emulator(MOTO_VAR) else {
        return;
    };
    let conf = testkit::emulator_config(&moto).await;
    let f = aws_sdk_firehose::Client::new(&conf);
    let bucket = testkit::unique("lake").to_lowercase();
    let stream = testkit::unique("directput");
    testkit::create_bucket(&moto, &bucket);
    testkit::create_delivery_stream(&f, &stream, &bucket).await;

    let mut ev = event(fx::FIREHOSE_DIRECTPUT_MIDNIGHT);
    ev.delivery_stream_arn = Some(format!(
        "arn:aws:firehose:us-east-1:123456789012:deliverystream/{stream}"
    ));
    let h = harness(AwsSink::new(&conf), Config::default());
    let resp = h.handle(ev).await;
    assert_eq!(resp.records[0].result, TransformResult::Dropped);
    assert_eq!(h.metrics()["ReingestedEnvelopes"], 2);

    // moto writes the raw records, concatenated, to one object: two gzip members, one per date
    let objects = testkit::bucket_objects(&moto, &bucket);
    assert_eq!(
        objects.len(),
        1,
        "{:?}",
        objects.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    let mut d = Decoder::new(1 << 20).unwrap();
    let text = d.gunzip(&objects[0].1).unwrap().to_vec();
    let docs: Vec<&serde_json::value::RawValue> = serde_json::Deserializer::from_slice(&text)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    let ids: Vec<Vec<String>> = docs
        .iter()
        .map(|doc| request_ids(doc.get().as_bytes()))
        .collect();
    assert_eq!(ids, MIDNIGHT_PARTS);
}

#[tokio::test]
async fn a_stored_price_overlay_reprices_from_the_next_batch() {
    use spendguard_aws::prices::{PriceObject, PricesSource, POLL_MS};
    let Some(moto) = testkit::emulator(MOTO_VAR) else {
        return;
    };
    let conf = testkit::emulator_config(&moto).await;
    let s3 = spendguard_aws::s3_client(&conf);
    let bucket = testkit::unique("lake");
    spendguard_aws::testkit::versioned_bucket(&s3, &bucket).await;
    let mut h = harness(Recorder::default(), Config::default());
    let before: Vec<serde_json::Value> = h
        .handle(event(fx::FIREHOSE_KINESIS_MANY))
        .await
        .records
        .iter()
        .flat_map(rows)
        .collect();
    let model = before[0]["model"].as_str().unwrap().to_string();
    let overlay = format!(
        "version = \"pricelist-test\"\n[[price]]\nmodel = \"{model}\"\ntier = \"*\"\n\
         effective_from = \"2020-01-01\"\ninput = \"100\"\noutput = \"100\"\n"
    );
    let object = PriceObject::new(s3, &bucket);
    object.put(&object.key, &overlay).await.unwrap();
    h.deps.prices = Some(PricesSource::new(object, POLL_MS));
    let after: Vec<serde_json::Value> = h
        .handle(event(fx::FIREHOSE_KINESIS_MANY))
        .await
        .records
        .iter()
        .flat_map(rows)
        .collect();
    assert_eq!(before.len(), after.len());
    let mut repriced = 0;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b["request_id"], a["request_id"]);
        if b["model"] == model.as_str() {
            assert_eq!(a["price_version"], "pricelist-test", "{a}");
            assert_ne!(a["cost_usd"], b["cost_usd"]);
            repriced += 1;
        } else {
            assert_eq!(
                a["cost_usd"], b["cost_usd"],
                "other models keep their prices"
            );
        }
    }
    assert!(repriced > 0);
    assert!(h
        .logs()
        .iter()
        .any(|l| l["message"] == "price overlay loaded"));
}
