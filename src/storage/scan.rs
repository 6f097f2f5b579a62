//! One scan of a storage through a [`Store`]: lists the blobs and the repositories' layout
//! (`_layers`, `_manifests/revisions`, `_manifests/tags/*/current/link`, `_uploads`), reads
//! the link files, and reads a manifest's bytes only when the crawl's snapshot does not
//! already say what it references ([`Known`]). It then hands plain facts to [`super::mark`].
//!
//! It owns the meaning of the layout's paths and Distribution's enumeration rules (a
//! repository is a directory holding `_layers`; a revision counts only when its link is at
//! the digest's own place and its blob exists). Bad input is a [`Warning`] naming the path and
//! the fix, and the scan goes on; only an unlistable `blobs/` or `repositories/` fails it.
//! It never writes.

use std::collections::HashMap;

use super::mark::{self, BlobTable, Content, Facts, RepoFacts, Report, Revision, Upload};
use super::{Store, StoreError, Warning};
use crate::snapshot::{Digest, Snapshot, Tag};

/// What the crawl already read: image manifest digest → its tag in the snapshot, whose blobs
/// are the manifest's config and layers. Borrows the snapshot: nothing is copied.
#[derive(Debug, Default, Clone)]
pub struct Known<'a> {
    snap: Option<&'a Snapshot>,
    by_digest: HashMap<&'a Digest, &'a Tag>,
}

impl<'a> Known<'a> {
    /// The tagged image manifests of a snapshot (Docker schema 2 and OCI image manifests:
    /// their blobs are exactly Distribution's `References()`). Lists and indexes are not
    /// known: the snapshot does not keep their children's digests.
    pub fn from_snapshot(s: &'a Snapshot) -> Known<'a> {
        let mut by_digest = HashMap::new();
        for t in s
            .repositories
            .iter()
            .filter_map(|r| r.tags.as_ref())
            .flatten()
        {
            if matches!(&*t.media_type, mark::DOCKER_V2 | mark::OCI_MANIFEST) {
                by_digest.entry(&t.digest).or_insert(t);
            }
        }
        Known {
            snap: Some(s),
            by_digest,
        }
    }

    fn get(&self, d: &Digest) -> Option<Vec<Digest>> {
        let (snap, tag) = (self.snap?, self.by_digest.get(d)?);
        Some(
            tag.blobs
                .iter()
                .filter_map(|&b| snap.blobs.get(b as usize))
                .map(|b| b.digest.clone())
                .collect(),
        )
    }

    pub fn len(&self) -> usize {
        self.by_digest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }
}

/// The scan's limits (config keys of `[storage]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A manifest blob larger than this is not read (a warning).
    pub max_manifest_size: u64,
    /// At most this many warnings are kept per scan (the rest only counted).
    pub max_warnings: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_manifest_size: 4 << 20,
            max_warnings: 100,
        }
    }
}

/// What one scan found.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    pub report: Report,
    /// The first [`Limits::max_warnings`] warnings.
    pub warnings: Vec<Warning>,
    pub warning_count: u64,
    /// Manifests read from storage / taken from the crawl's snapshot.
    pub manifests_read: u64,
    pub manifests_known: u64,
}

/// A link file's size limit: a digest and some slack.
const MAX_LINK: u64 = 1024;

struct Warnings<'a> {
    limits: &'a Limits,
    kept: Vec<Warning>,
    count: u64,
}

impl Warnings<'_> {
    fn push(&mut self, w: Warning) {
        self.count += 1;
        if self.kept.len() < self.limits.max_warnings {
            self.kept.push(w);
        }
    }
    fn add(&mut self, path: &str, problem: impl Into<String>, fix: &str) {
        self.push(Warning {
            path: path.to_string(),
            problem: problem.into(),
            fix: fix.to_string(),
        });
    }
}

/// A repository's layout as listed.
#[derive(Default)]
struct Listed {
    has_layers: bool,
    /// `<algo>/<hex>` of each `_manifests/revisions/<algo>/<hex>/link`.
    revisions: Vec<String>,
    /// Names of tags with a `current/link`.
    tags: Vec<String>,
    /// Upload id → (bytes, has `startedat`).
    uploads: HashMap<String, (u64, bool)>,
}

