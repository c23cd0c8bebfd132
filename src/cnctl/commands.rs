//! What each `cnctl` command asks the API and prints: the text renderers by default, the API's
//! JSON (pretty) with `--json`. Commands that do not apply to the daemon's provider say so.

use super::client::{ApiClient, ApiError};
use super::render;
use crate::check::report::Report;
use crate::net::ProviderKind;
use crate::snapshot::{LinkStatus, Status};
use serde_json::{json, Value};
use std::fmt;
use std::path::{Path, PathBuf};

/// The provider's whole document (`/api/cloud/system` is the original project's shape of it,
/// which on EC2 lacks the `dynamic` tree the renderers fall back on).
const SYSTEM: &str = "/api/v1/system";

/// The EC2 credentials the daemon saves (0600) under its state directory.
pub const CREDENTIALS_FILE: &str = "provider/ec2/credentials";

/// A command, its alias resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    System,
    Network,
    Links,
    Show(Item),
    Refresh,
    Version,
    Check,
}

/// What a command prints on stdout, and whether it found something wrong (`check` with a
/// failing line: exit 1 after printing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Printed {
    pub text: String,
    pub failed: bool,
}

impl From<String> for Printed {
    fn from(text: String) -> Printed {
        Printed {
            text,
            failed: false,
        }
    }
}

/// What `show` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    SshKeys,
    Credentials,
    Document,
    Pkcs7,
    Signature,
    Rsa2048,
    Project,
}

impl Item {
    pub const ALL: [Item; 7] = [
        Item::SshKeys,
        Item::Credentials,
        Item::Document,
        Item::Pkcs7,
        Item::Signature,
        Item::Rsa2048,
        Item::Project,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Item::SshKeys => "ssh-keys",
            Item::Credentials => "credentials",
            Item::Document => "document",
            Item::Pkcs7 => "pkcs7",
            Item::Signature => "signature",
            Item::Rsa2048 => "rsa2048",
            Item::Project => "project",
        }
    }

    fn alias(self) -> Option<&'static str> {
        match self {
            Item::SshKeys => Some("k"),
            Item::Credentials => Some("c"),
            Item::Document => Some("d"),
            Item::Pkcs7 => Some("p"),
            Item::Signature => Some("s"),
            Item::Rsa2048 => Some("r"),
            Item::Project => None,
        }
    }

    pub fn parse(what: &str) -> Option<Item> {
        Item::ALL
            .into_iter()
            .find(|item| item.name() == what || item.alias() == Some(what))
    }

    /// The only provider that has it; `None` when every provider does.
    fn provider(self) -> Option<ProviderKind> {
        match self {
            Item::SshKeys => None,
            Item::Project => Some(ProviderKind::Gcp),
            _ => Some(ProviderKind::Aws),
        }
    }
}

/// Why a command failed.
#[derive(Debug)]
pub enum CnctlError {
    /// A wrong argument (exit 2); `command` is the subcommand whose `--help` applies
    /// (`status`, `show`, or empty for cnctl's own options).
    Usage {
        command: &'static str,
        message: String,
    },
    Api(ApiError),
    NotAvailable {
        command: String,
        provider: ProviderKind,
    },
    NoProvider,
    /// The metadata lacks what was asked for.
    Missing(&'static str),
    /// The API's answer is not what this command expects.
    Reply(String),
    /// The API refused the credentials and the daemon saved none: the instance has no IAM role.
    NoRole {
        file: PathBuf,
    },
    /// The API refused the credentials and the state file could not be read either.
    Credentials {
        api: ApiError,
        file: PathBuf,
        reason: String,
    },
}

impl CnctlError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CnctlError::Usage { .. } => 2,
            _ => 1,
        }
    }
}

impl From<ApiError> for CnctlError {
    fn from(e: ApiError) -> Self {
        CnctlError::Api(e)
    }
}

