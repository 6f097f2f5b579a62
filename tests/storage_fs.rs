//! The storage scan against a real registry's filesystem storage: Debian's `docker-registry`
//! gets the tests' standard content (a manifest list, an OCI index, shared layers) plus four
//! kinds of garbage (a tag pushed twice, a manifest deleted by digest, a lone blob, a
//! half-done upload); then, with the registry stopped, our scan is compared with
//! `docker-registry garbage-collect --dry-run` (the eligible digests' `data` sizes) with and
//! without `--delete-untagged`, and a real `garbage-collect` runs on copies of the storage:
//! the bytes that disappear must equal ours to the byte, and a scan after it shows the drop.
//!
//! Also bad input on a copy: a non-JSON manifest blob, a link to a missing blob, a symlink
//! loop and a symlink out of the root are warnings naming the path, and the scan goes on.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use gitlab_registry_usage_rest::storage::fs::FsStore;
use gitlab_registry_usage_rest::storage::{scan, Known, Limits, Scan};

use support::garbage::{assert_same_as_dry_runs, registry_with_garbage};
use support::real_registry::{blob_files, garbage_collect_with, RealOptions};
use support::TempDir;

/// `/metrics` needs its bearer token (an open `/metrics` refuses to start).
const METRICS: &[(&str, &str)] = &[("Authorization", "Bearer storage-metrics")];

/// Runs `docker-registry garbage-collect` on a filesystem storage at `root`.
fn garbage_collect(root: &Path, flags: &[&str]) -> String {
    let config = root.with_extension("gc.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n",
            root.display()
        ),
    )
    .unwrap();
    garbage_collect_with(&config, flags)
}

fn copy_of(root: &Path, dir: &TempDir, name: &str) -> PathBuf {
    let to = dir.0.join(name);
    let ok = Command::new("cp")
        .arg("-a")
        .arg(root)
        .arg(&to)
        .status()
        .unwrap()
        .success();
    assert!(ok, "cp -a {}", root.display());
    to
}