/// Scans `store`. `Err` when the blobs or repositories cannot be listed at all.
pub fn scan(store: &dyn Store, known: &Known<'_>, limits: &Limits) -> Result<Scan, StoreError> {
    let mut w = Warnings {
        limits,
        kept: Vec::new(),
        count: 0,
    };
    let blobs = list_blobs(store, &mut w)?;
    let mut listed = list_repositories(store, &mut w)?;
    match store.pending_uploads("repositories/") {
        Ok(ups) => {
            for (path, started, bytes) in ups {
                if let Some((repo, Part::Upload { id, .. })) = classify(&path) {
                    let l = listed.entry(repo.to_string()).or_default();
                    // Listed already through its `startedat` object: add the parts' bytes.
                    match l.uploads.get_mut(id) {
                        Some(u) => u.0 = u.0.saturating_add(bytes),
                        None => {
                            l.uploads.insert(format!("{id}@{started}"), (bytes, false));
                        }
                    }
                }
            }
        }
        Err(e) => w.add("repositories/", e.to_string(), "uploads are not counted"),
    }
    let mut names: Vec<String> = listed.keys().cloned().collect();
    names.sort();
    let mut facts = Facts {
        blobs,
        ..Facts::default()
    };
    let mut out = Scan::default();
    for name in names {
        let Some(l) = listed.remove(&name) else {
            continue;
        };
        if !l.has_layers {
            // Distribution's catalog only enumerates directories holding `_layers`.
            continue;
        }
        let repo = read_repository(store, &facts.blobs, name, l, &mut w);
        facts.repos.push(repo);
    }
    read_contents(store, known, limits, &mut facts, &mut out, &mut w);
    out.report = mark::analyse(&facts);
    out.warnings = w.kept;
    out.warning_count = w.count;
    Ok(out)
}

/// What `--check-config` reports: the blobs it sees and the first problem met.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Census {
    pub blobs: u64,
    pub bytes: u64,
    pub warnings: u64,
    pub first_warning: Option<Warning>,
}

/// Counts the blobs of `store` (a listing only: nothing is read).
pub fn census(store: &dyn Store) -> Result<Census, StoreError> {
    let mut c = Census::default();
    let mut warnings = (0u64, None);
    store.blob_data(
        &mut |_, size| {
            c.blobs += 1;
            c.bytes = c.bytes.saturating_add(size);
        },
        &mut |w| {
            warnings.0 += 1;
            warnings.1.get_or_insert(w);
        },
    )?;
    (c.warnings, c.first_warning) = warnings;
    Ok(c)
}

/// Distribution's `digestFromPath`: `.../<algo>/<xx>/<hex>/data` or `.../<algo>/<hex>/data`.
fn digest_from_path(path: &str) -> Option<Digest> {
    let dir = path.strip_suffix("/data")?;
    let mut parts = dir.rsplit('/');
    let hex = parts.next()?;
    let next = parts.next()?;
    let algo = if hex.len() >= 2 && next == &hex[..2] {
        parts.next()?
    } else {
        next
    };
    let d = Digest::parse(&format!("{algo}:{hex}"));
    valid(&d).then_some(d)
}

/// A digest Distribution accepts (sha256 in lower-case hex; other algorithms by shape).
fn valid(d: &Digest) -> bool {
    match d {
        Digest::Sha256(_) => true,
        Digest::Other(s) => match s.split_once(':') {
            Some(("sha384", h)) => h.len() == 96 && h.bytes().all(|c| c.is_ascii_hexdigit()),
            Some(("sha512", h)) => h.len() == 128 && h.bytes().all(|c| c.is_ascii_hexdigit()),
            _ => false,
        },
    }
}

/// Where a digest's `data` lives, below the v2 root.
fn blob_path(d: &Digest) -> String {
    let text = d.to_string();
    let (algo, hex) = text.split_once(':').unwrap_or(("", &text));
    let xx = hex.get(..2).unwrap_or(hex);
    format!("blobs/{algo}/{xx}/{hex}/data")
}

fn list_blobs(store: &dyn Store, w: &mut Warnings) -> Result<BlobTable, StoreError> {
    let mut blobs: Vec<(Digest, u64)> = Vec::new();
    let mut bad: Vec<String> = Vec::new();
    store.blob_data(
        &mut |path, size| match digest_from_path(path) {
            Some(d) => blobs.push((d, size)),
            None => bad.push(path.to_string()),
        },
        &mut |warning| w.push(warning),
    )?;
    for p in bad {
        w.add(
            &p,
            "not at a digest's place (garbage-collect stops here: \"invalid digest\")",
            "move it out of the blobs directory",
        );
    }
    Ok(BlobTable::new(blobs))
}

