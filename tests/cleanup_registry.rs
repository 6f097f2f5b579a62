//! The clean-up dry run against the real registry: push images with known creation times,
//! let the service's collector crawl them, ask `GET /cleanup` over HTTP, then delete exactly
//! the tags it named through the registry API (as GitLab does), run the registry's garbage
//! collector, and compare the bytes the storage lost with `freed_bytes`. They must agree
//! to the byte.
//!
//! Also the service's `[general] cleanup_regex_size_limit` end to end (no registry needed).

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use gitlab_registry_usage_rest::snapshot::time::format_rfc3339;
use serde_json::{json, Value};

use support::collector::{blob, push_image, push_index, Pushed, Target};
use support::fake_registry::{
    image_manifest, Desc, DOCKER_CONFIG, DOCKER_LAYER, DOCKER_LIST, DOCKER_V2, OCI_CONFIG,
    OCI_LAYER, OCI_MANIFEST,
};
use support::real_registry::{blob_files, RealRegistry, CRAWL_TOKEN, CRAWL_USER};
use support::service::{self, now, Options, Service};

const DAY: i64 = 86_400;

/// The token issuer signs RS256; the service's token helper would otherwise install its
/// HMAC-only provider as this process's default first (tests run in parallel).
fn full_crypto() {
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
}

/// An image config whose `created` is `days` days before `t0` (`None`: no `created`).
fn config(media_type: &str, seed: &str, t0: i64, days: Option<i64>, arch: &str) -> (Desc, Vec<u8>) {
    let mut v = json!({
        "architecture": arch,
        "os": "linux",
        "config": {"Labels": {"seed": seed}},
        "rootfs": {"type": "layers", "diff_ids": []},
    });
    if let Some(d) = days {
        v["created"] = format_rfc3339(t0 - d * DAY).into();
    }
    let bytes = serde_json::to_vec(&v).unwrap();
    (Desc::of(media_type, &bytes), bytes)
}

/// What a tag points at: its manifest and, for an index, the children.
#[derive(Clone)]
struct Pointed {
    manifest: String,
    children: Vec<String>,
}

fn tag(
    repos: &mut BTreeMap<String, BTreeMap<String, Pointed>>,
    repo: &str,
    name: &str,
    p: &Pushed,
    children: &[&Pushed],
) {
    repos.entry(repo.into()).or_default().insert(
        name.into(),
        Pointed {
            manifest: p.digest.clone(),
            children: children.iter().map(|c| c.digest.clone()).collect(),
        },
    );
}

fn size(p: &(Desc, Vec<u8>)) -> u64 {
    p.1.len() as u64
}

