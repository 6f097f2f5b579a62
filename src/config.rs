//! The configuration file: the original's INI dialect (Python `configparser`), its keys and
//! defaults, and the checks that turn a bad value into a message naming the file, the section,
//! the key, the value and the expected form.
//!
//! This module reads nothing itself but the one file it is asked to load; it never consults
//! the environment, and it knows nothing of sockets, LDAP or the registry beyond their settings.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The path the original used when `-c` is not given.
pub const DEFAULT_PATH: &str = "/etc/gitlab_registry_usage_rest.conf";

/// The secret shipped in the default config; the service refuses to run with it.
pub const PLACEHOLDER_SECRET: &str = "CHANGE-ME-generate-with-head-c32-dev-urandom-base64";

/// Shortest secret accepted, in bytes (HS256 keys should be at least as long as the hash).
pub const MIN_SECRET_LEN: usize = 32;

/// Every setting the service knows, with defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub general: General,
    pub ldap: Ldap,
    pub jwt: Jwt,
    pub registry: Registry,
}

#[derive(Debug, Clone, PartialEq)]
pub struct General {
    pub socket_host: String,
    pub socket_port: u16,
    /// Normalised: empty for `/`, else `/prefix` without a trailing slash.
    pub server_prefix: String,
    pub debug: bool,
    pub workers: usize,
    /// Peers whose last `X-Forwarded-For` entry is taken as the client address.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ldap {
    /// As written; a bare host means `ldaps://host` (see [`Ldap::url`]).
    pub host: String,
    pub base_dn: String,
    pub valid_gid: String,
    pub username_attribute: String,
    /// Empty disables the group check.
    pub gid_attribute: String,
    /// Empty: search anonymously.
    pub bind_dn: String,
    pub bind_password: String,
    pub ca_file: Option<PathBuf>,
    pub starttls: bool,
    pub allow_insecure: bool,
    pub timeout: Duration,
    pub max_concurrent: usize,
    pub max_failures_per_minute: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Jwt {
    pub auth_token_expires: Duration,
    pub secret_key: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Registry {
    pub gitlab_base_url: String,
    /// Empty disables the collector: the service serves the state file only.
    pub registry_base_url: String,
    pub username: String,
    pub access_token: String,
    pub update_interval: Duration,
    pub concurrency: usize,
    pub timeout: Duration,
    pub state_file: PathBuf,
}

impl Ldap {
    /// The LDAP URL to connect to: a bare host name means `ldaps://host`, as in the original.
    pub fn url(&self) -> String {
        if self.host.contains("://") {
            self.host.clone()
        } else {
            format!("ldaps://{}", self.host)
        }
    }
}

/// What went wrong with the configuration, precise enough to fix it without reading code.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigError {
    /// The file could not be read at all.
    Read { file: PathBuf, reason: String },
    /// A line is not valid INI.
    Syntax {
        file: PathBuf,
        line: usize,
        reason: String,
    },
    /// A key holds a value of the wrong form.
    Value {
        file: PathBuf,
        section: String,
        key: String,
        value: String,
        expected: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { file, reason } => {
                write!(
                    f,
                    "{}: cannot read the config file: {reason}",
                    file.display()
                )
            }
            ConfigError::Syntax { file, line, reason } => {
                write!(f, "{}:{line}: {reason}", file.display())
            }
            ConfigError::Value {
                file,
                section,
                key,
                value,
                expected,
            } => write!(
                f,
                "{}: [{section}] {key} = {value:?}: expected {expected}",
                file.display()
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A parsed INI file: section → key → value, keys lower-cased, interpolation applied.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Ini {
    pub sections: BTreeMap<String, BTreeMap<String, String>>,
}

impl Ini {
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.sections
            .get(section)
            .and_then(|s| s.get(key))
            .map(String::as_str)
    }
}

/// Parses the `configparser` dialect: `[section]`, `key = value` or `key: value`, full-line
/// `#`/`;` comments, indented continuation lines, case-insensitive keys, a `DEFAULT` section
/// whose keys every section inherits, and basic interpolation (`%%`, `%(key)s`).
pub fn parse_ini(text: &str, file: &Path) -> Result<Ini, ConfigError> {
    let syntax = |line: usize, reason: String| ConfigError::Syntax {
        file: file.to_path_buf(),
        line,
        reason,
    };
    // Raw values first, interpolation afterwards (it may refer to keys defined later).
    let mut raw: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut section: Option<String> = None;
    // (section, key, indentation of the key line) of the value that continuation lines extend
    let mut last: Option<(String, String, usize)> = None;
    for (idx, line) in text.lines().enumerate() {
        let lineno = idx + 1;
        let line = line.strip_prefix('\u{feff}').unwrap_or(line);
        let trimmed = line.trim();
        let indent = line.len() - line.trim_start().len();
        if trimmed.is_empty() {
            last = None;
            continue;
        }
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some((sec, key, key_indent)) = &last {
            if indent > *key_indent {
                if let Some(v) = raw.get_mut(sec).and_then(|s| s.get_mut(key)) {
                    v.push('\n');
                    v.push_str(trimmed);
                }
                continue;
            }
        }
        if trimmed.starts_with('[') {
            let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) else {
                return Err(syntax(
                    lineno,
                    format!("a section header must look like [name], got {trimmed:?}"),
                ));
            };
            if raw.contains_key(name) {
                return Err(syntax(lineno, format!("section [{name}] appears twice")));
            }
            raw.insert(name.to_string(), BTreeMap::new());
            section = Some(name.to_string());
            last = None;
            continue;
        }
        let Some(sec) = section.clone() else {
            return Err(syntax(
                lineno,
                format!("{trimmed:?} comes before any [section] header"),
            ));
        };
        let pos = trimmed.find(['=', ':']);
        let Some(pos) = pos else {
            return Err(syntax(
                lineno,
                format!("expected `key = value` in [{sec}], got {trimmed:?}"),
            ));
        };
        let key = trimmed[..pos].trim().to_lowercase();
        let value = trimmed[pos + 1..].trim().to_string();
        if key.is_empty() {
            return Err(syntax(
                lineno,
                format!("a key name is missing in [{sec}]: {trimmed:?}"),
            ));
        }
        let entries = raw.entry(sec.clone()).or_default();
        if entries.contains_key(&key) {
            return Err(syntax(
                lineno,
                format!("key {key:?} appears twice in [{sec}]"),
            ));
        }
        entries.insert(key.clone(), value);
        last = Some((sec, key, indent));
    }

    let defaults = raw.remove("DEFAULT").unwrap_or_default();
    let mut ini = Ini::default();
    for (sec, entries) in &raw {
        let mut merged = defaults.clone();
        merged.extend(entries.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut out = BTreeMap::new();
        for (key, value) in &merged {
            let v = interpolate(value, &merged, 0).map_err(|reason| ConfigError::Value {
                file: file.to_path_buf(),
                section: sec.clone(),
                key: key.clone(),
                value: value.clone(),
                expected: reason,
            })?;
            out.insert(key.clone(), v);
        }
        ini.sections.insert(sec.clone(), out);
    }
    Ok(ini)
}

/// `configparser`'s BasicInterpolation: `%%` is a literal `%`, `%(key)s` the value of another
/// key of the same section (or DEFAULT); any other `%` is an error, as it was in the original.
fn interpolate(
    value: &str,
    vars: &BTreeMap<String, String>,
    depth: usize,
) -> Result<String, String> {
    if depth > 10 {
        return Err("no interpolation loop (%(key)s refers back to itself)".into());
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos..];
        if let Some(r) = rest.strip_prefix("%%") {
            out.push('%');
            rest = r;
        } else if let Some(r) = rest.strip_prefix("%(") {
            let Some(end) = r.find(")s") else {
                return Err("`%(key)s` or `%%` for a literal percent sign".into());
            };
            let name = r[..end].to_lowercase();
            let Some(target) = vars.get(&name) else {
                return Err(format!("a defined key in %({name})s"));
            };
            out.push_str(&interpolate(target, vars, depth + 1)?);
            rest = &r[end + 2..];
        } else {
            return Err("`%%` for a literal percent sign (a lone `%` is not allowed)".into());
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses a time span: an integer and a unit, with or without a space (`2 weeks`, `1d`, `30 m`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    let secs = match unit.trim().to_lowercase().as_str() {
        "s" | "second" | "seconds" => 1,
        "m" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 604_800,
        _ => return None,
    };
    n.checked_mul(secs).map(Duration::from_secs)
}

/// The original's boolean rule: true for `true yes t y 1`, anything else is false.
pub fn parse_bool_loose(text: &str) -> bool {
    matches!(
        text.trim().to_lowercase().as_str(),
        "true" | "yes" | "t" | "y" | "1"
    )
}

/// Strict booleans for new keys, so a typo is reported rather than read as false.
fn parse_bool_strict(text: &str) -> Option<bool> {
    match text.trim().to_lowercase().as_str() {
        "true" | "yes" | "t" | "y" | "1" | "on" => Some(true),
        "false" | "no" | "f" | "n" | "0" | "off" => Some(false),
        _ => None,
    }
}

/// A default worker count: enough for the machine, at least 4.
pub fn default_workers() -> usize {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    (cpus * 2).max(4)
}

const DURATION_FORM: &str =
    "an integer and a unit (s, m, h, d, w or their long forms), e.g. \"30 s\", \"5m\", \"2 weeks\"";

/// The complete default configuration, printed by `--print-default-config`. Every key the
/// service reads appears here; the new ones are commented out with their defaults.
pub fn default_config_text() -> String {
    format!(
        r#"# gitlab-registry-usage-rest configuration (INI).
# Every key is optional; a missing key takes the value shown here.
# New keys (not in the Python original) are commented out with their defaults.

[general]
socket_host = 127.0.0.1
socket_port = 5000
# Prefix of every route and link, for a reverse proxy that serves the API below a path.
server_prefix = /
debug = False
# Threads answering HTTP requests; auto: twice the number of CPUs, at least 4.
# workers = auto
# Reverse proxies (comma-separated IP addresses) whose last X-Forwarded-For entry is trusted
# as the client address for login rate limiting.
# trusted_proxies =

[ldap]
# A bare host name means ldaps://host; ldap://host needs starttls = true or allow_insecure = true.
host = myldap.com
base_dn = dc=example,dc=com
valid_gid = 00000
username_attribute = uid
# Empty disables the group check.
gid_attribute = gidNumber
# A service account for directories that forbid anonymous search (empty: anonymous search).
# bind_dn =
# bind_password =
# A PEM file with the CA that signed the LDAP server's certificate (default: system roots).
# ca_file =
# Upgrade an ldap:// connection with StartTLS.
# starttls = False
# Allow unencrypted ldap:// without StartTLS (passwords travel in clear text).
# allow_insecure = False
# Limit for connecting and for each LDAP operation.
# timeout = 5 s
# Logins checked at once; more answer 503 at once. auto: half the workers, at least 1.
# max_concurrent = auto
# Failed logins per client address and minute before 429 (0 disables the limit).
# max_failures_per_minute = 10

[jwt]
auth_token_expires = 2 weeks
# At least {min} bytes; make one with: head -c32 /dev/urandom | base64
secret_key = {placeholder}

[registry]
gitlab_base_url = https://mygitlab.com/
# Empty disables the collector: the service then serves its state file only.
registry_base_url = https://registry.mygitlab.com/
username = root
# A GitLab personal access token with the read_registry scope (api for all projects).
access_token = xxx
# Time between the starts of two crawls.
# update_interval = 1 hour
# Requests to the registry in flight at once.
# concurrency = 8
# Limit for connecting to the registry and for each response.
# timeout = 30 s
# Where the last crawl is kept, so a restart serves data at once.
# state_file = /var/lib/gitlab-registry-usage-rest/state.json
"#,
        min = MIN_SECRET_LEN,
        placeholder = PLACEHOLDER_SECRET,
    )
}

/// Every `(section, key)` the service reads; anything else in a file is warned about.
pub const KNOWN_KEYS: &[(&str, &[&str])] = &[
    (
        "general",
        &[
            "socket_host",
            "socket_port",
            "server_prefix",
            "debug",
            "workers",
            "trusted_proxies",
        ],
    ),
    (
        "ldap",
        &[
            "host",
            "base_dn",
            "valid_gid",
            "username_attribute",
            "gid_attribute",
            "bind_dn",
            "bind_password",
            "ca_file",
            "starttls",
            "allow_insecure",
            "timeout",
            "max_concurrent",
            "max_failures_per_minute",
        ],
    ),
    ("jwt", &["auth_token_expires", "secret_key"]),
    (
        "registry",
        &[
            "gitlab_base_url",
            "registry_base_url",
            "username",
            "access_token",
            "update_interval",
            "concurrency",
            "timeout",
            "state_file",
        ],
    ),
];

/// Keys and sections in `ini` that the service does not know (likely typos), as `[s] key`.
pub fn unknown_keys(ini: &Ini) -> Vec<String> {
    let mut out = Vec::new();
    for (sec, entries) in &ini.sections {
        match KNOWN_KEYS.iter().find(|(s, _)| s == sec) {
            None => out.push(format!("[{sec}]")),
            Some((_, keys)) => {
                for key in entries.keys() {
                    if !keys.contains(&key.as_str()) {
                        out.push(format!("[{sec}] {key}"));
                    }
                }
            }
        }
    }
    out
}

/// Reads a key with a typed parser, falling back to the default text when the key is absent.
struct Reader<'a> {
    ini: &'a Ini,
    defaults: &'a Ini,
    file: &'a Path,
}

impl Reader<'_> {
    fn raw(&self, section: &str, key: &str) -> String {
        self.ini
            .get(section, key)
            .or_else(|| self.defaults.get(section, key))
            .unwrap_or("")
            .to_string()
    }

    fn error(&self, section: &str, key: &str, value: &str, expected: &str) -> ConfigError {
        ConfigError::Value {
            file: self.file.to_path_buf(),
            section: section.into(),
            key: key.into(),
            value: value.into(),
            expected: expected.into(),
        }
    }

    fn parse<T>(
        &self,
        section: &str,
        key: &str,
        expected: &str,
        f: impl Fn(&str) -> Option<T>,
    ) -> Result<T, ConfigError> {
        let v = self.raw(section, key);
        f(&v).ok_or_else(|| self.error(section, key, &v, expected))
    }

    /// For keys that are commented out in the default text: absent means `default`.
    fn parse_or<T>(
        &self,
        section: &str,
        key: &str,
        expected: &str,
        default: T,
        f: impl Fn(&str) -> Option<T>,
    ) -> Result<T, ConfigError> {
        match self.ini.get(section, key) {
            None => Ok(default),
            Some(v) => f(v).ok_or_else(|| self.error(section, key, v, expected)),
        }
    }

    fn duration_or(
        &self,
        section: &str,
        key: &str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        self.parse_or(section, key, DURATION_FORM, default, parse_duration)
    }
}

fn positive(v: &str) -> Option<usize> {
    v.trim().parse::<usize>().ok().filter(|n| *n > 0)
}

fn auto_or_positive(v: &str, auto: usize) -> Option<usize> {
    if v.trim().eq_ignore_ascii_case("auto") {
        Some(auto)
    } else {
        positive(v)
    }
}

fn normalise_prefix(v: &str) -> Option<String> {
    let t = v.trim();
    if t.is_empty() {
        return Some(String::new());
    }
    if !t.starts_with('/') || t.contains(['?', '#', ' ']) {
        return None;
    }
    Some(t.trim_end_matches('/').to_string())
}

fn http_url(v: &str) -> Option<String> {
    let t = v.trim();
    (t.starts_with("http://") || t.starts_with("https://")).then(|| t.to_string())
}

impl Config {
    /// Reads and checks the file at `path`. A missing file is an error (the original silently
    /// ran on defaults; we refuse, so a typo in `-c` cannot start a half-configured service).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            file: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Config::from_ini_text(&text, path)
    }

    /// Parses `text` as if read from `file` (which only appears in messages).
    pub fn from_ini_text(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let ini = parse_ini(text, file)?;
        Config::from_ini(&ini, file)
    }

    pub fn from_ini(ini: &Ini, file: &Path) -> Result<Config, ConfigError> {
        let defaults = parse_ini(&default_config_text(), Path::new("<built-in defaults>"))?;
        let r = Reader {
            ini,
            defaults: &defaults,
            file,
        };

        let workers = r.parse_or(
            "general",
            "workers",
            "a positive integer or auto",
            default_workers(),
            |v| auto_or_positive(v, default_workers()),
        )?;
        let general = General {
            socket_host: r.raw("general", "socket_host").trim().to_string(),
            socket_port: r.parse(
                "general",
                "socket_port",
                "a port number from 0 to 65535",
                |v| v.trim().parse::<u16>().ok(),
            )?,
            server_prefix: r.parse(
                "general",
                "server_prefix",
                "a path starting with /, e.g. /registry-usage",
                normalise_prefix,
            )?,
            debug: parse_bool_loose(&r.raw("general", "debug")),
            workers,
            trusted_proxies: r.parse_or(
                "general",
                "trusted_proxies",
                "comma-separated IP addresses, e.g. 127.0.0.1, ::1",
                Vec::new(),
                |v| {
                    v.split([',', ' ', '\n'])
                        .filter(|s| !s.trim().is_empty())
                        .map(|s| s.trim().parse().ok())
                        .collect()
                },
            )?,
        };
        if general.socket_host.is_empty() {
            return Err(r.error(
                "general",
                "socket_host",
                "",
                "an IP address or host name to listen on",
            ));
        }

        let bool_form = "true or false (also yes/no, 1/0)";
        let ldap = Ldap {
            host: r.raw("ldap", "host").trim().to_string(),
            base_dn: r.raw("ldap", "base_dn").trim().to_string(),
            valid_gid: r.raw("ldap", "valid_gid").trim().to_string(),
            username_attribute: r.raw("ldap", "username_attribute").trim().to_string(),
            gid_attribute: r.raw("ldap", "gid_attribute").trim().to_string(),
            bind_dn: r.raw("ldap", "bind_dn").trim().to_string(),
            bind_password: r.raw("ldap", "bind_password"),
            ca_file: Some(r.raw("ldap", "ca_file").trim().to_string())
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            starttls: r.parse_or("ldap", "starttls", bool_form, false, parse_bool_strict)?,
            allow_insecure: r.parse_or(
                "ldap",
                "allow_insecure",
                bool_form,
                false,
                parse_bool_strict,
            )?,
            timeout: r.duration_or("ldap", "timeout", Duration::from_secs(5))?,
            max_concurrent: r.parse_or(
                "ldap",
                "max_concurrent",
                "a positive integer or auto",
                (workers / 2).max(1),
                |v| auto_or_positive(v, (workers / 2).max(1)),
            )?,
            max_failures_per_minute: r.parse_or(
                "ldap",
                "max_failures_per_minute",
                "a whole number (0 disables the limit)",
                10,
                |v| v.trim().parse().ok(),
            )?,
        };
        if ldap.username_attribute.is_empty() {
            return Err(r.error(
                "ldap",
                "username_attribute",
                "",
                "an LDAP attribute name, e.g. uid",
            ));
        }
        if ldap.timeout.is_zero() {
            return Err(r.error(
                "ldap",
                "timeout",
                &r.raw("ldap", "timeout"),
                "a time span above zero, e.g. 5 s",
            ));
        }

        let jwt = Jwt {
            auth_token_expires: r.parse(
                "jwt",
                "auth_token_expires",
                DURATION_FORM,
                parse_duration,
            )?,
            secret_key: r.raw("jwt", "secret_key").trim().to_string(),
        };

        let registry = Registry {
            gitlab_base_url: r.parse(
                "registry",
                "gitlab_base_url",
                "an http:// or https:// URL, e.g. https://gitlab.example.com/",
                http_url,
            )?,
            registry_base_url: r.parse(
                "registry",
                "registry_base_url",
                "an http:// or https:// URL (or empty to disable the collector)",
                |v| {
                    if v.trim().is_empty() {
                        Some(String::new())
                    } else {
                        http_url(v)
                    }
                },
            )?,
            username: r.raw("registry", "username").trim().to_string(),
            access_token: r.raw("registry", "access_token").trim().to_string(),
            update_interval: r.duration_or(
                "registry",
                "update_interval",
                Duration::from_secs(3600),
            )?,
            concurrency: r.parse_or(
                "registry",
                "concurrency",
                "a positive integer",
                8,
                positive,
            )?,
            timeout: r.duration_or("registry", "timeout", Duration::from_secs(30))?,
            state_file: r.parse_or(
                "registry",
                "state_file",
                "a file path (empty: keep no state file)",
                PathBuf::from("/var/lib/gitlab-registry-usage-rest/state.json"),
                |v| Some(PathBuf::from(v.trim())),
            )?,
        };
        if registry.update_interval.is_zero() {
            return Err(r.error(
                "registry",
                "update_interval",
                &r.raw("registry", "update_interval"),
                "a time span above zero, e.g. 1 hour",
            ));
        }
        if registry.timeout.is_zero() {
            return Err(r.error(
                "registry",
                "timeout",
                &r.raw("registry", "timeout"),
                "a time span above zero, e.g. 30 s",
            ));
        }

        Ok(Config {
            general,
            ldap,
            jwt,
            registry,
        })
    }

    /// Checks that need more than one key or that only matter for running the service: the
    /// secret. Kept apart from parsing so `--print-default-config` output still parses.
    pub fn check_secret(&self, file: &Path) -> Result<(), ConfigError> {
        let s = &self.jwt.secret_key;
        let how = format!(
            "a random secret of at least {MIN_SECRET_LEN} bytes, not the placeholder; make one with: head -c32 /dev/urandom | base64"
        );
        if s == PLACEHOLDER_SECRET || s.len() < MIN_SECRET_LEN {
            let shown = if s == PLACEHOLDER_SECRET || s.is_empty() {
                s.clone()
            } else {
                format!("<{} bytes, hidden>", s.len())
            };
            return Err(ConfigError::Value {
                file: file.to_path_buf(),
                section: "jwt".into(),
                key: "secret_key".into(),
                value: shown,
                expected: how,
            });
        }
        Ok(())
    }

    /// Settings that work but that an operator should know about. (LDAP transport choices
    /// are checked and warned about by `auth::ldap`, which owns them.)
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.registry.registry_base_url.is_empty() {
            out.push("[registry] registry_base_url is empty: the collector is off, only the state file is served".into());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("/etc/test.conf")
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("2 weeks"),
            Some(Duration::from_secs(1_209_600))
        );
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("30 m"), Some(Duration::from_secs(1800)));
        assert_eq!(parse_duration("5 Seconds"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("1 HOUR"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("2 fortnights"), None);
        assert_eq!(parse_duration("weeks"), None);
        assert_eq!(parse_duration("-1 s"), None);
        assert_eq!(parse_duration("1.5 h"), None);
        assert_eq!(parse_duration("99999999999999999999 w"), None);
    }

    #[test]
    fn booleans() {
        for t in ["true", "Yes", "T", "y", "1", "TRUE"] {
            assert!(parse_bool_loose(t), "{t}");
        }
        for f in ["False", "no", "0", "", "nope"] {
            assert!(!parse_bool_loose(f), "{f}");
        }
    }

    #[test]
    fn configparser_dialect() {
        let text = "\u{feff}# comment\n[DEFAULT]\nbase = /srv\n\n[general]\nSocket_Port: 8080\n  ; indented comment\nserver_prefix = %(base)s/x\n\n[jwt]\nsecret_key = abc%%def\n  continued\n";
        let ini = parse_ini(text, p()).unwrap();
        assert_eq!(ini.get("general", "socket_port"), Some("8080"));
        assert_eq!(ini.get("general", "server_prefix"), Some("/srv/x"));
        assert_eq!(ini.get("jwt", "secret_key"), Some("abc%def\ncontinued"));
        assert_eq!(ini.get("jwt", "base"), Some("/srv"));
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let e = parse_ini("[general]\nnot a pair\n", p()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/test.conf:2: expected `key = value` in [general], got \"not a pair\""
        );
        let e = parse_ini("key = v\n", p()).unwrap_err();
        assert!(e.to_string().contains(":1:"), "{e}");
        let e = parse_ini("[a]\nk=1\nk=2\n", p()).unwrap_err();
        assert!(e.to_string().contains("appears twice"), "{e}");
        let e = parse_ini("[a]\nk=100%\n", p()).unwrap_err();
        assert!(e.to_string().contains("[a] k"), "{e}");
    }

    #[test]
    fn default_text_parses_and_fails_only_on_secret() {
        let c = Config::from_ini_text(&default_config_text(), p()).unwrap();
        assert_eq!(c.general.socket_port, 5000);
        assert_eq!(c.general.server_prefix, "");
        assert_eq!(c.jwt.auth_token_expires, Duration::from_secs(1_209_600));
        assert_eq!(c.registry.concurrency, 8);
        assert_eq!(c.registry.update_interval, Duration::from_secs(3600));
        assert_eq!(c.ldap.url(), "ldaps://myldap.com");
        assert!(c.general.workers >= 4);
        let c = Config::from_ini_text(
            "[general]\nworkers = auto\n[ldap]\nmax_concurrent = AUTO\n",
            p(),
        )
        .unwrap();
        assert_eq!(
            (c.general.workers, c.ldap.max_concurrent),
            (default_workers(), default_workers() / 2)
        );
        let c = Config::from_ini_text("[general]\nworkers = 3\n", p()).unwrap();
        assert_eq!((c.general.workers, c.ldap.max_concurrent), (3, 1));
        let e = c.check_secret(p()).unwrap_err().to_string();
        assert!(
            e.contains("[jwt] secret_key") && e.contains("head -c32 /dev/urandom | base64"),
            "{e}"
        );
        assert!(unknown_keys(&parse_ini(&default_config_text(), p()).unwrap()).is_empty());
    }

    #[test]
    fn every_key_optional() {
        let c = Config::from_ini_text("", p()).unwrap();
        assert_eq!(
            c,
            Config::from_ini_text(&default_config_text(), p()).unwrap()
        );
        let c = Config::from_ini_text(
            "[jwt]\nsecret_key = 0123456789abcdef0123456789abcdef\n",
            p(),
        )
        .unwrap();
        c.check_secret(p()).unwrap();
        assert_eq!(c.ldap.username_attribute, "uid");
    }

    #[test]
    fn bad_values_name_section_key_value_and_form() {
        let e =
            Config::from_ini_text("[jwt]\nauth_token_expires = 2 fortnights\n", p()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("/etc/test.conf: [jwt] auth_token_expires = \"2 fortnights\": expected {DURATION_FORM}")
        );
        let e = Config::from_ini_text("[general]\nsocket_port = 70000\n", p()).unwrap_err();
        assert!(
            e.to_string().contains("[general] socket_port = \"70000\""),
            "{e}"
        );
        let e = Config::from_ini_text("[registry]\nconcurrency = 0\n", p()).unwrap_err();
        assert!(e.to_string().contains("[registry] concurrency"), "{e}");
        let e = Config::from_ini_text("[ldap]\nstarttls = maybe\n", p()).unwrap_err();
        assert!(e.to_string().contains("[ldap] starttls"), "{e}");
        let e = Config::from_ini_text("[jwt]\nsecret_key = short\n", p())
            .unwrap()
            .check_secret(p())
            .unwrap_err();
        assert!(
            e.to_string().contains("hidden") && !e.to_string().contains("short"),
            "{e}"
        );
    }

    #[test]
    fn prefix_and_ldap_url() {
        let c = Config::from_ini_text(
            "[general]\nserver_prefix = /registry-usage/\n[ldap]\nhost = ldap://x:389\n",
            p(),
        )
        .unwrap();
        assert_eq!(c.general.server_prefix, "/registry-usage");
        assert_eq!(c.ldap.url(), "ldap://x:389");
        assert_eq!(c.warnings().len(), 0);
    }

    #[test]
    fn unknown_keys_are_listed() {
        let ini = parse_ini("[general]\nsocket_prot = 1\n[extra]\n", p()).unwrap();
        assert_eq!(
            unknown_keys(&ini),
            vec!["[extra]".to_string(), "[general] socket_prot".into()]
        );
    }
}
