//! The Alibaba client against the emulator on 127.0.0.1 (security hardening mode required) and
//! a scripted server for the token PUT's refusals and silences: exact models, exact requests.

use super::*;
use crate::emulator::{self, Emulator, EmulatorConfig};
use crate::metadata::http::HttpError;
use crate::metadata::test_server::{fast, Answer, ScriptedServer};
use crate::metadata::{Ipv6Net, Nic, ParseError};

const MAC1: &str = "00:16:3e:2a:51:01";
const MAC2: &str = "00:16:3e:2a:51:02";
const SCENARIO: &str = include_str!("../../emulator/scenarios/alibaba.json");

fn start(require_token: bool) -> Emulator {
    let mut cfg = EmulatorConfig::new(ProviderKind::Alibaba);
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.require_token = require_token;
    emulator::start(cfg).unwrap()
}

fn client(base: &str) -> Alibaba {
    Alibaba::new(base, Http::new(fast()))
}

/// (method, path) of every request the emulator answered, with the status.
fn seen(emu: &Emulator) -> Vec<(String, String, u16)> {
    emu.requests()
        .into_iter()
        .map(|r| (r.method, r.path, r.status))
        .collect()
}

fn nic(mac: &str, index: u32, ipv4: &[&str]) -> Nic {
    let mut nic = Nic::new(mac.parse().unwrap(), index);
    nic.ipv4 = ipv4.iter().map(|a| a.parse().unwrap()).collect();
    nic.subnet4 = Some("172.16.20.0/24".parse().unwrap());
    nic.gateway4 = Some("172.16.20.253".parse().unwrap());
    nic
}

fn builtin_nics() -> Vec<Nic> {
    vec![
        nic(
            MAC1,
            0,
            &["172.16.20.10/24", "172.16.20.11/24", "172.16.20.12/24"],
        ),
        nic(MAC2, 1, &["172.16.20.40/24", "172.16.20.41/24"]),
    ]
}

/// The GETs of one refresh once the token and identity leaves are held.
fn refresh_requests(macs: &[&str]) -> Vec<(String, String, u16)> {
    let mut list = vec![("GET".to_string(), format!("/latest/{MACS_DIR}"), 200)];
    for mac in macs {
        for leaf in NIC_LEAVES {
            let status = if leaf == "ipv6s" { 404 } else { 200 };
            list.push((
                "GET".to_string(),
                format!("/latest/{MACS_DIR}{mac}/{leaf}"),
                status,
            ));
        }
    }
    list
}

/// The GETs of a later refresh: `ipv6s` answered 404, so each MAC's listing is read instead
/// and the leaf is not asked again while the listing does not show it.
fn later_refresh_requests(macs: &[&str]) -> Vec<(String, String, u16)> {
    let mut list = vec![("GET".to_string(), format!("/latest/{MACS_DIR}"), 200)];
    for mac in macs {
        list.push(("GET".to_string(), format!("/latest/{MACS_DIR}{mac}/"), 200));
        for leaf in NIC_LEAVES.into_iter().filter(|leaf| *leaf != "ipv6s") {
            list.push((
                "GET".to_string(),
                format!("/latest/{MACS_DIR}{mac}/{leaf}"),
                200,
            ));
        }
    }
    list
}

fn get(path: &str) -> (String, String, u16) {
    ("GET".to_string(), format!("/latest/{path}"), 200)
}

#[test]
fn refresh_reads_only_what_it_needs_with_the_token() {
    let emu = start(true);
    let mut alibaba = client(&emu.base_url());
    let got = alibaba.fetch().unwrap();
    assert_eq!(got.nics, builtin_nics());
    assert_eq!(got.instance_id, "i-bp1emu0cloudnet0001");
    assert_eq!(got.location, "cn-hangzhou");
    let mut want = vec![
        ("PUT".to_string(), "/latest/api/token".to_string(), 200),
        get(PRIMARY_MAC),
        get(INSTANCE_ID),
        get(REGION_ID),
    ];
    want.extend(refresh_requests(&[MAC1, MAC2]));
    assert_eq!(seen(&emu), want);
    assert_eq!(want.len(), 4 + 1 + 5 * 2);

    emu.clear_requests();
    assert_eq!(alibaba.fetch().unwrap().nics, builtin_nics());
    assert_eq!(
        seen(&emu),
        later_refresh_requests(&[MAC1, MAC2]),
        "1 + (1 + 4) × NICs, no 404"
    );
}

