//! What the API answers: the Host check (DNS rebinding), the Origin check (cross-site requests
//! from web pages), the peer check (secrets and work only for clients on this machine) and the
//! routing table, as one function from a request head and a snapshot
//! to a response, each answer counted in the metrics. Every path is pure but `/metrics`, which
//! reads the process's counters, and `/api/v1/check`, which is answered later, by the check's
//! own thread (see `checks`).

use super::http::{RequestHead, Response, Version};
use super::ApiOptions;
use crate::metrics::{self, METRICS};
use crate::net::ProviderKind;
use crate::snapshot::{Ec2Documents, Snapshot};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

const GET: &str = "GET, HEAD";
const POST: &str = "POST";

const CREDENTIALS_REFUSED: &str = "credentials are not served over TCP; set [Network] \
     ServeCredentials=true, or run `cnctl show credentials` as root";

/// The path of the check, as the metrics name it.
pub(super) const CHECK_PATH: &str = "/api/v1/check";

/// What a request gets: a response now, or the result of the reply-path check, which the
/// check's thread computes (the connection waits for it; see `checks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Now(Response),
    Check,
}

/// The answer to one request. `wake` asks the reconcile thread for a refresh and says whether
/// the request was delivered (false once the daemon is shutting down). A check is counted in
/// the metrics when its result is sent.
pub fn respond(
    req: &RequestHead<'_>,
    snap: &Snapshot,
    opts: &ApiOptions,
    wake: &dyn Fn() -> bool,
) -> Reply {
    let route = Route::of(req.path, snap);
    let reply = route_request(req, route, snap, opts, wake);
    if let Reply::Now(response) = &reply {
        METRICS.api_request(route.map_or("other", Route::path), response.status);
    }
    reply
}

fn route_request(
    req: &RequestHead<'_>,
    route: Option<Route>,
    snap: &Snapshot,
    opts: &ApiOptions,
    wake: &dyn Fn() -> bool,
) -> Reply {
    match refusal(req, route, opts) {
        Some(refused) => Reply::Now(refused),
        None => match route {
            Some(Route::Check) if configured(snap) => Reply::Check,
            Some(route) => Reply::Now(route.answer(snap, opts, wake)),
            None => Reply::Now(Response::error(404, &format!("no such path: {}", req.path))),
        },
    }
}

/// Whether a round has configured something: the check has something to look at.
fn configured(snap: &Snapshot) -> bool {
    snap.status.provider.is_some() && snap.status.last_refresh.is_some()
}

/// Why a request is refused before its route answers: Host, Origin, unknown path, peer,
/// method.
fn refusal(req: &RequestHead<'_>, route: Option<Route>, opts: &ApiOptions) -> Option<Response> {
    if let Err(refusal) = check_host(req, opts.listen) {
        return Some(refusal);
    }
    if let Err(refusal) = check_origin(req) {
        return Some(refusal);
    }
    let route = route?;
    if route.loopback_only() && !is_loopback_peer(req.peer) {
        return Some(Response::error(403, &loopback_only_message(req)));
    }
    let allow = route.allow();
    let allowed = match allow {
        GET => matches!(req.method, "GET" | "HEAD"),
        _ => req.method == allow,
    };
    if !allowed {
        let message = format!(
            "method {} is not allowed on {}; allowed: {allow}",
            req.method, req.path
        );
        let mut resp = Response::error(405, &message);
        resp.allow = Some(allow);
        return Some(resp);
    }
    None
}

/// The paths the API serves. EC2's extra documents exist only when the provider is EC2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// `/api/cloud/system`: the original project's shape (EC2: the meta-data tree itself).
    System,
    /// `/api/v1/system`: the provider's whole document.
    FullSystem,
    Network,
    Credentials,
    Identity(IdentityDoc),
    Status,
    Links,
    Check,
    Refresh,
    Metrics,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdentityDoc {
    Document,
    Pkcs7,
    Signature,
    Rsa2048,
}

impl Route {
    fn of(path: &str, snap: &Snapshot) -> Option<Route> {
        let route = match path {
            "/api/cloud/system" => Route::System,
            "/api/cloud/network" => Route::Network,
            "/api/cloud/credentials" => Route::Credentials,
            "/api/v1/system" => Route::FullSystem,
            "/api/v1/status" => Route::Status,
            "/api/v1/links" => Route::Links,
            "/api/v1/check" => Route::Check,
            "/api/v1/refresh" => Route::Refresh,
            "/metrics" => Route::Metrics,
            _ => Route::Identity(IdentityDoc::of(path)?),
        };
        let ec2_only = matches!(route, Route::Credentials | Route::Identity(_));
        let is_ec2 = snap.status.provider == Some(ProviderKind::Aws);
        (is_ec2 || !ec2_only).then_some(route)
    }

