//! spendguard-core: the pure core. Decode (base64, capped multi-member gunzip), parse (CloudWatch
//! envelope and each Bedrock record in one pass through the escapes, with simd-json and a typed
//! serde_json parse as the strict path for anything unusual),
//! resolve (model id forms, principals) and price (versioned, effective-dated catalogue, exact
//! decimals). No AWS SDK, no Lambda runtime, no tokio: a CI check proves it.

#[cfg(feature = "test-util")]
pub mod alloc_count;
pub mod budget;
pub mod catalogue;
pub mod clock;
pub mod decode;
pub mod enforce;
pub mod explain;
pub mod inflate;
pub mod ledger;
pub mod model;
pub mod pipeline;
pub mod price;
pub mod pricelist;
pub mod principal;
pub mod reenvelope;
pub mod scan;
pub mod timeline;
pub mod window;

#[cfg(feature = "baseline")]
pub mod baseline;
#[cfg(feature = "synth")]
pub mod synth;

pub use catalogue::{Catalogue, CatalogueError};
pub use decode::{DecodeError, Decoder};
pub use pipeline::{Pipeline, PipelineError, RecordOutcome};
pub use price::{PriceError, Pricer, PricerConfig};
pub use scan::{EventBody, Scanned, ScannedEvent};
