//! Cloud detection from DMI (`/sys/class/dmi/id/*`) and `/sys/hypervisor/uuid`, with the
//! original project's rules plus the Nitro-era EC2 vendor string. The sysfs root is a parameter
//! so tests can point it at a fake tree.

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

/// Recognises the cloud from the DMI tree below `root` (normally `/sys`).
pub fn detect_cloud(root: &Path) -> Option<ProviderKind> {
    let dmi = |name: &str| read(root, &format!("class/dmi/id/{name}"));
    let vendor = dmi("sys_vendor");
    let product_name = dmi("product_name");
    let asset_tag = dmi("chassis_asset_tag");
    let starts_ec2 = |s: &str| s.to_ascii_lowercase().starts_with("ec2");

    if vendor.contains("Microsoft Corporation")
        || asset_tag.contains("7783-7084-3265-9085-8269-3286-77")
    {
        Some(ProviderKind::Azure)
    } else if starts_ec2(&read(root, "hypervisor/uuid"))
        || starts_ec2(&dmi("product_uuid"))
        || dmi("product_version").contains("amazon")
        || vendor.contains("Amazon EC2")
    {
        Some(ProviderKind::Aws)
    } else if product_name.contains("Google Compute Engine") || vendor == "Google" {
        Some(ProviderKind::Gcp)
    } else if product_name.contains("Alibaba Cloud") {
        Some(ProviderKind::Alibaba)
    } else if asset_tag.contains("OracleCloud") {
        Some(ProviderKind::Oracle)
    } else if vendor.contains("DigitalOcean") {
        Some(ProviderKind::DigitalOcean)
    } else {
        None
    }
}

/// The provider to use on this machine, or why there is none.
pub fn detect_provider(root: &Path) -> Result<ProviderKind, DetectError> {
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
    fn every_recognised_cloud_is_a_provider() {
        let sys = FakeSys::new(&[("class/dmi/id/chassis_asset_tag", "OracleCloud.com")]);
        assert_eq!(detect_provider(&sys.0), Ok(ProviderKind::Oracle));
        let none = FakeSys::new(&[]);
        assert_eq!(detect_provider(&none.0), Err(DetectError::Unknown));
    }
}
