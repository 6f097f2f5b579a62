//! The API over HTTP: routing, authentication of each request, CORS, content negotiation, and
//! the one place that maps an error to a status and body.
//!
//! [`handle`] turns a plain [`Request`] into a plain [`Response`] and is tested without
//! sockets; [`respond`] wraps it for the connection layer ([`crate::http`]), which owns the
//! sockets, the threads and every limit; [`start`] wires the two. A panic while handling a
//! request becomes a 500 for that request; the worker lives on. The server never talks to the
//! registry and never mutates a snapshot: it swaps in whole new ones.

use std::net::{IpAddr, SocketAddr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::auth::jwt::{TokenError, Tokens};
use crate::auth::recheck::{Rechecks, Verdict};
use crate::auth::{address, parse_basic, Authenticator, FailureLimiter, LoginError, LoginGate};
use crate::cleanup;
use crate::history::store::HistoryStore;
use crate::http;
use crate::http::ipnet::IpNet;
pub(crate) use crate::http::{Body, Request, Response};
use crate::metrics::{self, Metrics};
use crate::registry::status::{CollectorStatus, Health, SnapshotFacts};
use crate::server::cache::RenderCache;
use crate::snapshot::Snapshot;

/// The snapshot being served, with the render cache that belongs to it; both are replaced
/// whole (a new crawl starts with an empty cache), never modified.
pub struct SnapshotCell {
    served: RwLock<Option<Served>>,
    /// Byte budget of each snapshot's render cache (`[general] cache_budget`).
    budget: usize,
}

#[derive(Clone)]
pub(crate) struct Served {
    pub(crate) snap: Arc<Snapshot>,
    pub(crate) cache: Arc<RenderCache>,
}

impl Default for SnapshotCell {
    fn default() -> Self {
        SnapshotCell::new(64 << 20)
    }
}

impl SnapshotCell {
    pub fn new(cache_budget: usize) -> SnapshotCell {
        SnapshotCell {
            served: RwLock::new(None),
            budget: cache_budget,
        }
    }

    pub(crate) fn get(&self) -> Option<Arc<Snapshot>> {
        self.served().map(|s| s.snap)
    }

    pub(crate) fn served(&self) -> Option<Served> {
        self.served
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set(&self, snap: Arc<Snapshot>) {
        // Validators stay the same across a restart that loads the same crawl.
        let generation = snap.timestamp.to_bits();
        let cache = Arc::new(RenderCache::new(self.budget, generation));
        *self.served.write().unwrap_or_else(|p| p.into_inner()) = Some(Served { snap, cache });
    }
}

/// Everything a worker needs to answer requests.
pub struct App {
    /// `""` or `/prefix` (see `config::General::server_prefix`).
    pub prefix: String,
    pub tokens: Tokens,
    pub authenticator: Arc<dyn Authenticator>,
    pub limiter: FailureLimiter,
    /// Failed logins per (lower-cased) user name, across clients.
    pub user_limiter: FailureLimiter<String>,
    /// The directory's answers on tokens' users (`[ldap] recheck_interval`).
    pub rechecks: Rechecks,
    pub gate: LoginGate,
    pub trusted_proxies: Vec<IpNet>,
    pub snapshot: SnapshotCell,
    /// What the collector reports about itself (for `/health` and `/metrics`).
    pub status: Arc<CollectorStatus>,
    /// `[registry] update_interval`: data older than twice this is stale for `/health`.
    pub update_interval: Duration,
    /// `/metrics`: its settings and the HTTP request counters.
    pub metrics: Metrics,
    /// Limits of `/cleanup` (see `config::General::cleanup_regex_size_limit`).
    pub cleanup_limits: cleanup::Limits,
    /// The storage scans (`/storage`), published by the scan thread.
    pub storage: Arc<StorageCell>,
    /// The crawl history (`since=`, `/history`); [`HistoryStore::off`] when not kept.
    pub history: Arc<HistoryStore>,
    /// `[general] cors_allowed_origins`: `None` lets any origin read the API.
    pub cors_origins: Option<Vec<String>>,
    /// Bodies too big for the render cache being streamed at once (`[general] max_streams`).
    pub streams: Arc<StreamGate>,
}

/// Bounds the responses streamed at once: a stream is written on its worker for as long as
/// its client takes it (up to `write_timeout`), so without a bound a few clients that do not
/// read could hold every worker.
#[derive(Debug)]
pub struct StreamGate {
    max: usize,
    in_flight: std::sync::atomic::AtomicUsize,
}

/// A place in the [`StreamGate`], given back when dropped (with the stream's body).
pub(crate) struct StreamPass(Arc<StreamGate>);

impl StreamGate {
    pub fn new(max: usize) -> Arc<StreamGate> {
        Arc::new(StreamGate {
            max: max.max(1),
            in_flight: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    pub(crate) fn try_enter(self: &Arc<Self>) -> Option<StreamPass> {
        use std::sync::atomic::Ordering::SeqCst;
        if self.in_flight.fetch_add(1, SeqCst) >= self.max {
            self.in_flight.fetch_sub(1, SeqCst);
            return None;
        }
        Some(StreamPass(self.clone()))
    }
}

impl Drop for StreamPass {
    fn drop(&mut self) {
        self.0
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Everything that can go wrong with a request, mapped to HTTP by [`error_response`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    MissingAuthorization,
    NotBearer,
    Token(TokenError),
    LoginRefused,
    /// The directory could not judge the credentials; why is logged, never sent.
    LoginUnavailable,
    LoginBusy,
    /// `max_streams` large responses are being streamed already.
    StreamsBusy,
    TooManyFailures {
        retry_after: u64,
    },
    TooManyFailuresForUser {
        retry_after: u64,
    },
    /// The token's user is no longer in the directory's group.
    UserRemoved,
    NotReady,
    /// A query parameter is missing or malformed: `<parameter>: <what is wrong>`.
    BadParameter(String),
    /// `/metrics` without the configured bearer token.
    MetricsUnauthorized,
    /// `/storage` with `[storage] driver` unset.
    StorageOff,
    /// `/storage` before the first good scan; the last scan's error, if one failed.
    StorageNotReady(Option<String>),
    /// Canonical path of the missing resource.
    NotFound(String),
    NoRoute,
    MethodNotAllowed,
    Internal,
}

const ALLOWED_METHODS: &str = "GET, HEAD, OPTIONS";

fn json_msg(key: &str, text: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ key: text })).unwrap_or_default()
}

/// The single mapping from an error to a status and a body.
pub(crate) fn error_response(e: &ApiError) -> Response {
    let msg =
        |status, text: &str| Response::typed(status, "application/json", json_msg("msg", text));
    let message =
        |status, text: &str| Response::typed(status, "application/json", json_msg("message", text));
    match e {
        ApiError::MissingAuthorization => msg(401, "Missing Authorization Header"),
        ApiError::NotBearer => msg(
            401,
            "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'",
        ),
        ApiError::Token(TokenError::Expired) => msg(401, "Token has expired"),
        ApiError::Token(TokenError::Invalid(why)) => msg(422, why),
        ApiError::LoginRefused => msg(401, "Invalid credentials")
            .with("WWW-Authenticate", "Basic realm=\"Authentication Required\""),
        ApiError::LoginUnavailable => {
            msg(503, "The login could not be checked; try again later").with("Retry-After", "30")
        }
        ApiError::LoginBusy => {
            msg(503, "Too many logins are being checked; try again shortly").with("Retry-After", "1")
        }
        ApiError::StreamsBusy => msg(
            503,
            "Too many large responses are being sent; try again shortly, or ask for less (limit, embed)",
        )
        .with("Retry-After", "2"),
        ApiError::TooManyFailures { retry_after } => msg(
            429,
            &format!("Too many failed logins from your address; try again in {retry_after} seconds"),
        )
        .with("Retry-After", retry_after.to_string()),
        ApiError::TooManyFailuresForUser { retry_after } => msg(
            429,
            &format!("Too many failed logins for this user name; try again in {retry_after} seconds"),
        )
        .with("Retry-After", retry_after.to_string()),
        ApiError::UserRemoved => msg(
            401,
            "The user is no longer allowed to use this service; log in again",
        ),
        ApiError::NotReady => msg(
            503,
            "No registry data has been collected yet; the first crawl is running. Try again shortly.",
        )
        .with("Retry-After", "10"),
        ApiError::BadParameter(text) => message(400, text),
        ApiError::MetricsUnauthorized => msg(
            401,
            "/metrics needs 'Authorization: Bearer <token>' with the token of [metrics] bearer_token",
        )
        .with("WWW-Authenticate", "Bearer realm=\"metrics\""),
        ApiError::StorageOff => message(
            404,
            "The storage is not scanned: set [storage] driver (filesystem or s3) and its keys in the configuration",
        ),
        ApiError::StorageNotReady(None) => {
            message(503, "The first storage scan is running. Try again shortly.").with("Retry-After", "10")
        }
        ApiError::StorageNotReady(Some(why)) => message(
            503,
            &format!("No storage scan has succeeded yet; the last one failed: {why}"),
        )
        .with("Retry-After", "60"),
        ApiError::NotFound(path) => {
            let text = format!("The resource \"{path}\" does not exist");
            Response::typed(404, "application/json", json_msg("message", &text))
        }
        ApiError::NoRoute => message(
            404,
            "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.",
        ),
        ApiError::MethodNotAllowed => {
            message(405, "The method is not allowed for the requested URL.").with("Allow", ALLOWED_METHODS)
        }
        ApiError::Internal => msg(500, "Internal server error; the log has the details"),
    }
}

/// The routes of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    AuthToken,
    /// The path below `/repositories` (`""` or starting with `/`), still encoded.
    Repositories(&'a str),
    /// The path below `/namespaces`, likewise.
    Namespaces(&'a str),
    Health,
    Metrics,
    /// The built-in dashboard's page and assets (no authentication).
    Dashboard(dashboard::Lookup),
    /// The clean-up dry run.
    Cleanup,
    /// The last storage scan.
    Storage,
    /// Every GitLab project's clean-up policy, previewed.
    Policies,
    /// The recorded crawls.
    History,
}

fn route<'a>(path: &'a str, prefix: &str) -> Option<Route<'a>> {
    let rest = path.strip_prefix(prefix)?;
    match rest {
        "/auth_token" => return Some(Route::AuthToken),
        "/health" => return Some(Route::Health),
        "/metrics" => return Some(Route::Metrics),
        "/storage" => return Some(Route::Storage),
        _ => {}
    }
    if rest == "/cleanup" || rest == "/cleanup/" {
        return Some(Route::Cleanup);
    }
    if rest == "/policies" || rest == "/policies/" {
        return Some(Route::Policies);
    }
    if rest == "/history" || rest == "/history/" {
        return Some(Route::History);
    }
    if let Some(found) = dashboard::lookup(rest) {
        return Some(Route::Dashboard(found));
    }
    let below = |base: &str| {
        rest.strip_prefix(base)
            .filter(|b| b.is_empty() || b.starts_with('/'))
    };
    below("/repositories")
        .map(Route::Repositories)
        .or_else(|| below("/namespaces").map(Route::Namespaces))
}

/// Whether the client prefers HTML: `text/html` ranks above every JSON type and at least as
/// high as `*/*`. Anything else (absent, `*/*`, JSON, garbage like `undefined`) gets JSON.
pub(crate) fn prefers_html(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return false };
    let (mut html, mut json, mut any) = (0.0f32, 0.0f32, 0.0f32);
    for (media, q) in http::parse::weighted(accept) {
        match media.as_str() {
            "text/html" | "application/xhtml+xml" => html = html.max(q),
            "application/json" | "application/hal+json" | "application/*" => json = json.max(q),
            "*/*" => any = any.max(q),
            _ => {}
        }
    }
    html > 0.0 && html > json && html >= any
}

/// The client's address for rate limiting: the socket peer, or behind trusted proxies the
/// address they forwarded (the rules are `auth::address`'s). Every `X-Forwarded-For` line counts.
fn client_addr(req: &Request, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer?;
    let forwarded = req
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("X-Forwarded-For"))
        .map(|(_, v)| v.as_str());
    let client = address::client_address(peer, forwarded.clone(), trusted);
    if client == crate::http::ipnet::canonical(peer) && forwarded.count() > 0 {
        warn_untrusted_forwarding(client, trusted);
    }
    Some(client)
}

/// Once per process: a request carried `X-Forwarded-For` from a peer that is not a trusted
/// proxy. Either someone forges the header (harmless: it is ignored) or the service is behind
/// a proxy missing from `trusted_proxies`, and every user shares that proxy's failure count.
fn warn_untrusted_forwarding(peer: IpAddr, trusted: &[IpNet]) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if trusted.iter().any(|n| n.contains(peer))
        || WARNED.swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        return;
    }
    log::warn!(
        "a login from {peer} carries X-Forwarded-For, which is ignored because {peer} is not in \
         [general] trusted_proxies: if {peer} is your reverse proxy, add it, or every user behind \
         it shares one failed-login limit (said once)"
    );
}

