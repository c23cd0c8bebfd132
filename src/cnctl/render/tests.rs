//! Renderer tests: the fixtures' documents as the API serves them, exact text expected.

use super::*;
use crate::metadata::aws::parse::tree_to_json;
use crate::metadata::views::network_view;
use crate::net::IpNet;
use std::collections::BTreeMap;

/// The expected text in `tests/cnctl_expected/<name>`, shared by the renderer unit tests and
/// the `cnctl` integration tests.
macro_rules! expected {
    ($name:literal) => {
        include_str!(concat!("../../../tests/cnctl_expected/", $name))
    };
}

fn fixture(path: &str) -> Value {
    let file = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

/// AEMM's tree as the API's EC2 system document (`meta-data`, `dynamic`, ...).
fn ec2_system() -> Value {
    let tree: BTreeMap<String, String> =
        serde_json::from_value(fixture("ec2/aemm-default/metadata.json")).unwrap();
    tree_to_json(&tree)
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn link(name: &str, ifindex: u32, mac: &str, device_index: u32) -> LinkStatus {
    LinkStatus {
        name: name.to_string(),
        ifindex,
        mac: mac.parse().unwrap(),
        device_index,
        table: None,
        addresses: Vec::new(),
        routes: Vec::new(),
        rules: Vec::new(),
        refused: Vec::new(),
    }
}

#[test]
fn azure_system_keeps_the_original_labels() {
    let doc = fixture("azure/docs-imds-full-instance-linux.json");
    assert_eq!(
        system(ProviderKind::Azure, &doc),
        concat!(
            "     Cloud provider: azure \n",
            "  Azure Environment: AZUREPUBLICCLOUD \n",
            "           Location: westus \n",
            "               Name: examplevmname \n",
            "            OS Type: Linux \n",
            "              VM Id: 02aab8a4-74ef-476e-8182-f6d2ba4166a6 \n",
            "  VM Scale Set Name: crpteste9vflji9 \n",
            "            VM Size: Standard_A3 \n",
            "    Subscription Id: xxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxx \n",
            "     Resource Group: macikgo-test-may-23 \n",
            "          Publisher: Canonical \n",
            "            Version: 15.05.22 \n",
            "      Computer Name: examplevmname \n",
            "Secure Boot Enabled: true \n",
            "Virtual Tpm Enabled: false \n",
            "              Offer: UbuntuServer \n",
            "          Plan Name: planName \n",
            "    Admin User name: admin \n",
        )
    );
}

#[test]
fn azure_system_aligns_to_the_longest_label_present() {
    let doc = fixture("azure/cloudinit-three-nics.json");
    assert_eq!(
        system(ProviderKind::Azure, &doc),
        expected!("azure-three-nics-system.txt")
    );
}

#[test]
fn azure_network_names_nics_by_mac() {
    let doc = fixture("azure/cloudinit-three-nics.json");
    let links = [
        link("eth1", 3, "22:0d:3a:04:75:98", 1),
        link("eth0", 2, "00:0d:3a:04:75:98", 0),
    ];
    assert_eq!(
        network(ProviderKind::Azure, &doc, &links),
        expected!("azure-three-nics-network.txt")
    );
}

#[test]
fn azure_network_lists_every_address_and_ipv6() {
    let doc = serde_json::json!({"network": {"interface": [{
        "macAddress": "000D3A5D2D66",
        "ipv4": {
            "ipAddress": [
                {"privateIpAddress": "10.4.0.5", "publicIpAddress": "20.253.243.104"},
                {"privateIpAddress": "10.4.0.6", "publicIpAddress": ""}],
            "subnet": [{"address": "10.4.0.0", "prefix": "24"}]},
        "ipv6": {"ipAddress": [{"privateIpAddress": "fd00::5"}]}}]}});
    assert_eq!(
        network(ProviderKind::Azure, &doc, &[]),
        concat!(
            "        Name: - \n",
            " MAC Address: 00:0d:3a:5d:2d:66 \n",
            "   Public Ip: 20.253.243.104 \n",
            "  Private Ip: 10.4.0.5/24 10.4.0.6/24 \n",
            "Private Ipv6: fd00::5 \n",
            "      Subnet: 10.4.0.0 \n",
        )
    );
}

#[test]
fn azure_ssh_keys_are_the_key_data() {
    let doc = fixture("azure/docs-imds-full-instance-linux.json");
    let keys = ssh_keys(ProviderKind::Azure, &doc);
    assert_eq!(keys, ["ssh-rsa 0", "ssh-rsa 1"]);
    assert_eq!(
        ssh_keys_text(&keys),
        "ssh-key: ssh-rsa 0\nssh-key: ssh-rsa 1\n"
    );
}

#[test]
fn ec2_system_from_the_meta_data_tree() {
    assert_eq!(
        system(ProviderKind::Aws, &ec2_system()),
        expected!("ec2-aemm-system.txt")
    );
}

#[test]
fn ec2_region_falls_back_to_the_identity_document() {
    let doc = serde_json::json!({
        "meta-data": {"instance-id": "i-1"},
        "dynamic": {"instance-identity": {"document": {"region": "eu-west-1"}}}});
    assert_eq!(
        system(ProviderKind::Aws, &doc),
        concat!(
            "Cloud provider: aws \n",
            "   Instance ID: i-1 \n",
            "        Region: eu-west-1 \n",
        )
    );
}

#[test]
fn ec2_network_from_the_per_mac_view() {
    let view = network_view(ProviderKind::Aws, &ec2_system());
    let links = [link("ens5", 2, "0e:49:61:0f:c3:11", 0)];
    assert_eq!(
        network(ProviderKind::Aws, &view, &links),
        expected!("ec2-aemm-network.txt")
    );
}

#[test]
fn ec2_network_in_device_order_with_lists_on_one_line() {
    let view = serde_json::json!({
        "0a:00:00:00:00:01": {"device-number": "1", "local-ipv4s": "10.0.1.5\n10.0.1.6"},
        "0a:00:00:00:00:09": {"device-number": "0", "local-ipv4s": "10.0.0.5\n"}});
    assert_eq!(
        network(ProviderKind::Aws, &view, &[]),
        concat!(
            "         Name: - \n",
            "  MAC Address: 0a:00:00:00:00:09 \n",
            "Device Number: 0 \n",
            "  Local IPv4s: 10.0.0.5 \n",
            "\n",
            "         Name: - \n",
            "  MAC Address: 0a:00:00:00:00:01 \n",
            "Device Number: 1 \n",
            "  Local IPv4s: 10.0.1.5 10.0.1.6 \n",
        )
    );
}

#[test]
fn ec2_ssh_keys_from_public_keys() {
    let keys = ssh_keys(ProviderKind::Aws, &ec2_system());
    assert_eq!(keys.len(), 1);
    assert!(keys[0].starts_with("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC/JxGByvHDHgQ"));
    assert!(keys[0].ends_with("A3iia2UVtLO/xcTt test"), "{}", keys[0]);
    let doc = serde_json::json!({"meta-data": {"public-keys": {
        "10": {"openssh-key": "ssh-ed25519 B ten"},
        "2": {"openssh-key": "ssh-ed25519 A two\n"}},
        "public-keys/": "2=two\n10=ten"}});
    assert_eq!(
        ssh_keys(ProviderKind::Aws, &doc),
        ["ssh-ed25519 A two", "ssh-ed25519 B ten"]
    );
}

#[test]
fn gcp_system_from_instance_and_project() {
    let doc = fixture("gcp/gce-metadata-server-emulator-recursive.json");
    assert_eq!(
        system(ProviderKind::Gcp, &doc),
        expected!("gcp-emulator-system.txt")
    );
}

#[test]
fn gcp_network_per_interface() {
    let doc = fixture("gcp/gce-metadata-server-emulator-recursive.json");
    let links = [link("ens4", 2, "42:01:0a:80:00:13", 0)];
    assert_eq!(
        network(ProviderKind::Gcp, &doc, &links),
        expected!("gcp-emulator-network.txt")
    );
}

#[test]
fn gcp_network_shows_aliases_and_forwarded_ips() {
    let doc = serde_json::json!({"instance": {"networkInterfaces": [{
        "mac": "42:01:0a:80:00:14", "ip": "10.128.0.20",
        "accessConfigs": [{"externalIp": "", "type": "ONE_TO_ONE_NAT"}],
        "ipAliases": ["10.8.1.0/24", "10.8.2.0/24"], "forwardedIps": ["35.1.2.3"],
        "mtu": 8244}]}});
    assert_eq!(
        network(ProviderKind::Gcp, &doc, &[]),
        concat!(
            "         Name: - \n",
            "  MAC Address: 42:01:0a:80:00:14 \n",
            "           IP: 10.128.0.20 \n",
            "          MTU: 8244 \n",
            "   IP Aliases: 10.8.1.0/24 10.8.2.0/24 \n",
            "Forwarded IPs: 35.1.2.3 \n",
        )
    );
}

#[test]
fn gcp_ssh_keys_from_instance_and_project_attributes() {
    let doc = fixture("gcp/gce-metadata-server-emulator-recursive.json");
    let keys = ssh_keys(ProviderKind::Gcp, &doc);
    assert_eq!(keys.len(), 1);
    assert!(
        keys[0].starts_with("srashid:ssh-rsa AAAAB3NzaC1yc2E"),
        "{}",
        keys[0]
    );
    assert!(keys[0].ends_with("= srashid@srashid12"), "{}", keys[0]);
    let doc = serde_json::json!({
        "instance": {"attributes": {"ssh-keys": "a:ssh-ed25519 A\n\nb:ssh-ed25519 B\n",
                                    "sshKeys": "c:ssh-rsa C"}},
        "project": {"attributes": {"ssh-keys": "p:ssh-rsa P"}}});
    assert_eq!(
        ssh_keys(ProviderKind::Gcp, &doc),
        [
            "a:ssh-ed25519 A",
            "b:ssh-ed25519 B",
            "c:ssh-rsa C",
            "p:ssh-rsa P"
        ]
    );
}

#[test]
fn gcp_block_project_ssh_keys_hides_the_project_keys() {
    let doc = serde_json::json!({
        "instance": {"attributes": {"ssh-keys": "a:ssh-ed25519 A",
                                    "block-project-ssh-keys": "TRUE"}},
        "project": {"attributes": {"ssh-keys": "p:ssh-rsa P"}}});
    assert_eq!(ssh_keys(ProviderKind::Gcp, &doc), ["a:ssh-ed25519 A"]);
}

#[test]
fn gcp_project() {
    let doc = fixture("gcp/gce-metadata-server-emulator-recursive.json");
    assert_eq!(
        project_text(project(&doc).unwrap()),
        expected!("gcp-emulator-project.txt")
    );
    assert_eq!(project(&serde_json::json!({"instance": {}})), None);
}

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

/// An OCI system document as the API serves it: `{"instance": ..., "vnics": ...}`.
fn oci_system(instance: &str, vnics: &str) -> Value {
    serde_json::json!({
        "instance": fixture(&format!("oci/{instance}")),
        "vnics": fixture(&format!("oci/{vnics}")),
    })
}

#[test]
fn oracle_system_of_every_instance_fixture() {
    let vnics = "cloudinit-vnics-vm-secondary.json";
    let doc = oci_system("cloudinit-opc-instance.json", vnics);
    assert_eq!(
        system(ProviderKind::Oracle, &doc),
        expected!("oci-opc-instance-system.txt")
    );
    let docs_example = oci_system("afterburn-opc-v2-instance-docs-example.json", vnics);
    assert_eq!(
        system(ProviderKind::Oracle, &docs_example),
        concat!(
            "     Cloud provider: oracle \n",
            "       Display Name: my-example-instance \n",
            "           Hostname: my-hostname \n",
            "        Instance ID: ocid1.instance.oc1.phx.exampleuniqueID \n",
            "              Shape: VM.Standard.E3.Flex \n",
            "              State: Running \n",
            "             Region: us-phoenix-1 \n",
            "Availability Domain: EMIr:PHX-AD-1 \n",
            "       Fault Domain: FAULT-DOMAIN-3 \n",
            "     Compartment ID: ocid1.tenancy.oc1..exampleuniqueID \n",
            "              Image: ocid1.image.oc1.phx.exampleuniqueID \n",
            "       Time Created: 2020-09-17T22:32:08Z \n",
        )
    );
    let pool = oci_system("afterburn-opc-v2-instance-pool.json", vnics);
    assert_eq!(
        system(ProviderKind::Oracle, &pool),
        concat!(
            "     Cloud provider: oracle \n",
            "           Hostname: fedora-coreos-pool \n",
            "        Instance ID: ocid1.instance.oc1.phx.exampleuniqueID \n",
            "              Shape: VM.Standard.A1.Flex \n",
            "             Region: us-phoenix-1 \n",
            "Availability Domain: EMIr:PHX-AD-2 \n",
            "       Fault Domain: FAULT-DOMAIN-1 \n",
            "     Compartment ID: ocid1.tenancy.oc1..exampleuniqueID \n",
        )
    );
}

#[test]
fn oracle_network_per_vnic_leaves_null_strings_out() {
    let doc = oci_system(
        "cloudinit-opc-instance.json",
        "cloudinit-vnics-vm-dual-stack-secondary.json",
    );
    let links = [link("ens3", 2, "02:00:17:0d:6b:be", 0)];
    let expected = expected!("oci-dual-stack-network.txt");
    assert_eq!(network(ProviderKind::Oracle, &doc, &links), expected);
    let view = network_view(ProviderKind::Oracle, &doc);
    assert_eq!(network(ProviderKind::Oracle, &view, &links), expected);
}

#[test]
fn oracle_bare_metal_network_shows_nic_index_and_vlan_tag() {
    let doc = oci_system(
        "cloudinit-opc-instance.json",
        "cloudinit-vnics-baremetal-secondary.json",
    );
    let links = [
        link("eno1", 2, "90:e2:ba:d4:f1:68", 0),
        link("eno1.1", 5, "02:00:17:05:cf:51", 1),
    ];
    assert_eq!(
        network(ProviderKind::Oracle, &doc, &links),
        concat!(
            "       Name: eno1 \n",
            "MAC Address: 90:e2:ba:d4:f1:68 \n",
            "    VNIC ID: ocid1.vnic.oc1.phx.abyhqljtyvcucqkhdqmgjszebxe4hrb!!TRUNCATED|| \n",
            " Private IP: 10.0.0.8 \n",
            "     Subnet: 10.0.0.0/24 \n",
            "    Gateway: 10.0.0.1 \n",
            "   VLAN Tag: 0 \n",
            "  NIC Index: 0 \n",
            "\n",
            "       Name: eno1.1 \n",
            "MAC Address: 02:00:17:05:cf:51 \n",
            "    VNIC ID: ocid1.vnic.oc1.phx.abyhqljtfmkxjdy2sqidndiwrsg63zf!!TRUNCATED|| \n",
            " Private IP: 10.0.4.5 \n",
            "     Subnet: 10.0.4.0/24 \n",
            "    Gateway: 10.0.4.1 \n",
            "   VLAN Tag: 1 \n",
            "  NIC Index: 0 \n",
        )
    );
}

#[test]
fn oracle_ssh_keys_one_per_line() {
    let doc = oci_system(
        "cloudinit-opc-instance.json",
        "cloudinit-vnics-vm-secondary.json",
    );
    assert_eq!(
        ssh_keys(ProviderKind::Oracle, &doc),
        ["ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ truncated"]
    );
    let two = serde_json::json!({"instance": {"metadata": {"ssh_authorized_keys": "ssh-ed25519 A a\n\nssh-rsa B b\n"}}});
    assert_eq!(
        ssh_keys(ProviderKind::Oracle, &two),
        ["ssh-ed25519 A a", "ssh-rsa B b"]
    );
    let pool = oci_system(
        "afterburn-opc-v2-instance-pool.json",
        "cloudinit-vnics-vm-secondary.json",
    );
    assert!(ssh_keys(ProviderKind::Oracle, &pool).is_empty());
}

/// The built-in Alibaba scenario's tree as the API's system document.
fn alibaba_system(path: &str) -> Value {
    let tree: BTreeMap<String, String> = serde_json::from_value(fixture(path)).unwrap();
    tree_to_json(&tree)
}

const ALIBABA_DEFAULT: &str = "alibaba/cloudinit-default/metadata.json";

fn alibaba_builtin() -> Value {
    let text = include_str!("../../emulator/scenarios/alibaba.json");
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
    let view = network_view(ProviderKind::Alibaba, &alibaba_builtin());
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
        &alibaba_system("alibaba/cloudinit-two-nics-ipv6-network-only/metadata.json"),
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

fn digitalocean_document(name: &str) -> Value {
    let file = format!(
        "{}/tests/fixtures/digitalocean/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

#[test]
fn digitalocean_system_names_the_reserved_ip() {
    let doc = digitalocean_document("reference-two-nics-reserved-ip.json");
    assert_eq!(
        system(ProviderKind::DigitalOcean, &doc),
        expected!("digitalocean-reference-system.txt")
    );
}

#[test]
fn digitalocean_network_in_device_index_order_with_anchor() {
    let doc = digitalocean_document("reference-two-nics-reserved-ip.json");
    let view = network_view(ProviderKind::DigitalOcean, &doc);
    let links = [
        link("eth0", 2, "16:a4:3b:7e:20:01", 0),
        link("eth1", 3, "16:a4:3b:7e:20:02", 1),
    ];
    assert_eq!(
        network(ProviderKind::DigitalOcean, &view, &links),
        expected!("digitalocean-reference-network.txt")
    );
}

#[test]
fn digitalocean_network_of_a_capture_without_reserved_ip() {
    let doc = digitalocean_document("capture-string-id-gateway-off-subnet.json");
    assert_eq!(
        network(ProviderKind::DigitalOcean, &doc, &[]),
        concat!(
            "          Name: - \n",
            "   MAC Address: 04:01:57:d1:9e:01 \n",
            "          Type: public \n",
            "          IPv4: 192.0.0.20/24 \n",
            "  IPv4 Gateway: 104.236.0.1 \n",
            "          IPv6: 2604:A880:0800:0000:1000:0000:0000:0000/64 \n",
            "  IPv6 Gateway: 2604:A880:0800:0000:0000:0000:0000:0001 \n",
            "   Anchor IPv4: 10.0.0.5/16 \n",
            "Anchor Gateway: 10.0.0.1 \n",
            "\n",
            "        Name: - \n",
            " MAC Address: 04:01:57:d1:9e:02 \n",
            "        Type: private \n",
            "        IPv4: 10.132.6.205/16 \n",
            "IPv4 Gateway: 10.132.0.1 \n",
        )
    );
}

#[test]
fn digitalocean_ssh_keys_from_a_list_or_one_string() {
    let doc = digitalocean_document("reference-two-nics-reserved-ip.json");
    let keys = ssh_keys(ProviderKind::DigitalOcean, &doc);
    assert_eq!(keys.len(), 2);
    assert!(keys[0].starts_with("ssh-ed25519 AAAAC3"), "{}", keys[0]);
    assert_eq!(
        keys[1],
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDk3Lq7 deploy@example.com"
    );
    let doc = digitalocean_document("capture-string-id-gateway-off-subnet.json");
    assert_eq!(
        ssh_keys(ProviderKind::DigitalOcean, &doc),
        ["ssh-rsa AAAAB3NzaC1yc2EAAAA... test@do.co"]
    );
    for keys in [
        serde_json::json!(""),
        serde_json::json!(null),
        serde_json::json!(["", " "]),
        serde_json::json!({"a": 1}),
    ] {
        let doc = serde_json::json!({ "public_keys": keys });
        assert!(
            ssh_keys(ProviderKind::DigitalOcean, &doc).is_empty(),
            "{doc}"
        );
    }
    let doc = serde_json::json!({"public_keys": "ssh-ed25519 A a@x\nssh-ed25519 B b@x\n"});
    assert_eq!(
        ssh_keys(ProviderKind::DigitalOcean, &doc),
        ["ssh-ed25519 A a@x", "ssh-ed25519 B b@x"]
    );
}
