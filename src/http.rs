//! The binary's HTTP vocabulary, shared by the API's server, the emulator, the metadata
//! fetcher and cnctl: the reason phrases of the statuses we send, the header names we write or
//! read, media types, and the body caps of our clients. The one HTTP client is [`client`]; the
//! API's server (`src/api/`) and the emulator's (tiny_http) use this module and nothing of
//! each other.

pub mod client;

/// Largest metadata reply the fetcher accepts; the largest real document is far below it.
pub const METADATA_BODY_LIMIT: u64 = 4 * 1024 * 1024;
/// Largest answer of the daemon's API that cnctl accepts (a whole EC2 tree is far below it).
pub const API_BODY_LIMIT: u64 = 8 * 1024 * 1024;

/// Header names, as written on the wire (they are compared case-insensitively).
pub mod header {
    pub const ALLOW: &str = "Allow";
    pub const AUTHORIZATION: &str = "Authorization";
    pub const CACHE_CONTROL: &str = "Cache-Control";
    pub const CONNECTION: &str = "Connection";
    pub const CONTENT_LENGTH: &str = "Content-Length";
    pub const CONTENT_TYPE: &str = "Content-Type";
    pub const ETAG: &str = "ETag";
    pub const HOST: &str = "Host";
    pub const LOCATION: &str = "Location";
    /// GCP's: `Google` on every request and every reply of its metadata server.
    pub const METADATA_FLAVOR: &str = "Metadata-Flavor";
    pub const ORIGIN: &str = "Origin";
    pub const RETRY_AFTER: &str = "Retry-After";
    pub const TRANSFER_ENCODING: &str = "Transfer-Encoding";
    /// Metadata services refuse a request carrying it (a proxied request).
    pub const X_FORWARDED_FOR: &str = "X-Forwarded-For";
}

/// Media types of the bodies we send.
pub mod media {
    pub const JSON: &str = "application/json";
    pub const TEXT: &str = "text/plain";
}

/// The reason phrase of a status we send.
pub fn reason(status: u16) -> &'static str {
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
