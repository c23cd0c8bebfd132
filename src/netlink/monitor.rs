//! Kernel change events: a multicast subscription to link, address, route and rule
//! notifications decoded by message type, and their mapping to debounced reconcile triggers.
//! The reconcile thread owns the subscription and polls it beside its trigger channel.

use super::frame::Frames;
use super::socket::Socket;
use super::{decode, NetlinkError};
use crate::kernel::{Address, Link, Route, Rule, RTPROT_CLOUD_NETWORK, TABLE_LOCAL};
use crate::trigger::Trigger;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// rtnetlink multicast groups (linux/rtnetlink.h `RTNLGRP_*`); neli has no constants for them.
const RTNLGRP_LINK: u32 = 1;
const RTNLGRP_IPV4_IFADDR: u32 = 5;
const RTNLGRP_IPV4_ROUTE: u32 = 7;
const RTNLGRP_IPV4_RULE: u32 = 8;
const RTNLGRP_IPV6_IFADDR: u32 = 9;
const RTNLGRP_IPV6_ROUTE: u32 = 11;
const RTNLGRP_IPV6_RULE: u32 = 19;
const GROUPS: [u32; 7] = [
    RTNLGRP_LINK,
    RTNLGRP_IPV4_IFADDR,
    RTNLGRP_IPV6_IFADDR,
    RTNLGRP_IPV4_ROUTE,
    RTNLGRP_IPV6_ROUTE,
    RTNLGRP_IPV4_RULE,
    RTNLGRP_IPV6_RULE,
];

/// How long events keep being collected after the first relevant one.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(100);
/// A batch ends after this many events even if more are queued, so a flood cannot starve it.
const MAX_BATCH_EVENTS: usize = 4096;
/// The first lower table number that is not one of the kernel's reserved ones (main, local...).
const FIRST_CUSTOM_TABLE: u32 = 256;

/// One change the kernel announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    LinkNew(Link),
    LinkDel {
        index: u32,
        name: String,
    },
    AddressNew(Address),
    AddressDel(Address),
    RouteNew(Route),
    RouteDel(Route),
    RuleNew(Rule),
    RuleDel(Rule),
    /// The receive queue overflowed (ENOBUFS): events were lost, only a full re-read is safe.
    Overflow,
}

/// A multicast subscription in the network namespace of the thread that opened it.
pub struct Monitor {
    socket: Socket,
}

impl Monitor {
    /// Subscribes to link, IPv4/IPv6 address, route and rule notifications.
    pub fn open() -> Result<Monitor, NetlinkError> {
        Ok(Monitor {
            socket: Socket::subscribe(&GROUPS)?,
        })
    }

    /// The subscription's socket, to poll beside other descriptors.
    pub fn raw_fd(&self) -> RawFd {
        self.socket.raw_fd()
    }

    /// Waits up to `timeout` for a relevant event; after the first one keeps collecting for
    /// `debounce`, so a burst (50 rule deletions) becomes one trigger. Each distinct trigger
    /// comes back once; empty when nothing relevant happened. A failed receive is logged.
    pub fn next_triggers(&mut self, timeout: Duration, debounce: Duration) -> Vec<Trigger> {
        let mut triggers = Vec::new();
        self.collect(timeout, &mut triggers);
        if triggers.is_empty() {
            return triggers;
        }
        let deadline = Instant::now() + debounce;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if left.is_zero() {
                break;
            }
            self.collect(left, &mut triggers);
        }
        triggers
    }

    /// Adds the triggers of one batch to `triggers`, each at most once.
    fn collect(&mut self, timeout: Duration, triggers: &mut Vec<Trigger>) {
        match self.next_batch(timeout) {
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

    /// Waits up to `timeout` for the first message, then takes whatever else is queued.
    /// Empty when nothing came. Messages that do not decode are skipped (logged at debug).
    pub fn next_batch(&mut self, timeout: Duration) -> Result<Vec<Event>, NetlinkError> {
        let mut events = Vec::new();
        let mut wait = timeout;
        while events.len() < MAX_BATCH_EVENTS {
            match self.socket.next_datagram(wait) {
                Ok(Some(datagram)) => decode_datagram(datagram, &mut events),
                Ok(None) => break,
                Err(e) if e.errno() == Some(libc::ENOBUFS) => {
                    if !events.contains(&Event::Overflow) {
                        events.push(Event::Overflow);
                    }
                }
                Err(e) => return Err(e),
            }
            wait = Duration::ZERO;
        }
        Ok(events)
    }
}

fn decode_datagram(datagram: &[u8], events: &mut Vec<Event>) {
    for frame in Frames::new(datagram) {
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => {
                log::debug!("netlink monitor: skipping the rest of a datagram: {e}");
                return;
            }
        };
        match decode_event(frame.ty, frame.body) {
            Ok(Some(event)) => events.push(event),
            Ok(None) => {}
            Err(e) => log::debug!("netlink monitor: skipping message type {}: {e}", frame.ty),
        }
    }
}

