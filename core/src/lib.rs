//! spendguard-core: the pure core. Decode (base64, capped multi-member gunzip), parse (CloudWatch
//! envelope with simd-json in place, each Bedrock record with a typed skip-the-bodies parse),
//! resolve (model id forms, principals) and price (versioned, effective-dated catalogue, exact
//! decimals). No AWS SDK, no Lambda runtime, no tokio: a CI check proves it.

pub mod budget;
pub mod catalogue;
pub mod clock;
pub mod decode;
pub mod enforce;
pub mod inflate;
pub mod ledger;
pub mod model;
pub mod pipeline;
pub mod price;
pub mod principal;
pub mod reenvelope;
pub mod window;

#[cfg(feature = "baseline")]
pub mod baseline;
#[cfg(feature = "synth")]
pub mod synth;

pub use catalogue::{Catalogue, CatalogueError};
pub use decode::{DecodeError, Decoder};
pub use pipeline::{Pipeline, PipelineError, RecordOutcome};
pub use price::{PriceError, Pricer, PricerConfig};
