//! The filesystem driver: a [`Store`] on the directory Distribution's `filesystem` driver
//! calls `rootdirectory` (the one holding `docker/registry/v2`).
//!
//! Read-only: it opens files for reading and lists directories, nothing else. A symlink is
//! followed only when its target lies inside the root (checked on the resolved path) and is
//! not a directory already being walked, so a loop or a link out of the root is a warning,
//! never a hang or a read elsewhere.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::{Store, StoreError, Warning, V2_ROOT};

pub struct FsStore {
    /// The resolved root directory.
    root: PathBuf,
    v2: PathBuf,
}

const READ_FIX: &str = "give the service's user read access (the registry's data is usually \
                        owned by the `registry` user: see SupplementaryGroups= in the README)";

fn io_error(path: &Path, e: &std::io::Error) -> StoreError {
    if e.kind() == std::io::ErrorKind::NotFound {
        return StoreError::NotFound(path.display().to_string());
    }
    let fix = if e.kind() == std::io::ErrorKind::PermissionDenied {
        READ_FIX
    } else {
        "check the disk and the path"
    };
    StoreError::Failed {
        path: path.display().to_string(),
        message: format!("{e}: {fix}"),
    }
}

impl FsStore {
    /// Opens `rootdirectory`; `Err` when it or its `docker/registry/v2` is not a readable
    /// directory.
    pub fn open(rootdirectory: &Path) -> Result<FsStore, StoreError> {
        let root = std::fs::canonicalize(rootdirectory).map_err(|e| io_error(rootdirectory, &e))?;
        let v2 = root.join(V2_ROOT);
        match std::fs::read_dir(&v2) {
            Ok(_) => Ok(FsStore { root, v2 }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::Failed {
                path: v2.display().to_string(),
                message: format!(
                    "no {V2_ROOT} below {}: set [storage] rootdirectory to the registry's \
                     storage.filesystem.rootdirectory (GitLab omnibus: \
                     /var/opt/gitlab/gitlab-rails/shared/registry)",
                    rootdirectory.display()
                ),
            }),
            Err(e) => Err(io_error(&v2, &e)),
        }
    }

    /// Resolves a symlink met in the walk: `Some(target)` when it is inside the root.
    fn resolve(&self, link: &Path, rel: &str, warn: &mut dyn FnMut(Warning)) -> Option<PathBuf> {
        match std::fs::canonicalize(link) {
            Ok(t) if t.starts_with(&self.root) => Some(t),
            Ok(t) => {
                warn(Warning {
                    path: rel.to_string(),
                    problem: format!("a symlink to {}, outside the root: not followed", t.display()),
                    fix: "point [storage] rootdirectory at the real directory, or copy the data into the root".into(),
                });
                None
            }
            Err(e) => {
                warn(Warning {
                    path: rel.to_string(),
                    problem: format!(
                        "a symlink that cannot be resolved ({e}; a loop?): not followed"
                    ),
                    fix: "remove or repair the symlink".into(),
                });
                None
            }
        }
    }
}

impl Store for FsStore {
    fn driver(&self) -> &'static str {
        "filesystem"
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn walk(
        &self,
        prefix: &str,
        prune: &dyn Fn(&str) -> bool,
        f: &mut dyn FnMut(&str, u64),
        warn: &mut dyn FnMut(Warning),
    ) -> Result<(), StoreError> {
        let top = self.v2.join(prefix.trim_end_matches('/'));
        let first = std::fs::read_dir(&top).map_err(|e| io_error(&top, &e))?;
        let top_real = std::fs::canonicalize(&top).map_err(|e| io_error(&top, &e))?;
        // Directories reached through symlinks (resolved), against loops.
        let mut followed: HashSet<PathBuf> = HashSet::new();
        let mut stack = vec![(first, prefix.trim_end_matches('/').to_string())];
        while let Some((dir, rel)) = stack.pop() {
            for entry in dir {
                let entry = match entry {
                    Ok(e) => e,
                    Err(e) => {
                        warn(Warning {
                            path: rel.clone(),
                            problem: format!("cannot be listed: {e}"),
                            fix: READ_FIX.into(),
                        });
                        break;
                    }
                };
                let name = entry.file_name();
                let Some(name) = name.to_str() else {
                    continue; // Distribution writes ASCII names only
                };
                let child = format!("{rel}/{name}");
                let Ok(mut ty) = entry.file_type() else {
                    continue;
                };
                let mut path = entry.path();
                if ty.is_symlink() {
                    let Some(target) = self.resolve(&path, &child, warn) else {
                        continue;
                    };
                    let Ok(meta) = std::fs::metadata(&target) else {
                        continue;
                    };
                    let walked = target.starts_with(&top_real) || top_real.starts_with(&target);
                    if meta.is_dir() && (walked || !followed.insert(target.clone())) {
                        warn(Warning {
                            path: child,
                            problem: "a symlink to a directory walked anyway (a loop, or a second \
                                      path to the same data): not followed"
                                .into(),
                            fix: "remove the symlink".into(),
                        });
                        continue;
                    }
                    ty = meta.file_type();
                    path = target;
                }
                if ty.is_dir() && prune(&child) {
                    f(&format!("{child}/"), 0);
                } else if ty.is_dir() {
                    match std::fs::read_dir(&path) {
                        Ok(d) => stack.push((d, child)),
                        Err(e) => warn(Warning {
                            path: child,
                            problem: format!("cannot be listed: {e}"),
                            fix: READ_FIX.into(),
                        }),
                    }
                } else if ty.is_file() {
                    match std::fs::metadata(&path) {
                        Ok(m) => f(&child, m.len()),
                        Err(e) => warn(Warning {
                            path: child,
                            problem: format!("cannot be read: {e}"),
                            fix: READ_FIX.into(),
                        }),
                    }
                }
            }
        }
        Ok(())
    }

    fn read(&self, path: &str, max: u64) -> Result<Vec<u8>, StoreError> {
        let full = self.v2.join(path);
        // Resolved, so that no symlink on the way leads out of the root.
        let real = std::fs::canonicalize(&full).map_err(|e| io_error(&full, &e))?;
        if !real.starts_with(&self.root) {
            return Err(StoreError::Failed {
                path: path.to_string(),
                message: format!("leads to {}, outside the root: not read", real.display()),
            });
        }
        let file = std::fs::File::open(&real).map_err(|e| io_error(&full, &e))?;
        let size = file.metadata().map_err(|e| io_error(&full, &e))?.len();
        if size > max {
            return Err(StoreError::TooLarge {
                path: path.to_string(),
                size,
                max,
            });
        }
        let mut out = Vec::with_capacity(size as usize);
        file.take(max + 1)
            .read_to_end(&mut out)
            .map_err(|e| io_error(&full, &e))?;
        if out.len() as u64 > max {
            return Err(StoreError::TooLarge {
                path: path.to_string(),
                size: out.len() as u64,
                max,
            });
        }
        Ok(out)
    }
}
