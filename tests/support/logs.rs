//! A logger for tests that call the library in-process: it keeps every log line of the test
//! binary, so a test can prove that no password or token ever reaches a log. One logger per
//! process (the `log` crate allows no other); the first call installs it.

use std::sync::Mutex;

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture {
    /// Print every line to stderr (the harness shows it for failing tests only).
    echo: bool,
}

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, r: &log::Record) {
        let line = format!("{} {}: {}", r.level(), r.target(), r.args());
        if self.echo || std::env::var_os("SHOW_LOGS").is_some() {
            eprintln!("{line}");
        }
        LINES.lock().unwrap().push(line);
    }
    fn flush(&self) {}
}

/// Keeps every log line up to `debug`; `SHOW_LOGS=1` also prints them.
pub fn capture_logs() {
    static CAPTURE: Capture = Capture { echo: false };
    if log::set_logger(&CAPTURE).is_ok() {
        log::set_max_level(log::LevelFilter::Debug);
    }
}

/// Keeps every log line of every level and prints each to stderr.
pub fn capture_all_logs() {
    static CAPTURE: Capture = Capture { echo: true };
    if log::set_logger(&CAPTURE).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
    }
}

/// Every line kept so far.
pub fn logged() -> Vec<String> {
    LINES.lock().unwrap().clone()
}
