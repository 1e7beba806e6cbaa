//! `prices sync --url`: the offer files through the shared adapter (`spendguard_aws::offers`),
//! on a runtime of its own (the CLI is synchronous).

use anyhow::{Context, Result};

/// The offer files for `services` (all Bedrock service codes when empty) under `base`, limited
/// to `regions` when given.
pub fn fetch_offers(
    base: &str,
    services: &[String],
    regions: &[String],
) -> Result<Vec<(String, String)>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the HTTP runtime")?;
    let services = spendguard_aws::offers::services_or_all(services);
    Ok(rt.block_on(spendguard_aws::offers::fetch_offers(
        base, &services, regions,
    ))?)
}
