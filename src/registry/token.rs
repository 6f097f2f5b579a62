//! Registry authentication, as the collector does it: the registry's `WWW-Authenticate`
//! challenge (Basic, or Bearer with a token endpoint), GitLab's `/jwt/auth` token flow with
//! HTTP Basic, tokens per set of scopes reused until shortly before they expire, and which
//! origins may receive the access token at all (GitLab's, the registry's, `trusted_realms`;
//! never plain http when the registry is https).
//!
//! It sends its requests through [`Client::execute`] and does no HTTP of its own. It never
//! logs a credential or a token: secrets live only in [`Credentials`] and [`AuthHeader`],
//! whose `Debug` output is redacted.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::client::{lock, origin, strip_query, Client, HttpError, Method, Reply};
use super::Kind;

/// `expires_in` when the token endpoint does not say (the Docker token specification's default).
const DEFAULT_TOKEN_LIFETIME: u64 = 60;
/// Longest token lifetime believed (seconds); a token is renewed after a day at the latest.
const MAX_TOKEN_LIFETIME: u64 = 86_400;

/// The registry login. `Debug` never shows the token.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub(crate) username: String,
    pub(crate) access_token: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({}, <redacted>)", self.username)
    }
}

impl Credentials {
    pub(super) fn is_empty(&self) -> bool {
        self.username.is_empty() && self.access_token.is_empty()
    }

    fn basic(&self) -> String {
        let raw = format!("{}:{}", self.username, self.access_token);
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(raw.as_bytes());
        format!("Basic {encoded}")
    }
}

/// An `Authorization` value, sent only to `origin` (never to a redirect target elsewhere).
#[derive(Clone)]
pub(crate) struct AuthHeader {
    /// `Authorization`, or `PRIVATE-TOKEN` for GitLab's REST API.
    pub(super) name: &'static str,
    pub(super) value: String,
    pub(super) origin: String,
}

impl fmt::Debug for AuthHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthHeader(<redacted> for {})", self.origin)
    }
}

/// No registry token could be had: the crawl cannot go on.
#[derive(Debug)]
pub enum RealmError {
    /// The token endpoint refused the credentials.
    Denied {
        realm: String,
        status: u16,
    },
    /// Any other status after retries.
    Status {
        realm: String,
        status: u16,
    },
    /// 200, but no token in the body.
    BadResponse {
        realm: String,
        reason: String,
    },
    Http(HttpError),
    /// The registry named a token endpoint that is not trusted with the access token.
    UntrustedRealm {
        realm: String,
    },
    /// The registry is https but names a plain http token endpoint.
    InsecureRealm {
        realm: String,
    },
}

impl fmt::Display for RealmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RealmError::Denied { realm, status } => write!(
                f,
                "the token endpoint {realm} refused the credentials ({status}): check [registry] \
                 username and access_token (a GitLab personal access token with the read_registry \
                 scope, of an administrator to list the catalog)"
            ),
            RealmError::Status { realm, status } => write!(
                f,
                "the token endpoint {realm} answered {status}: check [registry] gitlab_base_url \
                 and that GitLab is up"
            ),
            RealmError::BadResponse { realm, reason } => write!(
                f,
                "the token endpoint {realm} gave no usable token ({reason}): is it a registry \
                 token endpoint?"
            ),
            RealmError::Http(e) => write!(f, "the token endpoint cannot be reached: {e}"),
            RealmError::UntrustedRealm { realm } => write!(
                f,
                "the registry asks for tokens from {realm}, which is neither [registry] \
                 gitlab_base_url nor the registry itself, so the access token was not sent \
                 there; if that token endpoint is right, add {realm} to [registry] trusted_realms"
            ),
            RealmError::InsecureRealm { realm } => write!(
                f,
                "the registry is https but asks for tokens from {realm} over plain http, so the \
                 access token was not sent there; the token endpoint (GitLab's external_url, \
                 the registry's auth.token.realm) must be https"
            ),
        }
    }
}

