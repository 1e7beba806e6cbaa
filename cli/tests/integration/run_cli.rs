//! `spendguard gen`, `run` and `report` end to end through the built binary: the three input
//! layouts agree, re-runs and duplicated inputs are idempotent, events land in the partition of
//! their own timestamp (also across midnight), and bad input is counted, not fatal.
use flate2::{write::GzEncoder, Compression};
use serde_json::Value;
use std::io::Write;
use std::path::Path;

use crate::util::{bin, ok, Tmp};

fn gen(dir: &Path, format: &str, n: usize, days: u32) {
    ok(bin().args(["gen", "--out"]).arg(dir).args([
        "--invocations",
        &n.to_string(),
        "--days",
        &days.to_string(),
        "--format",
        format,
        "--seed",
        "9",
    ]));
}

fn run(inputs: &[&Path], lake: &Path) -> Value {
    let (code, s) = run_status(inputs, lake);
    assert_eq!(code, 0, "{s}");
    s
}

/// `run --json`: the exit status and the summary.
fn run_status(inputs: &[&Path], lake: &Path) -> (i32, Value) {
    let mut c = bin();
    c.arg("run");
    for i in inputs {
        c.arg("--input").arg(i);
    }
    c.arg("--lake").arg(lake).arg("--json");
    let out = c.output().unwrap();
    let s = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), s)
}

fn report(lake: &Path, by: &str) -> Value {
    serde_json::from_str(&ok(bin()
        .args(["report", "--lake"])
        .arg(lake)
        .args(["--by", by, "--format", "json"])))
    .unwrap()
}

#[test]
fn three_layouts_price_the_same_invocations_and_the_lake_reads_back() {
    let t = Tmp::new("layouts");
    let mut summaries = Vec::new();
    for f in ["cwl", "s3", "ndjson"] {
        let logs = t.0.join(f);
        gen(&logs, f, 1_500, 2);
        let s = run(&[&logs], &t.0.join(format!("lake-{f}")));
        summaries.push(s);
    }
    for s in &summaries {
        assert_eq!(s["invocations"], 1_500, "{s}");
        assert_eq!(s["rows_written"], 1_500);
        assert_eq!(s["unreadable"], 0);
        assert_eq!(s["cost_usd"], summaries[0]["cost_usd"]);
        assert_eq!(
            s["partitions"],
            serde_json::json!(["2026-11-20", "2026-11-21"])
        );
        assert!(s["fallback_priced"].as_u64().unwrap() > 0);
    }
    assert_eq!(summaries[0]["control_messages"], 1);
    // S3 layout: permission-check markers are skipped, not unreadable
    assert!(summaries[1]["skipped_files"].as_u64().unwrap() >= 1);
    // the lake reads back to the same totals, per principal too
    let r = report(&t.0.join("lake-cwl"), "principal");
    assert_eq!(r["invocations"], 1_500);
    assert_eq!(r["cost_usd"], summaries[0]["cost_usd"]);
    let by_principal = summaries[0]["by_principal"].as_object().unwrap();
    for g in r["groups"].as_array().unwrap() {
        assert_eq!(&by_principal[g["key"].as_str().unwrap()], &g["cost_usd"]);
    }
    let days = report(&t.0.join("lake-s3"), "day");
    assert_eq!(days["days"], 2);
    assert_eq!(days["groups"].as_array().unwrap().len(), 2);
}

