//! The `testdata/*.hex` files are whole dumps captured from a namespace set up with
//!   ip link add name va address 02:00:00:00:00:0a mtu 1400 type veth peer name vb
//!   ip link add name br0 type bridge; ip link set vb master br0; (all three up)
//!   ip address add 10.7.0.5/24 dev va noprefixroute
//!   ip address add 2001:db8:7::5/64 dev va nodad
//!   ip route add 10.7.0.0/24 dev va src 10.7.0.5 table 10001 proto 201
//!   ip route add default via 10.7.0.1 dev va table 10001 proto 201
//!   ip rule add from 10.7.0.5/32 lookup 10001 priority 1001
//!   ip -6 rule add to 2001:db8:7::/64 lookup 10001 priority 1002
//! with the requests `Netlink` sends, one message (netlink header included) per line in hex.
//! The expected values are what `ip -d -N -j` showed for the same namespace.

use super::*;
use crate::kernel::{Family, RouteType, Scope};
use crate::netlink::frame::Frames;
use neli::consts::rtnl::RtAddrFamily;

const LO: u32 = 1;
const VB: u32 = 2;
const VA: u32 = 3;
const BR0: u32 = 4;

fn messages(hex: &str) -> Vec<Vec<u8>> {
    hex.lines()
        .map(|line| {
            (0..line.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&line[i..i + 2], 16).unwrap())
                .collect()
        })
        .collect()
}

/// Every message of a captured dump through `decode`, framing checked on the way.
fn decode_all<T>(hex: &str, decode: fn(&[u8]) -> Result<Option<T>, NetlinkError>) -> Vec<T> {
    let mut objects = Vec::new();
    for message in messages(hex) {
        let mut frames = Frames::new(&message);
        let frame = frames.next().unwrap().unwrap();
        assert!(frames.next().is_none());
        objects.extend(decode(frame.body).unwrap());
    }
    objects
}

/// The rtnl body of the `n`th captured message.
fn body(hex: &str, n: usize) -> Vec<u8> {
    messages(hex).swap_remove(n).split_off(16)
}

fn link_of(name: &str, index: u32, mac: [u8; 6], mtu: u32) -> Link {
    Link {
        index,
        name: name.to_string(),
        mac: Some(Mac(mac)),
        mtu,
        up: true,
        oper_state: OperState::Up,
        kind: None,
        master: None,
        loopback: false,
        ethernet: true,
        group: 0,
    }
}

#[test]
fn a_captured_link_dump_decodes_to_what_ip_shows() {
    let links = decode_all(include_str!("testdata/link.hex"), |b| link(b).map(Some));
    let bridge_mac = [0x96, 0x3b, 0x98, 0x11, 0xdf, 0x15];
    let lo = Link {
        up: false,
        oper_state: OperState::Down,
        loopback: true,
        ethernet: false,
        ..link_of("lo", LO, [0; 6], 65536)
    };
    let vb = Link {
        kind: Some("veth".to_string()),
        master: Some(BR0),
        ..link_of("vb", VB, bridge_mac, 1500)
    };
    let va = Link {
        kind: Some("veth".to_string()),
        ..link_of("va", VA, [2, 0, 0, 0, 0, 0x0a], 1400)
    };
    let br0 = Link {
        kind: Some("bridge".to_string()),
        ..link_of("br0", BR0, bridge_mac, 1500)
    };
    assert_eq!(links, vec![lo, vb, va, br0]);
}

fn forever(ifindex: u32, addr: &str, noprefixroute: bool) -> Address {
    Address {
        ifindex,
        addr: addr.parse().unwrap(),
        noprefixroute,
        valid_lft: u32::MAX,
        preferred_lft: u32::MAX,
    }
}

#[test]
fn a_captured_address_dump_decodes_to_what_ip_shows() {
    let addresses = decode_all(include_str!("testdata/address.hex"), address);
    let expected = vec![
        forever(VA, "10.7.0.5/24", true),
        forever(VB, "fe80::943b:98ff:fe11:df15/64", false),
        forever(VA, "2001:db8:7::5/64", false),
        forever(VA, "fe80::ff:fe00:a/64", false),
        forever(BR0, "fe80::943b:98ff:fe11:df15/64", false),
    ];
    assert_eq!(addresses, expected);
}

