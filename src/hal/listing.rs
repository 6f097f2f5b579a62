//! Sorting, filtering and paging of the collections `/repositories` and `/namespaces`: the
//! `sort`, `order`, `q`, `limit` and `offset` query parameters, the page they select, and the
//! `next`/`prev` links between pages.
//!
//! Pure functions over borrowed items; no I/O. Without any of these parameters a collection is
//! rendered exactly as before they existed ([`Listing::present`] is false).

use std::collections::HashMap;
use std::fmt;

use super::since;
use crate::history::Values;
use crate::http::percent::decode as percent_decode;
use crate::snapshot::{Namespace, Repository};

/// What `sort` accepts, for the 400 message.
const SORT_KEYS: &str = "one of name, size, disk_size, exclusive_size, size_change, disk_size_change, exclusive_size_change, tags_change (the _change keys with since)";

/// The largest page a client may ask for.
pub(crate) const MAX_LIMIT: usize = 10_000;

/// What a collection is sorted by. Null sizes sort as 0; ties are broken by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum SortKey {
    #[default]
    Name,
    Size,
    DiskSize,
    ExclusiveSize,
    /// `/policies`: what a policy frees at its next run.
    FreedBytes,
    /// `/policies`: what a policy would free were it enabled.
    FreedBytesIfEnabled,
    /// `/policies`: the tags a policy would delete were it enabled.
    TagsDeleted,
    /// The `_change` keys need `since=`: the change since the comparison point.
    SizeChange,
    DiskSizeChange,
    ExclusiveSizeChange,
    TagsChange,
}

impl SortKey {
    /// The field of [`Values`] a `_change` key compares; `None` for the other keys.
    pub(crate) fn change_field(self) -> Option<fn(&Values) -> u64> {
        match self {
            SortKey::SizeChange => Some(|v| v.size),
            SortKey::DiskSizeChange => Some(|v| v.disk_size),
            SortKey::ExclusiveSizeChange => Some(|v| v.exclusive_size),
            SortKey::TagsChange => Some(|v| v.tags),
            _ => None,
        }
    }
}

/// The sort keys of `/repositories` and `/namespaces`.
const COLLECTION_KEYS: [(&str, SortKey); 8] = [
    ("name", SortKey::Name),
    ("size", SortKey::Size),
    ("disk_size", SortKey::DiskSize),
    ("exclusive_size", SortKey::ExclusiveSize),
    ("size_change", SortKey::SizeChange),
    ("disk_size_change", SortKey::DiskSizeChange),
    ("exclusive_size_change", SortKey::ExclusiveSizeChange),
    ("tags_change", SortKey::TagsChange),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Order {
    #[default]
    Asc,
    Desc,
}

/// A query parameter with a value of the wrong form: `400 {"message": "<param>: <expected>"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    pub(crate) param: &'static str,
    pub(crate) expected: &'static str,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.param, self.expected)
    }
}

impl std::error::Error for ParamError {}

/// The listing parameters of one request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    pub(crate) sort: SortKey,
    pub(crate) order: Order,
    /// Lower-cased substring the name must contain.
    pub(crate) q: Option<String>,
    pub(crate) limit: Option<usize>,
    pub(crate) offset: usize,
    /// Whether any listing parameter was given: then the body carries `total`.
    pub(crate) present: bool,
    /// The query string's other parameters, as sent, for `next`/`prev` links.
    others: Vec<String>,
}

/// An item of a listed collection.
pub(crate) trait Listed {
    fn name(&self) -> &str;
    /// The number sorted by for a size key (null counts as 0).
    fn key(&self, key: SortKey) -> u64;
    /// What the history records of it, for the `_change` keys (nothing for items it does
    /// not record, such as `/policies`' projects).
    fn values(&self) -> Values {
        Values::default()
    }
}

impl Listed for Repository {
    fn name(&self) -> &str {
        &self.name
    }
    fn key(&self, key: SortKey) -> u64 {
        match key {
            SortKey::Size => self.size.unwrap_or(0),
            SortKey::DiskSize => self.disk_size.unwrap_or(0),
            SortKey::ExclusiveSize => self.exclusive_size.unwrap_or(0),
            _ => 0,
        }
    }
    fn values(&self) -> Values {
        Values::of_repository(self)
    }
}

