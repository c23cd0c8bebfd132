//! OCI bare metal in a namespace (root): a VNIC that is VLAN 5 on the physical NIC eth0, and a
//! second physical NIC eth1. `--oneshot` against the emulator creates the VLAN link and
//! configures it, or, on a kernel without 802.1Q (found by trying, as the daemon does), fails
//! for that VNIC alone with a clear error while eth1 is configured and nothing that worked
//! is torn down. Either way a VLAN link we did not create is never deleted. Both physical NICs
//! are set to OCI's MTU 9000. Two VLAN VNICs with one tag on one parent, and a VLAN VNIC
//! carrying another link's MAC, are refused before any link is tried (so on any kernel).

mod support;

use serde_json::{json, Value};
use support::netns::{require_root, Netns};
use support::scene::{Scene, Vm};
use support::view::{read_both, View};

const PHYSICAL: &str = "90:e2:ba:d4:f1:68";
const VLAN_MAC: &str = "02:00:17:05:cf:51";
const SECOND: &str = "90:e2:ba:d4:f1:69";

const BARE_METAL: Vm = Vm {
    provider: cloud_network::metadata::ProviderKind::Oracle,
    macs: &[PHYSICAL, SECOND],
    primary: "10.0.0.8/24",
    gateway: "10.0.0.1",
    gateway_host_route: false,
};

fn vnic(mac: &str, ip: &str, net: &str, nic_index: u64, tag: u64) -> Value {
    json!({"macAddr": mac.to_uppercase(), "privateIp": ip, "subnetCidrBlock": format!("{net}.0/24"),
           "virtualRouterIp": format!("{net}.1"), "nicIndex": nic_index, "vlanTag": tag})
}

/// The instance's VNICs in attachment order, as OCI lists them: the VLAN VNIC attached last.
fn scenario(with_vlan: bool) -> String {
    let mut vnics = vec![
        vnic(PHYSICAL, "10.0.0.8", "10.0.0", 0, 0),
        vnic(SECOND, "10.0.1.9", "10.0.1", 1, 0),
    ];
    if with_vlan {
        vnics.push(vnic(VLAN_MAC, "10.0.4.5", "10.0.4", 0, 5));
    }
    json!({"instance": {"id": "ocid1.instance.oc1.phx.bm", "canonicalRegionName": "us-phoenix-1"},
           "vnics": vnics})
    .to_string()
}

/// Whether this kernel makes 802.1Q links: tried on a veth in a throwaway namespace.
fn kernel_has_vlans() -> bool {
    let probe = Netns::new("oci-vlan-probe");
    probe.veth("v0", "v1", None);
    probe
        .run(&[
            "ip", "link", "add", "link", "v0", "name", "v0.5", "type", "vlan", "id", "5",
        ])
        .status
        .success()
}

fn oneshot(scene: &Scene, config: &std::path::Path) -> (bool, Vec<String>, String) {
    let out = scene.daemon(config, "--oneshot");
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    (
        out.status.success(),
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What eth1 (the second physical NIC, index 1 in the list) gets.
fn eth1_lines() -> View {
    View::expect(
        &["eth1 up mtu 1500"],
        &["eth1 10.0.1.9/24 noprefixroute forever"],
        &[
            "10001 10.0.1.0/24 dev eth1 proto 201 scope link src 10.0.1.9",
            "10001 default via 10.0.1.1 dev eth1 proto 201",
        ],
        &[],
        &[],
        &[
            "2999 from all lookup main suppress_prefixlength 0 suppress_ifgroup 201",
            "3001 from 10.0.1.9 lookup 10001",
            "3001 from all to 10.0.1.9 lookup 10001",
        ],
    )
}

/// `--oneshot`'s summary of the first round on bare metal: the primary's MTU, eth1 with its
/// table and rules, both links in our group, and the main rule.
const FIRST_ROUND: [&str; 3] = [
    "eth0: mtu 9000, group 201",
    "eth1: link up, mtu 9000, group 201, +1 address, +1 route table, +2 rules",
    "main rule: +1 rule",
];

#[test]
fn a_bare_metal_vlan_vnic_gets_its_link_or_a_clear_error() {
    require_root();
    let scene = Scene::new("oci-vlan", BARE_METAL, Some(&scenario(false)));
    let config = scene.config(&scene.dir.path().join("state"));
    let pristine = read_both(&scene.ns);
    let (ok, lines, stderr) = oneshot(&scene, &config);
    assert!(ok, "{stderr}");
    assert_eq!(lines, FIRST_ROUND);
    let working = pristine.merged(&without_down_eth1(&eth1_lines()));
    assert_eq!(read_both(&scene.ns), fixed_links(&working));

    scene
        .emulator
        .set_scenario_text(&scenario(true))
        .expect("scenario with the VLAN VNIC");
    if kernel_has_vlans() {
        vlan_is_created_configured_and_removed(&scene, &config, &working);
    } else {
        no_vlan_support_fails_alone(&scene, &config, &working);
    }
}

/// The pristine view lists eth1 down; configured it is up, and both run at OCI's MTU 9000 in
/// our interface group.
fn without_down_eth1(view: &View) -> View {
    View {
        links: Vec::new(),
        ..view.clone()
    }
}

fn fixed_links(view: &View) -> View {
    View {
        links: view
            .links
            .iter()
            .map(|l| {
                l.replace("eth1 down", "eth1 up")
                    .replace("mtu 1500", "mtu 9000 group 201")
            })
            .collect(),
        ..view.clone()
    }
}

fn no_vlan_support_fails_alone(scene: &Scene, config: &std::path::Path, working: &View) {
    let (ok, lines, stderr) = oneshot(scene, config);
    assert!(!ok, "the oneshot must fail: {lines:?}");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "cloud-network: eth0: ip link add link eth0 name eth0.5 address {VLAN_MAC} type vlan id 5 \
             failed: the kernel has no 802.1Q VLAN support (CONFIG_VLAN_8021Q), so VNIC {VLAN_MAC} \
             (VLAN 5 on eth0) is not configured: VLAN link eth0.5 (VLAN 5 on eth0, MAC {VLAN_MAC}): \
             Operation not supported (os error 95) (Unknown device type)"
        )
    );
    assert_eq!(
        read_both(&scene.ns),
        fixed_links(working),
        "nothing torn down"
    );
    let owned = std::fs::read_to_string(scene.dir.path().join("state/owned.json")).unwrap();
    assert!(!owned.contains("vlan"), "{owned}");
}

