//! The daemon's counters and their Prometheus text exposition (`GET /metrics`). One process-wide
//! [`METRICS`], fed by one-line hooks where things happen: the reconcile thread (rounds,
//! changes by kind, owned objects, last good metadata, the items the sanity gate refuses by
//! reason), the metadata HTTP client (each request's result and latency) and the API router
//! (requests by path and status). Every counter is an atomic with fixed,
//! bounded labels (no label comes from outside input), so a hook costs an atomic add, never a
//! lock or an allocation, and a scrape reads without stopping anyone.

use crate::kernel::Change;
use crate::net::ProviderKind;
use crate::plan::sanity::{Reason, Refusal};
use crate::plan::Owned;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The one set of counters of this process.
pub static METRICS: Metrics = Metrics::new();

/// The Content-Type of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const ROUND_RESULTS: [&str; 2] = ["ok", "error"];

const CHANGE_KINDS: [&str; 11] = [
    "link_up",
    "set_mtu",
    "promote_secondaries",
    "add_address",
    "del_address",
    "add_route",
    "del_route",
    "add_rule",
    "del_rule",
    "add_vlan",
    "del_vlan",
];

const OWNED_KINDS: [&str; 4] = ["address", "route", "rule", "vlan"];

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

const REQUEST_RESULTS: [&str; 6] = [
    "ok",
    "not_found",
    "http_error",
    "timeout",
    "transport_error",
    "invalid",
];

/// Upper bounds of the latency buckets, in seconds (the last bucket is +Inf).
const BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The API paths counted by name; anything else is `other` (so a client cannot grow the set).
pub const API_PATHS: [&str; 14] = [
    "/api/cloud/system",
    "/api/cloud/network",
    "/api/cloud/credentials",
    "/api/cloud/dynamicinstanceidentity/document",
    "/api/cloud/dynamicinstanceidentity/pkcs7",
    "/api/cloud/dynamicinstanceidentity/signature",
    "/api/cloud/dynamicinstanceidentity/rsa2048",
    "/api/v1/system",
    "/api/v1/status",
    "/api/v1/links",
    "/api/v1/check",
    "/api/v1/refresh",
    "/metrics",
    "other",
];

/// The statuses counted by code; any other is counted as `other`.
const API_STATUSES: [u16; 13] = [
    200, 202, 400, 401, 403, 404, 405, 408, 413, 429, 431, 500, 503,
];

/// The sanity gate's reasons, as its JSON names them.
const REFUSAL_REASONS: [&str; 15] = [
    "loopback",
    "unspecified",
    "multicast",
    "broadcast",
    "link_local",
    "metadata_service",
    "gateway",
    "contains_gateway",
    "contains_metadata_service",
    "contains_address",
    "contains_subnet",
    "too_wide",
    "every_destination",
    "on_two_nics",
    "mtu_out_of_range",
];

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

    /// The exposition, in the Prometheus text format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        self.render_reconcile(&mut out);
        self.render_metadata(&mut out);
        self.render_api(&mut out);
        out
    }

    fn render_reconcile(&self, out: &mut String) {
        header(
            out,
            "cloud_network_build_info",
            "gauge",
            "The running version, as a label.",
        );
        let _ = writeln!(
            out,
            "cloud_network_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        let rounds = "cloud_network_reconcile_rounds_total";
        header(out, rounds, "counter", "Reconcile rounds, by result.");
        for (result, count) in ROUND_RESULTS.iter().zip(&self.rounds) {
            sample(out, rounds, &[("result", result)], load(count));
        }
        for (name, counters, help) in [
            (
                "cloud_network_changes_applied_total",
                &self.applied,
                "Kernel changes applied, by kind.",
            ),
            (
                "cloud_network_changes_failed_total",
                &self.failed,
                "Kernel changes the kernel refused, by kind.",
            ),
        ] {
            header(out, name, "counter", help);
            for (kind, count) in CHANGE_KINDS.iter().zip(counters) {
                sample(out, name, &[("kind", kind)], load(count));
            }
        }
        let owned = "cloud_network_owned_objects";
        let help = "Objects the daemon added and owns (removes when the metadata drops them).";
        header(out, owned, "gauge", help);
        for (kind, count) in OWNED_KINDS.iter().zip(&self.owned) {
            sample(out, owned, &[("kind", kind)], load(count));
        }
    }

    fn render_metadata(&self, out: &mut String) {
        let age = "cloud_network_metadata_last_good_age_seconds";
        header(
            out,
            age,
            "gauge",
            "Seconds since the last good metadata fetch.",
        );
        let last = self.last_good_metadata.load(Ordering::Relaxed);
        if last > 0 {
            let now = epoch().elapsed().as_millis() as f64;
            let seconds = ((now - (last - 1) as f64) / 1000.0).max(0.0);
            sample(out, age, &[], seconds);
        }
        let provider = self.provider.get().map_or("unknown", |p| p.name());
        let requests = "cloud_network_metadata_requests_total";
        let help = "Metadata HTTP requests (each attempt), by provider and result.";
        header(out, requests, "counter", help);
        let used = || {
            REQUEST_RESULTS
                .iter()
                .zip(&self.requests)
                .filter(|(_, h)| h.count() > 0)
        };
        for (result, histogram) in used() {
            let labels = [("provider", provider), ("result", result)];
            sample(out, requests, &labels, histogram.count() as f64);
        }
        let latency = "cloud_network_metadata_request_duration_seconds";
        let help = "Metadata HTTP request latency, by provider and result.";
        header(out, latency, "histogram", help);
        for (result, histogram) in used() {
            render_histogram(out, latency, provider, result, histogram);
        }
        let refused = "cloud_network_metadata_items_refused";
        let help = "Items of the current metadata the sanity gate refuses, by reason.";
        header(out, refused, "gauge", help);
        for (reason, count) in REFUSAL_REASONS.iter().zip(&self.refused) {
            sample(out, refused, &[("reason", reason)], load(count));
        }
    }

    fn render_api(&self, out: &mut String) {
        let name = "cloud_network_api_requests_total";
        header(out, name, "counter", "API requests, by path and status.");
        for (path, row) in API_PATHS.iter().zip(&self.api) {
            for (index, count) in row.iter().enumerate() {
                let count = load(count);
                if count == 0.0 {
                    continue;
                }
                let status = API_STATUSES
                    .get(index)
                    .map_or("other".to_string(), u16::to_string);
                sample(out, name, &[("path", path), ("status", &status)], count);
            }
        }
    }
}