    /// The path, as the metrics name it.
    fn path(self) -> &'static str {
        match self {
            Route::System => "/api/cloud/system",
            Route::FullSystem => "/api/v1/system",
            Route::Network => "/api/cloud/network",
            Route::Credentials => "/api/cloud/credentials",
            Route::Identity(IdentityDoc::Document) => "/api/cloud/dynamicinstanceidentity/document",
            Route::Identity(IdentityDoc::Pkcs7) => "/api/cloud/dynamicinstanceidentity/pkcs7",
            Route::Identity(IdentityDoc::Signature) => {
                "/api/cloud/dynamicinstanceidentity/signature"
            }
            Route::Identity(IdentityDoc::Rsa2048) => "/api/cloud/dynamicinstanceidentity/rsa2048",
            Route::Status => "/api/v1/status",
            Route::Links => "/api/v1/links",
            Route::Check => CHECK_PATH,
            Route::Refresh => "/api/v1/refresh",
            Route::Metrics => "/metrics",
        }
    }

    /// The paths answered to loopback peers only: those that serve secrets (the IAM
    /// credentials; the signed identity documents, which prove to third parties that a caller
    /// is this instance) or make the daemon work (a refresh, a check of every address).
    fn loopback_only(self) -> bool {
        matches!(
            self,
            Route::Credentials | Route::Identity(_) | Route::Refresh | Route::Check
        )
    }

    fn allow(self) -> &'static str {
        match self {
            Route::Refresh => POST,
            _ => GET,
        }
    }

    fn answer(self, snap: &Snapshot, opts: &ApiOptions, wake: &dyn Fn() -> bool) -> Response {
        match self {
            Route::System => known_or_503(snap.original_system_body()),
            Route::FullSystem => known_or_503(snap.system_body()),
            Route::Network => known_or_503(snap.network_body()),
            Route::Credentials => credentials(snap.ec2.as_ref(), opts.serve_credentials),
            Route::Identity(doc) => identity(snap.ec2.as_ref(), doc),
            Route::Status => Response::json(200, &snap.status),
            Route::Links => Response::json(200, &snap.status.links),
            // Before the first round; afterwards the check's thread answers (see `checks`).
            Route::Check => Response::error(503, "nothing configured yet"),
            Route::Metrics => Response::text(200, metrics::CONTENT_TYPE, METRICS.render()),
            Route::Refresh if wake() => {
                Response::json(202, &serde_json::json!({"status": "refresh requested"}))
            }
            Route::Refresh => Response::error(503, "the daemon is shutting down"),
        }
    }
}

impl IdentityDoc {
    fn of(path: &str) -> Option<IdentityDoc> {
        match path.strip_prefix("/api/cloud/dynamicinstanceidentity/")? {
            "document" => Some(IdentityDoc::Document),
            "pkcs7" => Some(IdentityDoc::Pkcs7),
            "signature" => Some(IdentityDoc::Signature),
            "rsa2048" => Some(IdentityDoc::Rsa2048),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            IdentityDoc::Document => "document",
            IdentityDoc::Pkcs7 => "pkcs7",
            IdentityDoc::Signature => "signature",
            IdentityDoc::Rsa2048 => "rsa2048",
        }
    }
}

fn no_metadata_yet() -> Response {
    Response::error(503, "no metadata yet")
}

fn known_or_503(body: Option<&[u8]>) -> Response {
    match body {
        Some(body) => Response::json_bytes(200, body),
        None => no_metadata_yet(),
    }
}

fn credentials(ec2: Option<&Ec2Documents>, serve: bool) -> Response {
    if !serve {
        return Response::error(403, CREDENTIALS_REFUSED);
    }
    let Some(ec2) = ec2 else {
        return no_metadata_yet();
    };
    match &ec2.credentials {
        Some(credentials) => Response::json(200, credentials),
        None => Response::error(404, "no IAM role credentials in the instance metadata"),
    }
}

fn identity(ec2: Option<&Ec2Documents>, doc: IdentityDoc) -> Response {
    let Some(ec2) = ec2 else {
        return no_metadata_yet();
    };
    let found = match doc {
        IdentityDoc::Document => return document(ec2.document.as_ref()),
        IdentityDoc::Pkcs7 => ec2.pkcs7.as_deref(),
        IdentityDoc::Signature => ec2.signature.as_deref(),
        IdentityDoc::Rsa2048 => ec2.rsa2048.as_deref(),
    };
    match found {
        Some(text) => Response::json(200, text),
        None => missing_identity(doc),
    }
}

