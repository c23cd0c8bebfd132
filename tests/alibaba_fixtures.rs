//! The Alibaba parser against both shared fixtures (exact models, and the exact error for the
//! synthetic one's `xxxx` placeholders) and one bad input per validation rule.

use cloud_network::metadata::alibaba::parse::{parse, MACS_DIR};
use cloud_network::metadata::imds::tree::tree_to_json;
use cloud_network::metadata::{Instance, Nic, ParseError, ProviderKind, ValueError};
use std::collections::BTreeMap;
use support::fixtures;

mod support;

const DEFAULT: &str = "cloudinit-default";
const TWO_NICS: &str = "cloudinit-two-nics-ipv6-network-only";
const NIC0: &str = "00:16:3e:14:59:58";
const NIC1: &str = "00:16:3e:39:43:27";

fn load(name: &str) -> BTreeMap<String, String> {
    fixtures::path_tree("alibaba", name)
}

fn tree(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn leaf(mac: &str, name: &str) -> String {
    format!("{MACS_DIR}{mac}/{name}")
}

fn assert_model(got: &Instance, id: &str, location: &str, nics: Vec<Nic>) {
    fixtures::assert_model(got, ProviderKind::Alibaba, (id, location), nics);
}

#[test]
fn both_fixtures_are_covered() {
    assert_eq!(fixtures::names("alibaba"), [DEFAULT, TWO_NICS]);
}

#[test]
fn cloudinit_default_has_the_gateway_but_no_per_mac_address() {
    // cloud-init trimmed the MAC directory to gateway, netmask and network-interface-id: the
    // model holds the gateway; without `primary-ip-address` the netmask names no subnet. The
    // top-level `private-ipv4` and `sub-private-ipv4-list` repeat the primary NIC's per-MAC
    // leaves and are not read (here they even lie outside the netmask's /24).
    let fixture = load(DEFAULT);
    let got = parse(&fixture).unwrap();
    let mut nic = Nic::new(NIC0.parse().unwrap(), 0);
    nic.gateway4 = Some("172.16.101.253".parse().unwrap());
    assert_model(&got, "i-bp15ojxppkmsnyjxxxxx", "cn-hangzhou", vec![nic]);
    assert_eq!(*got.raw, tree_to_json(&fixture));
    assert_eq!(
        got.raw["meta-data"]["dns-conf"]["nameservers"],
        "100.100.2.136\n100.100.2.138"
    );
}

#[test]
fn two_nics_placeholders_make_that_nic_unknown_naming_the_field_and_value() {
    let mut fixture = load(TWO_NICS);
    fixture.insert("meta-data/mac".into(), NIC1.into());
    let got = parse(&fixture).unwrap();
    assert_eq!(
        fixtures::unreadable(&got),
        [(
            NIC0.to_string(),
            "field 'meta-data/network/interfaces/macs/00:16:3e:14:59:58/ipv6s': \
             invalid IP address '2408:xxxxxx'"
                .to_string()
        )]
    );
    let mut nic1 = Nic::new(NIC1.parse().unwrap(), 0);
    nic1.gateway4 = Some("172.16.101.253".parse().unwrap());
    assert_eq!(got.nics[0], nic1, "the good NIC is read as usual");
}

#[test]
fn two_nics_with_real_addresses_in_place_of_the_placeholders() {
    let mut fixture = load(TWO_NICS);
    fixture.insert(leaf(NIC0, "ipv6s"), "[2001:db8:10::16]".into());
    fixture.insert("meta-data/mac".into(), NIC0.into());
    assert_eq!(
        fixtures::first_error(parse(&fixture)),
        ParseError::Value {
            field: leaf(NIC0, "ipv6-gateway"),
            source: ValueError::Address("2408:xxxxx".into()),
        }
        .to_string()
    );
    fixture.remove("meta-data/mac");
    fixture.insert(leaf(NIC0, "ipv6-gateway"), "2001:db8:10::1".into());
    assert_eq!(
        parse(&fixture),
        Err(ParseError::Missing {
            field: "meta-data/mac".into()
        }),
        "the network subtree alone does not say which NIC is the primary"
    );
    fixture.insert("meta-data/mac".into(), NIC0.into());
    let mut nic0 = Nic::new(NIC0.parse().unwrap(), 0);
    nic0.ipv6 = vec!["2001:db8:10::16/128".parse().unwrap()];
    nic0.gateway6 = Some("2001:db8:10::1".parse().unwrap());
    let mut nic1 = Nic::new(NIC1.parse().unwrap(), 1);
    nic1.gateway4 = Some("172.16.101.253".parse().unwrap());
    assert_model(&parse(&fixture).unwrap(), "", "", vec![nic0, nic1]);

    fixture.insert("meta-data/mac".into(), NIC1.into());
    let indexes: Vec<(String, u32)> = parse(&fixture)
        .unwrap()
        .nics
        .iter()
        .map(|n| (n.mac.to_string(), n.index))
        .collect();
    assert_eq!(
        indexes,
        [(NIC1.to_string(), 0), (NIC0.to_string(), 1)],
        "the top-level mac is the primary, whatever the MAC order"
    );
}

const MAC: &str = "00:16:3e:00:00:01";

fn one_nic(overrides: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut map = tree(&[
        ("meta-data/mac", MAC),
        ("meta-data/instance-id", "i-1"),
        ("meta-data/region-id", "cn-shanghai"),
    ]);
    for (name, body) in [
        ("primary-ip-address", "10.0.0.5"),
        ("private-ipv4s", r#"["10.0.0.5","10.0.0.6"]"#),
        ("vswitch-cidr-block", "10.0.0.0/24"),
        ("gateway", "10.0.0.253"),
    ] {
        map.insert(leaf(MAC, name), body.into());
    }
    for (name, body) in overrides {
        map.insert(leaf(MAC, name), body.to_string());
    }
    map
}

fn ipv4(got: &Instance) -> Vec<String> {
    got.nics[0].ipv4.iter().map(ToString::to_string).collect()
}

#[test]
fn primary_address_first_outside_addresses_host_routes() {
    let got = parse(&one_nic(&[(
        "private-ipv4s",
        r#"["10.0.0.6","10.9.0.7","10.0.0.5"]"#,
    )]))
    .unwrap();
    assert_eq!(ipv4(&got), ["10.0.0.5/24", "10.0.0.6/24", "10.9.0.7/32"]);
    assert_eq!(got.instance_id, "i-1");
    assert_eq!(got.location, "cn-shanghai");

    let got = parse(&one_nic(&[("private-ipv4s", r#"["10.0.0.6"]"#)])).unwrap();
    assert_eq!(
        ipv4(&got),
        ["10.0.0.5/24", "10.0.0.6/24"],
        "a primary the list lacks is added"
    );
}

#[test]
fn secondaries_follow_mac_order_whatever_the_case_of_their_directories() {
    let mut map = one_nic(&[]);
    map.insert(leaf("00:16:3E:00:00:03", "gateway"), "10.0.0.253".into());
    map.insert(leaf("00:16:3e:00:00:02", "gateway"), "10.0.0.253".into());
    let got: Vec<(String, u32)> = parse(&map)
        .unwrap()
        .nics
        .iter()
        .map(|n| (n.mac.to_string(), n.index))
        .collect();
    assert_eq!(
        got,
        [
            (MAC.to_string(), 0),
            ("00:16:3e:00:00:02".to_string(), 1),
            ("00:16:3e:00:00:03".to_string(), 2)
        ]
    );
}

#[test]
fn netmask_names_the_subnet_when_the_vswitch_block_is_absent() {
    let mut map = one_nic(&[("netmask", "255.255.240.0")]);
    map.remove(&leaf(MAC, "vswitch-cidr-block"));
    let got = parse(&map).unwrap();
    assert_eq!(got.nics[0].subnet4, Some("10.0.0.0/20".parse().unwrap()));
    assert_eq!(ipv4(&got), ["10.0.0.5/20", "10.0.0.6/20"]);
}

#[test]
fn ipv6_takes_the_vswitch_block_prefix() {
    let got = parse(&one_nic(&[
        ("ipv6s", "[2001:db8:1:2::5, 2001:db8:9::6]"),
        ("vswitch-ipv6-cidr-block", "2001:db8:1:2:0:0:0:0/64"),
        ("ipv6-gateway", "2001:db8:1:2:ffff:ffff:ffff:fffd"),
    ]))
    .unwrap();
    let nic = &got.nics[0];
    let ipv6: Vec<String> = nic.ipv6.iter().map(ToString::to_string).collect();
    assert_eq!(ipv6, ["2001:db8:1:2::5/64", "2001:db8:9::6/128"]);
    assert_eq!(nic.subnet6, Some("2001:db8:1:2::/64".parse().unwrap()));
    assert_eq!(
        nic.gateway6,
        Some("2001:db8:1:2:ffff:ffff:ffff:fffd".parse().unwrap())
    );
    let empty = parse(&one_nic(&[("ipv6s", "[]")])).unwrap();
    assert!(empty.nics[0].ipv6.is_empty());
}

#[test]
fn bad_inputs_are_typed_errors() {
    let field = |name: &str| leaf(MAC, name);
    let mut no_primary_mac = one_nic(&[]);
    no_primary_mac.remove("meta-data/mac");
    let mut bad_primary_mac = one_nic(&[]);
    bad_primary_mac.insert("meta-data/mac".into(), "00:16:3e:zz".into());
    let mut unlisted_primary = one_nic(&[]);
    unlisted_primary.insert("meta-data/mac".into(), "00:16:3e:00:00:09".into());
    let mut duplicate_mac = one_nic(&[]);
    duplicate_mac.insert(leaf("00:16:3E:00:00:01", "gateway"), "10.0.0.253".into());
    let mut bad_netmask = one_nic(&[("netmask", "255.0.255.0")]);
    bad_netmask.remove(&field("vswitch-cidr-block"));
    let address = |name: &str, value: &str| ParseError::Value {
        field: field(name),
        source: ValueError::Address(value.into()),
    };
    let wrong_type = |name: &str, expected| ParseError::WrongType {
        field: field(name),
        expected,
    };
    let prefix = |name: &str, value: &str, max| ParseError::Value {
        field: field(name),
        source: ValueError::Prefix {
            value: value.into(),
            max,
        },
    };
    let cases: Vec<(&str, BTreeMap<String, String>, ParseError)> = vec![
        (
            "garbage MAC directory",
            tree(&[(&leaf("00:16:zz", "gateway"), "10.0.0.1")]),
            ParseError::Value {
                field: format!("{MACS_DIR}00:16:zz/"),
                source: ValueError::Mac("00:16:zz".into()),
            },
        ),
        (
            "no MACs",
            tree(&[("meta-data/mac", MAC)]),
            ParseError::NoInterfaces,
        ),
        (
            "same MAC twice",
            duplicate_mac,
            ParseError::DuplicateMac { mac: MAC.into() },
        ),
        (
            "no top-level mac",
            no_primary_mac,
            ParseError::Missing {
                field: "meta-data/mac".into(),
            },
        ),
        (
            "garbage top-level mac",
            bad_primary_mac,
            ParseError::Value {
                field: "meta-data/mac".into(),
                source: ValueError::Mac("00:16:3e:zz".into()),
            },
        ),
        (
            "top-level mac without a directory",
            unlisted_primary,
            ParseError::Missing {
                field: format!("{MACS_DIR}00:16:3e:00:00:09/"),
            },
        ),
        (
            "private-ipv4s as lines, not JSON",
            one_nic(&[("private-ipv4s", "10.0.0.5\n10.0.0.6")]),
            wrong_type("private-ipv4s", "a JSON array of IPv4 address strings"),
        ),
        (
            "private-ipv4s with a number",
            one_nic(&[("private-ipv4s", "[\"10.0.0.5\", 7]")]),
            wrong_type("private-ipv4s", "a JSON array of IPv4 address strings"),
        ),
        (
            "invalid private IPv4",
            one_nic(&[("private-ipv4s", r#"["10.0.0.5","10.0.0.300"]"#)]),
            address("private-ipv4s", "10.0.0.300"),
        ),
        (
            "invalid primary-ip-address",
            one_nic(&[("primary-ip-address", "10.0.0.x")]),
            address("primary-ip-address", "10.0.0.x"),
        ),
        (
            "vswitch prefix 33",
            one_nic(&[("vswitch-cidr-block", "10.0.0.0/33")]),
            prefix("vswitch-cidr-block", "33", 32),
        ),
        (
            "non-contiguous netmask",
            bad_netmask,
            ParseError::Value {
                field: field("netmask"),
                source: ValueError::Netmask("255.0.255.0".into()),
            },
        ),
        (
            "invalid gateway",
            one_nic(&[("gateway", "gw")]),
            address("gateway", "gw"),
        ),
        (
            "ipv6s without brackets",
            one_nic(&[("ipv6s", "2001:db8::5")]),
            wrong_type("ipv6s", "a bracketed list such as [addr,addr]"),
        ),
        (
            "invalid ipv6-gateway",
            one_nic(&[("ipv6-gateway", "fe80::zz")]),
            address("ipv6-gateway", "fe80::zz"),
        ),
        (
            "vswitch IPv6 prefix 129",
            one_nic(&[("vswitch-ipv6-cidr-block", "2001:db8::/129")]),
            prefix("vswitch-ipv6-cidr-block", "129", 128),
        ),
    ];
    for (what, map, want) in cases {
        let got = fixtures::first_error(parse(&map));
        assert_eq!(got, want.to_string(), "{what}");
    }
}
