//! The budget configuration: one TOML document (timezone, defaults, per-principal budgets, teams),
//! parsed and validated here for both the local CLI and the Lambdas, with the precedence rule for
//! which budget applies to a key. Pure: no I/O, no clock.
//!
//! Precedence, when several `[[budget]]` entries of the same scope match a key: an exact ARN wins
//! over any glob; among globs, the longest literal prefix (the text before the first `*` or `?`)
//! wins; remaining ties go to the entry that comes first in the file.

use rust_decimal::Decimal;
use serde::Deserialize;
use std::str::FromStr;
use toml::Spanned;

/// A configuration error, naming the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("budgets line {line}: {message}")]
pub struct BudgetError {
    pub line: usize,
    pub message: String,
}

pub use spendguard_schemas::words::{Mode, Scope};

/// Limits and behaviour, after `[defaults]` are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub daily_usd: Option<Decimal>,
    pub monthly_usd: Option<Decimal>,
    /// Strictly increasing percentages; 100 means exceeded.
    pub thresholds_pct: Vec<u32>,
    pub mode: Mode,
    pub grace_seconds: u64,
}

impl Limits {
    /// Whether a daily or a monthly limit is set.
    pub fn any(&self) -> bool {
        self.daily_usd.is_some() || self.monthly_usd.is_some()
    }
}

/// An exact ARN or a glob (`*` any run of characters, `?` one character).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pub text: String,
    /// Length of the text before the first wildcard (the whole text for an exact ARN).
    pub literal_prefix: usize,
}

impl Pattern {
    fn new(text: String) -> Pattern {
        let literal_prefix = text.find(['*', '?']).unwrap_or(text.len());
        Pattern {
            text,
            literal_prefix,
        }
    }

    pub fn is_exact(&self) -> bool {
        self.literal_prefix == self.text.len()
    }

    pub fn matches(&self, s: &str) -> bool {
        if self.is_exact() {
            return self.text == s;
        }
        glob_match(self.text.as_bytes(), s.as_bytes())
    }
}

/// Iterative glob matching with backtracking to the last `*` (linear in practice, never
/// exponential).
fn glob_match(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// One `[[budget]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub principal: Pattern,
    pub scope: Scope,
    pub limits: Limits,
    /// Alerted, never suspended.
    pub protected: bool,
    pub line: usize,
}

/// One `[[team]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub name: String,
    /// Patterns over principal ARNs (users, roles) or session ARNs.
    pub members: Vec<Pattern>,
    pub limits: Limits,
    pub line: usize,
}

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct BudgetConfig {
    /// IANA name of the zone whose calendar days and months are the windows.
    pub timezone_name: String,
    pub timezone: jiff::tz::TimeZone,
    pub defaults: Limits,
    pub budgets: Vec<Budget>,
    pub teams: Vec<Team>,
    pub breaker: Breaker,
}

/// The enforcer's circuit breaker (`[breaker]`): more than `max_suspensions` keys suspended
/// within `window_minutes` opens it, and further suspensions are held (alerted, not applied)
/// until an operator re-arms it (`spendguard enforcement resume`). A wrong price, a bad budget
/// push or a bug then costs at most that many suspensions, not an organisation's access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breaker {
    pub max_suspensions: u32,
    pub window_minutes: u32,
}

impl Default for Breaker {
    fn default() -> Breaker {
        Breaker {
            max_suspensions: 20,
            window_minutes: 10,
        }
    }
}

impl Breaker {
    pub fn window_ms(&self) -> i64 {
        i64::from(self.window_minutes) * 60_000
    }

