//! Spend windows: the calendar day and month (in the budget config's time zone) of an invocation,
//! for the three scopes, and the fold of a batch of priced invocations, de-duplicated by
//! `requestId`, into per-(scope, key, window) deltas. Caller-supplied `requestMetadata` is never
//! identity: keys come from `identity.arn` only. Pure: the ledger applies the deltas.

use crate::budget::{BudgetConfig, Scope};
use rust_decimal::Decimal;
use spendguard_schemas::{PricedRow, PrincipalType};
use std::collections::{BTreeMap, HashSet};

pub use spendguard_schemas::words::WindowKind;

/// One window of one key: `start` is the window's first local date, `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WindowKey {
    pub scope: Scope,
    pub key: String,
    pub kind: WindowKind,
    pub start: String,
}

/// What a batch adds to one window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    pub cost_usd: Decimal,
    /// The part of `cost_usd` priced at a fallback price (a model the catalogue does not know):
    /// an upper bound, not a bill. Kept apart so that no one is suspended on it alone.
    pub fallback_usd: Decimal,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    pub invocations: u64,
    pub first_event_ms: i64,
    pub last_event_ms: i64,
}

impl Delta {
    /// One invocation.
    pub fn of(r: &PricedRow<'_>) -> Delta {
        Delta {
            cost_usd: r.cost_usd,
            fallback_usd: if r.price_status == spendguard_schemas::PriceStatus::Fallback {
                r.cost_usd
            } else {
                Decimal::ZERO
            },
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            cache_read_tokens: r.cache_read_tokens,
            cache_write_tokens: r.cache_write_5m_tokens + r.cache_write_1h_tokens,
            invocations: 1,
            first_event_ms: r.event_time,
            last_event_ms: r.event_time,
        }
    }

    /// Adds `o` to this delta; event times widen to cover both.
    pub fn merge(&mut self, o: &Delta) {
        if o.invocations == 0 {
            return;
        }
        if self.invocations == 0 {
            self.first_event_ms = o.first_event_ms;
            self.last_event_ms = o.last_event_ms;
        }
        self.cost_usd += o.cost_usd;
        self.fallback_usd += o.fallback_usd;
        // per-record tokens are bounded (price::MAX_TOKENS_PER_CLASS), so a sum reaches i64::MAX
        // only past ~900 million invocations in one window; saturating is the last line: never
        // a wrap, never a panic
        self.input_tokens = self.input_tokens.saturating_add(o.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(o.output_tokens);
        self.cache_read_tokens = self.cache_read_tokens.saturating_add(o.cache_read_tokens);
        self.cache_write_tokens = self.cache_write_tokens.saturating_add(o.cache_write_tokens);
        self.invocations = self.invocations.saturating_add(o.invocations);
        self.first_event_ms = self.first_event_ms.min(o.first_event_ms);
        self.last_event_ms = self.last_event_ms.max(o.last_event_ms);
    }
}

/// The first local date of the day and of the month that hold `event_ms` in `tz`.
pub fn window_starts(tz: &jiff::tz::TimeZone, event_ms: i64) -> Option<(String, String)> {
    let ts = jiff::Timestamp::from_millisecond(event_ms).ok()?;
    let date = ts.to_zoned(tz.clone()).date();
    Some((date.to_string(), date.first_of_month().to_string()))
}

/// The local day holding an instant: `[lo, hi)` in epoch ms, its date and its month's first
/// date, kept while instants stay inside it (replays go in time order, so one calendar lookup
/// serves a whole day).
#[derive(Debug, Clone, Default)]
pub struct LocalDay {
    pub lo: i64,
    pub hi: i64,
    pub day: String,
    pub month: String,
}

impl LocalDay {
    /// The day holding `at` in `tz`, from `cache` when it still holds it; `None` outside the
    /// calendar.
    pub fn holding<'c>(
        cache: &'c mut Option<LocalDay>,
        tz: &jiff::tz::TimeZone,
        at: i64,
    ) -> Option<&'c LocalDay> {
        if !cache.as_ref().is_some_and(|d| d.lo <= at && at < d.hi) {
            let (day, month) = window_starts(tz, at)?;
            let hi = window_reset_ms(tz, WindowKind::Day, &day)?;
            let date: jiff::civil::Date = day.parse().ok()?;
            let lo = date.to_zoned(tz.clone()).ok()?.timestamp().as_millisecond();
            *cache = Some(LocalDay { lo, hi, day, month });
        }
        cache.as_ref()
    }
}

