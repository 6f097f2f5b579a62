//! The API's HTML view, for curl users and browsers that send `Accept: text/html`: the same
//! resources as the HAL JSON, as tables, with the crawl time as a date and "N minutes ago".
//!
//! Pure: the current time is a parameter. Every name and value is escaped; nothing here
//! loads scripts, styles or images from anywhere.

use std::fmt::Write as _;

use super::listing::Listing;
use super::{Paths, Resource};
use crate::snapshot::time::format_rfc3339;
use crate::snapshot::{Namespace, Repository, Snapshot, Tag};

/// Escapes text for HTML element content and attribute values.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Bytes in binary units for people (`1.5 MiB`); the exact number stays beside it.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// How long ago `secs` seconds is, for people: `just now`, `1 minute ago`, `95 minutes ago`,
/// `5 hours ago`, `3 days ago`. A time in the future (clock skew) is "just now".
pub(crate) fn ago(secs: i64) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" });
    match secs {
        ..=59 => "just now".into(),
        60..=7_199 => plural(secs / 60, "minute"),
        7_200..=172_799 => plural(secs / 3600, "hour"),
        _ => plural(secs / 86_400, "day"),
    }
}

/// A crawl time for people: `2026-11-30 19:04:05 UTC (12 minutes ago)`.
pub(crate) fn crawl_time(timestamp: f64, now: u64) -> String {
    let at = timestamp.floor() as i64;
    let date = format_rfc3339(at).replace('T', " ").replace('Z', " UTC");
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    format!("{date} ({})", ago(now.saturating_sub(at)))
}

fn opt_bytes(n: Option<u64>) -> String {
    match n {
        Some(n) => format!("{} <small>({n})</small>", human_bytes(n)),
        None => "unknown".into(),
    }
}

/// A byte count for a table cell: human-readable, with the exact number beside it.
pub(crate) fn bytes(n: u64) -> String {
    opt_bytes(Some(n))
}

/// Opens a table with a row of these column headings (plain text, not escaped).
pub(crate) fn table_head(body: &mut String, columns: &[&str]) {
    body.push_str("<table>\n<tr>");
    for c in columns {
        let _ = write!(body, "<th>{c}</th>");
    }
    body.push_str("</tr>\n");
}

fn repo_rows<'a>(body: &mut String, paths: Paths<'_>, repos: impl Iterator<Item = &'a Repository>) {
    let e = html_escape;
    table_head(
        body,
        &["repository", "tags", "size", "disk size", "freeable"],
    );
    for r in repos {
        let _ = writeln!(
            body,
            "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e(&paths.repository(&r.name)),
            e(&r.name),
            r.tags
                .as_ref()
                .map_or("unknown".into(), |t| t.len().to_string()),
            opt_bytes(r.size),
            opt_bytes(r.disk_size),
            opt_bytes(r.exclusive_size)
        );
    }
    body.push_str("</table>\n");
}

fn namespace_rows<'a>(
    body: &mut String,
    paths: Paths<'_>,
    namespaces: impl Iterator<Item = &'a Namespace>,
) {
    let e = html_escape;
    table_head(
        body,
        &[
            "namespace",
            "repositories",
            "tags",
            "size",
            "disk size",
            "freeable",
        ],
    );
    for ns in namespaces {
        let _ = writeln!(
            body,
            "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e(&paths.namespace(&ns.name)),
            e(&ns.name),
            ns.repositories,
            ns.tags,
            bytes(ns.size),
            bytes(ns.disk_size),
            bytes(ns.exclusive_size)
        );
    }
    body.push_str("</table>\n");
}

/// "Showing 11–20 of 57" and the links to the neighbouring pages.
fn page_nav(body: &mut String, listing: &Listing, base: &str, shown: usize, total: usize) {
    if !listing.present {
        return;
    }
    let from = if shown == 0 { 0 } else { listing.offset + 1 };
    let _ = write!(
        body,
        "<p>Showing {from}–{} of {total}.",
        listing.offset + shown
    );
    if let Some(prev) = listing.prev_href(base) {
        let _ = write!(
            body,
            " <a href=\"{}\">previous page</a>",
            html_escape(&prev)
        );
    }
    if let Some(next) = listing.next_href(base, total) {
        let _ = write!(body, " <a href=\"{}\">next page</a>", html_escape(&next));
    }
    body.push_str("</p>\n");
}

