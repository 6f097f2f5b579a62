//! One crawl of the registry: the catalog (paginated), then every repository's tags list and
//! every tag's manifest on a bounded pool of `concurrency` threads, producing a complete
//! [`SnapshotInput`] or an error that abandons the crawl.
//!
//! It owns the resolution of a tag (its manifest, the children of an index, blob sizes, the
//! config's creation time; what a manifest body means is `manifest.rs`), the per-digest cache
//! that makes warm crawls cheap, the crawl's deadline, and the rule that a repository which
//! fails (or panics) keeps its previous data marked `stale_since`. It must never return a
//! snapshot built from an incomplete catalog, and it does no scheduling, publishing or file
//! I/O (that is `mod.rs`).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{never, select, unbounded, Receiver, Sender};

use super::auth::{Credentials, RequestError, TokenError, TokenSlot};
use super::client::{
    next_link, root_certs, Client, HttpError, Method, Policy, Reply, CONFIG_BODY_LIMIT,
    MANIFEST_ACCEPT,
};
use super::manifest::{
    self, content_digest, content_mismatch, created_in, sha256_digest, valid_digest, BlobRef,
    Shape, MAX_BLOB_SIZE,
};
use super::single_flight::SingleFlight;
use super::{Kind, RequestStats};
use crate::config;
use crate::snapshot::{Platform, RepositoryInput, Snapshot, SnapshotInput, StateError, TagInput};

/// Index/list nesting followed before a manifest is called invalid (real images use 1).
const MAX_DEPTH: usize = 4;
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
    /// Deliberate panics, for the tests of panic isolation only. Debug builds take it from
    /// the environment variable `GITLAB_REGISTRY_USAGE_REST_TEST_PANIC` (`collector` or
    /// `repository:<name>`); release builds never set it.
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
    fn from_env() -> Option<PanicAt> {
        if !cfg!(debug_assertions) {
            return None;
        }
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
}

/// Why a crawl was abandoned (the previous snapshot stays in service).
#[derive(Debug)]
pub enum CrawlError {
    /// The catalog could not be read completely.
    Catalog(String),
    /// No registry token could be had.
    Token(TokenError),
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

/// Why one tag (and so its repository) could not be read in this crawl.
#[derive(Debug)]
enum TagError {
    /// 404: the tag or manifest is gone.
    NotFound,
    Status {
        what: String,
        status: u16,
    },
    Invalid {
        what: String,
        reason: String,
    },
    Http(HttpError),
    Token(TokenError),
    /// A crawl thread panicked on this repository (a bug; the others go on).
    Panic(String),
}

impl From<RequestError> for TagError {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::Http(e) => TagError::Http(e),
            RequestError::Token(e) => TagError::Token(e),
        }
    }
}

impl fmt::Display for TagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TagError::NotFound => f.write_str("not found"),
            TagError::Status { what, status } => match status {
                401 | 403 => write!(
                    f,
                    "{what}: access denied ({status}): can the [registry] user pull this repository?"
                ),
                _ => write!(f, "{what}: the registry answered {status}"),
            },
            TagError::Invalid { what, reason } => write!(f, "{what}: {reason}"),
            TagError::Http(e) => e.fmt(f),
            TagError::Token(e) => e.fmt(f),
            TagError::Panic(m) => write!(f, "internal error, please report it: panic: {m}"),
        }
    }
}

