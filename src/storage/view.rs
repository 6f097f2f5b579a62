//! The HAL JSON body of `GET /storage`, written from one finished scan.
//!
//! Pure: no I/O, no clock (the scan carries its own times).

use serde_json::{json, Value};

use super::Finished;
use crate::snapshot::time::format_rfc3339;

/// The body of `/storage` for `f`, with links below `prefix`.
pub fn render_json(f: &Finished, prefix: &str) -> Vec<u8> {
    let r = &f.scan.report;
    let items: Vec<Value> = r
        .repositories
        .iter()
        .map(|g| {
            json!({
                "name": g.name,
                "untagged_manifests": g.untagged_manifests,
                "untagged_bytes": g.untagged_bytes,
                "uploads": g.uploads,
            })
        })
        .collect();
    let warnings: Vec<String> = f.scan.warnings.iter().map(ToString::to_string).collect();
    let body = json!({
        "timestamp": f.finished.floor() as i64,
        "driver": f.driver,
        "blobs": r.blobs,
        "gc": r.gc,
        "gc_untagged": r.gc_untagged,
        "breaks": r.breaks,
        "uploads": {
            "count": r.uploads.count,
            "bytes": r.uploads.bytes,
            "oldest": r.uploads.oldest.map(format_rfc3339),
        },
        "duration": ((f.finished - f.started) * 1000.0).round() / 1000.0,
        "warnings": {"count": f.scan.warning_count, "first": warnings},
        "_links": {"self": {"href": format!("{prefix}/storage")}},
        "_embedded": {"items": items},
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::super::mark::{Break, DeletedUntagged, RepoGarbage, Uploads};
    use super::super::{Scan, Warning};
    use super::*;

    #[test]
    fn the_shape_of_the_issue() {
        let mut scan = Scan::default();
        let r = &mut scan.report;
        r.blobs.count = 335;
        r.blobs.bytes = 1_720_235;
        r.gc.blobs = 10;
        r.gc.bytes = 50_268;
        r.gc_untagged = DeletedUntagged {
            manifests: 4,
            blobs: 21,
            bytes: 152_464,
        };
        r.breaks = vec![Break {
            repository: "multiarch/docker-list".into(),
            tags: vec!["latest".into()],
            manifests: 1,
        }];
        r.uploads = Uploads {
            count: 1,
            bytes: 4096,
            oldest: Some(1_800_000_000),
        };
        r.repositories = vec![RepoGarbage {
            name: "garbage/app".into(),
            untagged_manifests: 1,
            untagged_bytes: 99,
            uploads: 1,
            upload_bytes: 4096,
        }];
        scan.warning_count = 1;
        scan.warnings = vec![Warning {
            path: "blobs/x".into(),
            problem: "bad".into(),
            fix: "fix it".into(),
        }];
        let f = Finished {
            driver: "filesystem",
            started: 100.0,
            finished: 101.5,
            scan,
        };
        let v: Value = serde_json::from_slice(&render_json(&f, "/p")).unwrap();
        assert_eq!(v["timestamp"], 101);
        assert_eq!(v["driver"], "filesystem");
        assert_eq!(v["blobs"], json!({"count": 335, "bytes": 1_720_235}));
        assert_eq!(v["gc"], json!({"blobs": 10, "bytes": 50_268}));
        assert_eq!(
            v["gc_untagged"],
            json!({"manifests": 4, "blobs": 21, "bytes": 152_464})
        );
        assert_eq!(
            v["breaks"],
            json!([{"repository": "multiarch/docker-list", "tags": ["latest"], "manifests": 1}])
        );
        assert_eq!(
            v["uploads"],
            json!({"count": 1, "bytes": 4096, "oldest": "2027-01-15T08:00:00Z"})
        );
        assert_eq!(
            v["_embedded"]["items"],
            json!([{"name": "garbage/app", "untagged_manifests": 1, "untagged_bytes": 99, "uploads": 1}])
        );
        assert_eq!(v["_links"]["self"]["href"], "/p/storage");
        assert_eq!(v["warnings"]["first"][0], "blobs/x: bad; fix it");
        assert_eq!(v["duration"], 1.5);
    }
}
