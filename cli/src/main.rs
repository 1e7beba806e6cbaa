//! `spendguard`: the local CLI. Every command here acts locally, on files; none calls AWS.

mod bench;
mod input;
mod price_cmd;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "spendguard",
    version,
    about = "Price every Amazon Bedrock invocation exactly, from Bedrock's own invocation logs"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// Pricing options shared by the commands that price.
#[derive(clap::Args, Debug, Clone)]
pub struct PriceOpts {
    /// Price overlay file(s) in the catalogue format; later files win (a price fix needs no
    /// rebuild). Also maps application inference profiles.
    #[arg(long = "prices", value_name = "FILE")]
    pub prices: Vec<PathBuf>,
    /// TTL assumed for cache writes when the log has no bodies to read the split from.
    #[arg(long, value_enum, default_value = "5m")]
    pub assume_cache_ttl: CacheTtlArg,
    /// Refuse any gzip input that decompresses to more than this many MiB.
    #[arg(long, default_value_t = 4096)]
    pub max_decompressed_mib: usize,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum CacheTtlArg {
    #[value(name = "5m")]
    FiveMinutes,
    #[value(name = "1h")]
    OneHour,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// [local] Price Bedrock records: NDJSON, Bedrock's S3 delivery `.json.gz`, or gzip
    /// CloudWatch Logs envelopes (detected by content). One JSON row per invocation on stdout;
    /// bad lines on stderr with line number and reason.
    Price {
        /// Input file, or `-` for stdin.
        #[arg(default_value = "-")]
        path: String,
        #[command(flatten)]
        opts: PriceOpts,
    },
    /// [local] Measure the hot path on generated data: our pipeline vs libdeflate inflate-only
    /// (the ceiling) vs the naive flate2 + serde_json::Value path, in one run.
    Bench {
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Invocations to generate.
        #[arg(long, default_value_t = 15_000)]
        invocations: usize,
        /// Timed passes per path (the median is reported).
        #[arg(long, default_value_t = 7)]
        passes: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("spendguard: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<ExitCode> {
    match Cli::parse().cmd {
        Cmd::Price { path, opts } => price_cmd::run(&path, &opts),
        Cmd::Bench {
            json,
            invocations,
            passes,
            seed,
        } => bench::run(json, invocations, passes, seed),
    }
}
