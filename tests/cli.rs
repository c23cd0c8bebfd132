//! The real binary: version and help, usage errors (exit 2, stderr only), argv[0] dispatch to
//! cnctl, configuration errors (exit 78, one line naming file, line, key and value, nothing
//! touched), unknown-key warnings, and the environment override check.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use cloud_network::emulator::{self, EmulatorConfig};
use cloud_network::metadata::ProviderKind;

const BIN: &str = env!("CARGO_BIN_EXE_cloud-network");
const AZURE_SCENARIO: &str = include_str!("../src/emulator/scenarios/azure.json");

/// A directory under the system temp dir, unique to the test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "cloud-network-cli-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `text` to `name` in the directory and returns its path.
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `program` with a clean logging environment and no proxy exceptions.
fn run_program(program: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(program);
    command
        .args(args)
        .env_remove("CLOUD_NETWORK_LOG_LEVEL")
        .env_remove("CLOUD_NETWORK_LOG_FORMAT")
        .env_remove("JOURNAL_STREAM")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("run the binary")
}

fn run(args: &[&str]) -> Output {
    run_program(Path::new(BIN), args, &[])
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Exit status 2, something on stderr, nothing on stdout; returns stderr.
fn assert_usage_error(output: &Output, what: &str) -> String {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(2), "{what}: {err}");
    assert_eq!(stdout(output), "", "{what}");
    assert!(!err.trim().is_empty(), "{what}: empty stderr");
    err
}

#[test]
fn version_flag_and_subcommand() {
    let expected = format!("cloud-network {}\n", env!("CARGO_PKG_VERSION"));
    for args in [&["--version"][..], &["version"][..]] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert_eq!(stdout(&output), expected, "{args:?}");
        assert_eq!(stderr(&output), "", "{args:?}");
    }
}

#[test]
fn help_lists_the_subcommands_on_stdout() {
    let output = run(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stderr(&output), "");
    let help = stdout(&output);
    assert!(help.starts_with("Usage: cloud-network"), "{help}");
    for command in ["daemon", "cnctl", "emulate", "version"] {
        assert!(
            help.lines()
                .any(|line| line.trim_start().starts_with(command)),
            "{command} missing from:\n{help}"
        );
    }
}

#[test]
fn unknown_subcommands_and_flags_are_usage_errors_naming_the_help() {
    let cases: [(&[&str], &str, &str); 8] = [
        (&["bogus"], "Unrecognized argument: bogus", "cloud-network"),
        (
            &["--bogus"],
            "Unrecognized argument: --bogus",
            "cloud-network",
        ),
        (
            &["daemon", "--bogus"],
            "Unrecognized argument: --bogus",
            "cloud-network daemon",
        ),
        (
            &["cnctl", "--bogus"],
            "Unrecognized argument: --bogus",
            "cloud-network cnctl",
        ),
        (
            &["cnctl", "bogus"],
            "Unrecognized argument: bogus",
            "cloud-network cnctl",
        ),
        (
            &["emulate", "--provider", "aws", "--bogus"],
            "Unrecognized argument: --bogus",
            "cloud-network emulate",
        ),
        (
            &["emulate"],
            "Required options not provided: --provider",
            "cloud-network emulate",
        ),
        (
            &["daemon", "--config"],
            "No value provided for option '--config'.",
            "cloud-network daemon",
        ),
    ];
    for (args, message, help) in cases {
        let err = assert_usage_error(&run(args), &format!("{args:?}"));
        let voice = if args.first() == Some(&"cnctl") {
            "cnctl"
        } else {
            "cloud-network"
        };
        assert_eq!(
            err,
            format!("{voice}: {message}\n{voice}: run '{help} --help' for usage\n"),
            "{args:?}"
        );
    }
}

#[test]
fn help_lines_are_sentences() {
    let top = stdout(&run(&["--help"]));
    assert!(
        top.contains(
            "  emulate           Serve an emulated cloud metadata service (Azure, EC2, GCP,\n\
             \x20                   Oracle OCI, Alibaba ECS or DigitalOcean) for tests, demos\n\
             \x20                   and benchmarks.\n"
        ),
        "{top}"
    );
    let commands: Vec<&str> = top
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .collect();
    assert_eq!(commands.len(), 4, "{top}");
    for line in commands {
        let text = line.split_whitespace().nth(1).unwrap_or_default();
        assert!(text.starts_with(char::is_uppercase), "{line}");
    }
    let show = stdout(&run(&["cnctl", "show", "--help"]));
    assert!(
        show.contains(
            "Positional Arguments:\n  what              ssh-keys (k), credentials (c), document (d), \
             pkcs7 (p),\n                    signature (s), rsa2048 (r) or project\n"
        ),
        "{show}"
    );
}

