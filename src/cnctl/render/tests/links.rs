//! Renderer tests for the daemon's own documents: links with their rules, routes and refused items, and the text of single values.

use super::*;

fn configured_link() -> LinkStatus {
    LinkStatus {
        table: Some(10001),
        addresses: vec![net("10.4.0.5/24"), net("10.4.0.6/24")],
        routes: vec![
            "10.4.0.0/24 dev eth1 proto 201 scope link src 10.4.0.5 table 10001".to_string(),
            "default via 10.4.0.1 dev eth1 proto 201 table 10001".to_string(),
        ],
        rules: vec![
            RuleStatus {
                priority: 3001,
                from: Some(net("10.4.0.5/32")),
                to: None,
                table: 10001,
            },
            RuleStatus {
                priority: 3001,
                from: None,
                to: Some(net("10.4.0.5/32")),
                table: 10001,
            },
        ],
        ..link("eth1", 3, "00:0d:3a:5d:2d:66", 1)
    }
}

#[test]
fn links_show_rules_and_routes_one_per_line() {
    let links_status = [link("eth0", 2, "00:22:48:04:fe:00", 0), configured_link()];
    assert_eq!(
        links(&links_status),
        concat!(
            "        Name: eth0 \n",
            "       Index: 2 \n",
            " MAC Address: 00:22:48:04:fe:00 \n",
            "Device Index: 0 \n",
            "       Table: - \n",
            "   Addresses: - \n",
            "       Rules: - \n",
            "      Routes: - \n",
            "\n",
            "        Name: eth1 \n",
            "       Index: 3 \n",
            " MAC Address: 00:0d:3a:5d:2d:66 \n",
            "Device Index: 1 \n",
            "       Table: 10001 \n",
            "   Addresses: 10.4.0.5/24 10.4.0.6/24 \n",
            "       Rules: 3001: from 10.4.0.5/32 lookup 10001 \n",
            "              3001: to 10.4.0.5/32 lookup 10001 \n",
            "      Routes: 10.4.0.0/24 dev eth1 proto 201 scope link src 10.4.0.5 table 10001 \n",
            "              default via 10.4.0.1 dev eth1 proto 201 table 10001 \n",
        )
    );
    assert_eq!(links(&[]), "No link configured.\n");
}

#[test]
fn links_show_refused_items_and_an_unknown_nic() {
    let mut refusing = link("eth1", 3, "00:0d:3a:5d:2d:66", 1);
    refusing.refused = vec![
        "address 127.0.0.5/32 refused: a loopback address".into(),
        "MTU 68 refused: outside 1280–9216".into(),
    ];
    let mut unknown = link("eth2", 4, "00:0d:3a:5d:2d:67", 2);
    unknown.unknown = Some("field 'network.interface[2].ipv4.subnet[0].prefix': invalid".into());
    let text = links(&[refusing, unknown]);
    assert!(
        text.contains(concat!(
            "     Refused: address 127.0.0.5/32 refused: a loopback address \n",
            "              MTU 68 refused: outside 1280–9216 \n",
        )),
        "{text}"
    );
    assert!(
        text.ends_with(
            "     Unknown: this round, nothing changed: \
             field 'network.interface[2].ipv4.subnet[0].prefix': invalid \n"
        ),
        "{text}"
    );
}

#[test]
fn rules_read_like_ip_rule() {
    let both = RuleStatus {
        priority: 3002,
        from: Some(net("10.0.0.0/8")),
        to: Some(net("fd00::/8")),
        table: 7,
    };
    assert_eq!(rule(&both), "3002: from 10.0.0.0/8 to fd00::/8 lookup 7");
    let all = RuleStatus {
        priority: 2999,
        from: None,
        to: None,
        table: 254,
    };
    assert_eq!(rule(&all), "2999: from all lookup 254");
}

#[test]
fn text_of_values() {
    use serde_json::json;
    assert_eq!(text(Some(&json!("a\nb\n"))), Some("a b".to_string()));
    assert_eq!(text(Some(&json!(""))), None);
    assert_eq!(text(Some(&json!([]))), None);
    assert_eq!(
        text(Some(&json!(["x", 1, true]))),
        Some("x 1 true".to_string())
    );
    assert_eq!(text(Some(&json!({"a": 1}))), None);
    assert_eq!(text(None), None);
}
