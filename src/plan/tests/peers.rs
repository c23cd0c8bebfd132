//! Plan tests of what the peers configure: EC2 delegated prefixes.

use super::*;

fn ec2_prefix_instance() -> Instance {
    let mut eth0 = Nic::new(mac("00:22:48:04:fe:00"), 0);
    eth0.ipv4 = vec!["10.4.0.4/24".parse().unwrap()];
    eth0.gateway4 = Some("10.4.0.1".parse().unwrap());
    eth0.delegated_prefixes = vec!["10.4.0.32/28".parse().unwrap()];
    let mut eth1 = Nic::new(mac("00:0d:3a:5d:2d:66"), 1);
    eth1.ipv4 = vec!["10.4.0.5/24".parse().unwrap()];
    eth1.gateway4 = Some("10.4.0.1".parse().unwrap());
    eth1.delegated_prefixes = vec![
        "10.4.0.48/28".parse().unwrap(),
        "2001:db8:0:1:4::/80".parse().unwrap(),
    ];
    Instance {
        provider: ProviderKind::Aws,
        instance_id: "i-1".into(),
        location: "us-east-1".into(),
        nics: vec![eth0, eth1],
        raw: serde_json::Value::Null,
    }
}

#[test]
fn delegated_prefixes_get_rules_at_the_nic_priority_and_are_never_addresses() {
    let mut kernel = kernel_with(azure_links(), vec![dhcp_primary()]);
    let mut owned = Owned::default();
    let instance = ec2_prefix_instance();
    let settings = PlanSettings::default();
    let changes = reconcile(&instance, &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&changes, &kernel),
        [
            "ip link set dev eth1 up",
            "ip address add 10.4.0.5/24 dev eth1 noprefixroute",
            "ip route add 10.4.0.0/24 dev eth1 table 10001 proto 201 scope link src 10.4.0.5",
            "ip route add default via 10.4.0.1 dev eth1 table 10001 proto 201",
            "ip rule add from 10.4.0.5/32 lookup 10001 priority 3001",
            "ip rule add to 10.4.0.5/32 lookup 10001 priority 3001",
            "ip rule add from 10.4.0.48/28 lookup 10001 priority 3001",
            "ip rule add to 10.4.0.48/28 lookup 10001 priority 3001",
            "ip -6 rule add from 2001:db8:0:1:4::/80 lookup 10001 priority 3001",
            "ip -6 rule add to 2001:db8:0:1:4::/80 lookup 10001 priority 3001",
            "ip rule add to 169.254.169.254/32 lookup main priority 2999",
            "ip -6 rule add to fd00:ec2::254/128 lookup main priority 2999",
        ]
    );
    assert_eq!(
        reconcile(&instance, &mut kernel, &mut owned, &settings),
        [],
        "a second round changes nothing"
    );

    // A prefix the metadata no longer lists loses both its rules, nothing else.
    let mut fewer = instance.clone();
    fewer.nics[1].delegated_prefixes.truncate(1);
    let changes = reconcile(&fewer, &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&changes, &kernel),
        [
            "ip -6 rule del to 2001:db8:0:1:4::/80 lookup 10001 priority 3001",
            "ip -6 rule del from 2001:db8:0:1:4::/80 lookup 10001 priority 3001",
            "ip -6 rule del to fd00:ec2::254/128 lookup main priority 2999",
        ]
    );
}
