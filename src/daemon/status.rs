//! Builds what the API shows about each configured link from one round's plan.

use crate::kernel::KernelState;
use crate::plan::desired::match_link;
use crate::plan::render::route_spec;
use crate::plan::Desired;
use crate::snapshot::{LinkStatus, RuleStatus};

use crate::plan::render::link_namer;

/// One entry per matched NIC: its addresses, table, routes and rules as planned (and, after a
/// successful apply, as configured); then one per NIC unknown this round that has a link.
pub(crate) fn link_statuses(desired: &Desired, kernel: &KernelState) -> Vec<LinkStatus> {
    let mut links = planned_links(desired, kernel);
    links.extend(desired.unknown.iter().filter_map(|unknown| {
        let link = match_link(unknown.mac, &kernel.links).ok()?;
        Some(LinkStatus {
            name: link.name.clone(),
            ifindex: link.index,
            mac: unknown.mac,
            device_index: unknown.index,
            table: None,
            addresses: Vec::new(),
            routes: Vec::new(),
            rules: Vec::new(),
            refused: Vec::new(),
            unknown: Some(unknown.error.clone()),
        })
    }));
    links
}

fn planned_links(desired: &Desired, kernel: &KernelState) -> Vec<LinkStatus> {
    let name_of = link_namer(kernel);
    desired
        .nics
        .iter()
        .map(|nic| LinkStatus {
            name: nic.name.clone(),
            ifindex: nic.ifindex,
            mac: nic.mac,
            device_index: nic.index,
            table: nic.table,
            addresses: nic.addresses.iter().map(|a| a.addr).collect(),
            routes: nic.routes.iter().map(|r| route_spec(r, &name_of)).collect(),
            rules: nic
                .rules
                .iter()
                .map(|r| RuleStatus {
                    priority: r.priority,
                    from: r.src,
                    to: r.dst,
                    table: r.table,
                })
                .collect(),
            refused: desired
                .refused
                .iter()
                .filter(|r| r.mac == nic.mac)
                .map(ToString::to_string)
                .collect(),
            unknown: None,
        })
        .collect()
}
