//! Careless input through the built binary (issue 20): a reader that closes the pipe early ends
//! every command quietly with exit 0 (cases 4), and a command that only reads a ledger refuses a
//! path that is not one instead of creating an empty ledger that answers "ok" (case 5).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
// std::io::pipe is newer than the workspace's declared rust-version; test code only
#![allow(clippy::incompatible_msrv)]

use std::path::Path;
use std::process::{Command, Stdio};

mod common;

use common::{bin, ok, Tmp};

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
