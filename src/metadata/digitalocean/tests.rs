//! DigitalOcean tests: the index rule, the anchor and reserved IPs, one bad input per
//! validation rule with its exact error, and the fetch against a scripted service on 127.0.0.1.

use super::*;
use crate::metadata::test_server::{fast, Answer, ScriptedServer};
use crate::metadata::{FetchError, ParseError, Provider};
use crate::metadata::{Ipv4Net, Nic, RoutedIpv4, ValueError};

/// The shape of DigitalOcean's `/metadata/v1.json` reference example, with both interfaces.
const TWO_NICS: &str = r#"{"droplet_id": 2756294, "hostname": "sample-droplet", "region": "nyc3",
  "interfaces": {
    "public": [{"ipv4": {"ip_address": "104.131.20.105", "netmask": "255.255.192.0",
                         "gateway": "104.131.0.1"},
                "ipv6": {"ip_address": "2604:A880:0800:0010:0000:0000:017D:2001", "cidr": 64,
                         "gateway": "2604:A880:0800:0010:0000:0000:0000:0001"},
                "anchor_ipv4": {"ip_address": "10.17.0.5", "netmask": "255.255.0.0",
                                "gateway": "10.17.0.1"},
                "mac": "04:01:2A:0F:2A:01", "type": "public"}],
    "private": [{"ipv4": {"ip_address": "10.132.255.113", "netmask": "255.255.0.0",
                          "gateway": "10.132.0.1"},
                 "mac": "04:01:2a:0f:2a:02", "type": "private"}]},
  "reserved_ip": {"ipv4": {"active": true, "ip_address": "45.55.96.47"}},
  "floating_ip": {"ipv4": {"active": true, "ip_address": "45.55.96.47"}},
  "public_keys": ["ssh-rsa AAAA sammy@example.com"], "tags": ["web"]}"#;

fn v4(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

fn public_nic() -> Nic {
    let mut nic = Nic::new("04:01:2a:0f:2a:01".parse().unwrap(), 0);
    nic.ipv4 = vec![v4("104.131.20.105/18")];
    nic.subnet4 = Some(v4("104.131.0.0/18"));
    nic.gateway4 = Some("104.131.0.1".parse().unwrap());
    nic.ipv6 = vec!["2604:a880:800:10::17d:2001/64".parse().unwrap()];
    nic.subnet6 = Some("2604:a880:800:10::/64".parse().unwrap());
    nic.gateway6 = Some("2604:a880:800:10::1".parse().unwrap());
    nic.routed_ipv4 = vec![RoutedIpv4 {
        addr: v4("10.17.0.5/16"),
        gateway: "10.17.0.1".parse().unwrap(),
    }];
    nic.public_ipv4s = vec!["45.55.96.47".parse().unwrap()];
    nic
}

fn private_nic() -> Nic {
    let mut nic = Nic::new("04:01:2a:0f:2a:02".parse().unwrap(), 1);
    nic.ipv4 = vec![v4("10.132.255.113/16")];
    nic.subnet4 = Some(v4("10.132.0.0/16"));
    nic.gateway4 = Some("10.132.0.1".parse().unwrap());
    nic
}

#[test]
fn public_is_index_0_private_is_1_with_anchor_and_reserved_ip() {
    let instance = parse(TWO_NICS).unwrap();
    assert_eq!(instance.provider, ProviderKind::DigitalOcean);
    assert_eq!(instance.instance_id, "2756294");
    assert_eq!(instance.location, "nyc3");
    assert_eq!(instance.nics, [public_nic(), private_nic()]);
    assert_eq!(instance.raw["hostname"], "sample-droplet");
}

#[test]
fn further_entries_take_the_next_index_of_their_list() {
    let doc = r#"{"droplet_id": "7", "interfaces": {
        "private": [{"mac": "02:00:00:00:00:02"}, {"mac": "02:00:00:00:00:04"}],
        "public": [{"mac": "02:00:00:00:00:01"}, {"mac": "02:00:00:00:00:03"}]}}"#;
    let instance = parse(doc).unwrap();
    let got: Vec<(String, u32)> = instance
        .nics
        .iter()
        .map(|n| (n.mac.to_string(), n.index))
        .collect();
    let want = [
        ("02:00:00:00:00:01", 0),
        ("02:00:00:00:00:02", 1),
        ("02:00:00:00:00:03", 2),
        ("02:00:00:00:00:04", 3),
    ];
    assert_eq!(got, want.map(|(m, i)| (m.to_string(), i)));
    let private_only =
        r#"{"droplet_id": 8, "interfaces": {"private": [{"mac": "02:00:00:00:00:02"}]}}"#;
    assert_eq!(parse(private_only).unwrap().nics[0].index, 1);
}

