//! Plan tests of OCI bare metal's VLAN NICs: their links made, configured, kept and deleted.

use super::*;

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
        raw: Default::default(),
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
            "ip link set dev eth0 group 201",
            "ip link set dev eth0.1 group 201",
            "ip address add 10.0.4.5/24 dev eth0.1 noprefixroute",
            "ip route add 10.0.4.0/24 dev eth0.1 table 10001 proto 201 scope link src 10.0.4.5",
            "ip route add default via 10.0.4.1 dev eth0.1 table 10001 proto 201",
            "ip rule add from 10.0.4.5/32 lookup 10001 priority 3001",
            "ip rule add to 10.0.4.5/32 lookup 10001 priority 3001",
            "ip rule add lookup main suppress_prefixlength 0 suppress_ifgroup 201 priority 2999",
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
            "ip rule del from 10.0.4.5/32 lookup 10001 priority 3001",
            "ip rule del to 10.0.4.5/32 lookup 10001 priority 3001",
            "ip rule del lookup main suppress_prefixlength 0 suppress_ifgroup 201 priority 2999",
            "ip link set dev eth0 group 0",
            "ip link del dev eth0.1",
        ]
    );
    assert_eq!(
        summary(&changes, &link_namer(&kernel)),
        [
            "eth0: group 0",
            "if3: -VLAN link eth0.1, -2 rules",
            "main rule: -1 rule",
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
        "ip link set dev eth0 group 201"
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

/// Issue 24: two VLAN VNICs with tag 5 on one parent: neither is made nor configured (one
/// link cannot be both), each skipped with the other named; a link of ours is kept.
#[test]
fn two_vlan_nics_with_one_tag_on_one_parent_are_both_skipped() {
    let mut instance = bare_metal_instance();
    instance.nics[1].vlan = Some(crate::metadata::Vlan {
        parent: mac("90:e2:ba:d4:f1:68"),
        id: 5,
    });
    let mut kernel = bare_metal_kernel();
    let mut owned = Owned::default();
    let settings = PlanSettings::default();
    reconcile(&instance, &mut kernel, &mut owned, &settings);
    reconcile(&instance, &mut kernel, &mut owned, &settings);
    let mut twin = Nic::new(mac("02:00:17:05:cf:52"), 2);
    twin.ipv4 = vec!["10.0.5.5/24".parse().unwrap()];
    twin.vlan = instance.nics[1].vlan;
    instance.nics.push(twin);
    let want = desired(&instance, &kernel.links, &settings);
    let clash = |m: &str, other: &str| Skipped::VlanClash {
        mac: mac(m),
        parent: mac("90:e2:ba:d4:f1:68"),
        id: 5,
        other: mac(other),
    };
    assert_eq!(
        want.skipped,
        [
            clash("02:00:17:05:cf:51", "02:00:17:05:cf:52"),
            clash("02:00:17:05:cf:52", "02:00:17:05:cf:51"),
        ]
    );
    assert_eq!(
        want.skipped[0].to_string(),
        "NIC 02:00:17:05:cf:51: VLAN 5 on NIC 90:e2:ba:d4:f1:68 is listed for NIC \
         02:00:17:05:cf:52 too; neither is configured"
    );
    assert!(want.vlans.is_empty(), "{:?}", want.vlans);
    let changes = reconcile(&instance, &mut kernel, &mut owned, &settings);
    assert!(
        changes
            .iter()
            .all(|c| !matches!(c.change, Change::AddVlan { .. } | Change::DelVlan { .. })),
        "no second eth0.5 add, and ours kept: {changes:?}"
    );
    assert!(kernel.links.iter().any(|l| l.name == "eth0.5"));
}

/// Issue 24: a VLAN VNIC carrying the MAC of another link (a second physical NIC): its VLAN
/// link is not made.
#[test]
fn a_vlan_nic_whose_mac_another_link_carries_is_skipped() {
    let mut instance = bare_metal_instance();
    let mut kernel = bare_metal_kernel();
    kernel
        .links
        .push(link(3, "eth1", "02:00:17:05:cf:51", true));
    let settings = PlanSettings::default();
    let want = desired(&instance, &kernel.links, &settings);
    let skip = Skipped::MacInUse {
        mac: mac("02:00:17:05:cf:51"),
        link: "eth1".into(),
    };
    assert_eq!(want.skipped, std::slice::from_ref(&skip));
    assert_eq!(
        skip.to_string(),
        "NIC 02:00:17:05:cf:51: its MAC is carried by link eth1, which is not its VLAN link; \
         not configured"
    );
    let mut owned = Owned::default();
    let changes = reconcile(&instance, &mut kernel, &mut owned, &settings);
    assert!(
        changes
            .iter()
            .all(|c| !matches!(c.change, Change::AddVlan { .. })),
        "{changes:?}"
    );
    instance.nics.truncate(1);
    assert!(desired(&instance, &kernel.links, &settings)
        .skipped
        .is_empty());
}

#[test]
fn vlan_names_fit_ifnamsiz() {
    assert_eq!(desired::vlan_name("eth0", 1), "eth0.1");
    assert_eq!(desired::vlan_name("enp94s0f0np0", 1234), "enp94s0f0n.1234");
    assert_eq!(desired::vlan_name("enp94s0f0", 7), "enp94s0f0.7");
    assert_eq!(desired::vlan_name("abcdefghijklmno", 4094).len(), 15);
}
