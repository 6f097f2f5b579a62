//! A fake Docker Distribution registry on 127.0.0.1 for the collector's fault tests and the
//! crawl benchmark, plus builders of manifest JSON shared with the tests that push to the real
//! registry, and the small server both run on: the service's own connection layer
//! (`gitlab_registry_usage_rest::http`), with raw answers for the faults.
//!
//! The protocol is the library's (`demo::registry` over a `demo::content::Content`, the one
//! `--demo` serves): catalog and tags lists with `n`/`last` pagination and `Link`, manifests by
//! tag or digest (GET and HEAD), blob HEADs and GETs of stored contents such as configs. This
//! file adds only what tests need around it: its own token endpoint with opaque tokens whose
//! scopes it checks, a second "storage" server that blobs are 307-redirected to, a tags page
//! limit, request counts, and rules that inject faults (status codes, `Retry-After`, hangs,
//! truncated and invalid bodies, revoked tokens). Everything runs on threads of the test
//! process, so nothing outlives it.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockWriteGuard};
use std::time::Duration;

use gitlab_registry_usage_rest::demo::content::{Content, Untagged};
use gitlab_registry_usage_rest::demo::registry as shared;
use gitlab_registry_usage_rest::http;

pub const DOCKER_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

// ---------------------------------------------------------------- content builders

pub fn sha256(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Deterministic blob content of `size` bytes for `seed`.
pub fn blob_bytes(seed: &str, size: usize) -> Vec<u8> {
    let mut x: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        x = (x ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A blob as a manifest refers to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Desc {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

impl Desc {
    pub fn of(media_type: &str, bytes: &[u8]) -> Desc {
        Desc {
            media_type: media_type.into(),
            digest: sha256(bytes),
            size: bytes.len() as u64,
        }
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({"mediaType": self.media_type, "digest": self.digest, "size": self.size})
    }
}

/// An image manifest (Docker schema 2 or OCI, by `media_type`) as JSON bytes.
pub fn image_manifest(media_type: &str, config: &Desc, layers: &[Desc]) -> Vec<u8> {
    serde_json::to_vec_pretty(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": config.json(),
        "layers": layers.iter().map(Desc::json).collect::<Vec<_>>(),
    }))
    .unwrap()
}

/// A child of a manifest list / image index.
#[derive(Debug, Clone)]
pub struct Child {
    pub desc: Desc,
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

pub fn index_manifest(media_type: &str, children: &[Child]) -> Vec<u8> {
    let manifests: Vec<_> = children
        .iter()
        .map(|c| {
            let mut p = serde_json::json!({"os": c.os, "architecture": c.architecture});
            if let Some(v) = &c.variant {
                p["variant"] = v.clone().into();
            }
            let mut j = c.desc.json();
            j["platform"] = p;
            j
        })
        .collect();
    serde_json::to_vec_pretty(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": manifests,
    }))
    .unwrap()
}

/// An image config (JSON) with `created` (RFC 3339) when given; `seed` makes it distinct.
pub fn image_config(seed: &str, created: Option<&str>) -> Vec<u8> {
    let mut c = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": [format!("SEED={seed}")]},
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [{"created_by": format!("/bin/sh -c #(nop) {seed}")}],
    });
    if let Some(t) = created {
        c["created"] = t.into();
    }
    serde_json::to_vec(&c).unwrap()
}

/// A schema 1 manifest whose newest history entry says `created`.
pub fn schema1_manifest_created(
    name: &str,
    tag: &str,
    fs_layers: &[&str],
    created: &str,
) -> Vec<u8> {
    let mut v: serde_json::Value =
        serde_json::from_slice(&schema1_manifest(name, tag, fs_layers)).unwrap();
    let first = serde_json::json!({"id": "x", "created": created}).to_string();
    v["history"][0]["v1Compatibility"] = first.into();
    serde_json::to_vec_pretty(&v).unwrap()
}

/// A schema 1 manifest (unsigned form; the collector does not check signatures).
pub fn schema1_manifest(name: &str, tag: &str, fs_layers: &[&str]) -> Vec<u8> {
    serde_json::to_vec_pretty(&serde_json::json!({
        "schemaVersion": 1,
        "name": name,
        "tag": tag,
        "architecture": "amd64",
        "fsLayers": fs_layers.iter().map(|d| serde_json::json!({"blobSum": d})).collect::<Vec<_>>(),
        "history": fs_layers.iter().map(|_| serde_json::json!({"v1Compatibility": "{}"})).collect::<Vec<_>>(),
    }))
    .unwrap()
}

