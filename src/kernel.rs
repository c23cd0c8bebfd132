//! Kernel network objects as plain data: links, addresses, routes and policy rules. The
//! netlink layer reads and writes these; the planner compares them. No I/O here, and no
//! netlink library types: this is the vocabulary both sides share, and [`Kernel`] the seam
//! between the round and whatever reads and writes them.

use crate::net::{IpNet, Mac};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Our routing protocol number (`proto` in `ip route`): every route we add carries it, so ours
/// are always told from the kernel's (2), boot's (3), static (4) or DHCP's (16). 0xc9 is unused by
/// the numbers in iproute2's rt_protos and by the well-known daemons.
pub const RTPROT_CLOUD_NETWORK: u8 = 201;
/// The protocol of routes the kernel learned from router advertisements (`proto ra`).
pub const RTPROT_RA: u8 = 9;
/// The protocol of the local routes google-guest-agent makes for GCP's forwarded IPs and alias
/// ranges (`proto 66`); we take over those we also want (`Change::AdoptRoute`).
pub const RTPROT_GCE_AGENT: u8 = 66;

/// The main routing table.
pub const TABLE_MAIN: u32 = 254;
/// The local routing table (`local` routes for alias ranges and forwarded IPs).
pub const TABLE_LOCAL: u32 = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    pub fn of_net(net: &IpNet) -> Family {
        Family::of(net.addr())
    }
}

/// A network interface as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// None for links without an Ethernet address (loopback has all zeros and is kept).
    pub mac: Option<Mac>,
    pub mtu: u32,
    /// Administratively up (IFF_UP).
    pub up: bool,
    /// RFC 2863 operational state (`IFLA_OPERSTATE`): whether it can carry traffic.
    pub oper_state: OperState,
    /// `IFLA_INFO_KIND` ("veth", "bridge", "bond", "vlan", ...); None for physical devices.
    pub kind: Option<String>,
    /// Index of the master device when enslaved (bond, bridge, Azure's VF under its netvsc).
    pub master: Option<u32>,
    pub loopback: bool,
    /// ARPHRD_ETHER.
    pub ethernet: bool,
    /// The interface group (`IFLA_GROUP`, `ip link set dev X group N`); 0 is "default".
    pub group: u32,
}

/// RFC 2863 operational states, as `ip link` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OperState {
    Unknown,
    NotPresent,
    Down,
    LowerLayerDown,
    Testing,
    Dormant,
    Up,
}

impl OperState {
    /// From the kernel's `IF_OPER_*` number; anything unexpected reads as unknown.
    pub fn from_kernel(value: u8) -> OperState {
        match value {
            1 => OperState::NotPresent,
            2 => OperState::Down,
            3 => OperState::LowerLayerDown,
            4 => OperState::Testing,
            5 => OperState::Dormant,
            6 => OperState::Up,
            _ => OperState::Unknown,
        }
    }
}

/// An address on a link.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Address {
    pub ifindex: u32,
    /// The local address with its prefix length.
    pub addr: IpNet,
    pub noprefixroute: bool,
    /// Seconds; u32::MAX means forever.
    pub valid_lft: u32,
    pub preferred_lft: u32,
}

/// Route types we deal in (`RTN_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteType {
    Unicast,
    Local,
    Other(u8),
}

/// Route scopes (`RT_SCOPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Universe,
    Link,
    Host,
    Other(u8),
}

/// A route in some table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Route {
    pub table: u32,
    /// Destination with prefix; `0.0.0.0/0` or `::/0` for a default route.
    pub dst: IpNet,
    pub gateway: Option<IpAddr>,
    /// Preferred source address.
    pub src: Option<IpAddr>,
    pub oif: Option<u32>,
    pub protocol: u8,
    pub scope: Scope,
    pub kind: RouteType,
    /// RTNH_F_ONLINK: the gateway is reachable on the link without a covering route.
    pub onlink: bool,
    /// An IPv6 route's router preference and lifetime; None: medium, never expires (every
    /// route but those router advertisements make and our copies of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertised: Option<Advertised>,
}

impl Route {
    pub fn family(&self) -> Family {
        Family::of_net(&self.dst)
    }

    /// An IPv6 default route the kernel learned from a router advertisement.
    pub fn is_ra_default(&self) -> bool {
        self.protocol == RTPROT_RA && self.family() == Family::V6 && self.dst.prefix() == 0
    }

    /// The router preference: medium unless the route says otherwise.
    pub fn pref(&self) -> RouterPref {
        self.advertised.map_or(RouterPref::Medium, |a| a.pref)
    }
}

/// A router's preference (RFC 4191) on the default route the kernel learned from its
/// advertisement (`RTA_PREF`). Ordered as the kernel uses them: low, medium, high.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouterPref {
    Low,
    Medium,
    High,
}

impl RouterPref {
    /// From the kernel's `ICMPV6_ROUTER_PREF_*` number (1 high, 3 low; 0 and the reserved 2
    /// medium, as the kernel reads them).
    pub fn from_kernel(value: u8) -> RouterPref {
        match value {
            1 => RouterPref::High,
            3 => RouterPref::Low,
            _ => RouterPref::Medium,
        }
    }

