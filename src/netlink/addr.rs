//! Addresses: the dump request and the add and delete requests.

use super::codec::{attr, ip_attr, rt_family};
use super::error::NetlinkError;
use super::socket::{encode, Request};
use crate::kernel::{Address, Family};
use neli::{
    consts::{
        nl::NlmF,
        rtnl::{Ifa, IfaF, RtAddrFamily, RtScope, Rtm},
    },
    rtnl::IfaddrmsgBuilder,
    types::{Buffer, RtBuffer},
};

/// IFA_F_NOPREFIXROUTE: above the u8 header flags, so only in the IFA_FLAGS attribute.
pub(super) const IFA_F_NOPREFIXROUTE: u32 = 0x200;
/// IFA_F_NODAD: an IPv6 address usable at once, without duplicate address detection (the
/// cloud's fabric owns neighbour discovery, and a tentative address cannot source the routes
/// and rules of the same round).
pub(super) const IFA_F_NODAD: u32 = 0x02;

pub(super) fn dump_request() -> Result<Vec<u8>, NetlinkError> {
    let msg = IfaddrmsgBuilder::default()
        .ifa_family(RtAddrFamily::Unspecified)
        .ifa_prefixlen(0)
        .ifa_scope(RtScope::Universe)
        .ifa_index(0)
        .build()
        .map_err(build_error)?;
    encode(&msg)
}

/// `ip address add ADDR dev X [noprefixroute] [nodad]` (`nodad` for IPv6): permanent, failing
/// with EEXIST if present.
pub(super) fn add_request(address: &Address) -> Result<Request, NetlinkError> {
    let mut flags = if address.noprefixroute {
        IFA_F_NOPREFIXROUTE
    } else {
        0
    };
    if Family::of_net(&address.addr) == Family::V6 {
        flags |= IFA_F_NODAD;
    }
    let mut attrs = address_attrs(address)?;
    attrs.push(attr(Ifa::Flags, flags)?);
    request(Rtm::Newaddr, NlmF::CREATE | NlmF::EXCL, address, attrs)
}

/// `ip address del ADDR dev X`.
pub(super) fn del_request(address: &Address) -> Result<Request, NetlinkError> {
    request(
        Rtm::Deladdr,
        NlmF::empty(),
        address,
        address_attrs(address)?,
    )
}

/// IFA_LOCAL and IFA_ADDRESS for IPv4 (the kernel wants both), IFA_ADDRESS for IPv6.
fn address_attrs(address: &Address) -> Result<RtBuffer<Ifa, Buffer>, NetlinkError> {
    let ip = address.addr.addr();
    let mut attrs = RtBuffer::new();
    if Family::of(ip) == Family::V4 {
        attrs.push(ip_attr(Ifa::Local, ip)?);
    }
    attrs.push(ip_attr(Ifa::Address, ip)?);
    Ok(attrs)
}

fn request(
    ty: Rtm,
    flags: NlmF,
    address: &Address,
    attrs: RtBuffer<Ifa, Buffer>,
) -> Result<Request, NetlinkError> {
    let msg = IfaddrmsgBuilder::default()
        .ifa_family(rt_family(Family::of_net(&address.addr)))
        .ifa_prefixlen(address.addr.prefix())
        .ifa_flags(IfaF::empty())
        .ifa_scope(RtScope::Universe)
        .ifa_index(address.ifindex)
        .rtattrs(attrs)
        .build()
        .map_err(build_error)?;
    Ok(Request {
        ty,
        flags,
        payload: encode(&msg)?,
    })
}

fn build_error(e: impl std::fmt::Display) -> NetlinkError {
    NetlinkError::Encode(format!("building address message: {e}"))
}
