//! Root-only namespace tests of a NIC table following the routers of its link, with real
//! router advertisements: the test sends them (a raw ICMPv6 socket in the VM namespace) from
//! two link-local addresses on eth1's veth peer, the kernel of the VM learns the default
//! routes, and the daemon (EC2: no IPv6 gateway in the metadata) copies the one the kernel
//! uses, with its preference and lifetime; a router coming and going every 100 ms costs a few
//! table writes a second, counted from a netlink event subscription. (The kernel announces a
//! router that comes or goes, not a changed preference or a renewed lifetime: those are
//! followed at the next round.)

mod support;

use cloud_network::netlink::monitor::Event;
use serde_json::{Map, Value};
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};
use support::aws::{AWS, AWS_SCENARIO};
use support::events::KernelEvents;
use support::netns::require_root;
use support::running::{request, wait_for, write_config, Daemon, API};
use support::scene::Scene;

const ROUTER_A: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0xa);
const ROUTER_B: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0xb);
const HIGH: u8 = 1;
const MEDIUM: u8 = 0;
const LOW: u8 = 3;

/// EC2 with an IPv6 address on eth1 and no IPv6 gateway (EC2 gives none).
fn scenario() -> String {
    let mut tree: Map<String, Value> = serde_json::from_str(AWS_SCENARIO).expect("aws scenario");
    let dir = "meta-data/network/interfaces/macs/0a:3f:5c:1e:7d:02/";
    for (leaf, body) in [
        ("ipv6s", "2600:1f14:abc:de01::3c"),
        ("subnet-ipv6-cidr-blocks", "2600:1f14:abc:de01::/64"),
    ] {
        tree.insert(format!("{dir}{leaf}"), Value::String(body.to_string()));
    }
    Value::Object(tree).to_string()
}

/// The VM with eth1's peer p1 up, holding the two routers' link-local addresses.
fn scene(prefix: &str) -> Scene {
    let scene = Scene::new(prefix, AWS, Some(&scenario()));
    let ns = &scene.ns;
    ns.run_ok(&["sysctl", "-qw", "net.ipv6.conf.eth1.accept_ra=1"]);
    ns.run_ok(&["ip", "link", "set", "p1", "up"]);
    for router in [ROUTER_A, ROUTER_B] {
        let addr = format!("{router}/64");
        ns.run_ok(&["ip", "address", "add", &addr, "dev", "p1", "nodad"]);
    }
    scene
}

fn start(scene: &Scene) -> Daemon {
    let dir = scene.dir.path();
    let state = dir.join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    let config = write_config(
        &dir.join("daemon.toml"),
        "aws",
        &scene.emulator.base_url(),
        &state,
        "RefreshTimer = \"1h\"",
    );
    Daemon::start(&scene.ns, &config, &dir.join("daemon.log"), &[])
}

fn ifindex(name: &str) -> u32 {
    let name = std::ffi::CString::new(name).expect("name");
    // SAFETY: a NUL-terminated name; 0 means no such link.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    assert_ne!(index, 0, "no link {name:?}");
    index
}

fn sockaddr(addr: Ipv6Addr, scope: u32) -> libc::sockaddr_in6 {
    // SAFETY: sockaddr_in6 is plain data; all zeros is a valid value.
    let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sa.sin6_addr.s6_addr = addr.octets();
    sa.sin6_scope_id = scope;
    sa
}

/// One router advertisement from `router` (on p1) to all nodes of the link: router lifetime
/// `lifetime` s (0: the router leaves), preference `pref` (RFC 4191 bits). The kernel fills in
/// the ICMPv6 checksum.
fn advertise(router: Ipv6Addr, pref: u8, lifetime: u16) {
    let p1 = ifindex("p1");
    let [hi, lo] = lifetime.to_be_bytes();
    let ra = [134, 0, 0, 0, 64, pref << 3, hi, lo, 0, 0, 0, 0, 0, 0, 0, 0];
    let size = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    // SAFETY: plain socket calls on a descriptor this function owns and closes; every pointer
    // is to a live local of the size given.
    unsafe {
        let fd = libc::socket(libc::AF_INET6, libc::SOCK_RAW, libc::IPPROTO_ICMPV6);
        assert!(fd >= 0, "raw ICMPv6 socket");
        let hops: libc::c_int = 255;
        let int = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let hops_ptr = (&hops as *const libc::c_int).cast();
        libc::setsockopt(
            fd,
            libc::IPPROTO_IPV6,
            libc::IPV6_MULTICAST_HOPS,
            hops_ptr,
            int,
        );
        let source = sockaddr(router, p1);
        let bound = libc::bind(fd, (&source as *const libc::sockaddr_in6).cast(), size);
        assert_eq!(
            bound,
            0,
            "bind {router}: {}",
            std::io::Error::last_os_error()
        );
        let all_nodes = sockaddr("ff02::1".parse().expect("ff02::1"), p1);
        let sent = libc::sendto(
            fd,
            ra.as_ptr().cast(),
            ra.len(),
            0,
            (&all_nodes as *const libc::sockaddr_in6).cast(),
            size,
        );
        assert_eq!(
            sent,
            ra.len() as isize,
            "{}",
            std::io::Error::last_os_error()
        );
        libc::close(fd);
    }
}

