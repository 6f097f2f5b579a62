//! Measures the clean-up dry run (`GET /cleanup`) on a large generated registry: the rule
//! alone (parse + dry run) and the whole answer (with the JSON body), for several rules; and
//! `GET /policies` (every project's clean-up policy previewed) over the same registry with
//! one GitLab project per repository: a third with an enabled policy (some with protected
//! tags), a third disabled, a third without one (GitLab's default is previewed).
//! Run with `cargo bench --bench cleanup` (optionally `-- REPOS TAGS`; default 10,000 × 10
//! = 100,000 tags). Prints the median and the slowest of the runs.

#[path = "support/registry.rs"]
mod registry;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use gitlab_registry_usage_rest::cleanup::{dry_run, Limits, Rule};
use gitlab_registry_usage_rest::server::{cleanup_resource, policies_resource};
use gitlab_registry_usage_rest::snapshot::{
    ExpirationPolicy, Project, RepositoryInput, Snapshot, SnapshotInput, TagInput,
};

const NOW: i64 = 1_800_000_000;

/// Like benches/render.rs: 3 of 150 shared base layers, a per-repository layer and two
/// per-tag blobs per tag; created times spread over a year, one tag in 20 unknown; every
/// tenth tag is an alias of the one before it; a `latest` in every repository.
fn generate(repos: usize, tags: usize) -> SnapshotInput {
    let mut blobs = HashMap::new();
    let mut repositories = Vec::with_capacity(repos);
    for r in 0..repos {
        let mut ts: Vec<TagInput> = Vec::with_capacity(tags);
        for t in 0..tags {
            let alias = t % 10 == 9;
            let u = if alias { t - 1 } else { t };
            let bl = registry::tag_blobs(&mut blobs, r, u, tags, 3);
            let name = if t == 0 {
                "latest".to_string()
            } else if t % 4 == 0 {
                format!("release-{t}")
            } else {
                format!("{:040x}", r * tags + t) // a Git SHA
            };
            let created =
                ((r + t) % 20 != 0).then(|| NOW - ((r * 7919 + t * 104_729) % 31_536_000) as i64);
            ts.push(TagInput {
                name,
                digest: format!("sha256:{:064x}", 90_000_000 + r * tags + u),
                media_type: "application/vnd.docker.distribution.manifest.v2+json".into(),
                platforms: vec![],
                blobs: bl,
                created,
            });
        }
        repositories.push(RepositoryInput {
            name: format!("group{}/sub{}/project-{r}", r % 37, r % 5),
            tags: Some(ts),
            stale_since: None,
        });
    }
    SnapshotInput {
        // The crawl's time: /policies evaluates policies then.
        timestamp: NOW as f64,
        repositories,
        blobs,
    }
}

/// One project per repository, policies as described above.
fn projects(snap: &Snapshot) -> Vec<Project> {
    snap.repositories
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let policy = (i % 3 != 2).then(|| ExpirationPolicy {
                enabled: i % 3 == 0,
                cadence: Some("1d".into()),
                keep_n: [Some(5), None, Some(10)][i % 3],
                older_than: Some(["30d", "90d", "14d"][i % 3].into()),
                name_regex: Some(".*".into()),
                name_regex_keep: (i % 2 == 0).then(|| "release-.*".into()),
                next_run_at: None,
            });
            Project {
                id: i as u64 + 1,
                path: r.name.clone(),
                web_url: format!("https://gitlab.example/{}", r.name),
                policy,
                protected: if i % 6 == 0 {
                    vec!["^release-1".into(), "-stable$".into()]
                } else {
                    Vec::new()
                },
            }
        })
        .collect()
}

/// Times `/policies` (rendered each time, as on a cache miss) for a few queries.
fn bench_policies(snap: &Snapshot, runs: usize) {
    for q in ["", "sort=freed_bytes_if_enabled&order=desc&limit=20"] {
        let mut times = Vec::new();
        let mut body = 0;
        for _ in 0..runs {
            let t = Instant::now();
            let resp =
                policies_resource(snap, q, false, "", Limits::default()).expect("valid request");
            times.push(t.elapsed());
            body = resp.body.len().unwrap_or(0) as usize;
        }
        times.sort();
        println!(
            "/policies?{q}\n  {} projects; whole answer {:.1} ms median ({:.1} max), {:.1} MiB JSON",
            snap.projects.len(),
            ms(times[runs / 2]),
            ms(times[runs - 1]),
            body as f64 / 1048576.0
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let (repos, tags) = registry::size_from_args();
    let t = Instant::now();
    let snap = Snapshot::build(generate(repos, tags)).expect("generated input is complete");
    let with = projects(&snap);
    let snap = snap.with_projects(with);
    println!(
        "snapshot: {} tags, {} blobs, built in {:.1} ms (reference counts included)",
        snap.tag_count(),
        snap.blobs.len(),
        ms(t.elapsed())
    );
    let runs = 15;
    for q in [
        "name_regex_delete=.*",
        "name_regex_delete=[0-9a-f]{40}&keep_n=3&older_than=30d",
        "name_regex_delete=.*&name_regex_keep=release-.*&keep_n=5",
        "name_regex_delete=.*&older_than=90d&namespace=group7",
        "name_regex_delete=.*&keep_n=1&repository=group1%2Fsub1%2Fproject-1",
    ] {
        let mut rule_times = Vec::new();
        let mut answer_times = Vec::new();
        let mut body = 0;
        let mut summary = String::new();
        for _ in 0..runs {
            let t = Instant::now();
            let rule = Rule::parse(q, Limits::default()).expect("valid rule");
            let report = dry_run(&snap, &rule, NOW).expect("known scope");
            rule_times.push(t.elapsed());
            summary = format!(
                "{} deleted, {} kept, {:.1} GiB freed",
                report.tags_deleted,
                report.tags_kept,
                report.freed_bytes as f64 / (1u64 << 30) as f64
            );
            let t = Instant::now();
            let resp = cleanup_resource(&snap, q, false, "", Limits::default(), NOW)
                .expect("valid request");
            answer_times.push(t.elapsed());
            body = resp.body.len().unwrap_or(0) as usize;
        }
        rule_times.sort();
        answer_times.sort();
        println!(
            "{q}\n  {summary}; dry run {:.1} ms median ({:.1} max); whole answer {:.1} ms median ({:.1} max), {:.1} MiB JSON",
            ms(rule_times[runs / 2]),
            ms(rule_times[runs - 1]),
            ms(answer_times[runs / 2]),
            ms(answer_times[runs - 1]),
            body as f64 / 1048576.0
        );
    }
    bench_policies(&snap, runs);
}
