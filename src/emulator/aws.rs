//! Token-flow metadata routing for EC2 IMDS and Alibaba ECS, which share the protocol: the
//! session token flow (`PUT /latest/api/token`, IMDSv2 / security hardening mode), text leaves
//! and derived directory listings from a flat path → body scenario, with the status codes the
//! real services send. A [`Flavor`] holds what differs: the header names and `Server`.
use crate::http::header;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use super::facts::{Reply, RequestFacts};

/// The header carrying the token TTL on `PUT /latest/api/token` and on answers to token GETs.
const TTL_HEADER: &str = "X-aws-ec2-metadata-token-ttl-seconds";
/// The header carrying the session token on GETs.
const TOKEN_HEADER: &str = "X-aws-ec2-metadata-token";
/// The longest token lifetime both services grant (6 hours).
const MAX_TTL_SECONDS: u64 = 21_600;

/// What one token-flow service calls its headers and itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Flavor {
    pub ttl_header: &'static str,
    pub token_header: &'static str,
    /// The `Server` header of every answer, when the service sends a known one.
    pub server: Option<&'static str>,
    /// What ends the lines of listings and multi-line leaves: `\n` on EC2, `\r\n` on Alibaba.
    pub line_end: &'static str,
}

/// EC2 IMDS (IMDSv2).
pub(crate) const EC2: Flavor = Flavor {
    ttl_header: TTL_HEADER,
    token_header: TOKEN_HEADER,
    server: Some("EC2ws"),
    line_end: "\n",
};

/// Alibaba ECS's metadata service at 100.100.100.200 (security hardening mode).
pub(crate) const ALIBABA: Flavor = Flavor {
    ttl_header: "X-aliyun-ecs-metadata-token-ttl-seconds",
    token_header: "X-aliyun-ecs-metadata-token",
    server: None,
    line_end: "\r\n",
};
const MAX_LIVE_TOKENS: usize = 10_000;
const TOKEN_LEN: usize = 56;

/// Issued IMDSv2 session tokens with their expiry, and the generator that makes them.
#[derive(Debug)]
pub(crate) struct TokenStore {
    tokens: HashMap<String, Instant>,
    rng: u64,
}

impl TokenStore {
    /// A store whose tokens come from a xorshift generator started at `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        TokenStore {
            tokens: HashMap::new(),
            rng: seed | 1,
        }
    }

    /// Issues a token valid for `ttl` from `now`.
    pub(crate) fn issue(&mut self, ttl: Duration, now: Instant) -> String {
        if self.tokens.len() >= MAX_LIVE_TOKENS {
            self.tokens.retain(|_, expiry| *expiry > now);
        }
        let token = self.random_token();
        self.tokens.insert(token.clone(), now + ttl);
        token
    }

    /// Forgets every token, as if all had expired.
    pub(crate) fn expire_all(&mut self) {
        self.tokens.clear();
    }

    /// Whole seconds left on `token`, or `None` when it is unknown or expired.
    fn remaining(&self, token: &str, now: Instant) -> Option<u64> {
        let expiry = *self.tokens.get(token)?;
        (expiry > now).then(|| expiry.duration_since(now).as_secs())
    }

    fn next_random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Base64-alphabet text shaped like a real token (`AQAEA...==`).
    fn random_token(&mut self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut token = String::from("AQAEA");
        while token.len() < TOKEN_LEN - 2 {
            let index = (self.next_random() >> 58) as usize;
            token.push(char::from(ALPHABET[index]));
        }
        token.push_str("==");
        token
    }
}

/// Everything the router needs besides the request.
pub(crate) struct Ec2Context<'a> {
    pub flavor: Flavor,
    pub paths: &'a BTreeMap<String, String>,
    pub tokens: &'a mut TokenStore,
    pub now: Instant,
    pub require_token: bool,
}

/// Answers one request as the flavor's service would.
pub(crate) fn respond(req: &RequestFacts, ctx: Ec2Context<'_>) -> Reply {
    let flavor = ctx.flavor;
    let reply = route(req, ctx);
    match flavor.server {
        Some(server) => reply.with_header("Server", server),
        None => reply,
    }
}

