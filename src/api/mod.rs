//! The local REST API (default 127.0.0.1:5209): its options and limits, start-up and shutdown.
//! One thread serves every connection with a poll(2) loop over non-blocking sockets (see
//! `server`), so slow or hostile clients cost bounded memory and never a thread; answers come
//! from the last published snapshot (see `routes`); the reply-path check runs on a thread of
//! its own, one at a time, its result shared (see `checks`).

mod checks;
mod conn;
mod http;
mod routes;
mod server;

pub use checks::{CHECK_BUDGET, CHECK_KEPT};
pub use http::{parse_head, HeadError, Parsed, RequestHead, Response, Version};
pub use routes::{host_allowed, respond, Reply};

use crate::config::Config;
use crate::privileges::confine::{spawn_confined, Confinement, Confining};
use crate::snapshot::SharedSnapshot;
use crate::sys::{self, EventFd};
use crate::trigger::Wake;
use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Open connections at most; a new one past this closes the longest-idle one.
const MAX_CONNECTIONS: usize = 256;
/// Request line plus headers, in bytes; longer → 431 and close.
pub const MAX_HEAD: usize = 8 * 1024;
/// Request body, in bytes; longer → 413 and close.
pub const MAX_BODY: usize = 4 * 1024;
/// A request (head and body) must arrive within this time of its first byte, and a new
/// connection must start one within this time of being accepted; else 408 and close.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// A keep-alive connection with no request in flight is closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// A response the client does not read within this time drops the connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Pending connections the kernel queues for `accept` (std binds with 128, which a burst of
/// connects overflows, costing the client a one-second SYN retry); capped by somaxconn.
const LISTEN_BACKLOG: libc::c_int = 1024;

/// The bounds every connection lives within; production uses the constants above, tests
/// shorten the timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    pub max_head: usize,
    pub max_body: usize,
    pub head_timeout: Duration,
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: MAX_CONNECTIONS,
            max_head: MAX_HEAD,
            max_body: MAX_BODY,
            head_timeout: HEAD_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            write_timeout: WRITE_TIMEOUT,
        }
    }
}

/// What the API needs from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiOptions {
    /// `[Network] ServeCredentials`: serve EC2 IAM credentials over TCP.
    pub serve_credentials: bool,
    /// `[Network] Listen`: a non-loopback Listen address is also accepted as a Host.
    pub listen: SocketAddr,
    pub limits: Limits,
}

impl ApiOptions {
    /// The options for `config`, with the production limits.
    pub fn from_config(config: &Config) -> ApiOptions {
        ApiOptions {
            serve_credentials: config.serve_credentials,
            listen: config.listen,
            limits: Limits::default(),
        }
    }
}

/// Why the API could not start.
#[derive(Debug)]
pub enum ApiError {
    /// The Listen address could not be bound (in use, not local, or a privileged port).
    Bind { addr: SocketAddr, source: io::Error },
    /// Setting up the listener or the wake-up descriptor failed.
    Setup {
        what: &'static str,
        source: io::Error,
    },
    /// The API thread could not be started or could not drop its privileges.
    Spawn(io::Error),
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            ApiError::Setup { what, source } => write!(f, "API set-up failed ({what}): {source}"),
            ApiError::Spawn(source) => write!(f, "cannot start the API thread: {source}"),
        }
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ApiError::Bind { source, .. } | ApiError::Setup { source, .. } => Some(source),
            ApiError::Spawn(source) => Some(source),
        }
    }
}

/// The running API; `shutdown` (or dropping it) stops the thread and frees the port.
#[derive(Debug)]
pub struct ApiHandle {
    local_addr: SocketAddr,
    wakeup: Arc<EventFd>,
    thread: Option<JoinHandle<()>>,
}

impl ApiHandle {
    /// The bound address (the real port when Listen's port was 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Wakes the poll loop, which closes every connection and the listener, and joins it.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        if let Err(e) = self.wakeup.signal() {
            log::error!("cannot wake the API thread to stop it: {e}");
            return;
        }
        if thread.join().is_err() {
            log::error!("the API thread panicked");
        }
    }
}

impl Drop for ApiHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Binds `listen` (so a bind error reaches the caller before any thread starts), then serves
/// the API from one thread named "api", which parses requests with no capability at all
/// (dropped to `confinement` before it reads a byte).
pub fn spawn(
    listen: SocketAddr,
    snapshot: SharedSnapshot,
    wake: Wake,
    options: ApiOptions,
    confinement: Confinement,
) -> Result<ApiHandle, ApiError> {
    let listener = TcpListener::bind(listen).map_err(|source| ApiError::Bind {
        addr: listen,
        source,
    })?;
    let setup = |what| move |source| ApiError::Setup { what, source };
    listener
        .set_nonblocking(true)
        .map_err(setup("non-blocking listener"))?;
    raise_backlog(&listener).map_err(setup("listen backlog"))?;
    let local_addr = listener.local_addr().map_err(setup("listener address"))?;
    let wakeup = Arc::new(EventFd::new().map_err(setup("eventfd"))?);
    let checks_done = EventFd::new().map_err(setup("check eventfd"))?;
    let server = server::Server::new(
        listener,
        Arc::clone(&wakeup),
        snapshot,
        wake,
        options,
        checks_done,
    );
    let thread = spawn_confined("api", confinement, move || server.run())
        .and_then(Confining::confirmed)
        .map_err(ApiError::Spawn)?;
    Ok(ApiHandle {
        local_addr,
        wakeup,
        thread: Some(thread),
    })
}

/// Calling listen(2) again on a listening socket only changes its backlog.
fn raise_backlog(listener: &TcpListener) -> io::Result<()> {
    sys::listen(listener.as_raw_fd(), LISTEN_BACKLOG)
}

#[cfg(test)]
mod tests;
