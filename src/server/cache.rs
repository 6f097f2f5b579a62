//! HTTP caching of rendered resources: bodies rendered once per snapshot and shared, gzip
//! compressed once per body, strong validators (`ETag`, `Last-Modified`) and the conditional
//! request rules (`If-None-Match`, `If-Modified-Since`) that answer `304`.
//!
//! A [`RenderCache`] belongs to one snapshot and is dropped with it, so a new crawl never
//! serves old bytes and no invalidation logic exists. It is bounded by a byte budget: when a
//! new body does not fit, the least recently used ones are evicted to make room (so requests
//! nobody repeats cannot push out the ones everybody makes); only a body larger than the whole
//! budget is not kept (rendered per request, then streamed). Concurrent requests
//! for the same body wait for the one rendering it instead of rendering it again.
//!
//! No I/O, no clock: callers pass the rendering function and the request's header values.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// How a body is encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    Identity,
    Gzip,
}

impl Encoding {
    /// The validator of this encoding of the body whose identity validator is `identity`.
    pub fn etag(self, identity: &str) -> String {
        match self {
            Encoding::Identity => identity.to_string(),
            Encoding::Gzip => format!("{}-gz\"", identity.trim_end_matches('"')),
        }
    }
}

/// One rendered body and what is derived from it, shared by every request that wants it.
#[derive(Debug)]
pub struct Rendered {
    pub content_type: &'static str,
    pub identity: Arc<[u8]>,
    gzip: OnceLock<Arc<[u8]>>,
    /// The strong validator of the identity body, quoted (`"…"`).
    pub etag: String,
}

impl Rendered {
    pub fn new(content_type: &'static str, body: Vec<u8>, etag: String) -> Rendered {
        Rendered {
            content_type,
            identity: body.into(),
            gzip: OnceLock::new(),
            etag,
        }
    }

    /// The body in `enc`, compressing at most once.
    pub fn body(&self, enc: Encoding) -> Arc<[u8]> {
        match enc {
            Encoding::Identity => self.identity.clone(),
            Encoding::Gzip => self.gzip.get_or_init(|| gzip(&self.identity)).clone(),
        }
    }

    /// The validator of the body in `enc`: representations differ, so do their tags.
    pub fn etag(&self, enc: Encoding) -> String {
        enc.etag(&self.etag)
    }

    /// Bytes held: the bodies, plus the entry's own bookkeeping, which outweighs the body of
    /// a small resource (a tag's is ~250 bytes).
    fn cost(&self) -> usize {
        ENTRY_OVERHEAD + self.identity.len() + self.gzip.get().map_or(0, |g| g.len())
    }
}

fn gzip(data: &[u8]) -> Arc<[u8]> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4),
        flate2::Compression::default(),
    );
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default().into()
}

/// Estimated bytes of one entry besides its bodies: key strings, map slot, `Rendered`, `Arc`s.
const ENTRY_OVERHEAD: usize = 256;

/// At most this many keys are remembered as too big for the budget. Beyond, a key that does
/// not fit is rendered per request (as before it was first tried): the set cannot grow with
/// every distinct query a client makes up.
const MAX_OVERSIZE_KEYS: usize = 4096;

/// What identifies a body within one snapshot: the canonical resource, the normalised
/// query, and the representation (JSON or HTML). Prefix and snapshot are fixed per cache.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub resource: String,
    pub query: String,
    pub html: bool,
}

/// Rendered bodies of one snapshot, within a byte budget.
#[derive(Debug)]
pub struct RenderCache {
    budget: usize,
    /// Distinguishes this snapshot's validators from every other snapshot's.
    generation: u64,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    used: usize,
    /// Counts lookups: the recency of each kept entry.
    tick: u64,
    entries: HashMap<CacheKey, Entry>,
    /// Kept entries by their last use (`Entry::used_at`): the first is evicted first.
    recency: BTreeMap<u64, CacheKey>,
    /// Keys whose body is larger than the whole budget: streamed from then on instead of
    /// rendered into memory.
    oversize: HashSet<CacheKey>,
}

#[derive(Debug, Default)]
struct Entry {
    slot: Arc<OnceLock<Arc<Rendered>>>,
    /// Bytes counted in `used` for it; 0 while it is being rendered (not evictable yet).
    charged: usize,
    used_at: u64,
}

impl Inner {
    /// Marks `key` (a kept entry) as used now.
    fn touch(&mut self, key: &CacheKey) {
        self.tick += 1;
        let now = self.tick;
        if let Some(e) = self.entries.get_mut(key).filter(|e| e.charged > 0) {
            self.recency.remove(&e.used_at);
            e.used_at = now;
            self.recency.insert(now, key.clone());
        }
    }

    /// Evicts least recently used entries until `cost` more bytes fit in `budget`; false if
    /// they cannot (entries being rendered are not counted yet and cannot be evicted).
    fn make_room(&mut self, cost: usize, budget: usize) -> bool {
        while self.used + cost > budget {
            let Some((_, old)) = self.recency.pop_first() else {
                return false;
            };
            if let Some(e) = self.entries.remove(&old) {
                self.used -= e.charged;
            }
        }
        true
    }
}

