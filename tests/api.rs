//! The API contract over HTTP, against the real binary serving a state-file fixture.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::service::{self, request, Options, Service};

const TS: f64 = 1795438748.159703;

fn fixture() -> Vec<u8> {
    let tag = |name: &str, blobs: &[&str]| json!({"name": name, "digest": format!("sha256:{name}"), "media_type": "application/vnd.docker.distribution.manifest.v2+json", "blobs": blobs});
    let state = json!({
        "version": 1,
        "timestamp": TS,
        "repositories": [
            {"name": "base/alpine", "tags": [tag("latest", &["cfg", "l1"]), tag("stable", &["cfg", "l1"])]},
            {"name": "group/sub/app", "tags": [tag("1.0", &["cfg2", "l1", "l2"]), tag("tags", &["cfg3", "l1", "l2"])]},
            {"name": "group/sub/app/tags", "tags": [tag("v_1-x", &["l3"])]},
            {"name": "empty", "tags": []},
            {"name": "never-read", "tags": null},
            {"name": "stale/one", "tags": [tag("old", &["l4"])], "stale_since": 1795000000.0},
            {"name": "odd name/with%/ünï", "tags": [tag("t", &["l5"])]},
            {"name": "multi", "tags": [{"name": "latest", "digest": "sha256:idx",
                "media_type": "application/vnd.oci.image.index.v1+json",
                "platforms": [{"os": "linux", "architecture": "amd64", "size": 1100},
                              {"os": "linux", "architecture": "arm", "variant": "v7", "size": 1200}],
                "blobs": ["c-amd", "c-arm", "shared", "amd", "arm"]}]}
        ],
        "blobs": {"cfg": 290, "l1": 9000, "cfg2": 10, "cfg3": 11, "l2": 500, "l3": 7, "l4": 4, "l5": 5,
                  "c-amd": 100, "c-arm": 200, "shared": 1000, "amd": 0, "arm": 0}
    });
    serde_json::to_vec(&state).unwrap()
}

fn start() -> Service {
    Service::start(Options {
        state: Some(fixture()),
        ..Options::default()
    })
}

thread_local! {
    /// One service per test thread, stopped when the test ends (a `static` would outlive the
    /// test binary and leave the process running).
    static SVC: Service = start();
}

fn with_svc<R>(f: impl FnOnce(&Service) -> R) -> R {
    SVC.with(f)
}

fn ok_json(target: &str) -> Value {
    let r = with_svc(|s| s.get_auth(target));
    assert_eq!(r.status, 200, "{target}: {}", r.text());
    assert_eq!(
        r.header("Content-Type"),
        Some("application/hal+json"),
        "{target}"
    );
    r.json()
}

#[test]
fn collection_and_timestamp() {
    assert_eq!(ok_json("/repositories"), json!({"timestamp": TS}));
}

