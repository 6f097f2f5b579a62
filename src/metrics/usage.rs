//! The registry's part of `/metrics`: the usage numbers of the served snapshot, in total,
//! per repository and per namespace. Each family is a row of a table (name, help, how to read
//! it), so adding one is one row. No I/O; names are data and are escaped.

use super::{escape_label, float, Out};
use crate::snapshot::{Namespace, Repository, Snapshot};

/// One figure of the whole snapshot.
type Total = fn(&Snapshot) -> u64;

/// One figure of a repository; `None`: the repository has no sample (never read).
type PerRepository = fn(&Repository) -> Option<u64>;

/// One figure of a namespace.
type PerNamespace = fn(&Namespace) -> u64;

const TOTALS: [(&str, &str, Total); 6] = [
    (
        "registry_disk_size_bytes",
        "Bytes of all distinct blobs that tags refer to (the sum of every disk_size).",
        |s| s.unique_bytes(),
    ),
    (
        "registry_size_bytes",
        "Sum of the size of every tag (shared blobs counted once per tag).",
        |s| {
            s.repositories
                .iter()
                .filter_map(|r| r.size)
                .fold(0u64, u64::saturating_add)
        },
    ),
    (
        "registry_blobs",
        "Distinct blobs (configs and layers) that tags refer to.",
        |s| s.blobs.len() as u64,
    ),
    (
        "repositories",
        "Repositories in the registry's catalog.",
        |s| s.repositories.len() as u64,
    ),
    (
        "tags",
        "Tags of the repositories whose tags could be read.",
        |s| s.tag_count() as u64,
    ),
    (
        "namespaces",
        "Namespaces (group path prefixes of repository names).",
        |s| s.namespaces.len() as u64,
    ),
];

const PER_REPOSITORY: [(&str, &str, PerRepository); 4] = [
    (
        "repository_size_bytes",
        "Bytes of the distinct blobs of each tag, summed over the repository's tags.",
        |r| r.size,
    ),
    (
        "repository_disk_size_bytes",
        "Bytes of storage charged to the repository (each blob charged to one tag).",
        |r| r.disk_size,
    ),
    (
        "repository_exclusive_size_bytes",
        "Bytes no other repository refers to: what deleting the repository would free.",
        |r| r.exclusive_size,
    ),
    ("repository_tags", "Tags of the repository.", |r| {
        r.tags.as_ref().map(|t| t.len() as u64)
    }),
];

const PER_NAMESPACE: [(&str, &str, PerNamespace); 5] = [
    (
        "namespace_size_bytes",
        "Sum of the size of the repositories below the namespace.",
        |n| n.size,
    ),
    (
        "namespace_disk_size_bytes",
        "Sum of the disk_size of the repositories below the namespace.",
        |n| n.disk_size,
    ),
    (
        "namespace_exclusive_size_bytes",
        "Bytes nothing outside the namespace refers to: what deleting it would free.",
        |n| n.exclusive_size,
    ),
    (
        "namespace_repositories",
        "Repositories below the namespace, at any depth.",
        |n| n.repositories as u64,
    ),
    (
        "namespace_tags",
        "Tags of the repositories below the namespace.",
        |n| n.tags as u64,
    ),
];

pub(super) fn registry(o: &mut Out, s: &Snapshot) {
    o.gauge(
        "snapshot_timestamp_seconds",
        "Unix time when the crawl that produced the served numbers finished.",
        float(s.timestamp),
    );
    for (name, help, value) in TOTALS {
        o.gauge(name, help, value(s));
    }

    let labels: Vec<String> = s
        .repositories
        .iter()
        .map(|r| format!("repository=\"{}\"", escape_label(&r.name)))
        .collect();
    let repositories = || s.repositories.iter().zip(&labels);
    for (name, help, value) in PER_REPOSITORY {
        o.series(
            name,
            "gauge",
            help,
            repositories().map(|(r, l)| (l, value(r))),
        );
    }
    o.series(
        "repository_stale_since_timestamp_seconds",
        "gauge",
        "Unix time of the first crawl that could not refresh the repository (stale repositories only).",
        repositories().map(|(r, l)| (l, r.stale_since.map(float))),
    );

    let labels: Vec<String> = s
        .namespaces
        .iter()
        .map(|n| format!("namespace=\"{}\"", escape_label(&n.name)))
        .collect();
    for (name, help, value) in PER_NAMESPACE {
        let samples = s.namespaces.iter().zip(&labels);
        o.series(
            name,
            "gauge",
            help,
            samples.map(|(n, l)| (l, Some(value(n)))),
        );
    }
}
