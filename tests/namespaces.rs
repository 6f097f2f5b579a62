//! Namespaces, freeable bytes (`exclusive_size`), and sorting, filtering and paging of the
//! collections, over HTTP against the real binary serving a state-file fixture whose numbers
//! are worked out by hand below.

mod support;

use std::rc::Rc;

use serde_json::{json, Value};
use support::service::{Options, Service};
use support::state_fixture;

const TS: f64 = 1795438748.159703;

/// The registry of [`support::state_fixture`] (its numbers are worked out there), with
/// media types.
fn fixture(timestamp: f64) -> Vec<u8> {
    state_fixture::registry(
        timestamp,
        Some("application/vnd.oci.image.manifest.v1+json"),
        None,
    )
}

thread_local! {
    /// One service per test thread, stopped when the test ends (a `static` would outlive the
    /// test binary and leave the process running).
    static SVC: Rc<Service> = Rc::new(Service::start(Options {
        general: "server_prefix = /ru\n".into(),
        state: Some(fixture(TS)),
        ..Options::default()
    }));
}

fn svc() -> Rc<Service> {
    SVC.with(Rc::clone)
}

fn ok_json(target: &str) -> Value {
    let r = svc().get_auth(&format!("/ru{target}"));
    assert_eq!(r.status, 200, "{target}: {}", r.text());
    assert_eq!(r.header("Content-Type"), Some("application/hal+json"));
    r.json()
}

fn names(body: &Value) -> Vec<String> {
    body["_embedded"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn namespaces_collection_with_sums_and_freeable_bytes() {
    assert_eq!(ok_json("/namespaces"), json!({"timestamp": TS}));
    let body = ok_json("/namespaces?embed=1");
    assert_eq!(
        body["_embedded"]["items"],
        json!([
            {"name": "base", "size": 18580, "disk_size": 9290, "exclusive_size": 290, "repositories": 1, "tags": 2},
            {"name": "group", "size": 32071, "disk_size": 4571, "exclusive_size": 4571, "repositories": 3, "tags": 4},
            {"name": "group/sub", "size": 28041, "disk_size": 541, "exclusive_size": 541, "repositories": 2, "tags": 3},
            {"name": "odd", "size": 3, "disk_size": 3, "exclusive_size": 3, "repositories": 1, "tags": 1}
        ])
    );
    let links = ok_json("/namespaces?links=true");
    assert_eq!(links["_links"]["self"], json!({"href": "/ru/namespaces"}));
    assert_eq!(
        links["_links"]["items"][2],
        json!({"href": "/ru/namespaces/group%2Fsub", "title": "group/sub"})
    );
}

#[test]
fn one_namespace_embeds_its_repositories_at_any_depth() {
    let encoded = ok_json("/namespaces/group?embed=1&links=1");
    assert_eq!(encoded["repositories"], 3);
    assert_eq!(
        names(&encoded),
        ["group/sub/app", "group/sub/lib", "group/tool"]
    );
    assert_eq!(
        encoded["_links"]["collection"],
        json!({"href": "/ru/namespaces"})
    );
    assert_eq!(
        encoded["_links"]["items"][0],
        json!({"href": "/ru/repositories/group%2Fsub%2Fapp", "title": "group/sub/app"})
    );
    // raw slashes and the encoded form name the same namespace
    let raw = ok_json("/namespaces/group/sub?embed=true");
    let enc = ok_json("/namespaces/group%2Fsub?embed=true");
    assert_eq!(raw, enc);
    let app = &raw["_embedded"]["items"][0];
    assert_eq!(
        (app["name"].as_str(), app["exclusive_size"].as_u64()),
        (Some("group/sub/app"), Some(521))
    );
    let tags = &app["_embedded"]["related"]["_embedded"]["items"];
    assert_eq!(tags[0]["exclusive_size"], 10);
    assert_eq!(tags[1]["exclusive_size"], 11);
    let r = svc().get_auth("/ru/namespaces/group/nope");
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        json!({"message": "The resource \"/ru/namespaces/group%2Fnope\" does not exist"})
    );
    assert_eq!(svc().get("/ru/namespaces", &[]).status, 401);
}

#[test]
fn exclusive_size_on_repositories_and_tags() {
    let all = ok_json("/repositories?embed=true");
    let excl: Vec<(String, Value)> = all["_embedded"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().into(),
                r["exclusive_size"].clone(),
            )
        })
        .collect();
    assert_eq!(
        excl,
        [
            ("base/alpine".to_string(), json!(290)),
            ("empty".into(), json!(0)),
            ("group/sub/app".into(), json!(521)),
            ("group/sub/lib".into(), json!(20)),
            ("group/tool".into(), json!(4030)),
            ("never-read".into(), Value::Null),
            ("odd/quote\"back\\slash".into(), json!(3)),
        ]
    );
    // alias tags sharing a digest: 0 each while both exist
    let alpine = ok_json("/repositories/base%2Falpine/tags?embed=1");
    for t in alpine["_embedded"]["items"].as_array().unwrap() {
        assert_eq!(t["exclusive_size"], 0, "{t}");
    }
    // without listing parameters nothing else changed: no total, no paging links
    let plain = ok_json("/repositories?embed=1");
    assert!(plain.get("total").is_none() && plain.get("_links").is_none());
}

