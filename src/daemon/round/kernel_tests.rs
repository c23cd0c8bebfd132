//! A round against the in-memory kernel (`test_kernel`), no root needed: the VLAN second pass,
//! the claim kept before each batch, the stop flag, what the kernel's refusals mean for the
//! outcome and the record, and a corrupt record rebuilt from the kernel. The namespace tests
//! (`tests/oci_vlan.rs`, `tests/reconcile.rs`, `tests/removal.rs`) show the same on the real
//! kernel.

use super::*;
use crate::daemon::test_kernel::{Event, MemoryKernel};
use crate::kernel::{Address, Change};
use crate::metadata::Nic;
use crate::net::ProviderKind;
use crate::plan::owned::{OwnedAddress, OwnedVlan};
use crate::plan::tests::{link, mac};
use std::rc::Rc;
use std::sync::Arc;

const ETH0: &str = "00:22:48:04:fe:00";
const ETH1: &str = "00:0d:3a:5d:2d:66";

/// An address as DHCP leaves it (not ours), or as we add it (`noprefixroute`, forever).
fn address(ifindex: u32, addr: &str, ours: bool) -> Address {
    let lifetime = if ours { u32::MAX } else { 3600 };
    Address {
        ifindex,
        addr: addr.parse().unwrap(),
        noprefixroute: ours,
        valid_lft: lifetime,
        preferred_lft: lifetime,
    }
}

fn nic(mac_text: &str, index: u32, addresses: &[&str], gateway: &str) -> Nic {
    let mut nic = Nic::new(mac(mac_text), index);
    nic.ipv4 = addresses.iter().map(|a| a.parse().unwrap()).collect();
    nic.gateway4 = Some(gateway.parse().unwrap());
    nic
}

fn instance(provider: ProviderKind, nics: Vec<Nic>) -> Instance {
    Instance {
        provider,
        instance_id: "vm".to_string(),
        location: "region".to_string(),
        nics,
        raw: Default::default(),
    }
}

/// Azure: eth0 with its DHCP address, eth1 (index 3) listing `eth1` in 10.4.0.0/24.
fn azure(eth1: &[&str]) -> (Instance, MemoryKernel) {
    let nics = vec![
        nic(ETH0, 0, &["10.4.0.4/24"], "10.4.0.1"),
        nic(ETH1, 1, eth1, "10.4.0.1"),
    ];
    let kernel = MemoryKernel::new(KernelState {
        links: vec![link(2, "eth0", ETH0, true), link(3, "eth1", ETH1, true)],
        addresses: vec![address(2, "10.4.0.4/24", false)],
        ..KernelState::default()
    });
    (instance(ProviderKind::Azure, nics), kernel)
}

/// Runs an applying round, every claim landing in the kernel's journal.
fn applied(
    kernel: &mut MemoryKernel,
    instance: &Instance,
    owned: Owned,
    stop: &AtomicBool,
) -> RoundOutcome {
    applied_from(kernel, instance, Some(owned), stop)
}

/// An applying round from `owned`, None being a record found corrupt.
fn applied_from(
    kernel: &mut MemoryKernel,
    instance: &Instance,
    owned: Option<Owned>,
    stop: &AtomicBool,
) -> RoundOutcome {
    let journal = Rc::clone(&kernel.journal);
    let mut keep = |owned: &Owned| journal.borrow_mut().push(Event::Kept(owned.clone()));
    let input = RoundInput {
        instance,
        owned,
        settings: &PlanSettings::default(),
    };
    let apply = Apply::Changes {
        keep: &mut keep,
        stop,
    };
    round(kernel, input, apply)
}

fn batches(kernel: &MemoryKernel) -> Vec<Vec<Change>> {
    let journal = kernel.journal.borrow();
    let sent = journal.iter().filter_map(|event| match event {
        Event::Batch(changes) => Some(changes.clone()),
        Event::Kept(_) => None,
    });
    sent.collect()
}

fn addresses_on(kernel: &MemoryKernel, ifindex: u32) -> Vec<String> {
    let on = kernel
        .state
        .addresses
        .iter()
        .filter(|a| a.ifindex == ifindex);
    on.map(|a| a.addr.to_string()).collect()
}

fn owned_addresses(owned: &Owned, nic: &str) -> Vec<String> {
    owned.nics.get(&mac(nic)).map_or(Vec::new(), |n| {
        n.addresses.iter().map(|a| a.addr.to_string()).collect()
    })
}

/// OCI bare metal: the physical NIC eth0 (index 2), a second VNIC as VLAN 1 on it.
fn bare_metal() -> (Instance, MemoryKernel) {
    let physical = "90:e2:ba:d4:f1:68";
    let mut vnic = nic("02:00:17:05:cf:51", 1, &["10.0.4.5/24"], "10.0.4.1");
    vnic.vlan = Some(crate::metadata::Vlan {
        parent: mac(physical),
        id: 1,
    });
    let nics = vec![nic(physical, 0, &["10.0.0.8/24"], "10.0.0.1"), vnic];
    let mut eth0 = link(2, "eth0", physical, true);
    eth0.mtu = 9000;
    let kernel = MemoryKernel::new(KernelState {
        links: vec![eth0],
        addresses: vec![address(2, "10.0.0.8/24", false)],
        ..KernelState::default()
    });
    (instance(ProviderKind::Oracle, nics), kernel)
}

