//! Unit tests of the planner on plain data: desired state, diff order, ownership, rendering.

use super::render::{ip_command, link_namer, summary};
use super::*;
use crate::kernel::{Address, Change, KernelState, Link, OperState, Route, RouteType, Rule, Scope};
use crate::metadata::{Instance, Nic};
use crate::net::{IpNet, Mac, ProviderKind};

fn mac(s: &str) -> Mac {
    s.parse().unwrap()
}

fn link(index: u32, name: &str, mac_s: &str, up: bool) -> Link {
    Link {
        index,
        name: name.to_string(),
        mac: Some(mac(mac_s)),
        mtu: 1500,
        up,
        oper_state: if up { OperState::Up } else { OperState::Down },
        kind: None,
        master: None,
        loopback: false,
        ethernet: true,
    }
}

fn azure_instance() -> Instance {
    let mut eth0 = Nic::new(mac("00:22:48:04:fe:00"), 0);
    eth0.ipv4 = vec![
        "10.4.0.4/24".parse().unwrap(),
        "10.4.0.8/24".parse().unwrap(),
    ];
    eth0.gateway4 = Some("10.4.0.1".parse().unwrap());
    let mut eth1 = Nic::new(mac("00:0d:3a:5d:2d:66"), 1);
    eth1.ipv4 = vec![
        "10.4.0.5/24".parse().unwrap(),
        "10.4.0.6/24".parse().unwrap(),
    ];
    eth1.gateway4 = Some("10.4.0.1".parse().unwrap());
    Instance {
        provider: ProviderKind::Azure,
        instance_id: "vm".into(),
        location: "westus".into(),
        nics: vec![eth0, eth1],
        raw: serde_json::Value::Null,
    }
}

fn azure_links() -> Vec<Link> {
    vec![
        Link {
            index: 1,
            name: "lo".into(),
            mac: Some(mac("00:00:00:00:00:00")),
            mtu: 65536,
            up: true,
            oper_state: OperState::Unknown,
            kind: None,
            master: None,
            loopback: true,
            ethernet: false,
        },
        link(2, "eth0", "00:22:48:04:fe:00", true),
        link(3, "eth1", "00:0d:3a:5d:2d:66", false),
    ]
}

fn dhcp_primary() -> Address {
    Address {
        ifindex: 2,
        addr: "10.4.0.4/24".parse().unwrap(),
        noprefixroute: false,
        valid_lft: 3600,
        preferred_lft: 3600,
    }
}

fn kernel_with(links: Vec<Link>, addresses: Vec<Address>) -> KernelState {
    KernelState {
        links,
        addresses,
        routes: Vec::new(),
        rules: Vec::new(),
    }
}

/// What the kernel looks like after a change: the test stand-in for netlink.
fn apply(kernel: &mut KernelState, change: &Change) {
    match change {
        Change::LinkUp { ifindex, .. } => {
            kernel
                .links
                .iter_mut()
                .find(|l| l.index == *ifindex)
                .unwrap()
                .up = true
        }
        Change::SetMtu { ifindex, mtu, .. } => {
            kernel
                .links
                .iter_mut()
                .find(|l| l.index == *ifindex)
                .unwrap()
                .mtu = *mtu
        }
        Change::PromoteSecondaries { .. } => {}
        Change::AddAddress(a) => kernel.addresses.push(a.clone()),
        Change::DelAddress(a) => kernel.addresses.retain(|k| k != a),
        Change::AddRoute(r) => kernel.routes.push(r.clone()),
        Change::DelRoute(r) => kernel.routes.retain(|k| k != r),
        Change::AddRule(r) => kernel.rules.push(r.clone()),
        Change::DelRule(r) => kernel.rules.retain(|k| k != r),
        Change::AddVlan {
            name, mac, parent, ..
        } => {
            let index = kernel.links.iter().map(|l| l.index).max().unwrap_or(0) + 1;
            let mut vlan = link(index, name, &mac.to_string(), true);
            vlan.kind = Some("vlan".into());
            // A new VLAN link takes its parent's MTU, as the kernel gives it.
            vlan.mtu = kernel
                .links
                .iter()
                .find(|l| l.index == *parent)
                .unwrap()
                .mtu;
            kernel.links.push(vlan);
        }
        Change::DelVlan { ifindex, .. } => {
            kernel.links.retain(|l| l.index != *ifindex);
            kernel.addresses.retain(|a| a.ifindex != *ifindex);
            kernel.routes.retain(|r| r.oif != Some(*ifindex));
        }
    }
}

/// One reconcile round as the daemon runs it; returns the changes made.
fn reconcile(
    instance: &Instance,
    kernel: &mut KernelState,
    owned: &mut Owned,
    settings: &PlanSettings,
) -> Vec<PlannedChange> {
    let want = desired(instance, &kernel.links, settings);
    *owned = owned.prune(kernel).vet(kernel, settings).0;
    let result = diff(&want, kernel, owned);
    for planned in &result.changes {
        apply(kernel, &planned.change);
        owned.record(planned.nic.map(|n| (n.mac, n.ifindex)), &planned.change);
    }
    result.changes
}

fn commands(changes: &[PlannedChange], kernel: &KernelState) -> Vec<String> {
    let name_of = link_namer(kernel);
    changes
        .iter()
        .map(|c| ip_command(&c.change, &name_of))
        .collect()
}

#[test]
fn azure_second_nic_in_same_subnet() {
    let mut kernel = kernel_with(azure_links(), vec![dhcp_primary()]);
    let mut owned = Owned::default();
    let changes = reconcile(
        &azure_instance(),
        &mut kernel,
        &mut owned,
        &PlanSettings::default(),
    );
    assert_eq!(
        commands(&changes, &kernel),
        [
            "ip link set dev eth1 up",
            "ip address add 10.4.0.8/24 dev eth0 noprefixroute",
            "ip address add 10.4.0.5/24 dev eth1 noprefixroute",
            "ip address add 10.4.0.6/24 dev eth1 noprefixroute",
            "ip route add 10.4.0.0/24 dev eth1 table 10001 proto 201 scope link src 10.4.0.5",
            "ip route add default via 10.4.0.1 dev eth1 table 10001 proto 201",
            "ip rule add from 10.4.0.5/32 lookup 10001 priority 3001",
            "ip rule add to 10.4.0.5/32 lookup 10001 priority 3001",
            "ip rule add from 10.4.0.6/32 lookup 10001 priority 3001",
            "ip rule add to 10.4.0.6/32 lookup 10001 priority 3001",
            "ip rule add to 169.254.169.254/32 lookup main priority 2999",
            "ip rule add to 168.63.129.16/32 lookup main priority 2999",
        ]
    );
    assert_eq!(
        summary(&changes, &link_namer(&kernel)),
        [
            "eth0: +1 address",
            "eth1: link up, +2 addresses, +1 route table, +4 rules",
            "metadata rules: +2 rules",
        ]
    );
    let again = reconcile(
        &azure_instance(),
        &mut kernel,
        &mut owned,
        &PlanSettings::default(),
    );
    assert_eq!(again, [], "a second round changes nothing");
    assert_eq!(
        kernel.addresses[0],
        dhcp_primary(),
        "DHCP address untouched"
    );
}

