//! When the reconcile thread asks the metadata thread for a fetch: the first one is out from
//! the start (the metadata thread is asked for it when it is started); then on the refresh
//! timer (not on GCP, which long-polls, unless fetches fail), after a failed fetch with
//! exponential backoff and jitter, and at the hot-plug watch's deadline. At most one fetch is
//! out at a time; one more asked for meanwhile is held until its result is back. Pure: every
//! method takes `now`.

use super::backoff::{backoff_ceiling, earliest};
use super::fetcher::FetchJob;
use crate::metadata::http::Jitter;
use std::time::{Duration, Instant};

/// The fetch schedule.
#[derive(Debug)]
pub(crate) struct FetchSchedule {
    /// The provider reports changes itself (GCP): no refresh timer while fetches succeed.
    long_polls: bool,
    jitter: Jitter,
    /// A fetch was asked for and its result has not come back yet.
    out: bool,
    /// Another fetch is wanted once the one out is back (with views, if true).
    again: Option<bool>,
    /// Failed fetches in a row.
    failures: u32,
    /// When the refresh timer or the backoff wants the next fetch.
    next: Instant,
    /// When a fetch was last asked for.
    last_asked: Option<Instant>,
}

impl FetchSchedule {
    /// A schedule whose first fetch is out, asked for at `now` by `Fetcher::spawn` (so that
    /// it runs while the rest of the daemon starts).
    pub(crate) fn first_out(now: Instant, long_polls: bool, jitter: Jitter) -> FetchSchedule {
        FetchSchedule {
            long_polls,
            jitter,
            out: true,
            again: None,
            failures: 0,
            next: now,
            last_asked: Some(now),
        }
    }

    /// Asks for a fetch through `send` now, or (while one is out) once it is back. False when
    /// `send` found the metadata thread gone.
    pub(crate) fn ask(
        &mut self,
        now: Instant,
        views: bool,
        send: impl FnOnce(FetchJob) -> bool,
    ) -> bool {
        if self.out {
            self.again = Some(views || self.again.unwrap_or(false));
            return true;
        }
        self.last_asked = Some(now);
        self.out = send(FetchJob { views });
        self.out
    }

    /// The fetch out came back: the one held meanwhile, if any, is asked for now.
    pub(crate) fn returned(&mut self, now: Instant, send: impl FnOnce(FetchJob) -> bool) -> bool {
        self.out = false;
        match self.again.take() {
            Some(views) => self.ask(now, views, send),
            None => true,
        }
    }

    /// A good fetch at `now`: the next is due after the refresh timer. Returns how many
    /// failed fetches came before it.
    pub(crate) fn succeeded(&mut self, now: Instant, refresh_timer: Duration) -> u32 {
        self.next = now + refresh_timer;
        std::mem::take(&mut self.failures)
    }

    /// A failed fetch at `now`: the next is due after the backoff (1 s doubling, capped by
    /// the refresh timer, half of it jitter), which is returned, in whole milliseconds (so the
    /// error reads `retry in 863ms`).
    pub(crate) fn failed(&mut self, now: Instant, refresh_timer: Duration) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let ceiling = backoff_ceiling(self.failures, refresh_timer);
        let delay = ceiling / 2 + self.jitter.below(ceiling / 2);
        let delay = Duration::from_millis(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
        self.next = now + delay;
        delay
    }

    /// The next timed fetch: the refresh timer or backoff, or `hotplug` (the hot-plug watch's
    /// deadline), whichever is first. None while a fetch is out (its result wakes the thread).
    pub(crate) fn due(&self, hotplug: Option<Instant>) -> Option<Instant> {
        if self.out {
            return None;
        }
        let timer = !self.long_polls || self.failures > 0;
        earliest(timer.then_some(self.next), hotplug)
    }

