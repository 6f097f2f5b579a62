//! The API's resources and their HAL rendering: which resource a path names in a snapshot
//! (repositories, their tags, namespaces), the `embed`/`links` query, percent-encoding of names
//! in links, and the JSON bodies, written straight from the snapshot without copying it.
//! [`listing`] sorts, filters and pages the collections; [`html`] is the same data as HTML.
//!
//! Pure functions over a [`Snapshot`]: no sockets, files, clocks or threads (the HTML view is
//! given the time), and no knowledge of authentication or HTTP status codes beyond "this
//! resource does not exist" and "this parameter is malformed".

pub mod html;
pub mod listing;

use crate::percent::{decode as percent_decode, encode as encode_segment};

use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;

pub use html::{html_escape, human_bytes, render_html};
pub use listing::{Listing, ParamError};

use crate::snapshot::{Namespace, Repository, Snapshot, Tag};
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
    Namespaces,
    Namespace(&'a Namespace),
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
    pub fn namespaces(&self) -> String {
        format!("{}/namespaces", self.prefix)
    }
    pub fn namespace(&self, name: &str) -> String {
        format!("{}/namespaces/{}", self.prefix, encode_segment(name))
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

/// Finds the namespace named by the path below `/namespaces` (`rest` is `""` or starts with
/// `/`, still percent-encoded): the name as one encoded segment, or with raw slashes. On
/// failure returns the canonical path for the 404 body.
pub fn resolve_namespace<'a>(
    snap: &'a Snapshot,
    rest: &str,
    paths: Paths<'_>,
) -> Result<Resource<'a>, String> {
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Ok(Resource::Namespaces);
    }
    let Some(raw) = rest.strip_prefix('/') else {
        return Err(format!("{}{}", paths.namespaces(), rest));
    };
    let segs: Option<Vec<String>> = raw.split('/').map(percent_decode).collect();
    let Some(name) = segs.map(|s| s.join("/")) else {
        let lossy: Vec<String> = raw.split('/').map(encode_segment).collect();
        return Err(format!("{}/{}", paths.namespaces(), lossy.join("/")));
    };
    snap.namespace(&name)
        .map(Resource::Namespace)
        .ok_or_else(|| paths.namespace(&name))
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

/// The items of a collection: all of them (no listing parameters), or a listed page.
struct Items<'a, T> {
    all: &'a [T],
    page: &'a [&'a T],
}

impl<'a, T> Clone for Items<'a, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<'a, T> Copy for Items<'a, T> {}

impl<'a, T> Items<'a, T> {
    /// One of the two is empty.
    fn iter(self) -> impl Iterator<Item = &'a T> {
        self.all.iter().chain(self.page.iter().copied())
    }
}

/// What a collection adds for listing parameters: `total`, and `next`/`prev` links.
struct ListInfo {
    total: usize,
    next: Option<String>,
    prev: Option<String>,
}

impl ListInfo {
    fn new(listing: &Listing, total: usize, base: String) -> Option<ListInfo> {
        listing.present.then(|| ListInfo {
            total,
            next: listing.next_href(&base, total),
            prev: listing.prev_href(&base),
        })
    }
}

/// A collection's `_links`: `self` and `items` with `links`, `next`/`prev` when paging.
struct CollectionLinks<'a, F> {
    links: bool,
    this: String,
    items: Seq<F>,
    list: Option<&'a ListInfo>,
}

impl<'a, F> CollectionLinks<'a, F> {
    fn is_empty(&self) -> bool {
        !self.links
            && self
                .list
                .map_or(true, |l| l.next.is_none() && l.prev.is_none())
    }
}

impl<'a, 'b, F, I> Serialize for CollectionLinks<'a, F>
where
    F: Fn() -> I,
    I: Iterator<Item = Href<'b>>,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if self.links {
            m.serialize_entry("self", &href(self.this.clone()))?;
            m.serialize_entry("items", &self.items)?;
        }
        if let Some(l) = self.list {
            if let Some(next) = &l.next {
                m.serialize_entry("next", &href(next.clone()))?;
            }
            if let Some(prev) = &l.prev {
                m.serialize_entry("prev", &href(prev.clone()))?;
            }
        }
        m.end()
    }
}