fn gcp_instance() -> Instance {
    let mut nic0 = Nic::new(mac("42:01:0a:80:00:46"), 0);
    nic0.ipv4 = vec!["10.128.0.70/32".parse().unwrap()];
    nic0.gateway4 = Some("10.128.0.1".parse().unwrap());
    nic0.mtu = Some(1460);
    nic0.ip_ranges = vec!["10.24.3.0/24".parse().unwrap()];
    nic0.forwarded = vec!["34.1.2.3/32".parse().unwrap()];
    let mut nic1 = Nic::new(mac("42:01:c0:a8:01:02"), 1);
    nic1.ipv4 = vec!["192.168.1.2/32".parse().unwrap()];
    nic1.gateway4 = Some("192.168.1.1".parse().unwrap());
    nic1.mtu = Some(8244);
    nic1.ip_ranges = vec!["192.168.9.0/28".parse().unwrap()];
    Instance {
        provider: ProviderKind::Gcp,
        instance_id: "1".into(),
        location: "us-central1".into(),
        nics: vec![nic0, nic1],
        raw: serde_json::Value::Null,
    }
}

#[test]
fn gcp_host_route_to_gateway_alias_ranges_and_mtu() {
    let links = vec![
        link(2, "eth0", "42:01:0a:80:00:46", true),
        link(3, "eth1", "42:01:c0:a8:01:02", true),
    ];
    let mut kernel = kernel_with(links, Vec::new());
    let changes = reconcile(
        &gcp_instance(),
        &mut kernel,
        &mut Owned::default(),
        &PlanSettings::default(),
    );
    assert_eq!(
        commands(&changes, &kernel),
        [
            "ip link set dev eth0 mtu 1460",
            "ip link set dev eth1 mtu 8244",
            "ip address add 10.128.0.70/32 dev eth0 noprefixroute",
            "ip address add 192.168.1.2/32 dev eth1 noprefixroute",
            "ip route add local 10.24.3.0/24 dev eth0 table local proto 201 scope host",
            "ip route add local 34.1.2.3/32 dev eth0 table local proto 201 scope host",
            "ip route add 192.168.1.1/32 dev eth1 table 10001 proto 201 scope link src 192.168.1.2",
            "ip route add default via 192.168.1.1 dev eth1 table 10001 proto 201",
            "ip route add local 192.168.9.0/28 dev eth1 table local proto 201 scope host",
            "ip rule add from 192.168.1.2/32 lookup 10001 priority 3001",
            "ip rule add to 192.168.1.2/32 lookup 10001 priority 3001",
            "ip rule add from 192.168.9.0/28 lookup 10001 priority 3001",
            "ip rule add to 192.168.9.0/28 lookup 10001 priority 3001",
            "ip rule add to 169.254.169.254/32 lookup main priority 2999",
        ]
    );
}

#[test]
fn supplementary_primary_and_ipv6_get_a_table() {
    let mut instance = azure_instance();
    instance.nics[0].ipv6 = vec!["2001:db8::4/64".parse().unwrap()];
    instance.nics[0].gateway6 = Some("fe80::1234:5678:9abc".parse().unwrap());
    instance.nics.truncate(1);
    let settings = PlanSettings {
        supplementary: vec!["eth0".into()],
        ..PlanSettings::default()
    };
    let want = desired(&instance, &azure_links(), &settings);
    let nic = &want.nics[0];
    assert_eq!(nic.table, Some(10000));
    let name_of = |_| "eth0".to_string();
    let routes: Vec<String> = nic
        .routes
        .iter()
        .map(|r| ip_command(&Change::AddRoute(r.clone()), &name_of))
        .collect();
    assert_eq!(
        routes,
        [
            "ip route add 10.4.0.0/24 dev eth0 table 10000 proto 201 scope link src 10.4.0.4",
            "ip route add default via 10.4.0.1 dev eth0 table 10000 proto 201",
            "ip -6 route add 2001:db8::/64 dev eth0 table 10000 proto 201 src 2001:db8::4",
            "ip -6 route add default via fe80::1234:5678:9abc dev eth0 table 10000 proto 201",
        ]
    );
    let v6_rules: Vec<String> = nic
        .rules
        .iter()
        .filter(|r| r.family == crate::kernel::Family::V6)
        .map(|r| ip_command(&Change::AddRule(r.clone()), &name_of))
        .collect();
    assert_eq!(
        v6_rules,
        [
            "ip -6 rule add from 2001:db8::4/128 lookup 10000 priority 3000",
            "ip -6 rule add to 2001:db8::4/128 lookup 10000 priority 3000",
        ]
    );
}

#[test]
fn ec2_index_spans_network_cards() {
    let mut instance = azure_instance();
    instance.provider = ProviderKind::Aws;
    instance.nics[1].index = 101;
    let want = desired(&instance, &azure_links(), &PlanSettings::default());
    assert_eq!(want.nics[1].table, Some(10101));
    assert!(want.nics[1].rules.iter().all(|r| r.priority == 3101));
    let pinned: Vec<_> = want.global_rules.iter().map(|r| r.dst.unwrap()).collect();
    assert_eq!(pinned, ["169.254.169.254/32".parse::<IpNet>().unwrap()]);
}

