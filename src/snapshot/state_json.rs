//! The snapshot's on-disk form, the state file's contents: versioned JSON,
//! `{"version": 1, "timestamp": .., "repositories": [..], "blobs": {"<digest>": size, ..}}`,
//! where each repository is `{"name", "tags": [..] | null, "stale_since"?}` and each tag
//! `{"name", "digest", "media_type", "platforms"?, "blobs": [digests], "created"?}`; plus
//! `"projects": [..]` (GitLab's, as [`Project`]) when the crawl read them, which older
//! readers skip.
//!
//! Both directions stream: writing serialises straight from the [`Snapshot`], reading
//! deserialises straight into it (digests interned as they are read), so neither ever holds
//! a second copy of a large registry. Pure: bytes in, bytes out; no files.

use std::fmt;
use std::io::{Read, Write};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Builder, Platform, Project, Repository, Snapshot, StateError, Tag};

/// Version of the on-disk form written by [`Snapshot::write_state_json`].
pub(crate) const STATE_VERSION: u32 = 1;

impl Snapshot {
    /// Writes the on-disk form to `w` as it is serialised.
    pub(crate) fn write_state_json(&self, w: impl Write) -> serde_json::Result<()> {
        serde_json::to_writer(w, &StateView(self))
    }

    /// The on-disk form as bytes (for small snapshots and tests).
    pub fn to_state_json(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Serialising plain data with string keys into a Vec cannot fail.
        let _ = self.write_state_json(&mut out);
        out
    }

    /// Reads the on-disk form, refusing other versions.
    pub fn from_state_json(bytes: &[u8]) -> Result<Snapshot, StateError> {
        Snapshot::read_state_json(bytes)
    }

    /// Reads the on-disk form from `r` as it arrives (no copy of the file in memory),
    /// refusing other versions.
    pub(crate) fn read_state_json(r: impl Read) -> Result<Snapshot, StateError> {
        let mut de = serde_json::Deserializer::from_reader(r);
        let mut builder = Builder::default();
        let mut version = None;
        let mut projects = Vec::new();
        let parsed = FileSeed {
            builder: &mut builder,
            version: &mut version,
            projects: &mut projects,
        }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
        match (version, parsed) {
            (Some(v), _) if v != STATE_VERSION => Err(StateError::Version(v)),
            (_, Err(e)) => Err(StateError::Json(e)),
            (None, Ok(_)) => Err(StateError::Json(de::Error::missing_field("version"))),
            (Some(_), Ok((timestamp, repos))) => builder
                .finish(timestamp, repos)
                .map(|snap| snap.with_projects(projects)),
        }
    }
}

// ---- writing ----

struct StateView<'a>(&'a Snapshot);

impl Serialize for StateView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let snap = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("version", &STATE_VERSION)?;
        m.serialize_entry("timestamp", &snap.timestamp)?;
        m.serialize_entry("repositories", &ReposView(snap))?;
        m.serialize_entry("blobs", &BlobsView(snap))?;
        if !snap.projects.is_empty() {
            m.serialize_entry("projects", &snap.projects)?;
        }
        m.end()
    }
}

struct ReposView<'a>(&'a Snapshot);

impl Serialize for ReposView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let snap = self.0;
        let mut seq = s.serialize_seq(Some(snap.repositories.len()))?;
        for repo in &snap.repositories {
            seq.serialize_element(&RepoView { snap, repo })?;
        }
        seq.end()
    }
}

struct RepoView<'a> {
    snap: &'a Snapshot,
    repo: &'a Repository,
}

impl Serialize for RepoView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Self { snap, repo } = *self;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", &repo.name)?;
        match &repo.tags {
            None => m.serialize_entry("tags", &())?,
            Some(tags) => m.serialize_entry("tags", &TagsView { snap, tags })?,
        }
        if let Some(t) = repo.stale_since {
            m.serialize_entry("stale_since", &t)?;
        }
        m.end()
    }
}

struct TagsView<'a> {
    snap: &'a Snapshot,
    tags: &'a [Tag],
}

