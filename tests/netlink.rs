//! Root-only tests of the netlink layer, each in its own fresh network namespace: reads,
//! changes, batching and typed errors, cross-checked against `ip -j`.

mod support;

use cloud_network::kernel::{
    Address, Change, Family, KernelState, Link, OperState, Route, RouteType, Rule, Scope,
    RTPROT_CLOUD_NETWORK, TABLE_LOCAL,
};
use cloud_network::net::{IpNet, Mac};
use cloud_network::netlink::monitor::Event;
use cloud_network::netlink::{Netlink, NetlinkError, RouteLookup, RouteQuery};
use serde_json::Value;
use std::net::IpAddr;
use std::time::Instant;
use support::events::{addresses, KernelEvents};
use support::netns::{require_root, EnteredGuard, Netns};

const TABLE: u32 = 10001;

/// A namespace entered by this thread, a netlink connection opened inside it and a
/// subscription to its kernel events. Fields drop in order: the sockets, then the thread goes
/// back, then the namespace goes.
struct Fixture {
    nl: Netlink,
    events: KernelEvents,
    _entered: EnteredGuard,
    ns: Netns,
}

fn fixture(prefix: &str) -> Fixture {
    require_root();
    let ns = Netns::new(prefix);
    let entered = ns.enter();
    let nl = Netlink::open().expect("open netlink");
    let events = KernelEvents::open();
    Fixture {
        nl,
        events,
        _entered: entered,
        ns,
    }
}

/// A veth pair `va`/`vb`, both up; returns the index of `va`.
fn veth_up(f: &Fixture) -> u32 {
    f.ns.veth("va", "vb", Some("02:00:00:00:00:0a"));
    f.ns.run_ok(&["ip", "link", "set", "va", "up"]);
    f.ns.run_ok(&["ip", "link", "set", "vb", "up"]);
    f.ns.ifindex("va")
}

fn net(text: &str) -> IpNet {
    text.parse().expect("test prefix")
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

fn address(ifindex: u32, addr: &str, noprefixroute: bool) -> Address {
    Address {
        ifindex,
        addr: net(addr),
        noprefixroute,
        valid_lft: u32::MAX,
        preferred_lft: u32::MAX,
    }
}

fn link<'a>(links: &'a [Link], name: &str) -> &'a Link {
    links.iter().find(|l| l.name == name).expect("link listed")
}

fn assert_all_ok(results: &[Result<(), NetlinkError>]) {
    for (i, r) in results.iter().enumerate() {
        assert!(r.is_ok(), "change {i}: {}", r.as_ref().unwrap_err());
    }
}

fn one_error(results: Vec<Result<(), NetlinkError>>) -> NetlinkError {
    assert_eq!(results.len(), 1);
    results
        .into_iter()
        .next()
        .unwrap()
        .expect_err("the change fails")
}

#[test]
fn links_report_name_mac_mtu_kind_master_and_loopback() {
    let mut f = fixture("links");
    f.ns.veth("va", "vb", Some("02:00:00:00:00:0a"));
    f.ns.run_ok(&["ip", "link", "add", "name", "br0", "type", "bridge"]);
    f.ns.run_ok(&["ip", "link", "set", "vb", "master", "br0"]);

    let links = f.nl.links().unwrap();
    assert_eq!(links.len(), 4, "{links:?}");
    let lo = link(&links, "lo");
    assert!(lo.loopback && !lo.ethernet && !lo.up);
    assert_eq!(lo.mac, Some(Mac([0; 6])));
    assert_eq!(lo.kind, None);
    let va = link(&links, "va");
    assert_eq!(
        va,
        &Link {
            index: f.ns.ifindex("va"),
            name: "va".into(),
            mac: Some("02:00:00:00:00:0a".parse().unwrap()),
            mtu: 1500,
            up: false,
            oper_state: OperState::Down,
            kind: Some("veth".into()),
            master: None,
            loopback: false,
            ethernet: true,
            group: 0,
        }
    );
    assert_eq!(link(&links, "vb").master, Some(f.ns.ifindex("br0")));
    assert_eq!(link(&links, "br0").kind.as_deref(), Some("bridge"));
}