#[test]
fn pinned_metadata_address_follows_the_provider() {
    let pinned = |provider| {
        let mut instance = azure_instance();
        instance.provider = provider;
        let want = desired(&instance, &azure_links(), &PlanSettings::default());
        want.global_rules
            .iter()
            .map(|r| format!("{} {}", r.priority, r.dst.unwrap()))
            .collect::<Vec<_>>()
    };
    assert_eq!(pinned(ProviderKind::Alibaba), ["2999 100.100.100.200/32"]);
    assert_eq!(pinned(ProviderKind::Gcp), ["2999 169.254.169.254/32"]);
    assert_eq!(
        pinned(ProviderKind::Azure),
        ["2999 169.254.169.254/32", "2999 168.63.129.16/32"]
    );
}

#[test]
fn removing_an_ip_removes_only_its_address_and_rules_then_the_table() {
    let mut kernel = kernel_with(azure_links(), vec![dhcp_primary()]);
    let mut owned = Owned::default();
    let settings = PlanSettings::default();
    let mut instance = azure_instance();
    reconcile(&instance, &mut kernel, &mut owned, &settings);

    instance.nics[1].ipv4.pop();
    let changes = reconcile(&instance, &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&changes, &kernel),
        [
            "ip rule del to 10.4.0.6/32 lookup 10001 priority 3001",
            "ip rule del from 10.4.0.6/32 lookup 10001 priority 3001",
            "sysctl -w net.ipv4.conf.eth1.promote_secondaries=1",
            "ip address del 10.4.0.6/24 dev eth1",
        ]
    );

    instance.nics[1].ipv4.clear();
    let changes = reconcile(&instance, &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&changes, &kernel),
        [
            "ip rule del to 10.4.0.5/32 lookup 10001 priority 3001",
            "ip rule del from 10.4.0.5/32 lookup 10001 priority 3001",
            "ip rule del to 168.63.129.16/32 lookup main priority 2999",
            "ip rule del to 169.254.169.254/32 lookup main priority 2999",
            "ip route del default via 10.4.0.1 dev eth1 table 10001 proto 201",
            "ip route del 10.4.0.0/24 dev eth1 table 10001 proto 201 scope link src 10.4.0.5",
            "sysctl -w net.ipv4.conf.eth1.promote_secondaries=1",
            "ip address del 10.4.0.5/24 dev eth1",
        ]
    );
    assert!(kernel.routes.is_empty() && kernel.rules.is_empty());
    assert_eq!(kernel.addresses.len(), 2, "eth0's DHCP and secondary stay");
}

#[test]
fn nothing_we_do_not_own_is_ever_deleted() {
    let mut kernel = kernel_with(azure_links(), vec![dhcp_primary()]);
    let settings = PlanSettings::default();
    reconcile(
        &azure_instance(),
        &mut kernel,
        &mut Owned::default(),
        &settings,
    );
    let configured = kernel.clone();

    let mut empty = azure_instance();
    for nic in &mut empty.nics {
        nic.ipv4.clear();
    }
    let changes = reconcile(&empty, &mut kernel, &mut Owned::default(), &settings);
    assert_eq!(changes, [], "an empty ownership record removes nothing");
    assert_eq!(kernel, configured);
}

#[test]
fn foreign_objects_are_left_alone() {
    let foreign_rule = Rule {
        family: crate::kernel::Family::V4,
        priority: 100,
        src: Some("10.4.0.5/32".parse().unwrap()),
        dst: None,
        table: 500,
    };
    let main_default = Route {
        table: crate::kernel::TABLE_MAIN,
        dst: "0.0.0.0/0".parse().unwrap(),
        gateway: Some("10.4.0.1".parse().unwrap()),
        src: None,
        oif: Some(2),
        protocol: 16,
        scope: Scope::Universe,
        kind: RouteType::Unicast,
        onlink: false,
    };
    let by_hand = Address {
        ifindex: 3,
        addr: "10.4.0.6/32".parse().unwrap(),
        noprefixroute: false,
        valid_lft: u32::MAX,
        preferred_lft: u32::MAX,
    };
    let mut kernel = kernel_with(azure_links(), vec![dhcp_primary(), by_hand.clone()]);
    kernel.rules.push(foreign_rule.clone());
    kernel.routes.push(main_default.clone());
    let mut owned = Owned::default();
    let settings = PlanSettings::default();
    let changes = reconcile(&azure_instance(), &mut kernel, &mut owned, &settings);
    assert!(!commands(&changes, &kernel)
        .contains(&"ip address add 10.4.0.6/24 dev eth1 noprefixroute".to_string()));
    let mut gone = azure_instance();
    gone.nics[1].ipv4.truncate(0);
    reconcile(&gone, &mut kernel, &mut owned, &settings);
    assert!(kernel.rules.contains(&foreign_rule));
    assert!(kernel.routes.contains(&main_default));
    assert!(
        kernel.addresses.contains(&by_hand),
        "address added by hand stays"
    );
    assert!(kernel.addresses.contains(&dhcp_primary()));
}

#[test]
fn vanished_nic_keeps_config_while_its_link_exists() {
    let mut kernel = kernel_with(azure_links(), vec![dhcp_primary()]);
    let mut owned = Owned::default();
    let settings = PlanSettings::default();
    reconcile(&azure_instance(), &mut kernel, &mut owned, &settings);
    let mut detached = azure_instance();
    detached.nics.truncate(1);
    let changes = reconcile(&detached, &mut kernel, &mut owned, &settings);
    let deletes: Vec<_> = changes
        .iter()
        .filter(|c| matches!(c.change, Change::DelRule(_)))
        .filter(|c| c.nic.is_some())
        .collect();
    assert_eq!(
        deletes,
        Vec::<&PlannedChange>::new(),
        "link still there: kept"
    );

    kernel.links.retain(|l| l.name != "eth1");
    kernel.addresses.retain(|a| a.ifindex != 3);
    kernel.routes.retain(|r| r.oif != Some(3));
    let changes = reconcile(&detached, &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&changes, &kernel),
        [
            "ip rule del to 10.4.0.5/32 lookup 10001 priority 3001",
            "ip rule del to 10.4.0.6/32 lookup 10001 priority 3001",
            "ip rule del from 10.4.0.5/32 lookup 10001 priority 3001",
            "ip rule del from 10.4.0.6/32 lookup 10001 priority 3001",
            "ip rule del to 168.63.129.16/32 lookup main priority 2999",
            "ip rule del to 169.254.169.254/32 lookup main priority 2999",
        ]
    );
    assert!(!owned.nics.contains_key(&mac("00:0d:3a:5d:2d:66")));
    assert!(owned.global_rules.is_empty());
}

