//! The opt-outs: what they keep us off is never added, and what was ours there is dropped
//! from the record, never deleted.
use super::*;
use crate::plan::OptOuts;

fn with(optouts: OptOuts) -> PlanSettings {
    PlanSettings {
        optouts,
        ..PlanSettings::default()
    }
}

/// The Azure VM configured with no opt-out: the kernel and the record after the round.
fn configured_azure() -> (KernelState, Owned) {
    let mut kernel = kernel_with(azure_links(), vec![dhcp_primary()]);
    let mut owned = Owned::default();
    reconcile(
        &azure_instance(),
        &mut kernel,
        &mut owned,
        &PlanSettings::default(),
    );
    (kernel, owned)
}

fn deletes(changes: &[PlannedChange]) -> Vec<&Change> {
    changes
        .iter()
        .map(|c| &c.change)
        .filter(|c| {
            matches!(
                c,
                Change::DelAddress(_)
                    | Change::DelRoute(_)
                    | Change::DelRule(_)
                    | Change::DelVlan { .. }
            )
        })
        .collect()
}

fn has_address(kernel: &KernelState, addr: &str) -> bool {
    let addr: IpNet = addr.parse().unwrap();
    kernel.addresses.iter().any(|a| a.addr == addr)
}

#[test]
fn secondary_addresses_off_adds_none_and_releases_ours_without_deleting() {
    let (mut kernel, mut owned) = configured_azure();
    assert!(has_address(&kernel, "10.4.0.8/24") && has_address(&kernel, "10.4.0.6/24"));
    let settings = with(OptOuts {
        secondary_addresses: false,
        ..OptOuts::default()
    });
    let changes = reconcile(&azure_instance(), &mut kernel, &mut owned, &settings);
    assert_eq!(deletes(&changes), Vec::<&Change>::new());
    let recorded: Vec<String> = owned
        .nics
        .values()
        .flat_map(|n| n.addresses.iter().map(|a| a.addr.to_string()))
        .collect();
    assert_eq!(recorded, ["10.4.0.5/24"]);
    let mut fewer = azure_instance();
    fewer.nics[0].ipv4.truncate(1);
    fewer.nics[1].ipv4.truncate(1);
    let changes = reconcile(&fewer, &mut kernel, &mut owned, &settings);
    assert_eq!(deletes(&changes), Vec::<&Change>::new());
    assert!(has_address(&kernel, "10.4.0.8/24") && has_address(&kernel, "10.4.0.6/24"));
    let fresh = desired(&azure_instance(), &kernel.links, &settings);
    let wanted: Vec<String> = fresh
        .nics
        .iter()
        .flat_map(|n| n.addresses.iter().map(|a| a.addr.to_string()))
        .collect();
    assert_eq!(wanted, ["10.4.0.4/24", "10.4.0.5/24"]);
}

#[test]
fn a_nic_left_alone_by_name_mac_or_index_is_forgotten_not_torn_down() {
    let eth1 = mac("00:0d:3a:5d:2d:66");
    let by_name = OptOuts {
        interfaces: vec!["eth1".into()],
        ..OptOuts::default()
    };
    let by_mac = OptOuts {
        macs: vec![eth1],
        ..OptOuts::default()
    };
    let by_index = OptOuts {
        device_indexes: vec![(1, 7)],
        ..OptOuts::default()
    };
    for optouts in [by_name, by_mac, by_index] {
        let (mut kernel, mut owned) = configured_azure();
        let before = kernel.clone();
        assert!(owned.nics.contains_key(&eth1));
        let settings = with(optouts.clone());
        let changes = reconcile(&azure_instance(), &mut kernel, &mut owned, &settings);
        assert_eq!(changes, [], "{optouts:?}");
        assert_eq!(kernel, before);
        assert!(!owned.nics.contains_key(&eth1), "{optouts:?}");
        assert!(owned.nics.contains_key(&mac("00:22:48:04:fe:00")));
        let want = desired(&azure_instance(), &kernel.links, &settings);
        assert_eq!(want.nic(eth1), None);
        assert_eq!(want.released.nics.iter().collect::<Vec<_>>(), [&eth1]);
    }
}

