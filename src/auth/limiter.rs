//! The failed-login limits: at most `max_failures_per_minute` failures per client bucket (see
//! [`super::address::bucket`]) in a sliding minute, and at most `max_failures_per_user` per
//! user name whatever the clients, then `429` until the oldest one is a minute old. One
//! [`FailureLimiter`] per kind of key.
//!
//! Memory is bounded and every call does O(1) work under one short lock: buckets live in a
//! fixed-capacity table ordered by their last failure (least recent first, a doubly linked list
//! through a slab). A new bucket reclaims at most two buckets whose failures have all aged out,
//! and when the table is full it forgets the one whose last failure is the oldest. Forgetting
//! only ever lets a client try again sooner, never locks anyone out. The per-bucket list holds
//! at most `max_failures_per_minute` times: once full, the client is refused before it can fail
//! again.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::address::bucket;
use crate::http::ipnet::IpNet;

const NIL: usize = usize::MAX;

/// Failed logins per key (a client bucket, or a user name) in a sliding minute, in a bounded
/// table.
pub struct FailureLimiter<K = IpNet> {
    max_per_minute: u32,
    window: Duration,
    table: Mutex<Table<K>>,
}

impl FailureLimiter<IpNet> {
    /// `Some(seconds to wait)` when `client`'s bucket has used up its failures.
    pub(crate) fn check(&self, client: IpAddr, now: Instant) -> Option<u64> {
        self.check_key(&bucket(client), now)
    }

    /// Counts one failure of `client` at `now`.
    pub(crate) fn record_failure(&self, client: IpAddr, now: Instant) {
        self.record_key(bucket(client), now)
    }
}

impl<K: Hash + Eq + Clone> FailureLimiter<K> {
    /// `max_per_minute == 0` disables the limit. `capacity` (at least 1) bounds the buckets
    /// remembered at once.
    pub fn new(max_per_minute: u32, capacity: usize) -> Self {
        FailureLimiter {
            max_per_minute,
            window: Duration::from_secs(60),
            table: Mutex::new(Table::new(capacity.max(1))),
        }
    }

    /// `Some(seconds to wait)` when `key` has used up its failures.
    pub(crate) fn check_key(&self, key: &K, now: Instant) -> Option<u64> {
        if self.max_per_minute == 0 {
            return None;
        }
        let mut t = self.lock();
        let i = *t.index.get(key)?;
        let failures = &mut t.slots[i].failures;
        expire(failures, now, self.window);
        if failures.len() < self.max_per_minute as usize {
            return None;
        }
        let oldest = *failures.front()?;
        let wait = self.window.saturating_sub(now.duration_since(oldest));
        Some(wait.as_secs().max(1))
    }

    /// Counts one failure of `key` at `now`.
    pub(crate) fn record_key(&self, key: K, now: Instant) {
        if self.max_per_minute == 0 {
            return;
        }
        let max = self.max_per_minute as usize;
        let mut t = self.lock();
        let i = match t.index.get(&key) {
            Some(&i) => i,
            None => t.insert(key, now, self.window),
        };
        let failures = &mut t.slots[i].failures;
        expire(failures, now, self.window);
        failures.push_back(now);
        while failures.len() > max {
            failures.pop_front();
        }
        t.touch(i);
    }

    /// Buckets remembered now (for tests and metrics).
    #[cfg(test)]
    pub(crate) fn tracked(&self) -> usize {
        self.lock().index.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table<K>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Drops failures older than `window` from the front (the list is in time order).
fn expire(failures: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while failures
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= window)
    {
        failures.pop_front();
    }
}

struct Slot<K> {
    key: K,
    failures: VecDeque<Instant>,
    /// Towards the least recently failed end.
    older: usize,
    /// Towards the most recently failed end.
    newer: usize,
}

/// Buckets in a slab, linked from `oldest` (least recent failure) to `newest`.
struct Table<K> {
    capacity: usize,
    index: HashMap<K, usize>,
    slots: Vec<Slot<K>>,
    free: Vec<usize>,
    oldest: usize,
    newest: usize,
}

impl<K: Hash + Eq + Clone> Table<K> {
    fn new(capacity: usize) -> Table<K> {
        Table {
            capacity,
            index: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            oldest: NIL,
            newest: NIL,
        }
    }

    /// A new, empty bucket for `key`, linked as the newest. Reclaims up to two aged-out buckets
    /// from the old end (amortised clean-up: each bucket is inserted once and reclaimed once),
    /// and the oldest one when the table is full.
    fn insert(&mut self, key: K, now: Instant, window: Duration) -> usize {
        for _ in 0..2 {
            let o = self.oldest;
            if o == NIL {
                break;
            }
            let last = self.slots[o].failures.back().copied();
            if last.is_some_and(|t| now.saturating_duration_since(t) < window) {
                break;
            }
            self.remove(o);
        }
        if self.index.len() >= self.capacity && self.oldest != NIL {
            self.remove(self.oldest);
        }
        let slot = Slot {
            key: key.clone(),
            failures: VecDeque::new(),
            older: NIL,
            newer: NIL,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        };
        self.index.insert(key, i);
        self.link_newest(i);
        i
    }

    fn remove(&mut self, i: usize) {
        self.unlink(i);
        let key = self.slots[i].key.clone();
        self.index.remove(&key);
        self.slots[i].failures = VecDeque::new();
        self.free.push(i);
    }

    /// Moves `i` to the newest end.
    fn touch(&mut self, i: usize) {
        if self.newest != i {
            self.unlink(i);
            self.link_newest(i);
        }
    }

