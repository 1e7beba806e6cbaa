//! Normalises a logged `modelId` (base id, geo/global profile id, inference-profile ARN,
//! foundation-model ARN, application-inference-profile ARN, provisioned/custom model ARN) into
//! what pricing needs: the base model id and the endpoint tier.

use spendguard_schemas::EndpointTier;

/// Geography prefixes of system-defined cross-Region inference profiles: the ones AWS documents
/// (`us.`, `eu.`, `apac.`, `jp.`, `au.`, `us-gov.`), India (`in.`, e.g. `in.anthropic.claude-opus-5`,
/// priced by genai-prices) and Canada (`ca.`). Longest first, so `us-gov.` wins over `us.`.
const GEO_PREFIXES: &[&str] = &["us-gov.", "apac.", "us.", "eu.", "jp.", "au.", "ca.", "in."];

/// What a `modelId` refers to, for pricing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelRef<'a> {
    /// A token-priced base model reached through `tier`.
    Base { id: &'a str, tier: EndpointTier },
    /// An application inference profile: opaque, resolved through configuration.
    ApplicationProfile { arn: &'a str },
    /// Provisioned throughput, custom or imported models: billed by the hour / per model unit,
    /// not per token, so invocation logs cannot price them.
    NotTokenPriced { kind: &'a str },
}

/// Resolves a logged `modelId`.
pub fn resolve(model_id: &str) -> ModelRef<'_> {
    let model_id = model_id.trim();
    if let Some(rest) = model_id.strip_prefix("arn:") {
        // arn:partition:service:region:account:resource (the resource may contain ':').
        let mut parts = rest.splitn(5, ':');
        let resource = parts.nth(4).unwrap_or("");
        let (kind, name) = resource.split_once('/').unwrap_or((resource, ""));
        return match kind {
            "foundation-model" => ModelRef::Base {
                id: name,
                tier: EndpointTier::InRegion,
            },
            "inference-profile" => profile_id(name),
            "application-inference-profile" => ModelRef::ApplicationProfile { arn: model_id },
            _ => ModelRef::NotTokenPriced { kind },
        };
    }
    profile_id(model_id)
}

/// Splits a (possibly prefixed) model/profile id into base id and tier.
fn profile_id(id: &str) -> ModelRef<'_> {
    if let Some(base) = id.strip_prefix("global.") {
        return ModelRef::Base {
            id: base,
            tier: EndpointTier::Global,
        };
    }
    for p in GEO_PREFIXES {
        if let Some(base) = id.strip_prefix(p) {
            // Only a prefix if what follows is itself `provider.model`.
            if base.contains('.') {
                return ModelRef::Base {
                    id: base,
                    tier: EndpointTier::Geo,
                };
            }
        }
    }
    ModelRef::Base {
        id,
        tier: EndpointTier::InRegion,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EndpointTier::*;

    fn base(id: &str, tier: EndpointTier) -> ModelRef<'_> {
        ModelRef::Base { id, tier }
    }

    #[test]
    fn every_logged_form() {
        let s45 = "anthropic.claude-sonnet-4-5-20250929-v1:0";
        assert_eq!(resolve(s45), base(s45, InRegion));
        assert_eq!(resolve(&format!("us.{s45}")), base(s45, Geo));
        assert_eq!(resolve(&format!("eu.{s45}")), base(s45, Geo));
        assert_eq!(resolve(&format!("apac.{s45}")), base(s45, Geo));
        assert_eq!(resolve(&format!("jp.{s45}")), base(s45, Geo));
        assert_eq!(resolve(&format!("us-gov.{s45}")), base(s45, Geo));
        assert_eq!(resolve(&format!("in.{s45}")), base(s45, Geo));
        assert_eq!(resolve(&format!("ca.{s45}")), base(s45, Geo));
        assert_eq!(
            resolve(
                "arn:aws:bedrock:ap-south-1:111122223333:inference-profile/in.openai.gpt-6-sol"
            ),
            base("openai.gpt-6-sol", Geo)
        );
        assert_eq!(resolve(&format!("global.{s45}")), base(s45, Global));
        assert_eq!(
            resolve("arn:aws:bedrock:us-west-2:565521294060:inference-profile/global.anthropic.claude-opus-4-7"),
            base("anthropic.claude-opus-4-7", Global)
        );
        assert_eq!(
            resolve("arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.claude-opus-4-5-20251101-v1:0"),
            base("anthropic.claude-opus-4-5-20251101-v1:0", Geo)
        );
        assert_eq!(
            resolve("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"),
            base("amazon.nova-lite-v1:0", InRegion)
        );
        let app = "arn:aws:bedrock:us-east-2:111122223333:application-inference-profile/abc123";
        assert_eq!(resolve(app), ModelRef::ApplicationProfile { arn: app });
        assert_eq!(
            resolve("arn:aws:bedrock:us-east-1:111122223333:provisioned-model/a1b2c3"),
            ModelRef::NotTokenPriced {
                kind: "provisioned-model"
            }
        );
        assert_eq!(
            resolve("arn:aws:bedrock:us-east-1:111122223333:custom-model/amazon.titan/x"),
            ModelRef::NotTokenPriced {
                kind: "custom-model"
            }
        );
        assert_eq!(
            resolve("arn:aws-us-gov:bedrock:us-gov-west-1::foundation-model/meta.llama3-8b-instruct-v1:0"),
            base("meta.llama3-8b-instruct-v1:0", InRegion)
        );
    }

    #[test]
    fn a_dotted_base_id_is_not_a_prefix() {
        // "us.x" without a provider segment after it is not a profile id.
        assert_eq!(resolve("us.something"), base("us.something", InRegion));
        assert_eq!(resolve("deepseek.v3.2"), base("deepseek.v3.2", InRegion));
        assert_eq!(resolve(""), base("", InRegion));
    }
}
