//! The demo registry's content model: repositories with their tags, manifests and blobs.
//!
//! Pure data: no I/O; what fills it is `tree.rs`, how it is served is `registry.rs`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What one repository answers.
pub(super) struct Repo {
    pub(super) tags: Tags,
    /// By digest: every manifest of the repository, children of lists included.
    pub(super) manifests: HashMap<String, Manifest>,
    /// By digest: configs (with content) and layers (size only) linked to the repository.
    pub(super) blobs: HashMap<String, Blob>,
}

/// The three ways a registry reports a repository's tags.
pub(super) enum Tags {
    Listed(BTreeMap<String, String>),
    /// `"tags": null`: every tag was deleted.
    Null,
    /// `404 NAME_UNKNOWN` on the tag list: the repository never had a tag.
    NeverTagged,
}

pub(super) struct Manifest {
    pub(super) media_type: &'static str,
    pub(super) bytes: Arc<[u8]>,
}

pub(super) struct Blob {
    pub(super) size: u64,
    /// Configs only: layers are sized, not stored (nobody crawling needs their bytes).
    pub(super) content: Option<Arc<[u8]>>,
}

/// All repositories, by name.
pub(super) struct Store {
    pub(super) repos: BTreeMap<String, Repo>,
}
