//! DigitalOcean: fetches the droplet's whole metadata document (`/metadata/v1.json`, one
//! request, no header) and parses it.
pub(crate) mod parse;
pub(crate) mod profile;
#[cfg(test)]
mod tests;

pub use parse::{parse, parse_value};

use super::document::DocumentProvider;
use super::http::Http;
use super::ProviderKind;

/// The whole document in one reply; the `/metadata/v1/` tree holds the same data leaf by leaf.
pub const DOCUMENT_PATH: &str = "/metadata/v1.json";

/// The DigitalOcean provider; `base` is the service root, e.g. `http://169.254.169.254`.
pub fn provider(base: &str, http: Http) -> DocumentProvider {
    DocumentProvider::new(
        ProviderKind::DigitalOcean,
        base,
        DOCUMENT_PATH,
        &[],
        parse,
        http,
    )
}
