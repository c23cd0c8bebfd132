//! A minimal HTTP/1.1 client over std `TcpStream` for the API server tests, and the snapshot
//! they serve.
#![allow(dead_code)]

use cloud_network::api::{self, ApiHandle, ApiOptions, Limits};
use cloud_network::metadata::ProviderKind;
use cloud_network::privileges::confine::Confinement;
use cloud_network::snapshot::{SharedSnapshot, Snapshot};
use cloud_network::trigger::{self, Triggers};
use serde_json::json;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

pub const SYSTEM_JSON: &str = r#"{"instance":{"id":"42"}}"#;

pub struct Api {
    pub handle: ApiHandle,
    pub triggers: Triggers,
    pub snapshot: SharedSnapshot,
}

impl Api {
    pub fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
    }
}

/// A GCP snapshot with a small system document.
pub fn snapshot() -> Snapshot {
    let mut snap = Snapshot::starting(Some(ProviderKind::Gcp), "2024-02-29T00:00:00Z".into());
    snap.system = Some(Arc::new(json!({"instance": {"id": "42"}})));
    snap
}

/// Starts the API on 127.0.0.1 (a free port) with `limits`.
pub fn start(limits: Limits) -> Api {
    let (wake, triggers) = trigger::channel().expect("trigger channel");
    let snapshot = SharedSnapshot::new(snapshot());
    let options = ApiOptions {
        serve_credentials: false,
        listen: "127.0.0.1:5209".parse().unwrap(),
        limits,
    };
    let any_port: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let handle = api::spawn(
        any_port,
        snapshot.clone(),
        wake,
        options,
        Confinement::NoCapabilities,
    )
    .unwrap();
    Api {
        handle,
        triggers,
        snapshot,
    }
}

/// Production limits with short timeouts, so deadline tests run in well under a second.
pub fn fast_limits() -> Limits {
    Limits {
        head_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(300),
        write_timeout: Duration::from_millis(300),
        ..Limits::default()
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `GET path` with Host: localhost.
pub fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")
}

/// Reads one response (head, then Content-Length bytes of body unless `head_only`).
pub fn read_reply(stream: &mut TcpStream, head_only: bool) -> Reply {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).unwrap();
        assert_eq!(n, 1, "connection closed inside a response head: {head:?}");
        head.push(byte[0]);
    }
    let text = String::from_utf8(head).unwrap();
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(": ").unwrap();
            (n.to_string(), v.to_string())
        })
        .collect();
    let mut reply = Reply {
        status,
        headers,
        body: String::new(),
    };
    let length: usize = reply.header("Content-Length").unwrap().parse().unwrap();
    if !head_only {
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).unwrap();
        reply.body = String::from_utf8(body).unwrap();
    }
    reply
}

/// Sends `request` on a fresh connection and reads the reply.
pub fn exchange(api: &Api, request: &[u8]) -> Reply {
    let mut stream = api.connect();
    stream.write_all(request).unwrap();
    read_reply(&mut stream, false)
}

/// True when the server has closed the connection (EOF or reset) within `wait`.
pub fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(e) => panic!("unexpected read error: {e}"),
        }
    }
}