impl Serialize for TagsView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.tags.len()))?;
        for tag in self.tags {
            seq.serialize_element(&TagView {
                snap: self.snap,
                tag,
            })?;
        }
        seq.end()
    }
}

struct TagView<'a> {
    snap: &'a Snapshot,
    tag: &'a Tag,
}

impl Serialize for TagView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Self { snap, tag } = *self;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", &tag.name)?;
        m.serialize_entry("digest", &tag.digest)?;
        m.serialize_entry("media_type", &*tag.media_type)?;
        if !tag.platforms.is_empty() {
            m.serialize_entry("platforms", &tag.platforms)?;
        }
        m.serialize_entry(
            "blobs",
            &BlobList {
                snap,
                ids: &tag.blobs,
            },
        )?;
        if let Some(c) = tag.created {
            m.serialize_entry("created", &c)?;
        }
        m.end()
    }
}

struct BlobList<'a> {
    snap: &'a Snapshot,
    ids: &'a [u32],
}

impl Serialize for BlobList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.ids.len()))?;
        for &id in self.ids {
            seq.serialize_element(&self.snap.blobs[id as usize].digest)?;
        }
        seq.end()
    }
}

struct BlobsView<'a>(&'a Snapshot);

impl Serialize for BlobsView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.blobs.len()))?;
        for b in &self.0.blobs {
            m.serialize_entry(&b.digest, &b.size)?;
        }
        m.end()
    }
}

// ---- reading ----

/// Hands a string to `F` without allocating when the input has it verbatim.
struct WithStr<F>(F);

impl<'de, T, F: FnOnce(&str) -> T> DeserializeSeed<'de> for WithStr<F> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        struct V<F>(F);
        impl<T, F: FnOnce(&str) -> T> Visitor<'_> for V<F> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
                Ok((self.0)(s))
            }
        }
        d.deserialize_str(V(self.0))
    }
}

/// The whole file: timestamp and repositories (blob sizes go into the builder). The version
/// is reported as soon as it is read; a version other than ours stops the parse.
struct FileSeed<'b> {
    builder: &'b mut Builder,
    version: &'b mut Option<u32>,
    /// GitLab's projects, when the file has them (older files do not).
    projects: &'b mut Vec<Project>,
}

impl<'de> DeserializeSeed<'de> for FileSeed<'_> {
    type Value = (f64, Vec<Repository>);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FileSeed<'_> {
    type Value = (f64, Vec<Repository>);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a state file object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut timestamp = None;
        let mut repos = None;
        while let Some(key) = map.next_key::<Key>()? {
            match key.0.as_str() {
                "version" => {
                    let v: u32 = map.next_value()?;
                    *self.version = Some(v);
                    if v != STATE_VERSION {
                        return Err(de::Error::custom("unsupported version"));
                    }
                }
                "timestamp" => timestamp = Some(map.next_value::<f64>()?),
                "repositories" => repos = Some(map.next_value_seed(ReposSeed(&mut *self.builder))?),
                "blobs" => map.next_value_seed(SizesSeed(&mut *self.builder))?,
                "projects" => *self.projects = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok((
            timestamp.ok_or_else(|| de::Error::missing_field("timestamp"))?,
            repos.ok_or_else(|| de::Error::missing_field("repositories"))?,
        ))
    }
}

/// An object key (short; allocating it is fine).
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        WithStr(|s: &str| Key(s.to_string())).deserialize(d)
    }
}

struct ReposSeed<'b>(&'b mut Builder);

impl<'de> DeserializeSeed<'de> for ReposSeed<'_> {
    type Value = Vec<Repository>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ReposSeed<'_> {
    type Value = Vec<Repository>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of repositories")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(repo) = seq.next_element_seed(RepoSeed(&mut *self.0))? {
            out.push(repo);
        }
        Ok(out)
    }
}

struct RepoSeed<'b>(&'b mut Builder);

