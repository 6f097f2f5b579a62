//! The clean-up dry run: which tags GitLab's bulk tag deletion (and its clean-up policies)
//! would delete under a rule, which it would keep and why, and how many bytes garbage
//! collection would then give back.
//!
//! GitLab's rules in GitLab's order, per repository: a tag named `latest` is never deleted;
//! a tag is a candidate when `name_regex_delete` matches its whole name and
//! `name_regex_keep` does not; of the candidates, the `keep_n` newest (by `created`) are
//! kept; of the rest, those not older than `older_than` are kept; the others are deleted.
//! `freed_bytes` counts the blobs (configs and layers) that no kept tag anywhere in the
//! registry still refers to once the deleted tags are gone.
//!
//! Pure: the query is parsed from text, `now` is passed in, and the result borrows from the
//! snapshot. No I/O, no clock, no knowledge of HTTP beyond "this parameter is wrong".

use std::collections::HashMap;
use std::fmt;

use regex::bytes::{Regex, RegexBuilder};

use crate::percent::decode as percent_decode;
use crate::snapshot::{Snapshot, Tag};

/// Default of `[general] cleanup_regex_size_limit`: bytes a compiled pattern may take.
pub const DEFAULT_REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Limits that protect the service from expensive rules (configurable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes one compiled pattern may take (the `regex` crate's `size_limit`).
    pub regex_size_limit: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            regex_size_limit: DEFAULT_REGEX_SIZE_LIMIT,
        }
    }
}

/// Which repositories a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    /// Exactly this repository.
    Repository(String),
    /// Every repository below this group path (`a/b` covers `a/b/c` and `a/b/c/d`, not `a/b`).
    Namespace(String),
}

/// A parsed clean-up rule: GitLab's four parameters plus the scope.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name_regex_delete: String,
    pub name_regex_keep: Option<String>,
    pub keep_n: Option<u64>,
    /// As written, and in seconds.
    pub older_than: Option<(String, f64)>,
    pub scope: Scope,
    delete: Regex,
    keep: Option<Regex>,
}

/// Why a query or a scope cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CleanupError {
    /// A parameter is missing or malformed: its name and what is wrong.
    Param { name: &'static str, reason: String },
    /// `repository=` names no repository of the snapshot.
    UnknownRepository(String),
    /// `namespace=` has no repository below it.
    UnknownNamespace(String),
}

impl fmt::Display for CleanupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CleanupError::Param { name, reason } => write!(f, "{name}: {reason}"),
            CleanupError::UnknownRepository(r) => write!(f, "repository: no repository {r:?}"),
            CleanupError::UnknownNamespace(n) => {
                write!(f, "namespace: no repository below {n:?}")
            }
        }
    }
}

impl std::error::Error for CleanupError {}

fn param(name: &'static str, reason: impl Into<String>) -> CleanupError {
    CleanupError::Param {
        name,
        reason: reason.into(),
    }
}

/// A query component: `%XX` decoded. A `+` stays a `+` (regexes use it far more than a
/// space, which no tag name contains); encode a space as `%20`.
fn decode_component(s: &str) -> Option<String> {
    percent_decode(s)
}

/// Compiles a pattern anchored to the whole tag name, as `\A(?:pattern)\z`, with RE2's
/// ASCII-only classes (`\d`, `\w`, `\s`, `\b`; tag names are ASCII) and a size limit.
pub fn compile(name: &'static str, pattern: &str, limits: Limits) -> Result<Regex, CleanupError> {
    RegexBuilder::new(&format!(r"\A(?:{pattern})\z"))
        .unicode(false)
        .size_limit(limits.regex_size_limit)
        .build()
        .map_err(|e| param(name, regex_reason(&e, pattern)))
}

