//! `spendguard`: the CLI. Each command's help says where it acts: `[local]` commands work on
//! files only; `[AWS]` commands call AWS (or an emulator given by `--endpoint-url`).

mod bench;
mod enforce_cmd;
mod gen;
mod html;
mod idset;
mod input;
mod lake;
mod ledger_cmd;
mod offers;
mod price_cmd;
mod prices_cmd;
mod replay;
mod report;
mod run;
mod simulate;
mod spill;
mod transform_cmd;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// The exit statuses, shown under every command's help (see [`input_status`]).
const EXIT_STATUS: &str = "Exit status: 0 all input was read; 1 some input was unreadable and the \
rest was processed (the summary names what, stderr says why); 2 nothing was processed (all input \
unreadable, bad arguments, an unusable lake or ledger). A reader that closes the pipe early \
(`| head`) ends any command quietly with 0.";

#[derive(Parser, Debug)]
#[command(
    name = "spendguard",
    version,
    about = "Price every Amazon Bedrock invocation exactly, from Bedrock's own invocation logs",
    after_help = EXIT_STATUS
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

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum WindowArg {
    Day,
    Month,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// [local] Price Bedrock records: NDJSON, Bedrock's S3 delivery `.json.gz`, or gzip
    /// CloudWatch Logs envelopes (detected by content). One JSON row per invocation on stdout;
    /// bad lines on stderr with line number and reason.
    #[command(after_help = EXIT_STATUS)]
    Price {
        /// What to read (stdin when nothing is given).
        #[command(flatten)]
        inputs: input::Inputs,
        #[command(flatten)]
        opts: PriceOpts,
    },
    /// [local] The price catalogue in force (built-in plus --prices overlays).
    Prices {
        #[command(subcommand)]
        cmd: PricesCmd,
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
    /// [local] Write deterministic, realistic Bedrock invocation logs: gzip CloudWatch Logs
    /// envelopes (`cwl`), Bedrock's S3 delivery layout (`s3`), or NDJSON.
    Gen {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        invocations: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Days the invocations spread over, from 2026-11-20 (UTC) or --start.
        #[arg(long, default_value_t = 1)]
        days: u32,
        #[arg(long, value_enum, default_value = "cwl")]
        format: gen::Format,
        /// First day, YYYY-MM-DD.
        #[arg(long)]
        start: Option<String>,
        /// With --format firehose: base64 record data per event, in MB (Firehose buffers at
        /// most 3 MB for a Lambda processor; Lambda accepts 6 MB).
        #[arg(long, default_value_t = 3.0)]
        event_mb: f64,
    },
    /// [local] Price every invocation in the inputs (any mix of formats, files or directories)
    /// and write the Parquet lake LAKE/dt=YYYY-MM-DD/part-*.parquet and/or apply them to the
    /// embedded spend ledger. Both are idempotent by request_id: re-running is safe.
    #[command(after_help = EXIT_STATUS)]
    Run {
        #[command(flatten)]
        inputs: input::Inputs,
        /// The Parquet lake directory.
        #[arg(long, required_unless_present = "ledger")]
        lake: Option<PathBuf>,
        /// The embedded spend ledger (a SQLite file, created if missing): every invocation is
        /// counted exactly once per (principal|session|team, day|month) window.
        #[arg(long, value_name = "PATH")]
        ledger: Option<PathBuf>,
        /// The budget config (TOML): its time zone sets the window boundaries, its teams the
        /// team windows. Default: UTC, no teams.
        #[arg(long, value_name = "FILE")]
        budgets: Option<PathBuf>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
        /// One run writes a lake at a time: fail at once instead of waiting for another.
        #[arg(long)]
        no_wait: bool,
        #[command(flatten)]
        opts: PriceOpts,
    },
    /// [local] Spend and tokens over a period, read from the lake.
    Report {
        #[arg(long)]
        lake: PathBuf,
        /// First day (YYYY-MM-DD, inclusive).
        #[arg(long)]
        from: Option<String>,
        /// Last day (YYYY-MM-DD, inclusive).
        #[arg(long)]
        to: Option<String>,
        #[arg(long, value_enum, default_value = "principal")]
        by: report::By,
        /// The budget config whose [[team]] members `--by team` groups by.
        #[arg(long, value_name = "FILE")]
        budgets: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "table")]
        format: report::Format,
        /// Rows in the table (and groups drawn on their own in the HTML chart, at most 8).
        #[arg(long, default_value_t = 15)]
        top: usize,
        /// Also write the report as one self-contained HTML page (charts, tables, CSV) here.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
    /// [local] Replay the lake in event-time order through a budgets file: who would have been
    /// alerted and suspended, when, for how long, and what the denies would have stopped.
    /// Observed figures (the logs, as the ledger counts them) and counterfactual ones (with the
    /// budgets in force) are kept apart.
    Simulate {
        #[arg(long)]
        lake: PathBuf,
        #[arg(long, value_name = "FILE")]
        budgets: PathBuf,
        /// A second budgets file, side by side with the first.
        #[arg(long, value_name = "FILE")]
        compare: Option<PathBuf>,
        /// First local day (YYYY-MM-DD, the budgets' time zone). Earlier spend in the same month
        /// counts towards its windows.
        #[arg(long)]
        from: Option<String>,
        /// Last local day (YYYY-MM-DD, inclusive).
        #[arg(long)]
        to: Option<String>,
        /// Seconds from a suspension's decision to the deny taking effect (assumed: the top of
        /// the 5-30 s log delivery).
        #[arg(long, default_value_t = simulate::DEFAULT_DELAY_SECONDS)]
        delay: u64,
        #[arg(long, value_enum, default_value = "table")]
        format: report::Format,
        /// Keys in the table.
        #[arg(long, default_value_t = 20)]
        top: usize,
    },
    /// [local] Generate a realistic day of logs into a temporary directory, run the pipeline
    /// into a lake there, print the report and write it as `spendguard-report.html` (in --dir, or
    /// else the current directory): the first thing to run.
    Demo {
        #[arg(long, default_value_t = 10_000)]
        invocations: usize,
        /// Keep the generated logs and lake here instead of a temporary directory.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// [local] Run the transform Lambda's exact handler on a Firehose transformation event file:
    /// the response JSON on stdout and nothing else; problems, the metrics line and re-ingest
    /// actions on stderr. Re-ingest is reported, not sent, unless --reingest is given.
    #[command(after_help = EXIT_STATUS)]
    Transform {
        /// The Firehose event (JSON), or `-` for stdin.
        #[arg(long, value_name = "FILE")]
        event: String,
        /// [AWS] Send re-ingested envelopes for real: an endpoint URL (e.g. an emulator), or
        /// `aws` for the service endpoints and credentials of the environment.
        #[arg(long, value_name = "URL")]
        reingest: Option<String>,
        /// Response budget for `data` + `recordId` (Lambda's limit is 6 MiB).
        #[arg(long, default_value_t = spendguard_transform::process::MAX_RESPONSE_BYTES)]
        max_response_bytes: usize,
        #[command(flatten)]
        opts: PriceOpts,
    },
    /// [AWS] Send logs (any format `run` reads; bare records are re-enveloped as gzip CloudWatch
    /// Logs batches) to a real stream: the load generator for a deployed stack, and backfills.
    /// Prints achieved records/s and MB/s as JSON. Kinesis `PutRecords` (kinesis:STREAM) or, for
    /// a DirectPut delivery stream only, Firehose `PutRecordBatch` (firehose:STREAM).
    #[command(after_help = EXIT_STATUS)]
    Replay(replay::ReplayArgs),
    /// [local] Spend per window from the embedded ledger (`run --ledger`): one line per
    /// (scope, key, day|month window).
    Ledger {
        #[arg(long, value_name = "PATH")]
        ledger: PathBuf,
        /// Only this key: an IAM user or role ARN, a session ARN, or a team name.
        #[arg(long, value_name = "ARN")]
        key: Option<String>,
        #[arg(long, value_enum)]
        window: Option<WindowArg>,
        /// A JSON list of {scope, key, window, window_start, spend_usd, invocations}.
        #[arg(long)]
        json: bool,
    },
    /// Re-apply Kinesis batches the aggregator gave up on: its event source mapping's S3
    /// on-failure records (files or directories, e.g. after `aws s3 cp --recursive`), or bare
    /// Kinesis event files. [local] with --ledger PATH; [AWS] with --table NAME (the DynamoDB
    /// ledger table; --endpoint-url for an emulator). Safe to repeat: each requestId counts once.
    #[command(after_help = EXIT_STATUS)]
    Redrive {
        #[command(flatten)]
        inputs: input::Inputs,
        #[arg(
            long,
            value_name = "PATH",
            conflicts_with = "table",
            required_unless_present = "table"
        )]
        ledger: Option<PathBuf>,
        #[arg(long, value_name = "NAME")]
        table: Option<String>,
        #[arg(long, value_name = "URL")]
        endpoint_url: Option<String>,
        #[arg(long, value_name = "FILE")]
        budgets: Option<PathBuf>,
        /// DynamoDB only: the dedup horizon the stack runs with (markers' lifetime).
        #[arg(long, default_value_t = spendguard_core::clock::DEFAULT_DEDUP_HORIZON_DAYS)]
        dedup_horizon_days: u32,
        #[command(flatten)]
        opts: PriceOpts,
    },
    /// What a key is spending against its budgets, and its enforcement state: [local] with
    /// --ledger PATH (and --budgets FILE), [AWS] otherwise (tables from flags or SPENDGUARD_*).
    Status {
        #[arg(long, value_name = "ARN")]
        principal: String,
        #[arg(long, value_enum)]
        scope: Option<enforce_cmd::ScopeArg>,
        #[arg(long, value_name = "PATH")]
        ledger: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        budgets: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        aws: enforce_cmd::AwsOpts,
    },
    /// [AWS] Suspend a principal's Bedrock access now (spendguard's deny), until --until or
    /// `spendguard restore`, whatever its spend. Audited and alerted.
    Suspend(OperatorArgs),
    /// [AWS] Lift spendguard's deny now (it removes only what spendguard added) and hold off
    /// re-suspension until --until, by default until the windows that are over reset.
    Restore(OperatorArgs),
    /// [AWS] Never suspend this principal until --until (forever without it; a past time ends
    /// it). It is still alerted.
    Protect(OperatorArgs),
    /// [AWS] The enforcer's circuit breaker: more than `[breaker] max_suspensions` (20) keys
    /// suspended within `window_minutes` (10) opens it and further suspensions are held.
    Enforcement {
        #[command(subcommand)]
        cmd: EnforcementCmd,
    },
    /// [AWS] The budget document the evaluator and the enforcer load (the enforcement table).
    Budgets {
        #[command(subcommand)]
        cmd: BudgetsCmd,
    },
    /// [local] Print the priced-row column table (name, Arrow type, Glue type, nullable,
    /// partition) as JSON: the contract of the JSON rows, the Parquet files and the Glue table.
    Columns,
    /// [local] Print the managed deny policy the enforcer attaches (the SAM template's
    /// `DenyPolicy` is this document), for a policy ARN and the suspended group's ARN.
    DenyPolicy {
        /// The deny policy's own ARN (its statements protect it from being detached or edited).
        #[arg(long)]
        policy_arn: String,
        /// The suspended group's ARN, when there is one.
        #[arg(long)]
        group_arn: Option<String>,
    },
}