struct CollectionView<'a> {
    ctx: Ctx<'a>,
    snap: &'a Snapshot,
    embed: usize,
    items: Items<'a, Repository>,
    list: Option<ListInfo>,
}

impl Serialize for CollectionView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (ctx, embed, items) = (self.ctx, self.embed, self.items);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("timestamp", &self.snap.timestamp)?;
        if let Some(l) = &self.list {
            m.serialize_entry("total", &l.total)?;
        }
        let links = CollectionLinks {
            links: ctx.links,
            this: ctx.paths.collection(),
            items: Seq(|| {
                items.iter().map(|r| Href {
                    href: ctx.paths.repository(&r.name),
                    title: Some(&r.name),
                })
            }),
            list: self.list.as_ref(),
        };
        if !links.is_empty() {
            m.serialize_entry("_links", &links)?;
        }
        if embed > 0 {
            let items = Seq(|| {
                items.iter().map(|repo| RepoView {
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

struct NamespacesView<'a> {
    ctx: Ctx<'a>,
    snap: &'a Snapshot,
    embed: usize,
    items: Items<'a, Namespace>,
    list: Option<ListInfo>,
}

impl Serialize for NamespacesView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (ctx, snap, embed, items) = (self.ctx, self.snap, self.embed, self.items);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("timestamp", &snap.timestamp)?;
        if let Some(l) = &self.list {
            m.serialize_entry("total", &l.total)?;
        }
        let links = CollectionLinks {
            links: ctx.links,
            this: ctx.paths.namespaces(),
            items: Seq(|| {
                items.iter().map(|ns| Href {
                    href: ctx.paths.namespace(&ns.name),
                    title: Some(&ns.name),
                })
            }),
            list: self.list.as_ref(),
        };
        if !links.is_empty() {
            m.serialize_entry("_links", &links)?;
        }
        if embed > 0 {
            let items = Seq(|| {
                items.iter().map(|ns| NamespaceView {
                    ctx,
                    snap,
                    ns,
                    embed: embed - 1,
                })
            });
            m.serialize_entry("_embedded", &Single("items", items))?;
        }
        m.end()
    }
}

struct NamespaceView<'a> {
    ctx: Ctx<'a>,
    snap: &'a Snapshot,
    ns: &'a Namespace,
    embed: usize,
}

impl Serialize for NamespaceView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Self {
            ctx,
            snap,
            ns,
            embed,
        } = *self;
        let below = snap.repositories_below(ns);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", &ns.name)?;
        m.serialize_entry("size", &ns.size)?;
        m.serialize_entry("disk_size", &ns.disk_size)?;
        m.serialize_entry("exclusive_size", &ns.exclusive_size)?;
        m.serialize_entry("repositories", &ns.repositories)?;
        m.serialize_entry("tags", &ns.tags)?;
        if ctx.links {
            let items = Seq(|| {
                below.iter().map(|r| Href {
                    href: ctx.paths.repository(&r.name),
                    title: Some(&r.name),
                })
            });
            m.serialize_entry(
                "_links",
                &TagsLinks {
                    names: ["self", "collection"],
                    this: href(ctx.paths.namespace(&ns.name)),
                    up: href(ctx.paths.namespaces()),
                    items,
                },
            )?;
        }
        if embed > 0 {
            let items = Seq(|| {
                below.iter().map(|repo| RepoView {
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
        m.serialize_entry("exclusive_size", &repo.exclusive_size)?;
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
                    names: ["self", "up"],
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

/// `self`, a link up (named by `names[1]`), and `items`.
struct TagsLinks<F> {
    names: [&'static str; 2],
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
        m.serialize_entry(self.names[0], &self.this)?;
        m.serialize_entry(self.names[1], &self.up)?;
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
        m.serialize_entry("exclusive_size", &tag.exclusive_size)?;
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

/// The HAL JSON body of `res`. `listing` applies to the collections (`/repositories`,
/// `/namespaces`) only; [`Listing::default`] renders them whole, as without parameters.
pub fn render_json(
    snap: &Snapshot,
    res: Resource<'_>,
    query: Query,
    listing: &Listing,
    prefix: &str,
) -> Vec<u8> {
    let paths = Paths { prefix };
    let ctx = Ctx {
        paths,
        links: query.links,
    };
    let embed = query.embed;
    let mut out = Vec::with_capacity(256);
    // Serialising borrowed plain data into a Vec cannot fail.
    let _ = match res {
        Resource::Collection => {
            let page = listing.present.then(|| listing.page(&snap.repositories));
            let (items, list) = match &page {
                None => (
                    Items {
                        all: &snap.repositories[..],
                        page: &[],
                    },
                    None,
                ),
                Some(p) => (
                    Items {
                        all: &[],
                        page: &p.items[..],
                    },
                    ListInfo::new(listing, p.total, paths.collection()),
                ),
            };
            let view = CollectionView {
                ctx,
                snap,
                embed,
                items,
                list,
            };
            serde_json::to_writer(&mut out, &view)
        }
        Resource::Namespaces => {
            let page = listing.present.then(|| listing.page(&snap.namespaces));
            let (items, list) = match &page {
                None => (
                    Items {
                        all: &snap.namespaces[..],
                        page: &[],
                    },
                    None,
                ),
                Some(p) => (
                    Items {
                        all: &[],
                        page: &p.items[..],
                    },
                    ListInfo::new(listing, p.total, paths.namespaces()),
                ),
            };
            let view = NamespacesView {
                ctx,
                snap,
                embed,
                items,
                list,
            };
            serde_json::to_writer(&mut out, &view)
        }
        Resource::Namespace(ns) => serde_json::to_writer(
            &mut out,
            &NamespaceView {
                ctx,
                snap,
                ns,
                embed,
            },
        ),
        Resource::Repository(repo) => {
            serde_json::to_writer(&mut out, &RepoView { ctx, repo, embed })
        }
        Resource::Tags(repo) => serde_json::to_writer(&mut out, &TagsView { ctx, repo, embed }),
        Resource::Tag(repo, tag) => serde_json::to_writer(&mut out, &TagView { ctx, repo, tag }),
    };
    out
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
        let listing = Listing::parse(q).unwrap();
        serde_json::from_slice(&render_json(s, res, Query::parse(q), &listing, prefix)).unwrap()
    }

    fn ns_json_of(s: &Snapshot, path: &str, q: &str, prefix: &str) -> Value {
        let res = resolve_namespace(s, path, Paths { prefix }).unwrap();
        let listing = Listing::parse(q).unwrap();
        serde_json::from_slice(&render_json(s, res, Query::parse(q), &listing, prefix)).unwrap()
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
            json!({"name": "base/alpine", "size": 18580, "disk_size": 9290, "exclusive_size": 9290, "tags": 2})
        );
        assert_eq!(json_of(&s, "/base%2Falpine/tags", "", ""), json!({}));
        assert_eq!(
            json_of(&s, "/base%2Falpine", "links=true&embed=1", ""),
            json!({"name": "base/alpine", "size": 18580, "disk_size": 9290, "exclusive_size": 9290, "tags": 2,
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
        // alias tags: neither frees anything while the other exists
        assert_eq!(t["exclusive_size"], 0);
        let never = json_of(&s, "/never", "", "");
        assert_eq!(never["exclusive_size"], Value::Null);
    }

    #[test]
    fn namespaces_shapes_links_and_embedding() {
        let s = snap();
        assert_eq!(
            ns_json_of(&s, "", "", ""),
            json!({"timestamp": 1795438748.159703})
        );
        assert_eq!(
            ns_json_of(&s, "", "embed=1&links=true", "/pre"),
            json!({"timestamp": 1795438748.159703,
                "_links": {"self": {"href": "/pre/namespaces"},
                           "items": [{"href": "/pre/namespaces/a", "title": "a"},
                                     {"href": "/pre/namespaces/base", "title": "base"}]},
                "_embedded": {"items": [
                    {"name": "a", "size": 0, "disk_size": 0, "exclusive_size": 0, "repositories": 1, "tags": 0,
                     "_links": {"self": {"href": "/pre/namespaces/a"}, "collection": {"href": "/pre/namespaces"},
                                "items": [{"href": "/pre/repositories/a%2Ftags", "title": "a/tags"}]}},
                    {"name": "base", "size": 18580, "disk_size": 9290, "exclusive_size": 9290, "repositories": 1, "tags": 2,
                     "_links": {"self": {"href": "/pre/namespaces/base"}, "collection": {"href": "/pre/namespaces"},
                                "items": [{"href": "/pre/repositories/base%2Falpine", "title": "base/alpine"}]}}]}})
        );
        let base = ns_json_of(&s, "/base", "embed=true", "");
        assert_eq!(base["repositories"], 1);
        let repo = &base["_embedded"]["items"][0];
        assert_eq!(repo["name"], "base/alpine");
        assert_eq!(
            repo["_embedded"]["related"]["_embedded"]["items"][0]["name"],
            "latest"
        );
        let p = Paths { prefix: "" };
        assert!(
            matches!(resolve_namespace(&s, "/base/", p), Ok(Resource::Namespace(n)) if n.name == "base")
        );
        assert_eq!(
            resolve_namespace(&s, "/base/alpine", p).unwrap_err(),
            "/namespaces/base%2Falpine"
        );
        assert_eq!(
            resolve_namespace(&s, "/%ff", p).unwrap_err(),
            "/namespaces/%25ff"
        );
        assert_eq!(resolve_namespace(&s, "x", p).unwrap_err(), "/namespacesx");
    }

    #[test]
    fn listing_total_and_page_links() {
        let s = snap();
        // without listing parameters: exactly as before (no total, no _links)
        assert_eq!(json_of(&s, "", "embed=1", "")["total"], Value::Null);
        let b = json_of(&s, "", "embed=1&sort=disk_size&order=desc&limit=2", "/pre");
        assert_eq!(b["total"], 4);
        let names: Vec<&str> = b["_embedded"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["base/alpine", "a"]);
        assert_eq!(
            b["_links"],
            json!({"next": {"href": "/pre/repositories?embed=1&sort=disk_size&order=desc&limit=2&offset=2"}})
        );
        let b = json_of(&s, "", "links=1&limit=2&offset=2", "");
        assert_eq!(
            b["_links"],
            json!({"self": {"href": "/repositories"},
                   "items": [{"href": "/repositories/base%2Falpine", "title": "base/alpine"},
                             {"href": "/repositories/never", "title": "never"}],
                   "prev": {"href": "/repositories?links=1&limit=2&offset=0"}})
        );
        let b = json_of(&s, "", "q=TAG", "");
        assert_eq!(b, json!({"timestamp": 1795438748.159703, "total": 1}));
        let b = ns_json_of(&s, "", "q=a&embed=1", "");
        assert_eq!(b["total"], 2);
        assert_eq!(b["_embedded"]["items"][1]["name"], "base");
        // paging applies to collections only
        assert_eq!(
            json_of(&s, "/base%2Falpine", "limit=1", "").get("total"),
            None
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
        let html = render_html(&s, Resource::Collection, &Listing::default(), "", 0);
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    }

    #[test]
    fn html_dates_the_crawl_and_shows_namespaces_and_pages() {
        let s = snap();
        let now = 1795438748 + 25 * 60;
        let html = render_html(&s, Resource::Collection, &Listing::default(), "", now);
        assert!(
            html.contains("Collected 2026-11-23 12:59:08 UTC (25 minutes ago)."),
            "{html}"
        );
        assert!(!html.contains("1795438748"));
        assert!(html.contains("<th>freeable</th>"));
        let listing = Listing::parse("limit=1&offset=1&q=a").unwrap();
        let html = render_html(&s, Resource::Collection, &listing, "/pre", now);
        assert!(html.contains("Showing 2–2 of 3."), "{html}");
        assert!(
            html.contains(
                "<a href=\"/pre/repositories?limit=1&amp;q=a&amp;offset=2\">next page</a>"
            ),
            "{html}"
        );
        assert!(html.contains(
            "<a href=\"/pre/repositories?limit=1&amp;q=a&amp;offset=0\">previous page</a>"
        ));
        let res = resolve_namespace(&s, "/base", Paths { prefix: "" }).unwrap();
        let html = render_html(&s, res, &Listing::default(), "", now);
        assert!(html.contains("Namespace base") && html.contains("/repositories/base%2Falpine"));
        let html = render_html(&s, Resource::Namespaces, &Listing::default(), "", now);
        assert!(html.contains("2 namespaces.") && html.contains("/namespaces/base"));
    }
}