#[test]
fn enslaved_vf_bridges_and_duplicates_are_not_matched() {
    let nic_mac = "00:0d:3a:5d:2d:66";
    let mut vf = link(4, "enP1s1", nic_mac, true);
    vf.master = Some(3);
    let mut bridge = link(5, "br0", "00:22:48:04:fe:00", true);
    bridge.kind = Some("bridge".into());
    let links = vec![
        link(2, "eth0", "00:22:48:04:fe:00", true),
        link(3, "eth1", nic_mac, true),
        vf,
        bridge,
    ];
    let want = desired(&azure_instance(), &links, &PlanSettings::default());
    let matched: Vec<_> = want.nics.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(matched, ["eth0", "eth1"]);

    let twins = vec![
        link(2, "eth0", nic_mac, true),
        link(3, "eth1", nic_mac, true),
    ];
    let want = desired(&azure_instance(), &twins, &PlanSettings::default());
    assert_eq!(
        want.skipped,
        [
            Skipped::NoLink {
                mac: mac("00:22:48:04:fe:00")
            },
            Skipped::Ambiguous {
                mac: mac(nic_mac),
                links: vec!["eth0".into(), "eth1".into()]
            },
        ]
    );
}

#[test]
fn externally_deleted_rule_is_restored_and_changed_gateway_replaced() {
    let mut kernel = kernel_with(azure_links(), vec![dhcp_primary()]);
    let mut owned = Owned::default();
    let settings = PlanSettings::default();
    let mut instance = azure_instance();
    reconcile(&instance, &mut kernel, &mut owned, &settings);
    kernel.rules.remove(0);
    let changes = reconcile(&instance, &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&changes, &kernel),
        ["ip rule add from 10.4.0.5/32 lookup 10001 priority 3001"]
    );
    instance.nics[1].gateway4 = Some("10.4.0.254".parse().unwrap());
    let changes = reconcile(&instance, &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&changes, &kernel),
        [
            "ip route del default via 10.4.0.1 dev eth1 table 10001 proto 201",
            "ip route add default via 10.4.0.254 dev eth1 table 10001 proto 201",
        ]
    );
}

#[test]
fn owned_record_round_trips_through_json() {
    let mut kernel = kernel_with(azure_links(), vec![dhcp_primary()]);
    let mut owned = Owned::default();
    reconcile(
        &azure_instance(),
        &mut kernel,
        &mut owned,
        &PlanSettings::default(),
    );
    let text = serde_json::to_string(&owned).unwrap();
    let back: Owned = serde_json::from_str(&text).unwrap();
    assert_eq!(back, owned);
    assert_eq!(back.nics[&mac("00:0d:3a:5d:2d:66")].rules.len(), 4);
}

#[test]
fn an_index_past_the_main_rule_is_skipped_not_wrapped() {
    let mut instance = azure_instance();
    instance.nics[1].index = 3100;
    let settings = PlanSettings {
        priority_base: 30000,
        ..PlanSettings::default()
    };
    let want = desired(&instance, &azure_links(), &settings);
    assert_eq!(want.nics.len(), 1);
    assert_eq!(
        want.skipped,
        [Skipped::IndexOutOfRange {
            mac: mac("00:0d:3a:5d:2d:66"),
            index: 3100
        }]
    );
}

/// Every object of a record as the `ip` command that adds it, sorted.
fn owned_commands(owned: &Owned, kernel: &KernelState) -> Vec<String> {
    let name_of = link_namer(kernel);
    let mut changes: Vec<Change> = owned
        .global_rules
        .iter()
        .cloned()
        .map(Change::AddRule)
        .collect();
    for nic in owned.nics.values() {
        changes.extend(nic.addresses.iter().map(|a| {
            Change::AddAddress(Address {
                ifindex: a.ifindex,
                addr: a.addr,
                noprefixroute: true,
                valid_lft: u32::MAX,
                preferred_lft: u32::MAX,
            })
        }));
        changes.extend(nic.routes.iter().cloned().map(Change::AddRoute));
        changes.extend(nic.rules.iter().cloned().map(Change::AddRule));
    }
    let mut lines: Vec<String> = changes.iter().map(|c| ip_command(c, &name_of)).collect();
    lines.sort();
    lines
}

#[test]
fn a_lost_record_adopts_only_what_is_wanted_and_marked_as_ours() {
    let mut kernel = kernel_with(azure_links(), vec![dhcp_primary()]);
    let settings = PlanSettings::default();
    reconcile(
        &azure_instance(),
        &mut kernel,
        &mut Owned::default(),
        &settings,
    );
    for address in &mut kernel.addresses {
        if address.addr.to_string() == "10.4.0.8/24" {
            address.valid_lft = 3600;
        }
    }
    for route in &mut kernel.routes {
        if route.gateway.is_some() {
            route.protocol = 4;
        }
    }
    let mut instance = azure_instance();
    instance.nics[1].ipv4.pop();
    let want = desired(&instance, &kernel.links, &settings);
    let mut adopted = Owned::adopt(&want, &kernel);
    assert_eq!(
        owned_commands(&adopted, &kernel),
        [
            "ip address add 10.4.0.5/24 dev eth1 noprefixroute",
            "ip route add 10.4.0.0/24 dev eth1 table 10001 proto 201 scope link src 10.4.0.5",
            "ip rule add from 10.4.0.5/32 lookup 10001 priority 3001",
            "ip rule add to 10.4.0.5/32 lookup 10001 priority 3001",
            "ip rule add to 168.63.129.16/32 lookup main priority 2999",
            "ip rule add to 169.254.169.254/32 lookup main priority 2999",
        ],
        "not 10.4.0.6 (no longer listed), not 10.4.0.8 (finite lifetime), not the proto 4 route"
    );
    assert_eq!(adopted.len(), 6);
    let before = kernel.clone();
    let changes = reconcile(&instance, &mut kernel, &mut adopted, &settings);
    assert_eq!(
        changes,
        [],
        "a rebuilt record removes nothing the metadata dropped"
    );
    assert_eq!(kernel, before);

    instance.nics[1].ipv4.clear();
    let changes = reconcile(&instance, &mut kernel, &mut adopted, &settings);
    assert_eq!(
        commands(&changes, &kernel),
        [
            "ip rule del to 10.4.0.5/32 lookup 10001 priority 3001",
            "ip rule del from 10.4.0.5/32 lookup 10001 priority 3001",
            "ip rule del to 168.63.129.16/32 lookup main priority 2999",
            "ip rule del to 169.254.169.254/32 lookup main priority 2999",
            "ip route del 10.4.0.0/24 dev eth1 table 10001 proto 201 scope link src 10.4.0.5",
            "sysctl -w net.ipv4.conf.eth1.promote_secondaries=1",
            "ip address del 10.4.0.5/24 dev eth1",
        ],
        "what was adopted is ours again: removed once the metadata drops it"
    );
    let ip6 = "10.4.0.6/24".parse().unwrap();
    assert!(kernel.addresses.iter().any(|a| a.addr == ip6));
    assert_eq!(kernel.rules.len(), 2, "10.4.0.6's rules were never adopted");
}

