//! Crawl benchmark (a program, not a timed test): serves a generated registry of 1,000
//! repositories × 10 tags from the in-process fake Distribution server on 127.0.0.1, with
//! 5 ms added to every request, and crawls it at concurrency 1 and 8, cold and warm,
//! printing request counts and wall time against the goal of 1.5 × requests × L / C (latency L, concurrency C).
//! Also the same crawls without added latency (the machine's own floor).
//!
//! Run: `cargo bench --bench crawl` (options: `-- --repos N --tags N --latency-ms N`).
//! `-- --real N` instead pushes N repositories × `--tags` tags into Debian's `docker-registry`
//! (Distribution 2.8, token auth, as in the tests) and crawls it directly: the floor that a
//! real registry's own CPU cost sets on this machine.
//! Every loop is bounded by the generated registry's size; nothing leaves 127.0.0.1.

#[path = "../tests/support/mod.rs"]
mod support;

use support::fake_registry as fake;

use std::time::Duration;

use fake::{
    blob_bytes, image_config, image_manifest, index_manifest, Child, Desc, FakeOptions,
    FakeRegistry, DOCKER_CONFIG, DOCKER_LAYER, DOCKER_V2, OCI_INDEX,
};
use gitlab_registry_usage_rest::config;
use gitlab_registry_usage_rest::registry::{CrawlOptions, Crawler, RequestStats};

struct Args {
    repos: usize,
    tags: usize,
    latency_ms: u64,
    real: Option<usize>,
}

