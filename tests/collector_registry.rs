//! The collector against a real registry: Debian's `docker-registry` (Distribution 2.8) with
//! token authentication. The crawl's numbers must equal the ground truth computed from what
//! the test pushed, cold, warm and after changes, with the request counts of each crawl.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use gitlab_registry_usage_rest::registry::state;
use gitlab_registry_usage_rest::registry::{crawl_once, CrawlError, Kind};

use support::collector::*;
use support::fake_registry::{
    DOCKER_CONFIG, DOCKER_LAYER, DOCKER_V2, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST,
};
use support::logs::{capture_logs, logged};
use support::real_registry::{RealRegistry, CRAWL_TOKEN, CRAWL_USER};
use support::warm::assert_warm_requests;
use support::TempDir;

#[test]
fn real_registry_cold_warm_and_changed_crawls_match_the_ground_truth() {
    capture_logs();
    let Some(mut reg) = RealRegistry::start() else {
        return;
    };
    let mut truth = Truth::default();
    push_standard(&mut reg, &mut truth, 12);
    let repos = truth.repos.len() as u64;
    let tags = truth.tag_count() as u64;
    assert_eq!((repos, tags), (18, 20));
    let opts = test_options(); // catalog pages of 5, 4 repositories per token
    let cfg = reg.config(CRAWL_USER, CRAWL_TOKEN);

    // Cold: one GET per tag, one per distinct child (2 in the list, 3 in the index).
    let cold = crawl_once(&cfg, None, opts.clone()).unwrap();
    assert!(cold.failed.is_empty(), "{:?}", cold.failed);
    assert_same(&cold.snapshot, &truth.snapshot());
    let s = cold.stats;
    assert_eq!(s[Kind::Tags], repos, "{s}");
    assert_eq!(s[Kind::ManifestGet], tags + 5, "{s}");
    assert_eq!(
        (s[Kind::ManifestHead], s[Kind::BlobHead], s.retries),
        (0, 0, 0),
        "{s}"
    );
    // One GET per distinct image config, for its creation time (the snapshot compared above
    // carries them: every image config push_standard pushes has one).
    assert_eq!(s[Kind::ConfigGet], truth.configs.len() as u64, "{s}");
    assert_eq!(truth.configs.len(), 19);
    assert!(cold
        .snapshot
        .repositories
        .iter()
        .flat_map(|r| r.tags.iter().flatten())
        .filter(|t| t.name != "0.1.0")
        .all(|t| t.created.is_some()));
    // one token for the catalog, one per 4 repositories
    assert_eq!(s[Kind::Token], 1 + repos.div_ceil(4), "{s}");
    // the first catalog request learns the challenge (401), then 4 pages of 5
    let pages = repos.div_ceil(5);
    assert!(
        s[Kind::Catalog] == pages + 1 || s[Kind::Catalog] == pages + 2,
        "catalog requests: {s}"
    );
    assert!(reg.log.max_scopes.load(std::sync::atomic::Ordering::SeqCst) <= 4);
    let empty = cold.snapshot.repository("empty/repo").unwrap();
    assert_eq!((empty.size, empty.disk_size), (Some(0), Some(0)));

    // Warm, unchanged: a HEAD per tag and no manifest GET at all.
    let warm = crawl_once(&cfg, Some(&cold.snapshot), opts.clone()).unwrap();
    assert_same(&warm.snapshot, &truth.snapshot());
    let w = warm.stats;
    assert_warm_requests(&w, tags);
    assert_eq!(w[Kind::Tags], repos, "{w}");

    // Changes: a new tag, a moved tag, a new repository.
    let base = blob(DOCKER_LAYER, "base-layer", 3000);
    let oci_base = blob(OCI_LAYER, "base-layer", 3000);
    let c = config_blob(OCI_CONFIG, "web-config-3", Some("2025-06-07T08:09:10Z"));
    let l = blob(OCI_LAYER, "web-layer-3", 1800);
    let web3 = push_image(
        &mut reg,
        "apps/web",
        "2.0",
        OCI_MANIFEST,
        &c,
        &[&oci_base, &l],
    );
    truth.tag("apps/web", "2.0", &web3);
    let c = config_blob(
        DOCKER_CONFIG,
        "alpine-config-2",
        Some("2025-06-08T00:00:00.5-01:30"),
    );
    let l = blob(DOCKER_LAYER, "alpine-extra", 600);
    let moved = push_image(
        &mut reg,
        "base/alpine",
        "latest",
        DOCKER_V2,
        &c,
        &[&base, &l],
    );
    truth.tag("base/alpine", "latest", &moved);
    // a config without a creation time
    let c = config_blob(DOCKER_CONFIG, "late-config", None);
    let late = push_image(&mut reg, "late/arrival", "x", DOCKER_V2, &c, &[&base]);
    truth.tag("late/arrival", "x", &late);

    let changed = crawl_once(&cfg, Some(&warm.snapshot), opts).unwrap();
    assert_same(&changed.snapshot, &truth.snapshot());
    let c = changed.stats;
    // HEADs for the 20 known tags; GETs: the moved tag's new digest, the new tag, the new repo
    assert_eq!(
        (c[Kind::ManifestHead], c[Kind::ManifestGet]),
        (tags, 3),
        "{c}"
    );
    // and their three new configs
    assert_eq!(c[Kind::ConfigGet], 3, "{c}");

    // Nothing secret was ever logged.
    let lines = logged();
    assert!(
        lines.iter().any(|l| l.contains("/tags/list")),
        "debug logs of requests"
    );
    let issued = reg.log.issued.lock().unwrap().clone();
    assert!(!issued.is_empty());
    for l in &lines {
        assert!(!l.contains(CRAWL_TOKEN), "access token logged: {l}");
        for t in &issued {
            assert!(!l.contains(t.as_str()), "registry token logged: {l}");
        }
    }
}

#[test]
fn real_registry_wrong_access_token_abandons_the_crawl() {
    let Some(mut reg) = RealRegistry::start() else {
        return;
    };
    let mut truth = Truth::default();
    push_standard(&mut reg, &mut truth, 0);
    let cfg = reg.config(CRAWL_USER, "glpat-wrong");
    match crawl_once(&cfg, None, test_options()) {
        Err(CrawlError::Token(e)) => {
            let msg = e.to_string();
            assert!(msg.contains("access_token") && msg.contains("401"), "{msg}");
        }
        other => panic!("expected a token error, got {other:?}"),
    }
}

#[test]
fn real_registry_collector_thread_publishes_saves_and_stops() {
    let Some(mut reg) = RealRegistry::start() else {
        return;
    };
    let mut truth = Truth::default();
    push_standard(&mut reg, &mut truth, 2);
    let dir = TempDir::new("collector-state");
    let mut cfg = reg.config(CRAWL_USER, CRAWL_TOKEN);
    cfg.state_file = dir.0.join("state.json");
    let (handle, publish_rx, stop_tx) = start_collector(cfg.clone(), new_status());
    let snap = publish_rx.recv_timeout(Duration::from_secs(60)).unwrap();
    assert_same(&snap, &truth.snapshot());
    // published first, saved right after
    let deadline = Instant::now() + Duration::from_secs(10);
    let saved = loop {
        if let Ok(Some(s)) = state::load(&cfg.state_file) {
            break s;
        }
        assert!(Instant::now() < deadline, "no state file written");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(Arc::new(saved), snap);
    stop_tx.send(()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while !handle.is_finished() {
        assert!(Instant::now() < deadline, "the collector did not stop");
        std::thread::sleep(Duration::from_millis(10));
    }
    handle.join().unwrap();
}