/// The same data as an HTML page with tables, for a browser. Every value is escaped. `now`
/// (Unix seconds) dates the crawl ("12 minutes ago").
pub(crate) fn render_html(
    snap: &Snapshot,
    res: Resource<'_>,
    listing: &Listing,
    prefix: &str,
    now: u64,
) -> String {
    let paths = Paths { prefix };
    let e = html_escape;
    let mut body = String::new();
    let title;
    let collected = format!("Collected {}.", crawl_time(snap.timestamp, now));
    match res {
        Resource::Collection => {
            title = "Repositories".to_string();
            let total: u64 = snap.repositories.iter().filter_map(|r| r.disk_size).sum();
            let _ = writeln!(
                body,
                "<p>{} repositories, {} tags, {} on disk. {collected} <a href=\"{}\">Namespaces</a>.</p>",
                snap.repositories.len(),
                snap.tag_count(),
                bytes(total),
                e(&paths.namespaces())
            );
            if listing.present {
                let page = listing.page(&snap.repositories, None);
                let base = paths.collection();
                page_nav(&mut body, listing, &base, page.items.len(), page.total);
                repo_rows(&mut body, paths, page.items.iter().copied());
            } else {
                repo_rows(&mut body, paths, snap.repositories.iter());
            }
        }
        Resource::Namespaces => {
            title = "Namespaces".to_string();
            let _ = writeln!(
                body,
                "<p>{} namespaces. {collected} <a href=\"{}\">Repositories</a>.</p>",
                snap.namespaces.len(),
                e(&paths.collection())
            );
            if listing.present {
                let page = listing.page(&snap.namespaces, None);
                let base = paths.namespaces();
                page_nav(&mut body, listing, &base, page.items.len(), page.total);
                namespace_rows(&mut body, paths, page.items.iter().copied());
            } else {
                namespace_rows(&mut body, paths, snap.namespaces.iter());
            }
        }
        Resource::Namespace(ns) => {
            title = format!("Namespace {}", ns.name);
            let _ = writeln!(body, "<p>{collected}</p>");
            namespace_rows(&mut body, paths, std::iter::once(ns));
            repo_rows(&mut body, paths, snap.repositories_below(ns).iter());
        }
        Resource::Repository(repo) => {
            title = format!("Repository {}", repo.name);
            let _ = writeln!(body, "<p>{collected}</p>");
            if let Some(since) = repo.stale_since {
                let _ = writeln!(
                    body,
                    "<p>Could not be refreshed since {}; these are older numbers.</p>",
                    crawl_time(since, now)
                );
            }
            repo_rows(&mut body, paths, std::iter::once(repo));
            let _ = writeln!(
                body,
                "<p><a href=\"{}\">tags</a></p>",
                e(&paths.tags(&repo.name))
            );
        }
        Resource::Tags(repo) => {
            title = format!("Tags of {}", repo.name);
            let _ = writeln!(body, "<p>{collected}</p>");
            tag_rows(&mut body, paths, repo);
        }
        Resource::Tag(repo, tag) => {
            title = format!("{}:{}", repo.name, tag.name);
            tag_details(&mut body, tag, &collected);
        }
    }
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title>\
<style>{STYLE}</style>\
</head><body>\n<h1>{t}</h1>\n{body}</body></html>\n",
        t = e(&title)
    )
}

/// The one inline style of the HTML views (this page's and the clean-up dry run's); their
/// Content-Security-Policy allows exactly this text by its hash (see `server`).
pub(crate) const STYLE: &str = "body{font-family:sans-serif}table{border-collapse:collapse;margin-bottom:1em}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}";

/// The table of a repository's tags: their sizes and digests, each linked to its resource.
fn tag_rows(body: &mut String, paths: Paths<'_>, repo: &Repository) {
    let e = html_escape;
    table_head(body, &["tag", "size", "disk size", "freeable", "digest"]);
    for t in repo.tags.as_deref().unwrap_or(&[]) {
        let _ = writeln!(
            body,
            "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            e(&paths.tag(&repo.name, &t.name)),
            e(&t.name),
            bytes(t.size),
            bytes(t.disk_size),
            bytes(t.exclusive_size),
            e(&t.digest.to_string())
        );
    }
    body.push_str("</table>\n");
}

/// The table of one tag's numbers after the `collected` line, and its platforms' sizes.
fn tag_details(body: &mut String, tag: &Tag, collected: &str) {
    let e = html_escape;
    let _ = writeln!(
        body,
        "<p>{collected}</p>\n<table>\n<tr><th>name</th><td>{}</td></tr>\n<tr><th>size</th><td>{}</td></tr>\n<tr><th>disk size</th><td>{}</td></tr>\n<tr><th>freeable</th><td>{}</td></tr>\n<tr><th>digest</th><td><code>{}</code></td></tr>\n<tr><th>media type</th><td>{}</td></tr>\n<tr><th>created</th><td>{}</td></tr>\n</table>",
        e(&tag.name),
        bytes(tag.size),
        bytes(tag.disk_size),
        bytes(tag.exclusive_size),
        e(&tag.digest.to_string()),
        e(&tag.media_type),
        tag.created.map_or("unknown".into(), format_rfc3339)
    );
    if !tag.platforms.is_empty() {
        table_head(body, &["os", "architecture", "variant", "size"]);
        for p in &tag.platforms {
            let _ = writeln!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                e(&p.os),
                e(&p.architecture),
                e(p.variant.as_deref().unwrap_or("")),
                bytes(p.size)
            );
        }
        body.push_str("</table>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ago_for_people() {
        assert_eq!(ago(-5), "just now");
        assert_eq!(ago(59), "just now");
        assert_eq!(ago(60), "1 minute ago");
        assert_eq!(ago(12 * 60 + 30), "12 minutes ago");
        assert_eq!(ago(7_199), "119 minutes ago");
        assert_eq!(ago(7_200), "2 hours ago");
        assert_eq!(ago(3 * 86_400 + 5), "3 days ago");
        assert_eq!(
            crawl_time(1_700_000_000.7, 1_700_000_000 + 720),
            "2023-11-14 22:13:20 UTC (12 minutes ago)"
        );
    }

    #[test]
    fn escaping_and_units() {
        assert_eq!(
            html_escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(12), "12 B");
    }
}
