//! GitLab projects and their clean-up policies (issue 19), against the real registry and a
//! fake of GitLab's REST API built from GitLab's documented answers (`support::fake_gitlab`):
//!
//! - the collector reads every page of the project list however GitLab paginates (keyset,
//!   offset with `Link`, offset with `X-Next-Page` only, a low `per_page` cap), and the tag
//!   protection rules of the enabled policies that own repositories (none on an old GitLab);
//! - a refused token (401, or 403 for a `read_registry`-only one) is warned about once and
//!   the crawl goes on without projects; a 500 page or a page that times out keeps the
//!   previous projects; a `Link` to a foreign host never gets the token;
//! - end to end through the real binary over HTTP: `/policies`, a repository's `project`,
//!   `/health`'s projects line, and a policy whose regex does not compile.

mod support;

use std::time::{Duration, Instant};

use gitlab_registry_usage_rest::config;
use gitlab_registry_usage_rest::registry::{CrawlOutcome, Crawler, Kind, ProjectsMode};
use gitlab_registry_usage_rest::snapshot::time::format_rfc3339;
use gitlab_registry_usage_rest::snapshot::Snapshot;
use serde_json::json;

use support::collector::{blob, config_blob, push_image, test_options, Pushed};
use support::fake_gitlab::{policy_json, FakeGitlab, API_TOKEN};
use support::fake_registry::{MiniServer, Reply, Resp, DOCKER_CONFIG, DOCKER_LAYER, DOCKER_V2};
use support::real_registry::{RealRegistry, CRAWL_TOKEN, CRAWL_USER};
use support::service::{now, Options, Service};

const DAY: i64 = 86_400;

/// The token issuer signs RS256 (see tests/cleanup_registry.rs).
fn full_crypto() {
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
}

/// What the tests pushed: when, and each (repository, tag, image).
struct Pushes {
    t0: i64,
    tags: Vec<(String, String, Pushed)>,
}

impl Pushes {
    /// Bytes of the blobs of `repo:tag` other than the shared base layer: its config and
    /// its own layer (a pushed image's blobs are config, base, own layer).
    fn own_bytes(&self, repo: &str, tag: &str) -> u64 {
        let (_, _, p) = self
            .tags
            .iter()
            .find(|(r, t, _)| r == repo && t == tag)
            .unwrap();
        p.blobs[0].size + p.blobs[2].size
    }
}

/// Every tag gets its own config and layer on a shared base layer.
fn push_all(reg: &mut RealRegistry) -> Pushes {
    let t0 = now() as i64;
    let base = blob(DOCKER_LAYER, "base", 20_000);
    let mut tags = Vec::new();
    let content: [(&str, &[(&str, i64)]); 5] = [
        (
            "group/project/releases",
            &[
                ("latest", 1),
                ("v1.0.0", 60),
                ("v1.1.0-rc.1", 50),
                ("v1.1.0", 45),
                ("stable", 80),
                ("v1.2.0", 2),
            ],
        ),
        ("group/project", &[("main", 100)]),
        ("other/app", &[("old", 100), ("new", 1)]),
        ("tools/bad", &[("x", 100)]),
        ("legacy/img", &[("ancient", 400)]),
    ];
    for (i, (repo, list)) in content.iter().enumerate() {
        for (j, (tag, days)) in list.iter().enumerate() {
            let seed = format!("{repo}-{tag}");
            let created = format_rfc3339(t0 - days * DAY);
            let cfg = config_blob(DOCKER_CONFIG, &seed, Some(&created));
            let own = blob(DOCKER_LAYER, &seed, 1_000 + 100 * i + 10 * j);
            let p = push_image(reg, repo, tag, DOCKER_V2, &cfg, &[&base, &own]);
            tags.push((repo.to_string(), tag.to_string(), p));
        }
    }
    Pushes { t0, tags }
}

/// GitLab's projects for that content, after `fillers` projects without images.
fn add_projects(gl: &FakeGitlab, fillers: u64, t0: i64) {
    for id in 1..=fillers {
        gl.add_project(id, &format!("filler/p{id}"), None);
    }
    let next = json!(format_rfc3339(t0 + 3600));
    let mut on = policy_json(true, None, Some("30d"), ".*", Some(r"v1\.1\.0"));
    on["next_run_at"] = next.clone();
    gl.add_project(fillers + 1, "group/project", Some(on));
    gl.set_rules(fillers + 1, &["^stable"]);
    gl.add_project(
        fillers + 2,
        "other/app",
        Some(policy_json(false, Some(1), Some("7d"), ".*", None)),
    );
    let mut bad = policy_json(true, None, None, "(unclosed", None);
    bad["next_run_at"] = next;
    gl.add_project(fillers + 3, "tools/bad", Some(bad));
    gl.add_project(fillers + 4, "legacy", None);
}

