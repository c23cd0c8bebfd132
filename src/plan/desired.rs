//! The desired state: which link each metadata NIC is, the VLAN links to create for NICs that
//! live on another NIC's link (OCI bare metal), and the addresses, routes and rules each NIC
//! should have (DESIGN.md, "What gets configured"). Pure: metadata, links and settings in, plain
//! kernel objects out.

use super::sanity::{self, Item, Refusal};
use super::PlanSettings;
use crate::kernel::{
    Address, Family, Link, Route, RouteType, Rule, Scope, RTPROT_CLOUD_NETWORK, TABLE_LOCAL,
    TABLE_MAIN, VLAN_KIND,
};
use crate::metadata::{Instance, Nic, Vlan};
use crate::net::{IpNet, Ipv4Net, Ipv6Net, Mac, ProviderKind};
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The instance metadata service on every cloud we serve but Alibaba.
pub const METADATA_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
/// Alibaba ECS's metadata service.
pub const ALIBABA_METADATA_V4: Ipv4Addr = Ipv4Addr::new(100, 100, 100, 200);
/// EC2's IPv6 metadata endpoint.
pub const METADATA_V6_EC2: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
/// Azure's WireServer (agent and DNS/DHCP plumbing), reached through the primary NIC only.
pub const AZURE_WIRESERVER: Ipv4Addr = Ipv4Addr::new(168, 63, 129, 16);

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
}

impl Skipped {
    /// The NIC that was skipped.
    pub fn mac(&self) -> Mac {
        match self {
            Skipped::NoLink { mac }
            | Skipped::Ambiguous { mac, .. }
            | Skipped::IndexOutOfRange { mac, .. }
            | Skipped::NoParent { mac, .. } => *mac,
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
        }
    }
}

/// The main table's rule; ours must sort before it.
pub const MAIN_RULE_PRIORITY: u32 = 32766;

/// Tables of addresses with their own subnet and gateway (DigitalOcean's anchor IP) sit this
/// far above the NIC tables: clear of every device index (EC2's reach 100 × 31 + device).
pub const ROUTED_TABLE_STEP: u32 = 10000;

/// The whole desired state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Desired {
    pub nics: Vec<NicPlan>,
    /// The VLAN links the metadata's NICs live on (whether they exist yet or not).
    pub vlans: Vec<VlanPlan>,
    /// Rules that belong to no NIC: the ones keeping metadata traffic on the main table.
    pub global_rules: Vec<Rule>,
    pub skipped: Vec<Skipped>,
    /// What the sanity gate refused, per NIC (matched to a link or not).
    pub refused: Vec<Refusal>,
    /// NICs whose metadata entry was unreadable this round: nothing on them is added or
    /// removed.
    pub unknown: Vec<UnknownNic>,
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
            || self
                .skipped
                .iter()
                .any(|s| matches!(s, Skipped::NoParent { .. }) && s.mac() == mac)
    }
}

/// Computes the desired state for every metadata NIC that matches a local link, from what the
/// sanity gate lets through.
pub fn desired(instance: &Instance, links: &[Link], settings: &PlanSettings) -> Desired {
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
    let mut skipped = Vec::new();
    for nic in &gated.nics {
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
    let global_rules = metadata_rules(instance.provider, &nics, settings);
    Desired {
        nics,
        vlans,
        global_rules,
        skipped,
        refused: gated.refused,
        unknown,
    }
}

/// The refused addresses (as host prefixes) and ranges of the NIC `mac`.
fn held(mac: Mac, refused: &[Refusal]) -> Vec<IpNet> {
    refused
        .iter()
        .filter(|r| r.mac == mac)
        .filter_map(|r| match r.item {
            Item::Address { addr } => Some(host_net(addr.addr())),
            Item::AliasRange { net } | Item::Forwarded { net } => Some(net),
            Item::Mtu { .. } => None,
        })
        .collect()
}

/// The VLAN link of a VLAN NIC: its plan (on the parent NIC's link) and the link when it
/// exists already (None: it is to be created).
fn vlan_link(mac: Mac, vlan: Vlan, links: &[Link]) -> Result<(VlanPlan, Option<&Link>), Skipped> {
    let no_parent = |_| Skipped::NoParent {
        mac,
        parent: vlan.parent,
        id: vlan.id,
    };
    let parent = match_link(vlan.parent, links).map_err(no_parent)?;
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

/// OCI's VNICs run at 9000 (its DHCP gives it to the primary only); elsewhere a link keeps
/// its MTU unless the metadata gives one.
pub const OCI_MTU: u32 = 9000;

/// The MTU a cloud's NICs get when neither the metadata nor `[Network] MTU` gives one.
pub fn default_mtu(provider: ProviderKind) -> Option<u32> {
    match provider {
        ProviderKind::Oracle => Some(OCI_MTU),
        ProviderKind::Azure
        | ProviderKind::Aws
        | ProviderKind::Gcp
        | ProviderKind::Alibaba
        | ProviderKind::DigitalOcean => None,
    }
}

/// The metadata's MTU, else the configured one, else the cloud's default.
fn nic_mtu(nic: &Nic, provider: ProviderKind, settings: &PlanSettings) -> Option<u32> {
    nic.mtu.or(settings.mtu).or_else(|| default_mtu(provider))
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
        held: Vec::new(),
    })
}

