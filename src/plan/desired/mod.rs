//! The desired state: the metadata's wish, as the kernel objects each NIC should have, and
//! the VLAN links to create for NICs that live on another NIC's link (OCI bare metal)
//! (DESIGN.md, "What gets configured"). Pure: metadata, links and settings in, plain kernel
//! objects out.
//!
//! It compares nothing with the kernel: whether a link is up, has the MTU wanted, the addresses,
//! routes and rules wanted, or whether a VLAN link still has to be made, is the diff's question
//! (`plan::diff`). What it takes from the kernel's links serves only to address the wish:
//! - which link each NIC is: the one plain Ethernet link with its MAC, not loopback, not
//!   enslaved; for a VLAN NIC, the VLAN link with its MAC and its parent NIC's link (`links`);
//! - that link's ifindex, the device of every address and route: a VLAN NIC whose VLAN link
//!   does not exist yet gets only its [`VlanPlan`] (which the diff creates), and its plan once
//!   that link exists;
//! - that link's name: a VLAN link is `<parent>.<id>` after its parent's, and
//!   `[Network] Supplementary` names interfaces (a primary NIC so named gets a table);
//! - why a NIC has no usable link ([`Skipped`]: none yet, several, no parent).
//!
//! - `links`: which link each NIC is.
//! - `routes`: the addresses, routes and rules of one NIC.
//! - `main_rule`: the rule that lets the host's own networks win over our tables.
//! - `optout`: what the operator keeps us off, taken out before and after planning.

mod links;
mod main_rule;
pub(crate) mod optout;
mod routes;

pub use links::{match_link, match_vlan_link, vlan_name, MAX_LINK_NAME};
pub use main_rule::main_rule;
pub(super) use routes::default_route;
pub use routes::routed_table;

use super::sanity::{self, Item, Refusal};
use super::settings::PlanSettings;
use crate::kernel::{Address, Link, Route, Rule};
use crate::metadata::{Instance, Nic};
use crate::net::{IpNet, Ipv4Net, Ipv6Net, Mac, ProviderKind};
use links::{vlan_clashes, vlan_link};
use main_rule::main_rules;
use optout::Released;
use routes::{addresses, host_rules, local_routes, nic_rules, table_routes, table_routes_v4};
use serde::Serialize;
use std::net::IpAddr;

/// Everything one matched NIC should have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NicPlan {
    pub mac: Mac,
    pub ifindex: u32,
    pub name: String,
    /// Device index from the metadata (0 = primary).
    pub index: u32,
    /// The NIC's own routing table, when it gets one.
    pub table: Option<u32>,
    /// The MTU wanted: the metadata's, else `[Network] MTU`, else the cloud's default (None:
    /// the link keeps its own). Whether the link has it already is the diff's question.
    pub mtu: Option<u32>,
    pub addresses: Vec<Address>,
    /// In the order they must be added (on-link gateway route before the default route).
    pub routes: Vec<Route>,
    pub rules: Vec<Rule>,
    /// The interface group the link is put in while any NIC has rules (`[Network]
    /// InterfaceGroup`), so the main rule ignores main's routes through it (`main_rule`).
    pub group: Option<u32>,
    /// What the sanity gate refused on this NIC (addresses as host prefixes, ranges as
    /// given): never added, and objects of ours built from them are kept, not removed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<IpNet>,
}

impl NicPlan {
    /// Whether `net` (a rule's selector, a route's destination) is a refused item.
    pub fn holds_net(&self, net: &IpNet) -> bool {
        self.held.contains(net)
    }

    /// Whether `ip` is a refused address of this NIC.
    pub fn holds_ip(&self, ip: IpAddr) -> bool {
        self.held.contains(&host_net(ip))
    }

    /// Whether a route of ours was made for a refused item (a local route for a refused
    /// range): it stays while the item is refused. A table route whose source was a refused
    /// address is replaced by the one with the NIC's next address, as any source change.
    pub fn holds_route(&self, route: &Route) -> bool {
        self.holds_net(&route.dst)
    }
}

fn host_net(ip: IpAddr) -> IpNet {
    match ip {
        IpAddr::V4(v4) => IpNet::V4(Ipv4Net::host(v4)),
        IpAddr::V6(v6) => IpNet::V6(Ipv6Net::host(v6)),
    }
}

/// A VLAN link a NIC of the metadata lives on, on its parent NIC's link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VlanPlan {
    /// The NIC's MAC, which the VLAN link carries.
    pub mac: Mac,
    /// `<parent>.<id>`, the parent's name shortened to fit 15 bytes.
    pub name: String,
    pub parent: u32,
    pub parent_name: String,
    pub id: u16,
}