fn regex_reason(e: &regex::Error, pattern: &str) -> String {
    match e {
        regex::Error::CompiledTooBig(limit) => format!(
            "the pattern {pattern:?} compiles to more than {limit} bytes \
             ([general] cleanup_regex_size_limit); simplify it"
        ),
        // The syntax error's last line says what is wrong ("error: unclosed group"); the
        // lines above it quote our anchored form, which would only confuse.
        _ => {
            let text = e.to_string();
            let why = text
                .lines()
                .rev()
                .find_map(|l| l.trim().strip_prefix("error:"))
                .map_or(text.as_str(), str::trim);
            format!("{pattern:?} is not a valid RE2 regular expression: {why}")
        }
    }
}

/// Seconds per unit of `older_than`, as GitLab's ChronicDuration reads them.
fn unit_seconds(unit: &str) -> Option<f64> {
    Some(match unit {
        "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
        "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
        "d" | "dy" | "day" | "days" => 86_400.0,
        "w" | "wk" | "wks" | "week" | "weeks" => 7.0 * 86_400.0,
        "mo" | "mos" | "month" | "months" => 30.0 * 86_400.0,
        "y" | "yr" | "yrs" | "year" | "years" => 31_557_600.0,
        _ => return None,
    })
}

const OLDER_THAN_FORM: &str = "expected a time span such as 1h, 2d, 7d, 30d, 1month or \"1d 12h\" \
     (units s, m, h, d, w, mo, y or their long forms; m is minutes)";

