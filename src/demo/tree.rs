//! The demo registry's content: a generated, deterministic tree of repositories (nested
//! namespaces, base layers shared across repositories, alias tags, Docker and OCI manifests,
//! lists and indexes, one repository whose tags were all deleted and one never pushed to),
//! with manifests and configs as exact bytes and layers as sizes only.
//!
//! Pure data: no I/O, no clock and no randomness, so every run serves the same tree; it is
//! held as `content.rs` says and served by `registry.rs`.

use std::sync::Arc;

use ring::digest::{digest, SHA256};
use serde_json::{json, Value};

use super::content::{Content, Untagged};

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// A layer as a manifest refers to it.
#[derive(Clone)]
struct Layer {
    label: String,
    digest: String,
    size: u64,
}

#[derive(Clone, Copy)]
enum Format {
    Docker,
    Oci,
}

#[derive(Clone, Copy)]
struct Platform {
    arch: &'static str,
    variant: Option<&'static str>,
}

const AMD64: Platform = Platform {
    arch: "amd64",
    variant: None,
};
const ARM64: Platform = Platform {
    arch: "arm64",
    variant: Some("v8"),
};
const ARMV7: Platform = Platform {
    arch: "arm",
    variant: Some("v7"),
};

/// A stable pseudo-random number from a label, so the generated tree (and every number the
/// API shows for it) is the same in every run.
fn noise(label: &str) -> u64 {
    let d = digest(&SHA256, label.as_bytes());
    d.as_ref()
        .iter()
        .take(8)
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

/// A layer whose digest and size follow from its label: the same label in two images is the
/// same blob, which is how base layers end up shared.
fn layer(label: &str, min: u64, max: u64) -> Layer {
    let size = min + noise(label) % (max - min + 1);
    Layer {
        label: label.to_string(),
        // Layers are not served, so their digests need only be unique and well-formed.
        digest: crate::registry::manifest::sha256_digest(format!("demo layer {label}").as_bytes()),
        size,
    }
}

/// The operating systems' layers, which the runtimes are built on.
struct OsLayers {
    alpine: Vec<Layer>,
    alpine319: Vec<Layer>,
    debian: Vec<Layer>,
    debian_slim: Vec<Layer>,
    ubuntu2204: Vec<Layer>,
    ubuntu2404: Vec<Layer>,
}

/// The base images' layers, which the applications' images are built on (and share).
struct Bases {
    alpine: Vec<Layer>,
    ubuntu2204: Vec<Layer>,
    ubuntu2404: Vec<Layer>,
    python312: Vec<Layer>,
    python311: Vec<Layer>,
    node20_alpine: Vec<Layer>,
    golang: Vec<Layer>,
    jdk21: Vec<Layer>,
    jdk17: Vec<Layer>,
    nginx: Vec<Layer>,
}

/// One application repository for [`Content::app`]: repository, format, base image, versions,
/// how many versions share a dependencies layer, and the dependencies' and the application's
/// layer sizes in MB (from, to).
struct App(
    &'static str,
    Format,
    fn(&Bases) -> &[Layer],
    &'static [&'static str],
    usize,
    (u64, u64),
    (u64, u64),
);

fn fixed(label: &str, size: u64) -> Layer {
    layer(label, size, size)
}

fn plus(base: &[Layer], more: &[Layer]) -> Vec<Layer> {
    base.iter().chain(more).cloned().collect()
}

