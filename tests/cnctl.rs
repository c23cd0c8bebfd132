//! The real binary as `cloud-network cnctl` and through a `cnctl` symlink, against a scripted
//! API on 127.0.0.1 that serves the fixtures as the daemon will: every command's text and
//! `--json` output, the unreachable daemon, HTTP errors, commands of another provider, and
//! the credentials fallback to the 0600 state file.

use cloud_network::metadata::aws::parse::tree_to_json;
use cloud_network::metadata::views::network_view;
use cloud_network::metadata::ProviderKind;
use cloud_network::snapshot::{LinkStatus, RuleStatus, Status};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tiny_http::{Header, Response, Server};

const BIN: &str = env!("CARGO_BIN_EXE_cloud-network");

/// The expected text in `tests/cnctl_expected/<name>`, shared by the renderer unit tests and
/// the `cnctl` integration tests.
macro_rules! expected {
    ($name:literal) => {
        include_str!(concat!("cnctl_expected/", $name))
    };
}

/// One scripted answer: method and path, status and JSON body.
struct Route {
    method: &'static str,
    path: &'static str,
    status: u16,
    body: Value,
}

fn get(path: &'static str, body: Value) -> Route {
    Route {
        method: "GET",
        path,
        status: 200,
        body,
    }
}

fn failing(path: &'static str, status: u16, message: &str) -> Route {
    Route {
        method: "GET",
        path,
        status,
        body: json!({ "error": message }),
    }
}

/// The scripted API: answers routes, 404 JSON otherwise, and records `METHOD path Host`.
struct Api {
    server: Arc<Server>,
    thread: Option<JoinHandle<()>>,
    seen: Arc<Mutex<Vec<String>>>,
    addr: String,
}

