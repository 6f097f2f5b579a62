//! The collector: crawls the container registry (GitLab's token flow, the Distribution / OCI
//! API) on a `std::thread`, builds a [`Snapshot`] per crawl and publishes it as an `Arc`
//! (into the server's cell, through a callback), then writes it to the state file, and keeps
//! a [`CollectorStatus`] for `/health` and `/metrics`.
//!
//! This file owns the schedule (crawl, publish, save, sleep `update_interval` from the start of
//! the last crawl, stop promptly); [`client`] owns HTTP, [`auth`] the registry's
//! authentication, [`crawl`] the crawl's pool and `resolve` the reading of one repository
//! (with [`manifest`], the meaning of the registry's answers). It never serves HTTP and never
//! replaces good data with a failed crawl's.

pub(crate) mod client;
pub(crate) mod crawl;
pub(crate) mod manifest;
mod name;
mod pool;
pub(crate) mod projects;
mod resolve;
mod single_flight;
pub mod state;
pub mod status;
pub(crate) mod token;

use std::fmt;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::config;
use crate::registry::status::CollectorStatus;
use crate::snapshot::Snapshot;

pub use client::HttpError;
pub use crawl::{CrawlError, CrawlOptions, CrawlOutcome, Crawler, PanicAt};
pub use projects::{ProjectsMode, ProjectsState};
pub use token::RealmError;

/// After an abandoned crawl, the next one starts after this at the latest: an hour of stale
/// data because GitLab restarted once would be a poor trade.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(300);

/// What a registry request is for: the unit of the request statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Token,
    Catalog,
    Tags,
    ManifestGet,
    ManifestHead,
    BlobHead,
    /// An image config blob, read for the image's creation time.
    ConfigGet,
    /// A page of GitLab's project list (REST API).
    Projects,
    /// One project's tag protection rules (REST API).
    ProtectionRules,
}

impl Kind {
    /// Every kind, in the order the statistics show them.
    pub(crate) const ALL: [Kind; 9] = [
        Kind::Token,
        Kind::Catalog,
        Kind::Tags,
        Kind::ManifestGet,
        Kind::ManifestHead,
        Kind::BlobHead,
        Kind::ConfigGet,
        Kind::Projects,
        Kind::ProtectionRules,
    ];

    /// A short fixed word (metrics label, `/health`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Token => "token",
            Kind::Catalog => "catalog",
            Kind::Tags => "tags",
            Kind::ManifestGet => "manifest_get",
            Kind::ManifestHead => "manifest_head",
            Kind::BlobHead => "blob_head",
            Kind::ConfigGet => "config_get",
            Kind::Projects => "projects",
            Kind::ProtectionRules => "protection_rules",
        }
    }

    /// How the crawl summary says it.
    fn label(self) -> &'static str {
        match self {
            Kind::Token => "token",
            Kind::Catalog => "catalog",
            Kind::Tags => "tags",
            Kind::ManifestGet => "manifest GET",
            Kind::ManifestHead => "manifest HEAD",
            Kind::BlobHead => "blob HEAD",
            Kind::ConfigGet => "config GET",
            Kind::Projects => "projects",
            Kind::ProtectionRules => "protection rules",
        }
    }
}

/// Requests made by one crawl, per kind (`stats[Kind::Tags]`); every attempt and redirect hop
/// counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestStats {
    pub(crate) requests: [u64; Kind::ALL.len()],
    /// Attempts that were repeats of a failed one (already counted above).
    pub retries: u64,
}

impl std::ops::Index<Kind> for RequestStats {
    type Output = u64;
    fn index(&self, k: Kind) -> &u64 {
        &self.requests[k as usize]
    }
}

impl RequestStats {
    pub fn total(&self) -> u64 {
        self.requests.iter().fold(0, |a, &n| a.saturating_add(n))
    }

    /// `(name, count)` per kind, for [`crate::registry::status::CollectorStatus::add_requests`].
    pub(crate) fn by_name(&self) -> Vec<(&'static str, u64)> {
        Kind::ALL.iter().map(|&k| (k.name(), self[k])).collect()
    }
}

impl fmt::Display for RequestStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in all (", self.total())?;
        for (i, k) in Kind::ALL.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{} {}", k.label(), self[*k])?;
        }
        write!(f, "; {} retries)", self.retries)
    }
}

/// Runs ONE crawl with a fresh client, for tests and benchmarks: what the collector thread
/// does each `update_interval`, minus publishing and saving.
pub fn crawl_once(
    cfg: &config::Registry,
    previous: Option<&Snapshot>,
    opts: CrawlOptions,
) -> Result<CrawlOutcome, CrawlError> {
    Crawler::new(cfg, opts)?.crawl(previous, &crossbeam_channel::never())
}

