//! OCI tests: the VNIC and instance parsers' edge cases (`"<null>"`, IPv6-only VNICs, bare
//! metal VLANs), one bad input per validation rule, and the fetch against a scripted IMDS on
//! 127.0.0.1 (the Authorization header, one request per refresh, the cached instance document,
//! the system view).

use super::*;
use crate::metadata::test_server::{fast, Answer, ScriptedServer};
use crate::metadata::ParseError;
use crate::metadata::{Mac, Nic, ValueError, Vlan};

const INSTANCE: &str = r#"{"id": "ocid1.instance.oc1.phx.a", "region": "phx",
  "canonicalRegionName": "us-phoenix-1", "metadata": {"ssh_authorized_keys": "ssh-ed25519 K"}}"#;

const VNICS: &str = r#"[
  {"macAddr": "02:00:17:05:D1:DB", "privateIp": "10.0.0.230", "subnetCidrBlock": "10.0.0.0/24",
   "virtualRouterIp": "10.0.0.1", "vlanTag": 1039},
  {"macAddr": "00:00:17:02:2B:B1", "privateIp": "10.0.1.7", "subnetCidrBlock": "10.0.1.0/24",
   "virtualRouterIp": "10.0.1.1", "vlanTag": 1041,
   "ipv6Addresses": ["2603:c020:400d:5d7e::7"], "ipv6SubnetCidrBlock": "2603:c020:400d:5d7e::/64",
   "ipv6VirtualRouterIp": "fe80::200:17ff:fe40:8972"}]"#;

fn mac(s: &str) -> Mac {
    s.parse().unwrap()
}

fn value_error(field: &str, source: ValueError) -> ParseError {
    ParseError::Value {
        field: field.into(),
        source,
    }
}

#[test]
fn vnics_become_nics_in_list_order() {
    let nics = parse_vnics(VNICS).unwrap();
    let mut first = Nic::new(mac("02:00:17:05:d1:db"), 0);
    first.ipv4 = vec!["10.0.0.230/24".parse().unwrap()];
    first.subnet4 = Some("10.0.0.0/24".parse().unwrap());
    first.gateway4 = Some("10.0.0.1".parse().unwrap());
    let mut second = Nic::new(mac("00:00:17:02:2b:b1"), 1);
    second.ipv4 = vec!["10.0.1.7/24".parse().unwrap()];
    second.subnet4 = Some("10.0.1.0/24".parse().unwrap());
    second.gateway4 = Some("10.0.1.1".parse().unwrap());
    second.ipv6 = vec!["2603:c020:400d:5d7e::7/64".parse().unwrap()];
    second.subnet6 = Some("2603:c020:400d:5d7e::/64".parse().unwrap());
    second.gateway6 = Some("fe80::200:17ff:fe40:8972".parse().unwrap());
    assert_eq!(nics, vec![first, second]);
}

#[test]
fn null_strings_and_missing_ipv4_keys_are_absent() {
    let nics = parse_vnics(
        r#"[{"macAddr": "02:00:17:18:F6:FF", "subnetCidrBlock": "\u003cnull\u003e",
             "privateIp": "", "virtualRouterIp": "<null>",
             "ipv6Addresses": ["2603:c020::5", "<null>"], "ipv6SubnetCidrBlock": "<null>"}]"#,
    )
    .unwrap();
    let mut nic = Nic::new(mac("02:00:17:18:f6:ff"), 0);
    nic.ipv6 = vec!["2603:c020::5/128".parse().unwrap()];
    assert_eq!(nics, vec![nic]);
}

#[test]
fn an_address_outside_its_subnet_is_a_host_address() {
    let nics = parse_vnics(
        r#"[{"macAddr": "02:00:17:00:00:01", "privateIp": "10.9.0.5", "subnetCidrBlock": "10.0.0.7/24",
             "ipv6Addresses": ["fd00::5"], "ipv6SubnetCidrBlock": "2603::/64"}]"#,
    )
    .unwrap();
    assert_eq!(nics[0].ipv4, ["10.9.0.5/32".parse().unwrap()]);
    assert_eq!(nics[0].subnet4, Some("10.0.0.0/24".parse().unwrap()));
    assert_eq!(nics[0].ipv6, ["fd00::5/128".parse().unwrap()]);
}