fn route(req: &RequestFacts, ctx: Ec2Context<'_>) -> Reply {
    let flavor = ctx.flavor;
    let Some(relative) = api_relative(&req.path) else {
        return if req.path == "/" {
            text_reply(200, "latest".to_string())
        } else {
            error_reply(404)
        };
    };
    if relative == "api/token" {
        return issue_token(req, flavor, ctx.tokens, ctx.now);
    }
    if req.method != "GET" && req.method != "HEAD" {
        return error_reply(405);
    }
    let remaining = match req.header(flavor.token_header) {
        Some(token) => match ctx.tokens.remaining(token, ctx.now) {
            Some(seconds) => Some(seconds),
            None => return error_reply(401),
        },
        None if ctx.require_token => return error_reply(401),
        None => None,
    };
    let reply = serve_path(ctx.paths, relative, flavor.line_end);
    match remaining {
        Some(seconds) if reply.status == 200 => {
            reply.with_header(flavor.ttl_header, &seconds.to_string())
        }
        _ => reply,
    }
}

/// The path below the API version (`latest`, a dated version or `1.0`), without its leading `/`.
fn api_relative(path: &str) -> Option<&str> {
    let rest = path.strip_prefix('/')?;
    let (version, relative) = rest.split_once('/').unwrap_or((rest, ""));
    is_api_version(version).then_some(relative)
}

fn is_api_version(version: &str) -> bool {
    let dated = version.len() == 10
        && version.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    version == "latest" || version == "1.0" || dated
}

fn issue_token(req: &RequestFacts, flavor: Flavor, tokens: &mut TokenStore, now: Instant) -> Reply {
    if req.method != "PUT" {
        return error_reply(405);
    }
    if req.header(header::X_FORWARDED_FOR).is_some() {
        return error_reply(403);
    }
    let ttl = req
        .header(flavor.ttl_header)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ttl| (1..=MAX_TTL_SECONDS).contains(ttl));
    match ttl {
        Some(ttl) => text_reply(200, tokens.issue(Duration::from_secs(ttl), now))
            .with_header(flavor.ttl_header, &ttl.to_string()),
        None => error_reply(400),
    }
}

/// A leaf, an explicit listing, a derived listing, or 404; lines end in `line_end`.
fn serve_path(paths: &BTreeMap<String, String>, relative: &str, line_end: &str) -> Reply {
    if relative.is_empty() {
        let top: Vec<String> = children(paths, "")
            .into_iter()
            .map(|c| c.trim_end_matches('/').to_string())
            .collect();
        return text_reply(200, top.join(line_end));
    }
    if !relative.ends_with('/') {
        if let Some(body) = paths.get(relative) {
            return text_reply(200, with_line_end(body, line_end));
        }
    }
    let directory = format!("{}/", relative.trim_end_matches('/'));
    if let Some(listing) = paths.get(&directory) {
        return text_reply(200, with_line_end(listing, line_end));
    }
    let listing = children(paths, &directory);
    if listing.is_empty() {
        return error_reply(404);
    }
    text_reply(200, listing.into_iter().collect::<Vec<_>>().join(line_end))
}

/// `body` with each of its lines ended by `line_end` (a scenario writes `\n`), JSON bodies
/// (which start with `{`) as they are.
fn with_line_end(body: &str, line_end: &str) -> String {
    if body.trim_start().starts_with('{') {
        return body.to_string();
    }
    body.split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .collect::<Vec<_>>()
        .join(line_end)
}

/// The direct children of `prefix` (which is empty or ends in `/`), sub-directories with a `/`.
fn children(paths: &BTreeMap<String, String>, prefix: &str) -> BTreeSet<String> {
    let mut children = BTreeSet::new();
    children.extend(
        paths
            .keys()
            .filter_map(|key| key.strip_prefix(prefix))
            .filter(|rest| !rest.is_empty())
            .map(|rest| match rest.split_once('/') {
                Some((child, _)) => format!("{child}/"),
                None => rest.to_string(),
            }),
    );
    children
}

fn text_reply(status: u16, body: String) -> Reply {
    Reply::new(status, body).with_header(header::CONTENT_TYPE, "text/plain")
}