// ---------------------------------------------------------------- a small HTTP/1.1 server

/// A request as the handler sees it (GET/HEAD; the layer refuses request bodies).
pub struct Req {
    pub method: String,
    pub url: String,
    headers: Vec<(String, String)>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        shared::header(&self.headers, name)
    }
    pub fn path(&self) -> &str {
        self.url.split_once('?').map_or(&self.url, |(p, _)| p)
    }
    pub fn query(&self) -> &str {
        self.url.split_once('?').map_or("", |(_, q)| q)
    }
}

/// A response. `length` overrides Content-Length (a HEAD for a blob without its bytes).
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub length: Option<u64>,
}

impl Resp {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Resp {
        Resp {
            status,
            headers: Vec::new(),
            body: body.into(),
            length: None,
        }
    }
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Resp {
        Resp::new(status, body).header("Content-Type", "application/json")
    }
    pub fn header(mut self, k: &str, v: &str) -> Resp {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn length(mut self, n: u64) -> Resp {
        self.length = Some(n);
        self
    }
}

/// What the connection does with a request.
pub enum Reply {
    Send(Resp),
    /// Say nothing for this long, then close the connection.
    Hang(Duration),
    /// Promise 500 bytes more than the body, send the body, close the connection.
    Truncate(Resp),
}

pub type Handler = Arc<dyn Fn(&Req) -> Reply + Send + Sync>;

/// The connection layer with enough workers for every request a test keeps in flight
/// (a hang or the benchmark's latency holds a worker); stops on drop.
pub struct MiniServer {
    pub addr: SocketAddr,
    _server: http::Server,
}

/// Workers per server: a crawl at concurrency 8 plus hangs, with room to spare.
const WORKERS: usize = 16;

impl MiniServer {
    pub fn start(handler: Handler) -> MiniServer {
        let listener = http::bind("127.0.0.1", 0).unwrap();
        let addr = listener.local_addr().unwrap();
        let h: http::Handler = Arc::new(move |rq: &http::Request| {
            let req = Req {
                method: rq.method.clone(),
                url: rq.url.clone(),
                headers: rq.headers.clone(),
            };
            answer(handler(&req), rq.method == "HEAD")
        });
        let opts = http::Options {
            workers: WORKERS,
            limits: http::Limits::default(),
            name: "fake".into(),
        };
        MiniServer {
            addr,
            _server: http::Server::start(listener, opts, h).unwrap(),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn reason(status: u16) -> &'static str {
    http::response::reason(status)
}

fn head_text(r: &Resp, length: u64) -> String {
    let mut head = format!("HTTP/1.1 {} {}\r\n", r.status, reason(r.status));
    for (k, v) in &r.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {length}\r\n\r\n"));
    head
}

fn answer(reply: Reply, is_head: bool) -> http::Response {
    match reply {
        Reply::Send(r) => {
            let headers = r.headers.into_iter().map(|(k, v)| (k.into(), v)).collect();
            let body = match r.length {
                // A stated length (a blob HEAD): the layer says it, and for a GET closes the
                // connection when the body is shorter.
                Some(n) => {
                    let bytes = r.body;
                    http::Body::stream(Some(n), move |w| w.write_all(&bytes))
                }
                None => http::Body::Bytes(r.body),
            };
            http::Response {
                status: r.status,
                headers,
                body,
            }
        }
        Reply::Hang(d) => http::Response::new(
            200,
            http::Body::Raw(Box::new(move |_| {
                std::thread::sleep(d);
                Ok(())
            })),
        ),
        Reply::Truncate(r) => http::Response::new(
            200,
            http::Body::Raw(Box::new(move |w| {
                w.write_all(head_text(&r, r.body.len() as u64 + 500).as_bytes())?;
                if !is_head {
                    w.write_all(&r.body)?;
                }
                Ok(())
            })),
        ),
    }
}

// ---------------------------------------------------------------- the fake registry

#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status (and a JSON error body).
    Status(u16),
    /// Answer with this status and `Retry-After: <value>`.
    RetryAfter(u16, String),
    /// Say nothing for this long, then close the connection.
    Hang(Duration),
    /// Promise more bytes than are sent, then close the connection.
    Truncate,
    /// 200 with a body that is not JSON.
    InvalidJson,
    /// Forget every token issued so far, and answer 401 with the challenge.
    RevokeTokens,
    /// 200 with this JSON body and this `Link` header (a hand-made page of a list).
    Page { body: String, link: String },
    /// 307 to this URL.
    Redirect(String),
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub method: Option<&'static str>,
    /// Matches when the request's path and query contain this.
    pub path_contains: String,
    pub fault: Fault,
    /// `None`: every time.
    pub times: Option<usize>,
}

impl Rule {
    pub fn always(path: &str, fault: Fault) -> Rule {
        Rule {
            method: None,
            path_contains: path.into(),
            fault,
            times: None,
        }
    }
    pub fn once(path: &str, fault: Fault) -> Rule {
        Rule {
            times: Some(1),
            ..Rule::always(path, fault)
        }
    }
    pub fn method(mut self, m: &'static str) -> Rule {
        self.method = Some(m);
        self
    }
}

#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// Added before every answer (the benchmark's per-request latency).
    pub latency: Duration,
    /// Token authentication on (with these Basic credentials for the token endpoint).
    pub auth: Option<(String, String)>,
    /// Largest tags list page the server returns (None: all tags, as Distribution 2.8 does).
    pub tags_page_max: Option<usize>,
    /// Blob HEADs answer 307 to a second server on another port (another origin).
    pub blob_redirect: bool,
    pub token_expires_in: u64,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            latency: Duration::ZERO,
            auth: Some(("crawler".into(), "glpat-fake-secret".into())),
            tags_page_max: None,
            blob_redirect: true,
            token_expires_in: 300,
        }
    }
}

