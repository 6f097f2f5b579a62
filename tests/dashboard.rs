//! The built-in dashboard in a real browser: Debian's headless `chromium`, driven by
//! `tests/browser/dashboard.mjs` (playwright-core), against the real binary. Logs in through a
//! real slapd, sorts, searches, expands, runs clean-up what-ifs against the real `/cleanup`,
//! logs out; the messages for a wrong password, an expired token, a service before its first
//! crawl, too many failed logins and a directory that is down; the service's health in the
//! header (fresh, no data yet, stale with the last error); and 10,000 repositories (the time to
//! first render is printed, not asserted).
//!
//! Needs `chromium`, `node` and `npm ci` in tests/browser (scripts/test.sh sees to all three).
//! When one is missing the tests panic under `CI=true` and otherwise print a notice and pass.

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// `common::` is the harness's old name; kept so the tests' bodies need no change.
use gitlab_registry_usage_rest::auth::jwt::Tokens;
use gitlab_registry_usage_rest::snapshot::{RepositoryInput, Snapshot, SnapshotInput, TagInput};
use serde_json::json;
use support::service::{self as common, Options, Service};
use support::slapd;

const CHROMIUM: &str = "/usr/bin/chromium";
/// The node script bounds itself at 150 s; this is the last resort.
const SCRIPT_LIMIT: Duration = Duration::from_secs(200);

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// `target/` (the binary under test lives in `target/<profile>/`).
fn target_dir() -> PathBuf {
    let bin = Path::new(common::BIN);
    bin.parent()
        .and_then(Path::parent)
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
}

/// Whether the browser and its driver are installed; outside CI a notice when not.
fn browser_available() -> bool {
    // Every test starts here: the full crypto provider goes in before any test's token
    // helper installs its HMAC-only one, so the real registry's issuer can sign RS256.
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
    let mut missing = Vec::new();
    if !Path::new(CHROMIUM).exists() {
        missing.push("chromium (apt-get install chromium)");
    }
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !node.is_ok_and(|s| s.success()) {
        missing.push("node (apt-get install nodejs npm)");
    }
    if !browser_dir()
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        missing.push("playwright-core (npm ci in tests/browser)");
    }
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "missing {}: run scripts/test.sh to install them",
        missing.join(", ")
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and {msg}");
    }
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("\n!!!!!!!! SKIPPING BROWSER TESTS: {msg} !!!!!!!!\n").as_bytes(),
    );
    false
}

