//! The metadata emulator over real loopback sockets: fixtures served as scenarios, header
//! rules, IMDSv2 tokens, faults, scenario reload, GCP long-polling, the request log, limits.
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use cloud_network::emulator::{self, Emulator, EmulatorConfig, Fault, RequestRecord};
use cloud_network::metadata::ProviderKind;
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const AZURE_URL: &str = "/metadata/instance?api-version=2021-02-01";
const GCP_ROOT: &str = "/computeMetadata/v1/?recursive=true";
const TTL: &str = "X-aws-ec2-metadata-token-ttl-seconds";
const TOKEN: &str = "X-aws-ec2-metadata-token";

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// One HTTP/1.1 exchange on a fresh connection (`Connection: close`).
fn exchange(
    addr: SocketAddr,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> std::io::Result<Answer> {
    exchange_with_body(addr, (method, url), headers, b"", timeout)
}

/// [`exchange`] with a request body (a `PUT` always says its length, also when empty).
fn exchange_with_body(
    addr: SocketAddr,
    (method, url): (&str, &str),
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> std::io::Result<Answer> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(timeout))?;
    let mut request = format!("{method} {url} HTTP/1.1\r\nHost: metadata\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if method == "PUT" || !body.is_empty() {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    Ok(parse_answer(&raw))
}

fn parse_answer(raw: &[u8]) -> Answer {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .expect("status")
        .parse()
        .expect("numeric status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Answer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size");
        let size_text = String::from_utf8_lossy(&data[..line_end]).into_owned();
        let size = usize::from_str_radix(size_text.trim(), 16).expect("hex chunk size");
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 4 + size..];
    }
}

fn get(addr: SocketAddr, url: &str, headers: &[(&str, &str)]) -> Answer {
    exchange(addr, "GET", url, headers, Duration::from_secs(5)).expect("answer")
}

fn azure_get(addr: SocketAddr, url: &str) -> Answer {
    get(addr, url, &[("Metadata", "true")])
}

fn gcp_get(addr: SocketAddr, url: &str) -> Answer {
    get(addr, url, &[("Metadata-Flavor", "Google")])
}

fn token(addr: SocketAddr, ttl: &str) -> Answer {
    exchange(
        addr,
        "PUT",
        "/latest/api/token",
        &[(TTL, ttl)],
        Duration::from_secs(5),
    )
    .expect("answer")
}

fn config(provider: ProviderKind) -> EmulatorConfig {
    EmulatorConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        ..EmulatorConfig::new(provider)
    }
}

fn start(provider: ProviderKind) -> Emulator {
    emulator::start(config(provider)).expect("emulator starts")
}

