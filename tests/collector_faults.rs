//! The collector against a fake registry (on the service's connection layer) that does what
//! Distribution 2.8 cannot be made to do: tags list pagination, schema 1 manifests sized by
//! blob HEADs through a 307, descriptors without a size, unknown manifest types,
//! `"tags": null`, and injected faults (5xx, 429 with Retry-After, hangs, truncated and
//! invalid bodies, a token endpoint that says 401, revoked tokens). Also the collector
//! thread's schedule and stop.

mod support;

use std::time::{Duration, Instant};

use gitlab_registry_usage_rest::registry::state;
use gitlab_registry_usage_rest::registry::{
    crawl_once, spawn_collector_with, CrawlError, CrawlOptions, Kind, PanicAt,
};
use gitlab_registry_usage_rest::snapshot::{Snapshot, TagInput};

use support::collector::*;
use support::fake_registry::*;
use support::logs::{capture_logs, logged};
use support::warm::assert_warm_requests;
use support::TempDir;

/// The standard content plus what only the fake can serve. Returns the truth.
fn populated(opts: FakeOptions) -> (FakeRegistry, Truth) {
    let mut reg = FakeRegistry::start(opts);
    let mut truth = Truth::default();
    push_standard(&mut reg, &mut truth, 12);

    // Schema 1: fsLayers with a repeated layer, sized by HEAD (307 to storage).
    let l1 = blob(DOCKER_LAYER, "legacy-1", 4100);
    let l2 = blob(DOCKER_LAYER, "legacy-2", 4200);
    reg.add_blob(&l1.0);
    reg.add_blob(&l2.0);
    // Its creation time is in the newest history entry's v1Compatibility (a JSON string).
    let body = schema1_manifest_created(
        "legacy/app",
        "old",
        &[&l1.0.digest, &l2.0.digest, &l1.0.digest],
        "2016-07-08T09:10:11.5Z",
    );
    let digest = reg.put_manifest("legacy/app", Some("old"), SCHEMA1, &body);
    truth.tag(
        "legacy/app",
        "old",
        &Pushed {
            digest,
            media_type: SCHEMA1.into(),
            blobs: vec![l1.0.clone(), l2.0.clone()],
            platforms: vec![],
            desc: Desc::of(SCHEMA1, &body),
            created: Some(1_467_969_011),
        },
    );

    // A layer descriptor without a size, an unknown media type, a draft OCI artifact
    // manifest with "blobs": all counted as config + layers (+ blobs).
    let cfg = blob(OCI_CONFIG, "odd-config", 50);
    let nosize = blob(OCI_LAYER, "no-size", 333);
    reg.add_blob(&nosize.0);
    let body = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.example.thing.v1+json",
        "config": {"mediaType": OCI_CONFIG, "digest": cfg.0.digest, "size": cfg.0.size},
        "layers": [{"mediaType": OCI_LAYER, "digest": nosize.0.digest}],
        "annotations": {"x": "y"},
    }))
    .unwrap();
    let digest = reg.put_manifest(
        "odd/things",
        Some("unknown"),
        "application/vnd.example.thing.v1+json",
        &body,
    );
    truth.tag(
        "odd/things",
        "unknown",
        &Pushed {
            digest,
            media_type: "application/vnd.example.thing.v1+json".into(),
            blobs: vec![cfg.0.clone(), nosize.0.clone()],
            platforms: vec![],
            desc: Desc::of(OCI_MANIFEST, &body),
            // Its config blob is not stored: 404, so unknown.
            created: None,
        },
    );
    let sig = blob(
        "application/vnd.dev.cosign.simplesigning.v1+json",
        "signature",
        250,
    );
    let art = "application/vnd.oci.artifact.manifest.v1+json";
    let body = serde_json::to_vec(&serde_json::json!({
        "mediaType": art,
        "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
        "blobs": [{"mediaType": sig.0.media_type, "digest": sig.0.digest, "size": sig.0.size}],
    }))
    .unwrap();
    let digest = reg.put_manifest("odd/things", Some("sha256-abc.sig"), art, &body);
    truth.tag(
        "odd/things",
        "sha256-abc.sig",
        &Pushed {
            digest,
            media_type: art.into(),
            blobs: vec![sig.0.clone()],
            platforms: vec![],
            desc: Desc::of(art, &body),
            created: None,
        },
    );

    // More tags than one page (the fake pages tags by 3), and a "tags": null repository.
    // Their configs are not JSON: creation time unknown, the tags still count.
    for i in 0..7 {
        let c = blob(DOCKER_CONFIG, &format!("many-config-{i}"), 60 + i);
        let p = push_image(&mut reg, "many/tags", &format!("t.{i}"), DOCKER_V2, &c, &[]);
        truth.tag("many/tags", &format!("t.{i}"), &p);
    }
    reg.set_null_tags("nulls/here");
    truth.empty_repo("nulls/here");
    (reg, truth)
}

fn fake_options() -> FakeOptions {
    FakeOptions {
        tags_page_max: Some(3),
        ..FakeOptions::default()
    }
}

/// Settings for the fake; a 5 s timeout, so that a loaded machine causes no retry that
/// would change exact request counts (tests with hangs shorten it).
fn cfg_for(reg: &FakeRegistry) -> gitlab_registry_usage_rest::config::Registry {
    let (user, pass) = reg.opts.auth.clone().unwrap();
    registry_config(&reg.url, &user, &pass)
}

fn short_timeout(reg: &FakeRegistry) -> gitlab_registry_usage_rest::config::Registry {
    let mut cfg = cfg_for(reg);
    cfg.timeout = Duration::from_millis(500);
    cfg
}

