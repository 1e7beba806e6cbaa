//! Careless input through the built binary (issue 20): a reader that closes the pipe early ends
//! every command quietly with exit 0 (cases 4), and a command that only reads a ledger refuses a
//! path that is not one instead of creating an empty ledger that answers "ok" (case 5).
use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::{bin, ok, Tmp};

/// Runs the command with its stdout a pipe whose read end is already closed: the first write
/// fails with EPIPE, every time.
fn closed_pipe(mut c: Command) -> std::process::Output {
    let (r, w) = std::io::pipe().unwrap();
    drop(r);
    c.stdout(Stdio::from(w)).stderr(Stdio::piped());
    c.spawn().unwrap().wait_with_output().unwrap()
}

fn args(a: &[&str], paths: &[&Path]) -> Command {
    let mut c = bin();
    c.args(a);
    for p in paths {
        c.arg(p);
    }
    c
}

#[test]
fn a_closed_pipe_ends_every_command_quietly_with_0() {
    let t = Tmp::new("pipe");
    let logs = t.0.join("logs");
    ok(bin()
        .args([
            "gen",
            "--invocations",
            "3000",
            "--days",
            "2",
            "--format",
            "ndjson",
            "--out",
        ])
        .arg(&logs));
    let lake = t.0.join("lake");
    let ledger = t.0.join("spend.db");
    ok(bin()
        .args(["run", "--input"])
        .arg(&logs)
        .arg("--lake")
        .arg(&lake)
        .arg("--ledger")
        .arg(&ledger));
    let file = logs.join("bedrock-invocations.ndjson");
    let cases: Vec<(&str, Command)> = vec![
        ("columns", args(&["columns"], &[])),
        (
            "deny-policy",
            args(
                &["deny-policy", "--policy-arn", "arn:aws:iam::1:policy/p"],
                &[],
            ),
        ),
        ("price", args(&["price"], &[&file])),
        (
            "prices explain",
            args(&["prices", "explain", "anthropic.claude-opus-4-7"], &[]),
        ),
        ("report", args(&["report", "--lake"], &[&lake])),
        (
            "report csv",
            args(&["report", "--format", "csv", "--lake"], &[&lake]),
        ),
        (
            "report json",
            args(&["report", "--format", "json", "--lake"], &[&lake]),
        ),
        ("ledger", args(&["ledger", "--ledger"], &[&ledger])),
        (
            "ledger json",
            args(&["ledger", "--json", "--ledger"], &[&ledger]),
        ),
        ("run", {
            let mut c = args(&["run", "--input"], &[&logs]);
            c.arg("--lake").arg(&lake);
            c
        }),
        ("run json", {
            let mut c = args(&["run", "--json", "--input"], &[&logs]);
            c.arg("--lake").arg(&lake);
            c
        }),
    ];
    for (name, c) in cases {
        let out = closed_pipe(c);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

#[test]
fn reading_commands_refuse_a_path_that_is_not_a_ledger_and_create_nothing() {
    let t = Tmp::new("typo");
    let budgets = t.0.join("b.toml");
    std::fs::write(&budgets, "[defaults]\ndaily_usd = \"10\"\n").unwrap();
    let typo = t.0.join("typo.db");
    for mut c in [args(&["ledger", "--ledger"], &[&typo]), {
        let mut c = args(
            &[
                "status",
                "--principal",
                "arn:aws:iam::1:user/alice",
                "--ledger",
            ],
            &[&typo],
        );
        c.arg("--budgets").arg(&budgets);
        c
    }] {
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("no ledger here"),
            "{out:?}"
        );
        assert!(!typo.exists(), "nothing is created");
    }
    // a file that is not a ledger (here: the budgets file) is refused, and left as it was
    let out = args(&["ledger", "--ledger"], &[&budgets]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a spendguard ledger"),
        "{out:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&budgets).unwrap(),
        "[defaults]\ndaily_usd = \"10\"\n"
    );
}

/// Rows in the lake's part files (not de-duplicated: what Athena or DuckDB would count).
fn lake_rows(lake: &Path) -> usize {
    let mut n = 0;
    for d in std::fs::read_dir(lake).unwrap() {
        let d = d.unwrap().path();
        if !d.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&d).unwrap() {
            let f = f.unwrap().path();
            if f.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("part-")
            {
                let r = parquet::file::reader::SerializedFileReader::new(
                    std::fs::File::open(&f).unwrap(),
                )
                .unwrap();
                use parquet::file::reader::FileReader;
                n += r.metadata().file_metadata().num_rows() as usize;
            }
        }
    }
    n
}

