//! Namespaces and exclusive sizes over a snapshot: the group totals (`a` and `a/b` for the
//! repository `a/b/c`) and the "freeable bytes" of every tag, repository and namespace — the
//! bytes of the blobs that nothing outside it refers to, i.e. what deleting it (and
//! garbage-collecting) would free.
//!
//! Pure arithmetic over the repositories and blobs of a snapshot being built, called once by
//! [`crate::snapshot`]: no I/O, no clock, no threads.
//!
//! Cost: O(total blob references) plus, per blob shared between repositories, the length of
//! two names and a binary search among namespaces. It rests on two facts: repositories are
//! sorted by name, so the repositories that refer to a blob lie between the first and the last
//! of them, and the namespaces holding all of them are exactly those holding those two.

use crate::snapshot::{Blob, Repository};

/// A group path prefix of repository names, with the sums over the repositories below it
/// (at any depth). Repositories whose tags were never read count as 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub(crate) name: String,
    pub(crate) size: u64,
    pub(crate) disk_size: u64,
    /// Bytes of the blobs that no tag outside this namespace refers to.
    pub(crate) exclusive_size: u64,
    /// Repositories below it, at any depth.
    pub(crate) repositories: usize,
    pub(crate) tags: usize,
    /// The repositories below it are `repositories[first..end]` of the snapshot (names with a
    /// common prefix are contiguous in byte order).
    pub(crate) first: usize,
    pub(crate) end: usize,
}

const NONE: u32 = u32::MAX;

/// Fills in the `exclusive_size` of every tag and repository (sorted by name, sizes already
/// computed) and returns the namespaces, sorted by name.
/// `refs` holds, per blob, how many tags refer to it (`Snapshot::blob_refs`).
pub fn compute(repos: &mut [Repository], blobs: &[Blob], refs: &[u32]) -> Vec<Namespace> {
    // Per blob: the first and last repository that refers to it.
    let n = blobs.len();
    let mut first = vec![NONE; n];
    let mut last = vec![NONE; n];
    for (ri, repo) in repos.iter().enumerate() {
        for tag in repo.tags.iter().flatten() {
            // A tag's blob list holds each blob once (the snapshot dedups it).
            for &b in &tag.blobs {
                let b = b as usize;
                if first[b] == NONE {
                    first[b] = ri as u32;
                }
                last[b] = ri as u32;
            }
        }
    }

    // Tags: blobs referred to by this tag alone.
    for repo in repos.iter_mut() {
        for tag in repo.tags.iter_mut().flatten() {
            tag.exclusive_size = tag
                .blobs
                .iter()
                .filter(|&&b| refs[b as usize] == 1)
                .fold(0u64, |s, &b| s.saturating_add(blobs[b as usize].size));
        }
    }

    // Repositories: blobs whose first and last referring repository is this one.
    let mut repo_excl = vec![0u64; repos.len()];
    for b in 0..n {
        if first[b] != NONE && first[b] == last[b] {
            let r = first[b] as usize;
            repo_excl[r] = repo_excl[r].saturating_add(blobs[b].size);
        }
    }
    for (repo, excl) in repos.iter_mut().zip(repo_excl) {
        repo.exclusive_size = repo.tags.as_ref().map(|_| excl);
    }

    let mut namespaces = namespaces(repos);
    let index = |name: &str| -> Option<usize> {
        namespaces
            .binary_search_by(|ns| ns.name.as_str().cmp(name))
            .ok()
    };

    // Each blob is exclusive to its deepest common namespace and every namespace above it:
    // add its size to the deepest one, then sum each namespace's subtree.
    let parent_of_repo: Vec<Option<usize>> = repos
        .iter()
        .map(|r| parent(&r.name).and_then(index))
        .collect();
    let mut direct = vec![0u64; namespaces.len()];
    for b in 0..n {
        if first[b] == NONE {
            continue;
        }
        let (f, l) = (first[b] as usize, last[b] as usize);
        let deepest = if f == l {
            parent_of_repo[f]
        } else {
            common_namespace(&repos[f].name, &repos[l].name).and_then(index)
        };
        if let Some(i) = deepest {
            direct[i] = direct[i].saturating_add(blobs[b].size);
        }
    }
    // Deeper namespaces first, so each adds its finished subtree sum to its parent.
    let parents: Vec<Option<usize>> = namespaces
        .iter()
        .map(|ns| parent(&ns.name).and_then(index))
        .collect();
    let mut by_depth: Vec<usize> = (0..namespaces.len()).collect();
    by_depth.sort_by_key(|&i| std::cmp::Reverse(depth(&namespaces[i].name)));
    for i in by_depth {
        if let Some(p) = parents[i] {
            direct[p] = direct[p].saturating_add(direct[i]);
        }
    }
    for (ns, excl) in namespaces.iter_mut().zip(direct) {
        ns.exclusive_size = excl;
    }
    namespaces
}

