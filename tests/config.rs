//! Library-level tests of the configuration file, the environment overrides, durations and
//! log line formats.

use cloud_network::config::{
    format_duration, load, parse, parse_duration, Config, ConfigError, DurationError, Loaded,
    ProviderChoice, DEFAULT_PATH, EXIT_CONFIG,
};
use cloud_network::logging::{format_record, LogFormat, LogLevel};
use cloud_network::metadata::ProviderKind;
use cloud_network::plan::OptOuts;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const FILE: &str = "/etc/x.toml";

fn parsed(text: &str) -> Loaded {
    match parse(text, Path::new(FILE)) {
        Ok(loaded) => loaded,
        Err(e) => panic!("{text:?} should parse: {e}"),
    }
}

fn error(text: &str) -> String {
    match parse(text, Path::new(FILE)) {
        Ok(loaded) => panic!("{text:?} should fail, got {:?}", loaded.config),
        Err(e) => e.to_string(),
    }
}

fn warnings(text: &str) -> Vec<String> {
    parsed(text)
        .warnings
        .iter()
        .map(|w| w.to_string())
        .collect()
}

/// A directory under the system temp dir, unique to the test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "cloud-network-config-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn defaults() {
    let c = Config::default();
    assert_eq!(c.log_level, LogLevel::Info);
    assert_eq!(c.log_format, LogFormat::Text);
    assert_eq!(c.refresh_timer, Duration::from_secs(300));
    assert_eq!(c.provider, ProviderChoice::Auto);
    assert_eq!(c.metadata_endpoint, None);
    assert_eq!(c.state_dir, PathBuf::from("/run/cloud-network"));
    assert_eq!(c.listen, "127.0.0.1:5209".parse::<SocketAddr>().unwrap());
    assert!(c.supplementary.is_empty());
    assert_eq!(c.route_table_base, 10_000);
    assert_eq!(c.rule_priority_base, 3_000);
    assert!(!c.serve_credentials);
    assert_eq!(c.mtu, None);
    assert_eq!(DEFAULT_PATH, "/etc/cloud-network/cloud-network.toml");
    assert_eq!(EXIT_CONFIG, 78);
}

#[test]
fn empty_file_means_defaults() {
    assert_eq!(parsed(""), Loaded::default());
    assert_eq!(
        parsed("# only a comment\n\n[System]\n[Network]\n"),
        Loaded::default()
    );
}

#[test]
fn every_key() {
    let loaded = parsed(
        r#"
[System]
LogLevel = "debug"
LogFormat = "JSON"
RefreshTimer = "1h30m"
Provider = "ec2"
MetadataEndpoint = "http://127.0.0.1:8080/imds/"
StateDir = "/var/lib/cloud-network"

[Network]
Listen = "[::1]:6000"
Supplementary = "eth0  eth1"
RouteTableBase = 20000
RulePriorityBase = "4000"
InterfaceGroup = 77
ServeCredentials = true
MTU = 9001
"#,
    );
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let want = Config {
        log_level: LogLevel::Debug,
        log_format: LogFormat::Json,
        refresh_timer: Duration::from_secs(5400),
        provider: ProviderChoice::Fixed(ProviderKind::Aws),
        metadata_endpoint: Some("http://127.0.0.1:8080/imds".to_string()),
        state_dir: PathBuf::from("/var/lib/cloud-network"),
        listen: "[::1]:6000".parse().unwrap(),
        supplementary: vec!["eth0".to_string(), "eth1".to_string()],
        route_table_base: 20_000,
        rule_priority_base: 4_000,
        interface_group: 77,
        serve_credentials: true,
        mtu: Some(9001),
        optouts: OptOuts::default(),
    };
    assert_eq!(loaded.config, want);
}

#[test]
fn seed_readme_example() {
    let loaded = parsed(
        "[System]\nRefreshTimer=\"300s\"\nLogLevel=\"info\"\nLogFormat=\"text\"\n\n\
         [Network]\nListen=\"127.0.0.1:5209\"\nSupplementary=\"eth1\"\n",
    );
    assert!(loaded.warnings.is_empty());
    let want = Config {
        supplementary: vec!["eth1".to_string()],
        ..Config::default()
    };
    assert_eq!(loaded.config, want);
}

