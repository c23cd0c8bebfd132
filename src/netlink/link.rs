//! Links: the dump request and the up, MTU, group and promote_secondaries requests.

use super::codec::attr;
use super::error::NetlinkError;
use super::socket::{encode, Request};
use neli::{
    consts::{
        nl::NlmF,
        rtnl::{Arphrd, Ifla, RtAddrFamily, Rtm},
    },
    rtnl::IfinfomsgBuilder,
    types::{Buffer, RtBuffer},
};

/// Nested attribute types inside `IFLA_AF_SPEC`'s `AF_INET` (linux/if_link.h, linux/ip.h),
/// which neli lacks.
const IFLA_INET_CONF: u16 = 1;
const IPV4_DEVCONF_PROMOTE_SECONDARIES: u16 = 20;
/// IFLA_EXT_MASK value: leave the statistics out of the dump.
const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;

pub(super) fn dump_request() -> Result<Vec<u8>, NetlinkError> {
    let attrs: RtBuffer<Ifla, _> = [attr(Ifla::ExtMask, RTEXT_FILTER_SKIP_STATS)?]
        .into_iter()
        .collect();
    encode(&header(0).rtattrs(attrs).build().map_err(build_error)?)
}

/// `ip link set dev X up`.
pub(super) fn up_request(ifindex: u32) -> Result<Request, NetlinkError> {
    newlink(header(ifindex).up())
}

/// `ip link set dev X mtu N`.
pub(super) fn mtu_request(ifindex: u32, mtu: u32) -> Result<Request, NetlinkError> {
    let attrs: RtBuffer<Ifla, _> = [attr(Ifla::Mtu, mtu)?].into_iter().collect();
    newlink(header(ifindex).rtattrs(attrs))
}

/// `ip link set dev X group N`.
pub(super) fn group_request(ifindex: u32, group: u32) -> Result<Request, NetlinkError> {
    let attrs: RtBuffer<Ifla, _> = [attr(Ifla::Group, group)?].into_iter().collect();
    newlink(header(ifindex).rtattrs(attrs))
}

/// `sysctl -w net.ipv4.conf.X.promote_secondaries=1`, through netlink: `IFLA_AF_SPEC` →
/// `AF_INET` → `IFLA_INET_CONF` → `IPV4_DEVCONF_PROMOTE_SECONDARIES` = 1.
pub(super) fn promote_secondaries_request(ifindex: u32) -> Result<Request, NetlinkError> {
    let devconf = nested(IPV4_DEVCONF_PROMOTE_SECONDARIES, &1u32.to_ne_bytes());
    let af_inet = u16::from(u8::from(RtAddrFamily::Inet));
    let inet = nested(af_inet, &nested(IFLA_INET_CONF, &devconf));
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
    NetlinkError::Encode(format!("building link message: {e}"))
}
