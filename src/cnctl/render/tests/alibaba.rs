//! Renderer tests for Alibaba ECS: the meta-data tree, the per-MAC view and ssh keys by name.

use super::*;
use std::sync::Arc;

/// The built-in Alibaba scenario's tree as the API's system document.
fn alibaba_system(path: &str) -> Value {
    let tree: BTreeMap<String, String> = serde_json::from_value(fixture(path)).unwrap();
    tree_to_json(&tree)
}

const ALIBABA_DEFAULT: &str = "alibaba/cloudinit-default/metadata.json";

fn alibaba_builtin() -> Value {
    let text = include_str!("../../../emulator/scenarios/alibaba.json");
    let tree: BTreeMap<String, String> = serde_json::from_str(text).unwrap();
    tree_to_json(&tree)
}

#[test]
fn alibaba_system_from_the_meta_data_tree() {
    assert_eq!(
        system(ProviderKind::Alibaba, &alibaba_system(ALIBABA_DEFAULT)),
        expected!("alibaba-default-system.txt")
    );
    assert_eq!(
        system(ProviderKind::Alibaba, &alibaba_builtin()),
        expected!("alibaba-emulator-system.txt")
    );
}

#[test]
fn alibaba_network_in_mac_order_with_json_lists_on_one_line() {
    let view = network_view(ProviderKind::Alibaba, &Arc::new(alibaba_builtin()));
    let links = [
        link("eth1", 3, "00:16:3e:2a:51:02", 1),
        link("eth0", 2, "00:16:3e:2a:51:01", 0),
    ];
    assert_eq!(
        network(ProviderKind::Alibaba, &view, &links),
        expected!("alibaba-emulator-network.txt")
    );
}

#[test]
fn alibaba_bracketed_ipv6s_are_listed_as_given() {
    let view = network_view(
        ProviderKind::Alibaba,
        &Arc::new(alibaba_system(
            "alibaba/cloudinit-two-nics-ipv6-network-only/metadata.json",
        )),
    );
    assert_eq!(
        network(ProviderKind::Alibaba, &view, &[]),
        concat!(
            "                Name: - \n",
            "         MAC Address: 00:16:3e:14:59:58 \n",
            "Network Interface ID: eni-bp13i1xxxxx \n",
            "               IPv6s: 2408:xxxxxx \n",
            "        IPv6 Gateway: 2408:xxxxx \n",
            "\n",
            "                Name: - \n",
            "         MAC Address: 00:16:3e:39:43:27 \n",
            "Network Interface ID: eni-bp13i2xxxx \n",
            "             Netmask: 255.255.255.0 \n",
            "             Gateway: 172.16.101.253 \n",
        )
    );
    let two = serde_json::json!({"a": {"ipv6s": "[2408:4005::1, 2408:4005::2]"}});
    assert!(
        network(ProviderKind::Alibaba, &two, &[]).contains("IPv6s: 2408:4005::1 2408:4005::2 \n")
    );
}

#[test]
fn alibaba_ssh_keys_by_key_name() {
    assert_eq!(
        ssh_keys(ProviderKind::Alibaba, &alibaba_system(ALIBABA_DEFAULT)),
        ["ssh-rsa AAAAB3Nza", "ssh-rsa AAAAB3Nza"]
    );
    assert_eq!(
        ssh_keys(ProviderKind::Alibaba, &alibaba_builtin()),
        ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc2ZW11bGF0ZWQta2V5LWZvci10ZXN0cw demo-key"]
    );
    assert!(ssh_keys(ProviderKind::Alibaba, &serde_json::json!({})).is_empty());
}
