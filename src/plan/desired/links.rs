//! Which kernel link each metadata NIC is: the one unenslaved Ethernet link with its MAC, or
//! for a VLAN NIC (OCI bare metal) the VLAN link with its MAC on its parent NIC's link. This is
//! how the wish is addressed (an ifindex and a name), not a comparison with what the link has.

use super::{Skipped, VlanPlan};
use crate::kernel::{Link, VLAN_KIND};
use crate::metadata::{Nic, Vlan};
use crate::net::Mac;

/// Longest interface name the kernel takes (IFNAMSIZ less the terminating NUL).
pub const MAX_LINK_NAME: usize = 15;

/// `<parent>.<id>`; when that is longer than 15 bytes the parent's name is cut to fit
/// (`enp94s0f0np0` with id 1234 → `enp94s0f0n.1234`).
pub fn vlan_name(parent: &str, id: u16) -> String {
    let suffix = format!(".{id}");
    let room = MAX_LINK_NAME - suffix.len();
    let mut cut = parent.len().min(room);
    while !parent.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{suffix}", &parent[..cut])
}

/// The VLAN NICs that share their parent and VLAN id with another: one link cannot be both,
/// so each of them is skipped, naming the first other.
pub(super) fn vlan_clashes(nics: &[Nic]) -> Vec<Skipped> {
    let vlans: Vec<(&Nic, Vlan)> = nics.iter().filter_map(|n| Some((n, n.vlan?))).collect();
    vlans
        .iter()
        .filter_map(|(nic, vlan)| {
            let (other, _) = vlans.iter().find(|(o, v)| o.mac != nic.mac && v == vlan)?;
            Some(Skipped::VlanClash {
                mac: nic.mac,
                parent: vlan.parent,
                id: vlan.id,
                other: other.mac,
            })
        })
        .collect()
}

/// The VLAN link of a VLAN NIC: its plan (on the parent NIC's link) and the link when it
/// exists already (None: it is to be created). A NIC whose MAC another kind of link carries
/// is skipped: a VLAN link with that MAC would answer for that link's frames.
pub(super) fn vlan_link(
    mac: Mac,
    vlan: Vlan,
    links: &[Link],
) -> Result<(VlanPlan, Option<&Link>), Skipped> {
    let no_parent = |_| Skipped::NoParent {
        mac,
        parent: vlan.parent,
        id: vlan.id,
    };
    let parent = match_link(vlan.parent, links).map_err(no_parent)?;
    let taken = links
        .iter()
        .find(|l| l.mac == Some(mac) && l.kind.as_deref() != Some(VLAN_KIND));
    if let Some(taken) = taken {
        return Err(Skipped::MacInUse {
            mac,
            link: taken.name.clone(),
        });
    }
    let plan = VlanPlan {
        mac,
        name: vlan_name(&parent.name, vlan.id),
        parent: parent.index,
        parent_name: parent.name.clone(),
        id: vlan.id,
    };
    match match_vlan_link(mac, links) {
        Ok(link) => Ok((plan, Some(link))),
        Err(Skipped::NoLink { .. }) => Ok((plan, None)),
        Err(other) => Err(other),
    }
}

/// The one VLAN link (not enslaved) with this MAC: ours, or one made by hand for the NIC.
pub fn match_vlan_link(mac: Mac, links: &[Link]) -> Result<&Link, Skipped> {
    let vlans = links
        .iter()
        .filter(|l| l.mac == Some(mac) && l.master.is_none())
        .filter(|l| l.kind.as_deref() == Some(VLAN_KIND));
    the_one(mac, vlans)
}

/// Finds the one link that is this NIC: same MAC, Ethernet, not loopback, not enslaved (Azure's
/// accelerated-networking VF shares its MAC and is enslaved to the synthetic NIC), and not a
/// virtual kind such as a bridge, bond or VLAN.
pub fn match_link(mac: Mac, links: &[Link]) -> Result<&Link, Skipped> {
    the_one(
        mac,
        links
            .iter()
            .filter(|l| l.mac == Some(mac) && is_matchable(l)),
    )
}

/// The single link among `candidates` for the NIC with `mac`, or why there is none.
fn the_one<'a>(mac: Mac, candidates: impl Iterator<Item = &'a Link>) -> Result<&'a Link, Skipped> {
    let candidates: Vec<&Link> = candidates.collect();
    match candidates.as_slice() {
        [one] => Ok(one),
        [] => Err(Skipped::NoLink { mac }),
        many => Err(Skipped::Ambiguous {
            mac,
            links: many.iter().map(|l| l.name.clone()).collect(),
        }),
    }
}

fn is_matchable(link: &Link) -> bool {
    let plain_kind = match link.kind.as_deref() {
        None => true,
        Some(kind) => kind == "veth",
    };
    link.ethernet && !link.loopback && link.master.is_none() && plain_kind
}
