//! Memory against a hostile registry (issue 18, point 3): manifests far larger than any real
//! one must not make the collector take hundreds of megabytes. Alone in its file, so that the
//! process's peak RSS (`VmHWM`) is this test's.

mod support;

use gitlab_registry_usage_rest::registry::crawl_once;

use support::collector::*;
use support::fake_registry::*;
use support::logs::capture_logs;

/// Peak resident memory of this process, in KiB.
fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// An image manifest of about `bytes` bytes: one layer repeated (what a registry could send
/// to make a generic JSON parse expensive: every descriptor becomes a map).
fn bloated_manifest(config: &Desc, layer: &Desc, bytes: usize) -> Vec<u8> {
    let one = format!(
        r#"{{"mediaType":"{}","digest":"{}","size":{}}}"#,
        layer.media_type, layer.digest, layer.size
    );
    let n = bytes / (one.len() + 1);
    let layers = vec![one; n].join(",");
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{}","digest":"{}","size":{}}},"layers":[{layers}]}}"#,
        config.media_type, config.digest, config.size
    )
    .into_bytes()
}

#[test]
fn two_manifests_of_32_mib_cost_the_crawl_little_memory() {
    capture_logs();
    let reg = FakeRegistry::start(FakeOptions::default());
    let config = Desc::of(OCI_CONFIG, b"{}");
    let layer = Desc::of(OCI_LAYER, b"layer");
    reg.add_blob(&config);
    reg.add_blob(&layer);
    for repo in ["big/one", "big/two"] {
        let body = bloated_manifest(&config, &layer, 32 << 20);
        reg.put_manifest(repo, Some("latest"), OCI_MANIFEST, &body);
    }
    let (user, pass) = reg.opts.auth.clone().unwrap();
    let cfg = registry_config(&reg.url, &user, &pass);
    let measured = |cfg: &gitlab_registry_usage_rest::config::Registry| {
        let before = peak_kib();
        let out = crawl_once(cfg, None, test_options()).unwrap();
        let grown = peak_kib().saturating_sub(before);
        eprintln!(
            "max_manifest_size {} MiB: peak RSS grew by {} MiB during the crawl; failed: {:?}",
            cfg.max_manifest_size >> 20,
            grown / 1024,
            out.failed
        );
        (out, grown)
    };
    let (out, grown) = measured(&cfg);
    assert!(grown < 100 * 1024, "peak RSS grew by {} MiB", grown / 1024);
    // both refused, by size, before any parsing
    assert_eq!(out.failed.len(), 2, "{:?}", out.failed);
    assert!(out.failed.iter().all(|(_, why)| why.contains("4194304")));
    // With the limit raised, the typed parse keeps only the descriptors (~64 MiB of bodies).
    let mut cfg = cfg;
    cfg.max_manifest_size = 64 << 20;
    let (out, _) = measured(&cfg);
    assert!(out.failed.is_empty(), "{:?}", out.failed);
}
