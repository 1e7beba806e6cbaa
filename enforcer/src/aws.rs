//! The AWS adapters of the ports: IAM, the enforcement table and the ledger table (DynamoDB),
//! the alert topic (SNS) and the event bus (EventBridge). Every SDK call of the enforcer and the
//! evaluator is in this file.
//!
//! The enforcement table (`pk`, `sk` strings; TTL `expires_at`; sparse GSI `watching` on `watch`):
//! - `<scope>#<key>` / `state`: the key's [`Stored`] state; `watch = "1"` while watched.
//! - `<scope>#<key>` / `alert#<kind>#<start>#<pct>`: one per alert sent (window and threshold).
//! - `<scope>#<key>` / `level#<kind>#<start>`: the highest threshold the evaluator published.
//! - `<scope>#<key>` / `audit#<epoch ms>#<n>`: one audit record (JSON in `record`).
//! - `config` / `budgets` and `config` / `evaluated`: the budgets document and the version the
//!   last full re-evaluation used.
//! - `breaker` / `state`: the circuit breaker (`epoch`, `trip` JSON while open, `alerted`).
//! - `breaker#<epoch>` / `<scope>#<key>`: one per key counted towards the breaker (`at_ms`).
//! - `breaker#suspensions` / `audit#...`: the breaker's own audit records (open, resume).
//! - `fallback-models` / `<day>#<model id>`: fallback-priced model ids the aggregator saw that
//!   day (`invocations`); `alerted` once the tick has named them in an alert.