/// The XHTML error page IMDS sends with every error status (Alibaba's answers are served with
/// the same page: only the status matters to clients).
pub(crate) fn error_reply(status: u16) -> Reply {
    let reason = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Internal Server Error",
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n\
         <!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\"\n\
         \t\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n\
         <html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n \
         <head>\n  <title>{status} - {reason}</title>\n </head>\n \
         <body>\n  <h1>{status} - {reason}</h1>\n </body>\n</html>\n"
    );
    Reply::new(status, body).with_header(header::CONTENT_TYPE, "text/html")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::facts::Scenario;

    fn get(paths: &BTreeMap<String, String>, tokens: &mut TokenStore, req: RequestFacts) -> Reply {
        let ctx = Ec2Context {
            flavor: EC2,
            paths,
            tokens,
            now: Instant::now(),
            require_token: false,
        };
        respond(&req, ctx)
    }

    #[test]
    fn leaf_and_listings() {
        let paths = Scenario::builtin_paths();
        let mut tokens = TokenStore::new(7);
        let leaf = get(
            &paths,
            &mut tokens,
            RequestFacts::new("GET", "/latest/meta-data/local-ipv4"),
        );
        assert_eq!((leaf.status, leaf.text().as_str()), (200, "172.31.20.10"));
        assert_eq!(leaf.header("content-type"), Some("text/plain"));
        let macs = get(
            &paths,
            &mut tokens,
            RequestFacts::new("GET", "/latest/meta-data/network/interfaces/macs"),
        );
        assert_eq!(macs.text(), "0a:3f:5c:1e:7d:01/\n0a:3f:5c:1e:7d:02/");
        let top = get(&paths, &mut tokens, RequestFacts::new("GET", "/latest/"));
        assert_eq!(top.text(), "dynamic\nmeta-data");
        let keys = get(
            &paths,
            &mut tokens,
            RequestFacts::new("GET", "/latest/meta-data/public-keys/"),
        );
        assert_eq!(keys.text(), "0=demo-key");
        let dated = get(
            &paths,
            &mut tokens,
            RequestFacts::new("GET", "/2016-09-02/meta-data/mac"),
        );
        assert_eq!(dated.text(), "0a:3f:5c:1e:7d:01");
    }

    #[test]
    fn unknown_paths_are_404_pages() {
        let paths = Scenario::builtin_paths();
        let mut tokens = TokenStore::new(7);
        for url in [
            "/latest/meta-data/nope",
            "/latest/meta-data/local-ipv4/",
            "/v9/meta-data/",
        ] {
            let reply = get(&paths, &mut tokens, RequestFacts::new("GET", url));
            assert_eq!(reply.status, 404, "{url}");
            assert!(
                reply.text().contains("<title>404 - Not Found</title>"),
                "{url}"
            );
        }
    }

    #[test]
    fn token_flow() {
        let paths = Scenario::builtin_paths();
        let mut tokens = TokenStore::new(42);
        let put = RequestFacts::new("PUT", "/latest/api/token").with_header(TTL_HEADER, "60");
        let issued = get(&paths, &mut tokens, put);
        assert_eq!(issued.status, 200);
        assert_eq!(issued.header(TTL_HEADER), Some("60"));
        let token = issued.text();
        assert_eq!(token.len(), TOKEN_LEN);
        let ok = RequestFacts::new("GET", "/latest/meta-data/instance-id")
            .with_header(TOKEN_HEADER, &token);
        let reply = get(&paths, &mut tokens, ok);
        assert_eq!(
            (reply.status, reply.text().as_str()),
            (200, "i-0f1e2d3c4b5a69788")
        );
        assert_eq!(reply.header(TTL_HEADER), Some("59"));
        let bad = RequestFacts::new("GET", "/latest/meta-data/instance-id")
            .with_header(TOKEN_HEADER, "AQAEAnope");
        assert_eq!(get(&paths, &mut tokens, bad).status, 401);
    }

    #[test]
    fn ttl_is_validated() {
        let paths = Scenario::builtin_paths();
        let mut tokens = TokenStore::new(1);
        for ttl in ["0", "21601", "-1", "abc", ""] {
            let put = RequestFacts::new("PUT", "/latest/api/token").with_header(TTL_HEADER, ttl);
            assert_eq!(get(&paths, &mut tokens, put).status, 400, "ttl {ttl:?}");
        }
        let missing = RequestFacts::new("PUT", "/latest/api/token");
        assert_eq!(get(&paths, &mut tokens, missing).status, 400);
        let max = RequestFacts::new("PUT", "/latest/api/token").with_header(TTL_HEADER, "21600");
        assert_eq!(get(&paths, &mut tokens, max).status, 200);
        let forwarded = RequestFacts::new("PUT", "/latest/api/token")
            .with_header(TTL_HEADER, "60")
            .with_header("X-Forwarded-For", "10.0.0.1");
        assert_eq!(get(&paths, &mut tokens, forwarded).status, 403);
        let get_token = RequestFacts::new("GET", "/latest/api/token");
        assert_eq!(get(&paths, &mut tokens, get_token).status, 405);
    }

    #[test]
    fn expired_token_and_required_token() {
        let paths = Scenario::builtin_paths();
        let mut tokens = TokenStore::new(3);
        let start = Instant::now();
        let token = tokens.issue(Duration::from_secs(1), start);
        let req =
            RequestFacts::new("GET", "/latest/meta-data/mac").with_header(TOKEN_HEADER, &token);
        let later = |tokens: &mut TokenStore, now, require_token, req: &RequestFacts| {
            respond(
                req,
                Ec2Context {
                    flavor: EC2,
                    paths: &paths,
                    tokens,
                    now,
                    require_token,
                },
            )
            .status
        };
        assert_eq!(
            later(&mut tokens, start + Duration::from_millis(999), false, &req),
            200
        );
        assert_eq!(
            later(&mut tokens, start + Duration::from_secs(1), false, &req),
            401
        );
        let v1 = RequestFacts::new("GET", "/latest/meta-data/mac");
        assert_eq!(later(&mut tokens, start, false, &v1), 200);
        assert_eq!(later(&mut tokens, start, true, &v1), 401);
    }

    #[test]
    fn alibaba_flavor_uses_its_own_headers() {
        let paths = Scenario::builtin_paths_of(crate::net::ProviderKind::Alibaba);
        let mut tokens = TokenStore::new(5);
        let mut ask = |req: RequestFacts, require_token| {
            let ctx = Ec2Context {
                flavor: ALIBABA,
                paths: &paths,
                tokens: &mut tokens,
                now: Instant::now(),
                require_token,
            };
            respond(&req, ctx)
        };
        let ec2_put = RequestFacts::new("PUT", "/latest/api/token").with_header(TTL_HEADER, "60");
        assert_eq!(ask(ec2_put, true).status, 400);
        let put =
            RequestFacts::new("PUT", "/latest/api/token").with_header(ALIBABA.ttl_header, "21600");
        let issued = ask(put, true);
        assert_eq!(issued.status, 200);
        assert_eq!(issued.header(ALIBABA.ttl_header), Some("21600"));
        assert_eq!(issued.header("server"), None);
        let token = issued.text();
        let path = "/latest/meta-data/network/interfaces/macs/00:16:3e:2a:51:02/private-ipv4s";
        let with_token = RequestFacts::new("GET", path).with_header(ALIBABA.token_header, &token);
        let reply = ask(with_token, true);
        assert_eq!(
            (reply.status, reply.text().as_str()),
            (200, r#"["172.16.20.40","172.16.20.41"]"#)
        );
        let ec2_header = RequestFacts::new("GET", path).with_header(TOKEN_HEADER, &token);
        assert_eq!(ask(ec2_header, true).status, 401);
        assert_eq!(ask(RequestFacts::new("GET", path), false).status, 200);
        let macs = ask(
            RequestFacts::new("GET", "/latest/meta-data/network/interfaces/macs/"),
            false,
        );
        assert_eq!(macs.text(), "00:16:3e:2a:51:01/\r\n00:16:3e:2a:51:02/");
        let servers = ask(
            RequestFacts::new("GET", "/latest/meta-data/dns-conf/nameservers"),
            false,
        );
        assert_eq!(servers.text(), "100.100.2.136\r\n100.100.2.138");
    }

    #[test]
    fn ec2_answers_name_the_server() {
        let paths = Scenario::builtin_paths();
        let mut tokens = TokenStore::new(7);
        for url in ["/latest/meta-data/mac", "/latest/meta-data/nope"] {
            let reply = get(&paths, &mut tokens, RequestFacts::new("GET", url));
            assert_eq!(reply.header("server"), Some("EC2ws"), "{url}");
        }
    }

    #[test]
    fn tokens_differ() {
        let mut tokens = TokenStore::new(9);
        let now = Instant::now();
        let a = tokens.issue(Duration::from_secs(5), now);
        let b = tokens.issue(Duration::from_secs(5), now);
        assert_ne!(a, b);
        assert!(a.starts_with("AQAEA") && a.ends_with("=="));
    }
}
