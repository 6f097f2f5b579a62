//! The crawl's thread pool: `concurrency` threads take repositories (their tags lists) and
//! tags (their manifests) from one queue, record each tag in its repository's slot, and report
//! each repository once, in full or failed. What a failure means is decided here: a token
//! error (`Done::Fatal`) ends the crawl, any other failure or a panic fails only its
//! repository. It owns no caches and builds no snapshot: the caches are the fields of
//! [`Shared`] that `crawl.rs` seeds, reading a repository or a tag is `resolve.rs`, and the
//! assembly of the result is `crawl.rs`'s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{never, select, unbounded, Receiver, Sender};

use super::client::{lock, Client, HttpError};
use super::crawl::{CrawlError, Crawler, KnownTags, PanicAt};
use super::resolve::{Facts, TagError};
use super::single_flight::SingleFlight;
use super::token::TokenSlot;
use crate::snapshot::TagInput;

pub(super) struct RepoWork {
    pub(super) name: String,
    pub(super) slot: usize,
    state: Mutex<RepoState>,
}

impl RepoWork {
    pub(super) fn new(name: String, slot: usize) -> RepoWork {
        RepoWork {
            name,
            slot,
            state: Mutex::new(RepoState::default()),
        }
    }
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
pub(super) struct Shared<'a> {
    pub(super) crawler: &'a Crawler,
    pub(super) repos: Vec<RepoWork>,
    pub(super) slots: Vec<TokenSlot>,
    /// Manifest facts of the previous snapshot (by digest): warm crawls reuse them.
    pub(super) known: HashMap<String, Arc<Facts>>,
    /// Tags of the previous snapshot, per repository: asked with a HEAD first.
    pub(super) known_tags: KnownTags,
    /// Manifests read in this crawl (by digest), each at most once.
    pub(super) fetched: SingleFlight<Arc<Facts>>,
    /// Blob digest → size, seeded from the previous snapshot.
    pub(super) sizes: Mutex<HashMap<String, u64>>,
    /// Blob sizes asked with HEAD in this crawl (schema 1, or descriptors without a size).
    pub(super) blob_heads: SingleFlight<u64>,
    /// Creation times of the image configs read in this crawl (by config digest), each
    /// config at most once; across crawls they live on in the manifests' facts.
    pub(super) configs: SingleFlight<Option<i64>>,
}

impl Shared<'_> {
    pub(super) fn client(&self) -> &Client {
        &self.crawler.client
    }

    /// Runs the pool until every repository is done; results in catalog order.
    pub(super) fn run(
        &self,
        started: Instant,
    ) -> Result<Vec<Result<Vec<TagInput>, String>>, CrawlError> {
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
