//! Taking over from google-guest-agent: its `proto 66` local routes for forwarded IPs and alias
//! ranges we also want are replaced in place by ours, so none is left when the metadata drops
//! the item; its routes for anything else, or on another link, are left alone.
use super::*;
use crate::kernel::{RTPROT_CLOUD_NETWORK, RTPROT_GCE_AGENT, TABLE_LOCAL};

fn gcp_links() -> Vec<Link> {
    vec![
        link(2, "ens4", "42:01:0a:80:00:46", true),
        link(3, "ens5", "42:01:c0:a8:01:02", true),
    ]
}

/// The local routes we want, as google-guest-agent makes them (`proto 66`).
fn agent_routes(instance: &Instance, links: &[Link]) -> Vec<Route> {
    let want = desired(instance, links, &PlanSettings::default());
    want.nics
        .iter()
        .flat_map(|n| n.routes.iter())
        .filter(|r| r.table == TABLE_LOCAL)
        .map(|r| Route {
            protocol: RTPROT_GCE_AGENT,
            ..r.clone()
        })
        .collect()
}

fn local(kernel: &KernelState) -> Vec<(String, u8)> {
    let mut found: Vec<(String, u8)> = kernel
        .routes
        .iter()
        .filter(|r| r.table == TABLE_LOCAL)
        .map(|r| (r.dst.to_string(), r.protocol))
        .collect();
    found.sort();
    found
}

#[test]
fn the_agent_s_routes_for_items_we_want_become_ours_and_go_when_the_metadata_drops_them() {
    let links = gcp_links();
    let mut kernel = kernel_with(links.clone(), Vec::new());
    kernel.routes = agent_routes(&gcp_instance(), &links);
    let mut stale = kernel.routes[0].clone();
    stale.dst = "34.9.9.9/32".parse().unwrap();
    kernel.routes.push(stale);
    let mut owned = Owned::default();
    let changes = reconcile(
        &gcp_instance(),
        &mut kernel,
        &mut owned,
        &PlanSettings::default(),
    );
    let adopted: Vec<String> = commands(&changes, &kernel)
        .into_iter()
        .filter(|c| c.contains("replace"))
        .collect();
    assert_eq!(
        adopted,
        [
            "ip route replace local 10.24.3.0/24 dev ens4 table local proto 201 scope host",
            "ip route replace local 34.1.2.3/32 dev ens4 table local proto 201 scope host",
            "ip route replace local 192.168.9.0/28 dev ens5 table local proto 201 scope host",
        ]
    );
    let ours = RTPROT_CLOUD_NETWORK;
    assert_eq!(
        local(&kernel),
        [
            ("10.24.3.0/24".to_string(), ours),
            ("192.168.9.0/28".to_string(), ours),
            ("34.1.2.3/32".to_string(), ours),
            ("34.9.9.9/32".to_string(), RTPROT_GCE_AGENT),
        ]
    );
    let again = reconcile(
        &gcp_instance(),
        &mut kernel,
        &mut owned,
        &PlanSettings::default(),
    );
    assert_eq!(again, []);
    let mut dropped = gcp_instance();
    dropped.nics[0].forwarded.clear();
    dropped.nics[0].ip_ranges.clear();
    let changes = reconcile(&dropped, &mut kernel, &mut owned, &PlanSettings::default());
    let deleted: Vec<String> = commands(&changes, &kernel)
        .into_iter()
        .filter(|c| c.contains(" del "))
        .collect();
    assert_eq!(deleted.len(), 2, "{deleted:?}");
    assert_eq!(
        local(&kernel),
        [
            ("192.168.9.0/28".to_string(), ours),
            ("34.9.9.9/32".to_string(), RTPROT_GCE_AGENT),
        ]
    );
}

#[test]
fn an_agent_route_on_another_link_or_of_another_kind_is_a_conflict_not_taken() {
    let links = gcp_links();
    let mut kernel = kernel_with(links.clone(), Vec::new());
    let mut routes = agent_routes(&gcp_instance(), &links);
    routes.iter_mut().for_each(|r| r.oif = Some(3));
    routes.retain(|r| r.dst.to_string() != "192.168.9.0/28");
    let mut other_proto = routes[0].clone();
    other_proto.protocol = 4;
    other_proto.dst = "192.168.9.0/28".parse().unwrap();
    routes.push(other_proto);
    kernel.routes = routes.clone();
    let want = desired(&gcp_instance(), &kernel.links, &PlanSettings::default());
    let result = diff(&want, &KernelIndex::new(&kernel), &Owned::default());
    assert!(
        result
            .changes
            .iter()
            .all(|c| !matches!(c.change, Change::AdoptRoute(_))),
        "{:?}",
        result.changes
    );
    let mut conflicts: Vec<String> = result.conflicts.iter().map(|r| r.dst.to_string()).collect();
    conflicts.sort();
    assert_eq!(conflicts, ["10.24.3.0/24", "192.168.9.0/28", "34.1.2.3/32"]);
}
