//! The API's resources and their HAL rendering: which resource a path names in a snapshot,
//! the `embed`/`links` query, percent-encoding of names in links, and the JSON (and HTML)
//! bodies, written straight from the snapshot without copying it.
//!
//! Pure functions over a [`Snapshot`]: no sockets, files, clocks or threads, and no knowledge
//! of authentication or HTTP status codes beyond "this resource does not exist".

use std::fmt::Write as _;

use crate::percent::{decode as percent_decode, encode as encode_segment};

use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;

use crate::snapshot::{Repository, Snapshot, Tag};
use crate::timefmt::format_rfc3339;

/// What the query string asks for: embedding depth and links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Query {
    /// Levels of `_embedded` below the requested resource (`usize::MAX` for all).
    pub embed: usize,
    pub links: bool,
}

impl Query {
    /// Parses `embed` and `links` from a raw query string (the part after `?`). The first
    /// occurrence of a key wins; unknown keys are ignored; words match case-insensitively.
    pub fn parse(raw: &str) -> Query {
        let mut q = Query::default();
        let (mut seen_embed, mut seen_links) = (false, false);
        for pair in raw.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode_query_component(k).unwrap_or_default();
            let value = decode_query_component(v).unwrap_or_default();
            let value = value.trim().to_ascii_lowercase();
            match key.as_str() {
                "embed" if !seen_embed => {
                    seen_embed = true;
                    q.embed = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
                        value.parse().unwrap_or(usize::MAX)
                    } else if matches!(value.as_str(), "true" | "yes" | "t" | "y") {
                        usize::MAX
                    } else {
                        0
                    };
                }
                "links" if !seen_links => {
                    seen_links = true;
                    q.links = matches!(value.as_str(), "true" | "yes" | "1" | "t" | "y");
                }
                _ => {}
            }
        }
        q
    }
}

fn decode_query_component(s: &str) -> Option<String> {
    percent_decode(&s.replace('+', " "))
}

/// A resource of the API, borrowed from a snapshot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resource<'a> {
    Collection,
    Repository(&'a Repository),
    Tags(&'a Repository),
    Tag(&'a Repository, &'a Tag),
}

/// Builds the canonical paths of resources under a server prefix (`""` or `/prefix`).
#[derive(Debug, Clone, Copy)]
pub struct Paths<'a> {
    pub prefix: &'a str,
}

impl Paths<'_> {
    pub fn collection(&self) -> String {
        format!("{}/repositories", self.prefix)
    }
    pub fn repository(&self, repo: &str) -> String {
        format!("{}/repositories/{}", self.prefix, encode_segment(repo))
    }
    pub fn tags(&self, repo: &str) -> String {
        format!("{}/repositories/{}/tags", self.prefix, encode_segment(repo))
    }
    pub fn tag(&self, repo: &str, tag: &str) -> String {
        format!(
            "{}/repositories/{}/tags/{}",
            self.prefix,
            encode_segment(repo),
            encode_segment(tag)
        )
    }
}

