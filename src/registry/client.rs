//! The collector's HTTP side: one ureq agent (keep-alive, a pool sized for the crawl's
//! concurrency, connect/read timeouts, redirects followed here and not by ureq), retries with
//! bounded exponential backoff, request counting, the CAs trusted for https, and the URL and
//! `Link` arithmetic of the registry API.
//!
//! Redirects are followed only for blob reads (registries send those to storage); a redirect
//! on any other request is an error with a warning, so a registry cannot make the crawl
//! read (and serve) another server's answers.
//!
//! It knows nothing about manifests or snapshots, nor about how the registry wants to be
//! authenticated (that is [`super::token`]): it sends an `Authorization` it is given only to
//! that header's own origin, never to a redirect target elsewhere, and never logs it.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use url::{Position, Url};

use crate::tls::{load_roots, CaMode};

use super::token::{AuthHeader, AuthMode, Credentials};
use super::{Kind, RequestStats};

/// Manifest media types we understand, most preferred first. Schema 1 last and weighted
/// down: registries only serve it for images that exist in no other form.
pub(crate) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.oci.artifact.manifest.v1+json;q=0.9, \
application/vnd.docker.distribution.manifest.v1+prettyjws;q=0.5, \
application/vnd.docker.distribution.manifest.v1+json;q=0.5";

/// Responses larger than this are refused: a tags list of 100,000 tags is ~3 MB.
const BODY_LIMIT: u64 = 64 * 1024 * 1024;
/// Image config blobs are read up to this size: real ones are a few KiB (tens for images
/// with long histories); a larger one is not read, and its image's creation time is unknown.
pub(crate) const CONFIG_BODY_LIMIT: u64 = 4 * 1024 * 1024;
/// Redirect hops followed per request (blob HEADs go to storage through a 307).
const MAX_REDIRECTS: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Head,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
        })
    }
}

/// Retry and timeout policy (from the configuration and [`super::CrawlOptions`]).
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub(crate) timeout: Duration,
    pub(crate) concurrency: usize,
    pub(crate) max_attempts: u32,
    pub(crate) backoff_base: Duration,
    pub(crate) backoff_cap: Duration,
    pub(crate) retry_after_cap: Duration,
    /// Largest manifest body read (`[registry] max_manifest_size`).
    pub(crate) manifest_limit: u64,
}

/// A response, read completely.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) content_type: Option<String>,
    pub(crate) digest: Option<String>,
    pub(crate) content_length: Option<u64>,
    pub(crate) link: Option<String>,
    pub(crate) www_authenticate: Option<String>,
    retry_after: Option<String>,
    /// GitLab's `X-Next-Page` (offset pagination of its REST API).
    pub(crate) next_page: Option<String>,
    pub(crate) body: Vec<u8>,
}

/// A request that could not be completed (after retries where they apply).
#[derive(Debug)]
pub enum HttpError {
    /// No HTTP answer: connection refused or reset, timeout, broken framing, truncated body.
    Transport {
        what: String,
        reason: String,
    },
    TooManyRedirects {
        what: String,
    },
    /// A redirect on a request that is not a blob read (not followed, not retried).
    Redirect {
        what: String,
        location: String,
    },
    /// The body is larger than the limit for its kind of request (not retried).
    TooLarge {
        what: String,
        limit: u64,
    },
    /// The crawl is being stopped.
    Cancelled,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Transport { what, reason } => write!(f, "{what}: {reason}"),
            HttpError::TooManyRedirects { what } => {
                write!(f, "{what}: more than {MAX_REDIRECTS} redirects")
            }
            HttpError::Redirect { what, location } => write!(
                f,
                "{what}: the registry answered with a redirect to {location}, which is followed \
                 only for blob reads (is [registry] registry_base_url the registry's own address?)"
            ),
            HttpError::TooLarge { what, limit } => {
                write!(f, "{what}: the answer is larger than {limit} bytes")
            }
            HttpError::Cancelled => f.write_str("stopped"),
        }
    }
}

impl std::error::Error for HttpError {}

