//! The API's resources and their HAL rendering: which resource a path names in a snapshot
//! (repositories, their tags, namespaces), the `embed`/`links` query, percent-encoding of names
//! in links, and the JSON bodies, written straight from the snapshot without copying it.
//! `namespaces` holds the namespace resources; [`listing`] sorts, filters and pages the
//! collections; [`html`] is the same data as HTML.
//!
//! Pure functions over a [`Snapshot`]: no sockets, files, clocks or threads (the HTML view is
//! given the time), and no knowledge of authentication or HTTP status codes beyond "this
//! resource does not exist" and "this parameter is malformed".

pub(crate) mod html;
pub(crate) mod listing;
mod namespaces;
pub(crate) mod since;

use crate::http::percent::{decode as percent_decode, encode as encode_segment};

use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;

pub(crate) use html::{html_escape, human_bytes, render_html};
pub use listing::{Listing, ParamError};
pub(crate) use namespaces::resolve_namespace;

use namespaces::NamespaceView;

use std::collections::HashMap;

use crate::history::{Baseline, Values};
use crate::snapshot::time::format_rfc3339;
use crate::snapshot::{Namespace, Project, Repository, Snapshot, Tag};

/// What the query string asks for: embedding depth and links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Query {
    /// Levels of `_embedded` below the requested resource (`usize::MAX` for all).
    pub(crate) embed: usize,
    pub(crate) links: bool,
}

impl Query {
    /// Parses `embed` and `links` from a raw query string (the part after `?`). The first
    /// occurrence of a key wins; unknown keys are ignored; words match case-insensitively.
    pub fn parse(raw: &str) -> Query {
        let mut q = Query::default();
        let (mut seen_embed, mut seen_links) = (false, false);
        for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
            let value = value.trim().to_ascii_lowercase();
            match key.as_ref() {
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
pub(crate) struct Paths<'a> {
    pub(crate) prefix: &'a str,
}

impl Paths<'_> {
    pub(crate) fn collection(&self) -> String {
        format!("{}/repositories", self.prefix)
    }
    pub(crate) fn repository(&self, repo: &str) -> String {
        format!("{}/repositories/{}", self.prefix, encode_segment(repo))
    }
    pub(crate) fn tags(&self, repo: &str) -> String {
        format!("{}/repositories/{}/tags", self.prefix, encode_segment(repo))
    }
    pub(crate) fn tag(&self, repo: &str, tag: &str) -> String {
        format!(
            "{}/repositories/{}/tags/{}",
            self.prefix,
            encode_segment(repo),
            encode_segment(tag)
        )
    }
    pub(crate) fn namespaces(&self) -> String {
        format!("{}/namespaces", self.prefix)
    }
    pub(crate) fn namespace(&self, name: &str) -> String {
        format!("{}/namespaces/{}", self.prefix, encode_segment(name))
    }
}

/// The decoded segments of the path below the collection at `base` (`rest` is `""` or starts
/// with `/`, still percent-encoded; one trailing slash is ignored), `None` for the collection
/// itself. On failure returns the canonical path for the 404 body.
/// `base` is the collection's path, built only for a 404 (`resolve` runs on every request).
fn segments(rest: &str, base: impl Fn() -> String) -> Result<Option<Vec<String>>, String> {
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Ok(None);
    }
    let Some(raw) = rest.strip_prefix('/') else {
        return Err(format!("{}{rest}", base()));
    };
    let segs: Option<Vec<String>> = raw.split('/').map(percent_decode).collect();
    segs.map(Some).ok_or_else(|| {
        // Not UTF-8 or a broken escape: no such name can exist; echo the path re-encoded.
        let lossy: Vec<String> = raw.split('/').map(encode_segment).collect();
        format!("{}/{}", base(), lossy.join("/"))
    })
}