/// An instant as the decisions and audit records spell it: RFC 3339 in UTC, milliseconds only
/// when there are any (`2026-11-22T10:00:00Z`). Out of range: the number itself.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| ms.to_string())
}

/// Epoch ms when a window ends in `tz`: the next local midnight (day) or the first of the next
/// month. A suspension lifts then, and the simulation's timeline restores then.
pub fn window_reset_ms(tz: &jiff::tz::TimeZone, kind: WindowKind, start: &str) -> Option<i64> {
    let d: jiff::civil::Date = start.parse().ok()?;
    let end = match kind {
        WindowKind::Day => d.tomorrow().ok()?,
        WindowKind::Month => d
            .first_of_month()
            .checked_add(jiff::Span::new().months(1))
            .ok()?,
    };
    Some(end.to_zoned(tz.clone()).ok()?.timestamp().as_millisecond())
}

/// Epoch seconds of the UTC midnight after the window that starts on `start` ends (for TTLs:
/// a day of slack covers every time zone). `None` for a malformed date.
pub fn window_end_epoch_s(kind: WindowKind, start: &str) -> Option<i64> {
    let d: jiff::civil::Date = start.parse().ok()?;
    let end = match kind {
        WindowKind::Day => d.checked_add(jiff::Span::new().days(2)).ok()?,
        WindowKind::Month => d
            .checked_add(jiff::Span::new().months(1))
            .ok()?
            .checked_add(jiff::Span::new().days(1))
            .ok()?,
    };
    Some(
        end.to_zoned(jiff::tz::TimeZone::UTC)
            .ok()?
            .timestamp()
            .as_second(),
    )
}

/// The (scope, key) pairs an invocation counts towards.
pub fn keys_of(row: &PricedRow<'_>, cfg: &BudgetConfig) -> Vec<(Scope, String)> {
    let session = (row.principal_type == PrincipalType::AssumedRole).then(|| &*row.principal_arn);
    keys_for(&row.principal, session, cfg)
}

/// The (scope, key) pairs of a principal and, for an assumed role, its session ARN: the
/// principal, the session, and every team either belongs to.
pub fn keys_for(
    principal: &str,
    session: Option<&str>,
    cfg: &BudgetConfig,
) -> Vec<(Scope, String)> {
    let mut keys = vec![(Scope::Principal, principal.to_string())];
    if let Some(s) = session {
        keys.push((Scope::Session, s.to_string()));
    }
    for t in cfg.teams_for(principal, session) {
        keys.push((Scope::Team, t.name.clone()));
    }
    keys
}

/// A folded batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fold {
    pub deltas: BTreeMap<WindowKey, Delta>,
    /// Request ids of the invocations folded, in first-seen order.
    pub request_ids: Vec<String>,
    /// Rows dropped because their `requestId` was already in the batch.
    pub duplicates: usize,
    /// Rows whose event time is outside the representable calendar (never in real logs).
    pub unwindowed: usize,
}