#[test]
fn dry_run_freed_bytes_equal_what_garbage_collection_frees() {
    full_crypto();
    let Some(mut reg) = RealRegistry::start() else {
        return;
    };
    let t0 = now() as i64;
    let mut pointed: BTreeMap<String, BTreeMap<String, Pointed>> = BTreeMap::new();

    // Layers: B is everybody's base; S is shared by two deleted tags in two repositories;
    // A1 by a deleted tag and an out-of-scope one; L2 by a deleted and an unmatched tag;
    // TB1 by two platforms of two multi-arch tags, one kept.
    let b = blob(DOCKER_LAYER, "base", 30_000);
    let s = blob(DOCKER_LAYER, "shared-between-deleted", 7_000);
    let l1 = blob(DOCKER_LAYER, "app-1", 1_100);
    let l2 = blob(DOCKER_LAYER, "app-2", 1_200);
    let l3 = blob(DOCKER_LAYER, "app-3", 1_300);
    let l4 = blob(DOCKER_LAYER, "app-4", 1_400);
    let l5 = blob(DOCKER_LAYER, "app-5", 1_500);
    let ld = blob(DOCKER_LAYER, "app-dev", 1_600);

    // team/app (Docker schema 2).
    let app = "team/app";
    let c1 = config(DOCKER_CONFIG, "app-1", t0, Some(100), "amd64");
    let v1 = push_image(&mut reg, app, "v1", DOCKER_V2, &c1, &[&b, &l1]);
    reg.manifest(
        app,
        "stable",
        DOCKER_V2,
        &image_manifest(DOCKER_V2, &c1.0, &[b.0.clone(), l1.0.clone()]),
    );
    tag(&mut pointed, app, "v1", &v1, &[]);
    tag(&mut pointed, app, "stable", &v1, &[]);
    let c2 = config(DOCKER_CONFIG, "app-2", t0, Some(60), "amd64");
    let v2 = push_image(&mut reg, app, "v2", DOCKER_V2, &c2, &[&b, &l2]);
    tag(&mut pointed, app, "v2", &v2, &[]);
    let c3 = config(DOCKER_CONFIG, "app-3", t0, Some(40), "amd64");
    let v3 = push_image(&mut reg, app, "v3", DOCKER_V2, &c3, &[&b, &l3]);
    reg.manifest(
        app,
        "v3-rc",
        DOCKER_V2,
        &image_manifest(DOCKER_V2, &c3.0, &[b.0.clone(), l3.0.clone()]),
    );
    tag(&mut pointed, app, "v3", &v3, &[]);
    tag(&mut pointed, app, "v3-rc", &v3, &[]);
    let c4 = config(DOCKER_CONFIG, "app-4", t0, Some(1), "amd64");
    let v4 = push_image(&mut reg, app, "v4", DOCKER_V2, &c4, &[&b, &l4]);
    reg.manifest(
        app,
        "latest",
        DOCKER_V2,
        &image_manifest(DOCKER_V2, &c4.0, &[b.0.clone(), l4.0.clone()]),
    );
    tag(&mut pointed, app, "v4", &v4, &[]);
    tag(&mut pointed, app, "latest", &v4, &[]);
    let c5 = config(DOCKER_CONFIG, "app-5", t0, Some(10), "amd64");
    let v5 = push_image(&mut reg, app, "v5", DOCKER_V2, &c5, &[&b, &l5]);
    tag(&mut pointed, app, "v5", &v5, &[]);
    let cd = config(DOCKER_CONFIG, "app-dev", t0, Some(200), "amd64");
    let dev = push_image(&mut reg, app, "dev-x", DOCKER_V2, &cd, &[&b, &l2, &ld]);
    tag(&mut pointed, app, "dev-x", &dev, &[]);

    // team/api (OCI), one tag without a creation time.
    let api = "team/api";
    let ob = blob(OCI_LAYER, "base", 30_000); // the same bytes as b: the same blob
    let os = blob(OCI_LAYER, "shared-between-deleted", 7_000);
    let a1 = blob(OCI_LAYER, "api-1", 2_100);
    let a2 = blob(OCI_LAYER, "api-2", 2_200);
    let a0 = blob(OCI_LAYER, "api-0", 2_000);
    let ca1 = config(OCI_CONFIG, "api-1", t0, Some(90), "amd64");
    let av1 = push_image(&mut reg, api, "v1", OCI_MANIFEST, &ca1, &[&ob, &a1, &os]);
    tag(&mut pointed, api, "v1", &av1, &[]);
    let ca2 = config(OCI_CONFIG, "api-2", t0, Some(5), "amd64");
    let av2 = push_image(&mut reg, api, "v2", OCI_MANIFEST, &ca2, &[&ob, &a2]);
    tag(&mut pointed, api, "v2", &av2, &[]);
    let ca0 = config(OCI_CONFIG, "api-0", t0, None, "amd64");
    let av0 = push_image(&mut reg, api, "v0-nodate", OCI_MANIFEST, &ca0, &[&ob, &a0]);
    tag(&mut pointed, api, "v0-nodate", &av0, &[]);

    // team/tool: two manifest lists; the old one's arm64 layer is also in the new one.
    let tool = "team/tool";
    let ta1 = blob(DOCKER_LAYER, "tool-amd-1", 3_100);
    let tb1 = blob(DOCKER_LAYER, "tool-arm-1", 3_200);
    let ta2 = blob(DOCKER_LAYER, "tool-amd-2", 3_300);
    let cfg_a = config(DOCKER_CONFIG, "tool-amd-1", t0, Some(50), "amd64");
    let cfg_b = config(DOCKER_CONFIG, "tool-arm-1", t0, Some(52), "arm64");
    let amd1 = push_image(&mut reg, tool, "", DOCKER_V2, &cfg_a, &[&b, &ta1, &s]);
    let arm1 = push_image(&mut reg, tool, "", DOCKER_V2, &cfg_b, &[&b, &tb1]);
    let list1 = push_index(
        &mut reg,
        tool,
        "1.0",
        DOCKER_LIST,
        &[
            (&amd1, "linux", "amd64", None),
            (&arm1, "linux", "arm64", None),
        ],
    );
    tag(&mut pointed, tool, "1.0", &list1, &[&amd1, &arm1]);
    let cfg_a2 = config(DOCKER_CONFIG, "tool-amd-2", t0, Some(3), "amd64");
    let cfg_b2 = config(DOCKER_CONFIG, "tool-arm-2", t0, Some(3), "arm64");
    let amd2 = push_image(&mut reg, tool, "", DOCKER_V2, &cfg_a2, &[&b, &ta2]);
    let arm2 = push_image(&mut reg, tool, "", DOCKER_V2, &cfg_b2, &[&b, &tb1]);
    let list2 = push_index(
        &mut reg,
        tool,
        "2.0",
        DOCKER_LIST,
        &[
            (&amd2, "linux", "amd64", None),
            (&arm2, "linux", "arm64", None),
        ],
    );
    tag(&mut pointed, tool, "2.0", &list2, &[&amd2, &arm2]);

    // other/keep: old and matching, but outside the namespace the rule is scoped to.
    let other = "other/keep";
    let oa1 = blob(OCI_LAYER, "api-1", 2_100); // the same blob as team/api's a1
    let co = config(OCI_CONFIG, "other", t0, Some(300), "amd64");
    let ov1 = push_image(&mut reg, other, "v1", OCI_MANIFEST, &co, &[&ob, &oa1]);
    tag(&mut pointed, other, "v1", &ov1, &[]);

    // The collector of the real binary crawls it.
    let issuer = reg.realm.trim_end_matches("/jwt/auth").to_string();
    let svc = Service::start(Options {
        registry: format!(
            "registry_base_url = {}\ngitlab_base_url = {issuer}/\nusername = {CRAWL_USER}\naccess_token = {CRAWL_TOKEN}\ntimeout = 5 s\n",
            reg.url
        ),
        ..Options::default()
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    while svc.get_auth("/repositories").status != 200 {
        assert!(
            Instant::now() < deadline,
            "no crawl within 15 s:\n{}",
            svc.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let created = svc.get_auth("/repositories/team%2Fapp/tags/v2").json()["created"].clone();
    assert_eq!(
        created,
        json!(format_rfc3339(t0 - 60 * DAY)),
        "the collector records each tag's config `created`"
    );

    let query = "name_regex_delete=v%5Cd.*|stable|latest|%5Cd+%5C.%5Cd+&name_regex_keep=stable&keep_n=1&older_than=30d&namespace=team";
    let r = svc.get_auth(&format!("/cleanup?{query}&links=true"));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let items = v["_embedded"]["items"].as_array().unwrap();
    let item = |name: &str| items.iter().find(|i| i["name"] == name).unwrap().clone();
    let reasons = |i: &Value| -> Vec<(String, String)> {
        i["keep"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["name"].as_str().unwrap().into(),
                    k["reason"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    let pairs = |x: &[(&str, &str)]| -> Vec<(String, String)> {
        x.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    let a = item(app);
    assert_eq!(a["delete"], json!(["v1", "v2", "v3", "v3-rc"]));
    assert_eq!(
        reasons(&a),
        pairs(&[
            ("latest", "latest"),
            ("stable", "regex"),
            ("v4", "keep_n"),
            ("v5", "age")
        ])
    );
    assert_eq!(a["tags_not_matched"], 1);
    let p = item(api);
    assert_eq!(p["delete"], json!(["v1"]));
    assert_eq!(
        reasons(&p),
        pairs(&[("v0-nodate", "keep_n"), ("v2", "age")])
    );
    let t = item(tool);
    assert_eq!(t["delete"], json!(["1.0"]));
    assert_eq!(reasons(&t), pairs(&[("2.0", "keep_n")]));
    assert_eq!((v["repositories"].as_u64(), items.len()), (Some(3), 3));

    // The numbers the rules imply, from the sizes we pushed.
    let app_freed = size(&c2) + size(&c3) + size(&l3);
    let api_freed = size(&ca1);
    let tool_freed = size(&cfg_a) + size(&ta1) + size(&cfg_b);
    assert_eq!(a["freed_bytes"], app_freed);
    assert_eq!(p["freed_bytes"], api_freed);
    assert_eq!(t["freed_bytes"], tool_freed);
    let freed = v["freed_bytes"].as_u64().unwrap();
    assert_eq!(
        freed,
        app_freed + api_freed + tool_freed + size(&s),
        "S is freed by two repositories together"
    );
    assert_eq!(
        v["_links"]["self"]["href"],
        "/cleanup?name_regex_delete=v%5Cd.%2A%7Cstable%7Clatest%7C%5Cd%2B%5C.%5Cd%2B\
         &name_regex_keep=stable&keep_n=1&older_than=30d&namespace=team"
    );
    let html = svc.get(
        &format!("/cleanup?{query}"),
        &[("Authorization", &svc.bearer()), ("Accept", "text/html")],
    );
    assert!(html.text().contains("keep (keep_n)"), "{}", html.text());

    // Delete what the dry run named, as GitLab does: a dummy manifest pushed onto each
    // deleted tag, then deleted by digest (removing just those tags); then the manifests no
    // tag points at any more, with the children of deleted lists (what GitLab's
    // `registry-garbage-collect -m` would remove; Distribution 2.8's --delete-untagged
    // would also remove the children of kept lists, so the test deletes them itself).
    let before = blob_files(&reg.storage_root());
    let dummy_cfg_bytes =
        br#"{"dummy":"cleanup-test","rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec();
    let dummy_cfg = Desc::of(DOCKER_CONFIG, &dummy_cfg_bytes);
    let dummy = image_manifest(DOCKER_V2, &dummy_cfg, &[]);
    let mut not_blobs: BTreeSet<String> = [dummy_cfg.digest.clone()].into();
    for it in items {
        let repo = it["name"].as_str().unwrap();
        let gone: Vec<&str> = it["delete"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        reg.blob(repo, &dummy_cfg, &dummy_cfg_bytes);
        let mut dummy_digest = String::new();
        for tag in &gone {
            dummy_digest = reg.manifest(repo, tag, DOCKER_V2, &dummy);
        }
        reg.delete_manifest(repo, &dummy_digest);
        not_blobs.insert(dummy_digest);
        let tags = &pointed[repo];
        let left: Vec<&Pointed> = tags
            .iter()
            .filter(|(n, _)| !gone.contains(&n.as_str()))
            .map(|(_, p)| p)
            .collect();
        let mut done = BTreeSet::new();
        for tag in &gone {
            let p = &tags[*tag];
            if !left.iter().any(|l| l.manifest == p.manifest) && done.insert(p.manifest.clone()) {
                reg.delete_manifest(repo, &p.manifest);
                not_blobs.insert(p.manifest.clone());
                for c in &p.children {
                    if !left.iter().any(|l| l.children.contains(c)) {
                        reg.delete_manifest(repo, c);
                        not_blobs.insert(c.clone());
                    }
                }
            }
        }
    }
    drop(svc);
    reg.stop();
    let gc = reg.garbage_collect(&[]);
    let after = blob_files(&reg.storage_root());
    let lost: BTreeMap<&String, u64> = before
        .iter()
        .filter(|(d, _)| !after.contains_key(*d) && !not_blobs.contains(*d))
        .map(|(d, s)| (d, *s))
        .collect();
    let lost_bytes: u64 = lost.values().sum();
    let names: HashMap<String, &str> = [
        (&c2, "c2"),
        (&c3, "c3"),
        (&l3, "l3"),
        (&ca1, "ca1"),
        (&cfg_a, "cfg_a"),
        (&ta1, "ta1"),
        (&cfg_b, "cfg_b"),
        (&s, "s"),
        (&l2, "l2"),
        (&l1, "l1"),
        (&c1, "c1"),
        (&tb1, "tb1"),
        (&a1, "a1"),
    ]
    .into_iter()
    .map(|(p, n)| (p.0.digest.clone(), n))
    .collect();
    let shown: Vec<String> = lost
        .iter()
        .map(|(d, s)| format!("{} {s}", names.get(*d).copied().unwrap_or(d.as_str())))
        .collect();
    assert_eq!(
        lost_bytes, freed,
        "garbage collection freed {lost_bytes} bytes of blobs ({shown:?}), the dry run said {freed}\n{gc}"
    );
    assert!(lost_bytes > 0);
}

#[test]
fn regex_size_limit_is_configurable() {
    full_crypto();
    use gitlab_registry_usage_rest::snapshot::{RepositoryInput, SnapshotInput, TagInput};
    let state = service::state_bytes(SnapshotInput {
        timestamp: 5.0,
        repositories: vec![RepositoryInput {
            name: "g/p".into(),
            tags: Some(vec![TagInput {
                name: "v1".into(),
                digest: "sha256:m".into(),
                media_type: DOCKER_V2.into(),
                platforms: vec![],
                blobs: vec!["sha256:b".into()],
                created: Some(1_000),
            }]),
            stale_since: None,
        }],
        blobs: [("sha256:b".to_string(), 42)].into_iter().collect(),
    });
    let svc = Service::start(Options {
        general: "cleanup_regex_size_limit = 2000\n".into(),
        state: Some(state),
        ..Options::default()
    });
    let r = svc.get_auth("/cleanup?name_regex_delete=%5Cw{300}");
    assert_eq!(r.status, 400, "{}", r.text());
    let m = r.json()["message"].as_str().unwrap().to_string();
    assert!(
        m.starts_with("name_regex_delete: ") && m.contains("cleanup_regex_size_limit"),
        "{m}"
    );
    let r = svc.get_auth("/cleanup?name_regex_delete=v%5Cd&older_than=1d");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        (
            r.json()["freed_bytes"].as_u64(),
            r.json()["tags_deleted"].as_u64()
        ),
        (Some(42), Some(1))
    );
}