#[test]
fn a_pass_that_creates_a_vlan_link_is_followed_by_one_that_configures_it() {
    let (instance, mut kernel) = bare_metal();
    let vnic = mac("02:00:17:05:cf:51");
    let outcome = applied(
        &mut kernel,
        &instance,
        Owned::default(),
        &AtomicBool::new(false),
    );

    let sent = batches(&kernel);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent[0]
        .iter()
        .any(|c| matches!(c, Change::AddVlan { name, id: 1, .. } if name == "eth0.1")));
    assert!(!sent[0].iter().any(|c| matches!(c, Change::AddAddress(_))));
    let vlan = kernel
        .state
        .links
        .iter()
        .find(|l| l.name == "eth0.1")
        .unwrap();
    assert_eq!((vlan.index, vlan.kind.as_deref()), (3, Some("vlan")));
    assert!(sent[1].contains(&Change::AddAddress(address(3, "10.0.4.5/24", true))));
    assert_eq!(addresses_on(&kernel, 3), ["10.0.4.5/24"]);
    assert_eq!(outcome.passes.len(), 2);
    assert_eq!(outcome.failures(), Vec::<String>::new());
    let owned = outcome.owned.unwrap();
    let entry = &owned.nics[&vnic];
    assert_eq!(
        entry.vlan,
        Some(OwnedVlan {
            name: "eth0.1".to_string(),
            id: 1
        })
    );
    assert_eq!(
        owned_addresses(&owned, "02:00:17:05:cf:51"),
        ["10.0.4.5/24"]
    );

    let again = applied(&mut kernel, &instance, owned, &AtomicBool::new(false));
    assert_eq!(batches(&kernel).len(), 2, "a converged round sends nothing");
    assert_eq!((again.passes.len(), again.summary().1), (1, 0));
}

#[test]
fn the_claim_is_kept_before_each_batch_with_what_it_adds() {
    let (instance, mut kernel) = bare_metal();
    let vnic = mac("02:00:17:05:cf:51");
    applied(
        &mut kernel,
        &instance,
        Owned::default(),
        &AtomicBool::new(false),
    );

    let journal = kernel.journal.borrow();
    let order: Vec<&str> = journal
        .iter()
        .map(|e| match e {
            Event::Kept(_) => "kept",
            Event::Batch(_) => "batch",
        })
        .collect();
    assert_eq!(order, ["kept", "batch", "kept", "batch"]);
    let Event::Kept(first) = &journal[0] else {
        unreachable!()
    };
    assert_eq!(
        first.nics[&vnic].vlan,
        Some(OwnedVlan {
            name: "eth0.1".to_string(),
            id: 1
        })
    );
    assert!(first.nics[&vnic].addresses.is_empty());
    let Event::Kept(second) = &journal[2] else {
        unreachable!()
    };
    let claimed = OwnedAddress {
        ifindex: 3,
        addr: "10.0.4.5/24".parse().unwrap(),
    };
    assert!(
        second.nics[&vnic].addresses.contains(&claimed),
        "{second:?}"
    );
}

#[test]
fn after_a_stop_no_further_slice_is_sent_and_nothing_unsent_is_recorded() {
    let many: Vec<String> = (0..1100)
        .map(|i| format!("10.5.{}.{}/20", i / 200, 10 + i % 200))
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let (mut instance, mut kernel) = azure(&["10.4.0.5/24"]);
    instance.nics[1] = nic(ETH1, 1, &many, "10.5.0.1");
    let stop = Arc::new(AtomicBool::new(false));
    kernel.stop_during_batch(Arc::clone(&stop));

    let outcome = applied(&mut kernel, &instance, Owned::default(), &stop);

    let sent = batches(&kernel);
    assert_eq!(sent.iter().map(Vec::len).collect::<Vec<_>>(), [1024]);
    let on_eth1 = addresses_on(&kernel, 3);
    assert!(
        on_eth1.len() < 1100 && !on_eth1.is_empty(),
        "{}",
        on_eth1.len()
    );
    assert_eq!((outcome.passes.len(), outcome.summary().1), (1, 1024));
    let owned = outcome.owned.unwrap();
    assert_eq!(owned_addresses(&owned, ETH1).len(), on_eth1.len());
    assert!(owned_addresses(&owned, ETH1)
        .iter()
        .all(|a| on_eth1.contains(a)));
    assert!(
        owned.nics[&mac(ETH1)].routes.is_empty(),
        "routes come after the addresses"
    );

    let before = kernel.state.clone();
    let outcome = applied(&mut kernel, &instance, owned, &stop);
    assert_eq!(batches(&kernel).len(), 1, "a stopped round sends nothing");
    assert_eq!(kernel.state, before);
    assert!(outcome.passes[0].outcome.is_none());
}

