//! The registry's storage itself, read-only: what is on disk, what Docker Distribution's
//! `garbage-collect` would delete now (with and without `--delete-untagged`), and half-done
//! uploads, by scanning the storage the registry writes (`docker/registry/v2/...`).
//!
//! [`Store`] is a storage driver reduced to what the scan needs: list every object under a
//! prefix with its size, and read one small object. [`fs`] implements it on a directory; an
//! S3 bucket implements it on `s3::S3Client` (LIST pages for sizes, a GET only for links and
//! for manifests the crawl never read). [`scan`] walks the layout through a [`Store`] and
//! gathers plain facts; [`mark`] applies Distribution's marking rules to them, without I/O;
//! [`scanner`] is the thread that scans after every crawl; [`view`] is `/storage`'s body.
//! This module must never write to the storage, and a driver must never follow a symlink out
//! of the root. Serving the figures is the server's business (`server::storage`).

pub mod fs;
pub(crate) mod mark;
pub mod s3;
mod s3_store;
pub mod scan;
pub mod scanner;
pub mod view;

use std::fmt;

pub use mark::{Break, RepoGarbage, Report};
pub use scan::{census, scan, Census, Known, Limits, Scan};
pub use scanner::{open_store, run_once, spawn_scanner, Finished};

/// Where Distribution keeps everything, below the driver's root directory / key prefix.
pub const V2_ROOT: &str = "docker/registry/v2";

/// Something an operator should fix that made the scan skip a part; the rest goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file or key (below the root) concerned.
    pub path: String,
    pub problem: String,
    pub fix: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}; {}", self.path, self.problem, self.fix)
    }
}

/// Why the storage (or one object of it) could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The object does not exist (any more).
    NotFound(String),
    /// The object is larger than the limit named.
    TooLarge { path: String, size: u64, max: u64 },
    /// Anything else: `message` says what happened and what to do.
    Failed { path: String, message: String },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound(p) => write!(f, "{p}: does not exist"),
            StoreError::TooLarge { path, size, max } => write!(
                f,
                "{path}: {size} bytes, more than the {max} bytes a manifest may have \
                 (raise [storage] max_manifest_size if it really is one)"
            ),
            StoreError::Failed { path, message } => write!(f, "{path}: {message}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// A storage driver as the scan sees it. Paths are relative to [`V2_ROOT`], `/`-separated.
pub trait Store: Send + Sync {
    /// `filesystem` or `s3`.
    fn driver(&self) -> &'static str;
    /// Where it reads, for messages (a directory, `s3://bucket/prefix`).
    fn location(&self) -> String;
    /// Calls `f(path, size)` for every object below `prefix` (which ends in `/`). A part that
    /// cannot be listed is a warning and skipped; `Err` only when `prefix` itself cannot.
    /// A directory for which `prune(path)` holds need not be entered: a driver that skips it
    /// reports it as `f("<path>/", 0)` instead (a flat listing may ignore `prune`).
    fn walk(
        &self,
        prefix: &str,
        prune: &dyn Fn(&str) -> bool,
        f: &mut dyn FnMut(&str, u64),
        warn: &mut dyn FnMut(Warning),
    ) -> Result<(), StoreError>;
    /// Calls `f(path, size)` for every `blobs/.../data` object (a driver may know a faster way
    /// than [`Store::walk`]: it must report the same objects).
    fn blob_data(
        &self,
        f: &mut dyn FnMut(&str, u64),
        warn: &mut dyn FnMut(Warning),
    ) -> Result<(), StoreError> {
        self.walk(
            "blobs/",
            &|_| false,
            &mut |p, size| {
                if p.ends_with("/data") {
                    f(p, size)
                }
            },
            warn,
        )
    }
    /// The bytes of one object, refusing more than `max`.
    fn read(&self, path: &str, max: u64) -> Result<Vec<u8>, StoreError>;
    /// Uploads that are not objects (S3 multipart uploads) below `prefix`: the path their
    /// `data` would have, when they started (Unix seconds) and the bytes uploaded so far.
    fn pending_uploads(&self, _prefix: &str) -> Result<Vec<(String, i64, u64)>, StoreError> {
        Ok(Vec::new())
    }
}

/// The S3 driver (see `s3_store`).
fn s3_store(cfg: &crate::config::Storage) -> Result<Box<dyn Store>, StoreError> {
    s3_store::open(cfg)
}
