//! A scripted metadata server for provider tests: tiny_http on 127.0.0.1 (port 0) that answers
//! each request with the next scripted `Answer` and records what it was asked. Test-only.

use crate::metadata::http::{HttpConfig, RetryPolicy};
use std::io::{Cursor, Read};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tiny_http::{Header, Response, Server};

/// Fast timeouts, millisecond backoff, three attempts and a 4 MiB body cap: the fetcher
/// settings the provider tests run with.
pub(crate) fn fast() -> HttpConfig {
    HttpConfig {
        connect_timeout: Duration::from_millis(300),
        recv_timeout: Duration::from_millis(300),
        global_timeout: Duration::from_millis(1000),
        body_limit: 4 * 1024 * 1024,
        retry: RetryPolicy {
            attempts: 3,
            base: Duration::from_millis(5),
            max: Duration::from_millis(20),
        },
    }
}

/// What the server does with one request.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Body,
    delay: Duration,
    hang: bool,
}

#[derive(Debug, Clone)]
enum Body {
    Bytes(Vec<u8>),
    /// `n` bytes of `x`, streamed without being held in memory.
    Filler(usize),
}

impl Answer {
    pub(crate) fn status(status: u16) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
            delay: Duration::ZERO,
            hang: false,
        }
    }

    pub(crate) fn ok(body: &str) -> Answer {
        Answer::status(200).body(body)
    }

    /// Keeps the connection open and never answers.
    pub(crate) fn hang() -> Answer {
        Answer {
            hang: true,
            ..Answer::status(200)
        }
    }

    pub(crate) fn body(mut self, body: &str) -> Answer {
        self.body = Body::Bytes(body.as_bytes().to_vec());
        self
    }

    pub(crate) fn filler(mut self, len: usize) -> Answer {
        self.body = Body::Filler(len);
        self
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Answer {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Waits this long before answering (a long-poll that returns on a change).
    pub(crate) fn after(mut self, delay: Duration) -> Answer {
        self.delay = delay;
        self
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seen {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The running server; stops on drop. Requests beyond the script get a 599.
pub(crate) struct ScriptedServer {
    base: String,
    server: Arc<Server>,
    seen: Arc<Mutex<Vec<Seen>>>,
    thread: Option<JoinHandle<()>>,
}

impl ScriptedServer {
    pub(crate) fn start(script: Vec<Answer>) -> ScriptedServer {
        let server = Arc::new(Server::http("127.0.0.1:0").expect("bind 127.0.0.1:0"));
        let addr = server.server_addr().to_ip().expect("an IP listener");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (server, seen) = (Arc::clone(&server), Arc::clone(&seen));
            std::thread::spawn(move || serve(&server, &seen, script))
        };
        ScriptedServer {
            base: format!("http://{addr}"),
            server,
            seen,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen lock").clone()
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(server: &Server, seen: &Mutex<Vec<Seen>>, script: Vec<Answer>) {
    let mut script = script.into_iter();
    let mut held = Vec::new();
    for request in server.incoming_requests() {
        seen.lock().expect("seen lock").push(Seen {
            method: request.method().to_string(),
            url: request.url().to_string(),
            headers: request
                .headers()
                .iter()
                .map(|h| (h.field.to_string(), h.value.to_string()))
                .collect(),
        });
        let answer = script.next().unwrap_or_else(|| Answer::status(599));
        if answer.hang {
            held.push(request);
            continue;
        }
        std::thread::sleep(answer.delay);
        let _ = request.respond(response(answer));
    }
}

fn response(answer: Answer) -> Response<Box<dyn Read + Send>> {
    let headers = answer
        .headers
        .iter()
        .map(|(n, v)| Header::from_bytes(n.as_bytes(), v.as_bytes()).expect("valid header"))
        .collect();
    let (reader, len): (Box<dyn Read + Send>, usize) = match answer.body {
        Body::Bytes(bytes) => {
            let len = bytes.len();
            (Box::new(Cursor::new(bytes)), len)
        }
        Body::Filler(len) => (Box::new(std::io::repeat(b'x').take(len as u64)), len),
    };
    Response::new(answer.status.into(), headers, reader, Some(len), None)
}

/// A server on 127.0.0.1 that answers the n-th connection with the n-th raw byte string as
/// written (after reading the request head) and closes it: for framing a scripted server
/// cannot produce (chunked bodies, a connection closed mid-body). Counts the connections.
pub(crate) struct RawServer {
    base: String,
    accepted: Arc<Mutex<usize>>,
    thread: Option<JoinHandle<()>>,
}

impl RawServer {
    pub(crate) fn start(answers: Vec<Vec<u8>>) -> RawServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let accepted = Arc::new(Mutex::new(0));
        let counter = Arc::clone(&accepted);
        let thread = std::thread::spawn(move || {
            for answer in answers {
                let Ok((mut stream, _)) = listener.accept() else {
                    return;
                };
                *counter.lock().expect("counter lock") += 1;
                read_head(&mut stream);
                let _ = std::io::Write::write_all(&mut stream, &answer);
            }
        });
        RawServer {
            base: format!("http://{addr}"),
            accepted,
            thread: Some(thread),
        }
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// Connections accepted so far.
    pub(crate) fn accepted(&self) -> usize {
        *self.accepted.lock().expect("counter lock")
    }

    /// Waits until every scripted answer was sent.
    pub(crate) fn finish(mut self) -> usize {
        if let Some(thread) = self.thread.take() {
            thread.join().expect("raw server thread");
        }
        self.accepted()
    }
}

/// Reads up to the blank line that ends a request head.
fn read_head(stream: &mut std::net::TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
}
