//! The API's footprint: exactly one thread, however many connections are open. Alone in its
//! own test binary, so no other test's threads change the count.
mod api_client;

use api_client::*;
use cloud_network::api::Limits;
use std::io::Write;
use std::time::{Duration, Instant};

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn one_thread_serves_200_idle_connections_and_a_quick_request() {
    let before = thread_count();
    let api = start(Limits::default());
    assert_eq!(thread_count(), before + 1);
    let connecting = Instant::now();
    let idle: Vec<_> = (0..200).map(|_| api.connect()).collect();
    let burst = connecting.elapsed();
    assert!(burst < Duration::from_millis(900), "SYN retries? {burst:?}");
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let mut stream = api.connect();
    stream.write_all(get("/api/v1/links").as_bytes()).unwrap();
    let reply = read_reply(&mut stream, false);
    let elapsed = started.elapsed();
    assert_eq!((reply.status, reply.body.as_str()), (200, "[]"));
    assert!(elapsed < Duration::from_millis(200), "{elapsed:?}");
    assert_eq!(thread_count(), before + 1);
    let mut still_open = idle;
    assert!(!closed_within(
        &mut still_open[0],
        Duration::from_millis(50)
    ));
    assert!(!closed_within(
        &mut still_open[199],
        Duration::from_millis(50)
    ));
    api.handle.shutdown();
    assert_eq!(thread_count(), before);
}