/// Finds the resource named by the path below `/repositories` (`rest` is `""` or starts
/// with `/`, still percent-encoded). On failure returns the canonical path for the 404 body.
///
/// Raw slashes and `%2F` are both accepted. A first segment holding an encoded slash is the
/// canonical form and names the repository by itself. Otherwise the repository is the
/// longest run of leading segments that names a repository and leaves a valid remainder
/// (nothing, `tags`, or `tags/<tag>`): `/repositories/a/tags` is repository `a/tags` if it
/// exists, else the tags of `a`.
pub fn resolve<'a>(
    snap: &'a Snapshot,
    rest: &str,
    paths: Paths<'_>,
) -> Result<Resource<'a>, String> {
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Ok(Resource::Collection);
    }
    let Some(raw) = rest.strip_prefix('/') else {
        return Err(format!("{}{}", paths.collection(), rest));
    };
    let segs: Option<Vec<String>> = raw.split('/').map(percent_decode).collect();
    let Some(segs) = segs else {
        // Not UTF-8 or a broken escape: no such name can exist; echo the path re-encoded.
        let lossy: Vec<String> = raw.split('/').map(encode_segment).collect();
        return Err(format!("{}/{}", paths.collection(), lossy.join("/")));
    };
    // A first segment with an encoded slash is the canonical form: it is the whole name.
    let longest = if segs[0].contains('/') { 1 } else { segs.len() };
    for k in (1..=longest).rev() {
        let name = segs[..k].join("/");
        let Some(repo) = snap.repository(&name) else {
            continue;
        };
        match &segs[k..] {
            [] => return Ok(Resource::Repository(repo)),
            [t] if t == "tags" => return Ok(Resource::Tags(repo)),
            [t, tag] if t == "tags" => {
                return match repo.tag(tag) {
                    Some(found) => Ok(Resource::Tag(repo, found)),
                    None => Err(paths.tag(&repo.name, tag)),
                };
            }
            _ => continue,
        }
    }
    // Unknown: name the canonical path the request most likely meant.
    let n = segs.len();
    Err(if n >= 3 && segs[n - 2] == "tags" {
        paths.tag(&segs[..n - 2].join("/"), &segs[n - 1])
    } else if n >= 2 && segs[n - 1] == "tags" {
        paths.tags(&segs[..n - 1].join("/"))
    } else {
        paths.repository(&segs.join("/"))
    })
}

/// Rendering context shared by all views of one response.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    paths: Paths<'a>,
    links: bool,
}

struct Href<'a> {
    href: String,
    title: Option<&'a str>,
}

impl Serialize for Href<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("href", &self.href)?;
        if let Some(t) = self.title {
            m.serialize_entry("title", t)?;
        }
        m.end()
    }
}

fn href(href: String) -> Href<'static> {
    Href { href, title: None }
}

/// A list serialised lazily from an iterator factory (no intermediate Vec of views).
struct Seq<F>(F);

impl<I, T, F> Serialize for Seq<F>
where
    F: Fn() -> I,
    I: Iterator<Item = T>,
    T: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let iter = (self.0)();
        let mut seq = s.serialize_seq(None)?;
        for item in iter {
            seq.serialize_element(&item)?;
        }
        seq.end()
    }
}

struct Single<K: Serialize, V: Serialize>(K, V);

impl<K: Serialize, V: Serialize> Serialize for Single<K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(&self.0, &self.1)?;
        m.end()
    }
}

struct CollectionView<'a> {
    ctx: Ctx<'a>,
    snap: &'a Snapshot,
    embed: usize,
}

impl Serialize for CollectionView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Self { ctx, snap, embed } = *self;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("timestamp", &snap.timestamp)?;
        if ctx.links {
            let items = Seq(|| {
                snap.repositories.iter().map(|r| Href {
                    href: ctx.paths.repository(&r.name),
                    title: Some(&r.name),
                })
            });
            m.serialize_entry(
                "_links",
                &Links2("self", href(ctx.paths.collection()), "items", items),
            )?;
        }
        if embed > 0 {
            let items = Seq(|| {
                snap.repositories.iter().map(|repo| RepoView {
                    ctx,
                    repo,
                    embed: embed - 1,
                })
            });
            m.serialize_entry("_embedded", &Single("items", items))?;
        }
        m.end()
    }
}

struct Links2<A: Serialize, B: Serialize>(&'static str, A, &'static str, B);

impl<A: Serialize, B: Serialize> Serialize for Links2<A, B> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry(self.0, &self.1)?;
        m.serialize_entry(self.2, &self.3)?;
        m.end()
    }
}

struct RepoView<'a> {
    ctx: Ctx<'a>,
    repo: &'a Repository,
    embed: usize,
}

impl Serialize for RepoView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Self { ctx, repo, embed } = *self;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", &repo.name)?;
        m.serialize_entry("size", &repo.size)?;
        m.serialize_entry("disk_size", &repo.disk_size)?;
        if let Some(tags) = &repo.tags {
            m.serialize_entry("tags", &tags.len())?;
        }
        if let Some(since) = repo.stale_since {
            m.serialize_entry("stale_since", &since)?;
        }
        if ctx.links {
            m.serialize_entry("_links", &RepoLinks { ctx, repo })?;
        }
        if embed > 0 {
            m.serialize_entry(
                "_embedded",
                &Single(
                    "related",
                    TagsView {
                        ctx,
                        repo,
                        embed: embed - 1,
                    },
                ),
            )?;
        }
        m.end()
    }
}

