//! Harness of the collector's tests: a registry configuration for the crawler, the standard
//! content that the tests push (to the real registry or the fake one) with its ground truth
//! computed independently of the crawler, and a comparison of snapshots that names every
//! difference. It starts nothing itself: the registries are in `fake_registry` and
//! `real_registry`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use gitlab_registry_usage_rest::config;
use gitlab_registry_usage_rest::registry::status::CollectorStatus;
use gitlab_registry_usage_rest::registry::{spawn_collector_with, CrawlOptions};
use gitlab_registry_usage_rest::snapshot::{
    Platform, RepositoryInput, Snapshot, SnapshotInput, TagInput,
};

use super::fake_registry::{
    self as fake, blob_bytes, image_manifest, index_manifest, Child, Desc, DOCKER_CONFIG,
    DOCKER_LAYER, DOCKER_LIST, DOCKER_V2, OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST,
};

/// The collector's registry settings for a registry at `url` (GitLab fallback unused).
pub fn registry_config(url: &str, user: &str, token: &str) -> config::Registry {
    config::Registry {
        gitlab_base_url: "http://127.0.0.1:9/".into(),
        registry_base_url: url.into(),
        username: user.into(),
        access_token: token.into(),
        update_interval: Duration::from_secs(3600),
        concurrency: 4,
        timeout: Duration::from_secs(5),
        ca_file: None,
        trusted_realms: Vec::new(),
        // GitLab's project API is not part of these crawls (tests/projects.rs reads it).
        projects: gitlab_registry_usage_rest::registry::ProjectsMode::Off,
        crawl_timeout: Duration::from_secs(600),
        state_file: PathBuf::new(),
    }
}

/// A collector's `publish` that sends each snapshot into `tx`.
pub fn into_channel(
    tx: crossbeam_channel::Sender<std::sync::Arc<Snapshot>>,
) -> impl Fn(std::sync::Arc<Snapshot>) + Send + 'static {
    move |s| {
        let _ = tx.send(s);
    }
}

/// A collector thread on `cfg` with [`test_options`] and no previous snapshot: its handle,
/// the snapshots it publishes, and the sender that stops it.
pub fn start_collector(
    cfg: config::Registry,
    status: Arc<CollectorStatus>,
) -> (JoinHandle<()>, Receiver<Arc<Snapshot>>, Sender<()>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(1);
    let handle =
        spawn_collector_with(cfg, test_options(), None, into_channel(tx), status, stop_rx).unwrap();
    (handle, rx, stop_tx)
}

/// A fresh status for a collector under test.
pub fn new_status() -> std::sync::Arc<gitlab_registry_usage_rest::registry::status::CollectorStatus>
{
    std::sync::Arc::new(gitlab_registry_usage_rest::registry::status::CollectorStatus::new(true))
}

/// Small pages and token batches, quick retries: every code path in a small registry.
pub fn test_options() -> CrawlOptions {
    CrawlOptions {
        page_size: 5,
        scopes_per_token: 4,
        max_attempts: 3,
        backoff_base: Duration::from_millis(20),
        backoff_cap: Duration::from_millis(100),
        retry_after_cap: Duration::from_secs(5),
        progress_every: Duration::from_millis(200),
        panic_at: None,
    }
}

// ---------------------------------------------------------------- pushing and ground truth

