//! The demo registry's HTTP side, on the service's own connection layer: the Distribution API
//! (`/v2/`, catalog and tags pagination with `Link`, manifests by tag or digest, blob HEADs and
//! config GETs) behind GitLab's token flow (`/jwt/auth` with HTTP Basic, random tokens that
//! expire), answered from the tree of `tree.rs`; and GitLab's project API (`gitlab.rs`).
//!
//! It only reads the tree (nothing can be pushed or deleted), listens on 127.0.0.1 and nowhere
//! else, and serves `--demo` alone.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{json, Value};

use super::tree::{Store, Tags};
use super::{same, DemoError};
use crate::auth::parse_basic;
use crate::http;

/// The `service` GitLab's token endpoint names its registry by.
const SERVICE: &str = "container_registry";
/// Lifetime of a registry token, as GitLab's default.
const TOKEN_TTL: Duration = Duration::from_secs(900);
/// Distribution's page size when a catalog request names no `n`, and the most it returns.
const CATALOG_DEFAULT_N: usize = 100;
const CATALOG_MAX_N: usize = 1000;
/// Threads answering the collector; it crawls with a handful of requests in flight.
const WORKERS: usize = 4;

/// The registry's state shared by its worker threads.
struct Inner {
    store: Store,
    /// `(user, access token)` the token endpoint accepts.
    credentials: (String, String),
    /// `http://127.0.0.1:PORT`, for the token realm.
    origin: String,
    /// Issued registry tokens and when they expire.
    tokens: Mutex<HashMap<String, Instant>>,
    rng: SystemRandom,
}

/// The listening registry, on the service's own connection layer; dropping it stops it.
pub(super) struct RegistryServer {
    pub(super) addr: SocketAddr,
    pub(super) repositories: usize,
    _server: http::Server,
}

impl RegistryServer {
    pub(super) fn start(
        store: Store,
        credentials: (String, String),
    ) -> Result<RegistryServer, DemoError> {
        let listener = http::bind("127.0.0.1", 0).map_err(|e| DemoError::Bind(e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| DemoError::Bind(e.to_string()))?;
        let repositories = store.repos.len();
        let inner = Arc::new(Inner {
            store,
            credentials,
            origin: format!("http://{addr}"),
            tokens: Mutex::new(HashMap::new()),
            rng: SystemRandom::new(),
        });
        let handler: http::Handler = Arc::new(move |req: &http::Request| {
            inner
                .handle(&req.method, &req.url, &req.headers)
                .into_response()
        });
        let opts = http::Options {
            workers: WORKERS,
            limits: http::Limits::default(),
            name: "demo-registry".into(),
        };
        let server = http::Server::start(listener, opts, handler)
            .map_err(|e| DemoError::Bind(format!("cannot start the demo registry: {e}")))?;
        Ok(RegistryServer {
            addr,
            repositories,
            _server: server,
        })
    }
}

/// An answer, independent of the HTTP library so it can be tested directly.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    /// `None` for a HEAD-only length (a layer's size).
    body: Option<Arc<[u8]>>,
    length: usize,
}

impl Reply {
    fn json(status: u16, body: &Value) -> Reply {
        let bytes: Arc<[u8]> = serde_json::to_vec(body).unwrap_or_default().into();
        Reply {
            status,
            length: bytes.len(),
            body: Some(bytes),
            headers: vec![(
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            )],
        }
    }

