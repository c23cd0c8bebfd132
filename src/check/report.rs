//! The check's report, as `GET /api/v1/check` serves it and `cnctl check` reads and prints
//! it: every line with the path the kernel would send its replies by, or why it fails. Plain
//! data with its text form; nothing here reads the kernel.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// The kernel's main and local routing tables (linux/rtnetlink.h), named in the text.
const TABLE_MAIN: u32 = libc::RT_TABLE_MAIN as u32;
const TABLE_LOCAL: u32 = libc::RT_TABLE_LOCAL as u32;

/// The whole answer: every line, and whether all of them passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub ok: bool,
    /// The destinations asked about, IPv4 then IPv6.
    pub targets: Vec<IpAddr>,
    pub lines: Vec<Line>,
}

/// One address, prefix or the metadata service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// `10.4.0.5`, `10.4.1.0/28`, or `metadata 169.254.169.254`.
    pub subject: String,
    /// The link that should carry its replies.
    pub link: String,
    pub ok: bool,
    /// Where the kernel would send its replies; None when it has no route at all.
    pub via: Option<Path>,
    /// Why it fails; None when it passes.
    pub reason: Option<String>,
}

/// The kernel's answer, named: link, gateway, table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Path {
    pub dev: String,
    pub gateway: Option<IpAddr>,
    pub table: u32,
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(gateway) = self.gateway {
            write!(f, "via {gateway} ")?;
        }
        write!(f, "dev {} table {}", self.dev, table_name(self.table))
    }
}

impl fmt::Display for Line {
    /// `✓ 10.4.0.5 (eth1): via 10.4.0.1 dev eth1 table 10001`, or `✗ ...: <reason>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = if self.ok { '✓' } else { '✗' };
        write!(f, "{mark} {} ({}): ", self.subject, self.link)?;
        match (&self.reason, &self.via) {
            (Some(reason), Some(via)) => write!(f, "{reason} (replies: {via})"),
            (Some(reason), None) => f.write_str(reason),
            (None, Some(via)) => via.fmt(f),
            (None, None) => f.write_str("no route"),
        }
    }
}

/// A routing table as `ip` names it: `main`, `local`, or its number.
pub(crate) fn table_name(table: u32) -> String {
    match table {
        TABLE_MAIN => "main".to_string(),
        TABLE_LOCAL => "local".to_string(),
        other => other.to_string(),
    }
}
