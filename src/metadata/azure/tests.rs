//! Azure tests: parser edge cases, one bad input per validation rule, and the fetch against a
//! scripted IMDS on 127.0.0.1 (header, single request, retries, 404, 429, timeout, body cap).

use super::*;
use crate::metadata::http::{HttpConfig, HttpError, RetryPolicy};
use crate::metadata::test_server::{fast, Answer, ScriptedServer};
use crate::metadata::{FetchError, ParseError, Provider};
use crate::metadata::{Mac, ValueError};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ONE_NIC: &str = r#"{"compute":{"vmId":"vm-1","location":"westeurope"},
  "network":{"interface":[{"macAddress":"000D3A5D2D66",
    "ipv4":{"ipAddress":[{"privateIpAddress":"10.0.0.4","publicIpAddress":""}],
            "subnet":[{"address":"10.0.0.0","prefix":"24"}]},
    "ipv6":{"ipAddress":[]}}]}}"#;

/// One interface with `nic` spliced in as its JSON body.
fn with_nic(nic: &str) -> String {
    format!(r#"{{"network":{{"interface":[{nic}]}}}}"#)
}

fn value_error(field: &str, source: ValueError) -> ParseError {
    ParseError::Value {
        field: field.into(),
        source,
    }
}

#[test]
fn one_nic_document() {
    let instance = parse(ONE_NIC).unwrap();
    assert_eq!(instance.provider, ProviderKind::Azure);
    assert_eq!(instance.instance_id, "vm-1");
    assert_eq!(instance.location, "westeurope");
    let nic = &instance.nics[0];
    assert_eq!(nic.mac.to_string(), "00:0d:3a:5d:2d:66");
    assert_eq!(nic.index, 0);
    assert_eq!(nic.ipv4, ["10.0.0.4/24".parse().unwrap()]);
    assert_eq!(nic.subnet4, Some("10.0.0.0/24".parse().unwrap()));
    assert_eq!(nic.gateway4, Some("10.0.0.1".parse().unwrap()));
    assert!(nic.public_ipv4s.is_empty());
    assert!(nic.ipv6.is_empty());
    assert_eq!(nic.gateway6, None);
    assert_eq!(instance.raw["compute"]["vmId"], "vm-1");
}

#[test]
fn keys_are_case_insensitive_and_subnet_host_bits_are_cleared() {
    let doc = with_nic(
        r#"{"MacAddress":"00-0d-3a-5d-2d-66","IPv4":{"IPAddress":[{"PrivateIpAddress":"10.0.0.70"}],
            "Subnet":[{"Address":"10.0.0.77","Prefix":"26"}]}}"#,
    );
    let nic = &parse(&doc).unwrap().nics[0];
    assert_eq!(nic.ipv4, ["10.0.0.70/26".parse().unwrap()]);
    assert_eq!(nic.subnet4, Some("10.0.0.64/26".parse().unwrap()));
    assert_eq!(nic.gateway4, Some("10.0.0.65".parse().unwrap()));
}

#[test]
fn ipv6_without_subnet_is_host_prefix_with_azure_gateway() {
    let doc = with_nic(
        r#"{"macAddress":"000D3A5D2D66","ipv6":{"ipAddress":[{"privateIpAddress":"fd00::4"}]}}"#,
    );
    let nic = &parse(&doc).unwrap().nics[0];
    assert_eq!(nic.ipv6, ["fd00::4/128".parse().unwrap()]);
    assert_eq!(nic.gateway6, Some("fe80::1234:5678:9abc".parse().unwrap()));
    assert_eq!(nic.subnet6, None);
    assert!(nic.ipv4.is_empty());
    assert_eq!(nic.gateway4, None);
}