/// A route as `ip -N -j route show table all` lists it.
#[allow(clippy::too_many_arguments)]
fn shown(
    kind: RouteType,
    dst: &str,
    gateway: Option<&str>,
    oif: u32,
    table: u32,
    protocol: u8,
    scope: Scope,
    src: Option<&str>,
) -> Route {
    Route {
        table,
        dst: dst.parse().unwrap(),
        gateway: gateway.map(|g| g.parse().unwrap()),
        src: src.map(|s| s.parse().unwrap()),
        oif: Some(oif),
        protocol,
        scope,
        kind,
        onlink: false,
        advertised: None,
    }
}

#[test]
fn a_captured_route_dump_decodes_to_what_ip_shows() {
    use RouteType::{Local, Other, Unicast};
    use Scope::{Host, Link, Universe};
    let routes = decode_all(include_str!("testdata/route.hex"), route);
    let src = Some("10.7.0.5");
    let (gateway, multicast, broadcast) = (Some("10.7.0.1"), Other(5), Other(3));
    let lladdr = "fe80::943b:98ff:fe11:df15/128";
    let expected = vec![
        shown(
            Unicast,
            "0.0.0.0/0",
            gateway,
            VA,
            10001,
            201,
            Universe,
            None,
        ),
        shown(Unicast, "10.7.0.0/24", None, VA, 10001, 201, Link, src),
        shown(Local, "10.7.0.5/32", None, VA, 255, 2, Host, src),
        shown(broadcast, "10.7.0.255/32", None, VA, 255, 2, Link, src),
        shown(Unicast, "2001:db8:7::/64", None, VA, 254, 2, Universe, None),
        shown(Unicast, "fe80::/64", None, VB, 254, 2, Universe, None),
        shown(Unicast, "fe80::/64", None, VA, 254, 2, Universe, None),
        shown(Unicast, "fe80::/64", None, BR0, 254, 2, Universe, None),
        shown(Local, "2001:db8:7::5/128", None, VA, 255, 2, Universe, None),
        shown(
            Local,
            "fe80::ff:fe00:a/128",
            None,
            VA,
            255,
            2,
            Universe,
            None,
        ),
        shown(Local, lladdr, None, VB, 255, 2, Universe, None),
        shown(Local, lladdr, None, BR0, 255, 2, Universe, None),
        shown(multicast, "ff00::/8", None, VB, 255, 2, Universe, None),
        shown(multicast, "ff00::/8", None, VA, 255, 2, Universe, None),
        shown(multicast, "ff00::/8", None, BR0, 255, 2, Universe, None),
    ];
    assert_eq!(routes, expected);
}

#[test]
fn a_captured_rule_dump_decodes_to_what_ip_shows_without_multicast_families() {
    let rules = decode_all(include_str!("testdata/rule.hex"), rule);
    let rule = |family, priority, dst: Option<&str>, src: Option<&str>, table| Rule {
        family,
        priority,
        src: src.map(|s| s.parse().unwrap()),
        dst: dst.map(|d| d.parse().unwrap()),
        table,
        suppress_prefixlen: None,
        suppress_ifgroup: None,
    };
    let (v4, v6) = (Family::V4, Family::V6);
    let expected = vec![
        rule(v4, 0, None, None, 255),
        rule(v4, 1001, None, Some("10.7.0.5/32"), 10001),
        rule(v4, 32766, None, None, 254),
        rule(v4, 32767, None, None, 253),
        rule(v6, 0, None, None, 255),
        rule(v6, 1002, Some("2001:db8:7::/64"), None, 10001),
        rule(v6, 32766, None, None, 254),
    ];
    assert_eq!(rules, expected);
}

#[test]
fn cache_entries_are_passed_over() {
    let mut default_route = body(include_str!("testdata/route.hex"), 0);
    default_route[8..12].copy_from_slice(&RtmF::CLONED.bits().to_ne_bytes());
    assert_eq!(route(&default_route).unwrap(), None);
}

#[test]
fn the_onlink_flag_is_read_from_the_header() {
    let mut default_route = body(include_str!("testdata/route.hex"), 0);
    default_route[8..12].copy_from_slice(&RTNH_F_ONLINK.to_ne_bytes());
    assert!(route(&default_route).unwrap().unwrap().onlink);
}

