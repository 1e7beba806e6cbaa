//! The AWS adapter: the [`Sink`] port on Kinesis `PutRecords` and Firehose `PutRecordBatch`, and
//! SDK client construction (rustls on ring: no aws-lc build; the SDK's own retries are off so
//! that [`crate::send`] alone decides what is retried, with the blueprint's 20 attempts).

use crate::send::{Entry, PutError, Sink, Target};
use aws_sdk_kinesis::config::http::HttpResponse;
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::primitives::Blob;

/// Kinesis and Firehose clients.
#[derive(Debug, Clone)]
pub struct AwsSink {
    pub kinesis: aws_sdk_kinesis::Client,
    pub firehose: aws_sdk_firehose::Client,
}

/// The shared SDK configuration (it lives in the adapter crate; re-exported for callers).
pub use spendguard_aws::sdk_config;

impl AwsSink {
    pub fn new(conf: &aws_config::SdkConfig) -> Self {
        AwsSink {
            kinesis: aws_sdk_kinesis::Client::new(conf),
            firehose: aws_sdk_firehose::Client::new(conf),
        }
    }
}

fn classify<E>(err: SdkError<E, HttpResponse>) -> PutError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let text = || aws_sdk_kinesis::error::DisplayErrorContext(&err).to_string();
    match &err {
        SdkError::ConstructionFailure(_) => PutError::Fatal(text()),
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            PutError::Retryable(text())
        }
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or("unknown");
            let status = s.raw().status().as_u16();
            // The code and message say it all; the full context repeats the raw response.
            let msg = format!(
                "{code} (HTTP {status}): {}",
                s.err().message().unwrap_or_default()
            );
            if spendguard_aws::retry::service_error_is_retryable(code, status) {
                PutError::Retryable(msg)
            } else {
                PutError::Fatal(msg)
            }
        }
        // a future SDK error kind: transient (the one rule), attempts stay bounded
        _ if spendguard_aws::retry::sdk_error_is_retryable(&err) => PutError::Retryable(text()),
        _ => PutError::Fatal(text()),
    }
}

impl Sink for AwsSink {
    async fn put(
        &self,
        target: &Target,
        entries: &[&Entry],
    ) -> Result<Vec<Option<String>>, PutError> {
        match target {
            Target::Kinesis { stream } => {
                let mut recs = Vec::with_capacity(entries.len());
                for e in entries {
                    recs.push(
                        aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                            .data(Blob::new(e.data.clone()))
                            .partition_key(&e.partition_key)
                            .build()
                            .map_err(|b| PutError::Fatal(b.to_string()))?,
                    );
                }
                let out = self
                    .kinesis
                    .put_records()
                    .stream_name(stream)
                    .set_records(Some(recs))
                    .send()
                    .await
                    .map_err(classify)?;
                Ok(out
                    .records()
                    .iter()
                    .map(|r| r.error_code().map(|c| entry_error(c, r.error_message())))
                    .collect())
            }
            Target::Firehose { stream } => {
                let mut recs = Vec::with_capacity(entries.len());
                for e in entries {
                    recs.push(
                        aws_sdk_firehose::types::Record::builder()
                            .data(aws_sdk_firehose::primitives::Blob::new(e.data.clone()))
                            .build()
                            .map_err(|b| PutError::Fatal(b.to_string()))?,
                    );
                }
                let out = self
                    .firehose
                    .put_record_batch()
                    .delivery_stream_name(stream)
                    .set_records(Some(recs))
                    .send()
                    .await
                    .map_err(classify)?;
                Ok(out
                    .request_responses()
                    .iter()
                    .map(|r| r.error_code().map(|c| entry_error(c, r.error_message())))
                    .collect())
            }
        }
    }
}

fn entry_error(code: &str, message: Option<&str>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!("{code}: {m}"),
        _ => code.to_string(),
    }
}
