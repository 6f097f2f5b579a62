//! The immutable picture of the registry that the API serves: repositories, their tags, the
//! blobs each tag refers to, and the sizes derived from them, computed once when the snapshot
//! is built.
//!
//! [`state_json`] holds the snapshot's on-disk form (versioned JSON, the state file's
//! contents) as pure encode/decode functions; [`digest`] the compact digest type. This module
//! does no I/O: no files, sockets, clocks or threads, so the arithmetic can be tested and
//! fuzzed as plain functions.
//!
//! Memory matters here: a registry of 100,000 tags is held for the life of the process, so
//! digests are 32-byte arrays, media types are shared strings, and the state file is read
//! straight into this form without an intermediate tree.
//!
//! Meaning of the numbers (the README explains them): a tag's `size` is the bytes of its distinct
//! blobs; every distinct blob of the registry is charged to exactly one tag (the one with the
//! fewest blobs, ties broken by repository name, then tag name) and a tag's `disk_size` is
//! what it is charged. A repository's numbers are the sums over its tags. Namespaces and the
//! exclusive ("freeable") sizes are computed by [`crate::snapshot::usage`] when the snapshot is built.

mod digest;
pub mod projects;
mod state_json;
pub mod time;
pub mod usage;

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub(crate) use digest::Digest;
pub use projects::{ExpirationPolicy, Project};
pub(crate) use state_json::STATE_VERSION;
pub(crate) use usage::Namespace;

/// One platform of a multi-arch tag (a child of a manifest list / image index).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Bytes of this platform's distinct blobs (config and layers).
    pub size: u64,
}

/// What a crawl found for one tag: the input to [`Snapshot::build`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagInput {
    pub name: String,
    /// The manifest digest the tag points at.
    #[serde(default)]
    pub digest: String,
    #[serde(default)]
    pub media_type: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<Platform>,
    /// Blob digests (config and layers, every platform); duplicates are ignored.
    pub blobs: Vec<String>,
    /// When the image was built (Unix seconds): the config's `created`, the newest platform's
    /// for a multi-arch tag. `None` when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
}

/// What a crawl found for one repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepositoryInput {
    pub name: String,
    /// `None`: the tags could not be read and no earlier data exists.
    pub tags: Option<Vec<TagInput>>,
    /// Unix seconds of the first crawl that failed to refresh this repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_since: Option<f64>,
}

/// Everything needed to build a snapshot: also the state file's contents.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SnapshotInput {
    /// Unix seconds when the crawl finished.
    pub timestamp: f64,
    pub repositories: Vec<RepositoryInput>,
    /// Blob digest → size in bytes, for every blob any tag refers to.
    pub blobs: HashMap<String, u64>,
}

/// A tag with its derived numbers. Blobs are indices into [`Snapshot::blobs`], sorted.
#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    pub name: String,
    pub digest: Digest,
    /// Shared between all tags of the same media type.
    pub media_type: Arc<str>,
    pub platforms: Vec<Platform>,
    pub blobs: Vec<u32>,
    pub size: u64,
    pub disk_size: u64,
    /// Bytes of the blobs no other tag refers to (see [`crate::snapshot::usage`]).
    pub(crate) exclusive_size: u64,
    /// See [`TagInput::created`].
    pub created: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Repository {
    pub name: String,
    /// `None` when the repository was never read successfully; sorted by name otherwise.
    pub tags: Option<Vec<Tag>>,
    pub stale_since: Option<f64>,
    pub size: Option<u64>,
    pub disk_size: Option<u64>,
    /// Bytes of the blobs no other repository refers to; `None` like the sizes.
    pub exclusive_size: Option<u64>,
}

impl Repository {
    pub fn tag(&self, name: &str) -> Option<&Tag> {
        let tags = self.tags.as_ref()?;
        tags.binary_search_by(|t| t.name.as_str().cmp(name))
            .ok()
            .map(|i| &tags[i])
    }
}

/// One blob of the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub digest: Digest,
    pub(crate) size: u64,
}

/// The immutable snapshot. Repositories are sorted by name (byte order).
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub timestamp: f64,
    pub repositories: Vec<Repository>,
    pub blobs: Vec<Blob>,
    /// Every proper path prefix of a repository name, sorted by name (see [`crate::snapshot::usage`]).
    pub(crate) namespaces: Vec<Namespace>,
    /// For each blob (same index as `blobs`), how many tags refer to it: the clean-up dry
    /// run's starting point (a blob is freed when every tag referring to it is deleted).
    pub blob_refs: Vec<u32>,
    /// The GitLab projects read with this crawl, sorted by path (see [`projects`]); empty
    /// when they are not read.
    pub projects: Vec<Project>,
    /// For each repository (same index), its project's index in `projects`.
    pub(crate) repo_projects: Vec<Option<u32>>,
    /// Bytes of the longest repository name: a longer path prefix names none, which keeps
    /// resolving a path of thousands of segments linear.
    pub(crate) longest_name: usize,
}