use crate::ports::{
    BreakerState, BreakerTrip, BudgetsDoc, Bus, BusEvent, Entity, ErrorKind, FallbackModel, Iam,
    Notifier, PortError, PortResult, Store, Stored, Windows,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use spendguard_aws::retry::{Backoff, RetryPolicy};
use spendguard_aws::tables::{read_budgets_doc, BUDGETS_PK, BUDGETS_SK, FALLBACK_MODELS_PK};
use spendguard_core::budget::Scope;
use spendguard_core::clock::Clock;
use spendguard_core::enforce::{Held, KeyRef, KeyState, Status};
use spendguard_core::ledger::WindowTotal;
use spendguard_core::window::{window_end_epoch_s, WindowKey, WindowKind};
use spendguard_schemas::event::AuditRecord;
use spendguard_schemas::words::Mechanism;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

type Item = HashMap<String, AttributeValue>;

/// The GSI over watched state rows.
pub const WATCH_INDEX: &str = "watching";

/// Maps an SDK error to a port error by its code: the enforcer's own kinds first (a missing
/// entity, IAM's quota, a lost conditional write), then the one retry rule every adapter uses.
fn classify<E>(
    service: &'static str,
    op: &'static str,
    e: SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = match &e {
        SdkError::ServiceError(se) => se.err().code().unwrap_or_default(),
        _ => "",
    };
    let kind = match code {
        "NoSuchEntity" | "NotFound" | "ResourceNotFoundException" => ErrorKind::NotFound,
        "LimitExceeded" => ErrorKind::LimitExceeded,
        "ConditionalCheckFailedException" | "TransactionConflictException" => ErrorKind::Conflict,
        _ if spendguard_aws::retry::sdk_error_is_retryable(&e) => ErrorKind::Retryable,
        _ => ErrorKind::Fatal,
    };
    PortError::new(
        service,
        op,
        kind,
        aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string(),
    )
}

/// SDK clients with the SDK's standard retries (throttling on IAM is common); the shared config
/// turns them off for the hot-path Lambdas, which retry through their event sources.
pub fn retrying(conf: &aws_config::SdkConfig) -> aws_config::SdkConfig {
    conf.to_builder()
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
        .build()
}

/// IAM through the SDK.
#[derive(Debug, Clone)]
pub struct AwsIam(pub aws_sdk_iam::Client);

/// IAM returns policy documents URL-encoded (RFC 3986).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn ok_if_absent(r: PortResult<()>) -> PortResult<()> {
    match r {
        Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

#[async_trait]
impl Iam for AwsIam {
    async fn role_id(&self, role: &str) -> PortResult<String> {
        let out = self
            .0
            .get_role()
            .role_name(role)
            .send()
            .await
            .map_err(|e| classify("iam", "GetRole", e))?;
        out.role()
            .map(|r| r.role_id().to_string())
            .ok_or_else(|| PortError::new("iam", "GetRole", ErrorKind::Fatal, "no role in reply"))
    }

    async fn attached(&self, who: Entity<'_>) -> PortResult<Vec<String>> {
        let policies = match who {
            Entity::User(u) => self
                .0
                .list_attached_user_policies()
                .user_name(u)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| classify("iam", "ListAttachedUserPolicies", e))?,
            Entity::Role(n) => self
                .0
                .list_attached_role_policies()
                .role_name(n)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| classify("iam", "ListAttachedRolePolicies", e))?,
        };
        Ok(policies
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect())
    }

    async fn attach(&self, who: Entity<'_>, policy_arn: &str) -> PortResult<()> {
        match who {
            Entity::User(u) => self
                .0
                .attach_user_policy()
                .user_name(u)
                .policy_arn(policy_arn)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("iam", "AttachUserPolicy", e)),
            Entity::Role(r) => self
                .0
                .attach_role_policy()
                .role_name(r)
                .policy_arn(policy_arn)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("iam", "AttachRolePolicy", e)),
        }
    }

    async fn detach(&self, who: Entity<'_>, policy_arn: &str) -> PortResult<()> {
        ok_if_absent(match who {
            Entity::User(u) => self
                .0
                .detach_user_policy()
                .user_name(u)
                .policy_arn(policy_arn)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("iam", "DetachUserPolicy", e)),
            Entity::Role(r) => self
                .0
                .detach_role_policy()
                .role_name(r)
                .policy_arn(policy_arn)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("iam", "DetachRolePolicy", e)),
        })
    }

    async fn role_inline(&self, role: &str) -> PortResult<Vec<(String, String)>> {
        let names: Vec<String> = self
            .0
            .list_role_policies()
            .role_name(role)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("iam", "ListRolePolicies", e))?;
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            let r = self
                .0
                .get_role_policy()
                .role_name(role)
                .policy_name(&n)
                .send()
                .await
                .map_err(|e| classify("iam", "GetRolePolicy", e))?;
            out.push((n, percent_decode(r.policy_document())));
        }
        Ok(out)
    }

    async fn put_role_inline(&self, role: &str, name: &str, doc: &str) -> PortResult<()> {
        self.0
            .put_role_policy()
            .role_name(role)
            .policy_name(name)
            .policy_document(doc)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("iam", "PutRolePolicy", e))
    }

    async fn delete_role_inline(&self, role: &str, name: &str) -> PortResult<()> {
        ok_if_absent(
            self.0
                .delete_role_policy()
                .role_name(role)
                .policy_name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("iam", "DeleteRolePolicy", e)),
        )
    }

    async fn groups(&self, user: &str) -> PortResult<Vec<String>> {
        let groups = self
            .0
            .list_groups_for_user()
            .user_name(user)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("iam", "ListGroupsForUser", e))?;
        Ok(groups.iter().map(|g| g.group_name().to_string()).collect())
    }

    async fn add_to_group(&self, user: &str, group: &str) -> PortResult<()> {
        self.0
            .add_user_to_group()
            .user_name(user)
            .group_name(group)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("iam", "AddUserToGroup", e))
    }

    async fn remove_from_group(&self, user: &str, group: &str) -> PortResult<()> {
        ok_if_absent(
            self.0
                .remove_user_from_group()
                .user_name(user)
                .group_name(group)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("iam", "RemoveUserFromGroup", e)),
        )
    }

    async fn tags(&self, who: Entity<'_>) -> PortResult<Vec<(String, String)>> {
        let pair = |t: &aws_sdk_iam::types::Tag| (t.key().to_string(), t.value().to_string());
        // the SDK's paginators follow Marker/IsTruncated
        let mut out = Vec::new();
        match who {
            Entity::User(u) => {
                let mut pages = self.0.list_user_tags().user_name(u).into_paginator().send();
                while let Some(page) = pages.next().await {
                    let page = page.map_err(|e| classify("iam", "ListUserTags", e))?;
                    out.extend(page.tags().iter().map(pair));
                }
            }
            Entity::Role(r) => {
                let mut pages = self.0.list_role_tags().role_name(r).into_paginator().send();
                while let Some(page) = pages.next().await {
                    let page = page.map_err(|e| classify("iam", "ListRoleTags", e))?;
                    out.extend(page.tags().iter().map(pair));
                }
            }
        }
        Ok(out)
    }
}