#[test]
fn an_ipv6_nic_costs_two_more_leaves() {
    let emu = start(true);
    let mut tree: BTreeMap<String, String> = serde_json::from_str(SCENARIO).unwrap();
    let dir = format!("{MACS_DIR}{MAC2}/");
    for (leaf, body) in [
        ("ipv6s", "[2408:4005:3a0:1e01::40,2408:4005:3a0:1e01::41]"),
        ("ipv6-gateway", "2408:4005:3a0:1e01:ffff:ffff:ffff:fffd"),
        ("vswitch-ipv6-cidr-block", "2408:4005:3a0:1e01::/64"),
    ] {
        tree.insert(format!("{dir}{leaf}"), body.to_string());
    }
    emu.set_scenario_text(&serde_json::to_string(&tree).unwrap())
        .unwrap();
    let got = client(&emu.base_url()).fetch().unwrap();
    let mut want = builtin_nics();
    want[1].ipv6 = vec![
        "2408:4005:3a0:1e01::40/64".parse().unwrap(),
        "2408:4005:3a0:1e01::41/64".parse().unwrap(),
    ];
    want[1].subnet6 = Some("2408:4005:3a0:1e01::/64".parse::<Ipv6Net>().unwrap());
    want[1].gateway6 = Some("2408:4005:3a0:1e01:ffff:ffff:ffff:fffd".parse().unwrap());
    assert_eq!(got.nics, want);
    let extra: Vec<String> = seen(&emu)
        .into_iter()
        .map(|(_, path, _)| path)
        .filter(|path| path.contains("ipv6-gateway") || path.contains("vswitch-ipv6"))
        .collect();
    assert_eq!(
        extra,
        [
            format!("/latest/{dir}ipv6-gateway"),
            format!("/latest/{dir}vswitch-ipv6-cidr-block")
        ]
    );
    assert_eq!(seen(&emu).len(), 4 + 1 + 5 * 2 + 2);
}

#[test]
fn a_hot_plugged_nic_that_sorts_first_moves_no_other_nic() {
    let emu = start(true);
    let mut alibaba = client(&emu.base_url());
    alibaba.fetch().unwrap();
    let mut tree: BTreeMap<String, String> = serde_json::from_str(SCENARIO).unwrap();
    let hot = "00:16:3e:2a:51:00";
    tree.insert(
        format!("{MACS_DIR}{hot}/private-ipv4s"),
        r#"["172.16.20.60"]"#.to_string(),
    );
    emu.set_scenario_text(&serde_json::to_string(&tree).unwrap())
        .unwrap();
    let indexes: Vec<(String, u32)> = alibaba
        .fetch()
        .unwrap()
        .nics
        .iter()
        .map(|n| (n.mac.to_string(), n.index))
        .collect();
    assert_eq!(
        indexes,
        [
            (MAC1.to_string(), 0),
            (MAC2.to_string(), 1),
            (hot.to_string(), 2)
        ]
    );
    // A fresh process numbers by MAC order.
    let fresh: Vec<u32> = client(&emu.base_url())
        .fetch()
        .unwrap()
        .nics
        .iter()
        .filter(|n| n.mac.to_string() == hot)
        .map(|n| n.index)
        .collect();
    assert_eq!(fresh, [1]);
}

#[test]
fn system_walk_returns_meta_data_without_the_ram_keys() {
    let emu = start(true);
    let got = client(&emu.base_url()).fetch_system().unwrap();
    let tree: BTreeMap<String, String> = serde_json::from_str(SCENARIO).unwrap();
    let want: BTreeMap<String, String> = tree
        .into_iter()
        .filter(|(key, _)| !key.starts_with(SECRET_DIRS[0]))
        .collect();
    assert_eq!(*got, tree_to_json(&want));
    assert!(!got.to_string().contains("AccessKeySecret"));
}

/// One NIC's refresh as a script: the identity leaves, the listing and the five leaves.
fn one_nic_script() -> Vec<Answer> {
    vec![
        Answer::ok(MAC1),
        Answer::ok("i-bp1scripted"),
        Answer::ok("cn-beijing"),
        Answer::ok(&format!("{MAC1}/")),
        Answer::ok(r#"["172.16.20.10"]"#),
        Answer::ok("172.16.20.10"),
        Answer::ok("172.16.20.0/24"),
        Answer::ok("172.16.20.253"),
        Answer::status(404),
    ]
}

#[test]
fn token_headers_are_alibaba_s() {
    let mut script = vec![Answer::ok("tok-1")];
    script.extend(one_nic_script());
    let server = ScriptedServer::start(script);
    let got = client(server.base()).fetch().unwrap();
    assert_eq!(got.instance_id, "i-bp1scripted");
    assert_eq!(got.location, "cn-beijing");
    let seen = server.seen();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].url.as_str()),
        ("PUT", "/latest/api/token")
    );
    assert_eq!(
        seen[0].header("X-aliyun-ecs-metadata-token-ttl-seconds"),
        Some("21600")
    );
    assert_eq!(seen.len(), 10);
    for request in &seen[1..] {
        assert_eq!(request.method, "GET");
        assert_eq!(
            request.header("X-aliyun-ecs-metadata-token"),
            Some("tok-1"),
            "{}",
            request.url
        );
    }
}

