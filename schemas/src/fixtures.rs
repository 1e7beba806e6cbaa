//! The fixture files under `schemas/fixtures/`, exported as bytes for tests in other crates
//! (feature `test-util`). Names follow `example-<source>-<case>.json`.

macro_rules! fixtures {
    ($($name:ident => $file:literal),+ $(,)?) => {
        $(
            #[doc = concat!("`fixtures/", $file, "`")]
            pub const $name: &str = include_str!(concat!("../fixtures/", $file));
        )+
        /// Every fixture as `(file name, contents)`.
        pub const ALL: &[(&str, &str)] = &[$(($file, $name)),+];
    };
}

fixtures! {
    BEDROCK_CONVERSE_NOVA_CACHE_READ => "example-bedrock-converse-nova-cache-read.json",
    BEDROCK_CONVERSE_STREAM_1H => "example-bedrock-converse-stream-1h-cache.json",
    BEDROCK_INVOKE_ANTHROPIC_CACHE => "example-bedrock-invoke-anthropic-cache-creation.json",
    BEDROCK_INVOKE_STREAM_PROFILE_ARN => "example-bedrock-invoke-stream-profile-arn-offloaded.json",
    BEDROCK_CONVERSE_GLOBAL => "example-bedrock-converse-global-profile.json",
    BEDROCK_CONVERSE_EU => "example-bedrock-converse-eu-profile.json",
    BEDROCK_CONVERSE_APAC => "example-bedrock-converse-apac-profile.json",
    BEDROCK_INVOKE_FOUNDATION_ARN => "example-bedrock-invoke-foundation-model-arn.json",
    BEDROCK_CONVERSE_APP_PROFILE => "example-bedrock-converse-application-profile-arn.json",
    BEDROCK_INVOKE_PROVISIONED => "example-bedrock-invoke-provisioned-model-arn.json",
    BEDROCK_ERROR => "example-bedrock-error.json",
    BEDROCK_EMBEDDINGS => "example-bedrock-invoke-embeddings.json",
    BEDROCK_ASSUMED_ROLE_METADATA => "example-bedrock-converse-assumed-role-metadata.json",
    BEDROCK_LONG_CONTEXT => "example-bedrock-converse-long-context.json",
    CWL_DATA_MESSAGE => "example-cwl-data-message.json",
    CWL_CONTROL_MESSAGE => "example-cwl-control-message.json",
    FIREHOSE_KINESIS_MANY => "example-firehose-kinesis-many.json",
    FIREHOSE_KINESIS_BAD => "example-firehose-kinesis-bad.json",
    FIREHOSE_KINESIS_MIDNIGHT => "example-firehose-kinesis-midnight.json",
    FIREHOSE_DIRECTPUT_MIDNIGHT => "example-firehose-directput-midnight.json",
    FIREHOSE_KINESIS_EMPTY => "example-firehose-kinesis-empty.json",
    EVENTBRIDGE_THRESHOLD => "example-eventbridge-threshold.json",
}
