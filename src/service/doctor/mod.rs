//! `--check-config`: reads a configuration as the service would, says what the service would
//! do, then tries what it will need, and reports one line per finding: `ok:`, `warning:` or
//! `error:`, each naming the key to change.
//!
//! The checks, in order:
//! - offline: the file parses, the secret is usable, the LDAP settings can work, no key is
//!   unknown, no placeholder of the default configuration is left (LDAP host, registry URLs,
//!   access token), and the service can ever have data to serve;
//! - local (also with `--offline`): the listening port can be bound (and is released at once;
//!   if this very service holds it, that is a warning), and the state file's directory accepts
//!   a new entry (created and removed), and a filesystem `[storage]` root can be listed (its
//!   blobs counted);
//! - network (skipped with `--offline`, each with a short timeout, run side by side): the LDAP
//!   server (TCP, TLS with the configured CA, the service-account bind, `base_dn`) and the
//!   registry (`/v2/`, its challenge, one token for the catalog scope), and an s3 `[storage]`
//!   bucket (listed, its blobs counted).
//!
//! A placeholder host is never contacted (its real owner would get our requests), and the
//! placeholder access token is never sent. Exit status: 0 without errors, 78 (`EX_CONFIG`)
//! when the configuration itself is wrong, 1 when only the world around it is (a taken port,
//! a directory that is down). Nothing secret is printed.
//!
//! It owns the report and the order of the checks; `checks` holds the checks of what the
//! configuration points at. The LDAP conversation stays in `auth::ldap` and the registry's
//! HTTP in `registry::client`, whose public APIs it calls.

mod checks;

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::auth::ldap::LdapAuthenticator;
use crate::config::{self, Config, Ini};
use crate::registry;
use checks::{
    check_port, check_state, ldap_finding, registry_finding, storage_finding, REGISTRY_TIMEOUT,
};

/// `EX_CONFIG` from sysexits.h: the configuration is wrong; restarting cannot help.
pub(crate) const EX_CONFIG: u8 = 78;

/// Upper bound of the LDAP check's `[ldap] timeout`.
const LDAP_TIMEOUT: Duration = Duration::from_secs(5);

/// What `--check-config` was asked to do.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Skip the checks that use the network (LDAP and the registry).
    pub offline: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Ok,
    Warning,
    Error,
}

impl Verdict {
    pub(crate) fn word(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warning => "warning",
            Verdict::Error => "error",
        }
    }
}

/// One line of the report. `text` starts with the key it concerns (`[ldap] host: ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub(crate) verdict: Verdict,
    pub(crate) text: String,
    /// An error in the configuration itself (exit 78), rather than in its surroundings.
    pub(crate) config: bool,
}

fn ok(text: impl Into<String>) -> Finding {
    Finding {
        verdict: Verdict::Ok,
        text: text.into(),
        config: false,
    }
}

fn warning(text: impl Into<String>) -> Finding {
    Finding {
        verdict: Verdict::Warning,
        text: text.into(),
        config: false,
    }
}

/// An error of the surroundings: a port, a directory, a server.
fn failed(text: impl Into<String>) -> Finding {
    Finding {
        verdict: Verdict::Error,
        text: text.into(),
        config: false,
    }
}

/// An error of the configuration itself.
fn wrong(text: impl Into<String>) -> Finding {
    Finding {
        verdict: Verdict::Error,
        text: text.into(),
        config: true,
    }
}

/// The whole answer of `--check-config`.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// What the service would do, one line each.
    pub(crate) summary: Vec<String>,
    pub(crate) findings: Vec<Finding>,
    /// Said after the findings (what was not checked).
    pub(crate) notes: Vec<String>,
}

impl Report {
    fn count(&self, v: Verdict) -> usize {
        self.findings.iter().filter(|f| f.verdict == v).count()
    }

