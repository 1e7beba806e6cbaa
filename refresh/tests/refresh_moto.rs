//! The refresh against a local HTTP server serving a captured offer file and moto's S3: the
//! first run writes the overlay (the same text `prices sync` builds), a second changes nothing, a
//! candidate that would drop a model in force is held beside it with the prices in force kept,
//! and an unreachable Price List fails the run with the prices in force kept. Each run's EMF line
//! says so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rust_decimal::Decimal;
use serde_json::Value;
use spendguard_aws::prices::{Fetched, PriceObject, HELD_KEY};
use spendguard_aws::testkit::{
    emulator, emulator_config, region_index, serve, unique, versioned_bucket, MOTO_VAR,
};
use spendguard_core::catalogue::BUILTIN;
use spendguard_refresh::{handle, refresh, Config, Deps, Outcome};
use std::collections::HashMap;

const OFFER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/aws-price-list-offer/AmazonBedrockFoundationModels-us-east-1-index.json"
);
const INDEX: &str = "/offers/v1.0/aws/AmazonBedrockFoundationModels/current/region_index.json";
const USE1: &str =
    "/offers/v1.0/aws/AmazonBedrockFoundationModels/20260501202025/us-east-1/index.json";
const T0: i64 = 1_795_341_600_000;

async fn text_of(o: &PriceObject) -> String {
    match o.get(None).await.unwrap() {
        Fetched::Body(s) => s.text,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn refresh_writes_then_keeps_then_holds_and_fails_safe() {
    let Some(moto) = emulator(MOTO_VAR) else {
        return;
    };
    let offer = std::fs::read_to_string(OFFER).unwrap();
    let base = serve(HashMap::from([
        (INDEX.to_string(), region_index(&[("us-east-1", USE1)])),
        (USE1.to_string(), offer.clone()),
    ]));
    let conf = emulator_config(&moto).await;
    let s3 = spendguard_aws::s3_client(&conf);
    let bucket = unique("lake");
    versioned_bucket(&s3, &bucket).await;
    let object = PriceObject::new(s3, &bucket);
    let config = Config {
        bucket: bucket.clone(),
        offers_url: base.clone(),
        services: vec!["AmazonBedrockFoundationModels".into()],
        regions: vec!["us-east-1".into()],
        max_factor: Decimal::TWO,
    };
    let deps = Deps {
        config: config.clone(),
        object: object.clone(),
        function_name: "refresh".into(),
    };
    let logs = spendguard_aws::log::capture();

    // first run: written, and it is what `prices sync` builds from the same file
    let out = handle(&deps, T0).await.unwrap();
    assert_eq!(out["outcome"], "written", "{out}");
    assert!(out["versionId"].is_string());
    let want = spendguard_core::pricelist::candidate(
        &[("prices/bedrock.toml", BUILTIN)],
        &[("offer".to_string(), offer)],
        None,
        Decimal::TWO,
    )
    .unwrap()
    .report
    .overlay;
    let stored = text_of(&object).await;
    assert_eq!(stored, want);
    assert!(stored.contains("model = \"anthropic.claude-opus-4-7\""));
    assert!(out["skusMapped"].as_u64().unwrap() > 0);
    let said = logs.said("price refresh");
    assert_eq!(said.len(), 1, "{:?}", logs.lines());
    assert_eq!(said[0]["outcome"], "written");
    assert_eq!(said[0]["level"], "INFO");
    let emf = logs.json()[1].clone();
    assert_eq!(
        (&emf["PriceRefreshSucceeded"], &emf["PriceRefreshHeld"]),
        (&Value::from(1), &Value::from(0))
    );
    assert_eq!(
        emf["PriceListProductsUnnamed"].as_u64().unwrap(),
        out["notInCatalogue"].as_array().unwrap().len() as u64
    );

    // second run: the same prices, nothing written
    let r = refresh(&config, &object).await.unwrap();
    assert_eq!(r.outcome, Outcome::Unchanged);

    // the overlay in force prices a model this Price List lacks: held, nothing in force changes
    let with_extra = format!(
        "{stored}\n[[price]]\nmodel = \"acme.kept-v1:0\"\ntier = \"*\"\nregions = [\"us-east-1\"]\neffective_from = \"2026-01-01\"\ninput = \"1\"\noutput = \"2\"\n"
    );
    object.put(&object.key, &with_extra).await.unwrap();
    let r = refresh(&config, &object).await.unwrap();
    let Outcome::Held { reasons } = &r.outcome else {
        panic!("{r:?}")
    };
    assert!(
        reasons.iter().any(|m| m.contains("acme.kept-v1:0")),
        "{reasons:?}"
    );
    assert_eq!(
        text_of(&object).await,
        with_extra,
        "the prices in force stay"
    );
    let held = PriceObject {
        key: HELD_KEY.into(),
        ..object.clone()
    };
    assert_eq!(
        text_of(&held).await,
        want,
        "the candidate waits for an operator"
    );
    let emf: Value = serde_json::from_str(&r.emf("refresh", T0)).unwrap();
    assert_eq!(emf["PriceRefreshSucceeded"], 0);
    assert_eq!(emf["PriceRefreshHeld"], 1);

    // an overlay in force that does not load (a bad hand push) is replaced, and said so
    object
        .put(&object.key, "[[price]]\nmodel = 3\n")
        .await
        .unwrap();
    let r = refresh(&config, &object).await.unwrap();
    assert!(matches!(r.outcome, Outcome::Written { .. }), "{r:?}");
    assert!(r
        .previous_unloadable
        .as_deref()
        .unwrap()
        .contains("does not load"));
    assert_eq!(text_of(&object).await, want);
    object.put(&object.key, &with_extra).await.unwrap();

    // the Price List unreachable: the run fails, says so, and nothing changes
    let broken = Deps {
        config: Config {
            offers_url: format!("{base}/nowhere"),
            ..config
        },
        object: object.clone(),
        function_name: "refresh".into(),
    };
    // a fresh capture (the first one's guard goes first: guards nest)
    drop(logs);
    let logs = spendguard_aws::log::capture();
    let e = handle(&broken, T0).await.unwrap_err();
    assert!(e.to_string().contains("404"), "{e}");
    let l = logs.json();
    assert!(l[0]["message"]
        .as_str()
        .unwrap()
        .contains("prices in force stay"));
    assert_eq!(l[1]["PriceRefreshSucceeded"], 0);
    assert_eq!(text_of(&object).await, with_extra);
}
