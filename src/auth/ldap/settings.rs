//! What the `[ldap]` settings mean before any connection is made: the URL's grammar, whether
//! TLS is used, the group filter, the service account, attribute names and the TLS client
//! configuration (the CA file *replaces* the system roots). Checked once at start-up; every
//! error names the key to fix. It must not touch the network: the directory may be down when
//! the service starts.

use std::fmt;
use std::sync::Arc;

use log::{debug, warn};
use rustls::{ClientConfig, RootCertStore};

use crate::config;
use crate::tls::{load_roots, CaMode};

/// Why the LDAP settings cannot be used at all (checked at start-up).
#[derive(Debug)]
pub struct LdapSetupError(pub String);

impl fmt::Display for LdapSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LdapSetupError {}

/// Where `ldap.host` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    pub(super) scheme: Scheme,
    /// Without the brackets of an IPv6 literal.
    pub(super) host: String,
    pub(super) port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scheme {
    Ldap,
    Ldaps,
}

pub(super) fn setup(msg: String) -> LdapSetupError {
    LdapSetupError(msg)
}

/// Checks what `ldap3` would otherwise trip over at login time (it panics on a URL without a
/// host): the scheme, a non-empty host, a numeric port.
pub(super) fn check_url(url: &str) -> Result<Target, LdapSetupError> {
    let bad = |why: &str| {
        setup(format!(
            "[ldap] host {url:?} {why}; expected a host name (meaning ldaps://host), ldaps://host[:port] or ldap://host[:port]"
        ))
    };
    let (scheme, rest) = match url.split_once("://") {
        Some(("ldap", rest)) => (Scheme::Ldap, rest),
        Some(("ldaps", rest)) => (Scheme::Ldaps, rest),
        _ => return Err(bad("has an unsupported scheme")),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(bad("must not contain user information"));
    }
    // An IPv6 literal is bracketed; the port follows the last ':' outside the brackets.
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, after)) => (h, after.strip_prefix(':')),
            None => return Err(bad("has an unclosed '['")),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    let port = match port {
        None | Some("") => match scheme {
            Scheme::Ldap => 389,
            Scheme::Ldaps => 636,
        },
        Some(p) => match p.parse::<u16>() {
            Ok(p) if p != 0 => p,
            _ => return Err(bad("has an invalid port")),
        },
    };
    Ok(Target {
        scheme,
        host: host.to_string(),
        port,
    })
}

/// Whether the connection to `url` is encrypted (ldaps:// or StartTLS); a clear-text one
/// only with `allow_insecure`, and with a warning.
pub(super) fn uses_tls(
    cfg: &config::Ldap,
    url: &str,
    scheme: Scheme,
) -> Result<bool, LdapSetupError> {
    match (scheme, cfg.starttls) {
        (Scheme::Ldaps, true) => Err(setup(format!(
            "[ldap] starttls = true needs an ldap:// host, but host {} means {url}, which is TLS already; \
             set host = ldap://... for StartTLS or remove starttls",
            cfg.host
        ))),
        (Scheme::Ldaps, false) | (Scheme::Ldap, true) => Ok(true),
        (Scheme::Ldap, false) if cfg.allow_insecure => {
            warn!(
                "[ldap] host {url} is unencrypted and starttls is off (allow_insecure = true): \
                 passwords cross the network in clear text"
            );
            Ok(false)
        }
        (Scheme::Ldap, false) => Err(setup(format!(
            "[ldap] host {url} is unencrypted: set starttls = true if the server offers StartTLS, \
             use ldaps://, or accept clear-text passwords explicitly with allow_insecure = true"
        ))),
    }
}

/// The group part of the search filter; `None` when `gid_attribute` is empty.
pub(super) fn group_filter(cfg: &config::Ldap) -> Result<Option<String>, LdapSetupError> {
    if cfg.gid_attribute.is_empty() {
        Ok(None)
    } else if cfg.valid_gid.is_empty() {
        Err(setup(format!(
            "[ldap] valid_gid is empty, so no one could log in: set it to the group's {} value, \
             or set gid_attribute = (empty) to drop the group check",
            cfg.gid_attribute
        )))
    } else {
        Ok(Some(format!(
            "({}={})",
            cfg.gid_attribute,
            ldap3::ldap_escape(cfg.valid_gid.as_str())
        )))
    }
}

