//! The representations of `GET /policies`: the HAL JSON body (one item per project, as the
//! issue's shape has it, plus `policy`, `protected`, `evaluated_at` and the `_if_enabled`
//! figures of a policy that is off) and an HTML table for a browser, written straight from
//! [`Previews`]. Sorting and paging are the collections' (`sort`, `order`, `q`, `limit`,
//! `offset`), by project path.
//!
//! Pure functions: no I/O, no clock, no HTTP status codes.

use std::fmt::Write as _;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use super::policies::{Previews, ProjectPreview};
use super::view::{RepoItem, Words};
use crate::hal::listing::{Listed, SortKey};
use crate::hal::{html_escape, human_bytes, Listing, Paths};
use crate::snapshot::time::format_rfc3339;
use crate::snapshot::Snapshot;

/// `/policies?sort=`: the project path, or one of the figures.
pub(crate) const SORT_KEYS: [(&str, SortKey); 5] = [
    ("name", SortKey::Name),
    ("project", SortKey::Name),
    ("freed_bytes", SortKey::FreedBytes),
    ("freed_bytes_if_enabled", SortKey::FreedBytesIfEnabled),
    ("tags_deleted", SortKey::TagsDeleted),
];
pub(crate) const SORT_EXPECTED: &str =
    "one of name, project, freed_bytes, freed_bytes_if_enabled, tags_deleted";

impl Listed for ProjectPreview<'_> {
    fn name(&self) -> &str {
        &self.project.path
    }
    fn key(&self, key: SortKey) -> u64 {
        match key {
            SortKey::FreedBytes => self.freed_bytes(),
            SortKey::FreedBytesIfEnabled => self.freed_if_enabled(),
            SortKey::TagsDeleted => self.tags_deleted_if_enabled() as u64,
            _ => 0,
        }
    }
}

struct Item<'a> {
    p: &'a ProjectPreview<'a>,
    paths: Paths<'a>,
    links: bool,
}

impl Serialize for Item<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.p;
        let pol = &p.policy;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("project", &p.project.path)?;
        m.serialize_entry("id", &p.project.id)?;
        m.serialize_entry("web_url", &p.project.web_url)?;
        m.serialize_entry("policy", p.source.as_str())?;
        m.serialize_entry("enabled", &pol.enabled)?;
        m.serialize_entry("cadence", &pol.cadence)?;
        m.serialize_entry("next_run_at", &pol.next_run_at)?;
        m.serialize_entry("keep_n", &pol.keep_n)?;
        m.serialize_entry("older_than", &pol.older_than)?;
        m.serialize_entry("name_regex", &pol.name_regex)?;
        m.serialize_entry("name_regex_keep", &pol.name_regex_keep)?;
        m.serialize_entry("protected", &p.project.protected)?;
        m.serialize_entry("evaluated_at", &format_rfc3339(p.at))?;
        if let Some(e) = &p.error {
            m.serialize_entry("error", e)?;
        }
        m.serialize_entry("freed_bytes", &p.freed_bytes())?;
        m.serialize_entry("tags_deleted", &p.tags_deleted())?;
        if !p.enabled() {
            m.serialize_entry("freed_bytes_if_enabled", &p.freed_if_enabled())?;
            m.serialize_entry("tags_deleted_if_enabled", &p.tags_deleted_if_enabled())?;
        }
        let repos: Vec<RepoItem> = p
            .report
            .iter()
            .flat_map(|r| &r.items)
            .map(|item| RepoItem {
                item,
                paths: self.paths,
                links: self.links,
                words: Words::Policy(&p.project.protected),
            })
            .collect();
        m.serialize_entry("repositories", &repos)?;
        if self.links {
            m.serialize_entry(
                "_links",
                &serde_json::json!({"project": {"href": p.project.web_url}}),
            )?;
        }
        m.end()
    }
}