#[test]
fn link_up_and_mtu_are_applied_and_read_back() {
    let mut f = fixture("linkset");
    f.ns.veth("va", "vb", None);
    let ifindex = f.ns.ifindex("va");
    let name = "va".to_string();
    f.events.drain();
    let results = f.nl.apply(&[
        Change::LinkUp {
            ifindex,
            name: name.clone(),
        },
        Change::SetMtu {
            ifindex,
            name: name.clone(),
            mtu: 9000,
        },
    ]);
    assert_all_ok(&results);
    let announced: Vec<(bool, u32)> = f
        .events
        .drain()
        .into_iter()
        .filter_map(|e| match e {
            Event::LinkNew(l) if l.index == ifindex => Some((l.up, l.mtu)),
            _ => None,
        })
        .collect();
    assert_eq!(
        announced,
        [(true, 1500), (true, 9000)],
        "one event per change"
    );

    let links = f.nl.links().unwrap();
    assert!(link(&links, "va").up);
    assert_eq!(link(&links, "va").mtu, 9000);
    assert_eq!(
        link(&links, "va").oper_state,
        OperState::LowerLayerDown,
        "peer still down"
    );
    f.ns.run_ok(&["ip", "link", "set", "vb", "up"]);
    // The kernel's link watcher may report the carrier change a little later.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let oper_state = loop {
        let state = link(&f.nl.links().unwrap(), "va").oper_state;
        if state == OperState::Up || std::time::Instant::now() > deadline {
            break state;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(oper_state, OperState::Up);
    let shown = f.ns.json(&["ip", "-j", "link", "show", "dev", "va"]);
    assert_eq!(shown[0]["mtu"], 9000);
    assert!(shown[0]["flags"]
        .as_array()
        .unwrap()
        .contains(&Value::from("UP")));

    f.events.drain();
    let err = one_error(f.nl.apply(&[Change::SetMtu {
        ifindex,
        name,
        mtu: 70000,
    }]));
    assert!(matches!(err, NetlinkError::Invalid(_)), "{err}");
    assert_eq!(err.errno(), Some(libc::EINVAL));
    assert!(err.to_string().contains("MTU 70000 on link va"), "{err}");
    let after: Vec<Event> = f
        .events
        .drain()
        .into_iter()
        .filter(|e| matches!(e, Event::LinkNew(l) if l.index == ifindex))
        .collect();
    assert_eq!(after, [], "the refused MTU changed nothing");
}

#[test]
fn addresses_add_read_back_and_delete_in_both_families() {
    let mut f = fixture("addr");
    let ifindex = veth_up(&f);
    let ours = vec![
        address(ifindex, "10.4.0.6/24", true),
        address(ifindex, "10.4.1.7/24", false),
        address(ifindex, "2001:db8::6/64", true),
    ];
    let adds: Vec<Change> = ours.iter().cloned().map(Change::AddAddress).collect();
    f.events.drain();
    assert_all_ok(&f.nl.apply(&adds));
    assert_eq!(
        addresses(&f.events.drain(), true, ifindex),
        3,
        "one event per address"
    );

    let read: Vec<Address> =
        f.nl.addresses()
            .unwrap()
            .into_iter()
            .filter(|a| {
                a.ifindex == ifindex
                    && !matches!(a.addr.addr(), IpAddr::V6(v6) if v6.segments()[0] == 0xfe80)
            })
            .collect();
    assert_eq!(read.len(), 3, "{read:?}");
    for expected in &ours {
        assert!(read.contains(expected), "{expected:?} not in {read:?}");
    }

    let shown = f.ns.json(&["ip", "-j", "address", "show", "dev", "va"]);
    let infos = shown[0]["addr_info"].as_array().unwrap();
    let info = |local: &str| {
        infos
            .iter()
            .find(|i| i["local"] == local)
            .unwrap_or_else(|| panic!("{local} in {infos:?}"))
    };
    assert_eq!(info("10.4.0.6")["prefixlen"], 24);
    assert_eq!(info("10.4.0.6")["noprefixroute"], true);
    assert_eq!(info("10.4.0.6")["valid_life_time"], u64::from(u32::MAX));
    assert_eq!(info("10.4.1.7")["noprefixroute"], Value::Null);
    assert_eq!(info("2001:db8::6")["prefixlen"], 64);
    assert_eq!(info("2001:db8::6")["noprefixroute"], true);
    assert_eq!(
        info("2001:db8::6")["preferred_life_time"],
        u64::from(u32::MAX)
    );

    let main = f.ns.run_ok(&["ip", "route", "show", "table", "main"]);
    assert!(main.contains("10.4.1.0/24"), "{main}");
    assert!(
        !main.contains("10.4.0.0/24"),
        "noprefixroute ignored: {main}"
    );

    let dels: Vec<Change> = ours.iter().cloned().map(Change::DelAddress).collect();
    assert_all_ok(&f.nl.apply(&dels));
    let left = f.nl.addresses().unwrap();
    assert!(ours.iter().all(|a| !left.contains(a)), "{left:?}");
    assert_eq!(
        addresses(&f.events.drain(), false, ifindex),
        3,
        "one event per removal"
    );
}

#[test]
fn routes_in_a_big_table_and_the_local_table_round_trip() {
    let mut f = fixture("route");
    let ifindex = veth_up(&f);
    f.ns.run_ok(&["ip", "address", "add", "10.5.0.6/24", "dev", "va"]);
    let route = |dst: &str, gateway: Option<&str>, src: Option<&str>, scope, onlink| Route {
        table: TABLE,
        dst: net(dst),
        gateway: gateway.map(ip),
        src: src.map(ip),
        oif: Some(ifindex),
        protocol: RTPROT_CLOUD_NETWORK,
        scope,
        kind: RouteType::Unicast,
        onlink,
        advertised: None,
    };
    let ours = vec![
        route("10.5.0.0/24", None, Some("10.5.0.6"), Scope::Link, false),
        route("0.0.0.0/0", Some("10.5.0.1"), None, Scope::Universe, false),
        route(
            "10.6.0.9/32",
            Some("10.99.0.1"),
            None,
            Scope::Universe,
            true,
        ),
        route("2001:db8:5::/64", None, None, Scope::Universe, false),
        Route {
            table: TABLE_LOCAL,
            scope: Scope::Host,
            kind: RouteType::Local,
            ..route("10.7.0.0/24", None, None, Scope::Host, false)
        },
    ];
    let adds: Vec<Change> = ours.iter().cloned().map(Change::AddRoute).collect();
    assert_all_ok(&f.nl.apply(&adds));

    let mut read: Vec<Route> =
        f.nl.routes()
            .unwrap()
            .into_iter()
            .filter(|r| r.protocol == RTPROT_CLOUD_NETWORK)
            .collect();
    read.sort();
    let mut expected = ours.clone();
    expected.sort();
    assert_eq!(read, expected);

    let shown = f.ns.json(&["ip", "-j", "route", "show", "table", "10001"]);
    let entry = |dst: &str| {
        shown
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["dst"] == dst)
            .unwrap_or_else(|| panic!("{dst} in {shown}"))
            .clone()
    };
    assert_eq!(entry("10.5.0.0/24")["prefsrc"], "10.5.0.6");
    assert_eq!(entry("10.5.0.0/24")["scope"], "link");
    assert_eq!(entry("default")["gateway"], "10.5.0.1");
    assert_eq!(entry("default")["protocol"], "201");
    assert_eq!(entry("10.6.0.9")["flags"], serde_json::json!(["onlink"]));
    let local =
        f.ns.json(&["ip", "-j", "route", "show", "table", "local", "10.7.0.0/24"]);
    assert_eq!(local[0]["type"], "local");
    assert_eq!(local[0]["scope"], "host");
    let v6 =
        f.ns.json(&["ip", "-6", "-j", "route", "show", "table", "10001"]);
    assert_eq!(v6[0]["dst"], "2001:db8:5::/64");

    let dels: Vec<Change> = ours.iter().cloned().map(Change::DelRoute).collect();
    assert_all_ok(&f.nl.apply(&dels));
    assert!(f
        .nl
        .routes()
        .unwrap()
        .iter()
        .all(|r| r.protocol != RTPROT_CLOUD_NETWORK));
    let err = one_error(f.nl.apply(&[Change::DelRoute(ours[1].clone())]));
    assert!(matches!(err, NetlinkError::NotFound(_)), "{err}");
    assert!(
        err.to_string().contains("route 0.0.0.0/0 via 10.5.0.1"),
        "{err}"
    );
}