/// Runs one scenario of dashboard.mjs; panics with its output unless it passed. Returns stdout.
fn run_browser(scenario: &str, vars: &[(&str, String)], svc: &Service) -> String {
    let mut child = Command::new("node")
        .arg("dashboard.mjs")
        .arg(scenario)
        .current_dir(browser_dir())
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = reader(Box::new(child.stdout.take().unwrap()));
    let err = reader(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + SCRIPT_LIMIT;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    println!("{out}");
    assert!(
        status.is_some_and(|s| s.success()),
        "dashboard.mjs {scenario} failed ({status:?}):\n{out}\n{err}\n--- service log ---\n{}",
        svc.log_text()
    );
    out
}

fn tag(name: &str, blobs: &[&str], created: Option<i64>) -> TagInput {
    TagInput {
        name: name.into(),
        digest: format!(
            "sha256:{}",
            format!("{:016x}", fxhash(name, blobs)).repeat(4)
        ),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        platforms: vec![],
        blobs: blobs.iter().map(|b| b.to_string()).collect(),
        created,
    }
}

/// A stable fake digest for a tag.
fn fxhash(name: &str, blobs: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in std::iter::once(name).chain(blobs.iter().copied()) {
        for byte in b.bytes() {
            h = (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

const MARKUP_NAME: &str = "odd/<b>bold</b>&amp;<img src=x>";

/// A small registry: shared base layers, a multi-tag repository, a stale one, one never read,
/// and a name full of markup.
fn fixture() -> SnapshotInput {
    let repo = |name: &str, tags: Vec<TagInput>| RepositoryInput {
        name: name.into(),
        tags: Some(tags),
        stale_since: None,
    };
    let mib = 1024 * 1024;
    let blobs = [
        ("base", 30 * mib),
        ("web1", 5 * mib),
        ("web2", 7 * mib),
        ("db", 200 * mib),
        ("cli", 2 * mib),
        ("ml", 900 * mib),
        ("ml2", 100 * mib),
        ("tiny", 1000),
        ("old", 40 * mib),
    ];
    let created = Some(1_700_000_000); // 2023-11-14T22:13:20Z
    SnapshotInput {
        timestamp: (common::now() - 600) as f64,
        repositories: vec![
            repo(
                "alpha/web",
                vec![
                    tag("latest", &["base", "web2"], created),
                    tag("v1", &["base", "web1"], created),
                    tag("v2", &["base", "web2"], created),
                ],
            ),
            repo("alpha/db", vec![tag("15", &["base", "db"], created)]),
            repo("beta/tools/cli", vec![tag("latest", &["cli"], None)]),
            repo(
                "gamma/ml/train",
                vec![
                    tag("big", &["ml", "ml2"], created),
                    tag("small", &["ml2"], None),
                ],
            ),
            repo(MARKUP_NAME, vec![tag("x", &["tiny"], None)]),
            RepositoryInput {
                name: "beta/legacy".into(),
                tags: Some(vec![tag("old", &["old"], None)]),
                stale_since: Some((common::now() - 7200) as f64),
            },
            RepositoryInput {
                name: "beta/never".into(),
                tags: None,
                stale_since: None,
            },
        ],
        blobs: blobs.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    }
}

/// What the page must show for `input`, computed from the service's own snapshot arithmetic.
fn expectations(input: SnapshotInput) -> serde_json::Value {
    let snap = Snapshot::build(input).unwrap();
    let rows: Vec<(String, u64)> = snap
        .repositories
        .iter()
        .map(|r| (r.name.clone(), r.disk_size.unwrap_or(0)))
        .collect();
    let mut by_disk_desc = rows.clone();
    by_disk_desc.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut by_disk_asc = rows.clone();
    by_disk_asc.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    let names = |v: &[(String, u64)]| v.iter().map(|r| r.0.clone()).collect::<Vec<_>>();
    let mut namespaces: Vec<String> = rows
        .iter()
        .flat_map(|(n, _)| {
            let parts: Vec<&str> = n.split('/').collect();
            (1..parts.len())
                .map(|i| parts[..i].join("/"))
                .collect::<Vec<_>>()
        })
        .collect();
    namespaces.sort();
    namespaces.dedup();
    let search_hits: Vec<String> = names(&by_disk_desc)
        .into_iter()
        .filter(|n| n.contains("beta"))
        .collect();
    json!({
        "repositories": rows.len(),
        "by_disk_desc": names(&by_disk_desc),
        "by_disk_asc": names(&by_disk_asc),
        "by_name": rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        "search": "BETA",
        "search_hits": search_hits,
        "markup_name": MARKUP_NAME,
        "expand": "alpha/web",
        "expand_tags": expand_tags(&snap, "alpha/web"),
        "expand_created": "14 Nov 2023",
        "namespaces": namespaces,
        "namespace": "beta",
        "namespace_repositories": 3,
        "by_exclusive_desc": by_exclusive_desc(&snap),
        "cleanup": cleanup_expectations(),
    })
}

/// Repository names by `exclusive_size`, largest first (unknown as 0), then by name.
fn by_exclusive_desc(snap: &Snapshot) -> Vec<String> {
    let mut rows: Vec<(String, u64)> = snap
        .repositories
        .iter()
        .map(|r| (r.name.clone(), r.exclusive_size.unwrap_or(0)))
        .collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    rows.into_iter().map(|r| r.0).collect()
}

/// Two clean-up rules over [`fixture`], worked out by hand from GitLab's rules, and what the
/// panel must show for the real service's answers.
fn cleanup_expectations() -> serde_json::Value {
    let mib = 1024 * 1024u64;
    let age = "not older than 4 weeks, or age unknown";
    // Every tag but those named v2, if older than 4 weeks. Deleted: alpha/web v1 (frees web1;
    // base stays with latest), alpha/db 15 (frees db), gamma/ml/train big (frees ml; ml2 stays
    // with small, whose age is unknown). Kept: two `latest`, v2 by regex, three of unknown age.
    let freed = 900 * mib + 200 * mib + 5 * mib;
    json!({
        "registry": {
            "delete": ".*",
            "keep": "v2",
            "older_than": "4 weeks",
            "query": "?name_regex_delete=.*&name_regex_keep=v2&older_than=4%20weeks",
            "freed_text": "1.08 GiB",
            "freed_text_decimal": "1.16 GB",
            "freed_exact": format!("{} bytes", thousands(freed)),
            "tags_deleted": 3,
            "tags_kept": 6,
            "tags_not_matched": 0,
            "repositories": 6,
            // largest gain first; equal gains in the service's order (by name)
            "rows": ["gamma/ml/train", "alpha/db", "alpha/web", "beta/legacy", "beta/tools/cli", MARKUP_NAME],
            "cells": [
                ["gamma/ml/train", "900 MiB", "big", format!("small ({age})")],
                ["alpha/db", "200 MiB", "15", "–"],
                ["alpha/web", "5.00 MiB", "v1", "latest (latest is never deleted), v2 (matches the keep pattern)"],
                ["beta/tools/cli", "0 B", "–", "latest (latest is never deleted)"],
                [MARKUP_NAME, "0 B", "–", format!("x ({age})")],
            ],
        },
        // Below `alpha`, tags v<digits> or 15, keeping the newest one per repository: v1 and
        // v2 were created at the same second, so v2 (the name that sorts last) counts as newer.
        "namespace": {
            "delete": "v\\d+|15",
            "keep_n": "1",
            "scope": "alpha/",
            "query": "?name_regex_delete=v%5Cd%2B%7C15&keep_n=1&namespace=alpha",
            "freed_text": "5.00 MiB",
            "tags_deleted": 1,
            "tags_kept": 2,
            "tags_not_matched": 1,
            "repositories": 2,
            "kept_text": "v2 (among the newest 1)",
        },
    })
}

/// `1234567` as `1,234,567` (the page's number format).
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The tag names of `repo` in the page's order: disk size, largest first, then name.
fn expand_tags(snap: &Snapshot, repo: &str) -> Vec<String> {
    let mut tags: Vec<(String, u64)> = snap
        .repository(repo)
        .and_then(|r| r.tags.as_ref())
        .unwrap()
        .iter()
        .map(|t| (t.name.clone(), t.disk_size))
        .collect();
    tags.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    tags.into_iter().map(|t| t.0).collect()
}

fn ldap_options(s: &slapd::Slapd, extra: &str) -> String {
    format!(
        "host = {}\nbase_dn = {}\nvalid_gid = {}\nca_file = {}\ntimeout = 2 s\n{extra}",
        s.ldaps_url(),
        slapd::PEOPLE,
        slapd::VALID_GID,
        s.ca_file().display()
    )
}

#[test]
fn dashboard_logs_in_sorts_searches_expands_and_logs_out() {
    if !browser_available() {
        return;
    }
    let Some(s) = slapd::shared() else { return };
    let svc = Service::start(Options {
        ldap: ldap_options(s, "max_failures_per_minute = 0\n"),
        state: Some(common::state_bytes(fixture())),
        ..Options::default()
    });
    let expired = Tokens::new(common::SECRET.as_bytes(), Duration::from_secs(3600))
        .issue("alice", common::now() - 7200)
        .unwrap();
    let shot = target_dir().join("dashboard-screenshot.png");
    let cleanup_shot = target_dir().join("dashboard-cleanup-screenshot.png");
    run_browser(
        "full",
        &[
            ("BASE_URL", format!("http://{}/", svc.addr)),
            ("LOGIN_USER", "alice".into()),
            ("LOGIN_PASSWORD", slapd::ALICE_PW.into()),
            ("EXPIRED_TOKEN", expired),
            ("EXPECT", expectations(fixture()).to_string()),
            ("SCREENSHOT", shot.display().to_string()),
            ("CLEANUP_SCREENSHOT", cleanup_shot.display().to_string()),
        ],
        &svc,
    );
    assert!(shot.exists(), "the screenshot was written");
    assert!(cleanup_shot.exists(), "the clean-up screenshot was written");
    let log = svc.log_text();
    assert!(!log.contains(slapd::ALICE_PW), "a password reached the log");
}

#[test]
fn dashboard_before_the_first_crawl_and_after_too_many_failures() {
    if !browser_available() {
        return;
    }
    let Some(s) = slapd::shared() else { return };
    // No state file, and a registry nobody answers: no snapshot for as long as the test runs.
    let svc = Service::start(Options {
        ldap: ldap_options(s, "max_failures_per_minute = 1\n"),
        registry: "registry_base_url = http://127.0.0.1:1/\ntimeout = 1 s\n".into(),
        state: None,
        ..Options::default()
    });
    run_browser(
        "first-crawl",
        &[
            ("BASE_URL", format!("http://{}/", svc.addr)),
            ("LOGIN_USER", "alice".into()),
            ("LOGIN_PASSWORD", slapd::ALICE_PW.into()),
            (
                "SCREENSHOT",
                target_dir()
                    .join("dashboard-first-crawl-screenshot.png")
                    .display()
                    .to_string(),
            ),
        ],
        &svc,
    );
}

#[test]
fn dashboard_shows_stale_data_and_the_last_crawl_error() {
    if !browser_available() {
        return;
    }
    // The state file's data is 10 minutes old, twice update_interval is 2 minutes, and the
    // registry never answers: /health says stale, with the crawl's error.
    let svc = Service::start(Options {
        registry: "registry_base_url = http://127.0.0.1:1/\ntimeout = 1 s\nupdate_interval = 1 m\n"
            .into(),
        state: Some(common::state_bytes(fixture())),
        ..Options::default()
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        // the details need a token
        let h = svc.get("/health", &[("Authorization", &svc.bearer())]);
        if h.status == 503 && h.json()["last_error"].is_string() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no failed crawl within 15 s: {} {}",
            h.status,
            h.text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    run_browser(
        "stale",
        &[
            ("BASE_URL", format!("http://{}/", svc.addr)),
            ("TOKEN", svc.token("alice")),
        ],
        &svc,
    );
}

/// 10,000 repositories × 10 tags in 100 groups: each tag has a group base layer, a repository
/// layer and a layer of its own.
fn large_fixture() -> SnapshotInput {
    let mut blobs = std::collections::HashMap::new();
    let mut repositories = Vec::with_capacity(10_000);
    for g in 0..100 {
        blobs.insert(format!("g{g}"), 50_000_000 + g * 1_000_003);
    }
    for i in 0..10_000u64 {
        let g = i % 100;
        let name = format!("group-{g:02}/team-{}/repo-{i:05}", i % 7);
        blobs.insert(format!("r{i}"), 1_000_000 + (i * 7919) % 90_000_000);
        let tags = (0..10u64)
            .map(|t| {
                let own = format!("t{i}-{t}");
                blobs.insert(own.clone(), 10_000 + ((i * 31 + t * 977) % 5_000_000));
                let base = format!("g{g}");
                let repo = format!("r{i}");
                tag(
                    &format!("v{t}"),
                    &[base.as_str(), repo.as_str(), own.as_str()],
                    Some(1_700_000_000 + (t as i64) * 86_400),
                )
            })
            .collect();
        repositories.push(RepositoryInput {
            name,
            tags: Some(tags),
            stale_since: None,
        });
    }
    SnapshotInput {
        timestamp: (common::now() - 120) as f64,
        repositories,
        blobs,
    }
}

#[test]
fn dashboard_with_10000_repositories_below_a_prefix() {
    if !browser_available() {
        return;
    }
    // The default LDAP settings point at a closed port: logins get "directory unavailable".
    let svc = Service::start(Options {
        general: "server_prefix = /usage\n".into(),
        state: Some(common::state_bytes(large_fixture())),
        ..Options::default()
    });
    let out = run_browser(
        "large",
        &[
            ("BASE_URL", format!("http://{}/usage/", svc.addr)),
            ("TOKEN", svc.token("alice")),
            (
                "SCREENSHOT",
                target_dir()
                    .join("dashboard-10000-screenshot.png")
                    .display()
                    .to_string(),
            ),
        ],
        &svc,
    );
    let timing = out
        .lines()
        .find_map(|l| l.strip_prefix("TIMING "))
        .expect("the script reports its timing");
    // Reported, not asserted: this machine is shared and the service is a debug build here.
    eprintln!("dashboard with 10,000 repositories: {timing}");
}

/// Bytes as the dashboard shows them in binary units (`fmtBytes` in common.js).
fn binary_bytes(n: u64) -> String {
    const NAMES: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let (mut v, mut i) = (n as f64, 0);
    while v >= 1024.0 && i < NAMES.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$} {}", NAMES[i])
}

#[test]
fn dashboard_storage_tab_shows_the_last_scan() {
    if !browser_available() {
        return;
    }
    let Some((reg, truth)) = support::garbage::registry_with_garbage(Default::default()) else {
        return;
    };
    let svc = Service::start(Options {
        general: format!(
            "[storage]\ndriver = filesystem\nrootdirectory = {}\n",
            reg.storage_root().display()
        ),
        state: Some(common::state_bytes(truth.input())),
        ..Options::default()
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let v = loop {
        let r = svc.get_auth("/storage");
        if r.status == 200 {
            break r.json();
        }
        assert!(
            Instant::now() < deadline,
            "no scan: {} {}",
            r.status,
            r.text()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let bytes = |k: &str| binary_bytes(v[k]["bytes"].as_u64().unwrap());
    let expect = json!({
        "cards": [
            format!("On disk {}", bytes("blobs")),
            format!("Reclaimable now {}", bytes("gc")),
            format!("With --delete-untagged {}", bytes("gc_untagged")),
            "Half-done uploads 1".to_string(),
        ],
        "breaks": ["multi/oci:v2.0.1 (3 platform images)", "multi/tool:latest, stable (2 platform images)"],
        "top": v["_embedded"]["items"][0]["name"],
    });
    run_browser(
        "storage",
        &[
            ("BASE_URL", format!("http://{}/", svc.addr)),
            ("TOKEN", svc.token("alice")),
            ("EXPECT", expect.to_string()),
        ],
        &svc,
    );
}
