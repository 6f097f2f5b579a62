//! The production [`Authenticator`]: LDAP search-then-bind on the `ldap3` crate's synchronous
//! API, as the original did, hardened (escaping, TLS verification, timeouts, equal timing).
//!
//! It owns the LDAP conversation only: settings checked once at start-up ([`LdapAuthenticator::new`]),
//! then one connection per login attempt, unbound and closed on every path. Rate limiting, the
//! concurrent-login gate, HTTP status codes and the log line for a failed login are elsewhere
//! (`auth` and `server`). It never logs a password, and never tells the caller *why* credentials
//! were refused: an unknown user, a user outside the group and a wrong password are all
//! [`LoginError::Rejected`], and the first two spend a deliberate dummy bind so that all three
//! cost the same round trips.
//!
//! Decisions worth knowing:
//! - TLS (`ldaps://` or `ldap://` with `ldap.starttls`) always verifies the certificate chain and
//!   the host name (an IP address in `ldap.host` must be in the certificate's IP SANs). With
//!   `ldap.ca_file` the CAs in that PEM file *replace* the system roots, as OpenLDAP's own
//!   `TLS_CACERT` does: a directory behind a private CA should be trusted through that CA only,
//!   not through every public CA. Without it the system roots are loaded once at start-up.
//! - `ldap.timeout` bounds setting up the connection (TCP connect, TLS handshake, StartTLS)
//!   as a whole and, separately, each LDAP operation (service bind, search, user bind, unbind).
//!   A directory that hangs costs one `timeout`; one that answers each step just before the
//!   limit can cost a few. DNS resolution of a host name is left to the system resolver and its
//!   own timeouts.
//! - The TCP socket is opened here (not by `ldap3`) so that TCP_NODELAY is set: without it a
//!   TLS login waits ~40 ms for a delayed ACK.
//! - Any LDAP result other than success, "invalid credentials" (49) or "inappropriate
//!   authentication" (48) on the user bind means the credentials were not judged:
//!   [`LoginError::Unavailable`] with a reason fit for a log line.

use std::fmt;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ldap3::{
    LdapConn, LdapConnSettings, LdapError, ResultEntry, Scope, SearchEntry, SearchOptions,
    StdStream,
};
use log::{debug, warn};
use rustls::ClientConfig;

use super::{Authenticator, LoginError};
use crate::config;

mod settings;

pub use settings::LdapSetupError;
use settings::{
    check_attribute, check_url, group_filter, service_account, tls_config, uses_tls, Target,
};

/// LDAP result codes this module acts on (RFC 4511, appendix A).
const RC_SUCCESS: u32 = 0;
const RC_SIZE_LIMIT_EXCEEDED: u32 = 4;
const RC_REFERRAL: u32 = 10;
const RC_NO_SUCH_OBJECT: u32 = 32;
const RC_INAPPROPRIATE_AUTHENTICATION: u32 = 48;
const RC_INVALID_CREDENTIALS: u32 = 49;

pub struct LdapAuthenticator {
    url: String,
    target: Target,
    starttls: bool,
    /// `Some` exactly when the connection uses TLS (ldaps:// or StartTLS).
    tls: Option<Arc<ClientConfig>>,
    base_dn: String,
    username_attribute: String,
    /// `(<gid_attribute>=<escaped valid_gid>)`, or `None` when the group check is off.
    group_filter: Option<String>,
    /// (bind_dn, bind_password) for directories that forbid anonymous search.
    service: Option<(String, String)>,
    timeout: Duration,
    /// A DN under `base_dn` that cannot exist (random per process), bound to with the offered
    /// password when the search finds no single entry, so that "no such user" costs the same
    /// round trips as "wrong password".
    dummy_dn: String,
}

