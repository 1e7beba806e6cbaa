//! Sending records to a stream: batching to the service limits, retrying partial failures with
//! the one capped, full-jitter backoff (`spendguard_aws::retry`), and telling retryable from fatal errors. Shared by
//! the transform's re-ingest and `spendguard replay`; the wire calls sit behind [`Sink`]
//! (implemented with the AWS SDK in `aws.rs`).

use spendguard_aws::retry::Backoff;
use std::future::Future;
use std::time::Instant;

/// Where records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A Kinesis data stream (`PutRecords`, with a partition key per record).
    Kinesis { stream: String },
    /// A DirectPut Firehose delivery stream (`PutRecordBatch`). Firehose refuses PutRecordBatch
    /// on a stream that reads from Kinesis.
    Firehose { stream: String },
}

/// Per-call limits of the put API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_records: usize,
    /// Whole request, data plus partition keys where the API counts them.
    pub max_request_bytes: usize,
    /// One record, data plus partition key where the API counts it.
    pub max_record_bytes: usize,
    pub counts_partition_key: bool,
}

/// Kinesis `PutRecords`: 500 records, 5 MiB per request and 1 MiB per record, partition keys
/// included. Streams opted in to larger records (up to 10 MiB) are not supported yet: a record
/// over 1 MiB is never sent (and a re-ingest that needs it becomes `ProcessingFailed`).
pub const KINESIS_LIMITS: Limits = Limits {
    max_records: 500,
    max_request_bytes: 5 << 20,
    max_record_bytes: 1 << 20,
    counts_partition_key: true,
};

/// Firehose `PutRecordBatch`: 500 records, 4 MiB per call, 1,000 KiB per record.
pub const FIREHOSE_LIMITS: Limits = Limits {
    max_records: 500,
    max_request_bytes: 4 << 20,
    max_record_bytes: 1000 << 10,
    counts_partition_key: false,
};

impl Target {
    pub fn limits(&self) -> Limits {
        match self {
            Target::Kinesis { .. } => KINESIS_LIMITS,
            Target::Firehose { .. } => FIREHOSE_LIMITS,
        }
    }

    /// The stream's name (last path segment of its ARN, or the name as given).
    pub fn stream(&self) -> &str {
        match self {
            Target::Kinesis { stream } | Target::Firehose { stream } => stream,
        }
    }

    /// Parses `kinesis:NAME` / `firehose:NAME` (the CLI's `--to`); an ARN is accepted as NAME.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let (kind, name) = spec
            .split_once(':')
            .ok_or_else(|| format!("`{spec}`: expected kinesis:STREAM or firehose:STREAM"))?;
        let stream = stream_name_from_arn(name).unwrap_or(name).to_string();
        if stream.is_empty() {
            return Err(format!("`{spec}`: empty stream name"));
        }
        match kind {
            "kinesis" => Ok(Target::Kinesis { stream }),
            "firehose" => Ok(Target::Firehose { stream }),
            other => Err(format!(
                "`{other}`: unknown target kind (kinesis or firehose)"
            )),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Kinesis { stream } => write!(f, "kinesis:{stream}"),
            Target::Firehose { stream } => write!(f, "firehose:{stream}"),
        }
    }
}

/// `arn:aws:kinesis:us-east-1:111122223333:stream/NAME` -> `NAME` (also `deliverystream/NAME`).
pub fn stream_name_from_arn(arn: &str) -> Option<&str> {
    if !arn.starts_with("arn:") {
        return None;
    }
    let resource = arn.splitn(6, ':').nth(5)?;
    let (_, name) = resource.split_once('/')?;
    (!name.is_empty()).then_some(name)
}

/// Error codes worth another try, whole-call or per record: the one list every adapter uses.
pub use spendguard_aws::retry::RETRYABLE_CODES;

/// Whether a per-record error (`CODE` or `CODE: message`) may clear on a retry.
pub fn entry_error_is_retryable(err: &str) -> bool {
    let code = err.split(':').next().unwrap_or_default().trim();
    RETRYABLE_CODES.contains(&code)
}

/// One record to send. `tag` is the caller's own index (which job or input it belongs to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub data: Vec<u8>,
    pub partition_key: String,
    pub tag: usize,
}