fn tags_of(s: &Snapshot, repo: &str) -> Option<Vec<TagInput>> {
    s.to_input()
        .repositories
        .into_iter()
        .find(|r| r.name == repo)
        .and_then(|r| r.tags)
}

#[test]
fn fake_registry_cold_and_warm_crawls_match_the_ground_truth() {
    capture_logs();
    let (reg, truth) = populated(fake_options());
    let cfg = cfg_for(&reg);
    let repos = truth.repos.len() as u64;
    let tags = truth.tag_count() as u64;

    let cold = crawl_once(&cfg, None, test_options()).unwrap();
    assert!(cold.failed.is_empty(), "{:?}", cold.failed);
    assert_same(&cold.snapshot, &truth.snapshot());
    let s = cold.stats;
    // many/tags: 7 tags in pages of 3 → 2 more requests
    assert_eq!(s[Kind::Tags], repos + 2, "{s}");
    assert_eq!(s[Kind::ManifestGet], tags + 5, "{s}");
    // 2 distinct schema 1 layers + 1 descriptor without size, each HEAD + 307 hop
    assert_eq!(s[Kind::BlobHead], 6, "{s}");
    // One GET per distinct image config (+ its 307 hop to storage); odd/things' config is
    // not stored (one 404). Artifact configs (Helm, empty) are not read.
    let configs = truth.configs.len() as u64;
    assert_eq!(configs, 27);
    assert_eq!(s[Kind::ConfigGet], 2 * (configs - 1) + 1, "{s}");
    assert_eq!(reg.count(|c| &c.blob_get), configs as usize);
    assert_eq!(reg.count(|c| &c.storage), 3 + configs as usize - 1);
    assert_eq!(
        reg.count(|c| &c.storage_with_auth),
        0,
        "credentials sent to storage"
    );
    assert_eq!(s[Kind::Token], 1 + repos.div_ceil(4), "{s}");
    assert!(reg.count(|c| &c.max_scopes) <= 4);
    for r in ["empty/repo", "nulls/here"] {
        let e = cold.snapshot.repository(r).unwrap();
        assert_eq!(
            (e.size, e.disk_size, e.tags.as_ref().map(Vec::len)),
            (Some(0), Some(0), Some(0))
        );
    }

    let warm = crawl_once(&cfg, Some(&cold.snapshot), test_options()).unwrap();
    assert_same(&warm.snapshot, &truth.snapshot());
    assert_warm_requests(&warm.stats, tags);

    let secret = reg.opts.auth.clone().unwrap().1;
    let issued = reg.state.issued.lock().unwrap().clone();
    for l in logged() {
        assert!(!l.contains(&secret), "access token logged: {l}");
        assert!(
            !issued.iter().any(|t| l.contains(t.as_str())),
            "token logged: {l}"
        );
    }
}

fn created(s: &Snapshot, repo: &str, tag: &str) -> Option<i64> {
    s.repository(repo).unwrap().tag(tag).unwrap().created
}

#[test]
fn creation_times_come_from_configs_schema1_and_the_newest_platform() {
    capture_logs();
    let (reg, truth) = populated(fake_options());
    let cfg = cfg_for(&reg);
    let t = gitlab_registry_usage_rest::snapshot::time::parse_rfc3339;

    // A config whose descriptor says it is larger than 4 MiB is not read; one that is larger
    // than it says is read up to the limit only. Both tags count, with no creation time.
    let big = config_blob(
        DOCKER_CONFIG,
        &"x".repeat(3 << 20),
        Some("2020-01-01T00:00:00Z"),
    );
    let mut target = reg;
    let mut declared_big = push_image(&mut target, "big/config", "declared", DOCKER_V2, &big, &[]);
    declared_big.created = None; // larger than the limit: not read
    let big2 = config_blob(
        DOCKER_CONFIG,
        &"y".repeat(3 << 20),
        Some("2020-01-01T00:00:00Z"),
    );
    let mut target = target;
    Target::blob(&mut target, "big/config", &big2.0, &big2.1);
    let lying = Desc {
        size: 300,
        ..big2.0.clone()
    };
    let body = image_manifest(DOCKER_V2, &lying, &[]);
    let reg = target;
    let lying_digest = reg.put_manifest("big/config", Some("lying"), DOCKER_V2, &body);

    let out = crawl_once(&cfg, None, test_options()).unwrap();
    assert!(out.failed.is_empty(), "{:?}", out.failed);
    let snap = &out.snapshot;
    assert_eq!(
        created(snap, "base/alpine", "3.19"),
        t("2023-05-06T07:08:09Z")
    );
    assert_eq!(
        created(snap, "apps/web", "1.1-rc_2"),
        t("2024-02-03T02:05:06Z")
    );
    // the newest platform: arm64 for the list, amd64 for the index (attestation ignored)
    assert_eq!(
        created(snap, "multi/tool", "latest"),
        t("2024-03-01T00:10:00Z")
    );
    assert_eq!(
        created(snap, "multi/oci", "v2.0.1"),
        t("2024-04-01T12:00:00Z")
    );
    assert_eq!(
        created(snap, "legacy/app", "old"),
        t("2016-07-08T09:10:11Z")
    );
    // not JSON, missing, artifacts, too large: unknown, and the tags still count
    assert_eq!(created(snap, "many/tags", "t.0"), None);
    assert_eq!(created(snap, "odd/things", "unknown"), None);
    assert_eq!(created(snap, "charts/app", "0.1.0"), None);
    assert_eq!(created(snap, "big/config", "declared"), None);
    assert_eq!(created(snap, "big/config", "lying"), None);
    let lying_tag = snap.repository("big/config").unwrap().tag("lying").unwrap();
    assert!(lying_tag.digest == lying_digest.as_str());
    assert_eq!(lying_tag.size, 300);
    assert_eq!(
        snap.repository("big/config")
            .unwrap()
            .tag("declared")
            .unwrap()
            .size,
        declared_big.blobs[0].size
    );
    let mut with_big = truth.clone();
    with_big.tag("big/config", "declared", &declared_big);
    with_big.tag(
        "big/config",
        "lying",
        &Pushed {
            digest: lying_digest.clone(),
            media_type: DOCKER_V2.into(),
            blobs: vec![lying.clone()],
            platforms: vec![],
            desc: Desc::of(DOCKER_V2, &body),
            created: None,
        },
    );
    assert_same(snap, &with_big.snapshot());

    // A state file from before creation times (none has one): the first crawl reads the
    // manifests and configs again, once; the crawl after it reads none.
    let mut old = out.snapshot.to_input();
    for r in &mut old.repositories {
        for tag in r.tags.iter_mut().flatten() {
            tag.created = None;
        }
    }
    let old = Snapshot::build(old).unwrap();
    let upgraded = crawl_once(&cfg, Some(&old), test_options()).unwrap();
    assert!(upgraded.failed.is_empty(), "{:?}", upgraded.failed);
    assert_same(&upgraded.snapshot, &out.snapshot);
    assert_eq!(
        created(&upgraded.snapshot, "multi/tool", "latest"),
        t("2024-03-01T00:10:00Z")
    );
    assert!(upgraded.stats[Kind::ConfigGet] > 0, "{}", upgraded.stats);
    let next = crawl_once(&cfg, Some(&upgraded.snapshot), test_options()).unwrap();
    assert_eq!(
        (next.stats[Kind::ManifestGet], next.stats[Kind::ConfigGet]),
        (0, 0),
        "{}",
        next.stats
    );
}