#[test]
fn rules_in_both_families_keep_their_big_table_and_priority() {
    let mut f = fixture("rule");
    let rule = |family, src: Option<&str>, dst: Option<&str>| Rule {
        family,
        priority: 3001,
        src: src.map(net),
        dst: dst.map(net),
        table: TABLE,
        suppress_prefixlen: None,
        suppress_ifgroup: None,
    };
    let ours = vec![
        rule(Family::V4, Some("10.4.0.6/32"), None),
        rule(Family::V4, None, Some("10.4.0.6/32")),
        rule(Family::V6, Some("2001:db8::6/128"), None),
        rule(Family::V6, None, Some("2001:db8::6/128")),
    ];
    let adds: Vec<Change> = ours.iter().cloned().map(Change::AddRule).collect();
    assert_all_ok(&f.nl.apply(&adds));

    let mut read: Vec<Rule> =
        f.nl.rules()
            .unwrap()
            .into_iter()
            .filter(|r| r.priority == 3001)
            .collect();
    read.sort();
    let mut expected = ours.clone();
    expected.sort();
    assert_eq!(read, expected);
    assert!(f
        .nl
        .rules()
        .unwrap()
        .iter()
        .any(|r| r.priority == 32766 && r.table == 254));

    let v4 = f.ns.json(&["ip", "-j", "rule", "show", "priority", "3001"]);
    let from = v4
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["src"] == "10.4.0.6")
        .expect("from rule");
    assert_eq!(from["table"], "10001");
    let to = v4
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["dst"] == "10.4.0.6")
        .expect("to rule");
    assert_eq!(to["priority"], 3001);
    let v6 =
        f.ns.json(&["ip", "-6", "-j", "rule", "show", "priority", "3001"]);
    assert_eq!(v6.as_array().unwrap().len(), 2, "{v6}");
    assert!(v6.as_array().unwrap().iter().all(|r| r["table"] == "10001"));

    let err = one_error(f.nl.apply(&[Change::AddRule(ours[0].clone())]));
    assert!(matches!(err, NetlinkError::Exists(_)), "{err}");
    assert!(
        err.to_string()
            .contains("rule priority 3001 from 10.4.0.6/32 to all lookup 10001"),
        "{err}"
    );

    let dels: Vec<Change> = ours.iter().cloned().map(Change::DelRule).collect();
    assert_all_ok(&f.nl.apply(&dels));
    assert!(f.nl.rules().unwrap().iter().all(|r| r.priority != 3001));
    let err = one_error(f.nl.apply(&[Change::DelRule(ours[2].clone())]));
    assert!(matches!(err, NetlinkError::NotFound(_)), "{err}");
    assert_eq!(err.errno(), Some(libc::ENOENT));
}