#[test]
fn natural_toml_types_and_alternative_spellings() {
    let c = parsed(
        "[System]\nRefreshTimer = 60\nProvider = \"GOOGLE\"\nLogLevel = \"WARN\"\n\
         MetadataEndpoint = \"HTTP://[fd00:ec2::254]\"\n\
         [Network]\nListen = \"localhost:80\"\nSupplementary = [\"eth1\", \"eth2\"]\n\
         RouteTableBase = \"256\"\nRulePriorityBase = 1601\nServeCredentials = \"yes\"\n",
    )
    .config;
    assert_eq!(c.refresh_timer, Duration::from_secs(60));
    assert_eq!(c.provider, ProviderChoice::Fixed(ProviderKind::Gcp));
    assert_eq!(c.log_level, LogLevel::Warning);
    assert_eq!(
        c.metadata_endpoint.as_deref(),
        Some("http://[fd00:ec2::254]")
    );
    assert_eq!(c.listen, "127.0.0.1:80".parse::<SocketAddr>().unwrap());
    assert_eq!(c.supplementary, ["eth1", "eth2"]);
    assert_eq!(c.route_table_base, 256);
    assert_eq!(c.rule_priority_base, 1601);
    assert!(c.serve_credentials);
}

#[test]
fn range_edges_are_accepted() {
    let c = parsed(
        "[System]\nRefreshTimer = \"24h\"\nProvider = \"auto\"\nMetadataEndpoint = \"\"\n\
         [Network]\nRouteTableBase = 4000000000\nRulePriorityBase = 30000\n\
         Supplementary = \"\"\nServeCredentials = \"0\"\n",
    )
    .config;
    assert_eq!(c.refresh_timer, Duration::from_secs(86_400));
    assert_eq!(c.provider, ProviderChoice::Auto);
    assert_eq!(c.metadata_endpoint, None);
    assert_eq!(c.route_table_base, 4_000_000_000);
    assert_eq!(c.rule_priority_base, 30_000);
    assert!(c.supplementary.is_empty());
    assert!(!c.serve_credentials);
    for (text, mtu) in [
        ("MTU = 1280", Some(1280)),
        ("MTU = \"9216\"", Some(9216)),
        ("MTU = \"\"", None),
    ] {
        assert_eq!(
            parsed(&format!("[Network]\n{text}\n")).config.mtu,
            mtu,
            "{text}"
        );
    }
    let one_second = parsed("[System]\nRefreshTimer = \"1s\"\n").config;
    assert_eq!(one_second.refresh_timer, Duration::from_secs(1));
}