    /// Distribution's error envelope.
    fn error(status: u16, code: &str, message: &str, detail: Value) -> Reply {
        Reply::json(
            status,
            &json!({"errors": [{"code": code, "message": message, "detail": detail}]}),
        )
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// On the wire every length is stated: a HEAD without the bytes (a layer's size) still
    /// says how long the GET would be.
    fn into_response(self) -> http::Response {
        let length = self.length as u64;
        http::Response {
            status: self.status,
            headers: self
                .headers
                .into_iter()
                .map(|(k, v)| (k.into(), v))
                .collect(),
            body: match self.body {
                Some(bytes) => http::Body::Shared(bytes),
                None => http::Body::stream(Some(length), |_| Ok(())),
            },
        }
    }
}

/// What a `/v2/` path asks for.
enum Route {
    Base,
    Catalog,
    Tags(String),
    Manifest(String, String),
    Blob(String, String),
}

fn route(path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/v2/")?;
    if rest.is_empty() {
        return Some(Route::Base);
    }
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(Route::Tags(name.to_string()));
    }
    // Names contain slashes, references never do: split at the last marker.
    for (marker, manifest) in [("/manifests/", true), ("/blobs/", false)] {
        if let Some(pos) = rest.rfind(marker) {
            let (name, reference) = (&rest[..pos], &rest[pos + marker.len()..]);
            if name.is_empty() || reference.is_empty() || reference.contains('/') {
                return None;
            }
            let (name, reference) = (name.to_string(), reference.to_string());
            return Some(if manifest {
                Route::Manifest(name, reference)
            } else {
                Route::Blob(name, reference)
            });
        }
    }
    None
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Decodes `%XX` in a path; a malformed escape stays as written (a demo answers 404 for such
/// a name rather than refusing the request).
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// A query string as Go's `url.ParseQuery` reads it (`+` is a space; Distribution's `Link`
/// headers encode with `url.QueryEscape`).
fn query_params(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `n` and `last` of a paginated list. `Err` for an `n` that is not a number.
fn page_params(params: &[(String, String)]) -> Result<(Option<usize>, Option<String>), Reply> {
    let mut n = None;
    let mut last = None;
    for (k, v) in params {
        match k.as_str() {
            "n" => {
                n = Some(v.parse::<usize>().map_err(|_| {
                    Reply::error(
                        400,
                        "PAGINATION_NUMBER_INVALID",
                        "invalid number of results requested",
                        json!({"n": v}),
                    )
                })?)
            }
            "last" => last = Some(v.clone()),
            _ => {}
        }
    }
    Ok((n, last))
}

/// One page of `sorted` after `last`, and the `Link` to the next page if more remain.
fn paginate<'a>(
    sorted: &[&'a str],
    n: usize,
    last: Option<&str>,
    path: &str,
) -> (Vec<&'a str>, Option<String>) {
    let start = match last {
        Some(l) => sorted.partition_point(|x| *x <= l),
        None => 0,
    };
    let page: Vec<&str> = sorted[start..].iter().take(n).copied().collect();
    let more = start + page.len() < sorted.len();
    let link = match page.last() {
        Some(l) if more => Some(format!(
            "<{path}?last={}&n={n}>; rel=\"next\"",
            crate::http::percent::encode(l)
        )),
        _ => None,
    };
    (page, link)
}

impl Inner {
    fn handle(&self, method: &str, url: &str, headers: &[(String, String)]) -> Reply {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let reply = if path == "/jwt/auth" {
            self.token_endpoint(method, query, headers)
        } else if let Some(rest) = path.strip_prefix("/api/v4/") {
            self.gitlab_api(rest, headers)
        } else {
            self.registry(method, &percent_decode(path), query, headers)
        };
        reply
            .header("Docker-Distribution-Api-Version", "registry/2.0")
            .header("X-Content-Type-Options", "nosniff")
    }

    /// GitLab's `GET /jwt/auth?service=container_registry&scope=...`: HTTP Basic with the
    /// user and personal access token from the config; answers an opaque bearer token.
    fn token_endpoint(&self, method: &str, query: &str, headers: &[(String, String)]) -> Reply {
        if method != "GET" {
            return Reply::json(405, &json!({"message": "405 Method Not Allowed"}))
                .header("Allow", "GET");
        }
        let params = query_params(query);
        let service = params.iter().find(|(k, _)| k == "service").map(|(_, v)| v);
        if service.map(String::as_str) != Some(SERVICE) {
            return Reply::json(
                400,
                &json!({"errors": [{"code": "INVALID_REQUEST", "message": format!("service must be {SERVICE}")}]}),
            );
        }
        let ok = header(headers, "authorization")
            .and_then(parse_basic)
            .is_some_and(|(u, p)| {
                same(u.as_bytes(), self.credentials.0.as_bytes())
                    & same(p.as_bytes(), self.credentials.1.as_bytes())
            });
        if !ok {
            return Reply::json(
                401,
                &json!({"errors": [{"code": "UNAUTHORIZED", "message": "HTTP Basic: Access denied. The provided password or token is incorrect or your account has 2FA enabled and you must use a personal access token instead of a password."}]}),
            )
            .header("WWW-Authenticate", "Basic realm=\"GitLab\"");
        }
        let mut raw = [0u8; 32];
        if self.rng.fill(&mut raw).is_err() {
            return Reply::json(
                500,
                &json!({"errors": [{"code": "UNKNOWN", "message": "no randomness"}]}),
            );
        }
        let token = {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(raw)
                .replace('_', "-")
        };
        let now = Instant::now();
        if let Ok(mut tokens) = self.tokens.lock() {
            // Expired tokens go when new ones come, so the map stays small.
            tokens.retain(|_, expiry| *expiry > now);
            tokens.insert(token.clone(), now + TOKEN_TTL);
        }
        Reply::json(
            200,
            &json!({"token": token, "expires_in": TOKEN_TTL.as_secs()}),
        )
    }

    /// GitLab's REST API for `[registry] projects` (see `gitlab.rs`): `PRIVATE-TOKEN` is the
    /// access token from the config.
    fn gitlab_api(&self, rest: &str, headers: &[(String, String)]) -> Reply {
        let ok = header(headers, "private-token")
            .is_some_and(|t| same(t.as_bytes(), self.credentials.1.as_bytes()));
        if !ok {
            return Reply::json(401, &json!({"message": "401 Unauthorized"}));
        }
        let names = || self.store.repos.keys().map(String::as_str);
        if rest == "projects" {
            return Reply::json(200, &super::gitlab::projects(&self.origin, names()));
        }
        let rules = rest
            .strip_prefix("projects/")
            .and_then(|r| r.strip_suffix("/registry/protection/tag/rules"))
            .and_then(|id| super::gitlab::rules(id, names()));
        match rules {
            Some(v) => Reply::json(200, &v),
            None => Reply::json(404, &json!({"message": "404 Project Not Found"})),
        }
    }

    fn authorised(&self, headers: &[(String, String)]) -> bool {
        let Some(token) = header(headers, "authorization").and_then(|h| {
            let (scheme, rest) = h.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        }) else {
            return false;
        };
        let now = Instant::now();
        self.tokens
            .lock()
            .map(|t| t.get(token).is_some_and(|expiry| *expiry > now))
            .unwrap_or(false)
    }

    fn registry(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(String, String)],
    ) -> Reply {
        let Some(route) = route(path) else {
            // What Go's HTTP mux answers for a path no handler owns.
            let body: &[u8] = b"404 page not found\n";
            return Reply {
                status: 404,
                headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
                body: Some(Arc::from(body)),
                length: body.len(),
            };
        };
        if !self.authorised(headers) {
            let scope = match &route {
                Route::Base => String::new(),
                Route::Catalog => ",scope=\"registry:catalog:*\"".into(),
                Route::Tags(name) | Route::Manifest(name, _) | Route::Blob(name, _) => {
                    format!(",scope=\"repository:{name}:pull\"")
                }
            };
            return Reply::error(401, "UNAUTHORIZED", "authentication required", Value::Null)
                .header(
                    "WWW-Authenticate",
                    format!(
                        "Bearer realm=\"{}/jwt/auth\",service=\"{SERVICE}\"{scope}",
                        self.origin
                    ),
                );
        }
        let head = method == "HEAD";
        if method != "GET" && !head {
            return Reply::error(
                405,
                "UNSUPPORTED",
                "The operation is unsupported.",
                Value::Null,
            )
            .header("Allow", "GET, HEAD");
        }
        let params = query_params(query);
        match route {
            Route::Base => Reply::json(200, &json!({})),
            Route::Catalog => {
                let (n, last) = match page_params(&params) {
                    Ok(p) => p,
                    Err(reply) => return reply,
                };
                let n = n.unwrap_or(CATALOG_DEFAULT_N).min(CATALOG_MAX_N);
                let names: Vec<&str> = self.store.repos.keys().map(String::as_str).collect();
                let (page, link) = paginate(&names, n, last.as_deref(), "/v2/_catalog");
                let reply = Reply::json(200, &json!({"repositories": page}));
                match link {
                    Some(l) => reply.header("Link", l),
                    None => reply,
                }
            }
            Route::Tags(name) => {
                let Some(repo) = self.store.repos.get(&name) else {
                    return name_unknown(&name);
                };
                let tags = match &repo.tags {
                    Tags::Listed(t) => t,
                    Tags::Null => return Reply::json(200, &json!({"name": name, "tags": null})),
                    Tags::NeverTagged => return name_unknown(&name),
                };
                let (n, last) = match page_params(&params) {
                    Ok(p) => p,
                    Err(reply) => return reply,
                };
                let all: Vec<&str> = tags.keys().map(String::as_str).collect();
                // Without `n`, the whole list, as Distribution 2.x answers; with it, pages
                // with a `Link`, as 3.x does.
                let (page, link) = match n {
                    None => (all, None),
                    Some(n) => paginate(&all, n, last.as_deref(), &format!("/v2/{name}/tags/list")),
                };
                let reply = Reply::json(200, &json!({"name": name, "tags": page}));
                match link {
                    Some(l) => reply.header("Link", l),
                    None => reply,
                }
            }
            Route::Manifest(name, reference) => {
                self.manifest(&name, &reference, header(headers, "accept"), head)
            }
            Route::Blob(name, digest) => self.blob(&name, &digest, head),
        }
    }

    fn manifest(&self, name: &str, reference: &str, accept: Option<&str>, head: bool) -> Reply {
        let Some(repo) = self.store.repos.get(name) else {
            return name_unknown(name);
        };
        if matches!(repo.tags, Tags::NeverTagged) {
            return name_unknown(name);
        }
        let by_digest = reference.contains(':');
        let digest = if by_digest {
            Some(reference.to_string())
        } else if let Tags::Listed(tags) = &repo.tags {
            tags.get(reference).cloned()
        } else {
            None
        };
        let Some((digest, m)) = digest.and_then(|d| repo.manifests.get(&d).map(|m| (d, m))) else {
            let detail = if by_digest {
                json!({"Name": name, "Revision": reference})
            } else {
                json!({"Name": name, "Tag": reference})
            };
            return Reply::error(404, "MANIFEST_UNKNOWN", "manifest unknown", detail);
        };
        // A client that lists the types it understands gets nothing else (a real registry
        // would try to convert, or refuse); no Accept at all means "anything".
        if let Some(accept) = accept {
            let accepted = accept.split(',').any(|item| {
                let t = item.split(';').next().unwrap_or("").trim();
                t == m.media_type || t == "*/*" || t == "application/*"
            });
            if !accepted {
                return Reply::error(
                    404,
                    "MANIFEST_UNKNOWN",
                    &format!("manifest of type {} not in the Accept header", m.media_type),
                    json!({"Name": name, "Revision": digest}),
                );
            }
        }
        Reply {
            status: 200,
            headers: vec![
                ("Content-Type".into(), m.media_type.into()),
                ("Docker-Content-Digest".into(), digest.clone()),
                ("Etag".into(), format!("\"{digest}\"")),
            ],
            length: m.bytes.len(),
            body: (!head).then(|| m.bytes.clone()),
        }
    }

    fn blob(&self, name: &str, digest: &str, head: bool) -> Reply {
        let Some(repo) = self.store.repos.get(name) else {
            return name_unknown(name);
        };
        let Some(blob) = repo.blobs.get(digest) else {
            return Reply::error(
                404,
                "BLOB_UNKNOWN",
                "blob unknown to registry",
                json!(digest),
            );
        };
        let Ok(length) = usize::try_from(blob.size) else {
            return Reply::error(500, "UNKNOWN", "blob too large", Value::Null);
        };
        let body = match (&blob.content, head) {
            (_, true) => None,
            (Some(content), false) => Some(content.clone()),
            (None, false) => {
                return Reply::error(
                    404,
                    "BLOB_UNKNOWN",
                    "the demo registry keeps layer sizes, not layer contents",
                    json!(digest),
                )
            }
        };
        Reply {
            status: 200,
            headers: vec![
                ("Content-Type".into(), "application/octet-stream".into()),
                ("Docker-Content-Digest".into(), digest.to_string()),
                ("Accept-Ranges".into(), "bytes".into()),
                ("Etag".into(), format!("\"{digest}\"")),
            ],
            length,
            body,
        }
    }
}

fn name_unknown(name: &str) -> Reply {
    Reply::error(
        404,
        "NAME_UNKNOWN",
        "repository name not known to registry",
        json!({"name": name}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inner() -> Inner {
        Inner {
            store: Store::generate(),
            credentials: ("u".into(), "p".into()),
            origin: "http://127.0.0.1:1".into(),
            tokens: Mutex::new(HashMap::new()),
            rng: SystemRandom::new(),
        }
    }

    #[test]
    fn routes() {
        assert!(matches!(route("/v2/"), Some(Route::Base)));
        assert!(matches!(route("/v2/_catalog"), Some(Route::Catalog)));
        assert!(matches!(route("/v2/a/b/c/tags/list"), Some(Route::Tags(n)) if n == "a/b/c"));
        assert!(matches!(
            route("/v2/a/manifests/b/manifests/latest"),
            Some(Route::Manifest(n, r)) if n == "a/manifests/b" && r == "latest"
        ));
        assert!(matches!(
            route("/v2/x/y/blobs/sha256:ab"),
            Some(Route::Blob(n, d)) if n == "x/y" && d == "sha256:ab"
        ));
        assert!(route("/v2/manifests/").is_none());
        assert!(route("/v1/_catalog").is_none());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb%2fc"), "a/b/c");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(
            query_params("a+b%=c%2Bd&n=5"),
            vec![("a b%".into(), "c+d".into()), ("n".into(), "5".into())]
        );
        assert_eq!(
            crate::http::percent::encode("team-a/backend api"),
            "team-a%2Fbackend%20api"
        );
    }

    #[test]
    fn pagination_walks_everything_once() {
        let names = ["a", "b", "c", "d", "e"];
        let (p, link) = paginate(&names, 2, None, "/v2/_catalog");
        assert_eq!(p, ["a", "b"]);
        assert_eq!(
            link.as_deref(),
            Some("</v2/_catalog?last=b&n=2>; rel=\"next\"")
        );
        let (p, link) = paginate(&names, 2, Some("d"), "/v2/_catalog");
        assert_eq!(p, ["e"]);
        assert!(link.is_none());
        let (p, link) = paginate(&names, 5, None, "/v2/_catalog");
        assert_eq!(p.len(), 5);
        assert!(link.is_none());
        // `last` need not exist (it may have been deleted meanwhile).
        let (p, _) = paginate(&names, 9, Some("bb"), "/x");
        assert_eq!(p, ["c", "d", "e"]);
    }

    #[test]
    fn token_flow() {
        let r = inner();
        use base64::Engine as _;
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        let basic = format!("Basic {}", b64(b"u:p"));
        let wrong = format!("Basic {}", b64(b"u:q"));
        let q = "/jwt/auth?service=container_registry&scope=registry:catalog:*";
        assert_eq!(r.handle("GET", q, &[]).status, 401);
        assert_eq!(
            r.handle("GET", q, &[("Authorization".into(), wrong)])
                .status,
            401
        );
        assert_eq!(
            r.handle(
                "GET",
                "/jwt/auth?service=other",
                &[("Authorization".into(), basic.clone())]
            )
            .status,
            400
        );
        let ok = r.handle("GET", q, &[("authorization".into(), basic)]);
        assert_eq!(ok.status, 200);
        let body: Value = serde_json::from_slice(&ok.body.unwrap()).unwrap();
        let token = body["token"].as_str().unwrap().to_string();
        assert_eq!(body["expires_in"], 900);
        assert!(token.len() >= 40);
        let bearer = vec![("Authorization".to_string(), format!("Bearer {token}"))];
        assert_eq!(r.handle("GET", "/v2/", &bearer).status, 200);
        assert_eq!(r.handle("DELETE", "/v2/", &bearer).status, 405);
        let other = vec![("Authorization".to_string(), "Bearer nope".to_string())];
        assert_eq!(r.handle("GET", "/v2/", &other).status, 401);
    }
}
