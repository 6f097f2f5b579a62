//! GitLab projects as a snapshot carries them: each project's id, path, web page, clean-up
//! policy (`container_expiration_policy`) and protected tag patterns, as read from GitLab's
//! REST API by the collector, and which project each repository belongs to.
//!
//! A repository belongs to the project whose `path_with_namespace` is the longest prefix of
//! the repository's name at a path-segment boundary (`group/project/releases` belongs to
//! `group/project`; `group/projectx` does not), compared case-insensitively as GitLab does for
//! paths. Plain data and pure functions: the collector reads GitLab, nothing here does I/O.

use serde::{Deserialize, Serialize};

/// One project's clean-up policy, GitLab's fields as GitLab names them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ExpirationPolicy {
    #[serde(default)]
    pub enabled: bool,
    /// `1d`, `7d`, `14d`, `1month`, `3month`.
    #[serde(default)]
    pub cadence: Option<String>,
    /// 1, 5, 10, 25, 50, 100 or none.
    #[serde(default)]
    pub keep_n: Option<u64>,
    /// `7d`, `14d`, `30d`, `90d` or none.
    #[serde(default)]
    pub older_than: Option<String>,
    /// The tags to delete (anchored); none deletes nothing.
    #[serde(default)]
    pub name_regex: Option<String>,
    /// The tags to keep whatever else matches (anchored).
    #[serde(default)]
    pub name_regex_keep: Option<String>,
    /// RFC 3339, when GitLab runs the policy next.
    #[serde(default)]
    pub next_run_at: Option<String>,
}

impl ExpirationPolicy {
    /// GitLab's default policy for a project that has none (and the form's defaults): every
    /// day, keep the 10 newest, delete what is older than 90 days, any name. Disabled.
    pub fn gitlab_default() -> ExpirationPolicy {
        ExpirationPolicy {
            enabled: false,
            cadence: Some("1d".into()),
            keep_n: Some(10),
            older_than: Some("90d".into()),
            name_regex: Some(".*".into()),
            name_regex_keep: None,
            next_run_at: None,
        }
    }
}

/// A GitLab project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    pub id: u64,
    /// `path_with_namespace`, e.g. `group/sub/project`.
    pub path: String,
    pub web_url: String,
    /// `None`: the project has no clean-up policy at all.
    #[serde(default)]
    pub policy: Option<ExpirationPolicy>,
    /// `tag_name_pattern` of each tag protection rule (RE2, unanchored); read only for
    /// projects with an enabled policy, empty where GitLab has no such rules.
    #[serde(default)]
    pub protected: Vec<String>,
}

/// ASCII lower case, which is how GitLab compares paths (they are ASCII).
fn folded(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// Sorts `projects` by path (case-insensitively; later duplicates of a path dropped) and
/// returns, for each of `repositories` (names), the index of its project in the sorted list.
///
/// Cost: for each repository, one binary search per `/` in its name (prefixes are tried
/// longest first), so O(repositories × depth × log projects).
pub fn assign(projects: &mut Vec<Project>, repositories: &[&str]) -> Vec<Option<u32>> {
    projects.sort_by_cached_key(|p| folded(&p.path));
    projects.dedup_by(|a, b| a.path.eq_ignore_ascii_case(&b.path));
    let keys: Vec<String> = projects.iter().map(|p| folded(&p.path)).collect();
    repositories
        .iter()
        .map(|name| {
            let name = folded(name);
            // The whole name, then each prefix ending before a `/`, longest first.
            let cuts = std::iter::once(name.len()).chain(name.rmatch_indices('/').map(|(i, _)| i));
            cuts.filter(|&i| i > 0).find_map(|i| {
                keys.binary_search_by(|k| k.as_str().cmp(&name[..i]))
                    .ok()
                    .and_then(|j| u32::try_from(j).ok())
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(id: u64, path: &str) -> Project {
        Project {
            id,
            path: path.into(),
            web_url: format!("https://gitlab.example/{path}"),
            policy: None,
            protected: Vec::new(),
        }
    }

    fn owners(projects: &[Project], repos: &[&str]) -> Vec<Option<String>> {
        let mut ps = projects.to_vec();
        assign(&mut ps, repos)
            .into_iter()
            .map(|i| i.map(|i| ps[i as usize].path.clone()))
            .collect()
    }

    #[test]
    fn longest_prefix_at_a_segment_boundary() {
        let projects = [
            p(1, "group/project"),
            p(2, "group/project/sub"),
            p(3, "group"),
            p(4, "other/app"),
        ];
        let got = owners(
            &projects,
            &[
                "group/project",
                "group/project/releases",
                "group/project/sub",
                "group/project/sub/x/y",
                "group/projectx",
                "group/projectx/y",
                "other/app-2",
                "other/apps/x",
                "nobody/here",
                "group",
            ],
        );
        let want = [
            Some("group/project"),
            Some("group/project"),
            Some("group/project/sub"),
            Some("group/project/sub"),
            Some("group"),
            Some("group"),
            None,
            None,
            None,
            Some("group"),
        ];
        assert_eq!(
            got,
            want.iter().map(|w| w.map(String::from)).collect::<Vec<_>>()
        );
    }

    #[test]
    fn paths_compare_case_insensitively_and_duplicates_are_dropped() {
        let projects = [p(1, "Group/App"), p(2, "group/app"), p(3, "a")];
        let mut ps = projects.to_vec();
        let got = assign(&mut ps, &["group/app/img", "a/b", "b/a", ""]);
        assert_eq!(ps.len(), 2);
        assert_eq!(got[0].map(|i| ps[i as usize].id), Some(1));
        assert_eq!(got[1].map(|i| ps[i as usize].id), Some(3));
        assert_eq!(got[2], None);
        assert_eq!(got[3], None);
    }

    #[test]
    fn no_projects_no_owner() {
        let mut ps = Vec::new();
        assert_eq!(assign(&mut ps, &["a/b", "c"]), vec![None, None]);
    }
}
