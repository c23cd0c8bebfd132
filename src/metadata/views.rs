//! Provider-native views cut out of the system document, as the original project served them:
//! the system view (`/api/cloud/system`), the network view (`/api/cloud/network`) and one NIC's
//! document (`StateDir/links/<ifindex>`). The whole document stays at `/api/v1/system`.
//!
//! The original's `cnctl` decodes these bodies into fixed structs (its `provider/*.go`): on EC2
//! the meta-data tree at the top level (`ami-id`, `placement/region`, ...) with every leaf a
//! string, and `public-keys` as `{"N=name": "key"}`. EC2's views here have that shape.

use super::{Mac, ProviderKind};
use serde_json::{Map, Value};

/// The per-MAC directory inside EC2's and Alibaba's meta-data trees.
const EC2_MACS: [&str; 3] = ["network", "interfaces", "macs"];

/// Azure, GCP and DigitalOcean serve their whole document (DigitalOcean's reserved IP sits
/// beside `interfaces`); EC2 (leaves as text) and Alibaba the per-MAC subtree, keyed by MAC;
/// OCI its VNIC list.
pub fn network_view(kind: ProviderKind, system: &Value) -> Value {
    match kind {
        ProviderKind::Azure | ProviderKind::Gcp | ProviderKind::DigitalOcean => system.clone(),
        ProviderKind::Aws => ec2_macs(system).map(text_leaves).unwrap_or(Value::Null),
        ProviderKind::Alibaba => ec2_macs(system).cloned().unwrap_or(Value::Null),
        ProviderKind::Oracle => system.get("vnics").cloned().unwrap_or(Value::Null),
    }
}

/// What `/api/cloud/system` serves: on EC2 the meta-data tree in the original's shape (see the
/// module comment), without `dynamic` (served at `/api/cloud/dynamicinstanceidentity/*`);
/// every other provider its whole document.
pub fn system_view(kind: ProviderKind, system: &Value) -> Value {
    match kind {
        ProviderKind::Aws => {
            let mut meta = text_leaves(system.get("meta-data").unwrap_or(system));
            if let Value::Object(tree) = &mut meta {
                original_public_keys(tree);
            }
            meta
        }
        _ => system.clone(),
    }
}

/// Every leaf as the text the service sent: a body that was parsed as a JSON array (or any
/// other non-object value) becomes its compact JSON text again; directories stay objects.
fn text_leaves(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut leaves = Map::new();
            leaves.extend(
                map.iter()
                    .map(|(key, child)| (key.clone(), text_leaves(child))),
            );
            Value::Object(leaves)
        }
        Value::String(_) => value.clone(),
        other => Value::String(other.to_string()),
    }
}

/// `public-keys/N/openssh-key` (and the `public-keys/` listing naming them `N=name`) as the
/// original served them: one entry per listing line, `"N=name": "<openssh-key>"`.
fn original_public_keys(tree: &mut Map<String, Value>) {
    let Some(Value::Object(keys)) = tree.remove("public-keys") else {
        return;
    };
    let listing = tree.remove("public-keys/");
    let listing = listing.as_ref().and_then(Value::as_str).unwrap_or_default();
    let name_of = |index: &str| {
        listing
            .lines()
            .map(str::trim)
            .find(|line| line.split('=').next() == Some(index))
            .unwrap_or(index)
            .to_string()
    };
    let mut original = Map::new();
    original.extend(keys.iter().filter_map(|(index, dir)| {
        let key = dir.get("openssh-key")?.as_str()?;
        Some((name_of(index), Value::String(key.to_string())))
    }));
    tree.insert("public-keys".to_string(), Value::Object(original));
}

fn ec2_macs(system: &Value) -> Option<&Value> {
    let meta = system.get("meta-data").unwrap_or(system);
    EC2_MACS.iter().try_fold(meta, |v, key| v.get(key))
}

fn mac_matches(text: Option<&str>, mac: Mac) -> bool {
    text.and_then(|t| t.parse::<Mac>().ok()) == Some(mac)
}

