//! Fuzzes the request parser and the router: any bytes are split into request heads the way
//! a worker does (pipelined heads one after another), each complete head is answered by
//! `server::handle` over a small snapshot, and the answer is put on the wire the way the
//! connection layer does. Checked: the parser never panics and agrees with the poller's
//! readiness test; every answer has a valid status; its bytes parse back as one HTTP/1.1
//! response with that status (no header injection from request data).

#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use gitlab_registry_usage_rest::auth::jwt::Tokens;
use gitlab_registry_usage_rest::auth::{Authenticator, FailureLimiter, LoginError, LoginGate};
use gitlab_registry_usage_rest::http::parse::{parse_head, ready, Parsed};
use gitlab_registry_usage_rest::cleanup;
use gitlab_registry_usage_rest::registry::status::CollectorStatus;
use gitlab_registry_usage_rest::http::{self, response};
use gitlab_registry_usage_rest::metrics::Metrics;
use gitlab_registry_usage_rest::server::{self, App, SnapshotCell};
use gitlab_registry_usage_rest::snapshot::{Snapshot, SnapshotInput};
use libfuzzer_sys::fuzz_target;

/// Tokens minted at this time stay valid for the whole run (the seed corpus carries one).
const NOW: u64 = 1_800_000_000;
const SECRET: &[u8] = b"fuzz-secret-0123456789abcdef-0123456789";
const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 100;

struct NoDirectory;

impl Authenticator for NoDirectory {
    fn authenticate(&self, user: &str, _password: &str) -> Result<String, LoginError> {
        if user == "alice" {
            Ok("alice".into())
        } else {
            Err(LoginError::Rejected)
        }
    }
}

fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| {
        let state = serde_json::json!({
            "timestamp": 1795438748.0,
            "repositories": [
                {"name": "base/alpine", "tags": [
                    {"name": "latest", "digest": "sha256:1", "media_type": "x", "blobs": ["a", "b"]},
                    {"name": "tags", "digest": "sha256:2", "media_type": "x", "blobs": ["a"]}]},
                {"name": "base/alpine/tags", "tags": [
                    {"name": "v1", "digest": "sha256:3", "media_type": "x", "blobs": ["c"]}]},
                {"name": "odd name/with%/ünï", "tags": []},
                {"name": "never", "tags": null}
            ],
            "blobs": {"a": 10, "b": 20, "c": 30}
        });
        let input: SnapshotInput = serde_json::from_value(state).expect("fixture");
        let app = App {
            prefix: String::new(),
            tokens: Tokens::new(SECRET, Duration::from_secs(3600)),
            authenticator: Arc::new(NoDirectory),
            limiter: FailureLimiter::new(1_000_000, 1000),
            gate: LoginGate::new(4),
            trusted_proxies: vec!["127.0.0.1".parse().expect("address")],
            snapshot: SnapshotCell::default(),
            status: Arc::new(CollectorStatus::new(true)),
            update_interval: Duration::from_secs(3600),
            metrics: Metrics {
                enabled: true,
                ..Metrics::default()
            },
            cleanup_limits: cleanup::Limits::default(),
        };
        app.snapshot
            .set(Arc::new(Snapshot::build(input).expect("snapshot")));
        app
    })
}

fuzz_target!(|data: &[u8]| {
    let app = app();
    let mut buf = data;
    // At most as many heads as a worker answers per turn.
    for _ in 0..32 {
        let parsed = parse_head(buf, MAX_HEAD, MAX_HEADERS, Some([127, 0, 0, 1].into()));
        if buf.len() < MAX_HEAD {
            assert_eq!(
                ready(buf, MAX_HEAD, MAX_HEADERS),
                !matches!(parsed, Parsed::Partial),
                "the poller and the worker disagree"
            );
        }
        let resp = match parsed {
            Parsed::Partial => return,
            Parsed::Reject(r) => {
                let resp = response::error_response(r.status(), r.message());
                check_wire(resp, r.status());
                return;
            }
            Parsed::Complete { head, len } => {
                assert!(len > 0 && len <= buf.len());
                buf = &buf[len..];
                server::handle(app, &head.request, NOW)
            }
        };
        let status = resp.status;
        assert!((100..600).contains(&status), "status {status}");
        assert_ne!(status, 500, "a request made the handler fail");
        check_wire(resp.into(), status);
    }
});

/// The answer as the layer writes it must read back as exactly one response.
fn check_wire(resp: http::Response, status: u16) {
    let body_len = resp.body.len();
    let bytes = response::closing_bytes(resp, "Thu, 01 Jan 2026 00:00:00 GMT");
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut headers);
    match r.parse(&bytes) {
        Ok(httparse::Status::Complete(n)) => {
            assert_eq!(r.code, Some(status));
            if let Some(len) = body_len {
                assert_eq!((bytes.len() - n) as u64, len, "body length");
            }
        }
        other => panic!("unparsable response head: {other:?}"),
    }
}