impl Content {
    /// Stores an image manifest and its blobs in `repo`; returns its descriptor for a tag or
    /// a list: (digest, size, media type).
    fn image(
        &mut self,
        repo: &str,
        format: Format,
        platform: Platform,
        layers: &[Layer],
        version: &str,
    ) -> (String, usize, &'static str) {
        let created = {
            let n = noise(&format!("{repo}:{version}"));
            format!(
                "2026-{:02}-{:02}T{:02}:{:02}:00Z",
                1 + n % 10,
                1 + (n >> 8) % 28,
                (n >> 16) % 24,
                (n >> 24) % 60
            )
        };
        let mut config = json!({
            "architecture": platform.arch,
            "os": "linux",
            "created": created,
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Labels": {
                    "org.opencontainers.image.source": format!("https://gitlab.demo.invalid/{repo}"),
                    "org.opencontainers.image.version": version,
                }
            },
            "rootfs": {
                "type": "layers",
                "diff_ids": layers
                    .iter()
                    .map(|l| crate::registry::manifest::sha256_digest(format!("demo diff {}", l.label).as_bytes()))
                    .collect::<Vec<_>>(),
            },
            "history": layers
                .iter()
                .map(|l| json!({"created": created, "created_by": format!("/bin/sh -c #(nop) {}", l.label)}))
                .collect::<Vec<_>>(),
        });
        if let (Some(v), Some(obj)) = (platform.variant, config.as_object_mut()) {
            obj.insert("variant".into(), json!(v));
        }
        let config_bytes: Arc<[u8]> = to_bytes(&config);
        let config_digest = crate::registry::manifest::sha256_digest(&config_bytes);
        let (manifest_type, config_type, layer_type) = match format {
            Format::Docker => (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER),
            Format::Oci => (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER),
        };
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {"mediaType": config_type, "size": config_bytes.len(), "digest": config_digest},
            "layers": layers
                .iter()
                .map(|l| json!({"mediaType": layer_type, "size": l.size, "digest": l.digest}))
                .collect::<Vec<_>>(),
        });
        self.put_blob(
            &config_digest,
            config_bytes.len() as u64,
            Some(config_bytes),
        );
        for l in layers {
            self.put_blob(&l.digest, l.size, None);
        }
        self.put_json(repo, manifest_type, &manifest)
    }

    /// Stores a multi-platform list (Docker) or index (OCI) over per-platform images.
    fn multi(
        &mut self,
        repo: &str,
        format: Format,
        version: &str,
        images: &[(Platform, Vec<Layer>)],
    ) -> (String, usize, &'static str) {
        let mut children = Vec::new();
        for (platform, layers) in images {
            let (digest, size, media_type) = self.image(
                repo,
                format,
                *platform,
                layers,
                &format!("{version} {}", platform.arch),
            );
            let mut p = json!({"architecture": platform.arch, "os": "linux"});
            if let (Some(v), Some(obj)) = (platform.variant, p.as_object_mut()) {
                obj.insert("variant".into(), json!(v));
            }
            children.push(
                json!({"mediaType": media_type, "size": size, "digest": digest, "platform": p}),
            );
        }
        let list_type = match format {
            Format::Docker => DOCKER_LIST,
            Format::Oci => OCI_INDEX,
        };
        let list = json!({"schemaVersion": 2, "mediaType": list_type, "manifests": children});
        self.put_json(repo, list_type, &list)
    }

    fn tag(&mut self, repo: &str, tag: &str, manifest: &(String, usize, &'static str)) {
        self.repo(repo)
            .tags
            .insert(tag.to_string(), manifest.0.clone());
    }

    /// An amd64 image tagged with its version; returns its descriptor for more tags.
    fn tagged(
        &mut self,
        repo: &str,
        format: Format,
        layers: &[Layer],
        version: &str,
    ) -> (String, usize, &'static str) {
        let m = self.image(repo, format, AMD64, layers, version);
        self.tag(repo, version, &m);
        m
    }

    /// One tag per version on top of `base`: a dependency layer that changes every
    /// `deps_every` versions (shared by neighbouring versions) and an application layer per
    /// version. `latest` points at the last version's manifest.
    #[allow(clippy::too_many_arguments)]
    fn app(
        &mut self,
        repo: &str,
        format: Format,
        base: &[Layer],
        versions: &[&str],
        deps_every: usize,
        deps_mb: (u64, u64),
        app_mb: (u64, u64),
    ) {
        const MB: u64 = 1_000_000;
        let mut last = None;
        for (i, v) in versions.iter().enumerate() {
            let deps = layer(
                &format!("{repo} dependencies #{}", i / deps_every.max(1)),
                deps_mb.0 * MB,
                deps_mb.1 * MB,
            );
            let app = layer(&format!("{repo} {v}"), app_mb.0 * MB, app_mb.1 * MB);
            let m = self.image(repo, format, AMD64, &plus(base, &[deps, app]), v);
            self.tag(repo, v, &m);
            last = Some(m);
        }
        if let Some(m) = last {
            self.tag(repo, "latest", &m);
        }
    }

    /// The application repositories of `apps`, in order, on the base images `b`.
    fn apps(&mut self, b: &Bases, apps: &[App]) {
        for &App(repo, format, base, versions, deps_every, deps_mb, app_mb) in apps {
            self.app(repo, format, base(b), versions, deps_every, deps_mb, app_mb);
        }
    }

    /// The demo registry: dozens of repositories in nested groups, base images whose layers
    /// the applications share, alias tags, a Docker manifest list, an OCI index whose
    /// platforms share a layer, and the two kinds of repository without tags.
    pub(super) fn generate() -> Content {
        let mut s = Content::default();
        let b = s.base_images();
        s.platform_tools(&b);
        s.team_a(&b);
        s.team_b(&b);
        s.machine_learning(&b);
        s.documentation(&b);
        s.security_and_infrastructure(&b);
        s.without_tags();
        s
    }

    /// The operating system images, then the language runtimes built on them.
    fn base_images(&mut self) -> Bases {
        let os = self.os_images();
        self.runtime_images(os)
    }

    fn os_images(&mut self) -> OsLayers {
        use Format::{Docker, Oci};
        let alpine318 = vec![fixed("alpine 3.18 rootfs amd64", 3_401_613)];
        let alpine319 = vec![fixed("alpine 3.19 rootfs amd64", 3_408_729)];
        let alpine320_amd64 = vec![fixed("alpine 3.20 rootfs amd64", 3_623_807)];
        let alpine320_arm64 = vec![fixed("alpine 3.20 rootfs arm64", 4_088_932)];
        let alpine320_armv7 = vec![fixed("alpine 3.20 rootfs armv7", 3_176_221)];
        let a = "platform/base/alpine";
        for (tag, layers) in [("3.18", &alpine318), ("3.19", &alpine319)] {
            self.tagged(a, Docker, layers, tag);
        }
        let m = self.multi(
            a,
            Docker,
            "3.20",
            &[
                (AMD64, alpine320_amd64.clone()),
                (ARM64, alpine320_arm64),
                (ARMV7, alpine320_armv7),
            ],
        );
        self.tag(a, "3.20", &m);
        self.tag(a, "latest", &m);
        let alpine = alpine320_amd64;

        let debian = vec![fixed("debian bookworm rootfs", 49_557_601)];
        let debian_slim = vec![fixed("debian bookworm-slim rootfs", 29_126_484)];
        let d = "platform/base/debian";
        let m = self.image(d, Docker, AMD64, &debian, "12.7");
        for tag in ["12.7", "bookworm", "latest"] {
            self.tag(d, tag, &m);
        }
        let m = self.image(d, Docker, AMD64, &debian_slim, "12.7-slim");
        for tag in ["12.7-slim", "bookworm-slim"] {
            self.tag(d, tag, &m);
        }

        let ubuntu2204 = vec![fixed("ubuntu 22.04 rootfs", 29_537_461)];
        let ubuntu2404 = vec![fixed("ubuntu 24.04 rootfs", 29_705_426)];
        let u = "platform/base/ubuntu";
        for (tags, layers) in [
            (["22.04", "jammy"], &ubuntu2204),
            (["24.04", "noble"], &ubuntu2404),
        ] {
            let m = self.image(u, Oci, AMD64, layers, tags[0]);
            for tag in tags {
                self.tag(u, tag, &m);
            }
        }
        OsLayers {
            alpine,
            alpine319,
            debian,
            debian_slim,
            ubuntu2204,
            ubuntu2404,
        }
    }

    fn runtime_images(&mut self, os: OsLayers) -> Bases {
        use Format::{Docker, Oci};
        let python312 = plus(
            &os.debian_slim,
            &[
                fixed("python 3.12 runtime libraries", 3_511_209),
                fixed("python 3.12 interpreter", 12_948_151),
                fixed("python 3.12 pip", 2_891_006),
            ],
        );
        let python311 = plus(
            &os.debian_slim,
            &[
                fixed("python 3.11 runtime libraries", 3_508_117),
                fixed("python 3.11 interpreter", 12_210_488),
                fixed("python 3.11 pip", 2_873_345),
            ],
        );
        let p = "platform/base/python";
        self.tagged(p, Docker, &python311, "3.11-slim");
        let m = self.tagged(p, Docker, &python312, "3.12-slim");
        self.tag(p, "3-slim", &m);

        let node20 = plus(
            &os.debian,
            &[
                fixed("node 20 runtime", 42_518_804),
                fixed("node 20 yarn", 1_250_092),
            ],
        );
        let node20_alpine = plus(&os.alpine, &[fixed("node 20 alpine runtime", 40_211_635)]);
        let n = "platform/base/node";
        for (tag, layers) in [("20", &node20), ("20-alpine", &node20_alpine)] {
            self.tagged(n, Docker, layers, tag);
        }

        let golang = plus(&os.debian, &[fixed("go 1.22 toolchain", 69_334_518)]);
        let g = "platform/base/golang";
        self.tagged(g, Oci, &golang, "1.22");
        let g121 = plus(&os.debian, &[fixed("go 1.21 toolchain", 66_926_339)]);
        self.tagged(g, Oci, &g121, "1.21");

        let jdk21 = plus(&os.ubuntu2204, &[fixed("temurin 21 jre", 48_004_712)]);
        let j = "platform/base/openjdk";
        self.tagged(j, Docker, &jdk21, "21-jre");
        let jdk17 = plus(&os.ubuntu2204, &[fixed("temurin 17 jre", 45_601_877)]);
        self.tagged(j, Docker, &jdk17, "17-jre");

        let nginx = plus(
            &os.alpine,
            &[
                fixed("nginx 1.26 binaries", 10_822_470),
                fixed("nginx default config", 1_911),
            ],
        );
        let ng = "platform/base/nginx";
        let nginx125 = plus(
            &os.alpine319,
            &[
                fixed("nginx 1.25 binaries", 10_514_102),
                fixed("nginx default config", 1_911),
            ],
        );
        self.tagged(ng, Docker, &nginx125, "1.25");
        let m = self.image(ng, Docker, AMD64, &nginx, "1.26");
        for tag in ["1.26", "1.26-alpine", "latest"] {
            self.tag(ng, tag, &m);
        }

        Bases {
            alpine: os.alpine,
            ubuntu2204: os.ubuntu2204,
            ubuntu2404: os.ubuntu2404,
            python312,
            python311,
            node20_alpine,
            golang,
            jdk21,
            jdk17,
            nginx,
        }
    }

    fn platform_tools(&mut self, b: &Bases) {
        use Format::{Docker, Oci};
        // Platform tooling.
        #[rustfmt::skip]
        let apps = [
            App("platform/tools/ci-runner", Docker, |b| &b.ubuntu2404, &["v16.11", "v17.0", "v17.1"], 1, (60, 90), (5, 20)),
            App("platform/tools/kaniko", Oci, |_| &[], &["v1.22.0", "v1.23.2"], 1, (20, 30), (1, 3)),
            App("platform/tools/terraform", Docker, |b| &b.alpine, &["1.7.5", "1.8.4", "1.9.0"], 1, (70, 90), (1, 2)),
            App("platform/tools/helm", Docker, |b| &b.alpine, &["3.14.4", "3.15.1"], 1, (15, 20), (0, 1)),
            App("platform/monitoring/prometheus", Oci, |b| &b.alpine, &["v2.51.2", "v2.52.0", "v2.53.0"], 1, (90, 110), (0, 1)),
            App("platform/monitoring/grafana", Oci, |b| &b.alpine, &["10.4.2", "11.0.0"], 1, (300, 350), (5, 10)),
            App("platform/monitoring/node-exporter", Oci, |_| &[], &["v1.8.0", "v1.8.1"], 2, (1, 2), (10, 12)),
        ];
        self.apps(b, &apps);
    }

    fn team_a(&mut self, b: &Bases) {
        use Format::{Docker, Oci};
        const MB: u64 = 1_000_000;
        // Team A: a Python backend, a web front end built for three platforms.
        self.app(
            "team-a/backend/api",
            Docker,
            &b.python312,
            &["1.0.0", "1.1.0", "1.2.0", "1.2.1", "1.3.0", "1.3.1"],
            2,
            (40, 90),
            (1, 6),
        );
        self.app(
            "team-a/backend/worker",
            Docker,
            &b.python312,
            &["1.2.0", "1.3.0", "1.3.1"],
            3,
            (60, 80),
            (1, 4),
        );
        self.app(
            "team-a/backend/migrations",
            Docker,
            &b.python311,
            &["2025.11", "2026.01", "2026.03"],
            3,
            (10, 20),
            (0, 1),
        );
        let w = "team-a/frontend/web";
        for v in ["2.0.0", "2.1.0"] {
            // The built site is the same bytes on every platform: one shared layer.
            let site = layer(&format!("{w} {v} static site"), 8 * MB, 14 * MB);
            let arch_layer =
                |arch: &str| fixed(&format!("b.nginx 1.26 binaries {arch}"), 10_822_470);
            let m = self.multi(
                w,
                Oci,
                v,
                &[
                    (AMD64, plus(&b.nginx, std::slice::from_ref(&site))),
                    (
                        ARM64,
                        vec![
                            fixed("b.alpine 3.20 rootfs arm64", 4_088_932),
                            arch_layer("arm64"),
                            site.clone(),
                        ],
                    ),
                    (
                        ARMV7,
                        vec![
                            fixed("b.alpine 3.20 rootfs armv7", 3_176_221),
                            arch_layer("armv7"),
                            site.clone(),
                        ],
                    ),
                ],
            );
            self.tag(w, v, &m);
            if v == "2.1.0" {
                self.tag(w, "latest", &m);
                self.tag(w, "stable", &m);
            }
        }
        self.app(
            "team-a/frontend/storybook",
            Docker,
            &b.node20_alpine,
            &["main"],
            1,
            (120, 160),
            (3, 8),
        );
        self.app(
            "team-a/mobile/build-env",
            Docker,
            &b.jdk17,
            &["android-34", "android-35"],
            1,
            (900, 1200),
            (1, 2),
        );
    }

    fn team_b(&mut self, b: &Bases) {
        use Format::{Docker, Oci};
        // Team B: data and services, one repository nested below another.
        #[rustfmt::skip]
        let apps = [
            App("team-b/data/etl", Oci, |b| &b.python311, &["0.9.0", "0.9.1", "1.0.0"], 2, (150, 200), (1, 3)),
            App("team-b/data/notebooks", Oci, |b| &b.python312, &["2026.02", "2026.04"], 1, (700, 900), (1, 2)),
            App("team-b/data/airflow", Docker, |b| &b.python311, &["2.8.4", "2.9.1"], 1, (250, 300), (1, 2)),
            App("team-b/services/billing", Oci, |b| &b.jdk21, &["3.4.0", "3.4.1", "3.5.0", "3.6.0"], 2, (30, 50), (20, 30)),
            App("team-b/services/billing/db-migrate", Oci, |b| &b.jdk21, &["3.5.0", "3.6.0"], 1, (5, 10), (1, 2)),
            App("team-b/services/notifications", Docker, |b| &b.golang, &["0.3.0", "0.4.0"], 2, (10, 15), (8, 12)),
            App("team-b/services/search", Docker, |b| &b.jdk21, &["8.13.0", "8.14.1"], 1, (400, 450), (1, 2)),
        ];
        self.apps(b, &apps);
    }

    fn machine_learning(&mut self, b: &Bases) {
        use Format::{Docker, Oci};
        // Machine learning: big layers.
        let cuda = plus(
            &b.ubuntu2204,
            &[
                fixed("cuda 12.4 runtime", 2_127_994_117),
                fixed("cudnn 9", 1_341_201_904),
            ],
        );
        let gpu = "ml/training/gpu-base";
        self.tagged(gpu, Docker, &cuda, "cuda12.4");
        self.app(
            "ml/training/jobs",
            Docker,
            &cuda,
            &["exp-41", "exp-42", "exp-57"],
            1,
            (1500, 2500),
            (1, 5),
        );
        self.app(
            "ml/models/sentiment",
            Oci,
            &b.python312,
            &["v1", "v2"],
            1,
            (600, 800),
            (400, 500),
        );
        self.app(
            "ml/models/vision/resnet",
            Oci,
            &b.python312,
            &["50-v1", "101-v1"],
            2,
            (600, 800),
            (100, 180),
        );
    }

    fn documentation(&mut self, b: &Bases) {
        use Format::Docker;
        // Documentation: a site, and per-merge-request previews (a long tag list).
        self.app(
            "docs/website",
            Docker,
            &b.nginx,
            &["2026-03-02", "2026-04-15"],
            2,
            (0, 1),
            (20, 40),
        );
        let previews: Vec<String> = (101..=134).map(|n| format!("mr-{n}")).collect();
        let previews: Vec<&str> = previews.iter().map(String::as_str).collect();
        self.app(
            "docs/website/preview",
            Docker,
            &b.nginx,
            &previews,
            40,
            (0, 1),
            (20, 40),
        );
    }

    fn security_and_infrastructure(&mut self, b: &Bases) {
        use Format::{Docker, Oci};
        // Security and infrastructure.
        #[rustfmt::skip]
        let apps = [
            App("security/scanners/trivy", Oci, |b| &b.alpine, &["0.50.1", "0.52.0"], 1, (50, 60), (300, 400)),
            App("security/scanners/grype", Oci, |b| &b.alpine, &["0.77.0"], 1, (60, 70), (200, 250)),
            App("infra/ansible/runner", Docker, |b| &b.python311, &["9.4", "10.0"], 1, (200, 260), (1, 2)),
            App("infra/backup/restic", Docker, |b| &b.alpine, &["0.16.4", "0.17.0"], 1, (20, 25), (0, 1)),
            App("infra/dns/coredns", Oci, |_| &[], &["1.11.1"], 1, (1, 2), (50, 55)),
        ];
        self.apps(b, &apps);
    }

    fn without_tags(&mut self) {
        // Two repositories without tags: one emptied by a cleanup policy (its tag list is
        // `null`), one created and never pushed to (`404 NAME_UNKNOWN`).
        self.repo("research/sandbox/scratch").untagged = Untagged::Null;
        self.repo("research/legacy/old-app");
    }

    /// Stores a manifest (untagged) in `repo`; returns (digest, size, media type).
    fn put_json(
        &mut self,
        repo: &str,
        media_type: &'static str,
        body: &Value,
    ) -> (String, usize, &'static str) {
        let bytes = to_bytes(body);
        let digest = crate::registry::manifest::sha256_digest(&bytes);
        let size = bytes.len();
        self.put_manifest(repo, None, &digest, media_type, bytes);
        (digest, size, media_type)
    }
}

