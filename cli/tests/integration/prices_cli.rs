//! `spendguard prices` through the built binary: `explain`, `sync` from saved files and from
//! offer files served over HTTP (a local server standing in for pricing.us-east-1.amazonaws.com),
//! and the refresh rules that hold a sync for an operator (a model disappears, a price moves too
//! far) with nothing written.
use crate::util::{bin, ok, Tmp};
use spendguard_aws::testkit::{region_index, serve};
use std::collections::HashMap;
use std::path::PathBuf;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures")).join(rel)
}
const OFFER: &str = "aws-price-list-offer/AmazonBedrockFoundationModels-us-east-1-index.json";
const INDEX: &str = "/offers/v1.0/aws/AmazonBedrockFoundationModels/current/region_index.json";
const USE1: &str =
    "/offers/v1.0/aws/AmazonBedrockFoundationModels/20260501202025/us-east-1/index.json";

#[test]
fn sync_over_http_equals_sync_from_the_saved_file() {
    let offer = std::fs::read_to_string(fixture(OFFER)).unwrap();
    let base = serve(HashMap::from([
        (
            INDEX.to_string(),
            region_index(&[
                ("us-east-1", USE1),
                ("eu-west-1", "/missing/eu-west-1/index.json"),
            ]),
        ),
        (USE1.to_string(), offer),
    ]));
    let from_file = ok(bin().args(["prices", "sync", "--from"]).arg(fixture(OFFER)));
    let over_http = ok(bin().args([
        "prices",
        "sync",
        "--url",
        &base,
        "--service",
        "AmazonBedrockFoundationModels",
        "--region",
        "us-east-1",
    ]));
    assert_eq!(from_file, over_http);
    assert!(over_http.contains("model = \"anthropic.claude-opus-4-7\""));
    // every Region in the index: the eu-west-1 file is missing, so nothing is written
    let t = Tmp::new("sync-404");
    let out = t.0.join("o.toml");
    let r = bin()
        .args([
            "prices",
            "sync",
            "--url",
            &base,
            "--service",
            "AmazonBedrockFoundationModels",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("404") && err.contains("eu-west-1"), "{err}");
    assert!(!out.exists());
}

#[test]
fn a_disappearing_model_or_a_big_move_is_held_with_nothing_written() {
    let t = Tmp::new("sync-held");
    let out = t.0.join("overlay.toml");
    // A previous overlay that priced a model the Price List no longer lists.
    let prev = t.0.join("previous.toml");
    std::fs::write(
        &prev,
        "version = \"pricelist-1\"\n[[price]]\nmodel = \"anthropic.claude-3-haiku-20240307-v1:0\"\ntier = \"regional\"\nregions = [\"us-east-1\"]\neffective_from = \"2026-01-01\"\ninput = \"0.25\"\noutput = \"1.25\"\n",
    )
    .unwrap();
    let r = bin()
        .args(["prices", "sync", "--from"])
        .arg(fixture("aws-price-list"))
        .arg("--previous")
        .arg(&prev)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("HELD: anthropic.claude-3-haiku-20240307-v1:0"),
        "{err}"
    );
    assert!(!out.exists());
    // Opus 4.7 global input tripled on the Price List: held at the default factor 2...
    let tripled = std::fs::read_to_string(fixture("aws-price-list/fm-opus-4-7-use1.json"))
        .unwrap()
        .replace(
            "\\\"USD\\\":\\\"5.0000000000\\\"",
            "\\\"USD\\\":\\\"15.0000000000\\\"",
        );
    let f = t.0.join("opus.json");
    std::fs::write(&f, tripled).unwrap();
    let r = bin()
        .args(["prices", "sync", "--from"])
        .arg(&f)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("HELD") && err.contains("input 5 -> 15"),
        "{err}"
    );
    assert!(!out.exists());
    // ...taken with --accept-moves (or a larger factor), and the overlay then prices it.
    ok(bin()
        .args(["prices", "sync", "--accept-moves", "--from"])
        .arg(&f)
        .arg("--out")
        .arg(&out));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("input = \"15\""), "{text}");
    let e = ok(bin()
        .args([
            "prices",
            "explain",
            "global.anthropic.claude-opus-4-7",
            "--at",
            "2026-06-01",
            "--json",
            "--prices",
        ])
        .arg(&out));
    let v: serde_json::Value = serde_json::from_str(e.trim()).unwrap();
    assert_eq!(v["rates"]["input"], "15");
    assert!(v["entry"]["version"]
        .as_str()
        .unwrap()
        .starts_with("pricelist-"));
    let d = ok(bin().args(["prices", "diff"]).arg(&out));
    assert!(d.contains("input 5 -> 15"), "{d}");
}