/// The HAL JSON body of `/policies`: the totals over all projects, one page of items.
pub(crate) fn render_json(
    snap: &Snapshot,
    previews: &Previews<'_>,
    page: &[&ProjectPreview<'_>],
    listing: &Listing,
    total: usize,
    prefix: &str,
    links: bool,
) -> Vec<u8> {
    struct Body<'a> {
        snap: &'a Snapshot,
        previews: &'a Previews<'a>,
        page: &'a [&'a ProjectPreview<'a>],
        listing: &'a Listing,
        total: usize,
        paths: Paths<'a>,
        links: bool,
    }
    impl Serialize for Body<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let p = self.previews;
            let mut m = s.serialize_map(None)?;
            m.serialize_entry("timestamp", &self.snap.timestamp)?;
            m.serialize_entry("freed_bytes", &p.freed_bytes)?;
            m.serialize_entry("tags_deleted", &p.tags_deleted)?;
            m.serialize_entry("projects", &p.enabled)?;
            if self.listing.present {
                m.serialize_entry("total", &self.total)?;
            }
            let base = format!("{}/policies", self.paths.prefix);
            let mut l = serde_json::Map::new();
            if self.links {
                l.insert("self".into(), serde_json::json!({"href": base}));
            }
            if let Some(n) = self.listing.next_href(&base, self.total) {
                l.insert("next".into(), serde_json::json!({"href": n}));
            }
            if let Some(n) = self.listing.prev_href(&base) {
                l.insert("prev".into(), serde_json::json!({"href": n}));
            }
            if !l.is_empty() {
                m.serialize_entry("_links", &l)?;
            }
            let items: Vec<Item> = self
                .page
                .iter()
                .map(|p| Item {
                    p,
                    paths: self.paths,
                    links: self.links,
                })
                .collect();
            m.serialize_entry("_embedded", &Embedded(items))?;
            m.end()
        }
    }
    struct Embedded<'a>(Vec<Item<'a>>);
    impl Serialize for Embedded<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(Some(1))?;
            m.serialize_entry("items", &self.0)?;
            m.end()
        }
    }
    let mut out = Vec::with_capacity(512);
    // Serialising borrowed plain data into a Vec cannot fail.
    let _ = serde_json::to_writer(
        &mut out,
        &Body {
            snap,
            previews,
            page,
            listing,
            total,
            paths: Paths { prefix },
            links,
        },
    );
    out
}

