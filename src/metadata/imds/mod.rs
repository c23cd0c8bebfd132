//! What EC2's IMDS and Alibaba's ECS metadata service share: a session-token client (PUT
//! `latest/api/token`, GETs carrying the token, the tokenless fallback only when the PUT is
//! refused), the listing-driven walk of the whole tree, and, in `tree`, the flat `path → body`
//! map both are parsed from. Each service is a [`Dialect`]: its header names and provider.

pub mod tree;

use crate::metadata::http::{Http, HttpError};
use crate::metadata::{limits, FetchError, Mac, ParseError, ProviderKind};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use tree::{parse_listing, MACS_DIR};

/// The session-token path below `latest/`, the same on both services.
pub const TOKEN_PATH: &str = "api/token";
/// The longest token lifetime both services grant (6 h), and the one requested by default.
const TOKEN_TTL: Duration = Duration::from_secs(21600);
/// A token is renewed this long before it expires (at most; a quarter of shorter lifetimes),
/// so no GET carries a dying token.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);
/// After the service refused the token PUT, tokenless GETs are used this long before a
/// token is asked for again.
const TOKENLESS_RECHECK: Duration = Duration::from_secs(3600);
/// Bounds of the whole-tree walk (`fetch_system`).
pub const WALK_MAX_REQUESTS: usize = 1000;
pub const WALK_MAX_DEPTH: usize = 16;
/// Missing NIC leaves remembered at most (NICs come and go); past this the memory starts over.
const MISSING_LEAVES_MAX: usize = 1024;

/// One service's spelling of the token flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    pub provider: ProviderKind,
    /// The header carrying the session token on GETs.
    pub token_header: &'static str,
}

impl Dialect {
    pub const fn named(provider: ProviderKind, token_header: &'static str) -> Dialect {
        Dialect {
            provider,
            token_header,
        }
    }

    /// The header carrying the requested lifetime on the token PUT: on both services the
    /// token header followed by `-ttl-seconds`.
    pub fn ttl_header(&self) -> String {
        format!("{}-ttl-seconds", self.token_header)
    }
}

struct Token {
    value: String,
    renew_at: Instant,
}

/// How the next GET authenticates.
enum Auth {
    /// The session token (IMDSv2, Alibaba's security hardening mode).
    Token(String),
    /// The service refused the token PUT (403/404/405), so plain GETs (IMDSv1, normal mode).
    None,
}

/// A client of one token-flow metadata service: the base URL, the cached token and the
/// tokenless decision.
pub struct Session {
    base: String,
    http: Http,
    dialect: Dialect,
    token: Option<Token>,
    tokenless_until: Option<Instant>,
    token_ttl: Duration,
    /// NIC leaves that answered 404 at their last read (see [`Session::read_nic`]).
    missing: BTreeSet<String>,
}

impl Session {
    pub fn new(base_url: &str, http: Http, dialect: Dialect) -> Session {
        Session {
            base: base_url.trim_end_matches('/').to_string(),
            http,
            dialect,
            token: None,
            tokenless_until: None,
            token_ttl: TOKEN_TTL,
            missing: BTreeSet::new(),
        }
    }

    /// Requests tokens living `ttl` (whole seconds, clamped to 1 s – 6 h). Each is renewed
    /// min(60 s, ttl/4) before it expires.
    pub fn set_token_ttl(&mut self, ttl: Duration) {
        self.token_ttl = Duration::from_secs(ttl.as_secs().clamp(1, TOKEN_TTL.as_secs()));
    }

    pub fn provider(&self) -> ProviderKind {
        self.dialect.provider
    }

    fn url(&self, path: &str) -> String {
        format!("{}/latest/{path}", self.base)
    }

    /// GET `latest/<path>`; 404 is `None`. A 401 (token expired or revoked, or the service
    /// now requires tokens) renews the session once and retries.
    pub fn get(&mut self, path: &str) -> Result<Option<String>, FetchError> {
        let url = self.url(path);
        let auth = self.auth()?;
        match self.get_with(&url, &auth) {
            Err(HttpError::Status { status: 401, .. }) => {
                log::info!("{url} answered 401: renewing the session token");
                self.token = None;
                self.tokenless_until = None;
                let auth = self.auth()?;
                Ok(self.get_with(&url, &auth)?)
            }
            other => Ok(other?),
        }
    }

    fn get_with(&self, url: &str, auth: &Auth) -> Result<Option<String>, HttpError> {
        let reply = match auth {
            Auth::Token(token) => self
                .http
                .get_optional(url, &[(self.dialect.token_header, token)])?,
            Auth::None => self.http.get_optional(url, &[])?,
        };
        Ok(reply.map(|reply| reply.body))
    }

