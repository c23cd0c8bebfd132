//! Decoding of the rtnetlink objects we read — `RTM_NEWLINK`/`DELLINK` (`ifinfomsg`),
//! `RTM_NEWADDR`/`DELADDR` (`ifaddrmsg`), `RTM_NEWROUTE`/`DELROUTE` (`rtmsg`) and
//! `RTM_NEWRULE`/`DELRULE` (`fib_rule_hdr`) — by hand, straight from the receive buffer into
//! the `kernel` types: one pass over each message's attributes, nothing copied or allocated
//! but a link's name and kind. Dumps and monitor events both decode here; a reconcile reads
//! about a thousand objects, so this is the daemon's hot path.
//!
//! The constants and fixed header sizes come from neli (its rtnl message types and constant
//! enums); only what neli lacks is spelled here or beside the encoders (`IFA_F_NOPREFIXROUTE`,
//! `RTNH_F_ONLINK`).

mod payload;

use super::addr::IFA_F_NOPREFIXROUTE;
use super::error::NetlinkError;
use super::frame::{read_u16, read_u32, Attrs};
use super::route::{kind_from, scope_from, RouteLookup, RTA_PREF, RTNH_F_ONLINK, USER_HZ};
use crate::kernel::{Address, Advertised, Link, OperState, Route, RouterPref, Rule};
use crate::net::Mac;
use neli::consts::rtnl::{Arphrd, Frattr, Ifa, Iff, Ifla, IflaInfo, Rta, RtmF};
use neli::rtnl::{Fibmsg, Ifaddrmsg, Ifinfomsg, Rtmsg};
use neli::Header;
use payload::{any, decode_error, family, ip, net, number, short, split, text, within};

/// The link in an `RTM_NEWLINK` or `RTM_DELLINK`.
pub(super) fn link(body: &[u8]) -> Result<Link, NetlinkError> {
    let (header, attrs) = split(body, Ifinfomsg::header_size(), "link")?;
    let index = read_u32(header, 4);
    if index > i32::MAX as u32 {
        return Err(decode_error("link", format!("index {}", index as i32)));
    }
    let flags = Iff::from_bits_retain(read_u32(header, 8));
    let mut link = Link {
        index,
        name: String::new(),
        mac: None,
        mtu: 0,
        up: flags.contains(Iff::UP),
        oper_state: OperState::Unknown,
        kind: None,
        master: None,
        loopback: flags.contains(Iff::LOOPBACK),
        ethernet: Arphrd::from(read_u16(header, 2)) == Arphrd::Ether,
        group: 0,
    };
    for attr in Attrs::new(attrs) {
        let (ty, payload) = attr.map_err(|e| within("link", e))?;
        match Ifla::from(ty) {
            Ifla::Ifname => link.name = text(payload),
            Ifla::Address => link.mac = <[u8; 6]>::try_from(payload).ok().map(Mac),
            Ifla::Mtu => link.mtu = number(payload, "link", "IFLA_MTU")?,
            Ifla::Group => link.group = number(payload, "link", "IFLA_GROUP")?,
            Ifla::Master => {
                link.master = Some(number(payload, "link", "IFLA_MASTER")?).filter(|m| *m != 0)
            }
            Ifla::Operstate => {
                link.oper_state = payload
                    .first()
                    .map_or(OperState::Unknown, |s| OperState::from_kernel(*s))
            }
            Ifla::Linkinfo => link.kind = info_kind(payload)?,
            _ => {}
        }
    }
    Ok(link)
}

/// `IFLA_INFO_KIND` inside `IFLA_LINKINFO`.
fn info_kind(linkinfo: &[u8]) -> Result<Option<String>, NetlinkError> {
    for attr in Attrs::new(linkinfo) {
        let (ty, payload) = attr.map_err(|e| within("link IFLA_LINKINFO", e))?;
        if IflaInfo::from(ty) == IflaInfo::Kind {
            return Ok(Some(text(payload)));
        }
    }
    Ok(None)
}

