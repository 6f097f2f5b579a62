//! The storage scans' part of `/metrics` (see [`crate::storage`]): what is on disk and what
//! the registry's garbage collection would free, from the last good scan. No I/O.

use super::{escape_label, float, Out};
use crate::storage::{Finished, RepoGarbage};

/// One figure of a repository's garbage.
type PerRepo = fn(&RepoGarbage) -> u64;

/// What `/metrics` shows of the storage scans (see [`crate::storage`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct StorageView<'a> {
    pub enabled: bool,
    pub scans: u64,
    pub failures: u64,
    /// The last good scan.
    pub last: Option<&'a Finished>,
}

const PER_REPOSITORY: [(&str, &str, PerRepo); 2] = [
    (
        "storage_repository_untagged_bytes",
        "Bytes only a repository's untagged manifests hold, by repository.",
        |g| g.untagged_bytes,
    ),
    (
        "storage_repository_untagged_manifests",
        "Untagged manifest revisions, by repository.",
        |g| g.untagged_manifests,
    ),
];

pub(super) fn storage_scans(o: &mut Out, s: &StorageView<'_>) {
    o.gauge(
        "storage_scan_enabled",
        "1 when the registry's storage is scanned ([storage] driver is set).",
        u8::from(s.enabled),
    );
    if !s.enabled {
        return;
    }
    o.counter(
        "storage_scans_total",
        "Storage scans finished since the service started, good or failed.",
        s.scans,
    );
    o.counter(
        "storage_scan_failures_total",
        "Storage scans that failed (the last good one stays served).",
        s.failures,
    );
    if let Some(f) = s.last {
        last_scan(o, f);
    }
}

/// The figures of the served scan.
fn last_scan(o: &mut Out, f: &Finished) {
    let r = &f.scan.report;
    o.gauge(
        "storage_last_scan_timestamp_seconds",
        "Unix time when the served storage scan finished.",
        float(f.finished),
    );
    o.gauge(
        "storage_last_scan_duration_seconds",
        "How long the served storage scan took.",
        float(f.finished - f.started),
    );
    o.gauge(
        "storage_blobs",
        "Blobs in the registry's storage.",
        r.blobs.count,
    );
    o.gauge(
        "storage_blob_bytes",
        "Bytes of the blobs in the registry's storage (their data files).",
        r.blobs.bytes,
    );
    let modes = [
        ("plain", r.gc.blobs, r.gc.bytes),
        ("delete_untagged", r.gc_untagged.blobs, r.gc_untagged.bytes),
    ];
    o.series(
        "storage_gc_reclaimable_blobs",
        "gauge",
        "Blobs garbage-collect would delete now, without and with --delete-untagged.",
        modes.map(|(mode, blobs, _)| (format!("mode=\"{mode}\""), Some(blobs))),
    );
    o.series(
        "storage_gc_reclaimable_bytes",
        "gauge",
        "Bytes garbage-collect would free now, without and with --delete-untagged.",
        modes.map(|(mode, _, bytes)| (format!("mode=\"{mode}\""), Some(bytes))),
    );
    o.gauge(
        "storage_untagged_manifests",
        "Manifest revisions no tag points at (deleted by --delete-untagged).",
        r.gc_untagged.manifests,
    );
    o.gauge("storage_gc_breaking_lists", "Tagged manifest lists / indexes whose children --delete-untagged would delete (Distribution 2.x).", r.breaks.len());
    o.gauge(
        "storage_uploads",
        "Half-done uploads in the storage.",
        r.uploads.count,
    );
    o.gauge(
        "storage_upload_bytes",
        "Bytes of half-done uploads.",
        r.uploads.bytes,
    );
    o.optional_gauge(
        "storage_oldest_upload_timestamp_seconds",
        "Unix time when the oldest half-done upload started (absent without one).",
        r.uploads.oldest,
    );
    o.gauge(
        "storage_scan_warnings",
        "Problems the served scan found in the storage (see the log or /storage).",
        f.scan.warning_count,
    );
    for (name, help, value) in PER_REPOSITORY {
        let samples = r.repositories.iter().map(|g| {
            let labels = format!("repository=\"{}\"", escape_label(&g.name));
            (labels, Some(value(g)))
        });
        o.series(name, "gauge", help, samples);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::mark::{Break, Uploads};
    use crate::storage::Scan;

    #[test]
    fn storage_figures_with_prometheus_names() {
        let mut scan = Scan::default();
        scan.report.blobs.count = 3;
        scan.report.blobs.bytes = 300;
        scan.report.gc.bytes = 100;
        scan.report.gc_untagged.bytes = 200;
        scan.report.breaks = vec![Break {
            repository: "m".into(),
            tags: vec!["latest".into()],
            manifests: 2,
        }];
        scan.report.uploads = Uploads {
            count: 1,
            bytes: 7,
            oldest: Some(1_000),
        };
        scan.report.repositories = vec![RepoGarbage {
            name: "a\"b".into(),
            untagged_manifests: 1,
            untagged_bytes: 99,
            uploads: 0,
            upload_bytes: 0,
        }];
        let f = Finished {
            driver: "filesystem",
            started: 10.0,
            finished: 12.5,
            scan,
        };
        let mut o = Out(String::new());
        storage_scans(
            &mut o,
            &StorageView {
                enabled: true,
                scans: 2,
                failures: 1,
                last: Some(&f),
            },
        );
        let t = o.0;
        for line in [
            "gitlab_registry_usage_storage_scan_enabled 1",
            "gitlab_registry_usage_storage_scans_total 2",
            "gitlab_registry_usage_storage_scan_failures_total 1",
            "gitlab_registry_usage_storage_blob_bytes 300",
            "gitlab_registry_usage_storage_gc_reclaimable_bytes{mode=\"plain\"} 100",
            "gitlab_registry_usage_storage_gc_reclaimable_bytes{mode=\"delete_untagged\"} 200",
            "gitlab_registry_usage_storage_gc_breaking_lists 1",
            "gitlab_registry_usage_storage_oldest_upload_timestamp_seconds 1000",
            "gitlab_registry_usage_storage_last_scan_duration_seconds 2.5",
            "gitlab_registry_usage_storage_repository_untagged_bytes{repository=\"a\\\"b\"} 99",
        ] {
            assert!(t.lines().any(|l| l == line), "{line} missing in\n{t}");
        }
        let mut o = Out(String::new());
        storage_scans(&mut o, &StorageView::default());
        assert!(
            o.0.ends_with("gitlab_registry_usage_storage_scan_enabled 0\n"),
            "{}",
            o.0
        );
    }
}