/// Why a state file could not be used.
#[derive(Debug)]
pub enum StateError {
    Json(serde_json::Error),
    Version(u32),
    MissingBlob {
        repository: String,
        tag: String,
        digest: String,
    },
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateError::Json(e) => write!(f, "not a valid state file: {e}"),
            StateError::Version(v) => {
                write!(f, "state file version {v} is not supported (this build reads version {STATE_VERSION})")
            }
            StateError::MissingBlob {
                repository,
                tag,
                digest,
            } => {
                write!(f, "tag {repository}:{tag} refers to blob {digest}, whose size is not in the state file")
            }
        }
    }
}

impl std::error::Error for StateError {}

impl Snapshot {
    /// Builds the snapshot and all its numbers. Blobs a tag refers to whose size is unknown
    /// are an error, so a caller cannot silently under-count.
    pub fn build(input: SnapshotInput) -> Result<Snapshot, StateError> {
        let SnapshotInput {
            timestamp,
            repositories,
            blobs: sizes,
        } = input;
        let mut b = Builder::default();
        let repos = repositories
            .into_iter()
            .map(|repo| Repository {
                tags: repo.tags.map(|tags| {
                    tags.into_iter()
                        .map(|t| {
                            let blobs = t.blobs.iter().map(|d| b.blob(d)).collect();
                            Tag {
                                digest: Digest::parse(&t.digest),
                                media_type: b.media_type(&t.media_type),
                                name: t.name,
                                platforms: t.platforms,
                                blobs,
                                size: 0,
                                disk_size: 0,
                                exclusive_size: 0,
                                created: t.created,
                            }
                        })
                        .collect()
                }),
                name: repo.name,
                stale_since: repo.stale_since,
                size: None,
                disk_size: None,
                exclusive_size: None,
            })
            .collect();
        for (digest, size) in &sizes {
            b.size(digest, *size);
        }
        b.finish(timestamp, repos)
    }

    /// The repository named `name`, by binary search.
    pub fn repository(&self, name: &str) -> Option<&Repository> {
        self.repositories
            .binary_search_by(|r| r.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.repositories[i])
    }

    /// The same snapshot with these GitLab projects, each repository given its project.
    pub fn with_projects(mut self, mut projects: Vec<Project>) -> Snapshot {
        // No projects, no table: equal to a snapshot that never had any.
        self.repo_projects = if projects.is_empty() {
            Vec::new()
        } else {
            let names: Vec<&str> = self.repositories.iter().map(|r| r.name.as_str()).collect();
            projects::assign(&mut projects, &names)
        };
        self.projects = projects;
        self
    }

    /// The project of the repository at `index` in `repositories`.
    pub(crate) fn project_at(&self, index: usize) -> Option<&Project> {
        let p = self.repo_projects.get(index).copied().flatten()?;
        self.projects.get(p as usize)
    }

    /// The project of the repository named `name`.
    pub fn project_of(&self, name: &str) -> Option<&Project> {
        let i = self
            .repositories
            .binary_search_by(|r| r.name.as_str().cmp(name))
            .ok()?;
        self.project_at(i)
    }

