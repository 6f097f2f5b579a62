//! One crawl of the registry: the catalog (paginated), then every repository's tags list and
//! every tag's manifest on the pool (`pool.rs`), producing a complete [`SnapshotInput`] or an
//! error that abandons the crawl.
//!
//! It owns the per-digest caches that make warm crawls cheap (seeded from the previous
//! snapshot), the token slots, the crawl's deadline and stop, and the assembly of the result: a
//! failed repository keeps its previous data marked `stale_since`. The threads and what a
//! failure means are `pool.rs`; reading one repository and resolving its tags is `resolve.rs`;
//! what a manifest body means is `manifest.rs`. It must never return a snapshot built from an
//! incomplete catalog, and it does no scheduling, publishing or file I/O (that is `mod.rs`).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{select, Receiver};

use super::client::{next_link, root_certs, Client, HttpError, Method, Policy};
use super::pool::{RepoWork, Shared};
use super::projects::{ProjectsReader, ProjectsState};
use super::resolve::Facts;
use super::single_flight::SingleFlight;
use super::token::{Credentials, RealmError, RequestError, TokenSlot};
use super::{Kind, RequestStats};
use crate::config;
use crate::snapshot::{RepositoryInput, Snapshot, SnapshotInput, StateError, TagInput};

/// Pages of one listing before the registry is assumed to loop.
const MAX_PAGES: usize = 100_000;

/// Tuning of a crawl. The defaults are what the service uses; tests and benchmarks shrink
/// them to exercise pagination, token batching and retries quickly.
#[derive(Debug, Clone)]
pub struct CrawlOptions {
    /// `n=` of catalog and tags list requests.
    pub page_size: usize,
    /// Repository scopes per token request (tokens travel in headers, which proxies limit).
    pub scopes_per_token: usize,
    /// Tries per request, the first included.
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// Longest `Retry-After` honoured as given; longer ones are cut to this.
    pub retry_after_cap: Duration,
    /// How often progress is logged during a crawl.
    pub progress_every: Duration,
    /// Deliberate panics, for the tests of panic isolation only. With the `test-hooks` feature
    /// (the tests enable it) the default comes from the environment variable
    /// `GITLAB_REGISTRY_USAGE_REST_TEST_PANIC` (`collector` or `repository:<name>`); without
    /// it nothing sets this.
    #[doc(hidden)]
    pub panic_at: Option<PanicAt>,
}

/// Where a test makes the collector panic.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PanicAt {
    /// The collector loop, right after publishing its first snapshot.
    Collector,
    /// A crawl thread, when it reads this repository's tags.
    Repository(String),
}

impl PanicAt {
    #[cfg(not(feature = "test-hooks"))]
    fn from_env() -> Option<PanicAt> {
        None
    }

    #[cfg(feature = "test-hooks")]
    fn from_env() -> Option<PanicAt> {
        let v = std::env::var("GITLAB_REGISTRY_USAGE_REST_TEST_PANIC").ok()?;
        match v.split_once(':') {
            Some(("repository", name)) => Some(PanicAt::Repository(name.to_string())),
            _ if v == "collector" => Some(PanicAt::Collector),
            _ => None,
        }
    }
}

impl Default for CrawlOptions {
    fn default() -> Self {
        CrawlOptions {
            page_size: 1000,
            scopes_per_token: 50,
            max_attempts: 4,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(8),
            retry_after_cap: Duration::from_secs(60),
            progress_every: Duration::from_secs(10),
            panic_at: PanicAt::from_env(),
        }
    }
}

/// What a successful crawl produced.
#[derive(Debug)]
pub struct CrawlOutcome {
    pub snapshot: Snapshot,
    pub stats: RequestStats,
    pub elapsed: Duration,
    /// Repositories that could not be read, with the reason (they kept their previous data).
    pub failed: Vec<(String, String)>,
    /// How reading GitLab's projects went (the snapshot carries them).
    pub projects: ProjectsState,
}

/// Why a crawl was abandoned (the previous snapshot stays in service).
#[derive(Debug)]
pub enum CrawlError {
    /// The catalog could not be read completely.
    Catalog(String),
    /// No registry token could be had.
    Token(RealmError),
    /// A stop was requested.
    Cancelled,
    /// The crawl ran longer than `[registry] crawl_timeout`.
    Deadline(Duration),
    /// The collector cannot be set up (an unusable `[registry] ca_file`).
    Setup(String),
    /// The crawl's result did not form a snapshot (a bug: please report it).
    Snapshot(StateError),
    /// The crawl threads stopped early (a bug: please report it).
    Internal(String),
}