/// Hand-written so that the service password can never reach a log through `{:?}`.
impl fmt::Debug for LdapAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LdapAuthenticator")
            .field("url", &self.url)
            .field("starttls", &self.starttls)
            .field("tls", &self.tls.is_some())
            .field("base_dn", &self.base_dn)
            .field("username_attribute", &self.username_attribute)
            .field("group_filter", &self.group_filter)
            .field("bind_dn", &self.service.as_ref().map(|(dn, _)| dn))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl LdapAuthenticator {
    /// Checks the `[ldap]` settings and prepares TLS; every error names the key to fix.
    /// Does no network traffic: the directory may legitimately be down at start-up.
    pub fn new(cfg: &config::Ldap) -> Result<LdapAuthenticator, LdapSetupError> {
        let url = cfg.url();
        let target = check_url(&url)?;
        let uses_tls = uses_tls(cfg, &url, target.scheme)?;
        check_attribute("username_attribute", &cfg.username_attribute, false)?;
        check_attribute("gid_attribute", &cfg.gid_attribute, true)?;
        let group_filter = group_filter(cfg)?;
        let service = service_account(cfg)?;

        let tls = if uses_tls {
            Some(tls_config(cfg.ca_file.as_deref())?)
        } else {
            if cfg.ca_file.is_some() {
                warn!("[ldap] ca_file is ignored: host {url} uses neither ldaps:// nor starttls");
            }
            None
        };

        let dummy_rdn = format!(
            "cn=gitlab-registry-usage-rest no such user {}",
            random_hex()
        );
        let dummy_dn = if cfg.base_dn.is_empty() {
            dummy_rdn
        } else {
            format!("{dummy_rdn},{}", cfg.base_dn)
        };
        debug!(
            "LDAP: {url}{} searching {:?} as {}",
            if cfg.starttls { " with StartTLS" } else { "" },
            cfg.base_dn,
            if service.is_some() {
                cfg.bind_dn.as_str()
            } else {
                "anonymous"
            }
        );
        Ok(LdapAuthenticator {
            url,
            target,
            starttls: cfg.starttls,
            tls,
            base_dn: cfg.base_dn.clone(),
            username_attribute: cfg.username_attribute.clone(),
            group_filter,
            service,
            timeout: cfg.timeout,
            dummy_dn,
        })
    }

    /// The search filter for `user`; the user name is escaped (RFC 4515), the attribute
    /// names were checked at start-up.
    fn filter(&self, user: &str) -> String {
        let user_part = format!("({}={})", self.username_attribute, ldap3::ldap_escape(user));
        match &self.group_filter {
            Some(group) => format!("(&{user_part}{group})"),
            None => user_part,
        }
    }

    fn connect(&self) -> Result<LdapConn, LoginError> {
        self.open().map_err(|p| LoginError::Unavailable(p.why))
    }

    /// The connection (TCP, then TLS or StartTLS); a failure names the key most likely to fix
    /// it (see [`Self::connect_key`]).
    fn open(&self) -> Result<LdapConn, DirectoryProblem> {
        let started = Instant::now();
        debug!(
            "LDAP: connecting to {}{}",
            self.url,
            if self.starttls { " (StartTLS)" } else { "" }
        );
        let socket = self.open_socket().map_err(|e| DirectoryProblem {
            key: "host",
            why: reason(e),
        })?;
        // ldap3 bounds TLS and StartTLS with the time that connecting left over, so that the
        // whole connection set-up stays within one `timeout`.
        let left = self.timeout.saturating_sub(started.elapsed());
        let mut settings = LdapConnSettings::new()
            .set_std_stream(StdStream::Tcp(socket))
            .set_conn_timeout(left.max(Duration::from_millis(1)))
            .set_starttls(self.starttls);
        if let Some(tls) = &self.tls {
            settings = settings.set_config(Arc::clone(tls));
        }
        LdapConn::with_settings(settings, &self.url).map_err(|e| DirectoryProblem {
            key: self.connect_key(&e),
            why: reason(self.unavailable(Step::Connect, e)),
        })
    }

    /// The TCP connection, opened here rather than by ldap3 to set TCP_NODELAY: without it,
    /// Nagle's algorithm meets the server's delayed ACK after the TLS handshake and every
    /// TLS login waits an extra 40 ms. Each resolved address is tried within one `timeout`.
    fn open_socket(&self) -> Result<TcpStream, LoginError> {
        let Target { host, port, .. } = &self.target;
        let deadline = Instant::now() + self.timeout;
        // Name resolution is the system resolver's, bounded by its own timeouts.
        let addrs = (host.as_str(), *port).to_socket_addrs().map_err(|e| {
            LoginError::Unavailable(format!("{}: cannot resolve {host}: {e}", self.url))
        })?;
        let mut last_error = None;
        for addr in addrs {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match TcpStream::connect_timeout(&addr, left) {
                Ok(socket) => {
                    if let Err(e) = socket.set_nodelay(true) {
                        debug!("LDAP: cannot set TCP_NODELAY: {e}");
                    }
                    return Ok(socket);
                }
                Err(e) => {
                    debug!("LDAP: connecting to {addr} failed: {e}");
                    last_error = Some(e);
                }
            }
        }
        Err(LoginError::Unavailable(match last_error {
            Some(e) if e.kind() == std::io::ErrorKind::TimedOut => format!(
                "{} did not answer within {:?} while connecting (TCP)",
                self.url, self.timeout
            ),
            Some(e) => format!("{}: connecting (TCP) failed: {e}", self.url),
            None if Instant::now() >= deadline => format!(
                "{} did not answer within {:?} while connecting (TCP)",
                self.url, self.timeout
            ),
            None => format!("{}: {host} resolves to no address", self.url),
        }))
    }

    /// Binds as the service account (if any) and searches for `user` in the group: the
    /// entries found (at most two) and how many matched.
    fn search_user(
        &self,
        conn: &mut LdapConn,
        user: &str,
    ) -> Result<(Vec<ResultEntry>, usize, String), LoginError> {
        if let Some((dn, pw)) = &self.service {
            debug!("LDAP: binding as the service account {dn:?}");
            let res = conn
                .with_timeout(self.timeout)
                .simple_bind(dn, pw)
                .map_err(|e| self.unavailable(Step::ServiceBind, e))?;
            if res.rc != RC_SUCCESS {
                return Err(LoginError::Unavailable(format!(
                    "{} refused the service account [ldap] bind_dn {dn:?}: {res}; check bind_dn and bind_password",
                    self.url
                )));
            }
        }

        let filter = self.filter(user);
        debug!("LDAP: searching {:?} for {filter}", self.base_dn);
        let ldap3::SearchResult(entries, res) = conn
            .with_timeout(self.timeout)
            // Two entries are enough to know the match is ambiguous.
            .with_search_options(SearchOptions::new().sizelimit(2))
            .search(
                &self.base_dn,
                Scope::Subtree,
                &filter,
                vec![self.username_attribute.as_str()],
            )
            .map_err(|e| self.unavailable(Step::Search, e))?;
        let entries: Vec<ResultEntry> = entries
            .into_iter()
            .filter(|e| !e.is_ref() && !e.is_intermediate())
            .collect();
        match res.rc {
            RC_SUCCESS | RC_SIZE_LIMIT_EXCEEDED => {}
            RC_NO_SUCH_OBJECT => {
                return Err(LoginError::Unavailable(format!(
                    "{} says [ldap] base_dn {:?} does not exist, or hides it from {}: {res}{}",
                    self.url,
                    self.base_dn,
                    self.searcher(),
                    self.search_hint()
                )))
            }
            RC_REFERRAL => {
                return Err(LoginError::Unavailable(format!(
                    "{} answered the search with a referral to {:?}; point [ldap] host at the server holding base_dn",
                    self.url, res.refs
                )))
            }
            _ => {
                return Err(LoginError::Unavailable(format!(
                    "{} refused the search under {:?} as {}: {res}{}",
                    self.url,
                    self.base_dn,
                    self.searcher(),
                    self.search_hint()
                )))
            }
        }

        // A size-limit result means more entries matched than were sent, whatever the count.
        let count = if res.rc == RC_SIZE_LIMIT_EXCEEDED {
            entries.len().max(2)
        } else {
            entries.len()
        };
        Ok((entries, count, filter))
    }

    /// The whole conversation on one open connection; the caller unbinds and closes it.
    fn converse(
        &self,
        conn: &mut LdapConn,
        user: &str,
        password: &str,
    ) -> Result<String, LoginError> {
        let (entries, count, filter) = self.search_user(conn, user)?;
        let entry = match count {
            1 => entries.into_iter().next().map(construct_entry),
            n => {
                if n > 1 {
                    warn!(
                        "LDAP: more than one entry under {:?} matches {filter}; refusing the login (check [ldap] username_attribute and base_dn)",
                        self.base_dn
                    );
                } else {
                    debug!("LDAP: no entry matches {filter}");
                }
                self.equalise_timing(conn, password);
                return Err(LoginError::Rejected);
            }
        };
        let entry = match entry {
            Some(Ok(entry)) => entry,
            _ => {
                return Err(LoginError::Unavailable(format!(
                    "{} sent a malformed search entry for {filter}",
                    self.url
                )))
            }
        };

        debug!("LDAP: found {:?}, binding as it", entry.dn);
        let res = conn
            .with_timeout(self.timeout)
            .simple_bind(&entry.dn, password)
            .map_err(|e| self.unavailable(Step::UserBind, e))?;
        match res.rc {
            RC_SUCCESS => {}
            RC_INVALID_CREDENTIALS | RC_INAPPROPRIATE_AUTHENTICATION => {
                debug!("LDAP: bind as {:?} refused: {res}", entry.dn);
                return Err(LoginError::Rejected);
            }
            _ => {
                return Err(LoginError::Unavailable(format!(
                    "{} could not check the password of {:?}: {res}",
                    self.url, entry.dn
                )))
            }
        }

        match canonical_name(&entry, &self.username_attribute, user) {
            Some(name) => {
                debug!("LDAP: {user:?} logged in as {name:?} ({:?})", entry.dn);
                Ok(name)
            }
            None => Err(LoginError::Unavailable(format!(
                "{}: entry {:?} has no [ldap] username_attribute {:?} value readable by {}{}",
                self.url,
                entry.dn,
                self.username_attribute,
                self.searcher(),
                self.search_hint()
            ))),
        }
    }

    /// When no single entry matched, bind to a DN that cannot exist with the offered password:
    /// the server does the same lookup-and-refuse work as for a wrong password, so neither the
    /// answer nor (roughly) its timing tells an attacker which user names exist. The outcome is
    /// irrelevant: the credentials are refused either way.
    fn equalise_timing(&self, conn: &mut LdapConn, password: &str) {
        let outcome = conn
            .with_timeout(self.timeout)
            .simple_bind(&self.dummy_dn, password);
        match outcome {
            Ok(res) => debug!("LDAP: timing-equaliser bind: {res}"),
            Err(e) => debug!("LDAP: timing-equaliser bind failed: {e}"),
        }
    }

    /// Who searched, for messages: `anonymous` or the bind DN.
    fn searcher(&self) -> String {
        match &self.service {
            Some((dn, _)) => format!("bind_dn {dn:?}"),
            None => "anonymous".into(),
        }
    }

    /// A hint for directories that hide entries from anonymous search.
    fn search_hint(&self) -> &'static str {
        if self.service.is_some() {
            ""
        } else {
            "; if the directory forbids anonymous search, set [ldap] bind_dn and bind_password"
        }
    }

    /// Turns a transport-level failure into a reason an operator can act on.
    fn unavailable(&self, step: Step, e: LdapError) -> LoginError {
        let url = &self.url;
        let why = match &e {
            LdapError::Timeout { .. } => format!(
                "{url} did not answer within {:?} while {step}",
                self.timeout
            ),
            LdapError::Io { source } => match tls_error(source) {
                Some(tls) => describe_tls_error(url, tls),
                None => format!("{url}: {step} failed: {source}"),
            },
            LdapError::Rustls { source } => describe_tls_error(url, source),
            LdapError::LdapResult { result } if step == Step::Connect && self.starttls => format!(
                "{url} refused StartTLS: {result}; if the server does not offer it, use ldaps:// instead"
            ),
            _ => format!("{url}: {step} failed: {e}"),
        };
        LoginError::Unavailable(why)
    }
}