/// The DN and password searches bind with; `None`: anonymous search.
pub(super) fn service_account(
    cfg: &config::Ldap,
) -> Result<Option<(String, String)>, LdapSetupError> {
    match (cfg.bind_dn.is_empty(), cfg.bind_password.is_empty()) {
        (true, true) => Ok(None),
        (false, false) => Ok(Some((cfg.bind_dn.clone(), cfg.bind_password.clone()))),
        // A simple bind with an empty password is an anonymous bind that many servers
        // report as success, which would hide the mistake until searches come back empty.
        (false, true) => Err(setup(
            "[ldap] bind_dn is set but bind_password is empty: set both, or neither for anonymous search"
                .into(),
        )),
        (true, false) => Err(setup(
            "[ldap] bind_password is set but bind_dn is empty: set both, or neither for anonymous search"
                .into(),
        )),
    }
}

/// Attribute names go into the filter unescaped, so they must be attribute descriptions
/// (a name or numeric OID, optionally with `;options`), never filter syntax.
pub(super) fn check_attribute(
    key: &str,
    value: &str,
    may_be_empty: bool,
) -> Result<(), LdapSetupError> {
    if value.is_empty() && may_be_empty {
        return Ok(());
    }
    let mut parts = value.split(';');
    let base = parts.next().unwrap_or_default();
    let is_name = base.starts_with(|c: char| c.is_ascii_alphabetic())
        && base.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let is_oid = !base.is_empty()
        && base
            .split('.')
            .all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    let options_ok =
        parts.all(|o| !o.is_empty() && o.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if (is_name || is_oid) && options_ok {
        Ok(())
    } else {
        Err(setup(format!(
            "[ldap] {key} {value:?} is not an LDAP attribute name (letters, digits and '-', e.g. uid)"
        )))
    }
}

/// A rustls client configuration on ring with the CA file's certificates, or the system roots.
pub(super) fn tls_config(
    ca_file: Option<&std::path::Path>,
) -> Result<Arc<ClientConfig>, LdapSetupError> {
    let loaded = load_roots("ldap", ca_file, CaMode::Replace).map_err(setup)?;
    let mut roots = RootCertStore::empty();
    if ca_file.is_some() {
        for cert in loaded.certs {
            roots.add(cert).map_err(|e| {
                setup(format!(
                    "[ldap] ca_file {}: a certificate cannot be used as a CA: {e}",
                    ca_file.map(|p| p.display().to_string()).unwrap_or_default()
                ))
            })?;
        }
        debug!(
            "LDAP: trusting the {} CA certificate(s) in the ca_file (instead of the system roots)",
            loaded.from_file
        );
    } else {
        let (added, ignored) = roots.add_parsable_certificates(loaded.certs);
        if ignored > 0 {
            debug!("LDAP: ignored {ignored} unparsable system CA certificate(s)");
        }
        if added == 0 {
            return Err(setup(
                "[ldap] no system CA certificates found to verify the LDAP server: install ca-certificates, \
                 or set ca_file to the PEM file of the CA that signed the server's certificate"
                    .into(),
            ));
        }
        debug!("LDAP: trusting {added} system CA certificate(s)");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| setup(format!("[ldap] TLS set-up failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = |scheme, host: &str, port| Target {
            scheme,
            host: host.into(),
            port,
        };
        assert_eq!(check_url("ldap://x").unwrap(), t(Scheme::Ldap, "x", 389));
        assert_eq!(check_url("ldaps://x").unwrap(), t(Scheme::Ldaps, "x", 636));
        assert_eq!(
            check_url("ldaps://x:1636/").unwrap(),
            t(Scheme::Ldaps, "x", 1636)
        );
        assert_eq!(
            check_url("ldap://[::1]:3389/").unwrap(),
            t(Scheme::Ldap, "::1", 3389)
        );
        assert_eq!(
            check_url("ldap://[::1]").unwrap(),
            t(Scheme::Ldap, "::1", 389)
        );
        for bad in [
            "ldapi://x",
            "http://x",
            "ldap://",
            "ldap://:389",
            "ldap://x:0",
            "ldap://x:99999",
            "ldap://x:y",
            "ldap://u@x",
            "ldap://[::1",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn attributes() {
        for ok in [
            "uid",
            "sAMAccountName",
            "x-y",
            "0.9.2342.19200300.100.1.1",
            "cn;lang-en",
        ] {
            check_attribute("k", ok, false).unwrap();
        }
        check_attribute("k", "", true).unwrap();
        for bad in ["", "uid)(x", "u id", "uid=", "1uid", "1..2", "uid;"] {
            assert!(check_attribute("k", bad, false).is_err(), "{bad}");
        }
    }
}