#[test]
fn a_config_with_other_content_than_its_digest_fails_its_repository() {
    capture_logs();
    let (reg, _) = populated(fake_options());
    reg.rule(Rule::always("/v2/gen/r07/blobs/", Fault::InvalidJson).method("GET"));
    let out = crawl_once(&cfg_for(&reg), None, test_options()).unwrap();
    assert_eq!(out.failed.len(), 1, "{:?}", out.failed);
    let (name, why) = &out.failed[0];
    assert_eq!(name, "gen/r07");
    assert!(why.contains("other content"), "{why}");
}

/// Runs `f` on a thread and gives its result, or `None` when it takes longer than `limit`
/// (a crawl that loops or deadlocks must fail the test, not hang it).
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).ok()
}

#[test]
fn list_pages_that_point_at_each_other_end_the_list_at_once() {
    capture_logs();
    let (reg, _) = populated(fake_options());
    // many/tags is listed by 3 (n=5 asked): its second page links back to the first.
    let back = format!(r#"<{}/v2/many/tags/tags/list?n=5>; rel="next""#, reg.url);
    reg.rule(Rule::always(
        "/v2/many/tags/tags/list?n=5&last=t.2",
        Fault::Page {
            body: r#"{"name":"many/tags","tags":["t.3","t.4","t.5"]}"#.into(),
            link: back,
        },
    ));
    let cfg = cfg_for(&reg);
    let out = within(Duration::from_secs(15), move || {
        crawl_once(&cfg, None, test_options())
    })
    .expect("the crawl did not end: the pagination cycle was followed");
    let out = out.unwrap();
    assert_eq!(out.failed.len(), 1, "{:?}", out.failed);
    assert_eq!(out.failed[0].0, "many/tags");
    assert!(out.failed[0].1.contains("loops"), "{:?}", out.failed);
    assert!(reg.count(|c| &c.tags) < 40, "{}", reg.count(|c| &c.tags));

    // The catalog: the second page links back to the first; the crawl is abandoned.
    reg.clear_rules();
    reg.rule(Rule::always(
        "/v2/_catalog?last=",
        Fault::Page {
            body: r#"{"repositories":["zz/a","zz/b"]}"#.into(),
            link: r#"</v2/_catalog?n=5>; rel="next""#.into(),
        },
    ));
    let cfg = cfg_for(&reg);
    let before = reg.count(|c| &c.catalog);
    match within(Duration::from_secs(15), move || {
        crawl_once(&cfg, None, test_options())
    }) {
        Some(Err(CrawlError::Catalog(e))) => assert!(e.contains("loops"), "{e}"),
        Some(other) => panic!("expected a catalog error, got {other:?}"),
        None => panic!("the crawl did not end: the catalog cycle was followed"),
    }
    assert!(reg.count(|c| &c.catalog) - before < 10);
}

/// A server on another origin ("internal") that lists a repository and counts its requests.
fn internal_server() -> (MiniServer, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = hits.clone();
    let server = MiniServer::start(std::sync::Arc::new(move |rq: &Req| {
        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let body = if rq.path().contains("_catalog") {
            r#"{"repositories":["from-internal/x"]}"#
        } else {
            r#"{"name":"many/tags","tags":["from-internal"]}"#
        };
        Reply::Send(Resp::json(200, body))
    }));
    (server, hits)
}

#[test]
fn pages_and_redirects_to_other_origins_are_not_followed() {
    capture_logs();
    let (reg, _) = populated(fake_options());
    let (internal, hits) = internal_server();
    // A catalog page whose next page is on another host: the crawl is abandoned with a
    // warning, nothing is asked there and nothing of it is served.
    reg.rule(Rule::always(
        "/v2/_catalog",
        Fault::Page {
            body: r#"{"repositories":["many/tags"]}"#.into(),
            link: format!(r#"<{}/v2/_catalog?n=5&last=a>; rel="next""#, internal.url()),
        },
    ));
    match crawl_once(&cfg_for(&reg), None, test_options()) {
        Err(CrawlError::Catalog(e)) => assert!(e.contains("origin"), "{e}"),
        Ok(o) => panic!(
            "the other origin's page was used: {:?}",
            o.snapshot
                .repositories
                .iter()
                .map(|r| &r.name)
                .collect::<Vec<_>>()
        ),
        Err(e) => panic!("expected a catalog error, got {e:?}"),
    }
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    // A tags list answered with a 307 to another host: only that repository fails.
    reg.clear_rules();
    reg.rule(Rule::always(
        "/v2/many/tags/tags/list",
        Fault::Redirect(format!("{}/v2/many/tags/tags/list", internal.url())),
    ));
    let out = crawl_once(&cfg_for(&reg), None, test_options()).unwrap();
    assert!(out.snapshot.repository("from-internal/x").is_none());
    assert_eq!(out.failed.len(), 1, "{:?}", out.failed);
    assert_eq!(out.failed[0].0, "many/tags");
    assert!(out.failed[0].1.contains("redirect"), "{:?}", out.failed);
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    let warned = |what: &str| {
        logged()
            .iter()
            .any(|l| l.starts_with("WARN") && l.contains(what) && l.contains(&internal.url()))
    };
    assert!(warned("_catalog") && warned("tags/list"), "{:#?}", logged());
}

#[test]
fn hostile_manifests_and_names_are_refused_with_a_warning_naming_the_repository() {
    capture_logs();
    let (reg, truth) = populated(fake_options());
    // A manifest of 5 MiB (a huge annotation): above the default max_manifest_size of 4 MiB.
    let config = Desc::of("application/vnd.oci.image.config.v1+json", b"{}");
    reg.add_blob(&config);
    let big = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": config.media_type, "digest": config.digest, "size": config.size},
        "layers": [],
        "annotations": {"x": "a".repeat(5 << 20)},
    }))
    .unwrap();
    reg.put_manifest(
        "huge/manifest",
        Some("latest"),
        "application/vnd.oci.image.manifest.v1+json",
        &big,
    );
    // Names outside Distribution's grammar, too long, or too deep.
    let long = format!("long/{}", "a".repeat(300));
    let deep = vec!["d"; 40].join("/");
    let bad = [
        "Upper/case",
        "a//b",
        "-lead/x",
        "trail-/x",
        "a/b/",
        "x..y",
        long.as_str(),
        deep.as_str(),
    ];
    for name in bad {
        reg.add_repo(name);
    }
    let out = crawl_once(&cfg_for(&reg), None, test_options()).unwrap();
    for name in bad {
        assert!(
            out.snapshot.repository(name).is_none(),
            "{name:.40} is served"
        );
        assert!(
            out.failed.iter().all(|(n, _)| n != name),
            "{name:.40} was crawled"
        );
        let shown: String = name.chars().take(40).collect();
        assert!(
            logged()
                .iter()
                .any(|l| l.starts_with("WARN") && l.contains(&shown)),
            "no warning names {shown}"
        );
    }
    assert_eq!(out.failed.len(), 1, "{:?}", out.failed);
    assert_eq!(out.failed[0].0, "huge/manifest");
    assert!(out.failed[0].1.contains("4194304"), "{:?}", out.failed);
    assert!(logged()
        .iter()
        .any(|l| l.starts_with("WARN") && l.contains("huge/manifest")));
    // every valid repository is there, with its data
    for r in &truth.snapshot().repositories {
        assert!(out.snapshot.repository(&r.name).is_some(), "{}", r.name);
    }
}