    /// The namespace named `name`, by binary search.
    pub(crate) fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.namespaces
            .binary_search_by(|n| n.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.namespaces[i])
    }

    /// The repositories below namespace `ns` (at any depth), sorted by name.
    pub(crate) fn repositories_below(&self, ns: &Namespace) -> &[Repository] {
        self.repositories.get(ns.first..ns.end).unwrap_or(&[])
    }

    /// Back to the input form: what the state file stores and what a crawl starts from.
    pub fn to_input(&self) -> SnapshotInput {
        let mut sizes = HashMap::with_capacity(self.blobs.len());
        let repositories = self
            .repositories
            .iter()
            .map(|r| RepositoryInput {
                name: r.name.clone(),
                stale_since: r.stale_since,
                tags: r.tags.as_ref().map(|tags| {
                    tags.iter()
                        .map(|t| TagInput {
                            name: t.name.clone(),
                            digest: t.digest.to_string(),
                            media_type: t.media_type.to_string(),
                            platforms: t.platforms.clone(),
                            blobs: t
                                .blobs
                                .iter()
                                .map(|&b| {
                                    let blob = &self.blobs[b as usize];
                                    sizes.insert(blob.digest.to_string(), blob.size);
                                    blob.digest.to_string()
                                })
                                .collect(),
                            created: t.created,
                        })
                        .collect()
                }),
            })
            .collect();
        SnapshotInput {
            timestamp: self.timestamp,
            repositories,
            blobs: sizes,
        }
    }

    /// Number of tags in repositories whose tags are known.
    pub fn tag_count(&self) -> usize {
        self.repositories
            .iter()
            .filter_map(|r| r.tags.as_ref())
            .map(Vec::len)
            .sum()
    }

    /// Heap bytes this snapshot holds (capacities of its vectors and strings; shared media
    /// type strings and allocator overhead not counted).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let digest_heap = |d: &Digest| match d {
            Digest::Other(s) => s.len(),
            Digest::Sha256(_) => 0,
        };
        let mut n = self.repositories.capacity() * size_of::<Repository>()
            + self.blobs.capacity() * size_of::<Blob>()
            + self
                .blobs
                .iter()
                .map(|b| digest_heap(&b.digest))
                .sum::<usize>()
            + self.namespaces.capacity() * size_of::<Namespace>()
            + self
                .namespaces
                .iter()
                .map(|ns| ns.name.capacity())
                .sum::<usize>();
        for r in &self.repositories {
            n += r.name.capacity();
            if let Some(tags) = &r.tags {
                n += tags.capacity() * size_of::<Tag>();
                for t in tags {
                    n += t.name.capacity()
                        + digest_heap(&t.digest)
                        + t.blobs.capacity() * size_of::<u32>()
                        + t.platforms.capacity() * size_of::<Platform>();
                }
            }
        }
        n
    }

    /// Total bytes of all distinct blobs that tags refer to.
    pub fn unique_bytes(&self) -> u64 {
        self.blobs
            .iter()
            .fold(0u64, |n, b| n.saturating_add(b.size))
    }
}

/// Collects blobs and media types while a snapshot is assembled (from a crawl's input or
/// straight from the state file), then puts everything in canonical order.
#[derive(Default)]
struct Builder {
    /// Digest → blob id, in order of first sight.
    index: HashMap<Digest, u32>,
    digests: Vec<Digest>,
    sizes: Vec<Option<u64>>,
    /// Sizes named before their blob was seen (a state file with `blobs` first).
    early: HashMap<Digest, u64>,
    media_types: Vec<Arc<str>>,
}

impl Builder {
    /// The id of the blob `digest`, assigned at first sight.
    fn blob(&mut self, digest: &str) -> u32 {
        let d = Digest::parse(digest);
        if let Some(&id) = self.index.get(&d) {
            return id;
        }
        let id = self.digests.len() as u32;
        self.sizes.push(self.early.remove(&d));
        self.digests.push(d.clone());
        self.index.insert(d, id);
        id
    }

    /// Records the size of `digest`; sizes of blobs no tag refers to are dropped.
    fn size(&mut self, digest: &str, size: u64) {
        self.size_of(Digest::parse(digest), size);
    }

    fn size_of(&mut self, d: Digest, size: u64) {
        match self.index.get(&d) {
            Some(&id) => self.sizes[id as usize] = Some(size),
            None => {
                self.early.insert(d, size);
            }
        }
    }

    /// One shared string per distinct media type (there are a handful).
    fn media_type(&mut self, text: &str) -> Arc<str> {
        if let Some(m) = self.media_types.iter().find(|m| ***m == *text) {
            return m.clone();
        }
        let m: Arc<str> = Arc::from(text);
        self.media_types.push(m.clone());
        m
    }

    /// Sorts repositories and tags by name (dropping later duplicates), numbers blobs in order
    /// of first reference so equal content gives equal snapshots, and computes the sizes.
    fn finish(self, timestamp: f64, mut repos: Vec<Repository>) -> Result<Snapshot, StateError> {
        repos.sort_by(|a, b| a.name.cmp(&b.name));
        repos.dedup_by(|a, b| a.name == b.name);
        for r in &mut repos {
            if let Some(tags) = r.tags.as_mut() {
                tags.sort_by(|a, b| a.name.cmp(&b.name));
                tags.dedup_by(|a, b| a.name == b.name);
                tags.shrink_to_fit();
            }
        }
        let Builder {
            index,
            mut digests,
            sizes,
            early,
            media_types,
        } = self;
        // Free the lookup tables before the blob list is allocated, so the long-lived data
        // can reuse their memory.
        drop((index, early, media_types));
        let mut renumber = vec![u32::MAX; digests.len()];
        let mut blobs: Vec<Blob> = Vec::with_capacity(digests.len());
        for r in &mut repos {
            for t in r.tags.iter_mut().flatten() {
                for id in t.blobs.iter_mut() {
                    let old = *id as usize;
                    if renumber[old] == u32::MAX {
                        let Some(size) = sizes[old] else {
                            return Err(StateError::MissingBlob {
                                repository: r.name.clone(),
                                tag: t.name.clone(),
                                digest: digests[old].to_string(),
                            });
                        };
                        renumber[old] = blobs.len() as u32;
                        blobs.push(Blob {
                            digest: std::mem::take(&mut digests[old]),
                            size,
                        });
                    }
                    *id = renumber[old];
                }
                t.blobs.sort_unstable();
                t.blobs.dedup();
                t.blobs.shrink_to_fit();
            }
        }
        blobs.shrink_to_fit();
        let longest_name = repos.iter().map(|r| r.name.len()).max().unwrap_or(0);
        let mut snap = Snapshot {
            timestamp,
            repositories: repos,
            blobs,
            namespaces: Vec::new(),
            blob_refs: Vec::new(),
            projects: Vec::new(),
            repo_projects: Vec::new(),
            longest_name,
        };
        compute_sizes(&mut snap);
        snap.blob_refs = count_blob_refs(&snap);
        snap.namespaces =
            crate::snapshot::usage::compute(&mut snap.repositories, &snap.blobs, &snap.blob_refs);
        Ok(snap)
    }
}