#[test]
fn inactive_or_absent_reserved_ip_is_no_public_address() {
    for reserved in [
        r#""floating_ip": {"ipv4": {"active": false}}"#,
        r#""reserved_ip": {"ipv4": {"active": false, "ip_address": "45.55.96.47"}}"#,
        r#""reserved_ip": {}"#,
        r#""tags": null"#,
    ] {
        let doc = format!(
            r#"{{"droplet_id": 1, {reserved}, "interfaces": {{"public": [{{"mac": "02:00:00:00:00:01"}}]}}}}"#
        );
        assert!(
            parse(&doc).unwrap().nics[0].public_ipv4s.is_empty(),
            "{reserved}"
        );
    }
}

fn value_error(field: &str, source: ValueError) -> ParseError {
    ParseError::Value {
        field: field.into(),
        source,
    }
}

fn missing(field: &str) -> ParseError {
    ParseError::Missing {
        field: field.into(),
    }
}

fn wrong(field: &str, expected: &'static str) -> ParseError {
    ParseError::WrongType {
        field: field.into(),
        expected,
    }
}

/// A droplet whose one public interface (MAC 02:00:00:00:00:01) has `body` beside its MAC.
fn public(body: &str) -> String {
    format!(
        r#"{{"droplet_id": 1, "interfaces": {{"public": [{{"mac": "02:00:00:00:00:01", {body}}}]}}}}"#
    )
}

/// Each case's body parses to its expected error first.
fn assert_first_errors(cases: Vec<(&str, String, ParseError)>) {
    crate::metadata::model::assert_first_errors(cases, |body| parse(body).map(|i| i.nics));
}

#[test]
fn a_document_without_a_good_id_or_interface_lists_is_a_typed_error() {
    let cases: Vec<(&str, String, ParseError)> = vec![
        (
            "no interfaces",
            r#"{"droplet_id": 1}"#.into(),
            missing("interfaces"),
        ),
        (
            "no droplet id",
            r#"{"interfaces": {"public": []}}"#.into(),
            missing("droplet_id"),
        ),
        (
            "negative droplet id",
            r#"{"droplet_id": -4, "interfaces": {}}"#.into(),
            wrong("droplet_id", "unsigned integer"),
        ),
        (
            "droplet id is a list",
            r#"{"droplet_id": [], "interfaces": {}}"#.into(),
            wrong("droplet_id", "unsigned integer or string"),
        ),
        (
            "empty interface lists",
            r#"{"droplet_id": 1, "interfaces": {"public": [], "private": []}}"#.into(),
            ParseError::NoInterfaces,
        ),
        (
            "public is an object",
            r#"{"droplet_id": 1, "interfaces": {"public": {}}}"#.into(),
            wrong("interfaces.public", "array"),
        ),
        (
            "document is a list",
            "[]".into(),
            wrong("(document)", "object"),
        ),
    ];
    assert_first_errors(cases);
}

#[test]
fn a_missing_bad_or_repeated_mac_is_a_typed_error() {
    let cases: Vec<(&str, String, ParseError)> = vec![
        (
            "missing MAC",
            r#"{"droplet_id": 1, "interfaces": {"private": [{"type": "private"}]}}"#.into(),
            missing("interfaces.private[0].mac"),
        ),
        (
            "garbage MAC",
            r#"{"droplet_id": 1, "interfaces": {"public": [{"mac": "04:01:2a:0f:2a"}]}}"#.into(),
            value_error(
                "interfaces.public[0].mac",
                ValueError::Mac("04:01:2a:0f:2a".into()),
            ),
        ),
        (
            "same MAC public and private",
            r#"{"droplet_id": 1, "interfaces": {"public": [{"mac": "02:00:00:00:00:01"}],
                "private": [{"mac": "02-00-00-00-00-01"}]}}"#
                .into(),
            ParseError::DuplicateMac {
                mac: "02:00:00:00:00:01".into(),
            },
        ),
    ];
    assert_first_errors(cases);
}