/// Where content goes: the real registry (bytes uploaded) or the fake one (sizes only).
pub trait Target {
    fn blob(&mut self, repo: &str, desc: &Desc, bytes: &[u8]);
    /// Stores a manifest under `reference` (a tag, or its digest); returns the digest.
    fn manifest(&mut self, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> String;
}

impl Target for fake::FakeRegistry {
    fn blob(&mut self, repo: &str, desc: &Desc, bytes: &[u8]) {
        self.add_repo(repo);
        self.add_blob_bytes(desc, bytes);
    }
    fn manifest(&mut self, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> String {
        let tag = (!reference.starts_with("sha256:")).then_some(reference);
        self.put_manifest(repo, tag, media_type, body)
    }
}

/// What the tests pushed, and so what the crawl must find.
#[derive(Default, Clone)]
pub struct Truth {
    pub repos: BTreeMap<String, BTreeMap<String, TagInput>>,
    pub sizes: HashMap<String, u64>,
    /// Image configs that tags refer to (each costs a cold crawl one GET).
    pub configs: BTreeSet<String>,
}

/// Config media types the collector reads for creation times.
pub const IMAGE_CONFIG_TYPES: [&str; 2] = [DOCKER_CONFIG, OCI_CONFIG];

/// A manifest that was pushed: its digest, type, blobs and (for an index) platforms.
#[derive(Clone, Debug)]
pub struct Pushed {
    pub digest: String,
    pub media_type: String,
    pub blobs: Vec<Desc>,
    pub platforms: Vec<Platform>,
    pub desc: Desc,
    /// The image's creation time, as its config (or newest child) says.
    pub created: Option<i64>,
}

impl Truth {
    pub fn empty_repo(&mut self, repo: &str) {
        self.repos.entry(repo.into()).or_default();
    }

    pub fn tag(&mut self, repo: &str, tag: &str, m: &Pushed) {
        let mut blobs = Vec::new();
        for b in &m.blobs {
            self.sizes.insert(b.digest.clone(), b.size);
            if IMAGE_CONFIG_TYPES.contains(&b.media_type.as_str()) {
                self.configs.insert(b.digest.clone());
            }
            if !blobs.contains(&b.digest) {
                blobs.push(b.digest.clone());
            }
        }
        self.repos.entry(repo.into()).or_default().insert(
            tag.into(),
            TagInput {
                name: tag.into(),
                digest: m.digest.clone(),
                media_type: m.media_type.clone(),
                platforms: m.platforms.clone(),
                blobs,
                created: m.created,
            },
        );
    }

