//! The S3 driver as a [`Store`]: Distribution's filesystem layout as keys below
//! `rootdirectory`, read with [`S3Client`] — ListObjectsV2 pages for every size (no GET per
//! blob), a GET only for a link or a manifest the crawl did not read, ListMultipartUploads for
//! half-done uploads (on S3 their data are parts, not objects). Read-only, like the client.

use super::s3::{S3Client, S3Config, S3Error};
use super::{Store, StoreError, Warning, V2_ROOT};
use crate::config::Storage;

pub(super) struct S3Store {
    client: S3Client,
    location: String,
}

/// The client for `[storage]`, after a HEAD of the bucket (a missing bucket or wrong
/// credentials are said before any listing); `Err` names the bucket and the fix.
pub(super) fn open(cfg: &Storage) -> Result<Box<dyn Store>, StoreError> {
    let c = S3Config {
        bucket: cfg.bucket.clone(),
        region: cfg.region.clone(),
        regionendpoint: cfg.regionendpoint.clone(),
        accesskey: cfg.accesskey.clone(),
        secretkey: cfg.secretkey.clone(),
        rootdirectory: cfg.rootdirectory.clone(),
        timeout: cfg.timeout,
    };
    let client = S3Client::new(&c).map_err(|e| failed("", &e))?;
    client.check().map_err(|e| failed("", &e))?;
    let root = cfg.rootdirectory.trim_matches('/');
    Ok(Box::new(S3Store {
        client,
        location: format!("s3://{}/{root}", cfg.bucket),
    }))
}

fn failed(key: &str, e: &S3Error) -> StoreError {
    match e {
        S3Error::NoSuchKey { key, .. } => StoreError::NotFound(key.clone()),
        _ => StoreError::Failed {
            path: key.to_string(),
            message: e.to_string(),
        },
    }
}

fn key(path: &str) -> String {
    format!("{V2_ROOT}/{path}")
}

impl Store for S3Store {
    fn driver(&self) -> &'static str {
        "s3"
    }

    fn location(&self) -> String {
        self.location.clone()
    }

    /// A flat listing: `prune` is ignored (S3 has no directories to skip).
    fn walk(
        &self,
        prefix: &str,
        _prune: &dyn Fn(&str) -> bool,
        f: &mut dyn FnMut(&str, u64),
        _warn: &mut dyn FnMut(Warning),
    ) -> Result<(), StoreError> {
        let below = format!("{V2_ROOT}/");
        self.client
            .list(&key(prefix), &mut |k, size| {
                if let Some(rel) = k.strip_prefix(&below) {
                    f(rel, size);
                }
            })
            .map(|_pages| ())
            .map_err(|e| failed(prefix, &e))
    }

    fn read(&self, path: &str, max: u64) -> Result<Vec<u8>, StoreError> {
        self.client.get(&key(path), max).map_err(|e| match e {
            S3Error::TooLarge { size, .. } => StoreError::TooLarge {
                path: path.to_string(),
                size: size.unwrap_or(max + 1),
                max,
            },
            e => failed(path, &e),
        })
    }

    fn pending_uploads(&self, prefix: &str) -> Result<Vec<(String, i64, u64)>, StoreError> {
        let below = format!("{V2_ROOT}/");
        let ups = self
            .client
            .multipart_uploads(&key(prefix))
            .map_err(|e| failed(prefix, &e))?;
        let mut out = Vec::with_capacity(ups.len());
        for (k, id, started) in ups {
            // The parts are the upload's data; one ListParts walk per half-done upload.
            let bytes = match self.client.upload_bytes(&k, &id) {
                Ok(b) => b,
                Err(e) => {
                    log::warn!("storage: the parts of the upload {k} cannot be listed: {e}");
                    0
                }
            };
            if let Some(rel) = k.strip_prefix(&below) {
                out.push((rel.to_string(), started, bytes));
            }
        }
        Ok(out)
    }
}