#[test]
fn nothing_is_adopted_from_a_kernel_we_never_touched() {
    let mut kernel = kernel_with(azure_links(), vec![dhcp_primary()]);
    kernel.addresses.push(Address {
        ifindex: 3,
        addr: "10.4.0.5/24".parse().unwrap(),
        noprefixroute: false,
        valid_lft: u32::MAX,
        preferred_lft: u32::MAX,
    });
    let want = desired(&azure_instance(), &kernel.links, &PlanSettings::default());
    let adopted = Owned::adopt(&want, &kernel);
    assert!(adopted.is_empty(), "{adopted:?}");
    assert_eq!(adopted.len(), 0);
}

#[test]
fn an_address_whose_prefix_changes_is_replaced_in_the_same_round() {
    let mut kernel = kernel_with(azure_links(), vec![dhcp_primary()]);
    let mut owned = Owned::default();
    let settings = PlanSettings::default();
    let mut instance = azure_instance();
    reconcile(&instance, &mut kernel, &mut owned, &settings);
    instance.nics[1].ipv4 = vec![
        "10.4.0.5/28".parse().unwrap(),
        "10.4.0.6/28".parse().unwrap(),
    ];
    let changes = reconcile(&instance, &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&changes, &kernel),
        [
            "ip route del 10.4.0.0/24 dev eth1 table 10001 proto 201 scope link src 10.4.0.5",
            "sysctl -w net.ipv4.conf.eth1.promote_secondaries=1",
            "ip address del 10.4.0.5/24 dev eth1",
            "ip address del 10.4.0.6/24 dev eth1",
            "ip address add 10.4.0.5/28 dev eth1 noprefixroute",
            "ip address add 10.4.0.6/28 dev eth1 noprefixroute",
            "ip route add 10.4.0.0/28 dev eth1 table 10001 proto 201 scope link src 10.4.0.5",
        ]
    );
    let again = reconcile(&instance, &mut kernel, &mut owned, &settings);
    assert_eq!(again, [], "converged in one round");
}

#[test]
fn a_route_whose_source_address_is_replaced_is_replaced_too() {
    let settings = PlanSettings {
        supplementary: vec!["eth0".into()],
        ..PlanSettings::default()
    };
    let mut instance = azure_instance();
    instance.nics.truncate(1);
    instance.nics[0].ipv6 = vec!["2001:db8::4/64".parse().unwrap()];
    instance.nics[0].subnet6 = Some("2001:db8::/64".parse().unwrap());
    let mut kernel = kernel_with(azure_links(), vec![dhcp_primary()]);
    let mut owned = Owned::default();
    reconcile(&instance, &mut kernel, &mut owned, &settings);
    instance.nics[0].ipv6 = vec!["2001:db8::4/128".parse().unwrap()];
    let changes = reconcile(&instance, &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&changes, &kernel),
        [
            "ip -6 route del 2001:db8::/64 dev eth0 table 10000 proto 201 src 2001:db8::4",
            "ip address del 2001:db8::4/64 dev eth0",
            "ip address add 2001:db8::4/128 dev eth0 noprefixroute",
            "ip -6 route add 2001:db8::/64 dev eth0 table 10000 proto 201 src 2001:db8::4",
        ],
        "deleting the address would strip the route of its source: replaced around it"
    );
}

#[test]
fn a_default_route_whose_link_route_is_held_by_another_device_is_left_out() {
    let mut kernel = kernel_with(azure_links(), vec![dhcp_primary()]);
    kernel.routes.push(Route {
        table: 10001,
        dst: "10.4.0.0/24".parse().unwrap(),
        gateway: None,
        src: None,
        oif: Some(9),
        protocol: 4,
        scope: Scope::Link,
        kind: RouteType::Unicast,
        onlink: false,
    });
    let want = desired(&azure_instance(), &kernel.links, &PlanSettings::default());
    let result = diff(&want, &kernel, &Owned::default());
    let name_of = link_namer(&kernel);
    let conflicts: Vec<String> = result
        .conflicts
        .iter()
        .map(|r| super::render::route_spec(r, &name_of))
        .collect();
    assert_eq!(
        conflicts,
        [
            "10.4.0.0/24 dev eth1 table 10001 proto 201 scope link src 10.4.0.5",
            "default via 10.4.0.1 dev eth1 table 10001 proto 201",
        ],
        "the gateway is unreachable on eth1 in that table: the kernel would refuse the default"
    );
    assert!(!result
        .changes
        .iter()
        .any(|c| matches!(c.change, Change::AddRoute(_))));
}

/// OCI bare metal: the primary VNIC on the physical NIC, a second VNIC as VLAN 1 on it.
fn bare_metal_instance() -> Instance {
    let mut physical = Nic::new(mac("90:e2:ba:d4:f1:68"), 0);
    physical.ipv4 = vec!["10.0.0.8/24".parse().unwrap()];
    physical.gateway4 = Some("10.0.0.1".parse().unwrap());
    let mut vlan = Nic::new(mac("02:00:17:05:cf:51"), 1);
    vlan.ipv4 = vec!["10.0.4.5/24".parse().unwrap()];
    vlan.gateway4 = Some("10.0.4.1".parse().unwrap());
    vlan.vlan = Some(crate::metadata::Vlan {
        parent: mac("90:e2:ba:d4:f1:68"),
        id: 1,
    });
    Instance {
        provider: ProviderKind::Oracle,
        instance_id: "ocid1.instance".into(),
        location: "us-phoenix-1".into(),
        nics: vec![physical, vlan],
        raw: serde_json::Value::Null,
    }
}