/// Folds a batch: first de-duplicate by `requestId`, then add each invocation to the day and
/// month windows of every key it counts towards.
pub fn fold<'r>(rows: impl IntoIterator<Item = &'r PricedRow<'r>>, cfg: &BudgetConfig) -> Fold {
    let mut out = Fold::default();
    let mut seen: HashSet<&str> = HashSet::new();
    for r in rows {
        if !seen.insert(&r.request_id) {
            out.duplicates += 1;
            continue;
        }
        // the windows of one invocation are the ledger's: one definition for both
        let Some(e) = crate::ledger::Entry::of(r, cfg, 0) else {
            out.unwindowed += 1;
            continue;
        };
        for w in e.windows {
            out.deltas.entry(w).or_default().merge(&e.amount);
        }
        out.request_ids.push(e.request_id);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Catalogue, Pricer, PricerConfig};
    use spendguard_schemas::fixtures as fx;
    use std::str::FromStr;

    fn rows() -> Vec<PricedRow<'static>> {
        let p = Pricer::new(Catalogue::builtin().unwrap(), PricerConfig::default());
        [
            fx::BEDROCK_CONVERSE_NOVA_CACHE_READ,
            fx::BEDROCK_ASSUMED_ROLE_METADATA,
            fx::BEDROCK_CONVERSE_GLOBAL,
        ]
        .iter()
        .map(|j| {
            p.price(crate::decode::parse_record(j).unwrap(), None)
                .unwrap()
                .into_owned()
        })
        .collect()
    }

    #[test]
    fn window_ends_leave_a_day_of_slack() {
        assert_eq!(
            window_end_epoch_s(WindowKind::Day, "2026-11-30"),
            Some(1_796_169_600) // 2026-12-02T00:00:00Z
        );
        assert_eq!(
            window_end_epoch_s(WindowKind::Month, "2026-12-01"),
            Some(1_798_848_000) // 2027-01-02T00:00:00Z
        );
        assert_eq!(window_end_epoch_s(WindowKind::Day, "nope"), None);
    }

    #[test]
    fn days_and_months_follow_the_configured_zone() {
        let tz = jiff::tz::TimeZone::get("America/Los_Angeles").unwrap();
        // 2026-12-01T05:00:00Z is still 2026-11-30 in Los Angeles
        let ms = spendguard_schemas::time::parse_rfc3339_ms("2026-12-01T05:00:00Z").unwrap();
        assert_eq!(
            window_starts(&tz, ms),
            Some(("2026-11-30".to_string(), "2026-11-01".to_string()))
        );
        let utc = jiff::tz::TimeZone::UTC;
        assert_eq!(
            window_starts(&utc, ms),
            Some(("2026-12-01".to_string(), "2026-12-01".to_string()))
        );
    }

    #[test]
    fn a_batch_is_deduplicated_then_folded_per_scope_key_and_window() {
        let cfg = BudgetConfig::parse(
            "[[team]]\nname = \"ds\"\nmembers = [\"arn:aws:sts::*:assumed-role/*\"]\n",
        )
        .unwrap();
        let rs = rows();
        let twice: Vec<&PricedRow<'_>> = rs.iter().chain(rs.iter()).collect();
        let f = fold(twice, &cfg);
        assert_eq!(f.duplicates, 3);
        assert_eq!(f.request_ids.len(), 3);
        let role = &rs[1];
        assert_eq!(role.principal_type, PrincipalType::AssumedRole);
        // user rows: principal day+month; role row: principal, session and team, day+month
        let users: BTreeMap<_, _> = f
            .deltas
            .iter()
            .filter(|(k, _)| k.scope == Scope::Principal && k.kind == WindowKind::Day)
            .map(|(k, d)| (k.key.clone(), d.invocations))
            .collect();
        assert_eq!(users.values().sum::<u64>(), 3);
        let team = &f.deltas[&WindowKey {
            scope: Scope::Team,
            key: "ds".into(),
            kind: WindowKind::Month,
            start: "2026-11-01".into(),
        }];
        assert_eq!(team.invocations, 1);
        assert_eq!(team.cost_usd, role.cost_usd);
        let session = f.deltas.keys().find(|k| k.scope == Scope::Session).unwrap();
        assert_eq!(session.key, role.principal_arn);
        // exact sums: every principal-scope day window adds up to the batch's unique cost
        let total: Decimal = f
            .deltas
            .iter()
            .filter(|(k, _)| k.scope == Scope::Principal && k.kind == WindowKind::Day)
            .map(|(_, d)| d.cost_usd)
            .sum();
        assert_eq!(total, rs.iter().map(|r| r.cost_usd).sum::<Decimal>());
        assert!(total > Decimal::from_str("0").unwrap());
        let principals: HashSet<&str> = rs.iter().map(|r| &*r.principal).collect();
        assert_eq!(
            f.deltas.len(),
            principals.len() * 2 + 2 * 2,
            "day and month for each principal, plus the role's session and team"
        );
    }
}
