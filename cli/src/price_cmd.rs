//! `spendguard price`: one priced JSON row per invocation on stdout.

use crate::input::{self, for_each_row};
use crate::PriceOpts;
use anyhow::Result;
use spendguard_core::Pipeline;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

/// Prices every input (files, directories, `-`), one JSON row per invocation on stdout; each
/// input's problems and counts on stderr. The exit status follows [`crate::input_status`] over
/// all inputs.
pub fn run(inputs: &[std::path::PathBuf], opts: &PriceOpts) -> Result<ExitCode> {
    let pricer = input::pricer(opts)?;
    let mut pipe = Pipeline::new(pricer, opts.max_decompressed_mib << 20)?;
    let (sources, _) = input::discover(inputs)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let (mut rows, mut unreadable) = (0u64, 0u64);
    for source in &sources {
        let path = source.to_string();
        let bytes = match source.read() {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{e:#}");
                unreadable += 1;
                continue;
            }
        };
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
        if let Some(e) = write_err {
            return Err(e.into());
        }
        match stats {
            Ok(s) => {
                eprintln!(
                    "{path}: {} rows, {} bad, {} control messages",
                    s.rows, s.bad, s.control_messages
                );
                rows += s.rows as u64;
                unreadable += s.bad as u64;
            }
            Err(e) => {
                eprintln!("{path}: {e:#}");
                unreadable += 1;
            }
        }
    }
    out.flush()?;
    Ok(crate::input_status(rows, unreadable))
}
