//! The crawl history in real time: the real binary crawls a real registry (Debian's
//! `docker-registry`) every 5 seconds; the test pushes between two crawls and checks, over
//! HTTP, that `since=` reports the changes to the byte, that `/history` lists the crawls
//! oldest first, and that the history survives a restart.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use support::collector::{blob, config_blob, push_image};
use support::fake_registry::{DOCKER_CONFIG, DOCKER_LAYER, DOCKER_V2};
use support::real_registry::{RealRegistry, CRAWL_TOKEN, CRAWL_USER};
use support::service::{Options, Service};
use support::TempDir;

/// Polls `/repositories` (bounded: 60 s) until a crawl newer than `after` is served and
/// `ready` accepts it; returns its timestamp.
fn wait_for_crawl(svc: &Service, after: f64, ready: impl Fn(&Service) -> bool) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let r = svc.get_auth("/repositories");
        if r.status == 200 {
            let t = r.json()["timestamp"].as_f64().unwrap_or(0.0);
            if t > after && ready(svc) {
                return t;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("no crawl after {after} within 60 s:\n{}", svc.log_text());
}

fn start(dir: Option<(TempDir, std::path::PathBuf)>, reg: &RealRegistry) -> Service {
    match dir {
        Some((dir, config)) => Service::start_with_args(dir, config, &[]),
        None => Service::start(Options {
            registry: format!(
                "registry_base_url = {}/\ngitlab_base_url = {}/\nusername = {CRAWL_USER}\naccess_token = {CRAWL_TOKEN}\nupdate_interval = 5 s\ntimeout = 5 s\n",
                reg.url,
                reg.realm.trim_end_matches("/jwt/auth")
            ),
            ..Options::default()
        }),
    }
}

#[test]
fn changes_since_a_crawl_are_exact_and_history_survives_a_restart() {
    let Some(mut reg) = RealRegistry::start() else {
        return;
    };
    let c1 = config_blob(DOCKER_CONFIG, "grow-c1", None);
    let shared = blob(DOCKER_LAYER, "grow-shared", 3000);
    push_image(&mut reg, "grow/app", "v1", DOCKER_V2, &c1, &[&shared]);
    let lib = blob(DOCKER_LAYER, "stay-lib", 1500);
    let lc = config_blob(DOCKER_CONFIG, "stay-c", None);
    push_image(&mut reg, "stay/lib", "1", DOCKER_V2, &lc, &[&lib]);

    let mut svc = start(None, &reg);
    let has = |name: &'static str| {
        move |s: &Service| s.get_auth(&format!("/repositories/{name}")).status == 200
    };
    // A crawl that finished before anything below was pushed.
    let before = wait_for_crawl(&svc, 0.0, has("stay%2Flib"));

    // Between two crawls: a second tag sharing a layer, and a new repository.
    let c2 = config_blob(DOCKER_CONFIG, "grow-c2", None);
    let fresh = blob(DOCKER_LAYER, "grow-fresh", 7000);
    push_image(
        &mut reg,
        "grow/app",
        "v2",
        DOCKER_V2,
        &c2,
        &[&shared, &fresh],
    );
    let nc = config_blob(DOCKER_CONFIG, "new-c", None);
    let nl = blob(DOCKER_LAYER, "new-l", 200);
    push_image(&mut reg, "new/repo", "latest", DOCKER_V2, &nc, &[&nl]);
    let after = wait_for_crawl(&svc, before, |s| {
        s.get_auth("/repositories/grow%2Fapp/tags/v2").status == 200
            && s.get_auth("/repositories/new%2Frepo").status == 200
    });

    let (c2n, fresh_n, shared_n) = (c2.0.size as i64, fresh.0.size as i64, shared.0.size as i64);
    let r = svc.get_auth(&format!("/repositories/grow%2Fapp?since={before}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let b = r.json();
    assert_eq!(b["since"], json!({"timestamp": before}));
    // v2 alone holds c2 + shared + fresh; the shared layer stays charged to v1 (fewer blobs).
    assert_eq!(b["size_change"], json!(c2n + shared_n + fresh_n));
    assert_eq!(b["disk_size_change"], json!(c2n + fresh_n));
    assert_eq!(b["exclusive_size_change"], json!(c2n + fresh_n));
    assert_eq!(b["tags_change"], json!(1));
    assert!(b.get("new").is_none());

    let new_size = (nc.0.size + nl.0.size) as i64;
    let r = svc.get_auth(&format!(
        "/repositories?since={before}&embed=1&sort=disk_size_change&order=desc"
    ));
    let list = r.json();
    let items = list["_embedded"]["items"].as_array().unwrap();
    let names: Vec<&str> = items.iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["grow/app", "new/repo", "stay/lib"]);
    assert_eq!(items[1]["new"], json!(true));
    assert_eq!(items[1]["disk_size_change"], json!(new_size));
    assert_eq!(items[2]["size_change"], json!(0));
    assert_eq!(list["gone"], json!([]));

    let ns = svc
        .get_auth(&format!("/namespaces/grow?since={before}"))
        .json();
    assert_eq!(ns["disk_size_change"], json!(c2n + fresh_n));
    let r = svc.get_auth("/repositories?since=last%20tuesday");
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("RFC 3339"));

    let h = svc.get_auth("/history").json();
    let points = h["points"].as_array().unwrap().clone();
    let stamps: Vec<f64> = points
        .iter()
        .map(|p| p["timestamp"].as_f64().unwrap())
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
    assert!(
        stamps.contains(&before) && stamps.contains(&after),
        "{stamps:?}"
    );
    let last = points.last().unwrap();
    assert_eq!(last["repositories"], json!(3));
    assert_eq!(last["tags"], json!(4));
    let app = svc.get_auth("/history?repository=grow%2Fapp").json();
    let sizes: Vec<&Value> = app["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["tags"])
        .collect();
    assert_eq!(
        (sizes.first().copied(), sizes.last().copied()),
        (Some(&json!(1)), Some(&json!(2)))
    );
    println!("/history: {}", svc.get_auth("/history").text());

    // A restart loads the history from beside the state file.
    assert!(svc.terminate(Duration::from_secs(10)).is_some());
    let dir = std::mem::replace(&mut svc.dir, TempDir::new("history-moved"));
    let config = svc.config.clone();
    drop(svc);
    assert!(dir.path().join("state.history").exists());
    let svc = start(Some((dir, config)), &reg);
    wait_for_crawl(&svc, 0.0, |_| true);
    let again = svc.get_auth("/history").json();
    let first: Vec<f64> = again["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["timestamp"].as_f64().unwrap())
        .collect();
    assert!(first.starts_with(&stamps), "{first:?} vs {stamps:?}");
}