struct RepoLinks<'a> {
    ctx: Ctx<'a>,
    repo: &'a Repository,
}

impl Serialize for RepoLinks<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("self", &href(self.ctx.paths.repository(&self.repo.name)))?;
        m.serialize_entry("collection", &href(self.ctx.paths.collection()))?;
        m.serialize_entry(
            "related",
            &Href {
                href: self.ctx.paths.tags(&self.repo.name),
                title: Some("tags"),
            },
        )?;
        m.end()
    }
}

struct TagsView<'a> {
    ctx: Ctx<'a>,
    repo: &'a Repository,
    embed: usize,
}

impl Serialize for TagsView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Self { ctx, repo, embed } = *self;
        let tags: &[Tag] = repo.tags.as_deref().unwrap_or(&[]);
        let mut m = s.serialize_map(None)?;
        if ctx.links {
            let items = Seq(|| {
                tags.iter().map(|t| Href {
                    href: ctx.paths.tag(&repo.name, &t.name),
                    title: Some(&t.name),
                })
            });
            m.serialize_entry(
                "_links",
                &TagsLinks {
                    this: href(ctx.paths.tags(&repo.name)),
                    up: href(ctx.paths.repository(&repo.name)),
                    items,
                },
            )?;
        }
        if embed > 0 {
            let items = Seq(|| tags.iter().map(|tag| TagView { ctx, repo, tag }));
            m.serialize_entry("_embedded", &Single("items", items))?;
        }
        m.end()
    }
}

struct TagsLinks<F> {
    this: Href<'static>,
    up: Href<'static>,
    items: Seq<F>,
}

impl<'a, F, I> Serialize for TagsLinks<F>
where
    F: Fn() -> I,
    I: Iterator<Item = Href<'a>>,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("self", &self.this)?;
        m.serialize_entry("up", &self.up)?;
        m.serialize_entry("items", &self.items)?;
        m.end()
    }
}

struct TagView<'a> {
    ctx: Ctx<'a>,
    repo: &'a Repository,
    tag: &'a Tag,
}

impl Serialize for TagView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Self { ctx, repo, tag } = *self;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", &tag.name)?;
        m.serialize_entry("size", &tag.size)?;
        m.serialize_entry("disk_size", &tag.disk_size)?;
        if !tag.digest.is_empty() {
            m.serialize_entry("digest", &tag.digest)?;
        }
        if !tag.media_type.is_empty() {
            m.serialize_entry("media_type", &*tag.media_type)?;
        }
        if !tag.platforms.is_empty() {
            m.serialize_entry("platforms", &tag.platforms)?;
        }
        m.serialize_entry("created", &tag.created.map(format_rfc3339))?;
        if ctx.links {
            m.serialize_entry(
                "_links",
                &Links2(
                    "self",
                    href(ctx.paths.tag(&repo.name, &tag.name)),
                    "collection",
                    href(ctx.paths.tags(&repo.name)),
                ),
            )?;
        }
        m.end()
    }
}

