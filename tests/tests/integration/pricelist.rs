//! `prices sync` on AWS's real Price List responses (tests/fixtures/aws-price-list): every token
//! SKU classified, joined to catalogue entries by name, the rest skipped by reason; the overlay
//! prices us-east-1 as the catalogue does where both price; bad files are refused by name and
//! SKU.

use spendguard_core::catalogue::PriceEntry;
use spendguard_core::pricelist::{self, DiffLine, Kind, PriceListError};
use spendguard_core::Catalogue;
use spendguard_schemas::{time, EndpointTier};

const FILES: &[(&str, &str)] = &[
    (
        "ab-nova-micro-use1.json",
        include_str!("../../fixtures/aws-price-list/ab-nova-micro-use1.json"),
    ),
    (
        "fm-claude-3-5-sonnet-use1.json",
        include_str!("../../fixtures/aws-price-list/fm-claude-3-5-sonnet-use1.json"),
    ),
    (
        "fm-opus-4-7-use1.json",
        include_str!("../../fixtures/aws-price-list/fm-opus-4-7-use1.json"),
    ),
    (
        "fm-sonnet-4-6-use1.json",
        include_str!("../../fixtures/aws-price-list/fm-sonnet-4-6-use1.json"),
    ),
];
const OFFER: &str = include_str!(
    "../../fixtures/aws-price-list-offer/AmazonBedrockFoundationModels-us-east-1-index.json"
);

fn products() -> Vec<pricelist::Product> {
    FILES
        .iter()
        .flat_map(|(n, t)| pricelist::parse_file(n, t).unwrap())
        .collect()
}

fn with_overlay(overlay: &str) -> Catalogue {
    Catalogue::load(&[
        ("prices/bedrock.toml", spendguard_core::catalogue::BUILTIN),
        ("overlay", overlay),
    ])
    .unwrap()
}

fn overlay_entries(c: &Catalogue) -> Vec<&PriceEntry> {
    c.entries().iter().filter(|e| e.layer() == 1).collect()
}

#[test]
fn sync_maps_every_token_sku_and_skips_the_rest_by_reason() {
    let builtin = Catalogue::builtin().unwrap();
    let rep = pricelist::sync(&products(), &builtin);
    assert!(rep.unclassified.is_empty(), "{:?}", rep.unclassified);
    assert!(
        rep.not_in_catalogue.is_empty(),
        "{:?}",
        rep.not_in_catalogue
    );
    assert!(rep.ambiguous.is_empty() && rep.conflicts.is_empty() && rep.incomplete.is_empty());
    // Nova Micro 6 on-demand/batch token SKUs; Sonnet 4.6 14; Opus 4.7 10; 3.5 Sonnet 6.
    assert_eq!(rep.skus_mapped, 6 + 14 + 10 + 6, "{rep:?}");
    let skipped = |why: &str| rep.skipped.get(why).copied().unwrap_or(0);
    assert_eq!(skipped("reserved TPM"), 8, "{:?}", rep.skipped);
    assert_eq!(
        skipped("provisioned throughput"),
        3 + 3,
        "{:?}",
        rep.skipped
    );
    assert!(skipped("custom model, customization, training or storage") >= 5);
    assert_eq!(
        rep.skus_total,
        rep.skus_mapped + rep.skipped.values().sum::<usize>()
    );
    // One entry per (model, tier, Region): Nova regional; Sonnet 4.6 and Opus 4.7 global and
    // regional; 3.5 Sonnet regional.
    assert_eq!(rep.entries, 6, "{}", rep.overlay);
    assert!(rep.overlay.contains("version = \"pricelist-"));
}

#[test]
fn the_overlay_prices_us_east_1_as_the_catalogue_does() {
    let builtin = Catalogue::builtin().unwrap();
    let rep = pricelist::sync(&products(), &builtin);
    let cat = with_overlay(&rep.overlay);
    let lines = pricelist::diff(&builtin, &overlay_entries(&cat));
    let changed: Vec<_> = lines
        .iter()
        .filter(|l| !matches!(l, DiffLine::Same { .. }))
        .collect();
    assert!(changed.is_empty(), "differences: {changed:#?}");
    // every class and tier both price, read back through the pricer's lookup
    let at = time::parse_rfc3339_ms("2026-06-01T00:00:00Z").unwrap();
    let get = |model: &str, tier| match cat.lookup(model, tier, "us-east-1", at) {
        spendguard_core::catalogue::Lookup::Found(e) => e.clone(),
        _ => panic!("{model} {tier}"),
    };
    let s = get("anthropic.claude-sonnet-4-6", EndpointTier::Global);
    assert_eq!(s.layer(), 1, "the overlay entry applies");
    assert_eq!(s.rates.input.to_string(), "3");
    assert_eq!(s.rates.cache_write_5m.unwrap().to_string(), "3.75");
    assert_eq!(s.rates.cache_write_1h.unwrap().to_string(), "6");
    assert_eq!(s.batch.map(|b| b.1.to_string()), Some("7.5".into()));
    let r = get("anthropic.claude-sonnet-4-6", EndpointTier::Geo);
    assert_eq!(r.rates.output.to_string(), "16.5");
    assert_eq!(r.rates.cache_write_1h.unwrap().to_string(), "6.6");
    let o = get("anthropic.claude-opus-4-7", EndpointTier::InRegion);
    assert_eq!(o.rates.cache_read.unwrap().to_string(), "0.55");
    assert_eq!(o.rates.cache_write_1h.unwrap().to_string(), "11");
    let n = get("amazon.nova-micro-v1:0", EndpointTier::InRegion);
    assert_eq!(n.rates.cache_write_5m.unwrap().to_string(), "0");
    assert_eq!(n.batch.map(|b| b.0.to_string()), Some("0.0175".into()));
    let c = get(
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        EndpointTier::InRegion,
    );
    assert_eq!(c.batch.map(|b| b.0.to_string()), Some("1.5".into()));
    // before the Price List's effective date the catalogue's own entry still applies
    let early = time::parse_rfc3339_ms("2025-06-01T00:00:00Z").unwrap();
    match cat.lookup(
        "anthropic.claude-sonnet-4-6",
        EndpointTier::Global,
        "us-east-1",
        early,
    ) {
        spendguard_core::catalogue::Lookup::Found(e) => assert_eq!(e.layer(), 0),
        _ => panic!(),
    }
}

