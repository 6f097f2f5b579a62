//! Unit tests of the dry run: the rule order and its edge cases, scopes, parameters and
//! freed bytes against a brute-force count.

use super::*;
use crate::snapshot::{RepositoryInput, SnapshotInput, TagInput};

const NOW: i64 = 1_800_000_000;
const DAY: i64 = 86_400;

/// A tag: name, created (days before NOW, or None), blobs.
fn t(name: &str, days_ago: Option<i64>, blobs: &[&str]) -> TagInput {
    TagInput {
        name: name.into(),
        digest: format!("sha256:m-{}", blobs.join("-")),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        platforms: vec![],
        blobs: blobs.iter().map(|s| s.to_string()).collect(),
        created: days_ago.map(|d| NOW - d * DAY),
    }
}

/// Repositories of tags; every blob `x` has size 1 << (index of x in `sizes`).
fn snap(repos: Vec<(&str, Vec<TagInput>)>) -> Snapshot {
    let mut blobs = HashMap::new();
    for (_, tags) in &repos {
        for tag in tags {
            for b in &tag.blobs {
                // sizes from the name: "a" = 1, "b" = 2, "c" = 4, ... so sums are readable
                let i = b.bytes().next().unwrap_or(b'a').saturating_sub(b'a');
                blobs.insert(b.clone(), 1u64 << i.min(40));
            }
        }
    }
    Snapshot::build(SnapshotInput {
        timestamp: 1.0,
        repositories: repos
            .into_iter()
            .map(|(n, tags)| RepositoryInput {
                name: n.into(),
                tags: Some(tags),
                stale_since: None,
            })
            .collect(),
        blobs,
    })
    .unwrap()
}

fn rule(q: &str) -> Rule {
    Rule::parse(q, Limits::default()).unwrap()
}

fn run<'a>(s: &'a Snapshot, q: &str) -> Report<'a> {
    dry_run(s, &rule(q), NOW).unwrap()
}

fn deleted(r: &RepoReport) -> Vec<String> {
    r.delete.iter().map(|t| t.name.clone()).collect()
}

fn kept(r: &RepoReport) -> Vec<(String, &'static str)> {
    r.keep
        .iter()
        .map(|(t, why)| (t.name.clone(), why.as_str()))
        .collect()
}

fn err(q: &str) -> CleanupError {
    Rule::parse(q, Limits::default()).unwrap_err()
}

#[test]
fn rules_apply_in_gitlabs_order_with_reasons() {
    let s = snap(vec![(
        "app",
        vec![
            t("latest", Some(0), &["a"]),
            t("stable-1", Some(100), &["b"]),
            t("v1", Some(50), &["c"]),
            t("v2", Some(40), &["d"]),
            t("v3", Some(30), &["e"]),
            t("v4", Some(2), &["f"]),
            t("v5", Some(0), &["g"]),
            t("other", Some(99), &["h"]),
        ],
    )]);
    let r = run(
        &s,
        "name_regex_delete=v.*|stable.*|latest&name_regex_keep=stable-.*&keep_n=1&older_than=7d",
    );
    let item = &r.items[0];
    assert_eq!(item.name, "app");
    assert_eq!(deleted(item), ["v1", "v2", "v3"]);
    assert_eq!(
        kept(item),
        [
            ("latest".to_string(), "latest"),
            ("stable-1".into(), "regex"),
            ("v4".into(), "age"),
            ("v5".into(), "keep_n"),
        ]
    );
    assert_eq!(item.not_matched, 1);
    assert_eq!(item.freed_bytes, 4 + 8 + 16);
    assert_eq!(
        (
            r.freed_bytes,
            r.tags_deleted,
            r.tags_kept,
            r.tags_not_matched
        ),
        (28, 3, 4, 1)
    );
    assert_eq!(r.repositories, 1);
}

#[test]
fn latest_is_never_deleted_and_takes_no_keep_n_slot() {
    let s = snap(vec![(
        "app",
        vec![
            t("latest", Some(0), &["a"]),
            t("v1", Some(5), &["b"]),
            t("v2", Some(6), &["c"]),
        ],
    )]);
    let r = run(&s, "name_regex_delete=.*&keep_n=1");
    assert_eq!(deleted(&r.items[0]), ["v2"]);
    assert_eq!(
        kept(&r.items[0]),
        [("latest".to_string(), "latest"), ("v1".into(), "keep_n")]
    );
    // Not matched by name_regex_delete: not a candidate, not listed.
    let r = run(&s, "name_regex_delete=v.*");
    assert_eq!(kept(&r.items[0]), []);
    assert_eq!(r.items[0].not_matched, 1);
}