/// The HAL JSON body of `res`.
pub fn render_json(snap: &Snapshot, res: Resource<'_>, query: Query, prefix: &str) -> Vec<u8> {
    let ctx = Ctx {
        paths: Paths { prefix },
        links: query.links,
    };
    let embed = query.embed;
    let mut out = Vec::with_capacity(256);
    // Serialising borrowed plain data into a Vec cannot fail.
    let _ = match res {
        Resource::Collection => {
            serde_json::to_writer(&mut out, &CollectionView { ctx, snap, embed })
        }
        Resource::Repository(repo) => {
            serde_json::to_writer(&mut out, &RepoView { ctx, repo, embed })
        }
        Resource::Tags(repo) => serde_json::to_writer(&mut out, &TagsView { ctx, repo, embed }),
        Resource::Tag(repo, tag) => serde_json::to_writer(&mut out, &TagView { ctx, repo, tag }),
    };
    out
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
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
pub fn human_bytes(n: u64) -> String {
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

fn opt_bytes(n: Option<u64>) -> String {
    match n {
        Some(n) => format!("{} <small>({n})</small>", human_bytes(n)),
        None => "unknown".into(),
    }
}

/// The same data as an HTML page with tables, for a browser. Every value is escaped.
pub fn render_html(snap: &Snapshot, res: Resource<'_>, prefix: &str) -> String {
    let paths = Paths { prefix };
    let e = html_escape;
    let mut body = String::new();
    let title;
    let repo_rows = |body: &mut String, repos: &mut dyn Iterator<Item = &Repository>| {
        body.push_str(
            "<table>\n<tr><th>repository</th><th>tags</th><th>size</th><th>disk size</th></tr>\n",
        );
        for r in repos {
            let _ = writeln!(
                body,
                "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                e(&paths.repository(&r.name)),
                e(&r.name),
                r.tags
                    .as_ref()
                    .map_or("unknown".into(), |t| t.len().to_string()),
                opt_bytes(r.size),
                opt_bytes(r.disk_size)
            );
        }
        body.push_str("</table>\n");
    };
    let tag_rows = |body: &mut String, repo: &Repository| {
        body.push_str(
            "<table>\n<tr><th>tag</th><th>size</th><th>disk size</th><th>digest</th></tr>\n",
        );
        for t in repo.tags.as_deref().unwrap_or(&[]) {
            let _ = writeln!(
                body,
                "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                e(&paths.tag(&repo.name, &t.name)),
                e(&t.name),
                opt_bytes(Some(t.size)),
                opt_bytes(Some(t.disk_size)),
                e(&t.digest.to_string())
            );
        }
        body.push_str("</table>\n");
    };
    match res {
        Resource::Collection => {
            title = "Repositories".to_string();
            let total: u64 = snap.repositories.iter().filter_map(|r| r.disk_size).sum();
            let _ = writeln!(
                body,
                "<p>{} repositories, {} tags, {} on disk. Collected at Unix time {}.</p>",
                snap.repositories.len(),
                snap.tag_count(),
                opt_bytes(Some(total)),
                snap.timestamp
            );
            repo_rows(&mut body, &mut snap.repositories.iter());
        }
        Resource::Repository(repo) => {
            title = format!("Repository {}", repo.name);
            repo_rows(&mut body, &mut std::iter::once(repo));
            let _ = writeln!(
                body,
                "<p><a href=\"{}\">tags</a></p>",
                e(&paths.tags(&repo.name))
            );
        }
        Resource::Tags(repo) => {
            title = format!("Tags of {}", repo.name);
            tag_rows(&mut body, repo);
        }
        Resource::Tag(repo, tag) => {
            title = format!("{}:{}", repo.name, tag.name);
            let _ = writeln!(
                body,
                "<table>\n<tr><th>name</th><td>{}</td></tr>\n<tr><th>size</th><td>{}</td></tr>\n<tr><th>disk size</th><td>{}</td></tr>\n<tr><th>digest</th><td><code>{}</code></td></tr>\n<tr><th>media type</th><td>{}</td></tr>\n</table>",
                e(&tag.name),
                opt_bytes(Some(tag.size)),
                opt_bytes(Some(tag.disk_size)),
                e(&tag.digest.to_string()),
                e(&tag.media_type)
            );
            if !tag.platforms.is_empty() {
                body.push_str("<table>\n<tr><th>os</th><th>architecture</th><th>variant</th><th>size</th></tr>\n");
                for p in &tag.platforms {
                    let _ = writeln!(
                        body,
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        e(&p.os),
                        e(&p.architecture),
                        e(p.variant.as_deref().unwrap_or("")),
                        opt_bytes(Some(p.size))
                    );
                }
                body.push_str("</table>\n");
            }
        }
    }
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title>\
<style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}}</style>\
</head><body>\n<h1>{t}</h1>\n{body}</body></html>\n",
        t = e(&title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{RepositoryInput, SnapshotInput, TagInput};
    use serde_json::{json, Value};

    fn snap() -> Snapshot {
        let tag = |name: &str, blobs: &[&str]| TagInput {
            name: name.into(),
            digest: "sha256:m".into(),
            media_type: "application/vnd.docker.distribution.manifest.v2+json".into(),
            platforms: vec![],
            blobs: blobs.iter().map(|s| s.to_string()).collect(),
            created: None,
        };
        Snapshot::build(SnapshotInput {
            timestamp: 1795438748.159703,
            repositories: vec![
                RepositoryInput {
                    name: "base/alpine".into(),
                    tags: Some(vec![tag("latest", &["c", "l"]), tag("stable", &["c", "l"])]),
                    stale_since: None,
                },
                RepositoryInput {
                    name: "a".into(),
                    tags: Some(vec![tag("tags", &["d"])]),
                    stale_since: None,
                },
                RepositoryInput {
                    name: "a/tags".into(),
                    tags: Some(vec![]),
                    stale_since: None,
                },
                RepositoryInput {
                    name: "never".into(),
                    tags: None,
                    stale_since: None,
                },
            ],
            blobs: [
                ("c".to_string(), 290),
                ("l".to_string(), 9000),
                ("d".to_string(), 1),
            ]
            .into_iter()
            .collect(),
        })
        .unwrap()
    }

    fn json_of(s: &Snapshot, path: &str, q: &str, prefix: &str) -> Value {
        let res = resolve(s, path, Paths { prefix }).unwrap();
        serde_json::from_slice(&render_json(s, res, Query::parse(q), prefix)).unwrap()
    }

    #[test]
    fn query_words() {
        assert_eq!(
            Query::parse(""),
            Query {
                embed: 0,
                links: false
            }
        );
        assert_eq!(
            Query::parse("embed=true&links=TRUE"),
            Query {
                embed: usize::MAX,
                links: true
            }
        );
        assert_eq!(
            Query::parse("embed=2&links=1"),
            Query {
                embed: 2,
                links: true
            }
        );
        assert_eq!(
            Query::parse("embed=1&links=no"),
            Query {
                embed: 1,
                links: false
            }
        );
        assert_eq!(Query::parse("embed=banana"), Query::default());
        assert_eq!(
            Query::parse("embed=Y&embed=0"),
            Query {
                embed: usize::MAX,
                links: false
            }
        );
        assert_eq!(
            Query::parse("embed=99999999999999999999999"),
            Query {
                embed: usize::MAX,
                links: false
            }
        );
        assert_eq!(
            Query::parse("links=%74rue"),
            Query {
                embed: 0,
                links: true
            }
        );
    }

    #[test]
    fn shapes_match_the_contract_examples() {
        let s = snap();
        assert_eq!(
            json_of(&s, "", "", ""),
            json!({"timestamp": 1795438748.159703})
        );
        assert_eq!(
            json_of(&s, "/base%2Falpine", "", ""),
            json!({"name": "base/alpine", "size": 18580, "disk_size": 9290, "tags": 2})
        );
        assert_eq!(json_of(&s, "/base%2Falpine/tags", "", ""), json!({}));
        assert_eq!(
            json_of(&s, "/base%2Falpine", "links=true&embed=1", ""),
            json!({"name": "base/alpine", "size": 18580, "disk_size": 9290, "tags": 2,
                "_links": {"self": {"href": "/repositories/base%2Falpine"},
                           "collection": {"href": "/repositories"},
                           "related": {"href": "/repositories/base%2Falpine/tags", "title": "tags"}},
                "_embedded": {"related": {
                    "_links": {"self": {"href": "/repositories/base%2Falpine/tags"},
                               "up": {"href": "/repositories/base%2Falpine"},
                               "items": [{"href": "/repositories/base%2Falpine/tags/latest", "title": "latest"},
                                         {"href": "/repositories/base%2Falpine/tags/stable", "title": "stable"}]}}}})
        );
        let t = json_of(&s, "/base/alpine/tags/latest", "links=true", "/pre");
        assert_eq!(
            t["_links"]["self"]["href"],
            "/pre/repositories/base%2Falpine/tags/latest"
        );
        assert_eq!(
            t["_links"]["collection"]["href"],
            "/pre/repositories/base%2Falpine/tags"
        );
        assert_eq!(
            (t["size"].as_u64(), t["disk_size"].as_u64()),
            (Some(9290), Some(9290))
        );
    }

    #[test]
    fn embed_levels_and_client_read_path() {
        let s = snap();
        let all = json_of(&s, "", "embed=true", "");
        let items = all["_embedded"]["items"].as_array().unwrap();
        assert_eq!(items.len(), 4);
        let alpine = items.iter().find(|r| r["name"] == "base/alpine").unwrap();
        assert_eq!(
            alpine["_embedded"]["related"]["_embedded"]["items"][1]["disk_size"],
            0
        );
        // a repository without tags, and one never read, still have _embedded.items
        for name in ["a/tags", "never"] {
            let r = items.iter().find(|r| r["name"] == name).unwrap();
            assert_eq!(
                r["_embedded"]["related"]["_embedded"]["items"],
                json!([]),
                "{name}"
            );
        }
        let never = items.iter().find(|r| r["name"] == "never").unwrap();
        assert_eq!(
            (never["size"].clone(), never["disk_size"].clone()),
            (Value::Null, Value::Null)
        );
        let two = json_of(&s, "", "embed=2", "");
        assert!(two["_embedded"]["items"][0]["_embedded"]["related"]
            .get("_embedded")
            .is_none());
        assert_eq!(
            two["_embedded"]["items"][0]["_embedded"]["related"],
            json!({})
        );
        let one = json_of(&s, "", "embed=1", "");
        assert!(one["_embedded"]["items"][0].get("_embedded").is_none());
        let tags = json_of(&s, "/never/tags", "embed=1", "");
        assert_eq!(tags, json!({"_embedded": {"items": []}}));
    }

    #[test]
    fn routing_raw_slashes_and_tags_ambiguity() {
        let s = snap();
        let p = Paths { prefix: "" };
        assert!(
            matches!(resolve(&s, "/a/tags", p), Ok(Resource::Repository(r)) if r.name == "a/tags")
        );
        assert!(
            matches!(resolve(&s, "/a%2Ftags", p), Ok(Resource::Repository(r)) if r.name == "a/tags")
        );
        assert!(
            matches!(resolve(&s, "/a/tags/tags", p), Ok(Resource::Tags(r)) if r.name == "a/tags")
        );
        assert!(
            matches!(resolve(&s, "/a/tags/tags", p), Ok(Resource::Tags(r)) if r.name == "a/tags")
        );
        assert!(
            matches!(resolve(&s, "/a/tags/latest", p), Err(e) if e == "/repositories/a/tags/latest")
        );
        // "a/tags" leaves "x", which is no valid remainder; "a" leaves "tags/x", a missing tag
        assert_eq!(
            resolve(&s, "/a/tags/x", p).unwrap_err(),
            "/repositories/a/tags/x"
        );
        assert!(
            matches!(resolve(&s, "/a/tags/tags", p), Ok(Resource::Tags(r)) if r.name == "a/tags")
        );
        assert!(matches!(
            resolve(&s, "/a/tags/tags", p),
            Ok(Resource::Tags(_))
        ));
        assert!(matches!(
            resolve(&s, "/base/alpine/", p),
            Ok(Resource::Repository(_))
        ));
        assert_eq!(
            resolve(&s, "/nope/nope", p).unwrap_err(),
            "/repositories/nope%2Fnope"
        );
        assert_eq!(
            resolve(&s, "/nope%2Fnope/tags", p).unwrap_err(),
            "/repositories/nope%2Fnope/tags"
        );
        assert_eq!(
            resolve(&s, "/base%2Falpine/tags/nope", p).unwrap_err(),
            "/repositories/base%2Falpine/tags/nope"
        );
        assert_eq!(
            resolve(&s, "/base/alpine/blobs", p).unwrap_err(),
            "/repositories/base%2Falpine%2Fblobs"
        );
        assert!(resolve(&s, "/%ff%fe", p).is_err());
        assert!(resolve(&s, "/x%zz", p).is_err());
        assert!(resolve(&s, "/sp%20ace/%F0%9F%90%B3", p).is_err());
    }

    #[test]
    fn html_escapes_everything() {
        let mut s = snap();
        s.repositories[0].name = "<script>alert('x')</script>".into();
        let html = render_html(&s, Resource::Collection, "");
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(12), "12 B");
    }
}
