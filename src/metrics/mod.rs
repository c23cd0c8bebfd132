//! The daemon's counters and their Prometheus text exposition (`GET /metrics`). One process-wide
//! [`METRICS`], fed by one-line hooks where things happen: the reconcile thread (rounds,
//! changes by kind, owned objects, last good metadata, the items the sanity gate refuses by
//! reason), the metadata HTTP client (each request's result and latency) and the API router
//! (requests by path and status). Every counter is an atomic with fixed,
//! bounded labels (no label comes from outside input), so a hook costs an atomic add, never a
//! lock or an allocation, and a scrape reads without stopping anyone. It knows no type of the
//! rest of the program: the hooks take plain labels and counts.
//!
//! This file holds the counters and their hooks; `labels` the fixed label sets, `render` the
//! exposition.
mod labels;
mod render;

use labels::{index, API_STATUSES, BUCKETS, OWNED_KINDS, REQUEST_RESULTS, ROUND_RESULTS};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The one set of counters of this process.
pub(crate) static METRICS: Metrics = Metrics::new();

/// The Content-Type of the exposition.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(crate) use labels::{API_PATHS, CHANGE_KINDS, REFUSAL_REASONS};

/// How many objects of each kind the ownership record holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct OwnedCounts {
    pub addresses: usize,
    pub routes: usize,
    pub rules: usize,
    pub vlans: usize,
}

/// How a metadata request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestResult {
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

pub(crate) struct Metrics {
    rounds: [AtomicU64; ROUND_RESULTS.len()],
    applied: [AtomicU64; CHANGE_KINDS.len()],
    failed: [AtomicU64; CHANGE_KINDS.len()],
    owned: [AtomicU64; OWNED_KINDS.len()],
    /// Milliseconds after [`epoch`] of the last good metadata, plus one; 0 = never.
    last_good_metadata: AtomicU64,
    provider: OnceLock<&'static str>,
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
    pub(crate) const fn new() -> Metrics {
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

    /// The provider the metadata requests go to, by name (set once, by the metadata thread).
    pub(crate) fn set_provider(&self, name: &'static str) {
        let _ = self.provider.set(name);
    }

    /// A reconcile round ended, applying everything (`ok`) or not.
    pub(crate) fn round(&self, ok: bool) {
        self.rounds[usize::from(!ok)].fetch_add(1, Ordering::Relaxed);
    }

    /// The kernel took a change of this kind (one of [`CHANGE_KINDS`]).
    pub(crate) fn change_applied(&self, kind: &str) {
        if let Some(i) = index(&CHANGE_KINDS, kind) {
            self.applied[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The kernel refused a change of this kind (one of [`CHANGE_KINDS`]).
    pub(crate) fn change_failed(&self, kind: &str) {
        if let Some(i) = index(&CHANGE_KINDS, kind) {
            self.failed[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// What the ownership record holds after a round.
    pub(crate) fn owned(&self, counts: OwnedCounts) {
        let counts = [counts.addresses, counts.routes, counts.rules, counts.vlans];
        for (gauge, count) in self.owned.iter().zip(counts) {
            gauge.store(count as u64, Ordering::Relaxed);
        }
    }

    /// A metadata fetch succeeded (the metadata is now this fresh).
    pub(crate) fn good_metadata(&self) {
        let millis = u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.last_good_metadata.store(millis + 1, Ordering::Relaxed);
    }

    /// One metadata HTTP request (one attempt) and how long it took.
    pub(crate) fn metadata_request(&self, result: RequestResult, took: Duration) {
        self.requests[result as usize].observe(took);
    }

    /// One API request answered by the router.
    pub(crate) fn api_request(&self, path: &str, status: u16) {
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

    /// What the sanity gate refused of the metadata this round, one reason label (one of
    /// [`REFUSAL_REASONS`]) per refused item (the gate runs every round, so this is the
    /// current count per reason, not a running total).
    pub(crate) fn refused<'a>(&self, reasons: impl IntoIterator<Item = &'a str>) {
        let mut counts = [0u64; REFUSAL_REASONS.len()];
        for i in reasons
            .into_iter()
            .filter_map(|r| index(&REFUSAL_REASONS, r))
        {
            counts[i] += 1;
        }
        for (gauge, count) in self.refused.iter().zip(counts) {
            gauge.store(count, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        metrics.set_provider("gcp");
        metrics.metadata_request(RequestResult::Ok, Duration::from_millis(3));
        metrics.metadata_request(RequestResult::Ok, Duration::from_secs(20));
        metrics.api_request("/api/v1/status", 200);
        metrics.api_request("/etc/passwd", 404);
        metrics.api_request("/api/v1/refresh", 418);
        metrics.refused(["loopback", "mtu_out_of_range"]);
        metrics.refused(["mtu_out_of_range", "mtu_out_of_range", "too_wide"]);
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