impl Listed for Namespace {
    fn name(&self) -> &str {
        &self.name
    }
    fn key(&self, key: SortKey) -> u64 {
        match key {
            SortKey::Size => self.size,
            SortKey::DiskSize => self.disk_size,
            SortKey::ExclusiveSize => self.exclusive_size,
            _ => 0,
        }
    }
    fn values(&self) -> Values {
        Values::of_namespace(self)
    }
}

/// One page of a listed collection.
#[derive(Debug, Clone)]
pub(crate) struct Page<'a, T> {
    pub(crate) items: Vec<&'a T>,
    /// Items matching `q`, on all pages.
    pub(crate) total: usize,
}

const PARAMS: [&str; 5] = ["sort", "order", "q", "limit", "offset"];

fn decode_component(s: &str) -> Option<String> {
    percent_decode(&s.replace('+', " "))
}

impl Listing {
    /// Reads the listing parameters from a raw query string. The first occurrence of a key
    /// wins (as for `embed` and `links`); words match case-insensitively.
    pub fn parse(raw: &str) -> Result<Listing, ParamError> {
        Listing::parse_with(raw, &COLLECTION_KEYS, SORT_KEYS)
    }

    /// [`Listing::parse`] with another resource's sort keys (`expected` lists them).
    pub(crate) fn parse_with(
        raw: &str,
        keys: &[(&str, SortKey)],
        expected: &'static str,
    ) -> Result<Listing, ParamError> {
        let mut l = Listing::default();
        let mut seen = [false; PARAMS.len()];
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode_component(k).unwrap_or_default();
            let Some(which) = PARAMS.iter().position(|p| *p == key) else {
                l.others.push(pair.to_string());
                continue;
            };
            if key != "offset" {
                l.others.push(pair.to_string());
            }
            l.present = true;
            if std::mem::replace(&mut seen[which], true) {
                continue;
            }
            let bad = |param, expected| ParamError { param, expected };
            let value = decode_component(v);
            let word = value.as_deref().unwrap_or("").trim().to_ascii_lowercase();
            match key.as_str() {
                "sort" => {
                    l.sort = keys
                        .iter()
                        .find(|(k, _)| *k == word)
                        .map(|(_, key)| *key)
                        .ok_or(bad("sort", expected))?;
                }
                "order" => {
                    l.order = match word.as_str() {
                        "asc" => Order::Asc,
                        "desc" => Order::Desc,
                        _ => return Err(bad("order", "asc or desc")),
                    }
                }
                "q" => {
                    let text = value.ok_or(bad("q", "percent-encoded UTF-8 text"))?;
                    l.q = Some(text.to_lowercase()).filter(|t| !t.is_empty());
                }
                "limit" => {
                    l.limit = Some(
                        word.parse::<usize>()
                            .ok()
                            .filter(|n| (1..=MAX_LIMIT).contains(n))
                            .ok_or(bad("limit", "an integer from 1 to 10000"))?,
                    );
                }
                _ => {
                    l.offset = word
                        .parse::<usize>()
                        .map_err(|_| bad("offset", "an integer of 0 or more"))?;
                }
            }
        }
        Ok(l)
    }

    /// Filters `items` (sorted by name) by `q`, sorts them, and cuts out the page. `then`
    /// holds the items' values at the `since=` comparison point (for the `_change` keys;
    /// without it they sort as name does).
    pub(crate) fn page<'a, T: Listed>(
        &self,
        items: &'a [T],
        then: Option<&HashMap<Box<str>, Values>>,
    ) -> Page<'a, T> {
        let mut picked: Vec<&T> = match &self.q {
            None => items.iter().collect(),
            Some(q) => items
                .iter()
                .filter(|i| contains_folded(i.name(), q))
                .collect(),
        };
        let total = picked.len();
        let change = self.sort.change_field().zip(then);
        match (self.sort, self.order) {
            _ if change.is_some() => {
                if let Some((field, then)) = change {
                    let key = |i: &&T| change_of(*i, then, field);
                    // Stable on name order: ties stay in name order either way.
                    match self.order {
                        Order::Asc => picked.sort_by_cached_key(key),
                        Order::Desc => picked.sort_by_cached_key(|i| std::cmp::Reverse(key(i))),
                    }
                }
            }
            (SortKey::Name, Order::Asc) => {}
            (SortKey::Name, Order::Desc) => picked.reverse(),
            // Stable sorts on name-ordered input: ties stay in name order.
            (key, Order::Asc) => picked.sort_by_key(|i| i.key(key)),
            (key, Order::Desc) => picked.sort_by_key(|i| std::cmp::Reverse(i.key(key))),
        }
        let start = self.offset.min(picked.len());
        picked.drain(..start);
        if let Some(limit) = self.limit {
            picked.truncate(limit);
        }
        Page {
            items: picked,
            total,
        }
    }

    /// The next page's href below `base` (a collection's path), when there is one.
    pub(crate) fn next_href(&self, base: &str, total: usize) -> Option<String> {
        let limit = self.limit?;
        let next = self.offset.checked_add(limit)?;
        (next < total).then(|| self.href(base, next))
    }

    /// The previous page's href below `base`, when this page does not start at 0.
    pub(crate) fn prev_href(&self, base: &str) -> Option<String> {
        let limit = self.limit?;
        (self.offset > 0).then(|| self.href(base, self.offset.saturating_sub(limit)))
    }

    fn href(&self, base: &str, offset: usize) -> String {
        let mut s = format!("{base}?");
        for p in &self.others {
            s.push_str(p);
            s.push('&');
        }
        s.push_str(&format!("offset={offset}"));
        s
    }
}

