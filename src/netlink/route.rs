//! Routes: the dump request, the add and delete requests, the lookup request (`ip route get`)
//! with its query and answer types, and the kernel's numbers for route scopes and types
//! (shared with the decoder).

use super::codec::{attr, ip_attr, rt_family};
use super::error::NetlinkError;
use super::socket::{encode, Request};
use crate::kernel::{Family, Route, RouteType, Scope};
use neli::{
    consts::{
        nl::NlmF,
        rtnl::{RtAddrFamily, RtScope, RtTable, Rta, Rtm, RtmF, Rtn, Rtprot},
    },
    rtnl::RtmsgBuilder,
    types::{Buffer, RtBuffer},
};
use std::net::IpAddr;

/// RTNH_F_ONLINK (linux/rtnetlink.h), which neli's `RtmF` lacks.
pub(super) const RTNH_F_ONLINK: u32 = 4;
/// RTA_PREF and RTA_EXPIRES (linux/rtnetlink.h): neli names them only for glibc targets.
pub(super) const RTA_PREF: u16 = 20;
const RTA_EXPIRES: u16 = 23;
/// The kernel's clock ticks per second in what it reports (`USER_HZ`, 100 on Linux).
pub(super) const USER_HZ: u32 = 100;
/// Ask IPv4 lookups to report the table the route came from (without it: always main). IPv6
/// lookups always report it and refuse the flag ("ipv6: Invalid flags for get route request").
const RTM_F_LOOKUP_TABLE: u32 = 0x1000;

/// One route lookup, as `ip route get <dst> [from <src>] [iif <link>]` asks it: the route a
/// packet to `dst` would take, sent from `src` (a local address: locally generated) or, with
/// `iif`, arriving on that link. Read-only: nothing is sent on the network, no capability needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteQuery {
    pub dst: IpAddr,
    pub src: Option<IpAddr>,
    pub iif: Option<u32>,
}

/// The kernel's answer to a [`RouteQuery`]: the table the route came from, the link and
/// gateway the packet would leave by, and the source address it would carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteLookup {
    pub table: u32,
    pub oif: Option<u32>,
    pub gateway: Option<IpAddr>,
    pub prefsrc: Option<IpAddr>,
}

/// `RTM_GETROUTE` for one destination (not a dump): host-length destination and source.
pub(super) fn get_request(query: &RouteQuery) -> Result<Vec<u8>, NetlinkError> {
    let family = match query.dst {
        IpAddr::V4(_) => Family::V4,
        IpAddr::V6(_) => Family::V6,
    };
    let (host_len, flags) = match family {
        Family::V4 => (32, RTM_F_LOOKUP_TABLE),
        Family::V6 => (128, 0),
    };
    let mut attrs = RtBuffer::new();
    attrs.push(ip_attr(Rta::Dst, query.dst)?);
    if let Some(src) = query.src {
        attrs.push(ip_attr(Rta::Src, src)?);
    }
    if let Some(iif) = query.iif {
        attrs.push(attr(Rta::Iif, iif)?);
    }
    let msg = RtmsgBuilder::default()
        .rtm_family(rt_family(family))
        .rtm_dst_len(host_len)
        .rtm_src_len(if query.src.is_some() { host_len } else { 0 })
        .rtm_tos(0)
        .rtm_table(RtTable::Unspec)
        .rtm_protocol(Rtprot::Unspec)
        .rtm_scope(RtScope::Universe)
        .rtm_type(Rtn::Unspec)
        .rtm_flags(RtmF::from_bits_retain(flags))
        .rtattrs(attrs)
        .build()
        .map_err(build_error)?;
    encode(&msg)
}

pub(super) fn dump_request() -> Result<Vec<u8>, NetlinkError> {
    let msg = RtmsgBuilder::default()
        .rtm_family(RtAddrFamily::Unspecified)
        .rtm_dst_len(0)
        .rtm_src_len(0)
        .rtm_tos(0)
        .rtm_table(RtTable::Unspec)
        .rtm_protocol(Rtprot::Unspec)
        .rtm_scope(RtScope::Universe)
        .rtm_type(Rtn::Unspec)
        .build()
        .map_err(build_error)?;
    encode(&msg)
}

/// `ip route add ...`: fails with EEXIST if the same route is there.
pub(super) fn add_request(route: &Route) -> Result<Request, NetlinkError> {
    request(
        Rtm::Newroute,
        NlmF::CREATE | NlmF::EXCL,
        route,
        scope_to(route.scope),
    )
}

