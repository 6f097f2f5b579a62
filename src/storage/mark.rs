//! What Docker Distribution 2.8's `garbage-collect` would delete, computed from plain facts
//! about a storage (its blobs with their sizes, each repository's manifest revisions and the
//! tags naming them, the references inside each manifest).
//!
//! The rules are Distribution's own (see `registry/storage/garbagecollect.go` in 2.8): every
//! revision a repository's enumerator yields is marked with what its manifest references
//! (`References()`: config and layers; for a manifest list / image index only the children's
//! manifest digests); with `--delete-untagged` a revision no tag's `current/link` names is
//! counted as a deleted manifest and marks nothing, even when it is the child of a tagged
//! list (Distribution issue #3178: in 2.8 this breaks multi-arch images, which [`Report`]
//! names as `breaks`). Every blob not marked is deleted; its `data` file is the bytes freed.
//! `_layers` links protect nothing.
//!
//! Pure functions over plain data: no files, no clock. The driver ([`super::scan`]) gathers
//! the facts; this module only counts. Marks are bits over the sorted blob table, so 1,000,000
//! blobs cost a few megabytes beyond the table itself.

use std::collections::HashMap;

use serde::Serialize;

use crate::snapshot::Digest;

/// Every blob in the storage, sorted by digest: an index into it is a blob's identity. One
/// vector of pairs (48 bytes a blob), sorted in place: no second copy while it is built.
#[derive(Debug, Default, Clone)]
pub(crate) struct BlobTable {
    blobs: Vec<(Digest, u64)>,
}

impl BlobTable {
    /// Sorts and removes duplicates (a digest seen twice keeps its first size).
    pub(crate) fn new(mut blobs: Vec<(Digest, u64)>) -> BlobTable {
        blobs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        blobs.dedup_by(|a, b| a.0 == b.0);
        blobs.shrink_to_fit();
        BlobTable { blobs }
    }

    pub(crate) fn index(&self, d: &Digest) -> Option<u32> {
        self.blobs
            .binary_search_by(|b| b.0.cmp(d))
            .ok()
            .and_then(|i| u32::try_from(i).ok())
    }

    pub(crate) fn len(&self) -> usize {
        self.blobs.len()
    }

    pub(crate) fn digest(&self, i: u32) -> &Digest {
        &self.blobs[i as usize].0
    }

    fn size(&self, i: u32) -> u64 {
        self.blobs[i as usize].1
    }

    fn bytes(&self) -> u64 {
        self.blobs.iter().fold(0u64, |n, b| n.saturating_add(b.1))
    }
}

/// What a manifest references, as Distribution's `References()` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refs {
    /// A manifest list / image index: `digests` are its children.
    pub(crate) list: bool,
    pub(crate) digests: Vec<Digest>,
}

/// Reads a manifest's references the way Distribution 2.8's manifest store dispatches on
/// `schemaVersion` and `mediaType`. `Err` is why garbage-collect would stop at it.
pub(crate) fn references(body: &[u8]) -> Result<Refs, String> {
    #[derive(serde::Deserialize)]
    struct Desc {
        #[serde(default)]
        digest: String,
    }
    #[derive(serde::Deserialize)]
    struct Layer {
        #[serde(default, rename = "blobSum")]
        blob_sum: String,
    }
    #[derive(serde::Deserialize)]
    struct Any {
        #[serde(default, rename = "schemaVersion")]
        schema_version: i64,
        #[serde(default, rename = "mediaType")]
        media_type: String,
        config: Option<Desc>,
        #[serde(default)]
        layers: Vec<Desc>,
        manifests: Option<Vec<Desc>>,
        #[serde(default, rename = "fsLayers")]
        fs_layers: Vec<Layer>,
    }
    let m: Any = serde_json::from_slice(body).map_err(|e| format!("not a manifest: {e}"))?;
    let image = |m: Any| Refs {
        list: false,
        digests: m
            .config
            .into_iter()
            .chain(m.layers)
            .map(|d| Digest::parse(&d.digest))
            .collect(),
    };
    let list = |children: Vec<Desc>| Refs {
        list: true,
        digests: children.iter().map(|d| Digest::parse(&d.digest)).collect(),
    };
    match (m.schema_version, m.media_type.as_str()) {
        (1, _) => Ok(Refs {
            list: false,
            digests: m
                .fs_layers
                .iter()
                .map(|l| Digest::parse(&l.blob_sum))
                .collect(),
        }),
        (2, DOCKER_V2 | OCI_MANIFEST) => Ok(image(m)),
        (2, DOCKER_LIST | OCI_INDEX) => Ok(list(m.manifests.unwrap_or_default())),
        // No media type: an index when it has `manifests`, else an OCI image manifest.
        (2, "") => match m.manifests {
            Some(children) => Ok(list(children)),
            None => Ok(image(m)),
        },
        (2, other) => Err(format!("unrecognized manifest content type {other}")),
        (v, _) => Err(format!("unrecognized manifest schema version {v}")),
    }
}