#[test]
fn absurd_blob_sizes_fail_their_repository_and_nothing_overflows() {
    capture_logs();
    let (reg, _) = populated(fake_options());
    let pib: u64 = 1 << 50;
    let sized = |seed: &str, size: u64| Desc {
        size,
        ..Desc::of(OCI_LAYER, seed.as_bytes())
    };
    // A layer of 2 PiB, by its descriptor.
    let cfg = config_blob(OCI_CONFIG, "huge-config", None);
    let mut target = reg;
    push_image(
        &mut target,
        "huge/one",
        "v1",
        OCI_MANIFEST,
        &cfg,
        &[&(sized("two-pib", 2 * pib), vec![])],
    );
    // A platform whose layers sum past u64::MAX (each 2^63).
    let child = push_image(
        &mut target,
        "huge/index",
        "",
        OCI_MANIFEST,
        &cfg,
        &[
            &(sized("half-a", 1 << 63), vec![]),
            &(sized("half-b", 1 << 63), vec![]),
        ],
    );
    push_index(
        &mut target,
        "huge/index",
        "multi",
        OCI_INDEX,
        &[(&child, "linux", "amd64", None)],
    );
    // A schema 1 layer whose HEAD says 2^60 bytes.
    let big = sized("head-says-huge", 1 << 60);
    let reg = target;
    reg.add_blob(&big);
    let body = schema1_manifest("huge/legacy", "old", &[&big.digest]);
    reg.put_manifest("huge/legacy", Some("old"), SCHEMA1, &body);

    let cfg = cfg_for(&reg);
    let out = within(Duration::from_secs(15), move || {
        crawl_once(&cfg, None, test_options())
    })
    .expect("the crawl did not end (a crawl thread died?)")
    .unwrap();
    let mut failed: Vec<&str> = out.failed.iter().map(|(n, _)| n.as_str()).collect();
    failed.sort();
    assert_eq!(
        failed,
        ["huge/index", "huge/legacy", "huge/one"],
        "{:?}",
        out.failed
    );
    for (_, why) in &out.failed {
        assert!(why.contains("1 PiB"), "{why}");
    }
}