/// Parses `older_than` into seconds: one or more terms `<number>[ ]<unit>` (a number without
/// a unit is seconds), separated by spaces, commas or the words `and`/`with`/`plus`; numbers
/// may have decimals; case does not matter. These are the forms GitLab's ChronicDuration
/// reads the same way; what it would read loosely (unknown words, which it skips, a unit
/// without a number, clock forms like `1:30`) is refused here, and so is a zero span, on
/// which GitLab's clean-up fails.
pub fn parse_older_than(text: &str) -> Result<f64, String> {
    let lower = text.trim().to_ascii_lowercase();
    // Split into numbers and words, so "1d12h" and "1 d 12 h" read alike.
    let mut tokens: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut cur_is_num = false;
    for c in lower.chars() {
        let is_num = c.is_ascii_digit() || c == '.';
        let is_word = c.is_ascii_alphabetic();
        if !(is_num || is_word) {
            if !(c.is_whitespace() || c == ',') {
                return Err(format!("{text:?}: unexpected {c:?}; {OLDER_THAN_FORM}"));
            }
            if !cur.is_empty() {
                tokens.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if !cur.is_empty() && is_num != cur_is_num {
            tokens.push(std::mem::take(&mut cur));
        }
        cur_is_num = is_num;
        cur.push(c);
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    let mut total = 0.0;
    let mut pending: Option<f64> = None;
    for tok in &tokens {
        if tok.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
            if pending.is_some() {
                return Err(format!("{text:?}: two numbers in a row; {OLDER_THAN_FORM}"));
            }
            let ok = tok.matches('.').count() <= 1 && !tok.ends_with('.');
            let n: f64 =
                tok.parse().ok().filter(|_| ok).ok_or_else(|| {
                    format!("{text:?}: {tok:?} is not a number; {OLDER_THAN_FORM}")
                })?;
            pending = Some(n);
        } else if matches!(tok.as_str(), "and" | "with" | "plus") && pending.is_none() {
            continue;
        } else {
            let Some(secs) = unit_seconds(tok) else {
                return Err(format!("{text:?}: unknown unit {tok:?}; {OLDER_THAN_FORM}"));
            };
            let Some(n) = pending.take() else {
                return Err(format!(
                    "{text:?}: {tok:?} needs a number before it; {OLDER_THAN_FORM}"
                ));
            };
            total += n * secs;
        }
    }
    if let Some(n) = pending {
        total += n; // a bare number is seconds, as in GitLab
    }
    if tokens.is_empty() {
        return Err(format!("{text:?}: {OLDER_THAN_FORM}"));
    }
    if !(total > 0.0 && total.is_finite()) {
        return Err(format!(
            "{text:?} is no time at all (GitLab's clean-up fails on it); {OLDER_THAN_FORM}"
        ));
    }
    Ok(total)
}

impl Rule {
    /// Reads a rule from a raw query string (after `?`). The first occurrence of a parameter
    /// wins; unknown parameters (`links`, ...) are ignored; an empty optional parameter is
    /// the same as a missing one.
    pub fn parse(query: &str, limits: Limits) -> Result<Rule, CleanupError> {
        let mut values: HashMap<&'static str, String> = HashMap::new();
        const NAMES: [&str; 6] = [
            "name_regex_delete",
            "name_regex_keep",
            "keep_n",
            "older_than",
            "repository",
            "namespace",
        ];
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let Some(key) = decode_component(k) else {
                continue;
            };
            let Some(&name) = NAMES.iter().find(|n| **n == key) else {
                continue;
            };
            if values.contains_key(name) {
                continue;
            }
            let value = decode_component(v)
                .ok_or_else(|| param(name, "not valid percent-encoded UTF-8"))?;
            values.insert(name, value);
        }
        let take = |name: &str| values.get(name).filter(|v| !v.is_empty()).cloned();

        let name_regex_delete = take("name_regex_delete").ok_or_else(|| {
            param(
                "name_regex_delete",
                "required: a regular expression for the tags to delete (.* for every tag)",
            )
        })?;
        let delete = compile("name_regex_delete", &name_regex_delete, limits)?;
        let name_regex_keep = take("name_regex_keep");
        let keep = name_regex_keep
            .as_deref()
            .map(|p| compile("name_regex_keep", p, limits))
            .transpose()?;
        let keep_n = take("keep_n")
            .map(|v| {
                let t = v.trim();
                if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
                    // Longer than any registry: as good as "keep them all".
                    Ok(t.parse::<u64>().unwrap_or(u64::MAX))
                } else {
                    Err(param(
                        "keep_n",
                        format!("{v:?} is not a whole number (0 or more)"),
                    ))
                }
            })
            .transpose()?;
        let older_than = take("older_than")
            .map(|v| {
                parse_older_than(&v)
                    .map(|s| (v.clone(), s))
                    .map_err(|e| param("older_than", e))
            })
            .transpose()?;
        let scope = match (take("repository"), take("namespace")) {
            (Some(_), Some(_)) => {
                return Err(param(
                    "namespace",
                    "give either repository= or namespace=, not both",
                ))
            }
            (Some(r), None) => Scope::Repository(r),
            (None, Some(n)) => {
                let n = n.trim_matches('/').to_string();
                if n.is_empty() {
                    Scope::All
                } else {
                    Scope::Namespace(n)
                }
            }
            (None, None) => Scope::All,
        };
        Ok(Rule {
            name_regex_delete,
            name_regex_keep,
            keep_n,
            older_than,
            scope,
            delete,
            keep,
        })
    }

    /// The rule's parameters as a query string (for the `self` link), percent-encoded.
    pub fn query_string(&self) -> String {
        let enc = crate::percent::encode;
        let mut parts = vec![format!(
            "name_regex_delete={}",
            enc(&self.name_regex_delete)
        )];
        if let Some(k) = &self.name_regex_keep {
            parts.push(format!("name_regex_keep={}", enc(k)));
        }
        if let Some(n) = self.keep_n {
            parts.push(format!("keep_n={n}"));
        }
        if let Some((text, _)) = &self.older_than {
            parts.push(format!("older_than={}", enc(text)));
        }
        match &self.scope {
            Scope::All => {}
            Scope::Repository(r) => parts.push(format!("repository={}", enc(r))),
            Scope::Namespace(n) => parts.push(format!("namespace={}", enc(n))),
        }
        parts.join("&")
    }
}