#[test]
fn sorting_filtering_and_paging() {
    let by_disk = ok_json("/repositories?embed=1&sort=disk_size&order=desc");
    assert_eq!(by_disk["total"], 7);
    assert_eq!(
        names(&by_disk),
        [
            "base/alpine",
            "group/tool",
            "group/sub/app",
            "group/sub/lib",
            "odd/quote\"back\\slash",
            "empty",
            "never-read"
        ]
    );
    let q = ok_json("/repositories?embed=1&q=GROUP%2FSUB&sort=exclusive_size");
    assert_eq!(q["total"], 2);
    assert_eq!(names(&q), ["group/sub/lib", "group/sub/app"]);
    // pages of 3: next and prev keep the other parameters
    let p1 = ok_json("/repositories?embed=1&limit=3");
    assert_eq!((p1["total"].as_u64(), names(&p1).len()), (Some(7), 3));
    assert_eq!(
        p1["_links"],
        json!({"next": {"href": "/ru/repositories?embed=1&limit=3&offset=3"}})
    );
    let p2 = ok_json("/repositories?embed=1&limit=3&offset=3&links=true");
    assert_eq!(names(&p2), ["group/sub/lib", "group/tool", "never-read"]);
    assert_eq!(
        p2["_links"]["next"]["href"],
        "/ru/repositories?embed=1&limit=3&links=true&offset=6"
    );
    assert_eq!(
        p2["_links"]["prev"]["href"],
        "/ru/repositories?embed=1&limit=3&links=true&offset=0"
    );
    assert_eq!(p2["_links"]["items"].as_array().unwrap().len(), 3);
    let last = ok_json("/repositories?limit=3&offset=6&embed=1");
    assert_eq!(names(&last), ["odd/quote\"back\\slash"]);
    assert!(last["_links"].get("next").is_none());
    // following the links walks every item exactly once
    let mut seen = Vec::new();
    let mut next = Some("/ru/repositories?embed=1&sort=size&order=desc&limit=2".to_string());
    while let Some(target) = next {
        let r = svc().get_auth(&target);
        let body = r.json();
        seen.extend(names(&body));
        next = body["_links"]["next"]["href"].as_str().map(String::from);
    }
    assert_eq!(seen.len(), 7);
    assert_eq!(seen[0], "group/sub/app");
    // namespaces sort and page the same way
    let ns = ok_json("/namespaces?embed=1&sort=disk_size&order=desc&limit=1&offset=1");
    assert_eq!(
        (ns["total"].as_u64(), names(&ns)),
        (Some(4), vec!["group".to_string()])
    );
}

#[test]
fn invalid_listing_parameters_are_400_naming_the_parameter() {
    for (query, message) in [
        (
            "sort=foo",
            "sort: one of name, size, disk_size, exclusive_size, size_change, disk_size_change, exclusive_size_change, tags_change (the _change keys with since)",
        ),
        ("order=up", "order: asc or desc"),
        ("limit=abc", "limit: an integer from 1 to 10000"),
        ("limit=0", "limit: an integer from 1 to 10000"),
        ("offset=-2", "offset: an integer of 0 or more"),
    ] {
        for base in ["/ru/repositories", "/ru/namespaces"] {
            let r = svc().get_auth(&format!("{base}?{query}"));
            assert_eq!(r.status, 400, "{base}?{query}");
            assert_eq!(r.header("Content-Type"), Some("application/json"));
            assert_eq!(r.json(), json!({ "message": message }));
        }
    }
    // on a single resource the listing parameters mean nothing and are ignored
    assert_eq!(
        svc().get_auth("/ru/repositories/empty?sort=foo").status,
        200
    );
}

#[test]
fn html_view_dates_the_crawl_and_lists_namespaces() {
    let s = svc();
    let b = s.bearer();
    let r = s.get(
        "/ru/repositories?sort=size&limit=2",
        &[("Authorization", &b), ("Accept", "text/html")],
    );
    assert_eq!(r.status, 200);
    let html = r.text();
    assert!(
        html.contains("Collected 2026-11-23 12:59:08 UTC ("),
        "{html}"
    );
    assert!(html.contains(" ago).") || html.contains("(just now)."));
    assert!(!html.contains("1795438748"), "no raw Unix time");
    assert!(html.contains("Showing 1–2 of 7.") && html.contains("next page"));
    assert!(html.contains("odd/quote&quot;back\\slash") || html.contains("empty"));
    let r = s.get(
        "/ru/namespaces/group",
        &[("Authorization", &b), ("Accept", "text/html")],
    );
    let html = r.text();
    assert!(html.contains("<h1>Namespace group</h1>") && html.contains("group/tool"));
}