/// Pretty-printed like `docker push` does; the digest is over exactly these bytes.
fn to_bytes(v: &Value) -> Arc<[u8]> {
    serde_json::to_vec_pretty(v).unwrap_or_default().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tree_is_realistic() {
        let s = Content::generate();
        assert!(s.repos.len() >= 36, "{}", s.repos.len());
        assert!(s.repos.keys().all(|n| n.contains('/')));
        assert!(
            s.repos
                .keys()
                .filter(|n| n.matches('/').count() >= 2)
                .count()
                >= 30
        );
        // Distribution's name grammar: lower-case components separated by / . _ -
        for name in s.repos.keys() {
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"/._-".contains(&b)),
                "{name}"
            );
        }
        // A layer shared between many repositories (the Debian slim base layer, for one).
        let debian = fixed("debian bookworm-slim rootfs", 29_126_484).digest;
        assert!(s.blobs.contains_key(&debian));
        let holders = s
            .repos
            .values()
            .filter(|r| {
                r.tags.values().any(|d| {
                    let text = String::from_utf8_lossy(&s.manifests[d].bytes).into_owned();
                    text.contains(&debian)
                        || s.manifests.iter().any(|(child, m)| {
                            text.contains(child.as_str())
                                && String::from_utf8_lossy(&m.bytes).contains(&debian)
                        })
                })
            })
            .count();
        assert!(holders >= 10, "{holders}");
        // Alias tags, both list types, and the two tagless kinds.
        let debian_tags = &s.repos["platform/base/debian"].tags;
        assert_eq!(debian_tags["bookworm"], debian_tags["12.7"]);
        let types: Vec<&str> = s
            .manifests
            .values()
            .map(|m| m.media_type.as_str())
            .collect();
        for t in [DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX] {
            assert!(types.contains(&t), "{t}");
        }
        for (name, untagged) in [
            ("research/sandbox/scratch", Untagged::Null),
            ("research/legacy/old-app", Untagged::NameUnknown),
        ] {
            assert!(s.repos[name].tags.is_empty(), "{name}");
            assert_eq!(s.repos[name].untagged, untagged, "{name}");
        }
        // Deterministic: a second generation gives the same digests.
        let again = Content::generate();
        for (name, repo) in &s.repos {
            assert_eq!(repo.tags, again.repos[name].tags, "{name}");
        }
        let mut a: Vec<&String> = s.manifests.keys().collect();
        let mut b: Vec<&String> = again.manifests.keys().collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }
}