/// What a directory check found wrong: the `[ldap]` key most likely to fix it, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DirectoryProblem {
    pub(crate) key: &'static str,
    pub(crate) why: String,
}

impl LdapAuthenticator {
    /// Reaches the directory as a login would, without a user: TCP, TLS (or StartTLS) with the
    /// configured trust, the service-account bind when `bind_dn` is set, and a base-scope
    /// search of `base_dn`. On success, a description of what was verified. For
    /// `--check-config`; each step is bounded by `timeout`.
    pub(crate) fn check_directory(&self) -> Result<String, DirectoryProblem> {
        let mut conn = self.open()?;
        let outcome = self.check_on(&mut conn);
        if let Err(e) = conn.with_timeout(self.timeout).unbind() {
            debug!("LDAP: unbind failed: {e}");
        }
        outcome
    }

    fn check_on(&self, conn: &mut LdapConn) -> Result<String, DirectoryProblem> {
        let mut done = vec![format!("{} answers", self.url)];
        if self.tls.is_some() {
            done.push(if self.starttls {
                "StartTLS certificate verified".to_string()
            } else {
                "TLS certificate verified".to_string()
            });
        }
        let as_who = match &self.service {
            Some((dn, pw)) => {
                let problem = |why: String| DirectoryProblem {
                    key: "bind_dn",
                    why,
                };
                let res = conn
                    .with_timeout(self.timeout)
                    .simple_bind(dn, pw)
                    .map_err(|e| problem(reason(self.unavailable(Step::ServiceBind, e))))?;
                if res.rc != RC_SUCCESS {
                    return Err(problem(format!(
                        "{} refused the service account {dn:?}: {res}; check bind_dn and bind_password",
                        self.url
                    )));
                }
                done.push(format!("bound as bind_dn {dn}"));
                format!("bind_dn {dn:?}")
            }
            None => "anonymous".to_string(),
        };
        let res = conn
            .with_timeout(self.timeout)
            .search(&self.base_dn, Scope::Base, "(objectClass=*)", vec!["1.1"])
            .map_err(|e| DirectoryProblem {
                key: "base_dn",
                why: reason(self.unavailable(Step::Search, e)),
            })?;
        match res.1.rc {
            RC_SUCCESS => done.push(format!("base_dn {} found", self.base_dn)),
            RC_NO_SUCH_OBJECT => {
                return Err(DirectoryProblem {
                    key: "base_dn",
                    why: format!(
                        "{} has no entry {:?} visible to {as_who}{}",
                        self.url,
                        self.base_dn,
                        self.search_hint()
                    ),
                })
            }
            _ => {
                return Err(DirectoryProblem {
                    key: "base_dn",
                    why: format!(
                        "{} refused to read {:?} as {as_who}: {}{}",
                        self.url,
                        self.base_dn,
                        res.1,
                        self.search_hint()
                    ),
                })
            }
        }
        Ok(done.join("; "))
    }

