//! GCP tests: parser edge cases (exact 64-bit ids, IPv6, bad input) and the fetch against a
//! scripted metadata server on 127.0.0.1 (flavor header, long-poll with ETag, request counts).

use super::*;
use crate::metadata::test_server::{fast, Answer, ScriptedServer};
use crate::metadata::{IpNet, ValueError};
use std::time::{Duration, Instant};

const INSTANCE: &str = r#"{"id":18446744073709551615,"zone":"projects/1/zones/us-central1-a",
  "networkInterfaces":[{"mac":"42:01:0a:80:00:46","ip":"10.128.0.70","gateway":"10.128.0.1",
    "subnetmask":"255.255.240.0","mtu":1460,"ipAliases":["10.24.3.0/24","10.9.9.9"],
    "forwardedIps":["34.1.1.1"],"targetInstanceIps":["34.2.2.2/32"],
    "accessConfigs":[{"externalIp":"35.1.2.3"},{"externalIp":""}],
    "ipv6s":["2600:1900:4000:1::"],"gatewayIpv6":"fe80::1"}]}"#;

fn with_nic(nic: &str) -> String {
    format!(r#"{{"id":"1","networkInterfaces":[{nic}]}}"#)
}

#[test]
fn instance_document_with_everything() {
    let instance = parse(INSTANCE).unwrap();
    assert_eq!(instance.provider, ProviderKind::Gcp);
    assert_eq!(instance.instance_id, "18446744073709551615");
    assert_eq!(instance.location, "us-central1");
    let nic = &instance.nics[0];
    assert_eq!(nic.mac.to_string(), "42:01:0a:80:00:46");
    assert_eq!(nic.ipv4, ["10.128.0.70/32".parse().unwrap()]);
    assert_eq!(nic.subnet4, Some("10.128.0.0/20".parse().unwrap()));
    assert_eq!(nic.gateway4, Some("10.128.0.1".parse().unwrap()));
    assert_eq!(nic.mtu, Some(1460));
    let nets = |v: &[&str]| v.iter().map(|s| s.parse().unwrap()).collect::<Vec<IpNet>>();
    assert_eq!(nic.ip_ranges, nets(&["10.24.3.0/24", "10.9.9.9/32"]));
    assert_eq!(nic.forwarded, nets(&["34.1.1.1/32", "34.2.2.2/32"]));
    assert_eq!(
        nic.public_ipv4s,
        ["35.1.2.3".parse::<std::net::Ipv4Addr>().unwrap()]
    );
    assert_eq!(nic.ipv6, ["2600:1900:4000:1::/128".parse().unwrap()]);
    assert_eq!(nic.gateway6, Some("fe80::1".parse().unwrap()));
}

#[test]
fn root_document_and_string_id() {
    let doc = format!(
        r#"{{"instance":{},"project":{{"projectId":"p"}}}}"#,
        with_nic(r#"{"mac":"42:01:0a:80:00:02"}"#)
    );
    let instance = parse(&doc).unwrap();
    assert_eq!(instance.instance_id, "1");
    assert_eq!(instance.location, "");
    assert_eq!(instance.raw["project"]["projectId"], "p");
    let nic = &instance.nics[0];
    assert!(nic.ipv4.is_empty() && nic.gateway4.is_none() && nic.mtu.is_none());
}

#[test]
fn zone_to_region() {
    assert_eq!(
        region_of_zone("projects/1/zones/europe-west3-c"),
        "europe-west3"
    );
    assert_eq!(region_of_zone("us-east1-b"), "us-east1");
    assert_eq!(region_of_zone("weird"), "weird");
}

fn value_error(field: &str, source: ValueError) -> ParseError {
    ParseError::Value {
        field: field.into(),
        source,
    }
}

/// One interface of MAC 42:01:0a:80:00:02 with `body` beside the MAC.
fn nic(body: &str) -> String {
    with_nic(&format!(r#"{{"mac":"42:01:0a:80:00:02",{body}}}"#))
}

/// Each case's body parses to its expected error first.
fn assert_first_errors(cases: Vec<(&str, String, ParseError)>) {
    crate::metadata::model::assert_first_errors(cases, |body| parse(body).map(|i| i.nics));
}

#[test]
fn a_document_without_interfaces_or_a_good_id_is_a_typed_error() {
    let cases: Vec<(&str, String, ParseError)> = vec![
        (
            "empty interface list",
            with_nic(""),
            ParseError::NoInterfaces,
        ),
        (
            "no interfaces key",
            r#"{"id":1}"#.into(),
            ParseError::Missing {
                field: "networkInterfaces".into(),
            },
        ),
        (
            "negative id",
            r#"{"id":-5,"networkInterfaces":[]}"#.into(),
            ParseError::WrongType {
                field: "id".into(),
                expected: "unsigned integer",
            },
        ),
        (
            "id as a float",
            r#"{"id":1.5e3,"networkInterfaces":[]}"#.into(),
            ParseError::WrongType {
                field: "id".into(),
                expected: "unsigned integer",
            },
        ),
        (
            "missing id in the root document",
            r#"{"instance":{"networkInterfaces":[]}}"#.into(),
            ParseError::Missing {
                field: "instance.id".into(),
            },
        ),
    ];
    assert_first_errors(cases);
    assert_eq!(
        parse_network_interfaces(&serde_json::json!({"mac": "x"})).unwrap_err(),
        ParseError::WrongType {
            field: "networkInterfaces".into(),
            expected: "array"
        }
    );
}

#[test]
fn a_bad_address_mtu_or_alias_is_a_typed_error() {
    let cases: Vec<(&str, String, ParseError)> = vec![
        (
            "mtu as a string",
            nic(r#""mtu":"1460""#),
            ParseError::WrongType {
                field: "networkInterfaces[0].mtu".into(),
                expected: "unsigned 32-bit number",
            },
        ),
        (
            "invalid ip",
            nic(r#""ip":"10.1.2""#),
            value_error(
                "networkInterfaces[0].ip",
                ValueError::Address("10.1.2".into()),
            ),
        ),
        (
            "non-contiguous netmask",
            nic(r#""ip":"10.1.2.3","subnetmask":"255.0.255.0""#),
            value_error(
                "networkInterfaces[0].subnetmask",
                ValueError::Netmask("255.0.255.0".into()),
            ),
        ),
        (
            "alias prefix 33",
            nic(r#""ipAliases":["10.0.0.0/33"]"#),
            value_error(
                "networkInterfaces[0].ipAliases[0]",
                ValueError::Prefix {
                    value: "33".into(),
                    max: 32,
                },
            ),
        ),
        (
            "alias is a number",
            nic(r#""ipAliases":[7]"#),
            ParseError::WrongType {
                field: "networkInterfaces[0].ipAliases[0]".into(),
                expected: "string",
            },
        ),
        (
            "invalid ipv6",
            nic(r#""ipv6s":["2600::zz"]"#),
            value_error(
                "networkInterfaces[0].ipv6s[0]",
                ValueError::Address("2600::zz".into()),
            ),
        ),
    ];
    assert_first_errors(cases);
}

#[test]
fn a_garbage_mac_is_a_typed_error() {
    let cases: Vec<(&str, String, ParseError)> = vec![(
        "garbage MAC",
        with_nic(r#"{"mac":"42:01:0a:80:00"}"#),
        value_error(
            "networkInterfaces[0].mac",
            ValueError::Mac("42:01:0a:80:00".into()),
        ),
    )];
    assert_first_errors(cases);
}

#[test]
fn non_json_bodies_are_not_json_errors() {
    for body in [&INSTANCE[..40], "<!DOCTYPE html><title>Error 404</title>"] {
        assert!(
            matches!(parse(body), Err(ParseError::NotJson { .. })),
            "{body:?}"
        );
    }
}

fn google(body: &str, etag: &str) -> Answer {
    Answer::ok(body)
        .header("Metadata-Flavor", "Google")
        .header("ETag", etag)
}

#[test]
fn fetch_sends_and_checks_the_flavor() {
    let server = ScriptedServer::start(vec![google(INSTANCE, "e1")]);
    let http = Http::new(fast());
    let mut gcp = Gcp::new(server.base(), http.clone());
    assert_eq!(gcp.fetch().unwrap().instance_id, "18446744073709551615");
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].url, "/computeMetadata/v1/instance/?recursive=true");
    assert_eq!(seen[0].header("Metadata-Flavor"), Some("Google"));
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn reply_without_flavor_is_rejected() {
    let server = ScriptedServer::start(vec![
        Answer::ok(INSTANCE),
        Answer::ok(INSTANCE).header("Metadata-Flavor", "Amazon"),
    ]);
    let http = Http::new(fast());
    let mut gcp = Gcp::new(server.base(), http.clone());
    let url = format!("{}{INSTANCE_PATH}", server.base());
    assert_eq!(
        gcp.fetch().unwrap_err(),
        FetchError::MissingFlavor {
            url: url.clone(),
            got: None
        }
    );
    let err = gcp.fetch().unwrap_err();
    assert_eq!(
        err,
        FetchError::MissingFlavor {
            url,
            got: Some("Amazon".into())
        }
    );
    assert!(!err.is_transient());
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn long_poll_sends_the_etag_and_returns_on_change() {
    let changed = INSTANCE.replace("10.24.3.0/24", "10.24.4.0/24");
    let server = ScriptedServer::start(vec![
        google(INSTANCE, "e1"),
        google(&changed, "e2").after(Duration::from_millis(600)),
    ]);
    let http = Http::new(fast());
    let mut gcp = Gcp::new(server.base(), http.clone());
    assert!(gcp.supports_wait_for_change());
    gcp.fetch().unwrap();
    let start = Instant::now();
    let instance = gcp
        .wait_for_change(Duration::from_secs(60))
        .unwrap()
        .unwrap();
    // Longer than the 300 ms receive timeout: the long-poll's own timeout applies.
    assert!(start.elapsed() >= Duration::from_millis(600));
    assert_eq!(
        instance.nics[0].ip_ranges[0],
        "10.24.4.0/24".parse().unwrap()
    );
    let seen = server.seen();
    assert_eq!(
        seen[1].url,
        "/computeMetadata/v1/instance/?recursive=true&wait_for_change=true&last_etag=e1&timeout_sec=60"
    );
    assert_eq!(seen[1].header("Metadata-Flavor"), Some("Google"));
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn long_poll_with_the_same_etag_is_a_timeout() {
    let server = ScriptedServer::start(vec![google(INSTANCE, "e1"), google(INSTANCE, "e1")]);
    let http = Http::new(fast());
    let mut gcp = Gcp::new(server.base(), http.clone());
    gcp.fetch().unwrap();
    assert_eq!(gcp.wait_for_change(Duration::from_secs(2)).unwrap(), None);
    assert!(server.seen()[1]
        .url
        .ends_with("&last_etag=e1&timeout_sec=2"));
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn long_poll_without_a_previous_etag_fetches() {
    let server = ScriptedServer::start(vec![google(INSTANCE, "e1")]);
    let http = Http::new(fast());
    let mut gcp = Gcp::new(server.base(), http.clone());
    assert!(gcp
        .wait_for_change(Duration::from_secs(60))
        .unwrap()
        .is_some());
    assert_eq!(
        server.seen()[0].url,
        "/computeMetadata/v1/instance/?recursive=true"
    );
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn system_view_reads_the_root() {
    let root =
        format!(r#"{{"instance":{INSTANCE},"project":{{"numericProjectId":728618928092}}}}"#);
    let server = ScriptedServer::start(vec![google(&root, "r1")]);
    let mut gcp = Gcp::new(server.base(), Http::new(fast()));
    let doc = gcp.fetch_system().unwrap();
    assert_eq!(
        doc["project"]["numericProjectId"].as_u64(),
        Some(728618928092)
    );
    assert_eq!(doc["instance"]["id"].as_u64(), Some(u64::MAX));
    assert_eq!(server.seen()[0].url, "/computeMetadata/v1/?recursive=true");
}

#[test]
fn an_unchanged_instance_document_is_kept_once() {
    let changed = INSTANCE.replacen("{", "{\"description\":\"changed\",", 1);
    let server = ScriptedServer::start(vec![
        google(INSTANCE, "e1"),
        google(INSTANCE, "e1"),
        google(&changed, "e2"),
    ]);
    let mut gcp = Gcp::new(server.base(), Http::new(fast()));
    let first = gcp.fetch().unwrap();
    let again = gcp.fetch().unwrap();
    assert!(Arc::ptr_eq(&first.raw, &again.raw));
    let third = gcp.fetch().unwrap();
    assert!(!Arc::ptr_eq(&third.raw, &first.raw));
    assert_eq!(third.raw["description"], "changed");
}

#[test]
fn etag_is_escaped_in_the_query() {
    assert_eq!(query_escape("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    assert_eq!(query_escape("0aF-_.~"), "0aF-_.~");
}

#[test]
fn a_changed_instance_reuses_the_recent_root_at_no_request() {
    let root =
        format!(r#"{{"instance":{INSTANCE},"project":{{"numericProjectId":728618928092}}}}"#);
    let changed = INSTANCE.replacen("{", "{\"description\":\"changed\",", 1);
    let server = ScriptedServer::start(vec![
        google(INSTANCE, "e1"),
        google(&root, "r1"),
        google(&changed, "e2"),
    ]);
    let http = Http::new(fast());
    let mut gcp = Gcp::new(server.base(), http.clone());
    gcp.fetch().unwrap();
    assert_eq!(
        gcp.fetch_system().unwrap()["project"]["numericProjectId"],
        728618928092u64
    );
    let instance = gcp.fetch().unwrap();
    let system = gcp.fetch_system().unwrap();
    assert_eq!(
        server.seen().len(),
        3,
        "the second system view costs no request"
    );
    assert_eq!(system["instance"], *instance.raw);
    assert_eq!(system["instance"]["description"], "changed");
    assert_eq!(system["project"]["numericProjectId"], 728618928092u64);
}

/// A root document whose one NIC has forwarded IPs of both families and an alias range, with
/// `instance` and `project` attributes.
fn wsfc_doc(instance_attributes: &str, project_attributes: &str) -> String {
    format!(
        r#"{{"instance":{{"id":"1","attributes":{{{instance_attributes}}},
          "networkInterfaces":[{{"mac":"42:01:0a:80:00:02","ip":"10.128.0.2",
            "ipAliases":["10.24.3.0/24"],"forwardedIps":["34.1.1.1","34.1.1.2"],
            "forwardedIpv6s":["2600:1900:4000:7::/96","2600:1900:4000:8::1"]}}]}},
          "project":{{"attributes":{{{project_attributes}}}}}}}"#
    )
}

fn forwarded(doc: &str) -> Vec<String> {
    parse(doc).unwrap().nics[0]
        .forwarded
        .iter()
        .map(|n| n.to_string())
        .collect()
}

#[test]
fn forwarded_ipv6s_are_forwarded_like_forwarded_ips() {
    assert_eq!(
        forwarded(&wsfc_doc("", "")),
        [
            "34.1.1.1/32",
            "34.1.1.2/32",
            "2600:1900:4000:7::/96",
            "2600:1900:4000:8::1/128"
        ]
    );
    let bad = with_nic(r#"{"mac":"42:01:0a:80:00:02","forwardedIpv6s":["2600::/129"]}"#);
    assert_eq!(
        crate::metadata::model::first_error(parse(&bad).map(|i| i.nics)).as_deref(),
        Some("field 'networkInterfaces[0].forwardedIpv6s[0]': invalid prefix length '129' (expected 0 to 128)")
    );
}

#[test]
fn wsfc_attributes_change_nothing_on_linux_every_forwarded_ip_is_local() {
    // google-guest-agent applies the WSFC filter on Windows only (`addressMgr.Set`).
    let every = [
        "34.1.1.1/32",
        "34.1.1.2/32",
        "2600:1900:4000:7::/96",
        "2600:1900:4000:8::1/128",
    ];
    for (instance, project) in [
        (r#""wsfc-addrs":"34.1.1.2, 2600:1900:4000:7::5""#, ""),
        (r#""enable-wsfc":"true""#, ""),
        ("", r#""enable-wsfc":"true","wsfc-addrs":"34.1.1.1""#),
        (
            r#""wsfc-addrs":"34.1.1.2","enable-wsfc":"False""#,
            r#""enable-wsfc":"1""#,
        ),
    ] {
        let doc = wsfc_doc(instance, project);
        assert_eq!(forwarded(&doc), every, "{instance} / {project}");
        let parsed = parse(&doc).unwrap();
        assert_eq!(
            parsed.nics[0].ip_ranges,
            ["10.24.3.0/24".parse::<IpNet>().unwrap()]
        );
    }
}

#[test]
fn wsfc_attributes_that_do_not_parse_block_nothing() {
    // Issue 22's row: `wsfc-addrs: "192.168.0"`, a typo any project editor can make.
    for (instance, project) in [
        (r#""enable-wsfc":"yes""#, ""),
        ("", r#""wsfc-addrs":"192.168.0""#),
        (r#""wsfc-addrs":"34.1.1.1,cluster-vip""#, ""),
        (r#""wsfc-addrs":["34.1.1.1"]"#, r#""enable-wsfc":7"#),
    ] {
        let parsed = parse(&wsfc_doc(instance, project)).unwrap();
        assert_eq!(parsed.nics[0].unreadable, None, "{instance} / {project}");
        assert_eq!(parsed.nics[0].forwarded.len(), 4, "{instance} / {project}");
    }
}
