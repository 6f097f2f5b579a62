//! A map of values computed at most once each, by one thread while others wanting the same
//! key wait: the crawl's cache of manifests, configs and blob sizes by digest.
//!
//! It must never block a computation on itself. A thread that asks for a key it is itself
//! computing (an index listing itself), or whose wait would close a circle of threads each
//! waiting for another's key (two indexes listing each other, read by two threads), gets
//! the caller's cycle error at once instead of waiting for ever. A computation that fails or
//! panics is not remembered: its waiters wake and one of them tries again.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread::{self, ThreadId};

pub(crate) struct SingleFlight<V> {
    state: Mutex<Flights<V>>,
    changed: Condvar,
}

struct Flights<V> {
    done: HashMap<String, V>,
    /// Keys being computed, and by which thread.
    running: HashMap<String, ThreadId>,
    /// Threads waiting, and for which key.
    waiting: HashMap<ThreadId, String>,
}

impl<V> Flights<V> {
    /// Whether `me` waiting for `key` would wait, through a chain of waiting owners, for
    /// itself.
    fn closes_cycle(&self, me: ThreadId, key: &str) -> bool {
        let mut key = key;
        // Each step passes one waiting thread; more steps than waiters is a circle too.
        for _ in 0..=self.waiting.len() {
            let Some(&owner) = self.running.get(key) else {
                return false;
            };
            if owner == me {
                return true;
            }
            match self.waiting.get(&owner) {
                Some(next) => key = next,
                None => return false,
            }
        }
        true
    }
}

/// Removes a running entry when its computation ends, also by a panic, and wakes waiters.
struct Running<'a, V> {
    map: &'a SingleFlight<V>,
    key: &'a str,
}

impl<V> Drop for Running<'_, V> {
    fn drop(&mut self) {
        self.map.lock().running.remove(self.key);
        self.map.changed.notify_all();
    }
}

impl<V> SingleFlight<V> {
    fn lock(&self) -> MutexGuard<'_, Flights<V>> {
        // A panic elsewhere leaves plain data behind, still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<V: Clone> SingleFlight<V> {
    pub(crate) fn new() -> Self {
        SingleFlight {
            state: Mutex::new(Flights {
                done: HashMap::new(),
                running: HashMap::new(),
                waiting: HashMap::new(),
            }),
            changed: Condvar::new(),
        }
    }

    /// The value of `key`: remembered, or computed by `fetch` here, or by another thread
    /// while this one waits. `cycle` makes the error for a wait that would never end.
    pub(crate) fn get_or_fetch<E>(
        &self,
        key: &str,
        fetch: impl FnOnce() -> Result<V, E>,
        cycle: impl FnOnce() -> E,
    ) -> Result<V, E> {
        let me = thread::current().id();
        let mut st = self.lock();
        loop {
            if let Some(v) = st.done.get(key) {
                return Ok(v.clone());
            }
            if !st.running.contains_key(key) {
                break;
            }
            if st.closes_cycle(me, key) {
                return Err(cycle());
            }
            st.waiting.insert(me, key.to_string());
            st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
            st.waiting.remove(&me);
        }
        st.running.insert(key.to_string(), me);
        drop(st);
        let guard = Running { map: self, key };
        let result = fetch();
        if let Ok(v) = &result {
            self.lock().done.insert(key.to_string(), v.clone());
        }
        drop(guard);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Barrier};
    use std::time::Duration;

    #[test]
    fn computes_once_while_others_wait_and_forgets_failures() {
        let m: SingleFlight<u32> = SingleFlight::new();
        let calls = AtomicU32::new(0);
        let slow = || {
            calls.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(30));
            Ok::<u32, &str>(7)
        };
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| assert_eq!(m.get_or_fetch("k", slow, || "cycle"), Ok(7)));
            }
        });
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(m.get_or_fetch("e", || Err("down"), || "cycle"), Err("down"));
        assert_eq!(m.get_or_fetch("e", || Ok(3), || "cycle"), Ok(3));
    }

    #[test]
    fn a_fetch_that_needs_itself_gets_the_cycle_error() {
        let m: SingleFlight<u32> = SingleFlight::new();
        let r = m.get_or_fetch(
            "x",
            || m.get_or_fetch("x", || Ok(1), || "cycle"),
            || "outer",
        );
        assert_eq!(r, Err("cycle"));
        // not remembered: a later, sane fetch works
        assert_eq!(m.get_or_fetch("x", || Ok(2), || "cycle"), Ok(2));
    }

    #[test]
    fn two_threads_each_needing_the_others_key_do_not_deadlock() {
        let m: Arc<SingleFlight<u32>> = Arc::new(SingleFlight::new());
        let both_running = Arc::new(Barrier::new(2));
        let run = |mine: &'static str, theirs: &'static str| {
            let (m, b) = (m.clone(), both_running.clone());
            std::thread::spawn(move || {
                m.get_or_fetch(
                    mine,
                    || {
                        b.wait();
                        // Let the other thread start waiting for our key first, sometimes.
                        std::thread::sleep(Duration::from_millis(if mine == "a" { 0 } else { 20 }));
                        m.get_or_fetch(theirs, || Ok(9), || "cycle")
                    },
                    || "outer cycle",
                )
            })
        };
        let (a, b) = (run("a", "b"), run("b", "a"));
        let (ra, rb) = (a.join().unwrap(), b.join().unwrap());
        // One of them saw the circle; the other then computed its key.
        assert!(ra == Err("cycle") || rb == Err("cycle"), "{ra:?} {rb:?}");
    }

    #[test]
    fn a_panicking_fetch_releases_its_waiters() {
        let m: SingleFlight<u32> = SingleFlight::new();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            m.get_or_fetch::<&str>("p", || panic!("bug"), || "cycle")
        }));
        assert!(r.is_err());
        assert_eq!(m.get_or_fetch("p", || Ok(4), || "cycle"), Ok(4));
    }
}