/// What a manifest digest stands for: the same for every tag, in every repository.
#[derive(Debug, Clone)]
struct Facts {
    media_type: String,
    platforms: Vec<Platform>,
    /// Distinct blob digests (config and layers; for an index, all children's).
    blobs: Vec<String>,
    /// The image's creation time (Unix seconds): the config's `created`, schema 1's first
    /// history entry's, the newest child's for an index. `None`: the image does not say.
    created: Option<i64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A crawler: one HTTP client (so one connection pool) for all the crawls of a collector.
pub struct Crawler {
    client: Client,
    opts: CrawlOptions,
    concurrency: usize,
    registry: String,
    /// A stop arrived during the last crawl (its message is consumed by then).
    stop_seen: AtomicBool,
    /// The longest a crawl may run (`[registry] crawl_timeout`).
    crawl_timeout: Duration,
    /// The running crawl passed `crawl_timeout` and was cancelled.
    deadline_hit: AtomicBool,
    /// A crawl of this crawler succeeded: its snapshot's creation times were read, so a tag
    /// without one is known to have none (see `trust_created`).
    created_collected: AtomicBool,
}

struct RepoWork {
    name: String,
    slot: usize,
    state: Mutex<RepoState>,
}

#[derive(Default)]
struct RepoState {
    tags: Vec<Option<TagInput>>,
    remaining: usize,
    failed: Option<String>,
}

enum Job {
    Repo(usize),
    Tag(usize, usize, String),
}

enum Done {
    Repo(usize, Result<Vec<TagInput>, String>),
    Fatal(CrawlError),
}

/// Everything the crawl threads share.
struct Shared<'a> {
    crawler: &'a Crawler,
    repos: Vec<RepoWork>,
    slots: Vec<TokenSlot>,
    /// Manifest facts of the previous snapshot (by digest): warm crawls reuse them.
    known: HashMap<String, Arc<Facts>>,
    /// Tags of the previous snapshot, per repository: asked with a HEAD first.
    known_tags: HashMap<String, HashSet<String>>,
    /// Manifests read in this crawl (by digest), each at most once.
    fetched: SingleFlight<Arc<Facts>>,
    /// Blob digest → size, seeded from the previous snapshot.
    sizes: Mutex<HashMap<String, u64>>,
    /// Blob sizes asked with HEAD in this crawl (schema 1, or descriptors without a size).
    blob_heads: SingleFlight<u64>,
    /// Creation times of the image configs read in this crawl (by config digest), each
    /// config at most once; across crawls they live on in the manifests' facts.
    configs: SingleFlight<Option<i64>>,
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
            deadline_hit: AtomicBool::new(false),
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
        log::info!(
            "catalog: {} repositories in {:.1} s",
            names.len(),
            started.elapsed().as_secs_f64()
        );

        let prev = previous.map(Snapshot::to_input).unwrap_or_default();
        let trust_created = self.created_collected.load(Ordering::SeqCst)
            || prev
                .repositories
                .iter()
                .flat_map(|r| r.tags.iter().flatten())
                .any(|t| t.created.is_some());
        let mut known = HashMap::new();
        let mut known_tags: HashMap<String, HashSet<String>> = HashMap::new();
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

        let per_token = self.opts.scopes_per_token.max(1);
        let slots = names
            .chunks(per_token)
            .map(|chunk| {
                TokenSlot::new(
                    chunk
                        .iter()
                        .map(|n| format!("repository:{n}:pull"))
                        .collect(),
                )
            })
            .collect();
        let shared = Shared {
            crawler: self,
            repos: names
                .iter()
                .enumerate()
                .map(|(i, n)| RepoWork {
                    name: n.clone(),
                    slot: i / per_token,
                    state: Mutex::new(RepoState::default()),
                })
                .collect(),
            slots,
            known,
            known_tags,
            fetched: SingleFlight::new(),
            sizes: Mutex::new(prev.blobs.clone()),
            blob_heads: SingleFlight::new(),
            configs: SingleFlight::new(),
        };

        let results = shared.run(started)?;

        // Assemble: fresh data, or the previous entry marked stale.
        let prev_repos: HashMap<&str, &RepositoryInput> = prev
            .repositories
            .iter()
            .map(|r| (r.name.as_str(), r))
            .collect();
        let mut repositories = Vec::with_capacity(results.len());
        let mut failed = Vec::new();
        for (work, result) in shared.repos.iter().zip(results) {
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
        let sizes = shared.sizes.into_inner().unwrap_or_else(|e| e.into_inner());
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
        let input = SnapshotInput {
            timestamp: unix_now(),
            repositories,
            blobs,
        };
        let snapshot = Snapshot::build(input).map_err(CrawlError::Snapshot)?;
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
        })
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

