//! Small encode/decode helpers shared by the object modules: attributes, addresses, families.

use super::error::NetlinkError;
use crate::kernel::Family;
use crate::metadata::model::{IpNet, Ipv4Net, Ipv6Net};
use neli::{
    consts::rtnl::{RtAddrFamily, RtaType},
    rtnl::{RtAttrHandle, Rtattr, RtattrBuilder},
    types::Buffer,
    FromBytesWithInput, Size, ToBytes,
};
use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One attribute with a fixed-size or byte payload.
pub fn attr<T, P>(ty: T, payload: P) -> Result<Rtattr<T, Buffer>, NetlinkError>
where
    T: RtaType,
    P: Size + ToBytes,
{
    RtattrBuilder::default()
        .rta_type(ty)
        .rta_payload(payload)
        .build()
        .map_err(|e| NetlinkError::Decode(format!("building attribute: {e}")))
}

/// An address attribute, in network byte order.
pub fn ip_attr<T: RtaType>(ty: T, addr: IpAddr) -> Result<Rtattr<T, Buffer>, NetlinkError> {
    match addr {
        IpAddr::V4(a) => attr(ty, Buffer::from(&a.octets()[..])),
        IpAddr::V6(a) => attr(ty, Buffer::from(&a.octets()[..])),
    }
}

/// An rtnl message (`Ifaddrmsg`, `Rtmsg`, ...) from a received payload.
pub fn decode<P: FromBytesWithInput<Input = usize>>(
    body: &[u8],
    what: &str,
) -> Result<P, NetlinkError> {
    P::from_bytes_with_input(&mut Cursor::new(body), body.len())
        .map_err(|e| NetlinkError::Decode(format!("{what}: {e}")))
}

pub fn bytes_of<'a, T: RtaType>(attrs: &'a RtAttrHandle<'_, T>, ty: T) -> Option<&'a [u8]> {
    attrs.get_attribute(ty).map(|a| a.rta_payload().as_ref())
}

pub fn u32_of<T: RtaType>(attrs: &RtAttrHandle<'_, T>, ty: T) -> Option<u32> {
    let bytes: [u8; 4] = bytes_of(attrs, ty)?.get(..4)?.try_into().ok()?;
    Some(u32::from_ne_bytes(bytes))
}

/// A NUL-terminated string attribute.
pub fn string_of<T: RtaType>(attrs: &RtAttrHandle<'_, T>, ty: T) -> Option<String> {
    let bytes = bytes_of(attrs, ty)?;
    let text = bytes.split(|b| *b == 0).next().unwrap_or_default();
    Some(String::from_utf8_lossy(text).into_owned())
}

pub fn ip_of<T: RtaType>(attrs: &RtAttrHandle<'_, T>, ty: T) -> Option<IpAddr> {
    ip_from_bytes(bytes_of(attrs, ty)?)
}

pub fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Some(IpAddr::V4(Ipv4Addr::from(v4)));
    }
    <[u8; 16]>::try_from(bytes)
        .ok()
        .map(|v6| IpAddr::V6(Ipv6Addr::from(v6)))
}

/// An address with its prefix, refusing a prefix longer than the family allows.
pub fn net(addr: IpAddr, prefix: u8) -> Result<IpNet, NetlinkError> {
    match addr {
        IpAddr::V4(a) if prefix <= 32 => Ok(IpNet::V4(Ipv4Net::new(a, prefix))),
        IpAddr::V6(a) if prefix <= 128 => Ok(IpNet::V6(Ipv6Net::new(a, prefix))),
        _ => Err(NetlinkError::Decode(format!(
            "prefix /{prefix} too long for {addr}"
        ))),
    }
}

/// The unspecified address of a family with prefix 0 (`0.0.0.0/0`, `::/0`).
pub fn any(family: Family) -> IpNet {
    match family {
        Family::V4 => IpNet::V4(Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 0)),
        Family::V6 => IpNet::V6(Ipv6Net::new(Ipv6Addr::UNSPECIFIED, 0)),
    }
}

pub fn rt_family(family: Family) -> RtAddrFamily {
    match family {
        Family::V4 => RtAddrFamily::Inet,
        Family::V6 => RtAddrFamily::Inet6,
    }
}

/// Our family of a kernel family; None for bridge, MPLS and the like.
pub fn family_of(family: RtAddrFamily) -> Option<Family> {
    match family {
        RtAddrFamily::Inet => Some(Family::V4),
        RtAddrFamily::Inet6 => Some(Family::V6),
        _ => None,
    }
}
