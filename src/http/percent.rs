//! Percent-encoding of names in URL paths as the API contract states it, on the
//! `percent-encoding` crate: the API's links, the registry client's request paths and scopes.
//! This module only fixes the rules (which bytes are encoded; what a malformed escape means);
//! the codec is the crate's. Pure functions, no I/O.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Every byte outside RFC 3986's unreserved set (`A-Z a-z 0-9 - . _ ~`).
pub(crate) const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes every byte outside RFC 3986's unreserved set as upper-case `%XX`, so a
/// repository name becomes one path segment (`/` → `%2F`).
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, NOT_UNRESERVED).to_string()
}

/// Decodes `%XX` (either case). `None` for a malformed escape (`%` not followed by two hex
/// digits; the crate would keep it as text) or bytes that are not UTF-8: such a name cannot
/// exist in the snapshot.
pub(crate) fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let well_formed = b.iter().enumerate().all(|(i, &c)| {
        c != b'%'
            || b.get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return None;
    }
    percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding() {
        assert_eq!(
            encode("group/sub project%ü~._-"),
            "group%2Fsub%20project%25%C3%BC~._-"
        );
        assert_eq!(encode("a+b:c@d"), "a%2Bb%3Ac%40d");
        assert_eq!(decode("a%2fb%2Fc").as_deref(), Some("a/b/c"));
        assert_eq!(decode("%zz"), None);
        assert_eq!(decode("%ff"), None);
        assert_eq!(decode("%4"), None);
        assert_eq!(decode("50%"), None);
        // a sign is not a hex digit: once read as a tab
        assert_eq!(decode("%+9"), None);
        assert_eq!(decode("%-9"), None);
        assert_eq!(decode("a%09b").as_deref(), Some("a\tb"));
        for name in ["g/p", "odd name/with%/ünï", "a+b"] {
            assert_eq!(decode(&encode(name)).as_deref(), Some(name));
        }
    }
}
