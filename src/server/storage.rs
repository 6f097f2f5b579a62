//! `/storage`: the last good storage scan (see [`crate::storage`]) as HAL JSON, rendered once
//! per scan into its own render cache, with validators and `304` like every cached resource.
//! [`StorageCell`] is what the scan thread publishes into and what `/storage`, `/metrics`
//! and the dashboard read: a failed scan records its error and keeps the last good one.
//!
//! No sockets, no clock: the request comes in, a [`Response`] goes out.

use std::sync::{Arc, RwLock};

use super::{ApiError, Request, Response};
use crate::server::cache::{
    accepts_gzip, http_date, not_modified, CacheKey, Encoding, RenderCache,
};
use crate::storage::{view, Finished};

/// The last good scan with its render cache.
#[derive(Clone)]
pub struct ServedScan {
    pub scan: Arc<Finished>,
    cache: Arc<RenderCache>,
}

/// What the scan thread reported so far.
#[derive(Clone, Default)]
pub struct StorageState {
    /// Whether `[storage] driver` is set.
    pub enabled: bool,
    pub served: Option<ServedScan>,
    /// The last scan's error, cleared by a good scan.
    pub last_error: Option<String>,
    pub scans: u64,
    pub failures: u64,
}

/// Shared between the scan thread and the workers.
pub struct StorageCell {
    state: RwLock<StorageState>,
}

impl Default for StorageCell {
    fn default() -> Self {
        StorageCell::new(false)
    }
}

/// One body per scan: a small budget is plenty.
const BUDGET: usize = 4 << 20;

impl StorageCell {
    pub fn new(enabled: bool) -> StorageCell {
        StorageCell {
            state: RwLock::new(StorageState {
                enabled,
                ..StorageState::default()
            }),
        }
    }

    pub fn get(&self) -> StorageState {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A scan's result: a good one replaces the served scan, a failed one only records why.
    pub fn publish(&self, result: Result<Finished, String>) {
        let mut s = self.state.write().unwrap_or_else(|p| p.into_inner());
        s.scans += 1;
        match result {
            Ok(f) => {
                let cache = Arc::new(RenderCache::new(BUDGET, f.finished.to_bits()));
                s.served = Some(ServedScan {
                    scan: Arc::new(f),
                    cache,
                });
                s.last_error = None;
            }
            Err(e) => {
                s.failures += 1;
                s.last_error = Some(e);
            }
        }
    }
}

/// `GET /storage` (already authorized).
pub(super) fn storage_resource(
    cell: &StorageCell,
    req: &Request,
    prefix: &str,
) -> Result<Response, ApiError> {
    let state = cell.get();
    if !state.enabled {
        return Err(ApiError::StorageOff);
    }
    let Some(served) = state.served else {
        return Err(ApiError::StorageNotReady(state.last_error));
    };
    let key = CacheKey {
        resource: "/storage".into(),
        query: String::new(),
        html: false,
    };
    let cache = &served.cache;
    let enc = if accepts_gzip(req.header("Accept-Encoding")) {
        Encoding::Gzip
    } else {
        Encoding::Identity
    };
    let etag = enc.etag(&cache.etag_for(&key));
    let last_modified = served.scan.finished.max(0.0) as u64;
    let with_validators = |r: Response| {
        r.with("ETag", etag.clone())
            .with("Last-Modified", http_date(last_modified))
            .with("Cache-Control", "private, no-cache")
            .with("Vary", "Accept, Accept-Encoding")
    };
    if not_modified(
        req.header("If-None-Match"),
        req.header("If-Modified-Since"),
        &etag,
        last_modified,
    ) {
        let empty = Response::new(304, crate::http::Body::empty());
        return Ok(with_validators(empty));
    }
    let rendered = cache.get_or_render(&key, || {
        (
            "application/hal+json",
            view::render_json(&served.scan, prefix),
        )
    });
    let body = crate::http::Body::Shared(cache.body(&key, &rendered, enc));
    let mut resp = with_validators(Response::typed(200, "application/hal+json", body));
    if enc == Encoding::Gzip {
        resp = resp.with("Content-Encoding", "gzip");
    }
    Ok(resp)
}

/// What `/metrics` shows of `state`.
pub(super) fn metrics_view(state: &StorageState) -> crate::metrics::StorageView<'_> {
    crate::metrics::StorageView {
        enabled: state.enabled,
        scans: state.scans,
        failures: state.failures,
        last: state.served.as_ref().map(|s| &*s.scan),
    }
}