    pub fn input(&self) -> SnapshotInput {
        SnapshotInput {
            timestamp: 0.0,
            repositories: self
                .repos
                .iter()
                .map(|(n, tags)| RepositoryInput {
                    name: n.clone(),
                    tags: Some(tags.values().cloned().collect()),
                    stale_since: None,
                })
                .collect(),
            blobs: self.sizes.clone(),
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot::build(self.input()).unwrap()
    }

    pub fn tag_count(&self) -> usize {
        self.repos.values().map(BTreeMap::len).sum()
    }
}

/// A blob of `size` bytes made from `seed`.
pub fn blob(media_type: &str, seed: &str, size: usize) -> (Desc, Vec<u8>) {
    let bytes = blob_bytes(seed, size);
    (Desc::of(media_type, &bytes), bytes)
}

/// An image config blob (JSON) with `created` when given.
pub fn config_blob(media_type: &str, seed: &str, created: Option<&str>) -> (Desc, Vec<u8>) {
    let bytes = fake::image_config(seed, created);
    (Desc::of(media_type, &bytes), bytes)
}

/// `created` of a config, as the collector must read it (image configs only).
pub fn created_of(config: &(Desc, Vec<u8>)) -> Option<i64> {
    if !IMAGE_CONFIG_TYPES.contains(&config.0.media_type.as_str()) {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&config.1).ok()?;
    gitlab_registry_usage_rest::snapshot::time::parse_rfc3339(v.get("created")?.as_str()?)
}

/// Pushes config + layers and an image manifest of `media_type` under `reference`.
pub fn push_image(
    t: &mut dyn Target,
    repo: &str,
    reference: &str,
    media_type: &str,
    config: &(Desc, Vec<u8>),
    layers: &[&(Desc, Vec<u8>)],
) -> Pushed {
    t.blob(repo, &config.0, &config.1);
    for l in layers {
        t.blob(repo, &l.0, &l.1);
    }
    let layer_descs: Vec<Desc> = layers.iter().map(|l| l.0.clone()).collect();
    let body = image_manifest(media_type, &config.0, &layer_descs);
    // An empty reference: pushed by digest (a child of an index).
    let reference = if reference.is_empty() {
        fake::sha256(&body)
    } else {
        reference.to_string()
    };
    let digest = t.manifest(repo, &reference, media_type, &body);
    assert_eq!(digest, fake::sha256(&body));
    let mut blobs = vec![config.0.clone()];
    blobs.extend(layer_descs);
    Pushed {
        digest,
        media_type: media_type.into(),
        blobs,
        platforms: vec![],
        desc: Desc::of(media_type, &body),
        created: created_of(config),
    }
}

/// Pushes an index / manifest list over already pushed children (by digest) under `tag`.
pub fn push_index(
    t: &mut dyn Target,
    repo: &str,
    tag: &str,
    media_type: &str,
    children: &[(&Pushed, &str, &str, Option<&str>)],
) -> Pushed {
    let list: Vec<Child> = children
        .iter()
        .map(|(p, os, arch, var)| Child {
            desc: p.desc.clone(),
            os: (*os).into(),
            architecture: (*arch).into(),
            variant: var.map(str::to_string),
        })
        .collect();
    let body = index_manifest(media_type, &list);
    let digest = t.manifest(repo, tag, media_type, &body);
    let mut blobs: Vec<Desc> = Vec::new();
    let mut platforms = Vec::new();
    for (p, os, arch, var) in children {
        let mut distinct: Vec<&Desc> = Vec::new();
        for b in &p.blobs {
            if !distinct.iter().any(|d| d.digest == b.digest) {
                distinct.push(b);
            }
            if !blobs.iter().any(|d| d.digest == b.digest) {
                blobs.push(b.clone());
            }
        }
        platforms.push(Platform {
            os: (*os).into(),
            architecture: (*arch).into(),
            variant: var.map(str::to_string),
            size: distinct.iter().fold(0u64, |n, d| n.saturating_add(d.size)),
        });
    }
    Pushed {
        digest,
        media_type: media_type.into(),
        blobs,
        platforms,
        desc: Desc::of(media_type, &body),
        created: children.iter().filter_map(|c| c.0.created).max(),
    }
}

/// The standard registry of the tests: every manifest form a real registry takes, shared
/// layers across tags and repositories, two tags on one manifest, a repository without tags,
/// and `generated` more repositories (so the catalog spans several pages).
pub fn push_standard(t: &mut dyn Target, truth: &mut Truth, generated: usize) {
    let base = blob(DOCKER_LAYER, "base-layer", 3000);
    let oci_base = blob(OCI_LAYER, "base-layer", 3000); // same bytes, so the same digest

    // Two tags on one Docker schema 2 manifest.
    let cfg = config_blob(DOCKER_CONFIG, "alpine-config", Some("2023-05-06T07:08:09Z"));
    let alpine = push_image(t, "base/alpine", "latest", DOCKER_V2, &cfg, &[&base]);
    t.manifest(
        "base/alpine",
        "3.19",
        DOCKER_V2,
        &image_manifest(DOCKER_V2, &cfg.0, std::slice::from_ref(&base.0)),
    );
    truth.tag("base/alpine", "latest", &alpine);
    truth.tag("base/alpine", "3.19", &alpine);

    // OCI images sharing the base layer; tags with dots, dashes and underscores.
    let c2 = config_blob(
        OCI_CONFIG,
        "web-config-1",
        Some("2024-01-02T03:04:05.123456789Z"),
    );
    let w1 = blob(OCI_LAYER, "web-layer-1", 1500);
    let web1 = push_image(t, "apps/web", "1.0", OCI_MANIFEST, &c2, &[&oci_base, &w1]);
    truth.tag("apps/web", "1.0", &web1);
    let c3 = config_blob(
        OCI_CONFIG,
        "web-config-2",
        Some("2024-02-03T04:05:06+02:00"),
    );
    let w2 = blob(OCI_LAYER, "web-layer-2", 1700);
    let web2 = push_image(
        t,
        "apps/web",
        "1.1-rc_2",
        OCI_MANIFEST,
        &c3,
        &[&oci_base, &w2],
    );
    truth.tag("apps/web", "1.1-rc_2", &web2);

    // A Docker manifest list: two platforms sharing the base layer; two tags on it.
    let ca = config_blob(
        DOCKER_CONFIG,
        "tool-amd64-config",
        Some("2024-03-01T00:00:00Z"),
    );
    let la = blob(DOCKER_LAYER, "tool-amd64", 900);
    let amd = push_image(t, "multi/tool", "", DOCKER_V2, &ca, &[&base, &la]);
    let cb = config_blob(
        DOCKER_CONFIG,
        "tool-arm64-config",
        Some("2024-03-01T00:10:00Z"),
    );
    let lb = blob(DOCKER_LAYER, "tool-arm64", 950);
    let arm = push_image(t, "multi/tool", "", DOCKER_V2, &cb, &[&base, &lb]);
    let list = push_index(
        t,
        "multi/tool",
        "latest",
        DOCKER_LIST,
        &[
            (&amd, "linux", "amd64", None),
            (&arm, "linux", "arm64", Some("v8")),
        ],
    );
    t.manifest(
        "multi/tool",
        "stable",
        DOCKER_LIST,
        &index_manifest(
            DOCKER_LIST,
            &[
                Child {
                    desc: amd.desc.clone(),
                    os: "linux".into(),
                    architecture: "amd64".into(),
                    variant: None,
                },
                Child {
                    desc: arm.desc.clone(),
                    os: "linux".into(),
                    architecture: "arm64".into(),
                    variant: Some("v8".into()),
                },
            ],
        ),
    );
    truth.tag("multi/tool", "latest", &list);
    truth.tag("multi/tool", "stable", &list);

    // An OCI index: two platforms plus an attestation-like artifact child.
    let c6 = config_blob(OCI_CONFIG, "oci-amd64-config", Some("2024-04-01T12:00:00Z"));
    let o1 = blob(OCI_LAYER, "oci-amd64", 800);
    let i_amd = push_image(t, "multi/oci", "", OCI_MANIFEST, &c6, &[&oci_base, &o1]);
    let c7 = config_blob(OCI_CONFIG, "oci-arm-config", Some("2024-03-31T12:00:00Z"));
    let o2 = blob(OCI_LAYER, "oci-armv7", 820);
    let i_arm = push_image(t, "multi/oci", "", OCI_MANIFEST, &c7, &[&oci_base, &o2]);
    let att_cfg = blob("application/vnd.oci.empty.v1+json", "{}", 2);
    let att = blob("application/vnd.in-toto+json", "provenance", 400);
    let i_att = push_image(t, "multi/oci", "", OCI_MANIFEST, &att_cfg, &[&att]);
    let index = push_index(
        t,
        "multi/oci",
        "v2.0.1",
        OCI_INDEX,
        &[
            (&i_amd, "linux", "amd64", None),
            (&i_arm, "linux", "arm", Some("v7")),
            (&i_att, "unknown", "unknown", None),
        ],
    );
    truth.tag("multi/oci", "v2.0.1", &index);

    // An OCI artifact (a Helm chart): config + layers like any image.
    let hc = blob(
        "application/vnd.cncf.helm.config.v1+json",
        "chart-config",
        90,
    );
    let hl = blob(
        "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
        "chart",
        640,
    );
    let chart = push_image(t, "charts/app", "0.1.0", OCI_MANIFEST, &hc, &[&hl]);
    truth.tag("charts/app", "0.1.0", &chart);

    // A repository with a blob and no tag: in the catalog, 404 NAME_UNKNOWN on its tags.
    let lonely = blob(OCI_LAYER, "lonely", 77);
    t.blob("empty/repo", &lonely.0, &lonely.1);
    truth.empty_repo("empty/repo");

    for i in 0..generated {
        let repo = format!("gen/r{i:02}");
        let when = format!("2025-01-{:02}T10:00:00Z", 1 + i % 28);
        let c = config_blob(DOCKER_CONFIG, &format!("gen-config-{i}"), Some(&when));
        let l = blob(DOCKER_LAYER, &format!("gen-layer-{i}"), 500 + 10 * i);
        let p = push_image(t, &repo, "v1", DOCKER_V2, &c, &[&base, &l]);
        truth.tag(&repo, "v1", &p);
    }
}

// ---------------------------------------------------------------- comparison

/// Asserts that the crawl found exactly the truth: every repository, tag, digest, media
/// type, platform, blob and number. Timestamps and `stale_since` are not compared.
pub fn assert_same(got: &Snapshot, want: &Snapshot) {
    let mut diffs = Vec::new();
    let names = |s: &Snapshot| {
        s.repositories
            .iter()
            .map(|r| r.name.clone())
            .collect::<Vec<_>>()
    };
    if names(got) != names(want) {
        diffs.push(format!(
            "repositories: got {:?}, want {:?}",
            names(got),
            names(want)
        ));
    }
    for w in &want.repositories {
        let Some(g) = got.repository(&w.name) else {
            continue;
        };
        if (g.size, g.disk_size) != (w.size, w.disk_size) {
            diffs.push(format!(
                "{}: size/disk_size got {:?}/{:?}, want {:?}/{:?}",
                w.name, g.size, g.disk_size, w.size, w.disk_size
            ));
        }
        let tn = |r: &gitlab_registry_usage_rest::snapshot::Repository| {
            r.tags
                .as_ref()
                .map(|t| t.iter().map(|t| t.name.clone()).collect::<Vec<_>>())
        };
        if tn(g) != tn(w) {
            diffs.push(format!(
                "{}: tags got {:?}, want {:?}",
                w.name,
                tn(g),
                tn(w)
            ));
            continue;
        }
        for wt in w.tags.iter().flatten() {
            let Some(gt) = g.tag(&wt.name) else { continue };
            let blobs = |s: &Snapshot, t: &gitlab_registry_usage_rest::snapshot::Tag| {
                let mut v: Vec<String> = t
                    .blobs
                    .iter()
                    .map(|&b| s.blobs[b as usize].digest.to_string())
                    .collect();
                v.sort();
                v
            };
            let at = format!("{}:{}", w.name, wt.name);
            if gt.digest != wt.digest {
                diffs.push(format!("{at}: digest {} != {}", gt.digest, wt.digest));
            }
            if gt.media_type != wt.media_type {
                diffs.push(format!(
                    "{at}: media type {} != {}",
                    gt.media_type, wt.media_type
                ));
            }
            if gt.platforms != wt.platforms {
                diffs.push(format!(
                    "{at}: platforms {:?} != {:?}",
                    gt.platforms, wt.platforms
                ));
            }
            if blobs(got, gt) != blobs(want, wt) {
                diffs.push(format!("{at}: blobs differ"));
            }
            if gt.created != wt.created {
                diffs.push(format!(
                    "{at}: created {:?} != {:?}",
                    gt.created, wt.created
                ));
            }
            if (gt.size, gt.disk_size) != (wt.size, wt.disk_size) {
                diffs.push(format!(
                    "{at}: size/disk_size got {}/{}, want {}/{}",
                    gt.size, gt.disk_size, wt.size, wt.disk_size
                ));
            }
        }
    }
    if got.unique_bytes() != want.unique_bytes() {
        diffs.push(format!(
            "unique bytes {} != {}",
            got.unique_bytes(),
            want.unique_bytes()
        ));
    }
    assert!(
        diffs.is_empty(),
        "the crawl differs from the ground truth:\n  {}",
        diffs.join("\n  ")
    );
}
