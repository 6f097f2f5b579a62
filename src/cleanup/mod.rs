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

use crate::http::percent::decode as percent_decode;
use crate::snapshot::{Repository, Snapshot, Tag};

mod older_than;
pub(crate) mod policies;
pub(crate) mod policies_view;
pub(crate) mod view;

pub(crate) use older_than::parse_older_than;

/// Default of `[general] cleanup_regex_size_limit`: bytes a compiled pattern may take.
pub(crate) const DEFAULT_REGEX_SIZE_LIMIT: usize = 1 << 20;

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
pub(crate) enum Scope {
    All,
    /// Exactly this repository.
    Repository(String),
    /// Every repository below this group path (`a/b` covers `a/b/c` and `a/b/c/d`, not `a/b`).
    Namespace(String),
}

/// A parsed clean-up rule: GitLab's four parameters plus the scope.
#[derive(Debug, Clone)]
pub struct Rule {
    pub(crate) name_regex_delete: String,
    pub(crate) name_regex_keep: Option<String>,
    pub(crate) keep_n: Option<u64>,
    /// As written, and in seconds.
    pub(crate) older_than: Option<(String, f64)>,
    pub(crate) scope: Scope,
    delete: Regex,
    keep: Option<Regex>,
    /// Tag protection patterns (unanchored), as written and compiled; none for `/cleanup`.
    pub(crate) protected: Vec<(String, Regex)>,
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
pub(crate) fn compile(
    name: &'static str,
    pattern: &str,
    limits: Limits,
) -> Result<Regex, CleanupError> {
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
            protected: Vec::new(),
        })
    }

    /// The rule's parameters as a query string (for the `self` link), percent-encoded.
    pub(crate) fn query_string(&self) -> String {
        let enc = crate::http::percent::encode;
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
pub(crate) enum Reason {
    /// Its name is `latest`, which GitLab never deletes.
    Latest,
    /// `name_regex_keep` matched it.
    Regex,
    /// One of the `keep_n` newest candidates.
    KeepN,
    /// Not older than `older_than` (or its age is unknown).
    Age,
    /// A tag protection rule matched it: the index of its pattern in the rule.
    Protected(u32),
}

impl Reason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::Latest => "latest",
            Reason::Regex => "regex",
            Reason::KeepN => "keep_n",
            Reason::Age => "age",
            Reason::Protected(_) => "protected",
        }
    }
}

/// The dry run's answer for one repository with at least one tag that
/// `name_regex_delete` matched.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RepoReport<'a> {
    pub(crate) name: &'a str,
    /// Bytes of the blobs that only this repository's deleted tags refer to.
    pub(crate) freed_bytes: u64,
    /// Sorted by name.
    pub(crate) delete: Vec<&'a Tag>,
    /// Sorted by name.
    pub(crate) keep: Vec<(&'a Tag, Reason)>,
    /// Tags `name_regex_delete` did not match (not candidates at all).
    pub(crate) not_matched: usize,
}

/// The dry run's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Report<'a> {
    /// Bytes of the blobs that only deleted tags refer to: what garbage collection frees.
    pub freed_bytes: u64,
    pub tags_deleted: usize,
    pub tags_kept: usize,
    pub(crate) tags_not_matched: usize,
    /// Repositories in scope whose tags are known.
    pub(crate) repositories: usize,
    /// The repositories where `name_regex_delete` matched something, by name.
    pub(crate) items: Vec<RepoReport<'a>>,
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
    Ok(run(snap, repos, rule, now))
}

/// [`dry_run`] over the given repositories (the rule's own scope is not looked at).
pub(crate) fn run<'a>(
    snap: &'a Snapshot,
    repos: impl IntoIterator<Item = &'a Repository>,
    rule: &Rule,
    now: i64,
) -> Report<'a> {
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
        let mut item = evaluate(&repo.name, tags, rule, now, &mut candidates);

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
    report
}

/// Bytes garbage collection frees once all of `deleted` are gone (any repositories; a tag
/// listed twice counts once per listing, so give each once).
pub(crate) fn freed_by<'a>(snap: &Snapshot, deleted: impl IntoIterator<Item = &'a Tag>) -> u64 {
    let mut refs: Vec<u32> = deleted
        .into_iter()
        .flat_map(|t| t.blobs.iter().copied())
        .collect();
    refs.sort_unstable();
    refs.chunk_by(|a, b| a == b)
        .filter(|run| {
            run.len() as u32
                >= snap
                    .blob_refs
                    .get(run[0] as usize)
                    .copied()
                    .unwrap_or(u32::MAX)
        })
        .map(|run| snap.blobs[run[0] as usize].size)
        .sum()
}

/// GitLab's rules over one repository's tags, in GitLab's order (see the module's doc);
/// `freed_bytes` is left at 0. `candidates` is scratch space.
fn evaluate<'a>(
    name: &'a str,
    tags: &'a [Tag],
    rule: &Rule,
    now: i64,
    candidates: &mut Vec<&'a Tag>,
) -> RepoReport<'a> {
    let cutoff = rule.older_than.as_ref().map(|(_, secs)| now as f64 - secs);
    let mut item = RepoReport {
        name,
        freed_bytes: 0,
        delete: Vec::new(),
        keep: Vec::new(),
        not_matched: 0,
    };
    candidates.clear();
    for tag in tags {
        let bytes = tag.name.as_bytes();
        if !rule.delete.is_match(bytes) {
            item.not_matched += 1;
        } else if tag.name == "latest" {
            item.keep.push((tag, Reason::Latest));
        } else if rule.keep.as_ref().is_some_and(|k| k.is_match(bytes)) {
            item.keep.push((tag, Reason::Regex));
        } else if let Some(i) = rule.protected.iter().position(|(_, p)| p.is_match(bytes)) {
            // Protected tags are taken out before keep_n: they take no slot.
            item.keep.push((tag, Reason::Protected(i as u32)));
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
    for &tag in candidates.iter() {
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
    item
}

#[cfg(test)]
mod tests;
