//! The vocabulary every layer shares: the clouds we know (`ProviderKind`), MAC addresses, IP
//! networks (`Ipv4Net`, `Ipv6Net`, `IpNet`) and the prefix and netmask parsers. Values are
//! validated and normalized here, once: nothing past a parser ever sees a raw MAC or prefix
//! string. This module depends on nothing else of the crate.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// The clouds we configure. Detection may also recognise clouds we do not support yet; those
/// are reported by `detect` and never reach this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Azure,
    Aws,
    Gcp,
    /// Oracle Cloud Infrastructure (IMDS v2).
    Oracle,
    /// Alibaba Cloud ECS.
    Alibaba,
    #[serde(rename = "digitalocean")]
    DigitalOcean,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 6] = [
        ProviderKind::Azure,
        ProviderKind::Aws,
        ProviderKind::Gcp,
        ProviderKind::Oracle,
        ProviderKind::Alibaba,
        ProviderKind::DigitalOcean,
    ];

    /// The lowercase name used in the config file, the CLI and the API.
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::Azure => "azure",
            ProviderKind::Aws => "aws",
            ProviderKind::Gcp => "gcp",
            ProviderKind::Oracle => "oracle",
            ProviderKind::Alibaba => "alibaba",
            ProviderKind::DigitalOcean => "digitalocean",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ProviderKind {
    type Err = String;
    /// Accepts the names operators use: `aws` and `ec2` are the same cloud, `google` is GCP,
    /// `oci` is Oracle, `aliyun` is Alibaba, `do` is DigitalOcean.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "azure" => Ok(ProviderKind::Azure),
            "aws" | "ec2" => Ok(ProviderKind::Aws),
            "gcp" | "gce" | "google" => Ok(ProviderKind::Gcp),
            "oracle" | "oci" => Ok(ProviderKind::Oracle),
            "alibaba" | "aliyun" => Ok(ProviderKind::Alibaba),
            "digitalocean" | "do" => Ok(ProviderKind::DigitalOcean),
            other => Err(format!(
                "unknown provider '{other}' (expected azure, aws, gcp, oracle, alibaba or digitalocean)"
            )),
        }
    }
}

/// A value in the metadata that is not what it claims to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueError {
    Mac(String),
    Address(String),
    Prefix { value: String, max: u8 },
    Netmask(String),
    Vlan(String),
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueError::Mac(v) => write!(f, "invalid MAC address '{v}'"),
            ValueError::Address(v) => write!(f, "invalid IP address '{v}'"),
            ValueError::Prefix { value, max } => {
                write!(f, "invalid prefix length '{value}' (expected 0 to {max})")
            }
            ValueError::Netmask(v) => write!(f, "invalid netmask '{v}'"),
            ValueError::Vlan(v) => write!(f, "invalid VLAN id '{v}' (expected 1 to 4094)"),
        }
    }
}

impl std::error::Error for ValueError {}

