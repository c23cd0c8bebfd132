//! systemd's notify protocol (`sd_notify`) written out by hand: one datagram per message to
//! the socket named by NOTIFY_SOCKET, and the watchdog interval from WATCHDOG_USEC. Failures
//! are logged at debug and never stop the daemon, and neither does a receiver that stopped
//! reading: the socket never blocks. `READY=1` and `STOPPING=1` wait up to a second for room in
//! its queue; `STATUS=` and `WATCHDOG=1` are dropped when there is none (the next one says
//! it again), so a full queue cannot hold the reconcile thread or the shutdown.

use std::ffi::OsStr;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::{Duration, Instant};

/// How long `READY=1` and `STOPPING=1` wait for room in a full receive queue.
const PATIENCE: Duration = Duration::from_secs(1);

/// Where systemd listens, when it runs us with `Type=notify`.
pub(crate) struct Notifier {
    socket: UnixDatagram,
    target: SocketAddr,
}

impl Notifier {
    /// From NOTIFY_SOCKET; `None` when it is unset or unusable (then there is nothing to tell).
    pub(crate) fn from_env() -> Option<Notifier> {
        Notifier::for_socket(&std::env::var_os("NOTIFY_SOCKET")?)
    }

    /// For one NOTIFY_SOCKET value: an absolute path, or `@` and an abstract socket name.
    fn for_socket(value: &OsStr) -> Option<Notifier> {
        let target = match socket_address(value.as_bytes()) {
            Ok(target) => target,
            Err(e) => {
                log::debug!("NOTIFY_SOCKET {value:?} not usable: {e}");
                return None;
            }
        };
        match UnixDatagram::unbound().and_then(|s| s.set_nonblocking(true).map(|()| s)) {
            Ok(socket) => Some(Notifier { socket, target }),
            Err(e) => {
                log::debug!("cannot open a socket for systemd notifications: {e}");
                None
            }
        }
    }

    /// `READY=1`: start-up is complete.
    pub(crate) fn ready(&self) {
        self.send_waiting("READY=1", PATIENCE);
    }

    /// `STATUS=...`: one line for `systemctl status` (line breaks become spaces).
    pub(crate) fn status(&self, text: &str) {
        self.send(&format!("STATUS={}", text.replace('\n', " ")));
    }

    /// `WATCHDOG=1`: still alive; send every [`watchdog_interval`].
    pub(crate) fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    /// `STOPPING=1`: shutting down.
    pub(crate) fn stopping(&self) {
        self.send_waiting("STOPPING=1", PATIENCE);
    }

    /// Sends one message as is (newline-separated `KEY=value` lines), or drops it when the
    /// receiver's queue is full.
    pub(crate) fn send(&self, message: &str) {
        self.send_waiting(message, Duration::ZERO);
    }

    /// Sends one message, retrying while the receiver's queue is full, for up to `patience`.
    fn send_waiting(&self, message: &str, patience: Duration) {
        let deadline = Instant::now() + patience;
        loop {
            match self.socket.send_to_addr(message.as_bytes(), &self.target) {
                Ok(_) => return,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => {
                    log::debug!("systemd notification {message:?} not sent: {e}");
                    return;
                }
            }
        }
    }
}

fn socket_address(value: &[u8]) -> std::io::Result<SocketAddr> {
    match value {
        [b'@', name @ ..] => SocketAddr::from_abstract_name(name),
        [b'/', ..] => SocketAddr::from_pathname(OsStr::from_bytes(value)),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "neither an absolute path nor an abstract name",
        )),
    }
}

/// How often to send [`Notifier::watchdog`]: half of WATCHDOG_USEC, when it is set and meant
/// for this process (WATCHDOG_PID unset or ours).
pub(crate) fn watchdog_interval() -> Option<Duration> {
    let usec = std::env::var("WATCHDOG_USEC").ok();
    let pid = std::env::var("WATCHDOG_PID").ok();
    interval_for(usec.as_deref(), pid.as_deref(), std::process::id())
}

