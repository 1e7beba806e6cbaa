//! The DynamoDB adapter: the [`SpendLedger`] port on one table (`pk`, `sk` strings, TTL on
//! `expires_at`). Each chunk of a batch is one `TransactWriteItems`: a conditional Put of a marker
//! per `requestId` (`attribute_not_exists(pk)`) and one `ADD` per window it touches. A cancelled
//! transaction's reasons name the markers that already exist: those invocations were counted
//! before, so they leave the chunk and the rest is retried. All SDK calls live here, behind the
//! small [`Transact`] port so that tests can inject faults around the real client.
//!
//! The table's layout and item codecs are `spendguard_aws::tables`' (the evaluator and the
//! enforcer read the same items).
//!
//! Kinesis sequence numbers are never stored (they have up to 129 digits; Numbers hold 38).

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use spendguard_aws::retry::{Backoff, RetryPolicy, RETRYABLE_CODES};
use spendguard_aws::tables::{n, parse_window, s, window_key, Item};
use spendguard_core::clock::{Clock, SystemClock};
use spendguard_core::ledger::{
    conflicts_with, digest_hex, group_order, plan, Applied, Chunk, Disposition, Entry, LedgerError,
    Query, SpendLedger, WindowTotal, MAX_TRANSACTION_ITEMS,
};
use spendguard_core::window::window_end_epoch_s;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Window items outlive their window by this much (reports look back a year).
pub const WINDOW_TTL_AFTER_END_S: i64 = 400 * 86_400;

/// One action's cancellation reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub code: String,
    /// For a marker whose condition failed: the digest the existing marker holds (markers are
    /// put with `ReturnValuesOnConditionCheckFailure = ALL_OLD`, so the old item comes back).
    pub digest: Option<String>,
}

/// Why a transaction did not commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxError {
    /// `TransactionCanceledException`: one reason per action, in order (code "None" when fine).
    Cancelled(Vec<Reason>),
    /// Throttling, a 5xx, a timeout: the transaction may or may not have committed.
    Retryable(String),
    /// Validation, a missing table, access denied: retrying the same call cannot help.
    Fatal(String),
}

/// The one write the ledger needs.
pub trait Transact: Send + Sync {
    fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> impl Future<Output = Result<(), TxError>> + Send;
}

impl Transact for aws_sdk_dynamodb::Client {
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TxError> {
        match self
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) => match e.err() {
                TransactWriteItemsError::TransactionCanceledException(c) => {
                    Err(TxError::Cancelled(
                        c.cancellation_reasons()
                            .iter()
                            .map(|r| Reason {
                                code: r.code().unwrap_or("None").to_string(),
                                digest: r
                                    .item()
                                    .and_then(|i| i.get("digest"))
                                    .and_then(|v| v.as_s().ok())
                                    .cloned(),
                            })
                            .collect(),
                    ))
                }
                other => {
                    let code = other.code().unwrap_or("Unknown").to_string();
                    let status = e.raw().status().as_u16();
                    let text = format!("{code} (HTTP {status}): {}", other.message().unwrap_or(""));
                    // a 5xx is the service's fault, whatever its code: retry it
                    if spendguard_aws::retry::service_error_is_retryable(&code, status) {
                        Err(TxError::Retryable(text))
                    } else {
                        Err(TxError::Fatal(text))
                    }
                }
            },
            // timeouts, dispatch and response errors: the outcome is unknown, and markers make
            // a retry safe
            Err(e) => Err(TxError::Retryable(
                aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string(),
            )),
        }
    }
}

/// Retry behaviour for retryable transaction failures: 8 calls, 25 ms to 1 s apart (the batch
/// as a whole is retried by Lambda after that).
pub const LEDGER_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 8,
    base_delay: Duration::from_millis(25),
    max_delay: Duration::from_secs(1),
};

/// The DynamoDB ledger.
#[derive(Debug, Clone)]
pub struct DynamoLedger<T = aws_sdk_dynamodb::Client> {
    pub tx: T,
    pub reader: aws_sdk_dynamodb::Client,
    pub table: String,
    /// How long markers live: at least the stream's retention plus the longest backfill.
    pub horizon_s: i64,
    pub retry: RetryPolicy,
    /// Now, for marker TTLs: the system clock unless the handler's own clock is injected.
    pub clock: Arc<dyn Clock>,
}

impl DynamoLedger<aws_sdk_dynamodb::Client> {
    pub fn new(client: aws_sdk_dynamodb::Client, table: String, horizon_s: i64) -> Self {
        DynamoLedger::with_transact(client.clone(), client, table, horizon_s)
    }
}

impl<T: Transact> DynamoLedger<T> {
    /// Writes through `tx` (tests wrap the real client to inject faults), reads through `reader`.
    pub fn with_transact(
        tx: T,
        reader: aws_sdk_dynamodb::Client,
        table: String,
        horizon_s: i64,
    ) -> Self {
        DynamoLedger {
            tx,
            reader,
            table,
            horizon_s,
            retry: LEDGER_RETRY,
            clock: Arc::new(SystemClock),
        }
    }
}

