//! Measures the storage scan (`[storage] driver = filesystem`) on a generated storage tree of
//! 1,000,000 blobs: `cargo bench --bench storage` (optionally `-- BLOBS`, at least 100,000).
//! Prints the generation time, the scan's seconds (wall and CPU) and its peak extra memory
//! (VmHWM after the scan minus VmRSS before it, the peak reset through /proc/self/clear_refs).
//! `STORAGE_BENCH_DIR=/some/dir` keeps the generated tree there for reruns.
//!
//! The tree, in a temp dir removed at the end: 1,000 repositories of 10 manifest revisions,
//! 5 of them tagged (and in the crawl's snapshot, so not read) and 5 untagged (read from
//! storage); each manifest has its own config and 1/10,000 of the layers, so the blobs are
//! manifests, configs and layers as in Distribution's layout (`blobs/sha256/XX/HEX/data`).
//! Layers are sparse files (sizes without disk blocks). `_layers` gets one link per
//! repository: the scan does not enter `_layers`, only its existence matters.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use gitlab_registry_usage_rest::snapshot::{RepositoryInput, Snapshot, SnapshotInput, TagInput};
use gitlab_registry_usage_rest::storage::fs::FsStore;
use gitlab_registry_usage_rest::storage::{scan, Known, Limits};

const REPOS: usize = 1_000;
const REVISIONS: usize = 10;
const TAGGED: usize = 5;

fn hex(i: usize) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, &(i as u64).to_le_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn status(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU seconds (user + system) this process used so far (clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the command name in parentheses: utime and stime are the 12th and 13th fields.
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    (f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)) as f64 / 100.0
}

struct Plan {
    layers_per_manifest: usize,
}

impl Plan {
    fn manifests(&self) -> usize {
        REPOS * REVISIONS
    }
    /// Blob ids: manifests, then configs, then layers.
    fn config(&self, m: usize) -> usize {
        self.manifests() + m
    }
    fn layer(&self, m: usize, j: usize) -> usize {
        2 * self.manifests() + m * self.layers_per_manifest + j
    }
    fn layer_size(id: usize) -> u64 {
        1_000 + (id as u64 * 7_919) % 2_000_000
    }
}

fn write_blob(v2: &Path, h: &str, bytes: &[u8], sparse: u64) {
    let dir = v2.join("blobs/sha256").join(&h[..2]).join(h);
    std::fs::create_dir_all(&dir).unwrap();
    let f = std::fs::File::create(dir.join("data")).unwrap();
    if sparse > 0 {
        f.set_len(sparse).unwrap();
    } else {
        use std::io::Write;
        (&f).write_all(bytes).unwrap();
    }
}

fn manifest_json(p: &Plan, m: usize) -> String {
    let layers: Vec<String> = (0..p.layers_per_manifest)
        .map(|j| {
            let id = p.layer(m, j);
            format!(
                r#"{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":{},"digest":"sha256:{}"}}"#,
                Plan::layer_size(id),
                hex(id)
            )
        })
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":300,"digest":"sha256:{}"}},"layers":[{}]}}"#,
        hex(p.config(m)),
        layers.join(",")
    )
}

/// Writes manifests `ms` (their blobs, configs, layers and repository links).
fn generate_part(v2: &Path, p: &Plan, ms: std::ops::Range<usize>) {
    for m in ms {
        let (r, k) = (m / REVISIONS, m % REVISIONS);
        let repo = v2.join(format!("repositories/group{}/app{r}", r % 10));
        let mh = hex(m);
        write_blob(v2, &mh, manifest_json(p, m).as_bytes(), 0);
        write_blob(v2, &hex(p.config(m)), &[b' '; 300], 0);
        for j in 0..p.layers_per_manifest {
            let id = p.layer(m, j);
            write_blob(v2, &hex(id), b"", Plan::layer_size(id));
        }
        let rev = repo.join("_manifests/revisions/sha256").join(&mh);
        std::fs::create_dir_all(&rev).unwrap();
        std::fs::write(rev.join("link"), format!("sha256:{mh}")).unwrap();
        if k < TAGGED {
            let tag = repo.join(format!("_manifests/tags/v{k}/current"));
            std::fs::create_dir_all(&tag).unwrap();
            std::fs::write(tag.join("link"), format!("sha256:{mh}")).unwrap();
        }
        if k == 0 {
            let l = repo.join("_layers/sha256").join(hex(p.config(m)));
            std::fs::create_dir_all(&l).unwrap();
            std::fs::write(l.join("link"), format!("sha256:{}", hex(p.config(m)))).unwrap();
        }
    }
}