/// The IPv6 default routes of `table` as `ip -j` shows them: (gateway, pref, expires).
fn defaults(scene: &Scene, table: &str) -> Vec<(String, String, u64)> {
    // Table 10001 does not exist before the daemon's first route in it.
    let out = scene
        .ns
        .run(&["ip", "-j", "-6", "route", "show", "default", "table", table]);
    let routes: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let text = |r: &Value, key: &str| r[key].as_str().unwrap_or_default().to_string();
    routes
        .as_array()
        .map(|list| {
            list.iter()
                .map(|r| {
                    let expires = r["expires"].as_u64().unwrap_or(0);
                    (text(r, "gateway"), text(r, "pref"), expires)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Waits (10 s) until table 10001's IPv6 default is via `gateway` with `pref` (None: no
/// default), its lifetime at most `lifetime`.
fn wait_for_copy(scene: &Scene, daemon: &Daemon, want: Option<(Ipv6Addr, &str)>, lifetime: u64) {
    let matches = |copies: &[(String, String, u64)]| match (want, copies) {
        (None, []) => true,
        (Some((gateway, pref)), [(via, p, expires)]) => {
            *via == gateway.to_string() && p == pref && *expires > 0 && *expires <= lifetime
        }
        _ => false,
    };
    let reached = wait_for(Duration::from_secs(10), || {
        matches(&defaults(scene, "10001")).then_some(())
    });
    assert!(
        reached.is_some(),
        "table 10001: {:?}, wanted {want:?}; main: {:?}\n{}",
        defaults(scene, "10001"),
        defaults(scene, "main"),
        daemon.log_text()
    );
}

/// Waits (10 s) for eth1's IPv6 subnet route in table 10001: the daemon configured the VM.
fn wait_configured(scene: &Scene, daemon: &Daemon) {
    let subnet = || {
        let out = scene
            .ns
            .run(&["ip", "-6", "route", "show", "table", "10001"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.contains("2600:1f14:abc:de01::/64").then_some(())
    };
    let configured = wait_for(Duration::from_secs(10), subnet);
    assert!(
        configured.is_some(),
        "not configured:\n{}",
        daemon.log_text()
    );
    assert_eq!(defaults(scene, "10001"), [], "no router yet, no default");
}

/// The gateway the kernel itself takes on eth1 (`ip -6 route get` from main).
fn kernels_gateway(scene: &Scene) -> String {
    let got = scene.ns.json(&[
        "ip",
        "-j",
        "-6",
        "route",
        "get",
        "2600:1f18::1",
        "oif",
        "eth1",
    ]);
    got[0]["gateway"].as_str().unwrap_or_default().to_string()
}

#[test]
fn of_two_routers_the_table_copies_the_one_the_kernel_uses_with_preference_and_lifetime() {
    require_root();
    let scene = scene("rt-pref");
    let daemon = start(&scene);
    wait_configured(&scene, &daemon);
    advertise(ROUTER_A, MEDIUM, 1800);
    wait_for_copy(&scene, &daemon, Some((ROUTER_A, "medium")), 1800);
    advertise(ROUTER_B, HIGH, 600);
    wait_for_copy(&scene, &daemon, Some((ROUTER_B, "high")), 600);
    assert_eq!(kernels_gateway(&scene), ROUTER_B.to_string());
    assert_eq!(defaults(&scene, "main").len(), 2, "both routers learned");

    // A changed preference reaches the kernel without an event: the next round follows it.
    advertise(ROUTER_B, LOW, 600);
    refresh();
    wait_for_copy(&scene, &daemon, Some((ROUTER_A, "medium")), 1800);
    assert_eq!(kernels_gateway(&scene), ROUTER_A.to_string());
    advertise(ROUTER_A, MEDIUM, 0);
    wait_for_copy(&scene, &daemon, Some((ROUTER_B, "low")), 600);
    advertise(ROUTER_B, LOW, 0);
    wait_for_copy(&scene, &daemon, None, 0);
}

/// Asks the daemon for a round (`POST /api/v1/refresh`).
fn refresh() {
    let answer = request(API, "POST", "/api/v1/refresh", Duration::from_secs(5));
    assert_eq!(answer.map(|(status, _)| status), Some(202));
}

/// Writes to table 10001's IPv6 default among `events`.
fn copy_writes(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| match e {
            Event::RouteNew(r) | Event::RouteDel(r) => {
                r.table == 10001 && !r.dst.addr().is_ipv4() && r.dst.prefix() == 0
            }
            _ => false,
        })
        .count()
}

#[test]
fn a_router_flapping_every_100_ms_costs_a_few_table_writes_a_second() {
    require_root();
    let scene = scene("rt-flap");
    let daemon = start(&scene);
    wait_configured(&scene, &daemon);
    advertise(ROUTER_A, MEDIUM, 1800);
    wait_for_copy(&scene, &daemon, Some((ROUTER_A, "medium")), 1800);
    let mut events = KernelEvents::open();
    let started = Instant::now();
    let mut flips = 0;
    // Router B comes (high preference: the kernel takes it) and goes, every 100 ms.
    while started.elapsed() < Duration::from_secs(5) {
        let lifetime = if flips % 2 == 0 { 600 } else { 0 };
        advertise(ROUTER_B, HIGH, lifetime);
        flips += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    let seconds = started.elapsed().as_secs() + 1;
    let writes = copy_writes(&events.drain());
    eprintln!("{writes} writes to the copy for {flips} flips in {seconds} s");
    // Undamped, each flip moved the copy: a delete and an add, 2 writes per flip.
    assert!(flips >= 40, "{flips} flips");
    assert!(
        writes <= 2 * (3 + seconds as usize),
        "{writes} writes to the copy for {flips} flips in {seconds} s\n{}",
        daemon.log_text()
    );
    let b_stayed = flips % 2 == 1;
    let want = if b_stayed {
        (ROUTER_B, "high")
    } else {
        (ROUTER_A, "medium")
    };
    wait_for_copy(&scene, &daemon, Some(want), 1800);
}
