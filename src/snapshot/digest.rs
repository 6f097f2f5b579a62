//! Content digests (`sha256:<64 hex digits>`) held in 32 bytes instead of a 71-byte string:
//! a large registry has hundreds of thousands of them, and the snapshot keeps every one.
//!
//! Any other text (another algorithm, upper-case hex, test data) is kept as written, so a
//! digest always prints back exactly as it was read. No I/O.

use std::fmt;

use serde::{Serialize, Serializer};

/// A manifest or blob digest.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Digest {
    /// `sha256:` followed by these bytes as 64 lower-case hex digits.
    Sha256([u8; 32]),
    /// Anything else, as written (empty for "unknown").
    Other(Box<str>),
}

impl Default for Digest {
    fn default() -> Self {
        Digest::Other(Box::from(""))
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl Digest {
    /// Reads a digest; never fails (see the module docs).
    pub(crate) fn parse(text: &str) -> Digest {
        if let Some(hex) = text.strip_prefix("sha256:") {
            let b = hex.as_bytes();
            if b.len() == 64 {
                let mut out = [0u8; 32];
                let mut ok = true;
                for (i, pair) in b.chunks_exact(2).enumerate() {
                    match (hex_value(pair[0]), hex_value(pair[1])) {
                        (Some(h), Some(l)) => out[i] = h << 4 | l,
                        _ => ok = false,
                    }
                }
                if ok {
                    return Digest::Sha256(out);
                }
            }
        }
        Digest::Other(Box::from(text))
    }

    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, Digest::Other(s) if s.is_empty())
    }
}

impl From<&str> for Digest {
    fn from(s: &str) -> Self {
        Digest::parse(s)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Digest::Sha256(bytes) => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let mut out = [0u8; 71];
                out[..7].copy_from_slice(b"sha256:");
                for (i, b) in bytes.iter().enumerate() {
                    out[7 + 2 * i] = HEX[(b >> 4) as usize];
                    out[8 + 2 * i] = HEX[(b & 15) as usize];
                }
                // Only ASCII was written.
                f.write_str(std::str::from_utf8(&out).unwrap_or_default())
            }
            Digest::Other(s) => f.write_str(s),
        }
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}

impl PartialEq<str> for Digest {
    fn eq(&self, other: &str) -> bool {
        match self {
            Digest::Other(s) => &**s == other,
            Digest::Sha256(_) => *self == Digest::parse(other),
        }
    }
}

impl PartialEq<&str> for Digest {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_is_compact_and_prints_back() {
        let text = format!("sha256:{}", "0123456789abcdef".repeat(4));
        let d = Digest::parse(&text);
        assert!(matches!(d, Digest::Sha256(_)));
        assert_eq!(d.to_string(), text);
        assert_eq!(d, text.as_str());
        assert_eq!(serde_json::to_string(&d).unwrap(), format!("\"{text}\""));
    }

    #[test]
    fn anything_else_is_kept_as_written() {
        for text in [
            "",
            "sha256:a",
            "sha512:00",
            &format!("sha256:{}", "A".repeat(64)),
            &format!("sha256:{}", "0".repeat(65)),
            "sha256:é",
        ] {
            let d = Digest::parse(text);
            assert!(matches!(d, Digest::Other(_)), "{text}");
            assert_eq!(d.to_string(), text);
        }
        assert!(Digest::default().is_empty());
        assert!(!Digest::parse("x").is_empty());
    }
}
