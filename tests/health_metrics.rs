//! `/health` and `/metrics` over HTTP against the real binary: the health verdicts (no data,
//! ok, stale), metrics disabled / open / behind a bearer token, the exposition checked by
//! `promtool check metrics`, and a real Prometheus server (Debian package `prometheus`) on
//! loopback that scrapes the service and answers PromQL queries with the fixture's numbers.

mod support;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gitlab_registry_usage_rest::http::percent::encode;
use serde_json::{json, Value};
use support::service::{now, request, Options, Service};
use support::TempDir;

const TS: f64 = 1795438748.159703;
const UNIQUE_BYTES: u64 = 13864;
const TOKEN: &str = "scrape-token-0123456789";

/// The registry of [`support::state_fixture`], one repository stale.
fn fixture(timestamp: f64) -> Vec<u8> {
    support::state_fixture::registry(timestamp, None, Some(1795000000.0))
}

/// A collector that is on but can reach nothing (port 1 refuses at once).
const UNREACHABLE_REGISTRY: &str = "registry_base_url = http://127.0.0.1:1/\ngitlab_base_url = http://127.0.0.1:1/\ntimeout = 1 s\nupdate_interval = 1 hour\n";

fn metrics_service(extra: &str) -> Service {
    Service::start(Options {
        general: format!("\n[metrics]\n{extra}\n"),
        state: Some(fixture(TS)),
        ..Options::default()
    })
}

#[test]
fn health_without_data_is_503_no_data_yet() {
    let s = Service::start(Options::default());
    let r = s.get("/health", &[]);
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(r.header("Retry-After"), Some("10"));
    // anonymous: one word; the details need a token
    assert_eq!(r.json(), json!({"status": "failing"}));
    assert_eq!(r.header("Access-Control-Allow-Origin"), None);
    let r = s.get("/health", &[("Authorization", &s.bearer())]);
    assert_eq!(r.status, 503);
    assert_eq!(
        r.json(),
        json!({"status": "unavailable", "reason": "no data yet", "last_error": null,
               "crawl_running_for": null})
    );
}

#[test]
fn health_with_data_is_200_without_authentication() {
    let s = Service::start(Options {
        general: "server_prefix = /ru\n".into(),
        state: Some(fixture(TS)),
        ..Options::default()
    });
    let r = s.get("/ru/health", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"status": "ok"}));
    let r = s.get("/ru/health", &[("Authorization", &s.bearer())]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"status": "ok", "last_success": null, "snapshot_timestamp": TS,
               "repositories": 7, "tags": 7, "crawl_running_for": null})
    );
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    assert_eq!(s.get("/health", &[]).status, 404, "the prefix applies");
    let head = request(&s.addr, "HEAD", "/ru/health", &[]);
    assert_eq!((head.status, head.body.len()), (200, 0));
}

#[test]
fn health_with_the_collector_on_fresh_then_stale() {
    let fresh = Service::start(Options {
        registry: UNREACHABLE_REGISTRY.into(),
        state: Some(fixture(now() as f64 - 60.0)),
        ..Options::default()
    });
    let r = fresh.get("/health", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    // older than twice update_interval (1 hour)
    let old = now() - 3 * 3600;
    let stale = Service::start(Options {
        registry: UNREACHABLE_REGISTRY.into(),
        state: Some(fixture(old as f64)),
        ..Options::default()
    });
    let r = stale.get("/health", &[]);
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.header("Retry-After"), Some("60"));
    assert_eq!(r.json(), json!({"status": "stale"}));
    let r = stale.get("/health", &[("Authorization", &stale.bearer())]);
    let body = r.json();
    let at = gitlab_registry_usage_rest::snapshot::time::format_rfc3339(old as i64);
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .starts_with(&format!("stale: last success at {at}")),
        "{body}"
    );
    assert_eq!(body["status"], "unavailable");
    // the data itself is still served to clients that want it
    assert_eq!(stale.get_auth("/repositories").status, 200);
}

#[test]
fn metrics_are_off_by_default() {
    let s = Service::start(Options {
        state: Some(fixture(TS)),
        ..Options::default()
    });
    assert_eq!(s.get("/metrics", &[]).status, 404);
}

