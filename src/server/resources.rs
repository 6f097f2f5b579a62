//! The snapshot's resources as HTTP responses: which representation (HAL JSON or HTML,
//! identity or gzip), the validators (`ETag`, `Last-Modified`), `304` for a conditional
//! request, and where the body comes from — the snapshot's render cache (every JSON
//! resource: measured, a lookup costs less than rendering even one repository with its
//! tags), or a stream for a body too large for the cache budget. Also `/cleanup`, rendered
//! per request (it depends on the clock).
//!
//! No sockets and no clock: the request and `now` come in, a [`Response`] goes out.

use std::sync::Arc;

use super::{ApiError, Request, Response, Route, Served, StreamGate, StreamPass};
use crate::cleanup::view;
use crate::cleanup::{self, policies, policies_view, CleanupError, Rule};
use crate::hal::{self, Listing, Paths, Query, Resource};
use crate::history::store::HistoryStore;
use crate::history::{self, Baseline};
use crate::http::Body;
use crate::server::cache::{accepts_gzip, http_date, not_modified, CacheKey, Encoding};
use crate::snapshot::Snapshot;

/// Headers of every cacheable response and of its `304`: per-user data, to be revalidated;
/// the body depends on `Accept` (JSON or HTML) and `Accept-Encoding`.
const CACHE_CONTROL: &str = "private, no-cache";
const VARY: &str = "Accept, Accept-Encoding";

/// The comparison point of `since=` in `query`, resolved in `history` at `now`; `None`
/// without `since`. A value that does not parse, a `_change` sort without `since`, or no
/// history to compare with are 400s that say what is accepted.
pub(super) fn since(
    history: &HistoryStore,
    query: &str,
    listing: &Listing,
    now: u64,
) -> Result<Option<Arc<Baseline>>, ApiError> {
    let bad = |text: String| ApiError::BadParameter(text);
    let value = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "since")
        .map(|(_, v)| v.into_owned());
    let Some(value) = value else {
        return match listing.sort.change_field() {
            Some(_) => Err(bad("sort: the _change keys need since=".into())),
            None => Ok(None),
        };
    };
    let at = history::parse_since(&value, now as f64)
        .ok_or_else(|| bad(format!("since: {}", history::SINCE_FORMS)))?;
    history.baseline(at).map(Some).ok_or_else(|| {
        bad("since: no crawl history to compare with ([history] keep = 0, no state_file, or no crawl recorded yet)".into())
    })
}

/// A resource below `/repositories` or `/namespaces`. `now` (Unix seconds) dates the crawl in
/// the HTML view and anchors a relative `since=`.
pub(super) fn resource(
    app: &super::App,
    served: &Served,
    req: &Request,
    route: Route<'_>,
    query: &str,
    now: u64,
) -> Result<Response, ApiError> {
    let (history, streams, prefix): (&HistoryStore, &Arc<StreamGate>, &str) =
        (&app.history, &app.streams, &app.prefix);
    let snap = &served.snap;
    let paths = Paths { prefix };
    let (namespaces, rest) = match route {
        Route::Namespaces(rest) => (true, rest),
        Route::Repositories(rest) => (false, rest),
        _ => return Err(ApiError::NoRoute),
    };
    let res = resolve(snap, namespaces, rest, paths).map_err(ApiError::NotFound)?;
    let listing = listing(res, query)?;
    let baseline = since(history, query, &listing, now)?;
    if super::prefers_html(req.header("Accept")) {
        // The HTML view says "N minutes ago": it changes with the clock, so it is neither
        // cached nor given a validator.
        return Ok(Response::typed(
            200,
            "text/html; charset=utf-8",
            hal::render_html(snap, res, &listing, prefix, now).into_bytes(),
        )
        .with("Cache-Control", CACHE_CONTROL)
        .with("Vary", VARY));
    }
    let q = Query::parse(query);
    let key = CacheKey {
        // The canonical path without the prefix (fixed for the life of the process).
        resource: canonical(res, Paths { prefix: "" }),
        // The resolved comparison point, not the text of since= (7d moves with the clock).
        query: format!(
            "{q:?} {listing:?} {:?}",
            baseline.as_ref().map(|b| b.timestamp)
        ),
        html: false,
    };
    cached_json(
        served,
        req,
        key,
        || hal::render_json_since(snap, res, q, &listing, prefix, baseline.as_deref()),
        || {
            // A client that does not read keeps its stream's worker: only a few at once.
            let pass = streams.try_enter().ok_or(ApiError::StreamsBusy)?;
            let (listing, baseline) = (listing.clone(), baseline.clone());
            let view = (q, listing, baseline);
            Ok(stream(snap.clone(), namespaces, rest, view, prefix, pass))
        },
    )
}

