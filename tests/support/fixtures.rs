//! The shared fixtures of path-tree clouds (EC2, Alibaba): `tests/fixtures/<cloud>/<name>/
//! metadata.json`, a JSON map of path (relative to `/latest/`) to body.

use cloud_network::metadata::{Instance, Nic, ProviderKind};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `tests/fixtures/<cloud>`.
pub fn dir(cloud: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).join(cloud)
}

/// The names of a cloud's fixture directories, sorted.
pub fn names(cloud: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir(cloud))
        .expect("the fixture directory")
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .into_string()
                .expect("UTF-8")
        })
        .collect();
    names.sort();
    names
}

/// One fixture's path map.
pub fn path_tree(cloud: &str, name: &str) -> BTreeMap<String, String> {
    let path = dir(cloud).join(name).join("metadata.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// The model is exactly this: provider, instance id, location and every NIC.
pub fn assert_model(
    got: &Instance,
    provider: ProviderKind,
    (id, location): (&str, &str),
    nics: Vec<Nic>,
) {
    assert_eq!(got.provider, provider);
    assert_eq!(got.instance_id, id);
    assert_eq!(got.location, location);
    assert_eq!(got.nics, nics);
}

/// The error refusing the whole reply, or else that of its first unreadable NIC; empty when
/// every NIC was read.
pub fn first_error(parsed: Result<Instance, cloud_network::metadata::ParseError>) -> String {
    match parsed {
        Err(error) => error.to_string(),
        Ok(instance) => unreadable(&instance)
            .into_iter()
            .next()
            .map(|(_, error)| error)
            .unwrap_or_default(),
    }
}

/// Each NIC unknown this round, as (MAC, error).
pub fn unreadable(instance: &Instance) -> Vec<(String, String)> {
    instance
        .nics
        .iter()
        .filter_map(|n| Some((n.mac.to_string(), n.unreadable.clone()?)))
        .collect()
}
