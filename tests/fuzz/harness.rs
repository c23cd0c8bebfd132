//! The code every fuzz target runs on one input, shared by the libFuzzer targets
//! (`fuzz_targets/*.rs`) and the regression test (`tests/fuzz_regressions.rs`) through
//! `#[path]`. Each function feeds the bytes to one parser and asserts its invariants: a panic
//! is a finding, a refused input is not.

use cloud_network::api::{
    parse_head, respond, ApiOptions, HeadError, Limits, Parsed, Reply, RequestHead, Response,
    Version, MAX_HEAD,
};
use cloud_network::config::{format_duration, parse_duration, Config};
use cloud_network::kernel::KernelState;
use cloud_network::kernel::{Link, OperState};
use cloud_network::metadata::aws::parse::{parse_listing, MACS_DIR};
use cloud_network::metadata::{
    alibaba, aws, azure, digitalocean, gcp, oracle, Instance, IpNet, Ipv4Net, Ipv6Net, Mac,
};
use cloud_network::metadata::{ParseError, ProviderKind};
use cloud_network::plan::index::KernelIndex;
use cloud_network::plan::{desired, diff, Owned, PlanSettings};
use cloud_network::snapshot::{Ec2Documents, LinkStatus, RuleStatus, Snapshot};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// One target's code: takes any bytes, panics only on a finding.
pub type Target = fn(&[u8]);

/// Every target by name: the fuzz binaries and the regression directories use these names.
pub const TARGETS: [(&str, Target); 10] = [
    ("azure_parse", azure_parse),
    ("gcp_parse", gcp_parse),
    ("oracle_parse", oracle_parse),
    ("digitalocean_parse", digitalocean_parse),
    ("ec2_parse", ec2_parse),
    ("alibaba_parse", alibaba_parse),
    ("ec2_listing", ec2_listing),
    ("config_parse", config_parse),
    ("duration_parse", duration_parse),
    ("api_request", api_request),
];

/// Runs the target called `name` on one input.
pub fn run(name: &str, data: &[u8]) {
    let Some((_, target)) = TARGETS.iter().find(|(n, _)| *n == name) else {
        panic!("no fuzz target named {name:?}");
    };
    target(data);
}

/// Bytes → UTF-8 text → `azure::parse`.
fn azure_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(instance) = checked(azure::parse(text)) {
        assert_eq!(instance.provider, ProviderKind::Azure);
        for (position, nic) in instance.nics.iter().enumerate() {
            assert_eq!(nic.index as usize, position, "Azure index is the position");
            assert_eq!(nic.gateway4, nic.subnet4.map(|s| s.first_host()));
            if !nic.ipv6.is_empty() {
                assert_eq!(nic.gateway6, Some(azure::GATEWAY6));
            }
        }
    }
}

/// Bytes → UTF-8 text → `digitalocean::parse`.
fn digitalocean_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(instance) = checked(digitalocean::parse(text)) {
        assert_eq!(instance.provider, ProviderKind::DigitalOcean);
        let indexes: Vec<u32> = instance.nics.iter().map(|n| n.index).collect();
        assert!(indexes.windows(2).all(|w| w[0] < w[1]), "sorted by index");
        for nic in &instance.nics {
            if nic.index != 0 {
                assert!(nic.public_ipv4s.is_empty(), "the reserved IP is on NIC 0");
            }
            assert!(nic.ipv4.len() <= 1 && nic.routed_ipv4.len() <= 1);
        }
    }
}

/// Bytes → UTF-8 text → `gcp::parse`, or `gcp::parse_network_interfaces` when the document
/// is an array (the `network-interfaces/?recursive=true` body).
fn gcp_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Value::Array(items)) = serde_json::from_str::<Value>(text) {
        if let Ok(nics) = gcp::parse_network_interfaces(&Value::Array(items)) {
            check_instance(&instance_of(ProviderKind::Gcp, nics));
        }
        return;
    }
    if let Ok(instance) = checked(gcp::parse(text)) {
        assert_eq!(instance.provider, ProviderKind::Gcp);
        for nic in &instance.nics {
            for address in &nic.ipv4 {
                assert_eq!(address.prefix, 32, "GCP addresses are /32");
            }
        }
    }
}

