//! Kernel change events: a multicast subscription to link, address, route and rule
//! notifications, read in batches and decoded by message type into typed events. What an
//! event means is for the caller to decide; it polls the subscription's descriptor beside its
//! own.

use super::frame::Frames;
use super::socket::Socket;
use super::{decode, NetlinkError};
use crate::kernel::{Address, Link, Route, Rule};
use std::os::fd::RawFd;
use std::time::Duration;

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

/// A batch ends after this many events even if more are queued, so a flood cannot starve it.
const MAX_BATCH_EVENTS: usize = 4096;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{Family, TABLE_MAIN};

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
