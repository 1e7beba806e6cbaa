//! The price overlay object on moto's S3: versions on write, a conditional read that says "not
//! modified", and the functions' once-a-minute poll that loads a new overlay, keeps the prices in
//! force when a stored overlay does not load (said once per version), and picks up the next one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use spendguard_aws::prices::{Fetched, PriceObject, PricesSource, Update, HELD_KEY, POLL_MS};
use spendguard_aws::testkit::{emulator, emulator_config, unique, versioned_bucket, MOTO_VAR};
use spendguard_core::catalogue::BUILTIN;
use spendguard_core::{Catalogue, Pricer, PricerConfig};
use std::sync::Mutex;

const T0: i64 = 1_795_341_600_000;

fn overlay(input: &str) -> String {
    format!(
        "version = \"pricelist-{input}\"\n[[price]]\nmodel = \"anthropic.claude-3-haiku-20240307-v1:0\"\n\
         tier = \"regional\"\nregions = [\"us-east-1\"]\neffective_from = \"2026-01-01\"\n\
         input = \"{input}\"\noutput = \"1.25\"\n"
    )
}

fn build(
    seen: &Mutex<Vec<String>>,
) -> impl Fn(&str, &str) -> Result<Pricer, spendguard_core::CatalogueError> + '_ {
    move |name, text| {
        seen.lock().unwrap().push(text.to_string());
        Ok(Pricer::new(
            Catalogue::load(&[("prices/bedrock.toml", BUILTIN), (name, text)])?,
            PricerConfig::default(),
        ))
    }
}

#[tokio::test]
async fn the_overlay_is_versioned_read_conditionally_and_polled_at_most_once_a_minute() {
    let Some(moto) = emulator(MOTO_VAR) else {
        return;
    };
    let conf = emulator_config(&moto).await;
    let s3 = spendguard_aws::s3_client(&conf);
    let bucket = unique("lake");
    versioned_bucket(&s3, &bucket).await;
    let object = PriceObject::new(s3.clone(), &bucket);
    assert_eq!(object.get(None).await.unwrap(), Fetched::Missing);

    let src = PricesSource::new(object.clone(), POLL_MS);
    let seen = Mutex::new(Vec::new());
    assert!(matches!(
        src.poll(T0, build(&seen)).await,
        Update::Unchanged
    ));

    let w1 = object.put(&object.key, &overlay("0.3")).await.unwrap();
    assert!(w1.version_id.is_some(), "versioned");
    let Fetched::Body(b1) = object.get(None).await.unwrap() else {
        panic!("no body")
    };
    assert_eq!(b1.text, overlay("0.3"));
    assert_eq!(Some(&b1.etag), w1.etag.as_ref());
    assert_eq!(
        object.get(Some(&b1.etag)).await.unwrap(),
        Fetched::NotModified
    );

    // the first poll was at T0 (missing): not due again before a minute
    assert!(matches!(
        src.poll(T0 + 30_000, build(&seen)).await,
        Update::Unchanged
    ));
    assert!(seen.lock().unwrap().is_empty());
    let u = src.poll(T0 + POLL_MS, build(&seen)).await;
    let Update::New {
        etag, version_id, ..
    } = &u
    else {
        panic!("{u:?}")
    };
    assert_eq!((etag, version_id), (&b1.etag, &w1.version_id));
    let logs = spendguard_aws::log::capture();
    u.say(&bucket);
    let said = logs.said("price overlay loaded");
    assert_eq!(said.len(), 1, "{:?}", logs.lines());
    assert_eq!(said[0]["etag"], b1.etag.as_str());
    assert_eq!(said[0]["level"], "INFO");
    // unchanged since: not modified, nothing built
    assert!(matches!(
        src.poll(T0 + 2 * POLL_MS, build(&seen)).await,
        Update::Unchanged
    ));
    assert_eq!(seen.lock().unwrap().len(), 1);

    // an overlay that does not load: kept, said once for that version
    let w2 = object
        .put(&object.key, "[[price]]\nmodel = 3\n")
        .await
        .unwrap();
    assert_ne!(w2.version_id, w1.version_id);
    let u = src.poll(T0 + 3 * POLL_MS, build(&seen)).await;
    let Update::Kept { why } = &u else {
        panic!("{u:?}")
    };
    assert!(why.contains("does not load"), "{why}");
    u.say(&bucket);
    let said = logs.said("price overlay not loaded; keeping the prices in force");
    assert_eq!(said.len(), 1, "{:?}", logs.lines());
    assert_eq!(said[0]["level"], "ERROR");
    assert!(said[0]["error"].as_str().unwrap().contains("does not load"));
    assert!(matches!(
        src.poll(T0 + 4 * POLL_MS, build(&seen)).await,
        Update::Unchanged
    ));

    // the next good one is picked up
    object.put(&object.key, &overlay("0.4")).await.unwrap();
    let u = src.poll(T0 + 5 * POLL_MS, build(&seen)).await;
    assert!(matches!(u, Update::New { .. }), "{u:?}");
    assert_eq!(seen.lock().unwrap().last().unwrap(), &overlay("0.4"));

    // a held candidate goes beside it, the overlay in force is untouched
    object.put(HELD_KEY, &overlay("9")).await.unwrap();
    let Fetched::Body(now) = object.get(None).await.unwrap() else {
        panic!()
    };
    assert_eq!(now.text, overlay("0.4"));

    // a bucket that does not exist: an error to log, the prices in force stay
    let gone = PricesSource::new(PriceObject::new(s3, unique("no-such-bucket")), POLL_MS);
    let u = gone.poll(T0, build(&seen)).await;
    assert!(matches!(u, Update::Kept { .. }), "{u:?}");
}
