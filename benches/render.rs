//! Measures building a snapshot (and the share of namespaces and exclusive sizes in it) and
//! rendering `/repositories?embed=true`, listed pages, `/namespaces` and `/metrics` for a
//! large generated registry: time per render, body size, and heap held by the snapshot.
//! Run with `cargo bench --bench render` (optionally `-- REPOS TAGS`).

#[path = "support/registry.rs"]
mod registry;

use std::collections::HashMap;
use std::time::Instant;

use gitlab_registry_usage_rest::hal::{self, Listing, Query, Resource};
use gitlab_registry_usage_rest::metrics;
use gitlab_registry_usage_rest::registry::status::CollectorState;
use gitlab_registry_usage_rest::snapshot::usage;
use gitlab_registry_usage_rest::snapshot::{RepositoryInput, Snapshot, SnapshotInput, TagInput};

fn generate(repos: usize, tags: usize) -> SnapshotInput {
    let mut blobs = HashMap::new();
    let mut repositories = Vec::with_capacity(repos);
    for r in 0..repos {
        let mut ts = Vec::with_capacity(tags);
        for t in 0..tags {
            let bl = registry::tag_blobs(&mut blobs, r, t, tags, 10);
            ts.push(TagInput {
                name: format!("v{t}.0.{}", t * 7 % 13),
                digest: format!("sha256:{:064x}", 90_000_000 + r * tags + t),
                media_type: "application/vnd.docker.distribution.manifest.v2+json".into(),
                platforms: vec![],
                blobs: bl,
                created: None,
            });
        }
        repositories.push(RepositoryInput {
            name: format!("group{}/sub{}/project-{r}", r % 37, r % 5),
            tags: Some(ts),
            stale_since: None,
        });
    }
    SnapshotInput {
        timestamp: 1.0,
        repositories,
        blobs,
    }
}

fn main() {
    let (repos, tags) = registry::size_from_args();
    let input = generate(repos, tags);
    let t = Instant::now();
    let snap = Snapshot::build(input).expect("generated input is complete");
    let build = t.elapsed();
    println!(
        "snapshot: {repos} repositories x {tags} tags = {} tags, {} blobs; built in {:.1} ms; holds {:.1} MiB of heap",
        snap.tag_count(),
        snap.blobs.len(),
        build.as_secs_f64() * 1000.0,
        snap.heap_bytes() as f64 / 1048576.0
    );
    // The share of the build spent on namespaces and exclusive sizes (usage::compute).
    let mut repos = snap.repositories.clone();
    let runs = 5;
    let t = Instant::now();
    let mut namespaces = 0;
    for _ in 0..runs {
        namespaces = usage::compute(&mut repos, &snap.blobs, &snap.blob_refs).len();
    }
    println!(
        "usage::compute (namespaces and exclusive sizes): {:.1} ms per snapshot, {namespaces} namespaces",
        t.elapsed().as_secs_f64() * 1000.0 / runs as f64
    );
    for (label, q) in [
        (
            "sort=disk_size&order=desc&limit=50&embed=1",
            "sort=disk_size&order=desc&limit=50&embed=1",
        ),
        ("q=project-1&embed=1", "q=project-1&embed=1"),
    ] {
        let listing = Listing::parse(q).expect("valid parameters");
        let runs = 20;
        let t = Instant::now();
        let mut len = 0;
        for _ in 0..runs {
            len =
                hal::render_json(&snap, Resource::Collection, Query::parse(q), &listing, "").len();
        }
        println!(
            "render /repositories?{label}: {:.2} ms per response, {len} bytes",
            t.elapsed().as_secs_f64() * 1000.0 / runs as f64
        );
    }
    let t = Instant::now();
    let len = hal::render_json(
        &snap,
        Resource::Namespaces,
        Query::parse("embed=1"),
        &Listing::default(),
        "",
    )
    .len();
    println!(
        "render /namespaces?embed=1: {:.2} ms, {len} bytes",
        t.elapsed().as_secs_f64() * 1000.0
    );
    let http = metrics::HttpMetrics::default();
    let t = Instant::now();
    let len = metrics::render(
        Some(&snap),
        &CollectorState::default(),
        &http,
        &metrics::StorageView::default(),
    )
    .len();
    println!(
        "render /metrics: {:.1} ms, {:.1} MiB",
        t.elapsed().as_secs_f64() * 1000.0,
        len as f64 / 1048576.0
    );
    for (label, q) in [
        ("embed=true", "embed=true"),
        ("embed=true&links=true", "embed=true&links=true"),
    ] {
        let query = Query::parse(q);
        let mut len = 0;
        let runs = 10;
        let t = Instant::now();
        for _ in 0..runs {
            len =
                hal::render_json(&snap, Resource::Collection, query, &Listing::default(), "").len();
        }
        let per = t.elapsed().as_secs_f64() * 1000.0 / runs as f64;
        println!(
            "render /repositories?{label}: {per:.1} ms per response, {:.1} MiB body, {:.0} MiB/s",
            len as f64 / 1048576.0,
            len as f64 / 1048576.0 / (per / 1000.0)
        );
    }
    let t = Instant::now();
    let runs = 100_000;
    let mut n = 0;
    for i in 0..runs {
        let r = &snap.repositories[i % snap.repositories.len()];
        n += hal::render_json(
            &snap,
            Resource::Repository(r),
            Query::default(),
            &Listing::default(),
            "",
        )
        .len();
    }
    println!(
        "render one repository: {:.2} µs per response ({n} bytes in all)",
        t.elapsed().as_secs_f64() * 1e6 / runs as f64
    );
}