/// The address in an `RTM_NEWADDR` or `RTM_DELADDR`: `IFA_LOCAL`, else `IFA_ADDRESS` (the
/// peer on point-to-point links, the local address otherwise). None for families other than
/// IPv4 and IPv6 and for a message with neither attribute.
pub(super) fn address(body: &[u8]) -> Result<Option<Address>, NetlinkError> {
    let (header, attrs) = split(body, Ifaddrmsg::header_size(), "address")?;
    let Some(family) = family(header[0]) else {
        return Ok(None);
    };
    let mut local = None;
    let mut peer = None;
    let mut flags = u32::from(header[2]);
    let mut lifetimes = (u32::MAX, u32::MAX);
    for attr in Attrs::new(attrs) {
        let (ty, payload) = attr.map_err(|e| within("address", e))?;
        match Ifa::from(ty) {
            Ifa::Local => local = Some(ip(family, payload, "address", "IFA_LOCAL")?),
            Ifa::Address => peer = Some(ip(family, payload, "address", "IFA_ADDRESS")?),
            Ifa::Flags => flags = number(payload, "address", "IFA_FLAGS")?,
            Ifa::Cacheinfo => lifetimes = cacheinfo(payload)?,
            _ => {}
        }
    }
    let Some(addr) = local.or(peer) else {
        return Ok(None);
    };
    let (preferred_lft, valid_lft) = lifetimes;
    Ok(Some(Address {
        ifindex: read_u32(header, 4),
        addr: net(addr, header[1], "address")?,
        noprefixroute: flags & IFA_F_NOPREFIXROUTE != 0,
        valid_lft,
        preferred_lft,
    }))
}

/// `struct ifa_cacheinfo`: preferred, then valid lifetime, in seconds.
fn cacheinfo(payload: &[u8]) -> Result<(u32, u32), NetlinkError> {
    if payload.len() < 8 {
        return Err(short("address", "IFA_CACHEINFO", payload.len()));
    }
    Ok((read_u32(payload, 0), read_u32(payload, 4)))
}

/// The route in an `RTM_NEWROUTE` or `RTM_DELROUTE`; the table from `RTA_TABLE` (the header's
/// u8 cannot hold tables above 255). None for cache (cloned) entries and non-IP families.
pub(super) fn route(body: &[u8]) -> Result<Option<Route>, NetlinkError> {
    let (header, attrs) = split(body, Rtmsg::header_size(), "route")?;
    let Some(family) = family(header[0]) else {
        return Ok(None);
    };
    let flags = read_u32(header, 8);
    if RtmF::from_bits_retain(flags).contains(RtmF::CLONED) {
        return Ok(None);
    }
    let mut route = Route {
        table: u32::from(header[4]),
        dst: any(family),
        gateway: None,
        src: None,
        oif: None,
        protocol: header[5],
        scope: scope_from(header[6]),
        kind: kind_from(header[7]),
        onlink: flags & RTNH_F_ONLINK != 0,
        advertised: None,
    };
    let (mut pref, mut expires) = (None, None);
    for attr in Attrs::new(attrs) {
        let (ty, payload) = attr.map_err(|e| within("route", e))?;
        match Rta::from(ty) {
            Rta::Table => route.table = number(payload, "route", "RTA_TABLE")?,
            Rta::Dst => {
                route.dst = net(ip(family, payload, "route", "RTA_DST")?, header[1], "route")?
            }
            Rta::Gateway => route.gateway = Some(ip(family, payload, "route", "RTA_GATEWAY")?),
            Rta::Prefsrc => route.src = Some(ip(family, payload, "route", "RTA_PREFSRC")?),
            Rta::Oif => route.oif = Some(number(payload, "route", "RTA_OIF")?),
            Rta::Cacheinfo => expires = route_expires(payload)?,
            _ if ty == RTA_PREF => pref = payload.first().copied().map(RouterPref::from_kernel),
            _ => {}
        }
    }
    route.advertised = advertised(pref, expires);
    Ok(Some(route))
}

