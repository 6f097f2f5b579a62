//! The crawl history: the registry's totals at each recorded crawl, and per repository and
//! namespace what changed since the previous recorded crawl (most do not change, so a point
//! costs little). It answers "what did this look like at time T" for `since=` and `/history`.
//!
//! This file owns the model, recording (diffing a crawl against the newest point), thinning
//! (every crawl for 48 hours, one a day for 90 days, one a week beyond, nothing older than
//! `[history] keep`) and the lookups. Everything here is pure: the clock comes in as `now`
//! (Unix seconds), no files, no threads. [`codec`] is the file format (bytes in, bytes out);
//! [`store`] owns the file, the lock and the wiring.
//!
//! Invariant: the first point holds every item that existed then; each later point holds only
//! the items whose values differ from the point before it (`None`: the item is gone). Dropping
//! a point merges its changes into the next kept one, so the invariant survives thinning.

pub mod codec;
pub mod store;

use std::collections::{BTreeMap, HashMap};

use crate::snapshot::{Namespace, Repository, Snapshot};

/// Every crawl younger than this is kept.
pub const RECENT: f64 = 48.0 * 3600.0;
/// Crawls younger than this (and older than [`RECENT`]) are kept one per UTC day.
pub const DAILY: f64 = 90.0 * 86_400.0;
const DAY: f64 = 86_400.0;
const WEEK: f64 = 7.0 * DAY;

/// The numbers recorded for the registry, a repository or a namespace at one crawl.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Values {
    pub size: u64,
    pub disk_size: u64,
    pub exclusive_size: u64,
    /// Repositories (1 for a repository, at any depth for a namespace).
    pub repositories: u64,
    pub tags: u64,
}

/// One crawl as the history records it: plain data, built from a [`Snapshot`] or generated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    /// Unix seconds when the crawl finished.
    pub timestamp: f64,
    pub totals: Values,
    pub repositories: Vec<(String, Values)>,
    pub namespaces: Vec<(String, Values)>,
}

impl Values {
    /// What the history records of a repository; one never read counts as 0 bytes, 0 tags.
    pub fn of_repository(r: &Repository) -> Values {
        Values {
            size: r.size.unwrap_or(0),
            disk_size: r.disk_size.unwrap_or(0),
            exclusive_size: r.exclusive_size.unwrap_or(0),
            repositories: 1,
            tags: r.tags.as_ref().map_or(0, |t| t.len() as u64),
        }
    }

    /// What the history records of a namespace.
    pub fn of_namespace(n: &Namespace) -> Values {
        Values {
            size: n.size,
            disk_size: n.disk_size,
            exclusive_size: n.exclusive_size,
            repositories: n.repositories as u64,
            tags: n.tags as u64,
        }
    }
}

impl Frame {
    /// The numbers of `s`.
    pub fn from_snapshot(s: &Snapshot) -> Frame {
        let repositories: Vec<(String, Values)> = s
            .repositories
            .iter()
            .map(|r| (r.name.clone(), Values::of_repository(r)))
            .collect();
        let namespaces = s
            .namespaces
            .iter()
            .map(|n| (n.name.clone(), Values::of_namespace(n)))
            .collect();
        let unique = s.unique_bytes();
        let totals = Values {
            size: repositories
                .iter()
                .fold(0u64, |a, (_, v)| a.saturating_add(v.size)),
            // Everything is exclusive to the registry as a whole.
            disk_size: unique,
            exclusive_size: unique,
            repositories: s.repositories.len() as u64,
            tags: s.tag_count() as u64,
        };
        Frame {
            timestamp: s.timestamp,
            totals,
            repositories,
            namespaces,
        }
    }
}

/// Which items a lookup is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Repository,
    Namespace,
}

/// Changes of one point: `(id, None)` is an item gone since the previous point. Sorted by id.
pub(crate) type Changes = Vec<(u32, Option<Values>)>;

/// One recorded crawl; its changes are kept encoded (see [`codec`]): most of the history is
/// never looked at, and the encoded form is a fifth of the decoded one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Point {
    pub(crate) timestamp: f64,
    pub(crate) totals: Values,
    pub(crate) changes: Vec<u8>,
}