    /// When a fetch was last asked for (the hot-plug watch counts from it).
    pub(crate) fn last_asked(&self) -> Option<Instant> {
        self.last_asked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::test_clock::secs;

    const TIMER: Duration = Duration::from_secs(60);

    /// A schedule whose first fetch came back at `start` (neither good nor failed yet).
    fn schedule(start: Instant, long_polls: bool) -> FetchSchedule {
        let mut schedule = FetchSchedule::first_out(start, long_polls, Jitter::with_seed(7));
        assert!(schedule.returned(start, |_| unreachable!("nothing held")));
        schedule
    }

    #[test]
    fn the_first_fetch_is_out_from_the_start_and_what_is_asked_meanwhile_follows_it() {
        let start = Instant::now();
        let mut schedule = FetchSchedule::first_out(start, false, Jitter::with_seed(7));
        assert_eq!(schedule.due(None), None, "nothing timed while it is out");
        assert_eq!(schedule.last_asked(), Some(start));
        assert!(schedule.ask(start + secs(1), false, |_| unreachable!("one is out")));
        let mut sent = Vec::new();
        assert!(schedule.returned(start + secs(2), |job| {
            sent.push(job);
            true
        }));
        assert_eq!(sent, [FetchJob { views: false }]);
        assert_eq!(schedule.last_asked(), Some(start + secs(2)));
    }

    #[test]
    fn one_fetch_is_out_at_a_time_and_the_one_asked_meanwhile_follows_it() {
        let start = Instant::now();
        let mut schedule = schedule(start, false);
        let mut sent = Vec::new();
        assert!(schedule.ask(start, false, |job| {
            sent.push(job);
            true
        }));
        assert_eq!(
            schedule.due(None),
            None,
            "nothing timed while a fetch is out"
        );
        assert!(schedule.ask(start + secs(1), true, |_| unreachable!("one is out")));
        assert!(schedule.ask(start + secs(2), false, |_| unreachable!("one is out")));
        assert!(schedule.returned(start + secs(3), |job| {
            sent.push(job);
            true
        }));
        assert_eq!(
            sent,
            [FetchJob { views: false }, FetchJob { views: true }],
            "the held asks become one fetch, with views"
        );
        assert_eq!(schedule.last_asked(), Some(start + secs(3)));
        assert!(schedule.returned(start + secs(4), |_| unreachable!("none held")));
        assert!(
            !schedule.ask(start + secs(5), false, |_| false),
            "thread gone"
        );
        assert!(schedule.due(None).is_some(), "not out when not sent");
    }

    #[test]
    fn failures_back_off_with_jitter_up_to_the_timer_and_a_good_fetch_resets() {
        let start = Instant::now();
        let mut schedule = schedule(start, false);
        assert_eq!(
            schedule.due(None),
            Some(start),
            "due at once until one succeeds or fails"
        );
        let mut ceiling = secs(1);
        for n in 0..8 {
            let at = start + secs(n * 100);
            let delay = schedule.failed(at, TIMER);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{delay:?} {ceiling:?}"
            );
            assert_eq!(delay.subsec_nanos() % 1_000_000, 0, "whole milliseconds");
            assert_eq!(schedule.due(None), Some(at + delay));
            ceiling = (ceiling * 2).min(TIMER);
        }
        assert_eq!(schedule.succeeded(start + secs(1000), TIMER), 8);
        assert_eq!(schedule.due(None), Some(start + secs(1060)));
        assert_eq!(schedule.succeeded(start + secs(1100), TIMER), 0);
    }

    #[test]
    fn a_long_polling_provider_has_no_timer_unless_fetches_fail() {
        let start = Instant::now();
        let mut schedule = schedule(start, true);
        assert_eq!(schedule.due(None), None);
        let hotplug = Some(start + secs(5));
        assert_eq!(
            schedule.due(hotplug),
            hotplug,
            "the hot-plug watch still is"
        );
        let delay = schedule.failed(start, TIMER);
        assert_eq!(schedule.due(None), Some(start + delay));
        schedule.succeeded(start + secs(2), TIMER);
        assert_eq!(schedule.due(None), None);
    }

    #[test]
    fn the_earlier_of_timer_and_hot_plug_watch_is_due() {
        let start = Instant::now();
        let mut schedule = schedule(start, false);
        schedule.succeeded(start, TIMER);
        assert_eq!(schedule.due(Some(start + secs(1))), Some(start + secs(1)));
        assert_eq!(schedule.due(Some(start + secs(90))), Some(start + TIMER));
    }
}