#[derive(Default)]
pub struct Counts {
    pub token: AtomicUsize,
    pub catalog: AtomicUsize,
    pub tags: AtomicUsize,
    pub manifest_get: AtomicUsize,
    pub manifest_head: AtomicUsize,
    pub blob_head: AtomicUsize,
    /// Blob GETs at the registry (image configs).
    pub blob_get: AtomicUsize,
    pub storage: AtomicUsize,
    /// Storage requests that carried an Authorization header (must stay 0).
    pub storage_with_auth: AtomicUsize,
    /// Most scopes seen in one token request.
    pub max_scopes: AtomicUsize,
}

#[derive(Default)]
pub struct State {
    /// What the registry serves: the library's content model, read by its protocol.
    content: RwLock<Content>,
    rules: Mutex<Vec<Rule>>,
    tokens: Mutex<HashMap<String, HashSet<String>>>,
    /// Every token value issued (to check that none is ever logged).
    pub issued: Mutex<Vec<String>>,
    /// The token endpoint the challenge names, when not this server's own `/jwt/auth`.
    realm: Mutex<Option<String>>,
    next_token: AtomicUsize,
    pub counts: Counts,
}

impl State {
    fn content(&self) -> RwLockWriteGuard<'_, Content> {
        self.content.write().unwrap()
    }
}

pub struct FakeRegistry {
    pub url: String,
    pub storage_url: String,
    pub opts: FakeOptions,
    pub state: Arc<State>,
    _servers: (MiniServer, MiniServer),
}

struct Ctx {
    url: String,
    storage_url: String,
    opts: FakeOptions,
    state: Arc<State>,
}

impl FakeRegistry {
    pub fn start(opts: FakeOptions) -> FakeRegistry {
        let state = Arc::new(State::default());
        // The storage server's handler needs no address; the registry's needs both.
        let ctx_slot: Arc<Mutex<Option<Arc<Ctx>>>> = Arc::new(Mutex::new(None));
        let st = state.clone();
        let storage = MiniServer::start(Arc::new(move |rq: &Req| storage(&st, rq)));
        let slot = ctx_slot.clone();
        let registry = MiniServer::start(Arc::new(move |rq: &Req| {
            let ctx = slot.lock().unwrap().clone();
            match ctx {
                Some(c) => c.handle(rq),
                None => Reply::Send(Resp::new(503, "starting")),
            }
        }));
        let (url, storage_url) = (registry.url(), storage.url());
        *ctx_slot.lock().unwrap() = Some(Arc::new(Ctx {
            url: url.clone(),
            storage_url: storage_url.clone(),
            opts: opts.clone(),
            state: state.clone(),
        }));
        FakeRegistry {
            url,
            storage_url,
            opts,
            state,
            _servers: (registry, storage),
        }
    }

