//! Kernel change events, read through a netlink subscription opened in the calling thread's
//! namespace: a test counts what its changes did to the kernel (the binary keeps no count of
//! its own writes). Open it before the changes; `drain` returns what arrived since.

use cloud_network::netlink::monitor::{Event, Monitor};
use std::net::IpAddr;
use std::time::Duration;

/// How long the kernel stays quiet before the events are taken as complete.
const QUIET: Duration = Duration::from_millis(200);

pub struct KernelEvents {
    monitor: Monitor,
}

impl KernelEvents {
    /// Subscribes in the calling thread's network namespace.
    pub fn open() -> KernelEvents {
        KernelEvents {
            monitor: Monitor::open().expect("subscribe to kernel events"),
        }
    }

    /// Every event since the last call, once none came for 200 ms. Panics on an overflow:
    /// a count with lost events would prove nothing.
    pub fn drain(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        loop {
            let batch = self.monitor.next_batch(QUIET).expect("read kernel events");
            if batch.is_empty() {
                break;
            }
            events.extend(batch);
        }
        assert!(
            !events.contains(&Event::Overflow),
            "kernel events were lost"
        );
        events
    }
}

/// How many of `events` are additions (`new`) or removals of addresses on link `ifindex`,
/// IPv6 link-local ones (which the kernel adds by itself) left out.
pub fn addresses(events: &[Event], new: bool, ifindex: u32) -> usize {
    events
        .iter()
        .filter_map(|e| match e {
            Event::AddressNew(a) if new => Some(a),
            Event::AddressDel(a) if !new => Some(a),
            _ => None,
        })
        .filter(|a| a.ifindex == ifindex && !is_link_local(a.addr.addr()))
        .count()
}

fn is_link_local(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}
