//! Published prices, case by case, through the whole record path (parse + price) on the
//! fixtures. Expected costs are worked by hand from the catalogue's USD-per-1M prices.

use rust_decimal::Decimal;
use spendguard_core::{decode, Catalogue, Pricer, PricerConfig};
use spendguard_schemas::fixtures as fx;
use spendguard_schemas::{CacheTtlSource, EndpointTier, PriceStatus, PricedRow, PrincipalType};
use std::str::FromStr;

fn pricer() -> Pricer {
    Pricer::new(Catalogue::builtin().unwrap(), PricerConfig::default())
}

fn price(json: &str) -> PricedRow<'static> {
    let rec = decode::parse_record(json).unwrap();
    pricer().price(rec, None).unwrap().into_owned()
}

fn usd(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn with(json: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    edit(&mut v);
    v.to_string()
}

#[track_caller]
fn costs(r: &PricedRow<'_>, input: &str, output: &str, read: &str, write: &str, total: &str) {
    assert_eq!(r.input_cost_usd, usd(input), "input");
    assert_eq!(r.output_cost_usd, usd(output), "output");
    assert_eq!(r.cache_read_cost_usd, usd(read), "cache read");
    assert_eq!(r.cache_write_cost_usd, usd(write), "cache write");
    assert_eq!(r.cost_usd, usd(total), "total");
    assert_eq!(
        r.cost_usd,
        r.input_cost_usd + r.output_cost_usd + r.cache_read_cost_usd + r.cache_write_cost_usd
    );
}

#[test]
fn nova_lite_converse_with_cache_read() {
    let r = price(fx::BEDROCK_CONVERSE_NOVA_CACHE_READ);
    assert_eq!(r.model, "amazon.nova-lite-v1:0");
    assert_eq!(r.endpoint_tier, EndpointTier::InRegion);
    assert_eq!(r.price_status, PriceStatus::Exact);
    assert_eq!(r.cache_ttl_source, CacheTtlSource::None);
    // 1200 x 0.06 + 300 x 0.24 + 4000 x 0.015 (per 1M)
    costs(&r, "0.000072", "0.000072", "0.00006", "0", "0.000204");
    assert_eq!(r.dt, "2026-11-20");
    assert_eq!(r.event_time, 1_795_169_730_000);
}

#[test]
fn sonnet_45_regional_vs_global() {
    let g = price(fx::BEDROCK_CONVERSE_GLOBAL);
    assert_eq!(g.endpoint_tier, EndpointTier::Global);
    assert_eq!(g.model, "anthropic.claude-sonnet-4-5-20250929-v1:0");
    costs(&g, "0.03", "0.03", "0", "0", "0.06");
    // the same call through `us.`: 10% more on every class
    let us = price(&with(fx::BEDROCK_CONVERSE_GLOBAL, |v| {
        v["modelId"] = "us.anthropic.claude-sonnet-4-5-20250929-v1:0".into()
    }));
    assert_eq!(us.endpoint_tier, EndpointTier::Geo);
    costs(&us, "0.033", "0.033", "0", "0", "0.066");
    // and in-Region
    let ir = price(&with(fx::BEDROCK_CONVERSE_GLOBAL, |v| {
        v["modelId"] = "anthropic.claude-sonnet-4-5-20250929-v1:0".into()
    }));
    assert_eq!(ir.endpoint_tier, EndpointTier::InRegion);
    assert_eq!(ir.cost_usd, usd("0.066"));
}

#[test]
fn converse_stream_list_body_with_logged_1h_split() {
    let r = price(fx::BEDROCK_CONVERSE_STREAM_1H);
    assert_eq!(r.cache_ttl_source, CacheTtlSource::Logged);
    assert_eq!(
        (r.cache_write_1h_tokens, r.cache_write_5m_tokens),
        (1000, 500)
    );
    assert_eq!(r.price_status, PriceStatus::Exact);
    // 10 x 3.3 + 2 x 16.5 + 1000 x 6.6 (1h) + 500 x 4.125 (5m)
    costs(&r, "0.000033", "0.000033", "0", "0.0086625", "0.0087285");
    // prices follow the source region, never inferenceRegion
    assert_eq!(r.region, "us-east-1");
    assert_eq!(r.inference_region.as_deref(), Some("us-west-2"));
    let meta = r.request_metadata.as_ref().unwrap();
    assert_eq!(meta.get("team").map(|v| v.as_ref()), Some("payments"));
}

#[test]
fn converse_stream_logged_as_one_object_also_yields_the_split() {
    // Real captures show ConverseStream's outputBodyJson as one Converse-shaped object.
    let json = with(fx::BEDROCK_CONVERSE_STREAM_1H, |v| {
        let usage = v["output"]["outputBodyJson"][5]["metadata"]["usage"].clone();
        v["output"]["outputBodyJson"] = serde_json::json!({"output": {}, "usage": usage});
    });
    let r = price(&json);
    assert_eq!(r.cache_ttl_source, CacheTtlSource::Logged);
    assert_eq!(r.cost_usd, usd("0.0087285"));
}

#[test]
fn anthropic_native_cache_creation_1h_on_eu_profile() {
    let r = price(fx::BEDROCK_INVOKE_ANTHROPIC_CACHE);
    assert_eq!(r.model, "anthropic.claude-haiku-4-5-20251001-v1:0");
    assert_eq!(r.endpoint_tier, EndpointTier::Geo);
    assert_eq!(
        (r.cache_write_1h_tokens, r.cache_write_5m_tokens),
        (3000, 0)
    );
    // 20 x 1.1 + 50 x 5.5 + 100 x 0.11 + 3000 x 2.2 (1h)
    costs(&r, "0.000022", "0.000275", "0.000011", "0.0066", "0.006908");
    assert_eq!(r.principal_type, PrincipalType::AssumedRole);
    assert_eq!(r.principal, "arn:aws:iam::111122223333:role/DataScience");
    assert_eq!(r.session_name.as_deref(), Some("bob@example.com"));
}

#[test]
fn opus_47_through_a_global_inference_profile_arn_stream_events() {
    let r = price(fx::BEDROCK_INVOKE_STREAM_PROFILE_ARN);
    assert_eq!(r.model, "anthropic.claude-opus-4-7");
    assert_eq!(r.endpoint_tier, EndpointTier::Global);
    // the split comes from the message_start event, though the input body is offloaded
    assert_eq!(r.cache_ttl_source, CacheTtlSource::Logged);
    // 6 x 5 + 167 x 25 + 225913 x 6.25 (5m)
    costs(&r, "0.00003", "0.004175", "0", "1.41195625", "1.41616125");
    assert_eq!(r.dt, "2026-04-20");
}

#[test]
fn opus_45_eu_profile_with_bodies_but_no_split_is_5m_exact() {
    let r = price(fx::BEDROCK_CONVERSE_EU);
    assert_eq!(r.cache_ttl_source, CacheTtlSource::Default5m);
    assert_eq!(r.price_status, PriceStatus::Exact);
    // 100 x 5.5 + 10 x 27.5 + 2000 x 6.875
    costs(&r, "0.00055", "0.000275", "0", "0.01375", "0.014575");
}

#[test]
fn offloaded_bodies_assume_the_configured_ttl_and_mark_the_row() {
    let json = with(fx::BEDROCK_CONVERSE_STREAM_1H, |v| {
        let out = v["output"].as_object_mut().unwrap();
        out.remove("outputBodyJson");
        out.insert("outputBodyS3Path".into(), "s3://b/k_output.json.gz".into());
    });
    let r = price(&json);
    assert_eq!(r.cache_ttl_source, CacheTtlSource::Assumed);
    assert_eq!(r.price_status, PriceStatus::Estimated);
    assert_eq!(r.cache_write_5m_tokens, 1500);
    assert_eq!(r.cache_write_cost_usd, usd("0.0061875"));
    // with a 1h assumption configured
    let p = Pricer::new(
        Catalogue::builtin().unwrap(),
        PricerConfig {
            assumed_cache_ttl: spendguard_core::price::AssumedTtl::OneHour,
        },
    );
    let r = p.price(decode::parse_record(&json).unwrap(), None).unwrap();
    assert_eq!(r.cache_write_1h_tokens, 1500);
    assert_eq!(r.cache_write_cost_usd, usd("0.0099"));
}

#[test]
fn nova_micro_apac_profile_cache_read_at_scale_12() {
    let r = price(fx::BEDROCK_CONVERSE_APAC);
    assert_eq!(r.endpoint_tier, EndpointTier::Geo);
    costs(&r, "0.035", "0.14", "0.00875", "0", "0.18375");
    // one cache-read token: 8.75e-9 USD, exact
    let one = price(&with(fx::BEDROCK_CONVERSE_APAC, |v| {
        v["input"]["inputTokenCount"] = 0.into();
        v["input"]["cacheReadInputTokenCount"] = 1.into();
        v["output"]["outputTokenCount"] = 0.into();
    }));
    assert_eq!(one.cost_usd, usd("0.00000000875"));
}

#[test]
fn llama_foundation_model_arn() {
    let r = price(fx::BEDROCK_INVOKE_FOUNDATION_ARN);
    assert_eq!(r.model, "meta.llama3-3-70b-instruct-v1:0");
    assert_eq!(r.endpoint_tier, EndpointTier::InRegion);
    costs(&r, "0.00036", "0.00018", "0", "0", "0.00054");
}

#[test]
fn application_profile_is_fallback_until_mapped() {
    let r = price(fx::BEDROCK_CONVERSE_APP_PROFILE);
    assert_eq!(r.price_status, PriceStatus::Fallback);
    assert_eq!(r.endpoint_tier, EndpointTier::Unknown);
    assert!(r.cost_usd > Decimal::ZERO, "never a silent $0");
    // the global fallback: 18.8 / 75, the dearest base price listed
    costs(&r, "0.0188", "0.0075", "0", "0", "0.0263");
    let overlay = r#"
version = "site-1"
[[application_profile]]
arn = "arn:aws:bedrock:us-east-2:111122223333:application-inference-profile/abc123"
model = "anthropic.claude-sonnet-4-5-20250929-v1:0"
tier = "geo"
"#;
    let cat = Catalogue::load(&[
        ("prices/bedrock.toml", spendguard_core::catalogue::BUILTIN),
        ("site.toml", overlay),
    ])
    .unwrap();
    let p = Pricer::new(cat, PricerConfig::default());
    let r = p
        .price(
            decode::parse_record(fx::BEDROCK_CONVERSE_APP_PROFILE).unwrap(),
            None,
        )
        .unwrap();
    assert_eq!(r.price_status, PriceStatus::Exact);
    assert_eq!(r.endpoint_tier, EndpointTier::Geo);
    assert_eq!(r.model, "anthropic.claude-sonnet-4-5-20250929-v1:0");
    assert_eq!(r.cost_usd, usd("0.00495"));
}

#[test]
fn unknown_model_is_fallback_priced_and_marked() {
    let r = price(&with(fx::BEDROCK_CONVERSE_GLOBAL, |v| {
        v["modelId"] = "us.newvendor.shiny-model-v9:0".into()
    }));
    assert_eq!(r.price_status, PriceStatus::Fallback);
    assert_eq!(r.model, "newvendor.shiny-model-v9:0");
    costs(&r, "0.188", "0.15", "0", "0", "0.338");
    // a known model on a tier it is not sold on (Claude Opus 4.1 has no global profile): its
    // own dearest entry (regional 15 / 75), still marked fallback
    let r = price(&with(fx::BEDROCK_CONVERSE_GLOBAL, |v| {
        v["modelId"] = "global.anthropic.claude-opus-4-1-20250805-v1:0".into()
    }));
    assert_eq!(r.price_status, PriceStatus::Fallback);
    costs(&r, "0.15", "0.15", "0", "0", "0.3");
}

#[test]
fn provisioned_throughput_and_errors_are_marked_not_silent() {
    let r = price(fx::BEDROCK_INVOKE_PROVISIONED);
    assert_eq!(r.price_status, PriceStatus::NotTokenPriced);
    assert_eq!(r.cost_usd, Decimal::ZERO);
    assert_eq!(r.input_tokens, 700);
    let e = price(fx::BEDROCK_ERROR);
    assert_eq!(e.price_status, PriceStatus::ErrorNoCharge);
    assert_eq!(e.error_code.as_deref(), Some("ThrottlingException"));
    assert_eq!(e.cost_usd, Decimal::ZERO);
}

#[test]
fn embeddings_without_output_token_count() {
    let r = price(fx::BEDROCK_EMBEDDINGS);
    assert_eq!(r.output_tokens, 0);
    costs(&r, "0.001", "0", "0", "0", "0.001");
    assert_eq!(r.price_status, PriceStatus::Exact);
}

#[test]
fn sso_role_session_and_untrusted_metadata() {
    let r = price(fx::BEDROCK_ASSUMED_ROLE_METADATA);
    assert_eq!(
        r.principal,
        "arn:aws:iam::111122223333:role/AWSReservedSSO_Dev_abc"
    );
    assert_eq!(r.session_name.as_deref(), Some("carol@example.com"));
    assert_eq!(
        r.principal_arn,
        "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Dev_abc/carol@example.com"
    );
    // metadata claiming another user changes nothing about identity
    assert!(!r.principal.contains("mallory"));
    // Sonnet 4: no regional premium
    costs(&r, "0.006", "0.006", "0", "0", "0.012");
}

#[test]
fn long_context_tier_applies_to_every_class_strictly_over_200k() {
    let r = price(fx::BEDROCK_LONG_CONTEXT);
    // 150000 + 60000 (cache read) = 210000 > 200000: 6.6 / 24.75 / 0.66 (regional)
    costs(&r, "0.99", "0.02475", "0.0396", "0", "1.05435");
    // exactly 200000 is not over: base regional rates 3.3 / 16.5 / 0.33
    let at = price(&with(fx::BEDROCK_LONG_CONTEXT, |v| {
        v["input"]["inputTokenCount"] = 140_000.into()
    }));
    costs(&at, "0.462", "0.0165", "0.0198", "0", "0.4983");
    // cache writes count toward the trigger too
    let w = price(&with(fx::BEDROCK_LONG_CONTEXT, |v| {
        v["input"]["inputTokenCount"] = 140_000.into();
        v["input"]["cacheWriteInputTokenCount"] = 1.into();
    }));
    assert_eq!(w.input_cost_usd, usd("0.924"));
    // global long context: 6 / 22.5 / 0.6
    let g = price(&with(fx::BEDROCK_LONG_CONTEXT, |v| {
        v["modelId"] = "global.anthropic.claude-sonnet-4-5-20250929-v1:0".into()
    }));
    costs(&g, "0.9", "0.0225", "0.036", "0", "0.9585");
    // Opus 4.5 has no long-context tier: 250K prompt at base rates
    let o = price(&with(fx::BEDROCK_LONG_CONTEXT, |v| {
        v["modelId"] = "global.anthropic.claude-opus-4-5-20251101-v1:0".into();
        v["input"]["inputTokenCount"] = 250_000.into();
        v["input"]["cacheReadInputTokenCount"] = 0.into();
    }));
    assert_eq!(o.input_cost_usd, usd("1.25"));
}

#[test]
fn region_specific_prices_follow_the_source_region() {
    let base = with(fx::BEDROCK_CONVERSE_GLOBAL, |v| {
        v["modelId"] = "deepseek.v3.2".into();
        v["input"]["inputTokenCount"] = 1_000_000.into();
        v["output"]["outputTokenCount"] = 1_000_000.into();
    });
    let us = price(&base);
    assert_eq!(us.cost_usd, usd("2.47")); // 0.62 + 1.85 in us-east-1
    let eu = price(&with(&base, |v| {
        v["region"] = "eu-west-1".into();
        v["inferenceRegion"] = "us-east-1".into();
    }));
    assert_eq!(eu.cost_usd, usd("2.96")); // 0.74 + 2.22: the source region decides
}

#[test]
fn missing_timestamp_uses_the_log_event_time_and_bad_records_are_typed() {
    let json = with(fx::BEDROCK_CONVERSE_GLOBAL, |v| {
        v.as_object_mut().unwrap().remove("timestamp");
    });
    let rec = decode::parse_record(&json).unwrap();
    let r = pricer().price(rec, Some(1_795_947_332_000)).unwrap();
    assert_eq!(r.dt, "2026-11-29");
    let rec = decode::parse_record(&json).unwrap();
    assert_eq!(
        pricer().price(rec, None).unwrap_err(),
        spendguard_core::PriceError::MissingTimestamp
    );
    let neg = with(fx::BEDROCK_CONVERSE_GLOBAL, |v| {
        v["input"]["inputTokenCount"] = (-5).into()
    });
    assert!(matches!(
        pricer().price(decode::parse_record(&neg).unwrap(), None),
        Err(spendguard_core::PriceError::NegativeTokens { .. })
    ));
    let no_id = with(fx::BEDROCK_CONVERSE_GLOBAL, |v| {
        v.as_object_mut().unwrap().remove("requestId");
    });
    assert_eq!(
        pricer()
            .price(decode::parse_record(&no_id).unwrap(), None)
            .unwrap_err(),
        spendguard_core::PriceError::MissingRequestId
    );
    // an empty or blank id would merge invocations: refused like a missing one (issue 20 case 6)
    for blank in ["", "   "] {
        let empty = with(fx::BEDROCK_CONVERSE_GLOBAL, |v| {
            v["requestId"] = blank.into()
        });
        assert_eq!(
            pricer()
                .price(decode::parse_record(&empty).unwrap(), None)
                .unwrap_err(),
            spendguard_core::PriceError::MissingRequestId,
            "{blank:?}"
        );
    }
    // a count no request can have is refused with its field named, never summed into a wrap
    // (issue 20 case 3); the bound itself is a price
    let huge = with(fx::BEDROCK_CONVERSE_GLOBAL, |v| {
        v["input"]["inputTokenCount"] = i64::MAX.into()
    });
    let e = pricer()
        .price(decode::parse_record(&huge).unwrap(), None)
        .unwrap_err();
    assert!(matches!(
        e,
        spendguard_core::PriceError::ImplausibleTokens {
            field: "inputTokenCount",
            value: i64::MAX
        }
    ));
    assert!(e.to_string().contains("9223372036854775807"), "{e}");
    let at_bound = with(fx::BEDROCK_CONVERSE_GLOBAL, |v| {
        v["output"]["outputTokenCount"] = spendguard_core::price::MAX_TOKENS_PER_CLASS.into()
    });
    assert!(pricer()
        .price(decode::parse_record(&at_bound).unwrap(), None)
        .is_ok());
    let bad_ts = with(fx::BEDROCK_CONVERSE_GLOBAL, |v| {
        v["timestamp"] = "yesterday".into()
    });
    assert!(matches!(
        pricer().price(decode::parse_record(&bad_ts).unwrap(), None),
        Err(spendguard_core::PriceError::BadTimestamp { .. })
    ));
    // wrong JSON types are parse errors with a position, not panics
    let wrong = with(fx::BEDROCK_CONVERSE_GLOBAL, |v| {
        v["input"]["inputTokenCount"] = "10".into()
    });
    let err = decode::parse_record(&wrong).unwrap_err();
    assert!(err.reason.contains("invalid type"), "{err}");
    assert!(err.column > 0);
}

#[test]
fn every_fixture_record_prices_without_error() {
    for (name, json) in fx::ALL
        .iter()
        .filter(|(n, _)| n.starts_with("example-bedrock"))
    {
        let rec = decode::parse_record(json).unwrap_or_else(|e| panic!("{name}: {e}"));
        let row = pricer()
            .price(rec, None)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!row.request_id.is_empty(), "{name}");
        assert_eq!(
            row.price_version,
            Catalogue::builtin().unwrap().version(),
            "{name}"
        );
    }
}

