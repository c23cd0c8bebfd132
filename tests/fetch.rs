//! Metadata fetches through the real providers and HTTP fetcher against the in-process
//! emulator on 127.0.0.1: the normalized model and the exact requests of each provider, IMDSv2
//! tokens (required, renewed before expiry, renewed after a 401), retries of 500 and 429, the
//! timeout, bad bodies (permanent, not retried), scenario changes and GCP's 60 s long-poll.
use std::time::{Duration, Instant};

use cloud_network::emulator::{self, Emulator, EmulatorConfig, Fault};
use cloud_network::metadata::aws::Ec2;
use cloud_network::metadata::http::{Http, HttpConfig, HttpError, RetryPolicy};
use cloud_network::metadata::{new_provider, FetchError, Provider};
use cloud_network::metadata::{Instance, Ipv4Net, Nic, ProviderKind};

const AZURE_SCENARIO: &str = include_str!("../src/emulator/scenarios/azure.json");
const AWS_SCENARIO: &str = include_str!("../src/emulator/scenarios/aws.json");
const AZURE_PATH: &str = "/metadata/instance?api-version=2021-02-01";
const GCP_PATH: &str = "/computeMetadata/v1/instance/?recursive=true";
const MACS: &str = "/latest/meta-data/network/interfaces/macs/";
const EC2_MACS: [&str; 2] = ["0a:3f:5c:1e:7d:01", "0a:3f:5c:1e:7d:02"];
/// The leaves of the built-in scenario's MAC directories a refresh reads: those its listings
/// name (no IPv6, no delegated prefix).
const EC2_LEAVES: [&str; 4] = [
    "device-number",
    "network-card",
    "local-ipv4s",
    "subnet-ipv4-cidr-block",
];

/// Short timeouts and quick retries (3 attempts, backoff ceiling 20 ms) for tests.
fn test_http_config() -> HttpConfig {
    HttpConfig {
        connect_timeout: Duration::from_secs(1),
        recv_timeout: Duration::from_secs(2),
        global_timeout: Duration::from_secs(3),
        body_limit: 1024 * 1024,
        retry: RetryPolicy {
            attempts: 3,
            base: Duration::from_millis(20),
            max: Duration::from_millis(40),
        },
    }
}

fn start(provider: ProviderKind, require_token: bool, fault: Fault) -> Emulator {
    let mut cfg = EmulatorConfig::new(provider);
    cfg.listen = "127.0.0.1:0".parse().expect("loopback address");
    cfg.require_token = require_token;
    cfg.fault = fault;
    emulator::start(cfg).expect("emulator starts")
}

fn client(emu: &Emulator, config: HttpConfig) -> Box<dyn Provider> {
    new_provider(emu.provider(), Some(&emu.base_url()), Http::new(config))
}

fn fetched(provider: &mut dyn Provider) -> Instance {
    provider
        .fetch()
        .unwrap_or_else(|e| panic!("fetch failed: {e}"))
}

/// (method, path, status) of every request the emulator saw, oldest first.
fn seen(emu: &Emulator) -> Vec<(String, String, u16)> {
    emu.requests()
        .into_iter()
        .map(|r| (r.method, r.path, r.status))
        .collect()
}

fn req(method: &str, path: &str, status: u16) -> (String, String, u16) {
    (method.to_string(), path.to_string(), status)
}

fn nets(list: &[&str]) -> Vec<Ipv4Net> {
    list.iter().map(|n| n.parse().expect("test net")).collect()
}

fn nic(mac: &str, index: u32, ipv4: &[&str], gateway: &str, subnet: &str) -> Nic {
    let mut nic = Nic::new(mac.parse().expect("test MAC"), index);
    nic.ipv4 = nets(ipv4);
    nic.gateway4 = Some(gateway.parse().expect("test gateway"));
    nic.subnet4 = Some(subnet.parse().expect("test subnet"));
    nic
}

/// The EC2 requests of one refresh after the token and identity document are cached: the
/// `macs/` listing, then per MAC its directory listing and the leaves it names.
fn ec2_refresh_requests() -> Vec<(String, String, u16)> {
    let mut list = vec![req("GET", MACS, 200)];
    for mac in EC2_MACS {
        list.push(req("GET", &format!("{MACS}{mac}/"), 200));
        for leaf in EC2_LEAVES {
            list.push(req("GET", &format!("{MACS}{mac}/{leaf}"), 200));
        }
    }
    list
}

