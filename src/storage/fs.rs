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

    /// The walk; with `leaf = Some((depth, name))`, directories `depth` levels below `prefix`
    /// are not listed: only their file `name` is looked at.
    fn walk_with(
        &self,
        prefix: &str,
        prune: &dyn Fn(&str) -> bool,
        leaf: Option<(usize, &str)>,
        f: &mut dyn FnMut(&str, u64),
        warn: &mut dyn FnMut(Warning),
    ) -> Result<(), StoreError> {
        let base = prefix.trim_end_matches('/');
        let top = self.v2.join(base);
        let top_real = std::fs::canonicalize(&top).map_err(|e| io_error(&top, &e))?;
        std::fs::read_dir(&top).map_err(|e| io_error(&top, &e))?;
        let mut w = Walk {
            store: self,
            top_real,
            followed: HashSet::new(),
            warn,
        };
        // Paths, not open directories: a wide tree must not hold thousands of descriptors.
        let mut stack = vec![(top, base.to_string(), 0usize)];
        while let Some((dir, rel, depth)) = stack.pop() {
            if leaf.is_some_and(|(d, _)| d == depth) {
                let name = leaf.map_or("", |(_, n)| n);
                let child = format!("{rel}/{name}");
                let path = dir.join(name);
                match std::fs::symlink_metadata(&path) {
                    Ok(m) if m.is_file() => f(&child, m.len()),
                    Ok(m) if m.file_type().is_symlink() => {
                        if let Some((p, ty)) = w.follow(&path, &child) {
                            w.visit(p, child, ty, depth, prune, f, &mut stack);
                        }
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => w.cannot(&child, "read", &e),
                }
                continue;
            }
            let entries = match std::fs::read_dir(&dir) {
                Ok(d) => d,
                Err(e) => {
                    w.cannot(&rel, "list", &e);
                    continue;
                }
            };
            for entry in entries {
                let entry = match entry {
                    Ok(e) => e,
                    Err(e) => {
                        w.cannot(&rel, "list", &e);
                        break;
                    }
                };
                let name = entry.file_name();
                let Some(name) = name.to_str() else {
                    continue; // Distribution writes ASCII names only
                };
                let child = format!("{rel}/{name}");
                let Ok(ty) = entry.file_type() else {
                    continue;
                };
                let path = entry.path();
                if ty.is_symlink() {
                    if let Some((p, ty)) = w.follow(&path, &child) {
                        w.visit(p, child, ty, depth, prune, f, &mut stack);
                    }
                } else {
                    w.visit(path, child, ty, depth, prune, f, &mut stack);
                }
            }
        }
        Ok(())
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
        self.walk_with(prefix, prune, None, f, warn)
    }

    fn blob_data(
        &self,
        f: &mut dyn FnMut(&str, u64),
        warn: &mut dyn FnMut(Warning),
    ) -> Result<(), StoreError> {
        // `blobs/<algo>/<xx>/<hex>/data`: a stat of each `data` instead of a listing of each
        // `<hex>` directory (one system call per blob instead of four).
        self.walk_with("blobs/", &|_| false, Some((3, "data")), f, warn)
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

/// The state of one walk.
struct Walk<'a, 'w> {
    store: &'a FsStore,
    top_real: PathBuf,
    /// Directories reached through symlinks (resolved), against loops.
    followed: HashSet<PathBuf>,
    warn: &'w mut dyn FnMut(Warning),
}

type Stack = Vec<(PathBuf, String, usize)>;

impl Walk<'_, '_> {
    fn cannot(&mut self, path: &str, what: &str, e: &std::io::Error) {
        (self.warn)(Warning {
            path: path.to_string(),
            problem: format!("cannot be {what}: {e}"),
            fix: READ_FIX.into(),
        });
    }

    /// A symlink's target and its type, when it may be followed.
    fn follow(&mut self, link: &Path, rel: &str) -> Option<(PathBuf, std::fs::FileType)> {
        let target = self.store.resolve(link, rel, self.warn)?;
        let meta = std::fs::metadata(&target).ok()?;
        let walked = target.starts_with(&self.top_real) || self.top_real.starts_with(&target);
        if meta.is_dir() && (walked || !self.followed.insert(target.clone())) {
            (self.warn)(Warning {
                path: rel.to_string(),
                problem: "a symlink to a directory walked anyway (a loop, or a second path to \
                          the same data): not followed"
                    .into(),
                fix: "remove the symlink".into(),
            });
            return None;
        }
        Some((target, meta.file_type()))
    }

    /// A directory is queued (or reported when pruned), a file reported with its size.
    #[allow(clippy::too_many_arguments)]
    fn visit(
        &mut self,
        path: PathBuf,
        child: String,
        ty: std::fs::FileType,
        depth: usize,
        prune: &dyn Fn(&str) -> bool,
        f: &mut dyn FnMut(&str, u64),
        stack: &mut Stack,
    ) {
        if ty.is_dir() && prune(&child) {
            f(&format!("{child}/"), 0);
        } else if ty.is_dir() {
            stack.push((path, child, depth + 1));
        } else if ty.is_file() {
            match std::fs::metadata(&path) {
                Ok(m) => f(&child, m.len()),
                Err(e) => self.cannot(&child, "read", &e),
            }
        }
    }
}