/// The table of a NIC's address with its own subnet and gateway (`position` in
/// `Nic::routed_ipv4`): `RouteTableBase + ROUTED_TABLE_STEP × (position + 1) + index`.
pub fn routed_table(settings: &PlanSettings, index: u32, position: usize) -> Option<u32> {
    let step = u32::try_from(position)
        .ok()?
        .checked_add(1)?
        .checked_mul(ROUTED_TABLE_STEP)?;
    settings.table_base.checked_add(step)?.checked_add(index)
}

fn addresses(nic: &Nic, ifindex: u32) -> Vec<Address> {
    let routed = nic.routed_ipv4.iter().map(|r| &r.addr);
    let v4 = nic.ipv4.iter().chain(routed).map(|n| IpNet::V4(*n));
    let v6 = nic.ipv6.iter().map(|n| IpNet::V6(*n));
    v4.chain(v6)
        .map(|addr| Address {
            ifindex,
            addr,
            noprefixroute: true,
            valid_lft: u32::MAX,
            preferred_lft: u32::MAX,
        })
        .collect()
}

fn route(table: u32, dst: IpNet, oif: u32) -> Route {
    Route {
        table,
        dst,
        gateway: None,
        src: None,
        oif: Some(oif),
        protocol: RTPROT_CLOUD_NETWORK,
        scope: Scope::Universe,
        kind: RouteType::Unicast,
        onlink: false,
    }
}

/// The default route of `table` via `gateway` (its family's `0.0.0.0/0` or `::/0`).
pub(super) fn default_route(table: u32, gateway: IpAddr, oif: u32) -> Route {
    let any = match gateway {
        IpAddr::V4(_) => IpNet::V4(Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 0)),
        IpAddr::V6(_) => IpNet::V6(Ipv6Net::new(Ipv6Addr::UNSPECIFIED, 0)),
    };
    Route {
        gateway: Some(gateway),
        ..route(table, any, oif)
    }
}

/// The NIC's own table: the subnet route (or, when the gateway is outside the address's prefix
/// as on GCP's /32s, an on-link host route to the gateway) and the default route, per family.
fn table_routes(nic: &Nic, ifindex: u32, table: u32) -> Vec<Route> {
    let mut routes = Vec::new();
    if let Some(primary) = nic.ipv4.first() {
        routes.extend(table_routes_v4(*primary, nic.gateway4, ifindex, table));
    }
    if let Some(primary) = nic.ipv6.first() {
        routes.extend(table_routes_v6(nic, *primary, ifindex, table));
    }
    routes
}

/// The IPv4 routes of a table whose source address is `primary`: its subnet route, an on-link
/// host route to a gateway outside that subnet, and the default route via the gateway.
fn table_routes_v4(
    primary: Ipv4Net,
    gateway: Option<Ipv4Addr>,
    ifindex: u32,
    table: u32,
) -> Vec<Route> {
    let mut routes = Vec::new();
    let src = Some(IpAddr::V4(primary.addr));
    let link_scoped = |dst| Route {
        src,
        scope: Scope::Link,
        ..route(table, dst, ifindex)
    };
    if primary.prefix < 32 {
        routes.push(link_scoped(IpNet::V4(primary.network())));
    }
    if let Some(gw) = gateway {
        if !primary.contains(gw) {
            routes.push(link_scoped(IpNet::V4(Ipv4Net::host(gw))));
        }
        routes.push(default_route(table, IpAddr::V4(gw), ifindex));
    }
    routes
}