#[test]
fn a_missing_config_named_by_flag_exits_78() {
    let dir = TempDir::new();
    let missing = dir.path().join("wrong").join("path.toml");
    let missing = missing.to_str().expect("utf-8 path");
    for args in [
        &["daemon", "--config", missing, "--dry-run"][..],
        &["daemon", "--config", missing, "--oneshot"],
        &["daemon", "--config", missing],
    ] {
        let output = run(args);
        assert_eq!(stdout(&output), "", "{args:?}");
        assert_eq!(
            stderr(&output),
            format!(
                "cloud-network: {missing}: no such file (named by --config; only the default \
                 /etc/cloud-network/cloud-network.toml may be missing)\n"
            ),
            "{args:?}"
        );
        assert_eq!(output.status.code(), Some(78), "{args:?}");
    }
}

#[test]
fn emulate_rejects_unknown_provider_and_fault() {
    let err = assert_usage_error(&run(&["emulate", "--provider", "nope"]), "provider");
    assert!(
        err.contains(
            "unknown provider 'nope' (expected azure, aws, gcp, oracle, alibaba or digitalocean)"
        ),
        "{err}"
    );
    let err = assert_usage_error(
        &run(&["emulate", "--provider", "aws", "--fault", "nope"]),
        "fault",
    );
    assert!(
        err.contains(
            "unknown fault 'nope' (expected none, http500, timeout, garbage, empty or throttle)"
        ),
        "{err}"
    );
}

#[test]
fn argv0_cnctl_dispatches_to_the_cli() {
    let dir = TempDir::new();
    let link = dir.path().join("cnctl");
    std::os::unix::fs::symlink(BIN, &link).expect("symlink");

    let help = run_program(&link, &["--help"], &[]);
    assert_eq!(help.status.code(), Some(0), "{}", stderr(&help));
    let text = stdout(&help);
    assert!(text.starts_with("Usage: cnctl"), "{text}");
    for command in ["status", "show", "refresh", "version"] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(command)),
            "{command} missing from:\n{text}"
        );
    }
    assert!(!text.contains("emulate"), "{text}");

    let err = assert_usage_error(&run_program(&link, &["bogus"], &[]), "cnctl bogus");
    assert_eq!(
        err,
        "cnctl: Unrecognized argument: bogus\ncnctl: run 'cnctl --help' for usage\n"
    );
}

#[test]
fn invalid_config_values_exit_78_touching_nothing() {
    let cases = [
        (
            "[System]\nStateDir = \"STATE\"\nRefreshTimer = \"5 parsecs\"\n",
            "3: invalid value \"5 parsecs\" for [System] RefreshTimer: expected a duration such as 300s, 5m or 1h30m",
        ),
        (
            "[System]\nStateDir = \"STATE\"\n\n[Network]\nListen = \"localhost:99999\"\n",
            "5: invalid value \"localhost:99999\" for [Network] Listen: expected ip:port such as 127.0.0.1:5209 or [::1]:5209",
        ),
        (
            "[Network]\nRulePriorityBase = 40000\n\n[System]\nStateDir = \"STATE\"\n",
            "2: invalid value \"40000\" for [Network] RulePriorityBase: expected an integer from 1601 to 30000",
        ),
        (
            "[System]\nStateDir = \"STATE\"\n[Network]\nMTU = 65536\n",
            "4: invalid value \"65536\" for [Network] MTU: expected an integer from 1280 to 9216, or empty for the cloud's default",
        ),
    ];
    for (text, message) in cases {
        let dir = TempDir::new();
        let state = dir.path().join("state");
        let text = text.replace("STATE", &state.display().to_string());
        let config = dir.file("cloud-network.toml", &text);
        let config_arg = config.display().to_string();
        for args in [
            &["daemon", "--config", &config_arg][..],
            &["daemon", "--config", &config_arg, "--dry-run"][..],
            &["daemon", "--config", &config_arg, "--oneshot"][..],
        ] {
            let output = run(args);
            assert_eq!(
                output.status.code(),
                Some(78),
                "{args:?}: {}",
                stderr(&output)
            );
            assert_eq!(
                stderr(&output),
                format!("cloud-network: {config_arg}:{message}\n"),
                "{args:?}"
            );
            assert_eq!(stdout(&output), "", "{args:?}");
            assert!(!state.exists(), "{args:?}: the state dir was created");
        }
    }
}

#[test]
fn serve_credentials_on_a_non_loopback_listen_exits_78() {
    let dir = TempDir::new();
    let state = dir.path().join("state");
    let text = format!(
        "[System]\nStateDir = \"{}\"\n[Network]\nListen = \"0.0.0.0:5209\"\nServeCredentials = true\n",
        state.display()
    );
    let config = dir.file("cloud-network.toml", &text);
    let file = config.display().to_string();
    let output = run(&["daemon", "--config", &file, "--dry-run"]);
    assert_eq!(output.status.code(), Some(78), "{}", stderr(&output));
    assert_eq!(
        stderr(&output),
        format!(
            "cloud-network: {file}:5: [Network] ServeCredentials=true needs a loopback [Network] \
             Listen, but Listen is \"0.0.0.0:5209\" ({file}:4), which other hosts can reach: set \
             Listen to 127.0.0.1:5209 or [::1]:5209, or ServeCredentials=false\n"
        )
    );
    assert!(!state.exists(), "the state dir was created");
}