    /// 0 without errors; [`EX_CONFIG`] when an error is in the configuration; else 1.
    pub(crate) fn exit_status(&self) -> u8 {
        let errors = self.findings.iter().filter(|f| f.verdict == Verdict::Error);
        let mut status = 0;
        for e in errors {
            if e.config {
                return EX_CONFIG;
            }
            status = 1;
        }
        status
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        for l in &self.summary {
            let _ = writeln!(out, "{l}");
        }
        if !self.summary.is_empty() {
            out.push('\n');
        }
        for f in &self.findings {
            let _ = writeln!(out, "{}: {}", f.verdict.word(), f.text);
        }
        for n in &self.notes {
            let _ = writeln!(out, "{n}");
        }
        let (errors, warnings) = (self.count(Verdict::Error), self.count(Verdict::Warning));
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        let _ = writeln!(
            out,
            "{}",
            match (errors, warnings) {
                (0, 0) => "configuration OK".to_string(),
                (0, w) => format!("configuration OK, with {}", plural(w, "warning")),
                (e, w) => format!(
                    "configuration has errors: {}, {}",
                    plural(e, "error"),
                    plural(w, "warning")
                ),
            }
        );
        out
    }
}

/// Runs the doctor on the file at `path`, prints the report on stdout and returns the exit
/// status. Warnings that the checked modules log (an insecure LDAP transport, a token realm
/// elsewhere) become findings of the report.
pub fn run(path: &Path, opts: Options) -> u8 {
    let _ = log::set_logger(&COLLECTOR);
    log::set_max_level(log::LevelFilter::Warn);
    let report = examine(path, opts);
    print!("{}", report.render());
    let _ = std::io::stdout().flush();
    report.exit_status()
}

/// Keeps the warnings and errors logged while the doctor runs.
struct Collector(Mutex<Vec<String>>);

static COLLECTOR: Collector = Collector(Mutex::new(Vec::new()));

impl log::Log for Collector {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            let mut v = self.0.lock().unwrap_or_else(|p| p.into_inner());
            let text = r.args().to_string();
            if !v.contains(&text) {
                v.push(text);
            }
        }
    }
    fn flush(&self) {}
}

/// The logged warnings since the last call, as findings.
fn logged_warnings() -> Vec<Finding> {
    let mut v = COLLECTOR.0.lock().unwrap_or_else(|p| p.into_inner());
    v.drain(..).map(warning).collect()
}

/// All checks; the report is not printed.
pub(crate) fn examine(path: &Path, opts: Options) -> Report {
    let mut report = Report::default();
    let (ini, cfg) = match load(path) {
        Ok(x) => x,
        Err(e) => {
            report.findings.push(wrong(e.to_string()));
            return report;
        }
    };
    report.summary = summary(path, &ini, &cfg);
    let reachable = check_offline(path, &ini, &cfg, &mut report.findings);
    let findings = &mut report.findings;

    // Local: the port and the state file.
    findings.push(check_port(&cfg.general));
    findings.extend(check_state(&cfg.registry));
    if cfg.storage.driver == config::StorageDriver::Filesystem {
        findings.extend(storage_finding(&cfg.storage));
    }
    findings.extend(logged_warnings());

    if opts.offline {
        report
            .notes
            .push("LDAP and the registry were not contacted (--offline).".into());
        return report;
    }
    check_network(&cfg, reachable, &mut report.findings);
    report
}

/// The file read and parsed as the service would.
fn load(path: &Path) -> Result<(Ini, Config), config::ConfigError> {
    std::fs::read_to_string(path)
        .map_err(|e| config::ConfigError::Read {
            file: path.to_path_buf(),
            reason: e.to_string(),
        })
        .and_then(|text| config::parse_ini(&text, path))
        .and_then(|ini| Config::from_ini(&ini, path).map(|c| (ini, c)))
}

/// What the offline checks leave to the network ones: the LDAP client (when its settings
/// work) and which contacts would only reach a placeholder.
struct Reachable {
    ldap: Option<LdapAuthenticator>,
    ldap_placeholder: bool,
    registry_placeholder: bool,
    token_placeholder: bool,
}

