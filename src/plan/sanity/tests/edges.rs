//! The gate at the newer edges (issue 24's table): EC2's delegated prefixes, GCP's forwarded
//! IPv6 ranges and DigitalOcean's anchor IP, each refused alone with the rest of its NIC kept.

use super::*;

/// EC2: eth0 10.4.0.4 and eth1 10.4.0.5 with its two secondaries .6 and .7, one subnet
/// 10.4.0.0/24 (gateway 10.4.0.1); eth1 also has 2600:1f16:aeb:b20c::5 in its /64.
fn ec2_pair() -> (Nic, Nic) {
    let primary = nic(0, &["10.4.0.4/24"]);
    let mut eth1 = nic(1, &["10.4.0.5/24", "10.4.0.6/24", "10.4.0.7/24"]);
    eth1.subnet6 = Some("2600:1f16:aeb:b20c::/64".parse().expect("subnet6"));
    eth1.ipv6 = vec!["2600:1f16:aeb:b20c::5/64".parse().expect("v6")];
    (primary, eth1)
}

#[test]
fn delegated_prefixes_get_the_range_checks_and_the_rest_of_the_nic_is_configured() {
    let prefix = |s: &str| Item::DelegatedPrefix { net: net(s) };
    let holds = |m: u8, a: &str| Reason::ContainsAddress {
        mac: mac(m),
        addr: ip(a),
    };
    let gateway = Reason::ContainsGateway {
        mac: mac(0),
        gateway: ip("10.4.0.1"),
    };
    let cases = [
        // amazon-ec2-net-utils' own test data: outside the NIC's subnet.
        ("10.0.0.0/28", Some(Reason::OutsideSubnet)),
        ("0.0.0.0/0", Some(Reason::EveryDestination)),
        // Issue 24: holds the gateway and the primary's DHCP address; the whole subnet.
        ("10.4.0.0/28", Some(gateway)),
        ("10.4.0.0/24", Some(gateway)),
        ("10.4.0.4/30", Some(holds(0, "10.4.0.4"))),
        ("10.4.0.6/32", Some(holds(1, "10.4.0.6"))),
        (
            "10.4.0.240/28",
            Some(Reason::ContainsReserved {
                mac: mac(0),
                addr: ip("10.4.0.255"),
            }),
        ),
        ("10.4.0.32/28", None),
        // The whole /64 (it holds eth1's address), another /64, and a good /80.
        (
            "2600:1f16:aeb:b20c::/64",
            Some(holds(1, "2600:1f16:aeb:b20c::5")),
        ),
        ("2600:1f16:aeb:b20d::/80", Some(Reason::OutsideSubnet)),
        ("2600:1f16:aeb:b20c:7::/80", None),
    ];
    let (primary, mut eth1) = ec2_pair();
    eth1.delegated_prefixes = cases.iter().map(|(s, _)| net(s)).collect();
    let gated = gate(&[primary, eth1.clone()]);
    let expected: Vec<_> = cases
        .iter()
        .filter_map(|(s, reason)| Some((mac(1), prefix(s), (*reason)?)))
        .collect();
    assert_eq!(reasons(&gated), expected);
    assert_eq!(
        gated.nics[1].delegated_prefixes,
        [net("10.4.0.32/28"), net("2600:1f16:aeb:b20c:7::/80")]
    );
    assert_eq!(gated.nics[1].ipv4, eth1.ipv4, "its addresses are all kept");
    assert_eq!(gated.nics[1].ipv6, eth1.ipv6);
}

#[test]
fn the_whole_ipv6_subnet_as_a_delegated_prefix_is_refused_also_without_addresses() {
    let (primary, mut eth1) = ec2_pair();
    eth1.ipv6.clear();
    eth1.delegated_prefixes = vec![net("2600:1f16:aeb:b20c::/64")];
    let gated = gate(&[primary, eth1]);
    assert_eq!(
        reasons(&gated),
        [(
            mac(1),
            Item::DelegatedPrefix {
                net: net("2600:1f16:aeb:b20c::/64")
            },
            Reason::ContainsSubnet {
                mac: mac(1),
                subnet: net("2600:1f16:aeb:b20c::/64")
            }
        )]
    );
}