/// OCI bare metal's physical NIC, at the MTU 9000 its DHCP lease gives it.
fn bare_metal_kernel() -> KernelState {
    let mut lease = dhcp_primary();
    lease.addr = "10.0.0.8/24".parse().unwrap();
    let mut eth0 = link(2, "eth0", "90:e2:ba:d4:f1:68", true);
    eth0.mtu = 9000;
    kernel_with(vec![eth0], vec![lease])
}

#[test]
fn a_vlan_nic_gets_its_link_created_then_configured() {
    let instance = bare_metal_instance();
    let mut kernel = bare_metal_kernel();
    let mut owned = Owned::default();
    let settings = PlanSettings::default();
    let want = desired(&instance, &kernel.links, &settings);
    assert_eq!(
        want.vlans,
        [desired::VlanPlan {
            mac: mac("02:00:17:05:cf:51"),
            name: "eth0.1".into(),
            parent: 2,
            parent_name: "eth0".into(),
            id: 1,
        }]
    );
    assert!(want.skipped.is_empty(), "{:?}", want.skipped);
    let first = reconcile(&instance, &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&first, &kernel),
        ["ip link add link eth0 name eth0.1 address 02:00:17:05:cf:51 type vlan id 1"]
    );
    assert_eq!(
        summary(&first, &link_namer(&kernel)),
        ["eth0: +VLAN 1 link eth0.1"]
    );
    assert_eq!(
        owned.nics[&mac("02:00:17:05:cf:51")].vlan,
        Some(owned::OwnedVlan {
            name: "eth0.1".into(),
            id: 1
        })
    );
    let second = reconcile(&instance, &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&second, &kernel),
        [
            "ip address add 10.0.4.5/24 dev eth0.1 noprefixroute",
            "ip route add 10.0.4.0/24 dev eth0.1 table 10001 proto 201 scope link src 10.0.4.5",
            "ip route add default via 10.0.4.1 dev eth0.1 table 10001 proto 201",
            "ip rule add from 10.0.4.5/32 lookup 10001 priority 3001",
            "ip rule add to 10.0.4.5/32 lookup 10001 priority 3001",
            "ip rule add to 169.254.169.254/32 lookup main priority 2999",
        ]
    );
    assert_eq!(reconcile(&instance, &mut kernel, &mut owned, &settings), []);
}

#[test]
fn a_vlan_link_we_made_goes_after_its_rules_when_its_nic_leaves() {
    let instance = bare_metal_instance();
    let mut kernel = bare_metal_kernel();
    let mut owned = Owned::default();
    let settings = PlanSettings::default();
    reconcile(&instance, &mut kernel, &mut owned, &settings);
    reconcile(&instance, &mut kernel, &mut owned, &settings);
    let mut gone = instance.clone();
    gone.nics.truncate(1);
    let changes = reconcile(&gone, &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&changes, &kernel),
        [
            "ip rule del to 10.0.4.5/32 lookup 10001 priority 3001",
            "ip rule del from 10.0.4.5/32 lookup 10001 priority 3001",
            "ip rule del to 169.254.169.254/32 lookup main priority 2999",
            "ip link del dev eth0.1",
        ]
    );
    assert_eq!(
        summary(&changes, &link_namer(&kernel)),
        [
            "if3: -VLAN link eth0.1, -2 rules",
            "metadata rules: -1 rule"
        ]
    );
    assert!(kernel.links.iter().all(|l| l.name != "eth0.1"));
    assert!(owned.is_empty(), "{owned:?}");
    assert_eq!(reconcile(&gone, &mut kernel, &mut owned, &settings), []);
}

#[test]
fn a_vlan_link_we_did_not_make_is_configured_but_never_deleted() {
    let instance = bare_metal_instance();
    let mut kernel = bare_metal_kernel();
    let mut theirs = link(5, "vnic1", "02:00:17:05:cf:51", true);
    theirs.kind = Some("vlan".into());
    theirs.mtu = 9000;
    kernel.links.push(theirs);
    let mut owned = Owned::default();
    let settings = PlanSettings::default();
    let changes = reconcile(&instance, &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&changes, &kernel)[0],
        "ip address add 10.0.4.5/24 dev vnic1 noprefixroute"
    );
    let mut gone = instance.clone();
    gone.nics.truncate(1);
    let changes = reconcile(&gone, &mut kernel, &mut owned, &settings);
    assert_eq!(
        changes,
        [],
        "a NIC gone with its link still there is left alone"
    );
    assert!(kernel.links.iter().any(|l| l.name == "vnic1"));
}

#[test]
fn a_vlan_nic_without_its_parent_is_skipped_and_its_link_kept() {
    let instance = bare_metal_instance();
    let mut kernel = bare_metal_kernel();
    let mut owned = Owned::default();
    let settings = PlanSettings::default();
    reconcile(&instance, &mut kernel, &mut owned, &settings);
    kernel.links[0].mac = Some(mac("90:e2:ba:00:00:01"));
    let want = desired(&instance, &kernel.links, &settings);
    assert_eq!(
        want.skipped,
        [
            Skipped::NoLink {
                mac: mac("90:e2:ba:d4:f1:68")
            },
            Skipped::NoParent {
                mac: mac("02:00:17:05:cf:51"),
                parent: mac("90:e2:ba:d4:f1:68"),
                id: 1
            }
        ]
    );
    assert_eq!(
        want.skipped[1].to_string(),
        "NIC 02:00:17:05:cf:51: VLAN 1 on NIC 90:e2:ba:d4:f1:68, which has no usable link (yet)"
    );
    let changes = reconcile(&instance, &mut kernel, &mut owned, &settings);
    assert!(
        changes
            .iter()
            .all(|c| !matches!(c.change, Change::DelVlan { .. })),
        "{changes:?}"
    );
}

#[test]
fn vlan_names_fit_ifnamsiz() {
    assert_eq!(desired::vlan_name("eth0", 1), "eth0.1");
    assert_eq!(desired::vlan_name("enp94s0f0np0", 1234), "enp94s0f0n.1234");
    assert_eq!(desired::vlan_name("enp94s0f0", 7), "enp94s0f0.7");
    assert_eq!(desired::vlan_name("abcdefghijklmno", 4094).len(), 15);
}