/// Offline: the configuration itself.
fn check_offline(path: &Path, ini: &Ini, cfg: &Config, findings: &mut Vec<Finding>) -> Reachable {
    for k in config::unknown_keys(ini) {
        findings.push(warning(format!("{k}: unknown setting, ignored (a typo?)")));
    }
    if let Err(e) = cfg.check_secret(path) {
        findings.push(wrong(e.to_string()));
    }
    let mut ldap_cfg = cfg.ldap.clone();
    ldap_cfg.timeout = ldap_timeout(cfg);
    let ldap = match LdapAuthenticator::new(&ldap_cfg) {
        Ok(a) => Some(a),
        Err(e) => {
            findings.push(wrong(e.to_string()));
            None
        }
    };
    if let Err(e) = registry::check_settings(&cfg.registry) {
        findings.push(wrong(format!("{}: {e}", path.display())));
    }
    for w in cfg.warnings() {
        findings.push(warning(w));
    }
    if cfg.general.cors_allowed_origins.is_none() {
        findings.push(warning(
            "[general] cors_allowed_origins = *: any web page that a logged-in user opens may read \
             the API with the token it holds (the original's behaviour); list your dashboards' \
             origins instead",
        ));
    }
    let placeholders = placeholders(cfg);
    let placeholder = |key: &str| placeholders.iter().any(|p| p.key == key);
    let reachable = Reachable {
        ldap,
        ldap_placeholder: placeholder("[ldap] host"),
        registry_placeholder: placeholder("[registry] registry_base_url"),
        token_placeholder: placeholder("[registry] access_token"),
    };
    findings.extend(placeholders.into_iter().map(|p| p.finding));
    findings.extend(logged_warnings());
    reachable
}

/// The `[ldap] timeout` of the LDAP check.
fn ldap_timeout(cfg: &Config) -> Duration {
    cfg.ldap.timeout.min(LDAP_TIMEOUT)
}

/// Network: LDAP and the registry side by side, each within its limit, then an s3 bucket.
fn check_network(cfg: &Config, reachable: Reachable, findings: &mut Vec<Finding>) {
    let ldap_check = match reachable.ldap {
        Some(a) if !reachable.ldap_placeholder => {
            let limit = ldap_timeout(cfg) * 4 + Duration::from_secs(2);
            Some((spawn_check(move || ldap_finding(&a)), limit))
        }
        _ => None,
    };
    let r = &cfg.registry;
    let registry_check = if r.registry_base_url.is_empty() || reachable.registry_placeholder {
        None
    } else {
        let rc = r.clone();
        let send_token = !reachable.token_placeholder;
        let limit = r.timeout.min(REGISTRY_TIMEOUT) * 4 + Duration::from_secs(2);
        Some((
            spawn_check(move || registry_finding(&rc, send_token)),
            limit,
        ))
    };
    let started = Instant::now();
    if let Some((rx, limit)) = ldap_check {
        findings.push(wait_for(&rx, started + limit, || {
            format!(
                "[ldap] host: {} gave no verdict within {} s (is name resolution hanging?)",
                cfg.ldap.url(),
                limit.as_secs()
            )
        }));
    }
    if let Some((rx, limit)) = registry_check {
        findings.push(wait_for(&rx, started + limit, || {
            format!(
                "[registry] registry_base_url: {} gave no verdict within {} s (is name resolution hanging?)",
                r.registry_base_url,
                limit.as_secs()
            )
        }));
    }
    if cfg.storage.driver == config::StorageDriver::S3 {
        findings.extend(storage_finding(&cfg.storage));
    }
    findings.extend(logged_warnings());
}

/// Runs `f` on its own thread; its answer arrives on the returned channel. A check that hangs
/// past its limit is abandoned (the process ends soon after).
fn spawn_check(
    f: impl FnOnce() -> Finding + Send + 'static,
) -> crossbeam_channel::Receiver<Finding> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let spawned = std::thread::Builder::new()
        .name("doctor".into())
        .spawn(move || {
            let _ = tx.send(f());
        });
    if let Err(e) = spawned {
        let (tx, rx2) = crossbeam_channel::bounded(1);
        let _ = tx.send(failed(format!("cannot start a thread for a check: {e}")));
        return rx2;
    }
    rx
}

