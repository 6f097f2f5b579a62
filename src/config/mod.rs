//! The configuration file: the original's INI dialect (Python `configparser`), its keys and
//! defaults, and the checks that turn a bad value into a message naming the file, the section,
//! the key, the value and the expected form.
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
mod storage;

pub use ini::{parse_ini, Ini};
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

const DURATION_FORM: &str =
    "an integer and a unit (s, m, h, d, w, y or their long forms), e.g. \"30 s\", \"5m\", \"2 weeks\"";

/// What values a key takes: how it is checked, and the form named in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Any text (trimmed), possibly empty.
    Text,
    /// Text that must not be empty; the string names an example.
    NonEmpty(&'static str),
    /// Multi-line or secret text, kept untrimmed.
    Raw,
    /// A TCP port, 0 to 65535.
    Port,
    /// The original's loose boolean: anything but `true yes t y 1` is false.
    LooseBool,
    /// A strict boolean for new keys, so a typo is reported rather than read as false.
    Bool,
    /// A time span (may be zero).
    Duration,
    /// A time span above zero.
    PositiveDuration,
    /// A whole number, zero included.
    Count,
    /// A whole number above zero.
    Positive,
    /// A whole number above zero or `auto`.
    AutoPositive,
    /// A time span above zero or `auto`.
    AutoDuration,
    /// `auto` or a strict boolean.
    AutoBool,
    /// An `http://` or `https://` URL.
    Url,
    /// An `http(s)://` URL or empty.
    UrlOrEmpty,
    /// A file path; empty allowed (meaning depends on the key).
    Path,
    /// A URL path prefix starting with `/`.
    Prefix,
    /// Comma- or space-separated IP addresses or CIDR ranges.
    Addresses,
    /// Comma- or space-separated `http(s)://` URLs.
    Urls,
    /// A number of bytes: `64 MiB`, `512K`, `1 GB`, `1048576`.
    Bytes,
    /// A number of bytes above zero.
    PositiveBytes,
    /// `*`, or comma- or space-separated origins (`https://host[:port]`).
    Origins,
    /// An RFC 3339 time, or empty.
    TimeOrEmpty,
    /// One of these words (exactly); the string is the expected form.
    Choice(&'static [&'static str], &'static str),
}

impl Kind {
    /// The expected form, for error messages.
    pub(crate) fn expected(self) -> &'static str {
        match self {
            Kind::Text | Kind::Raw => "text",
            Kind::NonEmpty(what) => what,
            Kind::Port => "a port number from 0 to 65535",
            Kind::LooseBool | Kind::Bool => "true or false (also yes/no, 1/0)",
            Kind::Duration => DURATION_FORM,
            Kind::PositiveDuration => "a time span above zero, e.g. \"30 s\", \"5m\", \"1 hour\"",
            Kind::Count => "a whole number (0 or more)",
            Kind::Positive => "a positive integer",
            Kind::AutoPositive => "a positive integer or auto",
            Kind::AutoDuration => "a time span above zero, e.g. \"2 hours\", or auto",
            Kind::AutoBool => "auto, true or false",
            Kind::Url => "an http:// or https:// URL, e.g. https://gitlab.example.com/",
            Kind::UrlOrEmpty => "an http:// or https:// URL (or empty)",
            Kind::Path => "a file path",
            Kind::Prefix => "a path starting with /, e.g. /registry-usage",
            Kind::Addresses => {
                "comma-separated IP addresses or CIDR ranges, e.g. 127.0.0.1, 10.0.0.0/8, ::1"
            }
            Kind::Urls => "comma-separated http:// or https:// URLs, e.g. https://auth.example.com",
            Kind::Bytes => "a number of bytes, e.g. 64 MiB, 512K, 1 GB or 0",
            Kind::PositiveBytes => "a number of bytes above zero, e.g. 4 MiB, 512K",
            Kind::Origins => "* or comma-separated origins, e.g. https://dashboard.example.com",
            Kind::TimeOrEmpty => "an RFC 3339 time, e.g. 2026-12-03T08:00:00Z, or empty",
            Kind::Choice(_, what) => what,
        }
    }

    /// Whether `value` has this kind's form.
    pub(crate) fn accepts(self, value: &str) -> bool {
        let v = value.trim();
        match self {
            Kind::Text | Kind::Raw | Kind::Path => true,
            Kind::NonEmpty(_) => !v.is_empty(),
            Kind::Port => v.parse::<u16>().is_ok(),
            Kind::LooseBool => true,
            Kind::Bool => parse_bool_strict(v).is_some(),
            Kind::Duration => parse_duration(v).is_some(),
            Kind::PositiveDuration => parse_duration(v).is_some_and(|d| !d.is_zero()),
            Kind::Count => v.parse::<u64>().is_ok(),
            Kind::Positive => positive(v).is_some(),
            Kind::AutoPositive => auto_or_positive(v, 1).is_some(),
            Kind::AutoDuration => auto_or_duration(v, Duration::ZERO).is_some(),
            Kind::AutoBool => projects_mode(v).is_some(),
            Kind::Url => http_url(v).is_some(),
            Kind::UrlOrEmpty => v.is_empty() || http_url(v).is_some(),
            Kind::Prefix => normalise_prefix(v).is_some(),
            Kind::Addresses => parse_addresses(v).is_some(),
            Kind::Urls => parse_urls(v).is_some(),
            Kind::Bytes => parse_bytes(v).is_some(),
            Kind::PositiveBytes => parse_bytes(v).is_some_and(|n| n > 0),
            Kind::Origins => parse_origins(v).is_some(),
            Kind::TimeOrEmpty => parse_time(v).is_some(),
            Kind::Choice(words, _) => words.contains(&v),
        }
    }
}