#[test]
fn invalid_values_name_file_line_key_and_value() {
    let cases = [
        (
            "[System]\nLogLevel = \"loud\"\n",
            "/etc/x.toml:2: invalid value \"loud\" for [System] LogLevel: expected one of Trace, Debug, Info, Warning, Error, Fatal, Panic",
        ),
        (
            "[System]\n\nLogFormat = \"xml\"\n",
            "/etc/x.toml:3: invalid value \"xml\" for [System] LogFormat: expected text or json",
        ),
        (
            "# comment\n[System]\nLogLevel = \"info\"\nRefreshTimer = \"abc\"\n",
            "/etc/x.toml:4: invalid value \"abc\" for [System] RefreshTimer: expected a duration such as 300s, 5m or 1h30m",
        ),
        (
            "[System]\nRefreshTimer = \"500ms\"\n",
            "/etc/x.toml:2: invalid value \"500ms\" for [System] RefreshTimer: must be at least 1s",
        ),
        (
            "[System]\nRefreshTimer = \"24h1s\"\n",
            "/etc/x.toml:2: invalid value \"24h1s\" for [System] RefreshTimer: must be at most 24h",
        ),
        (
            "[System]\nProvider = \"openstack\"\n",
            "/etc/x.toml:2: invalid value \"openstack\" for [System] Provider: expected auto, azure, aws, gcp, oracle, alibaba or digitalocean",
        ),
        (
            "[System]\nMetadataEndpoint = \"https://169.254.169.254\"\n",
            "/etc/x.toml:2: invalid value \"https://169.254.169.254\" for [System] MetadataEndpoint: TLS is not supported: metadata services are plain HTTP",
        ),
        (
            "[System]\nMetadataEndpoint = \"169.254.169.254\"\n",
            "/etc/x.toml:2: invalid value \"169.254.169.254\" for [System] MetadataEndpoint: expected http://host[:port][/path]",
        ),
        (
            "[System]\nMetadataEndpoint = \"http://h/a?b=c\"\n",
            "/etc/x.toml:2: invalid value \"http://h/a?b=c\" for [System] MetadataEndpoint: expected http://host[:port][/path]",
        ),
        (
            "[System]\nStateDir = \"run/cloud-network\"\n",
            "/etc/x.toml:2: invalid value \"run/cloud-network\" for [System] StateDir: must be an absolute path",
        ),
        (
            "[Network]\nListen = \"127.0.0.1\"\n",
            "/etc/x.toml:2: invalid value \"127.0.0.1\" for [Network] Listen: expected ip:port such as 127.0.0.1:5209 or [::1]:5209",
        ),
        (
            "[Network]\nListen = \"::1:5209\"\n",
            "/etc/x.toml:2: invalid value \"::1:5209\" for [Network] Listen: expected ip:port such as 127.0.0.1:5209 or [::1]:5209",
        ),
        (
            "[Network]\nListen = \"127.0.0.1:0\"\n",
            "/etc/x.toml:2: invalid value \"127.0.0.1:0\" for [Network] Listen: port 0 is not allowed: the API needs a fixed port",
        ),
        (
            "[Network]\nSupplementary = \"eth1 eth/2\"\n",
            "/etc/x.toml:2: invalid value \"eth1 eth/2\" for [Network] Supplementary: 'eth/2' is not an interface name (1 to 15 bytes, no '/', ':' or whitespace, not '.' or '..')",
        ),
        (
            "[Network]\nSupplementary = \"a234567890123456\"\n",
            "/etc/x.toml:2: invalid value \"a234567890123456\" for [Network] Supplementary: 'a234567890123456' is not an interface name (1 to 15 bytes, no '/', ':' or whitespace, not '.' or '..')",
        ),
        (
            "[Network]\nSupplementary = [\"..\"]\n",
            "/etc/x.toml:2: invalid value \"[\\\"..\\\"]\" for [Network] Supplementary: '..' is not an interface name (1 to 15 bytes, no '/', ':' or whitespace, not '.' or '..')",
        ),
        (
            "[Network]\nRouteTableBase = 255\n",
            "/etc/x.toml:2: invalid value \"255\" for [Network] RouteTableBase: expected an integer from 256 to 4000000000",
        ),
        (
            "[Network]\nRouteTableBase = 4000000001\n",
            "/etc/x.toml:2: invalid value \"4000000001\" for [Network] RouteTableBase: expected an integer from 256 to 4000000000",
        ),
        (
            "[Network]\nRouteTableBase = -1\n",
            "/etc/x.toml:2: invalid value \"-1\" for [Network] RouteTableBase: expected an integer from 256 to 4000000000",
        ),
        (
            "[Network]\nRulePriorityBase = \"1600\"\n",
            "/etc/x.toml:2: invalid value \"1600\" for [Network] RulePriorityBase: expected an integer from 1601 to 30000",
        ),
        (
            "[Network]\nMTU = 1279\n",
            "/etc/x.toml:2: invalid value \"1279\" for [Network] MTU: expected an integer from 1280 to 9216, or empty for the cloud's default",
        ),
        (
            "[Network]\nMTU = \"jumbo\"\n",
            "/etc/x.toml:2: invalid value \"jumbo\" for [Network] MTU: expected an integer from 1280 to 9216, or empty for the cloud's default",
        ),
        (
            "[Network]\nMTU = 9217\n",
            "/etc/x.toml:2: invalid value \"9217\" for [Network] MTU: expected an integer from 1280 to 9216, or empty for the cloud's default",
        ),
        (
            "[Network]\nRulePriorityBase = 30001\n",
            "/etc/x.toml:2: invalid value \"30001\" for [Network] RulePriorityBase: expected an integer from 1601 to 30000",
        ),
        (
            "[Network]\nServeCredentials = \"maybe\"\n",
            "/etc/x.toml:2: invalid value \"maybe\" for [Network] ServeCredentials: expected true or false",
        ),
        (
            "[System]\nRefreshTimer = 1.5\n",
            "/etc/x.toml:2: invalid value \"1.5\" for [System] RefreshTimer: expected a duration such as 300s, 5m or 1h30m",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(error(text), want, "{text:?}");
    }
}

#[test]
fn line_number_is_the_value_line_in_a_long_file() {
    let mut text = String::from("[System]\n");
    for _ in 0..10 {
        text.push_str("# padding\n");
    }
    text.push_str("[Network]\nListen = \"nowhere\"\n");
    assert!(
        error(&text).starts_with("/etc/x.toml:13: invalid value \"nowhere\" for [Network] Listen")
    );
}

#[test]
fn the_first_invalid_value_is_reported() {
    let message = error("[System]\nLogLevel = \"x\"\nLogFormat = \"y\"\n");
    assert!(message.starts_with("/etc/x.toml:2:"), "{message}");
}

#[test]
fn syntax_errors_name_file_and_line() {
    assert_eq!(
        error("[System]\nLogLevel = \"info\"\nRefreshTimer = 300s\n"),
        "/etc/x.toml:3: TOML syntax error: string values must be quoted, expected literal string"
    );
    assert_eq!(
        error("[System]\nLogLevel=\"a\"\nLogLevel=\"b\"\n"),
        "/etc/x.toml:3: TOML syntax error: duplicate key"
    );
    assert_eq!(
        error("[System\n"),
        "/etc/x.toml:1: TOML syntax error: unclosed table, expected `]`"
    );
}

#[test]
fn sections_must_be_tables() {
    assert_eq!(
        error("[[System]]\nLogLevel = \"info\"\n"),
        "/etc/x.toml:1: System must be a section of keys, written [System]"
    );
    assert!(matches!(
        parse("Network = 5\n", Path::new(FILE)),
        Err(ConfigError::NotASection {
            section: "Network",
            ..
        })
    ));
}

#[test]
fn unknown_keys_and_sections_warn_and_are_ignored() {
    let text = "[System]\nFoo = 1\nloglevel = \"debug\"\nRefreshTimr = \"5m\"\n\
                [Network]\nLogLevel = \"debug\"\n[Sytem]\nx = 1\n[Routing]\n\
                [system]\n";
    let loaded = parsed(text);
    assert_eq!(loaded.config, Config::default());
    let got: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        got,
        [
            "/etc/x.toml:2: unknown key 'Foo' in [System] (ignored)",
            "/etc/x.toml:3: unknown key 'loglevel' in [System] (ignored); did you mean 'LogLevel'?",
            "/etc/x.toml:4: unknown key 'RefreshTimr' in [System] (ignored); did you mean 'RefreshTimer'?",
            "/etc/x.toml:6: unknown key 'LogLevel' in [Network] (ignored); did you mean 'LogLevel' in [System]?",
            "/etc/x.toml:7: unknown section [Sytem] (ignored); did you mean [System]?",
            "/etc/x.toml:9: unknown section [Routing] (ignored)",
            "/etc/x.toml:10: unknown section [system] (ignored); did you mean [System]?",
        ]
    );
}

