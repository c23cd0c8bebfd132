//! Plan tests of what the peers configure: EC2 delegated prefixes, NIC tables following the
//! kernel's RA-learned IPv6 default route, GCP forwarded IPv6s (WSFC changing nothing), OCI's MTU.

use super::*;
use crate::kernel::{Advertised, RouterPref};

fn ec2_prefix_instance() -> Instance {
    let mut eth0 = Nic::new(mac("00:22:48:04:fe:00"), 0);
    eth0.ipv4 = vec!["10.4.0.4/24".parse().unwrap()];
    eth0.gateway4 = Some("10.4.0.1".parse().unwrap());
    eth0.subnet4 = Some("10.4.0.0/24".parse().unwrap());
    eth0.delegated_prefixes = vec!["10.4.0.32/28".parse().unwrap()];
    let mut eth1 = Nic::new(mac("00:0d:3a:5d:2d:66"), 1);
    eth1.ipv4 = vec!["10.4.0.5/24".parse().unwrap()];
    eth1.gateway4 = Some("10.4.0.1".parse().unwrap());
    eth1.subnet4 = Some("10.4.0.0/24".parse().unwrap());
    eth1.subnet6 = Some("2001:db8:0:1::/64".parse().unwrap());
    eth1.delegated_prefixes = vec![
        "10.4.0.48/28".parse().unwrap(),
        "2001:db8:0:1:4::/80".parse().unwrap(),
    ];
    Instance {
        provider: ProviderKind::Aws,
        instance_id: "i-1".into(),
        location: "us-east-1".into(),
        nics: vec![eth0, eth1],
        raw: Default::default(),
    }
}

#[test]
fn delegated_prefixes_get_rules_at_the_nic_priority_and_are_never_addresses() {
    let mut kernel = kernel_with(azure_links(), vec![dhcp_primary()]);
    let mut owned = Owned::default();
    let instance = ec2_prefix_instance();
    let settings = PlanSettings::default();
    let changes = reconcile(&instance, &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&changes, &kernel),
        [
            "ip link set dev eth0 group 201",
            "ip link set dev eth1 up",
            "ip link set dev eth1 group 201",
            "ip address add 10.4.0.5/24 dev eth1 noprefixroute",
            "ip route add 10.4.0.0/24 dev eth1 table 10001 proto 201 scope link src 10.4.0.5",
            "ip route add default via 10.4.0.1 dev eth1 table 10001 proto 201",
            "ip rule add from 10.4.0.5/32 lookup 10001 priority 3001",
            "ip rule add to 10.4.0.5/32 lookup 10001 priority 3001",
            "ip rule add from 10.4.0.48/28 lookup 10001 priority 3001",
            "ip rule add to 10.4.0.48/28 lookup 10001 priority 3001",
            "ip -6 rule add from 2001:db8:0:1:4::/80 lookup 10001 priority 3001",
            "ip -6 rule add to 2001:db8:0:1:4::/80 lookup 10001 priority 3001",
            "ip rule add lookup main suppress_prefixlength 0 suppress_ifgroup 201 priority 2999",
            "ip -6 rule add lookup main suppress_prefixlength 0 suppress_ifgroup 201 priority 2999",
        ]
    );
    assert_eq!(
        reconcile(&instance, &mut kernel, &mut owned, &settings),
        [],
        "a second round changes nothing"
    );

    // A prefix the metadata no longer lists loses both its rules, nothing else.
    let mut fewer = instance.clone();
    fewer.nics[1].delegated_prefixes.truncate(1);
    let changes = reconcile(&fewer, &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&changes, &kernel),
        [
            "ip -6 rule del from 2001:db8:0:1:4::/80 lookup 10001 priority 3001",
            "ip -6 rule del to 2001:db8:0:1:4::/80 lookup 10001 priority 3001",
            "ip -6 rule del lookup main suppress_prefixlength 0 suppress_ifgroup 201 priority 2999",
        ]
    );
}

/// The Azure pair as EC2 would give it with IPv6 on the secondary NIC: no IPv6 gateway.
fn ec2_ipv6_instance() -> Instance {
    let mut instance = azure_instance();
    instance.provider = ProviderKind::Aws;
    instance.nics[1].ipv6 = vec!["2600:1f14:abc:de01::3c/64".parse().unwrap()];
    instance.nics[1].subnet6 = Some("2600:1f14:abc:de01::/64".parse().unwrap());
    instance
}