fn wait_for(
    rx: &crossbeam_channel::Receiver<Finding>,
    deadline: Instant,
    late: impl FnOnce() -> String,
) -> Finding {
    rx.recv_deadline(deadline)
        .unwrap_or_else(|_| failed(late()))
}

/// The configured value as written (or the default), for durations shown as the user wrote
/// them (`2 weeks`, not `1209600 s`).
fn as_written(ini: &Ini, section: &str, key: &str, fallback: Duration) -> String {
    ini.get(section, key)
        .or_else(|| config::key_def(section, key).map(|k| k.default))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| format!("{} s", fallback.as_secs()))
}

fn summary(path: &Path, ini: &Ini, cfg: &Config) -> Vec<String> {
    let g = &cfg.general;
    let r = &cfg.registry;
    let host = if g.socket_host.contains(':') && !g.socket_host.starts_with('[') {
        format!("[{}]", g.socket_host)
    } else {
        g.socket_host.clone()
    };
    let group = if cfg.ldap.gid_attribute.is_empty() {
        "no group check".to_string()
    } else {
        format!("{}={}", cfg.ldap.gid_attribute, cfg.ldap.valid_gid)
    };
    let mut out = vec![
        format!("configuration file: {}", path.display()),
        format!(
            "listen on:          http://{host}:{}{}/ ({} workers)",
            g.socket_port, g.server_prefix, g.workers
        ),
        format!(
            "ldap:               {} (base {}, {group})",
            cfg.ldap.url(),
            cfg.ldap.base_dn
        ),
        format!(
            "tokens expire after {}",
            as_written(ini, "jwt", "auth_token_expires", cfg.jwt.auth_token_expires)
        ),
    ];
    if r.registry_base_url.is_empty() {
        out.push("collector:          off (serving the state file only)".into());
    } else {
        out.push(format!(
            "collector:          {} every {}, {} requests at once, timeout {}",
            r.registry_base_url,
            as_written(ini, "registry", "update_interval", r.update_interval),
            r.concurrency,
            as_written(ini, "registry", "timeout", r.timeout)
        ));
    }
    out.push(format!(
        "metrics:            {}",
        match (cfg.metrics.enabled, &cfg.metrics.bearer_token) {
            (false, _) => "off",
            (true, None) => "/metrics, no authentication",
            (true, Some(_)) => "/metrics, bearer token required",
        }
    ));
    out.push(format!(
        "state file:         {}",
        if r.state_file.as_os_str().is_empty() {
            "none".into()
        } else {
            r.state_file.display().to_string()
        }
    ));
    let st = &cfg.storage;
    let when = match st.scan_interval {
        None => "after every crawl".to_string(),
        Some(d) => format!("every {}", as_written(ini, "storage", "scan_interval", d)),
    };
    out.push(format!(
        "storage scan:       {}",
        match st.driver {
            config::StorageDriver::Off => "off".to_string(),
            config::StorageDriver::Filesystem => format!("filesystem {}, {when}", st.rootdirectory),
            config::StorageDriver::S3 => format!("s3 bucket {} ({}), {when}", st.bucket, st.region),
        }
    ));
    out
}

struct Placeholder {
    key: &'static str,
    finding: Finding,
}

/// Whether `value` is the default configuration's example for `[section] key`.
fn is_example(section: &str, key: &str, value: &str) -> bool {
    config::key_def(section, key)
        .is_some_and(|k| !k.default.is_empty() && k.default == value.trim())
}