/// One setting of the configuration file.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub section: &'static str,
    pub name: &'static str,
    /// The default, as written in the file.
    pub default: &'static str,
    pub(crate) kind: Kind,
    /// Comment lines printed above the key by `--print-default-config` (`\n`-separated).
    pub(crate) doc: &'static str,
    /// Keys of the Python original are printed as settings; newer ones are commented out.
    pub(crate) original: bool,
}

const fn key(
    section: &'static str,
    name: &'static str,
    default: &'static str,
    kind: Kind,
    doc: &'static str,
) -> Key {
    Key {
        section,
        name,
        default,
        kind,
        doc,
        original: false,
    }
}

/// A key the Python original had: printed uncommented in the default file.
const fn orig(k: Key) -> Key {
    Key {
        original: true,
        ..k
    }
}

/// Every setting the service reads, in the order `--print-default-config` prints them. The
/// default text, the known-key list and the defaults the parser falls back to all come from
/// here, so a new key is added in this one place (plus the struct field that holds it).
pub const KEYS: &[Key] = &[
    orig(key("general", "socket_host", "127.0.0.1", Kind::NonEmpty("an IP address or host name to listen on"), "")),
    orig(key("general", "socket_port", "5000", Kind::Port, "")),
    orig(key("general", "server_prefix", "/", Kind::Prefix,
        "Prefix of every route and link, for a reverse proxy that serves the API below a path.")),
    orig(key("general", "debug", "False", Kind::LooseBool, "")),
    key("general", "workers", "auto", Kind::AutoPositive,
        "Threads answering HTTP requests; auto: twice the number of CPUs, at least 4."),
    key("general", "trusted_proxies", "", Kind::Addresses,
        "Reverse proxies in front of the service (IP addresses or CIDR ranges, comma-separated).\nFor requests from them, X-Forwarded-For is read from the right past these proxies and the\nfirst other address is the client whose failed logins are counted."),
    key("general", "cleanup_regex_size_limit", "1048576", Kind::Positive,
        "Bytes a compiled /cleanup pattern (name_regex_delete, name_regex_keep) may take; larger\npatterns answer 400. The default compiles any such pattern in a few milliseconds."),
    key("general", "max_request_head", "16384", Kind::Positive,
        "Largest request head (request line and headers) in bytes; larger ones get 431."),
    key("general", "max_headers", "100", Kind::Positive,
        "Most header lines in one request; more get 431."),
    key("general", "header_timeout", "10 s", Kind::PositiveDuration,
        "A request head must arrive completely within this (in all, not per read); else 408."),
    key("general", "keepalive_timeout", "60 s", Kind::PositiveDuration,
        "An idle keep-alive connection is closed after this."),
    key("general", "write_timeout", "30 s", Kind::PositiveDuration,
        "A client must take a whole response within this; else the connection is closed."),
    key("general", "max_connections", "10000", Kind::Positive,
        "Open connections at most: beyond, the longest-idle one is closed; with none idle,\nnew connections get 503. Keep below the open-files limit (LimitNOFILE)."),
    key("general", "max_connections_per_client", "256", Kind::Positive,
        "Open connections from one client (an IPv4 address or an IPv6 /64) at most: beyond,\nits longest-idle one is closed; with none idle, its new connections get 503. Behind a\nreverse proxy every connection comes from the proxy: raise this to max_connections."),
    key("general", "cache_budget", "64 MiB", Kind::Bytes,
        "Memory for rendered responses of the current snapshot (every JSON resource and its gzip\nform), rendered once and shared; dropped when a new crawl is published.\nWhen full, the least recently used are dropped; a response larger than all of it is\nstreamed instead (0: keep none)."),
    key("general", "max_streams", "auto", Kind::AutoPositive,
        "Responses too big for cache_budget streamed at once (each holds a worker while its\nclient takes it); more answer 503 with Retry-After. auto: a quarter of the workers, at least 1."),
    key("general", "cors_allowed_origins", "*", Kind::Origins,
        "Origins whose web pages may read API responses (comma-separated, e.g.\nhttps://dashboard.example.com). * allows any page, as the original did: a page an\nemployee visits can then read whatever a token it holds can. /health and /metrics are\nnever readable cross-origin."),
    orig(key("ldap", "host", "myldap.com", Kind::Text,
        "A bare host name means ldaps://host; ldap://host needs starttls = true or allow_insecure = true.")),
    orig(key("ldap", "base_dn", "dc=example,dc=com", Kind::Text, "")),
    orig(key("ldap", "valid_gid", "00000", Kind::Text, "")),
    orig(key("ldap", "username_attribute", "uid", Kind::NonEmpty("an LDAP attribute name, e.g. uid"), "")),
    orig(key("ldap", "gid_attribute", "gidNumber", Kind::Text, "Empty disables the group check.")),
    key("ldap", "bind_dn", "", Kind::Text,
        "A service account for directories that forbid anonymous search (empty: anonymous search)."),
    key("ldap", "bind_password", "", Kind::Raw, ""),
    key("ldap", "ca_file", "", Kind::Path,
        "A PEM file with the CA that signed the LDAP server's certificate (default: system roots)."),
    key("ldap", "starttls", "False", Kind::Bool, "Upgrade an ldap:// connection with StartTLS."),
    key("ldap", "allow_insecure", "False", Kind::Bool,
        "Allow unencrypted ldap:// without StartTLS (passwords travel in clear text)."),
    key("ldap", "timeout", "5 s", Kind::PositiveDuration, "Limit for connecting and for each LDAP operation."),
    key("ldap", "max_concurrent", "auto", Kind::AutoPositive,
        "Logins checked at once; more answer 503 at once. auto: half the workers, at least 1."),
    key("ldap", "max_failures_per_minute", "10", Kind::Count,
        "Failed logins per client address (IPv6: per /64) and minute before 429 (0: no limit)."),
    key("ldap", "max_failures_per_user", "30", Kind::Count,
        "Failed logins per user name and minute, from all clients together, before 429 for the\nrest of the minute (0: no limit). Someone who guesses a name can lock its owner out\nfor that long: the price of keeping many clients from guessing one password."),
    key("ldap", "recheck_interval", "15 minutes", Kind::Duration,
        "A token's user is checked against the directory again (exists, still in valid_gid) at\nmost this often, so a user removed from the group loses access within it (0: never)."),
    key("ldap", "recheck_grace", "1 hour", Kind::Duration,
        "While the directory cannot be asked, a user's last answer is kept this long past its\nre-check; then that user's requests get 503 until the directory answers."),
    key("ldap", "max_tracked_clients", "10000", Kind::Positive,
        "Client addresses whose failed logins are remembered at once; when full, the one that\nfailed longest ago is forgotten."),
    orig(key("jwt", "auth_token_expires", "2 weeks", Kind::Duration, "")),
    orig(key("jwt", "secret_key", PLACEHOLDER_SECRET, Kind::Text,
        "At least 32 bytes; make one with: head -c32 /dev/urandom | base64")),
    key("jwt", "not_before", "", Kind::TimeOrEmpty,
        "Tokens issued before this time (RFC 3339, e.g. 2026-12-03T08:00:00Z) are refused: set it\nto now to log everybody out (empty: none)."),
    orig(key("registry", "gitlab_base_url", "https://mygitlab.com/", Kind::Url, "")),
    orig(key("registry", "registry_base_url", "https://registry.mygitlab.com/", Kind::UrlOrEmpty,
        "Empty disables the collector: the service then serves its state file only.")),
    orig(key("registry", "username", "root", Kind::Text, "")),
    orig(key("registry", "access_token", "xxx", Kind::Text,
        "A GitLab personal access token with the read_registry scope (api for all projects).")),
    key("registry", "update_interval", "1 hour", Kind::PositiveDuration, "Time between the starts of two crawls."),
    key("registry", "concurrency", "8", Kind::Positive, "Requests to the registry in flight at once."),
    key("registry", "timeout", "30 s", Kind::PositiveDuration,
        "Limit for connecting to the registry and for each response."),
    key("registry", "ca_file", "", Kind::Path,
        "A PEM file with CAs to trust for https to the registry and GitLab, in addition to the\nsystem's roots (a private CA: add it here or with update-ca-certificates)."),
    key("registry", "trusted_realms", "", Kind::Urls,
        "Token endpoints (comma-separated URLs; their origins count) that may receive username and\naccess_token besides gitlab_base_url's and the registry's own origin. Never plain http\nwhen the registry is https."),
    key("registry", "projects", "auto", Kind::AutoBool,
        "Read GitLab's projects and clean-up policies with each crawl (token scope read_api):\nauto (a refusal is warned about once, then ignored), true, or false (never ask)."),
    key("registry", "crawl_timeout", "auto", Kind::AutoDuration,
        "Longest a crawl may run; then it is abandoned and the previous data stays served.\nauto: 4 x update_interval, at least 10 minutes, at most 24 hours."),
    key("registry", "state_file", "/var/lib/gitlab-registry-usage-rest/state.json", Kind::Path,
        "Where the last crawl is kept, so a restart serves data at once (empty: no state file)."),
    key("registry", "max_manifest_size", "4 MiB", Kind::PositiveBytes,
        "Largest manifest read; a larger one fails its repository (real ones are a few KiB)."),
    key("registry", "max_name_depth", "32", Kind::Positive,
        "Most /-separated components in a repository name; deeper names are skipped with a\nwarning (GitLab allows 20 levels of groups, the project and 3 more components)."),
    key("metrics", "enabled", "False", Kind::Bool,
        "Serve Prometheus metrics at /metrics (sizes per repository and namespace, collector\nstate, HTTP requests)."),
    key("metrics", "bearer_token", "", Kind::Raw,
        "/metrics requires 'Authorization: Bearer <this token>'; required when enabled = true\n(the metrics name every repository). It also shows /health's details."),
    key("storage", "driver", "", Kind::Choice(&["", "filesystem", "s3"], "filesystem, s3 or empty (off)"),
        "Scan the registry's own storage (read-only) for what garbage-collect would free:\nfilesystem or s3, as in the registry's config.yml (empty: off). The keys below have\nDistribution's names: copy them from storage.filesystem / storage.s3 there."),
    key("storage", "rootdirectory", "", Kind::Text,
        "filesystem: the directory holding docker/registry/v2 (GitLab omnibus:\n/var/opt/gitlab/gitlab-rails/shared/registry); s3: the key prefix (empty: the bucket's root)."),
    key("storage", "bucket", "", Kind::Text, "s3: the bucket."),
    key("storage", "region", "us-east-1", Kind::Text, "s3: the bucket's region."),
    key("storage", "regionendpoint", "", Kind::Text,
        "s3: a custom endpoint (MinIO, Ceph, ...; without a scheme: https): path-style requests\n(empty: AWS)."),
    key("storage", "accesskey", "", Kind::Text, "s3: the access key id (read-only access is enough)."),
    key("storage", "secretkey", "", Kind::Raw, "s3: the secret access key (never logged)."),
    key("storage", "scan_interval", "auto", Kind::AutoDuration,
        "Time between the starts of two scans; auto: one scan after every published crawl."),
    key("storage", "timeout", "30 s", Kind::PositiveDuration, "s3: limit for each request."),
    key("storage", "max_manifest_size", "4 MiB", Kind::Bytes,
        "A manifest blob larger than this is not read (a warning; Distribution accepts 4 MiB)."),
    key("storage", "max_warnings", "100", Kind::Positive,
        "Problems found in the storage kept per scan (served with /storage and logged); more are\nonly counted."),
    key("history", "keep", "2 years", Kind::Duration,
        "How long crawls are remembered for since= and /history, in a file beside state_file\n(<state file name>.history): every crawl for 48 hours, one a day for 90 days, one a\nweek beyond. 0: no history. With an empty state_file it is kept in memory only."),
];