fn ec2_first_fetch_requests() -> Vec<(String, String, u16)> {
    let mut list = vec![
        req("PUT", "/latest/api/token", 200),
        req("GET", "/latest/dynamic/instance-identity/document", 200),
    ];
    list.extend(ec2_refresh_requests());
    list
}

fn expected_ec2_nics() -> Vec<Nic> {
    vec![
        nic(
            EC2_MACS[0],
            0,
            &["172.31.20.10/20", "172.31.20.11/20", "172.31.20.12/20"],
            "172.31.16.1",
            "172.31.16.0/20",
        ),
        nic(
            EC2_MACS[1],
            1,
            &["172.31.25.40/20", "172.31.25.41/20"],
            "172.31.16.1",
            "172.31.16.0/20",
        ),
    ]
}

fn expected_azure_nics() -> Vec<Nic> {
    let mut primary = nic(
        "00:0d:3a:4f:6b:10",
        0,
        &["10.4.0.4/24", "10.4.0.8/24", "10.4.0.9/24"],
        "10.4.0.1",
        "10.4.0.0/24",
    );
    primary.public_ipv4s = vec!["20.61.15.7".parse().expect("test address")];
    let secondary = nic(
        "00:0d:3a:4f:6b:11",
        1,
        &["10.4.0.5/24", "10.4.0.6/24", "10.4.0.7/24"],
        "10.4.0.1",
        "10.4.0.0/24",
    );
    vec![primary, secondary]
}

#[test]
fn azure_builtin_scenario_in_one_get() {
    let emu = start(ProviderKind::Azure, false, Fault::None);
    let instance = fetched(&mut *client(&emu, test_http_config()));
    assert_eq!(instance.provider, ProviderKind::Azure);
    assert_eq!(instance.instance_id, "3f6b1c2e-9a4d-4e57-8b1f-2c7d9e0a5b41");
    assert_eq!(instance.location, "westeurope");
    assert_eq!(instance.nics, expected_azure_nics());
    assert_eq!(seen(&emu), vec![req("GET", AZURE_PATH, 200)]);
}

#[test]
fn gcp_builtin_scenario_in_one_get_with_flavor() {
    let emu = start(ProviderKind::Gcp, false, Fault::None);
    let instance = fetched(&mut *client(&emu, test_http_config()));
    assert_eq!(instance.instance_id, "4520031799277581759");
    assert_eq!(instance.location, "us-central1");
    let mut primary = nic(
        "42:01:0a:80:00:0c",
        0,
        &["10.128.0.12/32"],
        "10.128.0.1",
        "10.128.0.0/20",
    );
    primary.mtu = Some(1460);
    primary.ip_ranges = vec!["10.8.1.0/24".parse().expect("test range")];
    primary.forwarded = vec!["34.120.88.10/32".parse().expect("test range")];
    primary.public_ipv4s = vec!["34.123.45.67".parse().expect("test address")];
    let mut secondary = nic(
        "42:01:c0:a8:01:05",
        1,
        &["192.168.1.5/32"],
        "192.168.1.1",
        "192.168.1.0/24",
    );
    secondary.mtu = Some(1460);
    secondary.ip_ranges = vec!["192.168.1.64/29".parse().expect("test range")];
    assert_eq!(instance.nics, vec![primary, secondary]);
    assert_eq!(seen(&emu), vec![req("GET", GCP_PATH, 200)]);

    // The 200 above is only given to requests carrying the flavor header.
    let url = format!("{}{GCP_PATH}", emu.base_url());
    let bare = Http::new(test_http_config()).get(&url, &[]);
    assert_eq!(bare.map_err(|e| e.status()), Err(Some(403)));
}

#[test]
fn ec2_builtin_scenario_then_frugal_refresh() {
    let emu = start(ProviderKind::Aws, false, Fault::None);
    let mut provider = client(&emu, test_http_config());
    let instance = fetched(&mut *provider);
    assert_eq!(instance.instance_id, "i-0f1e2d3c4b5a69788");
    assert_eq!(instance.location, "us-west-2");
    assert_eq!(instance.nics, expected_ec2_nics());
    assert_eq!(seen(&emu), ec2_first_fetch_requests());

    emu.clear_requests();
    assert_eq!(fetched(&mut *provider), instance);
    let refresh = seen(&emu);
    assert_eq!(refresh.len(), 1 + 5 * EC2_MACS.len());
    assert_eq!(refresh, ec2_refresh_requests());
}