    /// The key to change when setting up the connection failed: `ca_file` for an untrusted
    /// certificate, `starttls` when StartTLS was refused, else `host` (wrong port, a name the
    /// certificate does not carry, a server that does not speak TLS).
    fn connect_key(&self, e: &LdapError) -> &'static str {
        let tls = match e {
            LdapError::Io { source } => tls_error(source),
            LdapError::Rustls { source } => Some(source),
            LdapError::LdapResult { .. } if self.starttls => return "starttls",
            _ => None,
        };
        use rustls::CertificateError as C;
        match tls {
            Some(rustls::Error::InvalidCertificate(
                C::NotValidForName | C::NotValidForNameContext { .. },
            )) => "host",
            Some(rustls::Error::InvalidCertificate(_)) => "ca_file",
            _ => "host",
        }
    }
}

impl Authenticator for LdapAuthenticator {
    fn still_member(&self, user: &str) -> Result<bool, LoginError> {
        let mut conn = self.connect()?;
        let found = self.search_user(&mut conn, user);
        if let Err(e) = conn.with_timeout(self.timeout).unbind() {
            debug!("LDAP: unbind failed: {e}");
        }
        let (_, count, filter) = found?;
        debug!("LDAP: re-check of {user:?}: {count} entries match {filter}");
        Ok(count == 1)
    }