#[test]
fn equal_created_times_are_ordered_by_name_whatever_the_input_order() {
    let tags = vec![
        t("b", Some(3), &["a"]),
        t("c", Some(3), &["b"]),
        t("a", Some(3), &["c"]),
        t("d", Some(9), &["d"]),
    ];
    let mut rev = tags.clone();
    rev.reverse();
    for tags in [tags, rev] {
        let s = snap(vec![("r", tags)]);
        let r = run(&s, "name_regex_delete=.*&keep_n=2");
        // among equal times the name that sorts last counts as newer
        assert_eq!(deleted(&r.items[0]), ["a", "d"]);
        assert_eq!(
            kept(&r.items[0]),
            [("b".to_string(), "keep_n"), ("c".into(), "keep_n")]
        );
    }
}

#[test]
fn keep_n_larger_than_the_matches_keeps_them_all() {
    let s = snap(vec![(
        "r",
        vec![t("v1", Some(400), &["a"]), t("v2", Some(300), &["b"])],
    )]);
    for q in [
        "name_regex_delete=.*&keep_n=10",
        "name_regex_delete=.*&keep_n=99999999999999999999999",
    ] {
        let r = run(&s, q);
        assert_eq!(deleted(&r.items[0]), Vec::<String>::new(), "{q}");
        assert_eq!(r.tags_kept, 2);
        assert_eq!(r.freed_bytes, 0);
    }
    // keep_n=0 keeps none, as in GitLab
    assert_eq!(run(&s, "name_regex_delete=.*&keep_n=0").tags_deleted, 2);
}

#[test]
fn name_regex_keep_overrides_name_regex_delete() {
    let s = snap(vec![(
        "r",
        vec![
            t("v1.0", Some(9), &["a"]),
            t("v1.1", Some(9), &["b"]),
            t("v2.0", Some(9), &["c"]),
        ],
    )]);
    let r = run(&s, "name_regex_delete=v.*&name_regex_keep=v1%5C..*");
    assert_eq!(deleted(&r.items[0]), ["v2.0"]);
    assert_eq!(
        kept(&r.items[0]),
        [("v1.0".to_string(), "regex"), ("v1.1".into(), "regex")]
    );
    // ".*" as the keep pattern makes the rule a no-op (GitLab documents this)
    let r = run(&s, "name_regex_delete=.*&name_regex_keep=.*");
    assert_eq!((r.tags_deleted, r.tags_kept), (0, 3));
}

#[test]
fn patterns_are_anchored_to_the_whole_name() {
    let s = snap(vec![(
        "r",
        vec![
            t("v1", Some(9), &["a"]),
            t("v10", Some(9), &["b"]),
            t("xv1", Some(9), &["c"]),
            t("dev", Some(9), &["d"]),
            t("devel", Some(9), &["e"]),
            t("mydev", Some(9), &["f"]),
        ],
    )]);
    assert_eq!(deleted(&run(&s, "name_regex_delete=v1").items[0]), ["v1"]);
    // the whole alternation is anchored: \A(?:v1|dev)\z
    assert_eq!(
        deleted(&run(&s, "name_regex_delete=v1|dev").items[0]),
        ["dev", "v1"]
    );
    // RE2's ASCII classes and case-insensitivity
    assert_eq!(
        deleted(&run(&s, r"name_regex_delete=(?i)V%5Cd+").items[0]),
        ["v1", "v10"]
    );
}

#[test]
fn alias_tags_free_nothing_while_one_is_kept() {
    let s = snap(vec![(
        "r",
        vec![
            t("1.0", Some(9), &["a", "b"]),
            t("stable", Some(9), &["a", "b"]),
            t("2.0", Some(9), &["b", "c"]),
        ],
    )]);
    let r = run(&s, "name_regex_delete=1%5C.0");
    assert_eq!(deleted(&r.items[0]), ["1.0"]);
    assert_eq!(r.freed_bytes, 0);
    let r = run(&s, "name_regex_delete=1%5C.0|stable");
    assert_eq!(r.freed_bytes, 1, "a; b is still used by 2.0");
    let r = run(&s, "name_regex_delete=.*");
    assert_eq!((r.freed_bytes, r.items[0].freed_bytes), (7, 7));
}