impl fmt::Display for CnctlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CnctlError::Usage { message, .. } => f.write_str(message),
            CnctlError::Api(e) => e.fmt(f),
            CnctlError::NotAvailable { command, provider } => {
                write!(f, "'{command}' is not available on {provider}")
            }
            CnctlError::NoProvider => {
                f.write_str("the daemon has not detected the cloud provider yet")
            }
            CnctlError::Missing(what) => write!(f, "the metadata has no {what}"),
            CnctlError::Reply(reason) => write!(f, "unexpected answer from the API: {reason}"),
            CnctlError::NoRole { file } => write!(
                f,
                "the instance has no IAM role: the daemon saved no credentials in {}",
                file.display()
            ),
            CnctlError::Credentials { api, file, reason } => {
                write!(f, "{api}; reading {}: {reason}", file.display())
            }
        }
    }
}

/// `status <what>` as an action.
pub(super) fn status_action(what: &str) -> Result<Action, CnctlError> {
    match what {
        "system" => Ok(Action::System),
        "network" => Ok(Action::Network),
        "links" => Ok(Action::Links),
        other => Err(CnctlError::Usage {
            command: "status",
            message: format!("unknown status '{other}': expected system, network or links"),
        }),
    }
}

/// `show <what>` as an action.
pub(super) fn show_action(what: &str) -> Result<Action, CnctlError> {
    Item::parse(what)
        .map(Action::Show)
        .ok_or_else(|| CnctlError::Usage {
            command: "show",
            message: format!(
                "unknown item '{what}': expected ssh-keys (k), credentials (c), document (d), \
                 pkcs7 (p), signature (s), rsa2048 (r) or project"
            ),
        })
}

/// Runs one action; returns what to print on stdout.
pub(super) struct Runner<'a> {
    pub client: &'a ApiClient,
    pub json: bool,
    pub state_dir: &'a Path,
}

fn pretty(value: &Value) -> String {
    format!("{value:#}\n")
}