/// DynamoDB's item size rule: attribute name bytes plus value bytes; a Number is about one byte
/// per two significant digits plus one.
fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(x) => x.len(),
        AttributeValue::N(x) => {
            let digits = x
                .trim_start_matches(['-', '0', '.'])
                .chars()
                .filter(char::is_ascii_digit)
                .count();
            digits.div_ceil(2) + 1
        }
        _ => 1,
    }
}

/// Write units of one transactional write of an item this size: 2 per started KiB.
pub fn transactional_wcu(item_bytes: usize) -> u64 {
    2 * item_bytes.div_ceil(1024).max(1) as u64
}

struct Built {
    items: Vec<TransactWriteItem>,
    wcu: u64,
}

impl<T: Transact> DynamoLedger<T> {
    fn build(&self, c: &Chunk) -> Result<Built, LedgerError> {
        let now = self.clock.now_ms().div_euclid(1000);
        let marker_ttl = now.saturating_add(self.horizon_s);
        let mut items = Vec::with_capacity(c.items());
        let mut wcu = 0;
        let bad = |e: aws_sdk_dynamodb::error::BuildError| LedgerError::fatal(e.to_string());
        for e in &c.entries {
            let item: Item = HashMap::from([
                ("pk".to_string(), s(format!("req#{}", e.request_id))),
                ("sk".to_string(), s("req")),
                ("expires_at".to_string(), n(marker_ttl)),
                ("digest".to_string(), s(digest_hex(e.digest))),
            ]);
            wcu += transactional_wcu(item.iter().map(|(k, v)| k.len() + value_size(v)).sum());
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                // the existing marker comes back in the cancellation reason: its digest tells a
                // replay from a conflict without another read
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(bad)?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        for (w, d) in &c.deltas {
            let (pk, sk) = window_key(w);
            let ttl = window_end_epoch_s(w.kind, &w.start)
                .ok_or_else(|| LedgerError::fatal(format!("bad window start {:?}", w.start)))?
                .saturating_add(WINDOW_TTL_AFTER_END_S);
            let mut values: Item = HashMap::from([
                (":c".to_string(), n(d.cost_usd)),
                (":i".to_string(), n(d.input_tokens)),
                (":o".to_string(), n(d.output_tokens)),
                (":cr".to_string(), n(d.cache_read_tokens)),
                (":cw".to_string(), n(d.cache_write_tokens)),
                (":n".to_string(), n(d.invocations)),
                (":f".to_string(), n(d.first_event_ms)),
                (":l".to_string(), n(d.last_event_ms)),
                (":s".to_string(), s(w.scope.as_str())),
                (":k".to_string(), s(w.key.clone())),
                (":w".to_string(), s(w.kind.as_str())),
                (":ws".to_string(), s(w.start.clone())),
                (":t".to_string(), n(ttl)),
            ]);
            // fallback-priced spend only where there is some: the common item stays as small
            let fallback = !d.fallback_usd.is_zero();
            if fallback {
                values.insert(":fb".to_string(), n(d.fallback_usd));
            }
            // the item as it will be stored, for the size rule
            let mut stored = vec![
                ("pk", s(pk.clone())),
                ("sk", s(sk.clone())),
                ("spend_usd", n(d.cost_usd)),
                ("input_tokens", n(d.input_tokens)),
                ("output_tokens", n(d.output_tokens)),
                ("cache_read_tokens", n(d.cache_read_tokens)),
                ("cache_write_tokens", n(d.cache_write_tokens)),
                ("invocations", n(d.invocations)),
                ("first_event_ms", n(d.first_event_ms)),
                ("last_event_ms", n(d.last_event_ms)),
                ("scope", s(w.scope.as_str())),
                ("key", s(w.key.clone())),
                ("window", s(w.kind.as_str())),
                ("window_start", s(w.start.clone())),
                ("expires_at", n(ttl)),
            ];
            if fallback {
                stored.push(("fallback_usd", n(d.fallback_usd)));
            }
            wcu += transactional_wcu(stored.iter().map(|(k, v)| k.len() + value_size(v)).sum());
            let names = HashMap::from([
                ("#scope".to_string(), "scope".to_string()),
                ("#key".to_string(), "key".to_string()),
                ("#window".to_string(), "window".to_string()),
            ]);
            let update = Update::builder()
                .table_name(&self.table)
                .key("pk", s(pk))
                .key("sk", s(sk))
                .update_expression(if fallback {
                    "ADD spend_usd :c, fallback_usd :fb, input_tokens :i, output_tokens :o, \
                     cache_read_tokens :cr, cache_write_tokens :cw, invocations :n \
                     SET first_event_ms = if_not_exists(first_event_ms, :f), last_event_ms = :l, \
                     #scope = :s, #key = :k, #window = :w, window_start = :ws, expires_at = :t"
                } else {
                    "ADD spend_usd :c, input_tokens :i, output_tokens :o, cache_read_tokens :cr, \
                     cache_write_tokens :cw, invocations :n \
                     SET first_event_ms = if_not_exists(first_event_ms, :f), last_event_ms = :l, \
                     #scope = :s, #key = :k, #window = :w, window_start = :ws, expires_at = :t"
                })
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .build()
                .map_err(bad)?;
            items.push(TransactWriteItem::builder().update(update).build());
        }
        Ok(Built { items, wcu })
    }

    /// Commits one chunk; returns (applied, already, transactions, wcu).
    async fn commit(&self, mut c: Chunk, out: &mut Applied) -> Result<(), (Disposition, String)> {
        let mut attempt = 0u32;
        let mut backoff = Backoff::seeded();
        loop {
            if c.entries.is_empty() {
                return Ok(());
            }
            let built = self.build(&c).map_err(|e| (e.disposition, e.message))?;
            out.computed_write_units += built.wcu;
            match self.tx.transact(built.items).await {
                Ok(()) => {
                    out.applied += c.entries.len();
                    out.transactions += 1;
                    return Ok(());
                }
                Err(TxError::Cancelled(reasons)) => {
                    let markers = c.entries.len();
                    let mut exists: HashSet<&str> = HashSet::new();
                    let mut retry = None;
                    for (i, r) in reasons.iter().enumerate() {
                        match r.code.as_str() {
                            "None" | "" => {}
                            "ConditionalCheckFailed" if i < markers => {
                                let e = &c.entries[i];
                                exists.insert(e.request_id.as_str());
                                if conflicts_with(r.digest.as_deref(), e.digest) {
                                    out.conflicts.push(e.request_id.clone());
                                }
                            }
                            // a cancellation reason worth retrying: the one list every adapter uses
                            x if RETRYABLE_CODES.contains(&x) => retry = Some(x.to_string()),
                            x => {
                                return Err((
                                    Disposition::Fatal,
                                    format!("transaction cancelled: item {i}: {x}"),
                                ))
                            }
                        }
                    }
                    if !exists.is_empty() {
                        // progress: those invocations were counted before; retry the rest now
                        out.already += exists.len();
                        let owned: HashSet<String> = exists.iter().map(|x| x.to_string()).collect();
                        let keep: HashSet<&str> = owned.iter().map(String::as_str).collect();
                        c = c.without(&keep);
                        continue;
                    }
                    let why = retry.unwrap_or_else(|| {
                        let codes: Vec<&str> = reasons.iter().map(|r| r.code.as_str()).collect();
                        format!("cancelled without a reason: {codes:?}")
                    });
                    attempt += 1;
                    if attempt >= self.retry.max_attempts {
                        return Err((Disposition::Retryable, why));
                    }
                    backoff.wait(&self.retry, attempt).await;
                }
                Err(TxError::Retryable(why)) => {
                    attempt += 1;
                    if attempt >= self.retry.max_attempts {
                        return Err((Disposition::Retryable, why));
                    }
                    backoff.wait(&self.retry, attempt).await;
                }
                Err(TxError::Fatal(why)) => return Err((Disposition::Fatal, why)),
            }
        }
    }

    async fn apply_all(&self, entries: &[Entry]) -> Result<Applied, LedgerError> {
        let order = group_order(entries);
        let chunks = plan(
            order.iter().map(|&i| entries[i].clone()).collect(),
            MAX_TRANSACTION_ITEMS,
        )
        .map_err(|e| LedgerError::fatal(e.to_string()))?;
        let mut out = Applied::default();
        let mut start = 0;
        for c in chunks {
            let len = c.entries.len();
            if let Err((disposition, message)) = self.commit(c, &mut out).await {
                // this chunk and every later one are not known to be counted
                return Err(LedgerError {
                    pending: Some(order[start..].to_vec()),
                    disposition,
                    message,
                    partial: out,
                });
            }
            start += len;
        }
        Ok(out)
    }

    async fn read(&self, q: &Query) -> Result<Vec<WindowTotal>, LedgerError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .reader
                .scan()
                .table_name(&self.table)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| LedgerError {
                    pending: None,
                    disposition: Disposition::Retryable,
                    message: aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string(),
                    partial: Applied::default(),
                })?;
            for item in page.items() {
                if item
                    .get("sk")
                    .and_then(|v| v.as_s().ok())
                    .map(String::as_str)
                    == Some("req")
                {
                    continue;
                }
                let w = parse_window(item).map_err(LedgerError::fatal)?;
                if q.matches(&w.window) {
                    out.push(w);
                }
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.window.cmp(&b.window));
        Ok(out)
    }
}

impl<T: Transact> SpendLedger for DynamoLedger<T> {
    fn apply(
        &self,
        entries: &[Entry],
    ) -> impl Future<Output = Result<Applied, LedgerError>> + Send {
        self.apply_all(entries)
    }

    fn windows(
        &self,
        query: &Query,
    ) -> impl Future<Output = Result<Vec<WindowTotal>, LedgerError>> + Send {
        self.read(query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_dynamodb_rule() {
        assert_eq!(value_size(&n("12345")), 4);
        assert_eq!(value_size(&n("0.000123")), 3);
        assert_eq!(value_size(&s("abc")), 3);
        assert_eq!(transactional_wcu(60), 2);
        assert_eq!(transactional_wcu(1024), 2);
        assert_eq!(transactional_wcu(1025), 4);
    }
}