#[test]
fn five_hundred_addresses_go_in_one_batch_and_repeat_as_exists() {
    let mut f = fixture("batch");
    let ifindex = veth_up(&f);
    let adds: Vec<Change> = (0..500u32)
        .map(|i| {
            let addr = format!("10.8.{}.{}/32", i / 250, i % 250 + 1);
            Change::AddAddress(address(ifindex, &addr, true))
        })
        .collect();

    f.events.drain();
    let started = Instant::now();
    let results = f.nl.apply(&adds);
    let first = started.elapsed();
    assert_all_ok(&results);
    assert_eq!(addresses(&f.events.drain(), true, ifindex), 500);

    let started = Instant::now();
    let again = f.nl.apply(&adds);
    let second = started.elapsed();
    assert_eq!(again.len(), 500);
    for (i, r) in again.iter().enumerate() {
        match r {
            Err(NetlinkError::Exists(k)) => assert_eq!(
                k.object,
                format!(
                    "address 10.8.{}.{}/32 on ifindex {ifindex}",
                    i / 250,
                    i % 250 + 1
                )
            ),
            other => panic!("change {i}: {other:?}"),
        }
    }
    assert_eq!(
        addresses(&f.events.drain(), true, ifindex),
        0,
        "each repeat was refused"
    );

    let started = Instant::now();
    let read = f.nl.addresses().unwrap();
    let dump = started.elapsed();
    assert_eq!(
        read.iter()
            .filter(|a| a.ifindex == ifindex && a.addr.prefix() == 32)
            .count(),
        500
    );
    let shown =
        f.ns.json(&["ip", "-4", "-j", "address", "show", "dev", "va"]);
    assert_eq!(shown[0]["addr_info"].as_array().unwrap().len(), 500);
    println!("500 address adds: {first:?}; 500 duplicate adds (EEXIST): {second:?}; address dump: {dump:?}");
}