#[test]
fn metrics_exposition_with_registry_collector_and_http_numbers() {
    let s = metrics_service(&format!("enabled = true\nbearer_token = {TOKEN}"));
    assert_eq!(s.get_auth("/repositories?embed=1").status, 200);
    assert_eq!(s.get_auth("/repositories/nope").status, 404);
    let r = s.get(
        "/metrics",
        &[
            ("Authorization", &format!("Bearer {TOKEN}")),
            ("Origin", "https://evil.example"),
        ],
    );
    assert_eq!(r.header("Access-Control-Allow-Origin"), None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = r.text();
    let value = |series: &str| -> Option<String> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .map(String::from)
    };
    let p = "gitlab_registry_usage_";
    assert_eq!(
        value(&format!("{p}registry_disk_size_bytes")),
        Some(UNIQUE_BYTES.to_string())
    );
    assert_eq!(value(&format!("{p}repositories")).as_deref(), Some("7"));
    assert_eq!(value(&format!("{p}tags")).as_deref(), Some("7"));
    assert_eq!(
        value(&format!(
            "{p}namespace_exclusive_size_bytes{{namespace=\"group/sub\"}}"
        ))
        .as_deref(),
        Some("541")
    );
    assert_eq!(
        value(&format!(
            "{p}repository_disk_size_bytes{{repository=\"odd/quote\\\"back\\\\slash\"}}"
        ))
        .as_deref(),
        Some("3")
    );
    assert_eq!(
        value(&format!("{p}collector_enabled")).as_deref(),
        Some("0")
    );
    assert_eq!(
        value(&format!(
            "{p}http_requests_total{{route=\"repositories\",status=\"404\"}}"
        ))
        .as_deref(),
        Some("1")
    );
    assert!(
        text.contains(&format!(
            "{p}http_request_duration_seconds_count{{route=\"repositories\"}} 2"
        )),
        "{text}"
    );
    // raw paths never become labels
    assert!(!text.contains("nope"));
    promtool_check(&text);
}

#[test]
fn metrics_behind_a_bearer_token() {
    let s = metrics_service(&format!("enabled = yes\nbearer_token = {TOKEN}"));
    let r = s.get("/metrics", &[]);
    assert_eq!(r.status, 401);
    assert!(r.header("WWW-Authenticate").unwrap().starts_with("Bearer"));
    assert!(r.json()["msg"].is_string());
    for wrong in [
        format!("Bearer {TOKEN}x"),
        "Bearer ".to_string(),
        format!("Basic {TOKEN}"),
        s.bearer(),
    ] {
        assert_eq!(
            s.get("/metrics", &[("Authorization", &wrong)]).status,
            401,
            "{wrong}"
        );
    }
    let r = s.get("/metrics", &[("Authorization", &format!("Bearer {TOKEN}"))]);
    assert_eq!(r.status, 200);
    assert!(r
        .text()
        .contains("gitlab_registry_usage_registry_disk_size_bytes 13864"));
    assert!(!s.log_text().contains(TOKEN), "the token is never logged");
}

#[test]
fn a_real_prometheus_scrapes_the_metrics_and_answers_promql() {
    let Some(prometheus) = tool("prometheus") else {
        return;
    };
    let s = metrics_service(&format!("enabled = true\nbearer_token = {TOKEN}"));
    let dir = TempDir::new("prometheus");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: registry_usage\n    metrics_path: /metrics\n    authorization:\n      credentials: {TOKEN}\n    static_configs:\n      - targets: ['{}']\n",
            s.addr
        ),
    )
    .unwrap();
    let server = Prometheus::start(&prometheus, &config, &dir);
    let disk = server.query_until("gitlab_registry_usage_registry_disk_size_bytes");
    assert_eq!(disk, UNIQUE_BYTES as f64);
    // a label value with a quote and a backslash survives the round trip
    let odd = server.query_until(
        "gitlab_registry_usage_repository_disk_size_bytes{repository=\"odd/quote\\\"back\\\\slash\"}",
    );
    assert_eq!(odd, 3.0);
    let group = server.query_until(
        "sum(gitlab_registry_usage_repository_disk_size_bytes{repository=~\"group/.*\"})",
    );
    assert_eq!(group, 4571.0);
    let scrapes = server
        .query_until("gitlab_registry_usage_http_requests_total{route=\"metrics\",status=\"200\"}");
    assert!(scrapes >= 1.0);
}

/// A Prometheus server of our own on a free loopback port, killed on drop.
struct Prometheus {
    child: Child,
    addr: String,
}

impl Prometheus {
    fn start(bin: &PathBuf, config: &std::path::Path, dir: &TempDir) -> Prometheus {
        let port = support::free_port();
        let addr = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Prometheus { child, addr }
    }

    /// The value of an instant query's first sample, polled until the scrapes have produced
    /// one (bounded: at most 12 s in all).
    fn query_until(&self, promql: &str) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(12);
        let target = format!("/api/v1/query?query={}", encode(promql));
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Some(v) = self.try_query(&target, &mut last) {
                return v;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("Prometheus gave no sample for {promql} within 12 s; last answer: {last}");
    }

    fn try_query(&self, target: &str, last: &mut String) -> Option<f64> {
        // Not listening yet is expected for the first second or two.
        std::net::TcpStream::connect(&self.addr).ok()?;
        let r = request(&self.addr, "GET", target, &[]);
        *last = format!("{} {}", r.status, r.text());
        let body: Value = serde_json::from_slice(&r.body).ok()?;
        let sample = body["data"]["result"].get(0)?;
        sample["value"][1].as_str()?.parse().ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `promtool check metrics` on an exposition: exit 0 and no lint findings.
fn promtool_check(text: &str) {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}"
    );
}

/// A program of the Debian package `prometheus`; `None` (after a loud notice) when it is not
/// installed outside CI, as for the LDAP tests.
fn tool(name: &str) -> Option<PathBuf> {
    let found = support::find_program(name);
    if found.is_none() {
        support::missing_prerequisite(
            "A METRICS CHECK",
            &format!("{name} not found: install the Debian package `prometheus`"),
        );
    }
    found
}