/// The collector's settings: the registry as the harness has it, GitLab's API at the fake
/// (the registry's token issuer stays trusted as a realm).
fn settings(reg: &RealRegistry, gl: &FakeGitlab) -> config::Registry {
    let mut cfg = reg.config(CRAWL_USER, CRAWL_TOKEN);
    cfg.trusted_realms = vec![cfg.gitlab_base_url.clone()];
    cfg.gitlab_base_url = format!("{}/", gl.url());
    cfg.projects = ProjectsMode::Auto;
    cfg
}

fn crawl(c: &Crawler, previous: Option<&Snapshot>) -> CrawlOutcome {
    c.crawl(previous, &crossbeam_channel::never()).unwrap()
}

fn owner(s: &Snapshot, repo: &str) -> Option<u64> {
    s.project_of(repo).map(|p| p.id)
}

#[test]
fn every_page_and_the_rules_of_enabled_policies_are_read() {
    full_crypto();
    let Some(mut reg) = RealRegistry::start() else {
        return;
    };
    let pushes = push_all(&mut reg);
    // (keyset understood, GitLab's per_page cap, Link on offset pages): pages expected
    for (keyset, cap, links, pages) in [
        (true, 100, true, 1),
        (true, 20, true, 3),
        (false, 20, true, 3),
        (false, 7, false, 7),
    ] {
        let gl = FakeGitlab::start();
        add_projects(&gl, 40, pushes.t0);
        {
            let mut st = gl.state.lock().unwrap();
            st.keyset = keyset;
            st.max_per_page = cap;
            st.links = links;
        }
        let c = Crawler::new(&settings(&reg, &gl), test_options()).unwrap();
        let out = crawl(&c, None);
        let what = format!("keyset {keyset}, cap {cap}, links {links}");
        let s = &out.snapshot;
        assert_eq!(s.projects.len(), 44, "{what}");
        assert_eq!(out.projects.status, "ok", "{what}");
        assert_eq!(owner(s, "group/project/releases"), Some(41), "{what}");
        assert_eq!(owner(s, "group/project"), Some(41));
        assert_eq!(owner(s, "other/app"), Some(42));
        assert_eq!(owner(s, "legacy/img"), Some(44));
        let p = s.project_of("group/project").unwrap();
        assert_eq!(p.protected, ["^stable"]);
        assert_eq!(p.web_url, format!("{}/group/project", gl.url()));
        // Requests: the pages, and the rules of the two enabled policies that own images.
        assert_eq!(out.stats[Kind::Projects], pages, "{what}");
        assert_eq!(out.stats[Kind::ProtectionRules], 2, "{what}");
        assert_eq!(gl.requests("/api/v4/projects/41/registry"), 1);
        assert_eq!(
            gl.requests("/api/v4/projects/42/"),
            0,
            "disabled: not asked"
        );
        let st = gl.state.lock().unwrap();
        assert!(st.log.iter().all(|(_, t)| t.as_deref() == Some(API_TOKEN)));
    }

    // An old GitLab without the rules API: one request finds out, nobody else is asked.
    let gl = FakeGitlab::start();
    add_projects(&gl, 0, pushes.t0);
    gl.state.lock().unwrap().rules_api = false;
    let c = Crawler::new(&settings(&reg, &gl), test_options()).unwrap();
    let out = crawl(&c, None);
    assert_eq!(out.stats[Kind::ProtectionRules], 1);
    assert!(out.snapshot.projects.iter().all(|p| p.protected.is_empty()));
    assert_eq!(out.projects.status, "ok");
}

