//! Text renderers of `cnctl`: pure functions from the API's JSON bodies to the lines printed.
//! Blocks keep the original's layout: labels right-aligned to the longest one, `Label: value `
//! (with its trailing space); empty fields are left out. One file per provider, picked by one
//! match (`cloud`).

mod alibaba;
mod azure;
mod digitalocean;
mod ec2;
mod gcp;
mod oracle;
#[cfg(test)]
mod tests;

use crate::net::{Mac, ProviderKind};
use crate::snapshot::{LinkStatus, RuleStatus};
use serde_json::Value;

/// Rows of one block, rendered with aligned labels.
#[derive(Debug, Default)]
pub(crate) struct Rows {
    rows: Vec<(&'static str, Vec<String>)>,
}

impl Rows {
    /// A row that is always shown.
    pub(crate) fn add(&mut self, label: &'static str, value: impl Into<String>) {
        self.rows.push((label, vec![value.into()]));
    }

    /// A row shown only when there is a non-empty value.
    pub(crate) fn opt(&mut self, label: &'static str, value: Option<String>) {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            self.add(label, value);
        }
    }

    /// A row of one value per line; `-` when there is none.
    pub(crate) fn lines(&mut self, label: &'static str, values: Vec<String>) {
        if values.is_empty() {
            self.add(label, "-");
        } else {
            self.rows.push((label, values));
        }
    }