#[test]
fn ec2_imdsv2_required() {
    let emu = start(ProviderKind::Aws, true, Fault::None);
    let instance = fetched(&mut *client(&emu, test_http_config()));
    assert_eq!(instance.nics, expected_ec2_nics());
    assert_eq!(seen(&emu), ec2_first_fetch_requests());

    // An IMDSv1 client (no token) is refused.
    emu.clear_requests();
    let url = format!("{}{MACS}", emu.base_url());
    let v1 = Http::new(test_http_config()).get(&url, &[]);
    assert_eq!(v1.map_err(|e| e.status()), Err(Some(401)));
    assert_eq!(seen(&emu), vec![req("GET", MACS, 401)]);
}

fn put_count(emu: &Emulator) -> usize {
    emu.requests().iter().filter(|r| r.method == "PUT").count()
}

#[test]
fn ec2_token_renewed_before_it_expires() {
    let emu = start(ProviderKind::Aws, true, Fault::None);
    let http = Http::new(test_http_config());
    let mut ec2 = Ec2::new(&emu.base_url(), http).with_token_ttl(Duration::from_secs(2));
    let first = Instant::now();
    fetched(&mut ec2);
    fetched(&mut ec2);
    assert_eq!(put_count(&emu), 1, "a fresh token is reused");

    // Renewal is due at 2 s - min(60 s, 2 s / 4) = 1.5 s, while IMDS still accepts the token:
    // a second PUT now can only be the client renewing ahead of expiry.
    std::thread::sleep(Duration::from_millis(1600).saturating_sub(first.elapsed()));
    emu.clear_requests();
    fetched(&mut ec2);
    let mut expected = vec![req("PUT", "/latest/api/token", 200)];
    expected.extend(ec2_refresh_requests());
    assert_eq!(seen(&emu), expected);
}

#[test]
fn ec2_token_ttl_is_clamped_to_what_imds_grants() {
    // IMDS answers 400 to a TTL of 0 or above 21600 s: the client never asks for one.
    for ttl in [
        Duration::ZERO,
        Duration::from_millis(999),
        Duration::from_secs(100_000),
    ] {
        let emu = start(ProviderKind::Aws, true, Fault::None);
        let http = Http::new(test_http_config());
        let mut ec2 = Ec2::new(&emu.base_url(), http).with_token_ttl(ttl);
        assert_eq!(fetched(&mut ec2).nics, expected_ec2_nics(), "{ttl:?}");
        assert_eq!(
            seen(&emu)[0],
            req("PUT", "/latest/api/token", 200),
            "{ttl:?}"
        );
    }
}

#[test]
fn ec2_token_renewed_after_401() {
    let emu = start(ProviderKind::Aws, true, Fault::None);
    let mut provider = client(&emu, test_http_config());
    fetched(&mut *provider);
    emu.expire_tokens();
    emu.clear_requests();
    let instance = fetched(&mut *provider);
    assert_eq!(instance.nics, expected_ec2_nics());
    let mut expected = vec![req("GET", MACS, 401), req("PUT", "/latest/api/token", 200)];
    expected.extend(ec2_refresh_requests());
    assert_eq!(seen(&emu), expected);
}

#[test]
fn http500_then_success_is_retried() {
    for provider in [ProviderKind::Azure, ProviderKind::Gcp] {
        let emu = start(provider, false, Fault::None);
        let path = match provider {
            ProviderKind::Gcp => GCP_PATH,
            _ => AZURE_PATH,
        };
        emu.fail_next(1, Fault::Http500);
        fetched(&mut *client(&emu, test_http_config()));
        assert_eq!(
            seen(&emu),
            vec![req("GET", path, 500), req("GET", path, 200)],
            "{provider}"
        );
    }
}

#[test]
fn ec2_token_put_500_is_retried() {
    let emu = start(ProviderKind::Aws, true, Fault::None);
    emu.fail_next(1, Fault::Http500);
    fetched(&mut *client(&emu, test_http_config()));
    let requests = seen(&emu);
    assert_eq!(
        requests[..2],
        [
            req("PUT", "/latest/api/token", 500),
            req("PUT", "/latest/api/token", 200),
        ]
    );
    assert_eq!(requests.len(), ec2_first_fetch_requests().len() + 1);
}

