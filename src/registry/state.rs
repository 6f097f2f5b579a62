//! The state file: the last published snapshot on disk, so a restart serves data at once.
//!
//! Loading never fails the service (a corrupt or incompatible file is reported and ignored by
//! the caller); saving is atomic (temporary file in the same directory, fsync, rename), and
//! the temporary files of processes killed while saving are removed at the next start.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::snapshot::Snapshot;

/// Why the state file could not be read or written.
#[derive(Debug)]
pub enum StateFileError {
    Io {
        path: String,
        op: &'static str,
        err: std::io::Error,
    },
    Content {
        path: String,
        err: crate::snapshot::StateError,
    },
}

impl std::fmt::Display for StateFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateFileError::Io { path, op, err } => write!(f, "{path}: cannot {op}: {err}"),
            StateFileError::Content { path, err } => write!(f, "{path}: {err}"),
        }
    }
}

impl std::error::Error for StateFileError {}

/// Loads the snapshot at `path`; `Ok(None)` when there is no file yet. The file is parsed as
/// it is read, never held in memory whole.
pub fn load(path: &Path) -> Result<Option<Snapshot>, StateFileError> {
    let p = path.display().to_string();
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => {
            return Err(StateFileError::Io {
                path: p,
                op: "read it",
                err,
            })
        }
    };
    Snapshot::read_state_json(std::io::BufReader::with_capacity(256 * 1024, file))
        .map(Some)
        .map_err(|err| StateFileError::Content { path: p, err })
}

/// Writes `snap` to `path` atomically: readers see the old file or the new one, never half.
pub(crate) fn save(path: &Path, snap: &Snapshot) -> Result<(), StateFileError> {
    write_atomically(path, |w| {
        snap.write_state_json(w).map_err(std::io::Error::from)
    })
}

/// Writes what `write` produces to `path` atomically (temporary file `.<name>.tmp-<pid>` in
/// the same directory, fsync, rename, fsync of the directory); the temporary file is removed
/// on failure. Also the crawl history's way of saving.
pub(crate) fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), StateFileError> {
    let p = path.display().to_string();
    let io = |op: &'static str| {
        let p = p.clone();
        move |err| StateFileError::Io { path: p, op, err }
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp).map_err(io("create a temporary file beside it"))?;
        // Streamed: a large registry's state is tens of megabytes, never held twice.
        let mut w = std::io::BufWriter::with_capacity(256 * 1024, &mut f);
        write(&mut w).map_err(io("write it"))?;
        w.flush().map_err(io("write it"))?;
        drop(w);
        f.sync_all().map_err(io("sync it"))?;
        fs::rename(&tmp, path).map_err(io("rename the temporary file over it"))?;
        // Make the rename itself durable.
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes the temporary files (`.<name>.tmp-<pid>`) that earlier processes killed while
/// saving left beside the state file at `path` (one per kill); ours, if any, stays. Returns
/// how many were removed. Call it at start, before anything saves.
pub fn remove_stale_temporaries(path: &Path) -> usize {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return 0;
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let prefix = format!(".{name}.tmp-");
    let ours = std::process::id().to_string();
    let mut removed = 0;
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(pid) = file.to_str().and_then(|f| f.strip_prefix(&prefix)) else {
            continue;
        };
        if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) || pid == ours {
            continue;
        }
        if entry.file_type().is_ok_and(|t| t.is_file()) && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::SnapshotInput;

    #[test]
    fn save_then_load_and_missing_and_corrupt() {
        let dir = std::env::temp_dir().join(format!("grur-state-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        assert!(load(&path).unwrap().is_none());
        let snap = Snapshot::build(SnapshotInput {
            timestamp: 42.5,
            ..Default::default()
        })
        .unwrap();
        save(&path, &snap).unwrap();
        assert_eq!(load(&path).unwrap().unwrap(), snap);
        fs::write(&path, b"{\"version\": 1, \"timestamp\": ").unwrap();
        assert!(matches!(load(&path), Err(StateFileError::Content { .. })));
        assert!(save(&dir.join("missing-dir/state.json"), &snap).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stale_temporaries_are_removed_and_nothing_else() {
        let dir = std::env::temp_dir().join(format!("grur-state-tmp-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        let ours = format!(".state.json.tmp-{}", std::process::id());
        let files = [
            "state.json",
            ".state.json.tmp-12345",
            ".state.json.tmp-1",
            ours.as_str(),
            ".state.json.tmp-abc",
            ".other.json.tmp-12345",
            "state.json.tmp-12345",
        ];
        for f in files {
            fs::write(dir.join(f), b"x").unwrap();
        }
        assert_eq!(remove_stale_temporaries(&path), 2);
        let mut left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut want: Vec<String> = files
            .iter()
            .filter(|f| ![".state.json.tmp-12345", ".state.json.tmp-1"].contains(f))
            .map(|f| f.to_string())
            .collect();
        want.sort();
        assert_eq!(left, want);
        assert_eq!(remove_stale_temporaries(&dir.join("missing/state.json")), 0);
        fs::remove_dir_all(&dir).unwrap();
    }
}