#[test]
fn a_token_that_lives_for_ever_is_no_overflow() {
    capture_logs();
    let (reg, truth) = populated(FakeOptions {
        token_expires_in: u64::MAX,
        ..fake_options()
    });
    let cfg = cfg_for(&reg);
    let out = within(Duration::from_secs(15), move || {
        crawl_once(&cfg, None, test_options())
    })
    .expect("the crawl did not end")
    .unwrap();
    assert_same(&out.snapshot, &truth.snapshot());
}

#[test]
fn indexes_that_list_themselves_or_each_other_fail_their_repository_not_the_crawl() {
    capture_logs();
    let (reg, _) = populated(fake_options());
    let fake_digest = |c: char| format!("sha256:{}", c.to_string().repeat(64));
    let index_of = |child: &str| {
        index_manifest(
            OCI_INDEX,
            &[Child {
                desc: Desc {
                    media_type: OCI_INDEX.into(),
                    digest: child.into(),
                    size: 300,
                },
                os: "linux".into(),
                architecture: "amd64".into(),
                variant: None,
            }],
        )
    };
    // An index that lists itself, and two that list each other (stored under digests that
    // are not theirs: no real content can list its own digest).
    let (x, y, z) = (fake_digest('a'), fake_digest('b'), fake_digest('c'));
    reg.put_manifest_as("loop/self", Some("t"), &x, OCI_INDEX, &index_of(&x));
    reg.put_manifest_as("loop/pair", Some("y"), &y, OCI_INDEX, &index_of(&z));
    reg.put_manifest_as("loop/pair", Some("z"), &z, OCI_INDEX, &index_of(&y));
    // An ordinary manifest served under another digest.
    let cfg = config_blob(DOCKER_CONFIG, "liar-config", Some("2024-01-01T00:00:00Z"));
    let mut target = reg;
    Target::blob(&mut target, "bad/digest", &cfg.0, &cfg.1);
    let reg = target;
    let body = image_manifest(DOCKER_V2, &cfg.0, &[]);
    reg.put_manifest_as(
        "bad/digest",
        Some("v1"),
        &fake_digest('d'),
        DOCKER_V2,
        &body,
    );

    let cfg = cfg_for(&reg);
    let out = within(Duration::from_secs(15), move || {
        crawl_once(&cfg, None, test_options())
    })
    .expect("the crawl did not end: a manifest cycle deadlocked it")
    .unwrap();
    let mut failed: Vec<&str> = out.failed.iter().map(|(n, _)| n.as_str()).collect();
    failed.sort();
    assert_eq!(
        failed,
        ["bad/digest", "loop/pair", "loop/self"],
        "{:?}",
        out.failed
    );
    for (_, why) in &out.failed {
        assert!(why.contains("digest"), "{why}");
    }
}