#[test]
fn bare_metal_vnics_on_a_physical_nic_are_vlans_on_it() {
    let nics = parse_vnics(
        r#"[{"macAddr": "02:00:17:00:00:02", "vlanTag": 7, "nicIndex": 0},
            {"macAddr": "90:E2:BA:D4:F1:68", "vlanTag": 0, "nicIndex": 0},
            {"macAddr": "02:00:17:00:00:03", "vlanTag": 9, "nicIndex": 1},
            {"macAddr": "02:00:17:00:00:04", "vlanTag": 4094, "nicIndex": 1},
            {"macAddr": "02:00:17:00:00:05", "vlanTag": 0, "nicIndex": 0}]"#,
    )
    .unwrap();
    let vlans: Vec<Option<Vlan>> = nics.iter().map(|n| n.vlan).collect();
    let on = |parent: &str, id| {
        Some(Vlan {
            parent: mac(parent),
            id,
        })
    };
    assert_eq!(
        vlans,
        [
            on("90:e2:ba:d4:f1:68", 7),
            None,
            None,
            on("02:00:17:00:00:03", 4094),
            None
        ]
    );
}

#[test]
fn vm_vlan_tags_are_ignored() {
    let nics = parse_vnics(
        r#"[{"macAddr": "02:00:17:00:00:01", "vlanTag": 1039},
            {"macAddr": "02:00:17:00:00:02", "vlanTag": 9999}]"#,
    )
    .unwrap();
    assert!(nics.iter().all(|n| n.vlan.is_none()));
}

