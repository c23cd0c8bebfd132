//! The binary's HTTP vocabulary, shared by the API's server, the emulator, the metadata
//! fetcher and cnctl: the reason phrases of the statuses we send, the header names we write or
//! read, media types, and the body caps of our clients. The one HTTP client is [`client`]; the
//! API's server (`src/api/`) and the emulator's (tiny_http) use this module and nothing of
//! each other.

pub(crate) mod client;

/// Largest metadata reply the fetcher accepts; the largest real document is far below it.
pub(crate) const METADATA_BODY_LIMIT: u64 = 4 * 1024 * 1024;
/// Largest answer of the daemon's API that cnctl accepts (a whole EC2 tree is far below it).
pub(crate) const API_BODY_LIMIT: u64 = 8 * 1024 * 1024;

/// Header names, as written on the wire (they are compared case-insensitively).
pub(crate) mod header {
    pub(crate) const ALLOW: &str = "Allow";
    pub(crate) const AUTHORIZATION: &str = "Authorization";
    pub(crate) const CACHE_CONTROL: &str = "Cache-Control";
    pub(crate) const CONNECTION: &str = "Connection";
    pub(crate) const CONTENT_LENGTH: &str = "Content-Length";
    pub(crate) const CONTENT_TYPE: &str = "Content-Type";
    pub(crate) const ETAG: &str = "ETag";
    pub(crate) const HOST: &str = "Host";
    pub(crate) const LOCATION: &str = "Location";
    /// GCP's: `Google` on every request and every reply of its metadata server.
    pub(crate) const METADATA_FLAVOR: &str = "Metadata-Flavor";
    pub(crate) const ORIGIN: &str = "Origin";
    pub(crate) const RETRY_AFTER: &str = "Retry-After";
    pub(crate) const TRANSFER_ENCODING: &str = "Transfer-Encoding";
    /// Metadata services refuse a request carrying it (a proxied request).
    pub(crate) const X_FORWARDED_FOR: &str = "X-Forwarded-For";
}

/// Media types of the bodies we send.
pub(crate) mod media {
    pub(crate) const JSON: &str = "application/json";
}

/// The reason phrase of a status we send.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::reason;

    #[test]
    fn every_status_the_api_and_the_emulator_send_has_its_phrase() {
        for status in [
            200, 202, 301, 400, 401, 403, 404, 405, 408, 413, 429, 431, 500, 501, 503,
        ] {
            assert_ne!(reason(status), "Unknown", "{status}");
        }
        assert_eq!(reason(413), "Content Too Large");
        assert_eq!(reason(299), "Unknown");
    }
}