    fn unlink(&mut self, i: usize) {
        let (older, newer) = (self.slots[i].older, self.slots[i].newer);
        match older {
            NIL => self.oldest = newer,
            o => self.slots[o].newer = newer,
        }
        match newer {
            NIL => self.newest = older,
            n => self.slots[n].older = older,
        }
        self.slots[i].older = NIL;
        self.slots[i].newer = NIL;
    }

    fn link_newest(&mut self, i: usize) {
        self.slots[i].older = self.newest;
        self.slots[i].newer = NIL;
        match self.newest {
            NIL => self.oldest = i,
            n => self.slots[n].newer = i,
        }
        self.newest = i;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn sliding_window() {
        let l = FailureLimiter::new(2, 100);
        let (a, b) = (ip("127.0.0.1"), ip("127.0.0.2"));
        let t0 = Instant::now();
        assert_eq!(l.check(a, t0), None);
        l.record_failure(a, t0);
        l.record_failure(a, t0 + S(10));
        assert_eq!(l.check(a, t0 + S(20)), Some(40));
        assert_eq!(l.check(b, t0 + S(20)), None);
        assert_eq!(l.check(a, t0 + S(60)), None, "the first failure aged out");
        assert_eq!(l.check(a, t0 + S(61)), None);
        let off = FailureLimiter::new(0, 100);
        for _ in 0..100 {
            off.record_failure(a, t0);
        }
        assert_eq!(off.check(a, t0), None);
        assert_eq!(off.tracked(), 0);
    }

    #[test]
    fn ipv6_clients_share_their_64_and_mapped_ones_their_ipv4_address() {
        let l = FailureLimiter::new(2, 100);
        let t0 = Instant::now();
        l.record_failure(ip("2001:db8::1"), t0);
        l.record_failure(ip("2001:db8::2:3"), t0);
        assert!(l.check(ip("2001:db8::ffff"), t0).is_some());
        assert!(l.check(ip("2001:db8:0:1::1"), t0).is_none());
        l.record_failure(ip("::ffff:192.0.2.1"), t0);
        l.record_failure(ip("192.0.2.1"), t0);
        assert!(l.check(ip("192.0.2.1"), t0).is_some());
        assert!(l.check(ip("192.0.2.2"), t0).is_none(), "IPv4 per address");
    }

    #[test]
    fn the_table_is_bounded_and_forgets_the_least_recent_failure() {
        let l = FailureLimiter::new(1, 3);
        let t0 = Instant::now();
        for (n, who) in ["10.0.0.1", "10.0.0.2", "10.0.0.3"].iter().enumerate() {
            l.record_failure(ip(who), t0 + S(n as u64));
        }
        // 10.0.0.1 fails again: now the newest, so 10.0.0.2 is the oldest
        l.record_failure(ip("10.0.0.1"), t0 + S(5));
        l.record_failure(ip("10.0.0.4"), t0 + S(6));
        assert_eq!(l.tracked(), 3);
        assert!(l.check(ip("10.0.0.2"), t0 + S(6)).is_none(), "forgotten");
        for kept in ["10.0.0.1", "10.0.0.3", "10.0.0.4"] {
            assert!(l.check(ip(kept), t0 + S(6)).is_some(), "{kept}");
        }
        // a flood of new addresses never grows the table
        for n in 0..1000u32 {
            l.record_failure(IpAddr::from(n.to_be_bytes()), t0 + S(7));
        }
        assert_eq!(l.tracked(), 3);
    }

    #[test]
    fn aged_out_buckets_are_reclaimed_as_new_ones_arrive() {
        let l = FailureLimiter::new(5, 1000);
        let t0 = Instant::now();
        for n in 0..10u32 {
            l.record_failure(IpAddr::from(n.to_be_bytes()), t0);
        }
        assert_eq!(l.tracked(), 10);
        // a minute later each new bucket reclaims up to two old ones
        for n in 100..105u32 {
            l.record_failure(IpAddr::from(n.to_be_bytes()), t0 + S(61));
        }
        assert_eq!(l.tracked(), 5);
        // the reclaimed slots are reused: the slab does not grow
        assert_eq!(l.lock().slots.len(), 10);
    }

    #[test]
    fn a_bucket_holds_at_most_max_failures() {
        let l = FailureLimiter::new(3, 10);
        let t0 = Instant::now();
        for n in 0..50 {
            l.record_failure(ip("10.0.0.1"), t0 + Duration::from_millis(n));
        }
        let t = l.lock();
        let i = t.index[&bucket(ip("10.0.0.1"))];
        assert_eq!(t.slots[i].failures.len(), 3);
    }

    #[test]
    fn the_list_stays_consistent() {
        let l = FailureLimiter::new(2, 4);
        let t0 = Instant::now();
        for n in 0..200u64 {
            let who = IpAddr::from([10, 0, 0, (n * 7 % 9) as u8]);
            l.record_failure(who, t0 + S(n));
            let t = l.lock();
            // walk oldest -> newest: every indexed slot once, times non-decreasing
            let mut seen = 0;
            let mut i = t.oldest;
            let mut prev: Option<Instant> = None;
            while i != NIL {
                let last = *t.slots[i].failures.back().unwrap();
                assert!(prev.is_none_or(|p| p <= last));
                prev = Some(last);
                assert_eq!(t.index[&t.slots[i].key], i);
                seen += 1;
                i = t.slots[i].newer;
            }
            assert_eq!(seen, t.index.len());
            assert!(seen <= 4);
        }
    }
}