/// Bytes → UTF-8 text → `oracle::parse_vnics` when the document is an array (the body of
/// `/opc/v2/vnics/`), else `oracle::parse_document` (`{"instance": ..., "vnics": ...}`).
fn oracle_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = if text.trim_start().starts_with('[') {
        oracle::parse_vnics(text).map(|nics| instance_of(ProviderKind::Oracle, nics))
    } else {
        oracle::parse_document(text)
    };
    if let Ok(instance) = checked(parsed) {
        assert_eq!(instance.provider, ProviderKind::Oracle);
        for (position, nic) in instance.nics.iter().enumerate() {
            assert_eq!(nic.index as usize, position, "OCI index is the position");
            assert!(nic.ipv4.len() <= 1, "OCI lists one IPv4 per VNIC");
            let Some(vlan) = nic.vlan else {
                continue;
            };
            assert!((1..=4094).contains(&vlan.id), "{vlan:?}");
            let parent = instance
                .nic_by_mac(vlan.parent)
                .expect("the parent is listed");
            assert!(parent.vlan.is_none() && parent.mac != nic.mac, "{vlan:?}");
        }
    }
}

/// Bytes → a JSON object of string → string (the form of the fixtures' `metadata.json`: a path
/// relative to `/latest/` → its body) → `aws::parse`. Other inputs are skipped.
fn ec2_parse(data: &[u8]) {
    let Ok(tree) = serde_json::from_slice::<BTreeMap<String, String>>(data) else {
        return;
    };
    if let Ok(instance) = checked(aws::parse::parse(&tree)) {
        assert_eq!(instance.provider, ProviderKind::Aws);
        let indexes: Vec<u32> = instance.nics.iter().map(|n| n.index).collect();
        assert!(
            indexes.windows(2).all(|w| w[0] < w[1]),
            "sorted by index: {indexes:?}"
        );
        for nic in &instance.nics {
            assert_eq!(nic.gateway4, nic.subnet4.map(|s| s.first_host()));
            assert_eq!(nic.gateway6, None, "EC2 learns IPv6 routes by RA");
        }
    }
}

/// Bytes → a JSON object of string → string (the fixtures' `metadata.json` form) →
/// `alibaba::parse`. The top-level `mac` is index 0 and the others follow in MAC order
/// (1, 2, …); every address has its subnet's prefix when inside it, else a host prefix; a
/// valid `primary-ip-address` is the NIC's first address.
fn alibaba_parse(data: &[u8]) {
    let Ok(tree) = serde_json::from_slice::<BTreeMap<String, String>>(data) else {
        return;
    };
    let Ok(instance) = checked(alibaba::parse::parse(&tree)) else {
        return;
    };
    assert_eq!(instance.provider, ProviderKind::Alibaba);
    let indexes: Vec<u32> = instance.nics.iter().map(|n| n.index).collect();
    assert_eq!(indexes, (0..instance.nics.len() as u32).collect::<Vec<_>>());
    let primary = tree["meta-data/mac"].trim().parse::<Mac>();
    assert_eq!(
        primary,
        Ok(instance.nics[0].mac),
        "the top-level mac is index 0"
    );
    let secondaries: Vec<Mac> = instance.nics[1..].iter().map(|n| n.mac).collect();
    assert!(secondaries.windows(2).all(|w| w[0] < w[1]), "MAC order");
    // An unreadable NIC carries its MAC and index only: nothing else of it to check.
    for nic in instance.nics.iter().filter(|n| n.unreadable.is_none()) {
        for address in &nic.ipv4 {
            match nic.subnet4 {
                Some(subnet) if subnet.contains(address.addr) => {
                    assert_eq!(address.prefix, subnet.prefix)
                }
                _ => assert_eq!(address.prefix, 32),
            }
        }
        for address in &nic.ipv6 {
            match nic.subnet6 {
                Some(subnet) if subnet.contains(address.addr) => {
                    assert_eq!(address.prefix, subnet.prefix)
                }
                _ => assert_eq!(address.prefix, 128),
            }
        }
        // Paths are case-sensitive; only the MAC directory may come in either case.
        let primary = tree
            .iter()
            .find(|(key, _)| {
                key.strip_prefix(MACS_DIR)
                    .and_then(|rest| rest.split_once('/'))
                    .is_some_and(|(dir, leaf)| {
                        leaf == "primary-ip-address" && dir.parse::<Mac>().ok() == Some(nic.mac)
                    })
            })
            .and_then(|(_, body)| body.trim().parse::<std::net::Ipv4Addr>().ok());
        if let Some(primary) = primary {
            assert_eq!(nic.ipv4.first().map(|n| n.addr), Some(primary));
        }
    }
}