/// A JSON resource of the served snapshot from its render cache: gzip when accepted,
/// validators, `304` for a conditional request; a body too big for the cache comes from
/// `oversize` (not compressed).
fn cached_json(
    served: &Served,
    req: &Request,
    key: CacheKey,
    render: impl FnOnce() -> Vec<u8>,
    oversize: impl FnOnce() -> Result<Body, ApiError>,
) -> Result<Response, ApiError> {
    let snap = &served.snap;
    let cache = &served.cache;
    let is_oversize = cache.is_oversize(&key);
    // Only cached bodies are compressed (once); streamed ones go out as they are.
    let enc = if !is_oversize && accepts_gzip(req.header("Accept-Encoding")) {
        Encoding::Gzip
    } else {
        Encoding::Identity
    };
    let identity_tag = cache.etag_for(&key);
    // Whole seconds: HTTP dates have no fractions, and a crawl's time is never in the future.
    let last_modified = snap.timestamp.max(0.0) as u64;
    let validators = |r: Response, enc: Encoding| {
        r.with("ETag", enc.etag(&identity_tag))
            .with("Last-Modified", http_date(last_modified))
            .with("Cache-Control", CACHE_CONTROL)
            .with("Vary", VARY)
    };
    if not_modified(
        req.header("If-None-Match"),
        req.header("If-Modified-Since"),
        &enc.etag(&identity_tag),
        last_modified,
    ) {
        let empty = Response::new(304, Body::empty());
        return Ok(validators(empty, enc));
    }
    let (body, enc) = if is_oversize {
        (oversize()?, enc)
    } else {
        let rendered = cache.get_or_render(&key, || ("application/hal+json", render()));
        // Just found too big to keep: not worth compressing for one response.
        let enc = if cache.is_oversize(&key) {
            Encoding::Identity
        } else {
            enc
        };
        (Body::Shared(cache.body(&key, &rendered, enc)), enc)
    };
    let mut resp = validators(Response::typed(200, "application/hal+json", body), enc);
    if enc == Encoding::Gzip {
        resp = resp.with("Content-Encoding", "gzip");
    }
    Ok(resp)
}

/// `/policies`: every GitLab project's clean-up policy previewed over the served snapshot,
/// cached with it like the other resources (the answer depends on the snapshot only).
pub(super) fn policies(
    served: &Served,
    req: &Request,
    query: &str,
    prefix: &str,
    limits: cleanup::Limits,
) -> Result<Response, ApiError> {
    let snap = &served.snap;
    let listing = policies_listing(query)?;
    if super::prefers_html(req.header("Accept")) {
        return policies_resource(snap, query, true, prefix, limits);
    }
    let links = Query::parse(query).links;
    let key = CacheKey {
        resource: "/policies".into(),
        query: format!("{links:?} {listing:?}"),
        html: false,
    };
    let body = || policies_body(snap, prefix, limits, &listing, links, false);
    cached_json(served, req, key, body, || Ok(Body::Bytes(body())))
}

/// The listing parameters of `/policies` (sorted by project path, or a figure).
fn policies_listing(query: &str) -> Result<Listing, ApiError> {
    Listing::parse_with(
        query,
        &policies_view::SORT_KEYS,
        policies_view::SORT_EXPECTED,
    )
    .map_err(|e| ApiError::BadParameter(e.to_string()))
}

fn policies_body(
    snap: &Snapshot,
    prefix: &str,
    limits: cleanup::Limits,
    listing: &Listing,
    links: bool,
    html: bool,
) -> Vec<u8> {
    let previews = policies::preview(snap, limits);
    let page = listing.page(&previews.items, None);
    if html {
        policies_view::render_html(snap, &previews, &page.items).into_bytes()
    } else {
        policies_view::render_json(
            snap,
            &previews,
            &page.items,
            listing,
            page.total,
            prefix,
            links,
        )
    }
}

/// `/policies` rendered afresh (the HTML view, and the benchmark's measure of a cache miss).
/// Pure.
pub fn policies_resource(
    snap: &Snapshot,
    query: &str,
    html: bool,
    prefix: &str,
    limits: cleanup::Limits,
) -> Result<Response, ApiError> {
    let listing = policies_listing(query)?;
    let links = Query::parse(query).links;
    let body = policies_body(snap, prefix, limits, &listing, links, html);
    Ok(if html {
        Response::typed(200, "text/html; charset=utf-8", body)
            .with("Cache-Control", CACHE_CONTROL)
            .with("Vary", VARY)
    } else {
        Response::typed(200, "application/hal+json", body)
    })
}

fn resolve<'a>(
    snap: &'a Snapshot,
    namespaces: bool,
    rest: &str,
    paths: Paths<'_>,
) -> Result<Resource<'a>, String> {
    if namespaces {
        hal::resolve_namespace(snap, rest, paths)
    } else {
        hal::resolve(snap, rest, paths)
    }
}

/// Sorting, filtering and paging apply to the two collections only.
fn listing(res: Resource<'_>, query: &str) -> Result<Listing, ApiError> {
    match res {
        Resource::Collection | Resource::Namespaces => {
            Listing::parse(query).map_err(|e| ApiError::BadParameter(e.to_string()))
        }
        _ => Ok(Listing::default()),
    }
}

