//! What the check asks about: every address of every configured link, every range its local
//! routes accept (alias ranges, forwarded IPs) and every `from` prefix routed into its table
//! (delegated prefixes), each once, with the rule that should route its replies; and the
//! off-subnet destinations the lookups are made to. Built in time and memory linear in the
//! link's addresses, rules and routes.

use crate::net::{IpNet, Ipv4Net, Ipv6Net};
use crate::plan::index::FastSet;
use crate::snapshot::{LinkStatus, RuleStatus};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Off-subnet destinations the lookups ask about (documentation ranges: never routed to a
/// real host, and nothing is sent anyway); the first outside every configured subnet is used.
const TARGETS_V4: [Ipv4Addr; 3] = [
    Ipv4Addr::new(198, 51, 100, 1),
    Ipv4Addr::new(203, 0, 113, 1),
    Ipv4Addr::new(192, 0, 2, 1),
];
const TARGETS_V6: [Ipv6Addr; 2] = [
    Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 1),
    Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 1),
];

/// One subject: an address, a locally accepted range or a `from` prefix of a link.
pub(super) struct Subject<'a> {
    pub net: IpNet,
    pub link: &'a LinkStatus,
    /// The `from` rule into the link's table that covers it.
    pub rule: Option<RuleStatus>,
    /// Whether the kernel accepts it as local (an address or a local route); a delegated
    /// prefix is forwarded instead.
    pub local: bool,
}

/// Every subject of every link, each net once per link.
pub(super) fn subjects(links: &[LinkStatus]) -> Vec<Subject<'_>> {
    let mut subjects = Vec::new();
    for link in links {
        let rules = RuleIndex::of(link);
        // Keyed like the kernel index's addresses, (ifindex, net).
        let mut seen = FastSet::default();
        let addresses = link.addresses.iter().map(|a| host_net(a.addr()));
        for net in addresses.chain(local_routes(link)) {
            if seen.insert((link.ifindex, net)) {
                subjects.push(Subject {
                    net,
                    link,
                    rule: rules.covering(&net),
                    local: true,
                });
            }
        }
        for rule in rules.prefixes_and_hosts() {
            if let Some(net) = rule.from.filter(|from| seen.insert((link.ifindex, *from))) {
                subjects.push(Subject {
                    net,
                    link,
                    rule: Some(rule.clone()),
                    local: false,
                });
            }
        }
    }
    subjects
}

/// The destinations of the link's `local` routes (alias ranges and forwarded IPs), as the
/// status shows them (`local 10.4.0.50/32 dev eth1 table local ...`).
fn local_routes(link: &LinkStatus) -> impl Iterator<Item = IpNet> + '_ {
    link.routes
        .iter()
        .filter_map(|spec| spec.strip_prefix("local ")?.split(' ').next()?.parse().ok())
}

/// The link's `from` rules into its own table, by source.
struct RuleIndex<'a> {
    table: u32,
    rules: Vec<&'a RuleStatus>,
    /// (priority, source) of the rules without a `to` whose source is one address.
    hosts: FastSet<(u32, IpNet)>,
    /// The priorities those rules use (one per NIC as the daemon makes them).
    priorities: Vec<u32>,
    /// Rules without a `to` whose source is wider than one address (few: ranges, prefixes).
    wider: Vec<&'a RuleStatus>,
}

