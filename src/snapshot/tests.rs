//! Unit tests of the snapshot's numbers: who is charged for a shared blob, multi-arch images, empty
//! and unreadable repositories, sums over a generated registry, the state file's round trip.

use super::fixtures::{build, repo, tag};
use super::*;

fn sizes(s: &Snapshot, r: &str, t: &str) -> (u64, u64) {
    let tag = s.repository(r).unwrap().tag(t).unwrap();
    (tag.size, tag.disk_size)
}

#[test]
fn two_tags_on_one_manifest_tie_goes_to_first_name() {
    let s = build(
        vec![repo(
            "base/alpine",
            Some(vec![tag("stable", &["c", "l"]), tag("latest", &["c", "l"])]),
        )],
        &[("c", 290), ("l", 9000)],
    );
    assert_eq!(sizes(&s, "base/alpine", "latest"), (9290, 9290));
    assert_eq!(sizes(&s, "base/alpine", "stable"), (9290, 0));
    let r = s.repository("base/alpine").unwrap();
    assert_eq!((r.size, r.disk_size), (Some(18580), Some(9290)));
}

#[test]
fn shared_base_layers_go_to_the_smallest_image() {
    let s = build(
        vec![
            repo(
                "app",
                Some(vec![
                    tag("v1", &["base", "app1", "cfg1"]),
                    tag("v2", &["base", "app2", "cfg2"]),
                ]),
            ),
            repo("base", Some(vec![tag("latest", &["base", "cfgb"])])),
        ],
        &[
            ("base", 100),
            ("app1", 10),
            ("app2", 20),
            ("cfg1", 1),
            ("cfg2", 2),
            ("cfgb", 3),
        ],
    );
    assert_eq!(sizes(&s, "base", "latest"), (103, 103));
    assert_eq!(sizes(&s, "app", "v1"), (111, 11));
    assert_eq!(sizes(&s, "app", "v2"), (122, 22));
    assert_eq!(s.unique_bytes(), 136);
}

#[test]
fn tie_on_blob_count_broken_by_repository_then_tag_name() {
    // Same count everywhere: "a" < "b" wins, whatever the input order.
    let repos = vec![
        repo("b", Some(vec![tag("x", &["s", "b1"])])),
        repo(
            "a",
            Some(vec![tag("z", &["s", "a1"]), tag("y", &["s", "a2"])]),
        ),
    ];
    let sz = [("s", 50), ("a1", 1), ("a2", 2), ("b1", 3)];
    let s1 = build(repos.clone(), &sz);
    let mut rev = repos;
    rev.reverse();
    let s2 = build(rev, &sz);
    assert_eq!(s1, s2);
    assert_eq!(sizes(&s1, "a", "y"), (52, 52));
    assert_eq!(sizes(&s1, "a", "z"), (51, 1));
    assert_eq!(sizes(&s1, "b", "x"), (53, 3));
}

#[test]
fn multi_arch_platforms_sharing_layers_count_each_blob_once() {
    let mut t = tag(
        "multi",
        &["cfg-amd", "cfg-arm", "shared", "amd", "arm", "shared"],
    );
    t.platforms = vec![
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
            size: 111,
        },
        Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: Some("v8".into()),
            size: 112,
        },
    ];
    let s = build(
        vec![repo("m", Some(vec![t]))],
        &[
            ("cfg-amd", 1),
            ("cfg-arm", 2),
            ("shared", 100),
            ("amd", 10),
            ("arm", 10),
        ],
    );
    assert_eq!(sizes(&s, "m", "multi"), (123, 123));
}

#[test]
fn empty_and_unreadable_repositories() {
    let s = build(
        vec![
            repo("empty", Some(vec![])),
            repo("broken", None),
            repo("ok", Some(vec![tag("t", &["x"])])),
        ],
        &[("x", 7)],
    );
    let e = s.repository("empty").unwrap();
    assert_eq!((e.size, e.disk_size), (Some(0), Some(0)));
    let b = s.repository("broken").unwrap();
    assert_eq!((b.size, b.disk_size), (None, None));
    assert!(b.tag("t").is_none());
    assert_eq!(s.tag_count(), 1);
}