#[test]
fn forwarded_ipv6_ranges_wider_than_96_or_in_special_blocks_are_refused() {
    let cases = [
        ("2001:4860::/32", Some(Reason::TooWide { min: 96 })),
        ("2600:1900:4000:7::/95", Some(Reason::TooWide { min: 96 })),
        ("64:ff9b::/96", Some(Reason::NotUnicast)),
        ("::ffff:0:0/96", Some(Reason::NotUnicast)),
        ("100::/96", Some(Reason::NotUnicast)),
        ("2600:1900:4000:7::/96", None),
        ("2600:1900:4000:8::1/128", None),
        ("fd20:0:0:1::/96", None),
    ];
    let mut gcp = nic(0, &["10.4.0.4/24"]);
    gcp.forwarded = cases.iter().map(|(s, _)| net(s)).collect();
    gcp.forwarded.push(net("34.120.88.10/32"));
    let gated = gate(&[gcp]);
    let expected: Vec<_> = cases
        .iter()
        .filter_map(|(s, reason)| Some((mac(0), Item::Forwarded { net: net(s) }, (*reason)?)))
        .collect();
    assert_eq!(reasons(&gated), expected);
    assert_eq!(
        gated.nics[0].forwarded,
        [
            net("2600:1900:4000:7::/96"),
            net("2600:1900:4000:8::1/128"),
            net("fd20:0:0:1::/96"),
            net("34.120.88.10/32")
        ]
    );
}

#[test]
fn an_anchor_that_is_a_nic_address_public_or_without_a_real_netmask_is_refused() {
    let anchor = |a: &str, gateway: [u8; 4]| RoutedIpv4 {
        addr: a.parse().expect("anchor"),
        gateway: Ipv4Addr::from(gateway),
    };
    let cases = [
        // Issue 24: the primary's own address with a gateway that does not exist.
        (
            anchor("10.4.0.4/16", [10, 4, 0, 99]),
            Some(Reason::NicAddress { mac: mac(0) }),
        ),
        (
            anchor("10.4.0.5/16", [10, 4, 0, 99]),
            Some(Reason::NicAddress { mac: mac(1) }),
        ),
        (anchor("8.8.8.8/16", [8, 8, 0, 1]), Some(Reason::NotPrivate)),
        // Netmask 0.0.0.0, and one wider than /8.
        (
            anchor("10.20.0.5/0", [10, 20, 0, 1]),
            Some(Reason::EveryDestination),
        ),
        (
            anchor("10.20.0.5/4", [10, 20, 0, 1]),
            Some(Reason::TooWide { min: 8 }),
        ),
        (anchor("10.20.0.6/16", [10, 20, 0, 1]), None),
    ];
    let mut droplet = nic(0, &["10.4.0.4/24"]);
    droplet.routed_ipv4 = cases.iter().map(|(a, _)| *a).collect();
    let gated = gate(&[droplet, nic(1, &["10.4.0.5/24"])]);
    let expected: Vec<_> = cases
        .iter()
        .filter_map(|(a, reason)| {
            let item = Item::RoutedAddress {
                addr: IpNet::V4(a.addr),
            };
            Some((mac(0), item, (*reason)?))
        })
        .collect();
    assert_eq!(reasons(&gated), expected);
    assert_eq!(gated.nics[0].routed_ipv4, [cases[5].0]);
    assert_eq!(gated.nics[0].ipv4, ["10.4.0.4/24".parse().expect("v4")]);
    let line = gated.refused[0].to_string();
    assert_eq!(
        line,
        "address 10.4.0.4/16 with its own gateway refused: already an address of NIC \
         00:0d:3a:00:00:00"
    );
}
