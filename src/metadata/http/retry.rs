//! The retry policy of the metadata fetcher: how many attempts, how long to wait between them
//! (exponential backoff with full jitter, `Retry-After` honoured), and the tiny PRNG behind the
//! jitter. Pure apart from seeding, so it is unit-tested without a network.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest `Retry-After` we honour: a server asking for more is waited on this long only.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(10);

/// How often and how patiently a transient failure is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included (1 = never retry; 0 is treated as 1).
    pub attempts: u32,
    /// Backoff ceiling before the first retry; doubles with every further retry.
    pub base: Duration,
    /// Upper bound of any backoff ceiling.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base: Duration::from_millis(250),
            max: Duration::from_secs(4),
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retry.
    pub fn none() -> Self {
        RetryPolicy {
            attempts: 1,
            base: Duration::ZERO,
            max: Duration::ZERO,
        }
    }

    /// Whether another attempt follows attempt number `done` (1-based) when it failed transiently.
    pub fn should_retry(&self, done: u32) -> bool {
        done < self.attempts.max(1)
    }

    /// The backoff ceiling after `done` failed attempts: `min(max, base × 2^(done-1))`.
    pub fn ceiling(&self, done: u32) -> Duration {
        let shift = done.saturating_sub(1).min(31);
        self.base.saturating_mul(1u32 << shift).min(self.max)
    }

    /// The wait after `done` failed attempts: a uniformly random duration in `[0, ceiling]`
    /// (full jitter), or the server's `Retry-After` (capped at [`RETRY_AFTER_CAP`]) when it
    /// asked for longer.
    pub fn delay(&self, done: u32, retry_after: Option<Duration>, rng: &Jitter) -> Duration {
        let jittered = rng.below(self.ceiling(done));
        match retry_after {
            Some(asked) => jittered.max(asked.min(RETRY_AFTER_CAP)),
            None => jittered,
        }
    }
}

/// A lock-free splitmix64 generator: good enough to spread retries, not for anything secret.
#[derive(Debug)]
pub struct Jitter {
    state: AtomicU64,
}

const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

impl Jitter {
    pub fn with_seed(seed: u64) -> Self {
        Jitter {
            state: AtomicU64::new(seed),
        }
    }

    /// Seeded from the clock and the process id, so a fleet rebooting together spreads out.
    pub fn from_entropy() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Jitter::with_seed(nanos ^ (u64::from(std::process::id()) << 32))
    }

    fn next_u64(&self) -> u64 {
        let mut z = self
            .state
            .fetch_add(GOLDEN_GAMMA, Ordering::Relaxed)
            .wrapping_add(GOLDEN_GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniformly distributed duration in `[0, limit]` (nanosecond resolution).
    pub fn below(&self, limit: Duration) -> Duration {
        let nanos = u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.next_u64() % nanos.saturating_add(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn attempts_count_the_first_one() {
        let policy = RetryPolicy {
            attempts: 3,
            base: ms(1),
            max: ms(10),
        };
        assert!(policy.should_retry(1));
        assert!(policy.should_retry(2));
        assert!(!policy.should_retry(3));
        assert!(!RetryPolicy::none().should_retry(1));
        let zero = RetryPolicy {
            attempts: 0,
            ..policy
        };
        assert!(!zero.should_retry(1));
    }

    #[test]
    fn ceiling_doubles_up_to_max() {
        let policy = RetryPolicy {
            attempts: 10,
            base: ms(100),
            max: ms(1000),
        };
        let ceilings: Vec<u64> = (1..=6)
            .map(|n| policy.ceiling(n).as_millis() as u64)
            .collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(policy.ceiling(200), ms(1000));
    }

    #[test]
    fn delay_stays_within_the_ceiling_and_spreads() {
        let policy = RetryPolicy {
            attempts: 5,
            base: ms(100),
            max: ms(1000),
        };
        let rng = Jitter::with_seed(42);
        let delays: Vec<Duration> = (0..200).map(|_| policy.delay(2, None, &rng)).collect();
        assert!(delays.iter().all(|d| *d <= ms(200)));
        assert!(delays.iter().any(|d| *d < ms(50)));
        assert!(delays.iter().any(|d| *d > ms(150)));
    }

    #[test]
    fn retry_after_is_a_floor_and_is_capped() {
        let policy = RetryPolicy {
            attempts: 3,
            base: ms(1),
            max: ms(2),
        };
        let rng = Jitter::with_seed(7);
        assert_eq!(policy.delay(1, Some(ms(1500)), &rng), ms(1500));
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3600)), &rng),
            RETRY_AFTER_CAP
        );
    }

    #[test]
    fn jitter_is_deterministic_per_seed_and_differs_across_seeds() {
        let a = Jitter::with_seed(1);
        let b = Jitter::with_seed(1);
        let c = Jitter::with_seed(2);
        let seq_a: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let seq_b: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        let seq_c: Vec<u64> = (0..4).map(|_| c.next_u64()).collect();
        assert_eq!(seq_a, seq_b);
        assert_ne!(seq_a, seq_c);
        assert_eq!(Jitter::with_seed(9).below(Duration::ZERO), Duration::ZERO);
    }
}