/// Why a tag that `name_regex_delete` matched is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// Its name is `latest`, which GitLab never deletes.
    Latest,
    /// `name_regex_keep` matched it.
    Regex,
    /// One of the `keep_n` newest candidates.
    KeepN,
    /// Not older than `older_than` (or its age is unknown).
    Age,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Latest => "latest",
            Reason::Regex => "regex",
            Reason::KeepN => "keep_n",
            Reason::Age => "age",
        }
    }
}

/// The dry run's answer for one repository with at least one tag that
/// `name_regex_delete` matched.
#[derive(Debug, Clone, PartialEq)]
pub struct RepoReport<'a> {
    pub name: &'a str,
    /// Bytes of the blobs that only this repository's deleted tags refer to.
    pub freed_bytes: u64,
    /// Sorted by name.
    pub delete: Vec<&'a Tag>,
    /// Sorted by name.
    pub keep: Vec<(&'a Tag, Reason)>,
    /// Tags `name_regex_delete` did not match (not candidates at all).
    pub not_matched: usize,
}

/// The dry run's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Report<'a> {
    /// Bytes of the blobs that only deleted tags refer to: what garbage collection frees.
    pub freed_bytes: u64,
    pub tags_deleted: usize,
    pub tags_kept: usize,
    pub tags_not_matched: usize,
    /// Repositories in scope whose tags are known.
    pub repositories: usize,
    /// The repositories where `name_regex_delete` matched something, by name.
    pub items: Vec<RepoReport<'a>>,
}

