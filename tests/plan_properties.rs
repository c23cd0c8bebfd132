//! Property tests of the planner (no root needed): random metadata, random pre-existing kernel
//! state and random ownership records, applied to a faithful model of the kernel. A small seeded
//! xorshift generator drives everything; a failure prints the case's seed, and
//! `PLAN_PROPERTIES_SEED=<seed> PLAN_PROPERTIES_CASES=1` replays exactly that case.

use cloud_network::kernel::{
    Address, Change, Family, KernelState, Link, OperState, Route, RouteType, Rule, Scope,
    TABLE_LOCAL, TABLE_MAIN,
};
use cloud_network::metadata::{Instance, IpNet, Ipv4Net, Ipv6Net, Mac, Nic, ProviderKind};
use cloud_network::plan::{desired, diff, Desired, Owned, PlanSettings, PlannedChange};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const DEFAULT_SEED: u64 = 0x5eed_c10d_0001;
const DEFAULT_CASES: u64 = 500;
const RTPROT_KERNEL: u8 = 2;
const RTPROT_DHCP: u8 = 16;

/// xorshift64*: small, fast, and good enough to pick test cases.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Runs `check` on `PLAN_PROPERTIES_CASES` seeds from `PLAN_PROPERTIES_SEED` on.
fn for_cases(property: &str, check: impl Fn(u64) -> Result<(), String>) {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .map(|v| v.parse().expect("a number"))
            .unwrap_or(default)
    };
    let base = env("PLAN_PROPERTIES_SEED", DEFAULT_SEED);
    let cases = env("PLAN_PROPERTIES_CASES", DEFAULT_CASES);
    for case in 0..cases {
        let seed = base.wrapping_add(case);
        if let Err(failure) = check(seed) {
            panic!(
                "property {property:?} fails for seed {seed}; replay with \
                 PLAN_PROPERTIES_SEED={seed} PLAN_PROPERTIES_CASES=1\n{failure}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The kernel model.

/// The kernel as far as the planner's changes touch it: EEXIST on adding what is there, ENOENT
/// on deleting what is not, the local-table routes every address brings, IPv4 secondaries that
/// go with their primary unless promote_secondaries is on, IPv4 routes flushed with their
/// preferred source, IPv6 routes losing it, and gateways that must be reachable on the link.
#[derive(Debug, Clone, Default)]
struct Model {
    kernel: KernelState,
    promote: BTreeSet<u32>,
}

fn host_net(ip: IpAddr) -> IpNet {
    match ip {
        IpAddr::V4(a) => IpNet::V4(Ipv4Net::host(a)),
        IpAddr::V6(a) => IpNet::V6(Ipv6Net::host(a)),
    }
}

fn kernel_local_route(a: &Address) -> Route {
    Route {
        table: TABLE_LOCAL,
        dst: host_net(a.addr.addr()),
        gateway: None,
        src: Some(a.addr.addr()),
        oif: Some(a.ifindex),
        protocol: RTPROT_KERNEL,
        scope: Scope::Host,
        kind: RouteType::Local,
        onlink: false,
    }
}

fn same_slot(a: &Route, b: &Route) -> bool {
    a.table == b.table && a.dst == b.dst
}

fn net_contains(net: &IpNet, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpNet::V4(n), IpAddr::V4(a)) => n.contains(a),
        (IpNet::V6(n), IpAddr::V6(a)) => n.contains(a),
        _ => false,
    }
}

/// Whether two IPv4 addresses on a link share a subnet (same mask): primary and secondaries.
fn same_v4_subnet(a: &IpNet, b: &IpNet) -> bool {
    match (a, b) {
        (IpNet::V4(x), IpNet::V4(y)) => x.prefix == y.prefix && x.contains(y.addr),
        _ => false,
    }
}

impl Model {
    fn insert_address(&mut self, address: Address) {
        self.kernel.routes.push(kernel_local_route(&address));
        self.kernel.addresses.push(address);
    }

    fn has_local_ip(&self, ip: IpAddr) -> bool {
        self.kernel.addresses.iter().any(|a| a.addr.addr() == ip)
    }

    fn link_mut(&mut self, ifindex: u32) -> Result<&mut Link, String> {
        self.kernel
            .links
            .iter_mut()
            .find(|l| l.index == ifindex)
            .ok_or_else(|| format!("ENODEV: no link {ifindex}"))
    }

    fn apply(&mut self, change: &Change) -> Result<(), String> {
        match change {
            Change::LinkUp { ifindex, .. } => self.link_mut(*ifindex)?.up = true,
            Change::SetMtu { ifindex, mtu, .. } => self.link_mut(*ifindex)?.mtu = *mtu,
            Change::PromoteSecondaries { ifindex, .. } => {
                self.link_mut(*ifindex)?;
                self.promote.insert(*ifindex);
            }
            Change::AddAddress(a) => self.add_address(a)?,
            Change::DelAddress(a) => self.del_address(a)?,
            Change::AddRoute(r) => self.add_route(r)?,
            Change::DelRoute(r) => {
                let at = self.kernel.routes.iter().position(|k| k == r);
                let at = at.ok_or_else(|| format!("ENOENT: route {r:?}"))?;
                self.kernel.routes.remove(at);
            }
            Change::AddRule(r) => {
                if self.kernel.rules.contains(r) {
                    return Err(format!("EEXIST: rule {r:?}"));
                }
                self.kernel.rules.push(r.clone());
            }
            Change::DelRule(r) => {
                let at = self.kernel.rules.iter().position(|k| k == r);
                let at = at.ok_or_else(|| format!("ENOENT: rule {r:?}"))?;
                self.kernel.rules.remove(at);
            }
        }
        Ok(())
    }

    fn add_address(&mut self, a: &Address) -> Result<(), String> {
        self.link_mut(a.ifindex)?;
        let ip = a.addr.addr();
        if self
            .kernel
            .addresses
            .iter()
            .any(|k| k.ifindex == a.ifindex && k.addr.addr() == ip)
        {
            return Err(format!("EEXIST: address {a:?}"));
        }
        self.insert_address(a.clone());
        Ok(())
    }

    fn del_address(&mut self, a: &Address) -> Result<(), String> {
        let at = self
            .kernel
            .addresses
            .iter()
            .position(|k| k.ifindex == a.ifindex && k.addr == a.addr)
            .ok_or_else(|| format!("ENOENT: address {a:?}"))?;
        let removed = self.kernel.addresses.remove(at);
        let mut gone = vec![removed.clone()];
        let is_primary = !self.kernel.addresses[..at]
            .iter()
            .any(|k| k.ifindex == a.ifindex && same_v4_subnet(&k.addr, &removed.addr));
        if is_primary && !self.promote.contains(&a.ifindex) {
            let (secondaries, kept) = self.kernel.addresses.drain(..).partition(|k: &Address| {
                k.ifindex == a.ifindex && same_v4_subnet(&removed.addr, &k.addr)
            });
            self.kernel.addresses = kept;
            gone.extend::<Vec<Address>>(secondaries);
        }
        for address in gone {
            self.forget_address(&address);
        }
        Ok(())
    }

    fn forget_address(&mut self, a: &Address) {
        let local = kernel_local_route(a);
        self.kernel.routes.retain(|r| *r != local);
        let ip = a.addr.addr();
        if self.has_local_ip(ip) {
            return;
        }
        match ip {
            IpAddr::V4(_) => self.kernel.routes.retain(|r| r.src != Some(ip)),
            IpAddr::V6(_) => {
                for route in &mut self.kernel.routes {
                    if route.src == Some(ip) {
                        route.src = None;
                    }
                }
            }
        }
    }

    fn add_route(&mut self, r: &Route) -> Result<(), String> {
        if let Some(oif) = r.oif {
            self.link_mut(oif)?;
        }
        if self.kernel.routes.iter().any(|k| same_slot(k, r)) {
            return Err(format!("EEXIST: route {r:?}"));
        }
        if let Some(src) = r.src {
            if !self.has_local_ip(src) {
                return Err(format!(
                    "EINVAL: preferred source {src} is not local: {r:?}"
                ));
            }
        }
        if let Some(IpAddr::V4(gw)) = r.gateway {
            let reachable = self.kernel.routes.iter().any(|k| {
                (k.table == r.table || k.table == TABLE_MAIN)
                    && k.gateway.is_none()
                    && k.kind == RouteType::Unicast
                    && k.oif == r.oif
                    && net_contains(&k.dst, IpAddr::V4(gw))
            });
            if !reachable && !r.onlink {
                return Err(format!("ENETUNREACH: gateway {gw} of {r:?}"));
            }
        }
        self.kernel.routes.push(r.clone());
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Random metadata.

fn nic_mac(k: u32) -> Mac {
    Mac([0x02, 0, 0, 0, 0x0a, k as u8])
}

/// Distinct addresses for one instance, drawn from small pools so NICs share subnets.
struct Pools {
    used: BTreeSet<IpAddr>,
}

impl Pools {
    fn v4(&mut self, rng: &mut Rng, subnet: u8) -> Ipv4Addr {
        loop {
            let a = Ipv4Addr::new(10, subnet, 0, 2 + rng.below(40) as u8);
            if self.used.insert(IpAddr::V4(a)) {
                return a;
            }
        }
    }

    fn v6(&mut self, rng: &mut Rng, subnet: u16) -> Ipv6Addr {
        loop {
            let a = Ipv6Addr::new(0x2001, 0xdb8, subnet, 0, 0, 0, 0, 2 + rng.below(40) as u16);
            if self.used.insert(IpAddr::V6(a)) {
                return a;
            }
        }
    }
}

fn subnet_v4(subnet: u8, prefix: u8) -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::new(10, subnet, 0, 0), prefix).network()
}

/// The prefix the parsers give an address: the subnet's, or /32 outside it.
fn in_subnet(addr: Ipv4Addr, subnet: Option<Ipv4Net>) -> Ipv4Net {
    match subnet {
        Some(s) if s.contains(addr) => Ipv4Net::new(addr, s.prefix),
        _ => Ipv4Net::host(addr),
    }
}

fn random_nic(rng: &mut Rng, pools: &mut Pools, provider: ProviderKind, k: u32) -> Nic {
    let index = match provider {
        ProviderKind::Aws if k > 0 && rng.chance(20) => 100 + k,
        _ => k,
    };
    let mut nic = Nic::new(nic_mac(k), index);
    let subnet = rng.below(3) as u8;
    if provider == ProviderKind::Gcp {
        nic.ipv4 = vec![Ipv4Net::host(pools.v4(rng, subnet))];
        nic.gateway4 = Some(Ipv4Addr::new(10, subnet, 0, 1));
        nic.subnet4 = Some(subnet_v4(subnet, 24));
        nic.mtu = Some(rng.pick(&[1460, 8244]));
        for _ in 0..rng.below(3) {
            let range = Ipv4Net::new(Ipv4Addr::new(10, 100 + k as u8, rng.below(4) as u8, 0), 24);
            if !nic.ip_ranges.contains(&IpNet::V4(range)) {
                nic.ip_ranges.push(IpNet::V4(range));
            }
        }
        for _ in 0..rng.below(2) {
            let vip = IpNet::V4(Ipv4Net::host(Ipv4Addr::new(
                34,
                1,
                k as u8,
                rng.below(9) as u8,
            )));
            if !nic.forwarded.contains(&vip) {
                nic.forwarded.push(vip);
            }
        }
    } else {
        let subnet4 = (!rng.chance(10)).then(|| subnet_v4(subnet, rng.pick(&[24, 24, 16, 28])));
        nic.subnet4 = subnet4;
        nic.gateway4 = subnet4.map(|s| s.first_host());
        let count = if k == 0 {
            1 + rng.below(3)
        } else {
            rng.below(4)
        };
        for _ in 0..count {
            let outside = rng.chance(10);
            let addr = pools.v4(rng, if outside { 9 } else { subnet });
            nic.ipv4.push(in_subnet(addr, subnet4));
        }
    }
    if rng.chance(30) {
        let s6 = rng.below(3) as u16;
        nic.subnet6 = rng
            .chance(70)
            .then(|| Ipv6Net::new(Ipv6Addr::new(0x2001, 0xdb8, s6, 0, 0, 0, 0, 0), 64));
        for _ in 0..1 + rng.below(2) {
            let addr = pools.v6(rng, s6);
            nic.ipv6.push(match nic.subnet6 {
                Some(s) => Ipv6Net::new(addr, s.prefix),
                None => Ipv6Net::host(addr),
            });
        }
        nic.gateway6 = match rng.below(4) {
            0 => None,
            1 => Some(Ipv6Addr::new(0x2001, 0xdb8, s6, 0, 0, 0, 0, 1)),
            2 => Some(Ipv6Addr::new(0x2001, 0xdb8, 0x99, 0, 0, 0, 0, 1)),
            _ => Some(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
        };
    }
    nic
}

fn random_instance(rng: &mut Rng) -> (Instance, Pools) {
    let provider = rng.pick(&ProviderKind::ALL);
    let mut pools = Pools {
        used: BTreeSet::new(),
    };
    let nics = (0..1 + rng.below(4) as u32)
        .map(|k| random_nic(rng, &mut pools, provider, k))
        .collect();
    let instance = Instance {
        provider,
        instance_id: "i-1".into(),
        location: "r".into(),
        nics,
        raw: serde_json::Value::Null,
    };
    (instance, pools)
}

/// The next metadata version: IPs added and removed, a subnet or gateway changed, and (when
/// `drop_nics`) a NIC gone from the metadata.
fn mutate(rng: &mut Rng, instance: &Instance, pools: &mut Pools, drop_nics: bool) -> Instance {
    let mut next = instance.clone();
    for nic in &mut next.nics {
        if rng.chance(30) && !nic.ipv4.is_empty() && next.provider != ProviderKind::Gcp {
            let at = rng.below(nic.ipv4.len() as u64) as usize;
            nic.ipv4.remove(at);
        }
        if rng.chance(30) && next.provider != ProviderKind::Gcp {
            let subnet = nic.subnet4.map_or(9, |s| s.addr.octets()[1]);
            let addr = pools.v4(rng, subnet);
            nic.ipv4.push(in_subnet(addr, nic.subnet4));
        }
        if rng.chance(10) && next.provider != ProviderKind::Gcp {
            let subnet = rng.below(3) as u8;
            nic.subnet4 = Some(subnet_v4(subnet, rng.pick(&[24, 16, 28])));
            nic.gateway4 = nic.subnet4.map(|s| s.first_host());
            for net in &mut nic.ipv4 {
                *net = in_subnet(net.addr, nic.subnet4);
            }
        }
        if rng.chance(10) {
            let moved = nic.gateway4.map(|g| Ipv4Addr::from(u32::from(g) + 1));
            if !nic.ipv4.iter().any(|n| Some(n.addr) == moved) {
                nic.gateway4 = moved;
            }
        }
        if rng.chance(20) && !nic.ipv6.is_empty() {
            nic.ipv6.pop();
        }
        if rng.chance(20) && next.provider == ProviderKind::Gcp {
            nic.ip_ranges.pop();
        }
    }
    if drop_nics && next.nics.len() > 1 && rng.chance(15) {
        next.nics.pop();
    }
    next
}

// ---------------------------------------------------------------------------------------------
// Random kernel state and settings.

fn link(index: u32, name: &str, mac: Mac) -> Link {
    Link {
        index,
        name: name.into(),
        mac: Some(mac),
        mtu: 1500,
        up: true,
        oper_state: OperState::Up,
        kind: None,
        master: None,
        loopback: false,
        ethernet: true,
    }
}

fn nic_ifindex(k: usize) -> u32 {
    k as u32 + 2
}

/// Links for some NICs (not all), enslaved VFs and a bridge carrying NIC MACs, an unrelated
/// link; the DHCP primary; foreign addresses, routes and rules, some identical to ours.
fn random_kernel(rng: &mut Rng, instance: &Instance, settings: &PlanSettings) -> Model {
    let mut model = Model::default();
    let mut lo = link(1, "lo", Mac([0; 6]));
    lo.loopback = true;
    lo.ethernet = false;
    model.kernel.links.push(lo);
    for (k, nic) in instance.nics.iter().enumerate() {
        if k > 0 && rng.chance(15) {
            continue;
        }
        let mut l = link(nic_ifindex(k), &format!("eth{k}"), nic.mac);
        l.up = k == 0 || rng.chance(50);
        l.mtu = rng.pick(&[1500, 1460, 9001]);
        model.kernel.links.push(l);
        if rng.chance(15) {
            let mut vf = link(20 + k as u32, &format!("enP{k}"), nic.mac);
            vf.master = Some(nic_ifindex(k));
            model.kernel.links.push(vf);
        }
    }
    if rng.chance(20) {
        let mut bridge = link(30, "br0", instance.nics[0].mac);
        bridge.kind = Some("bridge".into());
        model.kernel.links.push(bridge);
    }
    model
        .kernel
        .links
        .push(link(31, "docker0", Mac([2, 0x42, 0, 0, 0, 1])));
    add_dhcp_primary(&mut model, instance);
    let want = desired(instance, &model.kernel.links, settings);
    for _ in 0..rng.below(4) {
        add_foreign_address(rng, &mut model, &want);
    }
    for _ in 0..rng.below(5) {
        add_foreign_route(rng, &mut model, &want, settings);
    }
    for _ in 0..rng.below(5) {
        add_foreign_rule(rng, &mut model, &want, settings);
    }
    model
}

/// The DHCP lease on the primary NIC: its first IPv4 with the subnet prefix, finite lifetimes,
/// and the main table's subnet and default routes that come with it.
fn add_dhcp_primary(model: &mut Model, instance: &Instance) {
    let nic = &instance.nics[0];
    let Some(primary) = nic.ipv4.first() else {
        return;
    };
    let net = nic.subnet4.map_or(Ipv4Net::new(primary.addr, 24), |s| {
        Ipv4Net::new(primary.addr, s.prefix)
    });
    model.insert_address(dhcp_address(primary.addr, net.prefix));
    let main = |dst: Ipv4Net, gateway: Option<Ipv4Addr>, protocol| Route {
        table: TABLE_MAIN,
        dst: IpNet::V4(dst),
        gateway: gateway.map(IpAddr::V4),
        src: Some(IpAddr::V4(primary.addr)),
        oif: Some(nic_ifindex(0)),
        protocol,
        scope: if gateway.is_some() {
            Scope::Universe
        } else {
            Scope::Link
        },
        kind: RouteType::Unicast,
        onlink: false,
    };
    model
        .kernel
        .routes
        .push(main(net.network(), None, RTPROT_KERNEL));
    if let Some(gw) = nic.gateway4 {
        let default = Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 0);
        let mut route = main(default, Some(gw), RTPROT_DHCP);
        route.onlink = !net.contains(gw);
        model.kernel.routes.push(route);
    }
}

fn dhcp_address(addr: Ipv4Addr, prefix: u8) -> Address {
    Address {
        ifindex: nic_ifindex(0),
        addr: IpNet::V4(Ipv4Net::new(addr, prefix)),
        noprefixroute: false,
        valid_lft: 3600,
        preferred_lft: 3600,
    }
}

fn add_foreign_address(rng: &mut Rng, model: &mut Model, want: &Desired) {
    let Some(plan) = want
        .nics
        .get(rng.below(want.nics.len().max(1) as u64) as usize)
    else {
        return;
    };
    let address = match plan.addresses.get(rng.below(4) as usize) {
        Some(ours) if rng.chance(50) => ours.clone(),
        _ => Address {
            ifindex: plan.ifindex,
            addr: IpNet::V4(Ipv4Net::new(
                Ipv4Addr::new(192, 168, 50, rng.below(50) as u8),
                24,
            )),
            noprefixroute: false,
            valid_lft: u32::MAX,
            preferred_lft: u32::MAX,
        },
    };
    if !model
        .kernel
        .addresses
        .iter()
        .any(|a| a.ifindex == address.ifindex && a.addr.addr() == address.addr.addr())
    {
        model.insert_address(address);
    }
}

fn add_foreign_route(rng: &mut Rng, model: &mut Model, want: &Desired, settings: &PlanSettings) {
    let ours: Vec<&Route> = want.nics.iter().flat_map(|n| &n.routes).collect();
    let route = match ours.get(rng.below(ours.len().max(1) as u64 * 2) as usize) {
        Some(r) if rng.chance(50) => (*r).clone(),
        Some(r) => Route {
            protocol: RTPROT_DHCP,
            gateway: None,
            src: None,
            oif: if rng.chance(30) { Some(31) } else { r.oif },
            ..(*r).clone()
        },
        None => Route {
            table: if rng.chance(50) {
                TABLE_MAIN
            } else {
                settings.table_base + rng.below(3) as u32
            },
            dst: IpNet::V4(Ipv4Net::new(
                Ipv4Addr::new(172, 16, rng.below(4) as u8, 0),
                24,
            )),
            gateway: None,
            src: None,
            oif: Some(31),
            protocol: rng.pick(&[RTPROT_KERNEL, 4, RTPROT_DHCP]),
            scope: Scope::Link,
            kind: RouteType::Unicast,
            onlink: false,
        },
    };
    if !model.kernel.routes.iter().any(|k| same_slot(k, &route)) {
        model.kernel.routes.push(route);
    }
}

fn add_foreign_rule(rng: &mut Rng, model: &mut Model, want: &Desired, settings: &PlanSettings) {
    let ours: Vec<&Rule> = want
        .nics
        .iter()
        .flat_map(|n| &n.rules)
        .chain(&want.global_rules)
        .collect();
    let rule = match ours.get(rng.below(ours.len().max(1) as u64 * 2) as usize) {
        Some(r) if rng.chance(50) => (*r).clone(),
        Some(r) => Rule {
            priority: rng.pick(&[0, 100, settings.priority_base, 32000]),
            table: rng.pick(&[r.table, 500]),
            ..(*r).clone()
        },
        None => Rule {
            family: Family::V4,
            priority: rng.below(32766) as u32,
            src: Some(IpNet::V4(Ipv4Net::new(Ipv4Addr::new(10, 0, 0, 0), 8))),
            dst: None,
            table: rng.pick(&[TABLE_MAIN, 500, settings.table_base + 1]),
        },
    };
    if !model.kernel.rules.contains(&rule) {
        model.kernel.rules.push(rule);
    }
}

fn random_settings(rng: &mut Rng) -> PlanSettings {
    PlanSettings {
        table_base: rng.pick(&[10000, 20000]),
        priority_base: rng.pick(&[3000, 1601, 30000]),
        supplementary: if rng.chance(20) {
            vec!["eth0".into()]
        } else {
            Vec::new()
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Rounds and scenarios.

/// One reconcile round as the daemon runs it, every change applied to the model and recorded;
/// any refused change is an error naming it.
fn reconcile(
    instance: &Instance,
    model: &mut Model,
    owned: &mut Owned,
    settings: &PlanSettings,
) -> Result<Vec<PlannedChange>, String> {
    let changes = plan(instance, model, owned, settings);
    for planned in &changes {
        model
            .apply(&planned.change)
            .map_err(|e| format!("the kernel refused {:?}: {e}", planned.change))?;
        owned.record(planned.nic.map(|n| (n.mac, n.ifindex)), &planned.change);
    }
    Ok(changes)
}

/// The changes of a round without applying them (and with the record pruned as the daemon does).
fn plan(
    instance: &Instance,
    model: &Model,
    owned: &mut Owned,
    settings: &PlanSettings,
) -> Vec<PlannedChange> {
    let want = desired(instance, &model.kernel.links, settings);
    *owned = owned.prune(&model.kernel);
    diff(&want, &model.kernel, owned).changes
}

/// A random subset of a record: what survives of a lost or older state file.
fn subset(rng: &mut Rng, owned: &Owned) -> Owned {
    let mut kept = owned.clone();
    for nic in kept.nics.values_mut() {
        nic.addresses.retain(|_| rng.chance(70));
        nic.routes.retain(|_| rng.chance(70));
        nic.rules.retain(|_| rng.chance(70));
    }
    kept.global_rules.retain(|_| rng.chance(70));
    kept
}

/// A first round on random metadata and kernel, then the next metadata version: the state a
/// property looks at.
struct Scenario {
    settings: PlanSettings,
    model: Model,
    /// The kernel before we touched it.
    foreign: KernelState,
    owned: Owned,
    /// Everything we ever added.
    ever_added: BTreeSet<String>,
    next: Instance,
}

fn scenario(seed: u64, full_record: bool) -> Result<Scenario, String> {
    let mut rng = Rng::new(seed);
    let (first, mut pools) = random_instance(&mut rng);
    let settings = random_settings(&mut rng);
    let mut model = random_kernel(&mut rng, &first, &settings);
    let foreign = model.kernel.clone();
    let mut owned = Owned::default();
    let changes = reconcile(&first, &mut model, &mut owned, &settings)
        .map_err(|e| format!("first round: {e}\nmetadata: {first:#?}"))?;
    let ever_added = changes.iter().map(|c| added_key(&c.change)).collect();
    if !full_record {
        owned = subset(&mut rng, &owned);
    }
    let next = mutate(&mut rng, &first, &mut pools, !full_record);
    Ok(Scenario {
        settings,
        model,
        foreign,
        owned,
        ever_added,
        next,
    })
}

/// The add that a delete would undo, as comparable text.
fn added_key(change: &Change) -> String {
    let add = match change {
        Change::DelAddress(a) => Change::AddAddress(a.clone()),
        Change::DelRoute(r) => Change::AddRoute(r.clone()),
        Change::DelRule(r) => Change::AddRule(r.clone()),
        other => other.clone(),
    };
    format!("{add:?}")
}

fn is_delete(change: &Change) -> bool {
    matches!(
        change,
        Change::DelAddress(_) | Change::DelRoute(_) | Change::DelRule(_)
    )
}

// ---------------------------------------------------------------------------------------------
// The properties.

/// (a) Applying a plan succeeds change by change, and planning again changes nothing.
#[test]
fn applied_plan_then_replan_is_empty() {
    for_cases("apply then re-plan is empty", |seed| {
        let mut s = scenario(seed, false)?;
        let mut owned = s.owned.clone();
        reconcile(&s.next, &mut s.model, &mut owned, &s.settings)?;
        let again = plan(&s.next, &s.model, &mut owned, &s.settings);
        if again.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "second plan: {again:#?}\nmetadata: {:#?}\nkernel: {:#?}",
                s.next, s.model.kernel
            ))
        }
    });
}

/// (b) Every delete in a plan targets an object in the ownership record handed to it.
#[test]
fn deletes_only_touch_owned_objects() {
    for_cases("deletes only owned", |seed| {
        let s = scenario(seed, false)?;
        let mut owned = s.owned.clone();
        let changes = plan(&s.next, &s.model, &mut owned, &s.settings);
        for c in changes.iter().filter(|c| is_delete(&c.change)) {
            let recorded = match &c.change {
                Change::DelAddress(a) => owned.nics.values().any(|n| {
                    n.addresses
                        .iter()
                        .any(|o| o.ifindex == a.ifindex && o.addr == a.addr)
                }),
                Change::DelRoute(r) => owned.nics.values().any(|n| n.routes.contains(r)),
                Change::DelRule(r) => {
                    owned.global_rules.contains(r)
                        || owned.nics.values().any(|n| n.rules.contains(r))
                }
                _ => true,
            };
            if !recorded {
                return Err(format!("{c:?} is not in the record {owned:#?}"));
            }
        }
        Ok(())
    });
}

/// (c) No delete targets the DHCP primary address, a main-table route, or a rule we did not
/// add.
#[test]
fn never_deletes_dhcp_primary_main_routes_or_foreign_rules() {
    for_cases("never deletes what is not ours", |seed| {
        let s = scenario(seed, false)?;
        let dhcp: Vec<&Address> = s
            .foreign
            .addresses
            .iter()
            .filter(|a| a.valid_lft != u32::MAX)
            .collect();
        let mut owned = s.owned.clone();
        for c in plan(&s.next, &s.model, &mut owned, &s.settings) {
            let bad = match &c.change {
                Change::DelAddress(a) => dhcp
                    .iter()
                    .any(|d| d.ifindex == a.ifindex && d.addr.addr() == a.addr.addr()),
                Change::DelRoute(r) => r.table == TABLE_MAIN,
                Change::DelRule(_) => !s.ever_added.contains(&added_key(&c.change)),
                _ => false,
            };
            if bad {
                return Err(format!("deletes {:?}", c.change));
            }
        }
        Ok(())
    });
}

/// (d) After two metadata versions, the kernel holds exactly what the second one wants on the
/// matched NICs (less conflicts), our local routes for it, and every foreign object untouched.
#[test]
fn two_versions_leave_exactly_the_desired_state_and_foreign_objects() {
    for_cases("two versions converge", |seed| {
        let mut s = scenario(seed, true)?;
        let mut owned = s.owned.clone();
        let changes = reconcile(&s.next, &mut s.model, &mut owned, &s.settings)?;
        let deleted: Vec<IpAddr> = changes
            .iter()
            .filter_map(|c| match &c.change {
                Change::DelAddress(a) => Some(a.addr.addr()),
                _ => None,
            })
            .collect();
        let kernel = &s.model.kernel;
        let want = desired(&s.next, &kernel.links, &s.settings);
        let conflicts = diff(&want, kernel, &owned.prune(kernel)).conflicts;
        check_exact(&s.foreign, kernel, &want, &conflicts, &deleted)
    });
}

fn check_exact(
    foreign: &KernelState,
    kernel: &KernelState,
    want: &Desired,
    conflicts: &[Route],
    deleted: &[IpAddr],
) -> Result<(), String> {
    for a in &foreign.addresses {
        if !kernel.addresses.contains(a) {
            return Err(format!("foreign address {a:?} is gone"));
        }
    }
    // Deleting an address flushes the IPv4 routes using it as source and strips IPv6 ones.
    for r in &foreign.routes {
        let stripped = Route {
            src: None,
            ..r.clone()
        };
        let kernel_did_it = match r.src {
            Some(src @ IpAddr::V4(_)) => deleted.contains(&src),
            Some(src @ IpAddr::V6(_)) => {
                deleted.contains(&src) && kernel.routes.contains(&stripped)
            }
            None => false,
        };
        if !kernel.routes.contains(r) && !kernel_did_it {
            return Err(format!("foreign route {r:?} is gone"));
        }
    }
    for r in &foreign.rules {
        if !kernel.rules.contains(r) {
            return Err(format!("foreign rule {r:?} is gone"));
        }
    }
    let wanted_ips: BTreeSet<(u32, IpAddr)> = want
        .nics
        .iter()
        .flat_map(|n| &n.addresses)
        .map(|a| (a.ifindex, a.addr.addr()))
        .collect();
    let have_ips: BTreeSet<(u32, IpAddr)> = kernel
        .addresses
        .iter()
        .map(|a| (a.ifindex, a.addr.addr()))
        .collect();
    if let Some(missing) = wanted_ips.difference(&have_ips).next() {
        return Err(format!("wanted address {missing:?} missing"));
    }
    for a in kernel
        .addresses
        .iter()
        .filter(|a| !foreign.addresses.contains(a))
    {
        if !wanted_ips.contains(&(a.ifindex, a.addr.addr())) {
            return Err(format!("address {a:?} is neither foreign nor wanted"));
        }
    }
    let wanted_routes: Vec<&Route> = want.nics.iter().flat_map(|n| &n.routes).collect();
    for r in &wanted_routes {
        if !kernel.routes.contains(r) && !conflicts.contains(r) {
            return Err(format!("wanted route {r:?} missing"));
        }
    }
    let stripped_foreign = |r: &Route| {
        r.src.is_none()
            && foreign.routes.iter().any(|f| {
                Route {
                    src: None,
                    ..f.clone()
                } == *r
            })
    };
    for r in kernel.routes.iter().filter(|r| !foreign.routes.contains(r)) {
        if stripped_foreign(r) {
            continue;
        }
        let ours_local = r.protocol == RTPROT_KERNEL && r.table == TABLE_LOCAL;
        if !ours_local && !wanted_routes.contains(&r) {
            return Err(format!("route {r:?} is neither foreign nor wanted"));
        }
    }
    let wanted_rules: Vec<&Rule> = want
        .nics
        .iter()
        .flat_map(|n| &n.rules)
        .chain(&want.global_rules)
        .collect();
    for r in &wanted_rules {
        if !kernel.rules.contains(r) {
            return Err(format!("wanted rule {r:?} missing"));
        }
    }
    for r in kernel.rules.iter().filter(|r| !foreign.rules.contains(r)) {
        if !wanted_rules.contains(&r) {
            return Err(format!("rule {r:?} is neither foreign nor wanted"));
        }
    }
    for plan in &want.nics {
        let link = kernel.links.iter().find(|l| l.index == plan.ifindex);
        if !link.is_some_and(|l| l.up && plan.mtu.map_or(true, |m| m == l.mtu)) {
            return Err(format!("link {} not up with its MTU", plan.name));
        }
    }
    Ok(())
}