    pub fn add_repo(&self, name: &str) {
        self.state.content().repo(name);
    }

    pub fn set_null_tags(&self, name: &str) {
        self.state.content().repo(name).untagged = Untagged::Null;
    }

    pub fn add_blob(&self, d: &Desc) {
        let mut content = self.state.content();
        match content.blobs.get_mut(&d.digest) {
            Some(b) => b.size = d.size,
            None => content.put_blob(&d.digest, d.size, None),
        }
    }

    /// A blob with content that GET returns (a config).
    pub fn add_blob_bytes(&self, d: &Desc, bytes: &[u8]) {
        self.state
            .content()
            .put_blob(&d.digest, d.size, Some(Arc::from(bytes)));
    }

    /// Stores a manifest in `repo` (tagged when `tag` is given); returns its digest.
    pub fn put_manifest(
        &self,
        repo: &str,
        tag: Option<&str>,
        media_type: &str,
        body: &[u8],
    ) -> String {
        let digest = sha256(body);
        self.put_manifest_as(repo, tag, &digest, media_type, body);
        digest
    }

    /// Stores `body` under `digest` whatever its real digest (a registry that lies).
    pub fn put_manifest_as(
        &self,
        repo: &str,
        tag: Option<&str>,
        digest: &str,
        media_type: &str,
        body: &[u8],
    ) {
        self.state
            .content()
            .put_manifest(repo, tag, digest, media_type, Arc::from(body));
    }

    pub fn remove_repo(&self, name: &str) {
        self.state.content().repos.remove(name);
    }

    /// Makes the challenge name `realm` as the token endpoint (e.g. a relay elsewhere).
    pub fn set_realm(&self, realm: &str) {
        *self.state.realm.lock().unwrap() = Some(realm.into());
    }

    pub fn rule(&self, r: Rule) {
        self.state.rules.lock().unwrap().push(r);
    }

    pub fn clear_rules(&self) {
        self.state.rules.lock().unwrap().clear();
    }

    pub fn count(&self, f: impl Fn(&Counts) -> &AtomicUsize) -> usize {
        f(&self.state.counts).load(Ordering::SeqCst)
    }
}

fn json_error(status: u16, code: &str) -> Resp {
    Resp::new(
        status,
        format!(r#"{{"errors":[{{"code":"{code}","message":"fake","detail":null}}]}}"#),
    )
    .header("Content-Type", "application/json; charset=utf-8")
}

pub use gitlab_registry_usage_rest::demo::registry::percent_decode;

pub fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// The storage behind the registry's 307: HEAD answers the blob's length.
fn storage(state: &State, rq: &Req) -> Reply {
    let c = &state.counts;
    c.storage.fetch_add(1, Ordering::SeqCst);
    if rq.header("authorization").is_some() {
        c.storage_with_auth.fetch_add(1, Ordering::SeqCst);
    }
    let digest = rq.path().trim_start_matches("/_storage/");
    let content = state.content.read().unwrap();
    let resp = match content.blobs.get(digest) {
        Some(b) => match &b.content {
            Some(bytes) if rq.method == "GET" => Resp::new(200, bytes.to_vec()),
            _ => Resp::new(200, Vec::new()).length(b.size),
        }
        .header("Content-Type", "application/octet-stream"),
        None => json_error(404, "BLOB_UNKNOWN"),
    };
    Reply::Send(resp)
}

/// What a request is, for the counts and for what the fake changes in the shared answer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Catalog,
    Tags,
    ManifestGet,
    ManifestHead,
    BlobGet,
    BlobHead,
    Other,
}

impl Kind {
    fn of(method: &str, path: &str) -> Kind {
        if path == "/v2/_catalog" {
            Kind::Catalog
        } else if path.ends_with("/tags/list") {
            Kind::Tags
        } else if path.contains("/manifests/") {
            if method == "HEAD" {
                Kind::ManifestHead
            } else {
                Kind::ManifestGet
            }
        } else if path.contains("/blobs/") {
            if method == "GET" {
                Kind::BlobGet
            } else {
                Kind::BlobHead
            }
        } else {
            Kind::Other
        }
    }

