//! Provider-native views cut out of the system document, as the original project served them:
//! the system view (`/api/cloud/system`), the network view (`/api/cloud/network`) and one NIC's
//! document (`StateDir/links/<ifindex>`), each read from the cloud's profile; and the lookups
//! the profiles share to cut them. The whole document stays at `/api/v1/system`.

use super::profile::View;
use super::{Mac, ProviderKind};
use serde_json::Value;
use std::sync::Arc;

/// The per-MAC directory inside EC2's and Alibaba's meta-data trees.
const EC2_MACS: [&str; 3] = ["network", "interfaces", "macs"];

/// The NICs' part of the system document (each cloud's `Profile::network_view`): Azure, GCP
/// and DigitalOcean serve their whole document (DigitalOcean's reserved IP sits beside
/// `interfaces`); EC2 (leaves as text) and Alibaba the per-MAC subtree, keyed by MAC; OCI its
/// VNIC list.
pub fn network_view(kind: ProviderKind, system: &Arc<Value>) -> Arc<Value> {
    kind.profile().network_view.of(system)
}

/// What `/api/cloud/system` serves (each cloud's `Profile::system_view`): on EC2 the meta-data
/// tree in the original's shape (see the module comment), without `dynamic` (served at
/// `/api/cloud/dynamicinstanceidentity/*`); every other provider its whole document.
pub fn system_view(kind: ProviderKind, system: &Arc<Value>) -> Arc<Value> {
    kind.profile().system_view.of(system)
}

/// True when `kind`'s system view is the whole document (every provider but EC2).
pub fn system_view_is_whole(kind: ProviderKind) -> bool {
    matches!(kind.profile().system_view, View::Whole)
}

/// The metadata entry of the NIC with `mac`, in the provider's own shape (each cloud's
/// `Profile::nic_document`).
pub fn nic_document(kind: ProviderKind, system: &Value, mac: Mac) -> Option<Value> {
    (kind.profile().nic_document)(system, mac)
}

/// The per-MAC directory of a meta-data tree (EC2, Alibaba), under `meta-data` or at the root.
pub(crate) fn ec2_macs(system: &Value) -> Option<&Value> {
    let meta = system.get("meta-data").unwrap_or(system);
    EC2_MACS.iter().try_fold(meta, |v, key| v.get(key))
}

/// The entry of a per-MAC directory (EC2, Alibaba) whose key is `mac`.
pub(crate) fn ec2_nic(system: &Value, mac: Mac) -> Option<Value> {
    ec2_macs(system)?
        .as_object()?
        .iter()
        .find(|(key, _)| mac_matches(Some(key), mac))
        .map(|(_, doc)| doc.clone())
}

/// The entry of the array `list` whose text field `key` is `mac`.
pub(crate) fn find_nic(list: Option<&Value>, key: &str, mac: Mac) -> Option<Value> {
    list.and_then(Value::as_array)?
        .iter()
        .find(|nic| mac_matches(nic.get(key).and_then(Value::as_str), mac))
        .cloned()
}

fn mac_matches(text: Option<&str>, mac: Mac) -> bool {
    text.and_then(|t| t.parse::<Mac>().ok()) == Some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mac(s: &str) -> Mac {
        s.parse().unwrap()
    }

    /// `kind`'s network view of `doc`, as a plain value.
    fn network(kind: ProviderKind, doc: &Value) -> Value {
        Value::clone(&network_view(kind, &Arc::new(doc.clone())))
    }

    #[test]
    fn azure_views() {
        let doc = json!({"compute": {}, "network": {"interface": [
            {"macAddress": "000D3A047598", "ipv4": {}},
            {"macAddress": "220D3A047598", "ipv4": {"x": 1}}]}});
        assert_eq!(network(ProviderKind::Azure, &doc), doc);
        let shared = Arc::new(doc.clone());
        assert!(Arc::ptr_eq(
            &network_view(ProviderKind::Azure, &shared),
            &shared
        ));
        assert!(Arc::ptr_eq(
            &system_view(ProviderKind::Azure, &shared),
            &shared
        ));
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
        assert_eq!(network(ProviderKind::Aws, &tree), macs);
        assert_eq!(
            nic_document(ProviderKind::Aws, &tree, mac("0a:07:84:3d:6e:38")),
            Some(json!({"device-number": "0"}))
        );
        let bare = json!({"network": {"interfaces": {"macs": macs.clone()}}});
        assert_eq!(network(ProviderKind::Aws, &bare), macs);
    }

    #[test]
    fn oracle_views() {
        let vnics = json!([
            {"macAddr": "02:00:17:05:D1:DB", "privateIp": "10.0.0.230"},
            {"macAddr": "00:00:17:02:2B:B1", "privateIp": "10.0.0.231"}]);
        let doc = json!({"instance": {"id": "ocid1.instance.oc1.phx.x"}, "vnics": vnics.clone()});
        assert_eq!(network(ProviderKind::Oracle, &doc), vnics);
        assert_eq!(
            nic_document(ProviderKind::Oracle, &doc, mac("00:00:17:02:2b:b1")),
            Some(json!({"macAddr": "00:00:17:02:2B:B1", "privateIp": "10.0.0.231"}))
        );
        assert_eq!(
            nic_document(ProviderKind::Oracle, &doc, mac("02:00:00:00:00:01")),
            None
        );
        let no_vnics = json!({"instance": {}});
        assert_eq!(network(ProviderKind::Oracle, &no_vnics), Value::Null);
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
        assert_eq!(network(ProviderKind::Alibaba, &tree), macs);
        assert_eq!(
            nic_document(ProviderKind::Alibaba, &tree, mac("00:16:3E:2A:51:02")),
            Some(json!({"gateway": "172.16.20.253"}))
        );
        assert_eq!(
            nic_document(ProviderKind::Alibaba, &tree, mac("00:16:3e:2a:51:03")),
            None
        );
        assert_eq!(
            network(ProviderKind::Alibaba, &json!({"meta-data": {}})),
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
        assert_eq!(network(kind, &doc), doc);
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
