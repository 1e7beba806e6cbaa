//! `spendguard price`: one priced JSON row per invocation on stdout.

use crate::input::{self, for_each_row};
use crate::PriceOpts;
use anyhow::Result;
use spendguard_core::Pipeline;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

pub fn run(path: &str, opts: &PriceOpts) -> Result<ExitCode> {
    let pricer = input::pricer(opts)?;
    let mut pipe = Pipeline::new(pricer, opts.max_decompressed_mib << 20)?;
    let bytes = input::read_all(path)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut write_err: Option<std::io::Error> = None;
    let stats = for_each_row(
        &mut pipe,
        &bytes,
        &mut |row| {
            if write_err.is_none() {
                let r = serde_json::to_writer(&mut out, &row)
                    .map_err(std::io::Error::from)
                    .and_then(|()| out.write_all(b"\n"));
                if let Err(e) = r {
                    write_err = Some(e);
                }
            }
        },
        &mut |place, reason| eprintln!("{path}: {place}: {reason}"),
    );
    let stats = match stats {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{path}: {e:#}");
            return Ok(crate::input_status(0, 1));
        }
    };
    out.flush()?;
    if let Some(e) = write_err {
        return Err(e.into());
    }
    eprintln!(
        "{path}: {} rows, {} bad, {} control messages",
        stats.rows, stats.bad, stats.control_messages
    );
    Ok(crate::input_status(stats.rows as u64, stats.bad as u64))
}
