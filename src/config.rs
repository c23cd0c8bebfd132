//! The configuration file (`/etc/cloud-network/cloud-network.toml`): defaults, parsing with
//! line numbers, validation of every key, unknown-key warnings and the environment overrides.

mod duration;
mod error;
mod values;

pub use duration::{format_duration, parse_duration, DurationError};
pub use error::{ConfigError, ConfigWarning, Location};
pub use values::ProviderChoice;

use crate::logging::{LogFormat, LogLevel};
use std::fs::OpenOptions;
use std::io::{self, ErrorKind, Read};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml_edit::{Document, Item, TableLike, Value};

pub const DEFAULT_PATH: &str = "/etc/cloud-network/cloud-network.toml";
/// The exit status for a configuration error (`EX_CONFIG` of sysexits.h); systemd units can
/// use it with `RestartPreventExitStatus=78`.
pub const EXIT_CONFIG: u8 = 78;
pub const ENV_LOG_LEVEL: &str = "CLOUD_NETWORK_LOG_LEVEL";
pub const ENV_LOG_FORMAT: &str = "CLOUD_NETWORK_LOG_FORMAT";

/// Everything the daemon can be told. Field docs give the key and its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `[System] LogLevel`, default Info.
    pub log_level: LogLevel,
    /// `[System] LogFormat`, default text.
    pub log_format: LogFormat,
    /// `[System] RefreshTimer`, default 300s, between 1s and 24h.
    pub refresh_timer: Duration,
    /// `[System] Provider`, default auto (detected from DMI).
    pub provider: ProviderChoice,
    /// `[System] MetadataEndpoint`: a base URL replacing the provider's default, without a
    /// trailing slash; None means the provider's own endpoint.
    pub metadata_endpoint: Option<String>,
    /// `[System] StateDir`, default /run/cloud-network.
    pub state_dir: PathBuf,
    /// `[Network] Listen`, default 127.0.0.1:5209.
    pub listen: SocketAddr,
    /// `[Network] Supplementary`: interfaces configured with their own table and rules even
    /// when they are the primary NIC. Default empty.
    pub supplementary: Vec<String>,
    /// `[Network] RouteTableBase`, default 10000: NIC index N uses table base + N.
    pub route_table_base: u32,
    /// `[Network] RulePriorityBase`, default 3000: NIC index N's rules use priority base + N.
    ///
    /// Valid from 1601 to 30000. The default sits above 0–1536, the range container
    /// networking uses (AWS VPC CNI 512 and 1536, Cilium, Calico), below Tailscale's 5210,
    /// and far below the main table's 32766 even with EC2 device indices of
    /// 100 × network-card + device-number. Priority base − 1 is reserved for the rule that
    /// keeps metadata traffic on the main table.
    pub rule_priority_base: u32,
    /// `[Network] ServeCredentials`, default false: EC2 IAM credentials are served over the
    /// TCP API only when true.
    pub serve_credentials: bool,
    /// `[Network] MTU`, 1280 to 9216: the MTU of the NICs we configure where the metadata
    /// gives none. None (the default, or an empty value) is the cloud's own: 9000 on OCI,
    /// the link's as it is elsewhere.
    pub mtu: Option<u32>,
}

pub const DEFAULT_REFRESH_TIMER: Duration = Duration::from_secs(300);
pub const DEFAULT_STATE_DIR: &str = "/run/cloud-network";
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 5209));
pub const DEFAULT_ROUTE_TABLE_BASE: u32 = 10_000;
pub const DEFAULT_RULE_PRIORITY_BASE: u32 = 3_000;

impl Default for Config {
    fn default() -> Self {
        Config {
            log_level: LogLevel::Info,
            log_format: LogFormat::Text,
            refresh_timer: DEFAULT_REFRESH_TIMER,
            provider: ProviderChoice::Auto,
            metadata_endpoint: None,
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            listen: DEFAULT_LISTEN,
            supplementary: Vec::new(),
            route_table_base: DEFAULT_ROUTE_TABLE_BASE,
            rule_priority_base: DEFAULT_RULE_PRIORITY_BASE,
            serve_credentials: false,
            mtu: None,
        }
    }
}

