//! The key table: every setting of the file with its section, default, form ([`Kind`]) and
//! documentation, in the order `--print-default-config` prints them; the default text and
//! the unknown-key check are made from it.
//!
//! It only describes keys and checks single values (with the parsers of the parent module);
//! reading a file into a [`super::Config`] is the parent's.

use std::time::Duration;

use super::{
    auto_or_duration, auto_or_positive, http_url, normalise_prefix, parse_addresses,
    parse_bool_strict, parse_bytes, parse_duration, parse_origins, parse_time, parse_urls,
    positive, projects_mode, Ini, PLACEHOLDER_SECRET,
};

pub(super) const DURATION_FORM: &str =
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
