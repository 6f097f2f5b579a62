//! The configuration file: the original's INI dialect (Python `configparser`), its keys and
//! defaults, and the checks that turn a bad value into a message naming the file, the section,
//! the key, the value and the expected form.
//!
//! The key table (every key, its default, form and documentation) is `keys`, the INI parser
//! `ini`, the `[storage]` section `storage`; this module turns a parsed file into a [`Config`].
//!
//! This module reads nothing itself but the one file it is asked to load; it never consults
//! the environment, and it knows nothing of sockets, LDAP or the registry beyond their settings.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The path the original used when `-c` is not given.
pub const DEFAULT_PATH: &str = "/etc/gitlab_registry_usage_rest.conf";

/// The secret shipped in the default config; the service refuses to run with it.
pub const PLACEHOLDER_SECRET: &str = "CHANGE-ME-generate-with-head-c32-dev-urandom-base64";

/// Shortest secret accepted, in bytes (HS256 keys should be at least as long as the hash).
pub(crate) const MIN_SECRET_LEN: usize = 32;

mod ini;
mod keys;
mod storage;

pub use ini::{parse_ini, Ini};
pub use keys::{default_config_text, key_def, unknown_keys, Key, KEYS};
pub use storage::{Storage, StorageDriver};

/// Every setting the service knows, with defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub general: General,
    pub ldap: Ldap,
    pub jwt: Jwt,
    pub registry: Registry,
    pub metrics: MetricsConfig,
    pub storage: Storage,
    pub history: HistoryConfig,
}