impl std::error::Error for RealmError {}

/// Either side of an authenticated registry request failed.
#[derive(Debug)]
pub(crate) enum RequestError {
    Http(HttpError),
    Token(RealmError),
}

impl From<HttpError> for RequestError {
    fn from(e: HttpError) -> Self {
        RequestError::Http(e)
    }
}

impl From<RealmError> for RequestError {
    fn from(e: RealmError) -> Self {
        RequestError::Token(e)
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Http(e) => e.fmt(f),
            RequestError::Token(e) => e.fmt(f),
        }
    }
}

/// How the registry wants to be authenticated, learnt from its first `401`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AuthMode {
    /// Not asked yet: requests go out without credentials.
    Unknown,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// A registry token and when to stop using it.
#[derive(Clone)]
pub(crate) struct Token {
    value: String,
    renew_at: Instant,
}

/// The token for one set of scopes (the catalog, or up to `scopes_per_token` repositories),
/// fetched on first use and renewed shortly before it expires or when the registry rejects it.
pub(crate) struct TokenSlot {
    scopes: Vec<String>,
    token: Mutex<Option<Token>>,
}

impl TokenSlot {
    pub(crate) fn new(scopes: Vec<String>) -> TokenSlot {
        TokenSlot {
            scopes,
            token: Mutex::new(None),
        }
    }
}

/// The authenticated side of [`Client`] (its HTTP side is in `client.rs`).
impl Client {
    /// How the registry wants to be authenticated, as learnt so far.
    pub(crate) fn auth_mode(&self) -> AuthMode {
        lock(&self.mode).clone()
    }

    /// A registry request with the token of `slot`; on a `401` the challenge is learnt (or the
    /// token renewed) and the request is sent once more. Statuses are the caller's to judge.
    pub(crate) fn registry(
        &self,
        kind: Kind,
        method: Method,
        url: &str,
        accept: Option<&str>,
        slot: &TokenSlot,
    ) -> Result<Reply, RequestError> {
        let first = self.auth_header(slot, None)?;
        let reply = self.execute(kind, method, url, first.as_ref(), accept)?;
        if reply.status != 401 {
            return Ok(reply);
        }
        let learnt = self.learn(reply.www_authenticate.as_deref());
        if !learnt && first.is_none() {
            return Ok(reply);
        }
        let rejected = first.as_ref().map(|h| h.value.as_str());
        let second = self.auth_header(slot, rejected)?;
        match second {
            Some(h) => Ok(self.execute(kind, method, url, Some(&h), accept)?),
            None => Ok(reply),
        }
    }

    /// Takes the registry's `WWW-Authenticate` into account; true when credentials can now be
    /// sent. Without a usable challenge, a GitLab registry's token endpoint is assumed.
    fn learn(&self, challenge: Option<&str>) -> bool {
        let mut mode = lock(&self.mode);
        match challenge.and_then(parse_challenge) {
            Some(Challenge::Bearer { realm, service }) => {
                let new = AuthMode::Bearer { realm, service };
                if *mode != new {
                    if let AuthMode::Bearer { realm, service } = &new {
                        log::info!(
                            "registry asks for tokens from {} (service {})",
                            strip_query(realm),
                            service.as_deref().unwrap_or("-")
                        );
                    }
                    *mode = new;
                }
            }
            Some(Challenge::Basic) => *mode = AuthMode::Basic,
            None => {
                if *mode == AuthMode::Unknown && !self.gitlab_base_url.is_empty() {
                    *mode = AuthMode::Bearer {
                        realm: format!("{}/jwt/auth", self.gitlab_base_url),
                        service: Some("container_registry".into()),
                    };
                }
            }
        }
        *mode != AuthMode::Unknown
    }

