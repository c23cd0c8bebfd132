use super::*;
use crate::kernel::{Family, Rule, TABLE_MAIN};
use crate::plan::desired::main_rule;

/// An Azure instance's record from before the main rule: the metadata and WireServer pins.
fn old_pins(settings: &PlanSettings) -> Vec<Rule> {
    ["169.254.169.254/32", "168.63.129.16/32"]
        .iter()
        .map(|dst| Rule {
            family: Family::V4,
            priority: settings.priority_base - 1,
            src: None,
            dst: Some(dst.parse().unwrap()),
            table: TABLE_MAIN,
            suppress_prefixlen: None,
            suppress_ifgroup: None,
        })
        .collect()
}

#[test]
fn every_provider_gets_the_one_main_rule_per_family_and_no_metadata_pin() {
    let settings = PlanSettings::default();
    for provider in [
        ProviderKind::Azure,
        ProviderKind::Aws,
        ProviderKind::Gcp,
        ProviderKind::Oracle,
        ProviderKind::Alibaba,
        ProviderKind::DigitalOcean,
    ] {
        let mut instance = azure_instance();
        instance.provider = provider;
        instance.nics[1].ipv6 = vec!["2001:db8::5/64".parse().unwrap()];
        let want = desired(&instance, &azure_links(), &settings);
        let name_of = |i| format!("if{i}");
        let rules: Vec<String> = want
            .global_rules
            .iter()
            .map(|r| ip_command(&Change::AddRule(r.clone()), &name_of))
            .collect();
        assert_eq!(
            rules,
            [
                "ip rule add lookup main suppress_prefixlength 0 suppress_ifgroup 201 priority 2999",
                "ip -6 rule add lookup main suppress_prefixlength 0 suppress_ifgroup 201 priority 2999",
            ],
            "{provider}"
        );
        let groups: Vec<_> = want.nics.iter().map(|n| n.group).collect();
        assert_eq!(
            groups,
            [Some(201), Some(201)],
            "{provider}: the primary too"
        );
    }
}

#[test]
fn without_rules_there_is_no_main_rule_and_no_group() {
    let mut instance = azure_instance();
    instance.nics.truncate(1);
    let want = desired(&instance, &azure_links(), &PlanSettings::default());
    assert_eq!(want.global_rules, []);
    assert_eq!(want.nics[0].group, None);
}

#[test]
fn forwarded_ips_of_a_secondary_nic_get_from_and_to_rules() {
    let mut instance = gcp_instance();
    instance.nics[1].forwarded = vec![
        "192.168.1.50/32".parse().unwrap(),
        "34.2.2.2/32".parse().unwrap(),
    ];
    let links = [
        link(2, "eth0", "42:01:0a:80:00:46", true),
        link(3, "eth1", "42:01:c0:a8:01:02", true),
    ];
    let want = desired(&instance, &links, &PlanSettings::default());
    let name_of = |i| format!("if{i}");
    let rules: Vec<String> = want.nics[1]
        .rules
        .iter()
        .map(|r| ip_command(&Change::AddRule(r.clone()), &name_of))
        .filter(|c| c.contains("192.168.1.50") || c.contains("34.2.2.2"))
        .collect();
    assert_eq!(
        rules,
        [
            "ip rule add from 192.168.1.50/32 lookup 10001 priority 3001",
            "ip rule add to 192.168.1.50/32 lookup 10001 priority 3001",
            "ip rule add from 34.2.2.2/32 lookup 10001 priority 3001",
            "ip rule add to 34.2.2.2/32 lookup 10001 priority 3001",
        ]
    );
}

#[test]
fn an_upgraded_record_loses_its_metadata_pins_for_the_main_rule() {
    let settings = PlanSettings::default();
    let mut kernel = kernel_with(azure_links(), vec![dhcp_primary()]);
    let mut owned = Owned::default();
    reconcile(&azure_instance(), &mut kernel, &mut owned, &settings);
    let main = main_rule(Family::V4, &settings);
    kernel.rules.retain(|r| *r != main);
    owned.global_rules.clear();
    for pin in old_pins(&settings) {
        kernel.rules.push(pin.clone());
        owned.global_rules.insert(pin);
    }
    let changes = reconcile(&azure_instance(), &mut kernel, &mut owned, &settings);
    assert_eq!(
        commands(&changes, &kernel),
        [
            "ip rule del to 169.254.169.254/32 lookup main priority 2999",
            "ip rule del to 168.63.129.16/32 lookup main priority 2999",
            "ip rule add lookup main suppress_prefixlength 0 suppress_ifgroup 201 priority 2999",
        ]
    );
    assert_eq!(owned.global_rules.into_iter().collect::<Vec<_>>(), [main]);
    assert!(old_pins(&settings)
        .iter()
        .all(|p| !kernel.rules.contains(p)));
}

#[test]
fn a_link_in_a_group_not_ours_keeps_it_and_ours_follows_the_config() {
    let mut links = azure_links();
    links[2].group = 7;
    let mut kernel = kernel_with(links, vec![dhcp_primary()]);
    let mut owned = Owned::default();
    let settings = PlanSettings::default();
    let changes = reconcile(&azure_instance(), &mut kernel, &mut owned, &settings);
    let groups: Vec<String> = commands(&changes, &kernel)
        .into_iter()
        .filter(|c| c.contains(" group "))
        .collect();
    assert_eq!(
        groups,
        ["ip link set dev eth0 group 201"],
        "eth1's 7 is not ours"
    );
    let regrouped = PlanSettings {
        ifgroup: 42,
        ..PlanSettings::default()
    };
    let changes = reconcile(&azure_instance(), &mut kernel, &mut owned, &regrouped);
    let commands = commands(&changes, &kernel);
    assert!(
        commands.contains(&"ip link set dev eth0 group 42".to_string()),
        "{commands:?}"
    );
    assert!(
        !commands.iter().any(|c| c.contains("eth1 group")),
        "{commands:?}"
    );
    let eth1 = kernel.links.iter().find(|l| l.name == "eth1").unwrap();
    assert_eq!(eth1.group, 7);
}