#[test]
fn an_add_that_exists_is_someone_elses_and_a_delete_not_found_is_already_gone() {
    let (instance, mut kernel) = azure(&["10.4.0.5/24", "10.4.0.6/24"]);
    let mut owned = Owned::default();
    let gone = address(3, "10.4.0.9/24", true);
    kernel.state.addresses.push(gone.clone());
    owned.record(Some((mac(ETH1), 3)), &Change::AddAddress(gone.clone()));
    let theirs = address(3, "10.4.0.6/24", true);
    kernel.answer(Change::AddAddress(theirs), libc::EEXIST);
    kernel.meanwhile(move |state| state.addresses.retain(|a| *a != gone));

    let outcome = applied(&mut kernel, &instance, owned, &AtomicBool::new(false));

    assert_eq!(outcome.failures(), Vec::<String>::new());
    let owned = outcome.owned.unwrap();
    assert_eq!(owned_addresses(&owned, ETH1), ["10.4.0.5/24"]);
    assert_eq!(addresses_on(&kernel, 3), ["10.4.0.5/24"]);
    let deletes = batches(&kernel)[0]
        .iter()
        .filter(|c| matches!(c, Change::DelAddress(_)))
        .count();
    assert_eq!(deletes, 1);
}

#[test]
fn a_link_that_vanishes_during_apply_is_named_as_such() {
    let (instance, mut kernel) = azure(&["10.4.0.5/24"]);
    kernel.meanwhile(|state| state.links.retain(|l| l.index != 3));
    let outcome = applied(
        &mut kernel,
        &instance,
        Owned::default(),
        &AtomicBool::new(false),
    );
    let failures = outcome.failures();
    assert!(!failures.is_empty());
    for line in &failures {
        assert!(
            line.starts_with("eth1: ") || line.starts_with("main rule: "),
            "{line}"
        );
        if line.starts_with("eth1: ") {
            assert!(
                line.contains("failed: link disappeared during apply: "),
                "{line}"
            );
            assert!(line.ends_with("No such device (os error 19)"), "{line}");
        }
    }
    let owned = outcome.owned.unwrap();
    let eth1 = &owned.nics[&mac(ETH1)];
    assert!(
        eth1.addresses.is_empty() && eth1.routes.is_empty(),
        "{eth1:?}"
    );
    assert!(
        !eth1.rules.is_empty(),
        "rules need no link, the kernel takes them"
    );
    assert!(eth1.rules.iter().all(|r| kernel.state.rules.contains(r)));
}

#[test]
fn a_refusal_on_a_link_missing_on_re_read_is_named_a_vanished_link() {
    let (instance, mut kernel) = azure(&["10.4.0.5/24"]);
    kernel.state.links[1].up = false;
    let up = Change::LinkUp {
        ifindex: 3,
        name: "eth1".to_string(),
    };
    let group = Change::SetGroup {
        ifindex: 2,
        name: "eth0".to_string(),
        group: 201,
    };
    kernel.answer(up, libc::ENETUNREACH);
    kernel.answer(group, libc::EINVAL);
    kernel.meanwhile(|state| state.links.retain(|l| l.index != 3));

    let outcome = applied(
        &mut kernel,
        &instance,
        Owned::default(),
        &AtomicBool::new(false),
    );

    let failures = outcome.failures();
    let line = |start: &str| {
        let found = failures.iter().find(|l| l.starts_with(start));
        found
            .unwrap_or_else(|| panic!("no {start}: {failures:?}"))
            .clone()
    };
    let up = line("eth1: ip link set dev eth1 up failed: ");
    assert!(up.contains(": link disappeared during apply: "), "{up}");
    assert!(
        up.ends_with("Network is unreachable (os error 101)"),
        "{up}"
    );
    let group = line("eth0: ip link set dev eth0 group 201 failed: ");
    assert!(!group.contains("disappeared"), "{group}");
    assert!(group.ends_with("Invalid argument (os error 22)"), "{group}");
    assert_eq!(kernel.state.links[0].group, 0);
}

#[test]
fn a_corrupt_record_is_rebuilt_from_the_kernel_and_kept_before_the_batch() {
    let (instance, mut kernel) = azure(&["10.4.0.5/24", "10.4.0.6/24"]);
    kernel.state.addresses.push(address(3, "10.4.0.5/24", true));

    let outcome = applied_from(&mut kernel, &instance, None, &AtomicBool::new(false));

    let journal = kernel.journal.borrow();
    let Some(Event::Kept(rebuilt)) = journal.first() else {
        panic!("the rebuilt record is not kept first: {journal:?}")
    };
    assert_eq!(owned_addresses(rebuilt, ETH1), ["10.4.0.5/24"]);
    assert!(matches!(journal.last(), Some(Event::Batch(_))));
    let sent = batches(&kernel).concat();
    assert!(!sent.contains(&Change::AddAddress(address(3, "10.4.0.5/24", true))));
    assert!(sent.contains(&Change::AddAddress(address(3, "10.4.0.6/24", true))));
    let owned = outcome.owned.unwrap();
    assert_eq!(
        owned_addresses(&owned, ETH1),
        ["10.4.0.5/24", "10.4.0.6/24"]
    );
}
