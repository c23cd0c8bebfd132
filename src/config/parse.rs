//! Parsing the config text: the TOML document with line numbers, every key's section and
//! spelling, each value handed to its validator, and warnings for unknown sections and keys
//! (with the key probably meant).
use super::exposure::{self, ExposureLines};
use super::optouts::{self, OptOutKey, OPT_OUT_KEYS};
use super::suggest::{suggest, suggest_key};
use super::{values, Config, ConfigError, ConfigWarning, Loaded, Location};
use crate::logging::{LogFormat, LogLevel};
use std::path::Path;
use toml_edit::{Document, Item, TableLike, Value};

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
        exposure: ExposureLines::default(),
    };
    walk.root(document.as_table())?;
    exposure::check(&mut walk.loaded, walk.exposure, file)?;
    Ok(walk.loaded)
}

/// The keys the file may hold.
#[derive(Debug, Clone, Copy)]
pub(super) enum Key {
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
    InterfaceGroup,
    ServeCredentials,
    Mtu,
    OptOut(OptOutKey),
}

pub(super) const SECTIONS: [&str; 2] = ["System", "Network"];

/// (section, key name, key), the spelling the file must use, without the opt-outs
/// ([`all_keys`] has them too).
const BASE_KEYS: [(&str, &str, Key); 13] = [
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
    ("Network", "InterfaceGroup", Key::InterfaceGroup),
    ("Network", "ServeCredentials", Key::ServeCredentials),
    ("Network", "MTU", Key::Mtu),
];

/// Every key: [`BASE_KEYS`] and the opt-outs of `[Network]`.
pub(super) fn all_keys() -> impl Iterator<Item = (&'static str, &'static str, Key)> + Clone {
    let opt_outs = OPT_OUT_KEYS
        .iter()
        .map(|&(name, key)| ("Network", name, Key::OptOut(key)));
    BASE_KEYS.iter().copied().chain(opt_outs)
}

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
            Key::InterfaceGroup => {
                self.interface_group = values::bounded(text, values::INTERFACE_GROUP_RANGE)?
            }
            Key::ServeCredentials => self.serve_credentials = values::boolean(text)?,
            Key::Mtu => self.mtu = values::mtu(text)?,
            Key::OptOut(key) => optouts::set(&mut self.optouts, key, text, raw.list.as_deref())?,
        }
        Ok(())
    }
}

/// One pass over the parsed document, filling the config and collecting warnings.
struct Walk<'a> {
    text: &'a str,
    file: &'a Path,
    loaded: Loaded,
    exposure: ExposureLines,
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
            match all_keys().find(|(s, k, _)| *s == section && *k == name) {
                Some((_, key_name, key)) => self.value(section, key_name, key, value, key_span)?,
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
        self.note_exposure(key, self.line(key_span.clone().or(item.span())));
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

    fn note_exposure(&mut self, key: Key, line: Option<usize>) {
        match key {
            Key::Listen => self.exposure.listen = line,
            Key::ServeCredentials => self.exposure.serve_credentials = line,
            _ => {}
        }
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
    fn every_key_has_a_known_section() {
        for (section, _, _) in all_keys() {
            assert!(SECTIONS.contains(&section), "{section}");
        }
    }
}