    /// Whether `count` suspensions within the window open the breaker.
    pub fn trips(&self, count: usize) -> bool {
        count > self.max_suspensions as usize
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    daily_usd: Option<Spanned<String>>,
    monthly_usd: Option<Spanned<String>>,
    thresholds_pct: Option<Spanned<Vec<i64>>>,
    mode: Option<Spanned<String>>,
    grace_seconds: Option<Spanned<i64>>,
}

// The limit fields repeat in RawBudget and RawTeam instead of a `#[serde(flatten)]` RawLimits:
// serde cannot combine flatten with deny_unknown_fields, and a typo such as `daly_usd` must be an
// error, not a silently missing limit.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBudget {
    principal: Spanned<String>,
    scope: Option<Spanned<String>>,
    #[serde(default)]
    protected: bool,
    daily_usd: Option<Spanned<String>>,
    monthly_usd: Option<Spanned<String>>,
    thresholds_pct: Option<Spanned<Vec<i64>>>,
    mode: Option<Spanned<String>>,
    grace_seconds: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTeam {
    name: Spanned<String>,
    members: Spanned<Vec<String>>,
    daily_usd: Option<Spanned<String>>,
    monthly_usd: Option<Spanned<String>>,
    thresholds_pct: Option<Spanned<Vec<i64>>>,
    mode: Option<Spanned<String>>,
    grace_seconds: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    timezone: Option<Spanned<String>>,
    #[serde(default)]
    defaults: RawLimits,
    #[serde(default)]
    budget: Vec<Spanned<RawBudget>>,
    #[serde(default)]
    team: Vec<Spanned<RawTeam>>,
    breaker: Option<RawBreaker>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBreaker {
    max_suspensions: Option<Spanned<i64>>,
    window_minutes: Option<Spanned<i64>>,
}

/// Line (1-based) of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

struct Ctx<'t> {
    text: &'t str,
}

impl Ctx<'_> {
    fn err<T>(&self, at: usize, message: impl Into<String>) -> Result<T, BudgetError> {
        Err(BudgetError {
            line: line_of(self.text, at),
            message: message.into(),
        })
    }

    fn usd(
        &self,
        v: &Option<Spanned<String>>,
        field: &str,
    ) -> Result<Option<Decimal>, BudgetError> {
        let Some(v) = v else { return Ok(None) };
        let at = v.span().start;
        match Decimal::from_str(v.get_ref().trim()) {
            Ok(d) if d.is_sign_negative() => self.err(at, format!("{field} must not be negative")),
            Ok(d) => Ok(Some(d)),
            Err(e) => self.err(
                at,
                format!("{field} = {:?} is not a decimal: {e}", v.get_ref()),
            ),
        }
    }

    fn limits(
        &self,
        base: &Limits,
        daily: &Option<Spanned<String>>,
        monthly: &Option<Spanned<String>>,
        thresholds: &Option<Spanned<Vec<i64>>>,
        mode: &Option<Spanned<String>>,
        grace: &Option<Spanned<i64>>,
    ) -> Result<Limits, BudgetError> {
        let mut l = base.clone();
        if let Some(d) = self.usd(daily, "daily_usd")? {
            l.daily_usd = Some(d);
        }
        if let Some(m) = self.usd(monthly, "monthly_usd")? {
            l.monthly_usd = Some(m);
        }
        if let Some(t) = thresholds {
            let at = t.span().start;
            let v = t.get_ref();
            if v.is_empty() {
                return self.err(at, "thresholds_pct is empty");
            }
            let mut out = Vec::with_capacity(v.len());
            for &p in v {
                if !(1..=1000).contains(&p) {
                    return self.err(at, format!("threshold {p}% is outside 1..=1000"));
                }
                if out.last().is_some_and(|&last: &u32| i64::from(last) >= p) {
                    return self.err(at, "thresholds_pct must be strictly increasing");
                }
                out.push(p as u32);
            }
            l.thresholds_pct = out;
        }
        if let Some(m) = mode {
            l.mode = match Mode::parse(m.get_ref()) {
                Some(mode) => mode,
                None => {
                    return self.err(
                        m.span().start,
                        format!(
                            "mode = {:?}: expected enforce, shadow or alert_only",
                            m.get_ref()
                        ),
                    )
                }
            };
        }
        if let Some(g) = grace {
            let v = *g.get_ref();
            if !(0..=7 * 86_400).contains(&v) {
                return self.err(
                    g.span().start,
                    format!("grace_seconds = {v} is outside 0..=604800"),
                );
            }
            l.grace_seconds = v as u64;
        }
        Ok(l)
    }