/// A droplet: the public NIC (primary, with the anchor IP in its own /16 behind its own
/// gateway) and the private NIC.
fn droplet_instance() -> Instance {
    let mut eth0 = Nic::new(mac("04:01:2a:0f:2a:01"), 0);
    eth0.ipv4 = vec!["104.131.20.105/18".parse().unwrap()];
    eth0.gateway4 = Some("104.131.0.1".parse().unwrap());
    eth0.routed_ipv4 = vec![crate::metadata::RoutedIpv4 {
        addr: "10.17.0.5/16".parse().unwrap(),
        gateway: "10.17.0.1".parse().unwrap(),
    }];
    eth0.public_ipv4s = vec!["45.55.96.47".parse().unwrap()];
    let mut eth1 = Nic::new(mac("04:01:2a:0f:2a:02"), 1);
    eth1.ipv4 = vec!["10.132.255.113/16".parse().unwrap()];
    eth1.gateway4 = Some("10.132.0.1".parse().unwrap());
    Instance {
        provider: ProviderKind::DigitalOcean,
        instance_id: "2756294".into(),
        location: "nyc3".into(),
        nics: vec![eth0, eth1],
        raw: serde_json::Value::Null,
    }
}

fn droplet_kernel() -> KernelState {
    let links = vec![
        link(2, "eth0", "04:01:2a:0f:2a:01", true),
        link(3, "eth1", "04:01:2a:0f:2a:02", false),
    ];
    let lease = Address {
        addr: "104.131.20.105/18".parse().unwrap(),
        ..dhcp_primary()
    };
    kernel_with(links, vec![lease])
}

#[test]
fn an_address_with_its_own_gateway_gets_its_own_table_even_on_the_primary_nic() {
    let mut kernel = droplet_kernel();
    let mut owned = Owned::default();
    let settings = PlanSettings::default();
    let instance = droplet_instance();
    let changes = reconcile(&instance, &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&changes, &kernel),
        [
            "ip link set dev eth1 up",
            "ip address add 10.17.0.5/16 dev eth0 noprefixroute",
            "ip address add 10.132.255.113/16 dev eth1 noprefixroute",
            "ip route add 10.17.0.0/16 dev eth0 table 20000 proto 201 scope link src 10.17.0.5",
            "ip route add default via 10.17.0.1 dev eth0 table 20000 proto 201",
            "ip route add 10.132.0.0/16 dev eth1 table 10001 proto 201 scope link src 10.132.255.113",
            "ip route add default via 10.132.0.1 dev eth1 table 10001 proto 201",
            "ip rule add from 10.17.0.5/32 lookup 20000 priority 3000",
            "ip rule add to 10.17.0.5/32 lookup 20000 priority 3000",
            "ip rule add from 10.132.255.113/32 lookup 10001 priority 3001",
            "ip rule add to 10.132.255.113/32 lookup 10001 priority 3001",
            "ip rule add to 169.254.169.254/32 lookup main priority 2999",
        ]
    );
    let want = desired(&instance, &kernel.links, &settings);
    assert_eq!(want.nic(mac("04:01:2a:0f:2a:01")).unwrap().table, None);
    assert!(
        kernel.routes.iter().all(|r| r.table != 254),
        "the main table is never touched"
    );
    assert_eq!(reconcile(&instance, &mut kernel, &mut owned, &settings), []);

    let mut moved = instance.clone();
    moved.nics[0].routed_ipv4[0].gateway = "10.17.0.254".parse().unwrap();
    let changes = reconcile(&moved, &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&changes, &kernel),
        [
            "ip route del default via 10.17.0.1 dev eth0 table 20000 proto 201",
            "ip route add default via 10.17.0.254 dev eth0 table 20000 proto 201",
        ]
    );

    moved.nics[0].routed_ipv4.clear();
    let changes = reconcile(&moved, &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&changes, &kernel),
        [
            "ip rule del to 10.17.0.5/32 lookup 20000 priority 3000",
            "ip rule del from 10.17.0.5/32 lookup 20000 priority 3000",
            "ip route del default via 10.17.0.254 dev eth0 table 20000 proto 201",
            "ip route del 10.17.0.0/16 dev eth0 table 20000 proto 201 scope link src 10.17.0.5",
            "sysctl -w net.ipv4.conf.eth0.promote_secondaries=1",
            "ip address del 10.17.0.5/16 dev eth0",
        ]
    );
}

#[test]
fn routed_tables_sit_a_step_above_the_nic_tables_and_never_wrap() {
    let settings = PlanSettings::default();
    assert_eq!(routed_table(&settings, 0, 0), Some(20000));
    assert_eq!(routed_table(&settings, 3, 1), Some(30003));
    let high = PlanSettings {
        table_base: u32::MAX - 5000,
        ..PlanSettings::default()
    };
    assert_eq!(routed_table(&high, 0, 0), None);
    let want = desired(&droplet_instance(), &droplet_kernel().links, &high);
    assert_eq!(
        want.skipped,
        [Skipped::IndexOutOfRange {
            mac: mac("04:01:2a:0f:2a:01"),
            index: 0
        }]
    );
}

/// What a tampered record may name: the main table's default route (proto boot), DHCP's
/// address, the main rule, and near-misses of our marks.
fn foreign_objects() -> (Vec<Address>, Vec<Route>, Vec<Rule>) {
    let route = |table, protocol| Route {
        table,
        dst: "0.0.0.0/0".parse().unwrap(),
        gateway: Some("10.4.0.1".parse().unwrap()),
        src: None,
        oif: Some(2),
        protocol,
        scope: Scope::Universe,
        kind: RouteType::Unicast,
        onlink: false,
    };
    let rule = |priority, table| Rule {
        family: crate::kernel::Family::V4,
        priority,
        src: None,
        dst: None,
        table,
    };
    let finite_noprefixroute = Address {
        addr: "10.4.0.8/24".parse().unwrap(),
        noprefixroute: true,
        ..dhcp_primary()
    };
    (
        vec![dhcp_primary(), finite_noprefixroute],
        vec![
            route(254, 3),
            route(254, 201),
            route(500, 201),
            route(10002, 4),
        ],
        vec![
            rule(32766, 254),
            rule(3001, 254),
            rule(1000, 10001),
            rule(3001, 200),
        ],
    )
}

