//! The preview of every GitLab project's clean-up policy (`GET /policies`): for each project
//! that owns repositories, its configured policy (or GitLab's default when it has none) run
//! through the same engine as `/cleanup` ([`super::run`]), with its protected tag patterns,
//! and the bytes garbage collection would then free — for each policy alone, and for all
//! enabled policies together.
//!
//! Each policy is evaluated at its `next_run_at` (what GitLab will see when it runs, so
//! `older_than` counts from then), or at the crawl's time when that is earlier or unknown: the
//! answer depends on the snapshot only and is cached with it. A policy GitLab would refuse (a
//! pattern that does not compile, an `older_than` it cannot read) is reported on its project
//! as `error`, with nothing deleted. Pure: no I/O, no clock.

use std::collections::HashMap;

use super::{compile, parse_older_than, run, Limits, Report, Rule, Scope};
use crate::snapshot::time::parse_rfc3339;
use crate::snapshot::{ExpirationPolicy, Project, Repository, Snapshot, Tag};

/// Where a project's rules come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The project's own `container_expiration_policy`.
    Project,
    /// The project has none: GitLab's default policy, to show what switching one on frees.
    GitlabDefault,
}

impl Source {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Source::Project => "project",
            Source::GitlabDefault => "gitlab_default",
        }
    }
}

/// One project's preview.
#[derive(Debug, Clone)]
pub(crate) struct ProjectPreview<'a> {
    pub(crate) project: &'a Project,
    /// The rules evaluated (the project's, or GitLab's default).
    pub(crate) policy: ExpirationPolicy,
    pub(crate) source: Source,
    /// Unix seconds the rules were evaluated at.
    pub(crate) at: i64,
    /// Why the policy cannot run; then `report` is `None`.
    pub(crate) error: Option<String>,
    pub(crate) report: Option<Report<'a>>,
}

impl ProjectPreview<'_> {
    pub(crate) fn enabled(&self) -> bool {
        self.source == Source::Project && self.policy.enabled && self.error.is_none()
    }

    /// What this policy alone would free were it enabled.
    pub(crate) fn freed_if_enabled(&self) -> u64 {
        self.report.as_ref().map_or(0, |r| r.freed_bytes)
    }

    /// What it frees at its next run: nothing unless enabled.
    pub(crate) fn freed_bytes(&self) -> u64 {
        if self.enabled() {
            self.freed_if_enabled()
        } else {
            0
        }
    }

    pub(crate) fn tags_deleted(&self) -> usize {
        match (&self.report, self.enabled()) {
            (Some(r), true) => r.tags_deleted,
            _ => 0,
        }
    }

    pub(crate) fn tags_deleted_if_enabled(&self) -> usize {
        self.report.as_ref().map_or(0, |r| r.tags_deleted)
    }
}

/// Every project's preview.
#[derive(Debug, Clone)]
pub(crate) struct Previews<'a> {
    /// Bytes freed once every enabled policy has run (blobs shared between projects count
    /// once, and only when every tag using them is deleted).
    pub(crate) freed_bytes: u64,
    pub(crate) tags_deleted: usize,
    /// Projects (of those listed) with an enabled policy that can run.
    pub(crate) enabled: usize,
    /// By project path.
    pub(crate) items: Vec<ProjectPreview<'a>>,
}