/// The event in one message; `None` for message types and families we do not follow.
fn decode_event(ty: u16, body: &[u8]) -> Result<Option<Event>, NetlinkError> {
    Ok(match ty {
        libc::RTM_NEWLINK => Some(Event::LinkNew(decode::link(body)?)),
        libc::RTM_DELLINK => {
            let gone = decode::link(body)?;
            Some(Event::LinkDel {
                index: gone.index,
                name: gone.name,
            })
        }
        libc::RTM_NEWADDR => decode::address(body)?.map(Event::AddressNew),
        libc::RTM_DELADDR => decode::address(body)?.map(Event::AddressDel),
        libc::RTM_NEWROUTE => decode::route(body)?.map(Event::RouteNew),
        libc::RTM_DELROUTE => decode::route(body)?.map(Event::RouteDel),
        libc::RTM_NEWRULE => decode::rule(body)?.map(Event::RuleNew),
        libc::RTM_DELRULE => decode::rule(body)?.map(Event::RuleDel),
        _ => None,
    })
}

/// What an event asks of the reconcile thread. Additions are ignored: our own writes cause
/// them. A removal matters when it may have been ours: any address or rule, and routes with
/// our protocol or in a table we use (custom tables and the local table). An IPv6 default
/// route learned from router advertisements (`proto ra`), added or removed, matters too: NIC
/// tables follow it.
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
    use crate::kernel::{Family, RouteType, Scope, TABLE_MAIN};

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

    #[test]
    fn unknown_message_types_are_not_events() {
        assert_eq!(decode_event(libc::RTM_NEWNEIGH, &[0; 12]).unwrap(), None);
    }

    #[test]
    fn a_garbled_message_is_skipped_and_the_rest_still_read() {
        let mut datagram = message(libc::RTM_DELRULE, &[1, 2]);
        datagram.extend(message(libc::RTM_NEWNEIGH, &[0; 12]));
        let ipv4_main_rule = [libc::AF_INET as u8, 0, 0, 0, 254, 0, 0, 1, 0, 0, 0, 0];
        datagram.extend(message(libc::RTM_DELRULE, &ipv4_main_rule));
        let mut events = Vec::new();
        decode_datagram(&datagram, &mut events);
        let expected = Rule {
            family: Family::V4,
            priority: 0,
            src: None,
            dst: None,
            table: TABLE_MAIN,
            suppress_prefixlen: None,
            suppress_ifgroup: None,
        };
        assert_eq!(events, vec![Event::RuleDel(expected)]);
    }

    #[test]
    fn a_length_past_the_datagram_ends_it() {
        let mut truncated = message(libc::RTM_NEWLINK, &[0; 16]);
        truncated[0] = 200;
        let mut events = Vec::new();
        decode_datagram(&truncated, &mut events);
        assert!(events.is_empty());
    }

    /// One netlink message: header then a body padded to 4 bytes.
    fn message(ty: u16, body: &[u8]) -> Vec<u8> {
        let len = 16 + body.len();
        let mut msg = (len as u32).to_ne_bytes().to_vec();
        msg.extend(ty.to_ne_bytes());
        msg.extend([0; 10]);
        msg.extend(body);
        msg.resize(len.next_multiple_of(4), 0);
        msg
    }
}