#[test]
fn multi_arch_tags_free_every_platforms_blobs_except_shared_ones() {
    // one tag over two platforms (configs p, q; layers r, s) sharing base "a" with a kept tag
    let mut multi = t("multi", Some(30), &["a", "p", "q", "r", "s"]);
    multi.platforms = vec![
        crate::snapshot::Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
            size: 0,
        },
        crate::snapshot::Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: Some("v8".into()),
            size: 0,
        },
    ];
    let s = snap(vec![("m", vec![multi, t("base", Some(1), &["a", "b"])])]);
    let r = run(&s, "name_regex_delete=.*&older_than=7d");
    assert_eq!(deleted(&r.items[0]), ["multi"]);
    let want: u64 = [b'p', b'q', b'r', b's']
        .iter()
        .map(|c| 1u64 << (c - b'a'))
        .sum();
    assert_eq!(r.freed_bytes, want);
}

#[test]
fn unknown_created_counts_as_newest() {
    let s = snap(vec![(
        "r",
        vec![
            t("dated-new", Some(1), &["a"]),
            t("dated-old", Some(100), &["b"]),
            t("unknown", None, &["c"]),
        ],
    )]);
    // keep_n keeps the unknown one first
    let r = run(&s, "name_regex_delete=.*&keep_n=1");
    assert_eq!(kept(&r.items[0]), [("unknown".to_string(), "keep_n")]);
    assert_eq!(deleted(&r.items[0]), ["dated-new", "dated-old"]);
    // older_than never deletes it
    let r = run(&s, "name_regex_delete=.*&older_than=1h");
    assert_eq!(kept(&r.items[0]), [("unknown".to_string(), "age")]);
    // without either, the name alone decides
    let r = run(&s, "name_regex_delete=.*");
    assert_eq!(r.tags_deleted, 3);
    // a created time in the future sorts above "unknown" (which counts as now)
    let mut future = t("future", Some(0), &["d"]);
    future.created = Some(NOW + DAY);
    let s = snap(vec![("r", vec![t("unknown", None, &["c"]), future])]);
    let r = run(&s, "name_regex_delete=.*&keep_n=1");
    assert_eq!(kept(&r.items[0]), [("future".to_string(), "keep_n")]);
}

#[test]
fn older_than_deletes_only_strictly_older_tags() {
    let mut at = t("at-cutoff", None, &["a"]);
    at.created = Some(NOW - 3600);
    let mut before = t("before", None, &["b"]);
    before.created = Some(NOW - 3601);
    let s = snap(vec![("r", vec![at, before])]);
    let r = run(&s, "name_regex_delete=.*&older_than=1h");
    assert_eq!(deleted(&r.items[0]), ["before"]);
    assert_eq!(kept(&r.items[0]), [("at-cutoff".to_string(), "age")]);
}

#[test]
fn bad_parameters_name_the_parameter_and_the_reason() {
    let e = err("name_regex_delete=v(1");
    assert!(
        matches!(&e, CleanupError::Param { name: "name_regex_delete", reason } if reason.contains("unclosed group") && reason.contains("\"v(1\"")),
        "{e}"
    );
    assert!(e.to_string().starts_with("name_regex_delete: "), "{e}");
    let e = err("name_regex_delete=.*&name_regex_keep=[z-a]");
    assert!(
        matches!(
            &e,
            CleanupError::Param {
                name: "name_regex_keep",
                ..
            }
        ),
        "{e}"
    );
    // RE2 has no look-around or back-references, and neither do we
    for bad in ["(?=x)", r"(a)%5C1"] {
        assert!(
            matches!(
                err(&format!("name_regex_delete={bad}")),
                CleanupError::Param {
                    name: "name_regex_delete",
                    ..
                }
            ),
            "{bad}"
        );
    }
    for q in ["", "name_regex_delete=", "keep_n=1"] {
        let e = err(q);
        assert!(e.to_string().contains("required"), "{q}: {e}");
    }
    for q in ["keep_n=-1", "keep_n=two", "keep_n=1.5"] {
        let e = err(&format!("name_regex_delete=.*&{q}"));
        assert!(
            matches!(e, CleanupError::Param { name: "keep_n", .. }),
            "{q}"
        );
    }
    let e = err("name_regex_delete=.*&older_than=7%20dyas");
    assert!(
        matches!(&e, CleanupError::Param { name: "older_than", reason } if reason.contains("dyas")),
        "{e}"
    );
    let e = err("name_regex_delete=.*&repository=a&namespace=b");
    assert!(matches!(
        e,
        CleanupError::Param {
            name: "namespace",
            ..
        }
    ));
    let e = err("name_regex_delete=%ff");
    assert!(matches!(
        e,
        CleanupError::Param {
            name: "name_regex_delete",
            ..
        }
    ));
}