/// Interned names of one kind: ids are indexes, never reused.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Names {
    pub(crate) list: Vec<Box<str>>,
    index: HashMap<Box<str>, u32>,
}

impl Names {
    pub(crate) fn from_list(list: Vec<Box<str>>) -> Names {
        let index = list
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i as u32))
            .collect();
        Names { list, index }
    }

    fn id(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.list.len() as u32;
        self.list.push(name.into());
        self.index.insert(name.into(), i);
        i
    }

    fn get(&self, name: &str) -> Option<u32> {
        self.index.get(name).copied()
    }

    fn heap_bytes(&self) -> usize {
        let strings: usize = self.list.iter().map(|n| n.len()).sum();
        // The list and the index each hold a copy; a map slot is about key + value + control.
        2 * strings + self.list.capacity() * 16 + self.index.capacity() * (16 + 4 + 8)
    }
}

/// The state of every item of one kind at one point, by id.
pub(crate) type State = Vec<Option<Values>>;

/// The recorded history. Build with [`History::default`] or [`codec::decode`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub(crate) repositories: Names,
    pub(crate) namespaces: Names,
    pub(crate) points: Vec<Point>,
    /// The state at the newest point, to diff the next crawl against.
    current: [State; 2],
}

/// The comparison point of a `since=` request: what every item held at that crawl.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Baseline {
    /// Unix seconds of the crawl compared with.
    pub timestamp: f64,
    pub totals: Values,
    pub repositories: HashMap<Box<str>, Values>,
    pub namespaces: HashMap<Box<str>, Values>,
}

/// One point of `/history`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub timestamp: f64,
    pub values: Values,
}

fn slot(kind: Kind) -> usize {
    match kind {
        Kind::Repository => 0,
        Kind::Namespace => 1,
    }
}

fn apply(state: &mut State, changes: &Changes) {
    for &(id, v) in changes {
        let i = id as usize;
        if state.len() <= i {
            state.resize(i + 1, None);
        }
        state[i] = v;
    }
}

/// What differs in `now` (by id, sorted) from `before`; ids absent from `now` are gone.
fn diff(before: &State, now: &[(u32, Values)]) -> Changes {
    let mut out = Changes::new();
    let mut present = vec![false; before.len()];
    for &(id, v) in now {
        let i = id as usize;
        if let Some(p) = present.get_mut(i) {
            *p = true;
        }
        if before.get(i).copied().flatten() != Some(v) {
            out.push((id, Some(v)));
        }
    }
    for (i, old) in before.iter().enumerate() {
        if old.is_some() && !present[i] {
            out.push((i as u32, None));
        }
    }
    out.sort_unstable_by_key(|c| c.0);
    out
}

impl History {
    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Recorded points.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Timestamps of the points, oldest first.
    pub fn timestamps(&self) -> Vec<f64> {
        self.points.iter().map(|p| p.timestamp).collect()
    }

    /// Rebuilds the current state from decoded points; checks every change refers to a
    /// known name. Used by [`codec::decode`].
    pub(crate) fn from_parts(
        repositories: Names,
        namespaces: Names,
        points: Vec<Point>,
    ) -> Result<History, codec::DecodeError> {
        let mut h = History {
            repositories,
            namespaces,
            points,
            current: [State::new(), State::new()],
        };
        let counts = h.counts();
        let mut current = [State::new(), State::new()];
        for p in &h.points {
            let changes = codec::decode_changes(&p.changes, counts, &current)?;
            for (state, c) in current.iter_mut().zip(&changes) {
                apply(state, c);
            }
        }
        h.current = current;
        Ok(h)
    }

    fn counts(&self) -> [usize; 2] {
        [self.repositories.list.len(), self.namespaces.list.len()]
    }

    /// Replays the points up to `last`: the state there, and the changes of `last` itself.
    pub(crate) fn replay(&self, last: usize) -> ([State; 2], [Changes; 2]) {
        let counts = self.counts();
        let mut state = [State::new(), State::new()];
        let mut changes = <[Changes; 2]>::default();
        for p in self.points.iter().take(last.saturating_add(1)) {
            // Our own encoding, checked when loaded: an unreadable point counts as no change.
            changes = codec::decode_changes(&p.changes, counts, &state).unwrap_or_default();
            for (s, c) in state.iter_mut().zip(&changes) {
                apply(s, c);
            }
        }
        (state, changes)
    }