#[test]
fn explain_exits_1_on_a_fallback() {
    let r = bin()
        .args([
            "prices",
            "explain",
            "us.anthropic.claude-haiku-5-5",
            "--at",
            "2026-11-20",
        ])
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(0));
    let s = String::from_utf8_lossy(&r.stdout);
    assert!(
        s.contains("input 0.11") && s.contains("prompt over 100000"),
        "{s}"
    );
    let r = bin()
        .args(["prices", "explain", "us.acme.mystery-v1:0"])
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stdout).contains("FALLBACK"));
}

#[tokio::test]
async fn push_checks_then_stores_a_version_and_current_reads_it_back() {
    use spendguard_aws::testkit::{emulator, emulator_config, unique, versioned_bucket, MOTO_VAR};
    let Some(moto) = emulator(MOTO_VAR) else {
        return;
    };
    let conf = emulator_config(&moto).await;
    let bucket = unique("lake");
    versioned_bucket(&spendguard_aws::s3_client(&conf), &bucket).await;
    let aws = |args: &[&str]| {
        let mut c = bin();
        c.args(args)
            .args(["--bucket", &bucket, "--endpoint-url", &moto])
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1");
        c.output().unwrap()
    };
    let none = aws(&["prices", "current"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no overlay"));

    let t = Tmp::new("push");
    let entry = |model: &str, input: &str| {
        format!(
            "[[price]]\nmodel = \"{model}\"\ntier = \"regional\"\nregions = [\"us-east-1\"]\n\
             effective_from = \"2026-01-01\"\ninput = \"{input}\"\noutput = \"1.25\"\n"
        )
    };
    let first = format!(
        "version = \"hand-1\"\n{}{}",
        entry("anthropic.claude-3-haiku-20240307-v1:0", "0.25"),
        entry("acme.model-v1:0", "1")
    );
    std::fs::write(t.0.join("a.toml"), &first).unwrap();
    let p = aws(&["prices", "push", t.0.join("a.toml").to_str().unwrap()]);
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
    let pushed: serde_json::Value = serde_json::from_slice(&p.stdout).unwrap();
    assert!(pushed["versionId"].is_string(), "{pushed}");
    assert_eq!(pushed["entries"], 2);
    let cur = aws(&["prices", "current"]);
    assert!(cur.status.success());
    assert_eq!(String::from_utf8(cur.stdout).unwrap(), first);
    assert!(String::from_utf8_lossy(&cur.stderr).contains(pushed["versionId"].as_str().unwrap()));

    // a push that drops a model in force, or moves a price 4x, is held: nothing stored
    let second = format!(
        "version = \"hand-2\"\n{}",
        entry("anthropic.claude-3-haiku-20240307-v1:0", "1")
    );
    std::fs::write(t.0.join("b.toml"), &second).unwrap();
    let held = aws(&["prices", "push", t.0.join("b.toml").to_str().unwrap()]);
    assert_eq!(held.status.code(), Some(1));
    let err = String::from_utf8_lossy(&held.stderr);
    assert!(
        err.contains("HELD: acme.model-v1:0") && err.contains("0.25 -> 1"),
        "{err}"
    );
    assert_eq!(
        String::from_utf8(aws(&["prices", "current"]).stdout).unwrap(),
        first
    );
    // a file that does not load is refused before anything is read or written
    std::fs::write(t.0.join("c.toml"), "[[price]]\nmodel = 3\n").unwrap();
    let bad = aws(&["prices", "push", t.0.join("c.toml").to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
}