#[derive(clap::Args, Debug)]
struct OperatorArgs {
    /// A user or role ARN, or an assumed-role session ARN (one session).
    #[arg(long, value_name = "ARN")]
    principal: String,
    #[arg(long, value_enum)]
    scope: Option<enforce_cmd::ScopeArg>,
    /// RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    #[arg(long, value_name = "TEXT", default_value = "")]
    reason: String,
    #[command(flatten)]
    aws: enforce_cmd::AwsOpts,
}

#[derive(Subcommand, Debug)]
enum PricesCmd {
    /// What each logged model id (bare id, `us.`/`in.`/`global.` profile id, or ARN) resolves
    /// to: the entry or fallback rung, tier, rates, thresholds, effective dates, source and the
    /// version rows record. Exit 1 if any id is priced by a fallback.
    Explain {
        #[arg(required = true, num_args = 1..)]
        model_ids: Vec<String>,
        /// The source Region of the call (the record's `region`).
        #[arg(long, default_value = "us-east-1")]
        region: String,
        /// When: YYYY-MM-DD (its first instant, UTC) or an RFC 3339 instant. Default: now.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// One JSON object per id.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        opts: PriceOpts,
    },
    /// Build a catalogue overlay from AWS's own Price List: saved `aws pricing get-products`
    /// responses or Region offer files (`index.json`) for AmazonBedrock,
    /// AmazonBedrockFoundationModels and AmazonBedrockService. The overlay goes to stdout (or
    /// --out, written only if every file reads); what was mapped, skipped, not joined and
    /// changed goes to stderr.
    Sync {
        /// Saved files or directories of `*.json`.
        #[arg(long = "from", num_args = 1.., required_unless_present = "url", conflicts_with = "url")]
        from: Vec<PathBuf>,
        /// Fetch the public offer files instead: each service code's
        /// `/offers/v1.0/aws/<code>/current/region_index.json` under URL, then its Region files.
        #[arg(long, value_name = "URL", num_args = 0..=1,
              default_missing_value = spendguard_core::pricelist::OFFERS_HOST)]
        url: Option<String>,
        /// With --url: only these Regions (repeatable). Default: every Region in the index.
        #[arg(long = "region", value_name = "REGION")]
        regions: Vec<String>,
        /// With --url: these service codes (repeatable). Default: AmazonBedrock,
        /// AmazonBedrockFoundationModels, AmazonBedrockService.
        #[arg(long = "service", value_name = "CODE")]
        services: Vec<String>,
        /// The overlay in force now (a previous sync): a model it prices that the new one lacks
        /// stops the sync.
        #[arg(long, value_name = "FILE")]
        previous: Option<PathBuf>,
        /// A price that moves by more than this factor either way stops the sync (held for an
        /// operator) unless --accept-moves.
        #[arg(long, default_value = "2")]
        max_factor: rust_decimal::Decimal,
        #[arg(long)]
        accept_moves: bool,
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        opts: PriceOpts,
    },
    /// What an overlay file changes against the catalogue in force: added models and changed
    /// prices per Region and tier.
    Diff {
        file: PathBuf,
        #[command(flatten)]
        opts: PriceOpts,
    },
    /// [AWS] Store FILE as the stack's price overlay (`prices/overlay.toml`, a new version in the
    /// versioned bucket); the transform and the aggregator use it within a minute. Checked
    /// first as the daily refresh checks: it loads with the pricer's own code, no model of the
    /// overlay in force disappears, no price moves by more than --max-factor (else exit 1,
    /// nothing stored, unless --accept-moves).
    Push {
        file: PathBuf,
        #[arg(long, default_value = "2")]
        max_factor: rust_decimal::Decimal,
        #[arg(long)]
        accept_moves: bool,
        #[command(flatten)]
        s3: prices_cmd::S3Opts,
    },
    /// [AWS] Print the stored price overlay (the refresh's or the last push) on stdout; its
    /// version, ETag and age on stderr.
    Current {
        #[command(flatten)]
        s3: prices_cmd::S3Opts,
    },
}