#[test]
fn blob_shared_between_repositories_is_charged_once() {
    let s = build(
        vec![
            repo("r1", Some(vec![tag("t", &["x", "y"])])),
            repo("r2", Some(vec![tag("t", &["x", "y"])])),
        ],
        &[("x", 5), ("y", 6)],
    );
    assert_eq!(sizes(&s, "r1", "t"), (11, 11));
    assert_eq!(sizes(&s, "r2", "t"), (11, 0));
}

#[test]
fn missing_blob_size_is_an_error() {
    let e = Snapshot::build(SnapshotInput {
        timestamp: 0.0,
        repositories: vec![repo("r", Some(vec![tag("t", &["nope"])]))],
        blobs: HashMap::new(),
    })
    .unwrap_err();
    assert!(
        e.to_string().contains("r:t") && e.to_string().contains("nope"),
        "{e}"
    );
}

/// A deterministic pseudo-random registry of thousands of tags.
fn generated(repos: usize, tags: usize, seed: u64) -> SnapshotInput {
    let mut x = seed;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut blobs = HashMap::new();
    let mut repositories = Vec::new();
    for r in 0..repos {
        let mut ts = Vec::new();
        for t in 0..tags {
            let n = 1 + (next() % 8) as usize;
            let mut bl = Vec::new();
            for _ in 0..n {
                // a few hundred shared base blobs plus many private ones
                let d = if next() % 3 == 0 {
                    format!("sha256:base{}", next() % 300)
                } else {
                    format!("sha256:own{}", next() % 200_000)
                };
                blobs.entry(d.clone()).or_insert(next() % 50_000_000);
                bl.push(d);
            }
            ts.push(tag(
                &format!("t{t}"),
                &bl.iter().map(String::as_str).collect::<Vec<_>>(),
            ));
        }
        repositories.push(repo(&format!("group{}/repo{r}", r % 17), Some(ts)));
    }
    SnapshotInput {
        timestamp: 0.0,
        repositories,
        blobs,
    }
}

#[test]
fn disk_sizes_sum_to_unique_bytes_on_a_generated_registry() {
    let input = generated(300, 15, 0x9e37_79b9_7f4a_7c15);
    let s = Snapshot::build(input.clone()).unwrap();
    assert_eq!(s.tag_count(), 4500);
    let total: u64 = s.repositories.iter().filter_map(|r| r.disk_size).sum();
    assert_eq!(total, s.unique_bytes());
    // and the same numbers whatever the crawl order
    let mut shuffled = input;
    shuffled.repositories.reverse();
    for r in &mut shuffled.repositories {
        if let Some(t) = r.tags.as_mut() {
            t.reverse();
        }
    }
    assert_eq!(Snapshot::build(shuffled).unwrap(), s);
}

#[test]
fn state_json_round_trip_and_version_check() {
    let mut input = generated(20, 3, 7);
    input.repositories.push(repo("never-read", None));
    input.repositories[0].stale_since = Some(12.0);
    let s = Snapshot::build(input).unwrap();
    let bytes = s.to_state_json();
    assert_eq!(Snapshot::from_state_json(&bytes).unwrap(), s);
    // timestamps survive to the last bit (serde_json's float_roundtrip)
    for ts in [
        1795438748.159703,
        1763904000.1234567,
        1700000000.0000002,
        0.1 + 0.2,
    ] {
        let mut t = s.clone();
        t.timestamp = ts;
        assert_eq!(
            Snapshot::from_state_json(&t.to_state_json())
                .unwrap()
                .timestamp
                .to_bits(),
            ts.to_bits()
        );
    }
    let other = String::from_utf8(bytes)
        .unwrap()
        .replacen("\"version\":1", "\"version\":99", 1);
    assert!(matches!(
        Snapshot::from_state_json(other.as_bytes()),
        Err(StateError::Version(99))
    ));
    assert!(matches!(
        Snapshot::from_state_json(b"{garbage"),
        Err(StateError::Json(_))
    ));
}
