//! Random inputs for the planner's property tests: a seeded xorshift generator, metadata
//! versions, kernel state with foreign objects, and settings.

use crate::model::{same_slot, Model, RTPROT_KERNEL};
use cloud_network::kernel::{
    Address, Family, Link, OperState, Route, RouteType, Rule, Scope, TABLE_MAIN,
};
use cloud_network::metadata::{
    Instance, IpNet, Ipv4Net, Ipv6Net, Mac, Nic, ProviderKind, RoutedIpv4,
};
use cloud_network::plan::OptOuts;
use cloud_network::plan::{desired, Desired, PlanSettings};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const RTPROT_DHCP: u8 = 16;

/// xorshift64*: small, fast, and good enough to pick test cases.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

// Random metadata.

pub fn nic_mac(k: u32) -> Mac {
    Mac([0x02, 0, 0, 0, 0x0a, k as u8])
}

/// Distinct addresses for one instance, drawn from small pools so NICs share subnets.
pub struct Pools {
    used: BTreeSet<IpAddr>,
}

impl Pools {
    pub fn v4(&mut self, rng: &mut Rng, subnet: u8) -> Ipv4Addr {
        loop {
            let a = Ipv4Addr::new(10, subnet, 0, 2 + rng.below(40) as u8);
            if self.used.insert(IpAddr::V4(a)) {
                return a;
            }
        }
    }

    pub fn v6(&mut self, rng: &mut Rng, subnet: u16) -> Ipv6Addr {
        loop {
            let a = Ipv6Addr::new(0x2001, 0xdb8, subnet, 0, 0, 0, 0, 2 + rng.below(40) as u16);
            if self.used.insert(IpAddr::V6(a)) {
                return a;
            }
        }
    }
}

pub fn subnet_v4(subnet: u8, prefix: u8) -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::new(10, subnet, 0, 0), prefix).network()
}

/// The prefix the parsers give an address: the subnet's, or /32 outside it.
pub fn in_subnet(addr: Ipv4Addr, subnet: Option<Ipv4Net>) -> Ipv4Net {
    match subnet {
        Some(s) if s.contains(addr) => Ipv4Net::new(addr, s.prefix),
        _ => Ipv4Net::host(addr),
    }
}

pub fn random_nic(rng: &mut Rng, pools: &mut Pools, provider: ProviderKind, k: u32) -> Nic {
    let index = match provider {
        ProviderKind::Aws if k > 0 && rng.chance(20) => 100 + k,
        _ => k,
    };
    let mut nic = Nic::new(nic_mac(k), index);
    let subnet = rng.below(3) as u8;
    if provider == ProviderKind::Gcp {
        random_gcp_v4(rng, pools, &mut nic, k, subnet);
    } else {
        random_v4(rng, pools, &mut nic, k, subnet);
    }
    if provider == ProviderKind::DigitalOcean && rng.chance(60) {
        nic.routed_ipv4 = vec![random_anchor(rng, pools, k)];
    }
    if rng.chance(30) {
        random_v6(rng, pools, &mut nic);
    }
    nic
}

/// GCP's IPv4 side of NIC `k`: a /32 in `subnet`, its MTU, alias ranges and forwarded VIPs.
fn random_gcp_v4(rng: &mut Rng, pools: &mut Pools, nic: &mut Nic, k: u32, subnet: u8) {
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
}

