//! The embedded spend ledger: a durable SQLite file (compiled in with rusqlite's `bundled`), the
//! local default behind `spendguard run --ledger PATH`. Same contract as the DynamoDB ledger and
//! the same conformance suite: one transaction per apply inserts the `requestId` markers and adds
//! the new invocations to their windows, so a crash leaves either all of an apply or none of it.
//!
//! Markers never expire here (a local file has room), so there is no dedup horizon: re-running
//! any input, however old, never counts it twice.

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use rust_decimal::Decimal;
use spendguard_core::budget::Scope;
use spendguard_core::ledger::{
    conflicts_with, digest_hex, Applied, Disposition, Entry, LedgerError, Query, SpendLedger,
    WindowTotal,
};
use spendguard_core::window::{Delta, WindowKey, WindowKind};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS applied (
    request_id TEXT PRIMARY KEY,
    event_ms INTEGER NOT NULL,
    digest TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS windows (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    start TEXT NOT NULL,
    spend_usd TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    invocations INTEGER NOT NULL,
    first_event_ms INTEGER NOT NULL,
    last_event_ms INTEGER NOT NULL,
    fallback_usd TEXT NOT NULL DEFAULT '0',
    PRIMARY KEY (scope, key, kind, start)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alerts (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    start TEXT NOT NULL,
    pct INTEGER NOT NULL,
    PRIMARY KEY (scope, key, kind, start, pct)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS key_states (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    status TEXT NOT NULL,
    due_ms INTEGER,
    since_ms INTEGER,
    w_scope TEXT,
    w_key TEXT,
    w_kind TEXT,
    w_start TEXT,
    manual_until_ms INTEGER,
    protected_until_ms INTEGER,
    held TEXT,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
";

/// Columns added since the first release, for ledger files written before them: (table, column,
/// definition). New columns go last, so the positional inserts fit old and new files alike.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("windows", "fallback_usd", "TEXT NOT NULL DEFAULT '0'"),
    ("key_states", "held", "TEXT"),
    ("applied", "digest", "TEXT"),
];

mod enforcement;

/// The SQLite ledger. One connection behind a mutex: applies in one process are serialised, and
/// other processes wait on SQLite's lock (busy timeout) rather than fail.
#[derive(Debug)]
pub struct EmbeddedLedger {
    conn: Mutex<Connection>,
}

fn err(e: rusqlite::Error) -> LedgerError {
    let busy = matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    );
    LedgerError {
        pending: None,
        disposition: if busy {
            Disposition::Retryable
        } else {
            Disposition::Fatal
        },
        message: format!("sqlite: {e}"),
        partial: Applied::default(),
    }
}

impl EmbeddedLedger {
    /// Opens (creating if needed) the ledger file.
    pub fn open(path: &Path) -> Result<EmbeddedLedger, LedgerError> {
        let conn = Connection::open(path).map_err(err)?;
        Self::init(conn)
    }

    /// Opens a ledger file that must already exist and be a spendguard ledger: for commands
    /// that only read one (`ledger`, `status`), so a mistyped path is an error, never a new,
    /// empty ledger that answers "ok".
    pub fn open_existing(path: &Path) -> Result<EmbeddedLedger, LedgerError> {
        if !path.is_file() {
            return Err(LedgerError::fatal(
                "no ledger here (create one with `spendguard run --ledger`)",
            ));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(err)?;
        let ours: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('applied', 'windows')",
                [],
                |r| r.get(0),
            )
            .map_err(|e| LedgerError::fatal(format!("not a spendguard ledger ({e})")))?;
        if ours != 2 {
            return Err(LedgerError::fatal(
                "not a spendguard ledger (no applied and windows tables)",
            ));
        }
        Self::init(conn)
    }

    /// A ledger that lives in memory only (tests, `--ledger :memory:`).
    pub fn in_memory() -> Result<EmbeddedLedger, LedgerError> {
        Self::init(Connection::open_in_memory().map_err(err)?)
    }

    fn init(conn: Connection) -> Result<EmbeddedLedger, LedgerError> {
        conn.busy_timeout(Duration::from_secs(30)).map_err(err)?;
        // WAL: readers (`spendguard ledger`) do not block a running apply; synchronous=FULL keeps
        // every committed apply across a power cut.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        for (table, column, def) in ADDED_COLUMNS {
            let has: bool = conn
                .query_row(
                    &format!("SELECT count(*) FROM pragma_table_info('{table}') WHERE name = ?1"),
                    [column],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(err)?
                > 0;
            if !has {
                conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {def}"))
                    .map_err(err)?;
            }
        }
        Ok(EmbeddedLedger {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>, LedgerError> {
        self.conn
            .lock()
            .map_err(|_| LedgerError::fatal("ledger connection poisoned by an earlier panic"))
    }

    /// Applies `entries` in one transaction.
    pub fn apply_now(&self, entries: &[Entry]) -> Result<Applied, LedgerError> {
        self.apply_now_each(entries, |_| {})
    }

    /// [`apply_now`](Self::apply_now), calling `fresh` with each entry counted now (not before):
    /// after the commit, so an entry is reported once it is durable.
    pub fn apply_now_each(
        &self,
        entries: &[Entry],
        mut fresh: impl FnMut(&Entry),
    ) -> Result<Applied, LedgerError> {
        if entries.is_empty() {
            return Ok(Applied::default());
        }
        let mut conn = self.lock()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut out = Applied::default();
        let mut counted: Vec<&Entry> = Vec::new();
        let mut deltas: BTreeMap<&WindowKey, Delta> = BTreeMap::new();
        {
            let mut mark = tx
                .prepare(
                    "INSERT OR IGNORE INTO applied (request_id, event_ms, digest) VALUES (?1, ?2, ?3)",
                )
                .map_err(err)?;
            let mut stored = tx
                .prepare("SELECT digest FROM applied WHERE request_id = ?1")
                .map_err(err)?;
            for e in entries {
                if mark
                    .execute(params![e.request_id, e.event_ms, digest_hex(e.digest)])
                    .map_err(err)?
                    == 1
                {
                    out.applied += 1;
                    counted.push(e);
                    for w in &e.windows {
                        deltas.entry(w).or_default().merge(&e.amount);
                    }
                } else {
                    out.already += 1;
                    let old: Option<String> = stored
                        .query_row([&e.request_id], |r| r.get(0))
                        .map_err(err)?;
                    if conflicts_with(old.as_deref(), e.digest) {
                        out.conflicts.push(e.request_id.clone());
                    }
                }
            }
            let mut get = tx
                .prepare(
                    "SELECT spend_usd, input_tokens, output_tokens, cache_read_tokens, \
                     cache_write_tokens, invocations, first_event_ms, last_event_ms, fallback_usd \
                     FROM windows WHERE scope = ?1 AND key = ?2 AND kind = ?3 AND start = ?4",
                )
                .map_err(err)?;
            let mut put = tx
                .prepare(
                    "INSERT OR REPLACE INTO windows (scope, key, kind, start, spend_usd, \
                     input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, \
                     invocations, first_event_ms, last_event_ms, fallback_usd) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )
                .map_err(err)?;
            for (w, d) in deltas {
                let ids = params![w.scope.as_str(), w.key, w.kind.as_str(), w.start];
                let old = get.query_row(ids, read_delta).optional().map_err(err)?;
                let mut total = match old {
                    Some(t) => t.map_err(LedgerError::fatal)?,
                    None => Delta::default(),
                };
                total.merge(&d);
                put.execute(params![
                    w.scope.as_str(),
                    w.key,
                    w.kind.as_str(),
                    w.start,
                    total.cost_usd.to_string(),
                    total.input_tokens,
                    total.output_tokens,
                    total.cache_read_tokens,
                    total.cache_write_tokens,
                    i64::try_from(total.invocations).unwrap_or(i64::MAX),
                    total.first_event_ms,
                    total.last_event_ms,
                    total.fallback_usd.to_string(),
                ])
                .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        for e in counted {
            fresh(e);
        }
        out.transactions = 1;
        Ok(out)
    }

    /// Reads windows back, sorted.
    pub fn windows_now(&self, q: &Query) -> Result<Vec<WindowTotal>, LedgerError> {
        let conn = self.lock()?;
        // with a key, the IN list on the first primary-key column lets SQLite seek the index
        // instead of scanning every window (the enforcer reads one key at a time)
        let sql = format!(
            "SELECT scope, key, kind, start, spend_usd, input_tokens, output_tokens, \
             cache_read_tokens, cache_write_tokens, invocations, first_event_ms, last_event_ms, \
             fallback_usd FROM windows{}",
            if q.key.is_some() {
                " WHERE scope IN ('principal', 'session', 'team') AND key = ?1"
            } else {
                " WHERE ?1 IS NULL"
            }
        );
        let mut st = conn.prepare(&sql).map_err(err)?;
        let rows = st
            .query_map([q.key.as_deref()], |r| {
                let scope: String = r.get(0)?;
                let key: String = r.get(1)?;
                let kind: String = r.get(2)?;
                let start: String = r.get(3)?;
                Ok((scope, key, kind, start, read_delta_at(r, 4)?))
            })
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (scope_s, key, kind_s, start, totals) = row.map_err(err)?;
            let (Some(scope), Some(kind)) = (Scope::parse(&scope_s), WindowKind::parse(&kind_s))
            else {
                return Err(LedgerError::fatal(format!(
                    "ledger file holds an unknown window {scope_s}/{kind_s}"
                )));
            };
            let window = WindowKey {
                scope,
                key,
                kind,
                start,
            };
            if q.matches(&window) {
                out.push(WindowTotal {
                    window,
                    totals: totals.map_err(LedgerError::fatal)?,
                });
            }
        }
        out.sort_by(|a, b| a.window.cmp(&b.window));
        Ok(out)
    }

    /// How many invocations the ledger has counted (markers held).
    pub fn counted(&self) -> Result<u64, LedgerError> {
        let conn = self.lock()?;
        let n: i64 = conn
            .query_row("SELECT count(*) FROM applied", [], |r| r.get(0))
            .map_err(err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

type Totals = Result<Delta, String>;

fn read_delta(r: &rusqlite::Row<'_>) -> rusqlite::Result<Totals> {
    read_delta_at(r, 0)
}

fn read_delta_at(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Totals> {
    let spend: String = r.get(at)?;
    let invocations: i64 = r.get(at + 5)?;
    let delta = |cost_usd| Delta {
        cost_usd,
        fallback_usd: Decimal::ZERO,
        input_tokens: 0,
        output_tokens: 0,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        invocations: u64::try_from(invocations).unwrap_or(0),
        first_event_ms: 0,
        last_event_ms: 0,
    };
    let Ok(cost) = spend.parse::<Decimal>() else {
        return Ok(Err(format!(
            "ledger file holds a spend that is not a decimal: {spend:?}"
        )));
    };
    let mut d = delta(cost);
    d.input_tokens = r.get(at + 1)?;
    d.output_tokens = r.get(at + 2)?;
    d.cache_read_tokens = r.get(at + 3)?;
    d.cache_write_tokens = r.get(at + 4)?;
    d.first_event_ms = r.get(at + 6)?;
    d.last_event_ms = r.get(at + 7)?;
    let fallback: String = r.get(at + 8)?;
    let Ok(fallback) = fallback.parse::<Decimal>() else {
        return Ok(Err(format!(
            "ledger file holds a fallback spend that is not a decimal: {fallback:?}"
        )));
    };
    d.fallback_usd = fallback;
    Ok(Ok(d))
}

impl SpendLedger for EmbeddedLedger {
    fn apply(
        &self,
        entries: &[Entry],
    ) -> impl Future<Output = Result<Applied, LedgerError>> + Send {
        std::future::ready(self.apply_now(entries))
    }

    fn windows(
        &self,
        query: &Query,
    ) -> impl Future<Output = Result<Vec<WindowTotal>, LedgerError>> + Send {
        std::future::ready(self.windows_now(query))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spendguard_core::ledger::conformance;

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn passes_the_conformance_suite_in_memory_and_on_disk() {
        let cases = block_on(conformance::run(|_| async {
            EmbeddedLedger::in_memory().unwrap()
        }));
        assert_eq!(cases, 7);
        let dir = std::env::temp_dir().join(format!("sg-embedded-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let n = std::sync::atomic::AtomicUsize::new(0);
        block_on(conformance::run(|name| {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = dir.join(format!("{name}-{i}.db"));
            let _ = std::fs::remove_file(&path);
            async move { EmbeddedLedger::open(&path).unwrap() }
        }));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_reopened_file_keeps_totals_and_markers() {
        let dir = std::env::temp_dir().join(format!("sg-reopen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("l.db");
        let es = conformance::entries(50, 3, "re");
        {
            let l = EmbeddedLedger::open(&path).unwrap();
            assert_eq!(l.apply_now(&es).unwrap().applied, 50);
        }
        let l = EmbeddedLedger::open(&path).unwrap();
        let a = l.apply_now(&es).unwrap();
        assert_eq!((a.applied, a.already), (0, 50));
        assert_eq!(l.counted().unwrap(), 50);
        block_on(conformance::assert_totals(
            &l,
            &spendguard_core::ledger::expected_totals(&es),
            "reopened",
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_from_before_the_fallback_columns_opens_and_keeps_its_totals() {
        let dir = std::env::temp_dir().join(format!("sg-migrate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("old.db");
        {
            // the schema as the first release wrote it
            let c = Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE windows (scope TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL, \
                 start TEXT NOT NULL, spend_usd TEXT NOT NULL, input_tokens INTEGER NOT NULL, \
                 output_tokens INTEGER NOT NULL, cache_read_tokens INTEGER NOT NULL, \
                 cache_write_tokens INTEGER NOT NULL, invocations INTEGER NOT NULL, \
                 first_event_ms INTEGER NOT NULL, last_event_ms INTEGER NOT NULL, \
                 PRIMARY KEY (scope, key, kind, start)) WITHOUT ROWID;
                 INSERT INTO windows VALUES ('principal', 'arn:aws:iam::1:user/a', 'day', \
                 '2026-11-22', '1.25', 10, 5, 0, 0, 2, 1, 2);
                 CREATE TABLE key_states (scope TEXT NOT NULL, key TEXT NOT NULL, \
                 status TEXT NOT NULL, due_ms INTEGER, since_ms INTEGER, w_scope TEXT, w_key TEXT, \
                 w_kind TEXT, w_start TEXT, manual_until_ms INTEGER, protected_until_ms INTEGER, \
                 PRIMARY KEY (scope, key)) WITHOUT ROWID;
                 CREATE TABLE applied (request_id TEXT PRIMARY KEY, event_ms INTEGER NOT NULL)                  WITHOUT ROWID;
                 INSERT INTO applied VALUES ('mig-old', 1);",
            )
            .unwrap();
        }
        for _ in 0..2 {
            let l = EmbeddedLedger::open(&path).unwrap();
            let w = l.windows_now(&Query::default()).unwrap();
            assert_eq!(w.len(), 1);
            assert_eq!(w[0].totals.cost_usd, Decimal::new(125, 2));
            assert_eq!(w[0].totals.fallback_usd, Decimal::ZERO);
        }
        let l = EmbeddedLedger::open(&path).unwrap();
        let es = conformance::entries(30, 2, "mig");
        l.apply_now(&es).unwrap();
        // a marker from before digests were stored: a repeat is already counted, never a conflict
        let mut old = es[0].clone();
        old.request_id = "mig-old".into();
        let a = l.apply_now(&[old]).unwrap();
        assert_eq!((a.applied, a.already, a.conflicts.len()), (0, 1, 0));
        let mut want = spendguard_core::ledger::expected_totals(&es);
        for t in l.windows_now(&Query::default()).unwrap() {
            if let Some(d) = want.remove(&t.window) {
                assert_eq!(t.totals, d);
            }
        }
        assert!(want.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