    /// Adds `label: text(root/path)` for each row of a table, skipping empty values.
    pub(crate) fn table(&mut self, root: Option<&Value>, table: &[(&'static str, &[&str])]) {
        for (label, path) in table {
            self.opt(label, text(at(root, path)));
        }
    }

    pub(crate) fn render(&self) -> String {
        let width = self
            .rows
            .iter()
            .map(|(label, _)| label.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for (label, values) in &self.rows {
            for (i, value) in values.iter().enumerate() {
                let label = if i == 0 { *label } else { "" };
                let colon = if i == 0 { ':' } else { ' ' };
                out.push_str(&format!("{label:>width$}{colon} {value} \n"));
            }
        }
        out
    }
}

/// Blocks separated by one blank line.
fn join_blocks(blocks: Vec<String>) -> String {
    blocks.join("\n")
}

/// The value at `path` under `root`.
pub(crate) fn at<'a>(root: Option<&'a Value>, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(root?, |v, key| v.get(key))
}

/// A scalar as text; a list of scalars (or EC2's newline-separated leaves) space-separated.
/// Objects, nulls and empty values are `None`.
pub(crate) fn text(value: Option<&Value>) -> Option<String> {
    let joined = match value? {
        Value::String(s) => s.split_whitespace().collect::<Vec<_>>().join(" "),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(items) => items
            .iter()
            .filter_map(|item| text(Some(item)))
            .collect::<Vec<_>>()
            .join(" "),
        Value::Null | Value::Object(_) => String::new(),
    };
    Some(joined).filter(|s| !s.is_empty())
}

/// The `meta-data` directory of a path-tree document (EC2, Alibaba): under the root's
/// `meta-data` key, or the root itself.
fn meta_data(doc: &Value) -> &Value {
    doc.get("meta-data").unwrap_or(doc)
}

/// Every non-blank line of the given key texts, trimmed: one entry per key.
fn key_lines<'a>(texts: impl Iterator<Item = &'a str>) -> Vec<String> {
    texts
        .flat_map(str::lines)
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect()
}

/// A MAC in the normalized form when it parses, as given otherwise.
fn mac_text(raw: &str) -> String {
    raw.parse::<Mac>()
        .map(|mac| mac.to_string())
        .unwrap_or_else(|_| raw.to_string())
}

/// The name of the local link with this MAC, `-` when the NIC has none.
fn link_name(links: &[LinkStatus], raw_mac: &str) -> String {
    raw_mac
        .parse::<Mac>()
        .ok()
        .and_then(|mac| links.iter().find(|link| link.mac == mac))
        .map_or_else(|| "-".to_string(), |link| link.name.clone())
}

/// One cloud's renderers: its file's `system`, `network` and `ssh_keys`.
struct Cloud {
    system: fn(&mut Rows, &Value),
    network: fn(&Value, &[LinkStatus]) -> Vec<Rows>,
    ssh_keys: fn(&Value) -> Vec<String>,
}

/// The renderers of `kind`'s document: the CLI's one match on the provider.
fn cloud(kind: ProviderKind) -> Cloud {
    macro_rules! of {
        ($file:ident) => {
            Cloud {
                system: $file::system,
                network: $file::network,
                ssh_keys: $file::ssh_keys,
            }
        };
    }
    match kind {
        ProviderKind::Azure => of!(azure),
        ProviderKind::Aws => of!(ec2),
        ProviderKind::Gcp => of!(gcp),
        ProviderKind::Oracle => of!(oracle),
        ProviderKind::Alibaba => of!(alibaba),
        ProviderKind::DigitalOcean => of!(digitalocean),
    }
}

/// `status system`: the first line names the provider, then the provider's own fields.
pub(crate) fn system(kind: ProviderKind, doc: &Value) -> String {
    let mut rows = Rows::default();
    rows.add("Cloud provider", kind.name());
    (cloud(kind).system)(&mut rows, doc);
    rows.render()
}

/// `status network`: one block per NIC of the provider's network view.
pub(crate) fn network(kind: ProviderKind, doc: &Value, links: &[LinkStatus]) -> String {
    let blocks = (cloud(kind).network)(doc, links);
    join_blocks(blocks.iter().map(Rows::render).collect())
}

/// The public SSH keys the metadata grants, one per entry, in the provider's order.
pub(crate) fn ssh_keys(kind: ProviderKind, doc: &Value) -> Vec<String> {
    (cloud(kind).ssh_keys)(doc)
}

/// `show ssh-keys`: `ssh-key: <key>` per line, as the original printed them.
pub(crate) fn ssh_keys_text(keys: &[String]) -> String {
    keys.iter().map(|key| format!("ssh-key: {key}\n")).collect()
}

pub(crate) use gcp::{project, project_text};

/// `status links`: what the daemon configured, one block per link.
pub(crate) fn links(links: &[LinkStatus]) -> String {
    if links.is_empty() {
        return "No link configured.\n".to_string();
    }
    join_blocks(links.iter().map(|link| link_rows(link).render()).collect())
}

fn link_rows(link: &LinkStatus) -> Rows {
    let mut rows = Rows::default();
    rows.add("Name", link.name.clone());
    rows.add("Index", link.ifindex.to_string());
    rows.add("MAC Address", link.mac.to_string());
    rows.add("Device Index", link.device_index.to_string());
    rows.add(
        "Table",
        link.table
            .map_or_else(|| "-".to_string(), |t| t.to_string()),
    );
    let addresses: Vec<String> = link.addresses.iter().map(ToString::to_string).collect();
    rows.add(
        "Addresses",
        if addresses.is_empty() {
            "-".to_string()
        } else {
            addresses.join(" ")
        },
    );
    rows.lines("Rules", link.rules.iter().map(rule).collect());
    rows.lines("Routes", link.routes.clone());
    if !link.refused.is_empty() {
        rows.lines("Refused", link.refused.clone());
    }
    if let Some(unknown) = &link.unknown {
        rows.add("Unknown", format!("this round, nothing changed: {unknown}"));
    }
    rows
}

/// A rule as `ip rule` shows it: `3001: from 10.4.0.6/32 lookup 10001`.
pub(crate) fn rule(rule: &RuleStatus) -> String {
    let mut out = format!("{}:", rule.priority);
    match (&rule.from, &rule.to) {
        (None, None) => out.push_str(" from all"),
        (from, to) => {
            if let Some(from) = from {
                out.push_str(&format!(" from {from}"));
            }
            if let Some(to) = to {
                out.push_str(&format!(" to {to}"));
            }
        }
    }
    out.push_str(&format!(" lookup {}", rule.table));
    out
}