pub(crate) const DOCKER_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// A manifest's references as blob indices (references to blobs not in storage dropped:
/// marking them changes nothing). `None`: unreadable, marks nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Content {
    pub(crate) list: bool,
    pub(crate) blobs: Vec<u32>,
}

/// One manifest revision as the repository's enumerator yields it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Revision {
    /// The revision's digest as a blob index (`None`: its digest is not a blob in storage).
    pub(crate) digest: Option<u32>,
    /// The blob holding its content (the link's target).
    pub(crate) content: u32,
    /// Tags whose `current/link` names this digest; empty: untagged.
    pub(crate) tags: Vec<String>,
}

/// A half-done upload (`_uploads/<id>/`, or an S3 multipart upload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Upload {
    pub(crate) bytes: u64,
    /// Unix seconds (`startedat`), when known.
    pub(crate) started: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct RepoFacts {
    pub(crate) name: String,
    pub(crate) revisions: Vec<Revision>,
    pub(crate) uploads: Vec<Upload>,
}

/// Everything the marking needs.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    pub(crate) blobs: BlobTable,
    pub(crate) repos: Vec<RepoFacts>,
    /// By content blob index; a revision whose content is missing here marks only itself.
    pub(crate) contents: HashMap<u32, Content>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct BlobCount {
    pub count: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Deleted {
    pub blobs: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct DeletedUntagged {
    pub manifests: u64,
    pub blobs: u64,
    pub bytes: u64,
}

/// A tagged list / index whose children `--delete-untagged` removes on Distribution 2.x.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    pub repository: String,
    pub tags: Vec<String>,
    /// Its children that would be deleted.
    pub manifests: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Uploads {
    pub count: u64,
    pub bytes: u64,
    /// Unix seconds of the oldest `startedat`.
    #[serde(skip)]
    pub oldest: Option<i64>,
}

/// One repository's garbage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoGarbage {
    pub name: String,
    pub untagged_manifests: u64,
    /// Bytes that only this repository's untagged manifests hold (freed by -m alone).
    pub untagged_bytes: u64,
    pub uploads: u64,
    pub upload_bytes: u64,
}

/// The figures of one scan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    pub blobs: BlobCount,
    pub gc: Deleted,
    pub gc_untagged: DeletedUntagged,
    pub breaks: Vec<Break>,
    pub uploads: Uploads,
    /// Repositories with untagged manifests or uploads: most untagged bytes first.
    pub repositories: Vec<RepoGarbage>,
    /// Manifests the scan could not read (garbage-collect would stop at them).
    pub unreadable_manifests: u64,
}

/// A bit per blob.
struct Marks(Vec<u64>);