/// A parsed configuration and the warnings to log about it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<ConfigWarning>,
}

/// The largest config file read; anything bigger is refused unread.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Reads and parses the file at start: a file that does not exist means the defaults.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    match read_text(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Loaded::default()),
        read => parse_read(read, path),
    }
}

/// Reads and parses the file on reload (SIGHUP): a missing file is an error like any other,
/// so the running config stays.
pub fn load_existing(path: &Path) -> Result<Loaded, ConfigError> {
    parse_read(read_text(path), path)
}

fn parse_read(read: io::Result<String>, path: &Path) -> Result<Loaded, ConfigError> {
    match read {
        Ok(text) => parse(&text, path),
        Err(source) => Err(ConfigError::Read {
            file: path.to_path_buf(),
            source,
        }),
    }
}

/// The config file to read: the one named by `--config`, which must exist, or else the
/// default path, which may be missing (then every key has its default).
pub fn chosen_path(named: Option<&Path>) -> Result<PathBuf, ConfigError> {
    match named {
        Some(file) if std::fs::metadata(file).is_err_and(|e| e.kind() == ErrorKind::NotFound) => {
            Err(ConfigError::Missing {
                file: file.to_path_buf(),
            })
        }
        Some(file) => Ok(file.to_path_buf()),
        None => Ok(PathBuf::from(DEFAULT_PATH)),
    }
}

/// The file's text: only a regular file (a symlink to one is fine) of at most
/// [`MAX_CONFIG_BYTES`]. Opened without blocking, so a FIFO cannot hang the read either.
fn read_text(path: &Path) -> io::Result<String> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        let kind = file_kind(&meta.file_type());
        let reason = format!("not a regular file ({kind})");
        return Err(io::Error::new(io::ErrorKind::InvalidInput, reason));
    }
    let too_big = |size: u64| {
        let reason = format!("larger than 1 MiB ({size} bytes)");
        io::Error::new(io::ErrorKind::InvalidData, reason)
    };
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(too_big(meta.len()));
    }
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_big(text.len() as u64));
    }
    Ok(text)
}