/// One interface of MAC 000D3A5D2D66 with `body` beside the MAC.
fn nic(body: &str) -> String {
    with_nic(&format!(r#"{{"macAddress":"000D3A5D2D66",{body}}}"#))
}

/// Each case's body parses to its expected error first.
fn assert_first_errors(cases: Vec<(&str, String, ParseError)>) {
    crate::metadata::model::assert_first_errors(cases, |body| parse(body).map(|i| i.nics));
}

#[test]
fn a_document_without_its_interface_list_is_a_typed_error() {
    let cases: Vec<(&str, String, ParseError)> = vec![
        (
            "empty interface list",
            r#"{"network":{"interface":[]}}"#.into(),
            ParseError::NoInterfaces,
        ),
        (
            "no network",
            r#"{"compute":{}}"#.into(),
            ParseError::Missing {
                field: "network".into(),
            },
        ),
        (
            "interface is not a list",
            r#"{"network":{"interface":{}}}"#.into(),
            ParseError::WrongType {
                field: "network.interface".into(),
                expected: "array",
            },
        ),
        (
            "document is a list",
            "[]".into(),
            ParseError::WrongType {
                field: "(document)".into(),
                expected: "object",
            },
        ),
    ];
    assert_first_errors(cases);
}

#[test]
fn a_bad_address_or_prefix_is_a_typed_error() {
    let cases: Vec<(&str, String, ParseError)> = vec![
        (
            "prefix is a number",
            nic(r#""ipv4":{"subnet":[{"address":"10.0.0.0","prefix":24}]}"#),
            ParseError::WrongType {
                field: "network.interface[0].ipv4.subnet[0].prefix".into(),
                expected: "string",
            },
        ),
        (
            "prefix 33",
            nic(r#""ipv4":{"subnet":[{"address":"10.0.0.0","prefix":"33"}]}"#),
            value_error(
                "network.interface[0].ipv4.subnet[0].prefix",
                ValueError::Prefix {
                    value: "33".into(),
                    max: 32,
                },
            ),
        ),
        (
            "invalid private IP",
            nic(r#""ipv4":{"ipAddress":[{"privateIpAddress":"10.0.0.300"}]}"#),
            value_error(
                "network.interface[0].ipv4.ipAddress[0].privateIpAddress",
                ValueError::Address("10.0.0.300".into()),
            ),
        ),
        (
            "IPv6 private address that is not one",
            nic(r#""ipv6":{"ipAddress":[{"privateIpAddress":"X.X.X.X"}]}"#),
            value_error(
                "network.interface[0].ipv6.ipAddress[0].privateIpAddress",
                ValueError::Address("X.X.X.X".into()),
            ),
        ),
    ];
    assert_first_errors(cases);
}

#[test]
fn a_missing_bad_or_repeated_mac_is_a_typed_error() {
    let cases: Vec<(&str, String, ParseError)> = vec![
        (
            "garbage MAC",
            with_nic(r#"{"macAddress":"not-a-mac"}"#),
            value_error(
                "network.interface[0].macAddress",
                ValueError::Mac("not-a-mac".into()),
            ),
        ),
        (
            "missing MAC",
            with_nic("{}"),
            ParseError::Missing {
                field: "network.interface[0].macAddress".into(),
            },
        ),
        (
            "duplicate MAC",
            r#"{"network":{"interface":[{"macAddress":"000D3A5D2D66"},{"macAddress":"00:0d:3a:5d:2d:66"}]}}"#.into(),
            ParseError::DuplicateMac {
                mac: "00:0d:3a:5d:2d:66".into(),
            },
        ),
    ];
    assert_first_errors(cases);
}

#[test]
fn non_json_bodies_are_not_json_errors() {
    let truncated = &ONE_NIC[..ONE_NIC.len() / 2];
    for body in [truncated, "<html><body>502 Bad Gateway</body></html>", ""] {
        assert!(
            matches!(parse(body), Err(ParseError::NotJson { .. })),
            "{body:?}"
        );
    }
}

fn provider(server: &ScriptedServer, config: HttpConfig) -> DocumentProvider {
    super::provider(server.base(), Http::new(config))
}

#[test]
fn fetch_sends_the_metadata_header_once() {
    let server = ScriptedServer::start(vec![Answer::ok(ONE_NIC)]);
    let mut azure = provider(&server, fast());
    let instance = azure.fetch().unwrap();
    assert_eq!(
        instance.nics[0].mac,
        "00:0d:3a:5d:2d:66".parse::<Mac>().unwrap()
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].url, "/metadata/instance?api-version=2021-02-01");
    assert_eq!(seen[0].header("Metadata"), Some("true"));
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn server_error_then_success_is_retried() {
    let server = ScriptedServer::start(vec![Answer::status(500), Answer::ok(ONE_NIC)]);
    let mut azure = provider(&server, fast());
    assert_eq!(azure.fetch().unwrap().instance_id, "vm-1");
    assert_eq!(server.seen().len(), 2);
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn not_found_is_permanent() {
    let server = ScriptedServer::start(vec![Answer::status(404).body("no such thing")]);
    let mut azure = provider(&server, fast());
    let err = azure.fetch().unwrap_err();
    assert!(!err.is_transient());
    assert_eq!(
        err,
        FetchError::Http(HttpError::Status {
            url: format!("{}{INSTANCE_PATH}", server.base()),
            status: 404,
            excerpt: "no such thing".into(),
        })
    );
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn rate_limited_waits_for_retry_after() {
    let server = ScriptedServer::start(vec![
        Answer::status(429).header("Retry-After", "1"),
        Answer::ok(ONE_NIC),
    ]);
    let mut azure = provider(&server, fast());
    let start = Instant::now();
    azure.fetch().unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn silent_server_is_a_transient_timeout() {
    let server = ScriptedServer::start(vec![Answer::hang()]);
    let config = HttpConfig {
        retry: RetryPolicy::none(),
        ..fast()
    };
    let mut azure = provider(&server, config);
    let start = Instant::now();
    let err = azure.fetch().unwrap_err();
    assert!(
        matches!(err, FetchError::Http(HttpError::Timeout { .. })),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert!(
        start.elapsed() < Duration::from_millis(1000),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn huge_body_is_rejected_not_truncated() {
    let server = ScriptedServer::start(vec![Answer::status(200).filler(20 * 1024 * 1024)]);
    let config = HttpConfig {
        recv_timeout: Duration::from_secs(5),
        global_timeout: Duration::from_secs(5),
        ..fast()
    };
    let mut azure = provider(&server, config);
    let err = azure.fetch().unwrap_err();
    assert!(
        matches!(err, FetchError::Http(HttpError::BodyTooLarge { limit, .. }) if limit == 4 * 1024 * 1024),
        "{err:?}"
    );
    assert!(!err.is_transient());
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn unusable_document_is_a_permanent_parse_error() {
    let server = ScriptedServer::start(vec![Answer::ok(r#"{"network":{"interface":[]}}"#)]);
    let mut azure = provider(&server, fast());
    let err = azure.fetch().unwrap_err();
    assert_eq!(
        err,
        FetchError::Parse {
            provider: ProviderKind::Azure,
            source: ParseError::NoInterfaces
        }
    );
    assert!(!err.is_transient());
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn an_unchanged_document_is_kept_once_and_a_changed_one_replaces_it() {
    let respaced = format!(" {ONE_NIC}\n");
    let changed = ONE_NIC.replace("vm-1", "vm-2");
    let server = ScriptedServer::start(vec![
        Answer::ok(ONE_NIC),
        Answer::ok(ONE_NIC),
        Answer::ok(&respaced),
        Answer::ok(&changed),
    ]);
    let mut azure = provider(&server, fast());
    let first = azure.fetch().unwrap();
    let again = azure.fetch().unwrap();
    assert_eq!(again, first);
    assert!(Arc::ptr_eq(&first.raw, &again.raw), "the same body");
    let respaced = azure.fetch().unwrap();
    assert_eq!(respaced, first);
    assert!(Arc::ptr_eq(&first.raw, &respaced.raw), "an equal document");
    assert!(Arc::ptr_eq(&azure.fetch_system().unwrap(), &first.raw));
    let changed = azure.fetch().unwrap();
    assert!(!Arc::ptr_eq(&changed.raw, &first.raw));
    assert_eq!(changed.raw["compute"]["vmId"], "vm-2");
    assert!(Arc::ptr_eq(&azure.fetch_system().unwrap(), &changed.raw));
    assert_eq!(server.seen().len(), 4);
}

#[test]
fn system_view_is_the_whole_document() {
    let server = ScriptedServer::start(vec![Answer::ok(ONE_NIC)]);
    let mut azure = provider(&server, fast());
    let doc = azure.fetch_system().unwrap();
    assert_eq!(doc["compute"]["location"], "westeurope");
    assert!(!azure.supports_wait_for_change());
    assert!(matches!(
        azure.wait_for_change(Duration::from_secs(1)),
        Err(FetchError::Unsupported { .. })
    ));
}
