//! Demo mode (`--demo`): a built-in container registry on a free loopback port, the settings
//! that point the real service at it, and a demo login, so a newcomer sees the whole service
//! work without a config file, an LDAP server or a GitLab.
//!
//! The registry speaks the Distribution HTTP API (`/v2/`, catalog and tags pagination,
//! manifests by tag or digest with exact digests, blob HEADs) behind GitLab's token flow
//! (`/jwt/auth` with HTTP Basic), over a generated, deterministic tree of repositories. This
//! module must stay a test double for `--demo` only: nothing outside demo mode may construct
//! [`DemoAuthenticator`] or read these settings, and it binds to 127.0.0.1 and nowhere else.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ring::digest::{digest, SHA256};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{json, Value};

use crate::auth::{parse_basic, Authenticator, LoginError};
use crate::config::{Config, ConfigError};
use crate::http;

/// The `service` GitLab's token endpoint names its registry by.
const SERVICE: &str = "container_registry";
/// Lifetime of a registry token, as GitLab's default.
const TOKEN_TTL: Duration = Duration::from_secs(900);
/// Distribution's page size when a catalog request names no `n`, and the most it returns.
const CATALOG_DEFAULT_N: usize = 100;
const CATALOG_MAX_N: usize = 1000;
/// Threads answering the collector; it crawls with a handful of requests in flight.
const WORKERS: usize = 4;

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// A running demo: the settings for the real service, the demo login, and the built-in
/// registry, which stops when this value is dropped.
pub struct Demo {
    pub config: Config,
    pub user: String,
    pub password: String,
    registry: RegistryServer,
}

/// Why the demo could not start.
#[derive(Debug)]
pub enum DemoError {
    /// The built-in registry could not listen on 127.0.0.1.
    Bind(String),
    /// The system's random number generator failed (no secret, no password).
    Random,
    /// The generated settings were refused (a bug, but reported rather than hidden).
    Config(ConfigError),
}

impl fmt::Display for DemoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DemoError::Bind(why) => {
                write!(
                    f,
                    "demo: cannot start the built-in registry on 127.0.0.1: {why}"
                )
            }
            DemoError::Random => f.write_str("demo: the system random number generator failed"),
            DemoError::Config(e) => write!(f, "demo: the generated settings are invalid: {e}"),
        }
    }
}

impl std::error::Error for DemoError {}

/// Starts the built-in registry and returns the settings that make the service listen on
/// `127.0.0.1:port` and crawl it.
pub fn start(port: u16) -> Result<Demo, DemoError> {
    let rng = SystemRandom::new();
    let secret = hex(&random_bytes::<32>(&rng)?);
    let access_token = format!("glpat-{}", password_text(&random_bytes::<20>(&rng)?));
    let password = password_text(&random_bytes::<16>(&rng)?);
    let user = "demo".to_string();
    let collector_user = "demo-collector".to_string();

    let registry = RegistryServer::start(
        Store::generate(),
        (collector_user.clone(), access_token.clone()),
    )?;
    let base = format!("http://{}/", registry.addr);
    // Built through the INI reader so the demo gets exactly the checks and defaults a real
    // file gets; only the keys that differ from the defaults are written.
    let text = format!(
        "[general]\nsocket_host = 127.0.0.1\nsocket_port = {port}\n\n\
         [jwt]\nauth_token_expires = 1 hour\nsecret_key = {secret}\n\n\
         [registry]\ngitlab_base_url = {base}\nregistry_base_url = {base}\n\
         username = {collector_user}\naccess_token = {access_token}\n\
         update_interval = 1 minute\nconcurrency = 4\ntimeout = 10 s\nstate_file =\n"
    );
    let origin = Path::new("<demo settings>");
    let config = Config::from_ini_text(&text, origin).map_err(DemoError::Config)?;
    config.check_secret(origin).map_err(DemoError::Config)?;
    Ok(Demo {
        config,
        user,
        password,
        registry,
    })
}

/// The start-up text: what runs where, the demo login and commands to paste. `listen` is the
/// API's address as bound (`127.0.0.1:5000` or `http://127.0.0.1:5000`).
pub fn banner(demo: &Demo, listen: &str) -> String {
    let api = if listen.starts_with("http://") || listen.starts_with("https://") {
        listen.trim_end_matches('/').to_string()
    } else {
        format!("http://{listen}")
    };
    let api = format!("{api}{}", demo.config.general.server_prefix);
    let (user, password) = (&demo.user, &demo.password);
    format!(
        "gitlab-registry-usage-rest {version}: DEMO MODE\n\
         \n\
         A built-in registry with {repos} generated repositories runs at {registry}; the\n\
         collector crawls it every minute. Nothing here talks to LDAP or GitLab, and both\n\
         the API and the registry listen on loopback only (127.0.0.1): no other machine\n\
         can reach them.\n\
         \n\
         Dashboard: {api}/  (open it in a browser and log in)\n\
         API:       {api}\n\
         Login:     user {user}, password {password} (valid while this process runs)\n\
         \n\
         Fetch a token:\n\
         \x20 curl -u {user}:{password} {api}/auth_token\n\
         \n\
         Keep it in a variable and fetch the whole tree:\n\
         \x20 TOKEN=$(curl -s -u {user}:{password} {api}/auth_token | sed -n 's/.*\"auth_token\": *\"\\([^\"]*\\)\".*/\\1/p')\n\
         \x20 curl -H \"Authorization: Bearer $TOKEN\" '{api}/repositories?embed=true'\n\
         (The first crawl takes a few seconds; until it ends, resources answer 503: retry.)\n\
         \n\
         One repository, with links:\n\
         \x20 curl -H \"Authorization: Bearer $TOKEN\" '{api}/repositories/platform%2Fbase%2Falpine?embed=true&links=true'\n\
         \n\
         Stop with Ctrl-C.\n",
        version = env!("CARGO_PKG_VERSION"),
        repos = demo.registry.repositories,
        registry = demo.config.registry.registry_base_url,
    )
}