#[test]
fn concurrent_runs_on_one_lake_never_write_a_row_twice() {
    let t = Tmp::new("concurrent");
    let (a, b) = (t.0.join("a"), t.0.join("b"));
    for (dir, seed) in [(&a, "1"), (&b, "2")] {
        ok(bin()
            .args([
                "gen",
                "--invocations",
                "1500",
                "--days",
                "2",
                "--seed",
                seed,
            ])
            .args(["--format", "ndjson", "--out"])
            .arg(dir));
    }
    // the distinct invocations of a and b together, from a run alone
    let alone = t.0.join("alone");
    let s: serde_json::Value = serde_json::from_str(&ok(bin()
        .args(["run", "--json", "--input"])
        .arg(&a)
        .arg(&b)
        .arg("--lake")
        .arg(&alone)))
    .unwrap();
    let distinct = s["rows_written"].as_u64().unwrap() as usize;
    assert_eq!(lake_rows(&alone), distinct);
    for i in 0..20 {
        let lake = t.0.join(format!("lake-{i}"));
        // overlapping inputs: both runs carry b
        let spawn = |inputs: &[&Path]| {
            let mut c = bin();
            c.args(["run", "--json", "--input"]);
            for p in inputs {
                c.arg(p);
            }
            c.arg("--lake")
                .arg(&lake)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            c.spawn().unwrap()
        };
        let (p1, p2) = (spawn(&[&a, &b]), spawn(&[&b]));
        let (o1, o2) = (
            p1.wait_with_output().unwrap(),
            p2.wait_with_output().unwrap(),
        );
        assert!(o1.status.success() && o2.status.success(), "{o1:?} {o2:?}");
        let written: u64 = [o1, o2]
            .iter()
            .map(|o| {
                serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["rows_written"]
                    .as_u64()
                    .unwrap()
            })
            .sum();
        assert_eq!(written as usize, distinct, "try {i}");
        assert_eq!(lake_rows(&lake), distinct, "try {i}: rows in the lake");
    }
    // --no-wait: a second writer fails at once while the lock is held
    let lake = t.0.join("held");
    std::fs::create_dir_all(&lake).unwrap();
    let holder = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lake.join(".spendguard.lock"))
        .unwrap();
    holder.lock().unwrap();
    let out = bin()
        .args(["run", "--no-wait", "--input"])
        .arg(&b)
        .arg("--lake")
        .arg(&lake)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another run is writing this lake"));
    drop(holder);
    // a killed run's temporary file is removed by the next run
    let part = lake.join("dt=2026-11-20");
    std::fs::create_dir_all(&part).unwrap();
    std::fs::write(part.join(".tmp-part-1-2.parquet"), b"").unwrap();
    let s: serde_json::Value = serde_json::from_str(&ok(bin()
        .args(["run", "--json", "--input"])
        .arg(&b)
        .arg("--lake")
        .arg(&lake)))
    .unwrap();
    assert_eq!(s["stale_temp_files_removed"], 1);
    assert!(!part.join(".tmp-part-1-2.parquet").exists());
}

/// One Nova Micro invocation as a raw log line.
fn invocation(id: &str, input_tokens: u64) -> String {
    serde_json::json!({"schemaType":"ModelInvocationLog","schemaVersion":"1.0",
        "timestamp":"2026-11-20T10:00:00Z","accountId":"111122223333",
        "identity":{"arn":"arn:aws:iam::111122223333:user/alice"},"region":"us-east-1",
        "requestId":id,"operation":"Converse","modelId":"amazon.nova-micro-v1:0",
        "input":{"inputTokenCount":input_tokens},"output":{"outputTokenCount":0}})
    .to_string()
}