fn render_histogram(
    out: &mut String,
    name: &str,
    provider: &str,
    result: &str,
    histogram: &Histogram,
) {
    let mut cumulative = 0;
    let bucket = format!("{name}_bucket");
    for (index, count) in histogram.buckets.iter().enumerate() {
        cumulative += count.load(Ordering::Relaxed);
        let le = BUCKETS
            .get(index)
            .map_or("+Inf".to_string(), |b| b.to_string());
        let labels = [("provider", provider), ("result", result), ("le", &le)];
        sample(out, &bucket, &labels, cumulative as f64);
    }
    let labels = [("provider", provider), ("result", result)];
    let sum = histogram.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
    sample(out, &format!("{name}_sum"), &labels, sum);
    sample(out, &format!("{name}_count"), &labels, cumulative as f64);
}

fn change_kind(change: &Change) -> usize {
    match change {
        Change::LinkUp { .. } => 0,
        Change::SetMtu { .. } => 1,
        Change::PromoteSecondaries { .. } => 2,
        Change::AddAddress(_) => 3,
        Change::DelAddress(_) => 4,
        Change::AddRoute(_) => 5,
        Change::DelRoute(_) => 6,
        Change::AddRule(_) => 7,
        Change::DelRule(_) => 8,
        Change::AddVlan { .. } => 9,
        Change::DelVlan { .. } => 10,
    }
}

fn reason_index(reason: &Reason) -> usize {
    match reason {
        Reason::Loopback => 0,
        Reason::Unspecified => 1,
        Reason::Multicast => 2,
        Reason::Broadcast => 3,
        Reason::LinkLocal => 4,
        Reason::MetadataService { .. } => 5,
        Reason::Gateway { .. } => 6,
        Reason::ContainsGateway { .. } => 7,
        Reason::ContainsMetadataService { .. } => 8,
        Reason::ContainsAddress { .. } => 9,
        Reason::ContainsSubnet { .. } => 10,
        Reason::TooWide { .. } => 11,
        Reason::EveryDestination => 12,
        Reason::OnTwoNics { .. } => 13,
        Reason::MtuOutOfRange => 14,
    }
}

fn load(counter: &AtomicU64) -> f64 {
    counter.load(Ordering::Relaxed) as f64
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// `name{k="v",...} value`; label values are fixed names here, never outside input.
fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (key, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{key}=\"{}\"", escape(value));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Label value escaping of the text format: backslash, double quote, newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::sanity::Item;

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

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