#[test]
fn kernel_errors_are_typed_and_name_the_object() {
    let mut f = fixture("errors");
    let ifindex = veth_up(&f);
    f.ns.run_ok(&["ip", "address", "add", "10.5.0.6/24", "dev", "va"]);

    let first = address(ifindex, "10.9.0.1/24", false);
    assert_all_ok(&f.nl.apply(&[Change::AddAddress(first.clone())]));
    let err = one_error(f.nl.apply(&[Change::AddAddress(first.clone())]));
    assert!(matches!(err, NetlinkError::Exists(_)), "{err}");
    assert_eq!(err.errno(), Some(libc::EEXIST));
    assert!(
        err.to_string()
            .starts_with("address 10.9.0.1/24 on ifindex"),
        "{err}"
    );

    let missing = address(ifindex, "10.9.9.9/24", false);
    let err = one_error(f.nl.apply(&[Change::DelAddress(missing)]));
    assert!(matches!(err, NetlinkError::NotFound(_)), "{err}");
    assert_eq!(err.errno(), Some(libc::EADDRNOTAVAIL));

    f.ns.veth("vc", "vd", None);
    let gone = f.ns.ifindex("vc");
    f.ns.run_ok(&["ip", "link", "del", "vc"]);
    let err = one_error(f.nl.apply(&[Change::AddAddress(address(gone, "10.9.1.1/24", false))]));
    assert!(matches!(err, NetlinkError::NoSuchDevice(_)), "{err}");
    assert_eq!(err.errno(), Some(libc::ENODEV));
    assert!(
        err.to_string().contains(&format!("on ifindex {gone}")),
        "{err}"
    );

    let off_link = Route {
        table: TABLE,
        dst: net("0.0.0.0/0"),
        gateway: Some(ip("10.99.0.1")),
        src: None,
        oif: Some(ifindex),
        protocol: RTPROT_CLOUD_NETWORK,
        scope: Scope::Universe,
        kind: RouteType::Unicast,
        onlink: false,
        advertised: None,
    };
    let err = one_error(f.nl.apply(&[Change::AddRoute(off_link)]));
    assert!(matches!(err, NetlinkError::Unreachable(_)), "{err}");
    let text = err.kernel().and_then(|k| k.ext_ack.clone());
    assert_eq!(
        text.as_deref(),
        Some("Nexthop has invalid gateway"),
        "{err}"
    );
    println!("off-link gateway: {err}");

    // A failure inside a batch leaves the others alone and keeps its position.
    let batch = [
        Change::AddAddress(address(ifindex, "10.9.2.1/24", false)),
        Change::AddAddress(first),
        Change::AddAddress(address(ifindex, "10.9.3.1/24", false)),
    ];
    let results = f.nl.apply(&batch);
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(
        matches!(results[1], Err(NetlinkError::Exists(_))),
        "{results:?}"
    );
}

#[test]
fn a_batch_larger_than_one_sendmsg_is_split_and_answered_in_order() {
    let mut f = fixture("split");
    let ifindex = veth_up(&f);
    let adds: Vec<Change> = (0..3000u32)
        .map(|i| {
            let addr = format!("10.10.{}.{}/32", i / 250, i % 250 + 1);
            Change::AddAddress(address(ifindex, &addr, true))
        })
        .collect();
    let mut changes = adds.clone();
    changes.push(adds[0].clone());
    f.events.drain();
    let results = f.nl.apply(&changes);
    assert_all_ok(&results[..3000]);
    assert!(
        matches!(results[3000], Err(NetlinkError::Exists(_))),
        "{:?}",
        results[3000]
    );
    assert_eq!(addresses(&f.events.drain(), true, ifindex), 3000);
    let read = f.nl.addresses().unwrap();
    assert_eq!(
        read.iter()
            .filter(|a| a.ifindex == ifindex && a.addr.prefix() == 32)
            .count(),
        3000
    );
}

#[test]
fn a_write_without_cap_net_admin_is_a_permission_error() {
    let f = fixture("perm");
    let ifindex = veth_up(&f);
    let ns_name = f.ns.name().to_string();
    // Capabilities are per thread: drop CAP_NET_ADMIN in a thread of its own.
    let err = std::thread::spawn(move || {
        let netns = std::fs::File::open(format!("/run/netns/{ns_name}")).unwrap();
        // SAFETY: a valid namespace fd; moves only this short-lived thread.
        assert_eq!(
            unsafe {
                libc::setns(
                    std::os::unix::io::AsRawFd::as_raw_fd(&netns),
                    libc::CLONE_NEWNET,
                )
            },
            0
        );
        let mut nl = Netlink::open().unwrap();
        caps::drop(
            None,
            caps::CapSet::Effective,
            caps::Capability::CAP_NET_ADMIN,
        )
        .unwrap();
        one_error(nl.apply(&[Change::AddAddress(address(ifindex, "10.9.0.1/24", false))]))
    })
    .join()
    .unwrap();
    assert!(matches!(err, NetlinkError::Permission(_)), "{err}");
    assert_eq!(err.errno(), Some(libc::EPERM));
    let shown = f.ns.run_ok(&["ip", "address", "show", "dev", "va"]);
    assert!(!shown.contains("10.9.0.1"), "{shown}");
}

