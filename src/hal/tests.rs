//! Unit tests of the HAL rendering: shapes from the contract's examples, embedding levels,
//! routing of names with slashes, namespaces, listing, and the HTML view.

use super::*;
use crate::snapshot::fixtures::repo;
use crate::snapshot::{SnapshotInput, TagInput};
use serde_json::{json, Value};

fn snap() -> Snapshot {
    let tag = |name: &str, blobs: &[&str]| TagInput {
        name: name.into(),
        digest: "sha256:m".into(),
        media_type: "application/vnd.docker.distribution.manifest.v2+json".into(),
        platforms: vec![],
        blobs: blobs.iter().map(|s| s.to_string()).collect(),
        created: None,
    };
    Snapshot::build(SnapshotInput {
        timestamp: 1795438748.159703,
        repositories: vec![
            repo(
                "base/alpine",
                Some(vec![tag("latest", &["c", "l"]), tag("stable", &["c", "l"])]),
            ),
            repo("a", Some(vec![tag("tags", &["d"])])),
            repo("a/tags", Some(vec![])),
            repo("never", None),
        ],
        blobs: [
            ("c".to_string(), 290),
            ("l".to_string(), 9000),
            ("d".to_string(), 1),
        ]
        .into_iter()
        .collect(),
    })
    .unwrap()
}

fn json_of(s: &Snapshot, path: &str, q: &str, prefix: &str) -> Value {
    let res = resolve(s, path, Paths { prefix }).unwrap();
    let listing = Listing::parse(q).unwrap();
    serde_json::from_slice(&render_json(s, res, Query::parse(q), &listing, prefix)).unwrap()
}

fn ns_json_of(s: &Snapshot, path: &str, q: &str, prefix: &str) -> Value {
    let res = resolve_namespace(s, path, Paths { prefix }).unwrap();
    let listing = Listing::parse(q).unwrap();
    serde_json::from_slice(&render_json(s, res, Query::parse(q), &listing, prefix)).unwrap()
}

#[test]
fn query_words() {
    assert_eq!(
        Query::parse(""),
        Query {
            embed: 0,
            links: false
        }
    );
    assert_eq!(
        Query::parse("embed=true&links=TRUE"),
        Query {
            embed: usize::MAX,
            links: true
        }
    );
    assert_eq!(
        Query::parse("embed=2&links=1"),
        Query {
            embed: 2,
            links: true
        }
    );
    assert_eq!(
        Query::parse("embed=1&links=no"),
        Query {
            embed: 1,
            links: false
        }
    );
    assert_eq!(Query::parse("embed=banana"), Query::default());
    assert_eq!(
        Query::parse("embed=Y&embed=0"),
        Query {
            embed: usize::MAX,
            links: false
        }
    );
    assert_eq!(
        Query::parse("embed=99999999999999999999999"),
        Query {
            embed: usize::MAX,
            links: false
        }
    );
    assert_eq!(
        Query::parse("links=%74rue"),
        Query {
            embed: 0,
            links: true
        }
    );
}

