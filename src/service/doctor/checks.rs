//! The doctor's checks of what the configuration points at: the listening port, the state
//! file's directory, the LDAP server and the registry. Each returns findings; [`super`] runs
//! them, in order or side by side, and reports.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{failed, ok, warning, wrong, Finding};
use crate::auth::ldap::LdapAuthenticator;
use crate::config;

/// Upper bound of the registry check's `[registry] timeout`.
pub(super) const REGISTRY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the doctor waits for the running service to answer on a taken port.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Binds the listening address like the server does, and releases it.
pub(super) fn check_port(g: &config::General) -> Finding {
    let addr = if g.socket_host.contains(':') && !g.socket_host.starts_with('[') {
        format!("[{}]:{}", g.socket_host, g.socket_port)
    } else {
        format!("{}:{}", g.socket_host, g.socket_port)
    };
    let sa = match addr.to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(sa)) => sa,
        Ok(None) => {
            return wrong(format!(
                "[general] socket_host: {} has no address",
                g.socket_host
            ))
        }
        Err(e) => {
            return wrong(format!(
                "[general] socket_host: cannot resolve {}: {e}",
                g.socket_host
            ))
        }
    };
    match bind(sa) {
        Ok(()) if g.socket_port == 0 => ok(format!(
            "[general] socket_port: 0 means any free port on {}, chosen at start (the log says which)",
            g.socket_host
        )),
        Ok(()) => ok(format!("[general] socket_port: {addr} is free")),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            if is_this_service(sa, &g.server_prefix) {
                warning(format!(
                    "[general] socket_port: {addr} is in use by a running gitlab-registry-usage-rest \
                     (expected if that is this configuration's service: restarting it frees the port)"
                ))
            } else {
                failed(format!(
                    "[general] socket_port: {addr} is in use by another program: stop it or change socket_port"
                ))
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => failed(format!(
            "[general] socket_host: {} is not an address of this machine: {e}",
            g.socket_host
        )),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => failed(format!(
            "[general] socket_port: cannot listen on {addr}: {e} (ports below 1024 need privileges the \
             service does not have: choose a port from 1024 up)"
        )),
        Err(e) => failed(format!("[general] socket_port: cannot listen on {addr}: {e}")),
    }
}

/// What the server does to listen (see `server::listen`): reuse-address, bind, listen.
fn bind(sa: SocketAddr) -> std::io::Result<()> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(sa), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&sa.into())?;
    socket.listen(1)?;
    Ok(())
}