#[test]
fn whole_tree_client_read_path() {
    let body = ok_json("/repositories?embed=true");
    assert_eq!(body["timestamp"], json!(TS));
    let items = body["_embedded"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 8);
    let mut total_disk = 0;
    for repo in items {
        let tags = repo["_embedded"]["related"]["_embedded"]["items"]
            .as_array()
            .unwrap();
        for t in tags {
            assert!(
                t["name"].is_string() && t["size"].is_u64() && t["disk_size"].is_u64(),
                "{t}"
            );
            total_disk += t["disk_size"].as_u64().unwrap();
        }
    }
    // every distinct blob charged exactly once
    assert_eq!(
        total_disk,
        290 + 9000 + 10 + 11 + 500 + 7 + 4 + 5 + 100 + 200 + 1000
    );
    let alpine = items.iter().find(|r| r["name"] == "base/alpine").unwrap();
    assert_eq!(
        (alpine["size"].as_u64(), alpine["disk_size"].as_u64()),
        (Some(18580), Some(9290))
    );
    let never = items.iter().find(|r| r["name"] == "never-read").unwrap();
    assert_eq!(never["size"], Value::Null);
    assert_eq!(
        never["_embedded"]["related"]["_embedded"]["items"],
        json!([])
    );
    let empty = items.iter().find(|r| r["name"] == "empty").unwrap();
    assert_eq!(
        (empty["size"].as_u64(), empty["disk_size"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        empty["_embedded"]["related"]["_embedded"]["items"],
        json!([])
    );
    let stale = items.iter().find(|r| r["name"] == "stale/one").unwrap();
    assert_eq!(stale["stale_since"], json!(1795000000.0));
    let multi = items.iter().find(|r| r["name"] == "multi").unwrap();
    let t = &multi["_embedded"]["related"]["_embedded"]["items"][0];
    assert_eq!(t["size"], 1300);
    assert_eq!(t["platforms"][1]["variant"], "v7");
    assert_eq!(t["media_type"], "application/vnd.oci.image.index.v1+json");
}

#[test]
fn embed_levels_count_from_the_requested_resource() {
    let one = ok_json("/repositories?embed=1");
    assert!(one["_embedded"]["items"][0].get("_embedded").is_none());
    let two = ok_json("/repositories?embed=2");
    let related = &two["_embedded"]["items"][0]["_embedded"]["related"];
    assert_eq!(related, &json!({}));
    let three = ok_json("/repositories?embed=3&links=false");
    assert!(
        three["_embedded"]["items"][0]["_embedded"]["related"]["_embedded"]["items"].is_array()
    );
    for word in ["true", "TRUE", "yes", "t", "Y"] {
        assert_eq!(
            ok_json(&format!("/repositories?embed={word}")),
            three,
            "{word}"
        );
    }
    for word in ["0", "false", "banana", ""] {
        assert_eq!(
            ok_json(&format!("/repositories?embed={word}")),
            json!({"timestamp": TS}),
            "{word}"
        );
    }
    let tags = ok_json("/repositories/base%2Falpine/tags?embed=1");
    assert_eq!(tags["_embedded"]["items"].as_array().unwrap().len(), 2);
    let repo = ok_json("/repositories/base%2Falpine?embed=1");
    assert_eq!(repo["_embedded"]["related"], json!({}));
}

#[test]
fn links_at_every_level() {
    let body = ok_json("/repositories?links=true&embed=true");
    assert_eq!(body["_links"]["self"], json!({"href": "/repositories"}));
    let items = body["_links"]["items"].as_array().unwrap();
    assert!(items.contains(&json!({"href": "/repositories/base%2Falpine", "title": "base/alpine"})));
    let repo = body["_embedded"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "base/alpine")
        .unwrap();
    assert_eq!(
        repo["_links"],
        json!({"self": {"href": "/repositories/base%2Falpine"}, "collection": {"href": "/repositories"},
               "related": {"href": "/repositories/base%2Falpine/tags", "title": "tags"}})
    );
    let tags = &repo["_embedded"]["related"];
    assert_eq!(
        tags["_links"]["up"],
        json!({"href": "/repositories/base%2Falpine"})
    );
    assert_eq!(
        tags["_links"]["items"],
        json!([{"href": "/repositories/base%2Falpine/tags/latest", "title": "latest"},
               {"href": "/repositories/base%2Falpine/tags/stable", "title": "stable"}])
    );
    assert_eq!(
        tags["_embedded"]["items"][1]["_links"],
        json!({"self": {"href": "/repositories/base%2Falpine/tags/stable"},
               "collection": {"href": "/repositories/base%2Falpine/tags"}})
    );
    // links without embedding still list items, as a list even when there is one
    let t = ok_json("/repositories/group%2Fsub%2Fapp%2Ftags/tags?links=1");
    assert_eq!(t["_links"]["items"].as_array().unwrap().len(), 1);
    assert!(t.get("_embedded").is_none());
}

#[test]
fn raw_slashes_encoded_names_and_the_tags_ambiguity() {
    let a = ok_json("/repositories/base/alpine/tags/latest");
    let b = ok_json("/repositories/base%2Falpine/tags/latest");
    let c = ok_json("/repositories/base%2falpine/tags/latest");
    assert_eq!(a, b);
    assert_eq!(b, c);
    assert_eq!(
        (
            a["name"].as_str(),
            a["size"].as_u64(),
            a["disk_size"].as_u64()
        ),
        (Some("latest"), Some(9290), Some(9290))
    );
    // repository "group/sub/app/tags" exists, so the longest prefix wins
    assert_eq!(
        ok_json("/repositories/group/sub/app/tags")["name"],
        "group/sub/app/tags"
    );
    assert_eq!(
        ok_json("/repositories/group%2Fsub%2Fapp/tags?embed=1")["_embedded"]["items"][1]["name"],
        "tags"
    );
    assert_eq!(
        ok_json("/repositories/group%2Fsub%2Fapp/tags/tags")["name"],
        "tags"
    );
    assert_eq!(
        ok_json("/repositories/group/sub/app/tags/tags/v_1-x")["name"],
        "v_1-x"
    );
    // spaces, %, unicode, percent-encoded as one segment
    let odd = "/repositories/odd%20name%2Fwith%25%2F%C3%BCn%C3%AF";
    assert_eq!(ok_json(odd)["name"], "odd name/with%/ünï");
    assert_eq!(ok_json(&format!("{odd}/tags/t"))["size"], 5);
    let listed = ok_json("/repositories?links=true");
    assert!(listed["_links"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["href"] == odd));
}

#[test]
fn not_found_names_the_canonical_path() {
    for (target, path) in [
        ("/repositories/nope%2Fnope", "/repositories/nope%2Fnope"),
        ("/repositories/nope/nope", "/repositories/nope%2Fnope"),
        (
            "/repositories/base%2Falpine/tags/nope",
            "/repositories/base%2Falpine/tags/nope",
        ),
        (
            "/repositories/base/alpine/tags/nope",
            "/repositories/base%2Falpine/tags/nope",
        ),
        (
            "/repositories/%E2%9C%93/tags",
            "/repositories/%E2%9C%93/tags",
        ),
    ] {
        let r = with_svc(|s| s.get_auth(target));
        assert_eq!(r.status, 404, "{target}");
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert_eq!(
            r.json(),
            json!({"message": format!("The resource \"{path}\" does not exist")}),
            "{target}"
        );
    }
    // robustness: broken escapes, invalid UTF-8, control characters: 404, never 500
    for target in [
        "/repositories/%zz",
        "/repositories/%ff%fe",
        "/repositories/a%00b",
        "/repositories/x/tags/%0A",
        "/repositories//",
    ] {
        assert_eq!(with_svc(|s| s.get_auth(target)).status, 404, "{target}");
    }
    assert_eq!(with_svc(|s| s.get("/elsewhere", &[])).status, 404);
}

#[test]
fn token_errors_over_http() {
    let s = &start();
    let r = s.get("/repositories", &[]);
    assert_eq!(
        (r.status, r.json()),
        (401, json!({"msg": "Missing Authorization Header"}))
    );
    assert!(r.header("Access-Control-Allow-Origin").is_some());
    let r = s.get("/repositories", &[("Authorization", "Basic YTpi")]);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json()["msg"],
        "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'"
    );
    let r = s.get("/repositories", &[("Authorization", "Bearer abc")]);
    assert_eq!(
        (r.status, r.json()),
        (422, json!({"msg": "Not enough segments"}))
    );
    let expired = gitlab_registry_usage_rest::auth::jwt::Tokens::new(
        service::SECRET.as_bytes(),
        Duration::from_secs(10),
    )
    .issue("alice", service::now() - 100)
    .unwrap();
    let r = s.get(
        "/repositories",
        &[("Authorization", &format!("Bearer {expired}"))],
    );
    assert_eq!(
        (r.status, r.json()),
        (401, json!({"msg": "Token has expired"}))
    );
    let other = gitlab_registry_usage_rest::auth::jwt::Tokens::new(
        b"another-secret-0123456789abcdef-xyz",
        Duration::from_secs(100),
    )
    .issue("alice", service::now())
    .unwrap();
    let r = s.get(
        "/repositories",
        &[("Authorization", &format!("Bearer {other}"))],
    );
    assert_eq!(r.status, 422);
    // alg none with the same claims
    let good = s.token("alice");
    let parts: Vec<&str> = good.split('.').collect();
    let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", parts[1]);
    assert_eq!(
        s.get(
            "/repositories",
            &[("Authorization", &format!("Bearer {none}"))]
        )
        .status,
        422
    );
    // tampered payload
    let tampered = format!("{}.{}x.{}", parts[0], parts[1], parts[2]);
    assert_eq!(
        s.get(
            "/repositories",
            &[("Authorization", &format!("Bearer {tampered}"))]
        )
        .status,
        422
    );
}

#[test]
fn login_with_the_directory_down_is_503_not_401_or_500() {
    let s = &start();
    let r = s.get("/auth_token", &[]);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("WWW-Authenticate"),
        Some("Basic realm=\"Authentication Required\"")
    );
    let r = s.get(
        "/auth_token",
        &[("Authorization", "Basic YWxpY2U6c2VjcmV0LXB3")],
    );
    assert!(r.status == 503, "{} {}", r.status, r.text());
    assert!(r.json()["msg"].is_string());
    assert!(
        !s.log_text().contains("secret-pw"),
        "password must never be logged"
    );
}