impl fmt::Display for CrawlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CrawlError::Catalog(e) => write!(f, "cannot read the registry catalog: {e}"),
            CrawlError::Token(e) => e.fmt(f),
            CrawlError::Cancelled => f.write_str("the crawl was stopped"),
            CrawlError::Setup(e) => f.write_str(e),
            CrawlError::Deadline(d) => write!(
                f,
                "the crawl ran longer than [registry] crawl_timeout ({} s): check why the \
                 registry is slow, or raise crawl_timeout or concurrency",
                d.as_secs()
            ),
            CrawlError::Snapshot(e) => write!(
                f,
                "the crawl's data is inconsistent (please report this): {e}"
            ),
            CrawlError::Internal(e) => write!(f, "internal error (please report this): {e}"),
        }
    }
}

impl std::error::Error for CrawlError {}

impl CrawlError {
    /// A short fixed word for metrics (`crawls_failed{reason=...}`).
    pub fn reason(&self) -> &'static str {
        match self {
            CrawlError::Catalog(_) => "catalog",
            CrawlError::Token(_) => "token",
            CrawlError::Cancelled => "stopped",
            CrawlError::Deadline(_) => "deadline",
            CrawlError::Setup(_) => "setup",
            CrawlError::Snapshot(_) | CrawlError::Internal(_) => "internal",
        }
    }
}

/// A crawler: one HTTP client (so one connection pool) for all the crawls of a collector.
pub struct Crawler {
    pub(super) client: Client,
    pub(super) opts: CrawlOptions,
    pub(super) concurrency: usize,
    registry: String,
    /// A stop arrived during the last crawl (its message is consumed by then).
    stop_seen: AtomicBool,
    /// The longest a crawl may run (`[registry] crawl_timeout`).
    crawl_timeout: Duration,
    /// `[registry] max_name_depth`: deeper catalog names are skipped.
    max_name_depth: usize,
    /// The running crawl passed `crawl_timeout` and was cancelled.
    deadline_hit: AtomicBool,
    /// A crawl of this crawler succeeded: its snapshot's creation times were read, so a tag
    /// without one is known to have none (see `trust_created`).
    created_collected: AtomicBool,
    /// GitLab's projects, read after the registry (`[registry] projects`).
    projects: ProjectsReader,
}

impl Crawler {
    /// Fails only on an unusable `[registry] ca_file`.
    pub fn new(cfg: &config::Registry, opts: CrawlOptions) -> Result<Crawler, CrawlError> {
        let roots = root_certs(cfg.ca_file.as_deref()).map_err(CrawlError::Setup)?;
        let https = [&cfg.registry_base_url, &cfg.gitlab_base_url]
            .iter()
            .any(|u| u.starts_with("https://"));
        if roots.is_empty() && https {
            log::warn!(
                "no system CA certificates found: https to the registry will fail; install \
                 ca-certificates, or set [registry] ca_file"
            );
        }
        let concurrency = cfg.concurrency.max(1);
        let policy = Policy {
            timeout: cfg.timeout,
            concurrency,
            max_attempts: opts.max_attempts.max(1),
            backoff_base: opts.backoff_base,
            backoff_cap: opts.backoff_cap,
            retry_after_cap: opts.retry_after_cap,
            manifest_limit: cfg.max_manifest_size,
        };
        let client = Client::new(
            &cfg.registry_base_url,
            &cfg.gitlab_base_url,
            &cfg.trusted_realms,
            Credentials {
                username: cfg.username.clone(),
                access_token: cfg.access_token.clone(),
            },
            policy,
            roots,
        );
        Ok(Crawler {
            client,
            opts,
            concurrency,
            registry: cfg.registry_base_url.clone(),
            stop_seen: AtomicBool::new(false),
            created_collected: AtomicBool::new(false),
            crawl_timeout: cfg.crawl_timeout,
            max_name_depth: cfg.max_name_depth,
            deadline_hit: AtomicBool::new(false),
            projects: ProjectsReader::new(cfg.projects, concurrency),
        })
    }

