//! AWS's public Price List offer files over HTTP(S): each service code's region index, then the
//! Region offer files it points to. No credentials: the files are public. Used by
//! `spendguard prices sync --url` and the stack's daily price refresh.

use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use spendguard_core::pricelist;

/// Offer files can be tens of MB (AmazonBedrock in us-east-1); refuse anything past this.
pub const MAX_BODY: usize = 512 << 20;

/// A fetch that failed: nothing fetched is used.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("loading the system's TLS roots: {0}")]
    Tls(String),
    #[error("{0}: not a URL")]
    Url(String),
    #[error("GET {url}: {why}")]
    Get { url: String, why: String },
    #[error("GET {url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error(transparent)]
    PriceList(#[from] pricelist::PriceListError),
    #[error("no offer file for Regions {regions:?} in {indexes:?}")]
    NoOffer {
        regions: Vec<String>,
        indexes: Vec<String>,
    },
}

/// GETs each URL (http or https), in order, on one client: (url, body) or the first error.
pub async fn get_all(urls: &[String]) -> Result<Vec<(String, String)>, FetchError> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| FetchError::Tls(e.to_string()))?
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Empty<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    let mut out = Vec::with_capacity(urls.len());
    for url in urls {
        let get = |why: String| FetchError::Get {
            url: url.clone(),
            why,
        };
        let uri = url.parse().map_err(|_| FetchError::Url(url.clone()))?;
        let resp = client.get(uri).await.map_err(|e| get(e.to_string()))?;
        let status = resp.status();
        let body = Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| get(format!("reading the body: {e}")))?
            .to_bytes();
        if !status.is_success() {
            return Err(FetchError::Status {
                url: url.clone(),
                status: status.as_u16(),
            });
        }
        let text =
            String::from_utf8(body.to_vec()).map_err(|_| get("the body is not UTF-8".into()))?;
        out.push((url.clone(), text));
    }
    Ok(out)
}

/// The offer files for `services` under `base` (e.g. `https://pricing.us-east-1.amazonaws.com`),
/// limited to `regions` when given: (url, text) pairs, every one fetched before any is used.
pub async fn fetch_offers(
    base: &str,
    services: &[String],
    regions: &[String],
) -> Result<Vec<(String, String)>, FetchError> {
    let base = base.trim_end_matches('/');
    let index_urls: Vec<String> = services
        .iter()
        .map(|s| format!("{base}{}", pricelist::region_index_path(s)))
        .collect();
    let mut offer_urls = Vec::new();
    for (url, text) in get_all(&index_urls).await? {
        for (region, path) in pricelist::parse_region_index(&url, &text)? {
            if regions.is_empty() || regions.contains(&region) {
                offer_urls.push(format!("{base}{path}"));
            }
        }
    }
    if offer_urls.is_empty() {
        return Err(FetchError::NoOffer {
            regions: regions.to_vec(),
            indexes: index_urls,
        });
    }
    get_all(&offer_urls).await
}

/// The service codes to fetch: `services`, or every Bedrock service code when empty.
pub fn services_or_all(services: &[String]) -> Vec<String> {
    if services.is_empty() {
        pricelist::SERVICE_CODES
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        services.to_vec()
    }
}
