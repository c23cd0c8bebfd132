//! What a user would still hit when a subject's replies take the right route, asked of the
//! kernel rather than re-derived from the rules (so it holds whatever rule set is in place):
//! a strict reverse-path filter that drops what arrives for the subject (`ip route get
//! <subject> from <client> iif <link>` fails), and a more specific route of the main table
//! over a link we do not manage (docker0, a tunnel) that replies from the subject miss
//! because our table answers first.

use super::subjects::{covers, probe_source, Subject};
use super::verdict::{link_name, path_of, reply_lookup};
use super::{Context, Lookup};
use crate::kernel::TABLE_LOCAL;
use crate::net::IpNet;
use crate::netlink::RouteQuery;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// rp_filter's strict mode.
const STRICT: u8 = 1;

/// With `rp_filter` strict (the max of `all` and the link's is 1): would the kernel accept a
/// packet for the subject from an off-subnet client on its link? IPv4 and local subjects only.
pub(super) fn arrival(
    subject: &Subject<'_>,
    ctx: &Context<'_>,
    client: IpAddr,
    lookup: &mut Lookup<'_>,
) -> Option<String> {
    let link = subject.link;
    if !subject.local || !subject.net.addr().is_ipv4() || ctx.rp_filter(&link.name) != STRICT {
        return None;
    }
    let query = RouteQuery {
        dst: probe_source(&subject.net),
        src: Some(client),
        iif: Some(link.ifindex),
    };
    let refused = lookup(&query).err()?;
    let rule = if subject.rule.is_none() {
        " (it has no from rule)"
    } else {
        ""
    };
    Some(format!(
        "rp_filter=1 on {} drops what arrives for it from {client}{rule}: {refused}",
        link.name
    ))
}

/// The first of main's routes over unmanaged links that replies from the subject miss.
pub(super) fn shadowed(
    subject: &Subject<'_>,
    ctx: &Context<'_>,
    lookup: &mut Lookup<'_>,
) -> Option<String> {
    let source = probe_source(&subject.net);
    for route in &ctx.foreign {
        if route.dst.addr().is_ipv4() != source.is_ipv4() || covers(&route.dst, source) {
            continue;
        }
        let dst = inside(&route.dst);
        let Ok(found) = reply_lookup(subject, dst, lookup) else {
            continue;
        };
        if found.oif == route.oif || found.table == TABLE_LOCAL {
            continue;
        }
        return Some(format!(
            "main's route {} dev {} is shadowed: replies to {dst} leave {}",
            route.dst,
            link_name(route.oif, ctx.kernel),
            path_of(&found, ctx.kernel)
        ));
    }
    None
}

/// A host inside `net` that is probably not the link's own address (the first host usually
/// is: docker0's 172.17.0.1): the second host, or the address itself for the narrowest nets.
fn inside(net: &IpNet) -> IpAddr {
    match net {
        IpNet::V4(n) if n.prefix <= 30 => {
            IpAddr::V4(Ipv4Addr::from(u32::from(n.network().addr) + 2))
        }
        IpNet::V4(n) => IpAddr::V4(n.addr),
        IpNet::V6(n) if n.prefix <= 126 => {
            IpAddr::V6(Ipv6Addr::from(u128::from(n.network().addr) + 2))
        }
        IpNet::V6(n) => IpAddr::V6(n.addr),
    }
}
