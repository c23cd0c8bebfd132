//! The EC2 parser against every shared fixture (exact models for the tricky ones) and one
//! bad input per validation rule.

use cloud_network::metadata::aws::parse::{parse, tree_to_json};
use cloud_network::metadata::{Instance, Mac, Nic, ParseError, ProviderKind, ValueError};
use std::collections::BTreeMap;
use support::fixtures;

mod support;

fn load(name: &str) -> BTreeMap<String, String> {
    fixtures::path_tree("ec2", name)
}

fn parsed(name: &str) -> Instance {
    parse(&load(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

struct Expect<'a> {
    mac: &'a str,
    index: u32,
    ipv4: &'a [&'a str],
    subnet4: Option<&'a str>,
    ipv6: &'a [&'a str],
    subnet6: Option<&'a str>,
    public: &'a [&'a str],
}

fn nic(e: Expect) -> Nic {
    let mut nic = Nic::new(e.mac.parse().unwrap(), e.index);
    nic.ipv4 = e.ipv4.iter().map(|a| a.parse().unwrap()).collect();
    nic.subnet4 = e.subnet4.map(|s| s.parse().unwrap());
    nic.gateway4 = nic.subnet4.map(|s| s.first_host());
    nic.ipv6 = e.ipv6.iter().map(|a| a.parse().unwrap()).collect();
    nic.subnet6 = e.subnet6.map(|s| s.parse().unwrap());
    nic.public_ipv4s = e.public.iter().map(|a| a.parse().unwrap()).collect();
    nic
}

fn assert_model(got: &Instance, id: &str, location: &str, nics: Vec<Nic>) {
    fixtures::assert_model(got, ProviderKind::Aws, (id, location), nics);
}

#[test]
fn every_fixture_parses() {
    let mut count = 0;
    for name in fixtures::names("ec2") {
        let instance = parsed(&name);
        assert!(!instance.nics.is_empty(), "{name}");
        assert_eq!(instance.nics[0].index, 0, "{name}: primary first");
        assert_eq!(*instance.raw, tree_to_json(&load(&name)), "{name}");
        count += 1;
    }
    assert_eq!(count, 4);
}

#[test]
fn two_nics_follow_device_number_not_mac_order() {
    // `…:09` is device 0 although it sorts after `…:08`. The hand-edited private IPs lie
    // outside the listed subnet, so they get /32; nic1's empty bodies count as absent.
    assert_model(
        &parsed("cloudinit-two-nics-2016-09-02"),
        "my-identity-id",
        "us-west-2",
        vec![
            nic(Expect {
                mac: "06:17:04:d7:26:09",
                index: 0,
                ipv4: &["172.3.3.15/32"],
                subnet4: Some("172.31.16.0/20"),
                ipv6: &["2600:1f16:aeb:b20b:9d87:a4af:5cc9:73dc/64"],
                subnet6: Some("2600:1f16:aeb:b20b::/64"),
                public: &["13.59.77.202"],
            }),
            nic(Expect {
                mac: "06:17:04:d7:26:08",
                index: 1,
                ipv4: &["172.3.3.16/32"],
                subnet4: Some("172.31.16.0/20"),
                ipv6: &[],
                subnet6: None,
                public: &[],
            }),
        ],
    );
    let got = parsed("cloudinit-two-nics-2016-09-02");
    assert_eq!(
        got.nics[1].gateway4,
        Some("172.31.16.1".parse().unwrap()),
        "gateway = subnet network + 1"
    );
    assert_eq!(got.nics[0].gateway6, None);
}

#[test]
fn secondary_ips_with_underscore_cidr_keys_are_host_routes() {
    // `subnet_ipv6_cidr_blocks` (underscores) is not the real leaf: no IPv6 subnet, so /128.
    assert_model(
        &parsed("cloudinit-secondary-ips-ipv6-2018-09-24"),
        "my-identity-id",
        "us-west-2",
        vec![nic(Expect {
            mac: "0a:07:84:3d:6e:38",
            index: 0,
            ipv4: &["172.31.44.13/20", "172.31.45.70/20"],
            subnet4: Some("172.31.32.0/20"),
            ipv6: &[
                "2600:1f16:292:100:c187:593c:4349:136/128",
                "2600:1f16:292:100:f153:12a3:c37c:11f9/128",
                "2600:1f16:292:100:f152:2222:3333:4444/128",
            ],
            subnet6: None,
            public: &["18.218.219.181"],
        })],
    );
}

#[test]
fn ipv6_only_nics_with_uncompressed_blocks() {
    assert_model(
        &parsed("cloudinit-ipv6-only-two-nics"),
        "",
        "",
        vec![
            nic(Expect {
                mac: "02:7c:03:b8:5c:af",
                index: 0,
                ipv4: &[],
                subnet4: None,
                ipv6: &["2600:1f16:67f:f201:6613:29a2:dbf7:2f1f/64"],
                subnet6: Some("2600:1f16:67f:f201::/64"),
                public: &[],
            }),
            nic(Expect {
                mac: "02:6b:df:a2:4b:2b",
                index: 1,
                ipv4: &[],
                subnet4: None,
                ipv6: &["2600:1f16:67f:f201:8d2e:4d1f:9e80:4ab9/64"],
                subnet6: Some("2600:1f16:67f:f201::/64"),
                public: &[],
            }),
        ],
    );
}

#[test]
fn aemm_defaults() {
    assert_model(
        &parsed("aemm-default"),
        "i-1234567890abcdef0",
        "us-east-1",
        vec![nic(Expect {
            mac: "0e:49:61:0f:c3:11",
            index: 0,
            ipv4: &["172.16.34.43/32"],
            subnet4: Some("192.0.2.0/24"),
            ipv6: &["2001:db8:8:4::2/32"],
            subnet6: Some("2001:db8::/32"),
            public: &["192.0.2.54"],
        })],
    );
}