impl<'de> DeserializeSeed<'de> for RepoSeed<'_> {
    type Value = Repository;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RepoSeed<'_> {
    type Value = Repository;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a repository object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut name, mut tags, mut stale_since) = (None, None, None);
        while let Some(key) = map.next_key::<Key>()? {
            match key.0.as_str() {
                "name" => name = Some(map.next_value::<String>()?),
                "tags" => tags = Some(map.next_value_seed(OptTagsSeed(&mut *self.0))?),
                "stale_since" => stale_since = map.next_value::<Option<f64>>()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Repository {
            name: name.ok_or_else(|| de::Error::missing_field("name"))?,
            tags: tags.ok_or_else(|| de::Error::missing_field("tags"))?,
            stale_since,
            size: None,
            disk_size: None,
            exclusive_size: None,
        })
    }
}

/// `null` or a list of tags.
struct OptTagsSeed<'b>(&'b mut Builder);

impl<'de> DeserializeSeed<'de> for OptTagsSeed<'_> {
    type Value = Option<Vec<Tag>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for OptTagsSeed<'_> {
    type Value = Option<Vec<Tag>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("null or a list of tags")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(TagsSeed(self.0)).map(Some)
    }
}

struct TagsSeed<'b>(&'b mut Builder);

impl<'de> Visitor<'de> for TagsSeed<'_> {
    type Value = Vec<Tag>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of tags")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(tag) = seq.next_element_seed(TagSeed(&mut *self.0))? {
            out.push(tag);
        }
        Ok(out)
    }
}

struct TagSeed<'b>(&'b mut Builder);

impl<'de> DeserializeSeed<'de> for TagSeed<'_> {
    type Value = Tag;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TagSeed<'_> {
    type Value = Tag;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a tag object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let b = self.0;
        let mut name = None;
        let mut digest = None;
        let mut media_type = None;
        let mut platforms: Vec<Platform> = Vec::new();
        let mut blobs = None;
        let mut created = None;
        while let Some(key) = map.next_key::<Key>()? {
            match key.0.as_str() {
                "name" => name = Some(map.next_value::<String>()?),
                "digest" => digest = Some(map.next_value_seed(WithStr(super::Digest::parse))?),
                "media_type" => {
                    media_type = Some(map.next_value_seed(WithStr(|s: &str| b.media_type(s)))?)
                }
                "platforms" => platforms = map.next_value()?,
                "blobs" => blobs = Some(map.next_value_seed(BlobIdsSeed(&mut *b))?),
                "created" => created = map.next_value::<Option<i64>>()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Tag {
            name: name.ok_or_else(|| de::Error::missing_field("name"))?,
            digest: digest.unwrap_or_default(),
            media_type: media_type.unwrap_or_else(|| b.media_type("")),
            platforms,
            blobs: blobs.ok_or_else(|| de::Error::missing_field("blobs"))?,
            size: 0,
            disk_size: 0,
            exclusive_size: 0,
            created,
        })
    }
}

/// A tag's list of blob digests, interned to ids as they are read.
struct BlobIdsSeed<'b>(&'b mut Builder);

impl<'de> DeserializeSeed<'de> for BlobIdsSeed<'_> {
    type Value = Vec<u32>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for BlobIdsSeed<'_> {
    type Value = Vec<u32>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of blob digests")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut ids = Vec::with_capacity(seq.size_hint().unwrap_or(8));
        while let Some(id) = seq.next_element_seed(WithStr(|s: &str| self.0.blob(s)))? {
            ids.push(id);
        }
        Ok(ids)
    }
}

/// The `blobs` object: digest → size.
struct SizesSeed<'b>(&'b mut Builder);