#[test]
fn policy_routing_off_plans_no_table_and_no_rule_and_keeps_ours() {
    let (mut kernel, mut owned) = configured_azure();
    let rules_before = kernel.rules.len();
    assert!(rules_before > 0);
    let settings = with(OptOuts {
        policy_routing: false,
        ..OptOuts::default()
    });
    let changes = reconcile(&azure_instance(), &mut kernel, &mut owned, &settings);
    assert_eq!(deletes(&changes), Vec::<&Change>::new());
    assert_eq!(kernel.rules.len(), rules_before);
    assert!(owned.global_rules.is_empty());
    assert!(owned
        .nics
        .values()
        .all(|n| n.rules.is_empty() && n.routes.is_empty()));
    let fresh = desired(&azure_instance(), &kernel.links, &settings);
    assert!(fresh.global_rules.is_empty());
    assert!(fresh
        .nics
        .iter()
        .all(|n| n.table.is_none() && n.rules.is_empty()));
    assert!(fresh.nics.iter().all(|n| n.routes.is_empty()));
}

fn gcp_links() -> Vec<Link> {
    vec![
        link(2, "ens4", "42:01:0a:80:00:46", true),
        link(3, "ens5", "42:01:c0:a8:01:02", true),
    ]
}

fn local_routes(kernel: &KernelState) -> Vec<String> {
    kernel
        .routes
        .iter()
        .filter(|r| r.kind == RouteType::Local)
        .map(|r| r.dst.to_string())
        .collect()
}

#[test]
fn gcp_disable_address_manager_or_the_switches_make_no_local_routes_and_keep_ours() {
    let attribute = |scope: &str| {
        let mut raw = serde_json::json!({"instance": {}});
        raw[scope] = serde_json::json!({"attributes": {"disable-address-manager": "true"}});
        raw
    };
    let switched = OptOuts {
        alias_ranges: false,
        forwarded_ips: false,
        ..OptOuts::default()
    };
    for (raw, optouts) in [
        (attribute("instance"), OptOuts::default()),
        (attribute("project"), OptOuts::default()),
        (serde_json::json!({}), switched),
    ] {
        let mut kernel = kernel_with(gcp_links(), Vec::new());
        let mut owned = Owned::default();
        reconcile(
            &gcp_instance(),
            &mut kernel,
            &mut owned,
            &PlanSettings::default(),
        );
        let ours = local_routes(&kernel);
        assert_eq!(ours, ["10.24.3.0/24", "34.1.2.3/32", "192.168.9.0/28"]);
        let mut disabled = gcp_instance();
        disabled.raw = std::sync::Arc::new(raw.clone());
        let settings = with(optouts);
        let changes = reconcile(&disabled, &mut kernel, &mut owned, &settings);
        assert_eq!(deletes(&changes), Vec::<&Change>::new(), "{raw}");
        assert_eq!(local_routes(&kernel), ours);
        let recorded = owned.nics.values().flat_map(|n| n.routes.iter());
        assert!(
            recorded.clone().all(|r| r.kind != RouteType::Local),
            "{raw}"
        );
        let want = desired(&disabled, &kernel.links, &settings);
        assert!(want
            .nics
            .iter()
            .all(|n| n.routes.iter().all(|r| r.kind != RouteType::Local)));
        let ranges = want.nics.iter().flat_map(|n| n.rules.iter()).filter(|r| {
            r.src.is_some_and(|s| {
                s.to_string() == "10.24.3.0/24" || s.to_string() == "192.168.9.0/28"
            })
        });
        assert_eq!(ranges.count(), 0);
    }
}

#[test]
fn without_opt_outs_nothing_is_released() {
    let want = desired(&azure_instance(), &azure_links(), &PlanSettings::default());
    assert!(want.released.is_empty());
}