#[derive(Debug, Clone, PartialEq)]
pub struct General {
    pub socket_host: String,
    pub socket_port: u16,
    /// Normalised: empty for `/`, else `/prefix` without a trailing slash.
    pub server_prefix: String,
    pub debug: bool,
    pub workers: usize,
    /// Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For` is followed to the
    /// client's address (see `auth::address`).
    pub trusted_proxies: Vec<crate::http::ipnet::IpNet>,
    /// Bytes a compiled `/cleanup` pattern may take; larger ones are refused with 400.
    pub cleanup_regex_size_limit: usize,
    /// Connection limits, one `[general]` key per field (documented on `http::Limits`).
    pub limits: crate::http::Limits,
    /// Bytes of rendered responses kept per snapshot (see `cache::RenderCache`); 0: none.
    pub cache_budget: usize,
    /// Origins whose pages may read API responses (lower-case `scheme://host[:port]`);
    /// `None` (`*`): any origin, as the original allowed.
    pub cors_allowed_origins: Option<Vec<String>>,
    /// Responses too big for the render cache streamed at once; more get 503.
    pub max_streams: usize,
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
    /// Client buckets the failed-login limit remembers at once.
    pub max_tracked_clients: usize,
    /// Failed logins per user name and minute, across all clients (0: no limit).
    pub max_failures_per_user: u32,
    /// A token's user is checked again at most this often (0: never).
    pub recheck_interval: Duration,
    /// How long past its due time the last answer is kept while the directory is down.
    pub recheck_grace: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Jwt {
    pub auth_token_expires: Duration,
    pub secret_key: String,
    /// Tokens issued before this (Unix seconds) are refused: a global log-out.
    pub not_before: Option<u64>,
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
    /// CAs trusted for https in addition to the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Token endpoints trusted with the credentials besides GitLab's and the registry's.
    pub trusted_realms: Vec<String>,
    /// Whether each crawl reads GitLab's projects and clean-up policies.
    pub projects: crate::registry::ProjectsMode,
    /// A crawl running longer is abandoned (see [`default_crawl_timeout`] for `auto`).
    pub crawl_timeout: Duration,
    pub state_file: PathBuf,
    /// Manifests larger than this are refused (their repository fails, with a warning).
    pub max_manifest_size: u64,
    /// Repository names with more `/`-separated components are skipped, with a warning.
    pub max_name_depth: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HistoryConfig {
    /// How long crawls are remembered (see `crate::history`); zero: no history is kept.
    pub keep: Duration,
}

/// `crawl_timeout = auto`: four update intervals (a crawl that slow has missed three
/// chances to publish), at least 10 minutes (a short interval on a big registry must still
/// be able to finish), at most 24 hours (data a day old is stale whatever the interval).
pub(crate) fn default_crawl_timeout(update_interval: Duration) -> Duration {
    update_interval
        .saturating_mul(4)
        .clamp(Duration::from_secs(600), Duration::from_secs(86_400))
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricsConfig {
    /// Whether `/metrics` is served (a 404 otherwise).
    pub enabled: bool,
    /// When set, scrapes must send `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
}

impl Ldap {
    /// The LDAP URL to connect to: a bare host name means `ldaps://host`, as in the original.
    pub(crate) fn url(&self) -> String {
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

/// Parses a time span: an integer and a unit, with or without a space (`2 weeks`, `1d`, `30 m`).
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
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
        "y" | "year" | "years" => 365 * 86_400,
        // A bare 0 needs no unit (`[history] keep = 0`).
        "" if n == 0 => 0,
        _ => return None,
    };
    n.checked_mul(secs).map(Duration::from_secs)
}

/// The original's boolean rule: true for `true yes t y 1`, anything else is false.
pub(crate) fn parse_bool_loose(text: &str) -> bool {
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
pub(crate) fn default_workers() -> usize {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    (cpus * 2).max(4)
}

/// Reads keys of [`KEYS`] with typed parsers: the file's value, or the table's default.
struct Reader<'a> {
    ini: &'a Ini,
    file: &'a Path,
}

impl Reader<'_> {
    fn def(section: &str, name: &str) -> &'static Key {
        match key_def(section, name) {
            Some(k) => k,
            // Every key read below is in KEYS; the unit tests read every one of them.
            None => panic!("config key [{section}] {name} is missing from config::KEYS"),
        }
    }

    /// The value as written (or the default), untrimmed.
    fn raw(&self, section: &str, name: &str) -> String {
        let k = Self::def(section, name);
        self.ini.get(section, name).unwrap_or(k.default).to_string()
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

    /// The value checked against its kind, then converted by `f`.
    fn get<T>(
        &self,
        section: &str,
        name: &str,
        f: impl Fn(&str) -> Option<T>,
    ) -> Result<T, ConfigError> {
        let k = Self::def(section, name);
        let v = self.raw(section, name);
        if !k.kind.accepts(&v) {
            return Err(self.error(section, name, &v, k.kind.expected()));
        }
        f(&v).ok_or_else(|| self.error(section, name, &v, k.kind.expected()))
    }

    fn text(&self, section: &str, name: &str) -> Result<String, ConfigError> {
        self.get(section, name, |v| Some(v.trim().to_string()))
    }

    fn duration(&self, section: &str, name: &str) -> Result<Duration, ConfigError> {
        self.get(section, name, parse_duration)
    }

    fn flag(&self, section: &str, name: &str) -> Result<bool, ConfigError> {
        self.get(section, name, parse_bool_strict)
    }

    fn number<T: std::str::FromStr>(&self, section: &str, name: &str) -> Result<T, ConfigError> {
        self.get(section, name, |v| v.trim().parse().ok())
    }

    fn path(&self, section: &str, name: &str) -> Result<Option<PathBuf>, ConfigError> {
        self.get(section, name, |v| {
            Some(Some(v.trim()).filter(|s| !s.is_empty()).map(PathBuf::from))
        })
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

/// `[registry] projects`: `auto` or a strict boolean.
fn projects_mode(v: &str) -> Option<crate::registry::ProjectsMode> {
    use crate::registry::ProjectsMode;
    if v.trim().eq_ignore_ascii_case("auto") {
        return Some(ProjectsMode::Auto);
    }
    parse_bool_strict(v).map(|on| {
        if on {
            ProjectsMode::On
        } else {
            ProjectsMode::Off
        }
    })
}

fn auto_or_duration(v: &str, auto: Duration) -> Option<Duration> {
    if v.trim().eq_ignore_ascii_case("auto") {
        Some(auto)
    } else {
        parse_duration(v).filter(|d| !d.is_zero())
    }
}

/// A byte count: a whole number and an optional unit (`K`/`KiB`, `M`/`MiB`, `G`/`GiB` are
/// binary; `KB`, `MB`, `GB` decimal; `B` or none: bytes), with or without a space.
pub(crate) fn parse_bytes(v: &str) -> Option<usize> {
    let t = v.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num.parse().ok()?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn parse_urls(v: &str) -> Option<Vec<String>> {
    v.split([',', ' ', '\n'])
        .filter(|s| !s.trim().is_empty())
        .map(http_url)
        .collect()
}

/// Empty is `Some(None)`; an RFC 3339 time at or after 1970 is its Unix seconds.
fn parse_time(v: &str) -> Option<Option<u64>> {
    let t = v.trim();
    if t.is_empty() {
        return Some(None);
    }
    let secs = crate::snapshot::time::parse_rfc3339(t)?;
    u64::try_from(secs).ok().map(Some)
}

/// `*` is `Some(None)`; a list of `http(s)://host[:port]` (no path) is lower-cased.
fn parse_origins(v: &str) -> Option<Option<Vec<String>>> {
    if v.trim() == "*" {
        return Some(None);
    }
    let list: Option<Vec<String>> = v
        .split([',', ' ', '\n'])
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            let o = http_url(s)?.trim_end_matches('/').to_ascii_lowercase();
            let host = o.split_once("://")?.1;
            (!host.is_empty() && !host.contains(['/', '?', '#', '*'])).then_some(o)
        })
        .collect();
    list.filter(|l| !l.is_empty()).map(Some)
}

fn parse_addresses(v: &str) -> Option<Vec<crate::http::ipnet::IpNet>> {
    v.split([',', ' ', '\n'])
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().ok())
        .collect()
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

/// `[general]`; `workers` first, since `max_streams = auto` follows from it.
fn read_general(r: &Reader) -> Result<General, ConfigError> {
    let workers = r.get("general", "workers", |v| {
        auto_or_positive(v, default_workers())
    })?;
    Ok(General {
        socket_host: r.text("general", "socket_host")?,
        socket_port: r.number("general", "socket_port")?,
        server_prefix: r.get("general", "server_prefix", normalise_prefix)?,
        debug: parse_bool_loose(&r.raw("general", "debug")),
        workers,
        trusted_proxies: r.get("general", "trusted_proxies", parse_addresses)?,
        cleanup_regex_size_limit: r.get("general", "cleanup_regex_size_limit", positive)?,
        limits: crate::http::Limits {
            max_request_head: r.get("general", "max_request_head", positive)?,
            max_headers: r.get("general", "max_headers", positive)?,
            header_timeout: r.duration("general", "header_timeout")?,
            keepalive_timeout: r.duration("general", "keepalive_timeout")?,
            write_timeout: r.duration("general", "write_timeout")?,
            max_connections: r.get("general", "max_connections", positive)?,
            max_connections_per_client: r.get("general", "max_connections_per_client", positive)?,
        },
        cache_budget: r.get("general", "cache_budget", parse_bytes)?,
        cors_allowed_origins: r.get("general", "cors_allowed_origins", parse_origins)?,
        max_streams: r.get("general", "max_streams", |v| {
            auto_or_positive(v, (workers / 4).max(1))
        })?,
    })
}

/// `[ldap]`; `max_concurrent = auto` is half the workers.
fn read_ldap(r: &Reader, workers: usize) -> Result<Ldap, ConfigError> {
    let half_workers = (workers / 2).max(1);
    Ok(Ldap {
        host: r.text("ldap", "host")?,
        base_dn: r.text("ldap", "base_dn")?,
        valid_gid: r.text("ldap", "valid_gid")?,
        username_attribute: r.text("ldap", "username_attribute")?,
        gid_attribute: r.text("ldap", "gid_attribute")?,
        bind_dn: r.text("ldap", "bind_dn")?,
        bind_password: r.raw("ldap", "bind_password"),
        ca_file: r.path("ldap", "ca_file")?,
        starttls: r.flag("ldap", "starttls")?,
        allow_insecure: r.flag("ldap", "allow_insecure")?,
        timeout: r.duration("ldap", "timeout")?,
        max_concurrent: r.get("ldap", "max_concurrent", |v| {
            auto_or_positive(v, half_workers)
        })?,
        max_failures_per_minute: r.number("ldap", "max_failures_per_minute")?,
        max_tracked_clients: r.number("ldap", "max_tracked_clients")?,
        max_failures_per_user: r.number("ldap", "max_failures_per_user")?,
        recheck_interval: r.duration("ldap", "recheck_interval")?,
        recheck_grace: r.duration("ldap", "recheck_grace")?,
    })
}

/// `[registry]`; `update_interval` first, since `crawl_timeout = auto` follows from it.
fn read_registry(r: &Reader) -> Result<Registry, ConfigError> {
    let update_interval = r.duration("registry", "update_interval")?;
    Ok(Registry {
        gitlab_base_url: r.text("registry", "gitlab_base_url")?,
        registry_base_url: r.text("registry", "registry_base_url")?,
        username: r.text("registry", "username")?,
        access_token: r.text("registry", "access_token")?,
        update_interval,
        concurrency: r.number("registry", "concurrency")?,
        timeout: r.duration("registry", "timeout")?,
        ca_file: r.path("registry", "ca_file")?,
        trusted_realms: r.get("registry", "trusted_realms", parse_urls)?,
        projects: r.get("registry", "projects", projects_mode)?,
        crawl_timeout: r.get("registry", "crawl_timeout", |v| {
            auto_or_duration(v, default_crawl_timeout(update_interval))
        })?,
        state_file: r.path("registry", "state_file")?.unwrap_or_default(),
        max_manifest_size: r.get("registry", "max_manifest_size", |v| {
            parse_bytes(v).map(|n| n as u64)
        })?,
        max_name_depth: r.get("registry", "max_name_depth", positive)?,
    })
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
    pub(crate) fn from_ini_text(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let ini = parse_ini(text, file)?;
        Config::from_ini(&ini, file)
    }

    pub(crate) fn from_ini(ini: &Ini, file: &Path) -> Result<Config, ConfigError> {
        let r = Reader { ini, file };
        let general = read_general(&r)?;
        let ldap = read_ldap(&r, general.workers)?;
        let jwt = Jwt {
            auth_token_expires: r.duration("jwt", "auth_token_expires")?,
            secret_key: r.text("jwt", "secret_key")?,
            not_before: r.get("jwt", "not_before", parse_time)?,
        };
        let registry = read_registry(&r)?;
        let metrics = MetricsConfig {
            enabled: r.flag("metrics", "enabled")?,
            bearer_token: Some(r.raw("metrics", "bearer_token").trim().to_string())
                .filter(|t| !t.is_empty()),
        };
        let storage = storage::read(&r)?;
        let history = HistoryConfig {
            keep: r.duration("history", "keep")?,
        };
        // /metrics names every repository: never served to anyone who asks.
        if metrics.enabled && metrics.bearer_token.is_none() {
            return Err(r.error(
                "metrics",
                "bearer_token",
                "",
                "a token that scrapes must send (Authorization: Bearer <token>) when enabled = \
                 true; make one with: head -c32 /dev/urandom | base64",
            ));
        }
        Ok(Config {
            general,
            ldap,
            jwt,
            registry,
            metrics,
            storage,
            history,
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
mod tests;