/// The examples of the default configuration still in place. The LDAP host and the registry
/// URLs and token make the service useless (errors); the example base DN and group are
/// warnings (they might, just, be real).
fn placeholders(cfg: &Config) -> Vec<Placeholder> {
    let mut out = Vec::new();
    let mut error = |key: &'static str, text: String| {
        out.push(Placeholder {
            key,
            finding: wrong(format!("{key}: {text}")),
        })
    };
    let l = &cfg.ldap;
    if is_example("ldap", "host", &l.host) {
        error(
            "[ldap] host",
            format!(
                "{} is the default configuration's example (not contacted): set your LDAP server",
                l.host
            ),
        );
    }
    let r = &cfg.registry;
    if !r.registry_base_url.is_empty() {
        if is_example("registry", "registry_base_url", &r.registry_base_url) {
            error(
                "[registry] registry_base_url",
                format!(
                    "{} is the default configuration's example (not contacted): set your registry's URL, or leave it empty to serve the state file only",
                    r.registry_base_url
                ),
            );
        }
        if is_example("registry", "gitlab_base_url", &r.gitlab_base_url) {
            error(
                "[registry] gitlab_base_url",
                format!(
                    "{} is the default configuration's example: set your GitLab's URL (it issues the registry's tokens)",
                    r.gitlab_base_url
                ),
            );
        }
        if is_example("registry", "access_token", &r.access_token) {
            error(
                "[registry] access_token",
                "still the default configuration's example (never sent): set a GitLab personal access token with the read_registry scope"
                    .into(),
            );
        }
    }
    let mut warn = |key: &'static str, text: String| {
        out.push(Placeholder {
            key,
            finding: warning(format!("{key}: {text}")),
        })
    };
    if is_example("ldap", "base_dn", &l.base_dn) {
        warn(
            "[ldap] base_dn",
            format!(
                "{} is the default configuration's example: set where your users are",
                l.base_dn
            ),
        );
    }
    if !l.gid_attribute.is_empty() && is_example("ldap", "valid_gid", &l.valid_gid) {
        warn(
            "[ldap] valid_gid",
            format!(
                "{} is the default configuration's example: set your users' group, or set gid_attribute empty to drop the group check",
                l.valid_gid
            ),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> (Ini, Config) {
        let p = Path::new("/t.conf");
        let ini = config::parse_ini(text, p).unwrap();
        let c = Config::from_ini(&ini, p).unwrap();
        (ini, c)
    }

    #[test]
    fn exit_status_and_last_line() {
        let mut r = Report::default();
        assert_eq!(r.exit_status(), 0);
        assert!(r.render().ends_with("configuration OK\n"));
        r.findings.push(warning("[a] b: w"));
        assert_eq!(r.exit_status(), 0);
        assert!(r.render().ends_with("configuration OK, with 1 warning\n"));
        r.findings.push(failed("[a] c: down"));
        assert_eq!(r.exit_status(), 1);
        r.findings.push(wrong("[a] d: bad"));
        assert_eq!(r.exit_status(), EX_CONFIG);
        let text = r.render();
        assert!(text.starts_with("warning: [a] b: w\nerror: [a] c: down\nerror: [a] d: bad\n"));
        assert!(text.ends_with("configuration has errors: 2 errors, 1 warning\n"));
    }

    #[test]
    fn durations_are_shown_as_written() {
        let (ini, c) = cfg("[jwt]\nauth_token_expires = 14 d\n[registry]\ntimeout = 1m\n");
        let s = summary(Path::new("/t.conf"), &ini, &c).join("\n");
        assert!(s.contains("tokens expire after 14 d"), "{s}");
        assert!(
            s.contains("every 1 hour") && s.contains("timeout 1m"),
            "{s}"
        );
    }

    #[test]
    fn the_default_examples_are_found() {
        let (_, c) = cfg(&config::default_config_text());
        let keys: Vec<(&str, Verdict)> = placeholders(&c)
            .iter()
            .map(|p| (p.key, p.finding.verdict))
            .collect();
        assert_eq!(
            keys,
            [
                ("[ldap] host", Verdict::Error),
                ("[registry] registry_base_url", Verdict::Error),
                ("[registry] gitlab_base_url", Verdict::Error),
                ("[registry] access_token", Verdict::Error),
                ("[ldap] base_dn", Verdict::Warning),
                ("[ldap] valid_gid", Verdict::Warning),
            ]
        );
        // without the collector, its settings do not matter
        let (_, c) = cfg("[ldap]\nhost = ldap.corp\nvalid_gid = 500\nbase_dn = o=corp\n[registry]\nregistry_base_url =\n");
        assert!(placeholders(&c).is_empty());
    }
}