    /// Requests of the running (or last) crawl so far.
    pub(crate) fn stats(&self) -> RequestStats {
        self.client.stats()
    }

    /// Whether a stop arrived during the last crawl, even one that completed anyway.
    pub(crate) fn stop_requested(&self) -> bool {
        self.stop_seen.load(Ordering::SeqCst)
    }

    /// One crawl. `previous` provides the manifest cache and the data kept for repositories
    /// that fail; a message on (or the closing of) `stop` abandons the crawl.
    pub fn crawl(
        &self,
        previous: Option<&Snapshot>,
        stop: &Receiver<()>,
    ) -> Result<CrawlOutcome, CrawlError> {
        self.client.reset();
        self.stop_seen.store(false, Ordering::SeqCst);
        self.deadline_hit.store(false, Ordering::SeqCst);
        let (finished_tx, finished_rx) = crossbeam_channel::bounded::<()>(0);
        let deadline = crossbeam_channel::after(self.crawl_timeout);
        std::thread::scope(|s| {
            // The only reader of `stop` during a crawl, and the crawl's clock: either cancels
            // the client, which every request, backoff and crawl thread checks, so the crawl
            // ends within about one request timeout.
            let watcher = std::thread::Builder::new()
                .name("crawl-stop".into())
                .spawn_scoped(s, || {
                    select! {
                        recv(stop) -> _ => {
                            self.stop_seen.store(true, Ordering::SeqCst);
                            self.client.cancel();
                        }
                        recv(deadline) -> _ => {
                            self.deadline_hit.store(true, Ordering::SeqCst);
                            self.client.cancel();
                        }
                        recv(finished_rx) -> _ => {}
                    }
                });
            if let Err(e) = watcher {
                log::warn!("cannot watch for a stop or the crawl_timeout during the crawl: {e}");
            }
            let result = self.crawl_inner(previous);
            drop(finished_tx);
            match result {
                Err(_) if self.deadline_hit.load(Ordering::SeqCst) => {
                    Err(CrawlError::Deadline(self.crawl_timeout))
                }
                r => r,
            }
        })
    }

    fn crawl_inner(&self, previous: Option<&Snapshot>) -> Result<CrawlOutcome, CrawlError> {
        let started = Instant::now();
        let started_unix = unix_now();
        log::info!(
            "crawl started: {} ({} threads)",
            self.registry,
            self.concurrency
        );

        let catalog_slot = TokenSlot::new(vec!["registry:catalog:*".into()]);
        let names = self.catalog(&catalog_slot)?;
        let names = self.valid_names(names);
        log::info!(
            "catalog: {} repositories in {:.1} s",
            names.len(),
            started.elapsed().as_secs_f64()
        );

        let prev = previous.map(Snapshot::to_input).unwrap_or_default();
        let (known, known_tags) = self.seed(&prev);
        let per_token = self.opts.scopes_per_token.max(1);
        let shared = Shared {
            crawler: self,
            repos: names
                .iter()
                .enumerate()
                .map(|(i, n)| RepoWork::new(n.clone(), i / per_token))
                .collect(),
            slots: token_slots(&names, per_token),
            known,
            known_tags,
            fetched: SingleFlight::new(),
            sizes: Mutex::new(prev.blobs.clone()),
            blob_heads: SingleFlight::new(),
            configs: SingleFlight::new(),
        };

        let results = shared.run(started)?;
        let (repositories, failed) = assemble(&shared.repos, results, &prev, started_unix);
        let sizes = shared.sizes.into_inner().unwrap_or_else(|e| e.into_inner());
        let input = SnapshotInput {
            timestamp: unix_now(),
            blobs: blobs_of(&repositories, &sizes),
            repositories,
        };
        let snapshot = Snapshot::build(input).map_err(CrawlError::Snapshot)?;
        let (projects, projects_state) = {
            let names: Vec<&str> = snapshot
                .repositories
                .iter()
                .map(|r| r.name.as_str())
                .collect();
            let before = previous.map_or(&[][..], |p| p.projects.as_slice());
            self.projects.read(&self.client, before, &names)
        };
        let snapshot = snapshot.with_projects(projects);
        self.created_collected.store(true, Ordering::SeqCst);
        let stats = self.client.stats();
        let elapsed = started.elapsed();
        log::info!(
            "crawl done in {:.1} s: {} repositories ({} could not be read), {} tags, {} blobs, {} bytes; requests: {stats}",
            elapsed.as_secs_f64(),
            snapshot.repositories.len(),
            failed.len(),
            snapshot.tag_count(),
            snapshot.blobs.len(),
            snapshot.unique_bytes(),
        );
        Ok(CrawlOutcome {
            snapshot,
            stats,
            elapsed,
            failed,
            projects: projects_state,
        })
    }

