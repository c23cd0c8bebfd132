//! The Prometheus text exposition (format 0.0.4) of the counters: one family after another,
//! each with its HELP and TYPE lines, read with relaxed loads while the hooks keep counting.
use super::labels::{
    API_PATHS, API_STATUSES, BUCKETS, CHANGE_KINDS, OWNED_KINDS, REFUSAL_REASONS, REQUEST_RESULTS,
    ROUND_RESULTS,
};
use super::{epoch, Histogram, Metrics};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

impl Metrics {
    /// The exposition, in the Prometheus text format 0.0.4.
    pub(crate) fn render(&self) -> String {
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
        let provider = self.provider.get().copied().unwrap_or("unknown");
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

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