#[test]
fn serve_credentials_on_a_non_loopback_listen_is_an_error_naming_both_keys() {
    for listen in ["0.0.0.0:5209", "10.4.0.5:5209", "[::]:5209"] {
        let text = format!(
            "[Network]\nServeCredentials = true\n# the VPC can reach it\nListen = \"{listen}\"\n"
        );
        assert_eq!(
            error(&text),
            format!(
                "/etc/x.toml:2: [Network] ServeCredentials=true needs a loopback [Network] \
                 Listen, but Listen is \"{listen}\" (/etc/x.toml:4), which other hosts can \
                 reach: set Listen to 127.0.0.1:5209 or [::1]:5209, or ServeCredentials=false"
            )
        );
    }
    for listen in [
        "127.0.0.1:5209",
        "127.0.0.53:6000",
        "[::1]:5209",
        "localhost:5209",
    ] {
        let text = format!("[Network]\nServeCredentials = true\nListen = \"{listen}\"\n");
        assert!(parsed(&text).warnings.is_empty(), "{listen}");
    }
}

#[test]
fn a_non_loopback_listen_is_a_warning() {
    assert_eq!(
        warnings("[Network]\nListen = \"0.0.0.0:5209\"\nServeCredentials = false\n"),
        [
            "/etc/x.toml:2: [Network] Listen=\"0.0.0.0:5209\" is not a loopback address: other \
             hosts can reach the API (status, links, system and network documents, metrics); \
             credentials, identity documents, refresh and check answer loopback clients only"
        ]
    );
}