fn scan_dir(root: &Path, known: &Known<'_>) -> Scan {
    let store = FsStore::open(root).unwrap_or_else(|e| panic!("{e}"));
    scan(&store, known, &Limits::default()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn scan_equals_what_garbage_collect_deletes() {
    let Some((reg, truth)) = registry_with_garbage(RealOptions::default()) else {
        return;
    };
    let root = reg.storage_root();
    let snapshot = truth.snapshot();
    let known = Known::from_snapshot(&snapshot);
    let s = scan_dir(&root, &known);
    let r = &s.report;
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let files = blob_files(&root);
    assert_eq!(r.blobs.count, files.len() as u64);
    assert_eq!(r.blobs.bytes, files.values().sum::<u64>());

    // The dry runs name the same blobs (and, with -m, as many manifests).
    let dry = garbage_collect(&root, &["--dry-run"]);
    let dry_m = garbage_collect(&root, &["--dry-run", "--delete-untagged"]);
    assert_same_as_dry_runs(r, &files, &dry, &dry_m);
    assert!(r.gc.bytes > 0 && r.gc_untagged.bytes > r.gc.bytes);

    // Both tagged multi-arch images break under -m.
    let breaks: Vec<(&str, Vec<&str>, u64)> = r
        .breaks
        .iter()
        .map(|b| {
            (
                b.repository.as_str(),
                b.tags.iter().map(String::as_str).collect(),
                b.manifests,
            )
        })
        .collect();
    assert_eq!(
        breaks,
        vec![
            ("multi/oci", vec!["v2.0.1"], 3),
            ("multi/tool", vec!["latest", "stable"], 2)
        ]
    );
    assert_eq!((r.uploads.count, r.uploads.bytes >= 4096), (1, true));
    assert!(r.uploads.oldest.is_some());
    let app = r
        .repositories
        .iter()
        .find(|x| x.name == "garbage/app")
        .unwrap();
    assert_eq!((app.untagged_manifests, app.uploads), (1, 1));
    assert!(app.untagged_bytes > 2100, "{app:?}");
    // The crawl's snapshot spares reading the tagged image manifests: only the lists, their
    // children and the untagged manifest are read.
    assert_eq!(
        (s.manifests_read, s.manifests_known),
        (2 + 5 + 1, known.len() as u64)
    );
    let cold = scan_dir(&root, &Known::default());
    assert_eq!(
        cold.report, s.report,
        "the same figures without the snapshot"
    );

    // Real garbage collections on copies free exactly what we said.
    let copies = TempDir::new("storage-gc");
    for (flags, want) in [
        (&[][..], r.gc.bytes),
        (&["--delete-untagged"][..], r.gc_untagged.bytes),
    ] {
        let copy = copy_of(
            &root,
            &copies,
            if flags.is_empty() {
                "plain"
            } else {
                "untagged"
            },
        );
        let out = garbage_collect(&copy, flags);
        let left: u64 = blob_files(&copy).values().sum();
        assert_eq!(
            r.blobs.bytes - left,
            want,
            "garbage-collect {flags:?} freed:\n{out}"
        );
        let after = scan_dir(&copy, &known);
        assert_eq!(
            after.report.blobs.bytes,
            r.blobs.bytes - want,
            "the next scan shows the drop"
        );
        assert_eq!(after.report.gc.bytes, 0);
    }
    eprintln!(
        "storage of the test registry: {} blobs, {} bytes; garbage-collect frees {} blobs / {} bytes, \
         --delete-untagged {} manifests / {} blobs / {} bytes (garbage-collect's own output agreed)",
        r.blobs.count, r.blobs.bytes, r.gc.blobs, r.gc.bytes,
        r.gc_untagged.manifests, r.gc_untagged.blobs, r.gc_untagged.bytes
    );
}

/// Writes `rel` below the v2 root of `root`, making directories.
fn put(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join("docker/registry/v2").join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

#[test]
fn bad_input_is_a_warning_and_the_scan_goes_on() {
    let Some((reg, truth)) = registry_with_garbage(RealOptions::default()) else {
        return;
    };
    let snapshot = truth.snapshot();
    let known = Known::from_snapshot(&snapshot);
    let good = scan_dir(&reg.storage_root(), &known).report;
    let dir = TempDir::new("storage-bad");
    let root = copy_of(&reg.storage_root(), &dir, "root");

    // A revision whose blob is not JSON.
    let junk = b"\x00 not a manifest".to_vec();
    let junk_digest = support::fake_registry::sha256(&junk);
    let hex = junk_digest.trim_start_matches("sha256:").to_string();
    let junk_path = format!("blobs/sha256/{}/{hex}/data", &hex[..2]);
    put(&root, &junk_path, &junk);
    let revs = "repositories/garbage/app/_manifests/revisions/sha256";
    put(&root, &format!("{revs}/{hex}/link"), junk_digest.as_bytes());
    // A revision link to a blob that is not there.
    let missing = format!("sha256:{}", "ab".repeat(32));
    put(
        &root,
        &format!("{revs}/{}/link", "ab".repeat(32)),
        missing.as_bytes(),
    );
    // A symlink loop, and a symlink out of the root.
    let v2 = root.join("docker/registry/v2");
    std::os::unix::fs::symlink("..", v2.join("repositories/garbage/app/loop")).unwrap();
    let outside = TempDir::new("storage-outside");
    std::os::unix::fs::symlink(&outside.0, v2.join("repositories/elsewhere")).unwrap();

    let s = scan_dir(&root, &known);
    let text: Vec<String> = s.warnings.iter().map(ToString::to_string).collect();
    let has = |path: &str, word: &str| text.iter().any(|w| w.starts_with(path) && w.contains(word));
    assert!(has(&junk_path, "not a manifest"), "{text:#?}");
    assert!(
        has(
            &format!("{revs}/{}/link", "ab".repeat(32)),
            "not in the blob store"
        ),
        "{text:#?}"
    );
    assert!(
        has("repositories/garbage/app/loop", "not followed"),
        "{text:#?}"
    );
    assert!(
        has("repositories/elsewhere", "outside the root"),
        "{text:#?}"
    );
    assert_eq!(s.warning_count, 4, "{text:#?}");
    // The rest is as before: one more blob (the junk, marked by its own revision), one more
    // untagged manifest.
    let r = &s.report;
    assert_eq!(r.blobs.count, good.blobs.count + 1);
    assert_eq!(r.gc, good.gc);
    assert_eq!(r.gc_untagged.manifests, good.gc_untagged.manifests + 1);
    assert_eq!(r.unreadable_manifests, 1);
    assert_eq!(r.breaks, good.breaks);

    // No storage at all: an error naming the path and the key to fix.
    let e = FsStore::open(&dir.0.join("nowhere"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("nowhere"), "{e}");
    let e = FsStore::open(&outside.0).err().unwrap().to_string();
    assert!(
        e.contains("docker/registry/v2") && e.contains("rootdirectory"),
        "{e}"
    );
}

/// Polls `GET /storage` until `done` holds for its body (bounded).
fn wait_storage(
    svc: &support::service::Service,
    what: &str,
    done: impl Fn(u16, &serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let r = svc.get_auth("/storage");
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
        if done(r.status, &v) {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: /storage is still {} {v}\n{}",
            r.status,
            svc.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn storage_over_http_through_the_real_binary() {
    use support::service::{state_bytes, Options, Service};
    let Some((reg, truth)) = registry_with_garbage(RealOptions::default()) else {
        return;
    };
    let dir = TempDir::new("storage-http");
    let root = copy_of(&reg.storage_root(), &dir, "root");
    let snapshot = truth.snapshot();
    let want = scan_dir(&root, &Known::from_snapshot(&snapshot)).report;
    let svc = Service::start(Options {
        general: format!(
            "[storage]\ndriver = filesystem\nrootdirectory = {}\nscan_interval = 1 s\n\
             [metrics]\nenabled = true\nbearer_token = storage-metrics\n",
            root.display()
        ),
        state: Some(state_bytes(truth.input())),
        ..Options::default()
    });
    assert_eq!(
        svc.get("/storage", &[]).status,
        401,
        "Bearer like every resource"
    );
    let v = wait_storage(&svc, "first scan", |s, _| s == 200);
    assert_eq!(v["driver"], "filesystem");
    assert_eq!(v["blobs"]["bytes"], want.blobs.bytes);
    assert_eq!(v["gc"]["bytes"], want.gc.bytes);
    assert_eq!(v["gc_untagged"]["bytes"], want.gc_untagged.bytes);
    assert_eq!(v["gc_untagged"]["manifests"], want.gc_untagged.manifests);
    assert_eq!(v["breaks"].as_array().unwrap().len(), 2);
    assert_eq!(v["uploads"]["count"], 1);
    assert!(v["uploads"]["oldest"].as_str().unwrap().ends_with('Z'));
    assert!(v["_embedded"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["name"] == "garbage/app"));
    assert_eq!(v["_links"]["self"]["href"], "/storage");
    assert!(
        svc.log_text().contains("storage scan (filesystem)"),
        "{}",
        svc.log_text()
    );

    // Cached per scan, with validators.
    let b = svc.bearer();
    let r = svc.get("/storage", &[("Authorization", &b)]);
    let etag = r.header("etag").unwrap().to_string();
    let r2 = svc.get(
        "/storage",
        &[("Authorization", &b), ("If-None-Match", &etag)],
    );
    // 200 only when a newer scan came in between (scan_interval is 1 s here).
    assert!(
        r2.status == 304 || (r2.status == 200 && r2.header("etag") != Some(etag.as_str())),
        "{}",
        r2.status
    );

    let m = svc.get("/metrics", METRICS).text();
    let line = format!(
        "gitlab_registry_usage_storage_gc_reclaimable_bytes{{mode=\"plain\"}} {}",
        want.gc.bytes
    );
    assert!(m.contains(&line), "{m}");
    assert!(m.contains("gitlab_registry_usage_storage_blobs "), "{m}");

    // A real garbage collection: the next scan shows what went.
    garbage_collect(&root, &[]);
    let v = wait_storage(&svc, "scan after gc", |_, v| v["gc"]["bytes"] == 0);
    assert_eq!(v["blobs"]["bytes"], want.blobs.bytes - want.gc.bytes);

    // A failing scan keeps the last good one served.
    let gone = dir.0.join("moved-away");
    std::fs::rename(&root, &gone).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !svc
        .get("/metrics", METRICS)
        .text()
        .contains("storage_scan_failures_total 1")
    {
        assert!(std::time::Instant::now() < deadline, "{}", svc.log_text());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let r = svc.get_auth("/storage");
    assert_eq!(r.status, 200);
    assert!(
        svc.log_text().contains("the last good scan stays served"),
        "{}",
        svc.log_text()
    );
}

#[test]
fn storage_off_and_storage_missing_over_http() {
    use support::service::{Options, Service};
    let svc = Service::start(Options::default());
    let r = svc.get_auth("/storage");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("[storage] driver"), "{}", r.text());
    let dir = TempDir::new("storage-none");
    let svc = Service::start(Options {
        general: format!(
            "[storage]\ndriver = filesystem\nrootdirectory = {}/nowhere\n",
            dir.0.display()
        ),
        ..Options::default()
    });
    let v = wait_storage(&svc, "failed first scan", |s, v| {
        s == 503 && v["message"].as_str().is_some_and(|m| m.contains("nowhere"))
    });
    assert!(
        v["message"].as_str().unwrap().contains("last one failed"),
        "{v}"
    );
}

#[test]
fn check_config_lists_the_root_and_counts_its_blobs() {
    use support::service::{BIN, SECRET};
    let Some((reg, _)) = registry_with_garbage(RealOptions::default()) else {
        return;
    };
    let root = reg.storage_root();
    let dir = TempDir::new("storage-doctor");
    let run = |rootdirectory: &Path| {
        let conf = dir.0.join("test.conf");
        std::fs::write(
            &conf,
            format!(
                "[general]\nsocket_host = 127.0.0.1\nsocket_port = 0\n[ldap]\nhost = ldap://127.0.0.1:1\n\
                 allow_insecure = true\n[jwt]\nsecret_key = {SECRET}\n[registry]\nregistry_base_url =\n\
                 state_file = {}\n[storage]\ndriver = filesystem\nrootdirectory = {}\n",
                dir.0.join("state.json").display(),
                rootdirectory.display()
            ),
        )
        .unwrap();
        let out = Command::new(BIN)
            .args(["--check-config", "--offline", "-c"])
            .arg(&conf)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let files = blob_files(&root);
    let (code, out) = run(&root);
    let want = format!(
        "ok: [storage] rootdirectory: {} is readable: {} blobs, {} bytes",
        std::fs::canonicalize(&root).unwrap().display(),
        files.len(),
        files.values().sum::<u64>()
    );
    assert!(out.contains(&want), "{out}");
    assert!(out.contains("storage scan:       filesystem"), "{out}");
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = run(&dir.0.join("nowhere"));
    assert!(
        out.contains("error: [storage] rootdirectory: ") && out.contains("nowhere"),
        "{out}"
    );
    assert_eq!(code, Some(1), "{out}");
}