/// Runs `rule` over `snap` at time `now` (Unix seconds) without deleting anything.
///
/// Cost: one regex match per tag in scope, a sort of each repository's candidates, and
/// work proportional to the deleted tags' blob references; the per-blob reference counts
/// come precomputed with the snapshot ([`Snapshot::blob_refs`]).
pub fn dry_run<'a>(snap: &'a Snapshot, rule: &Rule, now: i64) -> Result<Report<'a>, CleanupError> {
    let repos: Vec<_> = match &rule.scope {
        Scope::All => snap.repositories.iter().collect(),
        Scope::Repository(name) => vec![snap
            .repository(name)
            .ok_or_else(|| CleanupError::UnknownRepository(name.clone()))?],
        Scope::Namespace(ns) => {
            let below: Vec<_> = snap
                .repositories
                .iter()
                .filter(|r| {
                    r.name
                        .strip_prefix(ns.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
                })
                .collect();
            if below.is_empty() {
                return Err(CleanupError::UnknownNamespace(ns.clone()));
            }
            below
        }
    };
    let cutoff = rule.older_than.as_ref().map(|(_, secs)| now as f64 - secs);
    let mut report = Report {
        freed_bytes: 0,
        tags_deleted: 0,
        tags_kept: 0,
        tags_not_matched: 0,
        repositories: 0,
        items: Vec::new(),
    };
    // Deleted references to blobs shared with other repositories, summed over repositories.
    let mut shared: HashMap<u32, u32> = HashMap::new();
    let mut scratch: Vec<u32> = Vec::new();
    let mut candidates: Vec<&Tag> = Vec::new();
    for repo in repos {
        let Some(tags) = repo.tags.as_deref() else {
            continue; // never read: nothing known to delete
        };
        report.repositories += 1;
        let mut item = RepoReport {
            name: &repo.name,
            freed_bytes: 0,
            delete: Vec::new(),
            keep: Vec::new(),
            not_matched: 0,
        };
        candidates.clear();
        for tag in tags {
            if !rule.delete.is_match(tag.name.as_bytes()) {
                item.not_matched += 1;
            } else if tag.name == "latest" {
                item.keep.push((tag, Reason::Latest));
            } else if rule
                .keep
                .as_ref()
                .is_some_and(|k| k.is_match(tag.name.as_bytes()))
            {
                item.keep.push((tag, Reason::Regex));
            } else {
                candidates.push(tag);
            }
        }
        // Newest first; unknown `created` counts as `now` (as in GitLab); among equal times
        // the name that sorts last counts as newer (GitLab reverses a sort of the registry's
        // name-ordered list).
        if let Some(n) = rule.keep_n {
            candidates.sort_unstable_by(|a, b| {
                let (ta, tb) = (a.created.unwrap_or(now), b.created.unwrap_or(now));
                tb.cmp(&ta).then_with(|| b.name.cmp(&a.name))
            });
            let n = usize::try_from(n)
                .unwrap_or(usize::MAX)
                .min(candidates.len());
            for tag in candidates.drain(..n) {
                item.keep.push((tag, Reason::KeepN));
            }
        }
        for &tag in &candidates {
            let old = match cutoff {
                None => true,
                Some(c) => tag.created.is_some_and(|t| (t as f64) < c),
            };
            if old {
                item.delete.push(tag);
            } else {
                item.keep.push((tag, Reason::Age));
            }
        }
        item.delete.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        item.keep.sort_unstable_by(|a, b| a.0.name.cmp(&b.0.name));

        // Count this repository's deleted references per blob.
        scratch.clear();
        for tag in &item.delete {
            scratch.extend_from_slice(&tag.blobs);
        }
        scratch.sort_unstable();
        for run in scratch.chunk_by(|a, b| a == b) {
            let b = run[0];
            let deleted = run.len() as u32;
            let refs = snap.blob_refs.get(b as usize).copied().unwrap_or(u32::MAX);
            if deleted >= refs {
                let size = snap.blobs[b as usize].size;
                item.freed_bytes += size;
                report.freed_bytes += size;
            } else {
                *shared.entry(b).or_insert(0) += deleted;
            }
        }

        report.tags_deleted += item.delete.len();
        report.tags_kept += item.keep.len();
        report.tags_not_matched += item.not_matched;
        if !(item.delete.is_empty() && item.keep.is_empty()) {
            report.items.push(item);
        }
    }
    // Blobs whose references were all deleted, but in more than one repository.
    for (b, deleted) in shared {
        if deleted >= snap.blob_refs.get(b as usize).copied().unwrap_or(u32::MAX) {
            report.freed_bytes += snap.blobs[b as usize].size;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
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
    fn older_than_forms() {
        let h = 3600.0;
        let d = 24.0 * h;
        for (text, secs) in [
            ("1h", h),
            ("1d", d),
            ("2d", 2.0 * d),
            ("7d", 7.0 * d),
            ("14d", 14.0 * d),
            ("30d", 30.0 * d),
            ("90d", 90.0 * d),
            ("1month", 30.0 * d),
            ("2mo", 60.0 * d),
            ("3 months", 90.0 * d),
            ("1m", 60.0),
            ("45min", 2700.0),
            ("2w", 14.0 * d),
            ("1 week", 7.0 * d),
            ("1y", 31_557_600.0),
            ("1d 12h", 1.5 * d),
            ("1d12h", 1.5 * d),
            ("1 day and 2 hours", d + 2.0 * h),
            ("1d, 2h", d + 2.0 * h),
            ("1.5h", 5400.0),
            (".5d", 0.5 * d),
            ("7 Days", 7.0 * d),
            (" 1H ", h),
            ("90", 90.0),
        ] {
            assert_eq!(parse_older_than(text), Ok(secs), "{text}");
        }
        for bad in [
            "", " ", "0d", "0", "1:30", "day", "7 dyas", "1d-", "1..5h", "1.h", "1 2d", "-1d",
            "1d 2", "and",
        ] {
            // "1d 2" is 1 day 2 s in GitLab; we accept that (a bare number is seconds)
            if bad == "1d 2" {
                assert_eq!(parse_older_than(bad), Ok(d + 2.0));
                continue;
            }
            assert!(parse_older_than(bad).is_err(), "{bad:?}");
        }
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
}