impl Entry {
    fn size(&self, limits: &Limits) -> usize {
        self.data.len()
            + if limits.counts_partition_key {
                self.partition_key.len()
            } else {
                0
            }
    }
}

/// A whole call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PutError {
    /// Throttling, a 5xx, a timeout or a dropped connection: the same call may succeed later.
    #[error("retryable: {0}")]
    Retryable(String),
    /// Missing stream, access denied, a malformed request: retrying cannot help.
    #[error("fatal: {0}")]
    Fatal(String),
}

/// The put API. `put` returns one slot per entry, in order: `None` when the entry was accepted,
/// `Some(error code)` when that entry failed (a partial failure).
pub trait Sink {
    fn put(
        &self,
        target: &Target,
        entries: &[&Entry],
    ) -> impl Future<Output = Result<Vec<Option<String>>, PutError>>;
}

pub use spendguard_aws::retry::RetryPolicy;

/// What happened to a set of entries. Every entry ends up in exactly one of `sent` / `failed`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReport {
    /// Indices (into the caller's slice) of the entries accepted.
    pub sent: Vec<usize>,
    /// Indices of the entries given up on, with the last error.
    pub failed: Vec<(usize, String)>,
    pub calls: usize,
    /// Entries sent again after a failure.
    pub retried_entries: usize,
    pub bytes_sent: usize,
}

