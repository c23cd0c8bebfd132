//! Addresses: the dump request, decoding `RTM_NEWADDR`, and the add and delete requests.

use super::codec::{attr, bytes_of, decode, family_of, ip_attr, ip_of, net, rt_family, u32_of};
use super::error::NetlinkError;
use super::socket::{encode, Request};
use crate::kernel::{Address, Family};
use neli::{
    consts::{
        nl::NlmF,
        rtnl::{Ifa, IfaF, RtAddrFamily, RtScope, Rtm},
    },
    rtnl::{Ifaddrmsg, IfaddrmsgBuilder},
    types::{Buffer, RtBuffer},
};

/// IFA_F_NOPREFIXROUTE: above the u8 header flags, so only in the IFA_FLAGS attribute.
const IFA_F_NOPREFIXROUTE: u32 = 0x200;

pub fn dump_request() -> Result<Vec<u8>, NetlinkError> {
    let msg = IfaddrmsgBuilder::default()
        .ifa_family(RtAddrFamily::Unspecified)
        .ifa_prefixlen(0)
        .ifa_scope(RtScope::Universe)
        .ifa_index(0)
        .build()
        .map_err(build_error)?;
    encode(&msg)
}

/// The address in an `RTM_NEWADDR`; None for families other than IPv4 and IPv6.
pub fn decode_address(body: &[u8]) -> Result<Option<Address>, NetlinkError> {
    let msg: Ifaddrmsg = decode(body, "address")?;
    if family_of(*msg.ifa_family()).is_none() {
        return Ok(None);
    }
    let attrs = msg.rtattrs().get_attr_handle();
    let Some(local) = ip_of(&attrs, Ifa::Local).or_else(|| ip_of(&attrs, Ifa::Address)) else {
        return Ok(None);
    };
    let flags = u32_of(&attrs, Ifa::Flags).unwrap_or(u32::from(u8::from(*msg.ifa_flags())));
    let (preferred_lft, valid_lft) = bytes_of(&attrs, Ifa::Cacheinfo)
        .and_then(lifetimes)
        .unwrap_or((u32::MAX, u32::MAX));
    Ok(Some(Address {
        ifindex: *msg.ifa_index(),
        addr: net(local, *msg.ifa_prefixlen())?,
        noprefixroute: flags & IFA_F_NOPREFIXROUTE != 0,
        valid_lft,
        preferred_lft,
    }))
}

/// `ip address add ADDR dev X [noprefixroute]`: permanent, failing with EEXIST if present.
pub fn add_request(address: &Address) -> Result<Request, NetlinkError> {
    let flags = if address.noprefixroute {
        IFA_F_NOPREFIXROUTE
    } else {
        0
    };
    let mut attrs = address_attrs(address)?;
    attrs.push(attr(Ifa::Flags, flags)?);
    request(Rtm::Newaddr, NlmF::CREATE | NlmF::EXCL, address, attrs)
}

/// `ip address del ADDR dev X`.
pub fn del_request(address: &Address) -> Result<Request, NetlinkError> {
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

/// `struct ifa_cacheinfo`: preferred, then valid lifetime, in seconds.
fn lifetimes(cacheinfo: &[u8]) -> Option<(u32, u32)> {
    let preferred = u32::from_ne_bytes(cacheinfo.get(0..4)?.try_into().ok()?);
    let valid = u32::from_ne_bytes(cacheinfo.get(4..8)?.try_into().ok()?);
    Some((preferred, valid))
}

fn build_error(e: impl std::fmt::Display) -> NetlinkError {
    NetlinkError::Decode(format!("building address message: {e}"))
}
