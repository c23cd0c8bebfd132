//! Cloud detection from DMI (`/sys/class/dmi/id/*`) and `/sys/hypervisor/uuid`, with the
//! original project's rules plus the Nitro-era EC2 vendor string. The sysfs root is a parameter
//! so tests can point it at a fake tree.

use crate::metadata::ProviderKind;
use std::fmt;
use std::fs;
use std::path::Path;

/// A cloud we can recognise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    Supported(ProviderKind),
    Alibaba,
    Oracle,
    DigitalOcean,
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cloud::Supported(kind) => kind.fmt(f),
            Cloud::Alibaba => f.write_str("alibaba"),
            Cloud::Oracle => f.write_str("oracle"),
            Cloud::DigitalOcean => f.write_str("digitalocean"),
        }
    }
}

/// Why no provider could be chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetectError {
    /// Recognised, but not configurable yet.
    NotSupported(Cloud),
    /// Nothing in DMI says which cloud this is.
    Unknown,
}

impl fmt::Display for DetectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DetectError::NotSupported(cloud) => write!(
                f,
                "this machine runs on {cloud}, which cloud-network does not support yet \
                 (supported: azure, aws, gcp)"
            ),
            DetectError::Unknown => f.write_str(
                "could not detect the cloud from /sys/class/dmi/id or /sys/hypervisor/uuid; \
                 set [System] Provider= to azure, aws or gcp",
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
pub fn detect_cloud(root: &Path) -> Option<Cloud> {
    let dmi = |name: &str| read(root, &format!("class/dmi/id/{name}"));
    let vendor = dmi("sys_vendor");
    let product_name = dmi("product_name");
    let asset_tag = dmi("chassis_asset_tag");
    let starts_ec2 = |s: &str| s.to_ascii_lowercase().starts_with("ec2");

    if vendor.contains("Microsoft Corporation")
        || asset_tag.contains("7783-7084-3265-9085-8269-3286-77")
    {
        Some(Cloud::Supported(ProviderKind::Azure))
    } else if starts_ec2(&read(root, "hypervisor/uuid"))
        || starts_ec2(&dmi("product_uuid"))
        || dmi("product_version").contains("amazon")
        || vendor.contains("Amazon EC2")
    {
        Some(Cloud::Supported(ProviderKind::Aws))
    } else if product_name.contains("Google Compute Engine") || vendor == "Google" {
        Some(Cloud::Supported(ProviderKind::Gcp))
    } else if product_name.contains("Alibaba Cloud") {
        Some(Cloud::Alibaba)
    } else if asset_tag.contains("OracleCloud") {
        Some(Cloud::Oracle)
    } else if vendor.contains("DigitalOcean") {
        Some(Cloud::DigitalOcean)
    } else {
        None
    }
}

/// The provider to use on this machine, or why there is none.
pub fn detect_provider(root: &Path) -> Result<ProviderKind, DetectError> {
    match detect_cloud(root) {
        Some(Cloud::Supported(kind)) => Ok(kind),
        Some(other) => Err(DetectError::NotSupported(other)),
        None => Err(DetectError::Unknown),
    }
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

    fn detect(files: Files) -> Option<Cloud> {
        detect_cloud(&FakeSys::new(files).0)
    }

    #[test]
    fn recognises_each_cloud() {
        use ProviderKind::*;
        let cases: [(Files, Option<Cloud>); 10] = [
            (
                &[("class/dmi/id/sys_vendor", "Microsoft Corporation")],
                Some(Cloud::Supported(Azure)),
            ),
            (
                &[(
                    "class/dmi/id/chassis_asset_tag",
                    "7783-7084-3265-9085-8269-3286-77",
                )],
                Some(Cloud::Supported(Azure)),
            ),
            (
                &[("hypervisor/uuid", "ec2e1916-9099-7caf-fd21-012345abcdef")],
                Some(Cloud::Supported(Aws)),
            ),
            (
                &[(
                    "class/dmi/id/product_uuid",
                    "EC2E1916-9099-7CAF-FD21-012345ABCDEF",
                )],
                Some(Cloud::Supported(Aws)),
            ),
            (
                &[("class/dmi/id/product_version", "4.11.amazon")],
                Some(Cloud::Supported(Aws)),
            ),
            (
                &[("class/dmi/id/sys_vendor", "Amazon EC2")],
                Some(Cloud::Supported(Aws)),
            ),
            (
                &[("class/dmi/id/product_name", "Google Compute Engine")],
                Some(Cloud::Supported(Gcp)),
            ),
            (
                &[("class/dmi/id/product_name", "Alibaba Cloud ECS")],
                Some(Cloud::Alibaba),
            ),
            (
                &[("class/dmi/id/chassis_asset_tag", "OracleCloud.com")],
                Some(Cloud::Oracle),
            ),
            (
                &[("class/dmi/id/sys_vendor", "DigitalOcean")],
                Some(Cloud::DigitalOcean),
            ),
        ];
        for (files, expected) in cases {
            assert_eq!(detect(files), expected, "{files:?}");
        }
        assert_eq!(detect(&[("class/dmi/id/sys_vendor", "QEMU")]), None);
        assert_eq!(detect(&[]), None);
    }

    #[test]
    fn unsupported_clouds_say_so() {
        let sys = FakeSys::new(&[("class/dmi/id/chassis_asset_tag", "OracleCloud.com")]);
        let err = detect_provider(&sys.0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "this machine runs on oracle, which cloud-network does not support yet (supported: azure, aws, gcp)"
        );
        let none = FakeSys::new(&[]);
        assert_eq!(detect_provider(&none.0), Err(DetectError::Unknown));
    }
}