/// `ip route replace ...`: the route takes the place of the one in its slot (same table,
/// destination, type and metric), whoever made that one, or is created.
pub(super) fn replace_request(route: &Route) -> Result<Request, NetlinkError> {
    request(
        Rtm::Newroute,
        NlmF::CREATE | NlmF::REPLACE,
        route,
        scope_to(route.scope),
    )
}

/// `ip route del ...`, matching table, destination, type, protocol, gateway, source and link.
pub(super) fn del_request(route: &Route) -> Result<Request, NetlinkError> {
    // RT_SCOPE_NOWHERE: match a route whatever its scope (as `ip route del` does). The kernel
    // matches no preference or lifetime: none is sent.
    let route = Route {
        advertised: None,
        ..route.clone()
    };
    request(
        Rtm::Delroute,
        NlmF::empty(),
        &route,
        RtScope::Nowhere.into(),
    )
}

fn request(ty: Rtm, flags: NlmF, route: &Route, scope: u8) -> Result<Request, NetlinkError> {
    let msg = RtmsgBuilder::default()
        .rtm_family(rt_family(route.family()))
        .rtm_dst_len(route.dst.prefix())
        .rtm_src_len(0)
        .rtm_tos(0)
        .rtm_table(header_table(route.table))
        .rtm_protocol(Rtprot::from(route.protocol))
        .rtm_scope(RtScope::from(scope))
        .rtm_type(Rtn::from(kind_to(route.kind)))
        .rtm_flags(RtmF::from_bits_retain(if route.onlink {
            RTNH_F_ONLINK
        } else {
            0
        }))
        .rtattrs(route_attrs(route)?)
        .build()
        .map_err(build_error)?;
    Ok(Request {
        ty,
        flags,
        payload: encode(&msg)?,
    })
}

fn route_attrs(route: &Route) -> Result<RtBuffer<Rta, Buffer>, NetlinkError> {
    let mut attrs = RtBuffer::new();
    attrs.push(attr(Rta::Table, route.table)?);
    if route.dst.prefix() > 0 {
        attrs.push(ip_attr(Rta::Dst, route.dst.addr())?);
    }
    if let Some(gateway) = route.gateway {
        attrs.push(ip_attr(Rta::Gateway, gateway)?);
    }
    if let Some(src) = route.src {
        attrs.push(ip_attr(Rta::Prefsrc, src)?);
    }
    if let Some(oif) = route.oif {
        attrs.push(attr(Rta::Oif, oif)?);
    }
    if let Some(advertised) = route.advertised {
        attrs.push(attr(Rta::from(RTA_PREF), advertised.pref.to_kernel())?);
        if let Some(expires) = advertised.expires {
            attrs.push(attr(Rta::from(RTA_EXPIRES), expires)?);
        }
    }
    Ok(attrs)
}

/// The header's u8 table; tables above 255 travel only in RTA_TABLE.
fn header_table(table: u32) -> RtTable {
    u8::try_from(table).map_or(RtTable::Unspec, RtTable::from)
}

pub(super) fn scope_from(scope: u8) -> Scope {
    match RtScope::from(scope) {
        RtScope::Universe => Scope::Universe,
        RtScope::Link => Scope::Link,
        RtScope::Host => Scope::Host,
        _ => Scope::Other(scope),
    }
}

fn scope_to(scope: Scope) -> u8 {
    match scope {
        Scope::Universe => RtScope::Universe.into(),
        Scope::Link => RtScope::Link.into(),
        Scope::Host => RtScope::Host.into(),
        Scope::Other(other) => other,
    }
}

pub(super) fn kind_from(kind: u8) -> RouteType {
    match Rtn::from(kind) {
        Rtn::Unicast => RouteType::Unicast,
        Rtn::Local => RouteType::Local,
        _ => RouteType::Other(kind),
    }
}

fn kind_to(kind: RouteType) -> u8 {
    match kind {
        RouteType::Unicast => Rtn::Unicast.into(),
        RouteType::Local => Rtn::Local.into(),
        RouteType::Other(other) => other,
    }
}

fn build_error(e: impl std::fmt::Display) -> NetlinkError {
    NetlinkError::Encode(format!("building route message: {e}"))
}
