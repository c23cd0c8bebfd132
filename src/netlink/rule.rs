//! Policy rules: the dump request, decoding `RTM_NEWRULE`, and the add and delete requests.

use super::codec::{attr, decode, family_of, ip_attr, ip_of, net, rt_family, u32_of};
use super::error::NetlinkError;
use super::socket::{encode, Request};
use crate::kernel::Rule;
use crate::metadata::model::IpNet;
use neli::{
    consts::{
        nl::NlmF,
        rtnl::{FrAct, Frattr, RtAddrFamily, RtTable, Rtm},
    },
    rtnl::{Fibmsg, FibmsgBuilder},
    types::{Buffer, RtBuffer},
};

pub fn dump_request() -> Result<Vec<u8>, NetlinkError> {
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

/// The rule in an `RTM_NEWRULE`; the table comes from FRA_TABLE (the header says 252 for
/// tables above 255). None for families other than IPv4 and IPv6.
pub fn decode_rule(body: &[u8]) -> Result<Option<Rule>, NetlinkError> {
    let msg: Fibmsg = decode(body, "rule")?;
    let Some(family) = family_of(*msg.fib_family()) else {
        return Ok(None);
    };
    let attrs = msg.rtattrs().get_attr_handle();
    let selector = |ty: Frattr, len: u8| ip_of(&attrs, ty).map(|ip| net(ip, len)).transpose();
    Ok(Some(Rule {
        family,
        priority: u32_of(&attrs, Frattr::Priority).unwrap_or(0),
        src: selector(Frattr::Src, *msg.fib_src_len())?,
        dst: selector(Frattr::Dst, *msg.fib_dst_len())?,
        table: u32_of(&attrs, Frattr::Table).unwrap_or(u32::from(u8::from(*msg.fib_table()))),
    }))
}

/// `ip rule add priority P [from SRC] [to DST] lookup T`: fails with EEXIST if present.
pub fn add_request(rule: &Rule) -> Result<Request, NetlinkError> {
    request(Rtm::Newrule, NlmF::CREATE | NlmF::EXCL, rule)
}

/// `ip rule del priority P [from SRC] [to DST] lookup T`.
pub fn del_request(rule: &Rule) -> Result<Request, NetlinkError> {
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

/// FRA_PRIORITY always (else the kernel picks one), the selectors, and FRA_TABLE.
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
    Ok(attrs)
}

fn build_error(e: impl std::fmt::Display) -> NetlinkError {
    NetlinkError::Decode(format!("building rule message: {e}"))
}