/// The default route the kernel learns from a router advertisement on `ifindex`.
fn ra_default(ifindex: u32, gateway: &str) -> Route {
    Route {
        table: crate::kernel::TABLE_MAIN,
        dst: "::/0".parse().unwrap(),
        gateway: Some(gateway.parse().unwrap()),
        src: None,
        oif: Some(ifindex),
        protocol: crate::kernel::RTPROT_RA,
        scope: Scope::Universe,
        kind: RouteType::Unicast,
        onlink: false,
        advertised: None,
    }
}

#[test]
fn a_nic_table_follows_the_ra_default_route_of_its_link() {
    let mut kernel = kernel_with(azure_links(), vec![dhcp_primary()]);
    let mut owned = Owned::default();
    let instance = ec2_ipv6_instance();
    let settings = PlanSettings::default();
    reconcile(&instance, &mut kernel, &mut owned, &settings);
    let v6_defaults = |kernel: &KernelState| {
        kernel
            .routes
            .iter()
            .filter(|r| r.table == 10001 && r.family() == crate::kernel::Family::V6)
            .filter(|r| r.dst.prefix() == 0)
            .count()
    };
    assert_eq!(v6_defaults(&kernel), 0, "no RA route, no default");

    kernel.routes.push(ra_default(3, "fe80::1"));
    let changes = reconcile(&instance, &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&changes, &kernel),
        ["ip -6 route add default via fe80::1 dev eth1 table 10001 proto 201"]
    );
    assert_eq!(reconcile(&instance, &mut kernel, &mut owned, &settings), []);
    let want = desired(&instance, &kernel.links, &settings);
    assert_eq!(
        want.nics[1]
            .routes
            .iter()
            .filter(|r| r.dst.prefix() == 0)
            .count(),
        1,
        "desired stays the metadata's wish: the IPv4 default only"
    );

    kernel
        .routes
        .retain(|r| r.protocol != crate::kernel::RTPROT_RA);
    kernel.routes.push(ra_default(3, "fe80::2"));
    kernel.routes.push(ra_default(2, "fe80::9"));
    let changes = reconcile(&instance, &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&changes, &kernel),
        [
            "ip -6 route del default via fe80::1 dev eth1 table 10001 proto 201",
            "ip -6 route add default via fe80::2 dev eth1 table 10001 proto 201",
        ],
        "a new router replaces the copy; eth0's RA route is not eth1's"
    );

    kernel
        .routes
        .retain(|r| r.protocol != crate::kernel::RTPROT_RA);
    let changes = reconcile(&instance, &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&changes, &kernel),
        ["ip -6 route del default via fe80::2 dev eth1 table 10001 proto 201"]
    );
    assert_eq!(v6_defaults(&kernel), 0);
}

#[test]
fn a_lost_record_adopts_the_ra_copy_so_it_still_goes_with_the_learned_route() {
    let mut kernel = kernel_with(azure_links(), vec![dhcp_primary()]);
    let mut owned = Owned::default();
    let instance = ec2_ipv6_instance();
    let settings = PlanSettings::default();
    kernel.routes.push(ra_default(3, "fe80::1"));
    reconcile(&instance, &mut kernel, &mut owned, &settings);
    let copy = ra::ra_copy(
        &desired(&instance, &kernel.links, &settings).nics[1],
        &kernel,
    );
    let copy = copy.expect("a copy of the RA route");

    let rebuilt = crate::plan::rebuild_owned(&instance, &kernel, &settings);
    assert!(rebuilt.nics[&instance.nics[1].mac].routes.contains(&copy));
    let mut owned = rebuilt;
    kernel
        .routes
        .retain(|r| r.protocol != crate::kernel::RTPROT_RA);
    let changes = reconcile(&instance, &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&changes, &kernel),
        ["ip -6 route del default via fe80::1 dev eth1 table 10001 proto 201"]
    );
}

#[test]
fn the_ra_route_is_not_copied_where_the_metadata_names_a_gateway_or_no_ipv6_is_routed() {
    let settings = PlanSettings::default();
    let mut kernel = kernel_with(azure_links(), vec![dhcp_primary()]);
    kernel.routes.push(ra_default(3, "fe80::1"));
    let mut with_gateway = ec2_ipv6_instance();
    with_gateway.nics[1].gateway6 = Some("fe80::1234:5678:9abc".parse().unwrap());
    let ipv4_only = azure_instance();
    for instance in [with_gateway, ipv4_only] {
        let want = desired(&instance, &kernel.links, &settings);
        assert_eq!(ra::ra_copy(&want.nics[1], &kernel), None);
        let diff = diff(&want, &KernelIndex::new(&kernel), &Owned::default());
        assert!(!diff
            .changes
            .iter()
            .any(|c| matches!(&c.change, Change::AddRoute(r) if r.gateway == Some("fe80::1".parse().unwrap()))));
    }
}

