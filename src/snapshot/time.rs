//! Unix seconds to and from RFC 3339 text (`2026-11-30T19:00:00Z`), for tag creation times and
//! human-readable crawl times, on the `jiff` crate (already compiled in through env_logger).
//!
//! Pure functions over integers: no clock, no time zone database (only UTC offsets written in
//! the text itself), no I/O.

use jiff::Timestamp;

/// `secs` (Unix time, UTC) as `YYYY-MM-DDTHH:MM:SSZ`; times jiff cannot represent (beyond
/// the years -9999..=9999) are clamped to its range.
pub fn format_rfc3339(secs: i64) -> String {
    let t = Timestamp::from_second(secs).unwrap_or(if secs < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    });
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parses RFC 3339 (`2024-01-02T03:04:05Z`, `...05.123456789+02:00`, lower-case `t`/`z` or a
/// space between date and time) into Unix seconds; fractions are dropped (rounded towards
/// the past). `None` for anything else, including impossible dates and times without an
/// offset.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let text = text.trim();
    // jiff also takes ISO 8601 forms RFC 3339 does not have (no seconds, basic offsets).
    let b = text.as_bytes();
    if b.len() < 20 || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let tail = &b[19..];
    let offset_ok = matches!(tail.last(), Some(b'Z' | b'z'))
        || (tail.len() >= 6 && tail[tail.len() - 3] == b':');
    if !offset_ok {
        return None;
    }
    let t: Timestamp = text.parse().ok()?;
    Some(t.as_second() - i64::from(t.subsec_nanosecond() < 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for secs in [
            0,
            951_782_400,
            1_700_000_000,
            1_709_210_096,
            -86_400,
            4_102_444_800,
        ] {
            assert_eq!(parse_rfc3339(&format_rfc3339(secs)), Some(secs), "{secs}");
        }
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn parses_the_forms_registries_write() {
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.123456789Z"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_rfc3339("2023-11-15T00:13:20+02:00"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_rfc3339("2023-11-14t22:13:20z"), Some(1_700_000_000));
        for bad in [
            "",
            "2023-11-14",
            "2023-02-30T00:00:00Z",
            "2023-13-01T00:00:00Z",
            "2023-11-14T22:13:20",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:20+0200",
            "２023-11-14T22:13:20Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }
}
