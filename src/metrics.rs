//! Prometheus metrics: the recording side (lock-free counters of the HTTP requests served, by
//! route and status, with a latency histogram) and the text exposition (format 0.0.4) of
//! everything `/metrics` shows: the registry's numbers from the snapshot, the collector's
//! state, and the HTTP counters. Every name starts with [`PREFIX`] and uses base units.
//!
//! No I/O, no clock (durations are measured by the caller), no threads. Label values are
//! data (repository names) and are always escaped.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::registry::status::CollectorState;
use crate::snapshot::Snapshot;

mod storage;
mod usage;

use storage::storage_scans;
pub use storage::StorageView;
use usage::registry;

/// The common prefix of every metric name.
pub(crate) const PREFIX: &str = "gitlab_registry_usage_";

/// The `Content-Type` of the exposition.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A fixed set of route labels: raw paths never become labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    AuthToken,
    Repositories,
    Namespaces,
    Health,
    Metrics,
    Dashboard,
    Storage,
    History,
    Other,
}

impl Route {
    pub(crate) const ALL: [Route; 9] = [
        Route::AuthToken,
        Route::Repositories,
        Route::Namespaces,
        Route::Health,
        Route::Metrics,
        Route::Dashboard,
        Route::Storage,
        Route::History,
        Route::Other,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Route::AuthToken => "auth_token",
            Route::Repositories => "repositories",
            Route::Namespaces => "namespaces",
            Route::Health => "health",
            Route::Metrics => "metrics",
            Route::Dashboard => "dashboard",
            Route::Storage => "storage",
            Route::History => "history",
            Route::Other => "other",
        }
    }

    /// The route of a request target (path and query, as sent) under `prefix`.
    pub(crate) fn of(prefix: &str, url: &str) -> Route {
        let path = url.split_once('?').map_or(url, |(p, _)| p);
        let Some(rest) = path.strip_prefix(prefix) else {
            return Route::Other;
        };
        let below = |base: &str| {
            rest.strip_prefix(base)
                .is_some_and(|r| r.is_empty() || r.starts_with('/'))
        };
        match rest {
            "/auth_token" => Route::AuthToken,
            "/health" => Route::Health,
            "/metrics" => Route::Metrics,
            "/storage" => Route::Storage,
            "/history" | "/history/" => Route::History,
            "" | "/" | "/index.html" => Route::Dashboard,
            _ if below("/repositories") => Route::Repositories,
            _ if below("/namespaces") => Route::Namespaces,
            _ if rest.starts_with("/dashboard/") => Route::Dashboard,
            _ => Route::Other,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Upper bounds (seconds) of the latency histogram's buckets.
pub(crate) const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Statuses 100 to 599 are counted one by one; one outside that range (no HTTP layer sends
/// such a thing) is clamped into it.
const STATUSES: usize = 500;

/// Counters of the HTTP requests served. Recording is a few relaxed atomic additions.
#[derive(Debug)]
pub struct HttpMetrics {
    /// `[route][status - 100]`.
    requests: Vec<AtomicU64>,
    /// `[route][bucket]`, not cumulative; the last slot is "above every bound".
    buckets: Vec<AtomicU64>,
    /// `[route]`, in nanoseconds.
    sum_nanos: Vec<AtomicU64>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        let zeros = |n| (0..n).map(|_| AtomicU64::new(0)).collect();
        let routes = Route::ALL.len();
        HttpMetrics {
            requests: zeros(routes * STATUSES),
            buckets: zeros(routes * (BUCKETS.len() + 1)),
            sum_nanos: zeros(routes),
        }
    }
}

impl HttpMetrics {
    /// Counts one request to `url` (under `prefix`) answered with `status` after `elapsed`.
    pub(crate) fn record(&self, prefix: &str, url: &str, status: u16, elapsed: Duration) {
        let r = Route::of(prefix, url).index();
        let s = usize::from(status.clamp(100, 599)) - 100;
        self.requests[r * STATUSES + s].fetch_add(1, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        let b = BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(BUCKETS.len());
        self.buckets[r * (BUCKETS.len() + 1) + b].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos[r].fetch_add(nanos, Ordering::Relaxed);
    }

    /// Requests to `route` answered with `status` so far.
    #[cfg(test)]
    pub(crate) fn requests(&self, route: Route, status: u16) -> u64 {
        let s = usize::from(status.clamp(100, 599)) - 100;
        self.requests[route.index() * STATUSES + s].load(Ordering::Relaxed)
    }
}

/// What `/metrics` is configured to be, and the counters it shows.
#[derive(Debug, Default)]
pub struct Metrics {
    /// `[metrics] enabled`: when false `/metrics` is a 404.
    pub enabled: bool,
    /// `[metrics] bearer_token`: when set, scrapes must send `Authorization: Bearer <it>`.
    pub bearer_token: Option<String>,
    pub http: HttpMetrics,
}

impl Metrics {
    /// Whether an `Authorization` header value lets a scrape in.
    pub(crate) fn authorized(&self, authorization: Option<&str>) -> bool {
        let Some(want) = &self.bearer_token else {
            return true;
        };
        let Some(given) = authorization.map(str::trim) else {
            return false;
        };
        let (scheme, token) = given.split_once(' ').unwrap_or((given, ""));
        scheme.eq_ignore_ascii_case("bearer")
            && same_bytes(token.trim().as_bytes(), want.as_bytes())
    }
}

/// Compares in time that depends on the lengths only, not on where the bytes differ.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// Escapes a label value: backslash, double quote and line feed.
pub(crate) fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out
}

/// The text being built, one metric family at a time.
struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {PREFIX}{name} {help}");
        let _ = writeln!(self.0, "# TYPE {PREFIX}{name} {kind}");
    }

    /// One sample; `labels` is already formatted (`a="x",b="y"`) or empty.
    fn sample(&mut self, name: &str, labels: &str, value: impl std::fmt::Display) {
        if labels.is_empty() {
            let _ = writeln!(self.0, "{PREFIX}{name} {value}");
        } else {
            let _ = writeln!(self.0, "{PREFIX}{name}{{{labels}}} {value}");
        }
    }

    /// A gauge with one sample and no labels.
    fn gauge(&mut self, name: &str, help: &str, value: impl std::fmt::Display) {
        self.family(name, "gauge", help);
        self.sample(name, "", value);
    }

    /// A counter with one sample and no labels.
    fn counter(&mut self, name: &str, help: &str, value: impl std::fmt::Display) {
        self.family(name, "counter", help);
        self.sample(name, "", value);
    }

    /// A gauge with no labels whose sample is absent while there is no value (its family is
    /// declared all the same).
    fn optional_gauge(&mut self, name: &str, help: &str, value: Option<impl std::fmt::Display>) {
        self.series(name, "gauge", help, [("", value)]);
    }

    /// A family and one sample per `(labels, value)` (see [`Out::sample`]); a `None` value
    /// has no sample.
    fn series<L: AsRef<str>, V: std::fmt::Display>(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        samples: impl IntoIterator<Item = (L, Option<V>)>,
    ) {
        self.family(name, kind, help);
        for (labels, value) in samples {
            if let Some(v) = value {
                self.sample(name, labels.as_ref(), v);
            }
        }
    }
}

