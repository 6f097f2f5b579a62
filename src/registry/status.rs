//! What the collector reports about itself, for `/health` and `/metrics`: when the last crawl
//! succeeded, the last error, whether a crawl is running, and running totals.
//!
//! The collector writes it, the server reads copies of it. Plain data behind one mutex: no
//! clock (callers pass Unix seconds), no I/O, no threads. Messages stored here are shown to
//! unauthenticated clients, so they must never hold credentials or tokens.
//!
//! [`judge`] is the verdict `/health` gives from that state and the served snapshot: a pure
//! function, so every case is a unit test.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::snapshot::time::format_rfc3339;

/// A copy of the collector's state at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CollectorState {
    /// False when `registry_base_url` is empty (the service serves its state file only).
    pub enabled: bool,
    /// `[registry] update_interval` in seconds, for `/metrics` (alerting rules compare crawl
    /// durations and data age with it); `None` when not configured (unit tests).
    pub update_interval: Option<f64>,
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
    /// How the last successful crawl read GitLab's projects; `None` before one.
    pub projects: Option<super::ProjectsState>,
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

    /// Records `[registry] update_interval` for `/metrics`.
    pub fn with_interval(self, interval: Duration) -> CollectorStatus {
        self.update(|s| s.update_interval = Some(interval.as_secs_f64()));
        self
    }

    /// A copy of the current state.
    pub fn get(&self) -> CollectorState {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Applies `f` to the state under the lock.
    pub(crate) fn update(&self, f: impl FnOnce(&mut CollectorState)) {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()));
    }

    pub(crate) fn crawl_started(&self, now: f64) {
        self.update(|s| s.running_since = Some(now));
    }

    pub(crate) fn crawl_succeeded(&self, now: f64) {
        self.update(|s| {
            s.last_duration = s.running_since.take().map(|t| (now - t).max(0.0));
            s.last_success = Some(now);
            s.crawls_succeeded += 1;
        });
    }

    /// `reason` is a short fixed word (a metrics label); `message` one line for operators.
    pub(crate) fn crawl_failed(&self, now: f64, reason: &'static str, message: &str) {
        let line = message.lines().next().unwrap_or("").to_string();
        self.update(|s| {
            s.last_duration = s.running_since.take().map(|t| (now - t).max(0.0));
            s.last_error = Some((now, line));
            *s.crawls_failed.entry(reason).or_default() += 1;
        });
    }

    /// Adds one crawl's request counts to the totals.
    pub(crate) fn add_requests(&self, counts: &[(&'static str, u64)]) {
        self.update(|s| {
            for (kind, n) in counts {
                *s.registry_requests.entry(kind).or_default() += n;
            }
        });
    }
}

/// `/health`'s `projects`: how the last crawl read GitLab's projects (`mode`, `status`:
/// `ok`, `off`, `refused` or `failed`, `projects`, `message`); `None` before any crawl.
pub(crate) fn projects_body(state: &CollectorState) -> Option<serde_json::Value> {
    let p = state.projects.as_ref()?;
    Some(serde_json::json!({
        "mode": p.mode.as_str(),
        "status": p.status,
        "projects": p.projects,
        "message": p.message,
    }))
}

/// The facts about the served snapshot that the verdict needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SnapshotFacts {
    /// Unix seconds when the crawl that produced it finished.
    pub(crate) timestamp: f64,
    pub(crate) repositories: usize,
    pub(crate) tags: usize,
}

/// What `/health` answers: `Ok` is a 200, `Unavailable` a 503 with `Retry-After`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Health {
    Ok {
        last_success: Option<f64>,
        snapshot_timestamp: f64,
        repositories: usize,
        tags: usize,
        crawl_running_for: Option<u64>,
        /// Set when a crawl runs longer than usual.
        warning: Option<String>,
    },
    Unavailable {
        reason: String,
        last_error: Option<String>,
        crawl_running_for: Option<u64>,
        retry_after: u64,
    },
}

