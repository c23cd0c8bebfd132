//! Renderer tests for Oracle OCI: instance and VNIC documents, bare-metal NIC indexes and VLAN tags.

use super::*;
use std::sync::Arc;

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
    let view = network_view(ProviderKind::Oracle, &Arc::new(doc));
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
