//! Unit tests of routing, authentication, errors and resources, without sockets.

use super::*;
use crate::snapshot::{RepositoryInput, SnapshotInput, TagInput};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};

fn base64_encode(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

const NOW: u64 = 1_800_000_000;

struct TestAuth {
    calls: AtomicUsize,
}

impl Authenticator for TestAuth {
    fn authenticate(&self, user: &str, password: &str) -> Result<String, LoginError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match (user, password) {
            ("alice", "alice-pw") => Ok("alice".into()),
            ("down", _) => Err(LoginError::Unavailable("connection refused".into())),
            ("boom", _) => panic!("test panic"),
            _ => Err(LoginError::Rejected),
        }
    }
}

fn app(prefix: &str, with_snapshot: bool) -> App {
    let app = App {
        prefix: prefix.into(),
        tokens: Tokens::new(
            b"0123456789abcdef0123456789abcdef",
            Duration::from_secs(3600),
        ),
        authenticator: Arc::new(TestAuth {
            calls: AtomicUsize::new(0),
        }),
        limiter: FailureLimiter::new(4, 100),
        user_limiter: FailureLimiter::new(6, 100),
        rechecks: crate::auth::recheck::Rechecks::new(0, 0, 1),
        gate: LoginGate::new(2),
        trusted_proxies: vec!["10.0.0.1".parse().unwrap()],
        snapshot: SnapshotCell::default(),
        status: Arc::new(CollectorStatus::new(false)),
        update_interval: Duration::from_secs(3600),
        metrics: Metrics::default(),
        cleanup_limits: cleanup::Limits::default(),
        storage: Default::default(),
        history: Arc::new(HistoryStore::in_memory(Duration::from_secs(86_400 * 365))),
        cors_origins: None,
        streams: StreamGate::new(1),
    };
    if with_snapshot {
        let s = Snapshot::build(SnapshotInput {
            timestamp: 12.5,
            repositories: vec![RepositoryInput {
                name: "g/p".into(),
                tags: Some(vec![TagInput {
                    name: "latest".into(),
                    digest: "sha256:a".into(),
                    media_type: "x".into(),
                    platforms: vec![],
                    blobs: vec!["b".into()],
                    created: None,
                }]),
                stale_since: None,
            }],
            blobs: [("b".to_string(), 10)].into_iter().collect(),
        })
        .unwrap();
        app.snapshot.set(Arc::new(s));
    }
    app
}

