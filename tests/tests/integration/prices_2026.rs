//! The models a 2026-11 account calls, priced exactly through the whole record path: every
//! tier (global, geo incl. `in.`, in-Region), threshold tiers, dated price changes, older models
//! still in logs, and the fallback ladder. Expected costs are worked by hand from the prices
//! genai-prices 0.2.3 and AWS's pages state (USD per 1M tokens).

use rust_decimal::Decimal;
use spendguard_core::{decode, Catalogue, Pricer, PricerConfig};
use spendguard_schemas::fixtures as fx;
use spendguard_schemas::{EndpointTier, PriceStatus, PricedRow};
use std::str::FromStr;

fn usd(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// A Converse record of `model_id` at `ts` with these token counts (input, output, cache read,
/// cache write; cache writes default to the 5-minute TTL: the body is logged without a split).
fn call(model_id: &str, ts: &str, tokens: [i64; 4]) -> PricedRow<'static> {
    let mut v: serde_json::Value = serde_json::from_str(fx::BEDROCK_CONVERSE_GLOBAL).unwrap();
    v["modelId"] = model_id.into();
    v["timestamp"] = ts.into();
    v["input"]["inputTokenCount"] = tokens[0].into();
    v["output"]["outputTokenCount"] = tokens[1].into();
    v["input"]["cacheReadInputTokenCount"] = tokens[2].into();
    v["input"]["cacheWriteInputTokenCount"] = tokens[3].into();
    let json = v.to_string();
    let p = Pricer::new(Catalogue::builtin().unwrap(), PricerConfig::default());
    p.price(decode::parse_record(&json).unwrap(), None)
        .unwrap()
        .into_owned()
}

const NOV: &str = "2026-11-20T10:15:30Z";

#[track_caller]
fn exact(r: &PricedRow<'_>, model: &str, tier: EndpointTier, total: &str) {
    assert_eq!(r.price_status, PriceStatus::Exact, "{}", r.model_id);
    assert_eq!(r.model, model);
    assert_eq!(r.endpoint_tier, tier);
    assert_eq!(r.cost_usd, usd(total), "{}", r.model_id);
}

#[test]
fn claude_5x_every_tier() {
    use EndpointTier::*;
    // Haiku 5.5 global 0.1 / 0.5: once 150x too dear at the Opus 4.1 fallback (15 / 75).
    let h = call("global.anthropic.claude-haiku-5-5", NOV, [1000, 1000, 0, 0]);
    exact(&h, "anthropic.claude-haiku-5-5", Global, "0.0006");
    // Opus 5.5 through `eu.`: regional 4.4 / 22
    let o = call("eu.anthropic.claude-opus-5-5", NOV, [1000, 1000, 0, 0]);
    exact(&o, "anthropic.claude-opus-5-5", Geo, "0.0264");
    // Sonnet 5.5 global 2 / 10, cache read 0.1 (0.05x), cache write 2.5
    let s = call(
        "global.anthropic.claude-sonnet-5-5",
        NOV,
        [1000, 1000, 10_000, 2000],
    );
    // 0.002 + 0.01 + 0.001 + 0.005
    exact(&s, "anthropic.claude-sonnet-5-5", Global, "0.018");
    // Sonnet 5 through the India profile: regional 2.2 / 11
    let i = call("in.anthropic.claude-sonnet-5", NOV, [1000, 1000, 0, 0]);
    exact(&i, "anthropic.claude-sonnet-5-v1:0", Geo, "0.0132");
    // Opus 4.8 in-Region by a foundation-model ARN: 5.5 / 27.5
    let a = call(
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-opus-4-8-v1:0",
        NOV,
        [1000, 1000, 0, 0],
    );
    exact(&a, "anthropic.claude-opus-4-8-v1:0", InRegion, "0.033");
    // Fable 5.2 global 8 / 40, cache read 0.2 (0.025x)
    let f = call(
        "global.anthropic.claude-fable-5-2",
        NOV,
        [1000, 1000, 1000, 0],
    );
    exact(&f, "anthropic.claude-fable-5-2", Global, "0.0482");
    // Mythos 5.2 `us.`: 8.8 / 44
    let m = call("us.anthropic.claude-mythos-5-2", NOV, [1000, 1000, 0, 0]);
    exact(&m, "anthropic.claude-mythos-5-2", Geo, "0.0528");
}