/// The enforcement table.
#[derive(Debug)]
pub struct DynamoStore {
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
    /// Days an audit record is kept (TTL).
    pub audit_retention_days: i64,
    seq: AtomicU64,
    clock: Arc<dyn Clock>,
}

impl DynamoStore {
    /// `clock` stamps the items' times and TTLs, so they agree with the audit records' `at`
    /// (the engine's clock) under a fixed clock too.
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: String,
        audit_retention_days: i64,
        clock: Arc<dyn Clock>,
    ) -> Self {
        DynamoStore {
            client,
            table,
            audit_retention_days,
            seq: AtomicU64::new(0),
            clock,
        }
    }

    fn now_s(&self) -> i64 {
        self.clock.now_ms().div_euclid(1000)
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s<'i>(item: &'i Item, k: &str) -> Option<&'i str> {
    item.get(k).and_then(|v| v.as_s().ok()).map(String::as_str)
}

fn get_n<T: std::str::FromStr>(item: &Item, k: &str) -> Option<T> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|x| x.parse().ok())
}

/// `<scope>#<key>`: the partition of a key in both tables.
pub fn key_pk(k: &KeyRef) -> String {
    format!("{}#{}", k.scope.as_str(), k.key)
}

fn window_pk(w: &WindowKey) -> String {
    format!("{}#{}", w.scope.as_str(), w.key)
}

/// A `<scope>#<key>` partition back into a key.
pub fn parse_pk(pk: &str) -> Option<KeyRef> {
    let (scope, key) = pk.split_once('#')?;
    Some(KeyRef::new(Scope::parse(scope)?, key))
}

fn state_item(key: &KeyRef, st: &Stored) -> Item {
    let mut item: Item = HashMap::new();
    item.insert("pk".into(), s(key_pk(key)));
    item.insert("sk".into(), s("state"));
    item.insert("status".into(), s(st.state.status.as_str()));
    if let Status::Pending { due_ms } = st.state.status {
        item.insert("due_ms".into(), n(due_ms));
    }
    if let Some(v) = st.state.since_ms {
        item.insert("since_ms".into(), n(v));
    }
    if let Some(w) = &st.state.window {
        item.insert("w_scope".into(), s(w.scope.as_str()));
        item.insert("w_key".into(), s(w.key.clone()));
        item.insert("w_kind".into(), s(w.kind.as_str()));
        item.insert("w_start".into(), s(w.start.clone()));
    }
    if let Some(v) = st.state.manual_until_ms {
        item.insert("manual_until_ms".into(), n(v));
    }
    if let Some(v) = st.state.protected_until_ms {
        item.insert("protected_until_ms".into(), n(v));
    }
    if let Some(h) = &st.state.held {
        item.insert("held".into(), s(h.encode()));
    }
    if let Some(m) = st.mechanism {
        item.insert("mechanism".into(), s(m.as_str()));
    }
    item.insert("version".into(), n(st.version));
    if st.state.watched() {
        item.insert("watch".into(), s("1"));
    }
    item
}