    fn authenticate(&self, user: &str, password: &str) -> Result<String, LoginError> {
        // The HTTP layer refuses these already; refusing again keeps this type safe on its own
        // (an empty-password simple bind is an anonymous bind that servers call a success).
        if user.is_empty() || password.is_empty() {
            debug!("LDAP: empty user name or password for {user:?}, refused without asking");
            return Err(LoginError::Rejected);
        }
        let started = Instant::now();
        let mut conn = self.connect()?;
        let outcome = self.converse(&mut conn, user, password);
        // Tell the server we are done on every path; dropping `conn` then closes the socket
        // and the connection's runtime even if the unbind could not be sent.
        if let Err(e) = conn.with_timeout(self.timeout).unbind() {
            debug!("LDAP: unbind failed: {e}");
        }
        drop(conn);
        debug!(
            "LDAP: login attempt for {user:?} finished in {:?}: {}",
            started.elapsed(),
            match &outcome {
                Ok(_) => "accepted".to_string(),
                Err(e) => e.to_string(),
            }
        );
        outcome
    }
}

/// The operator's text of a login error.
fn reason(e: LoginError) -> String {
    match e {
        LoginError::Unavailable(why) => why,
        LoginError::Rejected => "refused".into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Connect,
    ServiceBind,
    Search,
    UserBind,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Connect => "setting up the connection (TLS, StartTLS)",
            Step::ServiceBind => "binding as [ldap] bind_dn",
            Step::Search => "searching",
            Step::UserBind => "binding as the user",
        })
    }
}