fn file_kind(kind: &std::fs::FileType) -> &'static str {
    if kind.is_dir() {
        "a directory"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

/// Parses config text; `file` is only used to name the file in errors and warnings.
pub fn parse(text: &str, file: &Path) -> Result<Loaded, ConfigError> {
    let document = Document::parse(text).map_err(|e| ConfigError::Syntax {
        at: Location {
            file: file.to_path_buf(),
            line: e.span().map(|span| line_of(text, span.start)),
        },
        message: e.message().trim().replace('\n', "; "),
    })?;
    let mut walk = Walk {
        text,
        file,
        loaded: Loaded::default(),
    };
    walk.root(document.as_table())?;
    Ok(walk.loaded)
}

impl Config {
    /// Applies `CLOUD_NETWORK_LOG_LEVEL` and `CLOUD_NETWORK_LOG_FORMAT` as returned by
    /// `lookup`; an unset or empty variable leaves the file's value.
    pub fn apply_env(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let set = |variable: &'static str| lookup(variable).filter(|v| !v.is_empty());
        if let Some(value) = set(ENV_LOG_LEVEL) {
            self.log_level = value.parse().map_err(|_| ConfigError::InvalidEnv {
                variable: ENV_LOG_LEVEL,
                reason: LogLevel::EXPECTED.to_string(),
                value,
            })?;
        }
        if let Some(value) = set(ENV_LOG_FORMAT) {
            self.log_format = value.parse().map_err(|_| ConfigError::InvalidEnv {
                variable: ENV_LOG_FORMAT,
                reason: LogFormat::EXPECTED.to_string(),
                value,
            })?;
        }
        Ok(())
    }

    /// `apply_env` with the process environment.
    pub fn apply_process_env(&mut self) -> Result<(), ConfigError> {
        self.apply_env(|name| std::env::var(name).ok())
    }
}

/// The keys the file may hold.
#[derive(Debug, Clone, Copy)]
enum Key {
    LogLevel,
    LogFormat,
    RefreshTimer,
    Provider,
    MetadataEndpoint,
    StateDir,
    Listen,
    Supplementary,
    RouteTableBase,
    RulePriorityBase,
    ServeCredentials,
    Mtu,
}

const SECTIONS: [&str; 2] = ["System", "Network"];

/// (section, key name, key), the spelling the file must use.
const KEYS: [(&str, &str, Key); 12] = [
    ("System", "LogLevel", Key::LogLevel),
    ("System", "LogFormat", Key::LogFormat),
    ("System", "RefreshTimer", Key::RefreshTimer),
    ("System", "Provider", Key::Provider),
    ("System", "MetadataEndpoint", Key::MetadataEndpoint),
    ("System", "StateDir", Key::StateDir),
    ("Network", "Listen", Key::Listen),
    ("Network", "Supplementary", Key::Supplementary),
    ("Network", "RouteTableBase", Key::RouteTableBase),
    ("Network", "RulePriorityBase", Key::RulePriorityBase),
    ("Network", "ServeCredentials", Key::ServeCredentials),
    ("Network", "MTU", Key::Mtu),
];

/// A value as the validators see it: its text (a string's content, a number's digits, or
/// the TOML source of anything else) and, for an array of strings, its elements.
struct Raw {
    text: String,
    list: Option<Vec<String>>,
}

impl Config {
    fn set(&mut self, key: Key, raw: &Raw) -> Result<(), String> {
        let text = raw.text.as_str();
        match key {
            Key::LogLevel => self.log_level = text.parse().map_err(|_| LogLevel::EXPECTED)?,
            Key::LogFormat => self.log_format = text.parse().map_err(|_| LogFormat::EXPECTED)?,
            Key::RefreshTimer => self.refresh_timer = values::refresh_timer(text)?,
            Key::Provider => self.provider = values::provider(text)?,
            Key::MetadataEndpoint => self.metadata_endpoint = values::metadata_endpoint(text)?,
            Key::StateDir => self.state_dir = values::state_dir(text)?,
            Key::Listen => self.listen = values::listen(text)?,
            Key::Supplementary => {
                self.supplementary = match &raw.list {
                    Some(list) => values::supplementary(list.iter().map(String::as_str))?,
                    None => values::supplementary(text.split_whitespace())?,
                }
            }
            Key::RouteTableBase => {
                self.route_table_base = values::bounded(text, values::ROUTE_TABLE_BASE_RANGE)?
            }
            Key::RulePriorityBase => {
                self.rule_priority_base = values::bounded(text, values::RULE_PRIORITY_BASE_RANGE)?
            }
            Key::ServeCredentials => self.serve_credentials = values::boolean(text)?,
            Key::Mtu => self.mtu = values::mtu(text)?,
        }
        Ok(())
    }
}

/// One pass over the parsed document, filling the config and collecting warnings.
struct Walk<'a> {
    text: &'a str,
    file: &'a Path,
    loaded: Loaded,
}