impl Shared<'_> {
    fn client(&self) -> &Client {
        &self.crawler.client
    }

    /// Runs the pool until every repository is done; results in catalog order.
    fn run(&self, started: Instant) -> Result<Vec<Result<Vec<TagInput>, String>>, CrawlError> {
        let total = self.repos.len();
        let mut results: Vec<Option<Result<Vec<TagInput>, String>>> = vec![None; total];
        if total == 0 {
            return Ok(Vec::new());
        }
        let (repo_tx, repo_rx) = unbounded();
        for i in 0..total {
            // The receiver is alive right here: this cannot fail.
            let _ = repo_tx.send(Job::Repo(i));
        }
        drop(repo_tx);
        let (tag_tx, tag_rx) = unbounded::<Job>();
        let (done_tx, done_rx) = unbounded::<Done>();
        let (quit_tx, quit_rx) = unbounded::<()>();
        let threads = self.crawler.concurrency.min(total);
        let every = self.crawler.opts.progress_every;

        let outcome = std::thread::scope(|scope| {
            for n in 0..threads {
                let (repo_rx, tag_tx, tag_rx, done_tx, quit_rx) = (
                    repo_rx.clone(),
                    tag_tx.clone(),
                    tag_rx.clone(),
                    done_tx.clone(),
                    quit_rx.clone(),
                );
                let spawned = std::thread::Builder::new()
                    .name(format!("crawl-{n}"))
                    .spawn_scoped(scope, move || {
                        self.worker(&repo_rx, &tag_tx, &tag_rx, &done_tx, &quit_rx)
                    });
                if let Err(e) = spawned {
                    // Fewer threads still finish the crawl; none at all is reported below.
                    log::warn!("cannot start crawl thread {n}: {e}");
                }
            }
            drop(done_tx);
            let mut done = 0;
            let mut last_log = Instant::now();
            let result = loop {
                if done == total {
                    break Ok(());
                }
                select! {
                    recv(done_rx) -> m => match m {
                        Ok(Done::Repo(i, r)) => {
                            if results[i].replace(r).is_none() {
                                done += 1;
                            }
                        }
                        Ok(Done::Fatal(e)) => break Err(e),
                        Err(_) => break Err(CrawlError::Internal(
                            "every crawl thread stopped before the crawl was done".into(),
                        )),
                    },
                    default(Duration::from_millis(100)) => {}
                }
                if self.client().is_cancelled() {
                    // A crawl thread's fatal error is reported before it cancels; else a stop.
                    let fatal = done_rx.try_iter().find_map(|m| match m {
                        Done::Fatal(e) => Some(e),
                        Done::Repo(..) => None,
                    });
                    break Err(fatal.unwrap_or(CrawlError::Cancelled));
                }
                if last_log.elapsed() >= every {
                    last_log = Instant::now();
                    log::info!(
                        "crawl: {done}/{total} repositories, {:.1} s",
                        started.elapsed().as_secs_f64()
                    );
                }
            };
            if result.is_err() {
                self.client().cancel();
            }
            // Workers leave when the quit channel closes.
            drop(quit_tx);
            result
        });
        outcome?;
        results
            .into_iter()
            .map(|r| r.ok_or_else(|| CrawlError::Internal("a repository was not crawled".into())))
            .collect()
    }

    fn worker(
        &self,
        repo_rx: &Receiver<Job>,
        tag_tx: &Sender<Job>,
        tag_rx: &Receiver<Job>,
        done_tx: &Sender<Done>,
        quit_rx: &Receiver<()>,
    ) {
        let closed = never();
        let mut repos_open = true;
        loop {
            // Tags first: finishing started repositories keeps memory and tokens fresh.
            let job = match tag_rx.try_recv() {
                Ok(j) => j,
                Err(_) => {
                    let repos = if repos_open { repo_rx } else { &closed };
                    select! {
                        recv(tag_rx) -> m => match m { Ok(j) => j, Err(_) => return },
                        recv(repos) -> m => match m {
                            Ok(j) => j,
                            Err(_) => { repos_open = false; continue; }
                        },
                        recv(quit_rx) -> _ => return,
                    }
                }
            };
            if self.client().is_cancelled() {
                continue;
            }
            match job {
                Job::Repo(i) => self.repo_job(i, tag_tx, done_tx),
                Job::Tag(i, k, tag) => self.tag_job(i, k, &tag, done_tx),
            }
        }
    }

    fn repo_job(&self, i: usize, tag_tx: &Sender<Job>, done_tx: &Sender<Done>) {
        let work = &self.repos[i];
        let listed = caught(|| {
            if self.crawler.opts.panic_at == Some(PanicAt::Repository(work.name.clone())) {
                panic!("deliberate crawl thread panic in {} (test hook)", work.name);
            }
            self.tags(work)
        });
        match listed {
            Ok(tags) if tags.is_empty() => {
                let _ = done_tx.send(Done::Repo(i, Ok(Vec::new())));
            }
            Ok(tags) => {
                {
                    let mut st = lock(&work.state);
                    st.tags = vec![None; tags.len()];
                    st.remaining = tags.len();
                }
                for (k, t) in tags.into_iter().enumerate() {
                    let _ = tag_tx.send(Job::Tag(i, k, t));
                }
            }
            Err(e) => self.report_failure(i, e.to_string(), e, done_tx),
        }
    }

    fn tag_job(&self, i: usize, k: usize, tag: &str, done_tx: &Sender<Done>) {
        let work = &self.repos[i];
        let skip = lock(&work.state).failed.is_some();
        let outcome = if skip {
            Ok(None)
        } else {
            caught(|| self.resolve_tag(work, tag))
        };
        let mut st = lock(&work.state);
        match outcome {
            Ok(t) => st.tags[k] = t,
            Err(TagError::Token(e)) => {
                drop(st);
                let _ = done_tx.send(Done::Fatal(CrawlError::Token(e)));
                self.client().cancel();
                return;
            }
            Err(TagError::Http(HttpError::Cancelled)) => return,
            Err(e) => {
                st.failed.get_or_insert_with(|| format!("tag {tag}: {e}"));
            }
        }
        st.remaining -= 1;
        if st.remaining == 0 {
            let result = match st.failed.take() {
                Some(reason) => Err(reason),
                None => Ok(st.tags.drain(..).flatten().collect()),
            };
            drop(st);
            let _ = done_tx.send(Done::Repo(i, result));
        }
    }

    fn report_failure(&self, i: usize, reason: String, e: TagError, done_tx: &Sender<Done>) {
        match e {
            TagError::Token(t) => {
                let _ = done_tx.send(Done::Fatal(CrawlError::Token(t)));
                self.client().cancel();
            }
            TagError::Http(HttpError::Cancelled) => {}
            _ => {
                let _ = done_tx.send(Done::Repo(i, Err(reason)));
            }
        }
    }

    fn registry(
        &self,
        work: &RepoWork,
        kind: Kind,
        method: Method,
        url: &str,
        accept: Option<&str>,
    ) -> Result<Reply, TagError> {
        Ok(self
            .client()
            .registry(kind, method, url, accept, &self.slots[work.slot])?)
    }

    /// The repository's tags; a 404 (`NAME_UNKNOWN`: never had a tag) or a `null` list is none.
    fn tags(&self, work: &RepoWork) -> Result<Vec<String>, TagError> {
        #[derive(serde::Deserialize)]
        struct Page {
            tags: Option<Vec<String>>,
        }
        let path = format!(
            "/v2/{}/tags/list?n={}",
            encode_name(&work.name),
            self.crawler.opts.page_size
        );
        let url = self.client().url(&path);
        paginate(
            self.client(),
            url,
            |url| {
                let reply = self.registry(work, Kind::Tags, Method::Get, url, None)?;
                match reply.status {
                    200 => {}
                    404 => return Ok(None),
                    status => {
                        return Err(TagError::Status {
                            what: "tags list".into(),
                            status,
                        })
                    }
                }
                let page: Page =
                    serde_json::from_slice(&reply.body).map_err(|e| TagError::Invalid {
                        what: "tags list".into(),
                        reason: format!("not a tags list: {e}"),
                    })?;
                Ok(Some((page.tags.unwrap_or_default(), reply.link)))
            },
            |why| TagError::Invalid {
                what: "tags list".into(),
                reason: why,
            },
        )
    }

    /// One tag: `Ok(None)` when it vanished since the tags list was read.
    ///
    /// A tag the previous snapshot knew is asked with a HEAD: an unchanged digest costs no
    /// GET. A new tag is fetched with one GET by tag (a HEAD would only add a request).
    fn resolve_tag(&self, work: &RepoWork, tag: &str) -> Result<Option<TagInput>, TagError> {
        let url = self.client().url(&format!(
            "/v2/{}/manifests/{}",
            encode_name(&work.name),
            crate::percent::encode(tag)
        ));
        let was_known = self
            .known_tags
            .get(&work.name)
            .is_some_and(|t| t.contains(tag));
        if was_known {
            let reply = self.registry(
                work,
                Kind::ManifestHead,
                Method::Head,
                &url,
                Some(MANIFEST_ACCEPT),
            )?;
            match reply.status {
                200 => {
                    if let Some(digest) = reply.digest.filter(|d| valid_digest(d)) {
                        return match self.manifest_by_digest(work, &digest, 0) {
                            Ok(f) => Ok(Some(tag_input(tag, &digest, &f))),
                            Err(TagError::NotFound) => Ok(None),
                            Err(e) => Err(e),
                        };
                    }
                    // No digest in the HEAD answer: a GET by tag below.
                }
                404 => return Ok(None),
                // HEAD not supported here: a GET by tag below.
                405 | 501 => {}
                status => {
                    return Err(TagError::Status {
                        what: "manifest".into(),
                        status,
                    })
                }
            }
        }
        let reply = self.registry(
            work,
            Kind::ManifestGet,
            Method::Get,
            &url,
            Some(MANIFEST_ACCEPT),
        )?;
        match reply.status {
            200 => {}
            404 => return Ok(None),
            status => {
                return Err(TagError::Status {
                    what: "manifest".into(),
                    status,
                })
            }
        }
        let digest = match reply.digest.clone().filter(|d| valid_digest(d)) {
            Some(d) => {
                verify_manifest(&d, &reply.body)?;
                d
            }
            None => sha256_digest(&reply.body),
        };
        let facts = match self.known.get(&digest) {
            Some(f) => f.clone(),
            None => self.fetched.get_or_fetch(
                &digest,
                || self.facts(work, &reply, 0).map(Arc::new),
                || manifest_cycle(&digest),
            )?,
        };
        Ok(Some(tag_input(tag, &digest, &facts)))
    }

    /// A manifest by digest: from the previous snapshot, from this crawl, or one GET.
    fn manifest_by_digest(
        &self,
        work: &RepoWork,
        digest: &str,
        depth: usize,
    ) -> Result<Arc<Facts>, TagError> {
        if let Some(f) = self.known.get(digest) {
            return Ok(f.clone());
        }
        self.fetched.get_or_fetch(
            digest,
            || {
                let url = self.client().url(&format!(
                    "/v2/{}/manifests/{digest}",
                    encode_name(&work.name)
                ));
                let reply = self.registry(
                    work,
                    Kind::ManifestGet,
                    Method::Get,
                    &url,
                    Some(MANIFEST_ACCEPT),
                )?;
                match reply.status {
                    200 => {
                        verify_manifest(digest, &reply.body)?;
                        self.facts(work, &reply, depth).map(Arc::new)
                    }
                    404 => Err(TagError::NotFound),
                    status => Err(TagError::Status {
                        what: format!("manifest {digest}"),
                        status,
                    }),
                }
            },
            || manifest_cycle(digest),
        )
    }

    /// What a manifest means (see `manifest.rs`), with its children followed, its blob sizes
    /// known (asked with HEAD where no descriptor says) and its config's creation time.
    fn facts(&self, work: &RepoWork, reply: &Reply, depth: usize) -> Result<Facts, TagError> {
        let invalid = |reason: String| TagError::Invalid {
            what: "manifest".into(),
            reason,
        };
        let m = manifest::parse(&reply.body, reply.content_type.as_deref()).map_err(invalid)?;
        let mut blobs: Vec<String> = Vec::new();
        let mut seen = HashSet::new();
        let mut add = |d: &str, blobs: &mut Vec<String>| {
            if seen.insert(d.to_string()) {
                blobs.push(d.to_string());
            }
        };
        let (platforms, created) = match m.shape {
            Shape::Index(children) => {
                if depth >= MAX_DEPTH {
                    return Err(invalid("image indexes nested too deep".into()));
                }
                let mut platforms = Vec::new();
                let mut created: Option<i64> = None;
                for child in children {
                    let facts = match self.manifest_by_digest(work, &child.digest, depth + 1) {
                        Ok(f) => f,
                        Err(TagError::NotFound) => {
                            // A child that is not there occupies no storage.
                            log::warn!(
                                "repository {}: child manifest {} is missing",
                                work.name,
                                child.digest
                            );
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    let size = {
                        let sizes = lock(&self.sizes);
                        facts.blobs.iter().fold(0u64, |n, b| {
                            n.saturating_add(sizes.get(b).copied().unwrap_or(0))
                        })
                    };
                    platforms.push(Platform {
                        os: child.os,
                        architecture: child.architecture,
                        variant: child.variant,
                        size,
                    });
                    for b in &facts.blobs {
                        add(b, &mut blobs);
                    }
                    created = created.max(facts.created);
                }
                (platforms, created)
            }
            Shape::Schema1 { layers, created } => {
                for d in &layers {
                    self.blob_size(work, d)?;
                    add(d, &mut blobs);
                }
                (Vec::new(), created)
            }
            Shape::Image {
                blobs: refs,
                config,
            } => {
                for b in &refs {
                    match b.size {
                        Some(s) => {
                            lock(&self.sizes).entry(b.digest.clone()).or_insert(s);
                        }
                        None => {
                            self.blob_size(work, &b.digest)?;
                        }
                    }
                    add(&b.digest, &mut blobs);
                }
                let created = match config {
                    Some(c) => self.config_created(work, &c)?,
                    None => None,
                };
                (Vec::new(), created)
            }
        };
        Ok(Facts {
            media_type: m.media_type,
            platforms,
            blobs,
            created,
        })
    }

    /// The creation time in an image's config blob: one GET per distinct config digest and
    /// crawl (`GET /v2/<name>/blobs/<digest>`, following a redirect to storage).
    ///
    /// Unknown (`None`, the tag still counts) when the config is larger than [`CONFIG_BODY_LIMIT`], is missing (404), is not JSON or has no valid
    /// `created`: the same digest always has the same content, so that answer is final.
    /// A config whose bytes do not match its digest, and transient failures (after
    /// retries), are errors for the tag: its repository keeps its previous data and the
    /// config is asked again next crawl.
    fn config_created(&self, work: &RepoWork, config: &BlobRef) -> Result<Option<i64>, TagError> {
        let digest = config.digest.as_str();
        let too_large = || {
            log::debug!(
                "repository {}: config {digest} is larger than {CONFIG_BODY_LIMIT} bytes; its \
                 creation time is not read",
                work.name
            );
            Ok(None)
        };
        if config.size.is_some_and(|s| s > CONFIG_BODY_LIMIT) {
            return too_large();
        }
        self.configs.get_or_fetch(
            digest,
            || {
                let url = self
                    .client()
                    .url(&format!("/v2/{}/blobs/{digest}", encode_name(&work.name)));
                let reply = match self.registry(work, Kind::ConfigGet, Method::Get, &url, None) {
                    Ok(r) => r,
                    Err(TagError::Http(HttpError::TooLarge { .. })) => return too_large(),
                    Err(e) => return Err(e),
                };
                match reply.status {
                    200 => {}
                    404 => {
                        log::warn!("repository {}: config blob {digest} is missing", work.name);
                        return Ok(None);
                    }
                    status => {
                        return Err(TagError::Status {
                            what: format!("config {digest}"),
                            status,
                        })
                    }
                }
                if let Some(got) = content_mismatch(digest, &reply.body) {
                    return Err(TagError::Invalid {
                        what: format!("config {digest}"),
                        reason: format!("the registry sent other content ({got})"),
                    });
                }
                let created = created_in(&reply.body);
                if created.is_none() {
                    log::debug!(
                        "repository {}: config {digest} has no creation time",
                        work.name
                    );
                }
                Ok(created)
            },
            || waited_on_itself(digest),
        )
    }

    /// A blob's size when no descriptor says it: `HEAD /v2/<name>/blobs/<digest>`, following
    /// the redirect to storage; each digest asked once per crawl, none already known.
    fn blob_size(&self, work: &RepoWork, digest: &str) -> Result<u64, TagError> {
        if let Some(s) = lock(&self.sizes).get(digest) {
            return Ok(*s);
        }
        let size = self.blob_heads.get_or_fetch(
            digest,
            || {
                let url = self
                    .client()
                    .url(&format!("/v2/{}/blobs/{digest}", encode_name(&work.name)));
                let reply = self.registry(work, Kind::BlobHead, Method::Head, &url, None)?;
                match reply.status {
                    200 => match reply.content_length {
                        Some(s) if s > MAX_BLOB_SIZE => Err(absurd_size(digest, s)),
                        Some(s) => Ok(s),
                        None => Err(TagError::Invalid {
                            what: format!("blob {digest}"),
                            reason: "no Content-Length".into(),
                        }),
                    },
                    404 => {
                        // Referenced but not stored: it occupies nothing.
                        log::warn!("repository {}: blob {digest} is missing", work.name);
                        Ok(0)
                    }
                    status => Err(TagError::Status {
                        what: format!("blob {digest}"),
                        status,
                    }),
                }
            },
            || waited_on_itself(digest),
        )?;
        lock(&self.sizes).entry(digest.to_string()).or_insert(size);
        Ok(size)
    }
}

/// Runs one repository's or tag's work; a panic in it (a bug) becomes that repository's
/// failure, so the crawl thread and the rest of the crawl go on.
fn caught<T>(f: impl FnOnce() -> Result<T, TagError>) -> Result<T, TagError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|p| Err(TagError::Panic(panic_message(p.as_ref()))))
}