#[test]
fn keys_outside_any_section_warn() {
    assert_eq!(
        warnings("LogLevel = \"debug\"\nColour = 1\n[System]\n"),
        [
            "/etc/x.toml:1: unknown key 'LogLevel' outside any section (ignored); did you mean 'LogLevel' in [System]?",
            "/etc/x.toml:2: unknown key 'Colour' outside any section (ignored)",
        ]
    );
}

#[test]
fn missing_file_means_defaults() {
    let dir = TempDir::new();
    let loaded = load(&dir.0.join("absent.toml")).expect("a missing file is not an error");
    assert_eq!(loaded, Loaded::default());
}

#[test]
fn load_reads_the_file_and_names_it() {
    let dir = TempDir::new();
    let path = dir.0.join("cloud-network.toml");
    std::fs::write(
        &path,
        "[System]\nLogLevel = \"error\"\n[Network]\nListen = \"1.2.3.4\"\n",
    )
    .unwrap();
    let message = load(&path).unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "{}:4: invalid value \"1.2.3.4\" for [Network] Listen: expected ip:port such as 127.0.0.1:5209 or [::1]:5209",
            path.display()
        )
    );
    std::fs::write(&path, "[System]\nLogLevel = \"error\"\n").unwrap();
    assert_eq!(load(&path).unwrap().config.log_level, LogLevel::Error);
}

#[test]
fn unreadable_file_is_an_error_naming_it() {
    let dir = TempDir::new();
    let err = load(&dir.0).unwrap_err();
    assert!(matches!(err, ConfigError::Read { ref file, .. } if file == &dir.0));
    let prefix = format!("{}: cannot read the configuration: ", dir.0.display());
    assert!(err.to_string().starts_with(&prefix), "{err}");

    let binary = dir.0.join("binary.toml");
    std::fs::write(&binary, [0xff, 0xfe, b'\n']).unwrap();
    assert!(matches!(load(&binary), Err(ConfigError::Read { .. })));
}

fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

#[test]
fn env_overrides_the_file() {
    let mut c = parsed("[System]\nLogLevel = \"info\"\nLogFormat = \"text\"\n").config;
    c.apply_env(env(&[
        ("CLOUD_NETWORK_LOG_LEVEL", "TRACE"),
        ("CLOUD_NETWORK_LOG_FORMAT", "json"),
    ]))
    .unwrap();
    assert_eq!(
        (c.log_level, c.log_format),
        (LogLevel::Trace, LogFormat::Json)
    );
}

#[test]
fn unset_or_empty_env_keeps_the_file_value() {
    let mut c = parsed("[System]\nLogLevel = \"error\"\nLogFormat = \"json\"\n").config;
    c.apply_env(env(&[("CLOUD_NETWORK_LOG_LEVEL", "")]))
        .unwrap();
    assert_eq!(
        (c.log_level, c.log_format),
        (LogLevel::Error, LogFormat::Json)
    );
}