impl Marks {
    fn new(n: usize) -> Marks {
        Marks(vec![0; n.div_ceil(64)])
    }
    fn set(&mut self, i: u32) {
        self.0[i as usize / 64] |= 1 << (i % 64);
    }
    fn get(&self, i: u32) -> bool {
        self.0[i as usize / 64] & (1 << (i % 64)) != 0
    }
}

/// Calls `f` with every blob a revision marks: its own digest and its references.
fn marked_by(facts: &Facts, rev: &Revision, f: &mut dyn FnMut(u32)) {
    if let Some(d) = rev.digest {
        f(d);
    }
    if let Some(c) = facts.contents.get(&rev.content) {
        c.blobs.iter().for_each(|b| f(*b));
    }
}

const NO_OWNER: u32 = u32::MAX;
const MANY_OWNERS: u32 = u32::MAX - 1;

/// The figures garbage-collect (with and without `--delete-untagged`) would produce.
pub(crate) fn analyse(facts: &Facts) -> Report {
    let n = facts.blobs.len();
    let mut plain = Marks::new(n);
    let mut tagged = Marks::new(n);
    // For blobs marked by untagged revisions: the one repository doing so, or many.
    let mut owner: Vec<u32> = Vec::new();
    let mut untagged_manifests = 0u64;
    let mut unreadable = 0u64;
    for (ri, repo) in facts.repos.iter().enumerate() {
        let ri = u32::try_from(ri).unwrap_or(MANY_OWNERS - 1);
        for rev in &repo.revisions {
            marked_by(facts, rev, &mut |b| plain.set(b));
            if !facts.contents.contains_key(&rev.content) {
                unreadable += 1;
            }
            if rev.tags.is_empty() {
                untagged_manifests += 1;
                if owner.is_empty() {
                    owner = vec![NO_OWNER; n];
                }
                marked_by(facts, rev, &mut |b| {
                    let o = &mut owner[b as usize];
                    *o = if *o == NO_OWNER || *o == ri {
                        ri
                    } else {
                        MANY_OWNERS
                    };
                });
            } else {
                marked_by(facts, rev, &mut |b| tagged.set(b));
            }
        }
    }
    let mut report = Report {
        blobs: BlobCount {
            count: n as u64,
            bytes: facts.blobs.bytes(),
        },
        unreadable_manifests: unreadable,
        ..Report::default()
    };
    report.gc_untagged.manifests = untagged_manifests;
    let mut only_untagged: HashMap<u32, u64> = HashMap::new();
    for i in 0..n as u32 {
        let size = facts.blobs.size(i);
        if !plain.get(i) {
            report.gc.blobs += 1;
            report.gc.bytes = report.gc.bytes.saturating_add(size);
        }
        if !tagged.get(i) {
            report.gc_untagged.blobs += 1;
            report.gc_untagged.bytes = report.gc_untagged.bytes.saturating_add(size);
            if plain.get(i) {
                if let Some(&o) = owner.get(i as usize).filter(|o| **o < MANY_OWNERS) {
                    *only_untagged.entry(o).or_default() += size;
                }
            }
        }
    }
    report.breaks = breaks(facts);
    report.repositories = per_repository(facts, &only_untagged);
    for repo in &facts.repos {
        for u in &repo.uploads {
            report.uploads.count += 1;
            report.uploads.bytes = report.uploads.bytes.saturating_add(u.bytes);
            if let Some(s) = u.started {
                report.uploads.oldest = Some(report.uploads.oldest.map_or(s, |o| o.min(s)));
            }
        }
    }
    report
}