/// An Ethernet MAC address. Parses every spelling the clouds use (`000D3A5D2D66`,
/// `00:0d:3a:5d:2d:66`, `00-0D-3A-5D-2D-66`) and always prints `aa:bb:cc:dd:ee:ff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl FromStr for Mac {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        let bad = || ValueError::Mac(s.to_string());
        let trimmed = s.trim();
        let hex: String = match trimmed.len() {
            12 => trimmed.to_string(),
            17 => {
                let sep = trimmed.as_bytes()[2];
                if sep != b':' && sep != b'-' {
                    return Err(bad());
                }
                let parts: Vec<&str> = trimmed.split(sep as char).collect();
                if parts.len() != 6 || parts.iter().any(|p| p.len() != 2) {
                    return Err(bad());
                }
                parts.concat()
            }
            _ => return Err(bad()),
        };
        let mut bytes = [0u8; 6];
        for (i, byte) in bytes.iter_mut().enumerate() {
            let pair = hex.get(2 * i..2 * i + 2).ok_or_else(bad)?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        Ok(Mac(bytes))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// Parses a prefix length given as a number string ("24"), checking it against the family.
pub fn parse_prefix(value: &str, max: u8) -> Result<u8, ValueError> {
    let err = || ValueError::Prefix {
        value: value.to_string(),
        max,
    };
    let prefix: u8 = value.trim().parse().map_err(|_| err())?;
    if prefix > max {
        return Err(err());
    }
    Ok(prefix)
}

/// Converts a dotted netmask ("255.255.240.0") to a prefix length; rejects non-contiguous masks.
pub fn netmask_to_prefix(mask: &str) -> Result<u8, ValueError> {
    let addr: Ipv4Addr = mask
        .trim()
        .parse()
        .map_err(|_| ValueError::Netmask(mask.to_string()))?;
    let bits = u32::from(addr);
    let prefix = bits.leading_ones();
    if bits.checked_shl(prefix).unwrap_or(0) != 0 {
        return Err(ValueError::Netmask(mask.to_string()));
    }
    Ok(prefix as u8)
}

pub fn parse_ipv4(value: &str) -> Result<Ipv4Addr, ValueError> {
    value
        .trim()
        .parse()
        .map_err(|_| ValueError::Address(value.to_string()))
}

pub fn parse_ipv6(value: &str) -> Result<Ipv6Addr, ValueError> {
    value
        .trim()
        .parse()
        .map_err(|_| ValueError::Address(value.to_string()))
}

/// An IPv4 interface address with its prefix length (host bits kept: `10.4.0.5/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Net {
    /// Panics only on a prefix above 32, which callers rule out by construction.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Self {
        assert!(prefix <= 32, "IPv4 prefix {prefix} > 32");
        Ipv4Net { addr, prefix }
    }

    pub fn host(addr: Ipv4Addr) -> Self {
        Ipv4Net { addr, prefix: 32 }
    }

    pub fn mask(&self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0)
    }

    /// The network this address lies in (`10.4.0.0/24` for `10.4.0.5/24`).
    pub fn network(&self) -> Ipv4Net {
        Ipv4Net::new(
            Ipv4Addr::from(u32::from(self.addr) & self.mask()),
            self.prefix,
        )
    }

    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & self.mask() == u32::from(self.addr) & self.mask()
    }

    /// The first host of the network: the gateway on Azure and EC2.
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from((u32::from(self.addr) & self.mask()).wrapping_add(1))
    }
}

impl FromStr for Ipv4Net {
    type Err = ValueError;
    /// `a.b.c.d/len`; a bare address means /32.
    fn from_str(s: &str) -> Result<Self, ValueError> {
        match s.trim().split_once('/') {
            Some((addr, prefix)) => Ok(Ipv4Net::new(parse_ipv4(addr)?, parse_prefix(prefix, 32)?)),
            None => Ok(Ipv4Net::host(parse_ipv4(s)?)),
        }
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An IPv6 interface address with its prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv6Net {
    pub addr: Ipv6Addr,
    pub prefix: u8,
}

impl Ipv6Net {
    /// Panics only on a prefix above 128, which callers rule out by construction.
    pub fn new(addr: Ipv6Addr, prefix: u8) -> Self {
        assert!(prefix <= 128, "IPv6 prefix {prefix} > 128");
        Ipv6Net { addr, prefix }
    }

    pub fn host(addr: Ipv6Addr) -> Self {
        Ipv6Net { addr, prefix: 128 }
    }

    pub fn mask(&self) -> u128 {
        u128::MAX
            .checked_shl(128 - u32::from(self.prefix))
            .unwrap_or(0)
    }

    pub fn network(&self) -> Ipv6Net {
        Ipv6Net::new(
            Ipv6Addr::from(u128::from(self.addr) & self.mask()),
            self.prefix,
        )
    }

    pub fn contains(&self, addr: Ipv6Addr) -> bool {
        u128::from(addr) & self.mask() == u128::from(self.addr) & self.mask()
    }
}

impl FromStr for Ipv6Net {
    type Err = ValueError;
    /// `addr/len`, compressed or not; a bare address means /128.
    fn from_str(s: &str) -> Result<Self, ValueError> {
        match s.trim().split_once('/') {
            Some((addr, prefix)) => Ok(Ipv6Net::new(parse_ipv6(addr)?, parse_prefix(prefix, 128)?)),
            None => Ok(Ipv6Net::host(parse_ipv6(s)?)),
        }
    }
}

impl fmt::Display for Ipv6Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Either family, for alias ranges and forwarded IPs that may be IPv4 or IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpNet {
    V4(Ipv4Net),
    V6(Ipv6Net),
}

impl IpNet {
    pub fn addr(&self) -> IpAddr {
        match self {
            IpNet::V4(n) => IpAddr::V4(n.addr),
            IpNet::V6(n) => IpAddr::V6(n.addr),
        }
    }

    pub fn prefix(&self) -> u8 {
        match self {
            IpNet::V4(n) => n.prefix,
            IpNet::V6(n) => n.prefix,
        }
    }
}

impl FromStr for IpNet {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        if s.contains(':') {
            Ok(IpNet::V6(s.parse()?))
        } else {
            Ok(IpNet::V4(s.parse()?))
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpNet::V4(n) => n.fmt(f),
            IpNet::V6(n) => n.fmt(f),
        }
    }
}

macro_rules! serialize_as_display {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )*};
}
serialize_as_display!(Mac, Ipv4Net, Ipv6Net, IpNet);