#[test]
fn a_request_id_with_other_contents_is_a_named_conflict_in_the_input_and_against_the_ledger() {
    let t = Tmp::new("conflict");
    let (lake, ledger) = (t.0.join("lake"), t.0.join("spend.db"));
    let run = |file: &Path| -> serde_json::Value {
        let mut c = args(&["run", "--json", "--lake"], &[&lake]);
        c.arg("--ledger").arg(&ledger).arg("--input").arg(file);
        serde_json::from_str(&ok(&mut c)).unwrap()
    };
    let lines = |name: &str, lines: &[String]| {
        let p = t.0.join(name);
        std::fs::write(&p, lines.join("\n")).unwrap();
        p
    };
    // a replay (identical) and a conflict ($0.035 against $1.75) under one id; the first is kept
    let first = lines(
        "first.ndjson",
        &[
            invocation("r-1", 1_000_000),
            invocation("r-1", 1_000_000),
            invocation("r-1", 50_000_000),
            invocation("r-2", 1_000_000),
        ],
    );
    let s = run(&first);
    assert_eq!(s["invocations"], 2);
    assert_eq!(s["cost_usd"], "0.07", "the first of r-1 is kept");
    assert_eq!(s["duplicates_in_input"], 2);
    assert_eq!(s["conflicting_duplicates"], 1);
    assert_eq!(s["conflicting_request_ids"], serde_json::json!(["r-1"]));
    // a later run: r-2 again as it was (a replay), r-1 with other contents (a conflict with the
    // marker's digest), r-3 new
    let second = lines(
        "second.ndjson",
        &[
            invocation("r-2", 1_000_000),
            invocation("r-1", 7),
            invocation("r-3", 1_000_000),
        ],
    );
    let s = run(&second);
    assert_eq!(s["ledger"]["applied"], 1);
    assert_eq!(s["ledger"]["already_counted"], 2);
    assert_eq!(s["ledger"]["conflicting_duplicates"], 1);
    assert_eq!(s["conflicting_request_ids"], serde_json::json!(["r-1"]));
    // the human summary names it too
    let mut c = args(&["run", "--ledger"], &[&ledger]);
    c.arg("--input").arg(&second);
    let text = ok(&mut c);
    assert!(
        text.contains("DIFFERENT contents") && text.contains("r-1"),
        "{text}"
    );
}