#[test]
fn refused_put_falls_back_to_normal_mode() {
    for status in [403, 404, 405] {
        let mut script = vec![Answer::status(status)];
        script.extend(one_nic_script());
        let server = ScriptedServer::start(script);
        let got = client(server.base()).fetch().unwrap();
        assert_eq!(got.nics.len(), 1, "{status}");
        let seen = server.seen();
        assert_eq!(seen.len(), 10, "{status}");
        assert!(
            seen[1..]
                .iter()
                .all(|s| s.header("X-aliyun-ecs-metadata-token").is_none()),
            "{status}"
        );
    }
}

#[test]
fn silent_or_failing_put_is_an_error_not_a_fallback() {
    let server = ScriptedServer::start(vec![Answer::hang(); 3]);
    let err = client(server.base()).fetch().unwrap_err();
    assert!(
        matches!(&err, FetchError::Http(HttpError::Timeout { url, .. }) if url.ends_with("/latest/api/token")),
        "{err:?}"
    );
    let methods: Vec<String> = server.seen().into_iter().map(|s| s.method).collect();
    assert_eq!(
        methods, ["PUT"; 3],
        "retried, and no GET after the silent PUT"
    );

    let server = ScriptedServer::start(vec![Answer::status(400)]);
    let err = client(server.base()).fetch().unwrap_err();
    assert!(
        matches!(
            &err,
            FetchError::Http(HttpError::Status { status: 400, .. })
        ),
        "{err:?}"
    );
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn a_listing_entry_that_is_no_mac_fails_before_any_leaf() {
    let server = ScriptedServer::start(vec![
        Answer::ok("tok"),
        Answer::ok(MAC1),
        Answer::ok("i-1"),
        Answer::ok("r"),
        Answer::ok("eth0/"),
    ]);
    let err = client(server.base()).fetch().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}",
            FetchError::Parse {
                provider: ProviderKind::Alibaba,
                source: ParseError::Value {
                    field: format!("{MACS_DIR}eth0/"),
                    source: crate::metadata::ValueError::Mac("eth0".to_string()),
                },
            }
        )
    );
    assert_eq!(server.seen().len(), 5);
}

#[test]
fn a_leaf_that_was_missing_is_read_again_once_its_listing_shows_it() {
    let emu = start(true);
    let mut alibaba = client(&emu.base_url());
    alibaba.fetch().unwrap();
    alibaba.fetch().unwrap();
    let ipv6_reads = |emu: &Emulator| {
        seen(emu)
            .into_iter()
            .filter(|(_, path, _)| path.ends_with("/ipv6s"))
            .count()
    };
    assert_eq!(
        ipv6_reads(&emu),
        2,
        "one 404 per NIC, at the first refresh only"
    );
    let mut tree: BTreeMap<String, String> = serde_json::from_str(SCENARIO).unwrap();
    tree.insert(
        format!("{MACS_DIR}{MAC2}/ipv6s"),
        "[2408:4005:3a0:1e01::40]".to_string(),
    );
    for (leaf, body) in [
        ("ipv6-gateway", "2408:4005:3a0:1e01:ffff:ffff:ffff:fffd"),
        ("vswitch-ipv6-cidr-block", "2408:4005:3a0:1e01::/64"),
    ] {
        tree.insert(format!("{MACS_DIR}{MAC2}/{leaf}"), body.to_string());
    }
    emu.set_scenario_text(&serde_json::to_string(&tree).unwrap())
        .unwrap();
    emu.clear_requests();
    let got = alibaba.fetch().unwrap();
    assert_eq!(
        got.nics[1].ipv6,
        ["2408:4005:3a0:1e01::40/64".parse().unwrap()]
    );
    assert_eq!(ipv6_reads(&emu), 1, "MAC2 only, now listed");
}

#[test]
fn lines_ended_by_crlf_as_the_service_sends_parse_as_lf() {
    let lf: BTreeMap<String, String> = serde_json::from_str(SCENARIO).unwrap();
    let crlf: BTreeMap<String, String> = lf
        .iter()
        .map(|(key, body)| (key.clone(), body.replace('\n', "\r\n")))
        .collect();
    assert!(crlf.values().any(|body| body.contains("\r\n")));
    let from_crlf = parse::parse(&crlf).unwrap();
    assert_eq!(from_crlf, parse::parse(&lf).unwrap());
    assert_eq!(from_crlf.nics, builtin_nics());
    assert_eq!(tree_to_json(&crlf), tree_to_json(&lf));
}
