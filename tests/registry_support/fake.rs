//! A fake Docker Distribution registry (tiny_http on 127.0.0.1) for the collector's fault
//! tests and the crawl benchmark, plus builders of manifest JSON shared with the tests that
//! push to the real registry.
//!
//! It serves the catalog and tags lists with `n`/`last` pagination and `Link`, manifests by tag
//! or digest (GET and HEAD), blob HEADs (optionally through a 307 to a second "storage" server),
//! and a token endpoint with opaque tokens whose scopes it checks. Rules inject faults (status
//! codes, `Retry-After`, hangs, truncated and invalid bodies, revoked tokens). It must stay
//! self-contained: the benchmark includes this file alone (`#[path]`).

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Cursor, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tiny_http::{Header, Request, Response, Server};

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

// ---------------------------------------------------------------- the fake registry

#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status (and a JSON error body).
    Status(u16),
    /// Answer with this status and `Retry-After: <value>`.
    RetryAfter(u16, String),
    /// Say nothing for this long, then drop the request.
    Hang(Duration),
    /// Promise more bytes than are sent, then fail the connection.
    Truncate,
    /// 200 with a body that is not JSON.
    InvalidJson,
    /// Forget every token issued so far, and answer 401 with the challenge.
    RevokeTokens,
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
    pub workers: usize,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            latency: Duration::ZERO,
            auth: Some(("crawler".into(), "glpat-fake-secret".into())),
            tags_page_max: None,
            blob_redirect: true,
            token_expires_in: 300,
            workers: 16,
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
    pub storage: AtomicUsize,
    /// Storage requests that carried an Authorization header (must stay 0).
    pub storage_with_auth: AtomicUsize,
    /// Most scopes seen in one token request.
    pub max_scopes: AtomicUsize,
}

#[derive(Default)]
struct Repo {
    tags: BTreeMap<String, String>,
    /// Answer `"tags": null` instead of 404 when there are no tags.
    null_tags: bool,
}

/// A stored manifest: media type and bytes.
type Stored = (String, Arc<[u8]>);

#[derive(Default)]
pub struct State {
    repos: Mutex<BTreeMap<String, Repo>>,
    manifests: Mutex<HashMap<String, Stored>>,
    blobs: Mutex<HashMap<String, u64>>,
    rules: Mutex<Vec<Rule>>,
    tokens: Mutex<HashMap<String, HashSet<String>>>,
    /// Every token value issued (to check that none is ever logged).
    pub issued: Mutex<Vec<String>>,
    next_token: AtomicUsize,
    pub counts: Counts,
}

pub struct FakeRegistry {
    pub url: String,
    pub storage_url: String,
    pub opts: FakeOptions,
    pub state: Arc<State>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

struct Ctx {
    url: String,
    storage_url: String,
    opts: FakeOptions,
    state: Arc<State>,
}

impl FakeRegistry {
    pub fn start(opts: FakeOptions) -> FakeRegistry {
        let server = Arc::new(Server::http("127.0.0.1:0").unwrap());
        let storage = Arc::new(Server::http("127.0.0.1:0").unwrap());
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        let storage_url = format!("http://{}", storage.server_addr().to_ip().unwrap());
        let state = Arc::new(State::default());
        let stop = Arc::new(AtomicBool::new(false));
        let ctx = Arc::new(Ctx {
            url: url.clone(),
            storage_url: storage_url.clone(),
            opts: opts.clone(),
            state: state.clone(),
        });
        let mut threads = Vec::new();
        for (srv, is_storage, n) in [(server, false, opts.workers.max(1)), (storage, true, 2)] {
            for _ in 0..n {
                let (srv, ctx, stop) = (srv.clone(), ctx.clone(), stop.clone());
                threads.push(std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        if let Ok(Some(rq)) = srv.recv_timeout(Duration::from_millis(50)) {
                            if is_storage {
                                ctx.storage(rq);
                            } else {
                                ctx.handle(rq);
                            }
                        }
                    }
                }));
            }
        }
        FakeRegistry {
            url,
            storage_url,
            opts,
            state,
            stop,
            threads,
        }
    }

    pub fn add_repo(&self, name: &str) {
        self.state
            .repos
            .lock()
            .unwrap()
            .entry(name.into())
            .or_default();
    }

    pub fn set_null_tags(&self, name: &str) {
        self.state
            .repos
            .lock()
            .unwrap()
            .entry(name.into())
            .or_default()
            .null_tags = true;
    }

    pub fn add_blob(&self, d: &Desc) {
        self.state
            .blobs
            .lock()
            .unwrap()
            .insert(d.digest.clone(), d.size);
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
        self.state
            .manifests
            .lock()
            .unwrap()
            .insert(digest.clone(), (media_type.into(), Arc::from(body)));
        let mut repos = self.state.repos.lock().unwrap();
        let r = repos.entry(repo.into()).or_default();
        if let Some(t) = tag {
            r.tags.insert(t.into(), digest.clone());
        }
        digest
    }

    pub fn remove_repo(&self, name: &str) {
        self.state.repos.lock().unwrap().remove(name);
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

    pub fn reset_counts(&self) {
        let c = &self.state.counts;
        for a in [
            &c.token,
            &c.catalog,
            &c.tags,
            &c.manifest_get,
            &c.manifest_head,
            &c.blob_head,
            &c.storage,
            &c.storage_with_auth,
            &c.max_scopes,
        ] {
            a.store(0, Ordering::SeqCst);
        }
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).unwrap()
}