/// The same as an HTML page: one row per project. Every value is escaped.
pub(crate) fn render_html(
    snap: &Snapshot,
    previews: &Previews<'_>,
    page: &[&ProjectPreview<'_>],
) -> String {
    let e = html_escape;
    let bytes = |n: u64| format!("{} <small>({n})</small>", human_bytes(n));
    let mut body = format!(
        "<p>Enabled policies: {}. At their next runs they delete {} tags; garbage collection \
         then frees <strong>{}</strong>. Data collected at Unix time {}.</p>\n<table>\n<tr>\
         <th>project</th><th>policy</th><th>enabled</th><th>next run</th><th>tags deleted</th>\
         <th>freed</th><th>freed if enabled</th><th>error</th></tr>\n",
        previews.enabled,
        previews.tags_deleted,
        bytes(previews.freed_bytes),
        snap.timestamp
    );
    for p in page {
        let _ = writeln!(
            body,
            "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            e(&p.project.web_url),
            e(&p.project.path),
            p.source.as_str(),
            if p.policy.enabled { "yes" } else { "no" },
            e(p.policy.next_run_at.as_deref().unwrap_or("-")),
            p.tags_deleted_if_enabled(),
            bytes(p.freed_bytes()),
            bytes(p.freed_if_enabled()),
            e(p.error.as_deref().unwrap_or("")),
        );
    }
    body.push_str("</table>\n");
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Clean-up policies</title>\
<style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}}</style>\
</head><body>\n<h1>Clean-up policies</h1>\n{body}</body></html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cleanup::policies::preview;
    use crate::cleanup::Limits;
    use crate::snapshot::{ExpirationPolicy, Project, RepositoryInput, SnapshotInput, TagInput};
    use serde_json::{json, Value};

    const NOW: i64 = 1_800_000_000;

    fn tag(name: &str, days_ago: i64, blob: &str) -> TagInput {
        TagInput {
            name: name.into(),
            digest: format!("sha256:{name}"),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            platforms: vec![],
            blobs: vec![blob.into()],
            created: Some(NOW - days_ago * 86_400),
        }
    }

    fn snap() -> Snapshot {
        let policy = crate::cleanup::policies::tests::policy(true);
        let off = ExpirationPolicy {
            enabled: false,
            ..policy.clone()
        };
        Snapshot::build(SnapshotInput {
            timestamp: NOW as f64,
            repositories: vec![
                RepositoryInput {
                    name: "group/project/releases".into(),
                    tags: Some(vec![
                        tag("v1.0.0", 60, "a"),
                        tag("v1.1.0-rc.1", 50, "b"),
                        tag("v1.1.0", 45, "c"),
                        tag("latest", 45, "c"),
                    ]),
                    stale_since: None,
                },
                RepositoryInput {
                    name: "group/<off>".into(),
                    tags: Some(vec![tag("old", 60, "d")]),
                    stale_since: None,
                },
            ],
            blobs: [("a", 10), ("b", 20), ("c", 40), ("d", 80)]
                .into_iter()
                .map(|(d, s)| (d.to_string(), s))
                .collect(),
        })
        .unwrap()
        .with_projects(vec![
            Project {
                id: 3,
                path: "group/project".into(),
                web_url: "https://gitlab.example/group/project".into(),
                policy: Some(policy),
                protected: vec!["^latest$".into()],
            },
            Project {
                id: 4,
                path: "group/<off>".into(),
                web_url: "https://gitlab.example/group/off".into(),
                policy: Some(off),
                protected: vec![],
            },
        ])
    }

    #[test]
    fn json_shape() {
        let s = snap();
        let p = preview(&s, Limits::default());
        let page: Vec<_> = p.items.iter().collect();
        let listing = Listing::default();
        let v: Value =
            serde_json::from_slice(&render_json(&s, &p, &page, &listing, 2, "/p", false)).unwrap();
        let enabled = &v["_embedded"]["items"][1];
        assert_eq!(
            enabled,
            &json!({
                "project": "group/project", "id": 3,
                "web_url": "https://gitlab.example/group/project", "policy": "project",
                "enabled": true, "cadence": "1month", "next_run_at": null, "keep_n": null,
                "older_than": "30d", "name_regex": ".*", "name_regex_keep": "v1\\.1\\.0",
                "protected": ["^latest$"], "evaluated_at": "2027-01-15T08:00:00Z",
                "freed_bytes": 30, "tags_deleted": 2,
                "repositories": [{"name": "group/project/releases", "freed_bytes": 30,
                    "delete": ["v1.0.0", "v1.1.0-rc.1"],
                    "keep": [{"name": "latest", "reason": "latest"},
                             {"name": "v1.1.0", "reason": "name_regex_keep"}],
                    "tags_not_matched": 0}]
            })
        );
        let off = &v["_embedded"]["items"][0];
        assert_eq!(off["freed_bytes"], 0);
        assert_eq!(off["freed_bytes_if_enabled"], 80);
        assert_eq!(off["tags_deleted_if_enabled"], 1);
        assert_eq!(
            (&v["freed_bytes"], &v["tags_deleted"], &v["projects"]),
            (&json!(30), &json!(2), &json!(1))
        );
        assert!(v.get("_links").is_none() && v.get("total").is_none());
        let html = render_html(&s, &p, &page);
        assert!(html.contains("group/&lt;off&gt;") && !html.contains("<off>"));
    }
}