    pub fn to_kernel(self) -> u8 {
        match self {
            RouterPref::High => 1,
            RouterPref::Medium => 0,
            RouterPref::Low => 3,
        }
    }
}

/// What an IPv6 route carries beyond its place: its router's preference and, when it expires,
/// the whole seconds it has left. Routes are told apart by the preference only: the lifetime
/// counts down, and a route whose lifetime moved is still the same route.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Advertised {
    pub pref: RouterPref,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u32>,
}

impl PartialEq for Advertised {
    fn eq(&self, other: &Self) -> bool {
        self.pref == other.pref
    }
}

impl Eq for Advertised {}

impl std::hash::Hash for Advertised {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.pref.hash(state);
    }
}

impl PartialOrd for Advertised {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Advertised {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.pref.cmp(&other.pref)
    }
}

/// A policy routing rule (`ip rule`): `from`/`to` selectors, a `lookup` table, and what the
/// lookup's result must not be (`suppress_prefixlength`, `suppress_ifgroup`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Rule {
    pub family: Family,
    pub priority: u32,
    pub src: Option<IpNet>,
    pub dst: Option<IpNet>,
    pub table: u32,
    /// `FRA_SUPPRESS_PREFIXLEN`: a route found with a prefix this long or shorter is ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress_prefixlen: Option<u32>,
    /// `FRA_SUPPRESS_IFGROUP`: a route found through a device of this group is ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress_ifgroup: Option<u32>,
}

/// Everything the planner needs to know about the kernel, read in one pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KernelState {
    pub links: Vec<Link>,
    pub addresses: Vec<Address>,
    pub routes: Vec<Route>,
    pub rules: Vec<Rule>,
}

/// One write to the kernel. The planner produces these in order; the netlink layer applies them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    LinkUp {
        ifindex: u32,
        name: String,
    },
    SetMtu {
        ifindex: u32,
        name: String,
        mtu: u32,
    },
    /// Turn on the link's IPv4 `promote_secondaries` before deleting an address: otherwise
    /// deleting the first address of a subnet silently deletes every other address of that
    /// subnet on the link, others' included.
    PromoteSecondaries {
        ifindex: u32,
        name: String,
    },
    /// Put the link in interface group `group` (`ip link set dev X group N`): ours while we
    /// manage it, 0 (the default group) when we let it go.
    SetGroup {
        ifindex: u32,
        name: String,
        group: u32,
    },
    AddAddress(Address),
    DelAddress(Address),
    AddRoute(Route),
    /// Put `Route` (ours) in place of the route in its slot that google-guest-agent made for
    /// the same item (`ip route replace`): one kernel change, the address never stops being
    /// local, and from then on the route is ours to remove when the metadata drops it.
    AdoptRoute(Route),
    DelRoute(Route),
    AddRule(Rule),
    DelRule(Rule),
    /// Create an 802.1Q VLAN link for a NIC the metadata puts on another NIC's link (OCI bare
    /// metal's secondary VNICs): named `name`, on the link `parent`, with the NIC's MAC, up.
    AddVlan {
        name: String,
        parent: u32,
        parent_name: String,
        mac: Mac,
        id: u16,
    },
    /// Delete a VLAN link we created, once its NIC left the metadata.
    DelVlan {
        ifindex: u32,
        name: String,
    },
}

impl Change {
    /// The change's kind as a label (`add_address`, ...), as the metrics count it.
    pub fn label(&self) -> &'static str {
        match self {
            Change::LinkUp { .. } => "link_up",
            Change::SetMtu { .. } => "set_mtu",
            Change::PromoteSecondaries { .. } => "promote_secondaries",
            Change::AddAddress(_) => "add_address",
            Change::DelAddress(_) => "del_address",
            Change::AddRoute(_) => "add_route",
            Change::DelRoute(_) => "del_route",
            Change::AddRule(_) => "add_rule",
            Change::DelRule(_) => "del_rule",
            Change::AddVlan { .. } => "add_vlan",
            Change::DelVlan { .. } => "del_vlan",
            Change::SetGroup { .. } => "set_group",
            Change::AdoptRoute(_) => "adopt_route",
        }
    }
}

/// The kind (`IFLA_INFO_KIND`) of the VLAN links we create and match.
pub const VLAN_KIND: &str = "vlan";

/// The kernel as a reconcile round uses it: read its state and its links, apply a batch of
/// changes. The netlink layer implements it over rtnetlink, with its errno-sorted error.
pub trait Kernel {
    /// Why a read or a change failed.
    type Error;
    /// Links, addresses, routes and rules.
    fn state(&mut self) -> Result<KernelState, Self::Error>;
    /// Every link.
    fn links(&mut self) -> Result<Vec<Link>, Self::Error>;
    /// Applies the changes in order as one batch and returns one result per change, in the
    /// same order. A failure does not stop the rest.
    fn apply(&mut self, changes: &[Change]) -> Vec<Result<(), Self::Error>>;
}