#[test]
fn instance_facts_prefer_the_canonical_region() {
    assert_eq!(
        parse_instance(INSTANCE).unwrap(),
        parse::InstanceFacts {
            id: "ocid1.instance.oc1.phx.a".into(),
            region: "us-phoenix-1".into()
        }
    );
    let short = parse_instance(r#"{"id": "i", "region": "phx"}"#).unwrap();
    assert_eq!(short.region, "phx");
    let none = parse_instance(r#"{"id": "i", "canonicalRegionName": "<null>"}"#).unwrap();
    assert_eq!(none.region, "");
}

#[test]
fn the_document_holds_instance_and_vnics() {
    let body = format!(r#"{{"instance": {INSTANCE}, "vnics": {VNICS}}}"#);
    let instance = parse_document(&body).unwrap();
    assert_eq!(instance.provider, ProviderKind::Oracle);
    assert_eq!(instance.instance_id, "ocid1.instance.oc1.phx.a");
    assert_eq!(instance.location, "us-phoenix-1");
    assert_eq!(instance.nics, parse_vnics(VNICS).unwrap());
    assert_eq!(instance.raw["vnics"][1]["privateIp"], "10.0.1.7");
}

/// A VNIC list of one VNIC (MAC 02:00:17:00:00:01) with `body` beside its MAC.
fn vnic(body: &str) -> String {
    format!(r#"[{{"macAddr": "02:00:17:00:00:01", {body}}}]"#)
}

/// Each case's VNIC list parses to its expected error first.
fn assert_first_errors(cases: Vec<(&str, String, ParseError)>) {
    crate::metadata::model::assert_first_errors(cases, parse_vnics);
}

#[test]
fn a_vnic_list_of_the_wrong_shape_is_a_typed_error() {
    let cases: Vec<(&str, String, ParseError)> = vec![
        ("empty list", "[]".into(), ParseError::NoInterfaces),
        (
            "not a list",
            r#"{"macAddr": "02:00:17:00:00:01"}"#.into(),
            ParseError::WrongType {
                field: "vnics".into(),
                expected: "array",
            },
        ),
        (
            "entry not an object",
            "[1]".into(),
            ParseError::WrongType {
                field: "vnics[0]".into(),
                expected: "object",
            },
        ),
    ];
    assert_first_errors(cases);
    assert!(matches!(
        parse_vnics("[{\"macAddr\""),
        Err(ParseError::NotJson { .. })
    ));
}

#[test]
fn a_missing_bad_or_repeated_mac_is_a_typed_error() {
    let cases: Vec<(&str, String, ParseError)> = vec![
        (
            "missing MAC",
            r#"[{"privateIp": "10.0.0.2"}]"#.into(),
            ParseError::Missing {
                field: "vnics[0].macAddr".into(),
            },
        ),
        (
            "bad MAC",
            r#"[{"macAddr": "02:00:17:00:00"}]"#.into(),
            value_error("vnics[0].macAddr", ValueError::Mac("02:00:17:00:00".into())),
        ),
        (
            "MAC is a number",
            r#"[{"macAddr": 2}]"#.into(),
            ParseError::WrongType {
                field: "vnics[0].macAddr".into(),
                expected: "string",
            },
        ),
        (
            "duplicate MAC",
            r#"[{"macAddr": "02:00:17:00:00:01"}, {"macAddr": "02-00-17-00-00-01"}]"#.into(),
            ParseError::DuplicateMac {
                mac: "02:00:17:00:00:01".into(),
            },
        ),
    ];
    assert_first_errors(cases);
}

#[test]
fn a_bad_address_or_prefix_is_a_typed_error() {
    let cases: Vec<(&str, String, ParseError)> = vec![
        (
            "bad private IP",
            vnic(r#""privateIp": "10.0.0.300""#),
            value_error(
                "vnics[0].privateIp",
                ValueError::Address("10.0.0.300".into()),
            ),
        ),
        (
            "prefix 33",
            vnic(r#""subnetCidrBlock": "10.0.0.0/33""#),
            value_error(
                "vnics[0].subnetCidrBlock",
                ValueError::Prefix {
                    value: "33".into(),
                    max: 32,
                },
            ),
        ),
        (
            "bad gateway",
            vnic(r#""virtualRouterIp": "gateway""#),
            value_error(
                "vnics[0].virtualRouterIp",
                ValueError::Address("gateway".into()),
            ),
        ),
        (
            "IPv6 list of numbers",
            vnic(r#""ipv6Addresses": [6]"#),
            ParseError::WrongType {
                field: "vnics[0].ipv6Addresses[0]".into(),
                expected: "string",
            },
        ),
        (
            "IPv4 in the IPv6 list",
            vnic(r#""ipv6Addresses": ["10.0.0.5"]"#),
            value_error(
                "vnics[0].ipv6Addresses[0]",
                ValueError::Address("10.0.0.5".into()),
            ),
        ),
        (
            "IPv6 prefix 129",
            vnic(r#""ipv6SubnetCidrBlock": "2603::/129""#),
            value_error(
                "vnics[0].ipv6SubnetCidrBlock",
                ValueError::Prefix {
                    value: "129".into(),
                    max: 128,
                },
            ),
        ),
    ];
    assert_first_errors(cases);
}

#[test]
fn a_bad_vlan_tag_or_nic_index_is_a_typed_error() {
    let cases: Vec<(&str, String, ParseError)> = vec![
        (
            "vlanTag is a string",
            vnic(r#""vlanTag": "5""#),
            ParseError::WrongType {
                field: "vnics[0].vlanTag".into(),
                expected: "unsigned integer",
            },
        ),
        (
            "negative nicIndex",
            vnic(r#""nicIndex": -1"#),
            ParseError::WrongType {
                field: "vnics[0].nicIndex".into(),
                expected: "unsigned integer",
            },
        ),
        (
            "bare metal VLAN id 4095",
            r#"[{"macAddr": "02:00:17:00:00:01", "nicIndex": 0, "vlanTag": 0},
                {"macAddr": "02:00:17:00:00:02", "nicIndex": 0, "vlanTag": 4095}]"#
                .into(),
            value_error("vnics[1].vlanTag", ValueError::Vlan("4095".into())),
        ),
    ];
    assert_first_errors(cases);
}

#[test]
fn a_bad_instance_or_document_is_a_typed_error() {
    let instance_cases: Vec<(&str, &str, ParseError)> = vec![
        (
            "no id",
            r#"{"region": "phx"}"#,
            ParseError::Missing {
                field: "instance.id".into(),
            },
        ),
        (
            "id is a number",
            r#"{"id": 5}"#,
            ParseError::WrongType {
                field: "instance.id".into(),
                expected: "string",
            },
        ),
        (
            "a list",
            "[]",
            ParseError::WrongType {
                field: "instance".into(),
                expected: "object",
            },
        ),
    ];
    for (name, body, expected) in instance_cases {
        assert_eq!(parse_instance(body).unwrap_err(), expected, "{name}");
    }
    assert_eq!(
        parse_document(r#"{"instance": {"id": "i"}}"#).unwrap_err(),
        ParseError::Missing {
            field: "vnics".into()
        }
    );
}

fn provider(server: &ScriptedServer) -> Oracle {
    Oracle::new(server.base(), Http::new(fast()))
}

#[test]
fn the_first_fetch_reads_both_documents_later_ones_only_the_vnics() {
    let server = ScriptedServer::start(vec![
        Answer::ok(VNICS),
        Answer::ok(INSTANCE),
        Answer::ok(VNICS),
    ]);
    let mut oracle = provider(&server);
    let first = oracle.fetch().unwrap();
    assert_eq!(first.instance_id, "ocid1.instance.oc1.phx.a");
    assert_eq!(first.location, "us-phoenix-1");
    assert_eq!(first.nics.len(), 2);
    let second = oracle.fetch().unwrap();
    assert_eq!(second, first);
    let seen = server.seen();
    let urls: Vec<&str> = seen.iter().map(|r| r.url.as_str()).collect();
    assert_eq!(urls, [VNICS_PATH, INSTANCE_PATH, VNICS_PATH]);
    for request in &seen {
        assert_eq!(request.method, "GET");
        assert_eq!(request.header("Authorization"), Some("Bearer Oracle"));
    }
    assert_eq!(server.seen().len(), 3);
}

#[test]
fn the_system_view_reads_the_instance_again_and_keeps_the_vnics() {
    let server = ScriptedServer::start(vec![
        Answer::ok(VNICS),
        Answer::ok(INSTANCE),
        Answer::ok(r#"{"id": "ocid1.instance.oc1.phx.a", "displayName": "renamed"}"#),
    ]);
    let mut oracle = provider(&server);
    oracle.fetch().unwrap();
    let system = oracle.fetch_system().unwrap();
    assert_eq!(system["instance"]["displayName"], "renamed");
    assert_eq!(
        system["vnics"],
        serde_json::from_str::<Value>(VNICS).unwrap()
    );
    assert_eq!(server.seen().len(), 3);
}

#[test]
fn a_system_view_before_any_fetch_reads_both() {
    let server = ScriptedServer::start(vec![Answer::ok(INSTANCE), Answer::ok(VNICS)]);
    let mut oracle = provider(&server);
    let system = oracle.fetch_system().unwrap();
    assert_eq!(system["instance"]["region"], "phx");
    assert_eq!(system["vnics"][0]["vlanTag"], 1039);
    let urls: Vec<String> = server.seen().iter().map(|r| r.url.clone()).collect();
    assert_eq!(urls, [INSTANCE_PATH, VNICS_PATH]);
}

#[test]
fn unauthorized_is_a_permanent_error_and_a_bad_list_changes_nothing() {
    let server = ScriptedServer::start(vec![Answer::status(401).body("Unauthorized")]);
    let mut oracle = provider(&server);
    let err = oracle.fetch().unwrap_err();
    assert!(!err.is_transient(), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "{}{VNICS_PATH} answered HTTP 401: \"Unauthorized\"",
            server.base()
        )
    );
    assert_eq!(server.seen().len(), 1);
    let server = ScriptedServer::start(vec![Answer::ok("[]")]);
    let mut oracle = provider(&server);
    assert_eq!(
        oracle.fetch().unwrap_err(),
        FetchError::Parse {
            provider: ProviderKind::Oracle,
            source: ParseError::NoInterfaces
        }
    );
}

#[test]
fn server_errors_are_retried() {
    let server = ScriptedServer::start(vec![
        Answer::status(503),
        Answer::ok(VNICS),
        Answer::ok(INSTANCE),
    ]);
    let mut oracle = provider(&server);
    assert_eq!(oracle.fetch().unwrap().nics.len(), 2);
    assert_eq!(server.seen().len(), 3);
    assert!(!oracle.supports_wait_for_change());
}