fn json_error(status: u16, code: &str) -> Response<Cursor<Vec<u8>>> {
    Response::from_data(
        format!(r#"{{"errors":[{{"code":"{code}","message":"fake","detail":null}}]}}"#)
            .into_bytes(),
    )
    .with_status_code(status)
    .with_header(header("Content-Type", "application/json; charset=utf-8"))
}

fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Ctx {
    fn respond<R: Read>(&self, rq: Request, resp: Response<R>) {
        let _ = rq.respond(resp);
    }

    fn storage(&self, rq: Request) {
        let c = &self.state.counts;
        c.storage.fetch_add(1, Ordering::SeqCst);
        if rq.headers().iter().any(|h| h.field.equiv("Authorization")) {
            c.storage_with_auth.fetch_add(1, Ordering::SeqCst);
        }
        let digest = rq.url().trim_start_matches("/_storage/").to_string();
        let size = self.state.blobs.lock().unwrap().get(&digest).copied();
        match size {
            Some(s) => self.respond(
                rq,
                Response::new(
                    200.into(),
                    vec![header("Content-Type", "application/octet-stream")],
                    std::io::repeat(0).take(s),
                    Some(s as usize),
                    None,
                ),
            ),
            None => self.respond(rq, json_error(404, "BLOB_UNKNOWN")),
        }
    }

    fn challenge(&self, scope: &str) -> Response<Cursor<Vec<u8>>> {
        json_error(401, "UNAUTHORIZED").with_header(header(
            "WWW-Authenticate",
            &format!(
                r#"Bearer realm="{}/jwt/auth",service="fake_registry",scope="{scope}""#,
                self.url
            ),
        ))
    }

    fn authorized(&self, rq: &Request, scope: &str) -> bool {
        if self.opts.auth.is_none() {
            return true;
        }
        let Some(h) = rq.headers().iter().find(|h| h.field.equiv("Authorization")) else {
            return false;
        };
        let Some(tok) = h.value.as_str().strip_prefix("Bearer ") else {
            return false;
        };
        self.state
            .tokens
            .lock()
            .unwrap()
            .get(tok)
            .is_some_and(|s| s.contains(scope))
    }

    fn handle(&self, rq: Request) {
        if !self.opts.latency.is_zero() {
            std::thread::sleep(self.opts.latency);
        }
        let url = rq.url().to_string();
        let method = rq.method().as_str().to_string();
        let (path, query) = url.split_once('?').unwrap_or((&url, ""));
        let (path, query) = (path.to_string(), query.to_string());

        // Fault rules first (the token endpoint's too).
        let fault = {
            let mut rules = self.state.rules.lock().unwrap();
            let hit = rules.iter_mut().find(|r| {
                url.contains(&r.path_contains)
                    && r.method.map_or(true, |m| m == method)
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
        let c = &self.state.counts;
        if path == "/v2/_catalog" {
            c.catalog.fetch_add(1, Ordering::SeqCst);
        } else if path.ends_with("/tags/list") {
            c.tags.fetch_add(1, Ordering::SeqCst);
        } else if path.contains("/manifests/") {
            if method == "HEAD" {
                c.manifest_head.fetch_add(1, Ordering::SeqCst);
            } else {
                c.manifest_get.fetch_add(1, Ordering::SeqCst);
            }
        } else if path.contains("/blobs/") {
            c.blob_head.fetch_add(1, Ordering::SeqCst);
        }
        if let Some(f) = fault {
            match f {
                Fault::Status(s) => return self.respond(rq, json_error(s, "UNKNOWN")),
                Fault::RetryAfter(s, v) => {
                    return self.respond(
                        rq,
                        json_error(s, "TOOMANYREQUESTS").with_header(header("Retry-After", &v)),
                    )
                }
                Fault::Hang(d) => {
                    std::thread::sleep(d);
                    return drop(rq);
                }
                Fault::Truncate => {
                    // Headers and part of the body on the wire, then nothing: the client must
                    // not take the partial body for the whole.
                    let body = br#"{"schemaVersion": 2, "layers": [{"dig"#;
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                        body.len() + 500
                    );
                    let is_head = method == "HEAD";
                    let mut w = rq.into_writer();
                    let _ = w.write_all(head.as_bytes());
                    if !is_head {
                        let _ = w.write_all(body);
                    }
                    let _ = w.flush();
                    return;
                }
                Fault::InvalidJson => {
                    return self.respond(
                        rq,
                        Response::from_data(b"<html>Bad Gateway, but 200</html>".to_vec())
                            .with_header(header("Content-Type", OCI_MANIFEST))
                            .with_header(header("Docker-Content-Digest", &sha256(b"x"))),
                    )
                }
                Fault::RevokeTokens => {
                    self.state.tokens.lock().unwrap().clear();
                    return self.respond(rq, self.challenge("repository:*:pull"));
                }
            }
        }

        if path == "/jwt/auth" {
            return self.token(rq, &query);
        }
        if path == "/v2/" || path == "/v2" {
            return if self.opts.auth.is_some() && !self.authorized(&rq, "") {
                self.respond(rq, self.challenge(""))
            } else {
                self.respond(rq, Response::from_string("{}"))
            };
        }
        if path == "/v2/_catalog" {
            if !self.authorized(&rq, "registry:catalog:*") {
                return self.respond(rq, self.challenge("registry:catalog:*"));
            }
            return self.catalog(rq, &query);
        }
        let Some(rest) = path.strip_prefix("/v2/") else {
            return self.respond(rq, json_error(404, "NOT_FOUND"));
        };
        let (name, op, reference) = if let Some(n) = rest.strip_suffix("/tags/list") {
            (n.to_string(), "tags", String::new())
        } else if let Some((n, r)) = rest.rsplit_once("/manifests/") {
            (n.to_string(), "manifests", percent_decode(r))
        } else if let Some((n, r)) = rest.rsplit_once("/blobs/") {
            (n.to_string(), "blobs", r.to_string())
        } else {
            return self.respond(rq, json_error(404, "NOT_FOUND"));
        };
        let scope = format!("repository:{name}:pull");
        if !self.authorized(&rq, &scope) {
            return self.respond(rq, self.challenge(&scope));
        }
        match op {
            "tags" => self.tags(rq, &name, &query),
            "manifests" => self.manifest(rq, &name, &reference),
            _ => self.blob(rq, &reference),
        }
    }

    fn token(&self, rq: Request, query: &str) {
        let c = &self.state.counts;
        c.token.fetch_add(1, Ordering::SeqCst);
        let Some((user, pass)) = &self.opts.auth else {
            return self.respond(rq, json_error(404, "NOT_FOUND"));
        };
        let expected = format!("Basic {}", base64(format!("{user}:{pass}").as_bytes()));
        let ok = rq
            .headers()
            .iter()
            .any(|h| h.field.equiv("Authorization") && h.value.as_str() == expected);
        if !ok {
            return self.respond(
                rq,
                Response::from_string(r#"{"message":"HTTP Basic: Access denied"}"#)
                    .with_status_code(401),
            );
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
        self.respond(
            rq,
            Response::from_string(
                serde_json::json!({"token": tok, "expires_in": self.opts.token_expires_in})
                    .to_string(),
            )
            .with_header(header("Content-Type", "application/json")),
        )
    }

    fn page(all: Vec<String>, query: &str, max: Option<usize>) -> (Vec<String>, Option<String>) {
        let last = query_param(query, "last").map(percent_decode);
        let n = query_param(query, "n").and_then(|v| v.parse::<usize>().ok());
        let n = match (n, max) {
            (Some(n), Some(m)) => Some(n.min(m)),
            (None, Some(m)) => Some(m),
            (n, None) => n,
        };
        let rest: Vec<String> = all
            .into_iter()
            .filter(|x| last.as_ref().map_or(true, |l| x > l))
            .collect();
        match n {
            Some(n) if rest.len() > n => {
                let page = rest[..n].to_vec();
                let next = page.last().cloned();
                (page, next)
            }
            _ => (rest, None),
        }
    }

    fn catalog(&self, rq: Request, query: &str) {
        let names: Vec<String> = self.state.repos.lock().unwrap().keys().cloned().collect();
        let (page, next) = Self::page(names, query, None);
        let mut resp = Response::from_string(serde_json::json!({"repositories": page}).to_string())
            .with_header(header("Content-Type", "application/json"));
        if let Some(last) = next {
            let n = query_param(query, "n").unwrap_or("100");
            resp = resp.with_header(header(
                "Link",
                &format!(r#"</v2/_catalog?last={last}&n={n}>; rel="next""#),
            ));
        }
        self.respond(rq, resp)
    }

    fn tags(&self, rq: Request, name: &str, query: &str) {
        let (tags, null) = {
            let repos = self.state.repos.lock().unwrap();
            match repos.get(name) {
                None => return self.respond(rq, json_error(404, "NAME_UNKNOWN")),
                Some(r) => (r.tags.keys().cloned().collect::<Vec<_>>(), r.null_tags),
            }
        };
        if tags.is_empty() {
            return if null {
                self.respond(
                    rq,
                    Response::from_string(format!(r#"{{"name":"{name}","tags":null}}"#)),
                )
            } else {
                self.respond(rq, json_error(404, "NAME_UNKNOWN"))
            };
        }
        let (page, next) = Self::page(tags, query, self.opts.tags_page_max);
        let mut resp =
            Response::from_string(serde_json::json!({"name": name, "tags": page}).to_string())
                .with_header(header("Content-Type", "application/json"));
        if let Some(last) = next {
            let n = query_param(query, "n").unwrap_or("100");
            // An absolute URL this time, as some registries send.
            resp = resp.with_header(header(
                "Link",
                &format!(
                    r#"<{}/v2/{name}/tags/list?n={n}&last={last}>; rel="next""#,
                    self.url
                ),
            ));
        }
        self.respond(rq, resp)
    }

    fn manifest(&self, rq: Request, name: &str, reference: &str) {
        let digest = if reference.starts_with("sha256:") {
            Some(reference.to_string())
        } else {
            self.state
                .repos
                .lock()
                .unwrap()
                .get(name)
                .and_then(|r| r.tags.get(reference).cloned())
        };
        let found = digest.and_then(|d| {
            self.state
                .manifests
                .lock()
                .unwrap()
                .get(&d)
                .cloned()
                .map(|m| (d, m))
        });
        let Some((digest, (media_type, body))) = found else {
            return self.respond(rq, json_error(404, "MANIFEST_UNKNOWN"));
        };
        let len = body.len();
        self.respond(
            rq,
            Response::new(
                200.into(),
                vec![
                    header("Content-Type", &media_type),
                    header("Docker-Content-Digest", &digest),
                ],
                Cursor::new(body),
                Some(len),
                None,
            ),
        )
    }

    fn blob(&self, rq: Request, digest: &str) {
        let size = self.state.blobs.lock().unwrap().get(digest).copied();
        match size {
            None => self.respond(rq, json_error(404, "BLOB_UNKNOWN")),
            Some(_) if self.opts.blob_redirect => self.respond(
                rq,
                Response::empty(307).with_header(header(
                    "Location",
                    &format!("{}/_storage/{digest}", self.storage_url),
                )),
            ),
            Some(s) => self.respond(
                rq,
                Response::new(
                    200.into(),
                    vec![header("Docker-Content-Digest", digest)],
                    std::io::repeat(0).take(s),
                    Some(s as usize),
                    None,
                ),
            ),
        }
    }
}

pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