/// The crawl's view: the tagged manifests with their blobs.
fn snapshot(p: &Plan) -> Snapshot {
    let mut blobs = HashMap::new();
    let repositories = (0..REPOS)
        .map(|r| RepositoryInput {
            name: format!("group{}/app{r}", r % 10),
            tags: Some(
                (0..TAGGED)
                    .map(|k| {
                        let m = r * REVISIONS + k;
                        let mut bl = vec![format!("sha256:{}", hex(p.config(m)))];
                        blobs.insert(bl[0].clone(), 300);
                        for j in 0..p.layers_per_manifest {
                            let id = p.layer(m, j);
                            let d = format!("sha256:{}", hex(id));
                            blobs.insert(d.clone(), Plan::layer_size(id));
                            bl.push(d);
                        }
                        TagInput {
                            name: format!("v{k}"),
                            digest: format!("sha256:{}", hex(m)),
                            media_type: "application/vnd.docker.distribution.manifest.v2+json"
                                .into(),
                            platforms: vec![],
                            blobs: bl,
                            created: None,
                        }
                    })
                    .collect(),
            ),
            stale_since: None,
        })
        .collect();
    Snapshot::build(SnapshotInput {
        timestamp: 0.0,
        repositories,
        blobs,
    })
    .unwrap()
}

/// Removes the tree even when the benchmark panics.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn main() {
    let blobs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000)
        .max(100_000);
    let plan = Plan {
        layers_per_manifest: (blobs - 2 * REPOS * REVISIONS) / (REPOS * REVISIONS),
    };
    let total = 2 * plan.manifests() + plan.manifests() * plan.layers_per_manifest;
    // STORAGE_BENCH_DIR: generate there once and keep it (a rerun skips the generation).
    let kept = std::env::var_os("STORAGE_BENCH_DIR").map(PathBuf::from);
    let root: PathBuf = kept.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("grur-bench-storage-{}", std::process::id()))
    });
    let v2 = root.join("docker/registry/v2");
    let cleanup = kept.is_none().then(|| Cleanup(root.clone()));
    let t = Instant::now();
    let n = plan.manifests();
    if !v2.join("repositories").exists() {
        std::thread::scope(|s| {
            let (v2, plan) = (&v2, &plan);
            s.spawn(move || generate_part(v2, plan, 0..n / 2));
            s.spawn(move || generate_part(v2, plan, n / 2..n));
        });
        println!(
            "generated {total} blobs in {} repositories: {:.1} s",
            REPOS,
            t.elapsed().as_secs_f64()
        );
    }
    let snap = snapshot(&plan);

    // Peak memory from here on.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = status("VmRSS:");
    let cpu = cpu_seconds();
    let t = Instant::now();
    let known = Known::from_snapshot(&snap);
    let store = FsStore::open(&root).unwrap();
    let result = scan(&store, &known, &Limits::default()).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    let peak = status("VmHWM:");
    let r = &result.report;
    println!(
        "scan: {secs:.1} s ({cpu:.1} s of CPU), peak extra memory {:.1} MiB; {} blobs, {} bytes; gc {} blobs, \
         -m {} manifests / {} blobs; {} manifests read, {} from the snapshot; {} warnings",
        peak.saturating_sub(rss_before) as f64 / 1024.0,
        r.blobs.count,
        r.blobs.bytes,
        r.gc.blobs,
        r.gc_untagged.manifests,
        r.gc_untagged.blobs,
        result.manifests_read,
        result.manifests_known,
        result.warning_count
    );
    assert_eq!(r.blobs.count, total as u64);
    assert_eq!(
        r.gc_untagged.manifests,
        (REPOS * (REVISIONS - TAGGED)) as u64
    );
    let t = Instant::now();
    drop(cleanup);
    println!("removed the tree: {:.1} s", t.elapsed().as_secs_f64());
}