/// A float the way Prometheus reads it (`1.5`, `30`, `1795438748.159703`).
fn float(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "NaN".into()
    }
}

/// The whole exposition. `snapshot` is `None` before the first crawl.
pub fn render(
    snapshot: Option<&Snapshot>,
    collector: &CollectorState,
    http: &HttpMetrics,
    storage: &StorageView<'_>,
) -> String {
    let mut o = Out(String::with_capacity(
        4096 + snapshot.map_or(0, |s| s.repositories.len() * 600 + s.namespaces.len() * 500),
    ));
    if let Some(s) = snapshot {
        registry(&mut o, s);
    }
    collector_state(&mut o, collector);
    storage_scans(&mut o, storage);
    http_requests(&mut o, http);
    o.0
}

fn collector_state(o: &mut Out, c: &CollectorState) {
    o.gauge(
        "collector_enabled",
        "1 when the service crawls the registry, 0 when it serves its state file only.",
        u8::from(c.enabled),
    );
    o.gauge(
        "collector_crawl_running",
        "1 while a crawl is running.",
        u8::from(c.running_since.is_some()),
    );
    o.optional_gauge(
        "collector_update_interval_seconds",
        "The configured [registry] update_interval: time between the starts of two crawls.",
        c.update_interval.map(float),
    );
    o.optional_gauge(
        "collector_last_success_timestamp_seconds",
        "Unix time when the last successful crawl finished (absent before the first).",
        c.last_success.map(float),
    );
    o.optional_gauge(
        "collector_last_duration_seconds",
        "How long the last finished crawl took, successful or not.",
        c.last_duration.map(float),
    );
    let failed: u64 = c.crawls_failed.values().sum();
    o.counter(
        "collector_crawls_total",
        "Crawls finished since the service started, successful or not.",
        c.crawls_succeeded.saturating_add(failed),
    );
    let by = |label: &str, counts: &std::collections::BTreeMap<&str, u64>| {
        counts
            .iter()
            .map(|(k, n)| (format!("{label}=\"{}\"", escape_label(k)), Some(*n)))
            .collect::<Vec<_>>()
    };
    o.series(
        "collector_crawl_failures_total",
        "counter",
        "Abandoned crawls since the service started, by reason.",
        by("reason", &c.crawls_failed),
    );
    o.series(
        "collector_registry_requests_total",
        "counter",
        "Requests made to the registry and its token service since the service started, by kind.",
        by("kind", &c.registry_requests),
    );
}