impl Walk<'_> {
    fn root(&mut self, root: &dyn TableLike) -> Result<(), ConfigError> {
        for (name, item) in root.iter() {
            let key_span = root.key(name).and_then(|k| k.span());
            let line = self.line(key_span.or_else(|| item.span()));
            if let Some(section) = SECTIONS.iter().find(|s| **s == name) {
                self.section(section, item, line)?;
            } else if item.is_table_like() {
                self.warn(ConfigWarning::UnknownSection {
                    at: self.at(line),
                    section: name.to_string(),
                    suggestion: suggest(name, SECTIONS.iter().copied()),
                });
            } else {
                self.warn(ConfigWarning::UnknownKey {
                    at: self.at(line),
                    section: None,
                    key: name.to_string(),
                    suggestion: suggest_key(name, |_| true),
                });
            }
        }
        Ok(())
    }

    fn section(
        &mut self,
        section: &'static str,
        item: &Item,
        line: Option<usize>,
    ) -> Result<(), ConfigError> {
        let Some(table) = item.as_table_like() else {
            return Err(ConfigError::NotASection {
                at: self.at(line),
                section,
            });
        };
        for (name, value) in table.iter() {
            let key_span = table.key(name).and_then(|k| k.span());
            match KEYS.iter().find(|(s, k, _)| *s == section && *k == name) {
                Some(&(_, key_name, key)) => self.value(section, key_name, key, value, key_span)?,
                None => self.warn(ConfigWarning::UnknownKey {
                    at: self.at(self.line(key_span)),
                    section: Some(section.to_string()),
                    key: name.to_string(),
                    suggestion: suggest_key(name, |s| s == section)
                        .or_else(|| suggest_key(name, |_| true)),
                }),
            }
        }
        Ok(())
    }

    fn value(
        &mut self,
        section: &'static str,
        key_name: &'static str,
        key: Key,
        item: &Item,
        key_span: Option<std::ops::Range<usize>>,
    ) -> Result<(), ConfigError> {
        let raw = self.raw(item);
        self.loaded
            .config
            .set(key, &raw)
            .map_err(|reason| ConfigError::InvalidValue {
                at: self.at(self.line(item.span().or(key_span))),
                section,
                key: key_name,
                value: raw.text,
                reason,
            })
    }

    fn raw(&self, item: &Item) -> Raw {
        let source = || self.source(item.span());
        match item.as_value() {
            Some(Value::String(s)) => Raw {
                text: s.value().clone(),
                list: None,
            },
            Some(Value::Integer(i)) => Raw {
                text: i.value().to_string(),
                list: None,
            },
            Some(Value::Boolean(b)) => Raw {
                text: b.value().to_string(),
                list: None,
            },
            Some(Value::Array(array)) => Raw {
                text: source(),
                list: array
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect(),
            },
            _ => Raw {
                text: source(),
                list: None,
            },
        }
    }

    /// The TOML source text of a span, or a stand-in when the parser kept none.
    fn source(&self, span: Option<std::ops::Range<usize>>) -> String {
        span.and_then(|s| self.text.get(s))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| "(table)".to_string())
    }

    fn line(&self, span: Option<std::ops::Range<usize>>) -> Option<usize> {
        span.map(|s| line_of(self.text, s.start))
    }

    fn at(&self, line: Option<usize>) -> Location {
        Location {
            file: self.file.to_path_buf(),
            line,
        }
    }

    fn warn(&mut self, warning: ConfigWarning) {
        self.loaded.warnings.push(warning);
    }
}

/// The 1-based line holding byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The known key (section, name) `name` was probably meant to be, among keys whose section
/// passes `in_section`.
fn suggest_key(
    name: &str,
    in_section: impl Fn(&str) -> bool,
) -> Option<(&'static str, &'static str)> {
    let candidates = KEYS.iter().filter(|(s, _, _)| in_section(s));
    let name_of = suggest(name, candidates.clone().map(|(_, k, _)| *k))?;
    candidates
        .map(|(s, k, _)| (*s, *k))
        .find(|(_, k)| *k == name_of)
}

/// The candidate equal to `name` ignoring case, else the closest one within two edits.
fn suggest(
    name: &str,
    candidates: impl Iterator<Item = &'static str> + Clone,
) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    if let Some(exact) = candidates.clone().find(|c| c.eq_ignore_ascii_case(name)) {
        return Some(exact);
    }
    candidates
        .map(|c| (edit_distance(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// Levenshtein distance over bytes.
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_numbers_are_one_based() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 4), 3);
        assert_eq!(line_of("a\n", 99), 2);
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("loglevel", "loglevel"), 0);
        assert_eq!(edit_distance("loglevle", "loglevel"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggestions_prefer_case_then_closeness() {
        let sections = || SECTIONS.iter().copied();
        assert_eq!(suggest("system", sections()), Some("System"));
        assert_eq!(suggest("Sytem", sections()), Some("System"));
        assert_eq!(suggest("Routing", sections()), None);
        assert_eq!(suggest_key("listen", |_| true), Some(("Network", "Listen")));
        assert_eq!(suggest_key("Listen", |s| s == "System"), None);
    }

    #[test]
    fn every_key_has_a_known_section() {
        for (section, _, _) in KEYS {
            assert!(SECTIONS.contains(&section), "{section}");
        }
    }
}