/// The text of a panic's payload (a `&str` or `String` for `panic!` with a message).
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

fn tag_input(name: &str, digest: &str, f: &Facts) -> TagInput {
    TagInput {
        name: name.to_string(),
        digest: digest.to_string(),
        media_type: f.media_type.clone(),
        platforms: f.platforms.clone(),
        blobs: f.blobs.clone(),
        created: f.created,
    }
}

fn manifest_cycle(digest: &str) -> TagError {
    TagError::Invalid {
        what: format!("manifest {digest}"),
        reason: "it lists itself, directly or through other indexes".into(),
    }
}

/// A blob's single fetch needing itself cannot happen (blobs list nothing); an error, not a
/// hang, should it ever.
fn waited_on_itself(digest: &str) -> TagError {
    TagError::Invalid {
        what: format!("blob {digest}"),
        reason: "internal error: its fetch waited for itself (please report this)".into(),
    }
}

/// A manifest's bytes must be those of the digest it is known by: content addressing is
/// what makes the cache right, and what makes a cycle of indexes impossible.
fn verify_manifest(digest: &str, body: &[u8]) -> Result<(), TagError> {
    let invalid = |reason: String| TagError::Invalid {
        what: format!("manifest {digest}"),
        reason,
    };
    match content_digest(digest, body) {
        None => Err(invalid(
            "its digest algorithm is not supported (sha256 and sha512 are)".into(),
        )),
        Some(actual) if actual != digest => Err(invalid(format!(
            "the registry sent content whose digest is {actual}"
        ))),
        Some(_) => Ok(()),
    }
}