/// Starts the collector thread. `previous` is the snapshot being served (from the state
/// file), `publish` takes each new snapshot (the server's cell: nothing copies them in
/// between), `status` is kept up to date for `/health` and `/metrics`, and a message on (or
/// the closing of) `stop` ends the loop: at once between crawls, within one request timeout
/// during a crawl. The thread ends only when asked to; if it ends otherwise, the collector
/// is dead and the caller should exit (see `main.rs`).
pub fn spawn_collector(
    cfg: config::Registry,
    previous: Option<Arc<Snapshot>>,
    publish: impl Fn(Arc<Snapshot>) + Send + 'static,
    status: Arc<CollectorStatus>,
    stop: Receiver<()>,
) -> std::io::Result<JoinHandle<()>> {
    spawn_collector_with(
        cfg,
        CrawlOptions::default(),
        previous,
        publish,
        status,
        stop,
    )
}

/// [`spawn_collector`] with explicit crawl options (tests shorten retries and pages).
pub fn spawn_collector_with(
    cfg: config::Registry,
    opts: CrawlOptions,
    previous: Option<Arc<Snapshot>>,
    publish: impl Fn(Arc<Snapshot>) + Send + 'static,
    status: Arc<CollectorStatus>,
    stop: Receiver<()>,
) -> std::io::Result<JoinHandle<()>> {
    let crawler = if cfg.registry_base_url.is_empty() {
        None
    } else {
        let panic_hook = opts.panic_at == Some(PanicAt::Collector);
        let c = Crawler::new(&cfg, opts).map_err(|e| std::io::Error::other(e.to_string()))?;
        Some((c, panic_hook))
    };
    std::thread::Builder::new()
        .name("collector".into())
        .spawn(move || {
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match &crawler {
                Some((c, panic_hook)) => {
                    run(&cfg, c, *panic_hook, previous, &publish, &status, stop)
                }
                None => {
                    log::info!(
                        "[registry] registry_base_url is empty: no crawling, serving the state \
                         file only"
                    );
                    let _ = stop.recv();
                }
            }));
            if let Err(p) = ran {
                let why = pool::panic_message(p.as_ref());
                log::error!("the collector failed (a bug, please report it): panic: {why}");
                status.crawl_failed(unix_now(), "panic", &format!("the collector failed: {why}"));
            }
        })
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Whether the collector's settings can be used (`--check-config`): the CA file.
pub(crate) fn check_settings(cfg: &config::Registry) -> Result<(), String> {
    client::root_certs(cfg.ca_file.as_deref()).map(|_| ())
}

fn run(
    cfg: &config::Registry,
    crawler: &Crawler,
    panic_after_publishing: bool,
    mut previous: Option<Arc<Snapshot>>,
    publish: &dyn Fn(Arc<Snapshot>),
    status: &CollectorStatus,
    stop: Receiver<()>,
) {
    loop {
        let started = Instant::now();
        status.crawl_started(unix_now());
        let result = crawler.crawl(previous.as_deref(), &stop);
        status.add_requests(&crawler.stats().by_name());
        let next = match result {
            Ok(outcome) => {
                let projects = outcome.projects;
                status.update(|s| s.projects = Some(projects));
                let snap = Arc::new(outcome.snapshot);
                // The status first: whoever sees the new data sees it counted.
                status.crawl_succeeded(unix_now());
                publish(snap.clone());
                if panic_after_publishing {
                    panic!("deliberate collector panic (test hook)");
                }
                if !cfg.state_file.as_os_str().is_empty() {
                    if let Err(e) = crate::registry::state::save(&cfg.state_file, &snap) {
                        log::warn!(
                            "cannot save the state file ({e}); a restart will start without data \
                             until the first crawl: check [registry] state_file"
                        );
                    }
                }
                previous = Some(snap);
                cfg.update_interval
            }
            Err(e) if matches!(e, CrawlError::Cancelled) || crawler.stop_requested() => {
                status.update(|s| s.running_since = None);
                return;
            }
            Err(e) => {
                let retry = cfg.update_interval.min(RETRY_AFTER_FAILURE);
                log::error!(
                    "crawl abandoned after {:.1} s: {e}; still serving the previous data, next try in {} s",
                    started.elapsed().as_secs_f64(),
                    retry.as_secs()
                );
                status.crawl_failed(unix_now(), e.reason(), &e.to_string());
                retry
            }
        };
        if crawler.stop_requested() {
            // The stop came as the crawl ended: its message is gone, so stop now.
            return;
        }
        let wait = next.saturating_sub(started.elapsed());
        match stop.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}
