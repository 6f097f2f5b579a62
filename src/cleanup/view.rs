//! The clean-up dry run's representations: the HAL JSON body of `GET /cleanup` and the same
//! as HTML tables for a browser, written straight from a [`Report`].
//!
//! Pure functions: no I/O, no clock, no HTTP status codes (the server maps errors).

use std::fmt::Write as _;

use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;

use crate::cleanup::{Reason, RepoReport, Report, Rule, Scope};
use crate::hal::html::{bytes, table_head};
use crate::hal::{html_escape, Paths};
use crate::snapshot::time::format_rfc3339;
use crate::snapshot::Snapshot;

struct Href(String);

impl Serialize for Href {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("href", &self.0)?;
        m.end()
    }
}

struct One<V: Serialize>(&'static str, V);

impl<V: Serialize> Serialize for One<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(self.0, &self.1)?;
        m.end()
    }
}

struct Names<'a>(&'a RepoReport<'a>);

impl Serialize for Names<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.delete.len()))?;
        for t in &self.0.delete {
            seq.serialize_element(&t.name)?;
        }
        seq.end()
    }
}

/// How kept tags' reasons are named: `/cleanup`'s words, or `/policies`' (GitLab's
/// parameter that kept the tag, and a protection rule's pattern).
#[derive(Clone, Copy)]
pub(crate) enum Words<'a> {
    Cleanup,
    /// The project's tag protection patterns, which [`Reason::Protected`] indexes.
    Policy(&'a [String]),
}

impl Words<'_> {
    fn reason(self, r: Reason) -> &'static str {
        match (self, r) {
            (Words::Cleanup, r) => r.as_str(),
            (Words::Policy(_), Reason::Latest) => "latest",
            (Words::Policy(_), Reason::Regex) => "name_regex_keep",
            (Words::Policy(_), Reason::KeepN) => "keep_n",
            (Words::Policy(_), Reason::Age) => "older_than",
            (Words::Policy(_), Reason::Protected(_)) => "protected",
        }
    }
}

struct Kept<'a>(&'a RepoReport<'a>, Words<'a>);

impl Serialize for Kept<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.keep.len()))?;
        for (t, why) in &self.0.keep {
            seq.serialize_element(&KeptTag(&t.name, *why, self.1))?;
        }
        seq.end()
    }
}

struct KeptTag<'a>(&'a str, Reason, Words<'a>);

impl Serialize for KeptTag<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", self.0)?;
        m.serialize_entry("reason", self.2.reason(self.1))?;
        if let (Reason::Protected(i), Words::Policy(patterns)) = (self.1, self.2) {
            if let Some(p) = patterns.get(i as usize) {
                m.serialize_entry("pattern", p)?;
            }
        }
        m.end()
    }
}

/// One repository of a dry run: `{"name", "freed_bytes", "delete", "keep",
/// "tags_not_matched"}` (+ `_links` with `links`).
pub(crate) struct RepoItem<'a> {
    pub(crate) item: &'a RepoReport<'a>,
    pub(crate) paths: Paths<'a>,
    pub(crate) links: bool,
    pub(crate) words: Words<'a>,
}

impl Serialize for RepoItem<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let item = self.item;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", item.name)?;
        m.serialize_entry("freed_bytes", &item.freed_bytes)?;
        m.serialize_entry("delete", &Names(item))?;
        m.serialize_entry("keep", &Kept(item, self.words))?;
        m.serialize_entry("tags_not_matched", &item.not_matched)?;
        if self.links {
            m.serialize_entry(
                "_links",
                &One("repository", Href(self.paths.repository(item.name))),
            )?;
        }
        m.end()
    }
}

struct Items<'a> {
    report: &'a Report<'a>,
    paths: Paths<'a>,
    links: bool,
}

impl Serialize for Items<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.report.items.len()))?;
        for item in &self.report.items {
            seq.serialize_element(&RepoItem {
                item,
                paths: self.paths,
                links: self.links,
                words: Words::Cleanup,
            })?;
        }
        seq.end()
    }
}

struct Body<'a> {
    snap: &'a Snapshot,
    rule: &'a Rule,
    report: &'a Report<'a>,
    prefix: &'a str,
    links: bool,
}

