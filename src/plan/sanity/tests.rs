//! The sanity gate on plain data: each rule refuses exactly its item, with its reason, and
//! keeps the rest of the NIC.

use super::*;
use crate::metadata::RoutedIpv4;
use std::net::Ipv4Addr;

fn mac(last: u8) -> Mac {
    Mac([0x00, 0x0d, 0x3a, 0, 0, last])
}

fn net(s: &str) -> IpNet {
    s.parse().expect("net")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

/// A NIC in 10.4.0.0/24 (gateway 10.4.0.1) with the given IPv4 addresses.
fn nic(last: u8, ipv4: &[&str]) -> Nic {
    let mut nic = Nic::new(mac(last), u32::from(last));
    nic.ipv4 = ipv4.iter().map(|a| a.parse().expect("v4")).collect();
    nic.subnet4 = Some("10.4.0.0/24".parse().expect("subnet"));
    nic.gateway4 = Some(Ipv4Addr::new(10, 4, 0, 1));
    nic
}

fn reasons(gated: &Gated) -> Vec<(Mac, Item, Reason)> {
    gated
        .refused
        .iter()
        .map(|r| (r.mac, r.item, r.reason))
        .collect()
}

fn address(s: &str) -> Item {
    Item::Address { addr: net(s) }
}

#[test]
fn a_sane_nic_passes_untouched() {
    let mut one = nic(0, &["10.4.0.4/24", "10.4.0.8/24"]);
    one.ip_ranges = vec![net("10.8.1.0/24")];
    one.forwarded = vec![net("34.120.88.10/32")];
    one.mtu = Some(1460);
    let nics = vec![one, nic(1, &["10.4.0.5/24"])];
    let gated = gate(&nics);
    assert_eq!(gated.nics, nics);
    assert!(gated.refused.is_empty());
}

#[test]
fn special_addresses_are_refused_and_the_rest_of_the_nic_kept() {
    let metadata = |s: &str| Reason::MetadataService { addr: ip(s) };
    let refused_v4 = [
        ("169.254.169.254/24", metadata("169.254.169.254")),
        ("168.63.129.16/24", metadata("168.63.129.16")),
        ("127.0.0.5/24", Reason::Loopback),
        ("224.0.0.5/24", Reason::Multicast),
        ("255.255.255.255/24", Reason::Broadcast),
        ("0.0.0.0/24", Reason::Unspecified),
        ("169.254.3.4/16", Reason::LinkLocal),
        ("100.100.100.200/32", metadata("100.100.100.200")),
        ("10.4.0.255/24", Reason::Broadcast),
    ];
    let refused_v6 = [
        ("::1/128", Reason::Loopback),
        ("ff02::1/128", Reason::Multicast),
        ("fe80::1/0", Reason::LinkLocal),
        ("fd00:ec2::254/128", metadata("fd00:ec2::254")),
        ("::/128", Reason::Unspecified),
    ];
    let ipv4: Vec<&str> = std::iter::once("10.4.0.5/24")
        .chain(refused_v4.iter().map(|(a, _)| *a))
        .collect();
    let mut one = nic(1, &ipv4);
    one.ipv6 = refused_v6
        .iter()
        .map(|(a, _)| *a)
        .chain(["2001:db8::5/64"])
        .map(|a| a.parse().expect("v6"))
        .collect();
    let gated = gate(&[nic(0, &["10.4.0.4/24"]), one]);
    let kept = &gated.nics[1];
    assert_eq!(kept.ipv4, vec!["10.4.0.5/24".parse().expect("v4")]);
    assert_eq!(kept.ipv6, vec!["2001:db8::5/64".parse().expect("v6")]);
    let expected: Vec<_> = refused_v4
        .iter()
        .chain(&refused_v6)
        .map(|(a, reason)| (mac(1), address(a), *reason))
        .collect();
    assert_eq!(reasons(&gated), expected);
}

#[test]
fn an_address_equal_to_a_gateway_is_refused() {
    let mut routed = nic(1, &["10.4.0.5/24", "10.4.0.1/24", "10.9.0.1/24"]);
    routed.routed_ipv4 = vec![RoutedIpv4 {
        addr: "10.20.0.5/16".parse().expect("v4"),
        gateway: Ipv4Addr::new(10, 9, 0, 1),
    }];
    let gated = gate(&[nic(0, &["10.4.0.4/24"]), routed]);
    assert_eq!(
        reasons(&gated),
        vec![
            (
                mac(1),
                address("10.4.0.1/24"),
                Reason::Gateway { mac: mac(0) }
            ),
            (
                mac(1),
                address("10.9.0.1/24"),
                Reason::Gateway { mac: mac(1) }
            ),
        ]
    );
    assert_eq!(gated.nics[1].routed_ipv4.len(), 1);
}

#[test]
fn the_same_address_on_two_nics_is_refused_on_both() {
    let gated = gate(&[
        nic(0, &["10.4.0.4/24", "10.4.0.9/24"]),
        nic(1, &["10.4.0.5/24", "10.4.0.9/24"]),
    ]);
    assert_eq!(
        reasons(&gated),
        vec![
            (
                mac(0),
                address("10.4.0.9/24"),
                Reason::OnTwoNics { other: mac(1) }
            ),
            (
                mac(1),
                address("10.4.0.9/24"),
                Reason::OnTwoNics { other: mac(0) }
            ),
        ]
    );
    assert_eq!(gated.nics[0].ipv4.len(), 1);
    assert_eq!(gated.nics[1].ipv4.len(), 1);
}

#[test]
fn a_nic_listing_one_address_twice_is_not_on_two_nics() {
    let gated = gate(&[nic(0, &["10.4.0.4/24", "10.4.0.4/24"])]);
    assert!(gated.refused.is_empty());
}

#[test]
fn ranges_that_swallow_what_must_stay_reachable_are_refused() {
    let metadata = |s: &str| Reason::ContainsMetadataService { addr: ip(s) };
    let gateway = |m: Mac, g: &str| Reason::ContainsGateway {
        mac: m,
        gateway: ip(g),
    };
    let holds_address = Reason::ContainsAddress {
        mac: mac(1),
        addr: ip("10.5.0.5"),
    };
    // Each alias range of the first NIC with its reason; None: kept.
    let ranges = [
        ("0.0.0.0/0", Some(Reason::EveryDestination)),
        ("::/0", Some(Reason::EveryDestination)),
        ("64.0.0.0/2", Some(Reason::TooWide { min: 8 })),
        ("2001::/16", Some(Reason::TooWide { min: 32 })),
        ("10.4.0.0/28", Some(gateway(mac(0), "10.4.0.1"))),
        ("10.5.0.4/30", Some(holds_address)),
        ("10.6.0.0/16", None),
        ("169.254.169.254/32", Some(metadata("169.254.169.254"))),
        ("100.100.100.0/24", Some(metadata("100.100.100.200"))),
        ("127.0.0.0/16", Some(Reason::Loopback)),
        ("224.0.0.0/8", Some(Reason::Multicast)),
        ("fe80::/64", Some(Reason::LinkLocal)),
        ("10.8.1.0/24", None),
    ];
    let mut gcp = nic(0, &["10.4.0.4/24"]);
    gcp.ip_ranges = ranges.iter().map(|(s, _)| net(s)).collect();
    gcp.forwarded = vec![net("169.254.169.254/32"), net("34.120.88.10/32")];
    let mut other = nic(1, &["10.5.0.5/24"]);
    other.subnet4 = Some("10.5.0.0/24".parse().expect("subnet"));
    other.gateway4 = Some(Ipv4Addr::new(10, 5, 0, 1));
    other.ip_ranges = vec![net("10.5.0.0/20")];
    let gated = gate(&[gcp, other]);
    let alias = |s: &str| Item::AliasRange { net: net(s) };
    let mut found = reasons(&gated);
    // 10.6.0.0/16 holds nothing of the NICs: kept, as 10.8.1.0/24 and the VIP are.
    assert_eq!(
        gated.nics[0].ip_ranges,
        vec![net("10.6.0.0/16"), net("10.8.1.0/24")]
    );
    assert_eq!(gated.nics[0].forwarded, vec![net("34.120.88.10/32")]);
    assert!(gated.nics[1].ip_ranges.is_empty());
    let last = found.pop();
    assert_eq!(
        last,
        Some((mac(1), alias("10.5.0.0/20"), gateway(mac(1), "10.5.0.1")))
    );
    let forwarded = Item::Forwarded {
        net: net("169.254.169.254/32"),
    };
    let expected: Vec<_> = ranges
        .iter()
        .filter_map(|(s, reason)| Some((mac(0), alias(s), (*reason)?)))
        .chain([(mac(0), forwarded, metadata("169.254.169.254"))])
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn a_range_holding_a_whole_subnet_is_refused() {
    let mut one = nic(0, &["10.4.0.4/24"]);
    one.gateway4 = None;
    let mut two = nic(1, &["192.168.7.5/32"]);
    two.subnet4 = Some("192.168.7.0/29".parse().expect("subnet"));
    two.gateway4 = None;
    one.ip_ranges = vec![net("192.168.7.0/28")];
    let gated = gate(&[one, two]);
    assert_eq!(
        reasons(&gated),
        vec![(
            mac(0),
            Item::AliasRange {
                net: net("192.168.7.0/28")
            },
            Reason::ContainsAddress {
                mac: mac(1),
                addr: ip("192.168.7.5")
            }
        )]
    );
    let mut three = nic(2, &[]);
    three.subnet4 = Some("192.168.9.0/29".parse().expect("subnet"));
    three.gateway4 = None;
    let mut four = nic(3, &["10.4.0.7/24"]);
    four.gateway4 = None;
    four.ip_ranges = vec![net("192.168.8.0/23")];
    let gated = gate(&[four, three]);
    assert_eq!(
        reasons(&gated),
        vec![(
            mac(3),
            Item::AliasRange {
                net: net("192.168.8.0/23")
            },
            Reason::ContainsSubnet {
                mac: mac(2),
                subnet: net("192.168.9.0/29")
            }
        )]
    );
}

#[test]
fn an_mtu_outside_the_sane_range_is_refused_and_the_nic_configured() {
    for (mtu, refused) in [
        (68, true),
        (1279, true),
        (1280, false),
        (9216, false),
        (9217, true),
        (u32::MAX, true),
    ] {
        let mut one = nic(0, &["10.4.0.4/24"]);
        one.mtu = Some(mtu);
        let gated = gate(&[one]);
        assert_eq!(gated.nics[0].mtu, (!refused).then_some(mtu), "MTU {mtu}");
        assert_eq!(gated.nics[0].ipv4.len(), 1);
        let expected: Vec<_> = refused
            .then_some((mac(0), Item::Mtu { mtu }, Reason::MtuOutOfRange))
            .into_iter()
            .collect();
        assert_eq!(reasons(&gated), expected, "MTU {mtu}");
    }
}

#[test]
fn refusals_read_as_one_line_each() {
    let mut one = nic(0, &["10.4.0.4/24", "169.254.169.254/24"]);
    one.ip_ranges = vec![net("0.0.0.0/0")];
    one.mtu = Some(68);
    let lines: Vec<String> = gate(&[one])
        .refused
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        lines,
        vec![
            "address 169.254.169.254/24 refused: the metadata service's address 169.254.169.254",
            "alias range 0.0.0.0/0 refused: every destination",
            "MTU 68 refused: outside 1280–9216",
        ]
    );
}

mod edges;

#[test]
fn the_service_addresses_the_gate_refuses_are_every_cloud_s_together() {
    let mut all: Vec<IpAddr> = service_addresses().collect();
    all.sort();
    all.dedup();
    let expected = [
        "100.100.100.200",
        "168.63.129.16",
        "169.254.169.123",
        "169.254.169.253",
        "169.254.169.254",
        "fd00:ec2::123",
        "fd00:ec2::253",
        "fd00:ec2::254",
    ];
    assert_eq!(all, expected.map(ip));
}
