//! `GET /metrics` of the real daemon (root, a namespace of its own with the Azure emulator):
//! the exposition parses with a Prometheus text-format parser (prometheus-parse), every family
//! is there with its type, the first round's figures are what it did, and the values move: a
//! refresh adds a round and metadata requests, a rule deleted by hand and restored adds one
//! applied `add_rule`, each scrape counts itself, and a loopback address in the metadata shows
//! as a refused item.

mod support;

use prometheus_parse::{Sample, Scrape, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use support::api;
use support::azure::{azure_with, AZURE};
use support::netns::require_root;
use support::running::{self, write_config, Daemon};
use support::scene::Scene;

const LIMIT: Duration = Duration::from_secs(10);

/// One scrape: the samples by `name{label=value,...}` (labels sorted), and the family types.
struct Scraped {
    values: BTreeMap<String, f64>,
    histograms: BTreeMap<String, Vec<(f64, f64)>>,
    types: BTreeMap<String, String>,
}

fn key(sample: &Sample) -> String {
    let mut labels: Vec<(&String, &String)> = sample.labels.iter().collect();
    labels.sort();
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{}{{{}}}", sample.metric, labels.join(","))
}

fn scrape() -> Scraped {
    let answer = api::request("GET", "/metrics");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let lines = answer.body.lines().map(|l| Ok(l.to_string()));
    let parsed = Scrape::parse(lines).expect("the exposition parses");
    let mut scraped = Scraped {
        values: BTreeMap::new(),
        histograms: BTreeMap::new(),
        types: BTreeMap::new(),
    };
    for line in answer.body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            scraped.types.insert(name.to_string(), kind.to_string());
        }
    }
    for sample in &parsed.samples {
        match &sample.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => {
                scraped.values.insert(key(sample), *v);
            }
            Value::Histogram(buckets) => {
                let counts = buckets.iter().map(|b| (b.less_than, b.count)).collect();
                scraped.histograms.insert(key(sample), counts);
            }
            Value::Summary(_) => panic!("no summaries are exported: {sample:?}"),
        }
    }
    scraped
}

impl Scraped {
    fn get(&self, key: &str) -> f64 {
        *self
            .values
            .get(key)
            .unwrap_or_else(|| panic!("no sample {key} in {:#?}", self.values.keys()))
    }
}

fn rounds_ok(s: &Scraped) -> f64 {
    s.get("cloud_network_reconcile_rounds_total{result=ok}")
}

fn requests_ok(s: &Scraped) -> f64 {
    s.get("cloud_network_metadata_requests_total{provider=azure,result=ok}")
}