/// What a path below `repositories/` is.
enum Part<'a> {
    Layers,
    Revision(&'a str),
    Tag(&'a str),
    Upload { id: &'a str, file: &'a str },
    Other,
}

/// Splits `repositories/<repo>/_x/...` into the repository name and the part.
fn classify(path: &str) -> Option<(&str, Part<'_>)> {
    let rest = path.strip_prefix("repositories/")?;
    let at = rest.split('/').scan(0usize, |pos, c| {
        let start = *pos;
        *pos += c.len() + 1;
        Some((start, c))
    });
    let (start, _) = at.into_iter().find(|(_, c)| c.starts_with('_'))?;
    if start == 0 {
        return None;
    }
    let repo = &rest[..start - 1];
    let tail = &rest[start..];
    let part = if tail.starts_with("_layers/") {
        Part::Layers
    } else if let Some(r) = tail.strip_prefix("_manifests/revisions/") {
        match r.strip_suffix("/link") {
            Some(mid) if mid.matches('/').count() == 1 => Part::Revision(mid),
            _ => Part::Other,
        }
    } else if let Some(t) = tail.strip_prefix("_manifests/tags/") {
        match t.strip_suffix("/current/link") {
            Some(tag) if !tag.contains('/') => Part::Tag(tag),
            _ => Part::Other,
        }
    } else if let Some(u) = tail.strip_prefix("_uploads/") {
        match u.split_once('/') {
            Some((id, file)) => Part::Upload { id, file },
            None => Part::Other,
        }
    } else {
        Part::Other
    };
    Some((repo, part))
}

/// Directories whose contents the scan ignores: `_layers` (only its existence matters, as
/// for Distribution's catalog) and the tags' history (`tags/<tag>/index`).
fn prune(dir: &str) -> bool {
    dir.ends_with("/_layers") || (dir.ends_with("/index") && dir.contains("/_manifests/tags/"))
}

fn list_repositories(
    store: &dyn Store,
    w: &mut Warnings,
) -> Result<HashMap<String, Listed>, StoreError> {
    let mut listed: HashMap<String, Listed> = HashMap::new();
    let walked = store.walk(
        "repositories/",
        &prune,
        &mut |path, size| {
            let Some((repo, part)) = classify(path) else {
                return;
            };
            let l = match listed.get_mut(repo) {
                Some(l) => l,
                None => listed.entry(repo.to_string()).or_default(),
            };
            match part {
                Part::Layers => l.has_layers = true,
                Part::Revision(mid) => l.revisions.push(mid.to_string()),
                Part::Tag(t) => l.tags.push(t.to_string()),
                Part::Upload { id, file } => {
                    let u = l.uploads.entry(id.to_string()).or_default();
                    u.0 = u.0.saturating_add(size);
                    u.1 |= file == "startedat";
                }
                Part::Other => {}
            }
        },
        &mut |warning| w.push(warning),
    );
    match walked {
        // No repository yet: a fresh registry.
        Err(StoreError::NotFound(_)) => Ok(listed),
        Err(e) => Err(e),
        Ok(()) => Ok(listed),
    }
}

/// Reads a link file's digest; a warning when it is not one.
fn read_link(store: &dyn Store, path: &str, w: &mut Warnings) -> Option<Digest> {
    match store.read(path, MAX_LINK) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let d = Digest::parse(text.trim());
            if valid(&d) {
                Some(d)
            } else {
                w.add(
                    path,
                    format!(
                        "holds {:?}, not a digest (garbage-collect stops here)",
                        text
                    ),
                    "restore the link from a backup or delete its directory",
                );
                None
            }
        }
        Err(StoreError::NotFound(_)) => None,
        Err(e) => {
            w.add(path, e.to_string(), "make the link readable");
            None
        }
    }
}

