//! The registry content of the storage tests: the standard content (a manifest list, an OCI
//! index, shared layers) pushed to a real `docker-registry`, plus four kinds of garbage (a tag
//! pushed twice, a manifest deleted by digest, a lone blob, a half-done upload); and the
//! parser of `garbage-collect`'s "eligible for deletion" lines.

use std::collections::{BTreeMap, BTreeSet};

use gitlab_registry_usage_rest::storage::Report;

use super::collector::{blob, config_blob, push_image, push_standard, Target, Truth};
use super::fake_registry::{
    DOCKER_CONFIG, DOCKER_LAYER, DOCKER_V2, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST,
};
use super::real_registry::{RealOptions, RealRegistry};

/// The standard content plus the four kinds of garbage; returns the stopped registry and
/// what a crawl would have found.
pub fn registry_with_garbage(opts: RealOptions) -> Option<(RealRegistry, Truth)> {
    // The token issuer signs RS256 (see tests/cleanup_registry.rs).
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
    let mut reg = RealRegistry::start_with(opts)?;
    let mut truth = Truth::default();
    push_standard(&mut reg, &mut truth, 2);

    // A tag pushed twice: the first manifest stays as an untagged revision.
    let c1 = config_blob(DOCKER_CONFIG, "garbage-app-1", Some("2025-06-01T00:00:00Z"));
    let l1 = blob(DOCKER_LAYER, "garbage-app-layer-1", 2100);
    let shared = blob(DOCKER_LAYER, "garbage-app-shared", 1300);
    push_image(
        &mut reg,
        "garbage/app",
        "latest",
        DOCKER_V2,
        &c1,
        &[&shared, &l1],
    );
    let c2 = config_blob(DOCKER_CONFIG, "garbage-app-2", Some("2025-06-02T00:00:00Z"));
    let l2 = blob(DOCKER_LAYER, "garbage-app-layer-2", 2200);
    let second = push_image(
        &mut reg,
        "garbage/app",
        "latest",
        DOCKER_V2,
        &c2,
        &[&shared, &l2],
    );
    truth.tag("garbage/app", "latest", &second);

    // A manifest deleted by digest (and with it its tag).
    let c3 = config_blob(OCI_CONFIG, "garbage-gone", Some("2025-06-03T00:00:00Z"));
    let l3 = blob(OCI_LAYER, "garbage-gone-layer", 1800);
    let gone = push_image(&mut reg, "garbage/gone", "v1", OCI_MANIFEST, &c3, &[&l3]);
    reg.delete_manifest("garbage/gone", &gone.digest);
    let c4 = config_blob(OCI_CONFIG, "garbage-kept", Some("2025-06-04T00:00:00Z"));
    let kept = push_image(&mut reg, "garbage/gone", "v2", OCI_MANIFEST, &c4, &[&l3]);
    truth.tag("garbage/gone", "v2", &kept);

    // A lone blob: uploaded, never referenced.
    let lone = blob(DOCKER_LAYER, "garbage-lone", 5000);
    reg.blob("garbage/app", &lone.0, &lone.1);

    // A half-done upload.
    reg.start_upload("garbage/app", &[7u8; 4096]);
    reg.stop();
    Some((reg, truth))
}

/// The digests after `what eligible for deletion: ` in garbage-collect's output.
pub fn eligible(output: &str, what: &str) -> BTreeSet<String> {
    let key = format!("{what} eligible for deletion: ");
    output
        .lines()
        .filter_map(|l| l.split_once(key.as_str()))
        .map(|(_, d)| d.trim().to_string())
        .collect()
}

/// Asserts that `r` names what `garbage-collect --dry-run` printed without (`dry`) and with
/// (`dry_m`) `--delete-untagged`: as many blobs, the sum of their `sizes`, as many manifests.
pub fn assert_same_as_dry_runs(r: &Report, sizes: &BTreeMap<String, u64>, dry: &str, dry_m: &str) {
    let bytes = |set: &BTreeSet<String>| set.iter().map(|d| sizes[d]).sum::<u64>();
    let plain = eligible(dry, "blob");
    assert_eq!(
        (r.gc.blobs, r.gc.bytes),
        (plain.len() as u64, bytes(&plain)),
        "{dry}"
    );
    let with_m = eligible(dry_m, "blob");
    let manifests = dry_m.matches("manifest eligible for deletion: ").count() as u64;
    assert_eq!(
        (
            r.gc_untagged.manifests,
            r.gc_untagged.blobs,
            r.gc_untagged.bytes
        ),
        (manifests, with_m.len() as u64, bytes(&with_m)),
        "{dry_m}"
    );
}
