//! The demo's GitLab REST API, enough for `[registry] projects`: `GET /api/v4/projects` (one
//! project per group path of the demo's repositories, with a mix of clean-up policies: on,
//! off, none) and `GET /api/v4/projects/:id/registry/protection/tag/rules`, both behind
//! `PRIVATE-TOKEN`. Plain functions from the repository names to JSON; `server.rs` serves
//! them. Demo mode only.

use serde_json::{json, Value};

/// The demo's projects: each repository name without its last segment, once, in name
/// order, numbered from 1.
fn project_paths<'a>(repositories: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut paths: Vec<String> = repositories
        .filter_map(|r| r.rsplit_once('/').map(|(p, _)| p.to_string()))
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

/// A policy for the n-th project: enabled, disabled or none, in turn.
fn policy(n: usize) -> Value {
    match n % 3 {
        0 => json!({"cadence": "1d", "enabled": true, "keep_n": 5, "older_than": "30d",
                    "name_regex": ".*", "name_regex_keep": "main|stable",
                    "next_run_at": null}),
        1 => json!({"cadence": "7d", "enabled": false, "keep_n": 10, "older_than": "90d",
                    "name_regex": ".*", "name_regex_keep": null, "next_run_at": null}),
        _ => Value::Null,
    }
}

/// The whole project list (one page: the demo has a few dozen), as GitLab lists projects.
pub(super) fn projects<'a>(origin: &str, repositories: impl Iterator<Item = &'a str>) -> Value {
    let list: Vec<Value> = project_paths(repositories)
        .iter()
        .enumerate()
        .map(|(i, path)| {
            json!({
                "id": i + 1,
                "name": path.rsplit('/').next().unwrap_or(path),
                "path_with_namespace": path,
                "web_url": format!("{origin}/{path}"),
                "container_registry_enabled": true,
                "container_expiration_policy": policy(i),
            })
        })
        .collect();
    Value::Array(list)
}

/// Project `id`'s tag protection rules (every other project protects `v1.*`), or `None`
/// for no such project.
pub(super) fn rules<'a>(id: &str, repositories: impl Iterator<Item = &'a str>) -> Option<Value> {
    let n: usize = id.parse().ok()?;
    let count = project_paths(repositories).len();
    if n == 0 || n > count {
        return None;
    }
    Some(if n % 2 == 1 {
        json!([{"id": n, "project_id": n, "tag_name_pattern": "^v1\\.",
                "minimum_access_level_for_push": "maintainer",
                "minimum_access_level_for_delete": "maintainer"}])
    } else {
        json!([])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_from_repository_names() {
        let repos = ["a/b/c", "a/b/d", "a/e/f/g", "solo"];
        let v = projects("http://h", repos.iter().copied());
        let paths: Vec<_> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["path_with_namespace"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(paths, ["a/b", "a/e/f"]);
        assert_eq!(v[0]["web_url"], "http://h/a/b");
        assert_eq!(v[0]["container_expiration_policy"]["enabled"], true);
        assert!(rules("1", repos.iter().copied()).is_some());
        assert!(rules("3", repos.iter().copied()).is_none());
    }
}