impl<'a> RuleIndex<'a> {
    fn of(link: &'a LinkStatus) -> RuleIndex<'a> {
        let table = link.table.unwrap_or(0);
        let rules: Vec<&RuleStatus> = link
            .rules
            .iter()
            .filter(|r| Some(r.table) == link.table && r.from.is_some())
            .collect();
        let is_host = |net: &IpNet| *net == host_net(net.addr());
        let mut index = RuleIndex {
            table,
            rules: Vec::new(),
            hosts: FastSet::default(),
            priorities: Vec::new(),
            wider: Vec::new(),
        };
        for rule in rules.iter().filter(|r| r.to.is_none()) {
            match rule.from {
                Some(from) if is_host(&from) => {
                    index.hosts.insert((rule.priority, from));
                    if !index.priorities.contains(&rule.priority) {
                        index.priorities.push(rule.priority);
                    }
                }
                _ => index.wider.push(*rule),
            }
        }
        index.rules = rules;
        index
    }

    /// The most specific rule without a `to` that covers `net`'s probe source.
    fn covering(&self, net: &IpNet) -> Option<RuleStatus> {
        let source = probe_source(net);
        let host = host_net(source);
        let priority = self
            .priorities
            .iter()
            .find(|p| self.hosts.contains(&(**p, host)));
        if let Some(&priority) = priority {
            return Some(RuleStatus {
                priority,
                from: Some(host),
                to: None,
                table: self.table,
            });
        }
        self.wider
            .iter()
            .filter(|r| r.from.is_some_and(|from| covers(&from, source)))
            .max_by_key(|r| r.from.map(|f| f.prefix()))
            .map(|r| (*r).clone())
    }

    fn prefixes_and_hosts(&self) -> impl Iterator<Item = &'a RuleStatus> + '_ {
        self.rules.iter().copied()
    }
}

pub(super) fn host_net(addr: IpAddr) -> IpNet {
    match addr {
        IpAddr::V4(a) => IpNet::V4(Ipv4Net::host(a)),
        IpAddr::V6(a) => IpNet::V6(Ipv6Net::host(a)),
    }
}

pub(super) fn covers(net: &IpNet, addr: IpAddr) -> bool {
    match (net, addr) {
        (IpNet::V4(n), IpAddr::V4(a)) => n.contains(a),
        (IpNet::V6(n), IpAddr::V6(a)) => n.contains(a),
        _ => false,
    }
}

/// The destinations asked about: the first candidate of each family outside every subject and
/// every configured subnet.
pub(super) struct Targets {
    pub v4: IpAddr,
    pub v6: IpAddr,
}

impl Targets {
    pub(super) fn avoiding(links: &[LinkStatus], subjects: &[Subject<'_>]) -> Targets {
        let nets = links
            .iter()
            .flat_map(|l| l.addresses.iter())
            .chain(subjects.iter().map(|s| &s.net));
        let mut inside = [false; TARGETS_V4.len() + TARGETS_V6.len()];
        let candidates: Vec<IpAddr> = TARGETS_V4
            .map(IpAddr::V4)
            .into_iter()
            .chain(TARGETS_V6.map(IpAddr::V6))
            .collect();
        for net in nets {
            for (i, target) in candidates.iter().enumerate() {
                inside[i] |= covers(net, *target);
            }
        }
        let first = |range: std::ops::Range<usize>| {
            let start = range.start;
            range
                .clone()
                .find(|i| !inside[*i])
                .map_or(candidates[start], |i| candidates[i])
        };
        // Every candidate inside a configured subnet: the first is still off the NIC's own
        // address, which is all a lookup needs.
        Targets {
            v4: first(0..TARGETS_V4.len()),
            v6: first(TARGETS_V4.len()..candidates.len()),
        }
    }

    pub(super) fn for_addr(&self, addr: IpAddr) -> IpAddr {
        match addr {
            IpAddr::V4(_) => self.v4,
            IpAddr::V6(_) => self.v6,
        }
    }
}

/// The address a lookup for `net` is made from: the address itself, or a prefix's first host.
pub(super) fn probe_source(net: &IpNet) -> IpAddr {
    match net {
        IpNet::V4(n) if n.prefix < 31 => IpAddr::V4(n.first_host()),
        IpNet::V4(n) => IpAddr::V4(n.network().addr),
        IpNet::V6(n) if n.prefix < 128 => {
            IpAddr::V6(Ipv6Addr::from(u128::from(n.network().addr) + 1))
        }
        IpNet::V6(n) => IpAddr::V6(n.addr),
    }
}

/// `10.4.0.5` for one address, `10.4.1.0/28` for a range.
pub(super) fn subject_name(net: &IpNet) -> String {
    if *net == host_net(net.addr()) {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}