fn start_with_file(provider: ProviderKind, path: &Path) -> Emulator {
    let cfg = EmulatorConfig {
        scenario: Some(path.to_path_buf()),
        ..config(provider)
    };
    emulator::start(cfg).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture_files(provider_dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(FIXTURES).join(provider_dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .map(|path| {
            if path.is_dir() {
                path.join("metadata.json")
            } else {
                path
            }
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("fixture JSON")
}

/// A directory removed when the test ends, pass or fail.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let unique = format!(
            "cloud-network-emulator-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    done()
}

#[test]
fn every_azure_fixture_is_served_as_is() {
    for path in fixture_files("azure") {
        let emulator = start_with_file(ProviderKind::Azure, &path);
        // A fixture recorded with `extended=true` holds the `extended` member that asks for.
        let extended = read_json(&path).get("extended").is_some();
        let url = format!(
            "{AZURE_URL}{}",
            if extended { "&extended=true" } else { "" }
        );
        let answer = azure_get(emulator.addr(), &url);
        assert_eq!(answer.status, 200, "{}", path.display());
        assert_eq!(
            answer.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(answer.json(), read_json(&path), "{}", path.display());
        let network = azure_get(
            emulator.addr(),
            "/metadata/instance/network?api-version=2021-02-01",
        );
        assert_eq!(
            network.json(),
            read_json(&path)["network"],
            "{}",
            path.display()
        );
    }
}

#[test]
fn every_gcp_fixture_is_served_as_is() {
    let trees = fixture_files("gcp")
        .into_iter()
        .filter(|p| read_json(p).is_object());
    let mut served = 0;
    for path in trees {
        let emulator = start_with_file(ProviderKind::Gcp, &path);
        let answer = gcp_get(emulator.addr(), GCP_ROOT);
        assert_eq!(answer.status, 200, "{}", path.display());
        assert_eq!(answer.header("metadata-flavor"), Some("Google"));
        assert_eq!(answer.json(), read_json(&path), "{}", path.display());
        let id = gcp_get(emulator.addr(), "/computeMetadata/v1/instance/id");
        assert_eq!(id.text(), read_json(&path)["instance"]["id"].to_string());
        served += 1;
    }
    assert_eq!(served, 3);
}

#[test]
fn gcp_fixture_big_id_and_interfaces_subtree() {
    let path = Path::new(FIXTURES).join("gcp/facter-recursive.json");
    let emulator = start_with_file(ProviderKind::Gcp, &path);
    let id = gcp_get(emulator.addr(), "/computeMetadata/v1/instance/id");
    assert_eq!(id.text(), "2206944706428651580");
    let nics = gcp_get(
        emulator.addr(),
        "/computeMetadata/v1/instance/network-interfaces/?recursive=true",
    );
    assert_eq!(
        nics.json(),
        read_json(&path)["instance"]["networkInterfaces"]
    );
    let mtu = gcp_get(
        emulator.addr(),
        "/computeMetadata/v1/instance/network-interfaces/0/mtu",
    );
    assert_eq!(mtu.text(), "1460");
}

#[test]
fn every_ec2_fixture_is_served_as_is() {
    for path in fixture_files("ec2") {
        let paths: BTreeMap<String, String> =
            serde_json::from_value(read_json(&path)).expect("path map");
        let emulator = start_with_file(ProviderKind::Aws, &path);
        let session = token(emulator.addr(), "60").text();
        for (key, body) in paths.iter().filter(|(k, _)| !k.ends_with('/')) {
            let answer = get(
                emulator.addr(),
                &format!("/latest/{key}"),
                &[(TOKEN, &session)],
            );
            assert_eq!(answer.status, 200, "{key}");
            assert_eq!(&answer.text(), body, "{} {key}", path.display());
        }
        let macs = get(
            emulator.addr(),
            "/latest/meta-data/network/interfaces/macs/",
            &[],
        );
        assert_eq!(
            macs.text(),
            expected_listing(&paths, "meta-data/network/interfaces/macs/")
        );
    }
}

/// The listing derived independently: direct children, sub-directories with a `/`, one a line.
fn expected_listing(paths: &BTreeMap<String, String>, prefix: &str) -> String {
    let mut children: Vec<String> = paths
        .keys()
        .filter_map(|k| k.strip_prefix(prefix))
        .map(|rest| match rest.find('/') {
            Some(i) => format!("{}/", &rest[..i]),
            None => rest.to_string(),
        })
        .collect();
    children.dedup();
    children.join("\n")
}

#[test]
fn ec2_listings_are_exact() {
    let path = Path::new(FIXTURES).join("ec2/cloudinit-two-nics-2016-09-02/metadata.json");
    let emulator = start_with_file(ProviderKind::Aws, &path);
    let macs = get(
        emulator.addr(),
        "/latest/meta-data/network/interfaces/macs",
        &[],
    );
    assert_eq!(macs.text(), "06:17:04:d7:26:08/\n06:17:04:d7:26:09/");
    let nic = get(
        emulator.addr(),
        "/latest/meta-data/network/interfaces/macs/06:17:04:d7:26:09/",
        &[],
    );
    assert!(nic.text().starts_with("device-number\n"), "{}", nic.text());
    assert!(!nic.text().ends_with('\n'));
    let keys = get(emulator.addr(), "/latest/meta-data/public-keys/", &[]);
    assert_eq!(
        keys.text(),
        read_json(&path)["meta-data/public-keys/"]
            .as_str()
            .expect("listing")
    );
    let identity = get(emulator.addr(), "/latest/dynamic/instance-identity/", &[]);
    assert_eq!(identity.text(), "document");
    let missing = get(emulator.addr(), "/latest/meta-data/nothing-here", &[]);
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("404 - Not Found"));
}

#[test]
fn builtin_scenarios_have_two_nics_with_secondary_ips() {
    let azure = start(ProviderKind::Azure);
    let ips = azure_get(
        azure.addr(),
        "/metadata/instance/network/interface/1/ipv4/ipAddress?api-version=2021-02-01",
    );
    let ips: Vec<String> = ips
        .json()
        .as_array()
        .expect("array")
        .iter()
        .map(|a| {
            a["privateIpAddress"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(ips, ["10.4.0.5", "10.4.0.6", "10.4.0.7"]);
    let leaf = get(
        azure.addr(),
        "/metadata/instance/network/interface/1/ipv4/ipAddress/2/privateIpAddress?api-version=2021-02-01&format=text",
        &[("Metadata", "true")],
    );
    assert_eq!(leaf.text(), "10.4.0.7");
    let aws = start(ProviderKind::Aws);
    let macs = get(
        aws.addr(),
        "/latest/meta-data/network/interfaces/macs/",
        &[],
    );
    assert_eq!(macs.text(), "0a:3f:5c:1e:7d:01/\n0a:3f:5c:1e:7d:02/");
    let second = get(
        aws.addr(),
        "/latest/meta-data/network/interfaces/macs/0a:3f:5c:1e:7d:02/local-ipv4s",
        &[],
    );
    assert_eq!(second.text(), "172.31.25.40\n172.31.25.41");
    let gcp = start(ProviderKind::Gcp);
    let nics = gcp_get(
        gcp.addr(),
        "/computeMetadata/v1/instance/network-interfaces/",
    );
    assert_eq!(nics.text(), "0/\n1/\n");
    let aliases = gcp_get(
        gcp.addr(),
        "/computeMetadata/v1/instance/network-interfaces/0/ip-aliases/",
    );
    assert_eq!(aliases.text(), "0\n");
}

#[test]
fn header_rules_over_the_wire() {
    let azure = start(ProviderKind::Azure);
    let no_header = get(azure.addr(), AZURE_URL, &[]);
    assert_eq!(no_header.status, 400);
    assert_eq!(
        no_header.json()["error"],
        "Bad request. Required metadata header not specified"
    );
    let forwarded = get(
        azure.addr(),
        AZURE_URL,
        &[("Metadata", "true"), ("X-Forwarded-For", "10.0.0.9")],
    );
    assert_eq!(forwarded.status, 400);
    let no_version = azure_get(azure.addr(), "/metadata/instance");
    assert_eq!(no_version.status, 400);
    assert!(no_version.json()["error"]
        .as_str()
        .unwrap_or_default()
        .contains("api-version"));

    let gcp = start(ProviderKind::Gcp);
    let no_flavor = get(gcp.addr(), GCP_ROOT, &[]);
    assert_eq!(no_flavor.status, 403);
    assert_eq!(no_flavor.header("metadata-flavor"), Some("Google"));
    let forwarded = get(
        gcp.addr(),
        GCP_ROOT,
        &[
            ("Metadata-Flavor", "Google"),
            ("X-Forwarded-For", "1.1.1.1"),
        ],
    );
    assert_eq!(forwarded.status, 403);
    let ok = gcp_get(gcp.addr(), GCP_ROOT);
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("etag").map(str::len), Some(16));

    let cfg = EmulatorConfig {
        require_token: true,
        ..config(ProviderKind::Aws)
    };
    let aws = emulator::start(cfg).expect("emulator starts");
    assert_eq!(
        get(aws.addr(), "/latest/meta-data/instance-id", &[]).status,
        401
    );
    assert_eq!(
        get(
            aws.addr(),
            "/latest/meta-data/instance-id",
            &[(TOKEN, "forged")]
        )
        .status,
        401
    );
    let session = token(aws.addr(), "21600");
    assert_eq!(session.header(TTL), Some("21600"));
    let answer = get(
        aws.addr(),
        "/latest/meta-data/instance-id",
        &[(TOKEN, &session.text())],
    );
    assert_eq!(
        (answer.status, answer.text().as_str()),
        (200, "i-0f1e2d3c4b5a69788")
    );
    let forwarded = exchange(
        aws.addr(),
        "PUT",
        "/latest/api/token",
        &[(TTL, "60"), ("X-Forwarded-For", "10.1.1.1")],
        Duration::from_secs(5),
    )
    .expect("answer");
    assert_eq!(forwarded.status, 403);
}

#[test]
fn ec2_token_ttl_and_expiry() {
    let aws = start(ProviderKind::Aws);
    for ttl in ["0", "21601", "x"] {
        assert_eq!(token(aws.addr(), ttl).status, 400, "ttl {ttl}");
    }
    let missing = exchange(
        aws.addr(),
        "PUT",
        "/latest/api/token",
        &[],
        Duration::from_secs(5),
    )
    .expect("answer");
    assert_eq!(missing.status, 400);
    let short = token(aws.addr(), "1").text();
    let url = "/latest/meta-data/local-ipv4";
    assert_eq!(get(aws.addr(), url, &[(TOKEN, &short)]).status, 200);
    thread::sleep(Duration::from_millis(1100));
    assert_eq!(get(aws.addr(), url, &[(TOKEN, &short)]).status, 401);
    assert_eq!(
        get(aws.addr(), url, &[]).status,
        200,
        "IMDSv1 allowed without --require-token"
    );
}

#[test]
fn fault_modes() {
    let gcp = start(ProviderKind::Gcp);
    gcp.set_fault(Fault::Http500);
    let error = gcp_get(gcp.addr(), GCP_ROOT);
    assert_eq!(error.status, 500);
    assert!(!error.body.is_empty());
    gcp.set_fault(Fault::Garbage);
    let garbage = gcp_get(gcp.addr(), GCP_ROOT);
    assert_eq!(garbage.status, 200);
    assert_eq!(garbage.header("content-type"), Some("application/json"));
    assert_eq!(garbage.header("metadata-flavor"), Some("Google"));
    assert!(serde_json::from_slice::<Value>(&garbage.body).is_err());
    gcp.set_fault(Fault::Empty);
    let empty = gcp_get(gcp.addr(), GCP_ROOT);
    assert_eq!((empty.status, empty.body.len()), (200, 0));
    gcp.set_fault(Fault::Timeout);
    let started = Instant::now();
    let timed_out = exchange(
        gcp.addr(),
        "GET",
        GCP_ROOT,
        &[("Metadata-Flavor", "Google")],
        Duration::from_millis(300),
    );
    let kind = timed_out.err().map(|e| e.kind());
    assert!(
        matches!(
            kind,
            Some(std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
        ),
        "{kind:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    gcp.set_fault(Fault::None);
    assert_eq!(
        gcp_get(gcp.addr(), GCP_ROOT).status,
        200,
        "a held request blocks no other"
    );

    let azure = start(ProviderKind::Azure);
    azure.set_fault(Fault::Garbage);
    let garbage = azure_get(azure.addr(), AZURE_URL);
    assert_eq!(
        garbage.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert!(serde_json::from_slice::<Value>(&garbage.body).is_err());

    let aws = start(ProviderKind::Aws);
    aws.set_fault(Fault::Garbage);
    assert_eq!(
        token(aws.addr(), "60").status,
        200,
        "token PUT is spared garbage"
    );
    let garbage = get(aws.addr(), "/latest/meta-data/local-ipv4", &[]);
    assert_ne!(garbage.text(), "172.31.20.10");
    aws.set_fault(Fault::Http500);
    assert_eq!(token(aws.addr(), "60").status, 500);
    aws.set_fault(Fault::Timeout);
    let held = exchange(
        aws.addr(),
        "PUT",
        "/latest/api/token",
        &[(TTL, "60")],
        Duration::from_millis(200),
    );
    assert!(held.is_err());
}

#[test]
fn scenario_file_changes_are_picked_up() {
    let dir = TempDir::new("reload");
    let file = dir.0.join("azure.json");
    let first = r#"{"compute": {"name": "one"}, "network": {"interface": []}}"#;
    std::fs::write(&file, first).expect("write");
    let emulator = start_with_file(ProviderKind::Azure, &file);
    let name = |e: &Emulator| azure_get(e.addr(), AZURE_URL).json()["compute"]["name"].clone();
    assert_eq!(name(&emulator), "one");
    std::fs::write(
        &file,
        r#"{"compute": {"name": "second"}, "network": {"interface": []}}"#,
    )
    .expect("write");
    assert!(wait_until(Duration::from_secs(3), || name(&emulator) == "second"));
    std::fs::write(&file, "{ not json").expect("write");
    thread::sleep(Duration::from_millis(250));
    assert_eq!(
        name(&emulator),
        "second",
        "a broken file keeps the previous scenario"
    );
    std::fs::write(
        &file,
        r#"{"compute": {"name": "third!"}, "network": {"interface": []}}"#,
    )
    .expect("write");
    assert!(wait_until(Duration::from_secs(3), || name(&emulator) == "third!"));
}

#[test]
fn bad_scenario_file_fails_start() {
    let dir = TempDir::new("bad");
    let file = dir.0.join("gcp.json");
    std::fs::write(&file, "[]").expect("write");
    let cfg = EmulatorConfig {
        scenario: Some(file.clone()),
        ..config(ProviderKind::Gcp)
    };
    let err = emulator::start(cfg).err().expect("start fails").to_string();
    assert!(
        err.contains("gcp.json") && err.contains("not a JSON object"),
        "{err}"
    );
    let missing = EmulatorConfig {
        scenario: Some(dir.0.join("absent.json")),
        ..config(ProviderKind::Gcp)
    };
    assert!(emulator::start(missing).is_err());
}

#[test]
fn gcp_wait_for_change() {
    let gcp = start(ProviderKind::Gcp);
    let url = "/computeMetadata/v1/instance/network-interfaces/0/ip-aliases/?recursive=true";
    let current = gcp_get(gcp.addr(), url);
    let etag = current.header("etag").expect("etag").to_string();

    let started = Instant::now();
    let stale = gcp_get(
        gcp.addr(),
        &format!("{url}&wait_for_change=true&last_etag=0000000000000000"),
    );
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(stale.header("etag"), Some(etag.as_str()));

    let started = Instant::now();
    let timed = gcp_get(
        gcp.addr(),
        &format!("{url}&wait_for_change=true&last_etag={etag}&timeout_sec=1"),
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(950) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    assert_eq!(
        (timed.status, timed.header("etag")),
        (200, Some(etag.as_str()))
    );

    let mut changed = current_tree(&gcp);
    changed["instance"]["networkInterfaces"][0]["ipAliases"] =
        serde_json::json!(["10.8.1.0/24", "10.8.9.0/24"]);
    let text = changed.to_string();
    let started = Instant::now();
    let waiter = {
        let addr = gcp.addr();
        let url = format!("{url}&wait_for_change=true&last_etag={etag}&timeout_sec=10");
        thread::spawn(move || gcp_get(addr, &url))
    };
    thread::sleep(Duration::from_millis(300));
    gcp.set_scenario_text(&text).expect("valid scenario");
    let answer = waiter.join().expect("waiter");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(290) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    assert_eq!(
        answer.json(),
        serde_json::json!(["10.8.1.0/24", "10.8.9.0/24"])
    );
    assert_ne!(answer.header("etag"), Some(etag.as_str()));
}

#[test]
fn gcp_without_long_poll_answers_wait_for_change_at_once() {
    let gcp = start(ProviderKind::Gcp);
    gcp.set_long_poll(false);
    let url = "/computeMetadata/v1/instance/?recursive=true";
    let etag = gcp_get(gcp.addr(), url)
        .header("etag")
        .expect("etag")
        .to_string();
    let started = Instant::now();
    let answer = gcp_get(
        gcp.addr(),
        &format!("{url}&wait_for_change=true&last_etag={etag}&timeout_sec=5"),
    );
    assert!(started.elapsed() < Duration::from_secs(1), "held");
    assert_eq!(
        (answer.status, answer.header("etag")),
        (200, Some(etag.as_str()))
    );
}

fn current_tree(gcp: &Emulator) -> Value {
    gcp_get(gcp.addr(), GCP_ROOT).json()
}

#[test]
fn request_log_records_method_path_and_status() {
    let azure = start(ProviderKind::Azure);
    azure_get(azure.addr(), AZURE_URL);
    get(
        azure.addr(),
        "/metadata/instance?api-version=2021-02-01&format=json",
        &[],
    );
    azure_get(azure.addr(), "/metadata/nothing?api-version=2021-02-01");
    let expected = vec![
        RequestRecord {
            method: "GET".into(),
            path: AZURE_URL.into(),
            status: 200,
        },
        RequestRecord {
            method: "GET".into(),
            path: "/metadata/instance?api-version=2021-02-01&format=json".into(),
            status: 400,
        },
        RequestRecord {
            method: "GET".into(),
            path: "/metadata/nothing?api-version=2021-02-01".into(),
            status: 404,
        },
    ];
    assert_eq!(azure.requests(), expected);
    azure.clear_requests();
    assert!(azure.requests().is_empty());
    azure.set_fault(Fault::Timeout);
    let _ = exchange(
        azure.addr(),
        "GET",
        AZURE_URL,
        &[],
        Duration::from_millis(100),
    );
    assert!(wait_until(Duration::from_secs(1), || azure
        .requests()
        .len()
        == 1));
    assert_eq!(azure.requests()[0].status, 0, "never answered");
}

#[test]
fn shutdown_releases_held_requests_and_frees_the_port() {
    let gcp = start(ProviderKind::Gcp);
    let addr = gcp.addr();
    gcp.set_fault(Fault::Timeout);
    let held = thread::spawn(move || exchange(addr, "GET", GCP_ROOT, &[], Duration::from_secs(10)));
    assert!(wait_until(Duration::from_secs(2), || gcp.requests().len() == 1));
    let started = Instant::now();
    gcp.shutdown();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let _ = held.join().expect("client thread");
    assert!(
        wait_until(Duration::from_secs(2), || TcpListener::bind(addr).is_ok()),
        "port {addr} still taken"
    );
}

#[test]
fn concurrent_handlers_are_capped() {
    let aws = start(ProviderKind::Aws);
    aws.set_fault(Fault::Timeout);
    let mut held = Vec::new();
    for _ in 0..emulator::MAX_HANDLERS {
        let mut stream = TcpStream::connect(aws.addr()).expect("connect");
        stream
            .write_all(b"GET /latest/meta-data/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("send");
        held.push(stream);
    }
    assert!(wait_until(Duration::from_secs(5), || aws.requests().len()
        == emulator::MAX_HANDLERS));
    let refused = get(aws.addr(), "/latest/meta-data/", &[]);
    assert_eq!(refused.status, 503);
    drop(held);
}

const ORACLE_AUTH: (&str, &str) = ("Authorization", "Bearer Oracle");

/// Every OCI fixture, served as the scenario's `instance` or `vnics`, comes back as it is.
#[test]
fn every_oci_fixture_is_served_as_is() {
    let dir = TempDir::new("oci-fixtures");
    let files = fixture_files("oci");
    assert_eq!(files.len(), 10);
    for path in files {
        let body = read_json(&path);
        let vnics = path.to_string_lossy().contains("-vnics-");
        let scenario = if vnics {
            serde_json::json!({"instance": {"id": "ocid1.instance.oc1.phx.x"}, "vnics": body})
        } else {
            serde_json::json!({"instance": body, "vnics": []})
        };
        let file = dir.0.join("oci.json");
        std::fs::write(&file, scenario.to_string()).expect("write scenario");
        let oci = start_with_file(ProviderKind::Oracle, &file);
        let url = if vnics {
            "/opc/v2/vnics/"
        } else {
            "/opc/v2/instance/"
        };
        let answer = get(oci.addr(), url, &[ORACLE_AUTH]);
        assert_eq!(answer.status, 200, "{}", path.display());
        assert_eq!(answer.json(), body, "{}", path.display());
    }
}

#[test]
fn oci_v2_over_the_wire_needs_the_header_and_faults_apply() {
    let oci = start(ProviderKind::Oracle);
    let bare = get(oci.addr(), "/opc/v2/vnics/", &[]);
    assert_eq!(bare.status, 401);
    assert_eq!(bare.json()["code"], "NotAuthenticated");
    let vnics = get(oci.addr(), "/opc/v2/vnics/", &[ORACLE_AUTH]);
    assert_eq!(vnics.status, 200);
    let list = vnics.json();
    let macs: Vec<&str> = list
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| v["macAddr"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(macs, ["02:00:17:0A:3C:10", "02:00:17:0A:3C:11"]);
    let ip = get(oci.addr(), "/opc/v2/vnics/1/privateIp", &[ORACLE_AUTH]);
    assert_eq!(ip.text(), "10.0.0.20");
    oci.fail_next(1, Fault::Http500);
    assert_eq!(
        get(oci.addr(), "/opc/v2/instance/", &[ORACLE_AUTH]).status,
        500
    );
    oci.set_fault(Fault::Throttle);
    let throttled = get(oci.addr(), "/opc/v2/instance/", &[ORACLE_AUTH]);
    assert_eq!(
        (throttled.status, throttled.header("Retry-After")),
        (429, Some("1"))
    );
    let statuses: Vec<u16> = oci.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 200, 200, 500, 429]);
}

#[test]
fn digitalocean_documents_served_as_is_with_the_path_tree_and_faults() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/digitalocean");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("documents")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 3);
    for path in &files {
        let emulator = start_with_file(ProviderKind::DigitalOcean, path);
        let answer = get(emulator.addr(), "/metadata/v1.json", &[]);
        assert_eq!(answer.status, 200, "{}", path.display());
        assert_eq!(answer.header("content-type"), Some("application/json"));
        assert_eq!(answer.json(), read_json(path), "{}", path.display());
        let public = &read_json(path)["interfaces"]["public"][0];
        let address = get(
            emulator.addr(),
            "/metadata/v1/interfaces/public/0/anchor_ipv4/address",
            &[],
        );
        assert_eq!(
            (address.status, address.text()),
            (
                200,
                public["anchor_ipv4"]["ip_address"]
                    .as_str()
                    .unwrap()
                    .to_string()
            )
        );
    }

    let droplet = start(ProviderKind::DigitalOcean);
    let doc = get(droplet.addr(), "/metadata/v1.json", &[]).json();
    assert_eq!(
        doc["interfaces"]["public"][0]["anchor_ipv4"]["ip_address"],
        "10.18.0.5"
    );
    assert_eq!(
        doc["interfaces"]["private"][0]["ipv4"]["ip_address"],
        "10.110.0.2"
    );
    let private = get(
        droplet.addr(),
        "/metadata/v1/interfaces/private/0/ipv4/address",
        &[],
    );
    assert_eq!(private.text(), "10.110.0.2");
    for (fault, status) in [(Fault::Http500, 500), (Fault::Throttle, 429)] {
        droplet.set_fault(fault);
        assert_eq!(get(droplet.addr(), "/metadata/v1.json", &[]).status, status);
    }
    droplet.set_fault(Fault::Garbage);
    let garbage = get(droplet.addr(), "/metadata/v1.json", &[]);
    assert_eq!(garbage.status, 200);
    assert!(serde_json::from_slice::<Value>(&garbage.body).is_err());
    droplet.set_fault(Fault::Empty);
    assert!(get(droplet.addr(), "/metadata/v1.json", &[])
        .body
        .is_empty());
    droplet.set_fault(Fault::Timeout);
    let held = exchange(
        droplet.addr(),
        "GET",
        "/metadata/v1.json",
        &[],
        Duration::from_millis(200),
    );
    assert!(held.is_err());
    droplet.set_fault(Fault::None);
    let records = droplet.requests();
    assert_eq!(
        records.first().map(|r| r.path.as_str()),
        Some("/metadata/v1.json")
    );
}

#[test]
fn azure_extended_true_adds_the_pps_type_as_the_service_does() {
    let azure = start(ProviderKind::Azure);
    let plain = azure_get(azure.addr(), "/metadata/instance?api-version=2021-08-01");
    assert_eq!(plain.json().get("extended"), None);
    let url = "/metadata/instance?api-version=2021-08-01&extended=true";
    let extended = azure_get(azure.addr(), url);
    assert_eq!(extended.status, 200);
    let body = extended.json();
    assert_eq!(
        body["extended"],
        serde_json::json!({"compute": {"ppsType": "None"}})
    );
    assert_eq!(body["network"], plain.json()["network"]);
}

/// The GCP scenario with `enable-guest-attributes` set in the instance or project attributes.
fn gcp_guest_attributes(scope: Option<&str>) -> Emulator {
    let gcp = start(ProviderKind::Gcp);
    let mut tree = current_tree(&gcp);
    if let Some(scope) = scope {
        tree[scope]["attributes"]["enable-guest-attributes"] = Value::from("TRUE");
    }
    gcp.set_scenario_text(&tree.to_string()).expect("scenario");
    gcp
}

fn gcp_send(gcp: &Emulator, method: &str, url: &str, body: &str) -> Answer {
    let flavor = [("Metadata-Flavor", "Google")];
    let timeout = Duration::from_secs(5);
    exchange_with_body(gcp.addr(), (method, url), &flavor, body.as_bytes(), timeout)
        .expect("answer")
}

#[test]
fn gcp_guest_attributes_are_403_unless_enabled_then_written_and_read() {
    let key = "/computeMetadata/v1/instance/guest-attributes/hostkeys/ssh-ed25519";
    let off = gcp_guest_attributes(None);
    for method in ["PUT", "GET"] {
        let answer = gcp_send(&off, method, key, "ssh-ed25519 AAAA");
        assert_eq!(answer.status, 403, "{method}");
        assert_eq!(
            answer.text(),
            "Guest attributes endpoint access is disabled."
        );
    }
    for scope in ["instance", "project"] {
        let on = gcp_guest_attributes(Some(scope));
        let etag = gcp_get(on.addr(), GCP_ROOT)
            .header("etag")
            .map(str::to_string);
        assert_eq!(gcp_send(&on, "GET", key, "").status, 404, "{scope}");
        let put = gcp_send(&on, "PUT", key, "ssh-ed25519 AAAA");
        assert_eq!((put.status, put.text()), (200, String::new()), "{scope}");
        let read = gcp_send(&on, "GET", key, "");
        assert_eq!((read.status, read.text()), (200, "ssh-ed25519 AAAA".into()));
        let dir = "/computeMetadata/v1/instance/guest-attributes/hostkeys/";
        assert_eq!(gcp_send(&on, "GET", dir, "").text(), "ssh-ed25519\n");
        let after = gcp_get(on.addr(), GCP_ROOT)
            .header("etag")
            .map(str::to_string);
        assert_eq!(
            after, etag,
            "guest attributes do not change the instance's ETag"
        );
        let elsewhere = gcp_send(&on, "PUT", "/computeMetadata/v1/instance/hostname", "x");
        assert_eq!(elsewhere.status, 405);
    }
}

#[test]
fn alibaba_ends_lines_with_crlf_as_the_service_does() {
    let alibaba = start(ProviderKind::Alibaba);
    let macs = get(
        alibaba.addr(),
        "/latest/meta-data/network/interfaces/macs/",
        &[],
    );
    assert_eq!(macs.text(), "00:16:3e:2a:51:01/\r\n00:16:3e:2a:51:02/");
    let servers = get(
        alibaba.addr(),
        "/latest/meta-data/dns-conf/nameservers",
        &[],
    );
    assert_eq!(servers.text(), "100.100.2.136\r\n100.100.2.138");
    let top = get(
        alibaba.addr(),
        "/latest/meta-data/network/interfaces/macs/00:16:3e:2a:51:01/",
        &[],
    );
    assert!(top.text().contains("\r\n"), "{:?}", top.text());
    let ec2 = start(ProviderKind::Aws);
    let listing = get(
        ec2.addr(),
        "/latest/meta-data/network/interfaces/macs/",
        &[],
    );
    assert!(
        !listing.text().contains('\r'),
        "EC2 keeps \\n: {:?}",
        listing.text()
    );
}