#[test]
fn a_bad_ipv4_address_netmask_or_gateway_is_a_typed_error() {
    let cases: Vec<(&str, String, ParseError)> = vec![
        (
            "bad IPv4 address",
            public(r#""ipv4": {"ip_address": "104.131.20.300", "netmask": "255.255.192.0"}"#),
            value_error(
                "interfaces.public[0].ipv4.ip_address",
                ValueError::Address("104.131.20.300".into()),
            ),
        ),
        (
            "non-contiguous netmask",
            public(r#""ipv4": {"ip_address": "104.131.20.105", "netmask": "255.0.255.0"}"#),
            value_error(
                "interfaces.public[0].ipv4.netmask",
                ValueError::Netmask("255.0.255.0".into()),
            ),
        ),
        (
            "missing netmask",
            public(r#""ipv4": {"ip_address": "104.131.20.105"}"#),
            missing("interfaces.public[0].ipv4.netmask"),
        ),
        (
            "gateway is a number",
            public(r#""ipv4": {"ip_address": "10.0.0.2", "netmask": "255.0.0.0", "gateway": 1}"#),
            wrong("interfaces.public[0].ipv4.gateway", "string"),
        ),
    ];
    assert_first_errors(cases);
}

#[test]
fn a_bad_ipv6_address_cidr_or_gateway_is_a_typed_error() {
    let cases: Vec<(&str, String, ParseError)> = vec![
        (
            "IPv6 prefix 129",
            public(r#""ipv6": {"ip_address": "2604:a880::1", "cidr": 129}"#),
            value_error(
                "interfaces.public[0].ipv6.cidr",
                ValueError::Prefix {
                    value: "129".into(),
                    max: 128,
                },
            ),
        ),
        (
            "IPv6 cidr is a boolean",
            public(r#""ipv6": {"ip_address": "2604:a880::1", "cidr": true}"#),
            wrong("interfaces.public[0].ipv6.cidr", "number"),
        ),
        (
            "IPv6 without cidr",
            public(r#""ipv6": {"ip_address": "2604:a880::1"}"#),
            missing("interfaces.public[0].ipv6.cidr"),
        ),
        (
            "bad IPv6 gateway",
            public(r#""ipv6": {"ip_address": "2604:a880::1", "cidr": 64, "gateway": "fe80::zz"}"#),
            value_error(
                "interfaces.public[0].ipv6.gateway",
                ValueError::Address("fe80::zz".into()),
            ),
        ),
    ];
    assert_first_errors(cases);
}

#[test]
fn a_bad_anchor_or_reserved_ip_is_a_typed_error() {
    let cases: Vec<(&str, String, ParseError)> = vec![
        (
            "anchor without gateway",
            public(r#""anchor_ipv4": {"ip_address": "10.17.0.5", "netmask": "255.255.0.0"}"#),
            missing("interfaces.public[0].anchor_ipv4.gateway"),
        ),
        (
            "anchor is a string",
            public(r#""anchor_ipv4": "10.17.0.5""#),
            wrong("interfaces.public[0].anchor_ipv4", "object"),
        ),
        (
            "reserved IP active is a string",
            r#"{"droplet_id": 1, "reserved_ip": {"ipv4": {"active": "true"}}, "interfaces": {"public": [{"mac": "02:00:00:00:00:01"}]}}"#.into(),
            wrong("reserved_ip.ipv4.active", "boolean"),
        ),
        (
            "active reserved IP without address",
            r#"{"droplet_id": 1, "floating_ip": {"ipv4": {"active": true}}, "interfaces": {"public": [{"mac": "02:00:00:00:00:01"}]}}"#.into(),
            missing("floating_ip.ipv4.ip_address"),
        ),
        (
            "bad reserved IP",
            r#"{"droplet_id": 1, "reserved_ip": {"ipv4": {"active": true, "ip_address": "45.55.96"}}, "interfaces": {"public": [{"mac": "02:00:00:00:00:01"}]}}"#.into(),
            value_error(
                "reserved_ip.ipv4.ip_address",
                ValueError::Address("45.55.96".into()),
            ),
        ),
    ];
    assert_first_errors(cases);
}

#[test]
fn non_json_bodies_are_not_json_errors() {
    let truncated = &TWO_NICS[..TWO_NICS.len() / 2];
    for body in [truncated, "<html>502</html>", ""] {
        assert!(
            matches!(parse(body), Err(ParseError::NotJson { .. })),
            "{body:?}"
        );
    }
}

fn provider(server: &ScriptedServer) -> DocumentProvider {
    super::provider(server.base(), Http::new(fast()))
}

#[test]
fn fetch_is_one_plain_get_of_the_json_document() {
    let server = ScriptedServer::start(vec![Answer::ok(TWO_NICS)]);
    let mut droplet = provider(&server);
    assert_eq!(droplet.fetch().unwrap().nics, [public_nic(), private_nic()]);
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].url, "/metadata/v1.json");
    assert_eq!(seen[0].header("Metadata"), None);
    assert_eq!(server.seen().len(), 1);
    let system = droplet.fetch_system().unwrap();
    assert_eq!(system["droplet_id"], 2756294);
    assert_eq!(server.seen().len(), 1, "the system view reuses the fetch");
}

#[test]
fn system_view_before_any_fetch_reads_the_document() {
    let server = ScriptedServer::start(vec![Answer::ok(TWO_NICS)]);
    let mut droplet = provider(&server);
    assert_eq!(droplet.fetch_system().unwrap()["region"], "nyc3");
    assert_eq!(server.seen().len(), 1);
    assert!(!droplet.supports_wait_for_change());
}

#[test]
fn unusable_document_is_a_permanent_parse_error() {
    let server = ScriptedServer::start(vec![Answer::ok(
        r#"{"droplet_id": 1, "interfaces": {"public": [], "private": []}}"#,
    )]);
    let mut droplet = provider(&server);
    let err = droplet.fetch().unwrap_err();
    assert_eq!(
        err,
        FetchError::Parse {
            provider: ProviderKind::DigitalOcean,
            source: ParseError::NoInterfaces
        }
    );
    assert!(!err.is_transient());
    assert_eq!(
        err.to_string(),
        "digitalocean metadata is unusable: metadata lists no network interface"
    );
    assert_eq!(server.seen().len(), 1);
}