fn document(value: Option<&serde_json::Value>) -> Response {
    match value {
        Some(value) => Response::json(200, value),
        None => missing_identity(IdentityDoc::Document),
    }
}

fn missing_identity(doc: IdentityDoc) -> Response {
    let message = format!(
        "no instance identity {} in the instance metadata",
        doc.name()
    );
    Response::error(404, &message)
}

/// Whether the client connected from this machine's loopback (an IPv4-mapped `::ffff:127.x`
/// included, as a dual-stack listener reports it).
fn is_loopback_peer(peer: IpAddr) -> bool {
    peer.to_canonical().is_loopback()
}

fn loopback_only_message(req: &RequestHead<'_>) -> String {
    format!(
        "{} is answered only to clients on this machine (loopback); this request came from {}",
        req.path,
        req.peer.to_canonical()
    )
}

/// Accepts `localhost`, any 127.0.0.0/8 address and `[::1]` (each with any port) from a
/// loopback peer, and the configured Listen address itself; refuses anything else, a loopback
/// name from a peer that is not on loopback, and a missing Host on HTTP/1.1.
fn check_host(req: &RequestHead<'_>, listen: SocketAddr) -> Result<(), Response> {
    match req.host {
        Some(host) if !is_loopback_peer(req.peer) && names_loopback(host) => Err(Response::error(
            403,
            &format!(
                "Host {host:?} names this machine's loopback, but this request came from {}",
                req.peer.to_canonical()
            ),
        )),
        Some(host) if host_allowed(host, listen) => Ok(()),
        Some(host) => Err(Response::error(
            403,
            &format!("Host {host:?} is not a loopback name or address (DNS rebinding protection)"),
        )),
        None if req.version == Version::Http10 => Ok(()),
        None => Err(Response::error(403, "missing Host header")),
    }
}

/// A browser sends `Origin` with every cross-site POST (a "simple" request needs no preflight,
/// so a web page could otherwise ask for refreshes): a request that carries one is answered
/// only when it is a loopback origin. Clients that are not browsers (cnctl, curl) send none.
fn check_origin(req: &RequestHead<'_>) -> Result<(), Response> {
    match req.origin {
        Some(origin) if !origin_allowed(origin) => Err(Response::error(
            403,
            &format!("Origin {origin:?} is not a loopback origin (cross-site request protection)"),
        )),
        _ => Ok(()),
    }
}

/// `http://` or `https://` with `localhost`, a 127.0.0.0/8 address or `[::1]`, any port, no
/// path; `null` (sandboxed frames, files) and everything else is refused.
pub(super) fn origin_allowed(origin: &str) -> bool {
    let Some(authority) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let Some((name, _)) = split_host(authority) else {
        return false;
    };
    is_loopback_name(name)
}

/// Whether a Host header value names this machine's loopback or the configured Listen address.
pub fn host_allowed(host: &str, listen: SocketAddr) -> bool {
    let Some((name, port)) = split_host(host) else {
        return false;
    };
    is_loopback_name(name)
        || host_ip(name).is_some_and(|ip| ip == listen.ip() && port.unwrap_or(80) == listen.port())
}

/// Whether a Host header value is `localhost` or a loopback address, with any port.
fn names_loopback(host: &str) -> bool {
    split_host(host).is_some_and(|(name, _)| is_loopback_name(name))
}

/// `localhost` or a loopback address (IPv6 in brackets).
fn is_loopback_name(name: &str) -> bool {
    name.eq_ignore_ascii_case("localhost") || host_ip(name).is_some_and(|ip| ip.is_loopback())
}

/// The address a host name spells, when it is an IP literal (IPv6 in brackets).
fn host_ip(name: &str) -> Option<IpAddr> {
    match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(inner) => inner.parse::<Ipv6Addr>().map(IpAddr::V6).ok(),
        None => name.parse::<Ipv4Addr>().map(IpAddr::V4).ok(),
    }
}

/// `name[:port]` into the name and the port; None when the port is not a number.
fn split_host(host: &str) -> Option<(&str, Option<u16>)> {
    let colon = match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => i,
        _ => return Some((host, None)),
    };
    let port = host[colon + 1..].parse().ok()?;
    Some((&host[..colon], Some(port)))
}