    fn counter(self, c: &Counts) -> Option<&AtomicUsize> {
        Some(match self {
            Kind::Catalog => &c.catalog,
            Kind::Tags => &c.tags,
            Kind::ManifestGet => &c.manifest_get,
            Kind::ManifestHead => &c.manifest_head,
            Kind::BlobGet => &c.blob_get,
            Kind::BlobHead => &c.blob_head,
            Kind::Other => return None,
        })
    }
}

/// The library's answer as the fake's response (a HEAD keeps its stated length).
fn resp(r: shared::Reply) -> Resp {
    Resp {
        status: r.status,
        headers: r.headers,
        length: r.body.is_none().then_some(r.length as u64),
        body: r.body.map(|b| b.to_vec()).unwrap_or_default(),
    }
}

/// Opaque tokens whose scopes are checked exactly; `realm` can be moved elsewhere.
impl shared::Access for Ctx {
    fn grants(&self, authorization: Option<&str>, scope: Option<&str>) -> bool {
        if self.opts.auth.is_none() {
            return true;
        }
        let Some(tok) = authorization.and_then(|h| h.strip_prefix("Bearer ")) else {
            return false;
        };
        let tokens = self.state.tokens.lock().unwrap();
        tokens
            .get(tok)
            .is_some_and(|s| s.contains(scope.unwrap_or("")))
    }

    fn challenge(&self) -> String {
        let realm = self.state.realm.lock().unwrap().clone();
        let realm = realm.unwrap_or_else(|| format!("{}/jwt/auth", self.url));
        format!(r#"realm="{realm}",service="fake_registry""#)
    }
}

impl Ctx {
    fn handle(&self, rq: &Req) -> Reply {
        if std::env::var_os("FAKE_TRACE").is_some() {
            eprintln!("fake: {} {}", rq.method, rq.url);
        }
        if !self.opts.latency.is_zero() {
            std::thread::sleep(self.opts.latency);
        }
        // Fault rules first (the token endpoint's too).
        let fault = {
            let mut rules = self.state.rules.lock().unwrap();
            let hit = rules.iter_mut().find(|r| {
                rq.url.contains(&r.path_contains)
                    && r.method.is_none_or(|m| m == rq.method)
                    && r.times != Some(0)
            });
            hit.map(|r| {
                if let Some(t) = r.times.as_mut() {
                    *t -= 1;
                }
                r.fault.clone()
            })
        };
        // Count the request by kind even when it is faulted.
        let kind = Kind::of(&rq.method, rq.path());
        if let Some(c) = kind.counter(&self.state.counts) {
            c.fetch_add(1, Ordering::SeqCst);
        }
        match fault {
            Some(f) => self.fault(f),
            None if rq.path() == "/jwt/auth" => Reply::Send(self.token(rq, rq.query())),
            None => Reply::Send(self.registry(rq, kind)),
        }
    }