#[derive(Default)]
struct Counters {
    by_kind: [AtomicU64; Kind::ALL.len()],
    retries: AtomicU64,
}

/// One registry's client: shared by all crawl threads.
pub(crate) struct Client {
    agent: ureq::Agent,
    pub(super) base: String,
    pub(super) origin: String,
    pub(super) gitlab_base_url: String,
    /// Origins that may receive the credentials: GitLab's, the registry's, `trusted_realms`.
    pub(super) trusted: Vec<String>,
    pub(super) credentials: Credentials,
    policy: Policy,
    pub(super) mode: Mutex<AuthMode>,
    counters: Counters,
    cancel: AtomicBool,
}

impl Client {
    /// `registry_base_url`, `gitlab_base_url` and `trusted_realms` have been checked by the
    /// configuration (http:// or https://); `roots` are the CAs trusted for https (see
    /// [`root_certs`]).
    pub(crate) fn new(
        registry_base_url: &str,
        gitlab_base_url: &str,
        trusted_realms: &[String],
        credentials: Credentials,
        policy: Policy,
        roots: Vec<ureq::tls::Certificate<'static>>,
    ) -> Client {
        let t = Some(policy.timeout);
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::from(roots))
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls)
            // We read 4xx/5xx ourselves: their WWW-Authenticate, Retry-After and bodies matter.
            .http_status_as_error(false)
            // Redirects are followed by `once`, which drops credentials on a change of origin.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_connect(t)
            .timeout_send_request(t)
            .timeout_recv_response(t)
            .timeout_per_read(t)
            // A body may take longer than one read, but not forever.
            .timeout_recv_body(Some(policy.timeout.saturating_mul(4)))
            .max_idle_connections(policy.concurrency * 2 + 4)
            .max_idle_connections_per_host(policy.concurrency + 2)
            .user_agent(concat!(
                "gitlab-registry-usage-rest/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .into();
        let base = registry_base_url.trim_end_matches('/').to_string();
        Client {
            agent,
            origin: origin(&base),
            base,
            gitlab_base_url: gitlab_base_url.trim_end_matches('/').to_string(),
            trusted: [registry_base_url, gitlab_base_url]
                .into_iter()
                .chain(trusted_realms.iter().map(String::as_str))
                .filter(|u| !u.is_empty())
                .map(origin)
                .collect(),
            credentials,
            policy,
            mode: Mutex::new(AuthMode::Unknown),
            counters: Counters::default(),
            cancel: AtomicBool::new(false),
        }
    }

    /// `<registry_base_url><path>`; `path` starts with `/v2/`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Resolves a `Link` or `Location` target against the URL it came with.
    pub(crate) fn resolve(&self, reference: &str, current: &str) -> Option<String> {
        resolve(reference, current)
    }

    pub(crate) fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    /// Starts a new crawl: counters to zero, not cancelled.
    pub(crate) fn reset(&self) {
        self.cancel.store(false, Ordering::SeqCst);
        let c = &self.counters;
        for a in c.by_kind.iter().chain([&c.retries]) {
            a.store(0, Ordering::SeqCst);
        }
    }

    pub(crate) fn stats(&self) -> RequestStats {
        let c = &self.counters;
        RequestStats {
            requests: std::array::from_fn(|i| c.by_kind[i].load(Ordering::SeqCst)),
            retries: c.retries.load(Ordering::SeqCst),
        }
    }

    fn count(&self, kind: Kind) {
        self.counters.by_kind[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// One request with retries: 429/500/502/503/504 and transport errors are retried with
    /// bounded exponential backoff (or the server's `Retry-After`), up to `max_attempts`.
    /// The last reply is returned whatever its status.
    pub(crate) fn execute(
        &self,
        kind: Kind,
        method: Method,
        url: &str,
        auth: Option<&AuthHeader>,
        accept: Option<&str>,
    ) -> Result<Reply, HttpError> {
        let request = Attempt {
            kind,
            method,
            url,
            auth,
            accept,
        };
        let mut attempt: u32 = 1;
        loop {
            if self.is_cancelled() {
                return Err(HttpError::Cancelled);
            }
            let outcome = self.once(&request);
            let wait = match &outcome {
                Ok(r) if matches!(r.status, 429 | 500 | 502 | 503 | 504) => r
                    .retry_after
                    .as_deref()
                    .and_then(|v| parse_retry_after(v, SystemTime::now()))
                    .map(|d| d.min(self.policy.retry_after_cap))
                    .unwrap_or_else(|| self.backoff(attempt)),
                Err(HttpError::Transport { .. }) => self.backoff(attempt),
                _ => return outcome,
            };
            if attempt >= self.policy.max_attempts {
                return outcome;
            }
            let why = match &outcome {
                Ok(r) => format!("status {}", r.status),
                Err(e) => e.to_string(),
            };
            log::debug!(
                "{method} {}: {why}; retry {attempt} in {} ms",
                shown(kind, url),
                wait.as_millis()
            );
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            self.sleep(wait)?;
            attempt += 1;
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .policy
            .backoff_base
            .saturating_mul(1u32 << (attempt - 1).min(16));
        let capped = exp.min(self.policy.backoff_cap);
        // Jitter (50–100 %) so that threads hit by the same outage do not retry in step.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        capped.mul_f64(0.5 + f64::from(nanos % 1000) / 2000.0)
    }

    /// Sleeps in short slices, so that a stop is noticed.
    fn sleep(&self, d: Duration) -> Result<(), HttpError> {
        let end = Instant::now() + d;
        loop {
            if self.is_cancelled() {
                return Err(HttpError::Cancelled);
            }
            let now = Instant::now();
            if now >= end {
                return Ok(());
            }
            std::thread::sleep((end - now).min(Duration::from_millis(25)));
        }
    }

    /// One attempt, following redirects. `auth` goes only to its own origin.
    fn once(&self, request: &Attempt<'_>) -> Result<Reply, HttpError> {
        let Attempt {
            kind,
            method,
            url,
            auth,
            accept,
        } = *request;
        let mut url = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            self.count(kind);
            let mut req = match method {
                Method::Get => self.agent.get(&url),
                Method::Head => self.agent.head(&url),
            };
            if let Some(a) = accept {
                req = req.header("Accept", a);
            }
            if let Some(a) = auth.filter(|a| a.origin == origin(&url)) {
                req = req.header(a.name, &a.value);
            }
            let what = || format!("{method} {}", shown(kind, &url));
            let mut resp = req.call().map_err(|e| transport(what(), e))?;
            let status = resp.status().as_u16();
            log::debug!("{method} {} -> {status}", shown(kind, &url));
            let header = |name: &str| -> Option<String> {
                let vals: Vec<&str> = resp
                    .headers()
                    .get_all(name)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect();
                (!vals.is_empty()).then(|| vals.join(", "))
            };
            if matches!(status, 301 | 302 | 303 | 307 | 308) {
                if let Some(next) = header("location").and_then(|loc| resolve(&loc, &url)) {
                    if matches!(kind, Kind::BlobHead | Kind::ConfigGet) {
                        url = next;
                        continue;
                    }
                    // A query may carry a storage signature: never shown.
                    let e = HttpError::Redirect {
                        what: what(),
                        location: strip_query(&next).to_string(),
                    };
                    log::warn!("{e}");
                    return Err(e);
                }
            }
            // The headers first: reading the body needs `resp` mutably.
            let mut reply = Reply {
                status,
                content_type: header("content-type"),
                digest: header("docker-content-digest"),
                content_length: header("content-length").and_then(|v| v.trim().parse().ok()),
                link: header("link"),
                www_authenticate: header("www-authenticate"),
                retry_after: header("retry-after"),
                next_page: header("x-next-page"),
                body: Vec::new(),
            };
            let limit = match kind {
                Kind::ConfigGet => CONFIG_BODY_LIMIT,
                Kind::ManifestGet => self.policy.manifest_limit,
                _ => BODY_LIMIT,
            };
            if method == Method::Get {
                reply.body = resp
                    .body_mut()
                    .with_config()
                    .limit(limit)
                    .read_to_vec()
                    .map_err(|e| match e {
                        ureq::Error::BodyExceedsLimit(_) => HttpError::TooLarge {
                            what: what(),
                            limit,
                        },
                        e => transport(what(), e),
                    })?;
            }
            return Ok(reply);
        }
        Err(HttpError::TooManyRedirects {
            what: format!("{method} {}", shown(kind, &url)),
        })
    }
}

/// What each attempt of one [`Client::execute`] sends (every retry sends the same).
#[derive(Clone, Copy)]
struct Attempt<'a> {
    kind: Kind,
    method: Method,
    url: &'a str,
    auth: Option<&'a AuthHeader>,
    accept: Option<&'a str>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere leaves plain data behind, still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The CAs the collector trusts for https: the system's roots (what `update-ca-certificates`
/// manages, or `SSL_CERT_FILE` / `SSL_CERT_DIR`) plus those of `[registry] ca_file`, which
/// adds to them rather than replacing them: GitLab and the storage that blob requests are
/// redirected to may have public certificates while the registry has a private one.
pub(crate) fn root_certs(
    ca_file: Option<&std::path::Path>,
) -> Result<Vec<ureq::tls::Certificate<'static>>, String> {
    let roots = load_roots("registry", ca_file, CaMode::Add)?;
    log::debug!(
        "registry: trusting {} system CA certificate(s) and {} from [registry] ca_file",
        roots.from_system,
        roots.from_file
    );
    Ok(roots
        .certs
        .iter()
        .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
        .collect())
}

/// What a TLS failure means for the operator, when it is one.
fn tls_reason(e: &ureq::Error) -> Option<String> {
    let tls = match e {
        ureq::Error::Rustls(t) => t,
        ureq::Error::Io(io) => io.get_ref()?.downcast_ref::<rustls::Error>()?,
        _ => return None,
    };
    use rustls::CertificateError as C;
    Some(match tls {
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => {
            format!(
                "the server's certificate is not valid for this host name ({tls}): use a name \
                 the certificate carries in the [registry] URL"
            )
        }
        rustls::Error::InvalidCertificate(_) => format!(
            "the server's certificate is not trusted ({tls}): if it comes from a private CA, \
             set [registry] ca_file to that CA's PEM file or add the CA to the system's store"
        ),
        _ => format!("TLS failed: {tls}"),
    })
}

fn transport(what: String, e: ureq::Error) -> HttpError {
    if let Some(reason) = tls_reason(&e) {
        return HttpError::Transport { what, reason };
    }
    let reason = match &e {
        ureq::Error::Timeout(t) => {
            format!("timed out ({t}): raise [registry] timeout if the registry is slow")
        }
        ureq::Error::Io(io) => format!("connection error: {io}"),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::HostNotFound => "host not found: check the URL in [registry]".into(),
        other => other.to_string(),
    };
    HttpError::Transport { what, reason }
}

/// What a request is called in logs and errors: no scheme/host, and for the token endpoint
/// no query (it lists scopes and is long; credentials are never in URLs).
fn shown(kind: Kind, url: &str) -> String {
    if kind == Kind::Token {
        format!("{}{}", origin(url), strip_query(&path_and_query(url)))
    } else {
        path_and_query(url)
    }
}

pub(super) fn strip_query(url: &str) -> &str {
    url.split_once('?').map_or(url, |(a, _)| a)
}

/// The path and query of an absolute URL (what logs show); the whole text when it does not
/// parse.
pub(crate) fn path_and_query(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => u[Position::BeforePath..Position::AfterQuery].to_string(),
        Err(_) => url.to_string(),
    }
}

/// `scheme://host[:port]` of an absolute URL, as compared for trust: host lower-cased, the
/// scheme's default port left out. Empty when `url` is not an absolute http(s) URL.
pub(crate) fn origin(url: &str) -> String {
    match Url::parse(url.trim()) {
        Ok(u) if u.has_host() => u.origin().ascii_serialization(),
        _ => String::new(),
    }
}

/// Resolves a `Location` / `Link` reference against the URL it came with (RFC 3986 §5);
/// `None` when either is not a URL.
pub(crate) fn resolve(reference: &str, current: &str) -> Option<String> {
    Url::parse(current)
        .ok()?
        .join(reference.trim())
        .ok()
        .map(String::from)
}

/// The target of `rel="next"` in a `Link` header.
pub(crate) fn next_link(link: &str) -> Option<&str> {
    for part in split_links(link) {
        let Some((target, params)) = part
            .trim()
            .strip_prefix('<')
            .and_then(|p| p.split_once('>'))
        else {
            continue;
        };
        let is_next = params.split(';').any(|p| {
            let Some((k, v)) = p.split_once('=') else {
                return false;
            };
            k.trim().eq_ignore_ascii_case("rel")
                && v.trim()
                    .trim_matches('"')
                    .split_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target);
        }
    }
    None
}

/// Splits a `Link` header on the commas between links (not those inside `<...>`).
fn split_links(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth_angle = false;
    let mut in_quote = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '<' if !in_quote => depth_angle = true,
            '>' if !in_quote => depth_angle = false,
            '"' if !depth_angle => in_quote = !in_quote,
            ',' if !depth_angle && !in_quote => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// `Retry-After`: seconds, or an HTTP date in any of the three forms RFC 9110 requires
/// (IMF-fixdate, RFC 850, asctime); a date in the past means now.
fn parse_retry_after(v: &str, now: SystemTime) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers() {
        assert_eq!(
            next_link(r#"</v2/_catalog?last=b&n=2>; rel="next""#),
            Some("/v2/_catalog?last=b&n=2")
        );
        assert_eq!(
            next_link(r#"<https://x/a?b=1,2>; rel="prev", <https://x/c>; rel=next"#),
            Some("https://x/c")
        );
        assert_eq!(next_link(r#"<https://x/a>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn urls() {
        assert_eq!(
            origin("https://r.example.com:5000/v2/x?y"),
            "https://r.example.com:5000"
        );
        assert_eq!(origin("http://h"), "http://h");
        assert_eq!(
            origin("HTTPS://Git.Example:443/jwt/auth"),
            "https://git.example"
        );
        assert_eq!(origin("http://h:80"), "http://h");
        assert_eq!(origin("http://h:8080/x"), "http://h:8080");
        assert_eq!(origin("not a url"), "");
        let r = |a, b| resolve(a, b).unwrap_or_default();
        assert_eq!(
            r("/v2/_catalog?n=1&last=a", "http://h:1/v2/_catalog?n=1"),
            "http://h:1/v2/_catalog?n=1&last=a"
        );
        assert_eq!(
            r("https://s3/x?sig=1", "http://h/v2/a"),
            "https://s3/x?sig=1"
        );
        assert_eq!(r("//cdn/x", "https://h/v2/a"), "https://cdn/x");
        assert_eq!(r("b?x", "http://h/v2/a?q"), "http://h/v2/b?x");
        // RFC 3986 §5.4: a query-only reference keeps the current path.
        assert_eq!(
            r("?last=ok%2Fa&n=1", "http://h/v2/_catalog?n=1"),
            "http://h/v2/_catalog?last=ok%2Fa&n=1"
        );
        assert_eq!(resolve("/x", "no base"), None);
        assert_eq!(
            shown(Kind::Token, "https://g/jwt/auth?scope=x"),
            "https://g/jwt/auth"
        );
        assert_eq!(
            shown(Kind::Tags, "https://g/v2/a/tags/list?n=5"),
            "/v2/a/tags/list?n=5"
        );
    }

    #[test]
    fn retry_after_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_770);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        // 1994-11-06 08:49:37 UTC = 784111777
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after(
                "Sun, 06 Nov 1994 08:49:37 GMT",
                now + Duration::from_secs(60)
            ),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        // RFC 9110 also requires the obsolete RFC 850 and asctime forms.
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Sun Nov  6 08:49:37 1994", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 25:49:37 GMT", now),
            None
        );
        assert_eq!(
            parse_retry_after(
                "Tue, 29 Feb 2028 12:00:00 GMT",
                UNIX_EPOCH + Duration::from_secs(1_835_438_390)
            ),
            Some(Duration::from_secs(10))
        );
    }
}
