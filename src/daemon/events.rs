//! What the kernel's change events mean to the daemon: which may concern what we configured,
//! and which trigger each pulls (a link that came or went: `LinkChanged`; a removal that may
//! have been ours: `KernelChanged`), debounced so a burst (50 rule deletions) becomes one
//! trigger. The monitor (`netlink::monitor`) only decodes the events.

use crate::kernel::{Route, RTPROT_CLOUD_NETWORK, TABLE_LOCAL};
use crate::netlink::monitor::{Event, Monitor};
use crate::trigger::Trigger;
use std::time::{Duration, Instant};

/// How long events keep being collected after the first relevant one.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(100);
/// The first lower table number that is not one of the kernel's reserved ones (main, local...).
const FIRST_CUSTOM_TABLE: u32 = 256;

/// Waits up to `timeout` for a relevant event; after the first one keeps collecting for
/// `debounce`, so a burst becomes one trigger. Each distinct trigger comes back once; empty
/// when nothing relevant happened. A failed receive is logged.
pub fn next_triggers(monitor: &mut Monitor, timeout: Duration, debounce: Duration) -> Vec<Trigger> {
    let mut triggers = Vec::new();
    collect(monitor, timeout, &mut triggers);
    if triggers.is_empty() {
        return triggers;
    }
    let deadline = Instant::now() + debounce;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if left.is_zero() {
            break;
        }
        collect(monitor, left, &mut triggers);
    }
    triggers
}

/// Adds the triggers of one batch to `triggers`, each at most once.
fn collect(monitor: &mut Monitor, timeout: Duration, triggers: &mut Vec<Trigger>) {
    match monitor.next_batch(timeout) {
        Ok(events) => {
            for event in events {
                log::debug!("netlink event: {event:?}");
                match trigger_for(&event) {
                    Some(trigger) if !triggers.contains(&trigger) => triggers.push(trigger),
                    _ => {}
                }
            }
        }
        Err(e) => log::warn!("netlink monitor: {e}"),
    }
}

/// What an event asks of the reconcile thread. Additions are ignored: our own writes cause
/// them. A removal matters when it may have been ours: any address or rule, and routes with
/// our protocol or in a table we use (custom tables and the local table). An IPv6 default
/// route learned from router advertisements (`proto ra`), added or removed, matters too: NIC
/// tables follow it. Lost events (an overflow) may have been anything.
fn trigger_for(event: &Event) -> Option<Trigger> {
    match event {
        Event::LinkNew(_) | Event::LinkDel { .. } => Some(Trigger::LinkChanged),
        Event::AddressDel(_) | Event::RuleDel(_) | Event::Overflow => Some(Trigger::KernelChanged),
        Event::RouteNew(route) | Event::RouteDel(route) if route.is_ra_default() => {
            Some(Trigger::KernelChanged)
        }
        Event::RouteDel(route) if may_be_ours(route) => Some(Trigger::KernelChanged),
        Event::RouteDel(_) | Event::AddressNew(_) | Event::RouteNew(_) | Event::RuleNew(_) => None,
    }
}

fn may_be_ours(route: &Route) -> bool {
    route.protocol == RTPROT_CLOUD_NETWORK
        || route.table >= FIRST_CUSTOM_TABLE
        || route.table == TABLE_LOCAL
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{Family, RouteType, Rule, Scope, TABLE_MAIN};

    fn route(table: u32, protocol: u8) -> Route {
        Route {
            table,
            dst: "10.1.0.0/24".parse().unwrap(),
            gateway: None,
            src: None,
            oif: Some(2),
            protocol,
            scope: Scope::Link,
            kind: RouteType::Unicast,
            onlink: false,
            advertised: None,
        }
    }

    fn rule() -> Rule {
        Rule {
            family: Family::V4,
            priority: 100,
            src: None,
            dst: None,
            table: 10001,
            suppress_prefixlen: None,
            suppress_ifgroup: None,
        }
    }

    #[test]
    fn removed_routes_trigger_only_when_they_may_be_ours() {
        let del = |table, protocol| trigger_for(&Event::RouteDel(route(table, protocol)));
        assert_eq!(
            del(TABLE_MAIN, RTPROT_CLOUD_NETWORK),
            Some(Trigger::KernelChanged)
        );
        assert_eq!(del(10001, 4), Some(Trigger::KernelChanged));
        assert_eq!(del(256, 2), Some(Trigger::KernelChanged));
        assert_eq!(del(TABLE_LOCAL, 2), Some(Trigger::KernelChanged));
        assert_eq!(del(TABLE_MAIN, 4), None);
        assert_eq!(del(100, 16), None);
    }

    #[test]
    fn additions_are_ignored_and_removals_trigger() {
        assert_eq!(trigger_for(&Event::RuleNew(rule())), None);
        assert_eq!(
            trigger_for(&Event::RouteNew(route(10001, RTPROT_CLOUD_NETWORK))),
            None
        );
        assert_eq!(
            trigger_for(&Event::RuleDel(rule())),
            Some(Trigger::KernelChanged)
        );
        assert_eq!(trigger_for(&Event::Overflow), Some(Trigger::KernelChanged));
        let gone = Event::LinkDel {
            index: 7,
            name: "eth1".to_string(),
        };
        assert_eq!(trigger_for(&gone), Some(Trigger::LinkChanged));
    }

    #[test]
    fn ra_default_routes_trigger_when_added_or_removed() {
        let ra_default = Route {
            table: TABLE_MAIN,
            dst: "::/0".parse().unwrap(),
            gateway: Some("fe80::1".parse().unwrap()),
            protocol: crate::kernel::RTPROT_RA,
            scope: Scope::Universe,
            ..route(TABLE_MAIN, 0)
        };
        for event in [
            Event::RouteNew(ra_default.clone()),
            Event::RouteDel(ra_default.clone()),
        ] {
            assert_eq!(trigger_for(&event), Some(Trigger::KernelChanged));
        }
        let ra_prefix = Route {
            dst: "2001:db8::/64".parse().unwrap(),
            ..ra_default.clone()
        };
        assert_eq!(trigger_for(&Event::RouteNew(ra_prefix)), None);
        let static_default = Route {
            protocol: 4,
            ..ra_default
        };
        assert_eq!(trigger_for(&Event::RouteNew(static_default)), None);
    }
}
