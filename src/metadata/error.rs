//! Why a metadata document could not be turned into the model. Parsers return these; a parse
//! error means the whole reply is rejected and nothing on the machine changes.

use crate::metadata::ValueError;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The body is not JSON at all (truncated, HTML error page, garbage). `detail` says where.
    NotJson { detail: String },
    /// A required field is absent. `field` is a path such as `network.interface[1].macAddress`.
    Missing { field: String },
    /// A field has the wrong JSON type.
    WrongType {
        field: String,
        expected: &'static str,
    },
    /// A field is present but its value is invalid (bad IP, prefix 33, garbage MAC).
    Value { field: String, source: ValueError },
    /// The document lists no network interface at all: never a real instance.
    NoInterfaces,
    /// Two interfaces claim the same MAC address.
    DuplicateMac { mac: String },
    /// Two interfaces claim the same device index (EC2 while a hot-plugged NIC propagates).
    DuplicateIndex { index: u32 },
    /// The reply holds more of something than any instance has (`metadata::limits`).
    TooMany {
        what: &'static str,
        count: usize,
        cap: usize,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::NotJson { detail } => write!(f, "reply is not valid JSON: {detail}"),
            ParseError::Missing { field } => write!(f, "required field '{field}' is missing"),
            ParseError::WrongType { field, expected } => {
                write!(
                    f,
                    "field '{field}' has the wrong type (expected {expected})"
                )
            }
            ParseError::Value { field, source } => write!(f, "field '{field}': {source}"),
            ParseError::NoInterfaces => f.write_str("metadata lists no network interface"),
            ParseError::DuplicateMac { mac } => {
                write!(f, "two network interfaces have the same MAC address {mac}")
            }
            ParseError::DuplicateIndex { index } => {
                write!(
                    f,
                    "two network interfaces have the same device index {index}"
                )
            }
            ParseError::TooMany { what, count, cap } => write!(
                f,
                "the reply lists {count} {what}, more than {cap}: refused as nonsensical"
            ),
        }
    }
}

impl std::error::Error for ParseError {}