/// Every proper path prefix of every repository name, sorted, with its sums (exclusive sizes
/// left at 0).
fn namespaces(repos: &[Repository]) -> Vec<Namespace> {
    let mut names: Vec<&str> = Vec::new();
    for r in repos {
        let name = r.name.as_str();
        for (i, _) in name.match_indices('/') {
            if i > 0 {
                names.push(&name[..i]);
            }
        }
    }
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let below = format!("{name}/");
            let first = repos.partition_point(|r| r.name.as_str() < below.as_str());
            let end = repos.partition_point(|r| {
                r.name.as_str() < below.as_str() || r.name.starts_with(below.as_str())
            });
            let mut ns = Namespace {
                name: name.to_string(),
                size: 0,
                disk_size: 0,
                exclusive_size: 0,
                repositories: end - first,
                tags: 0,
                first,
                end,
            };
            for r in &repos[first..end] {
                ns.size = ns.size.saturating_add(r.size.unwrap_or(0));
                ns.disk_size = ns.disk_size.saturating_add(r.disk_size.unwrap_or(0));
                ns.tags += r.tags.as_ref().map_or(0, Vec::len);
            }
            ns
        })
        .collect()
}

/// The namespace a repository or namespace sits in directly (`a/b` for `a/b/c`).
fn parent(name: &str) -> Option<&str> {
    name.rfind('/').filter(|&i| i > 0).map(|i| &name[..i])
}

fn depth(name: &str) -> usize {
    name.bytes().filter(|&b| b == b'/').count()
}

/// The deepest namespace holding both repositories `a` and `b` (different names): their
/// longest common prefix that ends just before a `/` in both.
fn common_namespace<'a>(a: &'a str, b: &str) -> Option<&'a str> {
    let common = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    // `a[..common] == b[..common]`; the last `/` in it ends a prefix both continue after.
    let slash = a.as_bytes()[..common].iter().rposition(|&c| c == b'/')?;
    (slash > 0).then(|| &a[..slash])
}

#[cfg(test)]
mod tests {
    use crate::snapshot::fixtures::{build, repo, tag};
    use crate::snapshot::Snapshot;

    fn tag_excl(s: &Snapshot, r: &str, t: &str) -> u64 {
        s.repository(r).unwrap().tag(t).unwrap().exclusive_size
    }

    fn repo_excl(s: &Snapshot, r: &str) -> Option<u64> {
        s.repository(r).unwrap().exclusive_size
    }

    fn ns(s: &Snapshot, n: &str) -> (u64, u64, u64, usize, usize) {
        let ns = s.namespace(n).unwrap();
        (
            ns.size,
            ns.disk_size,
            ns.exclusive_size,
            ns.repositories,
            ns.tags,
        )
    }

