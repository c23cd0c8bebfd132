//! Azure: fetches the IMDS instance document (one request, `Metadata: true`) and parses it.
pub(crate) mod parse;
pub(crate) mod profile;
#[cfg(test)]
mod tests;

pub use parse::{parse, parse_value, GATEWAY6};

use super::document::DocumentProvider;
use super::http::Http;
use super::ProviderKind;

/// The instance document path; 2021-02-01 is the newest version every region serves.
pub const INSTANCE_PATH: &str = "/metadata/instance?api-version=2021-02-01";

/// The Azure provider; `base` is the service root, e.g. `http://169.254.169.254`.
pub fn provider(base: &str, http: Http) -> DocumentProvider {
    DocumentProvider::new(
        ProviderKind::Azure,
        base,
        INSTANCE_PATH,
        &[("Metadata", "true")],
        parse,
        http,
    )
}
