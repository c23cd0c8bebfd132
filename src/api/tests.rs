//! Routing tests without sockets: exact status codes and bodies for Azure, EC2 and GCP
//! snapshots, the Host check, the credentials policy and the refresh trigger.

use super::*;
use crate::net::ProviderKind;
use crate::snapshot::{Ec2Documents, LinkStatus, RuleStatus, Snapshot, Status};
use crate::trigger::{self, Trigger};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::mpsc::TryRecvError;

const LINKS_JSON: &str = r#"[{"name":"eth1","ifindex":3,"mac":"00:0d:3a:04:75:98","device_index":1,"table":10001,"addresses":["10.0.1.5/24"],"routes":["10.0.1.0/24 dev eth1 table 10001 src 10.0.1.5"],"rules":[{"priority":3001,"from":"10.0.1.5/32","to":null,"table":10001}]}]"#;

fn link() -> LinkStatus {
    LinkStatus {
        name: "eth1".into(),
        ifindex: 3,
        mac: "00:0d:3a:04:75:98".parse().unwrap(),
        device_index: 1,
        table: Some(10001),
        addresses: vec!["10.0.1.5/24".parse().unwrap()],
        routes: vec!["10.0.1.0/24 dev eth1 table 10001 src 10.0.1.5".into()],
        rules: vec![RuleStatus {
            priority: 3001,
            from: Some("10.0.1.5/32".parse().unwrap()),
            to: None,
            table: 10001,
        }],
        refused: Vec::new(),
        unknown: None,
    }
}

fn snapshot(provider: ProviderKind) -> Snapshot {
    Snapshot {
        status: Status {
            provider: Some(provider),
            version: "9.9.9".into(),
            started: "2024-02-29T00:00:00Z".into(),
            last_refresh: None,
            last_error: None,
            links: vec![link()],
        },
        system: Some(Arc::new(json!({"compute": {"vmId": "x"}}))),
        network: Some(Arc::new(
            json!({"interface": [{"macAddress": "000D3A047598"}]}),
        )),
        ec2: None,
        bodies: Default::default(),
    }
}

fn ec2_snapshot(credentials: Option<serde_json::Value>) -> Snapshot {
    let mut snap = snapshot(ProviderKind::Aws);
    snap.ec2 = Some(Ec2Documents {
        document: Some(json!({"instanceId": "i-0abc", "region": "eu-west-1"})),
        pkcs7: Some("MIIB\nAAA=".into()),
        signature: None,
        rsa2048: Some("MIIR".into()),
        credentials,
    });
    snap
}

fn opts() -> ApiOptions {
    ApiOptions {
        serve_credentials: false,
        listen: "127.0.0.1:5209".parse().unwrap(),
        limits: Limits::default(),
    }
}

/// The response of a request answered at once (every request but a configured check).
fn now(reply: Reply) -> Response {
    match reply {
        Reply::Now(response) => response,
        Reply::Check => panic!("a check is answered by the check's thread"),
    }
}

fn no_wake() -> bool {
    panic!("only POST /api/v1/refresh may wake the reconcile thread")
}

fn call(method: &str, path: &str, snap: &Snapshot, opts: &ApiOptions) -> (u16, String) {
    let mut req = RequestHead::get(path, "localhost:5209");
    req.method = method;
    let resp = now(respond(&req, snap, opts, &no_wake));
    (resp.status, resp.body_text().to_string())
}

fn get(path: &str, snap: &Snapshot) -> (u16, String) {
    call("GET", path, snap, &opts())
}

fn ok(body: &str) -> (u16, String) {
    (200, body.to_string())
}

fn err(status: u16, message: &str) -> (u16, String) {
    (status, json!({ "error": message }).to_string())
}