/// Bytes → UTF-8 text → `parse_listing`; then the entries as the `macs/` listing of a tree
/// (device-number = position), which must parse exactly when every entry is a distinct MAC.
fn ec2_listing(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let entries = parse_listing(text);
    let nonblank = text.lines().filter(|l| !l.trim().is_empty()).count();
    assert_eq!(entries.len(), nonblank);
    for entry in &entries {
        assert!(!entry.is_empty() && entry.trim() == entry && !entry.contains('\n'));
    }
    assert_eq!(parse_listing(&entries.join("\n")), entries, "idempotent");
    let names: Vec<&str> = entries.iter().map(|e| e.trim_end_matches('/')).collect();
    let tree: BTreeMap<String, String> = names
        .iter()
        .enumerate()
        .map(|(i, name)| (format!("{MACS_DIR}{name}/device-number"), i.to_string()))
        .collect();
    let macs: Option<Vec<Mac>> = names
        .iter()
        .map(|n| n.parse().ok().filter(|_| !n.contains('/')))
        .collect();
    let distinct = |macs: &Vec<Mac>| macs.iter().collect::<BTreeSet<_>>().len() == macs.len();
    let distinct_names = names.iter().collect::<BTreeSet<_>>().len() == names.len();
    match (macs, checked(aws::parse::parse(&tree))) {
        (Some(macs), Ok(instance)) if distinct(&macs) && !macs.is_empty() => {
            let parsed: Vec<Mac> = instance.nics.iter().map(|n| n.mac).collect();
            assert_eq!(parsed, macs, "NICs in device-number order");
        }
        (Some(macs), result) if distinct(&macs) && !macs.is_empty() && distinct_names => {
            panic!("distinct MACs {macs:?} must parse: {result:?}")
        }
        _ => {}
    }
}

/// Bytes → UTF-8 text → `config::parse`: every accepted config is within the documented
/// bounds, and every error and warning names a line of the text.
fn config_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.split('\n').count();
    let check_line = |line: Option<usize>| {
        if let Some(line) = line {
            assert!((1..=lines).contains(&line), "line {line} of {lines}");
        }
    };
    match cloud_network::config::parse(text, Path::new("fuzz.toml")) {
        Ok(loaded) => {
            check_config(&loaded.config);
            for warning in &loaded.warnings {
                assert!(warning.to_string().starts_with("fuzz.toml"));
            }
        }
        Err(e) => {
            assert!(e.to_string().starts_with("fuzz.toml"), "{e}");
            if let cloud_network::config::ConfigError::Syntax { at, .. }
            | cloud_network::config::ConfigError::NotASection { at, .. }
            | cloud_network::config::ConfigError::InvalidValue { at, .. } = &e
            {
                check_line(at.line);
            }
        }
    }
}

