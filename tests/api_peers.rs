//! Who may ask is decided by the peer's address, over real sockets in a namespace the test
//! builds: a listener on a non-loopback address, clients from another address of the
//! namespace and from loopback. Secrets (credentials, identity documents) and work (refresh,
//! check) answer loopback peers only; a `Host` naming localhost from elsewhere is refused.
mod api_client;
mod support;

use api_client::{read_reply, Reply};
use cloud_network::api::{self, ApiHandle, ApiOptions, Limits};
use cloud_network::metadata::ProviderKind;
use cloud_network::privileges::confine::Confinement;
use cloud_network::snapshot::{Ec2Documents, SharedSnapshot, Snapshot};
use cloud_network::trigger::{self, Triggers};
use serde_json::json;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::FromRawFd;
use std::sync::mpsc::TryRecvError;
use support::netns::{require_root, Netns};

const REMOTE: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
const CREDENTIALS: &str = r#"{"AccessKeyId":"AKIA","SecretAccessKey":"s3cr3t","Token":"t"}"#;

/// A namespace with lo up and a veth link holding 10.9.0.1/24 and 10.9.0.2/24.
fn namespace() -> Netns {
    let ns = Netns::new("peers");
    ns.run_ok(&["ip", "link", "set", "lo", "up"]);
    ns.veth("d0", "d1", None);
    ns.run_ok(&["ip", "address", "add", "10.9.0.1/24", "dev", "d0"]);
    ns.run_ok(&["ip", "address", "add", "10.9.0.2/24", "dev", "d0"]);
    ns.run_ok(&["ip", "link", "set", "d0", "up"]);
    ns.run_ok(&["ip", "link", "set", "d1", "up"]);
    ns
}

fn ec2_snapshot() -> Snapshot {
    let mut snap = Snapshot::starting(Some(ProviderKind::Aws), "2024-02-29T00:00:00Z".into());
    snap.ec2 = Some(Ec2Documents {
        document: Some(json!({"instanceId": "i-0abc"})),
        pkcs7: Some("MIIB".into()),
        signature: Some("c2ln".into()),
        rsa2048: Some("MIIR".into()),
        credentials: Some(serde_json::from_str(CREDENTIALS).unwrap()),
    });
    snap
}

/// The API on `listen` (bound in the calling thread's namespace), serving credentials.
fn serve(listen: &str) -> (ApiHandle, Triggers) {
    let listen: SocketAddr = listen.parse().unwrap();
    let (wake, triggers) = trigger::channel().expect("trigger channel");
    let options = ApiOptions {
        serve_credentials: true,
        listen,
        limits: Limits::default(),
    };
    let snapshot = SharedSnapshot::new(ec2_snapshot());
    let handle = api::spawn(listen, snapshot, wake, options, Confinement::NoCapabilities);
    (handle.expect("start the API"), triggers)
}

/// A TCP connection to `to` from the local address `from`.
fn connect_from(from: Ipv4Addr, to: SocketAddr) -> TcpStream {
    // SAFETY: plain socket calls on a descriptor created here; the sockaddr_in is a live
    // local whose size is passed along.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let stream = TcpStream::from_raw_fd(fd);
        let sin = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(ip).to_be(),
            },
            sin_zero: [0; 8],
        };
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let local = sin(from, 0);
        let bound = libc::bind(fd, std::ptr::from_ref(&local).cast(), len);
        assert_eq!(bound, 0, "bind: {}", std::io::Error::last_os_error());
        let IpAddr::V4(ip) = to.ip() else {
            panic!("IPv4 only")
        };
        let remote = sin(ip, to.port());
        let connected = libc::connect(fd, std::ptr::from_ref(&remote).cast(), len);
        assert_eq!(connected, 0, "connect: {}", std::io::Error::last_os_error());
        stream
    }
}

fn ask(from: Ipv4Addr, to: &str, request: &str) -> Reply {
    let mut stream = connect_from(from, to.parse().unwrap());
    stream.write_all(request.as_bytes()).unwrap();
    read_reply(&mut stream, false)
}

fn error(message: &str) -> String {
    json!({ "error": message }).to_string()
}

#[test]
fn secrets_and_work_answer_loopback_peers_only_whatever_the_host_says() {
    require_root();
    let ns = namespace();
    let _inside = ns.enter();
    let (_api, triggers) = serve("10.9.0.1:5209");
    let to = "10.9.0.1:5209";
    let as_listen = |method: &str, path: &str| {
        let request =
            format!("{method} {path} HTTP/1.1\r\nHost: {to}\r\nContent-Length: 0\r\n\r\n");
        ask(REMOTE, to, &request)
    };
    let status = as_listen("GET", "/api/v1/status");
    assert_eq!(status.status, 200, "{}", status.body);
    for (method, path) in [
        ("GET", "/api/cloud/credentials"),
        ("GET", "/api/cloud/dynamicinstanceidentity/document"),
        ("GET", "/api/cloud/dynamicinstanceidentity/pkcs7"),
        ("GET", "/api/cloud/dynamicinstanceidentity/signature"),
        ("GET", "/api/cloud/dynamicinstanceidentity/rsa2048"),
        ("POST", "/api/v1/refresh"),
        ("GET", "/api/v1/check"),
    ] {
        let reply = as_listen(method, path);
        let message = format!(
            "{path} is answered only to clients on this machine (loopback); this request came \
             from 10.9.0.2"
        );
        assert_eq!((reply.status, reply.body), (403, error(&message)), "{path}");
    }
    for host in ["localhost", "localhost:5209", "127.0.0.1:5209", "[::1]"] {
        let request = format!("GET /api/cloud/credentials HTTP/1.1\r\nHost: {host}\r\n\r\n");
        let reply = ask(REMOTE, to, &request);
        let message = format!(
            "Host \"{host}\" names this machine's loopback, but this request came from 10.9.0.2"
        );
        assert_eq!((reply.status, reply.body), (403, error(&message)), "{host}");
    }
    assert_eq!(triggers.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn on_a_wildcard_listen_loopback_gets_the_credentials_and_the_network_does_not() {
    require_root();
    let ns = namespace();
    let _inside = ns.enter();
    let (_v4, _) = serve("0.0.0.0:5209");
    let (_v6, _) = serve("[::]:5210");
    let request = "GET /api/cloud/credentials HTTP/1.1\r\nHost: localhost\r\n\r\n";
    for to in ["10.9.0.1:5209", "10.9.0.1:5210"] {
        let local = ask(Ipv4Addr::LOCALHOST, to, request);
        assert_eq!(
            (local.status, local.body.as_str()),
            (200, CREDENTIALS),
            "{to}"
        );
        let remote = ask(REMOTE, to, request);
        let message =
            "Host \"localhost\" names this machine's loopback, but this request came from 10.9.0.2";
        assert_eq!((remote.status, remote.body), (403, error(message)), "{to}");
    }
}