    #[test]
    fn alias_tags_sharing_a_digest_free_nothing_alone() {
        let s = build(
            vec![repo(
                "base/alpine",
                Some(vec![
                    tag("latest", &["c", "l"]),
                    tag("stable", &["c", "l"]),
                    tag("edge", &["c", "l2"]),
                ]),
            )],
            &[("c", 290), ("l", 9000), ("l2", 50)],
        );
        assert_eq!(tag_excl(&s, "base/alpine", "latest"), 0);
        assert_eq!(tag_excl(&s, "base/alpine", "stable"), 0);
        // the config is shared, the layer is its own
        assert_eq!(tag_excl(&s, "base/alpine", "edge"), 50);
        // the repository frees everything it holds
        assert_eq!(repo_excl(&s, "base/alpine"), Some(9340));
        assert_eq!(ns(&s, "base"), (18920, 9340, 9340, 1, 3));
    }

    #[test]
    fn a_layer_shared_within_a_namespace_counts_for_it_but_not_for_each_repository() {
        let s = build(
            vec![
                repo("g/a", Some(vec![tag("1", &["base", "a"])])),
                repo("g/b", Some(vec![tag("1", &["base", "b"])])),
                repo("h/c", Some(vec![tag("1", &["c"])])),
            ],
            &[("base", 1000), ("a", 1), ("b", 2), ("c", 4)],
        );
        assert_eq!(repo_excl(&s, "g/a"), Some(1));
        assert_eq!(repo_excl(&s, "g/b"), Some(2));
        assert_eq!(tag_excl(&s, "g/a", "1"), 1);
        assert_eq!(ns(&s, "g"), (2003, 1003, 1003, 2, 2));
        assert_eq!(ns(&s, "h"), (4, 4, 4, 1, 1));
    }