fn check_config(config: &Config) {
    let refresh = config.refresh_timer;
    assert!(refresh >= Duration::from_secs(1) && refresh <= Duration::from_secs(86_400));
    assert!((256..=4_000_000_000).contains(&config.route_table_base));
    assert!((1601..=30_000).contains(&config.rule_priority_base));
    for name in &config.supplementary {
        assert!(!name.is_empty() && name.len() <= 15, "{name:?}");
    }
    if let Some(endpoint) = &config.metadata_endpoint {
        assert!(endpoint.to_ascii_lowercase().starts_with("http://"));
        assert!(!endpoint.ends_with('/'), "{endpoint}");
    }
    assert_eq!(
        parse_duration(&format_duration(refresh)),
        Ok(refresh),
        "RefreshTimer prints back"
    );
}

/// Bytes → UTF-8 text → `parse_duration`; an accepted duration prints (`format_duration`)
/// to text that parses back to the same value, and a bare integer is seconds.
fn duration_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_duration(text) {
        Ok(duration) => {
            let printed = format_duration(duration);
            assert_eq!(
                parse_duration(&printed),
                Ok(duration),
                "{text:?} → {printed}"
            );
            let trimmed = text.trim();
            if trimmed.bytes().all(|b| b.is_ascii_digit()) {
                assert_eq!(Ok(duration.as_secs()), trimmed.parse::<u64>());
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

/// The statuses the API documents (cloud-network(8), "Responses and errors").
const DOCUMENTED: [u16; 13] = [
    200, 202, 400, 403, 404, 405, 408, 413, 431, 500, 501, 503, 505,
];

/// Bytes → `parse_head` → for a head, `respond` against a fixed snapshot per provider (and one
/// before any fetch), with and without ServeCredentials, with the daemon running or stopping.
fn api_request(data: &[u8]) {
    match parse_head(data, MAX_HEAD) {
        Parsed::Incomplete => assert!(data.len() < MAX_HEAD),
        Parsed::Invalid(e) => {
            let response = e.response(MAX_HEAD);
            let expected = match e {
                HeadError::TooLarge => 431,
                HeadError::Malformed(_) | HeadError::PathNotAscii => 400,
                HeadError::TransferEncoding => 501,
                HeadError::Version => 505,
            };
            assert_eq!(response.status, expected);
            check_encoding(&response);
        }
        Parsed::Head { mut head, len } => {
            assert!(len <= data.len() && len <= MAX_HEAD);
            check_head(&head);
            for peer in [Ipv4Addr::LOCALHOST, Ipv4Addr::new(10, 9, 0, 2)] {
                head.peer = IpAddr::V4(peer);
                route_everywhere(&head);
            }
        }
    }
}

/// `respond` against every snapshot, options and daemon state; a check (answered later, by
/// its own thread) only for a configured snapshot and a loopback peer.
fn route_everywhere(head: &RequestHead<'_>) {
    for snapshot in snapshots() {
        for serve_credentials in [false, true] {
            for running in [true, false] {
                let options = api_options(serve_credentials);
                match respond(head, snapshot, &options, &|| running) {
                    Reply::Now(response) => {
                        check_routed(head, &response);
                        check_encoding(&response);
                    }
                    Reply::Check => {
                        assert_eq!(head.path, "/api/v1/check");
                        assert!(head.peer.is_loopback(), "{head:?}");
                    }
                }
            }
        }
    }
}

fn check_head(head: &RequestHead<'_>) {
    assert!(head.path.starts_with('/'));
    assert!(head.path.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    assert!(!head.path.contains('?') && !head.path.contains('#'));
    assert!(!head.method.is_empty());
    if head.version == Version::Http10 {
        assert!(head.close, "HTTP/1.0 closes");
    }
}

fn check_routed(head: &RequestHead<'_>, response: &Response) {
    assert!(
        [200, 202, 403, 404, 405, 503].contains(&response.status),
        "routing answered {}",
        response.status
    );
    match response.status {
        200 => assert!(matches!(head.method, "GET" | "HEAD"), "{head:?}"),
        202 => assert!(head.method == "POST" && head.path == "/api/v1/refresh"),
        405 => assert!(response.allow.is_some()),
        _ => {}
    }
}

/// The encoded response is well-formed HTTP/1.1 with a JSON body of the announced length.
fn check_encoding(response: &Response) {
    assert!(DOCUMENTED.contains(&response.status), "{}", response.status);
    let mut out = Vec::new();
    response.encode(&mut out, false, true);
    let text = String::from_utf8(out).expect("a response is UTF-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let status_line = head.lines().next().unwrap_or_default();
    assert!(status_line.starts_with(&format!("HTTP/1.1 {} ", response.status)));
    assert!(!status_line.ends_with("Unknown"), "{status_line}");
    let length = format!("Content-Length: {}", response.body.len());
    assert!(head.lines().any(|l| l == length), "{head}");
    assert_eq!(body.as_bytes(), response.body.as_slice());
    serde_json::from_slice::<Value>(&response.body).expect("the body is JSON");
    let mut head_only = Vec::new();
    response.encode(&mut head_only, true, false);
    assert!(head_only.ends_with(b"\r\n\r\n"));
}

fn api_options(serve_credentials: bool) -> ApiOptions {
    ApiOptions {
        serve_credentials,
        listen: SocketAddr::from(([10, 0, 0, 5], 5209)),
        limits: Limits::default(),
    }
}

/// One snapshot per provider with metadata, plus one before any fetch.
fn snapshots() -> &'static [Snapshot] {
    static SNAPSHOTS: OnceLock<Vec<Snapshot>> = OnceLock::new();
    SNAPSHOTS.get_or_init(|| {
        let mut all: Vec<Snapshot> = ProviderKind::ALL.into_iter().map(snapshot).collect();
        all.push(Snapshot::starting(None, "2026-01-01T00:00:00Z".into()));
        all
    })
}

fn snapshot(provider: ProviderKind) -> Snapshot {
    let mut snap = Snapshot::starting(Some(provider), "2026-01-01T00:00:00Z".into());
    snap.system = Some(Arc::new(json!({"provider": provider.name(), "id": "i-1"})));
    snap.network = Some(Arc::new(
        json!([{"mac": "00:0d:3a:5d:2d:66", "ipv4": ["10.4.0.5/24"]}]),
    ));
    snap.status.links.push(LinkStatus {
        name: "eth1".into(),
        ifindex: 3,
        mac: "00:0d:3a:5d:2d:66".parse().expect("a valid MAC"),
        device_index: 1,
        table: Some(10001),
        addresses: vec!["10.4.0.5/24".parse().expect("a valid address")],
        routes: vec!["default via 10.4.0.1 dev eth1 table 10001 proto 201".into()],
        rules: vec![RuleStatus {
            priority: 3001,
            from: Some("10.4.0.5/32".parse().expect("a valid address")),
            to: None,
            table: 10001,
        }],
        refused: Vec::new(),
        unknown: None,
    });
    if provider == ProviderKind::Aws {
        snap.ec2 = Some(Ec2Documents {
            document: Some(json!({"instanceId": "i-1", "region": "us-east-2"})),
            pkcs7: Some("MIAGCSqGSIb3DQEHAqCAMIACAQExCzAJBgUrDgMCGgUAMIAGCSqGSIb3DQEHAaCA".into()),
            signature: None,
            rsa2048: Some("MIAGCSqG".into()),
            credentials: Some(json!({"Code": "Success", "AccessKeyId": "AKIA"})),
        });
    }
    snap
}

/// Checks the invariants of every parsed model, passing the result through.
fn checked(result: Result<Instance, ParseError>) -> Result<Instance, ParseError> {
    match &result {
        Ok(instance) => check_instance(instance),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    result
}

fn instance_of(provider: ProviderKind, nics: Vec<cloud_network::metadata::Nic>) -> Instance {
    Instance {
        provider,
        instance_id: String::new(),
        location: String::new(),
        nics,
        raw: Default::default(),
    }
}

/// A parsed model: at least one NIC, distinct MACs and indexes, MACs print in the normal
/// form, prefixes within their family's range, subnets without host bits, and every address
/// prints back to itself. Then the planner must take it without panicking.
fn check_instance(instance: &Instance) {
    assert!(!instance.nics.is_empty());
    let macs: BTreeSet<Mac> = instance.nics.iter().map(|n| n.mac).collect();
    let indexes: BTreeSet<u32> = instance.nics.iter().map(|n| n.index).collect();
    assert_eq!(macs.len(), instance.nics.len(), "distinct MACs");
    assert_eq!(indexes.len(), instance.nics.len(), "distinct indexes");
    for nic in &instance.nics {
        let printed = nic.mac.to_string();
        assert_eq!(printed.len(), 17);
        assert!(printed.bytes().all(|b| b == b':' || b.is_ascii_hexdigit()));
        assert_eq!(printed, printed.to_ascii_lowercase());
        assert_eq!(printed.parse::<Mac>(), Ok(nic.mac));
        nic.ipv4.iter().for_each(|n| check_v4(*n));
        nic.ipv6.iter().for_each(|n| check_v6(*n));
        nic.routed_ipv4.iter().for_each(|r| check_v4(r.addr));
        if let Some(subnet) = nic.subnet4 {
            check_v4(subnet);
            assert_eq!(subnet, subnet.network(), "subnet without host bits");
        }
        if let Some(subnet) = nic.subnet6 {
            check_v6(subnet);
            assert_eq!(subnet, subnet.network(), "subnet without host bits");
        }
        for net in nic.ip_ranges.iter().chain(&nic.forwarded) {
            match net {
                IpNet::V4(n) => check_v4(*n),
                IpNet::V6(n) => check_v6(*n),
            }
        }
    }
    serde_json::to_string(instance).expect("the model serializes");
    plan_without_panic(instance);
}

fn check_v4(net: Ipv4Net) {
    assert!(net.prefix <= 32, "{net:?}");
    assert_eq!(net.to_string().parse::<Ipv4Net>(), Ok(net));
}

fn check_v6(net: Ipv6Net) {
    assert!(net.prefix <= 128, "{net:?}");
    assert_eq!(net.to_string().parse::<Ipv6Net>(), Ok(net));
}

/// Plans the model onto one link per NIC in an empty kernel: the planner must not panic and
/// must place every NIC (planned, skipped, or a VLAN link to create), and a plan never deletes
/// from an empty record.
fn plan_without_panic(instance: &Instance) {
    let links: Vec<Link> = instance
        .nics
        .iter()
        .enumerate()
        .map(|(i, nic)| Link {
            index: i as u32 + 2,
            name: format!("eth{i}"),
            mac: Some(nic.mac),
            mtu: 1500,
            up: false,
            oper_state: OperState::Down,
            kind: None,
            master: None,
            loopback: false,
            ethernet: true,
            group: 0,
        })
        .collect();
    let want = desired(instance, &links, &PlanSettings::default());
    let to_create = want
        .vlans
        .iter()
        .filter(|v| want.nic(v.mac).is_none())
        .count();
    assert_eq!(
        want.nics.len() + want.skipped.len() + want.unknown.len() + to_create,
        instance.nics.len()
    );
    let kernel = KernelState {
        links,
        ..KernelState::default()
    };
    let plan = diff(&want, &KernelIndex::new(&kernel), &Owned::default());
    for planned in &plan.changes {
        let text = serde_json::to_string(&planned.change).expect("a change serializes");
        assert!(
            !text.contains("\"del_"),
            "nothing owned, nothing deleted: {text}"
        );
    }
}