#[test]
fn invalid_log_level_variable_exits_78() {
    let dir = TempDir::new();
    let state = dir.path().join("state");
    let config = dir.file(
        "cloud-network.toml",
        &format!("[System]\nStateDir = \"{}\"\n", state.display()),
    );
    let config_arg = config.display().to_string();
    let output = run_program(
        Path::new(BIN),
        &["daemon", "--config", &config_arg, "--dry-run"],
        &[("CLOUD_NETWORK_LOG_LEVEL", "bogus")],
    );
    assert_eq!(output.status.code(), Some(78), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.starts_with(
            "cloud-network: environment variable CLOUD_NETWORK_LOG_LEVEL: invalid value \"bogus\""
        ),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(stdout(&output), "");
    assert!(!state.exists());
}

/// The built-in Azure scenario with MACs no link on this machine has (locally administered).
fn scenario_matching_no_link() -> String {
    let text = AZURE_SCENARIO
        .replace("000D3A4F6B10", "02C10DE7E501")
        .replace("000D3A4F6B11", "02C10DE7E502");
    assert_ne!(text, AZURE_SCENARIO);
    text
}

fn machine_macs() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/sys/class/net") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path().join("address")).ok())
        .map(|mac| mac.trim().to_ascii_lowercase())
        .collect()
}

/// The daemon fetches the metadata directly whatever proxy the environment names: every
/// variable ureq would honour points at a port nothing listens on, and the dry run still reads
/// the emulator once.
#[test]
fn proxy_variables_are_ignored_by_the_metadata_fetch() {
    let mut cfg = EmulatorConfig::new(ProviderKind::Azure);
    cfg.listen = "127.0.0.1:0".parse().expect("loopback address");
    let emu = emulator::start(cfg).expect("emulator starts");
    emu.set_scenario_text(&scenario_matching_no_link())
        .expect("valid scenario");
    let dir = TempDir::new();
    let state = dir.path().join("state");
    let config = dir.file(
        "cloud-network.toml",
        &format!(
            "[System]\nProvider = \"azure\"\nMetadataEndpoint = \"{}\"\nStateDir = \"{}\"\n",
            emu.base_url(),
            state.display()
        ),
    );
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("address"))
    };
    let config_arg = config.display().to_string();
    let proxies: Vec<(&str, &str)> = ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
        .into_iter()
        .map(|name| (name, dead.as_str()))
        .collect();
    let output = run_program(
        Path::new(env!("CARGO_BIN_EXE_cloud-network")),
        &["daemon", "--config", &config_arg, "--dry-run"],
        &proxies,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "No changes\n");
    let requests = emu.requests();
    assert_eq!(
        requests
            .iter()
            .map(|r| (r.path.as_str(), r.status))
            .collect::<Vec<_>>(),
        [("/metadata/instance?api-version=2021-02-01", 200)]
    );
}

#[test]
fn unknown_key_warns_and_the_dry_run_continues() {
    let macs = machine_macs();
    assert!(
        !macs.iter().any(|m| m.starts_with("02:c1:0d:e7:e5:0")),
        "a link on this machine has the test MACs: {macs:?}"
    );
    let mut cfg = EmulatorConfig::new(ProviderKind::Azure);
    cfg.listen = "127.0.0.1:0".parse().expect("loopback address");
    let emu = emulator::start(cfg).expect("emulator starts");
    emu.set_scenario_text(&scenario_matching_no_link())
        .expect("valid scenario");

    let dir = TempDir::new();
    let state = dir.path().join("state");
    let config = dir.file(
        "cloud-network.toml",
        &format!(
            "[System]\nProvider = \"azure\"\nMetadataEndpoint = \"{}\"\nStateDir = \"{}\"\nRefreshTimr = \"60s\"\n",
            emu.base_url(),
            state.display()
        ),
    );
    let config_arg = config.display().to_string();
    let output = run(&["daemon", "--config", &config_arg, "--dry-run"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    let warning = format!(
        "{config_arg}:5: unknown key 'RefreshTimr' in [System] (ignored); did you mean 'RefreshTimer'?"
    );
    assert!(
        err.lines().any(|line| line == format!("warning {warning}")),
        "no warning line in:\n{err}"
    );
    assert_eq!(stdout(&output), "No changes\n");
    assert!(!state.exists(), "a dry run wrote the state dir");
    let requests = emu.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(
        (requests[0].path.as_str(), requests[0].status),
        ("/metadata/instance?api-version=2021-02-01", 200)
    );
}