/// The API's CORS headers: the request's `Origin` echoed when it may read the answer (any
/// origin when `allowed` is `None`, the original's behaviour), `*` without an `Origin`.
fn cors(req: &Request, mut resp: Response, allowed: Option<&[String]>) -> Response {
    let permitted =
        |o: &str| allowed.is_none_or(|list| list.iter().any(|a| a.eq_ignore_ascii_case(o)));
    match req.header("Origin") {
        Some(origin) if !origin.is_empty() && !permitted(origin) => {
            // Caches must still tell origins apart.
            match resp.headers.iter_mut().find(|(k, _)| *k == "Vary") {
                Some((_, v)) => v.push_str(", Origin"),
                None => resp.headers.push(("Vary".into(), "Origin".into())),
            }
        }
        Some(origin) if !origin.is_empty() => {
            resp.headers
                .push(("Access-Control-Allow-Origin".into(), origin.to_string()));
            // One `Vary` field: a resource's own (`Accept, Accept-Encoding`) gains `Origin`.
            match resp.headers.iter_mut().find(|(k, _)| *k == "Vary") {
                Some((_, v)) => v.push_str(", Origin"),
                None => resp.headers.push(("Vary".into(), "Origin".into())),
            }
        }
        _ if allowed.is_some() => {}
        _ => resp
            .headers
            .push(("Access-Control-Allow-Origin".into(), "*".into())),
    }
    resp
}

