//! Plan tests of the diff: what is added, replaced, deleted or left alone when the metadata,
//! the kernel or foreign objects change.

use super::*;

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
            "ip rule del from 10.4.0.6/32 lookup 10001 priority 3001",
            "ip rule del to 10.4.0.6/32 lookup 10001 priority 3001",
            "sysctl -w net.ipv4.conf.eth1.promote_secondaries=1",
            "ip address del 10.4.0.6/24 dev eth1",
        ]
    );

    instance.nics[1].ipv4.clear();
    let changes = reconcile(&instance, &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&changes, &kernel),
        [
            "ip rule del from 10.4.0.5/32 lookup 10001 priority 3001",
            "ip rule del to 10.4.0.5/32 lookup 10001 priority 3001",
            "ip rule del lookup main suppress_prefixlength 0 suppress_ifgroup 201 priority 2999",
            "ip route del default via 10.4.0.1 dev eth1 table 10001 proto 201",
            "ip route del 10.4.0.0/24 dev eth1 table 10001 proto 201 scope link src 10.4.0.5",
            "sysctl -w net.ipv4.conf.eth1.promote_secondaries=1",
            "ip address del 10.4.0.5/24 dev eth1",
            "ip link set dev eth0 group 0",
            "ip link set dev eth1 group 0",
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
        suppress_prefixlen: None,
        suppress_ifgroup: None,
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
        advertised: None,
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
            "ip rule del from 10.4.0.5/32 lookup 10001 priority 3001",
            "ip rule del to 10.4.0.5/32 lookup 10001 priority 3001",
            "ip rule del from 10.4.0.6/32 lookup 10001 priority 3001",
            "ip rule del to 10.4.0.6/32 lookup 10001 priority 3001",
            "ip rule del lookup main suppress_prefixlength 0 suppress_ifgroup 201 priority 2999",
            "ip link set dev eth0 group 0",
        ]
    );
    assert!(!owned.nics.contains_key(&mac("00:0d:3a:5d:2d:66")));
    assert!(owned.global_rules.is_empty());
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
            "ip address del 10.4.0.6/24 dev eth1",
            "ip address del 10.4.0.5/24 dev eth1",
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
            "ip address add 2001:db8::4/128 dev eth0 noprefixroute nodad",
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
        advertised: None,
    });
    let want = desired(&azure_instance(), &kernel.links, &PlanSettings::default());
    let result = diff(&want, &KernelIndex::new(&kernel), &Owned::default());
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
            "ip rule del from 10.4.0.6/32 lookup 10001 priority 3001",
            "ip rule del to 10.4.0.6/32 lookup 10001 priority 3001",
            "sysctl -w net.ipv4.conf.eth1.promote_secondaries=1",
            "ip address del 10.4.0.6/24 dev eth1",
        ]
    );
}

#[test]
fn addresses_go_newest_first_and_rules_oldest_first_so_the_kernel_walks_and_promotes_nothing() {
    let mut kernel = kernel_with(azure_links(), vec![dhcp_primary()]);
    let mut owned = Owned::default();
    let settings = PlanSettings::default();
    let mut instance = azure_instance();
    let ip = |s: &str| s.parse::<IpNet>().unwrap();
    instance.nics[1].ipv4 = ["10.4.0.5/24", "10.4.0.6/24", "10.4.0.7/24", "10.4.0.9/24"]
        .map(|s| s.parse().unwrap())
        .to_vec();
    reconcile(&instance, &mut kernel, &mut owned, &settings);
    let foreign = Address {
        ifindex: 3,
        addr: ip("10.4.0.50/24"),
        noprefixroute: false,
        valid_lft: u32::MAX,
        preferred_lft: u32::MAX,
    };
    kernel.addresses.push(foreign.clone());

    // 10.4.0.5 is the subnet's primary on eth1 (the kernel's first); the rest are secondaries.
    instance.nics[1].ipv4 = vec!["10.4.0.7/24".parse().unwrap()];
    let changes = reconcile(&instance, &mut kernel, &mut owned, &settings);
    let commands = commands(&changes, &kernel);
    let of = |kind: &str| -> Vec<&str> {
        let kind = format!("ip {kind} del");
        commands
            .iter()
            .filter(|c| c.starts_with(&kind))
            .map(String::as_str)
            .collect()
    };
    let rule = |selector: &str| format!("ip rule del {selector}/32 lookup 10001 priority 3001");
    let rules: Vec<String> = ["10.4.0.5", "10.4.0.6", "10.4.0.9"]
        .iter()
        .flat_map(|ip| [rule(&format!("from {ip}")), rule(&format!("to {ip}"))])
        .collect();
    assert_eq!(
        of("rule"),
        rules,
        "rules as the kernel lists them: oldest first"
    );
    let deletes = of("address");
    assert_eq!(
        deletes,
        [
            "ip address del 10.4.0.9/24 dev eth1",
            "ip address del 10.4.0.6/24 dev eth1",
            "ip address del 10.4.0.5/24 dev eth1",
        ]
    );
    let eth1: Vec<IpNet> = kernel
        .addresses
        .iter()
        .filter(|a| a.ifindex == 3)
        .map(|a| a.addr)
        .collect();
    assert_eq!(
        eth1,
        [ip("10.4.0.7/24"), foreign.addr],
        "the foreign one stays"
    );
}
