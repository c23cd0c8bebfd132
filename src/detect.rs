//! Cloud detection from DMI (`/sys/class/dmi/id/*`) and `/sys/hypervisor/uuid`: reads them
//! once and tries each cloud's signature (its profile's `recognises`: the original project's
//! rules plus the Nitro-era EC2 vendor string) in the original's order. The sysfs root is a
//! parameter so tests can point it at a fake tree.

use crate::metadata::profile::Dmi;
use crate::metadata::ProviderKind;
use std::fmt;
use std::fs;
use std::path::Path;

/// Why no provider could be chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetectError {
    /// Nothing in DMI says which cloud this is.
    Unknown,
}

impl fmt::Display for DetectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DetectError::Unknown => f.write_str(
                "could not detect the cloud from /sys/class/dmi/id or /sys/hypervisor/uuid; \
                 set [System] Provider= to azure, aws, gcp, oracle, alibaba or digitalocean",
            ),
        }
    }
}

impl std::error::Error for DetectError {}

/// Reads one sysfs attribute below `root`; a missing or unreadable file reads as empty.
fn read(root: &Path, relative: &str) -> String {
    fs::read_to_string(root.join(relative))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The DMI attributes below `root` (normally `/sys`).
fn read_dmi(root: &Path) -> Dmi {
    let dmi = |name: &str| read(root, &format!("class/dmi/id/{name}"));
    Dmi {
        sys_vendor: dmi("sys_vendor"),
        product_name: dmi("product_name"),
        product_version: dmi("product_version"),
        product_uuid: dmi("product_uuid"),
        chassis_asset_tag: dmi("chassis_asset_tag"),
        hypervisor_uuid: read(root, "hypervisor/uuid"),
    }
}

/// The order the clouds' signatures (`Profile::recognises`) are tried in, the original
/// project's: a DMI tree two of them matched would be the first one's.
const ORDER: [ProviderKind; 6] = [
    ProviderKind::Azure,
    ProviderKind::Aws,
    ProviderKind::Gcp,
    ProviderKind::Alibaba,
    ProviderKind::Oracle,
    ProviderKind::DigitalOcean,
];

/// Recognises the cloud from the DMI tree below `root` (normally `/sys`).
fn detect_cloud(root: &Path) -> Option<ProviderKind> {
    let dmi = read_dmi(root);
    ORDER
        .into_iter()
        .find(|kind| (kind.profile().recognises)(&dmi))
}

/// The provider to use on this machine, or why there is none.
pub(crate) fn detect_provider(root: &Path) -> Result<ProviderKind, DetectError> {
    detect_cloud(root).ok_or(DetectError::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    struct FakeSys(PathBuf);

    impl FakeSys {
        fn new(files: &[(&str, &str)]) -> FakeSys {
            static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let root = std::env::temp_dir().join(format!("cn-sys-{}-{n}", std::process::id()));
            for (path, content) in files {
                let file = root.join(path);
                fs::create_dir_all(file.parent().unwrap()).unwrap();
                fs::write(file, format!("{content}\n")).unwrap();
            }
            fs::create_dir_all(&root).unwrap();
            FakeSys(root)
        }
    }

    impl Drop for FakeSys {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    type Files<'a> = &'a [(&'a str, &'a str)];

    fn detect(files: Files) -> Option<ProviderKind> {
        detect_cloud(&FakeSys::new(files).0)
    }

    #[test]
    fn recognises_each_cloud() {
        use ProviderKind::*;
        let cases: [(Files, Option<ProviderKind>); 10] = [
            (
                &[("class/dmi/id/sys_vendor", "Microsoft Corporation")],
                Some(Azure),
            ),
            (
                &[(
                    "class/dmi/id/chassis_asset_tag",
                    "7783-7084-3265-9085-8269-3286-77",
                )],
                Some(Azure),
            ),
            (
                &[("hypervisor/uuid", "ec2e1916-9099-7caf-fd21-012345abcdef")],
                Some(Aws),
            ),
            (
                &[(
                    "class/dmi/id/product_uuid",
                    "EC2E1916-9099-7CAF-FD21-012345ABCDEF",
                )],
                Some(Aws),
            ),
            (
                &[("class/dmi/id/product_version", "4.11.amazon")],
                Some(Aws),
            ),
            (&[("class/dmi/id/sys_vendor", "Amazon EC2")], Some(Aws)),
            (
                &[("class/dmi/id/product_name", "Google Compute Engine")],
                Some(Gcp),
            ),
            (
                &[("class/dmi/id/product_name", "Alibaba Cloud ECS")],
                Some(Alibaba),
            ),
            (
                &[("class/dmi/id/chassis_asset_tag", "OracleCloud.com")],
                Some(ProviderKind::Oracle),
            ),
            (
                &[("class/dmi/id/sys_vendor", "DigitalOcean")],
                Some(ProviderKind::DigitalOcean),
            ),
        ];
        for (files, expected) in cases {
            assert_eq!(detect(files), expected, "{files:?}");
        }
        assert_eq!(detect(&[("class/dmi/id/sys_vendor", "QEMU")]), None);
        assert_eq!(detect(&[]), None);
    }

    #[test]
    fn every_cloud_is_tried_once() {
        for kind in ProviderKind::ALL {
            assert_eq!(ORDER.iter().filter(|k| **k == kind).count(), 1, "{kind}");
        }
    }

    #[test]
    fn every_recognised_cloud_is_a_provider() {
        let sys = FakeSys::new(&[("class/dmi/id/chassis_asset_tag", "OracleCloud.com")]);
        assert_eq!(detect_provider(&sys.0), Ok(ProviderKind::Oracle));
        let none = FakeSys::new(&[]);
        assert_eq!(detect_provider(&none.0), Err(DetectError::Unknown));
    }
}
