//! `spendguard price` end to end through the built binary: every input format, bad lines
//! reported with line numbers, rows on stdout, and the exit status.
use flate2::{write::GzEncoder, Compression};
use spendguard_schemas::fixtures as fx;
use std::io::Write;
use std::process::{Command, Stdio};

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::new(6));
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn compact(json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json)
        .unwrap()
        .to_string()
}

/// (status code, stdout rows, stderr)
fn price(input: &[u8], args: &[&str]) -> (i32, Vec<serde_json::Value>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_spendguard"))
        .arg("price")
        .args(args)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    let rows = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (
        out.status.code().unwrap(),
        rows,
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn ndjson_rows_have_exact_money_strings_and_bad_lines_are_reported() {
    let input = format!(
        "{}\n{{\"requestId\": broken\n\n{}\n",
        compact(fx::BEDROCK_CONVERSE_STREAM_1H),
        compact(fx::BEDROCK_EMBEDDINGS)
    );
    let (code, rows, err) = price(input.as_bytes(), &[]);
    assert_eq!(
        code, 1,
        "a bad line: some input unreadable, the rest processed: {err}"
    );
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["cost_usd"], "0.0087285");
    assert_eq!(rows[0]["cache_write_1h_tokens"], 1000);
    assert_eq!(rows[0]["dt"], "2026-11-20");
    assert_eq!(rows[1]["cost_usd"], "0.001");
    assert!(err.contains("line 2: malformed_json: at column"), "{err}");
    // every row has exactly the column names
    let mut keys: Vec<_> = rows[0].as_object().unwrap().keys().cloned().collect();
    keys.sort();
    let mut cols: Vec<_> = spendguard_schemas::COLUMNS
        .iter()
        .map(|c| c.name.to_string())
        .collect();
    cols.sort();
    assert_eq!(keys, cols);
}

#[test]
fn gzip_cloudwatch_envelopes_including_concatenated_members() {
    let mut input = gz(compact(fx::CWL_DATA_MESSAGE).as_bytes());
    input.extend(gz(compact(fx::CWL_CONTROL_MESSAGE).as_bytes()));
    let (code, rows, err) = price(&input, &[]);
    assert_eq!(code, 1, "the fixture has one bad event: {err}");
    assert_eq!(rows.len(), 3);
    assert!(err.contains("line 1 event 1 (id 3"), "{err}");
    assert!(err.contains("1 control messages"), "{err}");
}

#[test]
fn bedrock_s3_delivery_json_gz_and_price_overlays() {
    let ndjson = format!(
        "{}\n{}\n",
        compact(fx::BEDROCK_CONVERSE_APP_PROFILE),
        compact(fx::BEDROCK_CONVERSE_GLOBAL)
    );
    let (code, rows, _) = price(&gz(ndjson.as_bytes()), &[]);
    assert_eq!(code, 0);
    assert_eq!(rows[0]["price_status"], "fallback");
    assert_eq!(rows[1]["cost_usd"], "0.06");
    let dir = std::env::temp_dir().join(format!("sg-price-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let overlay = dir.join("site.toml");
    std::fs::write(
        &overlay,
        "version = \"site-1\"\n[[application_profile]]\narn = \"arn:aws:bedrock:us-east-2:111122223333:application-inference-profile/abc123\"\nmodel = \"amazon.nova-lite-v1:0\"\ntier = \"in_region\"\n",
    )
    .unwrap();
    let (code, rows, _) = price(
        &gz(ndjson.as_bytes()),
        &["--prices", overlay.to_str().unwrap()],
    );
    assert_eq!(code, 0);
    assert_eq!(rows[0]["price_status"], "exact");
    assert_eq!(rows[0]["model"], "amazon.nova-lite-v1:0");
    // 1000 x 0.06 + 100 x 0.24 per 1M
    assert_eq!(rows[0]["cost_usd"], "0.000084");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn exit_status_is_0_when_all_was_read_1_when_some_was_not_2_when_nothing_was() {
    let (code, rows, err) = price(b"garbage\n{\"also\": \"not a record\"}\n", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(rows.is_empty());
    assert!(err.contains("line 1") && err.contains("line 2"), "{err}");
    let (code, _, err) = price(&[0x1f, 0x8b, 8, 0, 1, 2, 3], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("gzip"), "{err}");
    let (code, rows, _) = price(b"", &[]);
    assert_eq!((code, rows.len()), (0, 0));
    let good = compact(fx::BEDROCK_CONVERSE_GLOBAL);
    let (code, rows, _) = price(format!("{good}\n").as_bytes(), &[]);
    assert_eq!((code, rows.len()), (0, 1));
    let (code, rows, _) = price(format!("{good}\ngarbage\n").as_bytes(), &[]);
    assert_eq!((code, rows.len()), (1, 1));
}

#[test]
fn a_truncated_gzip_is_one_error_said_once() {
    // a truncated stream: its last 4 bytes (read as ISIZE) are whatever the cut left
    let mut data = Vec::new();
    for i in 0..2000 {
        data.extend(
            compact(fx::BEDROCK_CONVERSE_GLOBAL)
                .replace("000000000005", &format!("{i:012}"))
                .as_bytes(),
        );
        data.push(b'\n');
    }
    let whole = gz(&data);
    let (code, rows, err) = price(&whole[..whole.len() / 3], &[]);
    assert_eq!(code, 2);
    assert!(rows.is_empty());
    assert_eq!(err.matches("truncated or corrupt").count(), 1, "{err}");
}
