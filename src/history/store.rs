//! The history file and the shared handle to the history: where the file lives (beside the
//! state file: `<state file name without extension>.history`), loading it at start (a
//! damaged file is renamed aside with a warning and a new history starts), recording each
//! published crawl and saving atomically (as the state file is saved), and the lookups the
//! server makes, with the comparison points of `since=` kept for reuse.
//!
//! The only file I/O of the history; the state file never depends on it. The clock comes in
//! as `now` from the caller.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use super::{codec, Baseline, Frame, History, Kind, Sample};
use crate::registry::state;
use crate::snapshot::Snapshot;

/// Comparison points kept for reuse: a dashboard asks for a few fixed spans (1, 7, 30 days).
const BASELINES: usize = 3;

/// The history shared by the collector (which records) and the workers (which read).
#[derive(Debug, Default)]
pub struct HistoryStore {
    /// `None`: history is off (`[history] keep = 0` or no state file).
    path: Option<PathBuf>,
    keep: f64,
    history: RwLock<History>,
    baselines: Mutex<Vec<Arc<Baseline>>>,
}

/// The history file for the state file at `state_file`.
pub fn path_for(state_file: &Path) -> PathBuf {
    let stem = state_file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    state_file.with_file_name(format!("{stem}.history"))
}

impl HistoryStore {
    /// No history: every lookup finds nothing, recording does nothing.
    pub fn off() -> HistoryStore {
        HistoryStore::default()
    }

    /// A history in memory only (tests, benchmarks): recorded, never saved.
    pub fn in_memory(keep: Duration) -> HistoryStore {
        HistoryStore {
            keep: keep.as_secs_f64(),
            ..HistoryStore::default()
        }
    }

    /// Opens the history beside `state_file`, kept for `keep` (zero: off; no state file: in
    /// memory only, lost at a restart, as the data is). Never fails: what cannot be read is
    /// reported and a new history starts.
    pub fn open(state_file: &Path, keep: Duration) -> HistoryStore {
        if keep.is_zero() {
            return HistoryStore::off();
        }
        if state_file.as_os_str().is_empty() {
            return HistoryStore::in_memory(keep);
        }
        let path = path_for(state_file);
        state::remove_stale_temporaries(&path);
        let history = load(&path);
        if !history.is_empty() {
            log::info!(
                "loaded {} recorded crawls from {}",
                history.len(),
                path.display()
            );
        }
        HistoryStore {
            path: Some(path),
            keep: keep.as_secs_f64(),
            history: RwLock::new(history),
            baselines: Mutex::default(),
        }
    }