#[test]
fn persistent_500_fails_transiently_after_all_attempts() {
    let emu = start(ProviderKind::Azure, false, Fault::Http500);
    let err = client(&emu, test_http_config())
        .fetch()
        .expect_err("the service keeps failing");
    assert!(err.is_transient(), "{err}");
    assert!(
        matches!(
            &err,
            FetchError::Http(HttpError::Status { status: 500, .. })
        ),
        "{err:?}"
    );
    assert_eq!(seen(&emu), vec![req("GET", AZURE_PATH, 500); 3]);
}

#[test]
fn timeout_is_a_transient_error_within_the_timeout() {
    let emu = start(ProviderKind::Azure, false, Fault::Timeout);
    let timeout = Duration::from_millis(300);
    let config = HttpConfig {
        recv_timeout: timeout,
        global_timeout: timeout,
        retry: RetryPolicy::none(),
        ..test_http_config()
    };
    let begin = Instant::now();
    let err = client(&emu, config).fetch().expect_err("no answer");
    let took = begin.elapsed();
    assert!(
        matches!(&err, FetchError::Http(HttpError::Timeout { .. })),
        "{err:?}"
    );
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains(AZURE_PATH), "{err}");
    assert!(took >= timeout, "gave up after {took:?}");
    assert!(took < timeout + Duration::from_millis(500), "took {took:?}");
    assert_eq!(seen(&emu), vec![req("GET", AZURE_PATH, 0)]);
}

#[test]
fn throttle_waits_for_retry_after() {
    let emu = start(ProviderKind::Gcp, false, Fault::None);
    emu.fail_next(1, Fault::Throttle);
    let begin = Instant::now();
    fetched(&mut *client(&emu, test_http_config()));
    let took = begin.elapsed();
    assert!(took >= Duration::from_secs(1), "retried after {took:?}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(
        seen(&emu),
        vec![req("GET", GCP_PATH, 429), req("GET", GCP_PATH, 200)]
    );
}

/// The real long-poll: the emulator holds `wait_for_change` for its whole 60 s (nothing
/// changes) and then answers; the client waited for it, far past its 2 s receive timeout,
/// and reads "no change". One request, answered 200. (This test takes a minute.)
#[test]
fn gcp_long_poll_held_60_s_then_answered() {
    let emu = start(ProviderKind::Gcp, false, Fault::None);
    let mut provider = client(&emu, test_http_config());
    fetched(&mut *provider);
    emu.clear_requests();
    let begin = Instant::now();
    let answer = provider
        .wait_for_change(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("long-poll failed: {e}"));
    let held = begin.elapsed();
    assert_eq!(answer, None, "nothing changed");
    assert!(held >= Duration::from_secs(60), "answered after {held:?}");
    assert!(held < Duration::from_secs(65), "answered after {held:?}");
    let requests = seen(&emu);
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(
        requests[0]
            .1
            .starts_with(&format!("{GCP_PATH}&wait_for_change=true&last_etag="))
            && requests[0].1.ends_with("&timeout_sec=60")
            && requests[0].2 == 200,
        "{requests:?}"
    );
}

/// The emulator's garbage body is binary (not UTF-8): the fetcher refuses it before parsing.
fn is_binary_body_error(err: &FetchError) -> bool {
    matches!(err, FetchError::Http(HttpError::Invalid { detail, .. }) if detail.contains("not UTF-8"))
}

fn is_parse_error(err: &FetchError, provider: ProviderKind) -> bool {
    matches!(err, FetchError::Parse { provider: p, .. } if *p == provider)
}

#[test]
fn garbage_and_empty_bodies_are_permanent_and_not_retried() {
    for provider in [ProviderKind::Azure, ProviderKind::Gcp] {
        for fault in [Fault::Garbage, Fault::Empty] {
            let emu = start(provider, false, fault);
            let err = client(&emu, test_http_config())
                .fetch()
                .expect_err("bad body");
            let expected = match fault {
                Fault::Garbage => is_binary_body_error(&err),
                _ => is_parse_error(&err, provider),
            };
            assert!(expected, "{provider} {fault}: {err:?}");
            assert!(!err.is_transient(), "{provider} {fault}");
            assert_eq!(emu.requests().len(), 1, "{provider} {fault}: not retried");
        }
    }
}