#[test]
fn azure_and_gcp_serve_system_network_status_and_links() {
    for kind in [ProviderKind::Azure, ProviderKind::Gcp] {
        let snap = snapshot(kind);
        assert_eq!(
            get("/api/cloud/system", &snap),
            ok(r#"{"compute":{"vmId":"x"}}"#)
        );
        assert_eq!(
            get("/api/cloud/network", &snap),
            ok(r#"{"interface":[{"macAddress":"000D3A047598"}]}"#)
        );
        assert_eq!(get("/api/v1/links", &snap), ok(LINKS_JSON));
        let status = format!(
            r#"{{"provider":"{}","version":"9.9.9","started":"2024-02-29T00:00:00Z","last_refresh":null,"last_error":null,"links":{LINKS_JSON}}}"#,
            kind.name()
        );
        assert_eq!(get("/api/v1/status", &snap), ok(&status));
    }
}

#[test]
fn ec2_paths_are_not_found_on_other_providers() {
    for kind in [ProviderKind::Azure, ProviderKind::Gcp] {
        let snap = snapshot(kind);
        for path in [
            "/api/cloud/credentials",
            "/api/cloud/dynamicinstanceidentity/document",
            "/api/cloud/dynamicinstanceidentity/pkcs7",
        ] {
            assert_eq!(get(path, &snap), err(404, &format!("no such path: {path}")));
        }
    }
}

#[test]
fn before_the_first_fetch_documents_are_503_and_status_answers() {
    let mut snap = Snapshot::starting(Some(ProviderKind::Gcp), "2024-02-29T00:00:00Z".into());
    snap.status.version = "9.9.9".into();
    assert_eq!(get("/api/cloud/system", &snap), err(503, "no metadata yet"));
    assert_eq!(
        get("/api/cloud/network", &snap),
        err(503, "no metadata yet")
    );
    assert_eq!(
        get("/api/v1/status", &snap),
        ok(
            r#"{"provider":"gcp","version":"9.9.9","started":"2024-02-29T00:00:00Z","last_refresh":null,"last_error":null,"links":[]}"#
        )
    );
    assert_eq!(get("/api/v1/links", &snap), ok("[]"));
    assert_eq!(get("/api/v1/system", &snap), err(503, "no metadata yet"));
    assert_eq!(
        get("/api/v1/check", &snap),
        err(503, "nothing configured yet")
    );
    let ec2 = Snapshot::starting(Some(ProviderKind::Aws), "t".into());
    let identity = "/api/cloud/dynamicinstanceidentity/document";
    assert_eq!(get(identity, &ec2), err(503, "no metadata yet"));
}

#[test]
fn ec2_identity_documents() {
    let snap = ec2_snapshot(None);
    let base = "/api/cloud/dynamicinstanceidentity";
    assert_eq!(
        get(&format!("{base}/document"), &snap),
        ok(r#"{"instanceId":"i-0abc","region":"eu-west-1"}"#)
    );
    assert_eq!(get(&format!("{base}/pkcs7"), &snap), ok(r#""MIIB\nAAA=""#));
    assert_eq!(get(&format!("{base}/rsa2048"), &snap), ok(r#""MIIR""#));
    assert_eq!(
        get(&format!("{base}/signature"), &snap),
        err(
            404,
            "no instance identity signature in the instance metadata"
        )
    );
    assert_eq!(
        get(&format!("{base}/other"), &snap),
        err(404, &format!("no such path: {base}/other"))
    );
}

#[test]
fn credentials_are_refused_unless_configured() {
    let creds = json!({"AccessKeyId": "AKIA", "SecretAccessKey": "s", "Token": "t"});
    let snap = ec2_snapshot(Some(creds));
    let refused = "credentials are not served over TCP; set [Network] ServeCredentials=true, \
                   or run `cnctl show credentials` as root";
    assert_eq!(get("/api/cloud/credentials", &snap), err(403, refused));
    let serving = ApiOptions {
        serve_credentials: true,
        ..opts()
    };
    assert_eq!(
        call("GET", "/api/cloud/credentials", &snap, &serving),
        ok(r#"{"AccessKeyId":"AKIA","SecretAccessKey":"s","Token":"t"}"#)
    );
    assert_eq!(
        call(
            "GET",
            "/api/cloud/credentials",
            &ec2_snapshot(None),
            &serving
        ),
        err(404, "no IAM role credentials in the instance metadata")
    );
}

#[test]
fn wrong_methods_get_405_with_allow_and_unknown_paths_404() {
    let snap = snapshot(ProviderKind::Azure);
    let mut req = RequestHead::get("/api/v1/status", "localhost");
    req.method = "POST";
    let resp = now(respond(&req, &snap, &opts(), &no_wake));
    assert_eq!(resp.status, 405);
    assert_eq!(resp.allow, Some("GET, HEAD"));
    assert_eq!(
        resp.body_text(),
        r#"{"error":"method POST is not allowed on /api/v1/status; allowed: GET, HEAD"}"#
    );
    let mut req = RequestHead::get("/api/v1/refresh", "localhost");
    req.method = "GET";
    let resp = now(respond(&req, &snap, &opts(), &no_wake));
    assert_eq!((resp.status, resp.allow), (405, Some("POST")));
    assert_eq!(
        call("HEAD", "/api/v1/links", &snap, &opts()),
        ok(LINKS_JSON)
    );
    assert_eq!(get("/", &snap), err(404, "no such path: /"));
    assert_eq!(
        get("/api/v1/status/", &snap),
        err(404, "no such path: /api/v1/status/")
    );
}

#[test]
fn the_query_string_is_ignored_for_routing() {
    let raw = b"GET /api/v1/links?pretty=1 HTTP/1.1\r\nHost: 127.0.0.1:5209\r\n\r\n";
    let Parsed::Head { mut head, .. } = parse_head(raw, MAX_HEAD) else {
        panic!("a complete head")
    };
    head.peer = std::net::Ipv4Addr::LOCALHOST.into();
    let resp = now(respond(
        &head,
        &snapshot(ProviderKind::Gcp),
        &opts(),
        &no_wake,
    ));
    assert_eq!((resp.status, resp.body_text()), (200, LINKS_JSON));
}

fn host_status(host: Option<&str>, version: Version, listen: &str) -> (u16, String) {
    let mut req = RequestHead::get("/api/v1/links", "");
    req.host = host;
    req.version = version;
    let options = ApiOptions {
        listen: listen.parse::<SocketAddr>().unwrap(),
        ..opts()
    };
    let resp = now(respond(
        &req,
        &snapshot(ProviderKind::Azure),
        &options,
        &no_wake,
    ));
    (resp.status, resp.body_text().to_string())
}

#[test]
fn loopback_hosts_are_allowed() {
    for host in [
        "localhost",
        "LocalHost:5209",
        "127.0.0.1:5209",
        "127.0.0.1",
        "127.1.2.3:80",
        "[::1]:5209",
        "[::1]",
    ] {
        let got = host_status(Some(host), Version::Http11, "127.0.0.1:5209");
        assert_eq!(got, ok(LINKS_JSON), "{host}");
    }
    let http10 = host_status(None, Version::Http10, "127.0.0.1:5209");
    assert_eq!(http10, ok(LINKS_JSON));
}

#[test]
fn other_hosts_are_refused_naming_the_host() {
    for host in [
        "evil.example",
        "evil.example:5209",
        "10.0.0.1",
        "localhost.evil.example",
        "localhost:http",
        "127.0.0.1.nip.io",
        "[::2]:5209",
        "",
    ] {
        let message =
            format!("Host {host:?} is not a loopback name or address (DNS rebinding protection)");
        let got = host_status(Some(host), Version::Http11, "127.0.0.1:5209");
        assert_eq!(got, err(403, &message), "{host}");
    }
    let missing = host_status(None, Version::Http11, "127.0.0.1:5209");
    assert_eq!(missing, err(403, "missing Host header"));
}

#[test]
fn a_non_loopback_listen_address_is_allowed_exactly() {
    let listen = "10.0.0.1:5209";
    let allowed = host_status(Some("10.0.0.1:5209"), Version::Http11, listen);
    assert_eq!(allowed.0, 200);
    for host in ["10.0.0.1", "10.0.0.1:80", "10.0.0.2:5209"] {
        assert_eq!(
            host_status(Some(host), Version::Http11, listen).0,
            403,
            "{host}"
        );
    }
    let on_80 = host_status(Some("10.0.0.1"), Version::Http11, "10.0.0.1:80");
    assert_eq!(on_80.0, 200);
    let v6 = host_status(Some("[fd00::5]:5209"), Version::Http11, "[fd00::5]:5209");
    assert_eq!(v6.0, 200);
}

#[test]
fn refresh_sends_exactly_one_trigger() {
    let (wake, triggers) = trigger::channel().expect("trigger channel");
    let mut req = RequestHead::get("/api/v1/refresh", "localhost:5209");
    req.method = "POST";
    let send = || wake.send(Trigger::ApiRefresh).is_ok();
    let resp = now(respond(&req, &snapshot(ProviderKind::Aws), &opts(), &send));
    assert_eq!(
        (resp.status, resp.body_text()),
        (202, r#"{"status":"refresh requested"}"#)
    );
    assert_eq!(triggers.try_recv(), Ok(Trigger::ApiRefresh));
    assert_eq!(triggers.try_recv(), Err(TryRecvError::Empty));
    drop(triggers);
    let resp = now(respond(&req, &snapshot(ProviderKind::Aws), &opts(), &send));
    assert_eq!(
        (resp.status, resp.body_text()),
        (503, r#"{"error":"the daemon is shutting down"}"#)
    );
}

#[test]
fn refused_hosts_do_not_trigger_a_refresh() {
    let mut req = RequestHead::get("/api/v1/refresh", "evil.example");
    req.method = "POST";
    let resp = now(respond(
        &req,
        &snapshot(ProviderKind::Gcp),
        &opts(),
        &no_wake,
    ));
    assert_eq!(resp.status, 403);
}

#[test]
fn a_foreign_origin_is_refused_naming_it_and_triggers_nothing() {
    for origin in [
        "http://evil.example",
        "https://127.0.0.1.evil.example",
        "null",
        "http://10.0.0.1:5209",
        "file://",
        "http://localhost.evil.example",
    ] {
        let mut req = RequestHead::get("/api/v1/refresh", "localhost:5209");
        req.method = "POST";
        req.origin = Some(origin);
        let resp = now(respond(
            &req,
            &snapshot(ProviderKind::Azure),
            &opts(),
            &no_wake,
        ));
        let message =
            format!("Origin {origin:?} is not a loopback origin (cross-site request protection)");
        assert_eq!(
            (resp.status, resp.body_text().to_string()),
            err(403, &message),
            "{origin}"
        );
    }
}

#[test]
fn loopback_origins_are_answered() {
    for origin in [
        "http://localhost:5209",
        "http://LOCALHOST",
        "https://127.0.0.1:8443",
        "http://127.1.2.3",
        "http://[::1]:5209",
    ] {
        let mut req = RequestHead::get("/api/v1/links", "localhost:5209");
        req.origin = Some(origin);
        let resp = now(respond(
            &req,
            &snapshot(ProviderKind::Azure),
            &opts(),
            &no_wake,
        ));
        assert_eq!(resp.status, 200, "{origin}");
    }
}

#[test]
fn metrics_are_text_and_count_the_requests_routed() {
    let snap = snapshot(ProviderKind::Azure);
    let req = RequestHead::get("/metrics", "localhost:5209");
    let resp = now(respond(&req, &snap, &opts(), &no_wake));
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.content_type,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(resp
        .body_text()
        .contains("# TYPE cloud_network_api_requests_total counter\n"));
    let count = |text: &str| {
        let key = "cloud_network_api_requests_total{path=\"/api/v1/links\",status=\"200\"} ";
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map_or(0, |v| v.parse::<u64>().unwrap())
    };
    let before = count(resp.body_text());
    assert_eq!(get("/api/v1/links", &snap).0, 200);
    let after = now(respond(&req, &snap, &opts(), &no_wake));
    assert!(count(after.body_text()) > before);
    assert_eq!(
        now(respond(
            &RequestHead::get("/api/v1/links", "localhost"),
            &snap,
            &opts(),
            &no_wake
        ))
        .content_type,
        "application/json"
    );
}

#[test]
fn the_whole_system_document_is_at_api_v1_system() {
    let mut snap = ec2_snapshot(None);
    snap.system = Some(Arc::new(
        json!({"meta-data": {"instance-id": "i-1"}, "dynamic": {}}),
    ));
    assert_eq!(
        get("/api/v1/system", &snap),
        ok(r#"{"dynamic":{},"meta-data":{"instance-id":"i-1"}}"#)
    );
    assert_eq!(
        get("/api/cloud/system", &snap),
        ok(r#"{"instance-id":"i-1"}"#)
    );
}