#[test]
fn changes_serialize_with_an_op_tag() {
    let add = Change::AddAddress(address(3, "10.4.0.6/24", true));
    assert_eq!(
        serde_json::to_value(&add).unwrap(),
        serde_json::json!({
            "op": "add_address", "ifindex": 3, "addr": "10.4.0.6/24", "noprefixroute": true,
            "valid_lft": u32::MAX, "preferred_lft": u32::MAX
        })
    );
    let up = Change::LinkUp {
        ifindex: 3,
        name: "eth1".into(),
    };
    assert_eq!(
        serde_json::to_value(&up).unwrap(),
        serde_json::json!({"op": "link_up", "ifindex": 3, "name": "eth1"})
    );
}

#[test]
fn the_whole_kernel_state_reads_exactly_as_ip_shows_it() {
    let mut f = fixture("state");
    let setup = "\
        link add name va address 02:00:00:00:00:0a mtu 1400 type veth peer name vb\n\
        link add name br0 type bridge\n\
        link add name d0 type bridge\n\
        link set dev vb master br0\n\
        link set dev va up\n\
        link set dev vb up\n\
        link set dev br0 up\n\
        address add 10.7.0.5/24 dev va noprefixroute\n\
        address add 10.7.0.6/24 dev va\n\
        address add 10.8.0.1/32 dev d0 valid_lft 3600 preferred_lft 0\n\
        address add 2001:db8:7::5/64 dev va nodad\n\
        route add 10.7.0.0/24 dev va src 10.7.0.5 table 10001 proto 201\n\
        route add default via 10.7.0.1 dev va table 10001 proto 201\n\
        route add 10.9.9.0/24 via 10.99.0.1 dev va onlink table 10001 proto 201\n\
        route add local 10.10.0.0/28 dev va table local proto 201\n\
        route add default via 2001:db8:7::1 dev va table 10001 proto 201\n\
        rule add from 10.7.0.5 lookup 10001 priority 1001\n\
        rule add to 10.7.0.5 lookup 10001 priority 1001\n\
        rule add to 10.20.0.0/16 lookup 300 priority 1003\n";
    let batch = std::env::temp_dir().join(format!("cn-state-{}.batch", std::process::id()));
    std::fs::write(&batch, setup).unwrap();
    let ran = f.ns.run(&["ip", "-batch", batch.to_str().unwrap()]);
    std::fs::remove_file(&batch).unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );

    // Link-local addresses and their routes follow the links' carrier, and a finite lifetime
    // ticks between the two readings: read until both sides agree, and compare the last one.
    let (mut ours, mut shown) = (sorted(f.nl.state().unwrap()), ip_state::of(&f.ns));
    for _ in 0..10 {
        if ours == shown {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        (ours, shown) = (sorted(f.nl.state().unwrap()), ip_state::of(&f.ns));
    }
    assert_eq!(ours, shown);
    assert_eq!(ours.links.len(), 5);
    let expected_rule = Rule {
        family: Family::V4,
        priority: 1003,
        src: None,
        dst: Some(net("10.20.0.0/16")),
        table: 300,
        suppress_prefixlen: None,
        suppress_ifgroup: None,
    };
    assert!(ours.rules.contains(&expected_rule), "{:?}", ours.rules);
    let onlink = ours.routes.iter().find(|r| r.dst == net("10.9.9.0/24"));
    assert!(onlink.is_some_and(|r| r.onlink), "{onlink:?}");
    let deprecated = ours.addresses.iter().find(|a| a.addr == net("10.8.0.1/32"));
    assert!(
        deprecated.is_some_and(|a| a.preferred_lft == 0 && (3590..=3600).contains(&a.valid_lft)),
        "{deprecated:?}"
    );
}

/// Every list in a fixed order: links by index, the others by value.
fn sorted(mut state: KernelState) -> KernelState {
    state.links.sort_by_key(|l| l.index);
    state.addresses.sort();
    state.routes.sort();
    state.rules.sort();
    state
}

/// The kernel state as `ip -d -N -j` shows it (numbers, not names, for protocols, scopes,
/// types and tables), built independently of the netlink layer.
mod ip_state {
    use super::sorted;
    use super::support::netns::Netns;
    use cloud_network::kernel::{
        Address, Family, KernelState, Link, OperState, Route, RouteType, Rule, Scope,
    };
    use cloud_network::net::IpNet;
    use serde_json::Value;
    use std::collections::HashMap;

