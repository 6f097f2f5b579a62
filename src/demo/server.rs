//! The demo registry's server, on the service's own connection layer: GitLab's token endpoint
//! (`/jwt/auth` with HTTP Basic, random tokens that expire) in front of the Distribution API
//! of `registry.rs`, and GitLab's project API (`/api/v4/`, `gitlab.rs`), answering from the
//! tree of `tree.rs`.
//!
//! It only reads the tree (nothing can be pushed or deleted), listens on 127.0.0.1 and nowhere
//! else, and serves `--demo` alone.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ring::rand::{SecureRandom, SystemRandom};
use serde_json::json;

use super::content::Content;
use super::registry::{self, header, query_params, Access, Reply};
use super::{same, DemoError};
use crate::auth::parse_basic;
use crate::http;

/// The `service` GitLab's token endpoint names its registry by.
const SERVICE: &str = "container_registry";
/// Lifetime of a registry token, as GitLab's default.
const TOKEN_TTL: Duration = Duration::from_secs(900);
/// Threads answering the collector; it crawls with a handful of requests in flight.
const WORKERS: usize = 4;

/// The registry's state shared by its worker threads.
struct Inner {
    content: Content,
    tokens: Tokens,
}

/// GitLab's token endpoint: who may have a token, and the tokens issued.
struct Tokens {
    /// `(user, access token)` the token endpoint accepts.
    credentials: (String, String),
    /// `http://127.0.0.1:PORT`, for the token realm.
    origin: String,
    /// Issued registry tokens and when they expire.
    issued: Mutex<HashMap<String, Instant>>,
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
        content: Content,
        credentials: (String, String),
    ) -> Result<RegistryServer, DemoError> {
        let listener = http::bind("127.0.0.1", 0).map_err(|e| DemoError::Bind(e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| DemoError::Bind(e.to_string()))?;
        let repositories = content.repos.len();
        let inner = Arc::new(Inner {
            content,
            tokens: Tokens {
                credentials,
                origin: format!("http://{addr}"),
                issued: Mutex::new(HashMap::new()),
                rng: SystemRandom::new(),
            },
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

impl Inner {
    fn handle(&self, method: &str, url: &str, headers: &[(String, String)]) -> Reply {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let reply = if path == "/jwt/auth" {
            self.tokens.endpoint(method, query, headers)
        } else if let Some(rest) = path.strip_prefix("/api/v4/") {
            self.gitlab_api(rest, headers)
        } else {
            registry::answer(&self.content, &self.tokens, method, url, headers)
        };
        reply
            .header("Docker-Distribution-Api-Version", "registry/2.0")
            .header("X-Content-Type-Options", "nosniff")
    }
}

impl Inner {
    /// GitLab's REST API for `[registry] projects` (see `gitlab.rs`): `PRIVATE-TOKEN` is the
    /// access token from the config.
    fn gitlab_api(&self, rest: &str, headers: &[(String, String)]) -> Reply {
        let ok = header(headers, "private-token")
            .is_some_and(|t| same(t.as_bytes(), self.tokens.credentials.1.as_bytes()));
        if !ok {
            return Reply::json(401, &json!({"message": "401 Unauthorized"}));
        }
        let names = || self.content.repos.keys().map(String::as_str);
        if rest == "projects" {
            return Reply::json(200, &super::gitlab::projects(&self.tokens.origin, names()));
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
}

impl Tokens {
    /// GitLab's `GET /jwt/auth?service=container_registry&scope=...`: HTTP Basic with the
    /// user and personal access token from the config; answers an opaque bearer token.
    fn endpoint(&self, method: &str, query: &str, headers: &[(String, String)]) -> Reply {
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
        if let Ok(mut tokens) = self.issued.lock() {
            // Expired tokens go when new ones come, so the map stays small.
            tokens.retain(|_, expiry| *expiry > now);
            tokens.insert(token.clone(), now + TOKEN_TTL);
        }
        Reply::json(
            200,
            &json!({"token": token, "expires_in": TOKEN_TTL.as_secs()}),
        )
    }
}

impl Access for Tokens {
    /// Any token issued and not expired reads everything: the demo's one user may.
    fn grants(&self, authorization: Option<&str>, _scope: Option<&str>) -> bool {
        let Some(token) = authorization.and_then(|h| {
            let (scheme, rest) = h.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        }) else {
            return false;
        };
        let now = Instant::now();
        self.issued
            .lock()
            .map(|t| t.get(token).is_some_and(|expiry| *expiry > now))
            .unwrap_or(false)
    }

    fn challenge(&self) -> String {
        format!("realm=\"{}/jwt/auth\",service=\"{SERVICE}\"", self.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn inner() -> Inner {
        Inner {
            content: Content::generate(),
            tokens: Tokens {
                credentials: ("u".into(), "p".into()),
                origin: "http://127.0.0.1:1".into(),
                issued: Mutex::new(HashMap::new()),
                rng: SystemRandom::new(),
            },
        }
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
        assert_eq!(
            r.handle("GET", "/v2/platform/base/alpine/tags/list", &bearer)
                .status,
            200
        );
        assert_eq!(r.handle("DELETE", "/v2/", &bearer).status, 405);
        let other = vec![("Authorization".to_string(), "Bearer nope".to_string())];
        assert_eq!(r.handle("GET", "/v2/", &other).status, 401);
    }
}