/// Issue 20 case 9: an event time before 2023 or more than a day ahead of the pricer's clock is
/// a typed error with its own reason, whether it comes from the record or the log event; the
/// bound follows the clock.
#[test]
fn event_times_outside_the_sane_range_are_refused_against_the_clock() {
    use spendguard_core::clock::FixedClock;
    use spendguard_core::pipeline::EventError;
    use spendguard_core::price::PriceError;
    use std::sync::Arc;
    // 2026-11-30T00:00:00Z
    let now = 1_795_996_800_000_i64;
    let p = pricer().with_clock(Arc::new(FixedClock(now)));
    let at = |ts: &str| {
        let json = with(fx::BEDROCK_CONVERSE_GLOBAL, |v| v["timestamp"] = ts.into());
        p.price(decode::parse_record(&json).unwrap(), None)
            .map(|r| r.event_time)
    };
    for ts in [
        "9999-12-31T00:00:00Z",
        "2022-12-31T23:59:59Z",
        "1970-01-01T00:00:00Z",
        "2026-12-01T00:00:00.001Z",
    ] {
        let e = at(ts).unwrap_err();
        assert!(
            matches!(e, PriceError::TimestampOutOfRange { .. }),
            "{ts}: {e}"
        );
        assert_eq!(
            EventError::Price(e.clone()).reason(),
            "timestamp_out_of_range"
        );
        assert!(e.to_string().contains("2023-01-01T00:00:00Z"), "{e}");
    }
    for ts in ["2023-01-01T00:00:00Z", "2026-12-01T00:00:00Z"] {
        assert!(at(ts).is_ok(), "{ts}");
    }
    // no timestamp in the record: the log event's time is checked the same way
    let json = with(fx::BEDROCK_CONVERSE_GLOBAL, |v| {
        v.as_object_mut().unwrap().remove("timestamp");
    });
    let rec = || decode::parse_record(&json).unwrap();
    assert!(p.price(rec(), Some(now)).is_ok());
    assert!(p.price(rec(), Some(now + 2 * 86_400_000)).is_err());
    // a later clock moves the bound: what was ahead is now accepted
    let later = pricer().with_clock(Arc::new(FixedClock(now + 86_400_000)));
    let json = with(fx::BEDROCK_CONVERSE_GLOBAL, |v| {
        v["timestamp"] = "2026-12-01T00:00:00.001Z".into()
    });
    assert!(later
        .price(decode::parse_record(&json).unwrap(), None)
        .is_ok());
}
