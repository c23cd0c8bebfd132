//! Root-only tests of the netlink monitor, each in its own network namespace: the decoded
//! events, and the debounced triggers the daemon makes of them for its reconcile thread
//! (`daemon::events`: removals only, one per burst).

mod support;

use cloud_network::daemon::events::{next_triggers, DEFAULT_DEBOUNCE};
use cloud_network::kernel::{Address, Change, Family, Route, RouteType, Rule, Scope};
use cloud_network::netlink::monitor::{Event, Monitor};
use cloud_network::netlink::Netlink;
use cloud_network::trigger::Trigger;
use std::time::{Duration, Instant};
use support::netns::{require_root, EnteredGuard, Netns};

const TABLE: u32 = 10001;
/// How long to listen for triggers after a change: the debounce plus room for a slow machine.
const SETTLE: Duration = Duration::from_millis(600);

/// This thread inside a fresh namespace. Fields drop in order: back out, then delete.
struct Inside {
    _entered: EnteredGuard,
    ns: Netns,
}

fn inside(prefix: &str) -> Inside {
    require_root();
    let ns = Netns::new(prefix);
    Inside {
        _entered: ns.enter(),
        ns,
    }
}

/// A subscription opened in the namespace this thread is in, before the changes under test.
struct Watch {
    monitor: Monitor,
}

impl Watch {
    fn start() -> Watch {
        Watch {
            monitor: Monitor::open().expect("monitor"),
        }
    }

    /// Every trigger the reconcile thread would get within `SETTLE`, one per debounced burst.
    fn triggers(&mut self) -> Vec<Trigger> {
        let deadline = Instant::now() + SETTLE;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            seen.extend(next_triggers(&mut self.monitor, left, DEFAULT_DEBOUNCE));
        }
        seen
    }
}

/// Reads batches until one event matches `wanted` (at most 2 s); returns every event read.
fn events_until(monitor: &mut Monitor, wanted: impl Fn(&Event) -> bool) -> Vec<Event> {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut events = Vec::new();
    while !events.iter().any(&wanted) {
        assert!(Instant::now() < deadline, "event not seen; got {events:?}");
        events.extend(monitor.next_batch(Duration::from_millis(100)).unwrap());
    }
    events
}

fn rule(priority: u32) -> Rule {
    Rule {
        family: Family::V4,
        priority,
        src: Some(
            format!("10.7.{}.{}/32", priority / 256, priority % 256)
                .parse()
                .unwrap(),
        ),
        dst: None,
        table: TABLE,
        suppress_prefixlen: None,
        suppress_ifgroup: None,
    }
}

/// Runs an `ip` command line (split on spaces) inside the namespace.
fn ip(t: &Inside, line: &str) {
    let args: Vec<&str> = std::iter::once("ip").chain(line.split(' ')).collect();
    t.ns.run_ok(&args);
}

fn assert_applied(netlink: &mut Netlink, changes: &[Change]) {
    for (i, result) in netlink.apply(changes).into_iter().enumerate() {
        assert!(result.is_ok(), "change {i}: {}", result.unwrap_err());
    }
}

#[test]
fn link_add_and_delete_are_decoded() {
    let t = inside("monlink");
    let mut monitor = Monitor::open().unwrap();
    t.ns.veth("va", "vb", Some("02:00:00:00:00:0a"));
    let index = t.ns.ifindex("va");
    let added = events_until(
        &mut monitor,
        |e| matches!(e, Event::LinkNew(l) if l.name == "vb"),
    );
    let va = added
        .iter()
        .find_map(|e| match e {
            Event::LinkNew(link) if link.name == "va" => Some(link),
            _ => None,
        })
        .expect("LinkNew for va");
    assert_eq!(va.index, index);
    assert_eq!(va.mac, Some("02:00:00:00:00:0a".parse().unwrap()));
    assert_eq!(va.kind.as_deref(), Some("veth"));

    ip(&t, "link del va");
    let gone = Event::LinkDel {
        index,
        name: "va".to_string(),
    };
    let removed = events_until(&mut monitor, |e| *e == gone);
    assert!(
        removed.iter().all(|e| matches!(e, Event::LinkDel { .. })),
        "{removed:?}"
    );
}

#[test]
fn address_and_rule_changes_are_decoded_exactly() {
    let t = inside("monaddr");
    t.ns.veth("va", "vb", None);
    let ifindex = t.ns.ifindex("va");
    let mut monitor = Monitor::open().unwrap();
    let address = Address {
        ifindex,
        addr: "10.5.0.2/24".parse().unwrap(),
        noprefixroute: false,
        valid_lft: u32::MAX,
        preferred_lft: u32::MAX,
    };
    ip(&t, "address add 10.5.0.2/24 dev va");
    events_until(&mut monitor, |e| *e == Event::AddressNew(address.clone()));
    ip(&t, "address del 10.5.0.2/24 dev va");
    events_until(&mut monitor, |e| *e == Event::AddressDel(address.clone()));

    let mut netlink = Netlink::open().unwrap();
    assert_applied(&mut netlink, &[Change::AddRule(rule(300))]);
    events_until(&mut monitor, |e| *e == Event::RuleNew(rule(300)));
    assert_applied(&mut netlink, &[Change::DelRule(rule(300))]);
    events_until(&mut monitor, |e| *e == Event::RuleDel(rule(300)));
}