/// The metadata entry of the NIC with `mac`, in the provider's own shape.
pub fn nic_document(kind: ProviderKind, system: &Value, mac: Mac) -> Option<Value> {
    let find_in = |list: Option<&Value>, key: &str| {
        list.and_then(Value::as_array)?
            .iter()
            .find(|nic| mac_matches(nic.get(key).and_then(Value::as_str), mac))
            .cloned()
    };
    match kind {
        ProviderKind::Azure => find_in(
            system.get("network").and_then(|n| n.get("interface")),
            "macAddress",
        ),
        ProviderKind::Gcp => {
            let instance = system.get("instance").unwrap_or(system);
            find_in(instance.get("networkInterfaces"), "mac")
        }
        ProviderKind::Aws | ProviderKind::Alibaba => ec2_macs(system)?
            .as_object()?
            .iter()
            .find(|(key, _)| mac_matches(Some(key), mac))
            .map(|(_, doc)| doc.clone()),
        ProviderKind::Oracle => find_in(system.get("vnics"), "macAddr"),
        ProviderKind::DigitalOcean => {
            let interfaces = system.get("interfaces");
            ["public", "private"]
                .iter()
                .find_map(|list| find_in(interfaces.and_then(|i| i.get(list)), "mac"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mac(s: &str) -> Mac {
        s.parse().unwrap()
    }

    #[test]
    fn azure_views() {
        let doc = json!({"compute": {}, "network": {"interface": [
            {"macAddress": "000D3A047598", "ipv4": {}},
            {"macAddress": "220D3A047598", "ipv4": {"x": 1}}]}});
        assert_eq!(network_view(ProviderKind::Azure, &doc), doc);
        assert_eq!(
            nic_document(ProviderKind::Azure, &doc, mac("22:0d:3a:04:75:98")),
            Some(json!({"macAddress": "220D3A047598", "ipv4": {"x": 1}}))
        );
        assert_eq!(
            nic_document(ProviderKind::Azure, &doc, mac("02:00:00:00:00:01")),
            None
        );
    }

    #[test]
    fn gcp_views_accept_root_or_instance() {
        let nic = json!({"mac": "42:01:0a:80:00:13", "ip": "10.128.0.19"});
        let root = json!({"instance": {"networkInterfaces": [nic.clone()]}, "project": {}});
        assert_eq!(
            nic_document(ProviderKind::Gcp, &root, mac("42:01:0a:80:00:13")),
            Some(nic.clone())
        );
        let instance = json!({"networkInterfaces": [nic.clone()]});
        assert_eq!(
            nic_document(ProviderKind::Gcp, &instance, mac("42:01:0a:80:00:13")),
            Some(nic)
        );
    }

    #[test]
    fn ec2_views() {
        let macs = json!({"0a:07:84:3d:6e:38": {"device-number": "0"}});
        let tree = json!({"meta-data": {"instance-id": "i-1", "network": {"interfaces": {"macs": macs.clone()}}}});
        assert_eq!(network_view(ProviderKind::Aws, &tree), macs);
        assert_eq!(
            nic_document(ProviderKind::Aws, &tree, mac("0a:07:84:3d:6e:38")),
            Some(json!({"device-number": "0"}))
        );
        let bare = json!({"network": {"interfaces": {"macs": macs.clone()}}});
        assert_eq!(network_view(ProviderKind::Aws, &bare), macs);
    }

    #[test]
    fn oracle_views() {
        let vnics = json!([
            {"macAddr": "02:00:17:05:D1:DB", "privateIp": "10.0.0.230"},
            {"macAddr": "00:00:17:02:2B:B1", "privateIp": "10.0.0.231"}]);
        let doc = json!({"instance": {"id": "ocid1.instance.oc1.phx.x"}, "vnics": vnics.clone()});
        assert_eq!(network_view(ProviderKind::Oracle, &doc), vnics);
        assert_eq!(
            nic_document(ProviderKind::Oracle, &doc, mac("00:00:17:02:2b:b1")),
            Some(json!({"macAddr": "00:00:17:02:2B:B1", "privateIp": "10.0.0.231"}))
        );
        assert_eq!(
            nic_document(ProviderKind::Oracle, &doc, mac("02:00:00:00:00:01")),
            None
        );
        let no_vnics = json!({"instance": {}});
        assert_eq!(network_view(ProviderKind::Oracle, &no_vnics), Value::Null);
        assert_eq!(
            nic_document(ProviderKind::Oracle, &no_vnics, mac("00:00:17:02:2b:b1")),
            None
        );
    }

    #[test]
    fn alibaba_views() {
        let macs = json!({
            "00:16:3e:2a:51:01": {"private-ipv4s": ["172.16.20.10"]},
            "00:16:3e:2a:51:02": {"gateway": "172.16.20.253"}
        });
        let tree = json!({"meta-data": {"region-id": "cn-hangzhou", "network": {"interfaces": {"macs": macs.clone()}}}});
        assert_eq!(network_view(ProviderKind::Alibaba, &tree), macs);
        assert_eq!(
            nic_document(ProviderKind::Alibaba, &tree, mac("00:16:3E:2A:51:02")),
            Some(json!({"gateway": "172.16.20.253"}))
        );
        assert_eq!(
            nic_document(ProviderKind::Alibaba, &tree, mac("00:16:3e:2a:51:03")),
            None
        );
        assert_eq!(
            network_view(ProviderKind::Alibaba, &json!({"meta-data": {}})),
            Value::Null
        );
    }

    #[test]
    fn digitalocean_views() {
        let public = json!({"mac": "04:01:2A:0F:2A:01", "type": "public",
            "anchor_ipv4": {"ip_address": "10.17.0.5"}});
        let private = json!({"mac": "04:01:2a:0f:2a:02", "type": "private"});
        let doc = json!({"droplet_id": 1, "interfaces": {"public": [public.clone()],
            "private": [private.clone()]}, "reserved_ip": {"ipv4": {"active": true}}});
        let kind = ProviderKind::DigitalOcean;
        assert_eq!(network_view(kind, &doc), doc);
        assert_eq!(
            nic_document(kind, &doc, mac("04:01:2a:0f:2a:01")),
            Some(public)
        );
        assert_eq!(
            nic_document(kind, &doc, mac("04:01:2a:0f:2a:02")),
            Some(private)
        );
        assert_eq!(nic_document(kind, &doc, mac("04:01:2a:0f:2a:03")), None);
        assert_eq!(
            nic_document(kind, &json!({}), mac("04:01:2a:0f:2a:01")),
            None
        );
    }
}
