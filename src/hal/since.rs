//! `since=`: how a resource shows what changed since a comparison point. Each repository and
//! namespace gains `size_change`, `disk_size_change`, `exclusive_size_change`, `tags_change`
//! (and `"new": true` when it did not exist then: its changes are its whole values); the
//! answer opens with `"since": {"timestamp": <the crawl compared with>}`; a listing names the
//! items that existed then and are gone under `"gone"`, with what they held.
//!
//! The comparison point is plain data ([`Baseline`]) that the server resolves from the history
//! and passes in; nothing here knows where it came from. Without it nothing is added.

use std::collections::HashMap;
use std::io::{self, Write};

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use super::listing::{contains_folded, Listing};
use super::Single;
use crate::history::{Baseline, Values};
use crate::snapshot::Snapshot;

/// `current - then`, as JSON numbers: sizes may shrink.
fn delta(now: u64, then: u64) -> i128 {
    i128::from(now) - i128::from(then)
}

/// The value sorted by for a `_change` key: `field` of the change since `then`.
pub(crate) fn change(now: &Values, then: Option<&Values>, field: fn(&Values) -> u64) -> i128 {
    delta(field(now), then.map_or(0, field))
}

/// Writes the change fields of an item now at `now`, at `then` at the comparison point.
pub(crate) fn write_changes<M: SerializeMap>(
    m: &mut M,
    now: &Values,
    then: Option<&Values>,
) -> Result<(), M::Error> {
    let zero = Values::default();
    let t = then.unwrap_or(&zero);
    m.serialize_entry("size_change", &delta(now.size, t.size))?;
    m.serialize_entry("disk_size_change", &delta(now.disk_size, t.disk_size))?;
    m.serialize_entry(
        "exclusive_size_change",
        &delta(now.exclusive_size, t.exclusive_size),
    )?;
    m.serialize_entry("tags_change", &delta(now.tags, t.tags))?;
    if then.is_none() {
        m.serialize_entry("new", &true)?;
    }
    Ok(())
}

/// Which items a `gone` list is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gone {
    Repositories,
    Namespaces,
}

/// One item that existed at the comparison point and does not now.
struct GoneItem<'a> {
    name: &'a str,
    values: &'a Values,
    namespace: bool,
}

impl Serialize for GoneItem<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.values;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", self.name)?;
        m.serialize_entry("size", &v.size)?;
        m.serialize_entry("disk_size", &v.disk_size)?;
        m.serialize_entry("exclusive_size", &v.exclusive_size)?;
        if self.namespace {
            m.serialize_entry("repositories", &v.repositories)?;
        }
        m.serialize_entry("tags", &v.tags)?;
        m.end()
    }
}

/// The items of `then` absent from the snapshot (by `exists`), matching the listing's `q`,
/// sorted by name.
fn gone<'a>(
    then: &'a HashMap<Box<str>, Values>,
    exists: impl Fn(&str) -> bool,
    listing: &Listing,
    namespace: bool,
) -> Vec<GoneItem<'a>> {
    let mut out: Vec<GoneItem<'a>> = then
        .iter()
        .filter(|(name, _)| !exists(name))
        .filter(|(name, _)| {
            listing
                .q
                .as_deref()
                .is_none_or(|q| contains_folded(name, q))
        })
        .map(|(name, values)| GoneItem {
            name,
            values,
            namespace,
        })
        .collect();
    out.sort_unstable_by(|a, b| a.name.cmp(b.name));
    out
}

/// The fields an answer with `since` opens with, as JSON members without braces:
/// `"since":{...}` and, for a listing, `,"gone":[...]`.
pub(crate) fn header(
    snap: &Snapshot,
    baseline: &Baseline,
    listing: Option<(Gone, &Listing)>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(b"\"since\":");
    // Plain data into a Vec: serialising cannot fail.
    let _ = serde_json::to_writer(&mut out, &Single("timestamp", baseline.timestamp));
    if let Some((which, listing)) = listing {
        let items = match which {
            Gone::Repositories => gone(
                &baseline.repositories,
                |n| snap.repository(n).is_some(),
                listing,
                false,
            ),
            Gone::Namespaces => gone(
                &baseline.namespaces,
                |n| snap.namespace(n).is_some(),
                listing,
                true,
            ),
        };
        out.extend_from_slice(b",\"gone\":");
        let _ = serde_json::to_writer(&mut out, &items);
    }
    out
}

/// A writer that puts `extra` (JSON members) right after the body's opening brace, with a
/// comma when the body has members of its own: the body is written as it is serialised, so
/// large streamed bodies get the header too. Without `extra` it passes everything through.
pub(crate) struct Spliced<W> {
    inner: W,
    extra: Vec<u8>,
    /// 0: before the opening brace; 1: after it, before the first member; 2: passing through.
    state: u8,
}

impl<W: Write> Spliced<W> {
    pub(crate) fn new(inner: W, extra: Option<Vec<u8>>) -> Spliced<W> {
        let state = if extra.is_some() { 0 } else { 2 };
        Spliced {
            inner,
            extra: extra.unwrap_or_default(),
            state,
        }
    }
}

impl<W: Write> Write for Spliced<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while self.state < 2 {
            let Some((&b, tail)) = rest.split_first() else {
                return Ok(buf.len());
            };
            if self.state == 0 {
                self.inner.write_all(&[b])?;
                self.inner.write_all(&self.extra)?;
                self.state = 1;
            } else {
                if b != b'}' {
                    self.inner.write_all(b",")?;
                }
                self.inner.write_all(&[b])?;
                self.state = 2;
            }
            rest = tail;
        }
        self.inner.write_all(rest)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