/// Whether a request is for `/health` or `/metrics`, which no other origin may read: they
/// get no CORS headers at all.
fn same_origin_only(app: &App, req: &Request) -> bool {
    let path = req.url.split_once('?').map_or(req.url.as_str(), |(p, _)| p);
    matches!(
        route(path, &app.prefix),
        Some(Route::Health | Route::Metrics)
    )
}

/// CORS where it applies (see [`cors`], [`same_origin_only`]).
fn with_cors(app: &App, req: &Request, resp: Response) -> Response {
    if same_origin_only(app, req) {
        resp
    } else {
        cors(req, resp, app.cors_origins.as_deref())
    }
}

/// Answers one request. `now` is the current time (Unix seconds), passed in for testing.
pub fn handle(app: &App, req: &Request, now: u64) -> Response {
    let resp = match handle_inner(app, req, now) {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    with_cors(app, req, protect(resp))
}

/// The policy of every response without its own: nothing may load, nothing may frame it.
const CSP_NONE: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The HTML views' policy: [`CSP_NONE`] plus their one inline style, by its hash.
fn csp_html_view() -> &'static str {
    static CSP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CSP.get_or_init(|| {
        use base64::Engine as _;
        let hash = ring::digest::digest(&ring::digest::SHA256, crate::hal::html::STYLE.as_bytes());
        let hash = base64::engine::general_purpose::STANDARD.encode(hash.as_ref());
        format!("default-src 'none'; style-src 'sha256-{hash}'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
    })
}

/// Headers that keep a browser from reading a response as anything but what it says: every
/// response shares the dashboard's origin, where the token lives. The dashboard's files
/// bring their own policy.
fn protect(mut resp: Response) -> Response {
    if resp.header("X-Content-Type-Options").is_none() {
        resp = resp.with("X-Content-Type-Options", "nosniff");
    }
    if resp.header("Content-Security-Policy").is_none() {
        let html = resp
            .header("Content-Type")
            .is_some_and(|t| t.starts_with("text/html"));
        let csp = if html { csp_html_view() } else { CSP_NONE };
        resp = resp.with("Content-Security-Policy", csp);
    }
    resp
}

fn handle_inner(app: &App, req: &Request, now: u64) -> Result<Response, ApiError> {
    let (path, query) = req.url.split_once('?').unwrap_or((&req.url, ""));
    let route = route(path, &app.prefix).ok_or(ApiError::NoRoute)?;
    match req.method.as_str() {
        "GET" | "HEAD" => {}
        "OPTIONS" => return Ok(preflight()),
        _ => return Err(ApiError::MethodNotAllowed),
    }
    match route {
        Route::AuthToken => login(app, req, now),
        Route::Repositories(_) | Route::Namespaces(_) => {
            authorize_user(app, req, now)?;
            let served = app.snapshot.served().ok_or(ApiError::NotReady)?;
            resources::resource(app, &served, req, route, query, now)
        }
        Route::History => {
            authorize_user(app, req, now)?;
            resources::history_resource(&app.history, query)
        }
        Route::Health => Ok(health_response(app, req, now)),
        Route::Metrics => {
            if !app.metrics.enabled {
                return Err(ApiError::NoRoute);
            }
            if !app.metrics.authorized(req.header("Authorization")) {
                return Err(ApiError::MetricsUnauthorized);
            }
            let storage = app.storage.get();
            let text = metrics::render(
                app.snapshot.get().as_deref(),
                &app.status.get(),
                &app.metrics.http,
                &storage::metrics_view(&storage),
            );
            Ok(
                Response::typed(200, metrics::CONTENT_TYPE, text.into_bytes())
                    .with("Cache-Control", "no-store"),
            )
        }
        Route::Dashboard(found) => Ok(dashboard_response(found, &app.prefix)),
        Route::Storage => {
            authorize_user(app, req, now)?;
            storage::storage_resource(&app.storage, req, &app.prefix)
        }
        Route::Cleanup => {
            authorize_user(app, req, now)?;
            let snap = app.snapshot.get().ok_or(ApiError::NotReady)?;
            let html = prefers_html(req.header("Accept"));
            let now = i64::try_from(now).unwrap_or(i64::MAX);
            resources::cleanup_resource(&snap, query, html, &app.prefix, app.cleanup_limits, now)
        }
        Route::Policies => {
            authorize_user(app, req, now)?;
            let served = app.snapshot.served().ok_or(ApiError::NotReady)?;
            resources::policies(&served, req, query, &app.prefix, app.cleanup_limits)
        }
    }
}

/// The dashboard's page or asset, with its security headers; `/prefix` becomes `/prefix/`.
fn dashboard_response(found: dashboard::Lookup, prefix: &str) -> Response {
    let resp = match found {
        dashboard::Lookup::Asset(a) => Response::typed(200, a.content_type, a.body.to_vec()),
        dashboard::Lookup::AddSlash => {
            Response::typed(308, "text/plain; charset=utf-8", Vec::new())
                .with("Location", format!("{prefix}/"))
        }
    };
    dashboard::HEADERS
        .iter()
        .fold(resp, |r, &(k, v)| r.with(k, v))
}

/// `/health`: the verdict of [`health::judge`], 200 or 503 with `Retry-After`. Anonymous
/// callers get one word (`ok`, `stale`, `failing`); the details (last error texts, which
/// name addresses) need the token of a user the directory still lets in, or the metrics token.
fn health_response(app: &App, req: &Request, now: u64) -> Response {
    let facts = app.snapshot.get().map(|s| SnapshotFacts {
        timestamp: s.timestamp,
        repositories: s.repositories.len(),
        tags: s.tag_count(),
    });
    let state = app.status.get();
    let verdict = crate::registry::status::judge(&state, facts, app.update_interval, now as f64);
    let detailed = authorize_user(app, req, now).is_ok()
        || (app.metrics.bearer_token.is_some()
            && app.metrics.authorized(req.header("Authorization")));
    let json = if detailed {
        let mut json = verdict.body();
        if let (Some(p), Some(m)) = (
            crate::registry::status::projects_body(&state),
            json.as_object_mut(),
        ) {
            m.insert("projects".into(), p);
        }
        json
    } else {
        serde_json::json!({ "status": verdict.word() })
    };
    let body = serde_json::to_vec(&json).unwrap_or_default();
    let resp = match verdict {
        Health::Ok { .. } => Response::typed(200, "application/json", body),
        Health::Unavailable { retry_after, .. } => Response::typed(503, "application/json", body)
            .with("Retry-After", retry_after.to_string()),
    };
    resp.with("Cache-Control", "no-store")
}

fn preflight() -> Response {
    Response::new(204, Body::empty())
        .with("Allow", ALLOWED_METHODS)
        .with("Access-Control-Allow-Methods", ALLOWED_METHODS)
        .with(
            "Access-Control-Allow-Headers",
            "Authorization, Accept, Content-Type",
        )
        .with("Access-Control-Max-Age", "600")
}

/// [`authorize`], then the token's user against the directory, at most every
/// `[ldap] recheck_interval` (see `auth::recheck`).
fn authorize_user(app: &App, req: &Request, now: u64) -> Result<String, ApiError> {
    let claims = authorize_claims(&app.tokens, req, now)?;
    let user = claims.sub;
    match app.rechecks.check(&user, claims.iat, now, || {
        app.authenticator.still_member(&user)
    }) {
        Verdict::Allowed => Ok(user),
        Verdict::Removed => {
            log::info!("refused a token of {user:?}: the directory no longer lets the user in");
            Err(ApiError::UserRemoved)
        }
        Verdict::Unknown => Err(ApiError::LoginUnavailable),
    }
}

fn authorize_claims(
    tokens: &Tokens,
    req: &Request,
    now: u64,
) -> Result<crate::auth::jwt::Claims, ApiError> {
    let header = req
        .header("Authorization")
        .ok_or(ApiError::MissingAuthorization)?;
    let header = header.trim();
    let (scheme, token) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::NotBearer);
    }
    tokens.verify(token.trim(), now).map_err(ApiError::Token)
}