#[test]
fn refusals_faults_and_foreign_hosts() {
    full_crypto();
    support::logs::capture_logs();
    let Some(mut reg) = RealRegistry::start() else {
        return;
    };
    let pushes = push_all(&mut reg);
    let gl = FakeGitlab::start();
    add_projects(&gl, 3, pushes.t0);
    let mut cfg = settings(&reg, &gl);
    cfg.timeout = Duration::from_secs(1);
    let c = Crawler::new(&cfg, test_options()).unwrap();

    // A read_registry-only token (403) and then a revoked one (401): warned once, no projects,
    // the registry's data as ever.
    let refused = || {
        support::logs::logged()
            .iter()
            .filter(|l| l.starts_with("WARN") && l.contains("refused the access token"))
            .count()
    };
    gl.state.lock().unwrap().token_scope = "read_registry";
    let first = crawl(&c, None);
    assert_eq!(first.projects.status, "refused");
    assert!(first
        .projects
        .message
        .as_deref()
        .unwrap()
        .contains("read_api"));
    assert!(first.snapshot.projects.is_empty());
    assert!(first
        .snapshot
        .repository("group/project/releases")
        .is_some());
    gl.state.lock().unwrap().token_scope = "revoked";
    let second = crawl(&c, Some(&first.snapshot));
    assert_eq!(second.projects.status, "refused");
    assert_eq!(refused(), 1, "warned once in auto mode");

    // With projects = true, every refused crawl is warned about.
    let mut strict = settings(&reg, &gl);
    strict.projects = ProjectsMode::On;
    let c_strict = Crawler::new(&strict, test_options()).unwrap();
    let before = refused();
    crawl(&c_strict, None);
    crawl(&c_strict, None);
    assert_eq!(
        refused(),
        before + 2,
        "warned at every crawl with projects = true"
    );

    // Back to a good token: projects.
    gl.state.lock().unwrap().token_scope = "read_api";
    let good = crawl(&c, Some(&second.snapshot));
    assert_eq!(good.projects.status, "ok");
    assert_eq!(good.snapshot.projects.len(), 7);

    // A 500 page and a page that times out keep the previous projects.
    let many = FakeGitlab::start();
    add_projects(&many, 150, pushes.t0);
    let mut cfg = settings(&reg, &many);
    cfg.timeout = Duration::from_secs(1);
    let c = Crawler::new(&cfg, test_options()).unwrap();
    let ok = crawl(&c, None);
    assert_eq!(ok.snapshot.projects.len(), 154);
    many.state.lock().unwrap().fail_page = Some(2);
    let failed = crawl(&c, Some(&ok.snapshot));
    assert_eq!(failed.projects.status, "failed");
    assert!(failed.projects.message.as_deref().unwrap().contains("500"));
    assert_eq!(failed.snapshot.projects, ok.snapshot.projects);
    assert_eq!(owner(&failed.snapshot, "other/app"), Some(152));
    {
        let mut st = many.state.lock().unwrap();
        st.fail_page = None;
        st.slow_page = Some((2, Duration::from_secs(3)));
    }
    let started = Instant::now();
    let slow = crawl(&c, Some(&failed.snapshot));
    assert_eq!(slow.projects.status, "failed");
    assert!(slow
        .projects
        .message
        .as_deref()
        .unwrap()
        .contains("timed out"));
    assert_eq!(slow.snapshot.projects, ok.snapshot.projects);
    assert!(started.elapsed() < Duration::from_secs(30));
    // Without previous projects, a failure leaves none.
    let none = crawl(&c, None);
    assert!(none.snapshot.projects.is_empty());

    // A `Link` to another host: the token stays home, the previous projects stay.
    let foreign_log = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Option<String>>::new()));
    let fl = foreign_log.clone();
    let foreign = MiniServer::start(std::sync::Arc::new(
        move |rq: &support::fake_registry::Req| {
            fl.lock()
                .unwrap()
                .push(rq.header("private-token").map(String::from));
            Reply::Send(Resp::json(200, "[]"))
        },
    ));
    {
        let mut st = many.state.lock().unwrap();
        st.slow_page = None;
        st.next_override = Some(format!("{}/api/v4/projects?page=2", foreign.url()));
    }
    let away = crawl(&c, Some(&ok.snapshot));
    assert_eq!(away.projects.status, "failed");
    assert!(
        away.projects
            .message
            .as_deref()
            .unwrap()
            .contains("trusted_realms"),
        "{:?}",
        away.projects.message
    );
    assert!(
        foreign_log.lock().unwrap().is_empty(),
        "the foreign host was asked"
    );
    assert_eq!(away.snapshot.projects, ok.snapshot.projects);
    // No log line holds the token.
    assert!(support::logs::logged()
        .iter()
        .all(|l| !l.contains(CRAWL_TOKEN)));
}

