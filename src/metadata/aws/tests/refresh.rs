//! What a refresh reads: only the leaves it needs, with the token, and the delegated prefixes where the listing has them (whether one lies in the subnet is the sanity gate's question; a malformed one makes its NIC unknown).

use super::*;

#[test]
fn v2_refresh_reads_only_what_it_needs_with_the_token() {
    let imds = Imds::start(fixture(TWO_NICS), PutMode::Token);
    let got = imds.client().fetch().unwrap();
    assert_eq!(got.nics, refresh_view(TWO_NICS));
    assert_eq!(got.instance_id, "my-identity-id");
    assert_eq!(got.location, "us-west-2");

    let seen = imds.seen();
    assert_eq!(seen[0].method, "PUT");
    assert_eq!(seen[0].path, "api/token");
    assert_eq!(seen[0].ttl.as_deref(), Some("21600"));
    assert!(seen[1..]
        .iter()
        .all(|s| s.method == "GET" && s.token.as_deref() == Some("token-1")));
    // PUT + `macs/` + per NIC its directory listing and the 5 leaves it names (no
    // `network-card`), plus the identity document on the first refresh.
    assert_eq!(seen.len(), 2 + 6 * 2 + 1);
    let leaves: BTreeSet<&str> = seen
        .iter()
        .filter_map(|s| s.path.strip_prefix(MACS_DIR))
        .filter_map(|p| p.split_once('/').map(|(_, leaf)| leaf))
        .filter(|leaf| !leaf.is_empty())
        .collect();
    let listed: BTreeSet<&str> = NIC_LEAVES
        .into_iter()
        .filter(|leaf| *leaf != "network-card")
        .collect();
    assert_eq!(leaves, listed);
}

const SECONDARY_DIR: &str = "meta-data/network/interfaces/macs/06:17:04:d7:26:08/";

/// The two-NIC fixture with prefixes delegated to its secondary NIC.
fn with_prefixes(ipv4: &str, ipv6: Option<&str>) -> BTreeMap<String, String> {
    let mut tree = fixture(TWO_NICS);
    tree.insert(format!("{SECONDARY_DIR}ipv4-prefix"), ipv4.to_string());
    if let Some(ipv6) = ipv6 {
        tree.insert(
            format!("{SECONDARY_DIR}subnet-ipv6-cidr-blocks"),
            "2600:1f16:aeb:b20c::/64".to_string(),
        );
        tree.insert(format!("{SECONDARY_DIR}ipv6-prefix"), ipv6.to_string());
    }
    tree
}

fn prefixes(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|p| p.parse().unwrap()).collect()
}

#[test]
fn delegated_prefixes_are_read_only_where_the_listing_has_them() {
    let tree = with_prefixes("172.31.16.32/28\n172.31.16.48/28", None);
    let imds = Imds::start(tree, PutMode::Token);
    let mut ec2 = imds.client();
    let got = ec2.fetch().unwrap();
    assert_eq!(
        got.nics[1].delegated_prefixes,
        prefixes(&["172.31.16.32/28", "172.31.16.48/28"])
    );
    assert_eq!(got.nics[0].delegated_prefixes, []);
    let before = imds.seen().len();
    ec2.fetch().unwrap();
    let refresh = &imds.seen()[before..];
    let prefix_reads: Vec<&str> = refresh
        .iter()
        .filter(|s| s.path.contains("-prefix"))
        .map(|s| s.path.as_str())
        .collect();
    assert_eq!(prefix_reads, [format!("{SECONDARY_DIR}ipv4-prefix")]);
    // `macs/`, then per NIC its listing and its 5 leaves, plus the one listed prefix leaf.
    assert_eq!(refresh.len(), 1 + 6 * 2 + 1);
}

#[test]
fn delegated_prefixes_of_both_families_uncompressed_or_not() {
    let tree = with_prefixes(
        "172.31.16.32/28",
        Some("2600:1f16:aeb:b20c:7:0:0:0/80\n2600:1f16:aeb:b20c:8::/80"),
    );
    let nics = parse(&tree).unwrap().nics;
    assert_eq!(
        nics[1].delegated_prefixes,
        prefixes(&[
            "172.31.16.32/28",
            "2600:1f16:aeb:b20c:7::/80",
            "2600:1f16:aeb:b20c:8::/80"
        ])
    );
}

#[test]
fn a_delegated_prefix_outside_the_subnet_is_left_to_the_gate_and_the_nic_read() {
    // amazon-ec2-net-utils' own test data: a prefix outside the NIC's subnet. The NIC is read
    // with its addresses; the sanity gate refuses the prefix alone (`plan::sanity`).
    let tree = with_prefixes("10.0.0.0/28\n0.0.0.0/0", Some("2600:1f16:aeb:b20d::/80"));
    let nics = parse(&tree).unwrap().nics;
    assert_eq!(nics[1].unreadable, None);
    assert_eq!(nics[1].ipv4, ["172.3.3.16/32".parse().unwrap()]);
    assert_eq!(
        nics[1].delegated_prefixes,
        prefixes(&["10.0.0.0/28", "0.0.0.0/0", "2600:1f16:aeb:b20d::/80"])
    );
}

#[test]
fn a_malformed_delegated_prefix_makes_its_nic_unknown() {
    let field = format!("{SECONDARY_DIR}ipv4-prefix");
    let tree = with_prefixes("172.31.16.32/33", None);
    let nics = parse(&tree).unwrap().nics;
    assert_eq!(
        nics[1].unreadable,
        Some(format!(
            "field '{field}': invalid prefix length '33' (expected 0 to 32)"
        ))
    );
    assert_eq!(nics[0].unreadable, None, "the other NIC is read");
}