    pub fn of(ns: &Netns) -> KernelState {
        let shown_links = ns.json(&["ip", "-d", "-j", "link", "show"]);
        let index_of: HashMap<String, u32> = items(&shown_links)
            .map(|l| (text(l, "ifname"), number(l, "ifindex")))
            .collect();
        let index = |name: String| index_of[&name];
        let mut state = KernelState {
            links: items(&shown_links).map(|l| link(l, &index)).collect(),
            addresses: addresses(&ns.json(&["ip", "-j", "address", "show"])),
            ..KernelState::default()
        };
        for (flag, family) in [("-4", Family::V4), ("-6", Family::V6)] {
            let routes = ns.json(&[
                "ip", flag, "-d", "-N", "-j", "route", "show", "table", "all",
            ]);
            state
                .routes
                .extend(items(&routes).map(|r| route(r, family, &index)));
            let rules = ns.json(&["ip", flag, "-N", "-j", "rule", "show"]);
            state.rules.extend(items(&rules).map(|r| rule(r, family)));
        }
        sorted(state)
    }

    fn items(list: &Value) -> impl Iterator<Item = &Value> {
        list.as_array().expect("a JSON list").iter()
    }

    fn text(item: &Value, key: &str) -> String {
        item[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} in {item}"))
            .to_string()
    }

