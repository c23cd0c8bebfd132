//! Typed access to metadata JSON for the parsers: every lookup names the field path in its
//! error, `null` counts as absent, and keys match case-insensitively when no exact key exists
//! (the Azure docs vary the case of optional keys).

use super::error::ParseError;
use crate::metadata::{Mac, Nic, ValueError};
use serde_json::{Map, Value};
use std::collections::HashSet;

/// Parses a reply body; a truncated body, an HTML page or garbage is `ParseError::NotJson`,
/// one past the JSON caps `ParseError::TooMany` (checked before any value is built).
pub(super) fn parse_json(body: &str) -> Result<Value, ParseError> {
    super::limits::check_json_size(body)?;
    serde_json::from_str(body).map_err(|e| ParseError::NotJson {
        detail: e.to_string(),
    })
}

/// Joins a parent path and a key: `network.interface[0]` + `macAddress`.
pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

pub(super) fn wrong_type(field: String, expected: &'static str) -> ParseError {
    ParseError::WrongType { field, expected }
}

pub(super) fn bad_value(field: String, source: ValueError) -> ParseError {
    ParseError::Value { field, source }
}

/// The value must be an object.
pub(super) fn object<'a>(
    value: &'a Value,
    path: &str,
) -> Result<&'a Map<String, Value>, ParseError> {
    value
        .as_object()
        .ok_or_else(|| wrong_type(display_path(path), "object"))
}

fn display_path(path: &str) -> String {
    if path.is_empty() {
        "(document)".to_string()
    } else {
        path.to_string()
    }
}

/// The value under `key`, exact match first, then case-insensitive; `null` is absent.
pub(super) fn lookup<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    let found = obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    });
    found.filter(|v| !v.is_null())
}

pub(super) fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, ParseError> {
    match lookup(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(wrong_type(join(path, key), "string")),
    }
}

pub(super) fn req_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a str, ParseError> {
    opt_str(obj, key, path)?.ok_or_else(|| ParseError::Missing {
        field: join(path, key),
    })
}

/// An optional array; absent means empty.
pub(super) fn opt_array<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a [Value], ParseError> {
    match lookup(obj, key) {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(wrong_type(join(path, key), "array")),
    }
}

pub(super) fn req_array<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a [Value], ParseError> {
    match lookup(obj, key) {
        None => Err(ParseError::Missing {
            field: join(path, key),
        }),
        Some(_) => opt_array(obj, key, path),
    }
}

pub(super) fn opt_object<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, ParseError> {
    lookup(obj, key)
        .map(|v| object(v, &join(path, key)))
        .transpose()
}

/// Each element of an array of strings, with its path (`ipAliases[2]`).
pub(super) fn strings<'a>(
    items: &'a [Value],
    path: &str,
) -> Result<Vec<(String, &'a str)>, ParseError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let field = format!("{path}[{i}]");
            match item.as_str() {
                Some(s) => Ok((field, s)),
                None => Err(wrong_type(field, "string")),
            }
        })
        .collect()
}

/// Parses a MAC, naming the field on failure.
pub(super) fn mac(value: &str, field: String) -> Result<Mac, ParseError> {
    value.parse().map_err(|e| bad_value(field, e))
}

/// Rejects a NIC list where two NICs share a MAC, an empty list, and one past the caps.
pub(super) fn check_nics(nics: &[Nic]) -> Result<(), ParseError> {
    if nics.is_empty() {
        return Err(ParseError::NoInterfaces);
    }
    super::limits::check_nic_caps(nics)?;
    let mut seen = HashSet::new();
    for nic in nics {
        if !seen.insert(nic.mac) {
            return Err(ParseError::DuplicateMac {
                mac: nic.mac.to_string(),
            });
        }
    }
    Ok(())
}