#[test]
fn haiku_55_threshold_moves_every_class_above_100k() {
    let g = "global.anthropic.claude-haiku-5-5";
    // 90,000 + 10,000 cache read = 100,000: not over; 0.1 / 0.5 / 0.01
    let at = call(g, NOV, [90_000, 1000, 10_000, 0]);
    assert_eq!(at.cost_usd, usd("0.0096"));
    // 100,001: every class at 0.5 / 2.5 / 0.05
    let over = call(g, NOV, [90_000, 1000, 10_001, 0]);
    assert_eq!(over.input_cost_usd, usd("0.045"));
    assert_eq!(over.output_cost_usd, usd("0.0025"));
    assert_eq!(over.cache_read_cost_usd, usd("0.00050005"));
    assert_eq!(over.cost_usd, usd("0.04800005"));
    // a cache write counts toward the prompt too (and is billed 0.625 above the threshold)
    let w = call(g, NOV, [90_000, 0, 10_000, 1]);
    assert_eq!(w.input_cost_usd, usd("0.045"));
    assert_eq!(w.cache_write_cost_usd, usd("0.000000625"));
}

#[test]
fn gpt_56_sol_price_cut_applies_from_the_records_own_time() {
    use EndpointTier::*;
    let g = "global.openai.gpt-5.6-sol";
    // before 2026-08-21 (UTC): 5 / 30
    let before = call(g, "2026-08-20T23:59:59Z", [100_000, 10_000, 0, 0]);
    exact(&before, "openai.gpt-5.6-sol", Global, "0.8");
    // from 2026-08-21: 4 / 20
    let after = call(g, "2026-08-21T00:00:00Z", [100_000, 10_000, 0, 0]);
    exact(&after, "openai.gpt-5.6-sol", Global, "0.6");
    // above 272K input tokens: input 8, output 30
    let long = call(g, NOV, [272_001, 10_000, 0, 0]);
    exact(&long, "openai.gpt-5.6-sol", Global, "2.476008");
    // regional after the cut: 4.4 / 22, 30-minute cache write 5.5
    let us = call("us.openai.gpt-5.6-sol", NOV, [1000, 1000, 0, 2000]);
    exact(&us, "openai.gpt-5.6-sol", Geo, "0.0374");
}

#[test]
fn gpt_6_kimi_glm_and_nova() {
    use EndpointTier::*;
    // GPT-6 Luna via the India profile: 0.11 / 0.55
    let l = call("in.openai.gpt-6-luna", NOV, [10_000, 10_000, 0, 0]);
    exact(&l, "openai.gpt-6-luna", Geo, "0.0066");
    // GPT-6 Astra global above 272K: 20 / 75
    let a = call("global.openai.gpt-6-astra", NOV, [300_000, 1000, 0, 0]);
    exact(&a, "openai.gpt-6-astra", Global, "6.075");
    // Kimi K3 global 3 / 15; GLM 5.3 `us.` 1.848 / 5.808
    let k = call("global.moonshotai.kimi-k3", NOV, [1000, 1000, 0, 0]);
    exact(&k, "moonshotai.kimi-k3", Global, "0.018");
    let z = call("us.zai.glm-5.3", NOV, [1000, 1000, 0, 0]);
    exact(&z, "zai.glm-5.3", Geo, "0.007656");
    // Nova cache writes are $0 on AWS's Price List (a stated 0 is exact, not estimated)
    let n = call("amazon.nova-micro-v1:0", NOV, [1000, 1000, 0, 5000]);
    exact(&n, "amazon.nova-micro-v1:0", InRegion, "0.000175");
    assert_eq!(n.cache_write_cost_usd, Decimal::ZERO);
}