/// The path that names `res` whatever form the request used.
fn canonical(res: Resource<'_>, paths: Paths<'_>) -> String {
    match res {
        Resource::Collection => paths.collection(),
        Resource::Repository(r) => paths.repository(&r.name),
        Resource::Tags(r) => paths.tags(&r.name),
        Resource::Tag(r, t) => paths.tag(&r.name, &t.name),
        Resource::Namespaces => paths.namespaces(),
        Resource::Namespace(n) => paths.namespace(&n.name),
    }
}

/// A body too large for the cache budget, serialised straight into the socket (chunked).
fn stream(
    snap: Arc<Snapshot>,
    namespaces: bool,
    rest: &str,
    (q, listing, since): (Query, Listing, Option<Arc<Baseline>>),
    prefix: &str,
    pass: StreamPass,
) -> Body {
    let (rest, prefix) = (rest.to_string(), prefix.to_string());
    Body::stream(None, move |w| {
        // Held until the body is written (or the client is given up on).
        let _pass = pass;
        let paths = Paths { prefix: &prefix };
        match resolve(&snap, namespaces, &rest, paths) {
            Ok(res) => hal::write_json(w, &snap, res, q, &listing, paths, since.as_deref()),
            // Resolved once already against this very snapshot.
            Err(_) => Ok(()),
        }
    })
}

/// One point of `/history`, its fields in the documented order.
#[derive(serde::Serialize)]
struct PointView {
    timestamp: f64,
    size: u64,
    disk_size: u64,
    exclusive_size: u64,
    repositories: u64,
    tags: u64,
}

#[derive(serde::Serialize)]
struct HistoryView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    repository: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
    points: Vec<PointView>,
}

/// `/history[?repository=R | namespace=N]`: the recorded crawls, oldest first, with the
/// registry's totals or the named item's values (only where it existed).
pub(super) fn history_resource(history: &HistoryStore, query: &str) -> Result<Response, ApiError> {
    let mut named: Option<(history::Kind, &'static str, String)> = None;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let kind = match k.as_ref() {
            "repository" => (history::Kind::Repository, "repository"),
            "namespace" => (history::Kind::Namespace, "namespace"),
            _ => continue,
        };
        if named.as_ref().is_some_and(|n| n.1 != kind.1) {
            return Err(ApiError::BadParameter(
                "repository, namespace: one of them, not both".into(),
            ));
        }
        named.get_or_insert((kind.0, kind.1, v.into_owned()));
    }
    let (label, points) = match &named {
        None => (None, history.totals()),
        Some((kind, word, name)) => {
            let points = history.series(*kind, name).ok_or_else(|| {
                ApiError::NotFound(format!(
                    "/history?{word}={}",
                    crate::http::percent::encode(name)
                ))
            })?;
            (Some((*word, name.as_str())), points)
        }
    };
    let points: Vec<PointView> = points
        .iter()
        .map(|p| PointView {
            timestamp: p.timestamp,
            size: p.values.size,
            disk_size: p.values.disk_size,
            exclusive_size: p.values.exclusive_size,
            repositories: p.values.repositories,
            tags: p.values.tags,
        })
        .collect();
    let body = HistoryView {
        repository: label.filter(|l| l.0 == "repository").map(|l| l.1),
        namespace: label.filter(|l| l.0 == "namespace").map(|l| l.1),
        points,
    };
    let bytes = serde_json::to_vec(&body).map_err(|_| ApiError::Internal)?;
    Ok(Response::typed(200, "application/json", bytes).with("Cache-Control", CACHE_CONTROL))
}

/// `/cleanup`: the clean-up dry run of the rule in `query`, at time `now`. Pure.
pub fn cleanup_resource(
    snap: &Snapshot,
    query: &str,
    html: bool,
    prefix: &str,
    limits: cleanup::Limits,
    now: i64,
) -> Result<Response, ApiError> {
    let paths = Paths { prefix };
    let rule = Rule::parse(query, limits).map_err(|e| ApiError::BadParameter(e.to_string()))?;
    let report = cleanup::dry_run(snap, &rule, now).map_err(|e| match e {
        CleanupError::UnknownRepository(r) => ApiError::NotFound(paths.repository(&r)),
        CleanupError::UnknownNamespace(n) => ApiError::NotFound(paths.namespace(&n)),
        CleanupError::Param { .. } => ApiError::BadParameter(e.to_string()),
    })?;
    Ok(if html {
        Response::typed(
            200,
            "text/html; charset=utf-8",
            view::render_html(snap, &rule, &report, prefix).into_bytes(),
        )
    } else {
        Response::typed(
            200,
            "application/hal+json",
            view::render_json(snap, &rule, &report, prefix, Query::parse(query).links),
        )
    })
}