/// The rustls error inside an I/O error, which is how tokio-rustls reports handshake failures.
fn tls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref()?.downcast_ref::<rustls::Error>()
}

fn describe_tls_error(url: &str, e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => {
            format!(
                "TLS with {url} failed: the server's certificate is not valid for this host name ({e}); \
                 set [ldap] host to a name the certificate carries"
            )
        }
        rustls::Error::InvalidCertificate(_) => format!(
            "TLS with {url} failed: the server's certificate is not trusted ({e}); \
             if the directory uses a private CA, set [ldap] ca_file to that CA's PEM file"
        ),
        _ => format!("TLS with {url} failed: {e}"),
    }
}

/// `SearchEntry::construct` panics on an entry it cannot parse; a broken server must not take
/// a worker thread with it.
fn construct_entry(entry: ResultEntry) -> Result<SearchEntry, ()> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        SearchEntry::construct(entry)
    }))
    .map_err(|_| ())
}

/// The user name as the directory stores it: among the entry's `attribute` values, the one
/// equal to the login name (ignoring case and surplus spaces, as LDAP's caseIgnoreMatch
/// does), else the first. `None` when the attribute is absent or unreadable.
fn canonical_name(entry: &SearchEntry, attribute: &str, login: &str) -> Option<String> {
    let values = entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attribute))
        .map(|(_, v)| v)?;
    let wanted = normalise(login);
    values
        .iter()
        .find(|v| normalise(v) == wanted)
        .or_else(|| values.first())
        .cloned()
}

fn normalise(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// 16 random bytes as hex, for the dummy DN; falls back to the clock, which is good enough
/// for a name that only has to be absent from the directory.
fn random_hex() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        bytes = nanos.to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(host: &str) -> config::Ldap {
        config::Ldap {
            host: host.into(),
            base_dn: "dc=example,dc=com".into(),
            valid_gid: "10000".into(),
            username_attribute: "uid".into(),
            gid_attribute: "gidNumber".into(),
            bind_dn: String::new(),
            bind_password: String::new(),
            ca_file: None,
            starttls: false,
            allow_insecure: true,
            timeout: Duration::from_secs(1),
            max_concurrent: 1,
            max_failures_per_minute: 10,
            max_tracked_clients: 100,
            max_failures_per_user: 30,
            recheck_interval: std::time::Duration::from_secs(900),
            recheck_grace: std::time::Duration::from_secs(3600),
        }
    }

    #[test]
    fn filter_escapes_user_and_group() {
        let mut c = cfg("ldap://x");
        c.valid_gid = "1*".into();
        let a = LdapAuthenticator::new(&c).unwrap();
        assert_eq!(
            a.filter("alice)(uid=*"),
            r"(&(uid=alice\29\28uid=\2a)(gidNumber=1\2a))"
        );
        c.gid_attribute.clear();
        let a = LdapAuthenticator::new(&c).unwrap();
        assert_eq!(a.filter(r"a\b"), r"(uid=a\5cb)");
    }

    #[test]
    fn debug_hides_the_service_password() {
        let mut c = cfg("ldap://x");
        c.bind_dn = "cn=svc".into();
        c.bind_password = "hunter2".into();
        let a = LdapAuthenticator::new(&c).unwrap();
        assert!(!format!("{a:?}").contains("hunter2"));
    }

    #[test]
    fn canonical_name_prefers_the_matching_value() {
        let entry = |vals: &[&str]| SearchEntry {
            dn: "uid=x".into(),
            attrs: HashMap::from([(
                "UID".to_string(),
                vals.iter().map(|v| v.to_string()).collect(),
            )]),
            bin_attrs: HashMap::new(),
        };
        let e = entry(&["e.mueller", "Erin"]);
        assert_eq!(canonical_name(&e, "uid", "ERIN").as_deref(), Some("Erin"));
        assert_eq!(canonical_name(&e, "uid", "x").as_deref(), Some("e.mueller"));
        assert_eq!(canonical_name(&e, "uid", " erin ").as_deref(), Some("Erin"));
        assert_eq!(canonical_name(&e, "cn", "erin"), None);
        assert_eq!(canonical_name(&entry(&[]), "uid", "erin"), None);
    }
}
