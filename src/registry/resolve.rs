//! One repository's reading, for the crawl's pool: its tags list and each tag's resolution
//! (the manifest by tag, or by digest for a tag the previous snapshot knew; the children of an
//! index; blob sizes asked with HEAD where no descriptor says; the config's creation time),
//! through the per-digest caches of the crawl that make warm crawls cheap. What a manifest
//! body means is `manifest.rs`.
//!
//! It reports a tag's failure as a [`TagError`] and does not decide what that means for the
//! crawl (the pool in `crawl.rs` does: a token error ends it, anything else fails the
//! repository); it starts no threads and keeps no state of its own.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use super::client::{lock, HttpError, Method, Reply, CONFIG_BODY_LIMIT, MANIFEST_ACCEPT};
use super::crawl::paginate;
use super::manifest::{
    self, content_digest, content_mismatch, created_in, sha256_digest, valid_digest, BlobRef,
    Shape, MAX_BLOB_SIZE,
};
use super::pool::{RepoWork, Shared};
use super::token::{RealmError, RequestError};
use super::Kind;
use crate::snapshot::{Platform, TagInput};

/// Index/list nesting followed before a manifest is called invalid (real images use 1).
const MAX_DEPTH: usize = 4;
/// Why one tag (and so its repository) could not be read in this crawl.
#[derive(Debug)]
pub(super) enum TagError {
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
    Token(RealmError),
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
pub(super) struct Facts {
    pub(super) media_type: String,
    pub(super) platforms: Vec<Platform>,
    /// Distinct blob digests (config and layers; for an index, all children's).
    pub(super) blobs: Vec<String>,
    /// The image's creation time (Unix seconds): the config's `created`, schema 1's first
    /// history entry's, the newest child's for an index. `None`: the image does not say.
    pub(super) created: Option<i64>,
}

impl Shared<'_> {
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

    /// A manifest request (GET or HEAD) with the media types we understand.
    fn manifest_request(
        &self,
        work: &RepoWork,
        method: Method,
        url: &str,
    ) -> Result<Reply, TagError> {
        let kind = match method {
            Method::Get => Kind::ManifestGet,
            Method::Head => Kind::ManifestHead,
        };
        self.registry(work, kind, method, url, Some(MANIFEST_ACCEPT))
    }

    /// The repository's tags; a 404 (`NAME_UNKNOWN`: never had a tag) or a `null` list is none.
    pub(super) fn tags(&self, work: &RepoWork) -> Result<Vec<String>, TagError> {
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
    pub(super) fn resolve_tag(
        &self,
        work: &RepoWork,
        tag: &str,
    ) -> Result<Option<TagInput>, TagError> {
        let url = self.client().url(&format!(
            "/v2/{}/manifests/{}",
            encode_name(&work.name),
            crate::http::percent::encode(tag)
        ));
        let was_known = self
            .known_tags
            .get(&work.name)
            .is_some_and(|t| t.contains(tag));
        if was_known {
            let reply = self.manifest_request(work, Method::Head, &url)?;
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
        let reply = self.manifest_request(work, Method::Get, &url)?;
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
                let reply = self.manifest_request(work, Method::Get, &url)?;
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

/// A repository name in a URL path: slashes kept, every segment percent-encoded.
fn encode_name(name: &str) -> String {
    name.split('/')
        .map(crate::http::percent::encode)
        .collect::<Vec<_>>()
        .join("/")
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