/// Splits `pending` (indices into `entries`) into calls that respect `limits`, in order.
pub fn batches(entries: &[Entry], pending: &[usize], limits: &Limits) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut cur: Vec<usize> = Vec::new();
    let mut bytes = 0usize;
    for &i in pending {
        let s = entries[i].size(limits);
        if !cur.is_empty()
            && (cur.len() == limits.max_records || bytes + s > limits.max_request_bytes)
        {
            out.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        cur.push(i);
        bytes += s;
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Sends every entry, retrying partial and retryable failures until `policy.max_attempts` or the
/// deadline. An entry larger than the per-record limit fails at once (no call can accept it).
pub async fn send_all<S: Sink>(
    sink: &S,
    target: &Target,
    entries: &[Entry],
    policy: &RetryPolicy,
    deadline: Option<Instant>,
) -> SendReport {
    let limits = target.limits();
    let mut report = SendReport::default();
    let mut pending: Vec<usize> = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let s = e.size(&limits);
        if s > limits.max_record_bytes {
            report.failed.push((
                i,
                format!(
                    "record of {s} bytes exceeds the {} byte limit per record",
                    limits.max_record_bytes
                ),
            ));
        } else {
            pending.push(i);
        }
    }
    let mut last_error: Vec<Option<String>> = vec![None; entries.len()];
    let mut backoff = Backoff::seeded();
    let mut attempt = 0u32;
    while !pending.is_empty() {
        attempt += 1;
        if attempt > 1 {
            report.retried_entries += pending.len();
        }
        let mut next = Vec::new();
        for batch in batches(entries, &pending, &limits) {
            // Past the deadline no call starts, and a call never outlives it: a Lambda timeout
            // would fail the whole batch and re-send what was already re-ingested.
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                for &i in &batch {
                    let last = last_error[i]
                        .take()
                        .unwrap_or_else(|| "no call made".into());
                    report.failed.push((
                        i,
                        format!("out of time after {} attempts: {last}", attempt - 1),
                    ));
                }
                continue;
            }
            let refs: Vec<&Entry> = batch.iter().map(|&i| &entries[i]).collect();
            report.calls += 1;
            let answer = match left {
                None => sink.put(target, &refs).await,
                Some(l) => tokio::time::timeout(l, sink.put(target, &refs))
                    .await
                    .unwrap_or_else(|_| {
                        Err(PutError::Retryable(format!(
                            "no answer within the {} ms left before the deadline",
                            l.as_millis()
                        )))
                    }),
            };
            match answer {
                Ok(codes) if codes.len() == batch.len() => {
                    for (&i, code) in batch.iter().zip(codes) {
                        match code {
                            None => {
                                report.sent.push(i);
                                report.bytes_sent += entries[i].data.len();
                            }
                            Some(c) if entry_error_is_retryable(&c) => {
                                last_error[i] = Some(c);
                                next.push(i);
                            }
                            Some(c) => report.failed.push((i, c)),
                        }
                    }
                }
                Ok(codes) => {
                    let msg = format!(
                        "the service answered {} results for {} records",
                        codes.len(),
                        batch.len()
                    );
                    for &i in &batch {
                        last_error[i] = Some(msg.clone());
                        next.push(i);
                    }
                }
                Err(PutError::Retryable(m)) => {
                    for &i in &batch {
                        last_error[i] = Some(m.clone());
                        next.push(i);
                    }
                }
                Err(PutError::Fatal(m)) => {
                    for &i in &batch {
                        report.failed.push((i, m.clone()));
                    }
                }
            }
        }
        pending = next;
        if pending.is_empty() {
            break;
        }
        let delay = backoff.delay(policy, attempt);
        let out_of_time = deadline.is_some_and(|d| Instant::now() + delay >= d);
        if attempt >= policy.max_attempts || out_of_time {
            let why = if out_of_time {
                "out of time"
            } else {
                "out of attempts"
            };
            for i in pending.drain(..) {
                let last = last_error[i].take().unwrap_or_default();
                report
                    .failed
                    .push((i, format!("{why} after {attempt} attempts: {last}")));
            }
            break;
        }
        tokio::time::sleep(delay).await;
    }
    report.sent.sort_unstable();
    report.failed.sort_by_key(|f| f.0);
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::time::Duration;

    fn entry(n: usize, tag: usize) -> Entry {
        Entry {
            data: vec![b'x'; n],
            partition_key: "pk".into(),
            tag,
        }
    }

    #[test]
    fn batches_respect_count_and_byte_limits_in_order() {
        let entries: Vec<Entry> = (0..1200).map(|i| entry(10, i)).collect();
        let all: Vec<usize> = (0..entries.len()).collect();
        let b = batches(&entries, &all, &KINESIS_LIMITS);
        assert_eq!(
            b.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![500, 500, 200]
        );
        assert_eq!(b.concat(), all);

        // 1 MiB - 2 (plus a 2-byte key) each: five fit in 5 MiB, the sixth starts a new call.
        let big: Vec<Entry> = (0..7).map(|i| entry((1 << 20) - 2, i)).collect();
        let all: Vec<usize> = (0..big.len()).collect();
        let b = batches(&big, &all, &KINESIS_LIMITS);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![5, 2]);
        let b = batches(&big, &all, &FIREHOSE_LIMITS);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 3]);
    }

    #[test]
    fn arns_and_specs_parse() {
        assert_eq!(
            stream_name_from_arn("arn:aws:kinesis:us-east-1:111122223333:stream/bedrock-logs"),
            Some("bedrock-logs")
        );
        assert_eq!(
            stream_name_from_arn("arn:aws:firehose:eu-west-1:111122223333:deliverystream/lake"),
            Some("lake")
        );
        assert_eq!(stream_name_from_arn("bedrock-logs"), None);
        assert_eq!(
            Target::parse("kinesis:arn:aws:kinesis:us-east-1:1:stream/s").unwrap(),
            Target::Kinesis { stream: "s".into() }
        );
        assert_eq!(
            Target::parse("firehose:lake").unwrap(),
            Target::Firehose {
                stream: "lake".into()
            }
        );
        assert!(Target::parse("sqs:q").is_err());
        assert!(Target::parse("kinesis:").is_err());
        assert!(Target::parse("kinesis").is_err());
    }

    /// Scripted answers per call, recording what each call carried.
    struct Scripted {
        answers: RefCell<Vec<Result<Vec<Option<String>>, PutError>>>,
        calls: RefCell<Vec<Vec<usize>>>,
    }

    impl Sink for Scripted {
        async fn put(
            &self,
            _t: &Target,
            entries: &[&Entry],
        ) -> Result<Vec<Option<String>>, PutError> {
            self.calls
                .borrow_mut()
                .push(entries.iter().map(|e| e.tag).collect());
            let mut a = self.answers.borrow_mut();
            if a.is_empty() {
                Ok(vec![None; entries.len()])
            } else {
                a.remove(0)
            }
        }
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        }
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn partial_failures_are_retried_alone_until_accepted() {
        let sink = Scripted {
            answers: RefCell::new(vec![
                Ok(vec![
                    None,
                    Some("ProvisionedThroughputExceededException".into()),
                    None,
                ]),
                Err(PutError::Retryable("throttled".into())),
            ]),
            calls: RefCell::new(vec![]),
        };
        let entries: Vec<Entry> = (0..3).map(|i| entry(5, i)).collect();
        let t = Target::Kinesis { stream: "s".into() };
        let r = block_on(send_all(&sink, &t, &entries, &fast(), None));
        assert_eq!(r.sent, vec![0, 1, 2]);
        assert!(r.failed.is_empty());
        assert_eq!(*sink.calls.borrow(), vec![vec![0, 1, 2], vec![1], vec![1]]);
        assert_eq!(r.calls, 3);
        assert_eq!(r.retried_entries, 2);
    }

    #[test]
    fn fatal_errors_are_not_retried_and_attempts_are_bounded() {
        let sink = Scripted {
            answers: RefCell::new(vec![
                Err(PutError::Fatal("ResourceNotFoundException".into())),
                Ok(vec![Some("InternalFailure".into())]),
                Ok(vec![Some("InternalFailure".into())]),
                Ok(vec![Some("InternalFailure".into())]),
            ]),
            calls: RefCell::new(vec![]),
        };
        let t = Target::Firehose { stream: "f".into() };
        let p = fast();
        let small = vec![entry(4 << 20, 0), entry(1, 1)];
        let r = block_on(send_all(&sink, &t, &small, &p, None));
        // The 4 MiB entry is over the per-record limit: failed without a call.
        assert_eq!(r.failed[0].0, 0);
        assert!(r.failed[0].1.contains("limit per record"), "{:?}", r.failed);
        // The other met a fatal error: one call, no retry.
        assert_eq!(r.failed[1].0, 1);
        assert!(r.failed[1].1.contains("ResourceNotFoundException"));
        assert_eq!(r.calls, 1);
        assert!(r.sent.is_empty());

        // A per-record error that cannot clear (a KMS key problem) fails at once.
        let kms = Scripted {
            answers: RefCell::new(vec![Ok(vec![
                Some("KMSAccessDeniedException: denied".into()),
                None,
            ])]),
            calls: RefCell::new(vec![]),
        };
        let r = block_on(send_all(&kms, &t, &[entry(1, 0), entry(1, 1)], &p, None));
        assert_eq!(r.calls, 1);
        assert_eq!(r.sent, vec![1]);
        assert_eq!(
            r.failed,
            vec![(0, "KMSAccessDeniedException: denied".to_string())]
        );
        assert!(entry_error_is_retryable(
            "ProvisionedThroughputExceededException: slow down"
        ));
        assert!(entry_error_is_retryable("InternalFailure"));

        // A partial failure that never clears ends after max_attempts calls.
        let r = block_on(send_all(&sink, &t, &[entry(1, 7)], &p, None));
        assert_eq!(r.calls, 3);
        assert_eq!(r.failed.len(), 1);
        assert_eq!(
            r.failed[0].1,
            "out of attempts after 3 attempts: InternalFailure"
        );
    }

    #[test]
    fn the_deadline_stops_retries() {
        let sink = Scripted {
            answers: RefCell::new(vec![Err(PutError::Retryable("slow down".into())); 50]),
            calls: RefCell::new(vec![]),
        };
        let entries = vec![entry(5, 0)];
        let t = Target::Kinesis { stream: "s".into() };
        let mut p = fast();
        p.max_attempts = 50;
        p.base_delay = Duration::from_millis(100);
        p.max_delay = Duration::from_millis(100);
        let soon = Instant::now() + Duration::from_millis(300);
        let r = block_on(send_all(&sink, &t, &entries, &p, Some(soon)));
        assert!(
            Instant::now() < soon + Duration::from_millis(200),
            "stopped at the deadline"
        );
        assert!((1..50).contains(&r.calls), "{}", r.calls);
        assert!(
            r.failed[0].1.starts_with("out of time after") && r.failed[0].1.ends_with("slow down"),
            "{:?}",
            r.failed
        );

        // past the deadline, no call starts at all
        let r = block_on(send_all(&sink, &t, &entries, &p, Some(Instant::now())));
        assert_eq!(r.calls, 0);
        assert_eq!(r.failed[0].1, "out of time after 0 attempts: no call made");
    }
}
