//! Authentication: who may log in (an [`Authenticator`], LDAP in production), the tokens they
//! get ([`jwt`]), and the guards around logins (HTTP Basic parsing, user name checks, the
//! per-client failure limit ([`FailureLimiter`]) with the client found by [`address`], and the
//! concurrent-login gate).
//!
//! This module decides *whether* a request is authenticated; it never builds HTTP responses
//! (that is `server`'s job) and never logs a password or a token.

pub(crate) mod address;
pub mod jwt;
pub mod ldap;
mod limiter;
pub mod recheck;

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

pub use limiter::FailureLimiter;

/// Longest user name accepted, in bytes; longer ones are refused before any directory traffic.
pub(crate) const MAX_USERNAME_BYTES: usize = 256;

/// Why a login did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginError {
    /// The credentials were judged and refused (unknown user, wrong group, wrong password:
    /// deliberately indistinguishable).
    Rejected,
    /// The credentials could not be judged: the directory is down, hangs, or fails TLS.
    /// The text is for the operator's log only (it names the directory's URL, DNs and
    /// settings); clients are told no more than that the login could not be checked. It never
    /// contains the password.
    Unavailable(String),
}

impl fmt::Display for LoginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginError::Rejected => f.write_str("invalid credentials"),
            LoginError::Unavailable(why) => write!(f, "the directory could not be asked: {why}"),
        }
    }
}

impl std::error::Error for LoginError {}

/// Checks a user name and password. On success returns the user name as the directory stores
/// it, which becomes the token's `sub`.
pub trait Authenticator: Send + Sync {
    fn authenticate(&self, user: &str, password: &str) -> Result<String, LoginError>;

    /// Whether `user` (a token's `sub`) would still be let in: it exists and is in the
    /// group. Asked at most every `[ldap] recheck_interval` (see [`recheck`]); an
    /// authenticator without a directory keeps everybody.
    fn still_member(&self, user: &str) -> Result<bool, LoginError> {
        let _ = user;
        Ok(true)
    }
}

/// Decodes an `Authorization: Basic ...` header into (user, password). `None` for anything
/// malformed: another scheme, bad base64, no colon, non-UTF-8, an over-long user name or one
/// with control characters, or an empty password (an "unauthenticated bind" that many
/// directories accept as success).
pub(crate) fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let bytes = decode_base64(rest.trim())?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    if user.is_empty()
        || user.len() > MAX_USERNAME_BYTES
        || user.chars().any(char::is_control)
        || password.is_empty()
    {
        return None;
    }
    Some((user.to_string(), password.to_string()))
}

/// Standard base64 with or without padding, or its URL-safe form (some clients send that).
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::alphabet::{STANDARD, URL_SAFE};
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine as _;
    const LENIENT: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const ENGINES: [GeneralPurpose; 2] = [
        GeneralPurpose::new(&STANDARD, LENIENT),
        GeneralPurpose::new(&URL_SAFE, LENIENT),
    ];
    ENGINES.iter().find_map(|e| e.decode(s).ok())
}

/// At most `max` logins in flight; the rest are turned away at once rather than queued, so a
/// hung directory cannot tie up every worker.
pub struct LoginGate {
    max: usize,
    in_flight: AtomicUsize,
}

/// Releases its place in the [`LoginGate`] when dropped, on every path.
pub(crate) struct GatePass<'a>(&'a LoginGate);

impl LoginGate {
    pub fn new(max: usize) -> Self {
        LoginGate {
            max: max.max(1),
            in_flight: AtomicUsize::new(0),
        }
    }

    pub(crate) fn try_enter(&self) -> Option<GatePass<'_>> {
        let prev = self.in_flight.fetch_add(1, Ordering::SeqCst);
        if prev >= self.max {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(GatePass(self))
    }
}

impl Drop for GatePass<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn base64_encode(data: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(data)
    }

    #[test]
    fn basic_header_parsing() {
        let h = |s: &str| format!("Basic {}", base64_encode(s.as_bytes()));
        assert_eq!(
            parse_basic(&h("alice:pw")),
            Some(("alice".into(), "pw".into()))
        );
        assert_eq!(
            parse_basic(&h("alice:p:w")),
            Some(("alice".into(), "p:w".into()))
        );
        assert_eq!(
            parse_basic(&format!("basic {}", base64_encode(b"a:b"))),
            Some(("a".into(), "b".into()))
        );
        assert_eq!(parse_basic(&h("alice:")), None, "empty password");
        assert_eq!(parse_basic(&h(":pw")), None, "empty user");
        assert_eq!(parse_basic(&h("alicepw")), None, "no colon");
        assert_eq!(parse_basic(&h("al\nice:pw")), None, "control character");
        assert_eq!(
            parse_basic(&h(&format!("{}:pw", "a".repeat(257)))),
            None,
            "too long"
        );
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
        assert_eq!(parse_basic("Basic"), None);
        assert_eq!(
            parse_basic(&format!("Basic {}", base64_encode(b"\xff\xfe:pw"))),
            None,
            "non-UTF-8"
        );
    }

    #[test]
    fn login_gate_releases_on_drop() {
        let g = LoginGate::new(1);
        let p = g.try_enter().unwrap();
        assert!(g.try_enter().is_none());
        drop(p);
        assert!(g.try_enter().is_some());
    }
}
