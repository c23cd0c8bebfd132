//! Plan tests of the desired state: which link a NIC is, its tables, routes and rules, and the
//! tables of addresses with their own gateway.

use super::*;

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
            "ip link set dev eth0 group 201",
            "ip link set dev eth1 up",
            "ip link set dev eth1 group 201",
            "ip address add 10.4.0.8/24 dev eth0 noprefixroute",
            "ip address add 10.4.0.5/24 dev eth1 noprefixroute",
            "ip address add 10.4.0.6/24 dev eth1 noprefixroute",
            "ip route add 10.4.0.0/24 dev eth1 table 10001 proto 201 scope link src 10.4.0.5",
            "ip route add default via 10.4.0.1 dev eth1 table 10001 proto 201",
            "ip rule add from 10.4.0.5/32 lookup 10001 priority 3001",
            "ip rule add to 10.4.0.5/32 lookup 10001 priority 3001",
            "ip rule add from 10.4.0.6/32 lookup 10001 priority 3001",
            "ip rule add to 10.4.0.6/32 lookup 10001 priority 3001",
            "ip rule add lookup main suppress_prefixlength 0 suppress_ifgroup 201 priority 2999",
        ]
    );
    assert_eq!(
        summary(&changes, &link_namer(&kernel)),
        [
            "eth0: group 201, +1 address",
            "eth1: link up, group 201, +2 addresses, +1 route table, +4 rules",
            "main rule: +1 rule",
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
            "ip link set dev eth0 group 201",
            "ip link set dev eth1 mtu 8244",
            "ip link set dev eth1 group 201",
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
            "ip rule add lookup main suppress_prefixlength 0 suppress_ifgroup 201 priority 2999",
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
    let main = crate::plan::desired::main_rule(crate::kernel::Family::V4, &PlanSettings::default());
    assert_eq!(want.global_rules, [main]);
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
        raw: Default::default(),
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
            "ip link set dev eth0 group 201",
            "ip link set dev eth1 up",
            "ip link set dev eth1 group 201",
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
            "ip rule add lookup main suppress_prefixlength 0 suppress_ifgroup 201 priority 2999",
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
            "ip rule del from 10.17.0.5/32 lookup 20000 priority 3000",
            "ip rule del to 10.17.0.5/32 lookup 20000 priority 3000",
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

#[test]
fn the_mtu_wanted_is_the_same_whatever_the_link_has_and_only_the_diff_compares() {
    let settings = PlanSettings {
        mtu: Some(1500),
        ..PlanSettings::default()
    };
    let at_1500 = azure_links();
    let mut eth1_at_9000 = azure_links();
    eth1_at_9000[2].mtu = 9000;
    let want = desired(&azure_instance(), &at_1500, &settings);
    assert_eq!(
        want.nics.iter().map(|n| n.mtu).collect::<Vec<_>>(),
        [Some(1500), Some(1500)]
    );
    assert_eq!(
        desired(&azure_instance(), &eth1_at_9000, &settings),
        want,
        "the link's MTU changes nothing in the wish"
    );
    let set_mtu = |links: Vec<Link>| {
        let kernel = kernel_with(links, Vec::new());
        let changes = diff(&want, &KernelIndex::new(&kernel), &Owned::default()).changes;
        commands(&changes, &kernel)
            .into_iter()
            .filter(|c| c.contains(" mtu "))
            .collect::<Vec<_>>()
    };
    assert_eq!(set_mtu(at_1500), Vec::<String>::new());
    assert_eq!(set_mtu(eth1_at_9000), ["ip link set dev eth1 mtu 1500"]);
}