#[test]
fn rerun_and_duplicated_inputs_are_idempotent() {
    let t = Tmp::new("idem");
    let logs = t.0.join("logs");
    gen(&logs, "cwl", 800, 1);
    let lake = t.0.join("lake");
    let first = run(&[&logs], &lake);
    let second = run(&[&logs], &lake);
    assert_eq!(second["rows_written"], 0);
    assert_eq!(second["already_in_lake"], 800);
    assert_eq!(second["cost_usd"], first["cost_usd"]);
    // the same files twice under another name, in the same run
    let copy = t.0.join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    for e in std::fs::read_dir(&logs).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, copy.join(p.file_name().unwrap())).unwrap();
    }
    let third = run(&[&logs, &copy], &t.0.join("lake2"));
    assert_eq!(third["invocations"], 800);
    assert_eq!(third["duplicates_in_input"], 800);
    assert_eq!(third["rows_written"], 800);
    assert_eq!(third["cost_usd"], first["cost_usd"]);
    let r = report(&lake, "model");
    assert_eq!(r["invocations"], 800);
    assert_eq!(r["cost_usd"], first["cost_usd"]);
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::new(6));
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn record(id: &str, ts: &str) -> String {
    serde_json::json!({"schemaType":"ModelInvocationLog","schemaVersion":"1.0","timestamp":ts,
        "accountId":"111122223333","identity":{"arn":"arn:aws:iam::111122223333:user/night-owl"},
        "region":"us-east-1","requestId":id,"operation":"Converse","modelId":"amazon.nova-micro-v1:0",
        "input":{"inputTokenCount":1_000_000},"output":{"outputTokenCount":0}})
    .to_string()
}

#[test]
fn a_midnight_straddling_envelope_splits_by_each_events_own_timestamp() {
    let t = Tmp::new("midnight");
    let env = serde_json::json!({"messageType":"DATA_MESSAGE","owner":"111122223333",
    "logGroup":"/aws/bedrock/modelinvocations","logStream":"aws/bedrock/modelinvocations",
    "subscriptionFilters":["s"],"logEvents":[
        // the log-event timestamps are both after midnight: the record's own time decides
        {"id":"1","timestamp":1_795_219_200_500_i64,"message":record("before","2026-11-20T23:59:59Z")},
        {"id":"2","timestamp":1_795_219_201_000_i64,"message":record("after","2026-11-21T00:00:00Z")},
    ]});
    let logs = t.0.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("straddle.gz"), gz(env.to_string().as_bytes())).unwrap();
    let lake = t.0.join("lake");
    let s = run(&[&logs], &lake);
    assert_eq!(
        s["partitions"],
        serde_json::json!(["2026-11-20", "2026-11-21"])
    );
    let days = report(&lake, "day");
    let g = days["groups"].as_array().unwrap();
    assert_eq!(g.len(), 2);
    // 1M Nova Micro input tokens each: $0.035 per partition
    for (i, d) in ["2026-11-20", "2026-11-21"].iter().enumerate() {
        assert_eq!(g[i]["key"], *d);
        assert_eq!(g[i]["invocations"], 1);
        assert_eq!(g[i]["cost_usd"], "0.035");
    }
    assert!(lake.join("dt=2026-11-20").is_dir() && lake.join("dt=2026-11-21").is_dir());
}

#[test]
fn bad_input_is_counted_by_reason_and_the_rest_is_processed() {
    let t = Tmp::new("bad");
    let logs = t.0.join("logs");
    gen(&logs, "cwl", 300, 1);
    let good = std::fs::read(logs.join("envelope-000001.gz")).unwrap();
    std::fs::write(logs.join("truncated.gz"), &good[..good.len() / 2]).unwrap();
    std::fs::write(
        logs.join("mixed.ndjson"),
        format!(
            "{}\n{{not json\n{}\n",
            record("ok-1", "2026-11-20T10:00:00Z"),
            record("ok-2", "bad-time")
        ),
    )
    .unwrap();
    let (code, s) = run_status(&[&logs], &t.0.join("lake"));
    assert_eq!(code, 1, "some input unreadable, the rest processed");
    assert_eq!(s["invocations"], 301);
    assert_eq!(s["unreadable"], 3, "{s}");
    assert_eq!(
        s["unreadable_files"][0]
            .as_str()
            .map(|f| f.ends_with("truncated.gz")),
        Some(true)
    );
    let reasons = s["unreadable_by_reason"].as_object().unwrap();
    assert_eq!(reasons["unreadable_file"], 1, "{s}");
    assert_eq!(reasons["malformed_json"], 1, "{s}");
    assert_eq!(reasons["bad_timestamp"], 1, "{s}");
    // no temp files left in the lake
    for e in std::fs::read_dir(t.0.join("lake/dt=2026-11-20")).unwrap() {
        let n = e.unwrap().file_name().into_string().unwrap();
        assert!(n.starts_with("part-") && n.ends_with(".parquet"), "{n}");
    }
}