/// A GCP root document: eth0 with a forwarded IP of each family, `wsfc-addrs` as given.
fn gcp_forwarding(wsfc_addrs: &str) -> Instance {
    let doc = format!(
        r#"{{"instance":{{"id":"1","attributes":{{"wsfc-addrs":"{wsfc_addrs}"}},
          "networkInterfaces":[{{"mac":"00:22:48:04:fe:00","ip":"10.4.0.4",
            "gateway":"10.4.0.1","subnetmask":"255.255.255.0",
            "forwardedIps":["34.1.1.1"],"forwardedIpv6s":["2600:1900:4000:8::1"]}}]}}}}"#
    );
    crate::metadata::gcp::parse(&doc).unwrap()
}

#[test]
fn forwarded_ipv6s_are_local_routes_and_wsfc_addresses_change_nothing() {
    let mut kernel = kernel_with(azure_links(), vec![dhcp_primary()]);
    let mut owned = Owned::default();
    let settings = PlanSettings::default();
    let changes = reconcile(&gcp_forwarding(""), &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&changes, &kernel),
        [
            "ip route add local 34.1.1.1/32 dev eth0 table local proto 201 scope host",
            "ip -6 route add local 2600:1900:4000:8::1/128 dev eth0 table local proto 201 scope host",
        ]
    );
    let changes = reconcile(
        &gcp_forwarding("2600:1900:4000:8::1,34.1.1.1"),
        &mut kernel,
        &mut owned,
        &settings,
    );
    assert_eq!(
        commands(&changes, &kernel),
        Vec::<String>::new(),
        "WSFC is Windows-only in google-guest-agent: on Linux every forwarded IP stays local"
    );
}

/// The MTU the diff sets on each planned NIC of `instance` on `links` (None: none to set).
fn mtus_set(instance: &Instance, links: &[Link], settings: &PlanSettings) -> Vec<Option<u32>> {
    let want = desired(instance, links, settings);
    let kernel = kernel_with(links.to_vec(), Vec::new());
    let changes = diff(&want, &KernelIndex::new(&kernel), &Owned::default()).changes;
    let set_on = |nic: &NicPlan| {
        changes.iter().find_map(|c| match c.change {
            Change::SetMtu { ifindex, mtu, .. } if ifindex == nic.ifindex => Some(mtu),
            _ => None,
        })
    };
    want.nics.iter().map(set_on).collect()
}

fn mtus(instance: &Instance, settings: &PlanSettings) -> Vec<Option<u32>> {
    mtus_set(instance, &azure_links(), settings)
}

#[test]
fn oci_nics_get_9000_unless_the_metadata_or_the_config_says_otherwise() {
    let mut oci = azure_instance();
    oci.provider = ProviderKind::Oracle;
    let defaults = PlanSettings::default();
    assert_eq!(mtus(&oci, &defaults), [Some(9000), Some(9000)]);
    let configured = PlanSettings {
        mtu: Some(1500),
        ..PlanSettings::default()
    };
    assert_eq!(
        mtus(&oci, &configured),
        [None, None],
        "1500 is what the links have: nothing to set"
    );
    oci.nics[1].mtu = Some(8000);
    assert_eq!(
        mtus(&oci, &configured),
        [None, Some(8000)],
        "metadata first"
    );

    // Elsewhere a link keeps its MTU unless the metadata or the config gives one.
    let azure = azure_instance();
    assert_eq!(mtus(&azure, &defaults), [None, None]);
    let jumbo = PlanSettings {
        mtu: Some(9001),
        ..PlanSettings::default()
    };
    assert_eq!(mtus(&azure, &jumbo), [Some(9001), Some(9001)]);
    let mut gcp = gcp_instance();
    gcp.nics[0].mtu = None;
    let links = [
        link(2, "eth0", "42:01:0a:80:00:46", true),
        link(3, "eth1", "42:01:c0:a8:01:02", true),
    ];
    assert_eq!(mtus_set(&gcp, &links, &jumbo), [Some(9001), Some(8244)]);
}