fn vlan_is_created_configured_and_removed(scene: &Scene, config: &std::path::Path, working: &View) {
    let (ok, lines, stderr) = oneshot(scene, config);
    assert!(ok, "{stderr}");
    assert_eq!(lines[0], "eth0: +VLAN 5 link eth0.5");
    let links = scene
        .ns
        .json(&["ip", "-j", "-d", "link", "show", "dev", "eth0.5"]);
    let link = &links[0];
    assert_eq!(link["address"], VLAN_MAC);
    assert_eq!(link["link"], "eth0");
    assert_eq!(link["linkinfo"]["info_kind"], "vlan");
    assert_eq!(link["linkinfo"]["info_data"]["id"], 5);
    let view = read_both(&scene.ns);
    assert!(
        view.addresses
            .contains(&"eth0.5 10.0.4.5/24 noprefixroute forever".to_string()),
        "{view:?}"
    );
    assert!(
        view.rules
            .contains(&"3002 from 10.0.4.5 lookup 10002".to_string()),
        "{view:?}"
    );
    let (ok, lines, _) = oneshot(scene, config);
    assert!(ok && lines == ["No changes"], "{lines:?}");

    scene
        .emulator
        .set_scenario_text(&scenario(false))
        .expect("scenario without the VLAN VNIC");
    let (ok, _, stderr) = oneshot(scene, config);
    assert!(ok, "{stderr}");
    assert_eq!(
        read_both(&scene.ns),
        fixed_links(working),
        "the VLAN link and its rules went"
    );
}

/// Whether the namespace has a link named `name`.
fn has_link(scene: &Scene, name: &str) -> bool {
    scene
        .ns
        .run(&["ip", "link", "show", "dev", name])
        .status
        .success()
}

/// Issue 24: two VLAN VNICs with tag 5 on one parent. One link cannot be both: neither is
/// made or configured, each named in one warning, and eth1 is configured as usual.
#[test]
fn two_vlan_vnics_with_one_tag_are_both_refused_and_the_rest_configured() {
    require_root();
    let twin = "02:00:17:05:cf:52";
    let vnics = vec![
        vnic(PHYSICAL, "10.0.0.8", "10.0.0", 0, 0),
        vnic(SECOND, "10.0.1.9", "10.0.1", 1, 0),
        vnic(VLAN_MAC, "10.0.4.5", "10.0.4", 0, 5),
        vnic(twin, "10.0.5.5", "10.0.5", 0, 5),
    ];
    let doc = json!({"instance": {"id": "ocid1.instance.oc1.phx.bm"}, "vnics": vnics});
    let scene = Scene::new("oci-vlan-twins", BARE_METAL, Some(&doc.to_string()));
    let config = scene.config(&scene.dir.path().join("state"));
    let pristine = read_both(&scene.ns);
    let (ok, lines, stderr) = oneshot(&scene, &config);
    assert!(ok, "{stderr}");
    assert_eq!(lines, FIRST_ROUND);
    let working = pristine.merged(&without_down_eth1(&eth1_lines()));
    assert_eq!(read_both(&scene.ns), fixed_links(&working));
    assert!(!has_link(&scene, "eth0.5"), "no eth0.5 was made");
    for (mac, other) in [(VLAN_MAC, twin), (twin, VLAN_MAC)] {
        let line = format!(
            "NIC {mac}: VLAN 5 on NIC {PHYSICAL} is listed for NIC {other} too; neither is \
             configured"
        );
        assert_eq!(
            stderr.matches(&line).count(),
            1,
            "{line:?} once in: {stderr}"
        );
    }
}

/// Issue 24: a VLAN VNIC carrying the MAC of another link (eth1, not in the metadata): its
/// VLAN link is not made, with a warning naming both.
#[test]
fn a_vlan_vnic_with_another_links_mac_is_refused() {
    require_root();
    let vnics = vec![
        vnic(PHYSICAL, "10.0.0.8", "10.0.0", 0, 0),
        vnic(SECOND, "10.0.4.5", "10.0.4", 0, 7),
    ];
    let doc = json!({"instance": {"id": "ocid1.instance.oc1.phx.bm"}, "vnics": vnics});
    let scene = Scene::new("oci-vlan-mac", BARE_METAL, Some(&doc.to_string()));
    let config = scene.config(&scene.dir.path().join("state"));
    let (ok, _, stderr) = oneshot(&scene, &config);
    assert!(ok, "{stderr}");
    assert!(!has_link(&scene, "eth0.7"), "no VLAN link with eth1's MAC");
    let line = format!(
        "NIC {SECOND}: its MAC is carried by link eth1, which is not its VLAN link; not \
         configured"
    );
    assert!(stderr.contains(&line), "no {line:?} in: {stderr}");
    let addresses = scene
        .ns
        .run_ok(&["ip", "-o", "address", "show", "dev", "eth1"]);
    assert!(!addresses.contains("10.0.4.5"), "{addresses}");
}