    /// The caches seeded from the previous snapshot: manifest facts by digest, and the tags
    /// known per repository (asked with a HEAD first).
    fn seed(&self, prev: &SnapshotInput) -> (HashMap<String, Arc<Facts>>, KnownTags) {
        let trust_created = self.created_collected.load(Ordering::SeqCst)
            || prev
                .repositories
                .iter()
                .flat_map(|r| r.tags.iter().flatten())
                .any(|t| t.created.is_some());
        let mut known = HashMap::new();
        let mut known_tags: KnownTags = HashMap::new();
        for r in &prev.repositories {
            for t in r.tags.iter().flatten() {
                // A snapshot written before creation times were read (none has one): its
                // manifests are read again, once, to learn them.
                if t.digest.is_empty() || (t.created.is_none() && !trust_created) {
                    continue;
                }
                known_tags
                    .entry(r.name.clone())
                    .or_default()
                    .insert(t.name.clone());
                known.entry(t.digest.clone()).or_insert_with(|| {
                    Arc::new(Facts {
                        media_type: t.media_type.clone(),
                        platforms: t.platforms.clone(),
                        blobs: t.blobs.clone(),
                        created: t.created,
                    })
                });
            }
        }
        (known, known_tags)
    }

    /// The catalog's names that a registry can have (see `name.rs`); each other one is left
    /// out with a warning naming it.
    fn valid_names(&self, names: Vec<String>) -> Vec<String> {
        names
            .into_iter()
            .filter(|n| match super::name::check(n, self.max_name_depth) {
                Ok(()) => true,
                Err(why) => {
                    log::warn!(
                        "repository {} in the catalog is skipped: {why}",
                        super::name::shown(n)
                    );
                    false
                }
            })
            .collect()
    }

    /// Every repository name, following `Link: <..>; rel="next"` to the last page.
    fn catalog(&self, slot: &TokenSlot) -> Result<Vec<String>, CrawlError> {
        #[derive(serde::Deserialize)]
        struct Page {
            repositories: Option<Vec<String>>,
        }
        let url = self
            .client
            .url(&format!("/v2/_catalog?n={}", self.opts.page_size));
        paginate(
            &self.client,
            url,
            |url| {
                if self.client.is_cancelled() {
                    return Err(CrawlError::Cancelled);
                }
                let reply = self
                    .client
                    .registry(Kind::Catalog, Method::Get, url, None, slot)
                    .map_err(|e| match e {
                        RequestError::Token(t) => CrawlError::Token(t),
                        RequestError::Http(HttpError::Cancelled) => CrawlError::Cancelled,
                        RequestError::Http(h) => CrawlError::Catalog(h.to_string()),
                    })?;
                match reply.status {
                    200 => {}
                    401 | 403 => {
                        return Err(CrawlError::Catalog(format!(
                        "access denied ({}): listing the catalog needs a GitLab administrator's \
                             token in [registry] username / access_token",
                        reply.status
                    )))
                    }
                    404 => {
                        return Err(CrawlError::Catalog(
                            "404: is [registry] registry_base_url the registry's address?".into(),
                        ))
                    }
                    s => return Err(CrawlError::Catalog(format!("the registry answered {s}"))),
                }
                let page: Page = serde_json::from_slice(&reply.body).map_err(|e| {
                    CrawlError::Catalog(format!("the answer is not a catalog: {e}"))
                })?;
                Ok(Some((page.repositories.unwrap_or_default(), reply.link)))
            },
            CrawlError::Catalog,
        )
    }
}