#[test]
fn older_models_still_in_logs() {
    use EndpointTier::*;
    exact(
        &call("anthropic.claude-v2:1", NOV, [1000, 1000, 0, 0]),
        "anthropic.claude-v2:1",
        InRegion,
        "0.032",
    );
    exact(
        &call("anthropic.claude-instant-v1", NOV, [1000, 1000, 0, 0]),
        "anthropic.claude-instant-v1",
        InRegion,
        "0.0032",
    );
    exact(
        &call(
            "us.anthropic.claude-3-sonnet-20240229-v1:0",
            NOV,
            [1000, 1000, 0, 0],
        ),
        "anthropic.claude-3-sonnet-20240229-v1:0",
        Geo,
        "0.018",
    );
    exact(
        &call("ai21.jamba-1-5-large-v1:0", NOV, [1000, 1000, 0, 0]),
        "ai21.jamba-1-5-large-v1:0",
        InRegion,
        "0.01",
    );
    exact(
        &call("cohere.command-r-plus-v1:0", NOV, [1000, 1000, 0, 0]),
        "cohere.command-r-plus-v1:0",
        InRegion,
        "0.018",
    );
}

#[test]
fn the_fallback_fits_the_model() {
    // An unknown Haiku: the dearest known Haiku for the key (Haiku 4.5 regional 1.1 / 5.5),
    // not the dearest model overall; marked fallback, model id kept as logged.
    let h = call("us.anthropic.claude-haiku-6", NOV, [1000, 1000, 0, 0]);
    assert_eq!(h.price_status, PriceStatus::Fallback);
    assert_eq!(h.model, "anthropic.claude-haiku-6");
    assert_eq!(h.cost_usd, usd("0.0066"));
    // A known model on a tier it is not sold on: its own dearest entry (Opus 4.1 15 / 75)
    let o = call(
        "global.anthropic.claude-opus-4-1-20250805-v1:0",
        NOV,
        [1000, 1000, 0, 0],
    );
    assert_eq!(o.price_status, PriceStatus::Fallback);
    assert_eq!(o.cost_usd, usd("0.09"));
    // An unknown provider: the global fallback, the dearest base price listed (18.8 / 75)
    let u = call("us.newvendor.frontier-x-v2:0", NOV, [1000, 1000, 0, 0]);
    assert_eq!(u.price_status, PriceStatus::Fallback);
    assert_eq!(u.cost_usd, usd("0.0938"));
}

#[test]
fn explain_says_what_priced_it() {
    let p = Pricer::new(Catalogue::builtin().unwrap(), PricerConfig::default());
    let at = spendguard_schemas::time::parse_rfc3339_ms("2026-08-21T00:00:00Z").unwrap();
    let e = p.explain("global.openai.gpt-5.6-sol", "us-east-1", at);
    assert_eq!(e.outcome, "priced");
    assert_eq!(e.base, "openai.gpt-5.6-sol");
    let entry = e.entry.as_ref().unwrap();
    assert_eq!(entry.tier, "global");
    assert!(entry.effective_from.starts_with("2026-08-21"));
    assert!(entry.source.as_deref().unwrap().contains("genai-prices"));
    assert_eq!(e.rates.as_ref().unwrap().input, usd("4"));
    assert_eq!(e.long_context.len(), 1);
    assert_eq!(e.long_context[0].threshold_tokens, 272_000);
    let f = p.explain("anthropic.claude-haiku-6", "us-east-1", at);
    assert_eq!(f.outcome, "fallback_family");
    assert_eq!(f.family.as_deref(), Some("anthropic.claude-haiku"));
    let n = p.explain(
        "arn:aws:bedrock:us-east-1:111122223333:provisioned-model/abc",
        "us-east-1",
        at,
    );
    assert_eq!(n.outcome, "not_token_priced");
    assert!(n.rates.is_none());
}