/// The same words as `manifest::parse` uses for a descriptor.
fn absurd_size(digest: &str, size: u64) -> TagError {
    TagError::Invalid {
        what: format!("blob {digest}"),
        reason: format!("the registry says it has {size} bytes, more than 1 PiB"),
    }
}

/// A paginated name list (catalog, tags list): reads pages from `first`, following
/// `Link: <..>; rel="next"`, keeping each non-empty name once, in order. `page` reads one page
/// (`Ok(None)`: the list does not exist, so it is empty so far); `invalid` makes the error for
/// a registry that loops.
fn paginate<E>(
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
        let next = client.resolve(next, &url);
        if !visited.insert(next.clone()) {
            return Err(invalid(format!(
                "loops: its next page {} was read before",
                shown_path(&next)
            )));
        }
        url = next;
    }
    Err(invalid(format!(
        "has more than {MAX_PAGES} pages: it seems to loop"
    )))
}

/// A URL as logs show it: without scheme and host.
fn shown_path(url: &str) -> &str {
    &url[super::client::origin(url).len()..]
}

/// A repository name in a URL path: slashes kept, every segment percent-encoded.
fn encode_name(name: &str) -> String {
    name.split('/')
        .map(crate::percent::encode)
        .collect::<Vec<_>>()
        .join("/")
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_paths() {
        assert_eq!(encode_name("group/sub/pro.j_e-ct"), "group/sub/pro.j_e-ct");
        assert_eq!(encode_name("a b/c?"), "a%20b/c%3F");
    }
}
