//! Unit tests of a round: its outcome's reading, the labels it counts under, and its passes
//! against an in-memory kernel (`test_kernel`): the VLAN second pass, the claim before each
//! batch, the stop flag, and the kernel's refusals.
use super::*;
use crate::daemon::apply::Failure;

fn pass(summary: &[&str], failed: &[&str], applied: bool) -> Pass {
    let outcome = Outcome {
        summary: summary.iter().map(ToString::to_string).collect(),
        applied: summary.len(),
        failures: failed
            .iter()
            .map(|command| Failure {
                link: "eth1".to_string(),
                command: command.to_string(),
                error: "Invalid argument".to_string(),
            })
            .collect(),
        conflicts: Vec::new(),
        created_links: 0,
    };
    let instance = Instance {
        provider: crate::net::ProviderKind::Azure,
        instance_id: "vm".to_string(),
        location: "westeurope".to_string(),
        nics: Vec::new(),
        raw: Default::default(),
    };
    Pass {
        kernel: KernelState::default(),
        desired: crate::plan::desired(&instance, &[], &PlanSettings::default()),
        disowned: Vec::new(),
        outcome: applied.then_some(outcome),
    }
}

#[test]
fn what_is_left_undone_is_the_last_applied_passs_failures() {
    let round = RoundOutcome {
        passes: vec![
            pass(&["eth0: +VLAN 5 link eth0.5"], &["ip a", "ip b"], true),
            pass(&["eth0.5: +1 address"], &["ip b"], true),
            pass(&[], &["not sent"], false),
        ],
        ..RoundOutcome::default()
    };
    assert_eq!(round.failures(), ["eth1: ip b failed: Invalid argument"]);
    let (summary, changes) = round.summary();
    assert_eq!(summary, ["eth0: +VLAN 5 link eth0.5", "eth0.5: +1 address"]);
    assert_eq!(changes, 2);
    assert_eq!(RoundOutcome::default().failures(), Vec::<String>::new());
}

#[test]
fn an_unreadable_kernel_is_the_one_failure() {
    let round = RoundOutcome {
        passes: vec![pass(&["eth0: +VLAN 5 link eth0.5"], &["ip a"], true)],
        unreadable: Some(NetlinkError::Decode("cut short".to_string())),
        ..RoundOutcome::default()
    };
    assert_eq!(
        round.failures(),
        ["cannot read the kernel's network state: netlink message: cut short"]
    );
}

#[test]
fn every_change_and_refusal_is_counted_under_a_label_of_the_exposition() {
    use crate::kernel::{Address, Change, Route, Rule};
    use crate::metrics::{CHANGE_KINDS, REFUSAL_REASONS};
    use crate::plan::sanity::Reason;
    let (mac, addr): (crate::net::Mac, std::net::IpAddr) = (
        "02:00:00:00:00:01".parse().unwrap(),
        "10.0.0.1".parse().unwrap(),
    );
    let net: crate::net::IpNet = "10.0.0.0/8".parse().unwrap();
    let address = Address {
        ifindex: 2,
        addr: net,
        noprefixroute: true,
        valid_lft: u32::MAX,
        preferred_lft: u32::MAX,
    };
    let route: Route = serde_json::from_value(serde_json::json!({
        "table": 254, "dst": "10.0.0.0/8", "gateway": null, "src": null, "oif": 2,
        "protocol": 201, "scope": "link", "kind": "unicast", "onlink": false
    }))
    .unwrap();
    let rule: Rule = serde_json::from_value(serde_json::json!({
        "family": "V4", "priority": 3000, "src": null, "dst": null, "table": 254
    }))
    .unwrap();
    let name = String::from("eth1");
    let changes = [
        Change::LinkUp {
            ifindex: 2,
            name: name.clone(),
        },
        Change::SetMtu {
            ifindex: 2,
            name: name.clone(),
            mtu: 9000,
        },
        Change::PromoteSecondaries {
            ifindex: 2,
            name: name.clone(),
        },
        Change::AddAddress(address.clone()),
        Change::DelAddress(address),
        Change::AddRoute(route.clone()),
        Change::DelRoute(route.clone()),
        Change::AddRule(rule.clone()),
        Change::DelRule(rule),
        Change::AddVlan {
            name: name.clone(),
            parent: 2,
            parent_name: name.clone(),
            mac,
            id: 5,
        },
        Change::DelVlan {
            ifindex: 2,
            name: name.clone(),
        },
        Change::SetGroup {
            ifindex: 2,
            name,
            group: 201,
        },
        Change::AdoptRoute(route),
    ];
    let labels: Vec<&str> = changes.iter().map(Change::label).collect();
    assert_eq!(labels, CHANGE_KINDS);
    let reasons = [
        Reason::Loopback,
        Reason::Unspecified,
        Reason::Multicast,
        Reason::Broadcast,
        Reason::LinkLocal,
        Reason::MetadataService { addr },
        Reason::Gateway { mac },
        Reason::ContainsGateway { mac, gateway: addr },
        Reason::ContainsMetadataService { addr },
        Reason::ContainsAddress { mac, addr },
        Reason::ContainsSubnet { mac, subnet: net },
        Reason::TooWide { min: 8 },
        Reason::EveryDestination,
        Reason::OnTwoNics { other: mac },
        Reason::MtuOutOfRange,
        Reason::OutsideSubnet,
        Reason::ContainsReserved { mac, addr },
        Reason::NotUnicast,
        Reason::NotPrivate,
        Reason::NicAddress { mac },
    ];
    for (reason, label) in reasons.iter().zip(REFUSAL_REASONS) {
        assert_eq!(reason.label(), label);
        assert_eq!(serde_json::to_value(reason).unwrap()["reason"], label);
    }
    assert_eq!(reasons.len(), REFUSAL_REASONS.len());
}
