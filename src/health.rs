//! What the collector reports about itself, for `/health` and `/metrics`: when the last crawl
//! succeeded, the last error, whether a crawl is running, and running totals.
//!
//! The collector writes it, the server reads copies of it. Plain data behind one mutex: no
//! clock (callers pass Unix seconds), no I/O, no threads. Messages stored here are shown to
//! unauthenticated clients, so they must never hold credentials or tokens.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// A copy of the collector's state at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CollectorState {
    /// False when `registry_base_url` is empty (the service serves its state file only).
    pub enabled: bool,
    /// Unix seconds when the last successful crawl finished.
    pub last_success: Option<f64>,
    /// Seconds the last finished crawl (successful or not) took.
    pub last_duration: Option<f64>,
    /// Unix seconds when the running crawl started; `None` between crawls.
    pub running_since: Option<f64>,
    /// The last failure, one line without credentials, and when it happened (Unix seconds).
    pub last_error: Option<(f64, String)>,
    /// Finished crawls that published a snapshot.
    pub crawls_succeeded: u64,
    /// Abandoned crawls by reason (a short fixed word such as `token`, `catalog`, `deadline`).
    pub crawls_failed: BTreeMap<&'static str, u64>,
    /// Requests made to the registry since start, by kind (`token`, `catalog`, `tags`, ...).
    pub registry_requests: BTreeMap<&'static str, u64>,
}

/// The shared, updatable state.
#[derive(Debug, Default)]
pub struct CollectorStatus(Mutex<CollectorState>);

impl CollectorStatus {
    pub fn new(enabled: bool) -> CollectorStatus {
        CollectorStatus(Mutex::new(CollectorState {
            enabled,
            ..CollectorState::default()
        }))
    }

    /// A copy of the current state.
    pub fn get(&self) -> CollectorState {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Applies `f` to the state under the lock.
    pub fn update(&self, f: impl FnOnce(&mut CollectorState)) {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()));
    }

    pub fn crawl_started(&self, now: f64) {
        self.update(|s| s.running_since = Some(now));
    }

    pub fn crawl_succeeded(&self, now: f64) {
        self.update(|s| {
            s.last_duration = s.running_since.take().map(|t| (now - t).max(0.0));
            s.last_success = Some(now);
            s.crawls_succeeded += 1;
        });
    }

    /// `reason` is a short fixed word (a metrics label); `message` one line for operators.
    pub fn crawl_failed(&self, now: f64, reason: &'static str, message: &str) {
        let line = message.lines().next().unwrap_or("").to_string();
        self.update(|s| {
            s.last_duration = s.running_since.take().map(|t| (now - t).max(0.0));
            s.last_error = Some((now, line));
            *s.crawls_failed.entry(reason).or_default() += 1;
        });
    }

    /// Adds one crawl's request counts to the totals.
    pub fn add_requests(&self, counts: &[(&'static str, u64)]) {
        self.update(|s| {
            for (kind, n) in counts {
                *s.registry_requests.entry(kind).or_default() += n;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crawl_cycle_is_recorded() {
        let st = CollectorStatus::new(true);
        st.crawl_started(100.0);
        assert_eq!(st.get().running_since, Some(100.0));
        st.crawl_failed(110.0, "catalog", "catalog: HTTP 500\nsecond line");
        st.crawl_started(200.0);
        st.crawl_succeeded(230.0);
        st.add_requests(&[("tags", 3), ("token", 1)]);
        st.add_requests(&[("tags", 2)]);
        let s = st.get();
        assert_eq!(s.running_since, None);
        assert_eq!(s.last_success, Some(230.0));
        assert_eq!(s.last_duration, Some(30.0));
        assert_eq!(s.last_error, Some((110.0, "catalog: HTTP 500".to_string())));
        assert_eq!(s.crawls_succeeded, 1);
        assert_eq!(s.crawls_failed.get("catalog"), Some(&1));
        assert_eq!(s.registry_requests.get("tags"), Some(&5));
    }
}