/// `/auth_token`: HTTP Basic credentials in, a JWT out.
fn login(app: &App, req: &Request, now: u64) -> Result<Response, ApiError> {
    let addr = client_addr(req, &app.trusted_proxies);
    let when = Instant::now();
    if let Some(a) = addr {
        if let Some(retry_after) = app.limiter.check(a, when) {
            log::warn!(
                "login refused: too many failed logins from {}",
                address::bucket(a)
            );
            return Err(ApiError::TooManyFailures { retry_after });
        }
    }
    let Some(header) = req.header("Authorization") else {
        return Err(ApiError::LoginRefused);
    };
    let shown_addr = addr.map_or_else(|| "unknown address".to_string(), |a| a.to_string());
    let failed = |user: Option<&str>| {
        if let Some(a) = addr {
            app.limiter.record_failure(a, when);
        }
        if let Some(u) = user {
            app.user_limiter.record_key(u.to_lowercase(), when);
        }
        log::info!(
            "failed login for user {:?} from {shown_addr}",
            user.unwrap_or("<malformed credentials>")
        );
        ApiError::LoginRefused
    };
    let Some((user, password)) = parse_basic(header) else {
        return Err(failed(None));
    };
    // Per name, whoever asks: many clients cannot share out the guesses at one password.
    if let Some(retry_after) = app.user_limiter.check_key(&user.to_lowercase(), when) {
        log::warn!(
            "login for {user:?} refused: too many failed logins for this name in the last minute (from {shown_addr})"
        );
        return Err(ApiError::TooManyFailuresForUser { retry_after });
    }
    let _pass = app.gate.try_enter().ok_or_else(|| {
        log::warn!(
            "login for {user:?} turned away: ldap.max_concurrent logins are already in flight"
        );
        ApiError::LoginBusy
    })?;
    match app.authenticator.authenticate(&user, &password) {
        Ok(name) => {
            let token = app
                .tokens
                .issue(&name, now)
                .map_err(|_| ApiError::Internal)?;
            log::info!("user {name:?} logged in from {shown_addr}");
            let body =
                serde_json::to_vec(&serde_json::json!({ "auth_token": token })).unwrap_or_default();
            Ok(Response::typed(200, "application/json", body).with("Cache-Control", "no-store"))
        }
        Err(LoginError::Rejected) => Err(failed(Some(&user))),
        Err(LoginError::Unavailable(why)) => {
            log::warn!("login for {user:?} could not be checked: {why}");
            Err(ApiError::LoginUnavailable)
        }
    }
}