fn args() -> Args {
    let mut a = Args {
        repos: 1000,
        tags: 10,
        latency_ms: 5,
        real: None,
    };
    let v: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < v.len() {
        let next = v.get(i + 1).and_then(|x| x.parse::<usize>().ok());
        match (v[i].as_str(), next) {
            ("--repos", Some(n)) => a.repos = n.clamp(1, 20_000),
            ("--tags", Some(n)) => a.tags = n.clamp(1, 1000),
            ("--latency-ms", Some(n)) => a.latency_ms = n.min(1000) as u64,
            ("--real", Some(n)) => a.real = Some(n.clamp(1, 2000)),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

/// Fills the fake: every repository has `tags` tags; the last two tags share one manifest
/// (an alias, as `latest` usually is), every 10th repository's last tags are a two-platform
/// OCI index, and all images share one base layer. Returns (tags, distinct children).
fn generate(reg: &FakeRegistry, repos: usize, tags: usize) -> (usize, usize) {
    let desc = |mt: &str, seed: &str, size: u64| -> Desc {
        let d = Desc::of(mt, &blob_bytes(seed, 8));
        Desc { size, ..d }
    };
    // Image configs are real JSON with a creation time: the crawl reads each once.
    let config = |seed: &str, t: usize| -> Desc {
        let created = format!("2025-{:02}-01T00:00:00Z", 1 + t % 12);
        let bytes = image_config(seed, Some(&created));
        let d = Desc::of(DOCKER_CONFIG, &bytes);
        reg.add_blob_bytes(&d, &bytes);
        d
    };
    let base = desc(DOCKER_LAYER, "base", 30_000_000);
    reg.add_blob(&base);
    let mut children = 0;
    for r in 0..repos {
        let name = format!("group{}/project{r}", r % 37);
        let mut last: Option<(String, Vec<u8>)> = None;
        for t in 0..tags {
            let tag = if t + 1 == tags && tags > 1 {
                "latest".to_string()
            } else {
                format!("1.{t}.{}", r % 7)
            };
            if t + 1 == tags && tags > 1 {
                // alias of the previous tag
                if let Some((mt, body)) = &last {
                    reg.put_manifest(&name, Some(&tag), mt, body);
                }
                continue;
            }
            let cfg = config(&format!("cfg-{r}-{t}"), t);
            let layer = desc(
                DOCKER_LAYER,
                &format!("layer-{r}-{t}"),
                1_000_000 + r as u64,
            );
            reg.add_blob(&layer);
            let body = image_manifest(DOCKER_V2, &cfg, &[base.clone(), layer.clone()]);
            if r % 10 == 0 && t + 2 == tags {
                // a multi-arch index over this image and an arm64 twin
                let cfg2 = config(&format!("cfg-arm-{r}-{t}"), t);
                let layer2 = desc(DOCKER_LAYER, &format!("layer-arm-{r}-{t}"), 900_000);
                reg.add_blob(&layer2);
                let body2 = image_manifest(DOCKER_V2, &cfg2, &[base.clone(), layer2]);
                reg.put_manifest(&name, None, DOCKER_V2, &body);
                reg.put_manifest(&name, None, DOCKER_V2, &body2);
                let idx = index_manifest(
                    OCI_INDEX,
                    &[
                        Child {
                            desc: Desc::of(DOCKER_V2, &body),
                            os: "linux".into(),
                            architecture: "amd64".into(),
                            variant: None,
                        },
                        Child {
                            desc: Desc::of(DOCKER_V2, &body2),
                            os: "linux".into(),
                            architecture: "arm64".into(),
                            variant: Some("v8".into()),
                        },
                    ],
                );
                reg.put_manifest(&name, Some(&tag), OCI_INDEX, &idx);
                last = Some((OCI_INDEX.to_string(), idx));
                children += 2;
            } else {
                reg.put_manifest(&name, Some(&tag), DOCKER_V2, &body);
                last = Some((DOCKER_V2.to_string(), body));
            }
        }
    }
    (repos * tags, children)
}

fn row(label: &str, c: usize, latency: Duration, s: &RequestStats, secs: f64) {
    let ideal = s.total() as f64 * latency.as_secs_f64() / c as f64;
    let goal = 1.5 * ideal;
    println!(
        "{label:<24} C={c}  {secs:>7.2} s  requests {s}  goal {}",
        if latency.is_zero() {
            "-".to_string()
        } else {
            format!("<= {goal:.2} s ({:.2}x of requests*L/C)", secs / ideal)
        }
    );
}

fn main() {
    // RUST_LOG=gitlab_registry_usage_rest=debug shows every request.
    env_logger::init();
    let a = args();
    if let Some(n) = a.real {
        return real(n, a.tags);
    }
    let latency = Duration::from_millis(a.latency_ms);
    println!(
        "generated registry: {} repositories x {} tags, {} ms per request, {} cores",
        a.repos,
        a.tags,
        a.latency_ms,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for (lat, label) in [(latency, "with latency"), (Duration::ZERO, "direct")] {
        let reg = FakeRegistry::start(FakeOptions {
            latency: lat,
            tags_page_max: None,
            blob_redirect: true,
            ..FakeOptions::default()
        });
        let (tags, children) = generate(&reg, a.repos, a.tags);
        if lat == latency {
            println!("  {tags} tags, {children} distinct child manifests");
        }
        let (user, pass) = reg.opts.auth.clone().unwrap_or_default();
        for c in [1usize, 8] {
            if lat.is_zero() && c == 1 {
                continue;
            }
            let cfg = config::Registry {
                gitlab_base_url: String::new(),
                registry_base_url: reg.url.clone(),
                username: user.clone(),
                access_token: pass.clone(),
                update_interval: Duration::from_secs(3600),
                concurrency: c,
                timeout: Duration::from_secs(30),
                ca_file: None,
                trusted_realms: Vec::new(),
                // GitLab's project API is not part of these crawls (tests/projects.rs reads it).
                projects: gitlab_registry_usage_rest::registry::ProjectsMode::Off,
                crawl_timeout: Duration::from_secs(3600),
                state_file: Default::default(),
            };
            let crawler = Crawler::new(&cfg, CrawlOptions::default()).expect("crawler");
            let never = crossbeam_channel::never();
            let cold = crawler.crawl(None, &never).expect("cold crawl");
            assert!(cold.failed.is_empty(), "{:?}", cold.failed);
            assert_eq!(cold.snapshot.tag_count(), tags);
            row(
                &format!("{label}, cold"),
                c,
                lat,
                &cold.stats,
                cold.elapsed.as_secs_f64(),
            );
            let warm = crawler
                .crawl(Some(&cold.snapshot), &never)
                .expect("warm crawl");
            assert_eq!(warm.snapshot.repositories, cold.snapshot.repositories);
            row(
                &format!("{label}, warm"),
                c,
                lat,
                &warm.stats,
                warm.elapsed.as_secs_f64(),
            );
        }
    }
}

/// The real registry: push, then crawl cold and warm at concurrency 1 and 8, no added latency.
fn real(repos: usize, tags: usize) {
    use support::collector::{blob, config_blob, push_image};
    use support::fake_registry::{DOCKER_CONFIG, DOCKER_LAYER, DOCKER_V2};
    use support::real_registry::{RealRegistry, CRAWL_TOKEN, CRAWL_USER};
    let Some(mut reg) = RealRegistry::start() else {
        return;
    };
    let pushing = std::time::Instant::now();
    let base = blob(DOCKER_LAYER, "base", 256);
    for r in 0..repos {
        let name = format!("group{}/project{r}", r % 37);
        for t in 0..tags {
            let created = format!("2025-{:02}-01T00:00:00Z", 1 + t % 12);
            let c = config_blob(DOCKER_CONFIG, &format!("cfg-{r}-{t}"), Some(&created));
            let l = blob(DOCKER_LAYER, &format!("layer-{r}-{t}"), 128);
            push_image(
                &mut reg,
                &name,
                &format!("1.{t}"),
                DOCKER_V2,
                &c,
                &[&base, &l],
            );
        }
    }
    println!(
        "real docker-registry: {repos} repositories x {tags} tags pushed in {:.1} s",
        pushing.elapsed().as_secs_f64()
    );
    for c in [1usize, 8] {
        let mut cfg = reg.config(CRAWL_USER, CRAWL_TOKEN);
        cfg.concurrency = c;
        cfg.timeout = Duration::from_secs(30);
        let crawler = Crawler::new(&cfg, CrawlOptions::default()).expect("crawler");
        let never = crossbeam_channel::never();
        let cold = crawler.crawl(None, &never).expect("cold crawl");
        assert!(cold.failed.is_empty(), "{:?}", cold.failed);
        assert_eq!(cold.snapshot.tag_count(), repos * tags);
        row(
            "real, cold",
            c,
            Duration::ZERO,
            &cold.stats,
            cold.elapsed.as_secs_f64(),
        );
        let warm = crawler
            .crawl(Some(&cold.snapshot), &never)
            .expect("warm crawl");
        row(
            "real, warm",
            c,
            Duration::ZERO,
            &warm.stats,
            warm.elapsed.as_secs_f64(),
        );
    }
}