fn change_of<T: Listed>(
    i: &T,
    then: &HashMap<Box<str>, Values>,
    field: fn(&Values) -> u64,
) -> i128 {
    since::change(&i.values(), then.get(i.name()), field)
}

/// Whether `name` contains `lower` (already lower-cased), ignoring case.
pub(crate) fn contains_folded(name: &str, lower: &str) -> bool {
    if name.is_ascii() && lower.is_ascii() {
        let (h, n) = (name.as_bytes(), lower.as_bytes());
        n.len() <= h.len()
            && h.windows(n.len())
                .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b))
    } else {
        name.to_lowercase().contains(lower)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Item(&'static str, Option<u64>);

    impl Listed for Item {
        fn name(&self) -> &str {
            self.0
        }
        fn key(&self, _: SortKey) -> u64 {
            self.1.unwrap_or(0)
        }
        fn values(&self) -> Values {
            Values {
                size: self.1.unwrap_or(0),
                ..Values::default()
            }
        }
    }

    const ITEMS: [Item; 5] = [
        Item("a/x", Some(5)),
        Item("b/App", Some(9)),
        Item("b/y", None),
        Item("c/app2", Some(5)),
        Item("Ünï/äpp", Some(1)),
    ];

    fn names(l: &Listing) -> (Vec<&'static str>, usize) {
        let p = l.page(&ITEMS, None);
        (p.items.iter().map(|i| i.0).collect(), p.total)
    }

    #[test]
    fn absent_parameters_change_nothing() {
        let l = Listing::parse("embed=true&links=1").unwrap();
        assert!(!l.present);
        assert_eq!(names(&l).0.len(), 5);
        assert_eq!(l.next_href("/r", 5), None);
        assert!(!Listing::parse("").unwrap().present);
    }

    #[test]
    fn sort_order_filter_and_page() {
        let l = Listing::parse("sort=SIZE&order=desc").unwrap();
        assert!(l.present);
        // ties (5, 5) stay in name order; null sorts as 0
        assert_eq!(names(&l).0, ["b/App", "a/x", "c/app2", "Ünï/äpp", "b/y"]);
        let l = Listing::parse("sort=size").unwrap();
        assert_eq!(names(&l).0, ["b/y", "Ünï/äpp", "a/x", "c/app2", "b/App"]);
        let l = Listing::parse("order=desc").unwrap();
        assert_eq!(names(&l).0[0], "Ünï/äpp");
        let l = Listing::parse("q=APP").unwrap();
        assert_eq!(names(&l), (vec!["b/App", "c/app2"], 2));
        let l = Listing::parse("q=%C3%A4PP").unwrap();
        assert_eq!(names(&l), (vec!["Ünï/äpp"], 1));
        let l = Listing::parse("q=").unwrap();
        assert_eq!((l.present, names(&l).1), (true, 5));
        let l = Listing::parse("limit=2&offset=1").unwrap();
        assert_eq!(names(&l), (vec!["b/App", "b/y"], 5));
        let l = Listing::parse("offset=7").unwrap();
        assert_eq!(names(&l), (vec![], 5));
        let l = Listing::parse("q=app&limit=1&offset=1&sort=exclusive_size").unwrap();
        assert_eq!(names(&l), (vec!["b/App"], 2));
    }

    #[test]
    fn change_keys_sort_by_the_change_since_then() {
        let then: HashMap<Box<str>, Values> = [("a/x", 1), ("b/App", 8), ("c/app2", 5)]
            .into_iter()
            .map(|(n, s)| {
                let v = Values {
                    size: s,
                    ..Values::default()
                };
                (n.into(), v)
            })
            .collect();
        let l = Listing::parse("sort=size_change&order=desc").unwrap();
        let p = l.page(&ITEMS, Some(&then));
        // changes: a/x +4, b/App +1, b/y 0 (new, null), c/app2 0, Ünï/äpp +1 (new)
        let got: Vec<&str> = p.items.iter().map(|i| i.0).collect();
        assert_eq!(got, ["a/x", "b/App", "Ünï/äpp", "b/y", "c/app2"]);
        let l = Listing::parse("sort=size_change").unwrap();
        let got: Vec<&str> = l
            .page(&ITEMS, Some(&then))
            .items
            .iter()
            .map(|i| i.0)
            .collect();
        assert_eq!(got, ["b/y", "c/app2", "b/App", "Ünï/äpp", "a/x"]);
        assert_eq!(l.sort.change_field().map(|f| f(&then["a/x"])), Some(1));
        assert!(SortKey::Size.change_field().is_none());
    }

    #[test]
    fn next_and_prev_keep_the_other_parameters() {
        let l = Listing::parse("embed=1&limit=2&q=a%20b&offset=2&links=true").unwrap();
        assert_eq!(
            l.next_href("/pre/repositories", 5).as_deref(),
            Some("/pre/repositories?embed=1&limit=2&q=a%20b&links=true&offset=4")
        );
        assert_eq!(
            l.prev_href("/pre/repositories").as_deref(),
            Some("/pre/repositories?embed=1&limit=2&q=a%20b&links=true&offset=0")
        );
        assert_eq!(l.next_href("/r", 4), None);
        let first = Listing::parse("limit=3").unwrap();
        assert_eq!(first.prev_href("/r"), None);
        assert_eq!(
            first.next_href("/r", 4).as_deref(),
            Some("/r?limit=3&offset=3")
        );
        // an offset inside a page: prev goes back to 0, not below
        let l = Listing::parse("limit=10&offset=4").unwrap();
        assert_eq!(l.prev_href("/r").as_deref(), Some("/r?limit=10&offset=0"));
        // no limit: no links, however far the offset
        assert_eq!(Listing::parse("offset=3").unwrap().prev_href("/r"), None);
    }

    #[test]
    fn bad_values_name_the_parameter() {
        for (q, msg) in [
            ("order=up", "order: asc or desc"),
            ("limit=abc", "limit: an integer from 1 to 10000"),
            ("limit=0", "limit: an integer from 1 to 10000"),
            ("limit=10001", "limit: an integer from 1 to 10000"),
            ("offset=-1", "offset: an integer of 0 or more"),
            (
                "offset=99999999999999999999999",
                "offset: an integer of 0 or more",
            ),
            ("q=%ff", "q: percent-encoded UTF-8 text"),
        ] {
            assert_eq!(Listing::parse(q).unwrap_err().to_string(), msg, "{q}");
        }
        for q in ["sort=foo", "sort="] {
            assert_eq!(
                Listing::parse(q).unwrap_err().to_string(),
                format!("sort: {SORT_KEYS}")
            );
        }
        // the first occurrence wins, later ones are not judged
        assert_eq!(
            Listing::parse("sort=size&sort=foo").unwrap().sort,
            SortKey::Size
        );
        assert_eq!(Listing::parse("limit=10000").unwrap().limit, Some(10_000));
    }
}
