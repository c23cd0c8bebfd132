//! Small encoding helpers shared by the request builders: attributes, addresses, families.

use super::error::NetlinkError;
use crate::kernel::Family;
use neli::{
    consts::rtnl::{RtAddrFamily, RtaType},
    rtnl::{Rtattr, RtattrBuilder},
    types::Buffer,
    Size, ToBytes,
};
use std::net::IpAddr;

/// One attribute with a fixed-size or byte payload.
pub(super) fn attr<T, P>(ty: T, payload: P) -> Result<Rtattr<T, Buffer>, NetlinkError>
where
    T: RtaType,
    P: Size + ToBytes,
{
    RtattrBuilder::default()
        .rta_type(ty)
        .rta_payload(payload)
        .build()
        .map_err(|e| NetlinkError::Encode(format!("building attribute: {e}")))
}

/// An address attribute, in network byte order.
pub(super) fn ip_attr<T: RtaType>(ty: T, addr: IpAddr) -> Result<Rtattr<T, Buffer>, NetlinkError> {
    match addr {
        IpAddr::V4(a) => attr(ty, Buffer::from(&a.octets()[..])),
        IpAddr::V6(a) => attr(ty, Buffer::from(&a.octets()[..])),
    }
}

pub(super) fn rt_family(family: Family) -> RtAddrFamily {
    match family {
        Family::V4 => RtAddrFamily::Inet,
        Family::V6 => RtAddrFamily::Inet6,
    }
}