#[test]
fn invalid_env_names_variable_and_value() {
    let mut c = Config::default();
    let err = c
        .apply_env(env(&[("CLOUD_NETWORK_LOG_LEVEL", "chatty")]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "environment variable CLOUD_NETWORK_LOG_LEVEL: invalid value \"chatty\": expected one of Trace, Debug, Info, Warning, Error, Fatal, Panic"
    );
    let err = c
        .apply_env(env(&[("CLOUD_NETWORK_LOG_FORMAT", "yaml")]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "environment variable CLOUD_NETWORK_LOG_FORMAT: invalid value \"yaml\": expected text or json"
    );
    assert_eq!(c.log_format, LogFormat::Text);
}

#[test]
fn durations_that_parse() {
    let ms = Duration::from_millis;
    let cases = [
        ("300s", Duration::from_secs(300)),
        ("5m", Duration::from_secs(300)),
        ("1h30m", Duration::from_secs(5400)),
        ("1h30m15s", Duration::from_secs(5415)),
        ("1.5h", Duration::from_secs(5400)),
        (".5s", ms(500)),
        ("2.s", Duration::from_secs(2)),
        ("500ms", ms(500)),
        ("1s500ms", ms(1500)),
        ("10us", Duration::from_micros(10)),
        ("10µs", Duration::from_micros(10)),
        ("10μs", Duration::from_micros(10)),
        ("7ns", Duration::from_nanos(7)),
        ("300", Duration::from_secs(300)),
        ("0", Duration::ZERO),
        ("0s", Duration::ZERO),
        (" 5m ", Duration::from_secs(300)),
        ("1m1m", Duration::from_secs(120)),
    ];
    for (text, want) in cases {
        assert_eq!(parse_duration(text), Ok(want), "{text:?}");
    }
}

#[test]
fn durations_that_do_not_parse() {
    let owned = |s: &str| s.to_string();
    let cases = [
        ("", DurationError::Empty),
        ("  ", DurationError::Empty),
        ("-5s", DurationError::Negative(owned("-5s"))),
        ("+5s", DurationError::BadNumber(owned("+5s"))),
        ("abc", DurationError::BadNumber(owned("abc"))),
        ("s", DurationError::BadNumber(owned("s"))),
        (".s", DurationError::BadNumber(owned(".s"))),
        ("1.2.3s", DurationError::BadNumber(owned("1.2.3s"))),
        ("1h30", DurationError::MissingUnit(owned("1h30"))),
        ("1.5", DurationError::MissingUnit(owned("1.5"))),
        (
            "5d",
            DurationError::UnknownUnit {
                input: owned("5d"),
                unit: owned("d"),
            },
        ),
        (
            "5 s",
            DurationError::UnknownUnit {
                input: owned("5 s"),
                unit: owned(" s"),
            },
        ),
        (
            "5H",
            DurationError::UnknownUnit {
                input: owned("5H"),
                unit: owned("H"),
            },
        ),
        (
            "99999999999999999999",
            DurationError::Overflow(owned("99999999999999999999")),
        ),
        ("6000000000h", DurationError::Overflow(owned("6000000000h"))),
        (
            "99999999999999999999999999999999999999999h",
            DurationError::Overflow(owned("99999999999999999999999999999999999999999h")),
        ),
    ];
    for (text, want) in cases {
        assert_eq!(parse_duration(text), Err(want), "{text:?}");
    }
}

#[test]
fn durations_print_in_the_parsed_form() {
    let cases = [
        (Duration::from_secs(300), "5m"),
        (Duration::from_secs(5400), "1h30m"),
        (Duration::from_secs(3600), "1h"),
        (Duration::from_secs(3661), "1h1m1s"),
        (Duration::from_millis(300), "300ms"),
        (Duration::from_millis(1500), "1s500ms"),
        (Duration::from_micros(7), "7us"),
        (Duration::from_nanos(7), "7ns"),
        (Duration::ZERO, "0s"),
        (Duration::from_secs(90_000), "25h"),
    ];
    for (duration, want) in cases {
        assert_eq!(format_duration(duration), want);
    }
}

#[test]
fn json_log_line_parses_back() {
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let message = "link \"eth1\" up\n\u{1b}[31mred\u{1b}[0m";
    let line = format_record(
        LogFormat::Json,
        false,
        log::Level::Warn,
        "cloud_network::plan",
        message,
        now,
    );
    assert!(!line.contains('\n') && !line.contains('\u{1b}'), "{line}");
    let value: serde_json::Value = serde_json::from_str(&line).unwrap();
    let object = value.as_object().unwrap();
    assert_eq!(object.len(), 4);
    assert_eq!(object["time"], "2023-11-14T22:13:20Z");
    assert_eq!(object["level"], "warning");
    assert_eq!(object["target"], "cloud_network::plan");
    assert_eq!(object["message"], message);
}

#[test]
fn text_log_line_has_no_escape_codes() {
    let now = SystemTime::now();
    for level in [
        log::Level::Error,
        log::Level::Warn,
        log::Level::Info,
        log::Level::Debug,
        log::Level::Trace,
    ] {
        let line = format_record(LogFormat::Text, false, level, "t", "configured eth1", now);
        assert!(!line.contains('\u{1b}'), "{line:?}");
        assert!(line.ends_with(" configured eth1"), "{line:?}");
    }
    assert_eq!(
        format_record(
            LogFormat::Text,
            false,
            log::Level::Info,
            "t",
            "configured eth1",
            now
        ),
        "info configured eth1"
    );
}

/// The packaged config documents every key with its default: uncommenting each `#Key=value`
/// line gives exactly the defaults, and no key is missing.
#[test]
fn packaged_config_lists_every_key_with_its_default() {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/packaging/cloud-network.toml"
    ));
    let text = std::fs::read_to_string(path).unwrap();
    let as_shipped = parse(&text, path).unwrap();
    assert_eq!(as_shipped.config, Config::default());
    assert!(as_shipped.warnings.is_empty());
    let uncommented: String = text
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if rest.contains('=') && !rest.starts_with(' ') => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let keys = uncommented
        .lines()
        .filter(|l| l.contains('=') && !l.starts_with('#'))
        .count();
    assert_eq!(keys, 21, "every key appears once");
    let spelled_out = parse(&uncommented, path).unwrap();
    assert!(
        spelled_out.warnings.is_empty(),
        "{:?}",
        spelled_out.warnings
    );
    assert_eq!(spelled_out.config, Config::default());
}

