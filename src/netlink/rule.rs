//! Policy rules: the dump request and the add and delete requests.

use super::codec::{attr, ip_attr, rt_family};
use super::error::NetlinkError;
use super::socket::{encode, Request};
use crate::kernel::Rule;
use crate::net::IpNet;
use neli::{
    consts::{
        nl::NlmF,
        rtnl::{FrAct, Frattr, RtAddrFamily, RtTable, Rtm},
    },
    rtnl::FibmsgBuilder,
    types::{Buffer, RtBuffer},
};

pub(super) fn dump_request() -> Result<Vec<u8>, NetlinkError> {
    let msg = FibmsgBuilder::default()
        .fib_family(RtAddrFamily::Unspecified)
        .fib_dst_len(0)
        .fib_src_len(0)
        .fib_tos(0)
        .fib_table(RtTable::Unspec)
        .fib_action(FrAct::Unspec)
        .build()
        .map_err(build_error)?;
    encode(&msg)
}

/// `ip rule add priority P [from SRC] [to DST] lookup T`: fails with EEXIST if present.
pub(super) fn add_request(rule: &Rule) -> Result<Request, NetlinkError> {
    request(Rtm::Newrule, NlmF::CREATE | NlmF::EXCL, rule)
}

/// `ip rule del priority P [from SRC] [to DST] lookup T`.
pub(super) fn del_request(rule: &Rule) -> Result<Request, NetlinkError> {
    request(Rtm::Delrule, NlmF::empty(), rule)
}

fn request(ty: Rtm, flags: NlmF, rule: &Rule) -> Result<Request, NetlinkError> {
    let msg = FibmsgBuilder::default()
        .fib_family(rt_family(rule.family))
        .fib_dst_len(rule.dst.as_ref().map_or(0, IpNet::prefix))
        .fib_src_len(rule.src.as_ref().map_or(0, IpNet::prefix))
        .fib_tos(0)
        .fib_table(u8::try_from(rule.table).map_or(RtTable::Unspec, RtTable::from))
        .fib_action(FrAct::FrActToTbl)
        .rtattrs(rule_attrs(rule)?)
        .build()
        .map_err(build_error)?;
    Ok(Request {
        ty,
        flags,
        payload: encode(&msg)?,
    })
}

/// FRA_PRIORITY always (else the kernel picks one), the selectors, FRA_TABLE, and what the
/// lookup suppresses.
fn rule_attrs(rule: &Rule) -> Result<RtBuffer<Frattr, Buffer>, NetlinkError> {
    let mut attrs = RtBuffer::new();
    attrs.push(attr(Frattr::Priority, rule.priority)?);
    if let Some(src) = rule.src {
        attrs.push(ip_attr(Frattr::Src, src.addr())?);
    }
    if let Some(dst) = rule.dst {
        attrs.push(ip_attr(Frattr::Dst, dst.addr())?);
    }
    attrs.push(attr(Frattr::Table, rule.table)?);
    if let Some(len) = rule.suppress_prefixlen {
        attrs.push(attr(Frattr::SuppressPrefixlen, len)?);
    }
    if let Some(group) = rule.suppress_ifgroup {
        attrs.push(attr(Frattr::SuppressIfgroup, group)?);
    }
    Ok(attrs)
}

fn build_error(e: impl std::fmt::Display) -> NetlinkError {
    NetlinkError::Encode(format!("building rule message: {e}"))
}