fn parse_state(item: &Item) -> Result<Stored, String> {
    let status = Status::decode(get_s(item, "status").unwrap_or("ok"), get_n(item, "due_ms"))?;
    let window = match (
        get_s(item, "w_scope").and_then(Scope::parse),
        get_s(item, "w_key"),
        get_s(item, "w_kind").and_then(WindowKind::parse),
        get_s(item, "w_start"),
    ) {
        (Some(scope), Some(key), Some(kind), Some(start)) => Some(WindowKey {
            scope,
            key: key.into(),
            kind,
            start: start.into(),
        }),
        _ => None,
    };
    Ok(Stored {
        state: KeyState {
            status,
            since_ms: get_n(item, "since_ms"),
            window,
            manual_until_ms: get_n(item, "manual_until_ms"),
            protected_until_ms: get_n(item, "protected_until_ms"),
            held: get_s(item, "held").and_then(Held::decode),
        },
        mechanism: match get_s(item, "mechanism") {
            None | Some("") => None,
            Some(m) => Some(Mechanism::parse(m).ok_or(format!("unknown deny mechanism {m:?}"))?),
        },
        version: get_n(item, "version").unwrap_or(0),
    })
}

fn alert_sk(w: &WindowKey, pct: u32) -> String {
    format!("alert#{}#{}#{pct:04}", w.kind.as_str(), w.start)
}

fn level_sk(w: &WindowKey) -> String {
    format!("level#{}#{}", w.kind.as_str(), w.start)
}

/// Marker TTL: well after the window ended (a month window plus slack); `now_s` stands in for
/// a window start that is not a date.
fn marker_expiry(w: &WindowKey, now_s: i64) -> i64 {
    window_end_epoch_s(w.kind, &w.start).unwrap_or(now_s) + 35 * 86_400
}