    fn number(item: &Value, key: &str) -> u32 {
        match &item[key] {
            Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
        .unwrap_or_else(|| panic!("{key} in {item}"))
    }

    fn flag(item: &Value, key: &str, name: &str) -> bool {
        item[key]
            .as_array()
            .is_some_and(|flags| flags.iter().any(|f| f == name))
    }

    fn link(item: &Value, index: &impl Fn(String) -> u32) -> Link {
        let oper_state = Value::String(text(item, "operstate").to_lowercase());
        Link {
            index: number(item, "ifindex"),
            name: text(item, "ifname"),
            mac: item["address"].as_str().and_then(|a| a.parse().ok()),
            mtu: number(item, "mtu"),
            up: flag(item, "flags", "UP"),
            oper_state: serde_json::from_value::<OperState>(oper_state).unwrap(),
            kind: item["linkinfo"]["info_kind"].as_str().map(str::to_string),
            master: item["master"].as_str().map(|m| index(m.to_string())),
            loopback: flag(item, "flags", "LOOPBACK"),
            ethernet: text(item, "link_type") == "ether",
            group: 0,
        }
    }

    fn addresses(shown: &Value) -> Vec<Address> {
        let mut addresses = Vec::new();
        for link in items(shown) {
            for a in items(&link["addr_info"]) {
                let prefix = format!("{}/{}", text(a, "local"), number(a, "prefixlen"));
                addresses.push(Address {
                    ifindex: number(link, "ifindex"),
                    addr: prefix.parse().unwrap(),
                    noprefixroute: a["noprefixroute"] == Value::Bool(true),
                    valid_lft: number(a, "valid_life_time"),
                    preferred_lft: number(a, "preferred_life_time"),
                });
            }
        }
        addresses
    }

    fn route(item: &Value, family: Family, index: &impl Fn(String) -> u32) -> Route {
        let dst = match (text(item, "dst").as_str(), family) {
            ("default", Family::V4) => "0.0.0.0/0".to_string(),
            ("default", Family::V6) => "::/0".to_string(),
            (dst, _) => dst.to_string(),
        };
        let ip = |key: &str| item[key].as_str().map(|a| a.parse().unwrap());
        Route {
            table: number(item, "table"),
            dst: dst.parse().unwrap(),
            gateway: ip("gateway"),
            src: ip("prefsrc"),
            oif: item["dev"].as_str().map(|d| index(d.to_string())),
            protocol: number(item, "protocol") as u8,
            scope: match number(item, "scope") {
                0 => Scope::Universe,
                253 => Scope::Link,
                254 => Scope::Host,
                other => Scope::Other(other as u8),
            },
            kind: match number(item, "type") {
                1 => RouteType::Unicast,
                2 => RouteType::Local,
                other => RouteType::Other(other as u8),
            },
            onlink: flag(item, "flags", "onlink"),
            advertised: None,
        }
    }

    fn rule(item: &Value, family: Family) -> Rule {
        let selector = |key: &str, len: &str| -> Option<IpNet> {
            let ip = item[key].as_str().filter(|ip| *ip != "all")?;
            Some(match item[len].as_u64() {
                Some(len) => format!("{ip}/{len}").parse().unwrap(),
                None => ip.parse().unwrap(),
            })
        };
        Rule {
            family,
            priority: number(item, "priority"),
            src: selector("src", "srclen"),
            dst: selector("dst", "dstlen"),
            table: number(item, "table"),
            suppress_prefixlen: None,
            suppress_ifgroup: None,
        }
    }
}

/// `route_get` answers as `ip route get` does: the policy rule's table, link and gateway for a
/// source address, the main table without one, and ENETUNREACH for a source that is not local.
#[test]
fn route_get_follows_rules_like_ip_route_get() {
    let mut f = fixture("nlget");
    let va = veth_up(&f);
    f.ns.run_ok(&["ip", "address", "add", "10.9.0.5/24", "dev", "va"]);
    f.ns.run_ok(&[
        "ip", "route", "add", "default", "via", "10.9.0.1", "dev", "va", "table", "10001",
    ]);
    f.ns.run_ok(&[
        "ip", "rule", "add", "from", "10.9.0.5", "lookup", "10001", "priority", "3001",
    ]);
    let query = |src: Option<&str>| RouteQuery {
        dst: ip("198.51.100.1"),
        src: src.map(ip),
        iif: None,
    };
    let found = f.nl.route_get(&query(Some("10.9.0.5"))).expect("lookup");
    assert_eq!(
        found,
        RouteLookup {
            table: TABLE,
            oif: Some(va),
            gateway: Some(ip("10.9.0.1")),
            prefsrc: None,
        }
    );
    match f.nl.route_get(&query(None)) {
        Err(NetlinkError::Unreachable(k)) => {
            assert_eq!(k.object, "route lookup 198.51.100.1")
        }
        other => panic!("no default route in main: expected ENETUNREACH, got {other:?}"),
    }
    match f.nl.route_get(&query(Some("10.9.0.77"))) {
        Err(e) => assert_eq!(e.errno(), Some(libc::ENETUNREACH), "{e}"),
        other => panic!("a source that is not local: expected ENETUNREACH, got {other:?}"),
    }
    let shown = f.ns.json(&[
        "ip",
        "-j",
        "route",
        "get",
        "198.51.100.1",
        "from",
        "10.9.0.5",
    ]);
    assert_eq!(shown[0]["dev"], "va");
    assert_eq!(shown[0]["table"], "10001");
}

/// google-guest-agent's local routes (`proto 66`, as it adds them with `ip route add to local
/// ... scope host dev ... proto 66`) are replaced in place by ours, in both families: one
/// event each, and the address is local throughout.
#[test]
fn an_agent_local_route_is_replaced_in_place_by_ours() {
    let mut f = fixture("adopt");
    let ifindex = veth_up(&f);
    f.ns.run_ok(&[
        "ip",
        "route",
        "add",
        "to",
        "local",
        "34.1.2.3/32",
        "scope",
        "host",
        "dev",
        "va",
        "proto",
        "66",
    ]);
    f.ns.run_ok(&[
        "ip",
        "-6",
        "route",
        "add",
        "to",
        "local",
        "2600:1900:4000:7::/96",
        "dev",
        "va",
        "proto",
        "66",
    ]);
    f.events.drain();
    let local = |dst: &str| Route {
        table: TABLE_LOCAL,
        dst: net(dst),
        gateway: None,
        src: None,
        oif: Some(ifindex),
        protocol: RTPROT_CLOUD_NETWORK,
        scope: Scope::Host,
        kind: RouteType::Local,
        onlink: false,
        advertised: None,
    };
    let ours = [local("34.1.2.3/32"), local("2600:1900:4000:7::/96")];
    let adopt: Vec<Change> = ours.iter().cloned().map(Change::AdoptRoute).collect();
    assert_all_ok(&f.nl.apply(&adopt));
    let mut in_slot: Vec<(IpNet, u8, Option<u32>)> =
        f.nl.routes()
            .unwrap()
            .into_iter()
            .filter(|r| r.table == TABLE_LOCAL && ours.iter().any(|o| o.dst == r.dst))
            .map(|r| (r.dst, r.protocol, r.oif))
            .collect();
    in_slot.sort();
    let mut expected: Vec<(IpNet, u8, Option<u32>)> =
        ours.iter().map(|r| (r.dst, r.protocol, r.oif)).collect();
    expected.sort();
    assert_eq!(in_slot, expected, "ours alone hold the slots");
    let shown =
        f.ns.json(&["ip", "-j", "route", "show", "table", "local", "34.1.2.3"]);
    assert_eq!(shown[0]["protocol"], "201");
    let events = f.events.drain();
    let deleted = events
        .iter()
        .filter(|e| matches!(e, Event::RouteDel(r) if ours.iter().any(|o| o.dst == r.dst)))
        .count();
    let added = events
        .iter()
        .filter(|e| matches!(e, Event::RouteNew(r) if r.protocol == RTPROT_CLOUD_NETWORK))
        .count();
    assert_eq!((deleted, added), (0, 2), "{events:?}");
    assert_all_ok(&f.nl.apply(&adopt));
}