#[test]
fn compiled_size_is_limited() {
    let small = Limits {
        regex_size_limit: 1000,
    };
    let e = Rule::parse("name_regex_delete=%5Cw{500}", small).unwrap_err();
    assert!(
        matches!(&e, CleanupError::Param { name: "name_regex_delete", reason } if reason.contains("cleanup_regex_size_limit")),
        "{e}"
    );
    assert!(Rule::parse("name_regex_delete=v%5Cd+", small).is_ok());
    // the default takes ordinary patterns and refuses explosive ones
    assert!(Rule::parse("name_regex_delete=[0-9a-f]{40}", Limits::default()).is_ok());
    assert!(Rule::parse("name_regex_delete=(%5Cw{100}){1000}", Limits::default()).is_err());
}

#[test]
fn scopes() {
    let s = snap(vec![
        ("a", vec![t("x", Some(9), &["a"])]),
        ("a/b", vec![t("x", Some(9), &["b"])]),
        ("a/b/c", vec![t("x", Some(9), &["c"])]),
        ("ab/c", vec![t("x", Some(9), &["d"])]),
    ]);
    let names = |r: &Report| {
        r.items
            .iter()
            .map(|i| i.name.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&run(&s, "name_regex_delete=x")).len(), 4);
    for q in ["namespace=a", "namespace=a/", "namespace=%2Fa%2F"] {
        let r = run(&s, &format!("name_regex_delete=x&{q}"));
        assert_eq!(names(&r), ["a/b", "a/b/c"], "{q}");
        assert_eq!(r.repositories, 2);
    }
    let r = run(&s, "name_regex_delete=x&repository=a%2Fb");
    assert_eq!(names(&r), ["a/b"]);
    assert_eq!(r.freed_bytes, 2);
    let e = dry_run(&s, &rule("name_regex_delete=x&repository=nope"), NOW).unwrap_err();
    assert_eq!(e, CleanupError::UnknownRepository("nope".into()));
    let e = dry_run(&s, &rule("name_regex_delete=x&namespace=a/b/c"), NOW).unwrap_err();
    assert_eq!(e, CleanupError::UnknownNamespace("a/b/c".into()));
}

#[test]
fn freed_bytes_across_repositories_and_scopes() {
    // "s" is shared by deleted tags in two repositories; "k" also by a kept tag elsewhere
    let s = snap(vec![
        ("g/one", vec![t("old", Some(90), &["a", "s", "k"])]),
        ("g/two", vec![t("old", Some(90), &["b", "s"])]),
        ("h/keep", vec![t("new", Some(1), &["k"])]),
    ]);
    let sz = |c: char| 1u64 << (c as u8 - b'a');
    let r = run(&s, "name_regex_delete=.*&older_than=30d");
    assert_eq!(r.tags_deleted, 2);
    assert_eq!(r.freed_bytes, sz('a') + sz('b') + sz('s'));
    // per repository: only what that repository alone frees
    let per: Vec<u64> = r.items.iter().map(|i| i.freed_bytes).collect();
    assert_eq!(per, [sz('a'), sz('b'), 0]);
    // scoped to g/two alone: "s" stays, as g/one keeps it
    let r = run(&s, "name_regex_delete=.*&older_than=30d&repository=g/two");
    assert_eq!(r.freed_bytes, sz('b'));
    let r = run(&s, "name_regex_delete=.*&older_than=30d&namespace=g");
    assert_eq!(r.freed_bytes, sz('a') + sz('b') + sz('s'));
}

