//! The daemon's counters and their Prometheus text exposition (`GET /metrics`). One process-wide
//! [`METRICS`], fed by one-line hooks where things happen: the reconcile thread (rounds,
//! changes by kind, owned objects, last good metadata, the items the sanity gate refuses by
//! reason), the metadata HTTP client (each request's result and latency) and the API router
//! (requests by path and status). Every counter is an atomic with fixed,
//! bounded labels (no label comes from outside input), so a hook costs an atomic add, never a
//! lock or an allocation, and a scrape reads without stopping anyone.
//!
//! This file holds the counters and their hooks; `labels` the fixed label sets, `render` the
//! exposition.
mod labels;
mod render;

use crate::kernel::Change;
use crate::net::ProviderKind;
use crate::plan::sanity::Refusal;
use crate::plan::Owned;
use labels::{
    change_kind, reason_index, API_STATUSES, BUCKETS, CHANGE_KINDS, OWNED_KINDS, REFUSAL_REASONS,
    REQUEST_RESULTS, ROUND_RESULTS,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The one set of counters of this process.
pub static METRICS: Metrics = Metrics::new();

/// The Content-Type of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub use labels::API_PATHS;

/// How a metadata request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestResult {
    /// A 2xx answer.
    Ok,
    /// 404.
    NotFound,
    /// Any other status.
    HttpError,
    Timeout,
    /// Connect or transfer failed.
    Transport,
    /// An answer that could not be read (too large, not UTF-8, malformed).
    Invalid,
}

/// One latency histogram: cumulative-on-render bucket counts, the sum in microseconds.
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    const fn new() -> Histogram {
        Histogram {
            buckets: [const { AtomicU64::new(0) }; BUCKETS.len() + 1],
            sum_micros: AtomicU64::new(0),
        }
    }

    fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        let index = BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS.len());
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }
}

pub struct Metrics {
    rounds: [AtomicU64; ROUND_RESULTS.len()],
    applied: [AtomicU64; CHANGE_KINDS.len()],
    failed: [AtomicU64; CHANGE_KINDS.len()],
    owned: [AtomicU64; OWNED_KINDS.len()],
    /// Milliseconds after [`epoch`] of the last good metadata, plus one; 0 = never.
    last_good_metadata: AtomicU64,
    provider: OnceLock<ProviderKind>,
    requests: [Histogram; REQUEST_RESULTS.len()],
    api: [[AtomicU64; API_STATUSES.len() + 1]; API_PATHS.len()],
    refused: [AtomicU64; REFUSAL_REASONS.len()],
}