#[test]
fn a_record_entry_without_our_marks_is_never_deleted_and_is_dropped() {
    let (addresses, routes, rules) = foreign_objects();
    let mut kernel = kernel_with(azure_links(), addresses.clone());
    kernel.routes = routes.clone();
    kernel.rules = rules.clone();
    let mut owned = Owned::default();
    let eth0 = Some((mac("00:22:48:04:fe:00"), 2));
    for a in &addresses {
        owned.record(eth0, &Change::AddAddress(a.clone()));
    }
    for r in &routes {
        owned.record(eth0, &Change::AddRoute(r.clone()));
    }
    for r in &rules {
        owned.record(None, &Change::AddRule(r.clone()));
    }
    let settings = PlanSettings::default();
    let (vetted, refused) = owned.prune(&kernel).vet(&kernel, &settings);
    assert!(vetted.is_empty(), "{vetted:?}");
    let refused: Vec<String> = {
        let name_of = link_namer(&kernel);
        refused
            .iter()
            .map(|d| format!("{}: {}", d.reason, ip_command(&d.delete, &name_of)))
            .collect()
    };
    assert_eq!(
        refused,
        [
            "a rule outside our priorities: ip rule del lookup 10001 priority 1000",
            "a rule pointing at a table not ours: ip rule del lookup 200 priority 3001",
            "a rule pointing at a table not ours: ip rule del lookup main priority 3001",
            "a rule outside our priorities: ip rule del lookup main priority 32766",
            "a route of another protocol than ours (201): ip route del default via 10.4.0.1 dev eth0 table main proto 3",
            "a route outside our tables and the local table: ip route del default via 10.4.0.1 dev eth0 table main proto 201",
            "a route outside our tables and the local table: ip route del default via 10.4.0.1 dev eth0 table 500 proto 201",
            "a route of another protocol than ours (201): ip route del default via 10.4.0.1 dev eth0 table 10002 proto 4",
            "an address without noprefixroute or with a finite lifetime (DHCP's or hand-made): ip address del 10.4.0.4/24 dev eth0",
            "an address without noprefixroute or with a finite lifetime (DHCP's or hand-made): ip address del 10.4.0.8/24 dev eth0",
        ]
    );
    let changes = reconcile(&azure_instance(), &mut kernel, &mut owned, &settings);
    let deletes: Vec<&PlannedChange> = changes
        .iter()
        .filter(|c| {
            matches!(
                c.change,
                Change::DelAddress(_) | Change::DelRoute(_) | Change::DelRule(_)
            )
        })
        .collect();
    assert!(deletes.is_empty(), "{deletes:?}");
    for object in &routes {
        assert!(kernel.routes.contains(object), "{object:?}");
    }
    for object in &rules {
        assert!(kernel.rules.contains(object), "{object:?}");
    }
    assert!(kernel.addresses.contains(&dhcp_primary()));
}

#[test]
fn our_own_objects_keep_their_marks_through_a_round() {
    let mut kernel = kernel_with(azure_links(), vec![dhcp_primary()]);
    let settings = PlanSettings::default();
    let mut owned = Owned::default();
    reconcile(&azure_instance(), &mut kernel, &mut owned, &settings);
    assert!(!owned.is_empty());
    let (vetted, refused) = owned.clone().vet(&kernel, &settings);
    assert_eq!(refused, []);
    assert_eq!(vetted, owned);
}

#[test]
fn a_batch_is_claimed_whole_before_it_is_sent() {
    let kernel = kernel_with(azure_links(), vec![dhcp_primary()]);
    let settings = PlanSettings::default();
    let want = desired(&azure_instance(), &kernel.links, &settings);
    let planned = diff(&want, &kernel, &Owned::default()).changes;
    let claimed = Owned::default().claiming(&planned).expect("the batch adds");
    let mut applied = kernel.clone();
    let mut recorded = Owned::default();
    for change in &planned {
        apply(&mut applied, &change.change);
        recorded.record(change.nic.map(|n| (n.mac, n.ifindex)), &change.change);
    }
    assert_eq!(claimed, recorded, "the claim is what a full apply records");
    let only_links: Vec<PlannedChange> = planned
        .into_iter()
        .filter(|c| matches!(c.change, Change::LinkUp { .. }))
        .collect();
    assert_eq!(only_links.len(), 1);
    assert_eq!(Owned::default().claiming(&only_links), None);
    assert_eq!(Owned::default().claiming(&[]), None);
}

#[test]
fn an_address_the_gate_refuses_is_never_added_and_ours_is_kept_not_removed() {
    let mut kernel = kernel_with(azure_links(), vec![dhcp_primary()]);
    let mut owned = Owned::default();
    let settings = PlanSettings::default();
    let mut instance = azure_instance();
    reconcile(&instance, &mut kernel, &mut owned, &settings);
    let before = kernel.clone();

    // 10.4.0.6 (ours on eth1) now listed on eth0 too: refused on both, kept where it is.
    instance.nics[0].ipv4.push("10.4.0.6/24".parse().unwrap());
    instance.nics[1].ipv4.push("127.0.0.5/24".parse().unwrap());
    let want = desired(&instance, &kernel.links, &settings);
    assert_eq!(
        want.refused
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "address 10.4.0.6/24 refused: also listed on NIC 00:0d:3a:5d:2d:66",
            "address 10.4.0.6/24 refused: also listed on NIC 00:22:48:04:fe:00",
            "address 127.0.0.5/24 refused: a loopback address",
        ]
    );
    let changes = reconcile(&instance, &mut kernel, &mut owned, &settings);
    assert_eq!(commands(&changes, &kernel), Vec::<String>::new());
    assert_eq!(kernel, before);
    assert!(owned.nics[&mac("00:0d:3a:5d:2d:66")]
        .addresses
        .iter()
        .any(|a| a.addr == "10.4.0.6/24".parse().unwrap()));

    // Once the metadata no longer lists it at all, it is removed as usual.
    instance.nics[0].ipv4.pop();
    instance.nics[1].ipv4.retain(|a| a.addr.octets()[3] == 5);
    let changes = reconcile(&instance, &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&changes, &kernel),
        [
            "ip rule del to 10.4.0.6/32 lookup 10001 priority 3001",
            "ip rule del from 10.4.0.6/32 lookup 10001 priority 3001",
            "sysctl -w net.ipv4.conf.eth1.promote_secondaries=1",
            "ip address del 10.4.0.6/24 dev eth1",
        ]
    );
}

/// The peers-parity additions: delegated prefixes, RA-learned routes, WSFC, MTU.
mod peers;