/// Answers one request as the connection layer calls it: the handler inside `catch_unwind`
/// (a panic is a 500 for that request only), timed, with one debug line per request. Every
/// request passes here exactly once, so per-request accounting belongs here.
pub(crate) fn respond(app: &App, req: &Request) -> Response {
    let started = Instant::now();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let resp = catch_unwind(AssertUnwindSafe(|| handle(app, req, now))).unwrap_or_else(|_| {
        log::error!(
            "bug: a panic while answering {} {}; answered 500",
            req.method,
            path_only(&req.url)
        );
        with_cors(app, req, protect(error_response(&ApiError::Internal)))
    });
    app.metrics
        .http
        .record(&app.prefix, &req.url, resp.status, started.elapsed());
    log::debug!(
        "{} {} -> {} ({} bytes, {:.1} ms)",
        req.method,
        path_only(&req.url),
        resp.status,
        resp.body
            .len()
            .map_or_else(|| "streamed".to_string(), |n| n.to_string()),
        started.elapsed().as_secs_f64() * 1000.0
    );
    resp
}

/// Why the server could not start.
#[derive(Debug)]
pub struct StartError {
    pub addr: String,
    pub reason: String,
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot listen on {}: {} (check [general] socket_host and socket_port)",
            self.addr, self.reason
        )
    }
}