#[test]
fn policies_and_projects_over_http() {
    full_crypto();
    let Some(mut reg) = RealRegistry::start() else {
        return;
    };
    let pushes = push_all(&mut reg);
    let gl = FakeGitlab::start();
    add_projects(&gl, 2, pushes.t0);
    let issuer = reg.realm.trim_end_matches("/jwt/auth").to_string();
    let svc = Service::start(Options {
        registry: format!(
            "registry_base_url = {}\ngitlab_base_url = {}/\ntrusted_realms = {issuer}\n\
             username = {CRAWL_USER}\naccess_token = {CRAWL_TOKEN}\ntimeout = 5 s\n",
            reg.url,
            gl.url()
        ),
        ..Options::default()
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while svc.get_auth("/policies").status != 200 {
        assert!(Instant::now() < deadline, "no crawl:\n{}", svc.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }

    // A repository's project, old fields unchanged.
    let r = svc
        .get_auth("/repositories/group%2Fproject%2Freleases")
        .json();
    assert_eq!(r["name"], "group/project/releases");
    assert!(r["size"].is_u64() && r["disk_size"].is_u64());
    assert_eq!(
        r["project"],
        json!({"id": 3, "path": "group/project", "web_url": format!("{}/group/project", gl.url())})
    );
    assert_eq!(
        svc.get_auth("/repositories/group%2Fproject").json()["project"]["id"],
        3
    );
    // "legacy/img" belongs to "legacy" (a project without a policy).
    assert_eq!(
        svc.get_auth("/repositories/legacy%2Fimg").json()["project"]["id"],
        6
    );

    let v = svc.get_auth("/policies").json();
    println!("/policies: {}", serde_json::to_string_pretty(&v).unwrap());
    let items = v["_embedded"]["items"].as_array().unwrap();
    let item = |path: &str| items.iter().find(|i| i["project"] == path).unwrap().clone();
    let on = item("group/project");
    assert_eq!(on["enabled"], true);
    assert_eq!(on["policy"], "project");
    let releases = on["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "group/project/releases")
        .unwrap()
        .clone();
    assert_eq!(releases["delete"], json!(["v1.0.0", "v1.1.0-rc.1"]));
    assert_eq!(
        releases["keep"],
        json!([
            {"name": "latest", "reason": "latest"},
            {"name": "stable", "reason": "protected", "pattern": "^stable"},
            {"name": "v1.1.0", "reason": "name_regex_keep"},
            {"name": "v1.2.0", "reason": "older_than"},
        ])
    );
    let freed: u64 = [
        ("group/project/releases", "v1.0.0"),
        ("group/project/releases", "v1.1.0-rc.1"),
        ("group/project", "main"),
    ]
    .iter()
    .map(|(r, t)| pushes.own_bytes(r, t))
    .sum();
    assert_eq!(on["freed_bytes"], freed);
    assert_eq!(on["tags_deleted"], 3);

    let off = item("other/app");
    assert_eq!(
        (off["enabled"].clone(), off["freed_bytes"].clone()),
        (json!(false), json!(0))
    );
    assert_eq!(
        off["freed_bytes_if_enabled"],
        pushes.own_bytes("other/app", "old")
    );
    let bad = item("tools/bad");
    assert!(
        bad["error"].as_str().unwrap().contains("name_regex"),
        "{bad}"
    );
    assert_eq!(bad["freed_bytes"], 0);
    let legacy = item("legacy");
    assert_eq!(legacy["policy"], "gitlab_default");
    // GitLab's default keeps the 10 newest: the one tag stays.
    assert_eq!(legacy["freed_bytes_if_enabled"], 0);
    assert_eq!(v["projects"], 1, "one enabled policy that can run");
    assert_eq!(v["freed_bytes"], freed);
    assert_eq!(v["tags_deleted"], 3);

    // Sorting and paging as on the collections.
    let page = svc
        .get_auth("/policies?sort=freed_bytes_if_enabled&order=desc&limit=1")
        .json();
    assert_eq!(page["total"], 4);
    assert_eq!(page["_embedded"]["items"][0]["project"], "group/project");
    assert!(page["_links"]["next"]["href"].is_string());
    assert_eq!(svc.get_auth("/policies?sort=bogus").status, 400);

    // /health says how reading projects went (details need a token since issue 18).
    let h = svc.get_auth("/health").json();
    assert_eq!(h["projects"]["status"], "ok", "{h}");
    assert_eq!(h["projects"]["projects"], 6);
}