impl RenderCache {
    /// `generation` must differ between snapshots (e.g. a hash of the crawl's timestamp).
    pub fn new(budget: usize, generation: u64) -> RenderCache {
        RenderCache {
            budget,
            generation,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The strong validator for `key`'s identity body in this snapshot.
    pub fn etag_for(&self, key: &CacheKey) -> String {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        // A new build may render the same snapshot differently.
        env!("CARGO_PKG_VERSION").hash(&mut h);
        key.hash(&mut h);
        format!("\"{:016x}-{:016x}\"", self.generation, h.finish())
    }

    /// The body for `key`, rendered by `render` at most once while it is kept. Requests that
    /// arrive while it renders wait for that rendering.
    pub fn get_or_render(
        &self,
        key: &CacheKey,
        render: impl FnOnce() -> (&'static str, Vec<u8>),
    ) -> Arc<Rendered> {
        let slot = {
            let mut inner = self.lock();
            inner.touch(key);
            inner.entries.entry(key.clone()).or_default().slot.clone()
        };
        let mut fresh = false;
        let rendered = slot
            .get_or_init(|| {
                fresh = true;
                let (ct, body) = render();
                Arc::new(Rendered::new(ct, body, self.etag_for(key)))
            })
            .clone();
        if fresh {
            let mut inner = self.lock();
            let cost = rendered.cost();
            let cost = cost + key.resource.len() + key.query.len();
            if cost > self.budget {
                // Too big to keep: later requests stream it (see `is_oversize`).
                inner.entries.remove(key);
                if inner.oversize.len() < MAX_OVERSIZE_KEYS {
                    inner.oversize.insert(key.clone());
                }
            } else if inner.make_room(cost, self.budget) {
                inner.used += cost;
                inner.tick += 1;
                let now = inner.tick;
                if let Some(e) = inner.entries.get_mut(key) {
                    e.charged = cost;
                    e.used_at = now;
                }
                inner.recency.insert(now, key.clone());
            } else {
                // Everything else is still being rendered: not kept this time.
                inner.entries.remove(key);
            }
        }
        rendered
    }

    /// `key`'s body `r` in `enc`. A compressed body counts against the budget too, once
    /// made, while its entry is kept.
    pub fn body(&self, key: &CacheKey, r: &Rendered, enc: Encoding) -> Arc<[u8]> {
        let had = r.gzip.get().is_some();
        let b = r.body(enc);
        if enc == Encoding::Gzip && !had {
            let mut inner = self.lock();
            if let Some(e) = inner.entries.get_mut(key).filter(|e| e.charged > 0) {
                e.charged += b.len();
                inner.used += b.len();
            }
        }
        b
    }

    /// Whether `key`'s body was found too big for the budget: callers then stream it rather
    /// than render it into memory for every request.
    pub fn is_oversize(&self, key: &CacheKey) -> bool {
        self.lock().oversize.contains(key)
    }

    /// Bytes held by kept bodies.
    pub fn used(&self) -> usize {
        self.lock().used
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether the client accepts gzip (`Accept-Encoding`, with `q=0` meaning "not").
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    let Some(v) = accept_encoding else {
        return false;
    };
    let mut gzip = None;
    let mut any = None;
    for (coding, q) in crate::http::parse::weighted(v) {
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(q),
            "*" => any = Some(q),
            _ => {}
        }
    }
    gzip.or(any).is_some_and(|q| q > 0.0)
}

/// `If-None-Match`: whether any listed tag matches `etag` (weak comparison, as RFC 9110
/// requires for this header), or the list is `*`.
pub fn none_match(if_none_match: &str, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let want = strip(etag);
    if_none_match
        .split(',')
        .any(|t| t.trim() == "*" || strip(t) == want)
}

/// Whether a conditional GET can be answered `304`: `If-None-Match` decides when present,
/// else `If-Modified-Since` against `last_modified` (Unix seconds).
pub fn not_modified(
    if_none_match: Option<&str>,
    if_modified_since: Option<&str>,
    etag: &str,
    last_modified: u64,
) -> bool {
    if let Some(inm) = if_none_match {
        return none_match(inm, etag);
    }
    let Some(ims) = if_modified_since.and_then(|v| httpdate::parse_http_date(v.trim()).ok()) else {
        return false;
    };
    ims.duration_since(std::time::UNIX_EPOCH)
        .is_ok_and(|d| d.as_secs() >= last_modified)
}

/// Unix seconds as an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn http_date(secs: u64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn key(r: &str) -> CacheKey {
        CacheKey {
            resource: r.into(),
            query: "embed=all".into(),
            html: false,
        }
    }

    #[test]
    fn renders_once_and_shares() {
        let c = RenderCache::new(1 << 20, 7);
        let calls = AtomicUsize::new(0);
        let render = || {
            calls.fetch_add(1, Ordering::SeqCst);
            ("application/hal+json", b"{\"a\":1}".to_vec())
        };
        let a = c.get_or_render(&key("/r"), render);
        let b = c.get_or_render(&key("/r"), render);
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // the body, the key ("/r", "embed=all") and the entry's bookkeeping
        assert_eq!(c.used(), 7 + 11 + ENTRY_OVERHEAD);
        assert_ne!(a.etag, c.get_or_render(&key("/s"), render).etag);
        // another snapshot: other validators for the same resource
        assert_ne!(RenderCache::new(1, 8).etag_for(&key("/r")), a.etag);
    }

    #[test]
    fn concurrent_requests_render_once() {
        let c = Arc::new(RenderCache::new(1 << 20, 1));
        let calls = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (c, calls) = (c.clone(), calls.clone());
                std::thread::spawn(move || {
                    c.get_or_render(&key("/big"), || {
                        calls.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        ("x", vec![1; 1000])
                    })
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap().identity.len(), 1000);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn over_budget_is_served_but_not_kept() {
        let c = RenderCache::new(10, 1);
        let calls = AtomicUsize::new(0);
        let render = || {
            calls.fetch_add(1, Ordering::SeqCst);
            ("x", vec![0; 11])
        };
        assert_eq!(c.get_or_render(&key("/r"), render).identity.len(), 11);
        assert!(c.is_oversize(&key("/r")));
        assert!(!c.is_oversize(&key("/s")));
        c.get_or_render(&key("/r"), render);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(c.used(), 0);
    }

    #[test]
    fn a_full_cache_evicts_the_least_recently_used() {
        // Room for two entries of 100 bytes (each costs ENTRY_OVERHEAD and its key more).
        let budget = 2 * (ENTRY_OVERHEAD + 100 + "/a".len() + "embed=all".len());
        let c = RenderCache::new(budget, 1);
        let calls = AtomicUsize::new(0);
        let render = || {
            calls.fetch_add(1, Ordering::SeqCst);
            ("x", vec![0; 100])
        };
        c.get_or_render(&key("/a"), render);
        c.get_or_render(&key("/b"), render);
        c.get_or_render(&key("/a"), render); // /a is now the most recently used
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        c.get_or_render(&key("/c"), render);
        assert!(
            !c.is_oversize(&key("/c")),
            "a full cache refused a body that fits"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        c.get_or_render(&key("/a"), render);
        c.get_or_render(&key("/c"), render);
        assert_eq!(calls.load(Ordering::SeqCst), 3, "/a and /c are kept");
        c.get_or_render(&key("/b"), render);
        assert_eq!(calls.load(Ordering::SeqCst), 4, "/b was evicted");
        assert!(c.used() <= budget);
    }

    #[test]
    fn keys_too_big_for_the_budget_are_remembered_up_to_a_bound() {
        let c = RenderCache::new(10, 1);
        for i in 0..MAX_OVERSIZE_KEYS + 10 {
            c.get_or_render(&key(&format!("/r{i}")), || ("x", vec![0; 11]));
        }
        assert_eq!(c.lock().oversize.len(), MAX_OVERSIZE_KEYS);
        assert!(c.is_oversize(&key("/r0")));
        assert!(!c.is_oversize(&key(&format!("/r{}", MAX_OVERSIZE_KEYS + 5))));
        assert_eq!(c.used(), 0);
    }

    #[test]
    fn gzip_round_trips_and_is_made_once() {
        let c = RenderCache::new(1 << 20, 1);
        let body: Vec<u8> = (0..50_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let r = c.get_or_render(&key("/r"), || ("x", body.clone()));
        let gz = c.body(&key("/r"), &r, Encoding::Gzip);
        assert!(Arc::ptr_eq(&gz, &c.body(&key("/r"), &r, Encoding::Gzip)));
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, body);
        assert_eq!(c.used(), body.len() + gz.len() + 11 + ENTRY_OVERHEAD);
        assert_ne!(r.etag(Encoding::Gzip), r.etag(Encoding::Identity));
        assert!(r.etag(Encoding::Gzip).ends_with("-gz\""));
    }

    #[test]
    fn accept_encoding() {
        assert!(accepts_gzip(Some("gzip, deflate, br")));
        assert!(accepts_gzip(Some("br;q=1.0, gzip;q=0.8, *;q=0.1")));
        assert!(accepts_gzip(Some("*")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(Some("*;q=0, br")));
        assert!(!accepts_gzip(None));
    }

    #[test]
    fn conditional_requests() {
        let tag = "\"abc-1\"";
        assert!(not_modified(Some("\"abc-1\""), None, tag, 100));
        assert!(not_modified(Some("\"x\", W/\"abc-1\""), None, tag, 100));
        assert!(not_modified(Some("*"), None, tag, 100));
        assert!(!not_modified(Some("\"abc-2\""), None, tag, 100));
        // If-None-Match wins over If-Modified-Since
        let later = http_date(200);
        assert!(!not_modified(Some("\"no\""), Some(&later), tag, 100));
        assert!(not_modified(None, Some(&later), tag, 100));
        assert!(not_modified(None, Some(&http_date(100)), tag, 100));
        assert!(!not_modified(None, Some(&http_date(99)), tag, 100));
        assert!(!not_modified(None, Some("yesterday"), tag, 100));
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