fn read_repository(
    store: &dyn Store,
    blobs: &BlobTable,
    name: String,
    l: Listed,
    w: &mut Warnings,
) -> RepoFacts {
    let base = format!("repositories/{name}/_manifests");
    // The tags naming each digest (Distribution's tag lookup reads every current link).
    let mut tags: HashMap<Digest, Vec<String>> = HashMap::new();
    for t in l.tags {
        if let Some(d) = read_link(store, &format!("{base}/tags/{t}/current/link"), w) {
            tags.entry(d).or_default().push(t);
        }
    }
    let mut links: HashMap<String, Option<Digest>> = HashMap::new();
    for mid in &l.revisions {
        let path = format!("{base}/revisions/{mid}/link");
        links.insert(mid.clone(), read_link(store, &path, w));
    }
    let mut revisions = Vec::new();
    for mid in &l.revisions {
        let Some(Some(d)) = links.get(mid) else {
            continue;
        };
        // The enumerator stats the digest through its own link, then its blob.
        let own = d.to_string().replacen(':', "/", 1);
        let Some(Some(target)) = links.get(&own) else {
            continue;
        };
        let Some(content) = blobs.index(target) else {
            w.add(
                &format!("{base}/revisions/{mid}/link"),
                format!(
                    "points at {target}, which is not in the blob store (garbage-collect skips it)"
                ),
                "delete the revision's directory, or push the image again",
            );
            continue;
        };
        revisions.push(Revision {
            digest: blobs.index(d),
            content,
            tags: tags.get(d).cloned().unwrap_or_default(),
        });
    }
    let mut uploads = Vec::new();
    let mut ids: Vec<(String, (u64, bool))> = l.uploads.into_iter().collect();
    ids.sort();
    for (id, (bytes, has_started)) in ids {
        let started = if has_started {
            let p = format!("repositories/{name}/_uploads/{id}/startedat");
            store
                .read(&p, MAX_LINK)
                .ok()
                .and_then(|b| crate::snapshot::time::parse_rfc3339(&String::from_utf8_lossy(&b)))
        } else {
            // An S3 multipart upload: `<uuid>@<initiated>` (see `scan`).
            id.rsplit_once('@').and_then(|(_, s)| s.parse().ok())
        };
        uploads.push(Upload { bytes, started });
    }
    RepoFacts {
        name,
        revisions,
        uploads,
    }
}

/// Fills `facts.contents` for every revision's content blob.
fn read_contents(
    store: &dyn Store,
    known: &Known<'_>,
    limits: &Limits,
    facts: &mut Facts,
    out: &mut Scan,
    w: &mut Warnings,
) {
    let mut wanted: Vec<u32> = facts
        .repos
        .iter()
        .flat_map(|r| r.revisions.iter().map(|v| v.content))
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    for c in wanted {
        let digest = facts.blobs.digest(c);
        let refs = match known.get(digest) {
            Some(digests) => {
                out.manifests_known += 1;
                mark::Refs {
                    list: false,
                    digests,
                }
            }
            None => {
                out.manifests_read += 1;
                let path = blob_path(digest);
                let parsed = store
                    .read(&path, limits.max_manifest_size)
                    .map_err(|e| e.to_string())
                    .and_then(|b| mark::references(&b));
                match parsed {
                    Ok(r) => r,
                    Err(e) => {
                        w.add(
                            &path,
                            format!("manifest {digest}: {e}; garbage-collect stops at it, so the figures assume it references nothing"),
                            "delete the revisions naming it (DELETE /v2/<repository>/manifests/<digest>) or restore the blob",
                        );
                        continue;
                    }
                }
            }
        };
        let blobs = refs
            .digests
            .iter()
            .filter_map(|d| facts.blobs.index(d))
            .collect();
        facts.contents.insert(
            c,
            Content {
                list: refs.list,
                blobs,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_from_blob_paths() {
        let hex = "ab".repeat(32);
        let d = digest_from_path(&format!("blobs/sha256/ab/{hex}/data")).unwrap();
        assert_eq!(d.to_string(), format!("sha256:{hex}"));
        assert_eq!(blob_path(&d), format!("blobs/sha256/ab/{hex}/data"));
        assert!(digest_from_path(&format!("blobs/sha256/ab/{hex}/other")).is_none());
        assert!(digest_from_path("blobs/sha256/ab/abc/data").is_none());
        assert!(digest_from_path(&format!("blobs/md5/ab/{hex}/data")).is_none());
    }

    #[test]
    fn layout_paths() {
        fn c(p: &str) -> Option<(String, Part<'_>)> {
            classify(p).map(|(r, part)| (r.to_string(), part))
        }
        assert!(
            matches!(c("repositories/a/b/_layers/sha256/x/link"), Some((r, Part::Layers)) if r == "a/b")
        );
        assert!(matches!(
            c("repositories/a/_manifests/revisions/sha256/ff/link"),
            Some((r, Part::Revision("sha256/ff"))) if r == "a"
        ));
        assert!(matches!(
            c("repositories/a/_manifests/tags/v1/current/link"),
            Some((_, Part::Tag("v1")))
        ));
        assert!(matches!(
            c("repositories/a/_manifests/tags/v1/index/sha256/ff/link"),
            Some((_, Part::Other))
        ));
        assert!(matches!(
            c("repositories/g/a/_uploads/u1/hashstates/sha256/0"),
            Some((r, Part::Upload { id: "u1", file: "hashstates/sha256/0" })) if r == "g/a"
        ));
        assert!(c("repositories/_x/y").is_none());
        assert!(c("repositories/a/b").is_none());
    }
}