impl Serialize for Body<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.report;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("timestamp", &self.snap.timestamp)?;
        m.serialize_entry("freed_bytes", &r.freed_bytes)?;
        m.serialize_entry("tags_deleted", &r.tags_deleted)?;
        m.serialize_entry("tags_kept", &r.tags_kept)?;
        m.serialize_entry("tags_not_matched", &r.tags_not_matched)?;
        m.serialize_entry("repositories", &r.repositories)?;
        if self.links {
            m.serialize_entry(
                "_links",
                &One("self", Href(self_href(self.rule, self.prefix))),
            )?;
        }
        let items = Items {
            report: r,
            paths: Paths {
                prefix: self.prefix,
            },
            links: self.links,
        };
        m.serialize_entry("_embedded", &One("items", items))?;
        m.end()
    }
}

/// The canonical URL of this dry run: the rule's parameters, re-encoded.
pub(crate) fn self_href(rule: &Rule, prefix: &str) -> String {
    format!("{prefix}/cleanup?{}", rule.query_string())
}

/// The HAL JSON body of a dry run.
pub(crate) fn render_json(
    snap: &Snapshot,
    rule: &Rule,
    report: &Report<'_>,
    prefix: &str,
    links: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + 24 * report.tags_deleted);
    // Serialising borrowed plain data into a Vec cannot fail.
    let _ = serde_json::to_writer(
        &mut out,
        &Body {
            snap,
            rule,
            report,
            prefix,
            links,
        },
    );
    out
}

/// The same as an HTML page of tables. Every value is escaped.
pub(crate) fn render_html(
    snap: &Snapshot,
    rule: &Rule,
    report: &Report<'_>,
    prefix: &str,
) -> String {
    let e = html_escape;
    let paths = Paths { prefix };
    let mut body = String::new();
    rule_table(&mut body, rule);
    let _ = writeln!(
        body,
        "<h2>Result</h2>\n<table>\n<tr><th>freed bytes</th><td><strong>{}</strong></td></tr>\n\
         <tr><th>tags deleted</th><td>{}</td></tr>\n<tr><th>tags kept</th><td>{}</td></tr>\n\
         <tr><th>tags not matched</th><td>{}</td></tr>\n<tr><th>repositories</th><td>{}</td></tr>\n\
         </table>\n<p>Data collected at Unix time {}. Freed bytes: what garbage collection frees \
         once the deleted tags are gone; a repository's freed bytes count only the blobs that no \
         tag but its deleted ones uses.</p>",
        bytes(report.freed_bytes),
        report.tags_deleted,
        report.tags_kept,
        report.tags_not_matched,
        report.repositories,
        snap.timestamp
    );
    table_head(
        &mut body,
        &[
            "repository",
            "freed bytes",
            "deleted",
            "kept",
            "not matched",
        ],
    );
    for item in &report.items {
        let _ = writeln!(
            body,
            "<tr><td><a href=\"#{id}\">{name}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            bytes(item.freed_bytes),
            item.delete.len(),
            item.keep.len(),
            item.not_matched,
            id = e(&crate::http::percent::encode(item.name)),
            name = e(item.name),
        );
    }
    body.push_str("</table>\n");
    for item in &report.items {
        repository_table(&mut body, paths, item);
    }
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Clean-up dry run</title>\
<style>{STYLE}</style>\
</head><body>\n<h1>Clean-up dry run</h1>\n{body}</body></html>\n",
        STYLE = crate::hal::html::STYLE
    )
}

/// The table of the rule the dry run applied.
fn rule_table(body: &mut String, rule: &Rule) {
    let e = html_escape;
    let opt = |v: Option<String>| v.map_or_else(|| "<i>none</i>".to_string(), |s| e(&s));
    let code = |v: Option<&str>| {
        v.map_or_else(
            || "<i>none</i>".to_string(),
            |s| format!("<code>{}</code>", e(s)),
        )
    };
    let scope = match &rule.scope {
        Scope::All => "every repository".to_string(),
        Scope::Repository(r) => format!("repository {r}"),
        Scope::Namespace(n) => format!("below {n}/"),
    };
    let _ = writeln!(
        body,
        "<table>\n<tr><th>name_regex_delete</th><td>{}</td></tr>\n\
         <tr><th>name_regex_keep</th><td>{}</td></tr>\n\
         <tr><th>keep_n</th><td>{}</td></tr>\n<tr><th>older_than</th><td>{}</td></tr>\n\
         <tr><th>scope</th><td>{}</td></tr>\n</table>",
        code(Some(&rule.name_regex_delete)),
        code(rule.name_regex_keep.as_deref()),
        opt(rule.keep_n.map(|n| n.to_string())),
        opt(rule.older_than.as_ref().map(|(t, _)| t.clone())),
        e(&scope)
    );
}

