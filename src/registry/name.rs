//! Repository names as Distribution's reference grammar defines them: components of lower-case
//! letters and digits joined by `.`, `_`, `__` or runs of `-`, separated by `/`, at most 255
//! bytes in all. The crawl asks this about every catalog entry before it reads anything of
//! it, so a hostile registry cannot make it keep names that no real registry has (or the
//! namespaces of very long, very deep ones, whose memory grows with length times depth).
//!
//! Pure: no I/O. It must not decide what a skipped name means for the crawl (that is
//! `crawl.rs`, which warns and leaves the name out).

/// Distribution's limit on a whole repository name.
pub(crate) const MAX_NAME_BYTES: usize = 255;

/// Why `name` is not a repository name we keep, or `Ok` when it is one; `max_depth` is the
/// most `/`-separated components (`[registry] max_name_depth`).
pub(crate) fn check(name: &str, max_depth: usize) -> Result<(), String> {
    if name.len() > MAX_NAME_BYTES {
        return Err(format!(
            "longer than {MAX_NAME_BYTES} bytes ({} bytes)",
            name.len()
        ));
    }
    let depth = name.split('/').count();
    if depth > max_depth {
        return Err(format!(
            "{depth} components, more than [registry] max_name_depth ({max_depth})"
        ));
    }
    if name.split('/').all(component_ok) {
        Ok(())
    } else {
        Err("not a repository name (lower-case letters and digits joined by . _ __ - and /)".into())
    }
}

/// One path component: `[a-z0-9]+` runs joined by exactly `.`, `_`, `__` or one or more `-`.
fn component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: &u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !b.first().is_some_and(alnum) || !b.last().is_some_and(alnum) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(&b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(&b[i]) {
            i += 1;
        }
        let sep = &b[start..i];
        let ok = matches!(sep, b"." | b"_" | b"__") || sep.iter().all(|&x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// A name as a log line shows it: whole up to 80 characters, else its start and its length.
pub(crate) fn shown(name: &str) -> String {
    if name.chars().count() <= 80 {
        return format!("{name:?}");
    }
    let start: String = name.chars().take(80).collect();
    format!("{start:?}... ({} bytes)", name.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distribution_names() {
        for ok in [
            "a",
            "group/sub/project",
            "a.b/c_d/e__f/g-h/i---j",
            "0/9",
            &"a".repeat(255),
        ] {
            assert_eq!(check(ok, 32), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "A",
            "a//b",
            "/a",
            "a/",
            "-a",
            "a-",
            "a..b",
            "a___b",
            "a._b",
            "a b",
            "ü",
            &"a".repeat(256),
        ] {
            assert!(check(bad, 32).is_err(), "{bad}");
        }
        let deep = vec!["d"; 33].join("/");
        assert!(check(&deep, 32).unwrap_err().contains("max_name_depth"));
        assert_eq!(check(&deep, 33), Ok(()));
    }

    #[test]
    fn long_names_are_shown_shortened() {
        assert_eq!(shown("a/b"), "\"a/b\"");
        let s = shown(&"x".repeat(20_000));
        assert!(s.len() < 120 && s.ends_with("(20000 bytes)"), "{s}");
    }
}
