//! What an in-process registry holds: repositories (their tags, and what the tag list answers
//! when there are none), and manifests and blobs stored once by digest with their media type
//! or size. `tree.rs` fills one for `--demo`; the tests' fake registry fills its own; the
//! protocol that serves either is `registry.rs`.
//!
//! Content-addressed like Distribution's storage: any repository that exists can serve a
//! stored digest (Distribution also checks that the repository links it; nobody crawling
//! needs that). Pure data: no I/O, no clock, no locks (a caller that changes it while serving
//! brings its own).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Repositories by name, manifests and blobs by digest.
#[derive(Default)]
pub struct Content {
    pub repos: BTreeMap<String, Repo>,
    pub manifests: HashMap<String, Manifest>,
    pub blobs: HashMap<String, Blob>,
}

/// One repository: its tags (tag -> manifest digest).
#[derive(Default)]
pub struct Repo {
    pub tags: BTreeMap<String, String>,
    /// What the tag list answers while `tags` is empty.
    pub untagged: Untagged,
}

/// The two ways a registry reports a repository without tags.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Untagged {
    /// `404 NAME_UNKNOWN` on the tag list (and its manifests): it never had a tag.
    #[default]
    NameUnknown,
    /// `"tags": null`: every tag was deleted.
    Null,
}

pub struct Manifest {
    pub media_type: String,
    pub bytes: Arc<[u8]>,
}

pub struct Blob {
    pub size: u64,
    /// What a GET returns; `None` answers HEAD only (layers are sized, not stored).
    pub content: Option<Arc<[u8]>>,
}

impl Content {
    /// The repository called `name`, created without tags when new.
    pub fn repo(&mut self, name: &str) -> &mut Repo {
        self.repos.entry(name.to_string()).or_default()
    }

    /// Stores `bytes` under `digest` (which the caller computed, or chose to lie about) and,
    /// with a `tag`, points that tag of `repo` at it. The repository is created if new.
    pub fn put_manifest(
        &mut self,
        repo: &str,
        tag: Option<&str>,
        digest: &str,
        media_type: &str,
        bytes: Arc<[u8]>,
    ) {
        let manifest = Manifest {
            media_type: media_type.to_string(),
            bytes,
        };
        self.manifests.insert(digest.to_string(), manifest);
        let r = self.repo(repo);
        if let Some(t) = tag {
            r.tags.insert(t.to_string(), digest.to_string());
        }
    }

    /// Stores a blob's size, and its bytes when GETs are to return them.
    pub fn put_blob(&mut self, digest: &str, size: u64, content: Option<Arc<[u8]>>) {
        self.blobs
            .insert(digest.to_string(), Blob { size, content });
    }

    /// The manifest `reference` (a tag or a digest) of `repo` names, with its digest.
    pub fn manifest(&self, repo: &Repo, reference: &str) -> Option<(&str, &Manifest)> {
        let digest = if reference.contains(':') {
            reference
        } else {
            repo.tags.get(reference)?.as_str()
        };
        self.manifests
            .get_key_value(digest)
            .map(|(d, m)| (d.as_str(), m))
    }
}

impl Repo {
    /// A repository that never had a tag is unknown to the registry, tags and manifests alike.
    pub fn known(&self) -> bool {
        !self.tags.is_empty() || self.untagged == Untagged::Null
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_digests_find_manifests() {
        let mut c = Content::default();
        c.put_manifest("a/b", Some("v1"), "sha256:1", "t", Arc::from(&b"one"[..]));
        c.put_manifest("a/b", None, "sha256:2", "t", Arc::from(&b"two"[..]));
        let r = &c.repos["a/b"];
        assert!(r.known());
        assert_eq!(c.manifest(r, "v1").map(|(d, _)| d), Some("sha256:1"));
        assert_eq!(c.manifest(r, "sha256:2").map(|(d, _)| d), Some("sha256:2"));
        assert!(c.manifest(r, "v2").is_none());
        assert!(c.manifest(r, "sha256:3").is_none());
        c.repo("empty");
        assert!(!c.repos["empty"].known());
        c.repo("emptied").untagged = Untagged::Null;
        assert!(c.repos["emptied"].known());
    }
}
