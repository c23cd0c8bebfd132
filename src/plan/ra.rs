//! Routes a NIC's table takes from the kernel rather than from the metadata: where the metadata
//! names no IPv6 gateway (EC2, GCP, Alibaba without `ipv6-gateway`), the IPv6 default route the
//! kernel learned from router advertisements on the NIC's link (`proto ra` in main) is copied
//! into the NIC's table with our protocol, and follows it: of two routers the one the kernel
//! uses (preference first), with that router's preference and the lifetime left; a new gateway
//! or preference replaces the copy, the copy goes when the learned route goes (or expires with
//! its lifetime, and is copied again with the lifetime the kernel has then). Pure: the metadata's desired state and a kernel
//! snapshot in, the state the diff compares with the kernel out; `desired` itself stays the
//! metadata's wish.

use super::desired::{default_route, Desired, NicPlan};
use super::index::KernelIndex;
use crate::kernel::{Family, KernelState, Route, TABLE_MAIN};
use std::borrow::Cow;
use std::cmp::Reverse;
use std::net::IpAddr;

/// `desired` with each NIC's copy of its link's RA default route added to its routes; borrowed
/// unchanged when no NIC has one to copy.
pub(crate) fn followed<'a>(desired: &'a Desired, kernel: &KernelState) -> Cow<'a, Desired> {
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
/// several (two routers) the one the kernel itself uses ([`kernels_choice`]), with its router's
/// preference and the lifetime it has left.
pub(crate) fn ra_copy(plan: &NicPlan, kernel: &KernelState) -> Option<Route> {
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
    let learned = kernel
        .routes
        .iter()
        .filter(|r| r.is_ra_default() && r.table == TABLE_MAIN && r.oif == Some(plan.ifindex))
        .filter(|r| matches!(r.gateway, Some(IpAddr::V6(_))));
    let chosen = kernels_choice(learned)?;
    let gateway = chosen.gateway?;
    Some(Route {
        advertised: chosen.advertised,
        ..default_route(table, gateway, plan.ifindex)
    })
}

/// Of a link's RA default routes (all of one metric), the one the kernel sends by: the highest
/// router preference (`rt6_score_route`), then the first in the kernel's list, which keeps them
/// in the order learned (`fib6_add_rt2node` appends). The kernel may move to the next router of
/// equal preference when the first becomes unreachable; the copy stays with the first until the
/// kernel drops its route.
pub(crate) fn kernels_choice<'a>(learned: impl Iterator<Item = &'a Route>) -> Option<&'a Route> {
    learned.min_by_key(|r| Reverse(r.pref()))
}

/// Seconds the learned route may outlive our copy of it before the copy is made again.
const RENEW_MARGIN: u32 = 10;

/// True when `route` (a copy of a learned route) would expire in the kernel well before the
/// learned route: the kernel renews a learned route's lifetime at each advertisement without a
/// word (no event), so a round renews the copy, lest the table lose its IPv6 default.
pub(super) fn outlives_its_copy(route: &Route, kernel: &KernelIndex) -> bool {
    let Some(wanted) = route.advertised.and_then(|a| a.expires) else {
        return false;
    };
    let have = kernel.route(route).and_then(|k| k.advertised?.expires);
    wanted > have.unwrap_or(0).saturating_add(RENEW_MARGIN)
}