    /// Whether crawls are recorded.
    pub fn enabled(&self) -> bool {
        self.path.is_some() || self.keep > 0.0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, History> {
        self.history.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a published crawl at `now` (Unix seconds), thins, and saves the file. A crawl
    /// not newer than the newest point (the state file's, loaded again) is not recorded.
    pub fn record(&self, snap: &Snapshot, now: f64) {
        if !self.enabled() {
            return;
        }
        let frame = Frame::from_snapshot(snap);
        let recorded = self
            .history
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .record(&frame, now, Some(self.keep));
        if !recorded {
            return;
        }
        if let Some(path) = &self.path {
            let h = self.read();
            let saved = state::write_atomically(path, |w| codec::encode(&h, w));
            if let Err(e) = saved {
                log::warn!(
                    "cannot save the crawl history: {e}; it is kept in memory until the next crawl"
                );
            }
        }
    }

    /// The comparison point for `since=at`; `None` when nothing is recorded.
    pub fn baseline(&self, at: f64) -> Option<Arc<Baseline>> {
        let timestamp = self.read().resolve(at)?;
        let mut cache = self.baselines.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = cache.iter().position(|b| b.timestamp == timestamp) {
            let b = cache.remove(i);
            cache.push(b.clone());
            return Some(b);
        }
        // The state at a kept point never changes (thinning merges into later points), so a
        // comparison point stays valid as long as its crawl is recorded.
        let b = Arc::new(self.read().baseline(timestamp)?);
        if cache.len() >= BASELINES {
            cache.remove(0);
        }
        cache.push(b.clone());
        Some(b)
    }

    /// The registry's totals at every recorded crawl, oldest first.
    pub fn totals(&self) -> Vec<Sample> {
        self.read().totals()
    }

    /// One repository's or namespace's values at every recorded crawl where it existed.
    pub fn series(&self, kind: Kind, name: &str) -> Option<Vec<Sample>> {
        self.read().series(kind, name)
    }
}

/// The history at `path`: empty when there is none, or when it cannot be used (then a
/// damaged file is renamed to `<path>.corrupt-<pid>` and kept for inspection).
fn load(path: &Path) -> History {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return History::default(),
        Err(e) => {
            log::warn!(
                "cannot read the crawl history {}: {e}; a new history starts (fix the file's permissions to keep the old one)",
                path.display()
            );
            return History::default();
        }
    };
    match codec::decode(&bytes) {
        Ok(h) => h,
        Err(e) => {
            let aside = PathBuf::from(format!("{}.corrupt-{}", path.display(), std::process::id()));
            let kept = match std::fs::rename(path, &aside) {
                Ok(()) => format!("kept as {}", aside.display()),
                Err(r) => format!("could not be renamed aside ({r}) and will be replaced"),
            };
            log::warn!(
                "the crawl history {} is unusable ({e}); it is {kept}, and a new history starts",
                path.display()
            );
            History::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::fixtures;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("grur-history-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn snap(t: f64, bytes: u64) -> Snapshot {
        let mut s = fixtures::build(
            vec![fixtures::repo(
                "g/a",
                Some(vec![fixtures::tag("1", &["x"])]),
            )],
            &[("x", bytes)],
        );
        s.timestamp = t;
        s
    }

    #[test]
    fn path_beside_the_state_file() {
        assert_eq!(
            path_for(Path::new("/var/lib/x/state.json")),
            PathBuf::from("/var/lib/x/state.history")
        );
        assert_eq!(path_for(Path::new("state")), PathBuf::from("state.history"));
    }

    #[test]
    fn records_saves_and_loads_again() {
        let d = dir("roundtrip");
        let state = d.join("state.json");
        let keep = Duration::from_secs(86_400 * 365);
        let s = HistoryStore::open(&state, keep);
        s.record(&snap(1000.0, 10), 1000.0);
        s.record(&snap(2000.0, 25), 2000.0);
        // the same crawl again (a restart) is not a new point
        s.record(&snap(2000.0, 25), 2001.0);
        let again = HistoryStore::open(&state, keep);
        let totals = again.totals();
        assert_eq!(totals.len(), 2);
        assert_eq!(totals[1].values.disk_size, 25);
        let b = again.baseline(1500.0).unwrap();
        assert_eq!(b.timestamp, 1000.0);
        assert_eq!(b.repositories["g/a"].disk_size, 10);
        assert_eq!(
            again.series(Kind::Namespace, "g").unwrap()[1].values.size,
            25
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_corrupt_file_is_kept_aside_and_a_new_history_starts() {
        let d = dir("corrupt");
        let state = d.join("state.json");
        std::fs::write(d.join("state.history"), b"GRUHIST\x01garbage").unwrap();
        let s = HistoryStore::open(&state, Duration::from_secs(3600));
        assert!(s.totals().is_empty());
        let aside: Vec<String> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("state.history.corrupt-"))
            .collect();
        assert_eq!(aside.len(), 1, "{aside:?}");
        s.record(&snap(10.0, 1), 10.0);
        assert_eq!(
            HistoryStore::open(&state, Duration::from_secs(3600))
                .totals()
                .len(),
            1
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn off_records_nothing_and_no_state_file_keeps_it_in_memory() {
        let s = HistoryStore::open(Path::new(""), Duration::from_secs(3600));
        s.record(&snap(10.0, 1), 10.0);
        assert_eq!(s.totals().len(), 1);
        let s = HistoryStore::off();
        s.record(&snap(10.0, 1), 10.0);
        assert!(s.totals().is_empty() && s.baseline(10.0).is_none());
        let d = dir("off");
        let s = HistoryStore::open(&d.join("state.json"), Duration::ZERO);
        s.record(&snap(10.0, 1), 10.0);
        assert!(!d.join("state.history").exists());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