    fn fault(&self, f: Fault) -> Reply {
        match f {
            Fault::Status(s) => Reply::Send(json_error(s, "UNKNOWN")),
            Fault::RetryAfter(s, v) => {
                Reply::Send(json_error(s, "TOOMANYREQUESTS").header("Retry-After", &v))
            }
            Fault::Hang(d) => Reply::Hang(d),
            Fault::Truncate => Reply::Truncate(Resp::json(
                200,
                br#"{"schemaVersion": 2, "layers": [{"dig"#.to_vec(),
            )),
            Fault::InvalidJson => Reply::Send(
                Resp::new(200, b"<html>Bad Gateway, but 200</html>".to_vec())
                    .header("Content-Type", OCI_MANIFEST)
                    .header("Docker-Content-Digest", &sha256(b"x")),
            ),
            Fault::RevokeTokens => {
                self.state.tokens.lock().unwrap().clear();
                let challenge = shared::Access::challenge(self);
                Reply::Send(json_error(401, "UNAUTHORIZED").header(
                    "WWW-Authenticate",
                    &format!(r#"Bearer {challenge},scope="repository:*:pull""#),
                ))
            }
            Fault::Page { body, link } => Reply::Send(Resp::json(200, body).header("Link", &link)),
            Fault::Redirect(to) => Reply::Send(Resp::new(307, "").header("Location", &to)),
        }
    }

    /// The shared registry's answer, with what this fake does differently: any manifest type
    /// is served whatever the Accept header says (the tests store types no client lists), the
    /// tags list is capped at `tags_page_max` and links its next page absolutely, and blobs
    /// are served through a 307 to the storage server when `blob_redirect` is on.
    fn registry(&self, rq: &Req, kind: Kind) -> Resp {
        let headers: Vec<(String, String)> = rq
            .headers
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("accept"))
            .cloned()
            .collect();
        let url = match self.opts.tags_page_max {
            Some(max) if kind == Kind::Tags => capped(rq, max),
            _ => rq.url.clone(),
        };
        let reply = {
            let content = self.state.content.read().unwrap();
            shared::answer(&content, self, &rq.method, &url, &headers)
        };
        let mut r = resp(reply);
        for (k, v) in &mut r.headers {
            if k.eq_ignore_ascii_case("link") {
                *v = self.relink(rq, kind, v);
            }
        }
        let blob = matches!(kind, Kind::BlobGet | Kind::BlobHead);
        if blob && r.status == 200 && self.opts.blob_redirect {
            let digest = rq.path().rsplit_once("/blobs/").map_or("", |(_, d)| d);
            let location = format!("{}/_storage/{digest}", self.storage_url);
            return Resp::new(307, Vec::new()).header("Location", &location);
        }
        r
    }

    /// The next page's `Link` in the shape the tests' rules match: the page's last entry as
    /// is and `n` as the request asked (default 100); the tags link is absolute, as some
    /// registries send.
    fn relink(&self, rq: &Req, kind: Kind, link: &str) -> String {
        let target = link.split_once('?').map_or("", |(_, t)| t);
        let target = target.split_once('>').map_or("", |(t, _)| t);
        let params = shared::query_params(target);
        let last = params
            .iter()
            .find(|(k, _)| k == "last")
            .map_or("", |(_, v)| v);
        let asked = rq.query().split('&').find_map(|kv| kv.strip_prefix("n="));
        let n = asked.unwrap_or("100");
        if kind == Kind::Tags {
            let path = rq.path();
            format!(r#"<{}{path}?n={n}&last={last}>; rel="next""#, self.url)
        } else {
            format!(r#"</v2/_catalog?last={last}&n={n}>; rel="next""#)
        }
    }

    fn token(&self, rq: &Req, query: &str) -> Resp {
        let c = &self.state.counts;
        c.token.fetch_add(1, Ordering::SeqCst);
        let Some((user, pass)) = &self.opts.auth else {
            return json_error(404, "NOT_FOUND");
        };
        let expected = format!("Basic {}", base64(format!("{user}:{pass}").as_bytes()));
        if rq.header("authorization") != Some(expected.as_str()) {
            return Resp::json(401, r#"{"message":"HTTP Basic: Access denied"}"#);
        }
        let scopes: HashSet<String> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .filter(|(k, _)| *k == "scope")
            .map(|(_, v)| percent_decode(v))
            .collect();
        c.max_scopes.fetch_max(scopes.len(), Ordering::SeqCst);
        let n = self.state.next_token.fetch_add(1, Ordering::SeqCst);
        let tok = format!("faketoken-{n}-{}", sha256(query.as_bytes()));
        self.state
            .tokens
            .lock()
            .unwrap()
            .insert(tok.clone(), scopes);
        self.state.issued.lock().unwrap().push(tok.clone());
        Resp::json(
            200,
            serde_json::json!({"token": tok, "expires_in": self.opts.token_expires_in}).to_string(),
        )
    }
}

/// The tags request with `n` at most `max` (the server's page limit; `max` without an `n`).
fn capped(rq: &Req, max: usize) -> String {
    let params = shared::query_params(rq.query());
    let get = |key: &str| params.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    let n = get("n").and_then(|v| v.parse::<usize>().ok());
    let mut url = format!("{}?n={}", rq.path(), n.map_or(max, |n| n.min(max)));
    if let Some(last) = get("last") {
        url.push_str(&format!("&last={}", http::percent::encode(last)));
    }
    url
}

pub fn base64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}
