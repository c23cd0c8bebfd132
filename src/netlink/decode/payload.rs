//! The pieces every decoder uses: splitting a message's fixed header from its attributes,
//! reading one attribute's payload (a number, an address of the message's family, a prefix,
//! a string), and the decode errors that name the message and the attribute that was wrong.
use crate::kernel::Family;
use crate::net::{IpNet, Ipv4Net, Ipv6Net};
use crate::netlink::error::NetlinkError;
use crate::netlink::frame::read_u32;
use neli::consts::rtnl::RtAddrFamily;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The fixed header of `len` bytes and the attributes after it (which start 4-aligned; all
/// four headers are multiples of 4).
pub(super) fn split<'a>(
    body: &'a [u8],
    len: usize,
    what: &str,
) -> Result<(&'a [u8], &'a [u8]), NetlinkError> {
    if body.len() < len {
        return Err(decode_error(
            what,
            format!("{} bytes, shorter than its {len} byte header", body.len()),
        ));
    }
    Ok(body.split_at(len))
}

pub(super) fn family(af: u8) -> Option<Family> {
    match RtAddrFamily::from(af) {
        RtAddrFamily::Inet => Some(Family::V4),
        RtAddrFamily::Inet6 => Some(Family::V6),
        _ => None,
    }
}

/// A u32 attribute.
pub(super) fn number(payload: &[u8], what: &str, name: &str) -> Result<u32, NetlinkError> {
    if payload.len() < 4 {
        return Err(short(what, name, payload.len()));
    }
    Ok(read_u32(payload, 0))
}

/// An address attribute of the message's family, in network byte order.
pub(super) fn ip(
    family: Family,
    payload: &[u8],
    what: &str,
    name: &str,
) -> Result<IpAddr, NetlinkError> {
    let addr = match family {
        Family::V4 => <[u8; 4]>::try_from(payload).map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        Family::V6 => <[u8; 16]>::try_from(payload).map(|a| IpAddr::V6(Ipv6Addr::from(a))),
    };
    addr.map_err(|_| {
        decode_error(
            what,
            format!("{name} of {} bytes in a {family:?} message", payload.len()),
        )
    })
}

/// An address with its prefix, refusing a prefix longer than the family allows.
pub(super) fn net(addr: IpAddr, prefix: u8, what: &str) -> Result<IpNet, NetlinkError> {
    match addr {
        IpAddr::V4(a) if prefix <= 32 => Ok(IpNet::V4(Ipv4Net::new(a, prefix))),
        IpAddr::V6(a) if prefix <= 128 => Ok(IpNet::V6(Ipv6Net::new(a, prefix))),
        _ => Err(decode_error(
            what,
            format!("prefix /{prefix} too long for {addr}"),
        )),
    }
}

/// The unspecified address of a family with prefix 0 (`0.0.0.0/0`, `::/0`).
pub(super) fn any(family: Family) -> IpNet {
    match family {
        Family::V4 => IpNet::V4(Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 0)),
        Family::V6 => IpNet::V6(Ipv6Net::new(Ipv6Addr::UNSPECIFIED, 0)),
    }
}

/// A NUL-terminated string attribute.
pub(super) fn text(payload: &[u8]) -> String {
    let text = payload.split(|b| *b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(text).into_owned()
}

pub(super) fn short(what: &str, name: &str, len: usize) -> NetlinkError {
    decode_error(what, format!("{name} of only {len} bytes"))
}

pub(super) fn decode_error(what: &str, detail: String) -> NetlinkError {
    NetlinkError::Decode(format!("{what} message: {detail}"))
}

/// An attribute framing error, naming the message it was in.
pub(super) fn within(what: &str, error: NetlinkError) -> NetlinkError {
    match error {
        NetlinkError::Decode(detail) => decode_error(what, detail),
        other => other,
    }
}