    fn pattern(&self, s: &Spanned<String>, what: &str) -> Result<Pattern, BudgetError> {
        let t = s.get_ref().trim();
        if !t.starts_with("arn:") {
            return self.err(
                s.span().start,
                format!("{what} {t:?} is not an ARN (or a glob over ARNs)"),
            );
        }
        Ok(Pattern::new(t.to_string()))
    }
}

impl BudgetConfig {
    /// Parses and validates a budgets document.
    pub fn parse(text: &str) -> Result<BudgetConfig, BudgetError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| BudgetError {
            line: e.span().map_or(1, |s| line_of(text, s.start)),
            message: e.message().to_string(),
        })?;
        let cx = Ctx { text };
        let (timezone_name, tz_at) = match &raw.timezone {
            Some(t) => (t.get_ref().trim().to_string(), t.span().start),
            None => ("UTC".to_string(), 0),
        };
        let timezone = match jiff::tz::TimeZone::get(&timezone_name) {
            Ok(tz) => tz,
            Err(_) => {
                return cx.err(
                    tz_at,
                    format!("timezone {timezone_name:?} is not an IANA time zone name"),
                )
            }
        };
        let builtin = Limits {
            daily_usd: None,
            monthly_usd: None,
            thresholds_pct: vec![50, 80, 100],
            mode: Mode::Enforce,
            grace_seconds: 300,
        };
        let d = &raw.defaults;
        let defaults = cx.limits(
            &builtin,
            &d.daily_usd,
            &d.monthly_usd,
            &d.thresholds_pct,
            &d.mode,
            &d.grace_seconds,
        )?;
        let mut budgets = Vec::with_capacity(raw.budget.len());
        for b in &raw.budget {
            let line = line_of(text, b.span().start);
            let r = b.get_ref();
            let scope = match r
                .scope
                .as_ref()
                .map(|s| (s.get_ref().as_str(), s.span().start))
            {
                None | Some(("principal", _)) => Scope::Principal,
                Some(("session", _)) => Scope::Session,
                Some((other, at)) => {
                    return cx.err(
                        at,
                        format!(
                            "scope = {other:?}: expected principal or session (teams are [[team]])"
                        ),
                    )
                }
            };
            budgets.push(Budget {
                principal: cx.pattern(&r.principal, "principal")?,
                scope,
                limits: cx.limits(
                    &defaults,
                    &r.daily_usd,
                    &r.monthly_usd,
                    &r.thresholds_pct,
                    &r.mode,
                    &r.grace_seconds,
                )?,
                protected: r.protected,
                line,
            });
        }
        let mut teams: Vec<Team> = Vec::with_capacity(raw.team.len());
        for t in &raw.team {
            let line = line_of(text, t.span().start);
            let r = t.get_ref();
            let name = r.name.get_ref().trim().to_string();
            if name.is_empty() {
                return cx.err(r.name.span().start, "team name is empty");
            }
            if let Some(first) = teams.iter().find(|x| x.name == name) {
                return cx.err(
                    r.name.span().start,
                    format!("team {name:?} is already defined on line {}", first.line),
                );
            }
            if r.members.get_ref().is_empty() {
                return cx.err(
                    r.members.span().start,
                    format!("team {name:?} has no members"),
                );
            }
            let mut members = Vec::with_capacity(r.members.get_ref().len());
            for m in r.members.get_ref() {
                if !m.trim().starts_with("arn:") {
                    return cx.err(
                        r.members.span().start,
                        format!(
                            "member {m:?} of team {name:?} is not an ARN (or a glob over ARNs)"
                        ),
                    );
                }
                members.push(Pattern::new(m.trim().to_string()));
            }
            teams.push(Team {
                name,
                members,
                limits: cx.limits(
                    &defaults,
                    &r.daily_usd,
                    &r.monthly_usd,
                    &r.thresholds_pct,
                    &r.mode,
                    &r.grace_seconds,
                )?,
                line,
            });
        }
        let mut breaker = Breaker::default();
        if let Some(b) = &raw.breaker {
            if let Some(v) = &b.max_suspensions {
                match u32::try_from(*v.get_ref()) {
                    Ok(n @ 1..=100_000) => breaker.max_suspensions = n,
                    _ => {
                        return cx.err(
                            v.span().start,
                            format!("max_suspensions = {} is outside 1..=100000", v.get_ref()),
                        )
                    }
                }
            }
            if let Some(v) = &b.window_minutes {
                match u32::try_from(*v.get_ref()) {
                    Ok(n @ 1..=1440) => breaker.window_minutes = n,
                    _ => {
                        return cx.err(
                            v.span().start,
                            format!("window_minutes = {} is outside 1..=1440", v.get_ref()),
                        )
                    }
                }
            }
        }
        Ok(BudgetConfig {
            timezone_name,
            timezone,
            defaults,
            budgets,
            teams,
            breaker,
        })
    }

    /// Whether any limit is set at all (defaults, a budget or a team): without one, no decision
    /// can be taken and nothing burns.
    pub fn limits_anything(&self) -> bool {
        self.defaults.any()
            || self.budgets.iter().any(|b| b.limits.any())
            || self.teams.iter().any(|t| t.limits.any())
    }

    /// The `[[budget]]` of `scope` that applies to `key` (see the module docs for precedence).
    pub fn budget_for(&self, scope: Scope, key: &str) -> Option<&Budget> {
        self.budgets
            .iter()
            .filter(|b| b.scope == scope && b.principal.matches(key))
            // max_by_key keeps the last maximum: reverse so file order breaks ties.
            .rev()
            .max_by_key(|b| (b.principal.is_exact(), b.principal.literal_prefix))
    }

    /// The teams whose members match the principal (user or role ARN) or the session ARN.
    pub fn teams_for(&self, principal: &str, session: Option<&str>) -> Vec<&Team> {
        self.teams
            .iter()
            .filter(|t| {
                t.members
                    .iter()
                    .any(|m| m.matches(principal) || session.is_some_and(|s| m.matches(s)))
            })
            .collect()
    }
}

