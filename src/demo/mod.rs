//! Demo mode (`--demo`): a built-in container registry on a free loopback port, the settings
//! that point the real service at it, and a demo login, so a newcomer sees the whole service
//! work without a config file, an LDAP server or a GitLab.
//!
//! The registry speaks the Distribution HTTP API (`/v2/`, catalog and tags pagination,
//! manifests by tag or digest with exact digests, blob HEADs; [`registry`]) over an in-memory
//! [`content`] model, behind GitLab's token flow (`/jwt/auth` with HTTP Basic; `server.rs`)
//! and beside GitLab's project API (`gitlab.rs`), serving a generated, deterministic tree of
//! repositories (`tree.rs`). This file starts it and makes the settings, the login and the
//! banner. [`registry`] and [`content`] are public because the tests' fake registry serves
//! its own content through the same protocol (and wraps it with its fault injection, which
//! stays in the tests). This module must stay a test double for `--demo` only: nothing
//! outside demo mode may construct [`DemoAuthenticator`] or read these settings, and it binds
//! to 127.0.0.1 and nowhere else.

use std::fmt;
use std::path::Path;

use ring::rand::{SecureRandom, SystemRandom};

use crate::auth::{Authenticator, LoginError};
use crate::config::{Config, ConfigError};

pub mod content;
mod gitlab;
pub mod registry;
mod server;
mod tree;

use content::Content;
use server::RegistryServer;

/// A running demo: the settings for the real service, the demo login, and the built-in
/// registry, which stops when this value is dropped.
pub struct Demo {
    pub config: Config,
    pub user: String,
    pub password: String,
    registry: RegistryServer,
}

/// Why the demo could not start.
#[derive(Debug)]
pub enum DemoError {
    /// The built-in registry could not listen on 127.0.0.1.
    Bind(String),
    /// The system's random number generator failed (no secret, no password).
    Random,
    /// The generated settings were refused (a bug, but reported rather than hidden).
    Config(ConfigError),
}

impl fmt::Display for DemoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DemoError::Bind(why) => {
                write!(
                    f,
                    "demo: cannot start the built-in registry on 127.0.0.1: {why}"
                )
            }
            DemoError::Random => f.write_str("demo: the system random number generator failed"),
            DemoError::Config(e) => write!(f, "demo: the generated settings are invalid: {e}"),
        }
    }
}

impl std::error::Error for DemoError {}

/// Starts the built-in registry and returns the settings that make the service listen on
/// `127.0.0.1:port` and crawl it.
pub fn start(port: u16) -> Result<Demo, DemoError> {
    let rng = SystemRandom::new();
    let secret = hex(&random_bytes::<32>(&rng)?);
    let access_token = format!("glpat-{}", password_text(&random_bytes::<20>(&rng)?));
    let password = password_text(&random_bytes::<16>(&rng)?);
    let user = "demo".to_string();
    let collector_user = "demo-collector".to_string();

    let registry = RegistryServer::start(
        Content::generate(),
        (collector_user.clone(), access_token.clone()),
    )?;
    let base = format!("http://{}/", registry.addr);
    // Built through the INI reader so the demo gets exactly the checks and defaults a real
    // file gets; only the keys that differ from the defaults are written.
    let text = format!(
        "[general]\nsocket_host = 127.0.0.1\nsocket_port = {port}\n\n\
         [jwt]\nauth_token_expires = 1 hour\nsecret_key = {secret}\n\n\
         [registry]\ngitlab_base_url = {base}\nregistry_base_url = {base}\n\
         username = {collector_user}\naccess_token = {access_token}\n\
         update_interval = 1 minute\nconcurrency = 4\ntimeout = 10 s\nstate_file =\n"
    );
    let origin = Path::new("<demo settings>");
    let config = Config::from_ini_text(&text, origin).map_err(DemoError::Config)?;
    config.check_secret(origin).map_err(DemoError::Config)?;
    Ok(Demo {
        config,
        user,
        password,
        registry,
    })
}