    /// The access token goes only where it is trusted, whatever the registry's challenge
    /// (or a redirect target's) says: GitLab's origin, the registry's, `trusted_realms`; and
    /// never over plain http when the registry is https.
    pub(super) fn check_realm(&self, realm: &str) -> Result<(), RealmError> {
        let o = origin(realm);
        if realm.starts_with("http://") && self.base.starts_with("https://") {
            return Err(RealmError::InsecureRealm { realm: o });
        }
        if !self.trusted.contains(&o) {
            return Err(RealmError::UntrustedRealm { realm: o });
        }
        Ok(())
    }

    /// The `Authorization` for a request in `slot`'s scopes. `rejected`: the token the
    /// registry just refused, renewed unless another thread already did.
    fn auth_header(
        &self,
        slot: &TokenSlot,
        rejected: Option<&str>,
    ) -> Result<Option<AuthHeader>, RealmError> {
        let mode = self.auth_mode();
        match mode {
            AuthMode::Unknown => Ok(None),
            AuthMode::Basic => Ok(Some(AuthHeader {
                name: "Authorization",
                value: self.credentials.basic(),
                origin: self.origin.clone(),
            })),
            AuthMode::Bearer { realm, service } => {
                self.check_realm(&realm)?;
                // Held while fetching, so threads needing the same token wait for one request.
                let mut held = lock(&slot.token);
                if let Some(t) = held.as_ref() {
                    let value = format!("Bearer {}", t.value);
                    if Instant::now() < t.renew_at && rejected != Some(value.as_str()) {
                        return Ok(Some(AuthHeader {
                            name: "Authorization",
                            value,
                            origin: self.origin.clone(),
                        }));
                    }
                }
                let t = self.fetch_token(&realm, service.as_deref(), &slot.scopes)?;
                let value = format!("Bearer {}", t.value);
                *held = Some(t);
                Ok(Some(AuthHeader {
                    name: "Authorization",
                    value,
                    origin: self.origin.clone(),
                }))
            }
        }
    }

    /// `GET <realm>?service=..&scope=..&scope=..` with HTTP Basic, as GitLab's `/jwt/auth`
    /// and Docker's token specification want it.
    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<Token, RealmError> {
        let mut url = realm.to_string();
        let mut sep = if url.contains('?') { '&' } else { '?' };
        if let Some(s) = service {
            url.push(sep);
            url.push_str("service=");
            url.push_str(&crate::http::percent::encode(s));
            sep = '&';
        }
        for s in scopes {
            url.push(sep);
            url.push_str("scope=");
            url.push_str(&crate::http::percent::encode(s));
            sep = '&';
        }
        let auth = (!self.credentials.is_empty()).then(|| AuthHeader {
            name: "Authorization",
            value: self.credentials.basic(),
            origin: origin(realm),
        });
        let asked = Instant::now();
        let reply = self
            .execute(Kind::Token, Method::Get, &url, auth.as_ref(), None)
            .map_err(RealmError::Http)?;
        let realm_shown = strip_query(realm).to_string();
        match reply.status {
            200 => {}
            401 | 403 => {
                return Err(RealmError::Denied {
                    realm: realm_shown,
                    status: reply.status,
                })
            }
            s => {
                return Err(RealmError::Status {
                    realm: realm_shown,
                    status: s,
                })
            }
        }
        #[derive(serde::Deserialize)]
        struct Body {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<u64>,
        }
        let body: Body =
            serde_json::from_slice(&reply.body).map_err(|e| RealmError::BadResponse {
                realm: realm_shown.clone(),
                reason: format!("not JSON: {e}"),
            })?;
        let value = body
            .token
            .or(body.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RealmError::BadResponse {
                realm: realm_shown,
                reason: "no \"token\" field".into(),
            })?;
        // A day at most: an absurd `expires_in` must not overflow the clock arithmetic.
        let life = body
            .expires_in
            .unwrap_or(DEFAULT_TOKEN_LIFETIME)
            .min(MAX_TOKEN_LIFETIME);
        // Renew a tenth early (at least 5 s, at most half the life): a request must not carry
        // a token that expires on its way, and clocks differ.
        let margin = (life / 10).max(5).min(life / 2);
        Ok(Token {
            value,
            renew_at: asked + Duration::from_secs(life.saturating_sub(margin)),
        })
    }
}