/// The IPv4 side of NIC `k` elsewhere: a subnet (now and then none) and its gateway, and a
/// few addresses in it (now and then one outside).
fn random_v4(rng: &mut Rng, pools: &mut Pools, nic: &mut Nic, k: u32, subnet: u8) {
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

/// An IPv6 side: one or two addresses, a /64 (now and then none) and a gateway in it, outside
/// it, link-local or none.
fn random_v6(rng: &mut Rng, pools: &mut Pools, nic: &mut Nic) {
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

/// DigitalOcean's anchor IP: an address in a /16 of the NIC's own (10.20+k.0.0), behind that
/// subnet's first host or, now and then, a gateway outside it.
fn random_anchor(rng: &mut Rng, pools: &mut Pools, k: u32) -> RoutedIpv4 {
    let subnet = 20 + k as u8;
    let gateway = match rng.below(5) {
        0 => Ipv4Addr::new(10, 99, 0, 1),
        _ => Ipv4Addr::new(10, subnet, 0, 1),
    };
    RoutedIpv4 {
        addr: Ipv4Net::new(pools.v4(rng, subnet), 16),
        gateway,
    }
}

pub fn random_instance(rng: &mut Rng) -> (Instance, Pools) {
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
        raw: Default::default(),
    };
    (instance, pools)
}

/// The next metadata version: IPs added and removed, a subnet or gateway changed, and (when
/// `drop_nics`) a NIC gone from the metadata.
pub fn mutate(rng: &mut Rng, instance: &Instance, pools: &mut Pools, drop_nics: bool) -> Instance {
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
        if next.provider == ProviderKind::DigitalOcean && rng.chance(20) {
            nic.routed_ipv4.pop();
        }
        if let Some(anchor) = nic.routed_ipv4.first_mut().filter(|_| rng.chance(20)) {
            let moved = Ipv4Addr::from(u32::from(anchor.gateway) + 1);
            if moved != anchor.addr.addr {
                anchor.gateway = moved;
            }
        }
    }
    if drop_nics && next.nics.len() > 1 && rng.chance(15) {
        next.nics.pop();
    }
    next
}

// Random kernel state and settings.

pub fn link(index: u32, name: &str, mac: Mac) -> Link {
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
        group: 0,
    }
}

pub fn nic_ifindex(k: usize) -> u32 {
    k as u32 + 2
}

/// Links for some NICs (not all), enslaved VFs and a bridge carrying NIC MACs, an unrelated
/// link; the DHCP primary; foreign addresses, routes and rules, some identical to ours.
pub fn random_kernel(rng: &mut Rng, instance: &Instance, settings: &PlanSettings) -> Model {
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
pub fn add_dhcp_primary(model: &mut Model, instance: &Instance) {
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
        advertised: None,
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

pub fn dhcp_address(addr: Ipv4Addr, prefix: u8) -> Address {
    Address {
        ifindex: nic_ifindex(0),
        addr: IpNet::V4(Ipv4Net::new(addr, prefix)),
        noprefixroute: false,
        valid_lft: 3600,
        preferred_lft: 3600,
    }
}

pub fn add_foreign_address(rng: &mut Rng, model: &mut Model, want: &Desired) {
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

pub fn add_foreign_route(
    rng: &mut Rng,
    model: &mut Model,
    want: &Desired,
    settings: &PlanSettings,
) {
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
            advertised: None,
        },
    };
    if !model.kernel.routes.iter().any(|k| same_slot(k, &route)) {
        model.kernel.routes.push(route);
    }
}

pub fn add_foreign_rule(rng: &mut Rng, model: &mut Model, want: &Desired, settings: &PlanSettings) {
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
            suppress_prefixlen: None,
            suppress_ifgroup: None,
        },
    };
    if !model.kernel.rules.contains(&rule) {
        model.kernel.rules.push(rule);
    }
}

pub fn random_settings(rng: &mut Rng) -> PlanSettings {
    PlanSettings {
        table_base: rng.pick(&[10000, 20000]),
        priority_base: rng.pick(&[3000, 1601, 30000]),
        ifgroup: rng.pick(&[201, 7]),
        supplementary: if rng.chance(20) {
            vec!["eth0".into()]
        } else {
            Vec::new()
        },
        mtu: None,
        optouts: random_optouts(rng),
    }
}

/// Mostly none; sometimes a switch off or the second NIC left alone by its index.
fn random_optouts(rng: &mut Rng) -> OptOuts {
    OptOuts {
        device_indexes: if rng.chance(10) {
            vec![(1, 1)]
        } else {
            Vec::new()
        },
        secondary_addresses: !rng.chance(10),
        alias_ranges: !rng.chance(10),
        forwarded_ips: !rng.chance(10),
        delegated_prefixes: !rng.chance(10),
        policy_routing: !rng.chance(10),
        ..OptOuts::default()
    }
}