/// The rule of a policy: anchored `name_regex` (none deletes nothing, as in GitLab) and
/// `name_regex_keep`, `keep_n`, `older_than`, and the protection patterns (unanchored).
pub(crate) fn policy_rule(
    policy: &ExpirationPolicy,
    protected: &[String],
    limits: Limits,
) -> Result<Rule, String> {
    let text = |e: super::CleanupError| e.to_string();
    let name_regex = policy.name_regex.clone().unwrap_or_default();
    let delete = compile("name_regex", &name_regex, limits).map_err(text)?;
    let name_regex_keep = policy.name_regex_keep.clone().filter(|k| !k.is_empty());
    let keep = name_regex_keep
        .as_deref()
        .map(|k| compile("name_regex_keep", k, limits))
        .transpose()
        .map_err(text)?;
    let older_than = policy
        .older_than
        .as_deref()
        .filter(|o| !o.is_empty())
        .map(|o| {
            parse_older_than(o)
                .map(|s| (o.to_string(), s))
                .map_err(|e| format!("older_than: {e}"))
        })
        .transpose()?;
    let protected = protected
        .iter()
        .map(|p| {
            regex::bytes::RegexBuilder::new(p)
                .unicode(false)
                .size_limit(limits.regex_size_limit)
                .build()
                .map(|r| (p.clone(), r))
                .map_err(|e| {
                    let why = e.to_string();
                    let why = why.lines().last().unwrap_or_default().trim().to_string();
                    format!(
                        "tag protection pattern {p:?} is not a valid RE2 regular expression: {why}"
                    )
                })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Rule {
        name_regex_delete: name_regex,
        name_regex_keep,
        keep_n: policy.keep_n,
        older_than,
        scope: Scope::All,
        delete,
        keep,
        protected,
    })
}

/// What a policy's [`Rule`] is made of (its schedule and switch are not).
#[derive(PartialEq, Eq, Hash)]
struct RuleKey {
    name_regex: Option<String>,
    name_regex_keep: Option<String>,
    keep_n: Option<u64>,
    older_than: Option<String>,
    protected: Vec<String>,
}

/// When a policy is evaluated: its next run, or the crawl's time if that is later.
fn evaluation_time(policy: &ExpirationPolicy, crawled: i64) -> i64 {
    policy
        .next_run_at
        .as_deref()
        .and_then(parse_rfc3339)
        .map_or(crawled, |t| t.max(crawled))
}

/// Previews every policy of the projects that own at least one repository of `snap`.
///
/// Cost: each distinct rule compiled once; each repository's tags evaluated once (under
/// their project's rules); one sort of the enabled policies' deleted blob references for
/// the total.
pub(crate) fn preview(snap: &Snapshot, limits: Limits) -> Previews<'_> {
    let crawled = snap.timestamp as i64;
    // The repositories of each project, in name order.
    let mut owned: Vec<Vec<&Repository>> = vec![Vec::new(); snap.projects.len()];
    for (i, repo) in snap.repositories.iter().enumerate() {
        if let Some(p) = snap.repo_projects.get(i).copied().flatten() {
            if let Some(list) = owned.get_mut(p as usize) {
                list.push(repo);
            }
        }
    }
    let mut items = Vec::new();
    // Compiled rules by what they are made of: most projects share a handful of policies
    // (GitLab's default above all), and compiling a pattern costs far more than matching.
    let mut rules: HashMap<RuleKey, Result<Rule, String>> = HashMap::new();
    for (project, repos) in snap.projects.iter().zip(owned) {
        if repos.is_empty() {
            continue;
        }
        let (policy, source) = match &project.policy {
            Some(p) => (p.clone(), Source::Project),
            None => (ExpirationPolicy::gitlab_default(), Source::GitlabDefault),
        };
        let at = evaluation_time(&policy, crawled);
        let key = RuleKey {
            name_regex: policy.name_regex.clone(),
            name_regex_keep: policy.name_regex_keep.clone(),
            keep_n: policy.keep_n,
            older_than: policy.older_than.clone(),
            protected: project.protected.clone(),
        };
        let rule = rules
            .entry(key)
            .or_insert_with(|| policy_rule(&policy, &project.protected, limits));
        let (error, report) = match rule {
            Ok(rule) => (None, Some(run(snap, repos, rule, at))),
            Err(e) => (Some(e.clone()), None),
        };
        items.push(ProjectPreview {
            project,
            policy,
            source,
            at,
            error,
            report,
        });
    }
    let deleted: Vec<&Tag> = items
        .iter()
        .filter(|p| p.enabled())
        .filter_map(|p| p.report.as_ref())
        .flat_map(|r| r.items.iter().flat_map(|i| i.delete.iter().copied()))
        .collect();
    Previews {
        freed_bytes: super::freed_by(snap, deleted.iter().copied()),
        tags_deleted: deleted.len(),
        enabled: items.iter().filter(|p| p.enabled()).count(),
        items,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cleanup::Reason;
    use crate::snapshot::{fixtures, TagInput};

    const NOW: i64 = 1_800_000_000;
    const DAY: i64 = 86_400;

    fn t(name: &str, days_ago: i64, blobs: &[&str]) -> TagInput {
        TagInput {
            name: name.into(),
            digest: format!("sha256:m-{name}-{}", blobs.join("-")),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            platforms: vec![],
            blobs: blobs.iter().map(|s| s.to_string()).collect(),
            created: Some(NOW - days_ago * DAY),
        }
    }

    /// The issue's example policy: older than 30 days, any name but `v1.1.0`.
    pub(crate) fn policy(enabled: bool) -> ExpirationPolicy {
        ExpirationPolicy {
            enabled,
            cadence: Some("1month".into()),
            keep_n: None,
            older_than: Some("30d".into()),
            name_regex: Some(".*".into()),
            name_regex_keep: Some(r"v1\.1\.0".into()),
            next_run_at: None,
        }
    }

    fn project(id: u64, path: &str, policy: Option<ExpirationPolicy>) -> Project {
        Project {
            id,
            path: path.into(),
            web_url: format!("https://gitlab.example/{path}"),
            policy,
            protected: Vec::new(),
        }
    }

    /// Blob sizes: a = 1, b = 2, c = 4, ... (by first letter); crawled at NOW.
    fn snap(repos: Vec<(&str, Vec<TagInput>)>, projects: Vec<Project>) -> Snapshot {
        let sizes: Vec<(String, u64)> = repos
            .iter()
            .flat_map(|(_, tags)| tags.iter().flat_map(|t| t.blobs.iter()))
            .map(|b| (b.clone(), 1u64 << (b.as_bytes()[0] - b'a')))
            .collect();
        let sizes: Vec<(&str, u64)> = sizes.iter().map(|(d, n)| (d.as_str(), *n)).collect();
        let repos = repos.into_iter().map(|(n, t)| fixtures::repo(n, Some(t)));
        let mut s = fixtures::build(repos.collect(), &sizes);
        s.timestamp = NOW as f64;
        s.with_projects(projects)
    }

    fn names(tags: &[&Tag]) -> Vec<String> {
        tags.iter().map(|t| t.name.clone()).collect()
    }

    #[test]
    fn the_issue_example_with_reasons() {
        let s = snap(
            vec![(
                "group/project/releases",
                vec![
                    t("latest", 40, &["a"]),
                    t("v1.0.0", 60, &["b"]),
                    t("v1.1.0-rc.1", 50, &["c"]),
                    t("v1.1.0", 45, &["d"]),
                    t("v1.2.0", 2, &["e"]),
                ],
            )],
            vec![project(3, "group/project", Some(policy(true)))],
        );
        let p = preview(&s, Limits::default());
        assert_eq!(p.items.len(), 1);
        let item = &p.items[0];
        assert!(item.enabled() && item.error.is_none());
        let r = item.report.as_ref().unwrap();
        assert_eq!(names(&r.items[0].delete), ["v1.0.0", "v1.1.0-rc.1"]);
        let kept: Vec<_> = r.items[0]
            .keep
            .iter()
            .map(|(t, why)| (t.name.as_str(), *why))
            .collect();
        assert_eq!(
            kept,
            [
                ("latest", Reason::Latest),
                ("v1.1.0", Reason::Regex),
                ("v1.2.0", Reason::Age)
            ]
        );
        assert_eq!(item.freed_bytes(), 2 + 4);
        assert_eq!((p.freed_bytes, p.tags_deleted, p.enabled), (6, 2, 1));
    }

    #[test]
    fn protected_tags_are_kept_and_take_no_keep_n_slot() {
        let mut pol = policy(true);
        pol.keep_n = Some(1);
        pol.older_than = None;
        pol.name_regex_keep = None;
        let mut pr = project(1, "g/p", Some(pol));
        pr.protected = vec!["^v.*".into(), ".*-stable$".into()];
        let s = snap(
            vec![(
                "g/p",
                vec![
                    t("v2", 1, &["a"]),
                    t("x-stable", 2, &["b"]),
                    t("nightly-2", 3, &["c"]),
                    t("nightly-1", 4, &["d"]),
                    t("old-v1", 5, &["e"]),
                ],
            )],
            vec![pr],
        );
        let p = preview(&s, Limits::default());
        let r = &p.items[0].report.as_ref().unwrap().items[0];
        // unanchored: "old-v1" contains "v1" but ^v.* needs a v at the start
        assert_eq!(names(&r.delete), ["nightly-1", "old-v1"]);
        let kept: Vec<_> = r.keep.iter().map(|(t, w)| (t.name.as_str(), *w)).collect();
        assert_eq!(
            kept,
            [
                ("nightly-2", Reason::KeepN),
                ("v2", Reason::Protected(0)),
                ("x-stable", Reason::Protected(1))
            ]
        );
    }

    #[test]
    fn disabled_and_missing_policies_free_nothing_but_say_what_they_would() {
        let s = snap(
            vec![
                (
                    "a/off/img",
                    vec![t("old", 100, &["a"]), t("new", 1, &["b"])],
                ),
                (
                    "b/none",
                    (0..12)
                        .map(|i| t(&format!("t{i:02}"), 100 + i, &["c"]))
                        .collect(),
                ),
                ("c/on", vec![t("old", 100, &["d"])]),
                ("unowned/x", vec![t("old", 100, &["e"])]),
            ],
            vec![
                project(1, "a/off", Some(policy(false))),
                project(2, "b/none", None),
                project(3, "c/on", Some(policy(true))),
                project(4, "d/no-images", Some(policy(true))),
            ],
        );
        let p = preview(&s, Limits::default());
        let paths: Vec<_> = p.items.iter().map(|i| i.project.path.as_str()).collect();
        assert_eq!(paths, ["a/off", "b/none", "c/on"]);
        let off = &p.items[0];
        assert!(!off.enabled());
        assert_eq!((off.freed_bytes(), off.freed_if_enabled()), (0, 1));
        assert_eq!((off.tags_deleted(), off.tags_deleted_if_enabled()), (0, 1));
        // GitLab's default: keep 10, older than 90 days: 2 of 12 deleted, but "c" is shared
        let none = &p.items[1];
        assert_eq!(none.source, Source::GitlabDefault);
        assert_eq!(none.tags_deleted_if_enabled(), 2);
        assert_eq!(none.freed_if_enabled(), 0);
        assert_eq!((p.freed_bytes, p.tags_deleted, p.enabled), (8, 1, 1));
    }

    #[test]
    fn shared_blobs_count_in_the_total_only_when_every_user_is_deleted() {
        let s = snap(
            vec![
                ("p1", vec![t("old", 100, &["a", "b"])]),
                ("p2", vec![t("old", 100, &["a", "c"])]),
            ],
            vec![
                project(1, "p1", Some(policy(true))),
                project(2, "p2", Some(policy(true))),
            ],
        );
        let p = preview(&s, Limits::default());
        // alone each frees its own blob; together also the shared "a"
        assert_eq!(p.items[0].freed_bytes(), 2);
        assert_eq!(p.items[1].freed_bytes(), 4);
        assert_eq!(p.freed_bytes, 1 + 2 + 4);
    }

    #[test]
    fn bad_policies_are_errors_on_their_project() {
        let mut bad = policy(true);
        bad.name_regex = Some("(".into());
        let mut bad_age = policy(true);
        bad_age.older_than = Some("soon".into());
        let mut pr = project(3, "c", Some(policy(true)));
        pr.protected = vec!["[".into()];
        let s = snap(
            vec![
                ("a", vec![t("old", 100, &["a"])]),
                ("b", vec![t("old", 100, &["b"])]),
                ("c", vec![t("old", 100, &["c"])]),
            ],
            vec![
                project(1, "a", Some(bad)),
                project(2, "b", Some(bad_age)),
                pr,
            ],
        );
        let p = preview(&s, Limits::default());
        for item in &p.items {
            let e = item.error.as_deref().unwrap();
            assert!(item.report.is_none() && !item.enabled(), "{e}");
        }
        assert!(p.items[0].error.as_deref().unwrap().contains("name_regex"));
        assert!(p.items[1].error.as_deref().unwrap().contains("older_than"));
        assert!(p.items[2].error.as_deref().unwrap().contains("protection"));
        assert_eq!((p.freed_bytes, p.tags_deleted, p.enabled), (0, 0, 0));
    }

    #[test]
    fn no_name_regex_deletes_nothing_and_next_run_moves_the_cutoff() {
        let mut none = policy(true);
        none.name_regex = None;
        let mut later = policy(true);
        later.name_regex_keep = None;
        // in 20 days a tag 15 days old is 35 days old: older than 30d
        later.next_run_at = Some(crate::snapshot::time::format_rfc3339(NOW + 20 * DAY));
        let s = snap(
            vec![
                ("a", vec![t("old", 100, &["a"])]),
                ("b", vec![t("mid", 15, &["b"]), t("new", -1, &["c"])]),
            ],
            vec![project(1, "a", Some(none)), project(2, "b", Some(later))],
        );
        let p = preview(&s, Limits::default());
        assert_eq!(p.items[0].tags_deleted(), 0);
        assert_eq!(p.items[1].at, NOW + 20 * DAY);
        let r = p.items[1].report.as_ref().unwrap();
        assert_eq!(names(&r.items[0].delete), ["mid"]);
    }
}