fn get(url: &str, headers: &[(&str, &str)]) -> Request {
    Request {
        method: "GET".into(),
        url: url.into(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        peer: Some("127.0.0.1".parse().unwrap()),
    }
}

fn body(r: &Response) -> Value {
    serde_json::from_slice(r.body.bytes().expect("a fixed body")).unwrap()
}

fn basic(u: &str, p: &str) -> String {
    format!("Basic {}", base64_encode(format!("{u}:{p}").as_bytes()))
}

/// A GET with these headers, at `NOW`.
fn get_at_now(a: &App, url: &str, headers: &[(&str, &str)]) -> Response {
    handle(a, &get(url, headers), NOW)
}

/// A GET with a valid token, at `NOW`.
fn get_auth(a: &App, url: &str) -> Response {
    get_at_now(a, url, &[("Authorization", &bearer(a))])
}

fn bearer(app: &App) -> String {
    format!("Bearer {}", app.tokens.issue("alice", NOW).unwrap())
}

#[test]
fn login_then_use_the_token() {
    let a = app("", true);
    let r = get_at_now(
        &a,
        "/auth_token",
        &[("Authorization", &basic("alice", "alice-pw"))],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let tok = body(&r)["auth_token"].as_str().unwrap().to_string();
    let r = handle(
        &a,
        &get(
            "/repositories/g%2Fp",
            &[("Authorization", &format!("Bearer {tok}"))],
        ),
        NOW + 1,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/hal+json"));
    assert_eq!(
        body(&r),
        json!({"name": "g/p", "size": 10, "disk_size": 10, "exclusive_size": 10, "tags": 1, "project": null})
    );
}

#[test]
fn login_failures() {
    let a = app("", true);
    let r = get_at_now(&a, "/auth_token", &[]);
    assert_eq!(
        (r.status, r.header("WWW-Authenticate")),
        (401, Some("Basic realm=\"Authentication Required\""))
    );
    let r = get_at_now(&a, "/auth_token", &[("Authorization", &basic("down", "x"))]);
    assert_eq!(r.status, 503);
    assert_eq!(
        body(&r),
        json!({"msg": "The login could not be checked; try again later"}),
        "the reason is for the log only"
    );
    assert_eq!(r.header("Retry-After"), Some("30"));
    for bad in [
        basic("alice", "wrong"),
        basic("alice", ""),
        "Basic ***".into(),
        "Bearer x".into(),
    ] {
        let r = get_at_now(&a, "/auth_token", &[("Authorization", &bad)]);
        assert_eq!(r.status, 401, "{bad}");
    }
    // the limit (4) is used up: now 429, even with the right password
    let r = get_at_now(
        &a,
        "/auth_token",
        &[("Authorization", &basic("alice", "alice-pw"))],
    );
    assert_eq!(r.status, 429);
    assert!(r.header("Retry-After").is_some());
    // another address is not affected; a trusted proxy's X-Forwarded-For is used
    let mut other = get(
        "/auth_token",
        &[
            ("Authorization", &basic("alice", "alice-pw")),
            ("X-Forwarded-For", "1.2.3.4, 127.0.0.1"),
        ],
    );
    other.peer = Some("10.0.0.1".parse().unwrap());
    assert_eq!(
        handle(&a, &other, NOW).status,
        429,
        "last XFF entry is 127.0.0.1, which is limited"
    );
    other.headers[1].1 = "127.0.0.1, 5.6.7.8".into();
    assert_eq!(handle(&a, &other, NOW).status, 200);
    // a second header line is the rightmost part of the field
    other.headers[1].1 = "5.6.7.8".into();
    other
        .headers
        .push(("x-forwarded-for".into(), "127.0.0.1:4711".into()));
    assert_eq!(handle(&a, &other, NOW).status, 429);
    // an IPv4-mapped proxy address is the trusted 10.0.0.1
    other.headers.pop();
    other.peer = Some("::ffff:10.0.0.1".parse().unwrap());
    assert_eq!(handle(&a, &other, NOW).status, 200);
}

#[test]
fn token_errors() {
    let a = app("", true);
    let r = get_at_now(&a, "/repositories", &[]);
    assert_eq!(
        (r.status, body(&r)),
        (401, json!({"msg": "Missing Authorization Header"}))
    );
    let r = get_at_now(&a, "/repositories", &[("Authorization", "Basic abc")]);
    assert_eq!(r.status, 401);
    assert!(body(&r)["msg"]
        .as_str()
        .unwrap()
        .starts_with("Missing 'Bearer' type"));
    let r = get_at_now(&a, "/repositories", &[("Authorization", "Bearer abc")]);
    assert_eq!(
        (r.status, body(&r)),
        (422, json!({"msg": "Not enough segments"}))
    );
    let r = get_at_now(&a, "/repositories", &[("Authorization", "Bearer")]);
    assert_eq!(r.status, 422);
    let r = handle(
        &a,
        &get("/repositories", &[("Authorization", &bearer(&a))]),
        NOW + 3600,
    );
    assert_eq!(
        (r.status, body(&r)),
        (401, json!({"msg": "Token has expired"}))
    );
}

#[test]
fn routing_methods_cors_and_readiness() {
    let a = app("/pre", false);
    let r = get_auth(&a, "/pre/repositories");
    assert_eq!(r.status, 503);
    assert_eq!(r.header("Retry-After"), Some("10"));
    let r = get_auth(&a, "/repositories");
    assert_eq!(r.status, 404, "prefix is part of every route");
    let mut post = get("/pre/repositories", &[("Origin", "https://dash.example")]);
    post.method = "POST".into();
    let r = handle(&a, &post, NOW);
    assert_eq!((r.status, r.header("Allow")), (405, Some(ALLOWED_METHODS)));
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        Some("https://dash.example")
    );
    assert_eq!(r.header("Vary"), Some("Origin"));
    let mut pre = get("/pre/repositories/x/tags", &[("Origin", "https://d")]);
    pre.method = "OPTIONS".into();
    let r = handle(&a, &pre, NOW);
    assert_eq!(r.status, 204);
    assert!(r
        .header("Access-Control-Allow-Headers")
        .unwrap()
        .to_lowercase()
        .contains("authorization"));
    let r = get_at_now(&a, "/pre/repositories", &[]);
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
    // A cacheable resource asked cross-origin: one Vary field naming all three.
    let b = app("", true);
    let r = get_at_now(
        &b,
        "/repositories",
        &[("Authorization", &bearer(&b)), ("Origin", "https://d")],
    );
    assert_eq!(r.header("Vary"), Some("Accept, Accept-Encoding, Origin"));
    assert_eq!(r.headers.iter().filter(|(k, _)| *k == "Vary").count(), 1);
}

#[test]
fn html_negotiation() {
    assert!(prefers_html(Some(
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    )));
    assert!(prefers_html(Some("text/html")));
    for a in [
        None,
        Some("*/*"),
        Some("application/json"),
        Some("undefined"),
        Some("application/json, text/html"),
        Some("text/html;q=0"),
    ] {
        assert!(!prefers_html(a), "{a:?}");
    }
    let a = app("", true);
    let r = get_at_now(
        &a,
        "/repositories",
        &[("Authorization", &bearer(&a)), ("Accept", "text/html")],
    );
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert!(String::from_utf8(r.body.into_vec().unwrap())
        .unwrap()
        .contains("g/p"));
}

#[test]
fn not_found_bodies() {
    let a = app("", true);
    let r = get_auth(&a, "/repositories/nope/nope");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(
        body(&r),
        json!({"message": "The resource \"/repositories/nope%2Fnope\" does not exist"})
    );
    let r = get_at_now(&a, "/nothing", &[]);
    assert_eq!(r.status, 404);
}

#[test]
fn the_dashboard_is_served_without_a_token_below_the_prefix() {
    let a = app("/pre", false);
    for path in ["/pre/", "/pre/index.html", "/pre/dashboard/app.js"] {
        let r = get_at_now(&a, path, &[]);
        assert_eq!(r.status, 200, "{path}");
        assert!(r
            .header("Content-Security-Policy")
            .unwrap()
            .contains("script-src 'self'"));
        assert_eq!(r.header("X-Content-Type-Options"), Some("nosniff"));
        assert_eq!(r.header("Referrer-Policy"), Some("no-referrer"));
    }
    let r = get_at_now(&a, "/pre/?x=1", &[]);
    assert!(r.header("Content-Type").unwrap().starts_with("text/html"));
    let r = get_at_now(&a, "/pre", &[]);
    assert_eq!((r.status, r.header("Location")), (308, Some("/pre/")));
    for missing in [
        "/",
        "/dashboard/app.js",
        "/pre/dashboard/nope.js",
        "/pre/dashboard/",
    ] {
        assert_eq!(get_at_now(&a, missing, &[]).status, 404, "{missing}");
    }
    let mut post = get("/pre/", &[]);
    post.method = "POST".into();
    assert_eq!(handle(&a, &post, NOW).status, 405);
    // without a prefix the page is the root
    let root = app("", true);
    assert_eq!(get_at_now(&root, "/", &[]).status, 200);
}

#[test]
fn cleanup_route_authentication_errors_and_representations() {
    let a = app("/pre", true);
    let auth = bearer(&a);
    let r = get_at_now(&a, "/pre/cleanup?name_regex_delete=.*", &[]);
    assert_eq!(r.status, 401, "authenticated like /repositories");
    let r = get_auth(&a, "/pre/cleanup?name_regex_delete=.*&links=true");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/hal+json"));
    let b = body(&r);
    // "latest" is never deleted; its blob stays
    assert_eq!(
        (b["freed_bytes"].as_u64(), b["tags_kept"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(
        b["_links"]["self"]["href"],
        "/pre/cleanup?name_regex_delete=.%2A"
    );
    assert_eq!(
        b["_embedded"]["items"][0]["keep"],
        json!([{"name": "latest", "reason": "latest"}])
    );
    for (q, param) in [
        ("", "name_regex_delete"),
        ("name_regex_delete=(", "name_regex_delete"),
        ("name_regex_delete=.*&name_regex_keep=*", "name_regex_keep"),
        ("name_regex_delete=.*&keep_n=x", "keep_n"),
        ("name_regex_delete=.*&older_than=soon", "older_than"),
    ] {
        let r = get_auth(&a, &format!("/pre/cleanup?{q}"));
        assert_eq!(r.status, 400, "{q}");
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        let m = body(&r)["message"].as_str().unwrap().to_string();
        assert!(m.starts_with(&format!("{param}: ")), "{q}: {m}");
    }
    let r = get_auth(&a, "/pre/cleanup?name_regex_delete=.*&repository=no%2Fsuch");
    assert_eq!(
        (r.status, body(&r)),
        (
            404,
            json!({"message": "The resource \"/pre/repositories/no%2Fsuch\" does not exist"})
        )
    );
    let r = get_at_now(
        &a,
        "/pre/cleanup/?name_regex_delete=.*",
        &[("Authorization", &auth), ("Accept", "text/html")],
    );
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert!(String::from_utf8(r.body.into_vec().unwrap())
        .unwrap()
        .contains("keep (latest)"));
    assert_eq!(get_auth(&a, "/pre/cleanup/x").status, 404);
    let none = app("", false);
    let r = get_at_now(
        &none,
        "/cleanup?name_regex_delete=.*",
        &[("Authorization", &bearer(&none))],
    );
    assert_eq!(r.status, 503);
}

#[test]
fn a_panic_is_a_500_for_that_request_only() {
    let a = app("", true);
    // respond() is what the connection layer calls
    let req = get("/auth_token", &[("Authorization", &basic("boom", "x"))]);
    let r = respond(&a, &req);
    assert_eq!(r.status, 500);
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
    // the gate was released while unwinding
    assert_eq!(
        get_at_now(
            &a,
            "/auth_token",
            &[("Authorization", &basic("alice", "alice-pw"))]
        )
        .status,
        200
    );
}

#[test]
fn policies_need_a_token_are_cached_and_sorted() {
    let a = app("/p", true);
    let s = a.snapshot.get().unwrap();
    let with = (*s).clone().with_projects(vec![crate::snapshot::Project {
        id: 7,
        path: "g/p".into(),
        web_url: "https://gitlab.example/g/p".into(),
        policy: Some(crate::snapshot::ExpirationPolicy {
            enabled: true,
            name_regex: Some(".*".into()),
            ..Default::default()
        }),
        protected: vec![],
    }]);
    a.snapshot.set(Arc::new(with));
    assert_eq!(get_at_now(&a, "/p/policies", &[]).status, 401);
    let r = get_auth(&a, "/p/policies");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/hal+json"));
    let v = body(&r);
    assert_eq!(v["_embedded"]["items"][0]["project"], "g/p");
    // "latest" is never deleted
    assert_eq!(v["tags_deleted"], 0);
    let etag = r.header("ETag").unwrap().to_string();
    let again = get_at_now(
        &a,
        "/p/policies",
        &[("Authorization", &bearer(&a)), ("If-None-Match", &etag)],
    );
    assert_eq!(again.status, 304);
    let r = get_auth(&a, "/p/policies?sort=freed_bytes&order=desc&limit=1");
    assert_eq!(body(&r)["total"], 1);
    let bad = get_auth(&a, "/p/policies?sort=size");
    assert_eq!(bad.status, 400);
    assert!(body(&bad)["message"]
        .as_str()
        .unwrap()
        .contains("freed_bytes"));
    let html = get_at_now(
        &a,
        "/p/policies",
        &[("Authorization", &bearer(&a)), ("Accept", "text/html")],
    );
    assert_eq!(
        html.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
}

#[test]
fn since_and_history() {
    let a = app("", true);
    // before anything is recorded: since has nothing to compare with
    let r = get_auth(&a, "/repositories/g%2Fp?since=7d");
    assert_eq!(r.status, 400);
    assert!(body(&r)["message"]
        .as_str()
        .unwrap()
        .contains("no crawl history"));
    let snap = a.snapshot.get().unwrap();
    a.history.record(&snap, NOW as f64);
    let r = get_auth(&a, "/repositories/g%2Fp?since=7d");
    assert_eq!(r.status, 200);
    let b = body(&r);
    assert_eq!(b["since"], json!({"timestamp": 12.5}));
    assert_eq!(
        (b["size_change"].clone(), b["new"].clone()),
        (json!(0), Value::Null)
    );
    for bad in ["since=yesterday", "since=", "sort=disk_size_change"] {
        let r = get_auth(&a, &format!("/repositories?{bad}"));
        assert_eq!(r.status, 400, "{bad}");
        let m = body(&r)["message"].as_str().unwrap().to_string();
        assert!(m.contains("since"), "{bad}: {m}");
    }
    let r = get_auth(&a, "/repositories?since=yesterday");
    assert!(body(&r)["message"].as_str().unwrap().contains("RFC 3339"));
    // the cache keeps answers with and without since apart
    let plain = body(&get_auth(&a, "/repositories?embed=1"));
    assert!(plain.get("since").is_none());
    let with = body(&get_auth(&a, "/repositories?embed=1&since=1"));
    assert_eq!(with["gone"], json!([]));
    assert_eq!(with["_embedded"]["items"][0]["tags_change"], json!(0));
    let h = body(&get_auth(&a, "/history"));
    assert_eq!(
        h,
        json!({"points": [{"timestamp": 12.5, "size": 10, "disk_size": 10, "exclusive_size": 10,
                           "repositories": 1, "tags": 1}]})
    );
    let h = body(&get_auth(&a, "/history?namespace=g"));
    assert_eq!(h["namespace"], json!("g"));
    assert_eq!(h["points"][0]["repositories"], json!(1));
    assert_eq!(get_auth(&a, "/history?repository=nope").status, 404);
    assert_eq!(
        get_auth(&a, "/history?repository=g%2Fp&namespace=g").status,
        400
    );
    assert_eq!(get_at_now(&a, "/history", &[]).status, 401);
}

#[test]
fn api_responses_say_nosniff_and_html_views_and_metrics_carry_a_csp() {
    let mut a = app("", true);
    a.metrics.enabled = true;
    let html = [("Accept", "text/html")];
    let auth = bearer(&a);
    for (url, accept) in [
        ("/repositories", &[][..]),
        ("/repositories/g%2Fp/tags/latest", &[][..]),
        ("/repositories", &html[..]),
        ("/repositories/nope", &html[..]),
        ("/cleanup?keep_n=1", &html[..]),
        ("/metrics", &[][..]),
        ("/health", &[][..]),
        ("/auth_token", &[][..]),
    ] {
        let mut headers = accept.to_vec();
        headers.push(("Authorization", &auth));
        let r = get_at_now(&a, url, &headers);
        let nosniff: Vec<_> = r
            .headers
            .iter()
            .filter(|(k, _)| *k == "X-Content-Type-Options")
            .collect();
        assert_eq!(nosniff.len(), 1, "{url}: {:?}", r.headers);
        assert_eq!(nosniff[0].1, "nosniff");
        let csp = r.header("Content-Security-Policy");
        let html_view = r
            .header("Content-Type")
            .unwrap_or("")
            .starts_with("text/html");
        if html_view || url == "/metrics" {
            let csp = csp.unwrap_or_else(|| panic!("{url}: no CSP {:?}", r.headers));
            assert!(csp.starts_with("default-src 'none'"), "{url}: {csp}");
            assert!(!csp.contains("unsafe"), "{url}: {csp}");
        }
    }
    // the HTML view's one inline style is allowed by its hash, nothing else
    let r = get_at_now(&a, "/repositories", &[("Authorization", &auth), html[0]]);
    let csp = r.header("Content-Security-Policy").unwrap();
    let page = String::from_utf8(r.body.bytes().unwrap().to_vec()).unwrap();
    let style = page
        .split("<style>")
        .nth(1)
        .unwrap()
        .split("</style>")
        .next()
        .unwrap();
    let hash =
        base64_encode(ring::digest::digest(&ring::digest::SHA256, style.as_bytes()).as_ref());
    assert!(csp.contains(&format!("style-src 'sha256-{hash}'")), "{csp}");
    // the dashboard keeps its own policy, once
    let r = get_at_now(&a, "/", &[]);
    let csps = r
        .headers
        .iter()
        .filter(|(k, _)| *k == "Content-Security-Policy")
        .count();
    assert_eq!(csps, 1);
    assert!(r
        .header("Content-Security-Policy")
        .unwrap()
        .contains("script-src 'self'"));
}

#[test]
fn health_and_metrics_carry_no_cors_and_anonymous_health_is_one_word() {
    let mut a = app("", true);
    a.metrics.enabled = true;
    a.metrics.bearer_token = Some("m-token".into());
    let origin = ("Origin", "https://evil.example");
    for url in ["/health", "/metrics"] {
        let r = get_at_now(&a, url, &[origin, ("Authorization", "Bearer m-token")]);
        assert_eq!(r.header("Access-Control-Allow-Origin"), None, "{url}");
        let mut pre = get(url, &[origin]);
        pre.method = "OPTIONS".into();
        let r = handle(&a, &pre, NOW);
        assert_eq!(
            r.header("Access-Control-Allow-Origin"),
            None,
            "OPTIONS {url}"
        );
    }
    // anonymous: one word; with a user's token or the metrics token: the details
    let r = get_at_now(&a, "/health", &[]);
    assert_eq!(body(&r), json!({"status": "ok"}));
    for auth in [bearer(&a), "Bearer m-token".to_string()] {
        let r = get_at_now(&a, "/health", &[("Authorization", &auth)]);
        assert_eq!(body(&r)["repositories"], 1, "{auth}");
    }
    let r = get_at_now(&a, "/health", &[("Authorization", "Bearer wrong")]);
    assert_eq!(body(&r), json!({"status": "ok"}));
    // the collector on and 1970's data: stale; no data at all: failing
    a.status = Arc::new(CollectorStatus::new(true));
    a.status.crawl_failed(
        NOW as f64,
        "catalog",
        "GET http://10.1.2.3/v2/_catalog: refused",
    );
    let r = get_at_now(&a, "/health", &[]);
    assert_eq!((r.status, body(&r)), (503, json!({"status": "stale"})));
    let r = get_at_now(&a, "/health", &[("Authorization", &bearer(&a))]);
    assert!(body(&r)["last_error"]
        .as_str()
        .unwrap()
        .contains("10.1.2.3"));
    let b = app("", false);
    let r = get_at_now(&b, "/health", &[]);
    assert_eq!((r.status, body(&r)), (503, json!({"status": "failing"})));
    // the API keeps its CORS
    let r = get_at_now(
        &a,
        "/repositories",
        &[origin, ("Authorization", &bearer(&a))],
    );
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        Some("https://evil.example")
    );
}

#[test]
fn cors_allowed_origins_limits_which_pages_may_read_the_api() {
    let mut a = app("", true);
    a.cors_origins = Some(vec!["https://dash.example".into()]);
    let auth = bearer(&a);
    let r = get_auth(&a, "/repositories");
    assert_eq!(r.header("Access-Control-Allow-Origin"), None);
    let r = get_at_now(
        &a,
        "/repositories",
        &[("Authorization", &auth), ("Origin", "https://DASH.example")],
    );
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        Some("https://DASH.example")
    );
    let r = get_at_now(
        &a,
        "/repositories",
        &[("Authorization", &auth), ("Origin", "https://evil.example")],
    );
    assert_eq!(r.header("Access-Control-Allow-Origin"), None);
    assert_eq!(r.header("Vary"), Some("Accept, Accept-Encoding, Origin"));
}

#[test]
fn unknown_query_parameters_do_not_enter_the_cache() {
    let a = app("", true);
    let used = || a.snapshot.served().unwrap().cache.used();
    assert_eq!(
        get_auth(&a, "/repositories?embed=true&links=true").status,
        200
    );
    let one = used();
    for n in 0..50 {
        let r = get_auth(&a, &format!("/repositories?embed=true&links=true&x={n}"));
        assert_eq!(r.status, 200);
    }
    assert_eq!(
        used(),
        one,
        "each unknown parameter value took its own cache entry"
    );
    // listing links keep the API's parameters only
    let r = get_auth(&a, "/repositories?limit=1&offset=0&_=12345&links=1");
    let text = String::from_utf8(r.body.bytes().unwrap().to_vec()).unwrap();
    assert!(!text.contains("12345"), "{text}");
}