fn interval_for(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok() != Some(own_pid) {
            return None;
        }
    }
    let usec: u64 = usec?.trim().parse().ok().filter(|usec| *usec > 0)?;
    Some(Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};

    static COUNTER: AtomicU32 = AtomicU32::new(0);

    fn unique(prefix: &str) -> String {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}-{}-{n}", std::process::id())
    }

    /// A directory under the system temp dir, removed with its contents on drop.
    struct TempDir(PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn received(listener: &UnixDatagram) -> String {
        let mut buf = [0; 256];
        let len = listener.recv(&mut buf).unwrap();
        String::from_utf8(buf[..len].to_vec()).unwrap()
    }

    fn send_all(notifier: &Notifier) {
        notifier.ready();
        notifier.status("configured 2 links\nwaiting");
        notifier.watchdog();
        notifier.stopping();
        notifier.send("RELOADING=1\nMONOTONIC_USEC=5");
    }

    fn assert_all_received(listener: &UnixDatagram) {
        assert_eq!(received(listener), "READY=1");
        assert_eq!(received(listener), "STATUS=configured 2 links waiting");
        assert_eq!(received(listener), "WATCHDOG=1");
        assert_eq!(received(listener), "STOPPING=1");
        assert_eq!(received(listener), "RELOADING=1\nMONOTONIC_USEC=5");
    }

    #[test]
    fn messages_reach_a_path_socket_one_datagram_each() {
        let dir = TempDir(std::env::temp_dir().join(unique("cn-notify")));
        std::fs::create_dir(&dir.0).unwrap();
        let path = dir.0.join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier::for_socket(path.as_os_str()).expect("notifier");
        send_all(&notifier);
        assert_all_received(&listener);
    }

    #[test]
    fn messages_reach_an_abstract_socket() {
        let name = unique("cn-notify");
        let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&address).unwrap();
        let notifier = Notifier::for_socket(OsStr::new(&format!("@{name}"))).expect("notifier");
        send_all(&notifier);
        assert_all_received(&listener);
    }

    #[test]
    fn an_unusable_value_gives_no_notifier_and_a_gone_listener_is_not_fatal() {
        assert!(Notifier::for_socket(OsStr::new("")).is_none());
        assert!(Notifier::for_socket(OsStr::new("relative/notify")).is_none());
        assert!(Notifier::for_socket(OsStr::new("vsock:2:1234")).is_none());
        let gone = Notifier::for_socket(OsStr::new("/nonexistent/cn-notify")).expect("notifier");
        gone.ready();
    }

    #[test]
    fn a_receiver_that_stopped_reading_holds_no_sender() {
        let name = unique("cn-notify-full");
        let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&address).unwrap();
        let notifier = Notifier::for_socket(OsStr::new(&format!("@{name}"))).expect("notifier");
        let mut queued = 0;
        while notifier
            .socket
            .send_to_addr(b"STATUS=filler", &address)
            .is_ok()
        {
            queued += 1;
        }
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let started = Instant::now();
            notifier.status("configured");
            notifier.watchdog();
            notifier.ready();
            notifier.stopping();
            let _ = done.send(started.elapsed());
        });
        let took = finished
            .recv_timeout(Duration::from_secs(10))
            .expect("the notifier blocked on a full queue");
        assert!(
            took >= 2 * PATIENCE,
            "READY and STOPPING waited for room: {took:?}"
        );
        for _ in 0..queued {
            assert_eq!(received(&listener), "STATUS=filler");
        }
        listener.set_nonblocking(true).unwrap();
        assert!(
            listener.recv(&mut [0; 64]).is_err(),
            "a dropped message arrived"
        );
    }

    #[test]
    fn the_watchdog_interval_is_half_the_timeout_when_meant_for_us() {
        let half = Some(Duration::from_secs(15));
        assert_eq!(interval_for(Some("30000000"), None, 42), half);
        assert_eq!(interval_for(Some("30000000"), Some("42"), 42), half);
        assert_eq!(interval_for(Some("30000000"), Some("41"), 42), None);
        assert_eq!(interval_for(None, Some("42"), 42), None);
        assert_eq!(interval_for(Some("0"), None, 42), None);
        assert_eq!(interval_for(Some("soon"), None, 42), None);
    }
}