fn decode_error_text(result: Result<impl std::fmt::Debug, NetlinkError>) -> String {
    match result {
        Err(NetlinkError::Decode(text)) => text,
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[test]
fn a_body_shorter_than_its_header_is_an_error() {
    let text = decode_error_text(rule(&[2, 0, 0]));
    assert_eq!(
        text,
        "rule message: 3 bytes, shorter than its 12 byte header"
    );
    let link_body = body(include_str!("testdata/link.hex"), 2);
    let text = decode_error_text(link(&link_body[..15]));
    assert_eq!(
        text,
        "link message: 15 bytes, shorter than its 16 byte header"
    );
}

#[test]
fn an_attribute_past_the_message_is_an_error() {
    let mut first = body(include_str!("testdata/address.hex"), 0);
    // The first attribute's rta_len, right after the 8-byte ifaddrmsg.
    first[8..10].copy_from_slice(&200u16.to_ne_bytes());
    let text = decode_error_text(address(&first));
    assert_eq!(text, "address message: attribute length 200 out of bounds");
}

#[test]
fn an_address_of_the_wrong_size_for_its_family_is_an_error() {
    let mut v6_route = body(include_str!("testdata/route.hex"), 4);
    v6_route[0] = u8::from(RtAddrFamily::Inet);
    let text = decode_error_text(route(&v6_route));
    assert_eq!(text, "route message: RTA_DST of 16 bytes in a V4 message");
}

#[test]
fn a_prefix_longer_than_the_family_allows_is_an_error() {
    let mut subnet_route = body(include_str!("testdata/route.hex"), 1);
    subnet_route[1] = 33;
    let text = decode_error_text(route(&subnet_route));
    assert_eq!(text, "route message: prefix /33 too long for 10.7.0.0");
}

#[test]
fn a_short_number_attribute_is_an_error() {
    // ifinfomsg, then IFLA_MTU with two bytes.
    let mut body = vec![0; Ifinfomsg::header_size()];
    body.extend(6u16.to_ne_bytes());
    body.extend(u16::from(Ifla::Mtu).to_ne_bytes());
    body.extend([0xdc, 0x05, 0, 0]);
    let text = decode_error_text(link(&body));
    assert_eq!(text, "link message: IFLA_MTU of only 2 bytes");
}

#[test]
fn the_nested_flag_on_linkinfo_is_ignored() {
    let mut body = vec![0; Ifinfomsg::header_size()];
    let kind = [9u16.to_ne_bytes(), u16::from(IflaInfo::Kind).to_ne_bytes()].concat();
    let nested_type = u16::from(Ifla::Linkinfo) | 0x8000;
    body.extend(16u16.to_ne_bytes());
    body.extend(nested_type.to_ne_bytes());
    body.extend(kind);
    body.extend(b"vlan\0\0\0\0");
    assert_eq!(link(&body).unwrap().kind.as_deref(), Some("vlan"));
}

/// An attribute as the kernel frames it: length, type, payload padded to 4 bytes.
fn attribute(ty: u16, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(4 + payload.len()).unwrap();
    let mut out = [len.to_ne_bytes(), ty.to_ne_bytes()].concat();
    out.extend_from_slice(payload);
    out.resize(out.len().next_multiple_of(4), 0);
    out
}

#[test]
fn a_router_preference_and_lifetime_are_read_and_medium_forever_is_none() {
    let plain = body(include_str!("testdata/route.hex"), 0);
    assert_eq!(route(&plain).unwrap().unwrap().advertised, None);
    let mut high = plain.clone();
    high.extend(attribute(super::super::route::RTA_PREF, &[1]));
    let mut cacheinfo = [0u8; 32];
    // rta_expires, the third u32: 1,500.01 s in clock ticks (100 a second), rounded up.
    cacheinfo[8..12].copy_from_slice(&150_001u32.to_ne_bytes());
    high.extend(attribute(Rta::Cacheinfo.into(), &cacheinfo));
    let decoded = route(&high).unwrap().unwrap().advertised.unwrap();
    assert_eq!(
        (decoded.pref, decoded.expires),
        (RouterPref::High, Some(1501))
    );
    let mut medium = plain;
    medium.extend(attribute(super::super::route::RTA_PREF, &[0]));
    medium.extend(attribute(Rta::Cacheinfo.into(), &[0u8; 32]));
    assert_eq!(route(&medium).unwrap().unwrap().advertised, None);
}