#[test]
fn html_for_browsers_json_for_everyone_else() {
    let s = &start();
    let b = s.bearer();
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let r = s.get(
        "/repositories",
        &[("Authorization", &b), ("Accept", browser)],
    );
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    let html = r.text();
    assert!(html.contains("odd name/with%/ünï") && html.contains("<table>"));
    for accept in [
        "*/*",
        "application/json",
        "undefined",
        "application/hal+json",
    ] {
        let r = s.get(
            "/repositories",
            &[("Authorization", &b), ("Accept", accept)],
        );
        assert_eq!(
            r.header("Content-Type"),
            Some("application/hal+json"),
            "{accept}"
        );
    }
}

#[test]
fn cors_preflight_and_methods() {
    let s = &start();
    let r = request(
        &s.addr,
        "OPTIONS",
        "/repositories?embed=true",
        &[
            ("Origin", "https://dashboard.example"),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "authorization"),
        ],
    );
    assert!((200..300).contains(&r.status));
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        Some("https://dashboard.example")
    );
    assert!(r
        .header("Access-Control-Allow-Headers")
        .unwrap()
        .to_lowercase()
        .contains("authorization"));
    assert!(r
        .header("Access-Control-Allow-Methods")
        .unwrap()
        .contains("GET"));
    let r = s.get(
        "/repositories/nope",
        &[
            ("Origin", "https://d.example"),
            ("Authorization", &s.bearer()),
        ],
    );
    assert_eq!(
        (
            r.status,
            r.header("Access-Control-Allow-Origin"),
            r.header("Vary")
        ),
        (404, Some("https://d.example"), Some("Origin"))
    );
    let r = request(
        &s.addr,
        "DELETE",
        "/repositories",
        &[("Authorization", &s.bearer())],
    );
    assert_eq!(r.status, 405);
    assert_eq!(
        r.json(),
        json!({"message": "The method is not allowed for the requested URL."})
    );
    assert!(r.header("Allow").unwrap().contains("GET"));
    let r = request(
        &s.addr,
        "HEAD",
        "/repositories",
        &[("Authorization", &s.bearer())],
    );
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
}

