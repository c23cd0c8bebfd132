//! VLAN links: the `RTM_NEWLINK` request that creates an 802.1Q link on a parent link (`ip link
//! add link P name N address M type vlan id I`, up), and the `RTM_DELLINK` that removes it.

use super::codec::attr;
use super::error::NetlinkError;
use super::link::{build_error, header, nested};
use super::socket::{encode, Request};
use crate::kernel::VLAN_KIND;
use crate::net::Mac;
use neli::{
    consts::{
        nl::NlmF,
        rtnl::{Ifla, IflaInfo, Rtm},
    },
    types::{Buffer, RtBuffer},
};

/// The VLAN's attribute inside `IFLA_INFO_DATA` (linux/if_link.h), which neli lacks.
const IFLA_VLAN_ID: u16 = 1;

/// Creates (never replaces: `NLM_F_EXCL`) the VLAN link `name` with id `id` on the link
/// `parent`, with the MAC `mac`, administratively up.
pub(super) fn add_request(
    name: &str,
    parent: u32,
    mac: Mac,
    id: u16,
) -> Result<Request, NetlinkError> {
    let data = nested(IFLA_VLAN_ID, &id.to_ne_bytes());
    let linkinfo = [
        nested(IflaInfo::Kind.into(), VLAN_KIND.as_bytes()),
        nested(IflaInfo::Data.into(), &data),
    ]
    .concat();
    let mut ifname = name.as_bytes().to_vec();
    ifname.push(0);
    let attrs: RtBuffer<Ifla, _> = [
        attr(Ifla::Ifname, Buffer::from(ifname))?,
        attr(Ifla::Link, parent)?,
        attr(Ifla::Address, Buffer::from(&mac.0[..]))?,
        attr(Ifla::Linkinfo, Buffer::from(linkinfo))?,
    ]
    .into_iter()
    .collect();
    let msg = header(0).up().rtattrs(attrs).build().map_err(build_error)?;
    Ok(Request {
        ty: Rtm::Newlink,
        flags: NlmF::CREATE | NlmF::EXCL,
        payload: encode(&msg)?,
    })
}

/// Deletes the link `ifindex` (`ip link del`).
pub(super) fn del_request(ifindex: u32) -> Result<Request, NetlinkError> {
    let msg = header(ifindex).build().map_err(build_error)?;
    Ok(Request {
        ty: Rtm::Dellink,
        flags: NlmF::empty(),
        payload: encode(&msg)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One attribute as the kernel reads it: length, type, payload, padding to 4 bytes.
    fn rta(ty: u16, payload: &[u8]) -> Vec<u8> {
        let len = 4 + payload.len();
        let mut out = (len as u16).to_ne_bytes().to_vec();
        out.extend_from_slice(&ty.to_ne_bytes());
        out.extend_from_slice(payload);
        out.resize(len.next_multiple_of(4), 0);
        out
    }

    /// `struct ifinfomsg`: family, pad, type, index, flags, change.
    fn ifinfomsg(index: i32, flags: u32, change: u32) -> Vec<u8> {
        let mut out = vec![0u8, 0, 0, 0];
        out.extend_from_slice(&index.to_ne_bytes());
        out.extend_from_slice(&flags.to_ne_bytes());
        out.extend_from_slice(&change.to_ne_bytes());
        out
    }

    #[test]
    fn add_request_is_ip_link_add_type_vlan() {
        let mac: Mac = "02:00:17:05:cf:51".parse().unwrap();
        let request = add_request("eth0.1", 7, mac, 1).unwrap();
        assert_eq!(request.ty, Rtm::Newlink);
        assert_eq!(request.flags, NlmF::CREATE | NlmF::EXCL);
        let iff_up = libc::IFF_UP as u32;
        let linkinfo = [rta(1, b"vlan"), rta(2, &rta(1, &1u16.to_ne_bytes()))].concat();
        let expected = [
            ifinfomsg(0, iff_up, iff_up),
            rta(libc::IFLA_IFNAME, b"eth0.1\0"),
            rta(libc::IFLA_LINK, &7u32.to_ne_bytes()),
            rta(libc::IFLA_ADDRESS, &[0x02, 0x00, 0x17, 0x05, 0xcf, 0x51]),
            rta(libc::IFLA_LINKINFO, &linkinfo),
        ]
        .concat();
        assert_eq!(request.payload, expected);
    }

    #[test]
    fn the_vlan_id_is_a_native_u16() {
        let mac: Mac = "02:00:17:05:cf:51".parse().unwrap();
        let payload = add_request("enp94s0f0n.4094", 3, mac, 4094)
            .unwrap()
            .payload;
        let data = rta(2, &rta(1, &4094u16.to_ne_bytes()));
        assert!(
            payload.windows(data.len()).any(|w| w == data),
            "{payload:?}"
        );
        assert!(payload.windows(16).any(|w| w == b"enp94s0f0n.4094\0"));
    }

    #[test]
    fn del_request_names_the_link_only() {
        let request = del_request(9).unwrap();
        assert_eq!(request.ty, Rtm::Dellink);
        assert_eq!(request.flags, NlmF::empty());
        assert_eq!(request.payload, ifinfomsg(9, 0, 0));
    }
}