#[test]
fn shapes_match_the_contract_examples() {
    let s = snap();
    assert_eq!(
        json_of(&s, "", "", ""),
        json!({"timestamp": 1795438748.159703})
    );
    assert_eq!(
        json_of(&s, "/base%2Falpine", "", ""),
        json!({"name": "base/alpine", "size": 18580, "disk_size": 9290, "exclusive_size": 9290, "tags": 2, "project": null})
    );
    assert_eq!(json_of(&s, "/base%2Falpine/tags", "", ""), json!({}));
    assert_eq!(
        json_of(&s, "/base%2Falpine", "links=true&embed=1", ""),
        json!({"name": "base/alpine", "size": 18580, "disk_size": 9290, "exclusive_size": 9290, "tags": 2, "project": null,
            "_links": {"self": {"href": "/repositories/base%2Falpine"},
                       "collection": {"href": "/repositories"},
                       "related": {"href": "/repositories/base%2Falpine/tags", "title": "tags"}},
            "_embedded": {"related": {
                "_links": {"self": {"href": "/repositories/base%2Falpine/tags"},
                           "up": {"href": "/repositories/base%2Falpine"},
                           "items": [{"href": "/repositories/base%2Falpine/tags/latest", "title": "latest"},
                                     {"href": "/repositories/base%2Falpine/tags/stable", "title": "stable"}]}}}})
    );
    let t = json_of(&s, "/base/alpine/tags/latest", "links=true", "/pre");
    let (this, up) = (&t["_links"]["self"], &t["_links"]["collection"]);
    assert_eq!(
        (this["href"].as_str(), up["href"].as_str()),
        (
            Some("/pre/repositories/base%2Falpine/tags/latest"),
            Some("/pre/repositories/base%2Falpine/tags")
        )
    );
    assert_eq!(
        (t["size"].as_u64(), t["disk_size"].as_u64()),
        (Some(9290), Some(9290))
    );
    // alias tags: neither frees anything while the other exists
    assert_eq!(t["exclusive_size"], 0);
    let never = json_of(&s, "/never", "", "");
    assert_eq!(never["exclusive_size"], Value::Null);
}

#[test]
fn namespaces_shapes_links_and_embedding() {
    let s = snap();
    assert_eq!(
        ns_json_of(&s, "", "", ""),
        json!({"timestamp": 1795438748.159703})
    );
    assert_eq!(
        ns_json_of(&s, "", "embed=1&links=true", "/pre"),
        json!({"timestamp": 1795438748.159703,
            "_links": {"self": {"href": "/pre/namespaces"},
                       "items": [{"href": "/pre/namespaces/a", "title": "a"},
                                 {"href": "/pre/namespaces/base", "title": "base"}]},
            "_embedded": {"items": [
                {"name": "a", "size": 0, "disk_size": 0, "exclusive_size": 0, "repositories": 1, "tags": 0,
                 "_links": {"self": {"href": "/pre/namespaces/a"}, "collection": {"href": "/pre/namespaces"},
                            "items": [{"href": "/pre/repositories/a%2Ftags", "title": "a/tags"}]}},
                {"name": "base", "size": 18580, "disk_size": 9290, "exclusive_size": 9290, "repositories": 1, "tags": 2,
                 "_links": {"self": {"href": "/pre/namespaces/base"}, "collection": {"href": "/pre/namespaces"},
                            "items": [{"href": "/pre/repositories/base%2Falpine", "title": "base/alpine"}]}}]}})
    );
    let base = ns_json_of(&s, "/base", "embed=true", "");
    assert_eq!(base["repositories"], 1);
    let repo = &base["_embedded"]["items"][0];
    assert_eq!(repo["name"], "base/alpine");
    assert_eq!(
        repo["_embedded"]["related"]["_embedded"]["items"][0]["name"],
        "latest"
    );
    let p = Paths { prefix: "" };
    assert!(
        matches!(resolve_namespace(&s, "/base/", p), Ok(Resource::Namespace(n)) if n.name == "base")
    );
    assert_eq!(
        resolve_namespace(&s, "/base/alpine", p).unwrap_err(),
        "/namespaces/base%2Falpine"
    );
    assert_eq!(
        resolve_namespace(&s, "/%ff", p).unwrap_err(),
        "/namespaces/%25ff"
    );
    assert_eq!(resolve_namespace(&s, "x", p).unwrap_err(), "/namespacesx");
}

