//! Renderer tests for Azure: the system, network and ssh-keys documents as the API serves them.

use super::*;

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