fn table_routes_v6(nic: &Nic, primary: Ipv6Net, ifindex: u32, table: u32) -> Vec<Route> {
    let mut routes = Vec::new();
    let src = Some(IpAddr::V6(primary.addr));
    let subnet = nic
        .subnet6
        .or((primary.prefix < 128).then(|| primary.network()));
    if let Some(subnet) = subnet.filter(|s| s.prefix < 128) {
        routes.push(Route {
            src,
            ..route(table, IpNet::V6(subnet.network()), ifindex)
        });
    }
    if let Some(gw) = nic.gateway6 {
        let on_link = is_link_local(gw) || subnet.is_some_and(|s| s.contains(gw));
        if !on_link {
            routes.push(Route {
                src,
                ..route(table, IpNet::V6(Ipv6Net::host(gw)), ifindex)
            });
        }
        routes.push(default_route(table, IpAddr::V6(gw), ifindex));
    }
    routes
}

fn is_link_local(addr: Ipv6Addr) -> bool {
    addr.segments()[0] & 0xffc0 == 0xfe80
}

/// Alias ranges and forwarded IPs are accepted locally: `local` routes in the local table.
fn local_routes(nic: &Nic, ifindex: u32) -> Vec<Route> {
    nic.ip_ranges
        .iter()
        .chain(&nic.forwarded)
        .map(|dst| Route {
            scope: Scope::Host,
            kind: RouteType::Local,
            ..route(TABLE_LOCAL, *dst, ifindex)
        })
        .collect()
}

/// `from X lookup T` and `to X lookup T` for every address, alias range and delegated prefix
/// of the NIC.
fn nic_rules(nic: &Nic, table: u32, priority: u32) -> Vec<Rule> {
    let hosts = nic
        .ipv4
        .iter()
        .map(|n| IpNet::V4(Ipv4Net::host(n.addr)))
        .chain(nic.ipv6.iter().map(|n| IpNet::V6(Ipv6Net::host(n.addr))));
    hosts
        .chain(nic.ip_ranges.iter().copied())
        .chain(nic.delegated_prefixes.iter().copied())
        .flat_map(|net| host_rules(net, table, priority))
        .collect()
}

/// `from <net> lookup <table>` and `to <net> lookup <table>`.
fn host_rules(net: IpNet, table: u32, priority: u32) -> [Rule; 2] {
    let family = Family::of_net(&net);
    let rule = |src, dst| Rule {
        family,
        priority,
        src,
        dst,
        table,
    };
    [rule(Some(net), None), rule(None, Some(net))]
}

/// The provider's IPv4 metadata address, which the rules below keep on the primary NIC.
pub fn metadata_v4(provider: ProviderKind) -> Ipv4Addr {
    match provider {
        ProviderKind::Alibaba => ALIBABA_METADATA_V4,
        ProviderKind::Azure
        | ProviderKind::Aws
        | ProviderKind::Gcp
        | ProviderKind::Oracle
        | ProviderKind::DigitalOcean => METADATA_V4,
    }
}

/// While any NIC has rules, traffic to the metadata service (and Azure's WireServer) is pinned
/// to the main table just before our rules, so no `from` rule can divert it off the primary NIC.
fn metadata_rules(provider: ProviderKind, nics: &[NicPlan], settings: &PlanSettings) -> Vec<Rule> {
    // A tabled NIC's refused items may keep rules of ours (see `NicPlan::holds_net`): the pin
    // stays with them.
    let has_family = |family| {
        let ruled = nics
            .iter()
            .flat_map(|n| &n.rules)
            .any(|r| r.family == family);
        let held = nics
            .iter()
            .filter(|n| n.table.is_some())
            .flat_map(|n| &n.held)
            .any(|h| Family::of_net(h) == family);
        ruled || held
    };
    let mut targets = Vec::new();
    if has_family(Family::V4) {
        targets.push(IpNet::V4(Ipv4Net::host(metadata_v4(provider))));
        if provider == ProviderKind::Azure {
            targets.push(IpNet::V4(Ipv4Net::host(AZURE_WIRESERVER)));
        }
    }
    if has_family(Family::V6) && provider == ProviderKind::Aws {
        targets.push(IpNet::V6(Ipv6Net::host(METADATA_V6_EC2)));
    }
    targets
        .into_iter()
        .map(|dst| Rule {
            family: Family::of_net(&dst),
            priority: settings.priority_base - 1,
            src: None,
            dst: Some(dst),
            table: TABLE_MAIN,
        })
        .collect()
}