#[test]
fn a_veth_burst_is_one_link_changed_each_way() {
    let t = inside("monburst");
    let mut watch = Watch::start();
    t.ns.veth("va", "vb", None);
    assert_eq!(watch.triggers(), vec![Trigger::LinkChanged]);
    ip(&t, "link del va");
    assert_eq!(watch.triggers(), vec![Trigger::LinkChanged]);
}

#[test]
fn removing_an_address_a_rule_or_our_route_is_kernel_changed() {
    let t = inside("mondel");
    t.ns.veth("va", "vb", None);
    ip(&t, "link set va up");
    ip(&t, "address add 10.5.0.2/24 dev va");
    // Removing a link's last IPv4 address flushes its routes: keep one.
    ip(&t, "address add 10.5.1.2/24 dev va");
    ip(&t, "rule add priority 300 lookup 10001");
    ip(&t, "route add 10.6.0.0/24 dev va proto 201");
    let mut watch = Watch::start();

    ip(&t, "address del 10.5.0.2/24 dev va");
    assert_eq!(watch.triggers(), vec![Trigger::KernelChanged]);
    ip(&t, "rule del priority 300");
    assert_eq!(watch.triggers(), vec![Trigger::KernelChanged]);
    ip(&t, "route del 10.6.0.0/24 dev va proto 201");
    assert_eq!(watch.triggers(), vec![Trigger::KernelChanged]);
}

#[test]
fn removing_someone_elses_main_table_route_is_ignored() {
    let t = inside("monother");
    t.ns.veth("va", "vb", None);
    ip(&t, "link set va up");
    ip(&t, "route add 10.6.0.0/24 dev va proto static");
    let mut watch = Watch::start();
    ip(&t, "route del 10.6.0.0/24 dev va");
    assert_eq!(watch.triggers(), vec![]);
}

#[test]
fn fifty_rule_deletions_are_one_kernel_changed() {
    let _t = inside("monfifty");
    let rules: Vec<Rule> = (1000..1050).map(rule).collect();
    let mut netlink = Netlink::open().unwrap();
    let adds: Vec<Change> = rules.iter().cloned().map(Change::AddRule).collect();
    assert_applied(&mut netlink, &adds);
    let mut watch = Watch::start();
    let dels: Vec<Change> = rules.into_iter().map(Change::DelRule).collect();
    assert_applied(&mut netlink, &dels);
    assert_eq!(watch.triggers(), vec![Trigger::KernelChanged]);
}

#[test]
fn additions_trigger_nothing() {
    let t = inside("monadd");
    t.ns.veth("va", "vb", None);
    ip(&t, "link set va up");
    let mut watch = Watch::start();
    ip(&t, "address add 10.5.0.2/24 dev va");
    ip(&t, "address add fd00::2/64 dev va nodad");
    ip(&t, "rule add priority 300 lookup 10001");
    ip(&t, "route add 10.6.0.0/24 dev va table 10001 proto 201");
    ip(&t, "-6 route add fd01::/64 dev va table 10001 proto 201");
    assert_eq!(watch.triggers(), vec![]);
}

#[test]
fn a_queue_overflow_is_reported_once_and_reading_goes_on() {
    let t = inside("monflood");
    t.ns.veth("va", "vb", None);
    ip(&t, "link set va up");
    let oif = t.ns.ifindex("va");
    let mut monitor = Monitor::open().unwrap();
    let mut netlink = Netlink::open().unwrap();
    let adds: Vec<Change> = (0..FLOOD)
        .map(|i| Change::AddRoute(route(oif, i)))
        .collect();
    assert_applied(&mut netlink, &adds);
    let mut events = Vec::new();
    loop {
        let batch = monitor.next_batch(Duration::from_millis(100)).unwrap();
        if batch.is_empty() {
            break;
        }
        events.extend(batch);
    }
    let overflows = events.iter().filter(|e| **e == Event::Overflow).count();
    assert_eq!(overflows, 1, "{} events", events.len());
    assert!(events.len() < FLOOD as usize, "{} events", events.len());

    assert_applied(&mut netlink, &[Change::DelRoute(route(oif, 7))]);
    let removed = monitor.next_batch(Duration::from_secs(1)).unwrap();
    assert_eq!(removed, vec![Event::RouteDel(route(oif, 7))]);
}

/// Route additions enough to overflow the monitor's receive queue: about 10,000 events fit
/// in its 8 MiB.
const FLOOD: u32 = 20_000;

fn route(oif: u32, i: u32) -> Route {
    Route {
        table: TABLE,
        dst: format!("11.{}.{}.0/24", i / 256, i % 256).parse().unwrap(),
        gateway: None,
        src: None,
        oif: Some(oif),
        protocol: 201,
        scope: Scope::Link,
        kind: RouteType::Unicast,
        onlink: false,
        advertised: None,
    }
}