macro_rules! deserialize_from_str {
    ($($t:ty),*) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}
deserialize_from_str!(Mac, Ipv4Net, Ipv6Net, IpNet);

/// What OCI's metadata sends for a value it does not have: its parser and cnctl's OCI output
/// both read it as absent.
pub const OCI_NULL_TEXT: &str = "<null>";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_spellings_normalize() {
        for s in [
            "000D3A5D2D66",
            "00:0d:3a:5d:2d:66",
            "00-0D-3A-5D-2D-66",
            " 000d3a5d2d66\n",
        ] {
            assert_eq!(s.parse::<Mac>().unwrap().to_string(), "00:0d:3a:5d:2d:66");
        }
    }

    #[test]
    fn bad_macs_are_rejected() {
        for s in [
            "",
            "000D3A5D2D6",
            "00:0d:3a:5d:2d",
            "zz:0d:3a:5d:2d:66",
            "00:0d-3a:5d:2d:66",
            "000D3A5D2D6G",
        ] {
            assert_eq!(
                s.parse::<Mac>(),
                Err(ValueError::Mac(s.to_string())),
                "{s:?}"
            );
        }
    }

    #[test]
    fn prefixes_and_netmasks() {
        assert_eq!(parse_prefix("24", 32), Ok(24));
        assert!(parse_prefix("33", 32).is_err());
        assert!(parse_prefix("-1", 32).is_err());
        assert_eq!(parse_prefix("128", 128), Ok(128));
        assert_eq!(netmask_to_prefix("255.255.240.0"), Ok(20));
        assert_eq!(netmask_to_prefix("255.255.255.255"), Ok(32));
        assert_eq!(netmask_to_prefix("0.0.0.0"), Ok(0));
        assert!(netmask_to_prefix("255.0.255.0").is_err());
    }

    #[test]
    fn ipv4_net_arithmetic() {
        let net: Ipv4Net = "10.4.0.5/24".parse().unwrap();
        assert_eq!(net.network().to_string(), "10.4.0.0/24");
        assert_eq!(net.first_host(), Ipv4Addr::new(10, 4, 0, 1));
        assert!(net.contains(Ipv4Addr::new(10, 4, 0, 200)));
        assert!(!net.contains(Ipv4Addr::new(10, 4, 1, 1)));
        assert_eq!("10.0.0.9".parse::<Ipv4Net>().unwrap().prefix, 32);
        assert!("10.0.0.9/33".parse::<Ipv4Net>().is_err());
        assert_eq!("0.0.0.0/0".parse::<Ipv4Net>().unwrap().mask(), 0);
    }

    #[test]
    fn ipv6_net_uncompressed() {
        let net: Ipv6Net = "2600:1f16:67f:f201:0:0:0:0/64".parse().unwrap();
        assert_eq!(net.to_string(), "2600:1f16:67f:f201::/64");
        assert!(net.contains("2600:1f16:67f:f201::1234".parse().unwrap()));
        assert!("::1/129".parse::<Ipv6Net>().is_err());
    }
}