impl DynamoStore {
    /// Every item of one partition (consistent, all pages), optionally only the sort keys that
    /// start with `sk_prefix` and the items that pass `filter`.
    async fn partition(
        &self,
        pk: &str,
        sk_prefix: Option<&str>,
        filter: Option<&str>,
    ) -> PortResult<Vec<Item>> {
        let q = self
            .client
            .query()
            .table_name(&self.table)
            .expression_attribute_values(":p", s(pk))
            .consistent_read(true)
            .set_filter_expression(filter.map(str::to_string));
        let q = match sk_prefix {
            Some(prefix) => q
                .key_condition_expression("pk = :p AND begins_with(sk, :a)")
                .expression_attribute_values(":a", s(prefix)),
            None => q.key_condition_expression("pk = :p"),
        };
        q.into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("dynamodb", "Query", e))
    }

    async fn get(&self, pk: String, sk: &str) -> PortResult<Option<Item>> {
        let r = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("dynamodb", "GetItem", e))?;
        Ok(r.item().cloned())
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn state(&self, key: &KeyRef) -> PortResult<Stored> {
        match self.get(key_pk(key), "state").await? {
            None => Ok(Stored::default()),
            Some(item) => parse_state(&item)
                .map_err(|m| PortError::new("dynamodb", "GetItem", ErrorKind::Fatal, m)),
        }
    }

    async fn put_state(&self, key: &KeyRef, st: &Stored, expected: u64) -> PortResult<bool> {
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(state_item(key, st)));
        req = if expected == 0 {
            req.condition_expression("attribute_not_exists(pk)")
        } else {
            req.condition_expression("version = :v")
                .expression_attribute_values(":v", n(expected))
        };
        match req
            .send()
            .await
            .map_err(|e| classify("dynamodb", "PutItem", e))
        {
            Ok(_) => Ok(true),
            Err(e) if e.kind == ErrorKind::Conflict => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn watched(&self) -> PortResult<Vec<KeyRef>> {
        let items = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(WATCH_INDEX)
            .key_condition_expression("watch = :w")
            .expression_attribute_values(":w", s("1"))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("dynamodb", "Query", e))?;
        let keys: BTreeSet<KeyRef> = items
            .iter()
            .filter_map(|i| get_s(i, "pk").and_then(parse_pk))
            .collect();
        Ok(keys.into_iter().collect())
    }

    async fn mark_alert(&self, w: &WindowKey, pct: u32) -> PortResult<bool> {
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(window_pk(w)))
            .item("sk", s(alert_sk(w, pct)))
            .item("at", n(self.now_s()))
            .item("expires_at", n(marker_expiry(w, self.now_s())))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| classify("dynamodb", "PutItem", e));
        match r {
            Ok(_) => Ok(true),
            Err(e) if e.kind == ErrorKind::Conflict => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn unmark_alert(&self, w: &WindowKey, pct: u32) -> PortResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(window_pk(w)))
            .key("sk", s(alert_sk(w, pct)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("dynamodb", "DeleteItem", e))
    }

    async fn level(&self, w: &WindowKey) -> PortResult<u32> {
        Ok(self
            .get(window_pk(w), &level_sk(w))
            .await?
            .and_then(|i| get_n(&i, "level"))
            .unwrap_or(0))
    }

    async fn set_level(&self, w: &WindowKey, pct: u32) -> PortResult<()> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(window_pk(w)))
            .key("sk", s(level_sk(w)))
            .update_expression("SET #l = :l, expires_at = :e")
            .condition_expression("attribute_not_exists(#l) OR #l < :l")
            .expression_attribute_names("#l", "level")
            .expression_attribute_values(":l", n(pct))
            .expression_attribute_values(":e", n(marker_expiry(w, self.now_s())))
            .send()
            .await
            .map_err(|e| classify("dynamodb", "UpdateItem", e));
        match r {
            // a concurrent evaluator already recorded a level at least as high
            Err(e) if e.kind == ErrorKind::Conflict => Ok(()),
            r => r.map(|_| ()),
        }
    }

    async fn audit(&self, r: &AuditRecord) -> PortResult<()> {
        // the record's own scope: a key's (`principal`, `session`, `team`) or `breaker`
        let pk = format!("{}#{}", r.scope, r.key);
        let at_ms = spendguard_schemas::time::parse_rfc3339_ms(&r.at).unwrap_or(0);
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let nonce = format!("{:x}{:04x}", std::process::id(), seq % 0x10000);
        let json = serde_json::to_string(r)
            .map_err(|e| PortError::new("dynamodb", "PutItem", ErrorKind::Fatal, e.to_string()))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(pk))
            .item("sk", s(format!("audit#{at_ms:013}#{nonce}")))
            .item("action", s(r.action.as_str()))
            .item("record", s(json))
            .item(
                "expires_at",
                n(self.now_s() + self.audit_retention_days * 86_400),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("dynamodb", "PutItem", e))
    }

    async fn audit_of(&self, key: &KeyRef) -> PortResult<Vec<AuditRecord>> {
        Ok(self
            .partition(&key_pk(key), Some("audit#"), None)
            .await?
            .iter()
            .filter_map(|i| get_s(i, "record").and_then(|j| serde_json::from_str(j).ok()))
            .collect())
    }

    async fn budgets(&self) -> PortResult<Option<BudgetsDoc>> {
        Ok(read_budgets_doc(&self.client, &self.table)
            .await
            .map_err(|e| classify("dynamodb", "GetItem", e))?
            .map(|(version, text)| BudgetsDoc { version, text }))
    }

    async fn put_budgets(&self, text: &str) -> PortResult<u64> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(BUDGETS_PK))
            .key("sk", s(BUDGETS_SK))
            .update_expression("SET #t = :t, updated_at = :u ADD version :one")
            .expression_attribute_names("#t", "text")
            .expression_attribute_values(":t", s(text))
            .expression_attribute_values(":u", n(self.now_s()))
            .expression_attribute_values(":one", n(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| classify("dynamodb", "UpdateItem", e))?;
        r.attributes()
            .and_then(|a| get_n(a, "version"))
            .ok_or_else(|| {
                PortError::new(
                    "dynamodb",
                    "UpdateItem",
                    ErrorKind::Fatal,
                    "no version back",
                )
            })
    }

    async fn evaluated_version(&self) -> PortResult<u64> {
        Ok(self
            .get("config".into(), "evaluated")
            .await?
            .and_then(|i| get_n(&i, "version"))
            .unwrap_or(0))
    }

    async fn set_evaluated_version(&self, v: u64) -> PortResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s("config"))
            .item("sk", s("evaluated"))
            .item("version", n(v))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("dynamodb", "PutItem", e))
    }

    async fn breaker(&self) -> PortResult<BreakerState> {
        let Some(item) = self.get(BREAKER_PK.into(), BREAKER_SK).await? else {
            return Ok(BreakerState::default());
        };
        parse_breaker(&item).map_err(|m| PortError::new("dynamodb", "GetItem", ErrorKind::Fatal, m))
    }

    async fn count_suspension(
        &self,
        epoch: u64,
        key: &KeyRef,
        now_ms: i64,
        window_ms: i64,
    ) -> PortResult<Vec<String>> {
        let pk = format!("{BREAKER_PK}#{epoch}");
        let cutoff = now_ms - window_ms;
        // once per key within the window: a retry or a second enforcer does not count it again
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(pk.clone()))
            .item("sk", s(key_pk(key)))
            .item("at_ms", n(now_ms))
            .item("expires_at", n(now_ms / 1000 + window_ms / 1000 + 86_400))
            .condition_expression("attribute_not_exists(pk) OR at_ms < :cutoff")
            .expression_attribute_values(":cutoff", n(cutoff))
            .send()
            .await
            .map_err(|e| classify("dynamodb", "PutItem", e));
        match r {
            Ok(_) => {}
            Err(e) if e.kind == ErrorKind::Conflict => {}
            Err(e) => return Err(e),
        }
        let mut keys: Vec<(i64, String)> = self
            .partition(&pk, None, None)
            .await?
            .iter()
            .filter_map(|i| Some((get_n::<i64>(i, "at_ms")?, get_s(i, "sk")?.to_string())))
            .filter(|(at, _)| *at >= cutoff)
            .collect();
        keys.sort();
        Ok(keys.into_iter().map(|(_, k)| k).collect())
    }

    async fn open_breaker(&self, epoch: u64, trip: &BreakerTrip) -> PortResult<bool> {
        let json = serde_json::to_string(trip).map_err(|e| {
            PortError::new("dynamodb", "UpdateItem", ErrorKind::Fatal, e.to_string())
        })?;
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(BREAKER_PK))
            .key("sk", s(BREAKER_SK))
            .update_expression("SET epoch = :e, trip = :t")
            .condition_expression(
                "(attribute_not_exists(epoch) OR epoch = :e) AND attribute_not_exists(trip)",
            )
            .expression_attribute_values(":e", n(epoch))
            .expression_attribute_values(":t", s(json))
            .send()
            .await
            .map_err(|e| classify("dynamodb", "UpdateItem", e));
        match r {
            Ok(_) => Ok(true),
            Err(e) if e.kind == ErrorKind::Conflict => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn breaker_alerted(&self, epoch: u64) -> PortResult<()> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(BREAKER_PK))
            .key("sk", s(BREAKER_SK))
            .update_expression("SET alerted = :one")
            .condition_expression("epoch = :e AND attribute_exists(trip)")
            .expression_attribute_values(":e", n(epoch))
            .expression_attribute_values(":one", n(1))
            .send()
            .await
            .map_err(|e| classify("dynamodb", "UpdateItem", e));
        match r {
            // resumed in between: nothing left to mark
            Err(e) if e.kind == ErrorKind::Conflict => Ok(()),
            r => r.map(|_| ()),
        }
    }

    async fn fallback_models(&self) -> PortResult<Vec<FallbackModel>> {
        Ok(self
            .partition(
                FALLBACK_MODELS_PK,
                None,
                Some("attribute_not_exists(alerted)"),
            )
            .await?
            .iter()
            .filter_map(|i| {
                Some(FallbackModel {
                    day: get_s(i, "day")?.to_string(),
                    model: get_s(i, "model")?.to_string(),
                    invocations: get_n(i, "invocations").unwrap_or(0),
                })
            })
            .collect())
    }

    async fn mark_fallback_alerted(&self, m: &FallbackModel) -> PortResult<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(FALLBACK_MODELS_PK))
            .key("sk", s(format!("{}#{}", m.day, m.model)))
            .update_expression("SET alerted = :t")
            .expression_attribute_values(":t", n(self.now_s()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("dynamodb", "UpdateItem", e))
    }

    async fn resume_breaker(&self) -> PortResult<BreakerState> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(BREAKER_PK))
            .key("sk", s(BREAKER_SK))
            .update_expression("REMOVE trip, alerted ADD epoch :one")
            .expression_attribute_values(":one", n(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| classify("dynamodb", "UpdateItem", e))?;
        match r.attributes() {
            Some(a) if !a.is_empty() => parse_breaker(a)
                .map_err(|m| PortError::new("dynamodb", "UpdateItem", ErrorKind::Fatal, m)),
            _ => Ok(BreakerState::default()),
        }
    }
}