#[test]
fn a_different_price_shows_in_the_diff_with_the_decision() {
    let builtin = Catalogue::builtin().unwrap();
    let tweaked = FILES[3].1.replace(
        "\\\"USD\\\":\\\"3.0000000000\\\"",
        "\\\"USD\\\":\\\"2.7000000000\\\"",
    );
    assert_ne!(tweaked, FILES[3].1);
    let ps = pricelist::parse_file("tweaked.json", &tweaked).unwrap();
    let rep = pricelist::sync(&ps, &builtin);
    let cat = with_overlay(&rep.overlay);
    let lines = pricelist::diff(&builtin, &overlay_entries(&cat));
    assert!(
        lines.iter().any(|l| matches!(l, DiffLine::Changed { class: "input", from, to, .. }
            if from.map(|d| d.to_string()) == Some("3".into()) && to.map(|d| d.to_string()) == Some("2.7".into()))),
        "{lines:#?}"
    );
}

#[test]
fn the_bulk_offer_layout_gives_the_same_overlay() {
    let builtin = Catalogue::builtin().unwrap();
    let from_offer = pricelist::parse_file("offer.json", OFFER).unwrap();
    let fm: Vec<_> = products()
        .into_iter()
        .filter(|p| p.service_code == "AmazonBedrockFoundationModels")
        .collect();
    assert_eq!(from_offer.len(), fm.len());
    let a = pricelist::sync(&from_offer, &builtin).overlay;
    let b = pricelist::sync(&fm, &builtin).overlay;
    assert_eq!(a, b);
}

#[test]
fn unknown_models_and_odd_units_are_listed_never_guessed() {
    let builtin = Catalogue::builtin().unwrap();
    let renamed = FILES[3].1.replace(
        "Claude Sonnet 4.6 (Amazon Bedrock Edition)",
        "Claude Sonnet 9 (Amazon Bedrock Edition)",
    );
    let rep = pricelist::sync(
        &pricelist::parse_file("r.json", &renamed).unwrap(),
        &builtin,
    );
    assert!(rep.not_in_catalogue.contains("Claude Sonnet 9"), "{rep:?}");
    assert_eq!(rep.entries, 0);
    // "Units" means per 1M only in AmazonBedrockFoundationModels
    let mut p = products()
        .into_iter()
        .find(|p| p.sku == "XAR69MSGZSU6FEM9")
        .unwrap();
    p.unit = "Units".into();
    assert!(matches!(pricelist::classify(&p), Kind::Unclassified(_)));
    // a price too large to scale to per 1M is listed, not a panic
    let mut huge = p.clone();
    huge.unit = "1K tokens".into();
    huge.usd = rust_decimal::Decimal::MAX;
    assert!(matches!(pricelist::classify(&huge), Kind::Unclassified(_)));
    let rep = pricelist::sync(&[p], &builtin);
    assert_eq!(rep.unclassified.len(), 1, "{rep:?}");
    assert!(rep.unclassified[0].contains("XAR69MSGZSU6FEM9"));
}

#[test]
fn malformed_files_name_the_file_and_the_sku() {
    let (name, text) = FILES[0];
    let truncated = &text[..text.len() / 2];
    assert!(matches!(
        pricelist::parse_file(name, truncated),
        Err(PriceListError::Json { .. })
    ));
    let no_term = text.replacen("\\\"OnDemand\\\"", "\\\"Gone\\\"", 1);
    let err = pricelist::parse_file(name, &no_term)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(name) && err.contains("SKU") && err.contains("OnDemand"),
        "{err}"
    );
    let nan = text.replacen(
        "\\\"USD\\\":\\\"0.0000350000\\\"",
        "\\\"USD\\\":\\\"about 3 cents\\\"",
        1,
    );
    let err = pricelist::parse_file(name, &nan).unwrap_err().to_string();
    assert!(
        err.starts_with(name) && err.contains(": SKU ") && err.contains("not a number"),
        "{err}"
    );
    let err = pricelist::parse_file("idx.json", r#"{"regions": {}}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("region index"), "{err}");
}