#[test]
fn ec2_garbage_and_empty_listing_are_permanent_and_not_retried() {
    for fault in [Fault::Garbage, Fault::Empty] {
        let emu = start(ProviderKind::Aws, false, Fault::None);
        let mut provider = client(&emu, test_http_config());
        fetched(&mut *provider);
        emu.clear_requests();
        emu.set_fault(fault);
        let err = provider.fetch().expect_err("bad listing");
        let expected = match fault {
            Fault::Garbage => is_binary_body_error(&err),
            _ => is_parse_error(&err, ProviderKind::Aws),
        };
        assert!(expected, "{fault}: {err:?}");
        assert!(!err.is_transient(), "{fault}");
        assert_eq!(seen(&emu), vec![req("GET", MACS, 200)], "{fault}");
    }
}

#[test]
fn azure_scenario_change_is_picked_up() {
    let emu = start(ProviderKind::Azure, false, Fault::None);
    let mut provider = client(&emu, test_http_config());
    assert_eq!(fetched(&mut *provider).nics, expected_azure_nics());

    let mut scenario: serde_json::Value =
        serde_json::from_str(AZURE_SCENARIO).expect("built-in scenario is JSON");
    let addresses = scenario["network"]["interface"][0]["ipv4"]["ipAddress"]
        .as_array_mut()
        .expect("address list");
    assert_eq!(
        addresses.pop().expect("an address")["privateIpAddress"],
        "10.4.0.9"
    );
    emu.set_scenario_text(&scenario.to_string())
        .expect("valid scenario");
    let mut expected = expected_azure_nics();
    expected[0].ipv4.pop();
    assert_eq!(fetched(&mut *provider).nics, expected);
}

#[test]
fn ec2_scenario_change_is_picked_up() {
    let emu = start(ProviderKind::Aws, false, Fault::None);
    let mut provider = client(&emu, test_http_config());
    assert_eq!(fetched(&mut *provider).nics, expected_ec2_nics());

    let changed = AWS_SCENARIO.replace(r#""172.31.25.40\n172.31.25.41""#, r#""172.31.25.40""#);
    assert_ne!(changed, AWS_SCENARIO);
    emu.set_scenario_text(&changed).expect("valid scenario");
    let mut expected = expected_ec2_nics();
    expected[1].ipv4.pop();
    assert_eq!(fetched(&mut *provider).nics, expected);
}

/// The built-in EC2 scenario with an IPv4 and an IPv6 prefix delegated to its secondary NIC.
fn ec2_scenario_with_prefixes() -> String {
    let mut tree: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(AWS_SCENARIO).expect("built-in scenario is JSON");
    let dir = format!("meta-data/network/interfaces/macs/{}/", EC2_MACS[1]);
    for (leaf, body) in [
        ("ipv4-prefix", "172.31.26.16/28\n172.31.26.32/28"),
        ("subnet-ipv6-cidr-blocks", "2600:1f14:abc:de01::/64"),
        ("ipv6-prefix", "2600:1f14:abc:de01:7::/80"),
    ] {
        tree.insert(format!("{dir}{leaf}"), body.into());
    }
    serde_json::Value::Object(tree).to_string()
}

#[test]
fn ec2_prefix_leaves_are_read_only_where_the_listing_has_them() {
    let emu = start(ProviderKind::Aws, true, Fault::None);
    emu.set_scenario_text(&ec2_scenario_with_prefixes())
        .expect("valid scenario");
    let mut provider = client(&emu, test_http_config());
    let instance = fetched(&mut *provider);
    let prefixes: Vec<String> = instance.nics[1]
        .delegated_prefixes
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(
        prefixes,
        [
            "172.31.26.16/28",
            "172.31.26.32/28",
            "2600:1f14:abc:de01:7::/80"
        ]
    );
    assert_eq!(instance.nics[0].delegated_prefixes, []);

    emu.clear_requests();
    fetched(&mut *provider);
    let secondary = format!("{MACS}{}/", EC2_MACS[1]);
    let mut expected = ec2_refresh_requests();
    expected.extend(
        ["subnet-ipv6-cidr-blocks", "ipv4-prefix", "ipv6-prefix"]
            .map(|leaf| req("GET", &format!("{secondary}{leaf}"), 200)),
    );
    expected.sort();
    let mut refresh = seen(&emu);
    refresh.sort();
    assert_eq!(refresh, expected);
    // Within 2 + 6 × NICs plus one per listed prefix leaf.
    assert!(refresh.len() <= 2 + 6 * EC2_MACS.len() + 2);
}
