//! Routes a NIC's table takes from the kernel rather than from the metadata: where the metadata
//! names no IPv6 gateway (EC2, GCP, Alibaba without `ipv6-gateway`), the IPv6 default route the
//! kernel learned from router advertisements on the NIC's link (`proto ra` in main) is copied
//! into the NIC's table with our protocol, and follows it: a new gateway replaces the copy, the
//! copy goes when the learned route goes. Pure: the metadata's desired state and a kernel
//! snapshot in, the state the diff compares with the kernel out; `desired` itself stays the
//! metadata's wish.

use super::desired::{default_route, Desired, NicPlan};
use crate::kernel::{Family, KernelState, Route, TABLE_MAIN};
use std::borrow::Cow;
use std::net::IpAddr;

/// `desired` with each NIC's copy of its link's RA default route added to its routes; borrowed
/// unchanged when no NIC has one to copy.
pub fn followed<'a>(desired: &'a Desired, kernel: &KernelState) -> Cow<'a, Desired> {
    let copies: Vec<(usize, Route)> = desired
        .nics
        .iter()
        .enumerate()
        .filter_map(|(position, plan)| ra_copy(plan, kernel).map(|route| (position, route)))
        .collect();
    if copies.is_empty() {
        return Cow::Borrowed(desired);
    }
    let mut followed = desired.clone();
    for (position, route) in copies {
        followed.nics[position].routes.push(route);
    }
    Cow::Owned(followed)
}

/// The copy for one NIC: only when its table serves IPv6 (it has IPv6 rules) and the metadata
/// gives it no IPv6 default route, and the kernel has an RA default route on its link. Of
/// several (two routers) the lowest gateway, so the choice does not flap with dump order.
pub fn ra_copy(plan: &NicPlan, kernel: &KernelState) -> Option<Route> {
    let table = plan.table?;
    let serves_v6 = plan
        .rules
        .iter()
        .any(|r| r.family == Family::V6 && r.table == table);
    let has_default = plan
        .routes
        .iter()
        .any(|r| r.table == table && r.family() == Family::V6 && r.dst.prefix() == 0);
    if !serves_v6 || has_default {
        return None;
    }
    let gateway = kernel
        .routes
        .iter()
        .filter(|r| r.is_ra_default() && r.table == TABLE_MAIN && r.oif == Some(plan.ifindex))
        .filter_map(|r| match r.gateway {
            Some(IpAddr::V6(gateway)) => Some(gateway),
            _ => None,
        })
        .min()?;
    Some(default_route(table, IpAddr::V6(gateway), plan.ifindex))
}