/// The budgets a long-lived function has in force, and the one rule every function (the
/// aggregator, the evaluator, the enforcer) applies to the stored document it reads: a new
/// version that parses replaces them; one that does not is refused and the budgets in force stay,
/// so a newer CLI pushing a field older Lambdas reject cannot stop alerts while counting goes on.
/// A refusal is said every time the bad version is offered, for the log, the metric and its alarm.
#[derive(Debug, Clone)]
pub struct InForce {
    pub version: u64,
    pub cfg: std::sync::Arc<BudgetConfig>,
}

/// What offering a stored document did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    /// The version in force already.
    Unchanged,
    /// Parsed, and now in force.
    Loaded { version: u64 },
    /// Does not parse: the budgets in force stay.
    Refused {
        version: u64,
        in_force: u64,
        error: BudgetError,
    },
}

impl InForce {
    pub fn new(version: u64, cfg: BudgetConfig) -> InForce {
        InForce {
            version,
            cfg: std::sync::Arc::new(cfg),
        }
    }

    pub fn offer(&mut self, version: u64, text: &str) -> Offer {
        if version == self.version {
            return Offer::Unchanged;
        }
        match BudgetConfig::parse(text) {
            Ok(cfg) => {
                *self = InForce::new(version, cfg);
                Offer::Loaded { version }
            }
            Err(error) => Offer::Refused {
                version,
                in_force: self.version,
                error,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"timezone = "Europe/Berlin"   # IANA name: window boundaries
[defaults]
daily_usd = "50"
monthly_usd = "1000"
thresholds_pct = [50, 80, 100]
mode = "enforce"
grace_seconds = 300

[[budget]]
principal = "arn:aws:iam::111122223333:user/alice"
scope = "principal"
daily_usd = "5"
protected = true

[[budget]]
principal = "arn:aws:iam::111122223333:user/*"
monthly_usd = "200"
mode = "shadow"

[[budget]]
principal = "arn:aws:iam::111122223333:user/a*"
daily_usd = "7.25"

[[budget]]
principal = "arn:aws:sts::111122223333:assumed-role/DataScience/*"
scope = "session"
daily_usd = "2"

[[team]]
name = "payments"
members = ["arn:aws:sts::111122223333:assumed-role/DataScience/*", "arn:aws:iam::111122223333:user/bob"]
monthly_usd = "5000"

[breaker]
max_suspensions = 5
window_minutes = 15
"#;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn the_documented_format_parses_with_defaults_applied() {
        let c = BudgetConfig::parse(EXAMPLE).unwrap();
        assert_eq!(c.timezone_name, "Europe/Berlin");
        assert_eq!(
            c.breaker,
            Breaker {
                max_suspensions: 5,
                window_minutes: 15
            }
        );
        assert!(!c.breaker.trips(5) && c.breaker.trips(6));
        assert_eq!(c.defaults.daily_usd, Some(d("50")));
        assert_eq!(c.budgets.len(), 4);
        let alice = &c.budgets[0];
        assert_eq!(alice.line, 9);
        assert!(alice.protected);
        assert_eq!(alice.limits.daily_usd, Some(d("5")));
        assert_eq!(
            alice.limits.monthly_usd,
            Some(d("1000")),
            "inherited from [defaults]"
        );
        assert_eq!(alice.limits.thresholds_pct, vec![50, 80, 100]);
        assert_eq!(c.budgets[1].limits.mode, Mode::Shadow);
        assert_eq!(c.budgets[1].limits.daily_usd, Some(d("50")));
        assert_eq!(c.budgets[3].scope, Scope::Session);
        assert_eq!(c.teams[0].name, "payments");
        assert_eq!(c.teams[0].limits.monthly_usd, Some(d("5000")));
        assert_eq!(c.teams[0].line, 29);
    }

    #[test]
    fn precedence_is_exact_then_longest_literal_prefix_then_file_order() {
        let c = BudgetConfig::parse(EXAMPLE).unwrap();
        let who = |k: &str| c.budget_for(Scope::Principal, k).map(|b| b.line);
        assert_eq!(
            who("arn:aws:iam::111122223333:user/alice"),
            Some(9),
            "exact wins"
        );
        assert_eq!(
            who("arn:aws:iam::111122223333:user/anna"),
            Some(20),
            "user/a* is longer than user/*"
        );
        assert_eq!(who("arn:aws:iam::111122223333:user/bob"), Some(15));
        assert_eq!(who("arn:aws:iam::444455556666:user/bob"), None);
        assert_eq!(who("arn:aws:iam::111122223333:role/DataScience"), None);
        // a session budget is looked up by session ARN, not by principal
        let s = "arn:aws:sts::111122223333:assumed-role/DataScience/jane";
        assert_eq!(c.budget_for(Scope::Session, s).map(|b| b.line), Some(24));
        assert_eq!(c.budget_for(Scope::Principal, s), None);
        // ties of the same rank go to file order
        let tie = BudgetConfig::parse(
            "[[budget]]\nprincipal = \"arn:aws:iam::1:user/x*\"\n[[budget]]\nprincipal = \"arn:aws:iam::1:user/x?\"\n",
        )
        .unwrap();
        assert_eq!(
            tie.budget_for(Scope::Principal, "arn:aws:iam::1:user/xy")
                .map(|b| b.line),
            Some(1)
        );
    }

    #[test]
    fn teams_match_principals_or_sessions() {
        let c = BudgetConfig::parse(EXAMPLE).unwrap();
        let role = "arn:aws:iam::111122223333:role/DataScience";
        let session = "arn:aws:sts::111122223333:assumed-role/DataScience/jane";
        assert_eq!(c.teams_for(role, Some(session)).len(), 1);
        assert_eq!(c.teams_for(role, None).len(), 0);
        assert_eq!(
            c.teams_for("arn:aws:iam::111122223333:user/bob", None)
                .len(),
            1
        );
        assert_eq!(
            c.teams_for("arn:aws:iam::111122223333:user/bobby", None)
                .len(),
            0
        );
    }

    #[test]
    fn globs_match_like_shell_patterns() {
        let p = Pattern::new("arn:*:user/a?c*".into());
        assert!(p.matches("arn:aws:iam::1:user/abc"));
        assert!(p.matches("arn:aws:iam::1:user/axcdef"));
        assert!(!p.matches("arn:aws:iam::1:user/ac"));
        assert!(!p.matches("arn:aws:iam::1:role/abc"));
        assert!(Pattern::new("arn:**".into()).matches("arn:"));
        assert!(!Pattern::new("arn:a".into()).matches("arn:ab"));
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        let cases: &[(&str, usize, &str)] = &[
            ("timezone = \"Mars/Olympus\"\n", 1, "not an IANA time zone"),
            ("[breaker]\nmax_suspensions = 0\n", 2, "outside 1..=100000"),
            ("[breaker]\nwindow_minutes = 5000\n", 2, "outside 1..=1440"),
            ("[breaker]\nmax_suspension = 3\n", 2, "unknown field"),
            ("[defaults]\ndaily_usd = 5.5\n", 2, "expected a string"),
            ("[defaults]\n\ndaily_usd = \"five\"\n", 3, "not a decimal"),
            ("[defaults]\nmonthly_usd = \"-1\"\n", 2, "must not be negative"),
            ("[defaults]\nthresholds_pct = [80, 50]\n", 2, "strictly increasing"),
            ("[defaults]\nthresholds_pct = [0]\n", 2, "outside 1..=1000"),
            ("[defaults]\nmode = \"block\"\n", 2, "expected enforce, shadow or alert_only"),
            ("[defaults]\ngrace_seconds = -1\n", 2, "grace_seconds = -1"),
            ("[[budget]]\nprincipal = \"alice\"\n", 2, "is not an ARN"),
            ("[[budget]]\nprincipal = \"arn:aws:iam::1:user/a\"\nscope = \"team\"\n", 3, "expected principal or session"),
            ("[[budget]]\nprincipal = \"arn:aws:iam::1:user/a\"\ndaly_usd = \"1\"\n", 3, "unknown field `daly_usd`"),
            ("[[team]]\nname = \"t\"\nmembers = []\n", 3, "has no members"),
            ("[[team]]\nname = \"t\"\nmembers = [\"arn:x\"]\n[[team]]\nname = \"t\"\nmembers = [\"arn:y\"]\n", 5, "already defined on line 1"),
            ("[defaults\n", 1, ""),
        ];
        for (text, line, needle) in cases {
            let e = BudgetConfig::parse(text).unwrap_err();
            assert_eq!(e.line, *line, "{text:?}: {e}");
            assert!(e.to_string().contains(needle), "{text:?}: {e}");
            assert!(e.to_string().starts_with(&format!("budgets line {line}: ")));
        }
    }

    #[test]
    fn an_empty_document_is_utc_with_builtin_defaults() {
        let c = BudgetConfig::parse("").unwrap();
        assert_eq!(c.timezone_name, "UTC");
        assert_eq!(c.defaults.thresholds_pct, vec![50, 80, 100]);
        assert_eq!(c.defaults.mode, Mode::Enforce);
        assert!(c.budgets.is_empty() && c.teams.is_empty());
        assert_eq!(
            c.breaker,
            Breaker {
                max_suspensions: 20,
                window_minutes: 10
            }
        );
    }

    #[test]
    fn a_document_that_does_not_parse_is_refused_and_the_budgets_in_force_stay() {
        let mut f = InForce::new(
            0,
            BudgetConfig::parse("[defaults]\ndaily_usd = \"5\"\n").unwrap(),
        );
        assert_eq!(f.offer(0, "garbage"), Offer::Unchanged);
        assert_eq!(
            f.offer(3, "[defaults]\ndaily_usd = \"7\"\n"),
            Offer::Loaded { version: 3 }
        );
        assert_eq!(f.cfg.defaults.daily_usd, Some(d("7")));
        // a newer CLI's field: refused, every time it is offered, and 3 stays in force
        for _ in 0..2 {
            match f.offer(4, "[defaults]\ndaily_usd = \"9\"\nnew_field = 1\n") {
                Offer::Refused {
                    version: 4,
                    in_force: 3,
                    error,
                } => assert_eq!(error.line, 3, "{error}"),
                o => panic!("{o:?}"),
            }
        }
        assert_eq!((f.version, f.cfg.defaults.daily_usd), (3, Some(d("7"))));
    }
}