/// The circuit breaker's item; its counted suspensions live under `breaker#<epoch>`.
const BREAKER_PK: &str = "breaker";
const BREAKER_SK: &str = "state";

fn parse_breaker(item: &Item) -> Result<BreakerState, String> {
    let open = match get_s(item, "trip") {
        None => None,
        Some(j) => {
            let mut t: BreakerTrip = serde_json::from_str(j)
                .map_err(|e| format!("circuit breaker item: trip does not parse: {e}"))?;
            t.alerted = get_n::<u8>(item, "alerted") == Some(1);
            Some(t)
        }
    };
    Ok(BreakerState {
        epoch: get_n(item, "epoch").unwrap_or(0),
        open,
    })
}

/// The ledger table, read by key.
#[derive(Debug, Clone)]
pub struct DynamoWindows {
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
}

#[async_trait]
impl Windows for DynamoWindows {
    async fn of_key(&self, key: &KeyRef) -> PortResult<Vec<WindowTotal>> {
        // window items are the only items in a key's partition (markers are `req#<id>`)
        let items = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s(key_pk(key)))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("dynamodb", "Query", e))?;
        items
            .iter()
            .map(|i| {
                spendguard_aws::tables::parse_window(i)
                    .map_err(|m| PortError::new("dynamodb", "Query", ErrorKind::Fatal, m))
            })
            .collect()
    }

    async fn keys_with_windows(&self, day: &str, month: &str) -> PortResult<Vec<KeyRef>> {
        let items = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("window_start IN (:d, :m)")
            .projection_expression("#s, #k")
            .expression_attribute_names("#s", "scope")
            .expression_attribute_names("#k", "key")
            .expression_attribute_values(":d", s(day))
            .expression_attribute_values(":m", s(month))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("dynamodb", "Scan", e))?;
        let keys: BTreeSet<KeyRef> = items
            .iter()
            .filter_map(
                |i| match (get_s(i, "scope").and_then(Scope::parse), get_s(i, "key")) {
                    (Some(scope), Some(key)) => Some(KeyRef::new(scope, key)),
                    _ => None,
                },
            )
            .collect();
        Ok(keys.into_iter().collect())
    }
}