impl Health {
    /// The JSON body.
    pub(crate) fn body(&self) -> serde_json::Value {
        match self {
            Health::Ok {
                last_success,
                snapshot_timestamp,
                repositories,
                tags,
                crawl_running_for,
                warning,
            } => {
                let mut v = serde_json::json!({
                    "status": "ok",
                    "last_success": last_success,
                    "snapshot_timestamp": snapshot_timestamp,
                    "repositories": repositories,
                    "tags": tags,
                    "crawl_running_for": crawl_running_for,
                });
                if let (Some(w), Some(m)) = (warning, v.as_object_mut()) {
                    m.insert("warning".into(), w.clone().into());
                }
                v
            }
            Health::Unavailable {
                reason,
                last_error,
                crawl_running_for,
                ..
            } => serde_json::json!({
                "status": "unavailable",
                "reason": reason,
                "last_error": last_error,
                "crawl_running_for": crawl_running_for,
            }),
        }
    }
}

/// The verdict: healthy when a snapshot is served and either the collector is off (the state
/// file is all there is) or the last successful crawl — or, before any this run, the crawl
/// that produced the snapshot — finished less than twice `update_interval` ago. A crawl
/// running longer than usual (twice the last one's time, at least a minute; or, with no
/// earlier crawl, longer than `update_interval`) is called out. `now` is Unix seconds.
pub(crate) fn judge(
    state: &CollectorState,
    snapshot: Option<SnapshotFacts>,
    update_interval: Duration,
    now: f64,
) -> Health {
    let interval = update_interval.as_secs_f64();
    let running_for = state
        .running_since
        .map(|t| (now - t).max(0.0).floor() as u64);
    let long_running = running_for.filter(|&r| {
        let usual = state
            .last_duration
            .map_or(interval, |d| (2.0 * d).max(60.0));
        r as f64 > usual
    });
    let running_note = running_for.map(|r| match (long_running, state.last_duration) {
        (Some(_), Some(d)) => {
            format!("crawl running for {r} s, longer than usual (the last took {d:.0} s)")
        }
        (Some(_), None) => format!("crawl running for {r} s, longer than usual"),
        (None, _) => format!("crawl running for {r} s"),
    });
    let with_note = |reason: String| match &running_note {
        Some(n) => format!("{reason}; {n}"),
        None => reason,
    };
    let Some(snap) = snapshot else {
        return Health::Unavailable {
            reason: with_note("no data yet".into()),
            last_error: state.last_error.as_ref().map(|(_, m)| m.clone()),
            crawl_running_for: running_for,
            retry_after: 10,
        };
    };
    let reference = state
        .last_success
        .map_or(snap.timestamp, |t| t.max(snap.timestamp));
    if state.enabled && now - reference >= 2.0 * interval {
        let at = format_rfc3339(reference.floor() as i64);
        return Health::Unavailable {
            reason: with_note(format!("stale: last success at {at}")),
            // Only an error since that success explains the staleness.
            last_error: state
                .last_error
                .as_ref()
                .filter(|(t, _)| *t >= reference)
                .map(|(_, m)| m.clone()),
            crawl_running_for: running_for,
            retry_after: 60,
        };
    }
    Health::Ok {
        last_success: state.last_success,
        snapshot_timestamp: snap.timestamp,
        repositories: snap.repositories,
        tags: snap.tags,
        crawl_running_for: running_for,
        warning: long_running.and(running_note),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_line_after_a_crawl_only() {
        let st = CollectorStatus::new(true);
        assert_eq!(projects_body(&st.get()), None);
        st.update(|s| {
            s.projects = Some(crate::registry::ProjectsState {
                mode: crate::registry::ProjectsMode::Auto,
                status: "refused",
                projects: 0,
                message: Some("GitLab refused the access token".into()),
            })
        });
        assert_eq!(
            projects_body(&st.get()),
            Some(
                serde_json::json!({"mode": "auto", "status": "refused", "projects": 0,
                "message": "GitLab refused the access token"})
            )
        );
    }

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
    const HOUR: Duration = Duration::from_secs(3600);
    const NOW: f64 = 1_800_000_000.0;

    fn facts(timestamp: f64) -> Option<SnapshotFacts> {
        Some(SnapshotFacts {
            timestamp,
            repositories: 3,
            tags: 7,
        })
    }

    fn on() -> CollectorState {
        CollectorState {
            enabled: true,
            ..CollectorState::default()
        }
    }

    #[test]
    fn no_data_yet() {
        let mut st = on();
        st.running_since = Some(NOW - 42.0);
        st.last_error = Some((NOW - 100.0, "catalog: HTTP 500".into()));
        let h = judge(&st, None, HOUR, NOW);
        assert_eq!(
            h,
            Health::Unavailable {
                reason: "no data yet; crawl running for 42 s".into(),
                last_error: Some("catalog: HTTP 500".into()),
                crawl_running_for: Some(42),
                retry_after: 10,
            }
        );
        assert_eq!(h.body()["status"], "unavailable");
        assert_eq!(
            judge(&CollectorState::default(), None, HOUR, NOW).body(),
            serde_json::json!({"status": "unavailable", "reason": "no data yet",
                               "last_error": null, "crawl_running_for": null})
        );
    }

    #[test]
    fn fresh_data_is_ok_and_a_disabled_collector_never_goes_stale() {
        let mut st = on();
        st.last_success = Some(NOW - 3000.0);
        let h = judge(&st, facts(NOW - 3000.0), HOUR, NOW);
        assert_eq!(
            h.body(),
            serde_json::json!({"status": "ok", "last_success": NOW - 3000.0,
                "snapshot_timestamp": NOW - 3000.0, "repositories": 3, "tags": 7,
                "crawl_running_for": null})
        );
        // the state file's snapshot counts until the first crawl of this run succeeds
        assert!(matches!(
            judge(&on(), facts(NOW - 7000.0), HOUR, NOW),
            Health::Ok { .. }
        ));
        let off = CollectorState::default();
        assert!(matches!(
            judge(&off, facts(NOW - 1e7), HOUR, NOW),
            Health::Ok { .. }
        ));
    }

    #[test]
    fn stale_after_twice_the_interval_with_the_error_since() {
        let mut st = on();
        st.last_success = Some(1_799_992_800.0);
        st.last_error = Some((1_799_999_000.0, "token: HTTP 401".into()));
        let h = judge(&st, facts(1_799_992_800.0), HOUR, NOW);
        assert_eq!(
            h,
            Health::Unavailable {
                reason: "stale: last success at 2027-01-15T06:00:00Z".into(),
                last_error: Some("token: HTTP 401".into()),
                crawl_running_for: None,
                retry_after: 60,
            }
        );
        // an error older than the last success explains nothing
        st.last_error = Some((1_799_000_000.0, "old".into()));
        let Health::Unavailable { last_error, .. } = judge(&st, facts(0.0), HOUR, NOW) else {
            panic!("stale")
        };
        assert_eq!(last_error, None);
    }

    #[test]
    fn a_crawl_running_longer_than_usual_shows() {
        let mut st = on();
        st.last_success = Some(NOW - 600.0);
        st.last_duration = Some(100.0);
        st.running_since = Some(NOW - 150.0);
        let Health::Ok {
            warning,
            crawl_running_for,
            ..
        } = judge(&st, facts(NOW - 600.0), HOUR, NOW)
        else {
            panic!("ok")
        };
        assert_eq!((warning, crawl_running_for), (None, Some(150)));
        st.running_since = Some(NOW - 250.0);
        let h = judge(&st, facts(NOW - 600.0), HOUR, NOW);
        assert_eq!(
            h.body()["warning"],
            "crawl running for 250 s, longer than usual (the last took 100 s)"
        );
        // and in the reason once the data is stale
        st.last_success = Some(NOW - 9000.0);
        st.running_since = Some(NOW - 8000.0);
        let Health::Unavailable { reason, .. } = judge(&st, facts(NOW - 9000.0), HOUR, NOW) else {
            panic!("stale")
        };
        assert!(
            reason.ends_with("; crawl running for 8000 s, longer than usual (the last took 100 s)"),
            "{reason}"
        );
    }
}