impl Api {
    fn start(routes: Vec<Route>) -> Api {
        let server = Arc::new(Server::http("127.0.0.1:0").expect("bind 127.0.0.1:0"));
        let addr = server
            .server_addr()
            .to_ip()
            .expect("ip listener")
            .to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (server, seen) = (Arc::clone(&server), Arc::clone(&seen));
            std::thread::spawn(move || serve(&server, &routes, &seen))
        };
        Api {
            server,
            thread: Some(thread),
            seen,
            addr,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(server: &Server, routes: &[Route], seen: &Mutex<Vec<String>>) {
    for request in server.incoming_requests() {
        let method = request.method().to_string();
        let path = request.url().to_string();
        let host = request
            .headers()
            .iter()
            .find(|h| h.field.equiv("Host"))
            .map(|h| h.value.to_string())
            .unwrap_or_default();
        seen.lock().unwrap().push(format!("{method} {path} {host}"));
        let (status, body) = routes
            .iter()
            .find(|r| r.method == method && r.path == path)
            .map_or((404, json!({"error": "not found"})), |r| {
                (r.status, r.body.clone())
            });
        let content_type = Header::from_bytes("Content-Type", "application/json").unwrap();
        let response = Response::from_string(body.to_string())
            .with_status_code(status)
            .with_header(content_type);
        let _ = request.respond(response);
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A directory under the system temp dir, unique to the test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "cloud-network-cnctl-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run_program(program: &Path, args: &[&str]) -> Run {
    let output = Command::new(program)
        .args(args)
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("ALL_PROXY")
        .output()
        .expect("run cloud-network");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// `cloud-network cnctl --url <api> <args>`.
fn cnctl(api: &Api, args: &[&str]) -> Run {
    let url = api.url();
    let mut all = vec!["cnctl", "--url", url.as_str()];
    all.extend_from_slice(args);
    run_program(Path::new(BIN), &all)
}

/// Asserts success with exactly `expected` on stdout and nothing on stderr.
fn assert_prints(run: &Run, expected: &str, what: &str) {
    assert_eq!(run.stderr, "", "{what}");
    assert_eq!(run.code, Some(0), "{what}");
    assert_eq!(run.stdout, expected, "{what}");
}

/// Asserts exit 1 with exactly one line `cnctl: <message>` on stderr and nothing on stdout.
fn assert_fails(run: &Run, message: &str, what: &str) {
    assert_eq!(run.stdout, "", "{what}");
    assert_eq!(run.stderr, format!("cnctl: {message}\n"), "{what}");
    assert_eq!(run.code, Some(1), "{what}");
}

fn pretty(value: &Value) -> String {
    format!("{value:#}\n")
}

fn fixture(path: &str) -> Value {
    let file = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

fn ec2_system() -> Value {
    let tree: BTreeMap<String, String> =
        serde_json::from_value(fixture("ec2/aemm-default/metadata.json")).unwrap();
    tree_to_json(&tree)
}

fn link(name: &str, ifindex: u32, mac: &str, device_index: u32) -> LinkStatus {
    LinkStatus {
        name: name.to_string(),
        ifindex,
        mac: mac.parse().unwrap(),
        device_index,
        table: None,
        addresses: vec![],
        routes: vec![],
        rules: vec![],
        refused: Vec::new(),
        unknown: None,
    }
}

fn status(provider: Option<ProviderKind>, links: Vec<LinkStatus>) -> Value {
    serde_json::to_value(Status {
        provider,
        version: "9.8.7".to_string(),
        started: "2025-01-01T00:00:00Z".to_string(),
        last_refresh: None,
        last_error: None,
        links,
    })
    .unwrap()
}

fn azure_links() -> Vec<LinkStatus> {
    let mut eth1 = link("eth1", 3, "22:0d:3a:04:75:98", 1);
    eth1.table = Some(10001);
    eth1.addresses = vec!["10.0.1.5/24".parse().unwrap()];
    eth1.routes = vec![
        "10.0.1.0/24 dev eth1 proto 201 scope link src 10.0.1.5 table 10001".to_string(),
        "default via 10.0.1.1 dev eth1 proto 201 table 10001".to_string(),
    ];
    eth1.rules = vec![RuleStatus {
        priority: 3001,
        from: Some("10.0.1.5/32".parse().unwrap()),
        to: None,
        table: 10001,
    }];
    vec![link("eth0", 2, "00:0d:3a:04:75:98", 0), eth1]
}

fn azure_api() -> Api {
    let doc = fixture("azure/cloudinit-three-nics.json");
    let links = azure_links();
    Api::start(vec![
        get(
            "/api/v1/status",
            status(Some(ProviderKind::Azure), links.clone()),
        ),
        get("/api/v1/links", serde_json::to_value(&links).unwrap()),
        get("/api/v1/system", doc.clone()),
        get("/api/cloud/network", doc),
        Route {
            method: "POST",
            path: "/api/v1/refresh",
            status: 202,
            body: json!({"status": "refresh requested"}),
        },
    ])
}

const AZURE_SYSTEM: &str = expected!("azure-three-nics-system.txt");

#[test]
fn azure_status_commands_text_and_json() {
    let api = azure_api();
    let doc = fixture("azure/cloudinit-three-nics.json");
    assert_prints(
        &cnctl(&api, &["status", "system"]),
        AZURE_SYSTEM,
        "status system",
    );
    assert_prints(
        &cnctl(&api, &["status", "network"]),
        expected!("azure-three-nics-network.txt"),
        "status network",
    );
    assert_prints(
        &cnctl(&api, &["status", "links"]),
        concat!(
            "        Name: eth0 \n",
            "       Index: 2 \n",
            " MAC Address: 00:0d:3a:04:75:98 \n",
            "Device Index: 0 \n",
            "       Table: - \n",
            "   Addresses: - \n",
            "       Rules: - \n",
            "      Routes: - \n",
            "\n",
            "        Name: eth1 \n",
            "       Index: 3 \n",
            " MAC Address: 22:0d:3a:04:75:98 \n",
            "Device Index: 1 \n",
            "       Table: 10001 \n",
            "   Addresses: 10.0.1.5/24 \n",
            "       Rules: 3001: from 10.0.1.5/32 lookup 10001 \n",
            "      Routes: 10.0.1.0/24 dev eth1 proto 201 scope link src 10.0.1.5 table 10001 \n",
            "              default via 10.0.1.1 dev eth1 proto 201 table 10001 \n",
        ),
        "status links",
    );
    let json_cases = [
        (["--json", "status", "system"], pretty(&doc)),
        (["--json", "status", "network"], pretty(&doc)),
        (
            ["--json", "status", "links"],
            pretty(&serde_json::to_value(azure_links()).unwrap()),
        ),
    ];
    for (args, expected) in json_cases {
        assert_prints(&cnctl(&api, &args), &expected, &format!("{args:?}"));
    }
    let host = format!("GET /api/v1/status {}", api.addr);
    assert!(api.seen().contains(&host), "{:?}", api.seen());
}

#[test]
fn azure_show_commands() {
    let api = azure_api();
    assert_prints(
        &cnctl(&api, &["show", "ssh-keys"]),
        "ssh-key: ssh-rsa key1\n",
        "show ssh-keys",
    );
    assert_prints(
        &cnctl(&api, &["--json", "show", "k"]),
        "[\n  \"ssh-rsa key1\"\n]\n",
        "show k --json",
    );
    for (what, name) in [
        ("document", "show document"),
        ("d", "show document"),
        ("c", "show credentials"),
        ("pkcs7", "show pkcs7"),
        ("s", "show signature"),
        ("r", "show rsa2048"),
        ("project", "show project"),
    ] {
        let message = format!("'{name}' is not available on azure");
        assert_fails(&cnctl(&api, &["show", what]), &message, what);
        assert_fails(&cnctl(&api, &["--json", "show", what]), &message, what);
    }
}

#[test]
fn refresh_and_version() {
    let api = azure_api();
    assert_prints(&cnctl(&api, &["refresh"]), "refresh requested\n", "refresh");
    assert_prints(
        &cnctl(&api, &["--json", "refresh"]),
        "{\n  \"status\": \"refresh requested\"\n}\n",
        "refresh --json",
    );
    assert!(api
        .seen()
        .contains(&format!("POST /api/v1/refresh {}", api.addr)));
    let ours = env!("CARGO_PKG_VERSION");
    assert_prints(
        &cnctl(&api, &["version"]),
        &format!("cnctl {ours}\ndaemon 9.8.7\n"),
        "version",
    );
    assert_prints(
        &cnctl(&api, &["--json", "version"]),
        &format!("{{\n  \"cnctl\": \"{ours}\",\n  \"daemon\": \"9.8.7\"\n}}\n"),
        "version --json",
    );
}

/// A loopback port with nothing listening on it.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Every proxy variable ureq would honour by default, pointing at a port nothing listens on.
fn dead_proxy_env(command: &mut Command) -> &mut Command {
    let dead = format!("http://127.0.0.1:{}", closed_port());
    for name in ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
        command.env(name, &dead);
    }
    command.env_remove("NO_PROXY").env_remove("no_proxy")
}

#[test]
fn proxy_variables_are_ignored() {
    let api = azure_api();
    let url = api.url();
    let output = dead_proxy_env(Command::new(BIN).args(["cnctl", "--url", &url, "refresh"]))
        .output()
        .expect("run cloud-network");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "refresh requested\n"
    );
    assert!(output.status.success());
    assert_eq!(api.seen(), [format!("POST /api/v1/refresh {}", api.addr)]);
}

#[test]
fn unreachable_daemon_is_one_line_and_exit_1() {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}");
    let expected = format!(
        "cannot reach the cloud-network daemon at {url}: Connection refused (os error 111)"
    );
    let commands: [&[&str]; 5] = [
        &["status", "system"],
        &["--json", "status", "network"],
        &["status", "links"],
        &["show", "k"],
        &["refresh"],
    ];
    for args in commands {
        let mut all = vec!["cnctl", "--url", &url];
        all.extend_from_slice(args);
        assert_fails(&run_program(Path::new(BIN), &all), &expected, &url);
    }
    let bare = format!("127.0.0.1:{port}");
    let version = run_program(Path::new(BIN), &["cnctl", "--url", &bare, "version"]);
    assert_eq!(version.code, Some(1));
    assert_eq!(
        version.stdout,
        format!("cnctl {}\n", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(version.stderr, format!("cnctl: {expected}\n"));
}

#[test]
fn api_errors_name_the_message_and_status() {
    let api = Api::start(vec![
        get("/api/v1/status", status(Some(ProviderKind::Gcp), vec![])),
        failing("/api/v1/system", 503, "no metadata yet"),
        failing("/api/cloud/network", 503, "no metadata yet"),
    ]);
    for args in [
        &["status", "system"][..],
        &["--json", "status", "system"],
        &["status", "network"],
        &["show", "project"],
    ] {
        let run = cnctl(&api, args);
        assert_fails(&run, "no metadata yet (HTTP 503)", &format!("{args:?}"));
    }
    let undetected = Api::start(vec![get("/api/v1/status", status(None, vec![]))]);
    assert_fails(
        &cnctl(&undetected, &["status", "system"]),
        "the daemon has not detected the cloud provider yet",
        "no provider",
    );
}

/// Asserts exit 2 with exactly the two lines of a usage error on stderr, nothing on stdout.
fn assert_usage(run: &Run, message: &str, help: &str, what: &str) {
    assert_eq!(run.stdout, "", "{what}");
    assert_eq!(
        run.stderr,
        format!("cnctl: {message}\ncnctl: run '{help} --help' for usage\n"),
        "{what}"
    );
    assert_eq!(run.code, Some(2), "{what}");
}

#[test]
fn unknown_status_or_item_is_a_usage_error() {
    let port = closed_port().to_string();
    let run = run_program(Path::new(BIN), &["cnctl", "--url", &port, "status", "nics"]);
    assert_usage(
        &run,
        "unknown status 'nics': expected system, network or links",
        "cloud-network cnctl status",
        "status nics",
    );
    let run = run_program(Path::new(BIN), &["cnctl", "show", "x"]);
    assert_usage(
        &run,
        "unknown item 'x': expected ssh-keys (k), credentials (c), document (d), pkcs7 (p), \
         signature (s), rsa2048 (r) or project",
        "cloud-network cnctl show",
        "show x",
    );
}

#[test]
fn no_command_and_unknown_options_are_usage_errors_naming_the_help() {
    let dir = TempDir::new();
    let link = dir.path().join("cnctl");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    assert_usage(
        &run_program(&link, &[]),
        "One of the following subcommands must be present: help, status, show, refresh, version, check",
        "cnctl",
        "no command",
    );
    assert_usage(
        &run_program(&link, &["status"]),
        "Required positional arguments not provided: what",
        "cnctl status",
        "status without what",
    );
    assert_usage(
        &run_program(&link, &["--json", "show", "k", "--bogus"]),
        "Unrecognized argument: --bogus",
        "cnctl show",
        "show --bogus",
    );
    assert_usage(
        &run_program(Path::new(BIN), &["cnctl", "--bogus"]),
        "Unrecognized argument: --bogus",
        "cloud-network cnctl",
        "cloud-network cnctl --bogus",
    );
}

#[test]
fn a_bad_url_is_a_usage_error_and_nothing_is_sent() {
    let cases = [
        ("https://127.0.0.1:5209", "only http:// URLs are supported"),
        ("ftp://x", "only http:// URLs are supported"),
        (":5209", "no host name or address"),
        ("http://", "no host name or address"),
        (
            "127.0.0.1:99999",
            "the port is not a number from 1 to 65535",
        ),
        ("127.0.0.1:0", "the port is not a number from 1 to 65535"),
        ("[::1", "no ']' after the IPv6 address"),
    ];
    for (url, why) in cases {
        let run = run_program(Path::new(BIN), &["cnctl", "--url", url, "status", "system"]);
        assert_usage(
            &run,
            &format!("invalid --url '{url}': {why}; expected http://host:port or host:port"),
            "cloud-network cnctl",
            url,
        );
    }
    let api = azure_api();
    let bracketed = api.url().replace("127.0.0.1", "[::ffff:127.0.0.1]");
    let run = run_program(Path::new(BIN), &["cnctl", "--url", &bracketed, "refresh"]);
    assert_ne!(run.code, Some(2), "{bracketed}: {}", run.stderr);
}

#[test]
fn a_missing_config_named_by_flag_is_an_error_78() {
    let dir = TempDir::new();
    let missing = dir.path().join("no-such.toml");
    let missing = missing.to_str().unwrap();
    let run = run_program(
        Path::new(BIN),
        &["cnctl", "--config", missing, "status", "system"],
    );
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        format!(
            "cnctl: {missing}: no such file (named by --config; only the default \
             /etc/cloud-network/cloud-network.toml may be missing)\n"
        )
    );
    assert_eq!(run.code, Some(78));
}

fn ec2_api(credentials: Route) -> Api {
    let system = ec2_system();
    let identity = &system["dynamic"]["instance-identity"];
    Api::start(vec![
        get(
            "/api/v1/status",
            status(
                Some(ProviderKind::Aws),
                vec![link("ens5", 2, "0e:49:61:0f:c3:11", 0)],
            ),
        ),
        get(
            "/api/cloud/network",
            Value::clone(&network_view(ProviderKind::Aws, &Arc::new(system.clone()))),
        ),
        get(
            "/api/cloud/dynamicinstanceidentity/document",
            identity["document"].clone(),
        ),
        get(
            "/api/cloud/dynamicinstanceidentity/pkcs7",
            identity["pkcs7"].clone(),
        ),
        get(
            "/api/cloud/dynamicinstanceidentity/signature",
            identity["signature"].clone(),
        ),
        failing(
            "/api/cloud/dynamicinstanceidentity/rsa2048",
            404,
            "rsa2048 not fetched",
        ),
        get("/api/v1/system", system),
        credentials,
    ])
}

#[test]
fn ec2_commands() {
    let api = ec2_api(failing("/api/cloud/credentials", 403, "forbidden"));
    let system = ec2_system();
    let identity = &system["dynamic"]["instance-identity"];
    assert_prints(
        &cnctl(&api, &["status", "system"]),
        expected!("ec2-aemm-system.txt"),
        "status system",
    );
    assert_prints(
        &cnctl(&api, &["status", "network"]),
        expected!("ec2-aemm-network.txt"),
        "status network",
    );
    let pkcs7 = identity["pkcs7"].as_str().unwrap();
    let signature = identity["signature"].as_str().unwrap();
    let cases: [(&[&str], String); 8] = [
        (&["--json", "status", "system"], pretty(&system)),
        (
            &["--json", "status", "network"],
            pretty(&network_view(ProviderKind::Aws, &Arc::new(system.clone()))),
        ),
        (&["show", "document"], pretty(&identity["document"])),
        (&["--json", "show", "d"], pretty(&identity["document"])),
        (&["show", "p"], format!("{pkcs7}\n")),
        (&["--json", "show", "pkcs7"], pretty(&identity["pkcs7"])),
        (&["show", "signature"], format!("{signature}\n")),
        (
            &["show", "k"],
            format!(
                "ssh-key: {}\n",
                system["meta-data"]["public-keys"]["0"]["openssh-key"]
                    .as_str()
                    .unwrap()
            ),
        ),
    ];
    for (args, expected) in cases {
        assert_prints(&cnctl(&api, args), &expected, &format!("{args:?}"));
    }
    assert_fails(
        &cnctl(&api, &["show", "r"]),
        "rsa2048 not fetched (HTTP 404)",
        "rsa2048",
    );
    assert_fails(
        &cnctl(&api, &["show", "project"]),
        "'show project' is not available on aws",
        "project",
    );
}

#[test]
fn ec2_credentials_from_the_api() {
    let creds = json!({"Code": "Success", "AccessKeyId": "AKIA1", "Token": "t"});
    let api = ec2_api(get("/api/cloud/credentials", creds.clone()));
    assert_prints(&cnctl(&api, &["show", "c"]), &pretty(&creds), "show c");
    assert_prints(
        &cnctl(&api, &["--json", "show", "credentials"]),
        &pretty(&creds),
        "show credentials --json",
    );
}

/// A config file naming `state` as StateDir and `listen` as Listen.
fn config_file(dir: &TempDir, state: &Path, listen: &str) -> PathBuf {
    let path = dir.path().join("cloud-network.toml");
    let text = format!(
        "[System]\nStateDir = \"{}\"\n\n[Network]\nListen = \"{listen}\"\n",
        state.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn ec2_credentials_fall_back_to_the_state_file_when_refused() {
    use std::os::unix::fs::PermissionsExt;
    let api = ec2_api(failing("/api/cloud/credentials", 403, "forbidden"));
    let dir = TempDir::new();
    let state = dir.path().join("state");
    let config = config_file(&dir, &state, &api.addr);
    let config = config.to_str().unwrap();
    let missing = state.join("provider/ec2/credentials");
    assert_fails(
        &cnctl(&api, &["--config", config, "show", "credentials"]),
        &format!(
            "the instance has no IAM role: the daemon saved no credentials in {}",
            missing.display()
        ),
        "no state file: no role",
    );
    std::fs::create_dir_all(&missing).unwrap();
    assert_fails(
        &cnctl(&api, &["--config", config, "show", "c"]),
        &format!(
            "forbidden (HTTP 403); reading {}: Is a directory (os error 21)",
            missing.display()
        ),
        "unreadable state file",
    );
    std::fs::remove_dir(&missing).unwrap();
    let creds = json!({"AccessKeyId": "AKIA2", "SecretAccessKey": "s", "Token": "t"});
    std::fs::create_dir_all(missing.parent().unwrap()).unwrap();
    std::fs::write(&missing, creds.to_string()).unwrap();
    std::fs::set_permissions(&missing, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_prints(
        &cnctl(&api, &["--config", config, "show", "c"]),
        &pretty(&creds),
        "state file",
    );
}

#[test]
fn default_url_comes_from_listen_and_the_symlink_works() {
    let api = azure_api();
    let dir = TempDir::new();
    let config = config_file(&dir, &dir.path().join("state"), &api.addr);
    let link = dir.path().join("cnctl");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let config = config.to_str().unwrap();
    assert_prints(
        &run_program(&link, &["--config", config, "status", "system"]),
        AZURE_SYSTEM,
        "symlink with config",
    );
    assert_prints(
        &run_program(&link, &["--url", &api.url(), "refresh"]),
        "refresh requested\n",
        "symlink with url",
    );
}

fn gcp_api() -> Api {
    let doc = fixture("gcp/gce-metadata-server-emulator-recursive.json");
    Api::start(vec![
        get(
            "/api/v1/status",
            status(
                Some(ProviderKind::Gcp),
                vec![link("ens4", 2, "42:01:0a:80:00:13", 0)],
            ),
        ),
        get("/api/v1/system", doc.clone()),
        get("/api/cloud/network", doc),
    ])
}

#[test]
fn gcp_commands() {
    let api = gcp_api();
    let doc = fixture("gcp/gce-metadata-server-emulator-recursive.json");
    let key = doc["project"]["attributes"]["ssh-keys"].as_str().unwrap();
    let cases: [(&[&str], String); 7] = [
        (
            &["status", "network"],
            expected!("gcp-emulator-network.txt").to_string(),
        ),
        (&["--json", "status", "system"], pretty(&doc)),
        (
            &["show", "project"],
            expected!("gcp-emulator-project.txt").to_string(),
        ),
        (&["--json", "show", "project"], pretty(&doc["project"])),
        (&["show", "ssh-keys"], format!("ssh-key: {key}\n")),
        (&["--json", "show", "k"], pretty(&json!([key]))),
        (
            &["status", "system"],
            expected!("gcp-emulator-system.txt").to_string(),
        ),
    ];
    for (args, expected) in cases {
        assert_prints(&cnctl(&api, args), &expected, &format!("{args:?}"));
    }
    assert_fails(
        &cnctl(&api, &["show", "signature"]),
        "'show signature' is not available on gcp",
        "signature",
    );
}

/// No control character but newlines (and tabs) reaches the terminal.
fn assert_clean(text: &str, what: &str) {
    let raw: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && !matches!(c, '\n' | '\t'))
        .collect();
    assert!(
        raw.is_empty(),
        "{what}: raw control characters {raw:?} in {text:?}"
    );
}

#[test]
fn escape_sequences_from_the_metadata_and_the_api_reach_the_terminal_escaped() {
    let mut doc = fixture("gcp/gce-metadata-server-emulator-recursive.json");
    let clipboard = "alice:ssh-ed25519 AAAA\u{1b}]52;c;cm0gLXJmIH4K\u{7} alice";
    doc["project"]["attributes"]["ssh-keys"] = json!(clipboard);
    doc["instance"]["hostname"] = json!("vm\u{1b}[2J.internal");
    doc["instance"]["name"] = json!("\u{1b}]0;owned\u{7}web\u{9b}1m");
    let api = Api::start(vec![
        get("/api/v1/status", status(Some(ProviderKind::Gcp), vec![])),
        get("/api/v1/system", doc.clone()),
        failing(
            "/api/cloud/network",
            500,
            "broken \u{1b}]0;title\u{7}\u{1b}[2J",
        ),
    ]);
    let keys = cnctl(&api, &["show", "ssh-keys"]);
    assert_prints(
        &keys,
        "ssh-key: alice:ssh-ed25519 AAAA\\u{1b}]52;c;cm0gLXJmIH4K\\u{7} alice\n",
        "ssh-keys",
    );
    let system = cnctl(&api, &["status", "system"]);
    assert_eq!((system.code, system.stderr.as_str()), (Some(0), ""));
    assert_clean(&system.stdout, "status system");
    assert!(
        system
            .stdout
            .contains("          Hostname: vm\\u{1b}[2J.internal \n"),
        "{}",
        system.stdout
    );
    assert!(
        system
            .stdout
            .contains("              Name: \\u{1b}]0;owned\\u{7}web\\u{9b}1m \n"),
        "{}",
        system.stdout
    );
    for args in [
        &["--json", "status", "system"][..],
        &["--json", "show", "k"],
    ] {
        let run = cnctl(&api, args);
        assert_eq!(run.code, Some(0), "{args:?}: {}", run.stderr);
        assert_clean(&run.stdout, &format!("{args:?}"));
        let back: Value = serde_json::from_str(&run.stdout).expect("--json stays JSON");
        let want = if args[1] == "show" {
            json!([clipboard])
        } else {
            doc.clone()
        };
        assert_eq!(back, want, "{args:?}: the JSON means what the API sent");
    }
    assert_fails(
        &cnctl(&api, &["status", "network"]),
        "broken \\u{1b}]0;title\\u{7}\\u{1b}[2J (HTTP 500)",
        "an API error body",
    );
}

fn oracle_api() -> (Api, Value) {
    let doc = json!({
        "instance": fixture("oci/cloudinit-opc-instance.json"),
        "vnics": fixture("oci/cloudinit-vnics-vm-dual-stack-secondary.json"),
    });
    let api = Api::start(vec![
        get(
            "/api/v1/status",
            status(
                Some(ProviderKind::Oracle),
                vec![link("ens3", 2, "02:00:17:0d:6b:be", 0)],
            ),
        ),
        get("/api/v1/system", doc.clone()),
        get("/api/cloud/network", doc["vnics"].clone()),
    ]);
    (api, doc)
}

#[test]
fn oracle_commands() {
    let (api, doc) = oracle_api();
    let key = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ truncated";
    let cases: [(&[&str], String); 6] = [
        (
            &["status", "system"],
            expected!("oci-opc-instance-system.txt").to_string(),
        ),
        (
            &["status", "network"],
            expected!("oci-dual-stack-network.txt").to_string(),
        ),
        (&["--json", "status", "system"], pretty(&doc)),
        (&["--json", "status", "network"], pretty(&doc["vnics"])),
        (&["show", "ssh-keys"], format!("ssh-key: {key}\n")),
        (&["--json", "show", "k"], pretty(&json!([key]))),
    ];
    for (args, expected) in cases {
        assert_prints(&cnctl(&api, args), &expected, &format!("{args:?}"));
    }
    for (args, what) in [
        (&["show", "document"][..], "document"),
        (&["show", "project"], "project"),
    ] {
        assert_fails(
            &cnctl(&api, args),
            &format!("'show {what}' is not available on oracle"),
            what,
        );
    }
}

fn alibaba_system() -> Value {
    let text = include_str!("../src/emulator/scenarios/alibaba.json");
    let tree: BTreeMap<String, String> = serde_json::from_str(text).unwrap();
    tree_to_json(&tree)
}

#[test]
fn alibaba_commands() {
    let system = alibaba_system();
    let view = network_view(ProviderKind::Alibaba, &Arc::new(system.clone()));
    let api = Api::start(vec![
        get(
            "/api/v1/status",
            status(
                Some(ProviderKind::Alibaba),
                vec![
                    link("eth0", 2, "00:16:3e:2a:51:01", 0),
                    link("eth1", 3, "00:16:3e:2a:51:02", 1),
                ],
            ),
        ),
        get("/api/v1/system", system.clone()),
        get("/api/cloud/network", Value::clone(&view)),
    ]);
    let key = system["meta-data"]["public-keys"]["skp-bp1demo0key"]["openssh-key"]
        .as_str()
        .unwrap();
    let cases: [(&[&str], String); 5] = [
        (
            &["status", "system"],
            expected!("alibaba-emulator-system.txt").to_string(),
        ),
        (
            &["status", "network"],
            expected!("alibaba-emulator-network.txt").to_string(),
        ),
        (&["--json", "status", "network"], pretty(&view)),
        (&["show", "ssh-keys"], format!("ssh-key: {key}\n")),
        (&["--json", "show", "k"], pretty(&json!([key]))),
    ];
    for (args, expected) in cases {
        assert_prints(&cnctl(&api, args), &expected, &format!("{args:?}"));
    }
    assert_fails(
        &cnctl(&api, &["show", "document"]),
        "'show document' is not available on alibaba",
        "document",
    );
}

fn digitalocean_document() -> Value {
    let file = format!(
        "{}/tests/fixtures/digitalocean/reference-two-nics-reserved-ip.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

fn digitalocean_api() -> Api {
    let doc = digitalocean_document();
    let links = vec![
        link("eth0", 2, "16:a4:3b:7e:20:01", 0),
        link("eth1", 3, "16:a4:3b:7e:20:02", 1),
    ];
    Api::start(vec![
        get(
            "/api/v1/status",
            status(Some(ProviderKind::DigitalOcean), links),
        ),
        get("/api/v1/system", doc.clone()),
        get("/api/cloud/network", doc),
    ])
}

#[test]
fn digitalocean_commands() {
    let api = digitalocean_api();
    let doc = digitalocean_document();
    let keys = doc["public_keys"].clone();
    let key_lines: String = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| format!("ssh-key: {}\n", k.as_str().unwrap()))
        .collect();
    let cases: [(&[&str], String); 6] = [
        (
            &["status", "system"],
            expected!("digitalocean-reference-system.txt").to_string(),
        ),
        (
            &["status", "network"],
            expected!("digitalocean-reference-network.txt").to_string(),
        ),
        (&["--json", "status", "network"], pretty(&doc)),
        (&["--json", "status", "system"], pretty(&doc)),
        (&["show", "ssh-keys"], key_lines),
        (&["--json", "show", "k"], pretty(&keys)),
    ];
    for (args, expected) in cases {
        assert_prints(&cnctl(&api, args), &expected, &format!("{args:?}"));
    }
    assert_fails(
        &cnctl(&api, &["show", "document"]),
        "'show document' is not available on digitalocean",
        "document",
    );
}
