//! Percent-encoding (RFC 3986) of names in URL paths: the API's links, the registry client's
//! request paths and scopes. Pure functions, no I/O.

use std::fmt::Write as _;

/// Percent-encodes every byte outside RFC 3986's unreserved set as upper-case `%XX`, so a
/// repository name becomes one path segment (`/` → `%2F`).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Decodes `%XX` (either case). `None` for a malformed escape or bytes that are not UTF-8:
/// such a name cannot exist in the snapshot.
pub fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
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
        assert_eq!(decode("a%2fb%2Fc").as_deref(), Some("a/b/c"));
        assert_eq!(decode("%zz"), None);
        assert_eq!(decode("%ff"), None);
        assert_eq!(decode("%4"), None);
    }
}