impl Runner<'_> {
    pub(super) fn run(&self, action: Action) -> Result<Printed, CnctlError> {
        let text = match action {
            Action::System => self.system(),
            Action::Network => self.network(),
            Action::Links => self.links(),
            Action::Show(item) => self.show(item),
            Action::Refresh => self.refresh(),
            Action::Version => self.version(),
            Action::Check => return self.check(),
        };
        text.map(Printed::from)
    }

    /// One line per address and prefix (and the metadata service); failed when any is ✗.
    fn check(&self) -> Result<Printed, CnctlError> {
        let value = self.client.get("/api/v1/check")?;
        let report: Report =
            serde_json::from_value(value.clone()).map_err(|e| CnctlError::Reply(e.to_string()))?;
        let text = if self.json {
            pretty(&value)
        } else {
            report
                .lines
                .iter()
                .map(|line| format!("{line}\n"))
                .collect()
        };
        Ok(Printed {
            text,
            failed: !report.ok,
        })
    }

    fn status(&self) -> Result<Status, CnctlError> {
        Ok(self.client.get_as("/api/v1/status")?)
    }

    fn provider(status: &Status) -> Result<ProviderKind, CnctlError> {
        status.provider.ok_or(CnctlError::NoProvider)
    }

    fn system(&self) -> Result<String, CnctlError> {
        if self.json {
            return Ok(pretty(&self.client.get(SYSTEM)?));
        }
        let kind = Self::provider(&self.status()?)?;
        let doc = self.client.get(SYSTEM)?;
        Ok(render::system(kind, &doc))
    }

    fn network(&self) -> Result<String, CnctlError> {
        if self.json {
            return Ok(pretty(&self.client.get("/api/cloud/network")?));
        }
        let status = self.status()?;
        let kind = Self::provider(&status)?;
        let doc = self.client.get("/api/cloud/network")?;
        Ok(render::network(kind, &doc, &status.links))
    }

    fn links(&self) -> Result<String, CnctlError> {
        if self.json {
            return Ok(pretty(&self.client.get("/api/v1/links")?));
        }
        let links: Vec<LinkStatus> = self.client.get_as("/api/v1/links")?;
        Ok(render::links(&links))
    }

    fn refresh(&self) -> Result<String, CnctlError> {
        let answer = self.client.post("/api/v1/refresh")?;
        if self.json {
            return Ok(pretty(&answer));
        }
        Ok("refresh requested\n".to_string())
    }

    /// The daemon's version; in text mode `cnctl`'s own line is printed before the request.
    fn version(&self) -> Result<String, CnctlError> {
        let status = self.status()?;
        if self.json {
            let versions = json!({"cnctl": env!("CARGO_PKG_VERSION"), "daemon": status.version});
            return Ok(pretty(&versions));
        }
        Ok(format!("daemon {}\n", status.version))
    }

    fn show(&self, item: Item) -> Result<String, CnctlError> {
        let kind = Self::provider(&self.status()?)?;
        if item.provider().is_some_and(|only| only != kind) {
            return Err(CnctlError::NotAvailable {
                command: format!("show {}", item.name()),
                provider: kind,
            });
        }
        match item {
            Item::SshKeys => self.ssh_keys(kind),
            Item::Project => self.project(),
            Item::Credentials => Ok(pretty(&self.credentials()?)),
            Item::Document => self.ec2_document("/api/cloud/dynamicinstanceidentity/document"),
            Item::Pkcs7 => self.ec2_document("/api/cloud/dynamicinstanceidentity/pkcs7"),
            Item::Signature => self.ec2_document("/api/cloud/dynamicinstanceidentity/signature"),
            Item::Rsa2048 => self.ec2_document("/api/cloud/dynamicinstanceidentity/rsa2048"),
        }
    }

    fn ssh_keys(&self, kind: ProviderKind) -> Result<String, CnctlError> {
        let keys = render::ssh_keys(kind, &self.client.get(SYSTEM)?);
        if self.json {
            return Ok(pretty(&json!(keys)));
        }
        Ok(render::ssh_keys_text(&keys))
    }

    fn project(&self) -> Result<String, CnctlError> {
        let doc = self.client.get(SYSTEM)?;
        let project = render::project(&doc).ok_or(CnctlError::Missing("project"))?;
        if self.json {
            return Ok(pretty(project));
        }
        Ok(render::project_text(project))
    }

    /// A JSON document pretty; a JSON string as it is in text mode.
    fn ec2_document(&self, path: &str) -> Result<String, CnctlError> {
        let value = self.client.get(path)?;
        match value {
            Value::String(text) if !self.json => Ok(with_newline(text)),
            other => Ok(pretty(&other)),
        }
    }

    /// From the API; when it refuses (403: not served over TCP), from the 0600 state file,
    /// which root can read and which the daemon writes only when the instance has a role.
    fn credentials(&self) -> Result<Value, CnctlError> {
        match self.client.get("/api/cloud/credentials") {
            Err(api) if api.status() == Some(403) => {
                let file = self.state_dir.join(CREDENTIALS_FILE);
                if std::fs::symlink_metadata(&file)
                    .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
                {
                    return Err(CnctlError::NoRole { file });
                }
                read_json(&file).map_err(|reason| CnctlError::Credentials { api, file, reason })
            }
            other => Ok(other?),
        }
    }
}

fn with_newline(mut text: String) -> String {
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

fn read_json(file: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_and_aliases() {
        let cases = [
            ("ssh-keys", Item::SshKeys),
            ("k", Item::SshKeys),
            ("c", Item::Credentials),
            ("credentials", Item::Credentials),
            ("d", Item::Document),
            ("p", Item::Pkcs7),
            ("s", Item::Signature),
            ("r", Item::Rsa2048),
            ("rsa2048", Item::Rsa2048),
            ("project", Item::Project),
        ];
        for (text, item) in cases {
            assert_eq!(show_action(text).unwrap(), Action::Show(item), "{text}");
        }
        let err = show_action("x").unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().starts_with("unknown item 'x'"), "{err}");
        assert_eq!(status_action("links").unwrap(), Action::Links);
        assert_eq!(
            status_action("nics").unwrap_err().to_string(),
            "unknown status 'nics': expected system, network or links"
        );
    }

    #[test]
    fn only_ec2_and_gcp_items_are_restricted() {
        assert_eq!(Item::SshKeys.provider(), None);
        assert_eq!(Item::Project.provider(), Some(ProviderKind::Gcp));
        for item in [
            Item::Credentials,
            Item::Document,
            Item::Pkcs7,
            Item::Rsa2048,
        ] {
            assert_eq!(item.provider(), Some(ProviderKind::Aws));
        }
    }
}