/// A metadata NIC that is not configured this round, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Skipped {
    /// No usable link has this MAC (yet): hot-plug may still bring it.
    NoLink { mac: Mac },
    /// Several unenslaved Ethernet links share the MAC: refusing to guess.
    Ambiguous { mac: Mac, links: Vec<String> },
    /// `RulePriorityBase + index` would not sort before the main table's rule (32766), or
    /// `RouteTableBase + index` would overflow: lower the bases in the config.
    IndexOutOfRange { mac: Mac, index: u32 },
    /// A VLAN NIC whose parent NIC has no usable link (yet): its VLAN link cannot be made.
    NoParent { mac: Mac, parent: Mac, id: u16 },
    /// Two VLAN NICs on the same parent with the same VLAN id: one link, two claims. Neither
    /// is configured (refusing to guess); a link of ours for either is kept.
    VlanClash {
        mac: Mac,
        parent: Mac,
        id: u16,
        other: Mac,
    },
    /// A VLAN NIC whose MAC another link carries (not a VLAN link): its link is not made.
    MacInUse { mac: Mac, link: String },
}

impl Skipped {
    /// The NIC that was skipped.
    pub fn mac(&self) -> Mac {
        match self {
            Skipped::NoLink { mac }
            | Skipped::Ambiguous { mac, .. }
            | Skipped::IndexOutOfRange { mac, .. }
            | Skipped::NoParent { mac, .. }
            | Skipped::VlanClash { mac, .. }
            | Skipped::MacInUse { mac, .. } => *mac,
        }
    }
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skipped::NoLink { mac } => write!(f, "NIC {mac}: no link with this MAC (yet)"),
            Skipped::Ambiguous { mac, links } => write!(
                f,
                "NIC {mac}: several links carry this MAC ({}); not configured",
                links.join(", ")
            ),
            Skipped::IndexOutOfRange { mac, index } => write!(
                f,
                "NIC {mac}: device index {index} puts its rules past priority {MAIN_RULE_PRIORITY}; \
                 lower RulePriorityBase or RouteTableBase"
            ),
            Skipped::NoParent { mac, parent, id } => write!(
                f,
                "NIC {mac}: VLAN {id} on NIC {parent}, which has no usable link (yet)"
            ),
            Skipped::VlanClash {
                mac,
                parent,
                id,
                other,
            } => write!(
                f,
                "NIC {mac}: VLAN {id} on NIC {parent} is listed for NIC {other} too; neither \
                 is configured"
            ),
            Skipped::MacInUse { mac, link } => write!(
                f,
                "NIC {mac}: its MAC is carried by link {link}, which is not its VLAN link; \
                 not configured"
            ),
        }
    }
}

/// The main table's rule; ours must sort before it.
pub const MAIN_RULE_PRIORITY: u32 = 32766;

/// Tables of addresses with their own subnet and gateway (DigitalOcean's anchor IP) sit this
/// far above the NIC tables: clear of every device index (EC2's reach 100 × 31 + device).
pub const ROUTED_TABLE_STEP: u32 = 10000;

/// The whole desired state.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Desired {
    pub nics: Vec<NicPlan>,
    /// The VLAN links the metadata's NICs live on (whether they exist yet or not).
    pub vlans: Vec<VlanPlan>,
    /// Rules that belong to no NIC: the main rule that lets the host's own networks win
    /// (`main_rule`).
    pub global_rules: Vec<Rule>,
    pub skipped: Vec<Skipped>,
    /// What the sanity gate refused, per NIC (matched to a link or not).
    pub refused: Vec<Refusal>,
    /// NICs whose metadata entry was unreadable this round: nothing on them is added or
    /// removed.
    pub unknown: Vec<UnknownNic>,
    /// What the opt-outs keep us off that the metadata wants: dropped from the ownership
    /// record, never deleted.
    #[serde(skip_serializing_if = "Released::is_empty")]
    pub released: Released,
}

/// A NIC of the metadata whose entry could not be read this round, and why (the field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnknownNic {
    pub mac: Mac,
    /// Device index from the metadata (0 = primary).
    pub index: u32,
    pub error: String,
}

impl std::fmt::Display for UnknownNic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "NIC {} is unknown this round, nothing on it is added or removed: {}",
            self.mac, self.error
        )
    }
}

impl Desired {
    pub fn nic(&self, mac: Mac) -> Option<&NicPlan> {
        self.nics.iter().find(|n| n.mac == mac)
    }

    /// Whether the NIC with this MAC is unknown this round (its entry was unreadable).
    pub fn is_unknown(&self, mac: Mac) -> bool {
        self.unknown.iter().any(|u| u.mac == mac)
    }

    /// Whether the metadata still lists the NIC with this MAC as a VLAN NIC (configured,
    /// waiting for its link, or skipped).
    pub fn lists_vlan(&self, mac: Mac) -> bool {
        self.vlans.iter().any(|v| v.mac == mac)
            || self.skipped.iter().any(|s| {
                let vlan_skip = matches!(
                    s,
                    Skipped::NoParent { .. } | Skipped::VlanClash { .. } | Skipped::MacInUse { .. }
                );
                vlan_skip && s.mac() == mac
            })
    }
}