/// One repository's heading (the target of its row's link) and the table of its tags, each
/// with what the rule does to it.
fn repository_table(body: &mut String, paths: Paths<'_>, item: &RepoReport<'_>) {
    let e = html_escape;
    let _ = writeln!(
        body,
        "<h2 id=\"{}\"><a href=\"{}\">{}</a></h2>",
        e(&crate::http::percent::encode(item.name)),
        e(&paths.repository(item.name)),
        e(item.name)
    );
    table_head(body, &["tag", "action", "created", "size", "digest"]);
    let rows = item
        .delete
        .iter()
        .map(|t| (*t, "delete".to_string()))
        .chain(
            item.keep
                .iter()
                .map(|(t, why)| (*t, format!("keep ({})", why.as_str()))),
        );
    for (t, action) in rows {
        let _ = writeln!(
            body,
            "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            e(&paths.tag(item.name, &t.name)),
            e(&t.name),
            action,
            t.created.map_or_else(|| "unknown".to_string(), format_rfc3339),
            bytes(t.size),
            e(&t.digest.to_string())
        );
    }
    body.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cleanup::{dry_run, Limits};
    use crate::hal::human_bytes;
    use crate::snapshot::{RepositoryInput, SnapshotInput, TagInput};
    use serde_json::{json, Value};

    fn snap() -> Snapshot {
        let tag = |name: &str, created: Option<i64>, blobs: &[&str]| TagInput {
            name: name.into(),
            digest: format!("sha256:{name}"),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            platforms: vec![],
            blobs: blobs.iter().map(|s| s.to_string()).collect(),
            created,
        };
        Snapshot::build(SnapshotInput {
            timestamp: 1795438748.5,
            repositories: vec![
                RepositoryInput {
                    name: "g/<app>".into(),
                    tags: Some(vec![
                        tag("latest", Some(1_000), &["a", "b"]),
                        tag("v1", Some(1_000), &["a", "b"]),
                        tag("v2", None, &["a", "c"]),
                        tag("x", Some(1_000), &["d"]),
                    ]),
                    stale_since: None,
                },
                RepositoryInput {
                    name: "h/other".into(),
                    tags: Some(vec![tag("keep", Some(1_000), &["z"])]),
                    stale_since: None,
                },
            ],
            blobs: [("a", 10), ("b", 20), ("c", 40), ("d", 80), ("z", 1)]
                .into_iter()
                .map(|(d, s)| (d.to_string(), s))
                .collect(),
        })
        .unwrap()
    }

    #[test]
    fn json_shape() {
        let s = snap();
        let rule = Rule::parse(
            "name_regex_delete=v.*|latest&keep_n=0&older_than=1h",
            Limits::default(),
        )
        .unwrap();
        let report = dry_run(&s, &rule, 1_000_000).unwrap();
        let v: Value =
            serde_json::from_slice(&render_json(&s, &rule, &report, "/p", true)).unwrap();
        assert_eq!(
            v,
            json!({
                "timestamp": 1795438748.5,
                "freed_bytes": 0,
                "tags_deleted": 1,
                "tags_kept": 2,
                "tags_not_matched": 2,
                "repositories": 2,
                "_links": {"self": {"href": "/p/cleanup?name_regex_delete=v.%2A%7Clatest&keep_n=0&older_than=1h"}},
                "_embedded": {"items": [{
                    "name": "g/<app>",
                    "freed_bytes": 0,
                    "delete": ["v1"],
                    "keep": [{"name": "latest", "reason": "latest"}, {"name": "v2", "reason": "age"}],
                    "tags_not_matched": 1,
                    "_links": {"repository": {"href": "/p/repositories/g%2F%3Capp%3E"}}
                }]}
            })
        );
        // without links: no _links anywhere
        let v: Value = serde_json::from_slice(&render_json(&s, &rule, &report, "", false)).unwrap();
        assert!(v.get("_links").is_none());
        assert!(v["_embedded"]["items"][0].get("_links").is_none());
    }

    #[test]
    fn html_tables_escape_everything() {
        let s = snap();
        let rule = Rule::parse(
            "name_regex_delete=.*&name_regex_keep=%3Cb%3E",
            Limits::default(),
        )
        .unwrap();
        let report = dry_run(&s, &rule, 1_000_000).unwrap();
        let html = render_html(&s, &rule, &report, "");
        assert!(!html.contains("<app>") && !html.contains("<b>"), "{html}");
        assert!(html.contains("g/&lt;app&gt;"));
        assert!(html.contains("<td>delete</td>") && html.contains("keep (latest)"));
        assert!(html.contains(&format!("<strong>{}", human_bytes(report.freed_bytes))));
        // "a" and "b" stay with "latest"
        assert_eq!(report.freed_bytes, 40 + 80 + 1);
    }
}
