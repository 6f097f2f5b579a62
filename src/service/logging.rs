//! What the service writes to stderr, in one style for every line: `error: ...`,
//! `warning: ...`, `info: ...`, `debug: ...`, whether it comes from the logger or is the last
//! word of a failed start (before or after logging is set up).
//!
//! Each line is framed for where stderr goes. When stderr is the journal (systemd names the
//! journal's stream in `JOURNAL_STREAM` as `device:inode`, and it matches stderr's), a syslog
//! priority prefix (`<3>`, `<4>`, `<6>`, `<7>`) lets journald file it at the right level and add
//! the time itself. Anywhere else (a terminal, a file, a pipe), a UTC RFC 3339 timestamp with
//! milliseconds comes first. A message from a dependency names its module (`ldap3::conn: ...`).
//!
//! It owns the log format and nothing else: no message text, no levels chosen for others.

use std::fmt;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// How a line is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// `<4>warning: ...`: stderr is the journal, which adds time and host.
    Journal,
    /// `2026-11-30T19:26:34.123Z warning: ...`
    Timestamped,
}

/// The word a line of `level` starts with.
pub(crate) fn level_word(level: log::Level) -> &'static str {
    match level {
        log::Level::Error => "error",
        log::Level::Warn => "warning",
        log::Level::Info => "info",
        log::Level::Debug => "debug",
        log::Level::Trace => "trace",
    }
}

fn priority(level: log::Level) -> u8 {
    match level {
        log::Level::Error => 3,
        log::Level::Warn => 4,
        log::Level::Info => 6,
        log::Level::Debug | log::Level::Trace => 7,
    }
}

/// One line, without its newline. `target` is the logging module; it is shown only when it
/// is not this crate's. Pure: `now` is passed in.
pub(crate) fn format_line(
    style: Style,
    level: log::Level,
    target: &str,
    message: &dyn fmt::Display,
    now: SystemTime,
) -> String {
    let origin = if target.is_empty() || target.starts_with(env!("CARGO_CRATE_NAME")) {
        String::new()
    } else {
        format!("{target}: ")
    };
    let word = level_word(level);
    match style {
        Style::Journal => format!("<{}>{word}: {origin}{message}", priority(level)),
        Style::Timestamped => {
            let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
            let secs = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
            let whole = crate::snapshot::time::format_rfc3339(secs);
            let stamp = format!(
                "{}.{:03}Z",
                whole.trim_end_matches('Z'),
                since.subsec_millis()
            );
            format!("{stamp} {word}: {origin}{message}")
        }
    }
}

/// Whether `journal_stream` (`JOURNAL_STREAM`'s value, `<device>:<inode>` in decimal) names
/// the file with `dev` and `ino`.
pub(crate) fn names_stream(journal_stream: &str, dev: u64, ino: u64) -> bool {
    let Some((d, i)) = journal_stream.trim().split_once(':') else {
        return false;
    };
    d.parse::<u64>() == Ok(dev) && i.parse::<u64>() == Ok(ino)
}

/// The style for this process's stderr: [`Style::Journal`] only when `JOURNAL_STREAM` names
/// the very file stderr is (systemd sets the variable for the service's stdout/stderr, and a
/// child that inherits it may well have its stderr redirected elsewhere).
pub(crate) fn stderr_style() -> Style {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Some(wanted) = std::env::var_os("JOURNAL_STREAM") else {
        return Style::Timestamped;
    };
    let Some(wanted) = wanted.to_str() else {
        return Style::Timestamped;
    };
    // fstat of a duplicate of fd 2 (what /proc/self/fd/2 would show, without needing /proc).
    let meta = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .and_then(|f| f.metadata());
    match meta {
        Ok(m) if names_stream(wanted, m.dev(), m.ino()) => Style::Journal,
        _ => Style::Timestamped,
    }
}

/// Sends `log` records to stderr in [`stderr_style`]: info and up, debug with `debug`, and
/// `RUST_LOG` when set. Noisy dependencies stay at warn unless `RUST_LOG` asks for them.
pub fn init(debug: bool) {
    let level = if debug {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Info
    };
    let style = stderr_style();
    let mut b = env_logger::Builder::new();
    b.filter_level(level);
    for dep in ["ureq", "ureq_proto", "rustls", "ldap3"] {
        b.filter_module(dep, log::LevelFilter::Warn);
    }
    b.parse_default_env();
    b.write_style(env_logger::WriteStyle::Never);
    b.format(move |f, rec| {
        let line = format_line(
            style,
            rec.level(),
            rec.target(),
            rec.args(),
            SystemTime::now(),
        );
        writeln!(f, "{line}")
    });
    let _ = b.try_init();
}

/// Writes one line of `level` to stderr in [`stderr_style`], whether or not the logger is
/// set up: for the message that ends a failed start.
pub fn print(level: log::Level, message: &dyn fmt::Display) {
    let line = format_line(stderr_style(), level, "", message, SystemTime::now());
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
    }

    #[test]
    fn journal_lines_carry_a_priority_and_no_time() {
        let line = |level| format_line(Style::Journal, level, "", &"msg", at(0, 0));
        assert_eq!(line(log::Level::Error), "<3>error: msg");
        assert_eq!(line(log::Level::Warn), "<4>warning: msg");
        assert_eq!(line(log::Level::Info), "<6>info: msg");
        assert_eq!(line(log::Level::Debug), "<7>debug: msg");
        assert_eq!(line(log::Level::Trace), "<7>trace: msg");
    }

    #[test]
    fn other_lines_carry_an_rfc3339_utc_timestamp() {
        let l = format_line(
            Style::Timestamped,
            log::Level::Warn,
            "gitlab_registry_usage_rest::server",
            &"slow",
            at(1_800_000_000, 7),
        );
        assert_eq!(l, "2027-01-15T08:00:00.007Z warning: slow");
        let stamp = l.split(' ').next().unwrap();
        assert_eq!(
            crate::snapshot::time::parse_rfc3339(stamp),
            Some(1_800_000_000)
        );
    }

    #[test]
    fn dependencies_are_named() {
        let l = format_line(
            Style::Journal,
            log::Level::Warn,
            "ldap3::conn",
            &"x",
            at(0, 0),
        );
        assert_eq!(l, "<4>warning: ldap3::conn: x");
    }

    #[test]
    fn journal_stream_matching() {
        assert!(names_stream("8:12345", 8, 12345));
        assert!(names_stream(" 8:12345\n", 8, 12345));
        assert!(!names_stream("8:12346", 8, 12345));
        assert!(!names_stream("9:12345", 8, 12345));
        assert!(!names_stream("", 8, 12345));
        assert!(!names_stream("8", 8, 12345));
        assert!(!names_stream("8:x", 8, 12345));
    }
}