/// A paginated name list (catalog, tags list): reads pages from `first`, following
/// `Link: <..>; rel="next"`, keeping each non-empty name once, in order. `page` reads one page
/// (`Ok(None)`: the list does not exist, so it is empty so far); `invalid` makes the error for
/// a registry that loops.
pub(super) fn paginate<E>(
    client: &Client,
    first: String,
    mut page: impl FnMut(&str) -> Result<Option<(Vec<String>, Option<String>)>, E>,
    invalid: impl Fn(String) -> E,
) -> Result<Vec<String>, E> {
    let mut url = first;
    let mut names = Vec::new();
    let mut seen = HashSet::new();
    // Every page's URL: a `Link` back to any of them is a loop, however long.
    let mut visited = HashSet::from([url.clone()]);
    for _ in 0..MAX_PAGES {
        let Some((batch, link)) = page(&url)? else {
            return Ok(names);
        };
        for n in batch {
            if !n.is_empty() && seen.insert(n.clone()) {
                names.push(n);
            }
        }
        let Some(next) = link.as_deref().and_then(next_link) else {
            return Ok(names);
        };
        let Some(next) = client.resolve(next, &url) else {
            return Err(invalid(format!(
                "names a next page that is not a URL: {next}"
            )));
        };
        // A next page elsewhere would let the registry make us read (and serve) another
        // server's list: the list is not used.
        if super::client::origin(&next) != client.origin {
            let shown = super::client::strip_query(&next);
            log::warn!(
                "{}: its next page {shown} is not on the registry's origin ({}); the list is not used",
                super::client::path_and_query(&url),
                client.origin
            );
            return Err(invalid(format!(
                "its next page {shown} is on another origin than the registry"
            )));
        }
        if !visited.insert(next.clone()) {
            return Err(invalid(format!(
                "loops: its next page {} was read before",
                super::client::path_and_query(&next)
            )));
        }
        url = next;
    }
    Err(invalid(format!(
        "has more than {MAX_PAGES} pages: it seems to loop"
    )))
}

/// Tags of the previous snapshot, per repository.
pub(super) type KnownTags = HashMap<String, HashSet<String>>;

/// One token slot per `per_token` repositories, in catalog order (`RepoWork::slot` indexes it).
fn token_slots(names: &[String], per_token: usize) -> Vec<TokenSlot> {
    names
        .chunks(per_token)
        .map(|chunk| {
            TokenSlot::new(
                chunk
                    .iter()
                    .map(|n| format!("repository:{n}:pull"))
                    .collect(),
            )
        })
        .collect()
}

/// The crawl's repositories in catalog order: fresh data, or the previous entry marked
/// stale (since its first failure); and the failed ones with the reason.
fn assemble(
    repos: &[RepoWork],
    results: Vec<Result<Vec<TagInput>, String>>,
    prev: &SnapshotInput,
    started_unix: f64,
) -> (Vec<RepositoryInput>, Vec<(String, String)>) {
    let prev_repos: HashMap<&str, &RepositoryInput> = prev
        .repositories
        .iter()
        .map(|r| (r.name.as_str(), r))
        .collect();
    let mut repositories = Vec::with_capacity(results.len());
    let mut failed = Vec::new();
    for (work, result) in repos.iter().zip(results) {
        match result {
            Ok(tags) => repositories.push(RepositoryInput {
                name: work.name.clone(),
                tags: Some(tags),
                stale_since: None,
            }),
            Err(reason) => {
                let before = prev_repos.get(work.name.as_str());
                let since = before.and_then(|r| r.stale_since).unwrap_or(started_unix);
                let tags = before.and_then(|r| r.tags.clone());
                if tags.is_some() {
                    log::warn!(
                        "repository {}: {reason}; keeping its data from an earlier crawl",
                        work.name
                    );
                } else {
                    log::warn!(
                        "repository {}: {reason}; its sizes are unknown until a crawl reads it",
                        work.name
                    );
                }
                failed.push((work.name.clone(), reason));
                repositories.push(RepositoryInput {
                    name: work.name.clone(),
                    tags,
                    stale_since: Some(since),
                });
            }
        }
    }
    (repositories, failed)
}

/// The sizes of the blobs the repositories' tags use (only those: a blob no tag uses any
/// more is dropped).
fn blobs_of(
    repositories: &[RepositoryInput],
    sizes: &HashMap<String, u64>,
) -> HashMap<String, u64> {
    let mut blobs = HashMap::new();
    for t in repositories
        .iter()
        .filter_map(|r| r.tags.as_ref())
        .flatten()
    {
        for d in &t.blobs {
            if let Some(s) = sizes.get(d) {
                blobs.insert(d.clone(), *s);
            }
        }
    }
    blobs
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