#[derive(Debug, PartialEq)]
enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// `Bearer realm="https://gitlab/jwt/auth",service="container_registry",scope="..."`.
fn parse_challenge(h: &str) -> Option<Challenge> {
    let h = h.trim();
    let (scheme, params) = h.split_once(' ').unwrap_or((h, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    let mut rest = params.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().trim_start_matches(',').trim();
        let after = after.trim_start();
        let (value, remaining) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim(), &after[end..])
        };
        if key.eq_ignore_ascii_case("realm") {
            realm = Some(value.to_string());
        } else if key.eq_ignore_ascii_case("service") {
            service = Some(value.to_string());
        }
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    let realm = realm.filter(|r| r.starts_with("http://") || r.starts_with("https://"))?;
    Some(Challenge::Bearer { realm, service })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::client::Policy;

    #[test]
    fn challenge_forms() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://gitlab.example.com/jwt/auth",service="container_registry",scope="repository:a/b:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://gitlab.example.com/jwt/auth".into(),
                service: Some("container_registry".into())
            })
        );
        assert_eq!(
            parse_challenge(r#"bearer service=reg, realm="http://127.0.0.1:1/auth""#),
            Some(Challenge::Bearer {
                realm: "http://127.0.0.1:1/auth".into(),
                service: Some("reg".into())
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge(r#"Bearer service="x""#), None);
        assert_eq!(parse_challenge(r#"Bearer realm="/relative""#), None);
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge(r#"Bearer realm="unterminated"#), None);
    }

    #[test]
    fn realms_are_trusted_by_origin_and_never_over_http_from_https() {
        assert_eq!(
            origin("HTTPS://Git.Example:443/jwt/auth"),
            "https://git.example"
        );
        assert_eq!(origin("http://h:80"), "http://h");
        assert_eq!(origin("http://h:8080/x"), "http://h:8080");
        let policy = Policy {
            timeout: Duration::from_secs(1),
            concurrency: 1,
            max_attempts: 1,
            backoff_base: Duration::ZERO,
            backoff_cap: Duration::ZERO,
            retry_after_cap: Duration::ZERO,
        };
        let c = Client::new(
            "https://registry.example",
            "https://gitlab.example/",
            &[
                "https://auth.example:443/x".into(),
                "http://legacy.example".into(),
            ],
            Credentials {
                username: "u".into(),
                access_token: "t".into(),
            },
            policy,
            Vec::new(),
        );
        assert!(c.check_realm("https://gitlab.example/jwt/auth").is_ok());
        assert!(c.check_realm("https://registry.example/token").is_ok());
        assert!(c.check_realm("https://auth.example/token?x=1").is_ok());
        assert!(matches!(
            c.check_realm("https://evil.example/jwt/auth"),
            Err(RealmError::UntrustedRealm { realm }) if realm == "https://evil.example"
        ));
        assert!(matches!(
            c.check_realm("http://gitlab.example/jwt/auth"),
            Err(RealmError::InsecureRealm { .. })
        ));
        assert!(matches!(
            c.check_realm("http://legacy.example/jwt/auth"),
            Err(RealmError::InsecureRealm { .. })
        ));
    }

    #[test]
    fn encodings() {
        assert_eq!(
            crate::http::percent::encode("repository:a/b:pull"),
            "repository%3Aa%2Fb%3Apull"
        );
        let c = Credentials {
            username: "root".into(),
            access_token: "glpat-secret".into(),
        };
        assert!(!format!("{c:?}").contains("glpat"));
    }
}
