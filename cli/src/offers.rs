//! Fetching AWS's public Price List offer files over HTTP(S): each service code's region index,
//! then the Region offer files it points to. No credentials: the files are public.

use anyhow::{Context, Result};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use spendguard_core::pricelist;

/// Offer files can be tens of MB (AmazonBedrock in us-east-1); refuse anything past this.
const MAX_BODY: usize = 512 << 20;

/// GETs each URL (http or https), in order, on one client: (url, body) or the first error.
pub fn get_all(urls: &[String]) -> Result<Vec<(String, String)>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the HTTP runtime")?;
    rt.block_on(async {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .context("loading the system's TLS roots")?
            .https_or_http()
            .enable_http1()
            .build();
        let client: Client<_, Empty<bytes::Bytes>> =
            Client::builder(TokioExecutor::new()).build(https);
        let mut out = Vec::with_capacity(urls.len());
        for url in urls {
            let resp = client
                .get(url.parse().with_context(|| format!("{url}: not a URL"))?)
                .await
                .with_context(|| format!("GET {url}"))?;
            let status = resp.status();
            let body = Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!("GET {url}: reading the body: {e}"))?
                .to_bytes();
            if !status.is_success() {
                anyhow::bail!("GET {url}: HTTP {status}");
            }
            let text = String::from_utf8(body.to_vec())
                .with_context(|| format!("GET {url}: the body is not UTF-8"))?;
            out.push((url.clone(), text));
        }
        Ok(out)
    })
}

/// The offer files for `services` under `base` (e.g. `https://pricing.us-east-1.amazonaws.com`),
/// limited to `regions` when given: (url, text) pairs, every one fetched before any is used.
pub fn fetch_offers(
    base: &str,
    services: &[String],
    regions: &[String],
) -> Result<Vec<(String, String)>> {
    let base = base.trim_end_matches('/');
    let index_urls: Vec<String> = services
        .iter()
        .map(|s| format!("{base}{}", pricelist::region_index_path(s)))
        .collect();
    let mut offer_urls = Vec::new();
    for (url, text) in get_all(&index_urls)? {
        for (region, path) in pricelist::parse_region_index(&url, &text)? {
            if regions.is_empty() || regions.contains(&region) {
                offer_urls.push(format!("{base}{path}"));
            }
        }
    }
    if offer_urls.is_empty() {
        anyhow::bail!("no offer file for Regions {regions:?} in {index_urls:?}");
    }
    get_all(&offer_urls)
}