#[test]
fn a_crawl_past_its_crawl_timeout_is_abandoned_and_reported() {
    capture_logs();
    let (reg, _) = populated(fake_options());
    // Every tags list hangs up after 600 ms: each repository takes ~2 s of retries.
    reg.rule(Rule::always(
        "/tags/list",
        Fault::Hang(Duration::from_millis(600)),
    ));
    let mut cfg = cfg_for(&reg);
    cfg.crawl_timeout = Duration::from_secs(1);
    let started = Instant::now();
    let c = cfg.clone();
    match within(Duration::from_secs(15), move || {
        crawl_once(&c, None, test_options())
    }) {
        Some(Err(e)) if e.reason() == "deadline" => {
            assert!(e.to_string().contains("crawl_timeout"), "{e}")
        }
        Some(other) => panic!("expected the crawl to be abandoned, got {other:?}"),
        None => panic!("the crawl ran on past its crawl_timeout"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // The collector records it where /health and /metrics read it.
    let status = new_status();
    let (h, rx, stop_tx) = start_collector(cfg, status.clone());
    let deadline = Instant::now() + Duration::from_secs(10);
    while status.get().crawls_failed.is_empty() {
        assert!(Instant::now() < deadline, "no failure recorded");
        std::thread::sleep(Duration::from_millis(20));
    }
    let st = status.get();
    assert_eq!(st.crawls_failed.get("deadline"), Some(&1), "{st:?}");
    assert!(st.last_error.unwrap().1.contains("crawl_timeout"));
    assert!(st.registry_requests.get("tags").is_some_and(|n| *n > 0));
    assert!(rx.try_recv().is_err(), "an abandoned crawl published");
    stop_tx.send(()).unwrap();
    wait_finished(&h, Duration::from_secs(3));
}

#[test]
fn a_panicking_crawl_thread_fails_only_its_repository() {
    capture_logs();
    let (reg, truth) = populated(fake_options());
    let cfg = cfg_for(&reg);
    let opts = CrawlOptions {
        panic_at: Some(PanicAt::Repository("gen/r03".into())),
        ..test_options()
    };
    let out = within(Duration::from_secs(15), move || {
        crawl_once(&cfg, None, opts)
    })
    .expect("the crawl did not end: a crawl thread died with its repository")
    .unwrap();
    assert_eq!(out.failed.len(), 1, "{:?}", out.failed);
    assert_eq!(out.failed[0].0, "gen/r03");
    assert!(out.failed[0].1.contains("panic"), "{:?}", out.failed);
    let mut want = truth.clone();
    want.repos.remove("gen/r03");
    let mut got = out.snapshot.to_input();
    got.repositories.retain(|r| r.name != "gen/r03");
    assert_same(&Snapshot::build(got).unwrap(), &want.snapshot());
}

#[test]
fn the_status_tells_successes_failures_and_requests_without_secrets() {
    capture_logs();
    let (reg, _) = populated(fake_options());
    let status = new_status();
    let (h, rx, stop_tx) = start_collector(cfg_for(&reg), status.clone());
    rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let st = status.get();
    assert!(st.enabled && st.last_success.is_some() && st.last_duration.is_some());
    assert_eq!((st.crawls_succeeded, st.running_since), (1, None));
    for kind in [
        "token",
        "catalog",
        "tags",
        "manifest_get",
        "config_get",
        "blob_head",
    ] {
        assert!(
            st.registry_requests.get(kind).is_some_and(|n| *n > 0),
            "{kind}: {st:?}"
        );
    }
    stop_tx.send(()).unwrap();
    wait_finished(&h, Duration::from_secs(3));

    let mut cfg = cfg_for(&reg);
    cfg.access_token = "glpat-wrong-and-secret".into();
    let status = new_status();
    let (h, _rx, stop_tx) = start_collector(cfg, status.clone());
    let deadline = Instant::now() + Duration::from_secs(10);
    while status.get().last_error.is_none() {
        assert!(Instant::now() < deadline, "no failure recorded");
        std::thread::sleep(Duration::from_millis(20));
    }
    let st = status.get();
    assert_eq!(st.crawls_failed.get("token"), Some(&1));
    let msg = st.last_error.unwrap().1;
    assert!(
        msg.contains("access_token") && !msg.contains("glpat-wrong"),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
    stop_tx.send(()).unwrap();
    wait_finished(&h, Duration::from_secs(3));
}

/// A token endpoint on another origin that relays to the fake's own, counting the requests
/// that carried credentials.
fn relay_to(reg: &FakeRegistry) -> (MiniServer, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let with_credentials = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (target, seen) = (reg.url.clone(), with_credentials.clone());
    let relay = MiniServer::start(std::sync::Arc::new(move |rq: &Req| {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut call = agent.get(&format!("{target}{}", rq.url));
        if let Some(a) = rq.header("authorization") {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            call = call.header("Authorization", a);
        }
        let mut r = call.call().unwrap();
        let status = r.status().as_u16();
        Reply::Send(Resp::json(status, r.body_mut().read_to_vec().unwrap()))
    }));
    (relay, with_credentials)
}

#[test]
fn credentials_go_to_no_token_endpoint_that_is_not_trusted() {
    capture_logs();
    let (reg, truth) = populated(fake_options());
    let (relay, with_credentials) = relay_to(&reg);
    reg.set_realm(&format!("{}/jwt/auth", relay.url()));
    // Neither gitlab_base_url's origin nor the registry's: the crawl stops, nothing is sent.
    let cfg = cfg_for(&reg);
    match crawl_once(&cfg, None, test_options()) {
        Err(CrawlError::Token(e)) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&relay.url()) && msg.contains("trusted_realms"),
                "{msg}"
            );
        }
        Ok(o) => panic!(
            "the crawl sent the access token to {} and succeeded ({} tags)",
            relay.url(),
            o.snapshot.tag_count()
        ),
        Err(e) => panic!("expected a refused token endpoint, got {e:?}"),
    }
    assert_eq!(
        with_credentials.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    // A realm listed in trusted_realms (its origin; default port and case do not matter).
    let mut cfg = cfg_for(&reg);
    cfg.trusted_realms = vec![format!(
        "{}/elsewhere",
        relay.url().to_uppercase().replace("HTTP://", "http://")
    )];
    let out = crawl_once(&cfg, None, test_options()).unwrap();
    assert_same(&out.snapshot, &truth.snapshot());
    let sent = with_credentials.load(std::sync::atomic::Ordering::SeqCst);
    assert!(sent > 0);
    // The origin of gitlab_base_url is trusted.
    let mut cfg = cfg_for(&reg);
    cfg.gitlab_base_url = format!("{}/gitlab/", relay.url());
    let out = crawl_once(&cfg, None, test_options()).unwrap();
    assert_same(&out.snapshot, &truth.snapshot());
    assert!(with_credentials.load(std::sync::atomic::Ordering::SeqCst) > sent);
}

#[test]
fn transient_faults_are_retried_and_retry_after_is_honoured() {
    capture_logs();
    let (reg, truth) = populated(fake_options());
    reg.rule(Rule::once("/v2/_catalog", Fault::Status(503)));
    reg.rule(Rule::once(
        "/v2/apps/web/tags/list",
        Fault::RetryAfter(429, "1".into()),
    ));
    reg.rule(Rule::once("/v2/gen/r01/tags/list", Fault::Status(500)));
    reg.rule(Rule::once("/v2/gen/r02/manifests/v1", Fault::Status(502)));
    reg.rule(Rule::once("/v2/gen/r03/manifests/v1", Fault::Truncate));
    reg.rule(Rule::once(
        "/v2/gen/r04/tags/list",
        Fault::Hang(Duration::from_millis(1500)),
    ));
    reg.rule(Rule::once("/v2/legacy/app/blobs/", Fault::Status(504)));
    reg.rule(Rule::once("/jwt/auth", Fault::Status(503)));
    let started = Instant::now();
    let out = crawl_once(&short_timeout(&reg), None, test_options()).unwrap();
    assert!(out.failed.is_empty(), "{:?}", out.failed);
    assert_same(&out.snapshot, &truth.snapshot());
    assert!(out.stats.retries >= 8, "{}", out.stats);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "Retry-After: 1 was not honoured"
    );
}