#[derive(Subcommand, Debug)]
enum EnforcementCmd {
    /// Whether the circuit breaker is open, since when and why (the keys it counted).
    Status {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        aws: enforce_cmd::AwsOpts,
    },
    /// Re-arm the breaker after checking prices and budgets: suspensions resume, and keys it
    /// held that are still over are suspended at the enforcer's next scheduled run. Audited and
    /// alerted.
    Resume {
        #[arg(long, value_name = "TEXT", default_value = "")]
        reason: String,
        #[command(flatten)]
        aws: enforce_cmd::AwsOpts,
    },
}

#[derive(Subcommand, Debug)]
enum BudgetsCmd {
    /// Validate FILE and store it; the functions use it from their next invocation.
    Push {
        file: PathBuf,
        #[command(flatten)]
        aws: enforce_cmd::AwsOpts,
    },
    /// Print the stored document and its version.
    Show {
        #[command(flatten)]
        aws: enforce_cmd::AwsOpts,
    },
}

fn operator(a: &OperatorArgs, what: enforce_cmd::Act) -> Result<ExitCode> {
    let key = enforce_cmd::key_of(&a.principal, a.scope);
    enforce_cmd::act(
        &a.aws,
        what,
        &key,
        enforce_cmd::until_ms(a.until.as_deref())?,
        &a.reason,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The exit status of every command that reads input, the same everywhere: 0 when all input was
/// read; 1 when some was unreadable but the rest was processed (the summary names what); 2 when
/// nothing was processed. Errors before any input is read (bad arguments, an unusable lake or
/// ledger) also exit 2, from `main`.
pub fn input_status(processed: u64, unreadable: u64) -> ExitCode {
    match (processed, unreadable) {
        (_, 0) => ExitCode::SUCCESS,
        (0, _) => ExitCode::from(2),
        _ => ExitCode::from(1),
    }
}

/// The inputs of a command that needs at least one (a usage error, exit 2, otherwise).
fn required(inputs: Vec<PathBuf>) -> Result<Vec<PathBuf>> {
    if inputs.is_empty() {
        anyhow::bail!("no input given: name files or directories (or `-` for stdin)");
    }
    Ok(inputs)
}

/// Whether an error is a write to a closed pipe (`spendguard ... | head`).
fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn main() -> ExitCode {
    // A reader that stops early (`| head`) ends the command quietly with 0, as ripgrep does:
    // println! panics on a closed stdout, so the panic hook recognises that one panic.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default_hook(info);
    }));
    match run() {
        Ok(code) => code,
        Err(e) if broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("spendguard: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[allow(clippy::float_arithmetic)] // file sizes in MB, never money
fn run() -> Result<ExitCode> {
    match Cli::parse().cmd {
        Cmd::Price { inputs, opts } => price_cmd::run(&inputs.all(true), &opts),
        Cmd::Prices {
            cmd:
                PricesCmd::Explain {
                    model_ids,
                    region,
                    at,
                    json,
                    opts,
                },
        } => prices_cmd::explain(&model_ids, &region, at.as_deref(), json, &opts),
        Cmd::Prices {
            cmd:
                PricesCmd::Sync {
                    from,
                    url,
                    regions,
                    services,
                    previous,
                    max_factor,
                    accept_moves,
                    out,
                    opts,
                },
        } => prices_cmd::sync(&prices_cmd::SyncArgs {
            from: &from,
            url: url.as_deref(),
            regions: &regions,
            services: &services,
            previous: previous.as_deref(),
            max_factor,
            accept_moves,
            out: out.as_deref(),
            opts: &opts,
        }),
        Cmd::Prices {
            cmd: PricesCmd::Diff { file, opts },
        } => prices_cmd::diff(&file, &opts),
        Cmd::Prices {
            cmd:
                PricesCmd::Push {
                    file,
                    max_factor,
                    accept_moves,
                    s3,
                },
        } => prices_cmd::push(&file, max_factor, accept_moves, &s3),
        Cmd::Prices {
            cmd: PricesCmd::Current { s3 },
        } => prices_cmd::current(&s3),
        Cmd::Bench {
            json,
            invocations,
            passes,
            seed,
        } => bench::run(json, invocations, passes, seed),
        Cmd::Gen {
            out,
            invocations,
            seed,
            days,
            format,
            start,
            event_mb,
        } => {
            let start_ms = match start {
                Some(d) => spendguard_schemas::time::parse_rfc3339_ms(&format!("{d}T00:00:00Z"))
                    .map_err(|e| anyhow::anyhow!("--start {d:?}: {e}"))?,
                None => gen::DEFAULT_START_MS,
            };
            // what gen writes must be what run accepts: every event time inside the range the
            // pricer checks (the last one is at most `days` after the start)
            let end_ms = start_ms.saturating_add(i64::from(days).saturating_mul(86_400_000));
            let now = spendguard_core::clock::Clock::now_ms(&spendguard_core::clock::SystemClock);
            for ms in [start_ms, end_ms.saturating_sub(1)] {
                spendguard_core::price::event_time_in_range(ms, now)
                    .map_err(|e| anyhow::anyhow!("--start/--days: {e}"))?;
            }
            let event_bytes = (event_mb * 1e6) as usize;
            let w = gen::generate(&out, invocations, seed, days, format, start_ms, event_bytes)?;
            eprintln!(
                "wrote {} invocations in {} files ({:.1} MB) under {}",
                w.invocations,
                w.files,
                w.bytes as f64 / 1e6,
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Run {
            inputs,
            lake,
            ledger,
            budgets,
            json,
            no_wait,
            opts,
        } => {
            let inputs = required(inputs.all(false))?;
            let s = run::run(&run::RunArgs {
                inputs: &inputs,
                lake: lake.as_deref(),
                ledger: ledger.as_deref(),
                budgets: budgets.as_deref(),
                json,
                no_wait,
                opts: &opts,
            })?;
            if json {
                println!("{}", serde_json::to_string(&s)?);
            } else {
                run::print_summary(&s);
            }
            Ok(input_status(s.invocations as u64, s.unreadable as u64))
        }
        Cmd::Report {
            lake,
            from,
            to,
            by,
            budgets,
            format,
            top,
            html,
        } => {
            let teams = match (by, &budgets) {
                (report::By::Team, None) => {
                    anyhow::bail!("--by team needs --budgets FILE (the teams are defined there)")
                }
                (_, b) => ledger_cmd::budgets(b.as_deref())?,
            };
            let r = report::build(&lake, from.as_deref(), to.as_deref(), by, &teams, top)?;
            match html {
                Some(path) => {
                    if r["invocations"].as_u64() == Some(0) {
                        anyhow::bail!(
                            "no invocations in {} .. {} in {}: nothing to draw, {} not written",
                            r["from"].as_str().unwrap_or("the first day"),
                            r["to"].as_str().unwrap_or("the last day"),
                            lake.display(),
                            path.display()
                        );
                    }
                    html::write(&path, &html::render(&r))?;
                    eprintln!("wrote {}", path.display());
                }
                None => report::print(&r, format, top)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Simulate {
            lake,
            budgets,
            compare,
            from,
            to,
            delay,
            format,
            top,
        } => {
            let primary = ledger_cmd::budgets(Some(&budgets))?;
            let second = compare
                .as_deref()
                .map(|p| ledger_cmd::budgets(Some(p)))
                .transpose()?;
            let (name, second_name) = (
                budgets.display().to_string(),
                compare.as_ref().map(|p| p.display().to_string()),
            );
            let sim = simulate::simulate(&simulate::SimArgs {
                lake: &lake,
                budgets: (&name, &primary),
                compare: second_name.as_deref().zip(second.as_ref()),
                from: from.as_deref(),
                to: to.as_deref(),
                delay_seconds: delay,
                keep_windows: false,
            })?;
            simulate::print(&sim, format, top)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Demo { invocations, dir } => demo(invocations, dir),
        Cmd::Transform {
            event,
            reingest,
            max_response_bytes,
            opts,
        } => transform_cmd::run(&event, reingest.as_deref(), max_response_bytes, &opts),
        Cmd::Ledger {
            ledger,
            key,
            window,
            json,
        } => {
            let kind = window.map(|w| match w {
                WindowArg::Day => spendguard_core::window::WindowKind::Day,
                WindowArg::Month => spendguard_core::window::WindowKind::Month,
            });
            ledger_cmd::show(&ledger, key.as_deref(), kind, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Redrive {
            inputs,
            ledger,
            table,
            endpoint_url,
            budgets,
            dedup_horizon_days,
            opts,
        } => {
            let target = match (ledger, table) {
                (Some(p), _) => ledger_cmd::Target::Embedded(p),
                (None, Some(table)) => ledger_cmd::Target::Dynamo {
                    table,
                    endpoint_url,
                },
                (None, None) => anyhow::bail!("give --ledger PATH or --table NAME"),
            };
            let pipeline = spendguard_core::Pipeline::new(
                input::pricer(&opts)?,
                opts.max_decompressed_mib << 20,
            )?;
            let r = ledger_cmd::redrive(
                &required(inputs.all(false))?,
                target,
                budgets.as_deref(),
                pipeline,
                dedup_horizon_days,
            )?;
            println!("{}", serde_json::to_string_pretty(&r)?);
            let n = |k: &str| r[k].as_u64().unwrap_or(0);
            Ok(input_status(
                n("invocations"),
                n("undecodable_records")
                    + n("bad_events")
                    + r["failed"].as_array().map_or(0, |f| f.len() as u64),
            ))
        }
        Cmd::Replay(args) => replay::run(&args, &spendguard_core::clock::SystemClock),
        Cmd::Status {
            principal,
            scope,
            ledger,
            budgets,
            json,
            aws,
        } => {
            let key = enforce_cmd::key_of(&principal, scope);
            match ledger {
                Some(l) => enforce_cmd::status_local(
                    &l,
                    &ledger_cmd::budgets(budgets.as_deref())?,
                    &key,
                    json,
                )?,
                None => enforce_cmd::status_aws(&aws, &key, json)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Suspend(a) => operator(&a, enforce_cmd::Act::Suspend),
        Cmd::Restore(a) => operator(&a, enforce_cmd::Act::Restore),
        Cmd::Protect(a) => operator(&a, enforce_cmd::Act::Protect),
        Cmd::Enforcement { cmd } => {
            match cmd {
                EnforcementCmd::Status { json, aws } => enforce_cmd::breaker_status(&aws, json)?,
                EnforcementCmd::Resume { reason, aws } => {
                    enforce_cmd::breaker_resume(&aws, &reason)?
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Budgets { cmd } => {
            match cmd {
                BudgetsCmd::Push { file, aws } => enforce_cmd::budgets_push(&aws, &file)?,
                BudgetsCmd::Show { aws } => enforce_cmd::budgets_show(&aws)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::DenyPolicy {
            policy_arn,
            group_arn,
        } => {
            let doc =
                spendguard_core::enforce::deny_policy_document(&policy_arn, group_arn.as_deref());
            let pretty: serde_json::Value = serde_json::from_str(&doc)?;
            println!("{}", serde_json::to_string_pretty(&pretty)?);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Columns => {
            let cols: Vec<_> = spendguard_schemas::COLUMNS
                .iter()
                .map(|c| {
                    serde_json::json!({"name": c.name, "arrow_type": c.ty.arrow_type(),
                        "glue_type": c.ty.glue_type(), "nullable": c.nullable,
                        "partition": c.partition, "comment": c.comment})
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&cols)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[allow(clippy::float_arithmetic)] // file sizes in MB, never money
fn demo(invocations: usize, dir: Option<PathBuf>) -> Result<ExitCode> {
    let (root, temp) = match dir {
        Some(d) => (d, false),
        None => (
            std::env::temp_dir().join(format!("spendguard-demo-{}", std::process::id())),
            true,
        ),
    };
    let logs = root.join("logs");
    let lake = root.join("lake");
    println!("1/3 generating a day of Bedrock invocation logs ({invocations} invocations, gzip CloudWatch envelopes)");
    let w = gen::generate(
        &logs,
        invocations,
        42,
        1,
        gen::Format::Cwl,
        gen::DEFAULT_START_MS,
        0,
    )?;
    println!(
        "    {} files, {:.1} MB compressed, in {}",
        w.files,
        w.bytes as f64 / 1e6,
        logs.display()
    );
    println!(
        "2/3 spendguard run --input {} --lake {} --ledger {}",
        logs.display(),
        lake.display(),
        root.join("ledger.db").display()
    );
    let opts = PriceOpts {
        prices: Vec::new(),
        assume_cache_ttl: CacheTtlArg::FiveMinutes,
        max_decompressed_mib: 4096,
    };
    let ledger = root.join("ledger.db");
    let s = run::run(&run::RunArgs {
        inputs: std::slice::from_ref(&logs),
        lake: Some(&lake),
        ledger: Some(&ledger),
        budgets: None,
        json: false,
        no_wait: false,
        opts: &opts,
    })?;
    run::print_summary(&s);
    println!(
        "3/3 spendguard report --lake {} --by principal",
        lake.display()
    );
    let none = ledger_cmd::budgets(None)?;
    let r = report::build(&lake, None, None, report::By::Principal, &none, 10)?;
    report::print(&r, report::Format::Table, 10)?;
    let r = report::build(&lake, None, None, report::By::Model, &none, 20)?;
    report::print(&r, report::Format::Table, 20)?;
    // the page outlives a temporary demo: it goes to --dir, else the current directory
    let page = if temp {
        PathBuf::from("spendguard-report.html")
    } else {
        root.join("spendguard-report.html")
    };
    let r = report::build(&lake, None, None, report::By::Principal, &none, 8)?;
    html::write(&page, &html::render(&r))?;
    println!(
        "the HTML report (open it in a browser): {}",
        std::fs::canonicalize(&page).unwrap_or(page).display()
    );
    if temp {
        std::fs::remove_dir_all(&root).ok();
        println!(
            "(removed {}; pass --dir DIR to keep the logs and the lake)",
            root.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
