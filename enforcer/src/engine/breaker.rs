//! The circuit breaker's say on a suspension: counting suspensions in its window, opening it
//! (one operator alert), and holding what it stops.

use super::*;

impl Enforcer<'_> {
    /// The circuit breaker's say on one suspension decision: `None` lets it go ahead; `Some` is
    /// the open breaker's trip, and the suspension is held. A suspension counts once per key
    /// within the window; a member suspended because its team is over does not count (the team's
    /// own decision did). The decision that takes the count past the limit opens the breaker and
    /// sends the one operator alert.
    pub(super) async fn breaker_check(
        &self,
        d: &Decision,
        team: bool,
        report: &mut Report,
    ) -> Result<Option<BreakerTrip>, EnforceError> {
        let b = self.cfg.breaker;
        let state = self.store.breaker().await?;
        if let Some(trip) = state.open {
            return Ok(Some(trip));
        }
        let counts = team || d.window.as_ref().is_none_or(|w| w.scope != Scope::Team);
        if !counts {
            return Ok(None);
        }
        let now = self.clock.now_ms();
        let keys = self
            .store
            .count_suspension(state.epoch, &d.key, now, b.window_ms())
            .await?;
        if !b.trips(keys.len()) {
            return Ok(None);
        }
        let trip = BreakerTrip {
            at_ms: now,
            count: keys.len(),
            max_suspensions: b.max_suspensions,
            window_minutes: b.window_minutes,
            by: d.key.key.clone(),
            keys: keys.into_iter().take(BREAKER_KEYS_KEPT).collect(),
            alerted: false,
        };
        if self.store.open_breaker(state.epoch, &trip).await? {
            report.breaker_opened = true;
            self.breaker_alert(state.epoch, &trip).await?;
            return Ok(Some(trip));
        }
        // another enforcer opened it at the same moment (or an operator resumed in between)
        Ok(self.store.breaker().await?.open.or(Some(trip)))
    }

    /// The one loud alert of an open breaker, audited; marked sent only once it went out (the
    /// tick repeats a failed send).
    pub(super) async fn breaker_alert(
        &self,
        epoch: u64,
        trip: &BreakerTrip,
    ) -> Result<(), EnforceError> {
        let shown: Vec<&str> = trip.keys.iter().map(String::as_str).collect();
        let rec = AuditRecord {
            detail: format!(
                "{} suspensions within {} minutes (limit {}); tripped by {}; keys: {}",
                trip.count,
                trip.window_minutes,
                trip.max_suspensions,
                trip.by,
                shown.join(", ")
            ),
            message: format!(
                "spendguard CIRCUIT BREAKER OPEN: {} keys were to be suspended within {} minutes \
                 (the limit is {}). Suspensions are PAUSED: keys over budget from now on are \
                 alerted and held, not suspended; suspensions already in place stand. A wrong \
                 price or a wrong budget is the usual cause: check `spendguard prices explain` for \
                 the models in use and `spendguard budgets show`, then re-arm with `spendguard \
                 enforcement resume` (held keys still over are suspended at the next tick). \
                 Opened at {} by the suspension of {}. Keys counted: {}.",
                trip.count,
                trip.window_minutes,
                trip.max_suspensions,
                rfc3339(trip.at_ms),
                trip.by,
                shown.join(", ")
            ),
            ..bare_record(
                trip.at_ms,
                (AuditScope::Breaker, BREAKER_KEY),
                AuditAction::BreakerOpen,
                Cause::Event,
            )
        };
        self.store.audit(&rec).await?;
        self.notify
            .publish(
                "spendguard: CIRCUIT BREAKER OPEN, suspensions paused",
                &rec.message,
            )
            .await?;
        self.store.breaker_alerted(epoch).await?;
        Ok(())
    }

    /// A suspension the open breaker holds back: the key stays pending (so the tick suspends it
    /// once the breaker is re-armed, if it is still over), alerted once per window.
    pub(super) async fn hold_for_breaker(
        &self,
        d: &Decision,
        prior: &Stored,
        next: &mut Stored,
        cause: Cause,
        trip: &BreakerTrip,
        report: &mut Report,
    ) -> Result<(), EnforceError> {
        let detail = format!(
            "{}: opened at {} after {} suspensions within {} minutes",
            Hold::Breaker.as_str(),
            rfc3339(trip.at_ms),
            trip.count,
            trip.window_minutes
        );
        let message = format!(
            "spendguard: {} ({}) is over budget: {}. It is NOT suspended: the circuit breaker is \
             open ({} suspensions within {} minutes, opened at {}). It will be suspended when an \
             operator runs `spendguard enforcement resume`, if it is still over then.",
            d.key.key,
            d.key.scope.as_str(),
            window_phrase(d),
            trip.count,
            trip.window_minutes,
            rfc3339(trip.at_ms)
        );
        let hold = Hold::Breaker;
        self.hold(d, prior, next, cause, (hold, detail, message), report)
            .await
    }
}