#[test]
fn listing_total_and_page_links() {
    let s = snap();
    // without listing parameters: exactly as before (no total, no _links)
    assert_eq!(json_of(&s, "", "embed=1", "")["total"], Value::Null);
    let b = json_of(&s, "", "embed=1&sort=disk_size&order=desc&limit=2", "/pre");
    assert_eq!(b["total"], 4);
    let names: Vec<&str> = b["_embedded"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["base/alpine", "a"]);
    assert_eq!(
        b["_links"],
        json!({"next": {"href": "/pre/repositories?embed=1&sort=disk_size&order=desc&limit=2&offset=2"}})
    );
    let b = json_of(&s, "", "links=1&limit=2&offset=2", "");
    assert_eq!(
        b["_links"],
        json!({"self": {"href": "/repositories"},
               "items": [{"href": "/repositories/base%2Falpine", "title": "base/alpine"},
                         {"href": "/repositories/never", "title": "never"}],
               "prev": {"href": "/repositories?links=1&limit=2&offset=0"}})
    );
    let b = json_of(&s, "", "q=TAG", "");
    assert_eq!(b, json!({"timestamp": 1795438748.159703, "total": 1}));
    let b = ns_json_of(&s, "", "q=a&embed=1", "");
    assert_eq!(b["total"], 2);
    assert_eq!(b["_embedded"]["items"][1]["name"], "base");
    // paging applies to collections only
    assert_eq!(
        json_of(&s, "/base%2Falpine", "limit=1", "").get("total"),
        None
    );
}