/// Tagged lists / indexes with children that are untagged revisions of the same repository.
fn breaks(facts: &Facts) -> Vec<Break> {
    let mut out = Vec::new();
    for repo in &facts.repos {
        let untagged: std::collections::HashSet<u32> = repo
            .revisions
            .iter()
            .filter(|r| r.tags.is_empty())
            .filter_map(|r| r.digest)
            .collect();
        for rev in repo.revisions.iter().filter(|r| !r.tags.is_empty()) {
            let Some(c) = facts.contents.get(&rev.content).filter(|c| c.list) else {
                continue;
            };
            let mut children: Vec<u32> = c
                .blobs
                .iter()
                .copied()
                .filter(|b| untagged.contains(b))
                .collect();
            children.sort_unstable();
            children.dedup();
            if !children.is_empty() {
                let mut tags = rev.tags.clone();
                tags.sort();
                out.push(Break {
                    repository: repo.name.clone(),
                    tags,
                    manifests: children.len() as u64,
                });
            }
        }
    }
    out
}

fn per_repository(facts: &Facts, only_untagged: &HashMap<u32, u64>) -> Vec<RepoGarbage> {
    let mut out: Vec<RepoGarbage> = facts
        .repos
        .iter()
        .enumerate()
        .map(|(i, r)| RepoGarbage {
            name: r.name.clone(),
            untagged_manifests: r.revisions.iter().filter(|v| v.tags.is_empty()).count() as u64,
            untagged_bytes: u32::try_from(i)
                .ok()
                .and_then(|i| only_untagged.get(&i))
                .copied()
                .unwrap_or(0),
            uploads: r.uploads.len() as u64,
            upload_bytes: r
                .uploads
                .iter()
                .fold(0u64, |n, u| n.saturating_add(u.bytes)),
        })
        .filter(|r| r.untagged_manifests > 0 || r.uploads > 0)
        .collect();
    out.sort_by(|a, b| {
        b.untagged_bytes
            .cmp(&a.untagged_bytes)
            .then_with(|| a.name.cmp(&b.name))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> Digest {
        Digest::Sha256([n; 32])
    }

    /// Blobs 1..=n with size 10 * i; returns facts without repositories.
    fn table(n: u8) -> Facts {
        Facts {
            blobs: BlobTable::new((1..=n).map(|i| (d(i), 10 * u64::from(i))).collect()),
            ..Facts::default()
        }
    }

    /// What plain garbage-collect deletes.
    fn deleted(blobs: u64, bytes: u64) -> Deleted {
        Deleted { blobs, bytes }
    }

    /// What garbage-collect --delete-untagged deletes.
    fn untagged(manifests: u64, blobs: u64, bytes: u64) -> DeletedUntagged {
        DeletedUntagged {
            manifests,
            blobs,
            bytes,
        }
    }

    fn ix(f: &Facts, n: u8) -> u32 {
        f.blobs.index(&d(n)).unwrap()
    }

    fn rev(f: &mut Facts, m: u8, list: bool, refs: &[u8], tags: &[&str]) -> Revision {
        let c = ix(f, m);
        let blobs = refs.iter().map(|r| ix(f, *r)).collect();
        f.contents.insert(c, Content { list, blobs });
        Revision {
            digest: Some(c),
            content: c,
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn references_follow_distribution_dispatch() {
        let img = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_V2}","config":{{"digest":"sha256:{}"}},"layers":[{{"digest":"sha256:{}"}}]}}"#,
            "01".repeat(32),
            "02".repeat(32)
        );
        let r = references(img.as_bytes()).unwrap();
        assert_eq!((r.list, r.digests), (false, vec![d(1), d(2)]));
        let idx = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"digest":"sha256:{}"}}],"layers":[{{"digest":"x"}}]}}"#,
            "03".repeat(32)
        );
        let r = references(idx.as_bytes()).unwrap();
        assert_eq!((r.list, r.digests), (true, vec![d(3)]));
        let s1 = r#"{"schemaVersion":1,"fsLayers":[{"blobSum":"a"},{"blobSum":"a"}]}"#;
        assert_eq!(references(s1.as_bytes()).unwrap().digests.len(), 2);
        let bad = r#"{"schemaVersion":2,"mediaType":"text/plain"}"#;
        assert!(references(bad.as_bytes())
            .unwrap_err()
            .contains("text/plain"));
        assert!(references(b"{\"schemaVersion\":3}").is_err());
        assert!(references(b"\x00garbage")
            .unwrap_err()
            .starts_with("not a manifest"));
    }

    #[test]
    fn unreferenced_blobs_are_deleted_and_layers_links_protect_nothing() {
        let mut f = table(5);
        let r = rev(&mut f, 1, false, &[2, 3], &["latest"]);
        f.repos.push(RepoFacts {
            name: "a".into(),
            revisions: vec![r],
            uploads: vec![],
        });
        let rep = analyse(&f);
        assert_eq!(
            rep.blobs,
            BlobCount {
                count: 5,
                bytes: 150
            }
        );
        assert_eq!(rep.gc, deleted(2, 90));
        assert_eq!(rep.gc_untagged, untagged(0, 2, 90));
        assert!(rep.repositories.is_empty());
    }

    #[test]
    fn untagged_revisions_are_kept_without_m_and_deleted_with_it() {
        let mut f = table(6);
        let tagged = rev(&mut f, 1, false, &[2, 3], &["v2"]);
        let old = rev(&mut f, 4, false, &[2, 5], &[]);
        let other = rev(&mut f, 6, false, &[5], &[]);
        f.repos.push(RepoFacts {
            name: "app".into(),
            revisions: vec![tagged, old],
            uploads: vec![
                Upload {
                    bytes: 7,
                    started: Some(100),
                },
                Upload {
                    bytes: 1,
                    started: Some(50),
                },
            ],
        });
        f.repos.push(RepoFacts {
            name: "other".into(),
            revisions: vec![other],
            uploads: vec![],
        });
        let rep = analyse(&f);
        assert_eq!(rep.gc, Deleted::default());
        // -m: manifests 4 and 6 and blob 5 go.
        assert_eq!(rep.gc_untagged, untagged(2, 3, 40 + 50 + 60));
        // Blob 5 is held by untagged manifests of both repositories: charged to neither.
        let by: Vec<(&str, u64, u64)> = rep
            .repositories
            .iter()
            .map(|r| (r.name.as_str(), r.untagged_manifests, r.untagged_bytes))
            .collect();
        assert_eq!(by, vec![("other", 1, 60), ("app", 1, 40)]);
        assert_eq!(
            rep.uploads,
            Uploads {
                count: 2,
                bytes: 8,
                oldest: Some(50)
            }
        );
        assert!(rep.breaks.is_empty());
    }

    #[test]
    fn delete_untagged_breaks_tagged_lists() {
        let mut f = table(6);
        let child_a = rev(&mut f, 2, false, &[4], &[]);
        let child_b = rev(&mut f, 3, false, &[5], &[]);
        let list = rev(&mut f, 1, true, &[2, 3], &["stable", "latest"]);
        f.repos.push(RepoFacts {
            name: "multi".into(),
            revisions: vec![list, child_a, child_b],
            uploads: vec![],
        });
        let rep = analyse(&f);
        assert_eq!(rep.gc, deleted(1, 60));
        // The children's manifest blobs stay (the list marks them), their layers go.
        assert_eq!(rep.gc_untagged, untagged(2, 3, 40 + 50 + 60));
        assert_eq!(
            rep.breaks,
            vec![Break {
                repository: "multi".into(),
                tags: vec!["latest".into(), "stable".into()],
                manifests: 2
            }]
        );
    }

    #[test]
    fn unreadable_and_linkless_revisions_mark_only_what_is_known() {
        let mut f = table(3);
        // Content unknown (unreadable): marks its own digest only.
        let c = ix(&f, 1);
        f.repos.push(RepoFacts {
            name: "r".into(),
            revisions: vec![Revision {
                digest: Some(c),
                content: c,
                tags: vec!["t".into()],
            }],
            uploads: vec![],
        });
        let rep = analyse(&f);
        assert_eq!(rep.unreadable_manifests, 1);
        assert_eq!(rep.gc, deleted(2, 50));
    }
}