/// How many tags refer to each blob (a tag's blob list has no duplicates).
fn count_blob_refs(snap: &Snapshot) -> Vec<u32> {
    let mut refs = vec![0u32; snap.blobs.len()];
    for tag in snap
        .repositories
        .iter()
        .filter_map(|r| r.tags.as_ref())
        .flatten()
    {
        for &b in &tag.blobs {
            refs[b as usize] = refs[b as usize].saturating_add(1);
        }
    }
    refs
}

/// Fills in `size` and `disk_size` of every tag and repository.
///
/// Cost: O(total blob references + tags × log tags). Tags are ranked once by (blob count,
/// repository name, tag name); walking them in that order, each blob is charged to the first
/// tag that refers to it, which is exactly the contract's rule, whatever the crawl order was.
fn compute_sizes(snap: &mut Snapshot) {
    let Snapshot {
        repositories,
        blobs,
        ..
    } = snap;
    // (repo index, tag index) of every tag, ranked by the attribution rule. Repositories and
    // tags are already sorted by name, so index order is name order.
    let mut order: Vec<(usize, usize)> = Vec::new();
    for (ri, repo) in repositories.iter_mut().enumerate() {
        if let Some(tags) = repo.tags.as_mut() {
            for (ti, tag) in tags.iter_mut().enumerate() {
                tag.size = tag
                    .blobs
                    .iter()
                    .fold(0u64, |n, &b| n.saturating_add(blobs[b as usize].size));
                order.push((ri, ti));
            }
        }
    }
    let blob_count = |(ri, ti): (usize, usize)| -> usize {
        repositories[ri]
            .tags
            .as_ref()
            .map_or(0, |t| t[ti].blobs.len())
    };
    order.sort_by_key(|&(ri, ti)| (blob_count((ri, ti)), ri, ti));

    let mut charged = vec![false; blobs.len()];
    for (ri, ti) in order {
        let Some(tags) = repositories[ri].tags.as_mut() else {
            continue;
        };
        let tag = &mut tags[ti];
        let mut disk = 0;
        for &b in &tag.blobs {
            if !std::mem::replace(&mut charged[b as usize], true) {
                disk = blobs[b as usize].size.saturating_add(disk);
            }
        }
        tag.disk_size = disk;
    }
    for repo in repositories.iter_mut() {
        if let Some(tags) = &repo.tags {
            repo.size = Some(tags.iter().fold(0u64, |n, t| n.saturating_add(t.size)));
            repo.disk_size = Some(tags.iter().fold(0u64, |n, t| n.saturating_add(t.disk_size)));
        }
    }
}

/// Builders of small snapshots for the unit tests of this module and of those that compute
/// from snapshots.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    pub(crate) fn tag(name: &str, blobs: &[&str]) -> TagInput {
        TagInput {
            name: name.into(),
            digest: format!("sha256:m-{name}"),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            platforms: vec![],
            blobs: blobs.iter().map(|s| s.to_string()).collect(),
            created: None,
        }
    }

    pub(crate) fn repo(name: &str, tags: Option<Vec<TagInput>>) -> RepositoryInput {
        RepositoryInput {
            name: name.into(),
            tags,
            stale_since: None,
        }
    }

    pub(crate) fn build(repos: Vec<RepositoryInput>, sizes: &[(&str, u64)]) -> Snapshot {
        Snapshot::build(SnapshotInput {
            timestamp: 1.5,
            repositories: repos,
            blobs: sizes.iter().map(|(d, s)| (d.to_string(), *s)).collect(),
        })
        .unwrap()
    }
}

#[cfg(test)]
mod tests;
