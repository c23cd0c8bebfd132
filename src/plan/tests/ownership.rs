//! Plan tests of the ownership record: its JSON, adopting a lost record, and vetting one that
//! names objects without our marks.

use super::*;

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

/// The kernel after a round for `azure_instance` whose record is then lost, with 10.4.0.8 given
/// a finite lifetime and the gateway routes another protocol (4): neither marked as ours.
fn kernel_of_a_lost_record(settings: &PlanSettings) -> KernelState {
    let mut kernel = kernel_with(azure_links(), vec![dhcp_primary()]);
    reconcile(
        &azure_instance(),
        &mut kernel,
        &mut Owned::default(),
        settings,
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
    kernel
}

#[test]
fn a_lost_record_adopts_only_what_is_wanted_and_marked_as_ours() {
    let settings = PlanSettings::default();
    let mut kernel = kernel_of_a_lost_record(&settings);
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
            "ip rule add lookup main suppress_prefixlength 0 suppress_ifgroup 201 priority 2999",
            "ip rule add to 10.4.0.5/32 lookup 10001 priority 3001",
        ],
        "not 10.4.0.6 (no longer listed), not 10.4.0.8 (finite lifetime), not the proto 4 route"
    );
    assert_eq!(adopted.len(), 5);
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
            "ip rule del from 10.4.0.5/32 lookup 10001 priority 3001",
            "ip rule del to 10.4.0.5/32 lookup 10001 priority 3001",
            "ip rule del lookup main suppress_prefixlength 0 suppress_ifgroup 201 priority 2999",
            "ip route del 10.4.0.0/24 dev eth1 table 10001 proto 201 scope link src 10.4.0.5",
            "sysctl -w net.ipv4.conf.eth1.promote_secondaries=1",
            "ip address del 10.4.0.5/24 dev eth1",
            "ip link set dev eth0 group 0",
            "ip link set dev eth1 group 0",
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
        advertised: None,
    };
    let rule = |priority, table| Rule {
        family: crate::kernel::Family::V4,
        priority,
        src: None,
        dst: None,
        table,
        suppress_prefixlen: None,
        suppress_ifgroup: None,
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
    let (vetted, refused) = owned
        .prune(&KernelIndex::new(&kernel))
        .vet(&kernel, &settings);
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
    let planned = diff(&want, &KernelIndex::new(&kernel), &Owned::default()).changes;
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