#[test]
fn repositories_that_keep_failing_keep_their_data_marked_stale() {
    capture_logs();
    let (reg, mut truth) = populated(fake_options());
    let cfg = short_timeout(&reg);
    let first = crawl_once(&cfg, None, test_options()).unwrap();
    assert_same(&first.snapshot, &truth.snapshot());

    // A repository that was never read: it will have no data at all.
    let c = blob(DOCKER_CONFIG, "new-config", 70);
    let mut target = reg;
    let p = push_image(&mut target, "gen/new", "v1", DOCKER_V2, &c, &[]);
    let reg = target;
    reg.rule(Rule::always("/v2/gen/r00/tags/list", Fault::Status(500)));
    reg.rule(Rule::always("/v2/gen/r01/manifests/", Fault::InvalidJson));
    reg.rule(Rule::always("/v2/gen/r02/manifests/", Fault::Truncate));
    reg.rule(Rule::always(
        "/v2/gen/r03/tags/list",
        Fault::Hang(Duration::from_secs(2)),
    ));
    reg.rule(Rule::always("/v2/gen/r04/tags/list", Fault::InvalidJson));
    reg.rule(Rule::always("/v2/gen/new/tags/list", Fault::Status(503)));
    let failing = ["gen/r00", "gen/r01", "gen/r02", "gen/r03", "gen/r04"];

    let before = SystemTimeSecs::now();
    let second = crawl_once(&cfg, Some(&first.snapshot), test_options()).unwrap();
    let mut names: Vec<&str> = second.failed.iter().map(|(n, _)| n.as_str()).collect();
    names.sort();
    let mut want = [&failing[..], &["gen/new"]].concat();
    want.sort();
    assert_eq!(names, want, "{:?}", second.failed);
    for r in failing {
        let got = second.snapshot.repository(r).unwrap();
        let was = first.snapshot.repository(r).unwrap();
        assert_eq!(
            tags_of(&second.snapshot, r),
            tags_of(&first.snapshot, r),
            "{r}"
        );
        assert_eq!((got.size, got.disk_size), (was.size, was.disk_size), "{r}");
        let since = got.stale_since.expect("stale_since");
        assert!(
            since >= before && since <= SystemTimeSecs::now(),
            "{r}: {since}"
        );
    }
    let new = second.snapshot.repository("gen/new").unwrap();
    assert_eq!((new.size, new.disk_size), (None, None));
    assert!(new.tags.is_none());
    // Everything else is fresh.
    assert_eq!(
        second.snapshot.repository("apps/web").unwrap().stale_since,
        None
    );
    let stale_since = second.snapshot.repository("gen/r00").unwrap().stale_since;

    // Still failing: the first failure's time stays.
    let third = crawl_once(&cfg, Some(&second.snapshot), test_options()).unwrap();
    assert_eq!(
        third.snapshot.repository("gen/r00").unwrap().stale_since,
        stale_since
    );
    assert_eq!(
        tags_of(&third.snapshot, "gen/r00"),
        tags_of(&first.snapshot, "gen/r00")
    );

    // Healed: fresh data, no mark.
    reg.clear_rules();
    truth.tag("gen/new", "v1", &p);
    let fourth = crawl_once(&cfg, Some(&third.snapshot), test_options()).unwrap();
    assert!(fourth.failed.is_empty(), "{:?}", fourth.failed);
    assert_same(&fourth.snapshot, &truth.snapshot());
    assert!(fourth
        .snapshot
        .repositories
        .iter()
        .all(|r| r.stale_since.is_none()));
}

struct SystemTimeSecs;
impl SystemTimeSecs {
    fn now() -> f64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    }
}

#[test]
fn a_token_endpoint_that_says_401_abandons_the_crawl() {
    let (reg, _) = populated(fake_options());
    let mut cfg = cfg_for(&reg);
    cfg.access_token = "glpat-revoked".into();
    match crawl_once(&cfg, None, test_options()) {
        Err(CrawlError::Token(e)) => assert!(e.to_string().contains("access_token"), "{e}"),
        other => panic!("expected a token error, got {other:?}"),
    }
    // Also in the middle of a crawl: repository tokens refused after the catalog's.
    let cfg = cfg_for(&reg);
    reg.rule(Rule::always(
        "scope=repository%3Agen%2Fr05",
        Fault::Status(401),
    ));
    match crawl_once(&cfg, None, test_options()) {
        Err(CrawlError::Token(_)) => {}
        other => panic!("expected a token error, got {other:?}"),
    }
}

#[test]
fn an_incomplete_catalog_abandons_the_crawl() {
    capture_logs();
    let (reg, _) = populated(fake_options());
    let cfg = short_timeout(&reg);
    reg.rule(Rule::always("/v2/_catalog?last=", Fault::Status(500)));
    match crawl_once(&cfg, None, test_options()) {
        Err(CrawlError::Catalog(e)) => assert!(e.contains("500"), "{e}"),
        other => panic!("expected a catalog error, got {other:?}"),
    }
    reg.clear_rules();
    reg.rule(Rule::always("/v2/_catalog?last=", Fault::InvalidJson));
    assert!(matches!(
        crawl_once(&cfg, None, test_options()),
        Err(CrawlError::Catalog(_))
    ));
    reg.clear_rules();
    reg.rule(Rule::always(
        "/v2/_catalog?last=",
        Fault::Hang(Duration::from_secs(1)),
    ));
    assert!(matches!(
        crawl_once(&cfg, None, test_options()),
        Err(CrawlError::Catalog(_))
    ));
}