    /// Records `frame` as the newest point (a frame not newer than the newest point replaces
    /// nothing and is ignored: a restart loading the state file records the same crawl), then
    /// thins at `now` with `keep` seconds (`None`: no age limit). Returns whether it recorded.
    pub fn record(&mut self, frame: &Frame, now: f64, keep: Option<f64>) -> bool {
        if self
            .points
            .last()
            .is_some_and(|p| frame.timestamp <= p.timestamp)
        {
            return false;
        }
        let ids = |names: &mut Names, items: &[(String, Values)]| -> Vec<(u32, Values)> {
            items.iter().map(|(n, v)| (names.id(n), *v)).collect()
        };
        let repos = ids(&mut self.repositories, &frame.repositories);
        let nss = ids(&mut self.namespaces, &frame.namespaces);
        let changes = [diff(&self.current[0], &repos), diff(&self.current[1], &nss)];
        let encoded = codec::encode_changes(&changes, &self.current);
        for (state, c) in self.current.iter_mut().zip(&changes) {
            apply(state, c);
        }
        self.points.push(Point {
            timestamp: frame.timestamp,
            totals: frame.totals,
            changes: encoded,
        });
        self.thin(now, keep);
        true
    }

    /// Drops the points [`thinning`] does not keep, merging their changes forward.
    pub fn thin(&mut self, now: f64, keep: Option<f64>) {
        let flags = thinning(&self.timestamps(), now, keep);
        if flags.iter().all(|&k| k) {
            return;
        }
        let counts = self.counts();
        // `running`: the state at each original point; `at_kept`: at the last kept one, which
        // a rewritten point's values are coded against.
        let mut running = [State::new(), State::new()];
        let mut at_kept = [State::new(), State::new()];
        let mut pending: [BTreeMap<u32, Option<Values>>; 2] = Default::default();
        let mut kept: Vec<Point> = Vec::with_capacity(self.points.len());
        for (p, keep_it) in std::mem::take(&mut self.points).into_iter().zip(flags) {
            // Our own encoding: an unreadable point counts as no change.
            let changes = codec::decode_changes(&p.changes, counts, &running).unwrap_or_default();
            for (s, c) in running.iter_mut().zip(&changes) {
                apply(s, c);
            }
            let dirty = pending.iter().any(|m| !m.is_empty());
            if keep_it && !dirty {
                kept.push(p);
            } else {
                for (m, c) in pending.iter_mut().zip(changes) {
                    m.extend(c);
                }
                if !keep_it {
                    continue;
                }
                let baseline = kept.is_empty();
                let merged = pending.each_mut().map(|m| {
                    std::mem::take(m)
                        .into_iter()
                        // The first point lists what exists; "gone" means nothing there.
                        .filter(|(_, v)| !(baseline && v.is_none()))
                        .collect::<Changes>()
                });
                let encoded = codec::encode_changes(&merged, &at_kept);
                kept.push(Point {
                    changes: encoded,
                    ..p
                });
            }
            at_kept.clone_from(&running);
        }
        self.points = kept;
    }

    /// The state of both kinds at point `index` (replayed from the first point).
    fn state_at(&self, index: usize) -> [State; 2] {
        self.replay(index).0
    }

    /// The comparison point for `since=at`: see [`resolve`]. `None` when nothing is recorded.
    pub fn baseline(&self, at: f64) -> Option<Baseline> {
        let index = resolve(&self.timestamps(), at)?;
        let [repos, nss] = self.state_at(index);
        let named = |names: &Names, state: State| -> HashMap<Box<str>, Values> {
            state
                .into_iter()
                .enumerate()
                .filter_map(|(i, v)| Some((names.list[i].clone(), v?)))
                .collect()
        };
        let p = &self.points[index];
        Some(Baseline {
            timestamp: p.timestamp,
            totals: p.totals,
            repositories: named(&self.repositories, repos),
            namespaces: named(&self.namespaces, nss),
        })
    }