/// Whether what listens on `sa` answers an unauthenticated login the way this service does.
fn is_this_service(sa: SocketAddr, prefix: &str) -> bool {
    let mut target = sa;
    if sa.ip().is_unspecified() {
        target.set_ip(match sa {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let Ok(mut s) = TcpStream::connect_timeout(&target, PROBE_TIMEOUT) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(PROBE_TIMEOUT));
    let _ = s.set_write_timeout(Some(PROBE_TIMEOUT));
    let request =
        format!("GET {prefix}/auth_token HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n");
    if s.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let _ = s.take(16 * 1024).read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    let status_401 = text
        .lines()
        .next()
        .is_some_and(|l| l.starts_with("http/1.") && l.split(' ').nth(1) == Some("401"));
    status_401 && text.contains("www-authenticate: basic realm=\"authentication required\"")
}

/// The state file's directory accepts a new entry (created and removed, as a save would), and
/// an existing state file can be read. Whether the service can ever have data.
pub(super) fn check_state(r: &config::Registry) -> Vec<Finding> {
    let path = r.state_file.as_path();
    let collector_off = r.registry_base_url.is_empty();
    if path.as_os_str().is_empty() {
        return vec![if collector_off {
            wrong(
                "[registry] state_file: empty, and registry_base_url is empty too: the service would never \
                 have data to serve; set one of them",
            )
        } else {
            ok("[registry] state_file: none (a restart serves nothing until the first crawl ends)")
        }];
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        let default_dir = config::key_def("registry", "state_file")
            .map(|k| PathBuf::from(k.default))
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let shown = dir.display();
        return vec![if default_dir.as_deref() == Some(dir) {
            warning(format!(
                "[registry] state_file: the directory {shown} does not exist yet; the systemd unit creates it \
                 at the first start (StateDirectory=), otherwise create it, writable by the service's user"
            ))
        } else {
            failed(format!(
                "[registry] state_file: the directory {shown} does not exist: create it, writable by the \
                 service's user, or change state_file"
            ))
        }];
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let probe = dir.join(format!(".{name}.check-{}", std::process::id()));
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe);
    let mut out = Vec::new();
    match created {
        Ok(f) => {
            drop(f);
            if let Err(e) = std::fs::remove_file(&probe) {
                out.push(warning(format!(
                    "[registry] state_file: cannot remove the test file {}: {e}; remove it by hand",
                    probe.display()
                )));
            }
        }
        Err(e) => {
            let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
                " (the service's user must be able to: run this check as that user, e.g. with \
                 sudo -u gitlab-registry-usage-rest)"
            } else {
                ""
            };
            out.push(failed(format!(
                "[registry] state_file: cannot create files in {}: {e}{hint}",
                dir.display()
            )));
            return out;
        }
    }
    match crate::registry::state::load(path) {
        Ok(Some(s)) => out.push(ok(format!(
            "[registry] state_file: {} holds {} repositories and {} tags collected at {}",
            path.display(),
            s.repositories.len(),
            s.tag_count(),
            crate::snapshot::time::format_rfc3339(s.timestamp as i64)
        ))),
        Ok(None) if collector_off => out.push(warning(format!(
            "[registry] state_file: {} does not exist and registry_base_url is empty: the API answers \
             503 until the file is there",
            path.display()
        ))),
        Ok(None) => out.push(ok(format!(
            "[registry] state_file: {} can be written; the first crawl creates it",
            path.display()
        ))),
        Err(e) => out.push(warning(format!(
            "[registry] state_file: {e}; the service starts without data and the first crawl replaces it"
        ))),
    }
    out
}

/// The directory, as a login would reach it, without a user.
pub(super) fn ldap_finding(a: &LdapAuthenticator) -> Finding {
    match a.check_directory() {
        Ok(done) => ok(format!("[ldap] host: {done}")),
        Err(p) => failed(format!("[ldap] {}: {}", p.key, p.why)),
    }
}

/// The registry as the collector reaches it: `/v2/` and its challenge, then (with a real
/// access token) one token for the catalog scope and one catalog request with it.
pub(super) fn registry_finding(r: &config::Registry, send_token: bool) -> Finding {
    use crate::registry::client::{root_certs, Client, Method, Policy};
    use crate::registry::token::{AuthMode, Credentials, RealmError, RequestError, TokenSlot};
    use crate::registry::Kind;
    let timeout = r.timeout.min(REGISTRY_TIMEOUT);
    let policy = Policy {
        timeout,
        concurrency: 1,
        max_attempts: 1,
        backoff_base: Duration::from_millis(100),
        backoff_cap: Duration::from_secs(1),
        retry_after_cap: Duration::from_secs(1),
        manifest_limit: r.max_manifest_size,
    };
    let credentials = if send_token {
        Credentials {
            username: r.username.clone(),
            access_token: r.access_token.clone(),
        }
    } else {
        Credentials {
            username: String::new(),
            access_token: String::new(),
        }
    };
    let roots = match root_certs(r.ca_file.as_deref()) {
        Ok(roots) => roots,
        Err(e) => return failed(format!("[registry] ca_file: {e}")),
    };
    let client = Client::new(
        &r.registry_base_url,
        &r.gitlab_base_url,
        &r.trusted_realms,
        credentials,
        policy,
        roots,
    );
    let base = client.url("/v2/");
    let key = "[registry] registry_base_url";
    let first = match client.execute(Kind::Catalog, Method::Get, &base, None, None) {
        Ok(reply) => reply,
        Err(e) => return failed(format!("{key}: cannot reach {base}: {e}")),
    };
    let challenge = match (first.status, first.www_authenticate.as_deref()) {
        (200, _) => "answers without authentication".to_string(),
        (401, Some(h)) if h.trim_start().to_ascii_lowercase().starts_with("bearer") => {
            "asks for a Bearer token".to_string()
        }
        (401, Some(_)) => "asks for HTTP Basic".to_string(),
        (401, None) => "answers 401 without a challenge".to_string(),
        (s, _) => {
            return failed(format!(
            "{key}: {base} answered {s}, not as a registry's API does (the registry's own URL is \
                 needed, not GitLab's)"
        ))
        }
    };
    if !send_token {
        return ok(format!("{key}: {base} {challenge}; no token asked for"));
    }
    let slot = TokenSlot::new(vec!["registry:catalog:*".into()]);
    let catalog = client.url("/v2/_catalog?n=1");
    let how = |client: &Client| match client.auth_mode() {
        AuthMode::Bearer { realm, .. } => format!("a token from {realm}"),
        AuthMode::Basic => "username and access_token".to_string(),
        AuthMode::Unknown => "no credentials".to_string(),
    };
    match client.registry(Kind::Catalog, Method::Get, &catalog, None, &slot) {
        Ok(reply) if reply.status == 200 => ok(format!(
            "{key}: {base} {challenge}; {} grants the catalog",
            how(&client)
        )),
        Ok(reply) if matches!(reply.status, 401 | 403) => failed(format!(
            "[registry] username: the registry refuses the catalog ({}) to {:?} with {}: the collector \
             lists repositories through it; use an administrator's personal access token",
            reply.status,
            r.username,
            how(&client)
        )),
        Ok(reply) => failed(format!(
            "{key}: the catalog ({catalog}) answered {}",
            reply.status
        )),
        Err(RequestError::Token(e @ RealmError::Denied { .. })) => {
            failed(format!("[registry] access_token: {e}"))
        }
        Err(RequestError::Token(
            e @ (RealmError::UntrustedRealm { .. } | RealmError::InsecureRealm { .. }),
        )) => failed(format!("[registry] trusted_realms: {e}")),
        Err(RequestError::Token(e)) => failed(format!("[registry] gitlab_base_url: {e}")),
        Err(RequestError::Http(e)) => failed(format!("{key}: {e}")),
    }
}

/// `[storage]`: the root (or bucket) can be listed, and how many blobs it holds. `None` when
/// no storage is configured.
pub(super) fn storage_finding(s: &config::Storage) -> Option<Finding> {
    use crate::config::StorageDriver;
    let key = match s.driver {
        StorageDriver::Off => return None,
        StorageDriver::Filesystem => "[storage] rootdirectory",
        StorageDriver::S3 => "[storage] bucket",
    };
    let store = match crate::storage::open_store(s) {
        Ok(store) => store,
        Err(e) => return Some(failed(format!("{key}: {e}"))),
    };
    Some(match crate::storage::census(store.as_ref()) {
        Ok(c) if c.warnings == 0 => ok(format!(
            "{key}: {} is readable: {} blobs, {} bytes",
            store.location(),
            c.blobs,
            c.bytes
        )),
        Ok(c) => warning(format!(
            "{key}: {} holds {} blobs, {} bytes, but {} parts could not be read, e.g. {}",
            store.location(),
            c.blobs,
            c.bytes,
            c.warnings,
            c.first_warning.map(|w| w.to_string()).unwrap_or_default()
        )),
        Err(e) => failed(format!("{key}: {e}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::service::doctor::Verdict;

    fn cfg(text: &str) -> Config {
        Config::from_ini_text(text, Path::new("/t.conf")).unwrap()
    }

    #[test]
    fn a_service_with_no_source_of_data_is_an_error() {
        let c = cfg("[registry]\nregistry_base_url =\nstate_file =\n");
        let f = check_state(&c.registry);
        assert_eq!(f.len(), 1);
        assert!(f[0].config && f[0].text.contains("never"), "{f:?}");
    }

    #[test]
    fn the_state_directory_is_tried_and_left_clean() {
        let dir = std::env::temp_dir().join(format!("grur-doctor-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut c = cfg("");
        c.registry.state_file = dir.join("s.json");
        let f = check_state(&c.registry);
        assert_eq!(
            f.iter().map(|f| f.verdict).collect::<Vec<_>>(),
            [Verdict::Ok]
        );
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        c.registry.state_file = dir.join("missing").join("s.json");
        let f = check_state(&c.registry);
        assert_eq!(f[0].verdict, Verdict::Error);
        assert!(!f[0].config && f[0].text.starts_with("[registry] state_file:"));
        // the packaged default directory is created by systemd: only a warning
        c.registry.state_file = PathBuf::from("/var/lib/gitlab-registry-usage-rest/state.json");
        if !Path::new("/var/lib/gitlab-registry-usage-rest").exists() {
            assert_eq!(check_state(&c.registry)[0].verdict, Verdict::Warning);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
