//! The storage scan on S3: Debian's `docker-registry` on a bucket of moto's S3 server (both on
//! 127.0.0.1, started here) gets the standard content plus four kinds of garbage; then our scan
//! through the S3 driver is compared with the registry's own `garbage-collect --dry-run` on the
//! same bucket (the eligible digests' sizes from the bucket's listing), with and without
//! `--delete-untagged`, and must read no manifest the crawl already read.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use gitlab_registry_usage_rest::config::{Storage, StorageDriver};
use gitlab_registry_usage_rest::storage::s3::S3Client;
use gitlab_registry_usage_rest::storage::{run_once, scan, Known, Limits};

use support::garbage::{assert_same_as_dry_runs, registry_with_garbage};
use support::real_registry::{RealOptions, Storage as RegistryStorage};
use support::s3::{Moto, ACCESS_KEY, REGION, SECRET_KEY};

const BLOBS: &str = "docker/registry/v2/blobs/";

fn storage(moto: &Moto, bucket: &str) -> Storage {
    let c = moto.config(bucket, "/");
    Storage {
        driver: StorageDriver::S3,
        rootdirectory: "/".into(),
        bucket: bucket.into(),
        region: REGION.into(),
        regionendpoint: c.regionendpoint,
        accesskey: ACCESS_KEY.into(),
        secretkey: SECRET_KEY.into(),
        scan_interval: None,
        timeout: Duration::from_secs(20),
        max_manifest_size: Limits::default().max_manifest_size,
        max_warnings: 100,
    }
}

#[test]
fn s3_scan_equals_what_garbage_collect_deletes_on_the_same_bucket() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("registry");
    let Some((reg, truth)) = registry_with_garbage(RealOptions {
        storage: RegistryStorage::S3(moto.registry_storage("registry", "/")),
        ..RealOptions::default()
    }) else {
        return;
    };
    let snapshot = truth.snapshot();
    let cfg = storage(&moto, "registry");
    let before = moto.requests_matching("GET /registry/docker/registry/v2/blobs/");
    let f = run_once(&cfg, Some(&snapshot)).unwrap_or_else(|e| panic!("{e}"));
    let manifest_gets = moto.requests_matching("GET /registry/docker/registry/v2/blobs/") - before;
    let r = &f.scan.report;
    assert_eq!(f.driver, "s3");
    assert!(f.scan.warnings.is_empty(), "{:?}", f.scan.warnings);

    // Sizes as the bucket lists them.
    let client = S3Client::new(&moto.config("registry", "/")).unwrap();
    let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
    client
        .list(BLOBS, &mut |k, n| {
            if let Some(rest) = k.strip_prefix(BLOBS).and_then(|r| r.strip_suffix("/data")) {
                let (algo, rest) = rest.split_once('/').unwrap();
                let hex = rest.rsplit('/').next().unwrap();
                sizes.insert(format!("{algo}:{hex}"), n);
            }
        })
        .unwrap();
    assert_eq!(
        (r.blobs.count, r.blobs.bytes),
        (sizes.len() as u64, sizes.values().sum())
    );

    let dry = reg.garbage_collect(&["--dry-run"]);
    let dry_m = reg.garbage_collect(&["--dry-run", "--delete-untagged"]);
    assert_same_as_dry_runs(r, &sizes, &dry, &dry_m);
    assert_eq!(r.breaks.len(), 2, "{:?}", r.breaks);
    assert!(r.gc.bytes > 0 && r.gc_untagged.bytes > r.gc.bytes);
    // The half-done upload: on S3 a multipart upload beside its `startedat` object.
    assert_eq!(r.uploads.count, 1, "{:?}", r.uploads);
    // Only the manifests the crawl never read are fetched: the two lists, their five children
    // and the untagged one; no GET of any other blob.
    let known = Known::from_snapshot(&snapshot).len() as u64;
    assert_eq!((f.scan.manifests_read, f.scan.manifests_known), (8, known));
    assert_eq!(manifest_gets, 8, "one GET per manifest read");

    // The same figures without the snapshot (every manifest read from the bucket).
    let store_cold = gitlab_registry_usage_rest::storage::open_store(&cfg).unwrap();
    let cold = scan(store_cold.as_ref(), &Known::default(), &Limits::default()).unwrap();
    assert_eq!(cold.report, f.scan.report);
    eprintln!(
        "s3 storage of the test registry: {:?}; gc {:?}, -m {:?} (garbage-collect agreed)",
        r.blobs, r.gc, r.gc_untagged
    );
}

#[test]
fn a_missing_bucket_fails_the_scan_naming_it() {
    let Some(moto) = Moto::start() else { return };
    let e = run_once(&storage(&moto, "no-such-bucket"), None)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("no-such-bucket"), "{e}");
}