#[test]
fn report_projects_month_end_and_filters_by_period() {
    let t = Tmp::new("report");
    let logs = t.0.join("logs");
    gen(&logs, "ndjson", 600, 3);
    let lake = t.0.join("lake");
    let s = run(&[&logs], &lake);
    let all = report(&lake, "day");
    assert_eq!(all["from"], "2026-11-20");
    assert_eq!(all["to"], "2026-11-22");
    assert_eq!(all["cost_usd"], s["cost_usd"]);
    let one: Value = serde_json::from_str(&ok(bin().args(["report", "--lake"]).arg(&lake).args([
        "--from",
        "2026-11-21",
        "--to",
        "2026-11-21",
        "--by",
        "day",
        "--format",
        "json",
    ])))
    .unwrap();
    assert_eq!(one["days"], 1);
    assert_eq!(one["groups"].as_array().unwrap().len(), 1);
    let day_cost: rust_decimal::Decimal = one["cost_usd"].as_str().unwrap().parse().unwrap();
    // November has 30 days: month-to-date (20..21 Nov) + the 21st's rate for the 9 days left
    let mtd: rust_decimal::Decimal = all["groups"].as_array().unwrap()[..2]
        .iter()
        .map(|g| {
            g["cost_usd"]
                .as_str()
                .unwrap()
                .parse::<rust_decimal::Decimal>()
                .unwrap()
        })
        .sum();
    let want = (mtd + day_cost * rust_decimal::Decimal::from(9))
        .round_dp(6)
        .normalize();
    assert_eq!(one["projected_month_end_usd"], want.to_string());
    let csv = ok(bin()
        .args(["report", "--lake"])
        .arg(&lake)
        .args(["--by", "model", "--format", "csv"]));
    assert!(csv.starts_with("key,invocations,cost_usd,"));
    assert!(csv.lines().count() > 5);
}

/// Issue 17: one input path. `price`, `run` and `redrive` take the same inputs (files,
/// directories, several paths, `-` for stdin; as arguments or with `--input`) through one
/// discovery function, and agree on what they read.
#[test]
fn every_command_takes_files_directories_several_paths_and_stdin() {
    use std::io::Write;
    use std::process::Stdio;
    let t = Tmp::new("inputs");
    let (a, b) = (t.0.join("a"), t.0.join("b"));
    gen(&a, "cwl", 300, 1);
    // another seed: other request ids
    ok(bin().args(["gen", "--out"]).arg(&b).args([
        "--invocations",
        "200",
        "--format",
        "ndjson",
        "--seed",
        "10",
    ]));
    // price: a directory, then two paths (a directory and a file)
    let rows = |out: &str| out.lines().filter(|l| l.starts_with('{')).count();
    assert_eq!(rows(&ok(bin().arg("price").arg(&a))), 300);
    let one_file = std::fs::read_dir(&b)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let n_file = rows(&ok(bin().arg("price").arg(&one_file)));
    assert_eq!(
        rows(&ok(bin().arg("price").arg(&a).arg(&one_file))),
        300 + n_file
    );
    // run: positional and --input together, and `-` (stdin) beside a directory
    let s: Value = serde_json::from_str(&ok(bin()
        .args(["run", "--json", "--lake"])
        .arg(t.0.join("lake1"))
        .arg(&a)
        .arg("--input")
        .arg(&b)))
    .unwrap();
    assert_eq!(s["invocations"], 500);
    let mut child = bin()
        .args(["run", "--json", "--lake"])
        .arg(t.0.join("lake2"))
        .arg("-")
        .arg(&a)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(&one_file).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["invocations"].as_u64(), Some(300 + n_file as u64));
    // no input at all is a usage error
    let out = bin()
        .args(["run", "--lake"])
        .arg(t.0.join("lake3"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no input given"));
}