    #[test]
    fn a_layer_shared_across_namespaces_belongs_to_none_of_them() {
        let s = build(
            vec![
                repo("g/sub/a", Some(vec![tag("1", &["base", "a"])])),
                repo("g/sub/b", Some(vec![tag("1", &["sub", "b"])])),
                repo("g/other", Some(vec![tag("1", &["sub"])])),
                repo("h/x", Some(vec![tag("1", &["base"])])),
            ],
            &[("base", 1000), ("sub", 100), ("a", 1), ("b", 2)],
        );
        // "base" is shared between g/... and h/...: nobody's alone
        assert_eq!(ns(&s, "g/sub").2, 3);
        // "sub" is shared between g/sub/b and g/other: g's, not g/sub's
        assert_eq!(ns(&s, "g").2, 103);
        assert_eq!(ns(&s, "h").2, 0);
        assert_eq!(repo_excl(&s, "h/x"), Some(0));
        assert_eq!(repo_excl(&s, "g/other"), Some(0));
        let names: Vec<&str> = s.namespaces.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["g", "g/sub", "h"]);
        assert_eq!(ns(&s, "g").3, 3);
    }

    #[test]
    fn a_repository_named_like_a_namespace_is_not_below_itself() {
        // "a/b" is a repository and (because of "a/b/c") a namespace; "a/b-x" sorts between.
        let s = build(
            vec![
                repo("a/b", Some(vec![tag("1", &["x", "own"])])),
                repo("a/b-x", Some(vec![tag("1", &["y"])])),
                repo("a/b/c", Some(vec![tag("1", &["x", "c"])])),
                repo("a/b/d", Some(vec![tag("1", &["c"])])),
            ],
            &[("x", 10), ("own", 1), ("y", 2), ("c", 3)],
        );
        let names: Vec<&str> = s.namespaces.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["a", "a/b"]);
        let ab = s.namespace("a/b").unwrap();
        assert_eq!((ab.repositories, ab.first, ab.end), (2, 2, 4));
        // "x" is shared by the repository a/b and a/b/c: outside namespace a/b, inside a
        assert_eq!(ab.exclusive_size, 3);
        assert_eq!(ns(&s, "a").2, 16);
        assert_eq!(ns(&s, "a").3, 4);
        assert_eq!(repo_excl(&s, "a/b"), Some(1));
    }

    #[test]
    fn unreadable_and_empty_repositories() {
        let s = build(
            vec![
                repo("g/never", None),
                repo("g/empty", Some(vec![])),
                repo("g/ok", Some(vec![tag("t", &["x"])])),
                repo("top", Some(vec![tag("t", &["y"])])),
            ],
            &[("x", 7), ("y", 5)],
        );
        assert_eq!(repo_excl(&s, "g/never"), None);
        assert_eq!(repo_excl(&s, "g/empty"), Some(0));
        assert_eq!(repo_excl(&s, "top"), Some(5));
        assert_eq!(ns(&s, "g"), (7, 7, 7, 3, 1));
        // a top-level repository is in no namespace
        assert_eq!(s.namespaces.len(), 1);
    }

    #[test]
    fn odd_names_do_not_panic() {
        let s = build(
            vec![
                repo("/lead", Some(vec![tag("t", &["x"])])),
                repo("a//b", Some(vec![tag("t", &["x"])])),
                repo("trail/", Some(vec![tag("t", &["y"])])),
                repo("ünï/cödé", Some(vec![tag("t", &["y"])])),
            ],
            &[("x", 1), ("y", 2)],
        );
        assert!(s.namespace("a").is_some() && s.namespace("a/").is_some());
        assert!(s.namespace("").is_none());
        assert_eq!(s.namespace("ünï").unwrap().repositories, 1);
    }

    #[test]
    fn matches_a_brute_force_count_on_a_generated_registry() {
        use std::collections::{HashMap, HashSet};
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut sizes = HashMap::new();
        let mut repos = Vec::new();
        for r in 0..60 {
            let tags = (0..(next() % 4))
                .map(|t| {
                    let bl: Vec<String> = (0..1 + next() % 5)
                        .map(|_| {
                            let d = match next() % 4 {
                                0 => format!("g{}", next() % 20),
                                1 => format!("r{r}-{}", next() % 3),
                                _ => format!("own{}", next()),
                            };
                            sizes.entry(d.clone()).or_insert(1 + next() % 1000);
                            d
                        })
                        .collect();
                    tag(
                        &format!("t{t}"),
                        &bl.iter().map(String::as_str).collect::<Vec<_>>(),
                    )
                })
                .collect();
            let name = format!("n{}/s{}/r{r}", next() % 3, next() % 3);
            repos.push(repo(&name, Some(tags)));
        }
        let sz: Vec<(&str, u64)> = sizes.iter().map(|(d, s)| (d.as_str(), *s)).collect();
        let s = build(repos, &sz);
        // every (repository, tag) that refers to each blob
        let mut users: HashMap<u32, Vec<(&str, &str)>> = HashMap::new();
        for r in &s.repositories {
            for t in r.tags.iter().flatten() {
                for &b in &t.blobs {
                    users.entry(b).or_default().push((&r.name, &t.name));
                }
            }
        }
        let freed = |inside: &dyn Fn(&str, &str) -> bool| -> u64 {
            users
                .iter()
                .filter(|(_, u)| u.iter().all(|(r, t)| inside(r, t)))
                .map(|(&b, _)| s.blobs[b as usize].size)
                .sum()
        };
        for r in &s.repositories {
            assert_eq!(r.exclusive_size, Some(freed(&|rn, _| rn == r.name)));
            for t in r.tags.iter().flatten() {
                assert_eq!(
                    t.exclusive_size,
                    freed(&|rn, tn| rn == r.name && tn == t.name)
                );
            }
        }
        let mut seen = HashSet::new();
        for n in &s.namespaces {
            let below = format!("{}/", n.name);
            assert_eq!(n.exclusive_size, freed(&|rn, _| rn.starts_with(&below)));
            let count = s
                .repositories
                .iter()
                .filter(|r| r.name.starts_with(&below))
                .count();
            assert_eq!(n.repositories, count);
            seen.insert(n.name.clone());
        }
        assert_eq!(seen.len(), 3 + 9);
    }
}
