//! The scan thread: opens the configured storage, scans it after every published crawl (or
//! every `scan_interval`), logs what it found and hands each result to the server.
//!
//! A thread of its own, not a step of the collector: a scan of a large storage takes tens of
//! seconds and must neither delay the next crawl nor die with it, and `scan_interval` may
//! differ from the crawl's. It reads the crawl's latest snapshot so that manifests the crawl
//! read are not read again. It owns the timing and the logging, nothing of the marking.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{select, Receiver};

use super::fs::FsStore;
use super::{scan, Known, Limits, Scan, Store, StoreError};
use crate::config::{Storage, StorageDriver};
use crate::snapshot::Snapshot;

/// One finished scan, as served.
#[derive(Debug, Clone)]
pub struct Finished {
    pub driver: &'static str,
    /// Unix seconds.
    pub started: f64,
    pub finished: f64,
    pub scan: Scan,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The configured storage's driver; `Err` names what is wrong and the key to fix.
pub fn open_store(cfg: &Storage) -> Result<Box<dyn Store>, StoreError> {
    match cfg.driver {
        StorageDriver::Filesystem => Ok(Box::new(FsStore::open(std::path::Path::new(
            &cfg.rootdirectory,
        ))?)),
        StorageDriver::S3 => super::s3_store(cfg),
        StorageDriver::Off => Err(StoreError::Failed {
            path: String::new(),
            message: "no storage configured: set [storage] driver".into(),
        }),
    }
}

/// One scan of the configured storage against the crawl's `snapshot` (if any).
pub fn run_once(cfg: &Storage, snapshot: Option<&Snapshot>) -> Result<Finished, StoreError> {
    let started = now();
    let store = open_store(cfg)?;
    let known = snapshot.map(Known::from_snapshot).unwrap_or_default();
    let limits = Limits {
        max_manifest_size: cfg.max_manifest_size,
        max_warnings: cfg.max_warnings,
    };
    let scan = scan(store.as_ref(), &known, &limits)?;
    Ok(Finished {
        driver: store.driver(),
        started,
        finished: now(),
        scan,
    })
}

fn log_result(cfg: &Storage, result: &Result<Finished, StoreError>) {
    match result {
        Ok(f) => {
            let r = &f.scan.report;
            log::info!(
                "storage scan ({}): {} blobs, {} bytes; garbage-collect would free {} blobs, {} \
                 bytes now, --delete-untagged {} manifests, {} blobs, {} bytes ({} lists it would \
                 break); {} uploads, {} bytes; {} manifests read, {} known from the crawl; {:.1} s",
                f.driver,
                r.blobs.count,
                r.blobs.bytes,
                r.gc.blobs,
                r.gc.bytes,
                r.gc_untagged.manifests,
                r.gc_untagged.blobs,
                r.gc_untagged.bytes,
                r.breaks.len(),
                r.uploads.count,
                r.uploads.bytes,
                f.scan.manifests_read,
                f.scan.manifests_known,
                f.finished - f.started
            );
            for w in &f.scan.warnings {
                log::warn!("storage scan: {w}");
            }
            let more = f.scan.warning_count - f.scan.warnings.len() as u64;
            if more > 0 {
                log::warn!(
                    "storage scan: {more} more problems not shown (raise [storage] max_warnings)"
                );
            }
        }
        Err(e) => log::warn!(
            "storage scan ({:?} {}) failed, the last good scan stays served: {e}",
            cfg.driver,
            cfg.rootdirectory
        ),
    }
}

/// Starts the scan thread. It scans at once, then after each message on `crawled` (when
/// `scan_interval` is auto and a collector runs) or every `scan_interval` (else every
/// `fallback`), until `stop` is dropped or sent to.
pub fn spawn_scanner(
    cfg: Storage,
    crawled: Option<Receiver<()>>,
    stop: Receiver<()>,
    fallback: Duration,
    current: impl Fn() -> Option<Arc<Snapshot>> + Send + 'static,
    publish: impl Fn(Result<Finished, String>) + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("storage-scan".into())
        .spawn(move || {
            let interval = cfg.scan_interval.unwrap_or(fallback);
            let crawled = crawled.filter(|_| cfg.scan_interval.is_none());
            loop {
                let snap = current();
                // A bug in one scan must not end the thread: it is reported like a failure.
                let result =
                    std::panic::catch_unwind(AssertUnwindSafe(|| run_once(&cfg, snap.as_deref())))
                        .unwrap_or_else(|_| {
                            Err(StoreError::Failed {
                                path: String::new(),
                                message: "bug: the scan panicked (see the log above)".into(),
                            })
                        });
                drop(snap);
                log_result(&cfg, &result);
                publish(result.map_err(|e| e.to_string()));
                let go_on = match &crawled {
                    Some(c) => select! {
                        recv(stop) -> _ => false,
                        recv(c) -> m => m.is_ok(),
                    },
                    None => select! {
                        recv(stop) -> _ => false,
                        default(interval) => true,
                    },
                };
                if !go_on {
                    return;
                }
            }
        })
}