#[test]
fn embed_levels_and_client_read_path() {
    let s = snap();
    let all = json_of(&s, "", "embed=true", "");
    let items = all["_embedded"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    let alpine = items.iter().find(|r| r["name"] == "base/alpine").unwrap();
    assert_eq!(
        alpine["_embedded"]["related"]["_embedded"]["items"][1]["disk_size"],
        0
    );
    // a repository without tags, and one never read, still have _embedded.items
    for name in ["a/tags", "never"] {
        let r = items.iter().find(|r| r["name"] == name).unwrap();
        assert_eq!(
            r["_embedded"]["related"]["_embedded"]["items"],
            json!([]),
            "{name}"
        );
    }
    let never = items.iter().find(|r| r["name"] == "never").unwrap();
    assert_eq!(
        (never["size"].clone(), never["disk_size"].clone()),
        (Value::Null, Value::Null)
    );
    let two = json_of(&s, "", "embed=2", "");
    assert!(two["_embedded"]["items"][0]["_embedded"]["related"]
        .get("_embedded")
        .is_none());
    assert_eq!(
        two["_embedded"]["items"][0]["_embedded"]["related"],
        json!({})
    );
    let one = json_of(&s, "", "embed=1", "");
    assert!(one["_embedded"]["items"][0].get("_embedded").is_none());
    let tags = json_of(&s, "/never/tags", "embed=1", "");
    assert_eq!(tags, json!({"_embedded": {"items": []}}));
}

#[test]
fn routing_raw_slashes_and_tags_ambiguity() {
    let s = snap();
    let p = Paths { prefix: "" };
    assert!(matches!(resolve(&s, "/a/tags", p), Ok(Resource::Repository(r)) if r.name == "a/tags"));
    assert!(
        matches!(resolve(&s, "/a%2Ftags", p), Ok(Resource::Repository(r)) if r.name == "a/tags")
    );
    assert!(matches!(resolve(&s, "/a/tags/tags", p), Ok(Resource::Tags(r)) if r.name == "a/tags"));
    assert!(matches!(resolve(&s, "/a/tags/tags", p), Ok(Resource::Tags(r)) if r.name == "a/tags"));
    assert!(
        matches!(resolve(&s, "/a/tags/latest", p), Err(e) if e == "/repositories/a/tags/latest")
    );
    // "a/tags" leaves "x", which is no valid remainder; "a" leaves "tags/x", a missing tag
    assert_eq!(
        resolve(&s, "/a/tags/x", p).unwrap_err(),
        "/repositories/a/tags/x"
    );
    assert!(matches!(resolve(&s, "/a/tags/tags", p), Ok(Resource::Tags(r)) if r.name == "a/tags"));
    assert!(matches!(
        resolve(&s, "/a/tags/tags", p),
        Ok(Resource::Tags(_))
    ));
    assert!(matches!(
        resolve(&s, "/base/alpine/", p),
        Ok(Resource::Repository(_))
    ));
    assert_eq!(
        resolve(&s, "/nope/nope", p).unwrap_err(),
        "/repositories/nope%2Fnope"
    );
    assert_eq!(
        resolve(&s, "/nope%2Fnope/tags", p).unwrap_err(),
        "/repositories/nope%2Fnope/tags"
    );
    assert_eq!(
        resolve(&s, "/base%2Falpine/tags/nope", p).unwrap_err(),
        "/repositories/base%2Falpine/tags/nope"
    );
    assert_eq!(
        resolve(&s, "/base/alpine/blobs", p).unwrap_err(),
        "/repositories/base%2Falpine%2Fblobs"
    );
    assert!(resolve(&s, "/%ff%fe", p).is_err());
    assert!(resolve(&s, "/x%zz", p).is_err());
    assert!(resolve(&s, "/sp%20ace/%F0%9F%90%B3", p).is_err());
}

#[test]
fn html_escapes_everything() {
    let mut s = snap();
    s.repositories[0].name = "<script>alert('x')</script>".into();
    let html = render_html(&s, Resource::Collection, &Listing::default(), "", 0);
    assert!(!html.contains("<script>"));
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
}

#[test]
fn html_dates_the_crawl_and_shows_namespaces_and_pages() {
    let s = snap();
    let now = 1795438748 + 25 * 60;
    let html = render_html(&s, Resource::Collection, &Listing::default(), "", now);
    assert!(
        html.contains("Collected 2026-11-23 12:59:08 UTC (25 minutes ago)."),
        "{html}"
    );
    assert!(!html.contains("1795438748"));
    assert!(html.contains("<th>freeable</th>"));
    let listing = Listing::parse("limit=1&offset=1&q=a").unwrap();
    let html = render_html(&s, Resource::Collection, &listing, "/pre", now);
    assert!(html.contains("Showing 2–2 of 3."), "{html}");
    assert!(
        html.contains("<a href=\"/pre/repositories?limit=1&amp;q=a&amp;offset=2\">next page</a>"),
        "{html}"
    );
    assert!(html
        .contains("<a href=\"/pre/repositories?limit=1&amp;q=a&amp;offset=0\">previous page</a>"));
    let res = resolve_namespace(&s, "/base", Paths { prefix: "" }).unwrap();
    let html = render_html(&s, res, &Listing::default(), "", now);
    assert!(html.contains("Namespace base") && html.contains("/repositories/base%2Falpine"));
    let html = render_html(&s, Resource::Namespaces, &Listing::default(), "", now);
    assert!(html.contains("2 namespaces.") && html.contains("/namespaces/base"));
}

#[test]
fn repositories_carry_their_gitlab_project() {
    let s = snap().with_projects(vec![Project {
        id: 9,
        path: "base".into(),
        web_url: "https://gitlab.example/base".into(),
        policy: None,
        protected: vec![],
    }]);
    let want = json!({"id": 9, "path": "base", "web_url": "https://gitlab.example/base"});
    assert_eq!(json_of(&s, "/base%2Falpine", "", "")["project"], want);
    let all = json_of(&s, "", "embed=1", "");
    for item in all["_embedded"]["items"].as_array().unwrap() {
        let owned = item["name"].as_str().unwrap().starts_with("base/");
        assert_eq!(
            item["project"],
            if owned { want.clone() } else { Value::Null }
        );
    }
}

fn baseline() -> Baseline {
    let v = |size: u64, tags: u64| Values {
        size,
        disk_size: size,
        exclusive_size: size / 2,
        repositories: 1,
        tags,
    };
    Baseline {
        timestamp: 1795000000.0,
        totals: Values::default(),
        repositories: [("base/alpine", v(9000, 1)), ("gone/old", v(77, 3))]
            .into_iter()
            .map(|(n, v)| (n.into(), v))
            .collect(),
        namespaces: [("base", v(9000, 1)), ("gone", v(77, 3))]
            .into_iter()
            .map(|(n, v)| (n.into(), v))
            .collect(),
    }
}

fn since_json(s: &Snapshot, res: Resource<'_>, q: &str) -> Value {
    let listing = Listing::parse(q).unwrap();
    let b = baseline();
    let bytes = render_json_since(s, res, Query::parse(q), &listing, "", Some(&b));
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn since_adds_changes_new_and_gone() {
    let s = snap();
    let repo = s.repository("base/alpine").unwrap();
    let one = since_json(&s, Resource::Repository(repo), "");
    assert_eq!(one["since"], json!({"timestamp": 1795000000.0}));
    // now: size 2 × 9290, disk 9290, 2 tags
    assert_eq!(one["size_change"], json!(2 * 9290 - 9000));
    assert_eq!(one["disk_size_change"], json!(9290 - 9000));
    assert_eq!(one["tags_change"], json!(1));
    assert!(one.get("new").is_none());
    let a = since_json(&s, Resource::Repository(s.repository("a").unwrap()), "");
    assert_eq!(
        (a["new"].clone(), a["size_change"].clone()),
        (json!(true), json!(1))
    );
    let list = since_json(
        &s,
        Resource::Collection,
        "embed=1&sort=size_change&order=desc",
    );
    let names: Vec<&str> = list["_embedded"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["base/alpine", "a", "a/tags", "never"]);
    assert_eq!(
        list["gone"],
        json!([{"name": "gone/old", "size": 77, "disk_size": 77, "exclusive_size": 38, "tags": 3}])
    );
    assert_eq!(list["timestamp"], json!(1795438748.159703));
    let ns = since_json(&s, Resource::Namespaces, "embed=1&q=gone");
    assert_eq!(ns["gone"][0]["repositories"], json!(1));
    // a tags resource without members still gets a well-formed header
    let tags = since_json(&s, Resource::Tags(s.repository("a/tags").unwrap()), "");
    assert_eq!(tags, json!({"since": {"timestamp": 1795000000.0}}));
    let tag = since_json(&s, Resource::Tag(repo, repo.tag("latest").unwrap()), "");
    assert!(tag.get("new").is_none() && tag["since"].is_object());
}

#[test]
fn without_since_nothing_changes() {
    let s = snap();
    let res = Resource::Collection;
    let listing = Listing::parse("embed=true").unwrap();
    let q = Query::parse("embed=true");
    assert_eq!(
        render_json(&s, res, q, &listing, ""),
        render_json_since(&s, res, q, &listing, "", None)
    );
    let text = String::from_utf8(render_json(&s, res, q, &listing, "")).unwrap();
    assert!(!text.contains("_change") && !text.contains("since"));
}

#[test]
fn a_path_of_7900_segments_is_resolved_in_linear_time() {
    // The path: 7,900 one-byte segments (what a 16 KiB head allows). Joining every
    // prefix took 64 ms in a release build and 6.7 s in a debug build; one pass bounded by
    // the longest repository name takes about 8 ms in a debug build (decoding the segments).
    let s = snap();
    let p = Paths { prefix: "" };
    let path = "/a".repeat(7900);
    let started = std::time::Instant::now();
    for _ in 0..10 {
        assert!(resolve(&s, &path, p).is_err());
    }
    let each = started.elapsed() / 10;
    assert!(
        each < std::time::Duration::from_millis(100),
        "{each:?} per lookup"
    );
    // still the longest matching prefix
    assert!(matches!(resolve(&s, "/a/tags/tags", p), Ok(Resource::Tags(r)) if r.name == "a/tags"));
}
