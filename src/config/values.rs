//! Validation of each config value, from its text to its typed form. Every check returns the
//! reason shown after "invalid value ... for [Section] Key:" when it fails.

use super::duration::parse_duration;
use crate::net::ProviderKind;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

/// The provider setting: detect from DMI, or a fixed cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProviderChoice {
    #[default]
    Auto,
    Fixed(ProviderKind),
}

impl std::fmt::Display for ProviderChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProviderChoice::Auto => f.write_str("auto"),
            ProviderChoice::Fixed(kind) => write!(f, "{kind}"),
        }
    }
}

pub(super) const MIN_REFRESH: Duration = Duration::from_secs(1);
pub(super) const MAX_REFRESH: Duration = Duration::from_secs(24 * 3600);
pub(super) const ROUTE_TABLE_BASE_RANGE: (u32, u32) = (256, 4_000_000_000);
pub(super) const RULE_PRIORITY_BASE_RANGE: (u32, u32) = (1601, 30_000);
/// Interface groups are 32-bit; 0 is the default group every link starts in.
pub(super) const INTERFACE_GROUP_RANGE: (u32, u32) = (1, i32::MAX as u32);
/// Linux's IFNAMSIZ is 16 including the terminating NUL.
const MAX_IFNAME_BYTES: usize = 15;

pub(super) fn refresh_timer(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)
        .map_err(|_| "expected a duration such as 300s, 5m or 1h30m".to_string())?;
    if duration < MIN_REFRESH {
        return Err("must be at least 1s".to_string());
    }
    if duration > MAX_REFRESH {
        return Err("must be at most 24h".to_string());
    }
    Ok(duration)
}

pub(super) fn provider(text: &str) -> Result<ProviderChoice, String> {
    let expected = || "expected auto, azure, aws, gcp, oracle, alibaba or digitalocean".to_string();
    if text.eq_ignore_ascii_case("auto") {
        return Ok(ProviderChoice::Auto);
    }
    text.parse::<ProviderKind>()
        .map(ProviderChoice::Fixed)
        .map_err(|_| expected())
}

/// `http://host[:port][/path]`, returned without trailing slashes; empty means the default.
pub(super) fn metadata_endpoint(text: &str) -> Result<Option<String>, String> {
    let expected = || "expected http://host[:port][/path]".to_string();
    if text.is_empty() {
        return Ok(None);
    }
    if has_scheme(text, "https://") {
        return Err("TLS is not supported: metadata services are plain HTTP".to_string());
    }
    if !has_scheme(text, "http://") {
        return Err(expected());
    }
    let rest = &text["http://".len()..];
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if !valid_authority(authority) || !valid_path(path) {
        return Err(expected());
    }
    let trimmed = format!("http://{authority}{}", path.trim_end_matches('/'));
    Ok(Some(trimmed))
}

fn has_scheme(text: &str, scheme: &str) -> bool {
    text.len() >= scheme.len() && text[..scheme.len()].eq_ignore_ascii_case(scheme)
}

fn valid_authority(authority: &str) -> bool {
    let Some((host, port)) = split_host_port(authority) else {
        return false;
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n != 0));
    port_ok && valid_host(host)
}

/// Splits `host:port` or `[v6]:port`; the port is None when absent, the whole is None when
/// something follows a `]` that is not a port.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if let Some(end) = authority.find(']') {
        let (host, after) = authority.split_at(end + 1);
        if after.is_empty() {
            return Some((host, None));
        }
        return after.strip_prefix(':').map(|port| (host, Some(port)));
    }
    Some(match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

fn valid_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

fn valid_path(path: &str) -> bool {
    !path
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
}

pub(super) fn state_dir(text: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    if !path.is_absolute() {
        return Err("must be an absolute path".to_string());
    }
    Ok(path)
}

/// `ip:port`, `[v6]:port` or `localhost:port` (127.0.0.1); port 0 is refused.
pub(super) fn listen(text: &str) -> Result<SocketAddr, String> {
    let expected = || "expected ip:port such as 127.0.0.1:5209 or [::1]:5209".to_string();
    let addr = match text.parse::<SocketAddr>() {
        Ok(addr) => addr,
        Err(_) => localhost(text).ok_or_else(expected)?,
    };
    if addr.port() == 0 {
        return Err("port 0 is not allowed: the API needs a fixed port".to_string());
    }
    Ok(addr)
}

fn localhost(text: &str) -> Option<SocketAddr> {
    let (host, port) = text.rsplit_once(':')?;
    if !host.eq_ignore_ascii_case("localhost") {
        return None;
    }
    let port = port.parse::<u16>().ok()?;
    Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)))
}

/// Interface names, each as the kernel accepts it (1 to 15 bytes, no '/', ':' or whitespace,
/// not "." or "..").
pub(super) fn supplementary<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<String>, String> {
    names
        .into_iter()
        .map(|name| {
            if valid_ifname(name) {
                Ok(name.to_string())
            } else {
                Err(format!(
                    "'{name}' is not an interface name (1 to 15 bytes, no '/', ':' or \
                     whitespace, not '.' or '..')"
                ))
            }
        })
        .collect()
}

fn valid_ifname(name: &str) -> bool {
    (1..=MAX_IFNAME_BYTES).contains(&name.len())
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace())
}

/// An integer within `range`, from a TOML integer or a string of digits.
pub(super) fn bounded(text: &str, (min, max): (u32, u32)) -> Result<u32, String> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("expected an integer from {min} to {max}"))
}

/// The MTUs `[Network] MTU` takes: those the sanity gate lets the metadata give, IPv6's minimum
/// to the largest jumbo frame clouds carry.
pub(super) const MTU_RANGE: (u32, u32) =
    (crate::plan::sanity::MTU_MIN, crate::plan::sanity::MTU_MAX);

/// `[Network] MTU`: an integer in [`MTU_RANGE`], or empty for the cloud's default.
pub(super) fn mtu(text: &str) -> Result<Option<u32>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    bounded(text, MTU_RANGE)
        .map(Some)
        .map_err(|e| format!("{e}, or empty for the cloud's default"))
}

pub(super) fn boolean(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err("expected true or false".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_authorities() {
        assert!(valid_authority("169.254.169.254"));
        assert!(valid_authority("127.0.0.1:8080"));
        assert!(valid_authority("[::1]:80"));
        assert!(valid_authority("[fd00:ec2::254]"));
        assert!(valid_authority("metadata.google.internal"));
        assert!(!valid_authority("[::1]80"));
        assert!(!valid_authority("host:0"));
        assert!(!valid_authority("host:65536"));
        assert!(!valid_authority("user@host"));
        assert!(!valid_authority(""));
        assert!(!valid_authority("[nothex]"));
    }

    #[test]
    fn interface_name_limits() {
        assert!(valid_ifname("eth1"));
        assert!(valid_ifname("enp0s31f6.4000"));
        assert!(valid_ifname("a23456789012345"));
        assert!(!valid_ifname("a234567890123456"));
        assert!(!valid_ifname(""));
        assert!(!valid_ifname(".."));
        assert!(!valid_ifname("eth0:1"));
    }
}