#[test]
fn metrics_parse_and_move_with_what_the_daemon_does() {
    require_root();
    let scene = Scene::new("mt-azure", AZURE, None);
    let state = scene.dir.path().join("state");
    let config = write_config(
        &scene.dir.path().join("cloud-network.toml"),
        "azure",
        &scene.emulator.base_url(),
        &state,
        "RefreshTimer = \"300s\"",
    );
    let _daemon = Daemon::start(&scene.ns, &config, &scene.dir.path().join("log"), &[]);
    let first = running::wait_for(LIMIT, || {
        let status = running::status(Duration::from_secs(1))?;
        (!status["last_refresh"].is_null()).then_some(())
    });
    assert!(first.is_some(), "no round within {LIMIT:?}");

    let before = scrape();
    for (family, kind) in [
        ("cloud_network_build_info", "gauge"),
        ("cloud_network_reconcile_rounds_total", "counter"),
        ("cloud_network_changes_applied_total", "counter"),
        ("cloud_network_changes_failed_total", "counter"),
        ("cloud_network_owned_objects", "gauge"),
        ("cloud_network_metadata_last_good_age_seconds", "gauge"),
        ("cloud_network_metadata_requests_total", "counter"),
        (
            "cloud_network_metadata_request_duration_seconds",
            "histogram",
        ),
        ("cloud_network_metadata_items_refused", "gauge"),
        ("cloud_network_api_requests_total", "counter"),
    ] {
        assert_eq!(
            before.types.get(family).map(String::as_str),
            Some(kind),
            "{family}"
        );
    }
    // The first round: eth0's two secondaries and eth1's three addresses, eth1's table (its
    // subnet and default routes) and rules (from and to per address), the main rule, and the
    // two links put in our interface group.
    let applied = |s: &Scraped, kind: &str| {
        s.get(&format!(
            "cloud_network_changes_applied_total{{kind={kind}}}"
        ))
    };
    assert_eq!(applied(&before, "add_address"), 5.0);
    assert_eq!(applied(&before, "add_rule"), 7.0);
    assert_eq!(applied(&before, "set_group"), 2.0);
    assert_eq!(applied(&before, "link_up"), 1.0);
    assert_eq!(applied(&before, "del_address"), 0.0);
    assert_eq!(
        before.get("cloud_network_changes_failed_total{kind=add_rule}"),
        0.0
    );
    assert_eq!(before.get("cloud_network_owned_objects{kind=address}"), 5.0);
    assert_eq!(before.get("cloud_network_owned_objects{kind=rule}"), 7.0);
    assert_eq!(rounds_ok(&before), 1.0);
    assert_eq!(
        before.get("cloud_network_reconcile_rounds_total{result=error}"),
        0.0
    );
    let age = before.get("cloud_network_metadata_last_good_age_seconds{}");
    assert!((0.0..30.0).contains(&age), "age {age}");
    let latency = &before.histograms
        ["cloud_network_metadata_request_duration_seconds{provider=azure,result=ok}"];
    assert_eq!(latency.last().map(|b| b.1), Some(requests_ok(&before)));
    assert!(requests_ok(&before) >= 1.0);
    let loopback = "cloud_network_metadata_items_refused{reason=loopback}";
    assert_eq!(before.get(loopback), 0.0);
    // A scrape is counted once answered: the first one does not see itself.
    let scrapes = |s: &Scraped| {
        let key = "cloud_network_api_requests_total{path=/metrics,status=200}";
        s.values.get(key).copied().unwrap_or(0.0)
    };
    assert_eq!(scrapes(&before), 0.0);

    // A refresh: one more good round, more metadata requests, and this scrape counted.
    assert_eq!(api::request("POST", "/api/v1/refresh").status, 202);
    let refreshed = running::wait_for(LIMIT, || {
        let now = scrape();
        let moved =
            rounds_ok(&now) > rounds_ok(&before) && requests_ok(&now) > requests_ok(&before);
        moved.then_some(now)
    })
    .expect("a fetch and a round after the refresh");
    assert!(scrapes(&refreshed) > scrapes(&before));
    assert_eq!(applied(&refreshed, "add_rule"), 7.0, "nothing changed");

    // A rule deleted by hand is restored: one more applied add_rule.
    scene
        .ns
        .run_ok(&["ip", "rule", "del", "from", "10.4.0.5", "lookup", "10001"]);
    let restored = running::wait_for(LIMIT, || {
        let now = scrape();
        (applied(&now, "add_rule") == 8.0).then_some(now)
    })
    .expect("the rule restored");
    assert_eq!(restored.get("cloud_network_owned_objects{kind=rule}"), 7.0);
    assert!(
        restored.get("cloud_network_api_requests_total{path=/api/v1/refresh,status=202}") >= 1.0
    );

    // The metadata lists a loopback address on eth1: the sanity gate refuses it, every round.
    let bad = azure_with(&[(1, &["10.4.0.5", "10.4.0.6", "10.4.0.7", "127.0.0.9"])]);
    scene.emulator.set_scenario_text(&bad).expect("scenario");
    assert_eq!(api::request("POST", "/api/v1/refresh").status, 202);
    let refused = running::wait_for(LIMIT, || {
        let now = scrape();
        (now.get(loopback) == 1.0).then_some(now)
    })
    .expect("the loopback address refused");
    assert_eq!(
        refused.get("cloud_network_owned_objects{kind=address}"),
        5.0
    );
}