/// Computes the desired state for every metadata NIC that matches a local link, from what the
/// sanity gate lets through and the opt-outs leave (`optout`).
pub fn desired(instance: &Instance, links: &[Link], settings: &PlanSettings) -> Desired {
    let optouts = &settings.optouts;
    let agent_off = (instance.provider.profile().agent_disables_ranges)(&instance.raw);
    let filtered = optout::filter(instance, links, optouts, agent_off);
    if filtered.instance.nics == instance.nics && optouts.policy_routing {
        return planned(instance, links, settings);
    }
    let mut kept = planned(&filtered.instance, links, settings);
    if !optouts.policy_routing {
        kept = optout::without_policy_routing(kept);
    }
    let full = planned(instance, links, settings);
    kept.released = optout::released(&full, &kept, filtered.excluded);
    kept
}

/// The desired state of every NIC of `instance`, opt-outs aside.
fn planned(instance: &Instance, links: &[Link], settings: &PlanSettings) -> Desired {
    let (unreadable, readable): (Vec<&Nic>, Vec<&Nic>) =
        instance.nics.iter().partition(|n| n.unreadable.is_some());
    let unknown = unreadable
        .iter()
        .map(|n| UnknownNic {
            mac: n.mac,
            index: n.index,
            error: n.unreadable.clone().unwrap_or_default(),
        })
        .collect();
    let readable: Vec<Nic> = readable.into_iter().cloned().collect();
    let gated = sanity::gate(&readable);
    let mut nics = Vec::new();
    let mut vlans = Vec::new();
    let mut skipped = vlan_clashes(&gated.nics);
    let clashing: Vec<Mac> = skipped.iter().map(Skipped::mac).collect();
    for nic in gated.nics.iter().filter(|n| !clashing.contains(&n.mac)) {
        let link = match nic.vlan {
            None => match_link(nic.mac, links).map(Some),
            Some(vlan) => vlan_link(nic.mac, vlan, links).map(|(plan, link)| {
                vlans.push(plan);
                link
            }),
        };
        let plan = |l| nic_plan(nic, instance.provider, l, settings);
        match link.and_then(|link| link.map(plan).transpose()) {
            Ok(Some(mut plan)) => {
                plan.held = held(nic.mac, &gated.refused);
                nics.push(plan);
            }
            Ok(None) => {}
            Err(skip) => skipped.push(skip),
        }
    }
    let global_rules = main_rules(&nics, settings);
    if !global_rules.is_empty() {
        for nic in &mut nics {
            nic.group = Some(settings.ifgroup);
        }
    }
    Desired {
        nics,
        vlans,
        global_rules,
        skipped,
        refused: gated.refused,
        unknown,
        released: Released::default(),
    }
}

/// The refused addresses (as host prefixes) and ranges of the NIC `mac`.
fn held(mac: Mac, refused: &[Refusal]) -> Vec<IpNet> {
    refused
        .iter()
        .filter(|r| r.mac == mac)
        .filter_map(|r| match r.item {
            Item::Address { addr } | Item::RoutedAddress { addr } => Some(host_net(addr.addr())),
            Item::AliasRange { net } | Item::Forwarded { net } | Item::DelegatedPrefix { net } => {
                Some(net)
            }
            Item::Mtu { .. } => None,
        })
        .collect()
}

/// The metadata's MTU, else the configured one, else the cloud's default (its profile's).
fn nic_mtu(nic: &Nic, provider: ProviderKind, settings: &PlanSettings) -> Option<u32> {
    nic.mtu.or(settings.mtu).or(provider.profile().default_mtu)
}

fn nic_plan(
    nic: &Nic,
    provider: ProviderKind,
    link: &Link,
    settings: &PlanSettings,
) -> Result<NicPlan, Skipped> {
    let tabled = nic.index != 0 || settings.supplementary.contains(&link.name);
    let out_of_range = || Skipped::IndexOutOfRange {
        mac: nic.mac,
        index: nic.index,
    };
    let priority = settings
        .priority_base
        .checked_add(nic.index)
        .filter(|p| *p < MAIN_RULE_PRIORITY);
    let mut routes = local_routes(nic, link.index);
    let mut rules = Vec::new();
    let mut table = None;
    if tabled {
        let nic_table = settings
            .table_base
            .checked_add(nic.index)
            .ok_or_else(out_of_range)?;
        let priority = priority.ok_or_else(out_of_range)?;
        routes.splice(0..0, table_routes(nic, link.index, nic_table));
        rules = nic_rules(nic, nic_table, priority);
        table = Some(nic_table);
    }
    for (position, routed) in nic.routed_ipv4.iter().enumerate() {
        let routed_table = routed_table(settings, nic.index, position).ok_or_else(out_of_range)?;
        let priority = priority.ok_or_else(out_of_range)?;
        let gateway = Some(routed.gateway);
        routes.extend(table_routes_v4(
            routed.addr,
            gateway,
            link.index,
            routed_table,
        ));
        let host = IpNet::V4(Ipv4Net::host(routed.addr.addr));
        rules.extend(host_rules(host, routed_table, priority));
    }
    Ok(NicPlan {
        mac: nic.mac,
        ifindex: link.index,
        name: link.name.clone(),
        index: nic.index,
        table,
        mtu: nic_mtu(nic, provider, settings),
        addresses: addresses(nic, link.index),
        routes,
        rules,
        group: None,
        held: Vec::new(),
    })
}