/// Accepts exactly the demo login printed in the banner; stands in for LDAP under `--demo`.
pub struct DemoAuthenticator {
    user: String,
    password: String,
}

impl DemoAuthenticator {
    pub fn new(demo: &Demo) -> DemoAuthenticator {
        DemoAuthenticator {
            user: demo.user.clone(),
            password: demo.password.clone(),
        }
    }
}

impl Authenticator for DemoAuthenticator {
    fn authenticate(&self, user: &str, password: &str) -> Result<String, LoginError> {
        // Both compared in full, so timing says nothing about which one was wrong.
        let user_ok = same(user.as_bytes(), self.user.as_bytes());
        let password_ok = same(password.as_bytes(), self.password.as_bytes());
        if user_ok & password_ok {
            Ok(self.user.clone())
        } else {
            Err(LoginError::Rejected)
        }
    }
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_bytes<const N: usize>(rng: &SystemRandom) -> Result<[u8; N], DemoError> {
    let mut buf = [0u8; N];
    rng.fill(&mut buf).map_err(|_| DemoError::Random)?;
    Ok(buf)
}

/// 32 letters and digits without look-alikes (no l, o, 0, 1): one symbol per 5 bits, no bias,
/// and nothing a shell or a URL would need quoted.
fn password_text(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// The registry's content
// ---------------------------------------------------------------------------------------------

/// What one repository answers.
struct Repo {
    tags: Tags,
    /// By digest: every manifest of the repository, children of lists included.
    manifests: HashMap<String, Manifest>,
    /// By digest: configs (with content) and layers (size only) linked to the repository.
    blobs: HashMap<String, Blob>,
}

/// The three ways a registry reports a repository's tags.
enum Tags {
    Listed(BTreeMap<String, String>),
    /// `"tags": null`: every tag was deleted.
    Null,
    /// `404 NAME_UNKNOWN` on the tag list: the repository never had a tag.
    NeverTagged,
}

struct Manifest {
    media_type: &'static str,
    bytes: Arc<[u8]>,
}

struct Blob {
    size: u64,
    /// Configs only: layers are sized, not stored (nobody crawling needs their bytes).
    content: Option<Arc<[u8]>>,
}

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

fn fixed(label: &str, size: u64) -> Layer {
    layer(label, size, size)
}

fn plus(base: &[Layer], more: &[Layer]) -> Vec<Layer> {
    base.iter().chain(more).cloned().collect()
}

/// All repositories, by name.
struct Store {
    repos: BTreeMap<String, Repo>,
}

impl Store {
    fn repo(&mut self, name: &str) -> &mut Repo {
        self.repos.entry(name.to_string()).or_insert_with(|| Repo {
            tags: Tags::Listed(BTreeMap::new()),
            manifests: HashMap::new(),
            blobs: HashMap::new(),
        })
    }

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
        let r = self.repo(repo);
        r.blobs.insert(
            config_digest,
            Blob {
                size: config_bytes.len() as u64,
                content: Some(config_bytes),
            },
        );
        for l in layers {
            r.blobs.insert(
                l.digest.clone(),
                Blob {
                    size: l.size,
                    content: None,
                },
            );
        }
        r.put_manifest(manifest_type, &manifest)
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
        self.repo(repo).put_manifest(list_type, &list)
    }

    fn tag(&mut self, repo: &str, tag: &str, manifest: &(String, usize, &'static str)) {
        if let Tags::Listed(tags) = &mut self.repo(repo).tags {
            tags.insert(tag.to_string(), manifest.0.clone());
        }
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

    /// The demo registry: dozens of repositories in nested groups, base images whose layers
    /// the applications share, alias tags, a Docker manifest list, an OCI index whose
    /// platforms share a layer, and the two kinds of repository without tags.
    fn generate() -> Store {
        use Format::{Docker, Oci};
        const MB: u64 = 1_000_000;
        let mut s = Store {
            repos: BTreeMap::new(),
        };

        // Base images.
        let alpine318 = vec![fixed("alpine 3.18 rootfs amd64", 3_401_613)];
        let alpine319 = vec![fixed("alpine 3.19 rootfs amd64", 3_408_729)];
        let alpine320_amd64 = vec![fixed("alpine 3.20 rootfs amd64", 3_623_807)];
        let alpine320_arm64 = vec![fixed("alpine 3.20 rootfs arm64", 4_088_932)];
        let alpine320_armv7 = vec![fixed("alpine 3.20 rootfs armv7", 3_176_221)];
        let a = "platform/base/alpine";
        for (tag, layers) in [("3.18", &alpine318), ("3.19", &alpine319)] {
            let m = s.image(a, Docker, AMD64, layers, tag);
            s.tag(a, tag, &m);
        }
        let m = s.multi(
            a,
            Docker,
            "3.20",
            &[
                (AMD64, alpine320_amd64.clone()),
                (ARM64, alpine320_arm64),
                (ARMV7, alpine320_armv7),
            ],
        );
        s.tag(a, "3.20", &m);
        s.tag(a, "latest", &m);
        let alpine = alpine320_amd64;

        let debian = vec![fixed("debian bookworm rootfs", 49_557_601)];
        let debian_slim = vec![fixed("debian bookworm-slim rootfs", 29_126_484)];
        let d = "platform/base/debian";
        let m = s.image(d, Docker, AMD64, &debian, "12.7");
        for tag in ["12.7", "bookworm", "latest"] {
            s.tag(d, tag, &m);
        }
        let m = s.image(d, Docker, AMD64, &debian_slim, "12.7-slim");
        for tag in ["12.7-slim", "bookworm-slim"] {
            s.tag(d, tag, &m);
        }

        let ubuntu2204 = vec![fixed("ubuntu 22.04 rootfs", 29_537_461)];
        let ubuntu2404 = vec![fixed("ubuntu 24.04 rootfs", 29_705_426)];
        let u = "platform/base/ubuntu";
        for (tags, layers) in [
            (["22.04", "jammy"], &ubuntu2204),
            (["24.04", "noble"], &ubuntu2404),
        ] {
            let m = s.image(u, Oci, AMD64, layers, tags[0]);
            for tag in tags {
                s.tag(u, tag, &m);
            }
        }

        let python312 = plus(
            &debian_slim,
            &[
                fixed("python 3.12 runtime libraries", 3_511_209),
                fixed("python 3.12 interpreter", 12_948_151),
                fixed("python 3.12 pip", 2_891_006),
            ],
        );
        let python311 = plus(
            &debian_slim,
            &[
                fixed("python 3.11 runtime libraries", 3_508_117),
                fixed("python 3.11 interpreter", 12_210_488),
                fixed("python 3.11 pip", 2_873_345),
            ],
        );
        let p = "platform/base/python";
        let m = s.image(p, Docker, AMD64, &python311, "3.11-slim");
        s.tag(p, "3.11-slim", &m);
        let m = s.image(p, Docker, AMD64, &python312, "3.12-slim");
        s.tag(p, "3.12-slim", &m);
        s.tag(p, "3-slim", &m);

        let node20 = plus(
            &debian,
            &[
                fixed("node 20 runtime", 42_518_804),
                fixed("node 20 yarn", 1_250_092),
            ],
        );
        let node20_alpine = plus(&alpine, &[fixed("node 20 alpine runtime", 40_211_635)]);
        let n = "platform/base/node";
        for (tag, layers) in [("20", &node20), ("20-alpine", &node20_alpine)] {
            let m = s.image(n, Docker, AMD64, layers, tag);
            s.tag(n, tag, &m);
        }

        let golang = plus(&debian, &[fixed("go 1.22 toolchain", 69_334_518)]);
        let g = "platform/base/golang";
        let m = s.image(g, Oci, AMD64, &golang, "1.22");
        s.tag(g, "1.22", &m);
        let g121 = plus(&debian, &[fixed("go 1.21 toolchain", 66_926_339)]);
        let m = s.image(g, Oci, AMD64, &g121, "1.21");
        s.tag(g, "1.21", &m);

        let jdk21 = plus(&ubuntu2204, &[fixed("temurin 21 jre", 48_004_712)]);
        let j = "platform/base/openjdk";
        let m = s.image(j, Docker, AMD64, &jdk21, "21-jre");
        s.tag(j, "21-jre", &m);
        let jdk17 = plus(&ubuntu2204, &[fixed("temurin 17 jre", 45_601_877)]);
        let m = s.image(j, Docker, AMD64, &jdk17, "17-jre");
        s.tag(j, "17-jre", &m);

        let nginx = plus(
            &alpine,
            &[
                fixed("nginx 1.26 binaries", 10_822_470),
                fixed("nginx default config", 1_911),
            ],
        );
        let ng = "platform/base/nginx";
        let nginx125 = plus(
            &alpine319,
            &[
                fixed("nginx 1.25 binaries", 10_514_102),
                fixed("nginx default config", 1_911),
            ],
        );
        let m = s.image(ng, Docker, AMD64, &nginx125, "1.25");
        s.tag(ng, "1.25", &m);
        let m = s.image(ng, Docker, AMD64, &nginx, "1.26");
        for tag in ["1.26", "1.26-alpine", "latest"] {
            s.tag(ng, tag, &m);
        }

        // Platform tooling.
        s.app(
            "platform/tools/ci-runner",
            Docker,
            &ubuntu2404,
            &["v16.11", "v17.0", "v17.1"],
            1,
            (60, 90),
            (5, 20),
        );
        s.app(
            "platform/tools/kaniko",
            Oci,
            &[],
            &["v1.22.0", "v1.23.2"],
            1,
            (20, 30),
            (1, 3),
        );
        s.app(
            "platform/tools/terraform",
            Docker,
            &alpine,
            &["1.7.5", "1.8.4", "1.9.0"],
            1,
            (70, 90),
            (1, 2),
        );
        s.app(
            "platform/tools/helm",
            Docker,
            &alpine,
            &["3.14.4", "3.15.1"],
            1,
            (15, 20),
            (0, 1),
        );
        s.app(
            "platform/monitoring/prometheus",
            Oci,
            &alpine,
            &["v2.51.2", "v2.52.0", "v2.53.0"],
            1,
            (90, 110),
            (0, 1),
        );
        s.app(
            "platform/monitoring/grafana",
            Oci,
            &alpine,
            &["10.4.2", "11.0.0"],
            1,
            (300, 350),
            (5, 10),
        );
        s.app(
            "platform/monitoring/node-exporter",
            Oci,
            &[],
            &["v1.8.0", "v1.8.1"],
            2,
            (1, 2),
            (10, 12),
        );

        // Team A: a Python backend, a web front end built for three platforms.
        s.app(
            "team-a/backend/api",
            Docker,
            &python312,
            &["1.0.0", "1.1.0", "1.2.0", "1.2.1", "1.3.0", "1.3.1"],
            2,
            (40, 90),
            (1, 6),
        );
        s.app(
            "team-a/backend/worker",
            Docker,
            &python312,
            &["1.2.0", "1.3.0", "1.3.1"],
            3,
            (60, 80),
            (1, 4),
        );
        s.app(
            "team-a/backend/migrations",
            Docker,
            &python311,
            &["2025.11", "2026.01", "2026.03"],
            3,
            (10, 20),
            (0, 1),
        );
        let w = "team-a/frontend/web";
        for v in ["2.0.0", "2.1.0"] {
            // The built site is the same bytes on every platform: one shared layer.
            let site = layer(&format!("{w} {v} static site"), 8 * MB, 14 * MB);
            let arch_layer = |arch: &str| fixed(&format!("nginx 1.26 binaries {arch}"), 10_822_470);
            let m = s.multi(
                w,
                Oci,
                v,
                &[
                    (AMD64, plus(&nginx, std::slice::from_ref(&site))),
                    (
                        ARM64,
                        vec![
                            fixed("alpine 3.20 rootfs arm64", 4_088_932),
                            arch_layer("arm64"),
                            site.clone(),
                        ],
                    ),
                    (
                        ARMV7,
                        vec![
                            fixed("alpine 3.20 rootfs armv7", 3_176_221),
                            arch_layer("armv7"),
                            site.clone(),
                        ],
                    ),
                ],
            );
            s.tag(w, v, &m);
            if v == "2.1.0" {
                s.tag(w, "latest", &m);
                s.tag(w, "stable", &m);
            }
        }
        s.app(
            "team-a/frontend/storybook",
            Docker,
            &node20_alpine,
            &["main"],
            1,
            (120, 160),
            (3, 8),
        );
        s.app(
            "team-a/mobile/build-env",
            Docker,
            &jdk17,
            &["android-34", "android-35"],
            1,
            (900, 1200),
            (1, 2),
        );

        // Team B: data and services, one repository nested below another.
        s.app(
            "team-b/data/etl",
            Oci,
            &python311,
            &["0.9.0", "0.9.1", "1.0.0"],
            2,
            (150, 200),
            (1, 3),
        );
        s.app(
            "team-b/data/notebooks",
            Oci,
            &python312,
            &["2026.02", "2026.04"],
            1,
            (700, 900),
            (1, 2),
        );
        s.app(
            "team-b/data/airflow",
            Docker,
            &python311,
            &["2.8.4", "2.9.1"],
            1,
            (250, 300),
            (1, 2),
        );
        s.app(
            "team-b/services/billing",
            Oci,
            &jdk21,
            &["3.4.0", "3.4.1", "3.5.0", "3.6.0"],
            2,
            (30, 50),
            (20, 30),
        );
        s.app(
            "team-b/services/billing/db-migrate",
            Oci,
            &jdk21,
            &["3.5.0", "3.6.0"],
            1,
            (5, 10),
            (1, 2),
        );
        s.app(
            "team-b/services/notifications",
            Docker,
            &golang,
            &["0.3.0", "0.4.0"],
            2,
            (10, 15),
            (8, 12),
        );
        s.app(
            "team-b/services/search",
            Docker,
            &jdk21,
            &["8.13.0", "8.14.1"],
            1,
            (400, 450),
            (1, 2),
        );

        // Machine learning: big layers.
        let cuda = plus(
            &ubuntu2204,
            &[
                fixed("cuda 12.4 runtime", 2_127_994_117),
                fixed("cudnn 9", 1_341_201_904),
            ],
        );
        let gpu = "ml/training/gpu-base";
        let m = s.image(gpu, Docker, AMD64, &cuda, "cuda12.4");
        s.tag(gpu, "cuda12.4", &m);
        s.app(
            "ml/training/jobs",
            Docker,
            &cuda,
            &["exp-41", "exp-42", "exp-57"],
            1,
            (1500, 2500),
            (1, 5),
        );
        s.app(
            "ml/models/sentiment",
            Oci,
            &python312,
            &["v1", "v2"],
            1,
            (600, 800),
            (400, 500),
        );
        s.app(
            "ml/models/vision/resnet",
            Oci,
            &python312,
            &["50-v1", "101-v1"],
            2,
            (600, 800),
            (100, 180),
        );

        // Documentation: a site, and per-merge-request previews (a long tag list).
        s.app(
            "docs/website",
            Docker,
            &nginx,
            &["2026-03-02", "2026-04-15"],
            2,
            (0, 1),
            (20, 40),
        );
        let previews: Vec<String> = (101..=134).map(|n| format!("mr-{n}")).collect();
        let previews: Vec<&str> = previews.iter().map(String::as_str).collect();
        s.app(
            "docs/website/preview",
            Docker,
            &nginx,
            &previews,
            40,
            (0, 1),
            (20, 40),
        );

        // Security and infrastructure.
        s.app(
            "security/scanners/trivy",
            Oci,
            &alpine,
            &["0.50.1", "0.52.0"],
            1,
            (50, 60),
            (300, 400),
        );
        s.app(
            "security/scanners/grype",
            Oci,
            &alpine,
            &["0.77.0"],
            1,
            (60, 70),
            (200, 250),
        );
        s.app(
            "infra/ansible/runner",
            Docker,
            &python311,
            &["9.4", "10.0"],
            1,
            (200, 260),
            (1, 2),
        );
        s.app(
            "infra/backup/restic",
            Docker,
            &alpine,
            &["0.16.4", "0.17.0"],
            1,
            (20, 25),
            (0, 1),
        );
        s.app(
            "infra/dns/coredns",
            Oci,
            &[],
            &["1.11.1"],
            1,
            (1, 2),
            (50, 55),
        );

        // Two repositories without tags: one emptied by a cleanup policy (its tag list is
        // `null`), one created and never pushed to (`404 NAME_UNKNOWN`).
        s.repo("research/sandbox/scratch").tags = Tags::Null;
        s.repo("research/legacy/old-app").tags = Tags::NeverTagged;
        s
    }
}

impl Repo {
    fn put_manifest(
        &mut self,
        media_type: &'static str,
        body: &Value,
    ) -> (String, usize, &'static str) {
        let bytes = to_bytes(body);
        let digest = crate::registry::manifest::sha256_digest(&bytes);
        let size = bytes.len();
        self.manifests
            .insert(digest.clone(), Manifest { media_type, bytes });
        (digest, size, media_type)
    }
}

/// Pretty-printed like `docker push` does; the digest is over exactly these bytes.
fn to_bytes(v: &Value) -> Arc<[u8]> {
    serde_json::to_vec_pretty(v).unwrap_or_default().into()
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/// The registry's state shared by its worker threads.
struct Inner {
    store: Store,
    /// `(user, access token)` the token endpoint accepts.
    credentials: (String, String),
    /// `http://127.0.0.1:PORT`, for the token realm.
    origin: String,
    /// Issued registry tokens and when they expire.
    tokens: Mutex<HashMap<String, Instant>>,
    rng: SystemRandom,
}

/// The listening registry, on the service's own connection layer; dropping it stops it.
struct RegistryServer {
    addr: SocketAddr,
    repositories: usize,
    _server: http::Server,
}

impl RegistryServer {
    fn start(store: Store, credentials: (String, String)) -> Result<RegistryServer, DemoError> {
        let listener = http::bind("127.0.0.1", 0).map_err(|e| DemoError::Bind(e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| DemoError::Bind(e.to_string()))?;
        let repositories = store.repos.len();
        let inner = Arc::new(Inner {
            store,
            credentials,
            origin: format!("http://{addr}"),
            tokens: Mutex::new(HashMap::new()),
            rng: SystemRandom::new(),
        });
        let handler: http::Handler = Arc::new(move |req: &http::Request| {
            inner
                .handle(&req.method, &req.url, &req.headers)
                .into_response()
        });
        let opts = http::Options {
            workers: WORKERS,
            limits: http::Limits::default(),
            name: "demo-registry".into(),
        };
        let server = http::Server::start(listener, opts, handler)
            .map_err(|e| DemoError::Bind(format!("cannot start the demo registry: {e}")))?;
        Ok(RegistryServer {
            addr,
            repositories,
            _server: server,
        })
    }
}

/// An answer, independent of the HTTP library so it can be tested directly.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    /// `None` for a HEAD-only length (a layer's size).
    body: Option<Arc<[u8]>>,
    length: usize,
}

impl Reply {
    fn json(status: u16, body: &Value) -> Reply {
        let bytes: Arc<[u8]> = serde_json::to_vec(body).unwrap_or_default().into();
        Reply {
            status,
            length: bytes.len(),
            body: Some(bytes),
            headers: vec![(
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            )],
        }
    }

    /// Distribution's error envelope.
    fn error(status: u16, code: &str, message: &str, detail: Value) -> Reply {
        Reply::json(
            status,
            &json!({"errors": [{"code": code, "message": message, "detail": detail}]}),
        )
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// On the wire every length is stated: a HEAD without the bytes (a layer's size) still
    /// says how long the GET would be.
    fn into_response(self) -> http::Response {
        let length = self.length as u64;
        http::Response {
            status: self.status,
            headers: self
                .headers
                .into_iter()
                .map(|(k, v)| (k.into(), v))
                .collect(),
            body: match self.body {
                Some(bytes) => http::Body::Shared(bytes),
                None => http::Body::stream(Some(length), |_| Ok(())),
            },
        }
    }
}

/// What a `/v2/` path asks for.
enum Route {
    Base,
    Catalog,
    Tags(String),
    Manifest(String, String),
    Blob(String, String),
}

fn route(path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/v2/")?;
    if rest.is_empty() {
        return Some(Route::Base);
    }
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(Route::Tags(name.to_string()));
    }
    // Names contain slashes, references never do: split at the last marker.
    for (marker, manifest) in [("/manifests/", true), ("/blobs/", false)] {
        if let Some(pos) = rest.rfind(marker) {
            let (name, reference) = (&rest[..pos], &rest[pos + marker.len()..]);
            if name.is_empty() || reference.is_empty() || reference.contains('/') {
                return None;
            }
            let (name, reference) = (name.to_string(), reference.to_string());
            return Some(if manifest {
                Route::Manifest(name, reference)
            } else {
                Route::Blob(name, reference)
            });
        }
    }
    None
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Decodes `%XX` in a path; a malformed escape stays as written (a demo answers 404 for such
/// a name rather than refusing the request).
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// A query string as Go's `url.ParseQuery` reads it (`+` is a space; Distribution's `Link`
/// headers encode with `url.QueryEscape`).
fn query_params(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `n` and `last` of a paginated list. `Err` for an `n` that is not a number.
fn page_params(params: &[(String, String)]) -> Result<(Option<usize>, Option<String>), Reply> {
    let mut n = None;
    let mut last = None;
    for (k, v) in params {
        match k.as_str() {
            "n" => {
                n = Some(v.parse::<usize>().map_err(|_| {
                    Reply::error(
                        400,
                        "PAGINATION_NUMBER_INVALID",
                        "invalid number of results requested",
                        json!({"n": v}),
                    )
                })?)
            }
            "last" => last = Some(v.clone()),
            _ => {}
        }
    }
    Ok((n, last))
}

/// One page of `sorted` after `last`, and the `Link` to the next page if more remain.
fn paginate<'a>(
    sorted: &[&'a str],
    n: usize,
    last: Option<&str>,
    path: &str,
) -> (Vec<&'a str>, Option<String>) {
    let start = match last {
        Some(l) => sorted.partition_point(|x| *x <= l),
        None => 0,
    };
    let page: Vec<&str> = sorted[start..].iter().take(n).copied().collect();
    let more = start + page.len() < sorted.len();
    let link = match page.last() {
        Some(l) if more => Some(format!(
            "<{path}?last={}&n={n}>; rel=\"next\"",
            crate::percent::encode(l)
        )),
        _ => None,
    };
    (page, link)
}

impl Inner {
    fn handle(&self, method: &str, url: &str, headers: &[(String, String)]) -> Reply {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let reply = if path == "/jwt/auth" {
            self.token_endpoint(method, query, headers)
        } else {
            self.registry(method, &percent_decode(path), query, headers)
        };
        reply
            .header("Docker-Distribution-Api-Version", "registry/2.0")
            .header("X-Content-Type-Options", "nosniff")
    }

    /// GitLab's `GET /jwt/auth?service=container_registry&scope=...`: HTTP Basic with the
    /// user and personal access token from the config; answers an opaque bearer token.
    fn token_endpoint(&self, method: &str, query: &str, headers: &[(String, String)]) -> Reply {
        if method != "GET" {
            return Reply::json(405, &json!({"message": "405 Method Not Allowed"}))
                .header("Allow", "GET");
        }
        let params = query_params(query);
        let service = params.iter().find(|(k, _)| k == "service").map(|(_, v)| v);
        if service.map(String::as_str) != Some(SERVICE) {
            return Reply::json(
                400,
                &json!({"errors": [{"code": "INVALID_REQUEST", "message": format!("service must be {SERVICE}")}]}),
            );
        }
        let ok = header(headers, "authorization")
            .and_then(parse_basic)
            .is_some_and(|(u, p)| {
                same(u.as_bytes(), self.credentials.0.as_bytes())
                    & same(p.as_bytes(), self.credentials.1.as_bytes())
            });
        if !ok {
            return Reply::json(
                401,
                &json!({"errors": [{"code": "UNAUTHORIZED", "message": "HTTP Basic: Access denied. The provided password or token is incorrect or your account has 2FA enabled and you must use a personal access token instead of a password."}]}),
            )
            .header("WWW-Authenticate", "Basic realm=\"GitLab\"");
        }
        let mut raw = [0u8; 32];
        if self.rng.fill(&mut raw).is_err() {
            return Reply::json(
                500,
                &json!({"errors": [{"code": "UNKNOWN", "message": "no randomness"}]}),
            );
        }
        let token = {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(raw)
                .replace('_', "-")
        };
        let now = Instant::now();
        if let Ok(mut tokens) = self.tokens.lock() {
            // Expired tokens go when new ones come, so the map stays small.
            tokens.retain(|_, expiry| *expiry > now);
            tokens.insert(token.clone(), now + TOKEN_TTL);
        }
        Reply::json(
            200,
            &json!({"token": token, "expires_in": TOKEN_TTL.as_secs()}),
        )
    }

    fn authorised(&self, headers: &[(String, String)]) -> bool {
        let Some(token) = header(headers, "authorization").and_then(|h| {
            let (scheme, rest) = h.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        }) else {
            return false;
        };
        let now = Instant::now();
        self.tokens
            .lock()
            .map(|t| t.get(token).is_some_and(|expiry| *expiry > now))
            .unwrap_or(false)
    }

    fn registry(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(String, String)],
    ) -> Reply {
        let Some(route) = route(path) else {
            // What Go's HTTP mux answers for a path no handler owns.
            let body: &[u8] = b"404 page not found\n";
            return Reply {
                status: 404,
                headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
                body: Some(Arc::from(body)),
                length: body.len(),
            };
        };
        if !self.authorised(headers) {
            let scope = match &route {
                Route::Base => String::new(),
                Route::Catalog => ",scope=\"registry:catalog:*\"".into(),
                Route::Tags(name) | Route::Manifest(name, _) | Route::Blob(name, _) => {
                    format!(",scope=\"repository:{name}:pull\"")
                }
            };
            return Reply::error(401, "UNAUTHORIZED", "authentication required", Value::Null)
                .header(
                    "WWW-Authenticate",
                    format!(
                        "Bearer realm=\"{}/jwt/auth\",service=\"{SERVICE}\"{scope}",
                        self.origin
                    ),
                );
        }
        let head = method == "HEAD";
        if method != "GET" && !head {
            return Reply::error(
                405,
                "UNSUPPORTED",
                "The operation is unsupported.",
                Value::Null,
            )
            .header("Allow", "GET, HEAD");
        }
        let params = query_params(query);
        match route {
            Route::Base => Reply::json(200, &json!({})),
            Route::Catalog => {
                let (n, last) = match page_params(&params) {
                    Ok(p) => p,
                    Err(reply) => return reply,
                };
                let n = n.unwrap_or(CATALOG_DEFAULT_N).min(CATALOG_MAX_N);
                let names: Vec<&str> = self.store.repos.keys().map(String::as_str).collect();
                let (page, link) = paginate(&names, n, last.as_deref(), "/v2/_catalog");
                let reply = Reply::json(200, &json!({"repositories": page}));
                match link {
                    Some(l) => reply.header("Link", l),
                    None => reply,
                }
            }
            Route::Tags(name) => {
                let Some(repo) = self.store.repos.get(&name) else {
                    return name_unknown(&name);
                };
                let tags = match &repo.tags {
                    Tags::Listed(t) => t,
                    Tags::Null => return Reply::json(200, &json!({"name": name, "tags": null})),
                    Tags::NeverTagged => return name_unknown(&name),
                };
                let (n, last) = match page_params(&params) {
                    Ok(p) => p,
                    Err(reply) => return reply,
                };
                let all: Vec<&str> = tags.keys().map(String::as_str).collect();
                // Without `n`, the whole list, as Distribution 2.x answers; with it, pages
                // with a `Link`, as 3.x does.
                let (page, link) = match n {
                    None => (all, None),
                    Some(n) => paginate(&all, n, last.as_deref(), &format!("/v2/{name}/tags/list")),
                };
                let reply = Reply::json(200, &json!({"name": name, "tags": page}));
                match link {
                    Some(l) => reply.header("Link", l),
                    None => reply,
                }
            }
            Route::Manifest(name, reference) => {
                self.manifest(&name, &reference, header(headers, "accept"), head)
            }
            Route::Blob(name, digest) => self.blob(&name, &digest, head),
        }
    }

    fn manifest(&self, name: &str, reference: &str, accept: Option<&str>, head: bool) -> Reply {
        let Some(repo) = self.store.repos.get(name) else {
            return name_unknown(name);
        };
        if matches!(repo.tags, Tags::NeverTagged) {
            return name_unknown(name);
        }
        let by_digest = reference.contains(':');
        let digest = if by_digest {
            Some(reference.to_string())
        } else if let Tags::Listed(tags) = &repo.tags {
            tags.get(reference).cloned()
        } else {
            None
        };
        let Some((digest, m)) = digest.and_then(|d| repo.manifests.get(&d).map(|m| (d, m))) else {
            let detail = if by_digest {
                json!({"Name": name, "Revision": reference})
            } else {
                json!({"Name": name, "Tag": reference})
            };
            return Reply::error(404, "MANIFEST_UNKNOWN", "manifest unknown", detail);
        };
        // A client that lists the types it understands gets nothing else (a real registry
        // would try to convert, or refuse); no Accept at all means "anything".
        if let Some(accept) = accept {
            let accepted = accept.split(',').any(|item| {
                let t = item.split(';').next().unwrap_or("").trim();
                t == m.media_type || t == "*/*" || t == "application/*"
            });
            if !accepted {
                return Reply::error(
                    404,
                    "MANIFEST_UNKNOWN",
                    &format!("manifest of type {} not in the Accept header", m.media_type),
                    json!({"Name": name, "Revision": digest}),
                );
            }
        }
        Reply {
            status: 200,
            headers: vec![
                ("Content-Type".into(), m.media_type.into()),
                ("Docker-Content-Digest".into(), digest.clone()),
                ("Etag".into(), format!("\"{digest}\"")),
            ],
            length: m.bytes.len(),
            body: (!head).then(|| m.bytes.clone()),
        }
    }

    fn blob(&self, name: &str, digest: &str, head: bool) -> Reply {
        let Some(repo) = self.store.repos.get(name) else {
            return name_unknown(name);
        };
        let Some(blob) = repo.blobs.get(digest) else {
            return Reply::error(
                404,
                "BLOB_UNKNOWN",
                "blob unknown to registry",
                json!(digest),
            );
        };
        let Ok(length) = usize::try_from(blob.size) else {
            return Reply::error(500, "UNKNOWN", "blob too large", Value::Null);
        };
        let body = match (&blob.content, head) {
            (_, true) => None,
            (Some(content), false) => Some(content.clone()),
            (None, false) => {
                return Reply::error(
                    404,
                    "BLOB_UNKNOWN",
                    "the demo registry keeps layer sizes, not layer contents",
                    json!(digest),
                )
            }
        };
        Reply {
            status: 200,
            headers: vec![
                ("Content-Type".into(), "application/octet-stream".into()),
                ("Docker-Content-Digest".into(), digest.to_string()),
                ("Accept-Ranges".into(), "bytes".into()),
                ("Etag".into(), format!("\"{digest}\"")),
            ],
            length,
            body,
        }
    }
}

fn name_unknown(name: &str) -> Reply {
    Reply::error(
        404,
        "NAME_UNKNOWN",
        "repository name not known to registry",
        json!({"name": name}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inner() -> Inner {
        Inner {
            store: Store::generate(),
            credentials: ("u".into(), "p".into()),
            origin: "http://127.0.0.1:1".into(),
            tokens: Mutex::new(HashMap::new()),
            rng: SystemRandom::new(),
        }
    }

    #[test]
    fn routes() {
        assert!(matches!(route("/v2/"), Some(Route::Base)));
        assert!(matches!(route("/v2/_catalog"), Some(Route::Catalog)));
        assert!(matches!(route("/v2/a/b/c/tags/list"), Some(Route::Tags(n)) if n == "a/b/c"));
        assert!(matches!(
            route("/v2/a/manifests/b/manifests/latest"),
            Some(Route::Manifest(n, r)) if n == "a/manifests/b" && r == "latest"
        ));
        assert!(matches!(
            route("/v2/x/y/blobs/sha256:ab"),
            Some(Route::Blob(n, d)) if n == "x/y" && d == "sha256:ab"
        ));
        assert!(route("/v2/manifests/").is_none());
        assert!(route("/v1/_catalog").is_none());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb%2fc"), "a/b/c");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(
            query_params("a+b%=c%2Bd&n=5"),
            vec![("a b%".into(), "c+d".into()), ("n".into(), "5".into())]
        );
        assert_eq!(
            crate::percent::encode("team-a/backend api"),
            "team-a%2Fbackend%20api"
        );
    }

    #[test]
    fn pagination_walks_everything_once() {
        let names = ["a", "b", "c", "d", "e"];
        let (p, link) = paginate(&names, 2, None, "/v2/_catalog");
        assert_eq!(p, ["a", "b"]);
        assert_eq!(
            link.as_deref(),
            Some("</v2/_catalog?last=b&n=2>; rel=\"next\"")
        );
        let (p, link) = paginate(&names, 2, Some("d"), "/v2/_catalog");
        assert_eq!(p, ["e"]);
        assert!(link.is_none());
        let (p, link) = paginate(&names, 5, None, "/v2/_catalog");
        assert_eq!(p.len(), 5);
        assert!(link.is_none());
        // `last` need not exist (it may have been deleted meanwhile).
        let (p, _) = paginate(&names, 9, Some("bb"), "/x");
        assert_eq!(p, ["c", "d", "e"]);
    }

    #[test]
    fn token_flow() {
        let r = inner();
        use base64::Engine as _;
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        let basic = format!("Basic {}", b64(b"u:p"));
        let wrong = format!("Basic {}", b64(b"u:q"));
        let q = "/jwt/auth?service=container_registry&scope=registry:catalog:*";
        assert_eq!(r.handle("GET", q, &[]).status, 401);
        assert_eq!(
            r.handle("GET", q, &[("Authorization".into(), wrong)])
                .status,
            401
        );
        assert_eq!(
            r.handle(
                "GET",
                "/jwt/auth?service=other",
                &[("Authorization".into(), basic.clone())]
            )
            .status,
            400
        );
        let ok = r.handle("GET", q, &[("authorization".into(), basic)]);
        assert_eq!(ok.status, 200);
        let body: Value = serde_json::from_slice(&ok.body.unwrap()).unwrap();
        let token = body["token"].as_str().unwrap().to_string();
        assert_eq!(body["expires_in"], 900);
        assert!(token.len() >= 40);
        let bearer = vec![("Authorization".to_string(), format!("Bearer {token}"))];
        assert_eq!(r.handle("GET", "/v2/", &bearer).status, 200);
        assert_eq!(r.handle("DELETE", "/v2/", &bearer).status, 405);
        let other = vec![("Authorization".to_string(), "Bearer nope".to_string())];
        assert_eq!(r.handle("GET", "/v2/", &other).status, 401);
    }

    #[test]
    fn generated_tree_is_realistic() {
        let s = Store::generate();
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
        let holders = s
            .repos
            .values()
            .filter(|r| r.blobs.contains_key(&debian))
            .count();
        assert!(holders >= 10, "{holders}");
        // Alias tags, both list types, and the two tagless kinds.
        let Tags::Listed(debian_tags) = &s.repos["platform/base/debian"].tags else {
            panic!("debian has tags");
        };
        assert_eq!(debian_tags["bookworm"], debian_tags["12.7"]);
        let types: Vec<&str> = s
            .repos
            .values()
            .flat_map(|r| r.manifests.values().map(|m| m.media_type))
            .collect();
        for t in [DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX] {
            assert!(types.contains(&t), "{t}");
        }
        assert!(matches!(
            s.repos["research/sandbox/scratch"].tags,
            Tags::Null
        ));
        assert!(matches!(
            s.repos["research/legacy/old-app"].tags,
            Tags::NeverTagged
        ));
        // Deterministic: a second generation gives the same digests.
        let again = Store::generate();
        for (name, repo) in &s.repos {
            let mut a: Vec<&String> = repo.manifests.keys().collect();
            let mut b: Vec<&String> = again.repos[name].manifests.keys().collect();
            a.sort();
            b.sort();
            assert_eq!(a, b, "{name}");
        }
    }

    #[test]
    fn authenticator_accepts_only_the_demo_login() {
        let a = DemoAuthenticator {
            user: "demo".into(),
            password: "secret-pw".into(),
        };
        assert_eq!(a.authenticate("demo", "secret-pw"), Ok("demo".into()));
        assert_eq!(
            a.authenticate("demo", "secret-pX"),
            Err(LoginError::Rejected)
        );
        assert_eq!(
            a.authenticate("Demo", "secret-pw"),
            Err(LoginError::Rejected)
        );
        assert_eq!(a.authenticate("demo", ""), Err(LoginError::Rejected));
    }

    #[test]
    fn passwords_are_shell_safe() {
        let p = password_text(&[0, 31, 32, 255, 77]);
        assert_eq!(p.len(), 5);
        assert!(p.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