/// The clock the metadata age is measured on (monotonic, set on first use).
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub const fn new() -> Metrics {
        Metrics {
            rounds: [const { AtomicU64::new(0) }; ROUND_RESULTS.len()],
            applied: [const { AtomicU64::new(0) }; CHANGE_KINDS.len()],
            failed: [const { AtomicU64::new(0) }; CHANGE_KINDS.len()],
            owned: [const { AtomicU64::new(0) }; OWNED_KINDS.len()],
            last_good_metadata: AtomicU64::new(0),
            provider: OnceLock::new(),
            requests: [const { Histogram::new() }; REQUEST_RESULTS.len()],
            api: [const { [const { AtomicU64::new(0) }; API_STATUSES.len() + 1] }; API_PATHS.len()],
            refused: [const { AtomicU64::new(0) }; REFUSAL_REASONS.len()],
        }
    }

    /// The provider the metadata requests go to (set once, by the metadata thread).
    pub fn set_provider(&self, kind: ProviderKind) {
        let _ = self.provider.set(kind);
    }

    /// A reconcile round ended, applying everything (`ok`) or not.
    pub fn round(&self, ok: bool) {
        self.rounds[usize::from(!ok)].fetch_add(1, Ordering::Relaxed);
    }

    /// The kernel took a change.
    pub fn change_applied(&self, change: &Change) {
        self.applied[change_kind(change)].fetch_add(1, Ordering::Relaxed);
    }

    /// The kernel refused a change.
    pub fn change_failed(&self, change: &Change) {
        self.failed[change_kind(change)].fetch_add(1, Ordering::Relaxed);
    }

    /// What the ownership record holds after a round.
    pub fn owned(&self, owned: &Owned) {
        let mut counts = [0usize; OWNED_KINDS.len()];
        for nic in owned.nics.values() {
            counts[0] += nic.addresses.len();
            counts[1] += nic.routes.len();
            counts[2] += nic.rules.len();
            counts[3] += usize::from(nic.vlan.is_some());
        }
        counts[2] += owned.global_rules.len();
        for (gauge, count) in self.owned.iter().zip(counts) {
            gauge.store(count as u64, Ordering::Relaxed);
        }
    }

    /// A metadata fetch succeeded (the metadata is now this fresh).
    pub fn good_metadata(&self) {
        let millis = u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.last_good_metadata.store(millis + 1, Ordering::Relaxed);
    }

    /// One metadata HTTP request (one attempt) and how long it took.
    pub fn metadata_request(&self, result: RequestResult, took: Duration) {
        self.requests[result as usize].observe(took);
    }

    /// One API request answered by the router.
    pub fn api_request(&self, path: &str, status: u16) {
        let path = API_PATHS
            .iter()
            .position(|p| *p == path)
            .unwrap_or(API_PATHS.len() - 1);
        let status = API_STATUSES
            .iter()
            .position(|s| *s == status)
            .unwrap_or(API_STATUSES.len());
        self.api[path][status].fetch_add(1, Ordering::Relaxed);
    }

    /// What the sanity gate refused of the metadata this round (the gate runs every round, so
    /// this is the current count per reason, not a running total).
    pub fn refused(&self, refused: &[Refusal]) {
        let mut counts = [0u64; REFUSAL_REASONS.len()];
        for refusal in refused {
            counts[reason_index(&refusal.reason)] += 1;
        }
        for (gauge, count) in self.refused.iter().zip(counts) {
            gauge.store(count, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::sanity::{Item, Reason};

    #[test]
    fn a_fresh_set_renders_every_family_and_zero_counters() {
        let metrics = Metrics::new();
        let text = metrics.render();
        for family in [
            "cloud_network_reconcile_rounds_total counter",
            "cloud_network_changes_applied_total counter",
            "cloud_network_changes_failed_total counter",
            "cloud_network_owned_objects gauge",
            "cloud_network_metadata_last_good_age_seconds gauge",
            "cloud_network_metadata_requests_total counter",
            "cloud_network_metadata_request_duration_seconds histogram",
            "cloud_network_metadata_items_refused gauge",
            "cloud_network_api_requests_total counter",
        ] {
            assert!(
                text.contains(&format!("# TYPE {family}\n")),
                "{family}\n{text}"
            );
        }
        assert!(text.contains("cloud_network_reconcile_rounds_total{result=\"ok\"} 0\n"));
        let age = "cloud_network_metadata_last_good_age_seconds";
        assert!(!text.lines().any(|l| l.starts_with(age)), "{text}");
    }

    #[test]
    fn observations_land_in_their_bucket_and_labels() {
        let metrics = Metrics::new();
        metrics.set_provider(ProviderKind::Gcp);
        metrics.metadata_request(RequestResult::Ok, Duration::from_millis(3));
        metrics.metadata_request(RequestResult::Ok, Duration::from_secs(20));
        metrics.api_request("/api/v1/status", 200);
        metrics.api_request("/etc/passwd", 404);
        metrics.api_request("/api/v1/refresh", 418);
        let mac: crate::net::Mac = "02:00:00:00:00:01".parse().unwrap();
        let refusal = |reason| Refusal {
            mac,
            item: Item::Mtu { mtu: 70000 },
            reason,
        };
        metrics.refused(&[refusal(Reason::Loopback), refusal(Reason::MtuOutOfRange)]);
        metrics.refused(&[
            refusal(Reason::MtuOutOfRange),
            refusal(Reason::MtuOutOfRange),
            refusal(Reason::TooWide { min: 8 }),
        ]);
        let text = metrics.render();
        let name = "cloud_network_metadata_request_duration_seconds";
        for line in [
            format!("{name}_bucket{{provider=\"gcp\",result=\"ok\",le=\"0.0025\"}} 0"),
            format!("{name}_bucket{{provider=\"gcp\",result=\"ok\",le=\"0.005\"}} 1"),
            format!("{name}_bucket{{provider=\"gcp\",result=\"ok\",le=\"10\"}} 1"),
            format!("{name}_bucket{{provider=\"gcp\",result=\"ok\",le=\"+Inf\"}} 2"),
            format!("{name}_sum{{provider=\"gcp\",result=\"ok\"}} 20.003"),
            format!("{name}_count{{provider=\"gcp\",result=\"ok\"}} 2"),
            "cloud_network_metadata_requests_total{provider=\"gcp\",result=\"ok\"} 2".into(),
            "cloud_network_api_requests_total{path=\"/api/v1/status\",status=\"200\"} 1".into(),
            "cloud_network_api_requests_total{path=\"other\",status=\"404\"} 1".into(),
            "cloud_network_api_requests_total{path=\"/api/v1/refresh\",status=\"other\"} 1".into(),
            "cloud_network_metadata_items_refused{reason=\"mtu_out_of_range\"} 2".into(),
            "cloud_network_metadata_items_refused{reason=\"too_wide\"} 1".into(),
            "cloud_network_metadata_items_refused{reason=\"loopback\"} 0".into(),
        ] {
            assert!(text.contains(&format!("{line}\n")), "{line}\n{text}");
        }
        assert!(!text.contains("result=\"timeout\""), "{text}");
    }
}