#[test]
fn an_oci_mtu_is_set_once_and_shows_in_the_summary() {
    let mut oci = azure_instance();
    oci.provider = ProviderKind::Oracle;
    let mut kernel = kernel_with(azure_links(), vec![dhcp_primary()]);
    let mut owned = Owned::default();
    let settings = PlanSettings::default();
    let changes = reconcile(&oci, &mut kernel, &mut owned, &settings);
    let link_changes: Vec<String> = commands(&changes, &kernel)
        .into_iter()
        .filter(|c| c.starts_with("ip link"))
        .collect();
    assert_eq!(
        link_changes,
        [
            "ip link set dev eth0 mtu 9000",
            "ip link set dev eth0 group 201",
            "ip link set dev eth1 up",
            "ip link set dev eth1 mtu 9000",
            "ip link set dev eth1 group 201",
        ]
    );
    assert_eq!(
        summary(&changes, &link_namer(&kernel))[..2],
        [
            "eth0: mtu 9000, group 201, +1 address",
            "eth1: link up, mtu 9000, group 201, +2 addresses, +1 route table, +4 rules",
        ]
    );
    assert_eq!(reconcile(&oci, &mut kernel, &mut owned, &settings), []);
}

/// eth1's RA default route from `gateway` with a router preference and lifetime.
fn advertised(gateway: &str, pref: RouterPref, expires: u32) -> Route {
    Route {
        advertised: Some(Advertised {
            pref,
            expires: Some(expires),
        }),
        ..ra_default(3, gateway)
    }
}

#[test]
fn the_copy_follows_the_router_the_kernel_uses_with_its_preference_and_lifetime() {
    let mut kernel = kernel_with(azure_links(), vec![dhcp_primary()]);
    let mut owned = Owned::default();
    let instance = ec2_ipv6_instance();
    let settings = PlanSettings::default();
    reconcile(&instance, &mut kernel, &mut owned, &settings);
    // Learned in this order: the kernel lists them so, and uses the high-preference one.
    kernel
        .routes
        .push(advertised("fe80::1", RouterPref::Medium, 1800));
    kernel
        .routes
        .push(advertised("fe80::2", RouterPref::High, 600));
    let changes = reconcile(&instance, &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&changes, &kernel),
        ["ip -6 route add default via fe80::2 dev eth1 table 10001 proto 201 pref high expires 600"]
    );

    // The lifetime counting down is not a change.
    for route in &mut kernel.routes {
        if let Some(a) = route.advertised.as_mut() {
            a.expires = a.expires.map(|e| e - 30);
        }
    }
    assert_eq!(reconcile(&instance, &mut kernel, &mut owned, &settings), []);

    // An advertisement renewed the learned route's lifetime (no event): the copy is renewed.
    for route in kernel.routes.iter_mut().filter(|r| r.table == 254) {
        if let Some(a) = route.advertised.as_mut() {
            a.expires = a.expires.map(|e| e + 30);
        }
    }
    let changes = reconcile(&instance, &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&changes, &kernel),
        [
            "ip -6 route del default via fe80::2 dev eth1 table 10001 proto 201 pref high",
            "ip -6 route add default via fe80::2 dev eth1 table 10001 proto 201 pref high expires 600",
        ]
    );
    for route in kernel.routes.iter_mut().filter(|r| r.table == 254) {
        if let Some(a) = route.advertised.as_mut() {
            a.expires = a.expires.map(|e| e - 30);
        }
    }

    // The high router now announces low preference: the kernel goes to fe80::1, so does the copy.
    kernel
        .routes
        .retain(|r| r.gateway != Some("fe80::2".parse().unwrap()) || r.table != 254);
    kernel
        .routes
        .push(advertised("fe80::2", RouterPref::Low, 600));
    let changes = reconcile(&instance, &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&changes, &kernel),
        [
            "ip -6 route del default via fe80::2 dev eth1 table 10001 proto 201 pref high",
            "ip -6 route add default via fe80::1 dev eth1 table 10001 proto 201 pref medium expires 1770",
        ]
    );
}

#[test]
fn among_routers_of_equal_preference_the_kernel_uses_the_first_it_lists() {
    let routes = [
        advertised("fe80::9", RouterPref::Low, 100),
        advertised("fe80::5", RouterPref::Medium, 100),
        advertised("fe80::3", RouterPref::Medium, 100),
    ];
    let chosen = ra::kernels_choice(routes.iter()).and_then(|r| r.gateway);
    assert_eq!(chosen, Some("fe80::5".parse().unwrap()));
    assert_eq!(ra::kernels_choice([].iter()), None);
}
