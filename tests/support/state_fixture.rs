//! The state-file fixture of tests/namespaces.rs and tests/health_metrics.rs: a small registry
//! with nested groups, shared layers, an empty repository, one never read and a name that
//! needs escaping.
//!
//! Blob sizes: cfg 290, l1 9000 (shared by base/alpine and group/sub/*), cfg2 10, cfg3 11,
//! l2 500, cfgL 20, cfgT 30, t1 4000, q1 3. Unique bytes: 13864.
//!
//! | repository      | size  | disk_size | exclusive_size |
//! |-----------------|-------|-----------|----------------|
//! | base/alpine     | 18580 | 9290      | 290            |
//! | empty           | 0     | 0         | 0              |
//! | group/sub/app   | 19021 | 521       | 521            |
//! | group/sub/lib   | 9020  | 20        | 20             |
//! | group/tool      | 4030  | 4030      | 4030           |
//! | never-read      | null  | null      | null           |
//! | odd/quote"back\slash | 3 | 3        | 3              |

use serde_json::json;

/// The fixture's state file at `timestamp`, its tags with `media_type` when given and the
/// oddly named repository stale since `odd_stale_since` when given.
pub fn registry(timestamp: f64, media_type: Option<&str>, odd_stale_since: Option<f64>) -> Vec<u8> {
    let tag = |name: &str, blobs: &[&str]| {
        let mut t = json!({"name": name, "digest": format!("sha256:{name}"), "blobs": blobs});
        if let Some(m) = media_type {
            t["media_type"] = json!(m);
        }
        t
    };
    let mut odd = json!({"name": "odd/quote\"back\\slash", "tags": [tag("t", &["q1"])]});
    if let Some(since) = odd_stale_since {
        odd["stale_since"] = json!(since);
    }
    let state = json!({
        "version": 1,
        "timestamp": timestamp,
        "repositories": [
            {"name": "base/alpine", "tags": [tag("latest", &["cfg", "l1"]), tag("stable", &["cfg", "l1"])]},
            {"name": "group/sub/app", "tags": [tag("1.0", &["cfg2", "l1", "l2"]), tag("1.1", &["cfg3", "l1", "l2"])]},
            {"name": "group/sub/lib", "tags": [tag("latest", &["cfgL", "l1"])]},
            {"name": "group/tool", "tags": [tag("v1", &["cfgT", "t1"])]},
            {"name": "empty", "tags": []},
            {"name": "never-read", "tags": null},
            odd
        ],
        "blobs": {"cfg": 290, "l1": 9000, "cfg2": 10, "cfg3": 11, "l2": 500, "cfgL": 20,
                  "cfgT": 30, "t1": 4000, "q1": 3}
    });
    serde_json::to_vec(&state).unwrap()
}