/// The entry for `section`/`name`. Only keys of [`KEYS`] are ever looked up.
pub fn key_def(section: &str, name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.section == section && k.name == name)
}

/// The sections in the order they first appear in [`KEYS`].
fn sections() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for k in KEYS {
        if !out.contains(&k.section) {
            out.push(k.section);
        }
    }
    out
}

/// The complete default configuration, printed by `--print-default-config`: every key of
/// [`KEYS`] with its default; keys the Python original did not have are commented out.
pub fn default_config_text() -> String {
    let mut out = String::from(
        "# gitlab-registry-usage-rest configuration (INI).\n\
         # Every key is optional; a missing key takes the value shown here.\n\
         # New keys (not in the Python original) are commented out with their defaults.\n",
    );
    for section in sections() {
        out.push_str(&format!("\n[{section}]\n"));
        for k in KEYS.iter().filter(|k| k.section == section) {
            for line in k.doc.lines() {
                out.push_str(&format!("# {line}\n"));
            }
            let sep = if k.default.is_empty() { "" } else { " " };
            let comment = if k.original { "" } else { "# " };
            out.push_str(&format!("{comment}{} ={sep}{}\n", k.name, k.default));
        }
    }
    out
}

/// Keys and sections in `ini` that the service does not know (likely typos), as `[s] key`.
pub fn unknown_keys(ini: &Ini) -> Vec<String> {
    let known = sections();
    let mut out = Vec::new();
    for (sec, entries) in &ini.sections {
        if !known.contains(&sec.as_str()) {
            out.push(format!("[{sec}]"));
            continue;
        }
        for name in entries.keys() {
            if key_def(sec, name).is_none() {
                out.push(format!("[{sec}] {name}"));
            }
        }
    }
    out
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
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("/etc/test.conf")
    }

    /// Asserts that the file `text` is refused with a message containing all of `parts`.
    #[track_caller]
    fn assert_refused(text: &str, parts: &[&str]) {
        let e = Config::from_ini_text(text, p()).unwrap_err().to_string();
        for part in parts {
            assert!(e.contains(part), "{text:?}: {e}");
        }
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
        assert_eq!(
            parse_duration("2 years"),
            Some(Duration::from_secs(63_072_000))
        );
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("weeks"), None);
        assert_eq!(parse_duration("-1 s"), None);
        assert_eq!(parse_duration("1.5 h"), None);
        assert_eq!(parse_duration("99999999999999999999 w"), None);
    }

    #[test]
    fn crawl_timeout_auto_and_explicit() {
        let t = |text: &str| Config::from_ini_text(text, p()).map(|c| c.registry.crawl_timeout);
        let h = |n: u64| Duration::from_secs(n * 3600);
        assert_eq!(t(""), Ok(h(4)));
        assert_eq!(
            t("[registry]\nupdate_interval = 1 m\n"),
            Ok(Duration::from_secs(600))
        );
        assert_eq!(t("[registry]\nupdate_interval = 12 h\n"), Ok(h(24)));
        assert_eq!(
            t("[registry]\nupdate_interval = 3 h\ncrawl_timeout = AUTO\n"),
            Ok(h(12))
        );
        assert_eq!(
            t("[registry]\ncrawl_timeout = 90 m\n"),
            Ok(Duration::from_secs(5400))
        );
        for bad in ["0 s", "soon", ""] {
            assert_refused(
                &format!("[registry]\ncrawl_timeout = {bad}\n"),
                &["[registry] crawl_timeout"],
            );
        }
    }

    #[test]
    fn projects_auto_true_false() {
        use crate::registry::ProjectsMode;
        let t = |text: &str| Config::from_ini_text(text, p()).map(|c| c.registry.projects);
        assert_eq!(t(""), Ok(ProjectsMode::Auto));
        for (v, want) in [
            ("auto", ProjectsMode::Auto),
            ("AUTO", ProjectsMode::Auto),
            ("true", ProjectsMode::On),
            ("yes", ProjectsMode::On),
            ("false", ProjectsMode::Off),
            ("0", ProjectsMode::Off),
        ] {
            assert_eq!(t(&format!("[registry]\nprojects = {v}\n")), Ok(want), "{v}");
        }
        for bad in ["sometimes", "", "2"] {
            assert_refused(
                &format!("[registry]\nprojects = {bad}\n"),
                &["[registry] projects", "auto, true or false"],
            );
        }
    }

    #[test]
    fn cleanup_regex_size_limit_default_and_bounds() {
        let c = Config::from_ini_text("", p()).unwrap();
        assert_eq!(
            c.general.cleanup_regex_size_limit,
            crate::cleanup::DEFAULT_REGEX_SIZE_LIMIT
        );
        let c = Config::from_ini_text("[general]\ncleanup_regex_size_limit = 5000\n", p()).unwrap();
        assert_eq!(c.general.cleanup_regex_size_limit, 5000);
        for bad in ["0", "-1", "1 MiB"] {
            assert_refused(
                &format!("[general]\ncleanup_regex_size_limit = {bad}\n"),
                &["[general] cleanup_regex_size_limit", "positive"],
            );
        }
    }

    #[test]
    fn trusted_realms_are_urls() {
        let t = |text: &str| Config::from_ini_text(text, p()).map(|c| c.registry.trusted_realms);
        assert_eq!(t(""), Ok(vec![]));
        assert_eq!(
            t("[registry]\ntrusted_realms = https://a.example/jwt/auth, http://b:8080\n"),
            Ok(vec![
                "https://a.example/jwt/auth".to_string(),
                "http://b:8080".to_string()
            ])
        );
        assert_refused(
            "[registry]\ntrusted_realms = auth.example.com\n",
            &["[registry] trusted_realms"],
        );
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
        assert_refused(
            "[general]\nsocket_port = 70000\n",
            &["[general] socket_port = \"70000\""],
        );
        assert_refused("[registry]\nconcurrency = 0\n", &["[registry] concurrency"]);
        assert_refused("[ldap]\nstarttls = maybe\n", &["[ldap] starttls"]);
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
    fn cors_allowed_origins() {
        let g = Config::from_ini_text("", p()).unwrap().general;
        assert_eq!(g.cors_allowed_origins, None);
        let g = Config::from_ini_text(
            "[general]\ncors_allowed_origins = https://Dash.example/, http://127.0.0.1:8080\n",
            p(),
        )
        .unwrap()
        .general;
        assert_eq!(
            g.cors_allowed_origins,
            Some(vec![
                "https://dash.example".into(),
                "http://127.0.0.1:8080".into()
            ])
        );
        for bad in [
            "dash.example",
            "https://d.example/path",
            "",
            "https://*.example",
        ] {
            assert_refused(
                &format!("[general]\ncors_allowed_origins = {bad}\n"),
                &["cors_allowed_origins"],
            );
        }
    }

    #[test]
    fn metrics_enabled_needs_a_bearer_token() {
        assert_refused(
            "[metrics]\nenabled = true\n",
            &["[metrics]", "bearer_token"],
        );
        let m = Config::from_ini_text("[metrics]\nenabled = true\nbearer_token = t0k3n\n", p())
            .unwrap()
            .metrics;
        assert_eq!(
            (m.enabled, m.bearer_token.as_deref()),
            (true, Some("t0k3n"))
        );
        assert!(!Config::from_ini_text("", p()).unwrap().metrics.enabled);
    }

    #[test]
    fn not_before_and_failures_per_user() {
        let c = Config::from_ini_text("", p()).unwrap();
        assert_eq!((c.jwt.not_before, c.ldap.max_failures_per_user), (None, 30));
        assert_eq!(
            (c.ldap.recheck_interval, c.ldap.recheck_grace),
            (Duration::from_secs(900), Duration::from_secs(3600))
        );
        let c = Config::from_ini_text(
            "[jwt]\nnot_before = 2026-12-03T08:00:00Z\n[ldap]\nmax_failures_per_user = 0\n",
            p(),
        )
        .unwrap();
        assert_eq!(c.jwt.not_before, Some(1_796_284_800));
        assert_eq!(c.ldap.max_failures_per_user, 0);
        for bad in [
            "not_before = yesterday",
            "not_before = 1969-01-01T00:00:00Z",
        ] {
            assert_refused(&format!("[jwt]\n{bad}\n"), &["not_before"]);
        }
    }

    #[test]
    fn registry_limits() {
        let r = Config::from_ini_text("", p()).unwrap().registry;
        assert_eq!((r.max_manifest_size, r.max_name_depth), (4 << 20, 32));
        let r = Config::from_ini_text(
            "[registry]\nmax_manifest_size = 512K\nmax_name_depth = 8\n",
            p(),
        )
        .unwrap()
        .registry;
        assert_eq!((r.max_manifest_size, r.max_name_depth), (512 << 10, 8));
        for bad in ["max_manifest_size = 0", "max_name_depth = 0"] {
            assert_refused(
                &format!("[registry]\n{bad}\n"),
                &[bad.split(' ').next().unwrap()],
            );
        }
    }

    #[test]
    fn connection_limits() {
        let l = Config::from_ini_text("", p()).unwrap().general.limits;
        assert_eq!(
            (l.max_request_head, l.max_headers, l.max_connections),
            (16384, 100, 10_000)
        );
        assert_eq!(
            (l.header_timeout, l.keepalive_timeout, l.write_timeout),
            (
                Duration::from_secs(10),
                Duration::from_secs(60),
                Duration::from_secs(30)
            )
        );
        let l = Config::from_ini_text(
            "[general]\nmax_request_head = 4096\nmax_headers = 20\nheader_timeout = 2 s\nkeepalive_timeout = 5s\nwrite_timeout = 1 minute\nmax_connections = 50\n",
            p(),
        )
        .unwrap()
        .general
        .limits;
        assert_eq!(
            (l.max_request_head, l.max_headers, l.max_connections),
            (4096, 20, 50)
        );
        assert_eq!(l.write_timeout, Duration::from_secs(60));
        assert_eq!(l.max_connections_per_client, 256);
        let g = Config::from_ini_text("[general]\nworkers = 8\n", p())
            .unwrap()
            .general;
        assert_eq!(g.max_streams, 2, "auto: a quarter of the workers");
        let g = Config::from_ini_text("[general]\nmax_streams = 3\n", p())
            .unwrap()
            .general;
        assert_eq!(g.max_streams, 3);
        for bad in [
            "max_connections = 0",
            "max_connections_per_client = 0",
            "header_timeout = 0 s",
            "max_headers = lots",
        ] {
            assert_refused(
                &format!("[general]\n{bad}\n"),
                &[bad.split(' ').next().unwrap()],
            );
        }
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
    fn byte_sizes() {
        assert_eq!(parse_bytes("64 MiB"), Some(64 << 20));
        assert_eq!(parse_bytes("512K"), Some(512 << 10));
        assert_eq!(parse_bytes("1 GB"), Some(1_000_000_000));
        assert_eq!(parse_bytes("0"), Some(0));
        assert_eq!(parse_bytes("1048576 b"), Some(1 << 20));
        for bad in [
            "",
            "MiB",
            "1.5 MiB",
            "-1",
            "1 TiB",
            "99999999999999999999 G",
        ] {
            assert_eq!(parse_bytes(bad), None, "{bad}");
        }
        let c = Config::from_ini_text("", p()).unwrap();
        assert_eq!(c.general.cache_budget, 64 << 20);
        assert_refused(
            "[general]\ncache_budget = lots\n",
            &["[general] cache_budget"],
        );
    }

    #[test]
    fn the_key_table_is_consistent_and_every_checked_key_is_read() {
        for k in KEYS {
            assert!(
                k.kind.accepts(k.default),
                "[{}] {}: default {:?} is not {}",
                k.section,
                k.name,
                k.default,
                k.kind.expected()
            );
            assert_eq!(
                KEYS.iter()
                    .filter(|o| o.section == k.section && o.name == k.name)
                    .count(),
                1
            );
            // A value no kind but Text/Raw/Path/LooseBool accepts: the parser must reject it
            // naming this key, which proves the key is read and checked.
            if !k.kind.accepts("\u{1}bad") {
                let text = format!("[{}]\n{} = \u{1}bad\n", k.section, k.name);
                let e = Config::from_ini_text(&text, p()).unwrap_err().to_string();
                assert!(e.contains(&format!("[{}] {}", k.section, k.name)), "{e}");
            }
        }
        assert!(default_config_text().contains(&format!("At least {MIN_SECRET_LEN} bytes")));
    }

    #[test]
    fn trusted_proxies_take_addresses_and_cidr_ranges() {
        let c = Config::from_ini_text(
            "[general]\ntrusted_proxies = 127.0.0.1, 10.0.0.0/8 ::1\n  2001:db8::/32\n",
            p(),
        )
        .unwrap();
        let shown: Vec<String> = c
            .general
            .trusted_proxies
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(shown, ["127.0.0.1", "10.0.0.0/8", "::1", "2001:db8::/32"]);
        for bad in ["10.0.0.1/8", "10.0.0.0/33", "proxy.example"] {
            assert_refused(
                &format!("[general]\ntrusted_proxies = {bad}\n"),
                &["[general] trusted_proxies", "CIDR"],
            );
        }
    }

    #[test]
    fn history_keep() {
        let k = |text: &str| Config::from_ini_text(text, p()).map(|c| c.history.keep);
        assert_eq!(k(""), Ok(Duration::from_secs(2 * 365 * 86_400)));
        assert_eq!(k("[history]\nkeep = 0\n"), Ok(Duration::ZERO));
        assert_eq!(
            k("[history]\nkeep = 30 days\n"),
            Ok(Duration::from_secs(30 * 86_400))
        );
        let e = k("[history]\nkeep = forever\n").unwrap_err().to_string();
        assert!(e.contains("[history] keep") && e.contains("a unit"), "{e}");
    }

    #[test]
    fn metrics_keys() {
        let c = Config::from_ini_text("", p()).unwrap();
        assert_eq!(
            c.metrics,
            MetricsConfig {
                enabled: false,
                bearer_token: None
            }
        );
        let c = Config::from_ini_text(
            "[metrics]\nenabled = yes\nbearer_token =  s3cret-token \n",
            p(),
        )
        .unwrap();
        assert!(c.metrics.enabled);
        assert_eq!(c.metrics.bearer_token.as_deref(), Some("s3cret-token"));
        assert_refused("[metrics]\nenabled = sometimes\n", &["[metrics] enabled"]);
        let text = default_config_text();
        assert!(text.contains("[metrics]\n") && text.contains("# enabled = False\n"));
        assert!(text.contains("# bearer_token =\n"));
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
