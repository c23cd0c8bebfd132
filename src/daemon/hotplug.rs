//! The hot-plug watch: a link that appears after start and that the metadata does not list yet
//! is a NIC whose metadata may still be propagating, so the daemon fetches again soon, often
//! at first and then less often, until the metadata lists it or the link goes. Pure: the
//! caller passes the links, what the metadata lists, and `now`.

use crate::kernel::Link;
use crate::net::Mac;
use crate::plan::desired::match_link;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// (age of the link, retry interval) steps: frequent at first, then frugal; none past the last.
const RETRIES: [(Duration, Duration); 3] = [
    (Duration::from_secs(10), Duration::from_millis(500)),
    (Duration::from_secs(30), Duration::from_secs(1)),
    (Duration::from_secs(120), Duration::from_secs(5)),
];

#[derive(Debug, Default)]
pub(crate) struct HotplugWatch {
    /// The links present at the first round; only those that appear later are candidates.
    known: Option<HashSet<u32>>,
    /// Hot-plugged links the metadata does not list yet, with when they were first seen.
    pending: HashMap<u32, Instant>,
}

impl HotplugWatch {
    /// Looks at the links after a round (`candidates`): true when a link is newly waiting for
    /// its metadata (`listed` says whether the metadata has a NIC with that MAC).
    pub(crate) fn track(
        &mut self,
        now: Instant,
        candidates: &HashMap<u32, Mac>,
        listed: impl Fn(Mac) -> bool,
    ) -> bool {
        let known = self
            .known
            .get_or_insert_with(|| candidates.keys().copied().collect());
        let unlisted: HashSet<u32> = candidates
            .iter()
            .filter(|(index, mac)| !known.contains(index) && !listed(**mac))
            .map(|(index, _)| *index)
            .collect();
        self.pending.retain(|index, _| unlisted.contains(index));
        let mut new = false;
        for index in unlisted {
            self.pending.entry(index).or_insert_with(|| {
                new = true;
                now
            });
        }
        new
    }

    /// While a link waits for its metadata, the next fetch is due one retry interval (by the
    /// age of the youngest such link, at most `cap`) after `last_fetch`.
    pub(crate) fn next_fetch(
        &self,
        now: Instant,
        last_fetch: Option<Instant>,
        cap: Duration,
    ) -> Option<Instant> {
        let youngest = self
            .pending
            .values()
            .map(|seen| now.saturating_duration_since(*seen))
            .min()?;
        let (_, interval) = RETRIES.iter().find(|(until, _)| youngest < *until)?;
        Some(last_fetch.unwrap_or(now) + (*interval).min(cap))
    }
}

/// The links a NIC could be matched to, by index, with their MAC.
pub(crate) fn candidates(links: &[Link]) -> HashMap<u32, Mac> {
    links
        .iter()
        .filter_map(|l| Some((l.index, l.mac?)))
        .filter(|(_, mac)| match_link(*mac, links).is_ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::test_clock::ms;

    const CAP: Duration = Duration::from_secs(60);

    fn links(links: &[(u32, &str)]) -> HashMap<u32, Mac> {
        links
            .iter()
            .map(|(index, mac)| (*index, mac.parse().unwrap()))
            .collect()
    }

    #[test]
    fn only_a_link_that_appears_later_unlisted_is_watched() {
        let start = Instant::now();
        let mut watch = HotplugWatch::default();
        let eth0 = (2, "02:00:00:00:00:01");
        assert!(
            !watch.track(start, &links(&[eth0]), |_| false),
            "present at start"
        );
        assert_eq!(watch.next_fetch(start, None, CAP), None);
        let both = links(&[eth0, (3, "02:00:00:00:00:02")]);
        assert!(
            !watch.track(start, &both, |_| true),
            "listed: nothing to wait for"
        );
        assert!(watch.track(start, &both, |_| false), "unlisted: new");
        assert!(
            !watch.track(start + ms(100), &both, |_| false),
            "not new twice"
        );
        assert!(!watch.track(start, &links(&[eth0]), |_| false), "gone");
        assert_eq!(watch.next_fetch(start, None, CAP), None);
    }

    #[test]
    fn retries_are_frequent_at_first_then_frugal_then_none() {
        let start = Instant::now();
        let mut watch = HotplugWatch::default();
        watch.track(start, &links(&[]), |_| false);
        watch.track(start, &links(&[(3, "02:00:00:00:00:02")]), |_| false);
        let last = Some(start);
        let at = |age: u64| watch.next_fetch(start + Duration::from_secs(age), last, CAP);
        assert_eq!(at(1), Some(start + ms(500)));
        assert_eq!(at(20), Some(start + ms(1000)));
        assert_eq!(at(60), Some(start + ms(5000)));
        assert_eq!(at(120), None, "given up after two minutes");
        assert_eq!(
            watch.next_fetch(start, last, ms(200)),
            Some(start + ms(200)),
            "capped by the refresh timer"
        );
        assert_eq!(watch.next_fetch(start, None, CAP), Some(start + ms(500)));
    }
}
