//! The price overlay in S3: one versioned object (`prices/overlay.toml` in the stack's lake
//! bucket, whose versioning keeps every earlier overlay) that the daily refresh and `spendguard
//! prices push` write, and that the transform and the aggregator read with a conditional GET
//! (ETag) at most once a minute. A failed read, or an object that does not load, keeps the
//! prices in force and is said once per object version.

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use spendguard_core::{CatalogueError, Pricer};
use std::sync::Mutex;

/// Where the overlay in force lives in the bucket.
pub const OVERLAY_KEY: &str = "prices/overlay.toml";
/// Where a refresh that needs an operator leaves its candidate (`spendguard prices push` it
/// after checking, or let the next day's refresh try again).
pub const HELD_KEY: &str = "prices/held/overlay.toml";
/// The transform and the aggregator read the overlay at most this often.
pub const POLL_MS: i64 = 60_000;
/// The name the overlay has in catalogue errors and explanations.
pub const OVERLAY_NAME: &str = "s3 price overlay";

/// An S3 call that failed.
#[derive(Debug, thiserror::Error)]
#[error("s3 {op} s3://{bucket}/{key}: {message}")]
pub struct ObjectError {
    pub op: &'static str,
    pub bucket: String,
    pub key: String,
    pub message: String,
}

/// The overlay object as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub text: String,
    pub etag: String,
    pub version_id: Option<String>,
    /// Epoch ms.
    pub last_modified_ms: Option<i64>,
}

/// A conditional read's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The ETag given still matches.
    NotModified,
    /// No object (nothing pushed or refreshed yet).
    Missing,
    Body(Stored),
}

/// What a write left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub key: String,
    pub etag: Option<String>,
    pub version_id: Option<String>,
}

/// One object of the bucket.
#[derive(Debug, Clone)]
pub struct PriceObject {
    pub client: aws_sdk_s3::Client,
    pub bucket: String,
    pub key: String,
}

impl PriceObject {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> PriceObject {
        PriceObject {
            client,
            bucket: bucket.into(),
            key: OVERLAY_KEY.into(),
        }
    }

    fn err<E: std::error::Error + 'static, R: std::fmt::Debug>(
        &self,
        op: &'static str,
        key: &str,
        e: SdkError<E, R>,
    ) -> ObjectError {
        ObjectError {
            op,
            bucket: self.bucket.clone(),
            key: key.to_string(),
            message: DisplayErrorContext(&e).to_string(),
        }
    }

    /// Reads the object; with `if_none_match`, only when its ETag changed.
    pub async fn get(&self, if_none_match: Option<&str>) -> Result<Fetched, ObjectError> {
        let mut req = self.client.get_object().bucket(&self.bucket).key(&self.key);
        if let Some(etag) = if_none_match {
            req = req.if_none_match(etag);
        }
        let out = match req.send().await {
            Ok(o) => o,
            Err(SdkError::ServiceError(s)) if s.raw().status().as_u16() == 304 => {
                return Ok(Fetched::NotModified)
            }
            Err(SdkError::ServiceError(s))
                if s.err().is_no_such_key() || s.err().code() == Some("NoSuchKey") =>
            {
                return Ok(Fetched::Missing)
            }
            Err(e) => return Err(self.err("GetObject", &self.key, e)),
        };
        let etag = out.e_tag().unwrap_or_default().to_string();
        let version_id = out.version_id().map(str::to_string);
        let last_modified_ms = out.last_modified().and_then(|t| t.to_millis().ok());
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| ObjectError {
                op: "GetObject",
                bucket: self.bucket.clone(),
                key: self.key.clone(),
                message: format!("reading the body: {e}"),
            })?
            .into_bytes();
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| ObjectError {
            op: "GetObject",
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            message: "the object is not UTF-8 text".into(),
        })?;
        Ok(Fetched::Body(Stored {
            text,
            etag,
            version_id,
            last_modified_ms,
        }))
    }

    /// Writes `text` as the object (`key`: this object's key, or another, e.g. [`HELD_KEY`]).
    pub async fn put(&self, key: &str, text: &str) -> Result<Written, ObjectError> {
        let out = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/toml")
            .body(text.as_bytes().to_vec().into())
            .send()
            .await
            .map_err(|e| self.err("PutObject", key, e))?;
        Ok(Written {
            key: key.to_string(),
            etag: out.e_tag().map(str::to_string),
            version_id: out.version_id().map(str::to_string),
        })
    }
}

/// What one poll means for the prices in force.
#[derive(Debug)]
pub enum Update {
    /// Not due, not modified, or nothing stored: keep what is in force.
    Unchanged,
    /// A new overlay that loads: price with this from now on.
    New {
        pricer: Box<Pricer>,
        etag: String,
        version_id: Option<String>,
    },
    /// The read failed, or the object does not load: the prices in force are kept.
    Kept { why: String },
}

impl Update {
    /// Logs it (nothing when unchanged).
    pub fn say(&self, bucket: &str) {
        match self {
            Update::Unchanged => {}
            Update::New {
                etag, version_id, ..
            } => tracing::info!(
                bucket,
                key = OVERLAY_KEY,
                etag,
                versionId = version_id.as_deref(),
                "price overlay loaded"
            ),
            Update::Kept { why } => tracing::error!(
                bucket,
                key = OVERLAY_KEY,
                error = why,
                "price overlay not loaded; keeping the prices in force"
            ),
        }
    }
}

/// The transform's and the aggregator's view of the overlay: a conditional GET at most every
/// `interval_ms`.
#[derive(Debug)]
pub struct PricesSource {
    pub object: PriceObject,
    pub interval_ms: i64,
    /// (when last read, the ETag last seen: loaded, or refused once and not read again).
    seen: Mutex<(i64, Option<String>)>,
}

impl PricesSource {
    pub fn new(object: PriceObject, interval_ms: i64) -> PricesSource {
        PricesSource {
            object,
            interval_ms,
            seen: Mutex::new((i64::MIN, None)),
        }
    }

    /// Reads the overlay when due and, when it changed, builds the pricer with `build` (the
    /// caller's catalogue files plus this overlay as (name, text)).
    pub async fn poll(
        &self,
        now_ms: i64,
        build: impl Fn(&str, &str) -> Result<Pricer, CatalogueError>,
    ) -> Update {
        let (checked_at, etag) = self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if now_ms.saturating_sub(checked_at) < self.interval_ms {
            return Update::Unchanged;
        }
        let fetched = self.object.get(etag.as_deref()).await;
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        // a failed read is tried again after the interval, not on every batch
        seen.0 = now_ms;
        match fetched {
            Ok(Fetched::NotModified | Fetched::Missing) => Update::Unchanged,
            Err(e) => Update::Kept { why: e.to_string() },
            Ok(Fetched::Body(s)) => {
                // said once per object version: a bad overlay is not read again until it changes
                seen.1 = Some(s.etag.clone());
                match build(OVERLAY_NAME, &s.text) {
                    Ok(p) => Update::New {
                        pricer: Box::new(p),
                        etag: s.etag,
                        version_id: s.version_id,
                    },
                    Err(e) => Update::Kept {
                        why: format!("version {:?} does not load: {e}", s.version_id),
                    },
                }
            }
        }
    }
}
