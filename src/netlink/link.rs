//! Links: the dump request, decoding `RTM_NEWLINK`, and the up and MTU requests.

use super::codec::{attr, bytes_of, decode, string_of, u32_of};
use super::error::NetlinkError;
use super::socket::{encode, Request};
use crate::kernel::{Link, OperState};
use crate::metadata::model::Mac;
use neli::{
    consts::{
        nl::NlmF,
        rtnl::{Arphrd, Iff, Ifla, IflaInfo, RtAddrFamily, Rtm},
    },
    rtnl::{Ifinfomsg, IfinfomsgBuilder},
    types::{Buffer, RtBuffer},
};

const ARPHRD_ETHER: u16 = 1;
/// Nested attribute types of `IFLA_AF_SPEC` (linux/if_link.h, linux/ip.h).
const AF_INET: u16 = 2;
const IFLA_INET_CONF: u16 = 1;
const IPV4_DEVCONF_PROMOTE_SECONDARIES: u16 = 20;
/// IFLA_EXT_MASK value: leave the statistics out of the dump.
const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;

pub fn dump_request() -> Result<Vec<u8>, NetlinkError> {
    let attrs: RtBuffer<Ifla, _> = [attr(Ifla::ExtMask, RTEXT_FILTER_SKIP_STATS)?]
        .into_iter()
        .collect();
    encode(&header(0).rtattrs(attrs).build().map_err(build_error)?)
}

pub fn decode_link(body: &[u8]) -> Result<Link, NetlinkError> {
    let msg: Ifinfomsg = decode(body, "link")?;
    let attrs = msg.rtattrs().get_attr_handle();
    let index = u32::try_from(*msg.ifi_index())
        .map_err(|_| NetlinkError::Decode(format!("link index {}", msg.ifi_index())))?;
    let kind = attrs
        .get_nested_attributes::<IflaInfo>(Ifla::Linkinfo)
        .ok()
        .and_then(|info| string_of(&info, IflaInfo::Kind));
    Ok(Link {
        index,
        name: string_of(&attrs, Ifla::Ifname).unwrap_or_default(),
        mac: bytes_of(&attrs, Ifla::Address)
            .and_then(|b| <[u8; 6]>::try_from(b).ok())
            .map(Mac),
        mtu: u32_of(&attrs, Ifla::Mtu).unwrap_or(0),
        up: msg.ifi_flags().contains(Iff::UP),
        oper_state: bytes_of(&attrs, Ifla::Operstate)
            .and_then(|b| b.first().copied())
            .map_or(OperState::Unknown, OperState::from_kernel),
        kind,
        master: u32_of(&attrs, Ifla::Master).filter(|m| *m != 0),
        loopback: msg.ifi_flags().contains(Iff::LOOPBACK),
        ethernet: u16::from(*msg.ifi_type()) == ARPHRD_ETHER,
    })
}

/// `ip link set dev X up`.
pub fn up_request(ifindex: u32) -> Result<Request, NetlinkError> {
    newlink(header(ifindex).up())
}

/// `ip link set dev X mtu N`.
pub fn mtu_request(ifindex: u32, mtu: u32) -> Result<Request, NetlinkError> {
    let attrs: RtBuffer<Ifla, _> = [attr(Ifla::Mtu, mtu)?].into_iter().collect();
    newlink(header(ifindex).rtattrs(attrs))
}

/// `sysctl -w net.ipv4.conf.X.promote_secondaries=1`, through netlink: `IFLA_AF_SPEC` →
/// `AF_INET` → `IFLA_INET_CONF` → `IPV4_DEVCONF_PROMOTE_SECONDARIES` = 1.
pub fn promote_secondaries_request(ifindex: u32) -> Result<Request, NetlinkError> {
    let devconf = nested(IPV4_DEVCONF_PROMOTE_SECONDARIES, &1u32.to_ne_bytes());
    let inet = nested(AF_INET, &nested(IFLA_INET_CONF, &devconf));
    let attrs: RtBuffer<Ifla, _> = [attr(Ifla::AfSpec, Buffer::from(inet))?]
        .into_iter()
        .collect();
    newlink(header(ifindex).rtattrs(attrs))
}

/// One raw attribute (length, type, payload padded to 4 bytes) for nesting by hand.
pub(super) fn nested(ty: u16, payload: &[u8]) -> Vec<u8> {
    let len = 4 + payload.len();
    let mut out = Vec::with_capacity(len.next_multiple_of(4));
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(len.next_multiple_of(4), 0);
    out
}

pub(super) fn header(ifindex: u32) -> IfinfomsgBuilder {
    IfinfomsgBuilder::default()
        .ifi_family(RtAddrFamily::Unspecified)
        .ifi_type(Arphrd::from(0))
        .ifi_index(ifindex as libc::c_int)
}

/// An `RTM_NEWLINK` request changing the link the builder names.
fn newlink(builder: IfinfomsgBuilder) -> Result<Request, NetlinkError> {
    let msg = builder.build().map_err(build_error)?;
    Ok(Request {
        ty: Rtm::Newlink,
        flags: NlmF::empty(),
        payload: encode(&msg)?,
    })
}

pub(super) fn build_error(e: impl std::fmt::Display) -> NetlinkError {
    NetlinkError::Decode(format!("building link message: {e}"))
}