/// The start-up text: what runs where, the demo login and commands to paste. `listen` is the
/// API's address as bound (`127.0.0.1:5000` or `http://127.0.0.1:5000`).
pub fn banner(demo: &Demo, listen: &str) -> String {
    let api = if listen.starts_with("http://") || listen.starts_with("https://") {
        listen.trim_end_matches('/').to_string()
    } else {
        format!("http://{listen}")
    };
    let api = format!("{api}{}", demo.config.general.server_prefix);
    let (user, password) = (&demo.user, &demo.password);
    format!(
        "gitlab-registry-usage-rest {version}: DEMO MODE\n\
         \n\
         A built-in registry with {repos} generated repositories runs at {registry}; the\n\
         collector crawls it every minute. Nothing here talks to LDAP or a real GitLab, and\n\
         both the API and the registry listen on loopback only (127.0.0.1): no other\n\
         machine can reach them.\n\
         \n\
         Dashboard: {api}/  (open it in a browser and log in)\n\
         API:       {api}\n\
         Login:     user {user}, password {password} (valid while this process runs)\n\
         \n\
         Fetch a token:\n\
         \x20 curl -u {user}:{password} {api}/auth_token\n\
         \n\
         Keep it in a variable and fetch the whole tree:\n\
         \x20 TOKEN=$(curl -s -u {user}:{password} {api}/auth_token | sed -n 's/.*\"auth_token\": *\"\\([^\"]*\\)\".*/\\1/p')\n\
         \x20 curl -H \"Authorization: Bearer $TOKEN\" '{api}/repositories?embed=true'\n\
         (The first crawl takes a few seconds; until it ends, resources answer 503: retry.)\n\
         \n\
         One repository, with links:\n\
         \x20 curl -H \"Authorization: Bearer $TOKEN\" '{api}/repositories/platform%2Fbase%2Falpine?embed=true&links=true'\n\
         \n\
         What each project's clean-up policy deletes at its next run (the built-in registry\n\
         also plays GitLab's project API):\n\
         \x20 curl -H \"Authorization: Bearer $TOKEN\" '{api}/policies?sort=freed_bytes_if_enabled&order=desc&limit=5'\n\
         \n\
         Stop with Ctrl-C.\n",
        version = env!("CARGO_PKG_VERSION"),
        repos = demo.registry.repositories,
        registry = demo.config.registry.registry_base_url,
    )
}

/// Accepts exactly the demo login printed in the banner; stands in for LDAP under `--demo`.
pub struct DemoAuthenticator {
    user: String,
    password: String,
}

impl DemoAuthenticator {
    pub fn new(demo: &Demo) -> DemoAuthenticator {
        DemoAuthenticator {
            user: demo.user.clone(),
            password: demo.password.clone(),
        }
    }
}

impl Authenticator for DemoAuthenticator {
    fn authenticate(&self, user: &str, password: &str) -> Result<String, LoginError> {
        // Both compared in full, so timing says nothing about which one was wrong.
        let user_ok = same(user.as_bytes(), self.user.as_bytes());
        let password_ok = same(password.as_bytes(), self.password.as_bytes());
        if user_ok & password_ok {
            Ok(self.user.clone())
        } else {
            Err(LoginError::Rejected)
        }
    }
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_bytes<const N: usize>(rng: &SystemRandom) -> Result<[u8; N], DemoError> {
    let mut buf = [0u8; N];
    rng.fill(&mut buf).map_err(|_| DemoError::Random)?;
    Ok(buf)
}

/// 32 letters and digits without look-alikes (no l, o, 0, 1): one symbol per 5 bits, no bias,
/// and nothing a shell or a URL would need quoted.
fn password_text(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authenticator_accepts_only_the_demo_login() {
        let a = DemoAuthenticator {
            user: "demo".into(),
            password: "secret-pw".into(),
        };
        assert_eq!(a.authenticate("demo", "secret-pw"), Ok("demo".into()));
        assert_eq!(
            a.authenticate("demo", "secret-pX"),
            Err(LoginError::Rejected)
        );
        assert_eq!(
            a.authenticate("Demo", "secret-pw"),
            Err(LoginError::Rejected)
        );
        assert_eq!(a.authenticate("demo", ""), Err(LoginError::Rejected));
    }

    #[test]
    fn passwords_are_shell_safe() {
        let p = password_text(&[0, 31, 32, 255, 77]);
        assert_eq!(p.len(), 5);
        assert!(p.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