const DIR: &str = "meta-data/network/interfaces/macs/0a:00:00:00:00:01/";

fn tree(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn one_nic(overrides: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut map = tree(&[
        (&format!("{DIR}device-number"), "0"),
        (&format!("{DIR}local-ipv4s"), "10.0.0.5\n10.0.0.6\n"),
        (&format!("{DIR}subnet-ipv4-cidr-block"), "10.0.0.0/24"),
    ]);
    for (k, v) in overrides {
        map.insert(format!("{DIR}{k}"), v.to_string());
    }
    map
}

#[test]
fn network_card_index_and_secondary_order() {
    let mut map = one_nic(&[("network-card", "1"), ("device-number", "2")]);
    map.insert("meta-data/local-ipv4".into(), "10.0.0.6".into());
    let got = parse(&map).unwrap();
    assert_eq!(got.nics[0].index, 102);
    assert_eq!(
        got.nics[0].ipv4,
        [
            "10.0.0.5/24".parse().unwrap(),
            "10.0.0.6/24".parse().unwrap()
        ],
        "local-ipv4 reorders only the primary NIC, and the trailing newline is accepted"
    );

    let mut map = one_nic(&[]);
    map.insert("meta-data/local-ipv4".into(), "10.0.0.6".into());
    map.insert(
        "meta-data/placement/availability-zone".into(),
        "eu-west-3b".into(),
    );
    let got = parse(&map).unwrap();
    assert_eq!(
        got.nics[0].ipv4,
        [
            "10.0.0.6/24".parse().unwrap(),
            "10.0.0.5/24".parse().unwrap()
        ]
    );
    assert_eq!(got.location, "eu-west-3");
}

#[test]
fn bad_inputs_are_typed_errors() {
    let field = |leaf: &str| format!("{DIR}{leaf}");
    let mut missing_device = one_nic(&[]);
    missing_device.remove(&field("device-number"));
    let mut duplicate_mac = one_nic(&[]);
    duplicate_mac.insert(
        "meta-data/network/interfaces/macs/0A:00:00:00:00:01/device-number".into(),
        "1".into(),
    );
    let mut duplicate_index = one_nic(&[]);
    duplicate_index.insert(
        "meta-data/network/interfaces/macs/0a:00:00:00:00:02/device-number".into(),
        "0".into(),
    );
    let mut bad_document = one_nic(&[]);
    bad_document.insert(
        "dynamic/instance-identity/document".into(),
        "{\"region\": ".into(),
    );
    let cases: Vec<(&str, BTreeMap<String, String>, ParseError)> = vec![
        (
            "garbage MAC",
            tree(&[(
                "meta-data/network/interfaces/macs/0a:zz:00/device-number",
                "0",
            )]),
            ParseError::Value {
                field: "meta-data/network/interfaces/macs/0a:zz:00/".into(),
                source: ValueError::Mac("0a:zz:00".into()),
            },
        ),
        (
            "invalid IPv4",
            one_nic(&[("local-ipv4s", "10.0.0.5\n10.0.0.300")]),
            ParseError::Value {
                field: field("local-ipv4s"),
                source: ValueError::Address("10.0.0.300".into()),
            },
        ),
        (
            "prefix 33",
            one_nic(&[("subnet-ipv4-cidr-block", "10.0.0.0/33")]),
            ParseError::Value {
                field: field("subnet-ipv4-cidr-block"),
                source: ValueError::Prefix {
                    value: "33".into(),
                    max: 32,
                },
            },
        ),
        (
            "bad IPv6 block",
            one_nic(&[("subnet-ipv6-cidr-blocks", "2600::/129")]),
            ParseError::Value {
                field: field("subnet-ipv6-cidr-blocks"),
                source: ValueError::Prefix {
                    value: "129".into(),
                    max: 128,
                },
            },
        ),
        (
            "missing device-number",
            missing_device,
            ParseError::Missing {
                field: field("device-number"),
            },
        ),
        (
            "non-numeric device-number",
            one_nic(&[("device-number", "one")]),
            ParseError::WrongType {
                field: field("device-number"),
                expected: "a non-negative integer",
            },
        ),
        (
            "no MACs",
            tree(&[("meta-data/instance-id", "i-1")]),
            ParseError::NoInterfaces,
        ),
        (
            "same MAC twice",
            duplicate_mac,
            ParseError::DuplicateMac {
                mac: "0a:00:00:00:00:01".into(),
            },
        ),
        (
            "two primaries",
            duplicate_index,
            ParseError::DuplicateIndex { index: 0 },
        ),
        (
            "truncated identity document",
            bad_document,
            ParseError::NotJson {
                detail: "dynamic/instance-identity/document: EOF while parsing a value at line 1 column 10".into(),
            },
        ),
    ];
    for (what, map, want) in cases {
        let got = support::fixtures::first_error(parse(&map));
        assert_eq!(got, want.to_string(), "{what}");
    }
}

#[test]
fn empty_bodies_and_invalid_public_ips_are_absent() {
    let got = parse(&one_nic(&[
        ("ipv6s", ""),
        ("subnet-ipv6-cidr-blocks", ""),
        ("public-ipv4s", "X.X.X.X\n203.0.113.9"),
    ]))
    .unwrap();
    let nic = &got.nics[0];
    assert_eq!(nic.mac, "0a:00:00:00:00:01".parse::<Mac>().unwrap());
    assert!(nic.ipv6.is_empty());
    assert_eq!(nic.subnet6, None);
    assert_eq!(
        nic.public_ipv4s,
        ["203.0.113.9".parse::<std::net::Ipv4Addr>().unwrap()]
    );
}