/// Finds the resource named by the path below `/repositories` (`rest` is `""` or starts
/// with `/`, still percent-encoded). On failure returns the canonical path for the 404 body.
///
/// Raw slashes and `%2F` are both accepted. A first segment holding an encoded slash is the
/// canonical form and names the repository by itself. Otherwise the repository is the
/// longest run of leading segments that names a repository and leaves a valid remainder
/// (nothing, `tags`, or `tags/<tag>`): `/repositories/a/tags` is repository `a/tags` if it
/// exists, else the tags of `a`.
pub(crate) fn resolve<'a>(
    snap: &'a Snapshot,
    rest: &str,
    paths: Paths<'_>,
) -> Result<Resource<'a>, String> {
    let Some(segs) = segments(rest, || paths.collection())? else {
        return Ok(Resource::Collection);
    };
    // A first segment with an encoded slash is the canonical form: it is the whole name.
    let longest = if segs[0].contains('/') { 1 } else { segs.len() };
    // Candidate names grow one segment at a time and stop at the longest repository name,
    // so a path of thousands of segments costs one pass, not one join per prefix.
    let mut joined = String::new();
    let mut ends = Vec::new();
    for seg in &segs[..longest] {
        if !ends.is_empty() {
            joined.push('/');
        }
        joined.push_str(seg);
        if joined.len() > snap.longest_name {
            break;
        }
        ends.push(joined.len());
    }
    for (i, &end) in ends.iter().enumerate().rev() {
        let k = i + 1;
        let Some(repo) = snap.repository(&joined[..end]) else {
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
    /// For each repository's GitLab project.
    snap: &'a Snapshot,
    /// The `since=` comparison point: items gain their changes since then.
    since: Option<&'a Baseline>,
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
    /// All of `all`, or the listed `page` of it.
    fn of(all: &'a [T], page: Option<&'a listing::Page<'a, T>>) -> Self {
        match page {
            None => Items { all, page: &[] },
            Some(p) => Items {
                all: &[],
                page: &p.items[..],
            },
        }
    }

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
    /// The listing information of `page`, when there is one (listing parameters given).
    fn of<T>(listing: &Listing, page: Option<&listing::Page<'_, T>>, base: String) -> Option<Self> {
        page.and_then(|p| ListInfo::new(listing, p.total, base))
    }

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
                .is_none_or(|l| l.next.is_none() && l.prev.is_none())
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

/// What a collection resource (`/repositories`, `/namespaces`) needs of its items' type
/// (their views are the [`ItemView`]s).
trait Collected: listing::Listed + Sized + 'static {
    /// The collection's path below the prefix; an item's is `<PATH>/<encoded name>`.
    const PATH: &'static str;
    /// The items in `snap`, and what the `since=` baseline holds of them.
    fn items<'a>(snap: &'a Snapshot, since: Option<&'a Baseline>) -> Then<'a, Self>;

    /// The collection's canonical path.
    fn this(paths: Paths<'_>) -> String {
        format!("{}{}", paths.prefix, Self::PATH)
    }

    /// An item's canonical path.
    fn path(paths: Paths<'_>, name: &str) -> String {
        format!("{}{}/{}", paths.prefix, Self::PATH, encode_segment(name))
    }
}

/// A collection's items and their values at the `since=` comparison point.
type Then<'a, T> = (&'a [T], Option<&'a HashMap<Box<str>, Values>>);

impl Collected for Repository {
    const PATH: &'static str = "/repositories";
    fn items<'a>(snap: &'a Snapshot, since: Option<&'a Baseline>) -> Then<'a, Self> {
        (&snap.repositories, since.map(|b| &b.repositories))
    }
}

impl Collected for Namespace {
    const PATH: &'static str = "/namespaces";
    fn items<'a>(snap: &'a Snapshot, since: Option<&'a Baseline>) -> Then<'a, Self> {
        (&snap.namespaces, since.map(|b| &b.namespaces))
    }
}

/// The resource of one item (a repository, a namespace), `embed` levels deep.
struct ItemView<'a, T> {
    ctx: Ctx<'a>,
    item: &'a T,
    embed: usize,
}

impl<'a, T> ItemView<'a, T> {
    fn new(ctx: Ctx<'a>, item: &'a T, embed: usize) -> Self {
        ItemView { ctx, item, embed }
    }
}

type RepoView<'a> = ItemView<'a, Repository>;

/// A collection resource: `timestamp`, `total` when paging, `_links` to itself and each
/// item, and the items' own views embedded.
struct CollectionView<'a, T> {
    ctx: Ctx<'a>,
    embed: usize,
    items: Items<'a, T>,
    list: Option<ListInfo>,
}

impl<T: Collected> Serialize for CollectionView<'_, T>
where
    for<'b> ItemView<'b, T>: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (ctx, embed, items) = (self.ctx, self.embed, self.items);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("timestamp", &ctx.snap.timestamp)?;
        if let Some(l) = &self.list {
            m.serialize_entry("total", &l.total)?;
        }
        let links = CollectionLinks {
            links: ctx.links,
            this: T::this(ctx.paths),
            items: Seq(|| {
                items.iter().map(|i| Href {
                    href: T::path(ctx.paths, i.name()),
                    title: Some(i.name()),
                })
            }),
            list: self.list.as_ref(),
        };
        if !links.is_empty() {
            m.serialize_entry("_links", &links)?;
        }
        if embed > 0 {
            let items = Seq(|| items.iter().map(|i| ItemView::new(ctx, i, embed - 1)));
            m.serialize_entry("_embedded", &Single("items", items))?;
        }
        m.end()
    }
}