/// The seconds an expiring route has left, rounded up, from `struct rta_cacheinfo`'s
/// `rta_expires` (clock ticks, the third u32; 0 for a route that never expires).
fn route_expires(payload: &[u8]) -> Result<Option<u32>, NetlinkError> {
    if payload.len() < 12 {
        return Err(short("route", "RTA_CACHEINFO", payload.len()));
    }
    let ticks = read_u32(payload, 8) as i32;
    Ok((ticks > 0).then(|| (ticks as u32).div_ceil(USER_HZ)))
}

/// None for what every route is unless told otherwise: medium, never expiring.
fn advertised(pref: Option<RouterPref>, expires: Option<u32>) -> Option<Advertised> {
    let pref = pref.unwrap_or(RouterPref::Medium);
    (pref != RouterPref::Medium || expires.is_some()).then_some(Advertised { pref, expires })
}

/// The answer to an `RTM_GETROUTE` lookup (flagged cloned: it is the route the kernel made for
/// that one packet): its table (`RTA_TABLE`), link, gateway and preferred source.
pub(super) fn lookup(body: &[u8]) -> Result<RouteLookup, NetlinkError> {
    let (header, attrs) = split(body, Rtmsg::header_size(), "route lookup")?;
    let Some(family) = family(header[0]) else {
        return Err(decode_error(
            "route lookup",
            format!("address family {}", header[0]),
        ));
    };
    let mut found = RouteLookup {
        table: u32::from(header[4]),
        oif: None,
        gateway: None,
        prefsrc: None,
    };
    let what = "route lookup";
    for attr in Attrs::new(attrs) {
        let (ty, payload) = attr.map_err(|e| within(what, e))?;
        match Rta::from(ty) {
            Rta::Table => found.table = number(payload, what, "RTA_TABLE")?,
            Rta::Oif => found.oif = Some(number(payload, what, "RTA_OIF")?),
            Rta::Gateway => found.gateway = Some(ip(family, payload, what, "RTA_GATEWAY")?),
            Rta::Prefsrc => found.prefsrc = Some(ip(family, payload, what, "RTA_PREFSRC")?),
            _ => {}
        }
    }
    Ok(found)
}

/// The rule in an `RTM_NEWRULE` or `RTM_DELRULE`; the table from `FRA_TABLE` (the header says
/// 252 for tables above 255). None for families other than IPv4 and IPv6.
pub(super) fn rule(body: &[u8]) -> Result<Option<Rule>, NetlinkError> {
    let (header, attrs) = split(body, Fibmsg::header_size(), "rule")?;
    let Some(family) = family(header[0]) else {
        return Ok(None);
    };
    let mut rule = Rule {
        family,
        priority: 0,
        src: None,
        dst: None,
        table: u32::from(header[4]),
        suppress_prefixlen: None,
        suppress_ifgroup: None,
    };
    for attr in Attrs::new(attrs) {
        let (ty, payload) = attr.map_err(|e| within("rule", e))?;
        match Frattr::from(ty) {
            Frattr::Priority => rule.priority = number(payload, "rule", "FRA_PRIORITY")?,
            Frattr::Table => rule.table = number(payload, "rule", "FRA_TABLE")?,
            Frattr::SuppressPrefixlen => {
                rule.suppress_prefixlen =
                    unset_if_all_ones(number(payload, "rule", "FRA_SUPPRESS_PREFIXLEN")?)
            }
            Frattr::SuppressIfgroup => {
                rule.suppress_ifgroup =
                    unset_if_all_ones(number(payload, "rule", "FRA_SUPPRESS_IFGROUP")?)
            }
            Frattr::Src => {
                let ip = ip(family, payload, "rule", "FRA_SRC")?;
                rule.src = Some(net(ip, header[2], "rule")?);
            }
            Frattr::Dst => {
                let ip = ip(family, payload, "rule", "FRA_DST")?;
                rule.dst = Some(net(ip, header[1], "rule")?);
            }
            _ => {}
        }
    }
    Ok(Some(rule))
}

/// The kernel reports an unset suppressor as -1.
fn unset_if_all_ones(value: u32) -> Option<u32> {
    (value != u32::MAX).then_some(value)
}

#[cfg(test)]
mod tests;
