//! `spendguard transform --event FILE`: the transform Lambda's exact handler on a Firehose event
//! file. The response JSON is the only thing on stdout; problems, the metrics line and re-ingest
//! actions go to stderr. Re-ingest is reported, not sent, unless `--reingest URL` names an
//! endpoint (an emulator, or `aws` for the real service from the environment's credentials).

use crate::PriceOpts;
use anyhow::{Context, Result};
use lambda_runtime::{Context as LambdaContext, LambdaEvent};
use spendguard_core::clock::SystemClock;
use spendguard_transform::aws::{sdk_config, AwsSink};
use spendguard_transform::send::{Entry, PutError, Sink, Target};
use spendguard_transform::{event_handler, Config, Deps};
use std::sync::Arc;

/// Where re-ingested envelopes go from the CLI.
pub enum CliSink {
    /// Say what would be sent, on stderr, and report success.
    Report,
    Aws(AwsSink),
}

impl Sink for CliSink {
    async fn put(
        &self,
        target: &Target,
        entries: &[&Entry],
    ) -> Result<Vec<Option<String>>, PutError> {
        match self {
            CliSink::Aws(a) => a.put(target, entries).await,
            CliSink::Report => {
                for e in entries {
                    tracing::info!(
                        target = %target,
                        partitionKey = e.partition_key,
                        bytes = e.data.len(),
                        "re-ingest (not sent: no --reingest)"
                    );
                }
                Ok(vec![None; entries.len()])
            }
        }
    }
}

/// The handler's configuration with the CLI's pricing options.
pub fn config(opts: &PriceOpts, max_response_bytes: usize) -> Result<Config> {
    Ok(Config {
        max_response_bytes,
        pricing: spendguard_transform::PricingConfig {
            price_overlays: crate::input::price_overlays(opts)?,
            assumed_cache_ttl: crate::input::assumed_ttl(opts),
            max_decompressed: opts.max_decompressed_mib << 20,
            prices_bucket: None,
        },
        ..Config::default()
    })
}

pub fn run(
    event_path: &str,
    reingest: Option<&str>,
    max_response_bytes: usize,
    opts: &PriceOpts,
) -> Result<std::process::ExitCode> {
    let bytes = crate::input::read_all(event_path)?;
    // only the JSON is checked here: the Lambda's own entry point answers a record whose data
    // is not base64 with that record's ProcessingFailed, never the whole event
    let event: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{event_path}: not a Firehose transformation event (not JSON)"))?;
    if !event
        .get("records")
        .is_some_and(serde_json::Value::is_array)
    {
        anyhow::bail!("{event_path}: not a Firehose transformation event (no records list)");
    }
    // what the handler logs (problems, its EMF line) goes to stderr, as the Lambda's to stdout
    spendguard_aws::log::init_stderr(true);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let response = rt.block_on(async {
        let sink = match reingest {
            None => CliSink::Report,
            Some("aws") => CliSink::Aws(AwsSink::new(&sdk_config(None).await)),
            Some(url) => CliSink::Aws(AwsSink::new(&sdk_config(Some(url)).await)),
        };
        let deps = Deps::new(
            config(opts, max_response_bytes)?,
            sink,
            Arc::new(SystemClock),
        )?;
        let ev = LambdaEvent::new(event, LambdaContext::default());
        match event_handler(ev, &deps).await {
            Ok(r) => anyhow::Ok(r),
            Err(never) => match never {},
        }
    })?;
    println!("{}", serde_json::to_string(&response)?);
    let failed = response
        .records
        .iter()
        .filter(|r| r.result == spendguard_transform::firehose::TransformResult::ProcessingFailed)
        .count() as u64;
    Ok(crate::input_status(
        response.records.len() as u64 - failed,
        failed,
    ))
}