/// The SNS alert topic.
#[derive(Debug, Clone)]
pub struct SnsTopic {
    pub client: aws_sdk_sns::Client,
    pub topic_arn: String,
}

#[async_trait]
impl Notifier for SnsTopic {
    async fn publish(&self, subject: &str, message: &str) -> PortResult<()> {
        // SNS subjects: ASCII, no line breaks, at most 100 characters
        let subject: String = subject
            .chars()
            .map(|c| {
                if c.is_ascii() && !c.is_ascii_control() {
                    c
                } else {
                    '?'
                }
            })
            .take(100)
            .collect();
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("sns", "Publish", e))
    }
}

/// The EventBridge bus.
#[derive(Debug, Clone)]
pub struct EventBus {
    pub client: aws_sdk_eventbridge::Client,
    pub bus_name: String,
}

/// Failed PutEvents entries: 4 calls in all, 50 ms to 1 s apart, then the stream record fails
/// and Lambda retries it.
const EVENTS_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 4,
    base_delay: std::time::Duration::from_millis(50),
    max_delay: std::time::Duration::from_secs(1),
};

#[async_trait]
impl Bus for EventBus {
    async fn put(&self, events: &[BusEvent]) -> PortResult<()> {
        use aws_sdk_eventbridge::types::PutEventsRequestEntry;
        // at most 10 entries per call; failed entries are retried a few times, then the caller
        // fails the stream record so Lambda retries it (a duplicate event is harmless)
        for chunk in events.chunks(10) {
            let mut pending: Vec<&BusEvent> = chunk.iter().collect();
            let mut backoff = Backoff::seeded();
            for attempt in 1..=EVENTS_RETRY.max_attempts {
                let entries: Vec<PutEventsRequestEntry> = pending
                    .iter()
                    .map(|e| {
                        PutEventsRequestEntry::builder()
                            .event_bus_name(&self.bus_name)
                            .source(spendguard_schemas::event::EVENT_SOURCE)
                            .detail_type(e.detail_type)
                            .detail(&e.detail)
                            .build()
                    })
                    .collect();
                let r = self
                    .client
                    .put_events()
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| classify("events", "PutEvents", e))?;
                if r.failed_entry_count() == 0 {
                    pending.clear();
                    break;
                }
                let results = r.entries();
                let mut last = String::new();
                pending = pending
                    .into_iter()
                    .zip(results.iter())
                    .filter(|(_, res)| {
                        if res.error_code().is_some() {
                            last = format!(
                                "{}: {}",
                                res.error_code().unwrap_or_default(),
                                res.error_message().unwrap_or_default()
                            );
                            true
                        } else {
                            false
                        }
                    })
                    .map(|(e, _)| e)
                    .collect();
                if pending.is_empty() {
                    break;
                }
                if attempt == EVENTS_RETRY.max_attempts {
                    return Err(PortError::new(
                        "events",
                        "PutEvents",
                        ErrorKind::Retryable,
                        format!("{} entries failed: {last}", pending.len()),
                    ));
                }
                backoff.wait(&EVENTS_RETRY, attempt).await;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_documents_come_back_decoded() {
        assert_eq!(
            percent_decode("%7B%22Version%22%3A%20%222012-10-17%22%7D"),
            "{\"Version\": \"2012-10-17\"}"
        );
        assert_eq!(percent_decode("{\"a\":1}"), "{\"a\":1}");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn state_rows_round_trip_and_mark_watched_keys() {
        let key = KeyRef::new(Scope::Session, "arn:aws:sts::1:assumed-role/R/s");
        let st = Stored {
            state: KeyState {
                status: Status::Pending { due_ms: 42 },
                since_ms: Some(7),
                window: Some(WindowKey {
                    scope: Scope::Team,
                    key: "ds".into(),
                    kind: WindowKind::Month,
                    start: "2026-11-01".into(),
                }),
                manual_until_ms: None,
                protected_until_ms: Some(99),
                held: Some(Held {
                    hold: spendguard_core::enforce::Hold::Breaker,
                    window: WindowKey {
                        scope: Scope::Team,
                        key: "ds".into(),
                        kind: WindowKind::Month,
                        start: "2026-11-01".into(),
                    },
                }),
            },
            mechanism: Some(Mechanism::SessionInline),
            version: 3,
        };
        let item = state_item(&key, &st);
        assert_eq!(get_s(&item, "watch"), Some("1"));
        assert_eq!(parse_state(&item), Ok(st));
        assert_eq!(parse_pk(&key_pk(&key)), Some(key));
        let ok = state_item(&KeyRef::new(Scope::Principal, "k"), &Stored::default());
        assert!(!ok.contains_key("watch"));
    }
}