#[test]
fn repositories_never_read_are_skipped() {
    let mut s = snap(vec![("r", vec![t("x", Some(9), &["a"])])]);
    s.repositories.push(crate::snapshot::Repository {
        name: "unread".into(),
        tags: None,
        stale_since: None,
        size: None,
        disk_size: None,
        exclusive_size: None,
    });
    let r = run(&s, "name_regex_delete=.*");
    assert_eq!((r.repositories, r.items.len()), (1, 1));
    let r = run(&s, "name_regex_delete=.*&repository=unread");
    assert_eq!((r.repositories, r.items.len(), r.freed_bytes), (0, 0, 0));
}

#[test]
fn query_parsing_details() {
    let r = rule("links=true&name_regex_delete=v%5Cd+&name_regex_delete=ignored&keep_n=&older_than=&name_regex_keep=");
    assert_eq!(
        r.name_regex_delete, r"v\d+",
        "a + stays a +; the first occurrence wins"
    );
    assert_eq!(
        (
            r.keep_n,
            r.older_than.is_none(),
            r.name_regex_keep.is_none()
        ),
        (None, true, true)
    );
    assert_eq!(r.scope, Scope::All);
    let r = rule("name_regex_delete=a%20b+&keep_n=5&older_than=1d%2012h&namespace=g%2Fsub");
    assert_eq!(r.name_regex_delete, "a b+");
    assert_eq!(r.older_than, Some(("1d 12h".to_string(), 129_600.0)));
    assert_eq!(
        r.query_string(),
        "name_regex_delete=a%20b%2B&keep_n=5&older_than=1d%2012h&namespace=g%2Fsub"
    );
    // the query string reads back as the same rule
    let again = rule(&r.query_string());
    assert_eq!(again.query_string(), r.query_string());
}

/// The dry run against a brute-force count on a generated registry.
#[test]
fn freed_bytes_match_a_brute_force_count() {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut repos = Vec::new();
    for r in 0..30 {
        let mut tags = Vec::new();
        for i in 0..12 {
            let blobs: Vec<String> = (0..1 + next(5))
                .map(|_| match next(3) {
                    0 => format!("shared{}", next(20)),
                    1 => format!("repo{r}-{}", next(6)),
                    _ => format!("own{r}-{i}-{}", next(3)),
                })
                .collect();
            let refs: Vec<&str> = blobs.iter().map(String::as_str).collect();
            let created = (next(5) > 0).then(|| next(60) as i64);
            let name = if next(4) == 0 {
                format!("rel-{i}")
            } else {
                format!("v{i}")
            };
            tags.push(t(&name, created, &refs));
        }
        repos.push((format!("ns{}/r{r}", r % 4), tags));
    }
    let s = snap(repos.iter().map(|(n, t)| (n.as_str(), t.clone())).collect());
    for q in [
        "name_regex_delete=.*",
        "name_regex_delete=v.*&keep_n=3",
        "name_regex_delete=.*&name_regex_keep=rel-.*&older_than=20d",
        "name_regex_delete=v%5Cd&keep_n=1&older_than=10d&namespace=ns1",
        "name_regex_delete=.*&keep_n=2&repository=ns2%2Fr6",
    ] {
        let r = run(&s, q);
        let gone: std::collections::HashSet<(&str, &str)> = r
            .items
            .iter()
            .flat_map(|i| i.delete.iter().map(move |t| (i.name, t.name.as_str())))
            .collect();
        // a blob is freed when every tag referring to it is deleted
        let mut users: HashMap<u32, Vec<(&str, bool)>> = HashMap::new();
        for repo in &s.repositories {
            for tag in repo.tags.iter().flatten() {
                let del = gone.contains(&(repo.name.as_str(), tag.name.as_str()));
                for &b in &tag.blobs {
                    users.entry(b).or_default().push((&repo.name, del));
                }
            }
        }
        let size = |b: &u32| s.blobs[*b as usize].size;
        let total: u64 = users
            .iter()
            .filter(|(_, u)| u.iter().all(|(_, d)| *d))
            .map(|(b, _)| size(b))
            .sum();
        assert_eq!(r.freed_bytes, total, "{q}");
        for item in &r.items {
            let own: u64 = users
                .iter()
                .filter(|(_, u)| u.iter().all(|(n, d)| *d && *n == item.name))
                .map(|(b, _)| size(b))
                .sum();
            assert_eq!(item.freed_bytes, own, "{q} {}", item.name);
        }
        assert!(r.items.iter().map(|i| i.freed_bytes).sum::<u64>() <= r.freed_bytes);
        assert!(r.tags_deleted > 0, "{q}");
    }
}