#[test]
fn only_a_regular_file_of_at_most_1_mib_is_read() {
    use cloud_network::config::{load_existing, MAX_CONFIG_BYTES};
    let dir = TempDir::new();
    let reason = |path: &Path, result: Result<Loaded, ConfigError>| {
        let message = result.unwrap_err().to_string();
        let prefix = format!("{}: cannot read the configuration: ", path.display());
        message
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{message}"))
            .to_string()
    };
    let zero = dir.0.join("zero.toml");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    assert_eq!(
        reason(&zero, load(&zero)),
        "not a regular file (a character device)"
    );
    assert_eq!(
        reason(&dir.0, load(&dir.0)),
        "not a regular file (a directory)"
    );
    let fifo = dir.0.join("fifo.toml");
    let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
    assert_eq!(reason(&fifo, load(&fifo)), "not a regular file (a FIFO)");
    let big = dir.0.join("big.toml");
    let size = usize::try_from(MAX_CONFIG_BYTES).unwrap();
    std::fs::write(&big, "#".repeat(size + 1)).unwrap();
    assert_eq!(
        reason(&big, load(&big)),
        format!("larger than 1 MiB ({} bytes)", size + 1)
    );
    std::fs::write(&big, "#".repeat(size)).unwrap();
    assert_eq!(load(&big).unwrap(), Loaded::default());

    let missing = dir.0.join("missing.toml");
    assert_eq!(load(&missing).unwrap(), Loaded::default(), "at start");
    assert_eq!(
        reason(&missing, load_existing(&missing)),
        "No such file or directory (os error 2)",
        "on reload"
    );
}

#[test]
fn opt_out_keys_parse_and_bad_values_name_file_line_key_and_value() {
    let loaded = parsed(
        r#"
[Network]
IgnoreInterfaces = ["eth2", "eth3"]
IgnoreMACs = "00:0D:3A:5D:2D:66"
IgnoreDeviceIndexes = [1, "3-7"]
SecondaryAddresses = false
AliasRanges = "no"
ForwardedIPs = false
DelegatedPrefixes = false
PolicyRouting = "off"
"#,
    );
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let want = OptOuts {
        interfaces: vec!["eth2".to_string(), "eth3".to_string()],
        macs: vec!["00:0d:3a:5d:2d:66".parse().unwrap()],
        device_indexes: vec![(1, 1), (3, 7)],
        secondary_addresses: false,
        alias_ranges: false,
        forwarded_ips: false,
        delegated_prefixes: false,
        policy_routing: false,
    };
    assert_eq!(loaded.config.optouts, want);
    for (text, message) in [
        (
            "[Network]\nIgnoreDeviceIndexes = \"2-x\"\n",
            "/etc/x.toml:2: invalid value \"2-x\" for [Network] IgnoreDeviceIndexes: '2-x' is not a device index or range (such as 2 or 1-7, up to 1000000)",
        ),
        (
            "[Network]\n\nIgnoreMACs = [\"eth0\"]\n",
            "/etc/x.toml:3: invalid value \"[\\\"eth0\\\"]\" for [Network] IgnoreMACs: 'eth0' is not a MAC address (aa:bb:cc:dd:ee:ff)",
        ),
        (
            "[Network]\nPolicyRouting = \"sometimes\"\n",
            "/etc/x.toml:2: invalid value \"sometimes\" for [Network] PolicyRouting: expected true or false",
        ),
    ] {
        assert_eq!(error(text), message);
    }
    assert_eq!(
        warnings("[Network]\nIgnoreMAC = \"00:0d:3a:5d:2d:66\"\n"),
        ["/etc/x.toml:2: unknown key 'IgnoreMAC' in [Network] (ignored); did you mean 'IgnoreMACs'?"]
    );
}