/// Writes the collection of every `T`, or of the page `listing` asks for, to `out`.
fn write_collection<T: Collected>(
    out: impl std::io::Write,
    ctx: Ctx<'_>,
    listing: &Listing,
    embed: usize,
) -> serde_json::Result<()>
where
    for<'b> ItemView<'b, T>: Serialize,
{
    let (all, then) = T::items(ctx.snap, ctx.since);
    let page = listing.present.then(|| listing.page(all, then));
    let view = CollectionView {
        ctx,
        embed,
        items: Items::of(all, page.as_ref()),
        list: ListInfo::of(listing, page.as_ref(), T::this(ctx.paths)),
    };
    serde_json::to_writer(out, &view)
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

impl Serialize for RepoView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (ctx, repo, embed) = (self.ctx, self.item, self.embed);
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
        m.serialize_entry("project", &ProjectRef(ctx.snap.project_of(&repo.name)))?;
        if let Some(b) = ctx.since {
            let then = b.repositories.get(repo.name.as_str());
            since::write_changes(&mut m, &Values::of_repository(repo), then)?;
        }
        if ctx.links {
            m.serialize_entry("_links", &RepoLinks { ctx, repo })?;
        }
        if embed > 0 {
            m.serialize_entry(
                "_embedded",
                &Single("related", TagsView(RepoView::new(ctx, repo, embed - 1))),
            )?;
        }
        m.end()
    }
}

/// A repository's GitLab project: `{"id", "path", "web_url"}`, or `null`.
struct ProjectRef<'a>(Option<&'a Project>);

impl Serialize for ProjectRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some(p) = self.0 else {
            return s.serialize_none();
        };
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("id", &p.id)?;
        m.serialize_entry("path", &p.path)?;
        m.serialize_entry("web_url", &p.web_url)?;
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

/// A repository's tags resource (`/repositories/<name>/tags`), from its repository's view.
struct TagsView<'a>(RepoView<'a>);

impl Serialize for TagsView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (ctx, repo, embed) = (self.0.ctx, self.0.item, self.0.embed);
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
        // The history keeps repositories, not tags: a tag is known new only with its repository.
        if ctx
            .since
            .is_some_and(|b| !b.repositories.contains_key(repo.name.as_str()))
        {
            m.serialize_entry("new", &true)?;
        }
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
    render_json_since(snap, res, query, listing, prefix, None)
}

/// [`render_json`] with the changes since `since` (see [`since`]).
pub fn render_json_since(
    snap: &Snapshot,
    res: Resource<'_>,
    query: Query,
    listing: &Listing,
    prefix: &str,
    since: Option<&Baseline>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    // Serialising borrowed plain data into a Vec cannot fail.
    let _ = write_json(&mut out, snap, res, query, listing, Paths { prefix }, since);
    out
}

/// Writes the HAL JSON body of `res` to `out` as it is serialised (for bodies too large to
/// keep: they go to the socket without a copy in memory).
pub(crate) fn write_json(
    out: impl std::io::Write,
    snap: &Snapshot,
    res: Resource<'_>,
    query: Query,
    listing: &Listing,
    paths: Paths<'_>,
    since: Option<&Baseline>,
) -> std::io::Result<()> {
    // With since=, its header goes in right after the body's opening brace.
    let header = since.map(|b| {
        let gone = match res {
            Resource::Collection => Some((since::Gone::Repositories, listing)),
            Resource::Namespaces => Some((since::Gone::Namespaces, listing)),
            _ => None,
        };
        since::header(snap, b, gone)
    });
    let mut out = since::Spliced::new(out, header);
    let ctx = Ctx {
        paths,
        links: query.links,
        snap,
        since,
    };
    write_view(&mut out, ctx, res, listing, query.embed).map_err(std::io::Error::from)?;
    std::io::Write::flush(&mut out)
}

/// Serialises the view of `res` (its JSON body without the `since=` header) to `out`.
fn write_view(
    out: impl std::io::Write,
    ctx: Ctx<'_>,
    res: Resource<'_>,
    listing: &Listing,
    embed: usize,
) -> serde_json::Result<()> {
    match res {
        Resource::Collection => write_collection::<Repository>(out, ctx, listing, embed),
        Resource::Namespaces => write_collection::<Namespace>(out, ctx, listing, embed),
        Resource::Namespace(ns) => serde_json::to_writer(out, &NamespaceView::new(ctx, ns, embed)),
        Resource::Repository(repo) => serde_json::to_writer(out, &RepoView::new(ctx, repo, embed)),
        Resource::Tags(repo) => {
            serde_json::to_writer(out, &TagsView(RepoView::new(ctx, repo, embed)))
        }
        Resource::Tag(repo, tag) => serde_json::to_writer(out, &TagView { ctx, repo, tag }),
    }
}

#[cfg(test)]
mod tests;
