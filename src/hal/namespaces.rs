//! The namespace resources: `/namespaces` (every group path prefix of repository names, with
//! its sums) and `/namespaces/<name>` (one of them, embedding the repositories below it).
//!
//! Rendering only, like the rest of [`crate::hal`]; the numbers come from [`crate::snapshot::usage`].

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use super::{href, segments, Href, ItemView, Paths, RepoView, Resource, Seq, Single, TagsLinks};
use crate::history::Values;
use crate::snapshot::{Namespace, Snapshot};

/// Finds the namespace named by the path below `/namespaces` (`rest` is `""` or starts with
/// `/`, still percent-encoded): the name as one encoded segment, or with raw slashes. On
/// failure returns the canonical path for the 404 body.
pub(crate) fn resolve_namespace<'a>(
    snap: &'a Snapshot,
    rest: &str,
    paths: Paths<'_>,
) -> Result<Resource<'a>, String> {
    let Some(segs) = segments(rest, || paths.namespaces())? else {
        return Ok(Resource::Namespaces);
    };
    let name = segs.join("/");
    snap.namespace(&name)
        .map(Resource::Namespace)
        .ok_or_else(|| paths.namespace(&name))
}

pub(super) type NamespaceView<'a> = ItemView<'a, Namespace>;

impl Serialize for NamespaceView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (ctx, ns, embed) = (self.ctx, self.item, self.embed);
        let below = ctx.snap.repositories_below(ns);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", &ns.name)?;
        m.serialize_entry("size", &ns.size)?;
        m.serialize_entry("disk_size", &ns.disk_size)?;
        m.serialize_entry("exclusive_size", &ns.exclusive_size)?;
        m.serialize_entry("repositories", &ns.repositories)?;
        m.serialize_entry("tags", &ns.tags)?;
        if let Some(b) = ctx.since {
            let then = b.namespaces.get(ns.name.as_str());
            super::since::write_changes(&mut m, &Values::of_namespace(ns), then)?;
        }
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
            let items = Seq(|| below.iter().map(|repo| RepoView::new(ctx, repo, embed - 1)));
            m.serialize_entry("_embedded", &Single("items", items))?;
        }
        m.end()
    }
}