#[test]
fn prefix_applies_to_routes_links_and_404s() {
    let s = Service::start(Options {
        general: "server_prefix = /registry-usage/\n".into(),
        state: Some(fixture()),
        ..Options::default()
    });
    assert_eq!(s.get_auth("/repositories").status, 404);
    let r = s.get_auth("/registry-usage/repositories/base%2Falpine?links=true");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["_links"]["related"]["href"],
        "/registry-usage/repositories/base%2Falpine/tags"
    );
    let r = s.get_auth("/registry-usage/repositories/x");
    assert_eq!(
        r.json()["message"],
        "The resource \"/registry-usage/repositories/x\" does not exist"
    );
    assert_eq!(s.get("/registry-usage/auth_token", &[]).status, 401);
}

#[test]
fn no_data_yet_is_503_with_retry_after_and_a_corrupt_state_file_is_not_fatal() {
    let s = Service::start(Options {
        state: Some(b"{\"version\": 1, \"times".to_vec()),
        ..Options::default()
    });
    let r = s.get_auth("/repositories");
    assert_eq!(r.status, 503);
    assert!(r.header("Retry-After").is_some());
    assert!(r.json()["msg"].is_string());
    assert!(
        s.log_text().contains("ignoring the state file"),
        "{}",
        s.log_text()
    );
    // auth still answers
    assert_eq!(s.get("/auth_token", &[]).status, 401);
}

#[test]
fn sigterm_finishes_and_exits_zero() {
    let mut s = Service::start(Options {
        state: Some(fixture()),
        ..Options::default()
    });
    assert_eq!(s.get_auth("/repositories").status, 200);
    let st = s
        .terminate(Duration::from_secs(10))
        .expect("exits within 10 s");
    assert!(st.success(), "{st:?}\n{}", s.log_text());
}

#[test]
fn config_file_option_forms() {
    // --config-file=F and -cF, as deployed units of the original use them
    for form in ["--config-file=", "-c"] {
        let dir = support::TempDir::new("forms");
        let conf = dir.path().join("test.conf");
        std::fs::write(
            &conf,
            format!("[general]\nsocket_host = 127.0.0.1\nsocket_port = 0\n[jwt]\nsecret_key = {}\n[registry]\nregistry_base_url =\nstate_file =\n", service::SECRET),
        )
        .unwrap();
        let arg = format!("{form}{}", conf.display());
        let s = Service::start_with_args(dir, conf.clone(), &[&arg]);
        assert_eq!(s.get_auth("/repositories").status, 503, "{form}");
    }
}