impl std::error::Error for StartError {}

/// The API's server: the connection layer answering through [`respond`].
pub struct Running {
    server: http::Server,
}

/// Binds `host:port` and starts the connection layer with `workers` threads answering with
/// `app`, within `limits`.
pub fn start(
    app: Arc<App>,
    host: &str,
    port: u16,
    workers: usize,
    limits: http::Limits,
) -> Result<Running, StartError> {
    let fail = |e: std::io::Error| StartError {
        addr: format!("{host}:{port}"),
        reason: e.to_string(),
    };
    let listener = http::bind(host, port).map_err(fail)?;
    let opts = http::Options {
        workers,
        limits,
        name: "http".into(),
    };
    let handler: http::Handler = Arc::new(move |req: &Request| respond(&app, req));
    let server = http::Server::start(listener, opts, handler).map_err(fail)?;
    Ok(Running { server })
}

impl Running {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Receives a message if the connection layer fails for good: the process must exit.
    pub fn failed(&self) -> &crossbeam_channel::Receiver<String> {
        self.server.failed()
    }

    /// Stops accepting, lets in-flight requests finish within `grace`, closes the rest.
    pub fn shutdown(self, grace: Duration) {
        self.server.shutdown(grace);
    }
}

/// The path of a URL without its query, for logs (queries are harmless but noisy).
fn path_only(url: &str) -> &str {
    url.split_once('?').map_or(url, |(p, _)| p)
}

pub mod cache;
pub(crate) mod dashboard;
mod resources;
mod storage;
pub use resources::{cleanup_resource, policies_resource};
pub use storage::{StorageCell, StorageState};
#[cfg(test)]
mod tests;