impl<'de> DeserializeSeed<'de> for SizesSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SizesSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of blob sizes")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(digest) = map.next_key_seed(WithStr(super::Digest::parse))? {
            let size: u64 = map.next_value()?;
            self.0.size_of(digest, size);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::fixtures::repo;
    use crate::snapshot::{RepositoryInput, SnapshotInput, TagInput};
    use serde_json::json;

    fn d(n: u64) -> String {
        format!("sha256:{n:064x}")
    }

    fn input() -> SnapshotInput {
        let tag = |name: &str, digest: String, blobs: Vec<String>| TagInput {
            name: name.into(),
            digest,
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            platforms: vec![],
            blobs,
            created: Some(1_700_000_000),
        };
        SnapshotInput {
            timestamp: 1_795_438_748.159_703,
            repositories: vec![
                RepositoryInput {
                    stale_since: Some(5.0),
                    ..repo(
                        "z/app",
                        Some(vec![
                            tag("v2", d(9), vec![d(1), d(2), "sha256:short".into()]),
                            tag("v1", d(8), vec![d(1), d(3)]),
                            tag("v1", d(7), vec![d(4)]),
                        ]),
                    )
                },
                repo(
                    "a/b\"\\é",
                    Some(vec![tag("latest", d(8), vec![d(3), d(1)])]),
                ),
                repo("never", None),
            ],
            blobs: [
                (d(1), 10),
                (d(2), 20),
                (d(3), 30),
                (d(4), 40),
                ("sha256:short".into(), 1),
            ]
            .into_iter()
            .chain([(d(99), 5)])
            .collect(),
        }
    }

    #[test]
    fn streaming_read_equals_build_and_round_trips() {
        let built = Snapshot::build(input()).unwrap();
        let bytes = built.to_state_json();
        assert_eq!(Snapshot::from_state_json(&bytes).unwrap(), built);
        // The same input written by the old writer (serde derive, blobs as a map in any
        // order, unknown keys) reads the same.
        let mut v = serde_json::to_value(input()).unwrap();
        v["version"] = json!(1);
        v["extra"] = json!({"ignored": [1, 2]});
        let old = serde_json::to_vec(&v).unwrap();
        assert_eq!(Snapshot::from_state_json(&old).unwrap(), built);
    }

    #[test]
    fn projects_round_trip() {
        let project = Project {
            id: 3,
            path: "group".into(),
            web_url: "https://gitlab.example/group".into(),
            policy: Some(crate::snapshot::ExpirationPolicy::gitlab_default()),
            protected: vec!["^v.*".into()],
        };
        let built = Snapshot::build(input())
            .unwrap()
            .with_projects(vec![project]);
        let back = Snapshot::from_state_json(&built.to_state_json()).unwrap();
        assert_eq!(back, built);
        assert!(!back.projects.is_empty());
        // Without projects, the file has no such key (as before they existed).
        let plain = Snapshot::build(input()).unwrap().to_state_json();
        assert!(!String::from_utf8(plain).unwrap().contains("\"projects\""));
    }

    #[test]
    fn sizes_before_repositories_are_found() {
        let built = Snapshot::build(input()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&built.to_state_json()).unwrap();
        let text = format!(
            "{{\"blobs\":{},\"version\":1,\"repositories\":{},\"timestamp\":{}}}",
            v["blobs"], v["repositories"], v["timestamp"]
        );
        assert_eq!(Snapshot::from_state_json(text.as_bytes()).unwrap(), built);
    }

    #[test]
    fn broken_files_are_errors_not_panics() {
        let missing = json!({"version": 1, "timestamp": 1.0, "blobs": {},
            "repositories": [{"name": "r", "tags": [{"name": "t", "blobs": [d(1)]}]}]});
        let e = Snapshot::from_state_json(&serde_json::to_vec(&missing).unwrap()).unwrap_err();
        assert!(matches!(e, StateError::MissingBlob { .. }), "{e}");
        for bad in [
            &b"{\"version\":1,\"timestamp\":1.0,\"repositories\":[{\"name\":1}]}"[..],
            b"{\"version\":1,\"timestamp\":1.0,\"repositories\":[{\"name\":\"r\",\"tags\":[{\"name\":\"t\",\"blobs\":[7]}]}]}",
            b"{\"version\":1,\"repositories\":[]}",
            b"{\"version\":1,\"timestamp\":1.0,\"repositories\":[]} trailing",
            b"[1]",
        ] {
            assert!(
                matches!(Snapshot::from_state_json(bad), Err(StateError::Json(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
