//! The metadata thread's request pacing, so no client of the API and no misbehaving metadata
//! service can make the daemon send more than a few requests per second for long: the budget
//! of asked-for fetches (API refreshes, SIGHUP) and the spacing of GCP long-polls. Pure
//! arithmetic over `Instant`s, tested without a clock.

use super::backoff::backoff_ceiling;
use std::time::{Duration, Instant};

/// Asked-for fetches in a burst, before the rate applies. Azure's IMDS allows about 5
/// requests per second per VM (and throttles past it); a fetch costs one or two.
const ASKED_BURST: u32 = 3;
/// One asked-for fetch more per this interval once the burst is spent.
const ASKED_INTERVAL: Duration = Duration::from_secs(1);

/// A long-poll answered sooner than this without a change (or with an error) was not held
/// by the server: the next one waits, doubling from 1 s up to [`LONG_POLL_BACKOFF_MAX`].
const LONG_POLL_MIN_HOLD: Duration = Duration::from_secs(1);
const LONG_POLL_BACKOFF_MAX: Duration = Duration::from_secs(60);

/// A token bucket: [`ASKED_BURST`] tokens, one back per [`ASKED_INTERVAL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AskedBudget {
    tokens: u32,
    /// When the last token was added back (or the bucket was full).
    refilled: Instant,
}

impl AskedBudget {
    pub(crate) fn new(now: Instant) -> AskedBudget {
        AskedBudget {
            tokens: ASKED_BURST,
            refilled: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        while self.tokens < ASKED_BURST && now >= self.refilled + ASKED_INTERVAL {
            self.tokens += 1;
            self.refilled += ASKED_INTERVAL;
        }
        if self.tokens == ASKED_BURST {
            self.refilled = now;
        }
    }

    /// How long until an asked-for fetch may start (zero: now).
    pub(crate) fn wait(&mut self, now: Instant) -> Duration {
        self.refill(now);
        if self.tokens > 0 {
            Duration::ZERO
        } else {
            (self.refilled + ASKED_INTERVAL).saturating_duration_since(now)
        }
    }

    /// Spends a token for a fetch starting at `now`; false when none is left.
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

/// How a GCP long-poll (or the plain fetch that confirms recovery) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PollOutcome {
    /// The document changed.
    Changed,
    /// The server answered with the same ETag.
    Unchanged,
    /// The request failed (HTTP error, timeout, empty or unparsable body).
    Failed,
}

/// When the next unasked GCP request may start. A long-poll that the server held (at least
/// [`LONG_POLL_MIN_HOLD`]) or that brought a change resets the backoff; one answered at once
/// without a change, and every failure, count as a strike, as a failed fetch does.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct LongPollPace {
    strikes: u32,
    not_before: Option<Instant>,
}

impl LongPollPace {
    /// Records a request that started at `started` and ended at `now`; returns the delay
    /// before the next one.
    pub(crate) fn ended(
        &mut self,
        outcome: PollOutcome,
        started: Instant,
        now: Instant,
    ) -> Duration {
        let held = now.saturating_duration_since(started) >= LONG_POLL_MIN_HOLD;
        let delay = match outcome {
            PollOutcome::Unchanged if held => Duration::ZERO,
            // A change ends the backoff, yet changes are taken at most once per second.
            PollOutcome::Changed => {
                self.strikes = 0;
                (started + LONG_POLL_MIN_HOLD).saturating_duration_since(now)
            }
            PollOutcome::Unchanged | PollOutcome::Failed => {
                self.strikes = self.strikes.saturating_add(1);
                backoff_ceiling(self.strikes, LONG_POLL_BACKOFF_MAX)
            }
        };
        if outcome == PollOutcome::Unchanged && held {
            self.strikes = 0;
        }
        self.not_before = Some(now + delay);
        delay
    }

    /// How long from `now` until the next unasked request may start.
    pub(crate) fn wait(&self, now: Instant) -> Duration {
        self.not_before
            .map_or(Duration::ZERO, |at| at.saturating_duration_since(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::test_clock::{ms, secs};

    #[test]
    fn the_budget_allows_a_burst_of_3_then_one_per_second() {
        let start = Instant::now();
        let mut budget = AskedBudget::new(start);
        for _ in 0..3 {
            assert_eq!(budget.wait(start), Duration::ZERO);
            assert!(budget.take(start));
        }
        assert!(!budget.take(start));
        assert_eq!(budget.wait(start + ms(400)), ms(600));
        assert!(budget.take(start + ms(1000)));
        assert!(!budget.take(start + ms(1500)));
        assert!(budget.take(start + ms(2000)));
        let started = start + ms(2000);
        let fetches = (0..2000)
            .filter(|n| budget.take(started + ms(*n / 2)))
            .count();
        assert_eq!(fetches, 0, "the second after two seconds has no token left");
        assert!(budget.take(started + ms(1000)));
        assert_eq!(budget.wait(start + ms(60_000)), Duration::ZERO, "refilled");
        for _ in 0..3 {
            assert!(budget.take(start + ms(60_000)));
        }
        assert!(
            !budget.take(start + ms(60_000)),
            "never more than the burst"
        );
    }

    #[test]
    fn long_polls_answered_at_once_back_off_like_failures() {
        let start = Instant::now();
        let mut pace = LongPollPace::default();
        let mut now = start;
        let mut delays = Vec::new();
        for _ in 0..8 {
            let delay = pace.ended(PollOutcome::Unchanged, now, now + ms(2));
            delays.push(delay.as_secs());
            now += ms(2) + delay;
        }
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(pace.wait(now - ms(500)), ms(500));
        let held = pace.ended(PollOutcome::Unchanged, now, now + secs(30));
        assert_eq!(held, Duration::ZERO, "a held long-poll resets");
        assert_eq!(pace.ended(PollOutcome::Failed, now, now + ms(1)), secs(1));
        assert_eq!(
            pace.ended(PollOutcome::Failed, now, now + secs(40)),
            secs(2),
            "a failure counts however long it took"
        );
    }

    #[test]
    fn changes_are_taken_at_most_once_per_second() {
        let start = Instant::now();
        let mut pace = LongPollPace::default();
        pace.ended(PollOutcome::Failed, start, start);
        assert_eq!(
            pace.ended(PollOutcome::Changed, start, start + ms(300)),
            ms(700)
        );
        assert_eq!(pace.wait(start + ms(300)), ms(700));
        assert_eq!(
            pace.ended(PollOutcome::Changed, start, start + ms(5000)),
            Duration::ZERO
        );
        assert_eq!(
            pace.ended(PollOutcome::Unchanged, start, start + ms(3)),
            secs(1),
            "the strikes started over with the change"
        );
    }
}