#[test]
fn a_rejected_token_is_renewed_once_and_the_crawl_goes_on() {
    capture_logs();
    let (reg, truth) = populated(fake_options());
    reg.rule(Rule::once("/v2/gen/r05/manifests/", Fault::RevokeTokens));
    let out = crawl_once(&cfg_for(&reg), None, test_options()).unwrap();
    assert!(out.failed.is_empty(), "{:?}", out.failed);
    assert_same(&out.snapshot, &truth.snapshot());
    let normal = 1 + (truth.repos.len() as u64).div_ceil(4);
    assert!(out.stats[Kind::Token] > normal, "{}", out.stats);
}

#[test]
fn the_collector_thread_publishes_saves_repeats_and_stops() {
    capture_logs();
    let (reg, truth) = populated(fake_options());
    let dir = TempDir::new("fake-collector");
    let mut cfg = cfg_for(&reg);
    cfg.state_file = dir.0.join("state.json");
    cfg.update_interval = Duration::from_millis(500);
    let (h, rx, stop_tx) = start_collector(cfg.clone(), new_status());
    let first = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_same(&first, &truth.snapshot());
    let heads_before = reg.count(|c| &c.manifest_head);
    let second = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_same(&second, &truth.snapshot());
    assert!(second.timestamp > first.timestamp);
    // the second crawl was warm: HEADs, no GETs needed
    assert!(reg.count(|c| &c.manifest_head) > heads_before);
    let saved = state::load(&cfg.state_file).unwrap().unwrap();
    assert!(saved.timestamp >= first.timestamp);
    stop_tx.send(()).unwrap();
    wait_finished(&h, Duration::from_secs(3));

    // Disconnecting the stop channel stops it too, even in the middle of a slow crawl;
    // nothing is published from a stopped crawl.
    let slow = FakeRegistry::start(FakeOptions {
        latency: Duration::from_millis(50),
        ..fake_options()
    });
    let mut t = slow;
    push_standard(&mut t, &mut Truth::default(), 40);
    let slow = t;
    let (h, rx, stop_tx) = start_collector(cfg_for(&slow), new_status());
    std::thread::sleep(Duration::from_millis(400));
    drop(stop_tx);
    wait_finished(&h, Duration::from_secs(2));
    assert!(
        rx.try_recv().is_err(),
        "a stopped crawl published a snapshot"
    );
}

#[test]
fn a_failing_crawl_publishes_nothing_and_the_loop_goes_on() {
    capture_logs();
    let (reg, _) = populated(fake_options());
    let mut cfg = cfg_for(&reg);
    cfg.access_token = "wrong".into();
    let (h, rx, stop_tx) = start_collector(cfg, new_status());
    assert!(rx.recv_timeout(Duration::from_millis(1500)).is_err());
    assert!(!h.is_finished());
    stop_tx.send(()).unwrap();
    wait_finished(&h, Duration::from_secs(2));
}

#[test]
fn an_unreachable_registry_is_a_catalog_error_quickly() {
    capture_logs();
    // A port that nothing listens on (bound, then closed).
    let port = support::free_port();
    let cfg = registry_config(&format!("http://127.0.0.1:{port}"), "u", "p");
    let started = Instant::now();
    let opts = CrawlOptions {
        max_attempts: 2,
        ..test_options()
    };
    match crawl_once(&cfg, None, opts) {
        Err(CrawlError::Catalog(e)) => assert!(e.contains("connection"), "{e}"),
        other => panic!("expected a catalog error, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

fn wait_finished(h: &std::thread::JoinHandle<()>, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !h.is_finished() {
        assert!(
            Instant::now() < deadline,
            "the collector did not stop within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_stop_interrupts_a_long_retry_wait() {
    capture_logs();
    let (reg, _) = populated(fake_options());
    reg.rule(Rule::always(
        "/v2/_catalog",
        Fault::RetryAfter(503, "30".into()),
    ));
    let opts = CrawlOptions {
        retry_after_cap: Duration::from_secs(60),
        ..test_options()
    };
    let (tx, rx) = crossbeam_channel::unbounded();
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(1);
    let h = spawn_collector_with(
        cfg_for(&reg),
        opts,
        None,
        into_channel(tx),
        new_status(),
        stop_rx,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let asked = Instant::now();
    stop_tx.send(()).unwrap();
    wait_finished(&h, Duration::from_secs(1));
    assert!(asked.elapsed() < Duration::from_secs(1));
    assert!(rx.try_recv().is_err());
}

#[test]
fn short_lived_tokens_are_renewed_before_they_expire() {
    capture_logs();
    let (reg, truth) = populated(FakeOptions {
        token_expires_in: 1,
        latency: Duration::from_millis(70),
        ..fake_options()
    });
    // One token for all repositories, needed for longer than it lives.
    let opts = CrawlOptions {
        scopes_per_token: 50,
        ..test_options()
    };
    let out = crawl_once(&cfg_for(&reg), None, opts).unwrap();
    assert!(out.failed.is_empty(), "{:?}", out.failed);
    assert_same(&out.snapshot, &truth.snapshot());
    assert!(
        out.elapsed > Duration::from_millis(1500),
        "{:?}",
        out.elapsed
    );
    assert!(
        out.stats[Kind::Token] > 2,
        "tokens were not renewed: {}",
        out.stats
    );
}