fn http_requests(o: &mut Out, h: &HttpMetrics) {
    let name = "http_requests_total";
    o.family(
        name,
        "counter",
        "HTTP requests answered, by route and status.",
    );
    for route in Route::ALL {
        for s in 0..STATUSES {
            let n = h.requests[route.index() * STATUSES + s].load(Ordering::Relaxed);
            if n > 0 {
                let labels = format!("route=\"{}\",status=\"{}\"", route.label(), s + 100);
                o.sample(name, &labels, n);
            }
        }
    }
    let name = "http_request_duration_seconds";
    o.family(
        name,
        "histogram",
        "Time from a parsed request to its response, by route.",
    );
    let width = BUCKETS.len() + 1;
    for route in Route::ALL {
        let counts: Vec<u64> = (0..width)
            .map(|b| h.buckets[route.index() * width + b].load(Ordering::Relaxed))
            .collect();
        let label = route.label();
        let mut cumulative = 0u64;
        for (le, n) in BUCKETS.iter().zip(&counts) {
            cumulative += n;
            o.sample(
                &format!("{name}_bucket"),
                &format!("route=\"{label}\",le=\"{le}\""),
                cumulative,
            );
        }
        let count: u64 = counts.iter().sum();
        o.sample(
            &format!("{name}_bucket"),
            &format!("route=\"{label}\",le=\"+Inf\""),
            count,
        );
        let sum = h.sum_nanos[route.index()].load(Ordering::Relaxed) as f64 / 1e9;
        o.sample(
            &format!("{name}_sum"),
            &format!("route=\"{label}\""),
            float(sum),
        );
        o.sample(
            &format!("{name}_count"),
            &format!("route=\"{label}\""),
            count,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{RepositoryInput, SnapshotInput, TagInput};

    fn snap() -> Snapshot {
        let tag = |name: &str, blobs: &[&str]| TagInput {
            name: name.into(),
            digest: String::new(),
            media_type: String::new(),
            platforms: vec![],
            blobs: blobs.iter().map(|s| s.to_string()).collect(),
            created: None,
        };
        Snapshot::build(SnapshotInput {
            timestamp: 1795438748.5,
            repositories: vec![
                RepositoryInput {
                    name: "g/a".into(),
                    tags: Some(vec![tag("1", &["x", "y"])]),
                    stale_since: Some(1795000000.0),
                },
                RepositoryInput {
                    name: "g/we\"ird\\name\nx".into(),
                    tags: Some(vec![tag("1", &["x"])]),
                    stale_since: None,
                },
                RepositoryInput {
                    name: "never".into(),
                    tags: None,
                    stale_since: None,
                },
            ],
            blobs: [("x".to_string(), 100), ("y".to_string(), 7)]
                .into_iter()
                .collect(),
        })
        .unwrap()
    }

    fn value<'a>(text: &'a str, series: &str) -> Option<&'a str> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
    }

    #[test]
    fn routes_are_a_fixed_set() {
        for (url, route) in [
            ("/pre/auth_token", Route::AuthToken),
            ("/pre/repositories?embed=true", Route::Repositories),
            ("/pre/repositories/a%2Fb/tags/x", Route::Repositories),
            ("/pre/repositoriesx", Route::Other),
            ("/pre/namespaces/a", Route::Namespaces),
            ("/pre/health", Route::Health),
            ("/pre/metrics", Route::Metrics),
            ("/pre/history?namespace=g", Route::History),
            ("/pre/", Route::Dashboard),
            ("/pre", Route::Dashboard),
            ("/pre/dashboard/app.js", Route::Dashboard),
            ("/repositories", Route::Other),
            ("/pre/../etc/passwd", Route::Other),
        ] {
            assert_eq!(Route::of("/pre", url), route, "{url}");
        }
        assert_eq!(Route::of("", "/repositories"), Route::Repositories);
    }

    #[test]
    fn http_counters_and_histogram() {
        let h = HttpMetrics::default();
        h.record("", "/repositories?embed=1", 200, Duration::from_micros(300));
        h.record("", "/repositories/x", 404, Duration::from_millis(30));
        h.record("", "/health", 503, Duration::from_secs(20));
        h.record("", "/nope", 1000, Duration::ZERO);
        assert_eq!(h.requests(Route::Repositories, 200), 1);
        assert_eq!(h.requests(Route::Other, 599), 1);
        let text = render(
            None,
            &CollectorState::default(),
            &h,
            &StorageView::default(),
        );
        let p = "gitlab_registry_usage_http_";
        assert_eq!(
            value(
                &text,
                &format!("{p}requests_total{{route=\"repositories\",status=\"404\"}}")
            ),
            Some("1")
        );
        let b = |le: &str| {
            value(
                &text,
                &format!(
                    "{p}request_duration_seconds_bucket{{route=\"repositories\",le=\"{le}\"}}"
                ),
            )
        };
        assert_eq!(
            (b("0.0005"), b("0.025"), b("0.05"), b("+Inf")),
            (Some("1"), Some("1"), Some("2"), Some("2"))
        );
        assert_eq!(
            value(
                &text,
                &format!("{p}request_duration_seconds_count{{route=\"health\"}}")
            ),
            Some("1")
        );
        assert_eq!(
            value(
                &text,
                &format!("{p}request_duration_seconds_bucket{{route=\"health\",le=\"10\"}}")
            ),
            Some("0")
        );
        assert_eq!(
            value(
                &text,
                &format!("{p}request_duration_seconds_sum{{route=\"health\"}}")
            ),
            Some("20")
        );
    }

    #[test]
    fn registry_numbers_and_escaped_labels() {
        let s = snap();
        let mut c = CollectorState {
            enabled: true,
            last_success: Some(1795438748.5),
            last_duration: Some(12.25),
            update_interval: Some(3600.0),
            crawls_succeeded: 3,
            ..CollectorState::default()
        };
        c.crawls_failed.insert("catalog", 2);
        c.registry_requests.insert("tags", 40);
        let text = render(
            Some(&s),
            &c,
            &HttpMetrics::default(),
            &StorageView::default(),
        );
        let p = PREFIX;
        assert_eq!(
            value(&text, &format!("{p}registry_disk_size_bytes")),
            Some("107")
        );
        assert_eq!(
            value(&text, &format!("{p}registry_size_bytes")),
            Some("207")
        );
        assert_eq!(value(&text, &format!("{p}repositories")), Some("3"));
        assert_eq!(value(&text, &format!("{p}tags")), Some("2"));
        assert_eq!(
            value(&text, &format!("{p}snapshot_timestamp_seconds")),
            Some("1795438748.5")
        );
        assert_eq!(
            value(
                &text,
                &format!("{p}repository_exclusive_size_bytes{{repository=\"g/a\"}}")
            ),
            Some("7")
        );
        assert_eq!(
            value(
                &text,
                &format!("{p}repository_disk_size_bytes{{repository=\"g/we\\\"ird\\\\name\\nx\"}}")
            ),
            Some("100")
        );
        assert_eq!(
            value(
                &text,
                &format!("{p}namespace_exclusive_size_bytes{{namespace=\"g\"}}")
            ),
            Some("107")
        );
        assert_eq!(
            value(
                &text,
                &format!("{p}repository_stale_since_timestamp_seconds{{repository=\"g/a\"}}")
            ),
            Some("1795000000")
        );
        // a repository never read has no size samples
        assert!(!text.contains("repository=\"never\"} "), "{text}");
        assert_eq!(
            value(&text, &format!("{p}collector_crawls_total")),
            Some("5")
        );
        assert_eq!(
            value(
                &text,
                &format!("{p}collector_crawl_failures_total{{reason=\"catalog\"}}")
            ),
            Some("2")
        );
        assert_eq!(
            value(
                &text,
                &format!("{p}collector_registry_requests_total{{kind=\"tags\"}}")
            ),
            Some("40")
        );
        assert_eq!(
            value(&text, &format!("{p}collector_last_duration_seconds")),
            Some("12.25")
        );
        assert_eq!(
            value(&text, &format!("{p}collector_update_interval_seconds")),
            Some("3600")
        );
        // every sample line belongs to a family announced just before it, no raw newlines
        for line in text.lines() {
            assert!(
                line.starts_with("# HELP gitlab_registry_usage_")
                    || line.starts_with("# TYPE gitlab_registry_usage_")
                    || line.starts_with(PREFIX),
                "{line:?}"
            );
        }
    }

    #[test]
    fn bearer_token_check() {
        let open = Metrics::default();
        assert!(open.authorized(None));
        let m = Metrics {
            enabled: true,
            bearer_token: Some("s3cret".into()),
            http: HttpMetrics::default(),
        };
        assert!(m.authorized(Some("Bearer s3cret")));
        assert!(m.authorized(Some("bearer  s3cret ")));
        for bad in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer s3cre"),
            Some("Basic s3cret"),
            Some("Bearer s3cretX"),
        ] {
            assert!(!m.authorized(bad), "{bad:?}");
        }
        assert_eq!(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }
}