    /// The cached token while it is fresh, else a new one. Falls back to tokenless GETs only
    /// when the service answers the PUT with 403, 404 or 405; a timeout is an error (typically
    /// the PUT's reply was dropped by the hop limit, inside a container), never a reason to
    /// downgrade.
    fn auth(&mut self) -> Result<Auth, FetchError> {
        let now = Instant::now();
        if let Some(token) = self.token.as_ref().filter(|t| now < t.renew_at) {
            return Ok(Auth::Token(token.value.clone()));
        }
        if self.tokenless_until.is_some_and(|until| now < until) {
            return Ok(Auth::None);
        }
        let url = self.url(TOKEN_PATH);
        let ttl = self.token_ttl.as_secs().to_string();
        match self.http.put(&url, &[(&self.dialect.ttl_header(), &ttl)]) {
            Ok(reply) => self.keep_token(&url, reply.body.trim(), now),
            Err(HttpError::Status {
                status: status @ 403..=405,
                ..
            }) => {
                log::warn!(
                    "{} metadata service refused the session token ({status}): GETs without a token for an hour",
                    self.dialect.provider
                );
                self.token = None;
                self.tokenless_until = Some(now + TOKENLESS_RECHECK);
                Ok(Auth::None)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn keep_token(&mut self, url: &str, value: &str, now: Instant) -> Result<Auth, FetchError> {
        if value.is_empty() || !value.is_ascii() || value.contains(char::is_whitespace) {
            return Err(HttpError::Invalid {
                url: url.to_string(),
                detail: "the token reply is not a token".to_string(),
            }
            .into());
        }
        self.tokenless_until = None;
        self.token = Some(Token {
            value: value.to_string(),
            renew_at: now + self.token_ttl - TOKEN_MARGIN.min(self.token_ttl / 4),
        });
        Ok(Auth::Token(value.to_string()))
    }

    /// The MAC directory names of the `macs/` listing, checked before anything is read for them.
    pub fn list_macs(&mut self) -> Result<Vec<String>, FetchError> {
        let provider = self.dialect.provider;
        let listing = self
            .get(MACS_DIR)?
            .ok_or_else(|| parse_error(provider, ParseError::NoInterfaces))?;
        let entries = parse_listing(&listing);
        limits::check_count("network interfaces", entries.len(), limits::NICS_MAX)
            .map_err(|e| parse_error(provider, e))?;
        let mut names = Vec::new();
        for entry in entries {
            let name = entry.trim_end_matches('/').to_string();
            name.parse::<Mac>().map_err(|source| {
                parse_error(
                    provider,
                    ParseError::Value {
                        field: format!("{MACS_DIR}{entry}"),
                        source,
                    },
                )
            })?;
            names.push(name);
        }
        Ok(names)
    }

    /// The leaves of `leaf_names` under one MAC directory that the service has (404s left
    /// out). A leaf that answered 404 (`ipv6s` without IPv6, `network-card` on older
    /// instances) is not asked again each refresh: while one is missing, the directory's
    /// listing is read first and a missing leaf is asked for only once the listing shows it.
    pub fn read_nic(
        &mut self,
        name: &str,
        leaf_names: &[&'static str],
    ) -> Result<BTreeMap<&'static str, String>, FetchError> {
        let dir = format!("{MACS_DIR}{name}/");
        let listed = if leaf_names
            .iter()
            .any(|leaf| self.missing.contains(&format!("{dir}{leaf}")))
        {
            match self.get(&dir)? {
                Some(listing) => Some(parse_listing(&listing)),
                None => {
                    self.missing.retain(|path| !path.starts_with(&dir));
                    return Ok(BTreeMap::new());
                }
            }
        } else {
            None
        };
        if self.missing.len() >= MISSING_LEAVES_MAX {
            self.missing.clear();
        }
        let mut leaves = BTreeMap::new();
        for leaf_name in leaf_names {
            let path = format!("{dir}{leaf_name}");
            let still_missing = self.missing.contains(&path)
                && listed
                    .as_ref()
                    .is_some_and(|listed| !listed.iter().any(|entry| entry == leaf_name));
            if still_missing {
                continue;
            }
            match self.get(&path)? {
                Some(body) => {
                    self.missing.remove(&path);
                    leaves.insert(*leaf_name, body);
                }
                None => {
                    self.missing.insert(path);
                }
            }
        }
        Ok(leaves)
    }

    /// Every leaf below `roots` (directories ending in `/`), found through the listings, except
    /// below `skip` (secrets); at most [`WALK_MAX_REQUESTS`] requests and [`WALK_MAX_DEPTH`]
    /// levels, after which the result is partial (with a warning).
    pub fn walk(
        &mut self,
        roots: &[&str],
        skip: &[&str],
    ) -> Result<BTreeMap<String, String>, FetchError> {
        let mut walk = Walk {
            skip,
            budget: WALK_MAX_REQUESTS,
            tree: BTreeMap::new(),
        };
        for root in roots {
            self.walk_dir(&mut walk, root, 1)?;
        }
        if walk.budget == 0 {
            log::warn!(
                "{} metadata walk stopped at {WALK_MAX_REQUESTS} requests: the system view is partial",
                self.dialect.provider
            );
        }
        Ok(walk.tree)
    }

    /// Listing-driven walk of one directory, within the request budget and depth.
    fn walk_dir(&mut self, walk: &mut Walk, dir: &str, depth: usize) -> Result<(), FetchError> {
        if walk.skip.contains(&dir) || depth > WALK_MAX_DEPTH || !walk.spend() {
            return Ok(());
        }
        let Some(listing) = self.get(dir)? else {
            return Ok(());
        };
        let entries = parse_listing(&listing);
        if entries.iter().any(|e| e.contains('=')) {
            walk.tree.insert(dir.to_string(), listing.clone());
        }
        for entry in entries {
            match entry.split_once('=') {
                Some((number, _)) => self.walk_dir(walk, &format!("{dir}{number}/"), depth + 1)?,
                None if entry.ends_with('/') => {
                    self.walk_dir(walk, &format!("{dir}{entry}"), depth + 1)?
                }
                None => {
                    let path = format!("{dir}{entry}");
                    if walk.spend() {
                        if let Some(body) = self.get(&path)? {
                            walk.tree.insert(path, body);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// The state of one whole-tree walk.
struct Walk<'a> {
    skip: &'a [&'a str],
    budget: usize,
    tree: BTreeMap<String, String>,
}

impl Walk<'_> {
    /// Takes one request from the budget; false when it is spent.
    fn spend(&mut self) -> bool {
        if self.budget == 0 {
            return false;
        }
        self.budget -= 1;
        true
    }
}

pub fn parse_error(provider: ProviderKind, source: ParseError) -> FetchError {
    FetchError::Parse { provider, source }
}