    /// The timestamp of the point `since=at` resolves to.
    pub fn resolve(&self, at: f64) -> Option<f64> {
        resolve(&self.timestamps(), at).map(|i| self.points[i].timestamp)
    }

    /// The registry's totals at every point, oldest first.
    pub fn totals(&self) -> Vec<Sample> {
        self.points
            .iter()
            .map(|p| Sample {
                timestamp: p.timestamp,
                values: p.totals,
            })
            .collect()
    }

    /// One item's values at every point where it existed, oldest first; `None` when the name
    /// was never recorded.
    pub fn series(&self, kind: Kind, name: &str) -> Option<Vec<Sample>> {
        let names = match kind {
            Kind::Repository => &self.repositories,
            Kind::Namespace => &self.namespaces,
        };
        let id = names.get(name)? as usize;
        let counts = self.counts();
        let mut state = [State::new(), State::new()];
        let mut out = Vec::new();
        for p in &self.points {
            if let Ok(changes) = codec::decode_changes(&p.changes, counts, &state) {
                for (s, c) in state.iter_mut().zip(&changes) {
                    apply(s, c);
                }
            }
            if let Some(values) = state[slot(kind)].get(id).copied().flatten() {
                out.push(Sample {
                    timestamp: p.timestamp,
                    values,
                });
            }
        }
        Some(out)
    }

    /// Heap bytes held (names, encoded points, current state); allocator overhead not counted.
    pub fn heap_bytes(&self) -> usize {
        let points: usize = self
            .points
            .iter()
            .map(|p| std::mem::size_of::<Point>() + p.changes.capacity())
            .sum();
        let state: usize = self
            .current
            .iter()
            .map(|s| s.capacity() * std::mem::size_of::<Option<Values>>())
            .sum();
        self.repositories.heap_bytes() + self.namespaces.heap_bytes() + points + state
    }
}

/// Which of the points at `timestamps` (oldest first) to keep at `now`: every one younger
/// than [`RECENT`]; the first of each UTC day younger than [`DAILY`]; the first of each week
/// beyond; none older than `keep` seconds (`None`: no limit). The newest is always kept: it
/// is what the next crawl is compared with.
pub fn thinning(timestamps: &[f64], now: f64, keep: Option<f64>) -> Vec<bool> {
    let mut out = Vec::with_capacity(timestamps.len());
    let mut last_bucket: Option<(u8, i64)> = None;
    for (i, &t) in timestamps.iter().enumerate() {
        let age = now - t;
        let newest = i + 1 == timestamps.len();
        let keep_it = if newest {
            true
        } else if keep.is_some_and(|k| age > k) {
            false
        } else if age < RECENT {
            true
        } else {
            let bucket = if age < DAILY {
                (1, (t / DAY).floor() as i64)
            } else {
                (2, (t / WEEK).floor() as i64)
            };
            last_bucket.replace(bucket) != Some(bucket)
        };
        out.push(keep_it);
    }
    out
}

/// The index of the point `since=at` compares with: the newest at or before `at`, else the
/// oldest; `None` when there is none.
pub fn resolve(timestamps: &[f64], at: f64) -> Option<usize> {
    if timestamps.is_empty() {
        return None;
    }
    let after = timestamps.partition_point(|&t| t <= at);
    Some(after.saturating_sub(1))
}

/// Reads a `since=` value at `now` (Unix seconds): a span ago (`7d`, `24h`, `30m`, `2w`,
/// `90s`), an RFC 3339 time, or Unix seconds. `None` when it is none of them.
pub fn parse_since(value: &str, now: f64) -> Option<f64> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if let Ok(secs) = v.parse::<f64>() {
        return secs.is_finite().then_some(secs);
    }
    if let Some(t) = crate::snapshot::time::parse_rfc3339(v) {
        return Some(t as f64);
    }
    let split = v.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().ok()?;
    let unit_secs = match unit.trim() {
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => DAY,
        "w" => WEEK,
        _ => return None,
    };
    Some(now - n * unit_secs)
}

/// What `parse_since` accepts, for the 400 message.
pub const SINCE_FORMS: &str =
    "a span ago (7d, 24h, 30m, 2w), an RFC 3339 time (2026-12-01T00:00:00Z) or Unix seconds";

#[cfg(test)]
mod tests;
