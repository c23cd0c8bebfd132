//! The state files other tools read, as the original project wrote them: `system` (the
//! provider's document), `links/<ifindex>` (each configured NIC's metadata entry) and, on EC2,
//! `provider/ec2/{document,pkcs7,signature,rsa2048,credentials}` (credentials 0600, always a
//! new file, never one that was there). A file is rewritten only when its content changed,
//! always atomically and through the state directory's descriptor (`StateDir::write`), and
//! not fsynced: every file here is fetched and written again at start.

use crate::metadata::views;
use crate::net::{Mac, ProviderKind};
use crate::snapshot::Ec2Documents;
use crate::state::{Durability, StateDir, StateError};
use serde_json::Value;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};

const PUBLIC: u32 = 0o644;
const SECRET: u32 = 0o600;

pub(crate) struct StateFiles {
    dir: StateDir,
    /// Hash of what each file holds (by its path in the state dir), as last written by us.
    written: HashMap<String, u64>,
    /// The `links/<ifindex>` files we wrote, so files of vanished links can be removed.
    link_files: BTreeSet<u32>,
}

fn digest(bytes: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}

fn pretty(value: &Value) -> Vec<u8> {
    let mut text = serde_json::to_vec_pretty(value).unwrap_or_default();
    text.push(b'\n');
    text
}

impl StateFiles {
    pub(crate) fn new(dir: StateDir) -> StateFiles {
        StateFiles {
            dir,
            written: HashMap::new(),
            link_files: BTreeSet::new(),
        }
    }

    /// Writes `relative` when its content differs from what we last wrote there.
    fn write(&mut self, relative: &str, contents: &[u8], mode: u32) -> Result<(), StateError> {
        let hash = digest(contents);
        if self.written.get(relative) == Some(&hash) {
            return Ok(());
        }
        self.dir
            .write(relative, contents, mode, Durability::Atomic)?;
        self.written.insert(relative.to_string(), hash);
        Ok(())
    }

    pub(crate) fn write_system(&mut self, system: &Value) -> Result<(), StateError> {
        self.write("system", &pretty(system), PUBLIC)
    }

    /// One file per configured NIC, named by its link's ifindex; files of links that are gone
    /// are removed.
    pub(crate) fn write_links(
        &mut self,
        kind: ProviderKind,
        system: &Value,
        links: &[(u32, Mac)],
    ) -> Result<(), StateError> {
        let mut result = Ok(());
        let mut present = BTreeSet::new();
        for (ifindex, mac) in links {
            let Some(doc) = views::nic_document(kind, system, *mac) else {
                continue;
            };
            present.insert(*ifindex);
            if let Err(e) = self.write(&format!("links/{ifindex}"), &pretty(&doc), PUBLIC) {
                result = Err(e);
            }
        }
        for gone in self.link_files.difference(&present) {
            let relative = format!("links/{gone}");
            let _ = self.dir.remove(&relative);
            self.written.remove(&relative);
        }
        self.link_files = present;
        result
    }

    pub(crate) fn write_ec2(&mut self, docs: &Ec2Documents) -> Result<(), StateError> {
        if let Some(document) = &docs.document {
            self.write("provider/ec2/document", &pretty(document), PUBLIC)?;
        }
        let texts = [
            ("pkcs7", &docs.pkcs7),
            ("signature", &docs.signature),
            ("rsa2048", &docs.rsa2048),
        ];
        for (name, text) in texts {
            if let Some(text) = text {
                self.write(&format!("provider/ec2/{name}"), text.as_bytes(), PUBLIC)?;
            }
        }
        if let Some(credentials) = &docs.credentials {
            self.write("provider/ec2/credentials", &pretty(credentials), SECRET)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::test_dir::TempDir;
    use crate::state::Trusted;
    use serde_json::json;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn temp(tag: &str) -> TempDir {
        TempDir::new(&format!("files-{tag}"))
    }

    fn files(dir: &TempDir) -> StateFiles {
        StateFiles::new(StateDir::create(dir.path(), Trusted::default()).unwrap())
    }

    #[test]
    fn unchanged_content_is_not_rewritten() {
        let dir = temp("same");
        let mut files = files(&dir);
        files.write_system(&json!({"a": 1})).unwrap();
        let first = fs::metadata(dir.path().join("system")).unwrap().ino();
        files.write_system(&json!({"a": 1})).unwrap();
        assert_eq!(
            fs::metadata(dir.path().join("system")).unwrap().ino(),
            first
        );
        files.write_system(&json!({"a": 2})).unwrap();
        assert_ne!(
            fs::metadata(dir.path().join("system")).unwrap().ino(),
            first
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("system")).unwrap(),
            "{\n  \"a\": 2\n}\n"
        );
    }

    #[test]
    fn link_files_follow_the_links() {
        let dir = temp("links");
        let mut files = files(&dir);
        let system = json!({"network": {"interface": [
            {"macAddress": "000D3A000001"}, {"macAddress": "000D3A000002"}]}});
        let a: Mac = "00:0d:3a:00:00:01".parse().unwrap();
        let b: Mac = "00:0d:3a:00:00:02".parse().unwrap();
        files
            .write_links(ProviderKind::Azure, &system, &[(2, a), (3, b)])
            .unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("links/3")).unwrap(),
            "{\n  \"macAddress\": \"000D3A000002\"\n}\n"
        );
        files
            .write_links(ProviderKind::Azure, &system, &[(2, a)])
            .unwrap();
        assert!(dir.path().join("links/2").exists());
        assert!(
            !dir.path().join("links/3").exists(),
            "file of a vanished link removed"
        );
    }

    #[test]
    fn ec2_credentials_are_private() {
        let dir = temp("ec2");
        let mut files = files(&dir);
        let docs = Ec2Documents {
            document: Some(json!({"instanceId": "i-1"})),
            pkcs7: Some("MIAG".into()),
            signature: None,
            rsa2048: None,
            credentials: Some(json!({"AccessKeyId": "AKIA"})),
        };
        files.write_ec2(&docs).unwrap();
        let mode = |name: &str| {
            fs::metadata(dir.path().join("provider/ec2").join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("credentials"), 0o600);
        assert_eq!(mode("document"), 0o644);
        assert_eq!(
            fs::read_to_string(dir.path().join("provider/ec2/pkcs7")).unwrap(),
            "MIAG"
        );
        assert!(!dir.path().join("provider/ec2/signature").exists());
    }
}