/// Issue 20 case 9: a record dated 9999 (or before 2023) is a typed, reported error: counted by
/// reason, named on stderr, and neither in the lake nor the ledger. `gen` refuses to write such
/// times.
#[test]
fn timestamps_outside_the_sane_range_are_reported_and_land_nowhere() {
    let t = Tmp::new("horizon9");
    let (lake, ledger) = (t.0.join("lake"), t.0.join("spend.db"));
    let dated = |id: &str, ts: &str| invocation(id, 1000).replace("2026-11-20T10:00:00Z", ts);
    let input = t.0.join("in.ndjson");
    std::fs::write(
        &input,
        [
            invocation("ok-1", 1000),
            dated("far-1", "9999-12-31T00:00:00Z"),
            dated("old-1", "2020-01-01T00:00:00Z"),
        ]
        .join("\n"),
    )
    .unwrap();
    let mut c = args(&["run", "--json", "--lake"], &[&lake]);
    c.arg("--ledger").arg(&ledger).arg("--input").arg(&input);
    let out = c.output().unwrap();
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(s["invocations"], 1);
    assert_eq!(
        s["unreadable_by_reason"]["timestamp_out_of_range"], 2,
        "{s}"
    );
    assert_eq!(s["partitions"], serde_json::json!(["2026-11-20"]));
    assert_eq!(s["ledger"]["applied"], 1);
    assert_eq!(s["ledger"]["unwindowed"], 0);
    assert!(
        err.contains("9999-12-31T00:00:00Z is outside 2023-01-01T00:00:00Z"),
        "{err}"
    );
    for start in ["9999-12-31", "2022-06-01"] {
        let out = args(
            &["gen", "--invocations", "5", "--start", start, "--out"],
            &[&t.0.join("g")],
        )
        .output()
        .unwrap();
        assert_eq!(out.status.code(), Some(2), "{start}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("is outside"));
        assert!(!t.0.join("g").exists(), "nothing written");
    }
}

fn gz(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Issue 20 case 10: one exit-status rule in every command that reads input (0 all read, 1 some
/// unreadable, 2 nothing processed), envelope errors that name the field, no silent 0 rows or 0
/// tokens, one message for a Parquet file, and no walk round a link loop.
#[test]
fn input_problems_are_named_once_and_exit_by_one_rule() {
    let t = Tmp::new("exit");
    let price = |name: &str, bytes: &[u8]| {
        let p = t.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        let out = args(&["price"], &[&p]).output().unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let env = |body: &str| {
        gz(format!(
            r#"{{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s","subscriptionFilters":[]{body}}}"#
        )
        .as_bytes())
    };
    // an envelope without logEvents is malformed, not 0 rows
    let (code, err) = price("nolog.gz", &env(""));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("missing field `logEvents`"), "{err}");
    // envelope errors name the field, in words
    let (code, err) = price(
        "ts.gz",
        &env(r#","logEvents":[{"id":"1","timestamp":"x","message":"{}"}]"#),
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("field logEvents[0].timestamp: expected an integer"),
        "{err}"
    );
    // a null token count is named, never priced as 0
    let null = invocation("n-1", 5).replace("\"inputTokenCount\":5", "\"inputTokenCount\":null");
    assert!(null.contains("null"));
    let (code, err) = price(
        "null.ndjson",
        format!("{}\n{null}\n", invocation("n-0", 5)).as_bytes(),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("inputTokenCount is null"), "{err}");
    assert_eq!(
        err.matches("line 1 column").count(),
        1,
        "position said once: {err}"
    );

    // run: a lake (Parquet and its lock) given as input beside logs, and a link to the parent
    let logs = t.0.join("logs");
    std::fs::create_dir_all(logs.join("sub")).unwrap();
    std::fs::write(logs.join("sub/a.ndjson"), invocation("l-1", 10)).unwrap();
    std::os::unix::fs::symlink("..", logs.join("sub/up")).unwrap();
    let lake = t.0.join("lake");
    let mut c = args(&["run", "--json", "--lake"], &[&lake]);
    c.arg("--input").arg(&logs);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a link to a directory, not followed"), "{err}");
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (s["invocations"].as_u64(), s["skipped_files"].as_u64()),
        (Some(1), Some(1))
    );
    let mut c = args(&["run", "--json", "--lake"], &[&t.0.join("lake2")]);
    c.arg("--input").arg(&logs).arg(&lake);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "some input unreadable: {out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.lines().count(),
        2,
        "one line per Parquet file, and the link: {err}"
    );
    assert!(err.contains("a Parquet file"), "{err}");
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        s["unreadable"], 1,
        "the lock file is hidden and skipped: {s}"
    );
    // nothing readable at all: 2
    let mut c = args(&["run", "--json", "--lake"], &[&t.0.join("lake3")]);
    c.arg("--input").arg(&lake);
    assert_eq!(c.output().unwrap().status.code(), Some(2));

    // transform: every record undecodable is 2
    let ev = t.0.join("event.json");
    std::fs::write(
        &ev,
        r#"{"invocationId":"i","deliveryStreamArn":"arn:aws:firehose:us-east-1:1:deliverystream/d","region":"us-east-1","records":[{"recordId":"1","approximateArrivalTimestamp":1,"data":"!!!"}]}"#,
    )
    .unwrap();
    let out = args(&["transform", "--event"], &[&ev]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("ProcessingFailed"));
}
