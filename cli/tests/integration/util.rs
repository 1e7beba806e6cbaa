//! Helpers shared by the CLI tests that drive the built binary on local files.

use std::path::PathBuf;
use std::process::Command;

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spendguard"))
}

pub struct Tmp(pub PathBuf);
impl Tmp {
    pub fn new(name: &str) -> Tmp {
        let p = std::env::temp_dir().join(format!("sg-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }
}
impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `spendguard gen` into `<tmp>/logs`: `invocations` over `days` from 2026-11-20 (UTC).
pub fn gen_logs(t: &Tmp, invocations: usize, days: u32) -> PathBuf {
    let logs = t.0.join("logs");
    ok(bin()
        .args([
            "gen",
            "--invocations",
            &invocations.to_string(),
            "--days",
            &days.to_string(),
            "--out",
        ])
        .arg(&logs));
    logs
}
