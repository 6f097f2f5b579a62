//! Helpers shared by the integration tests (and the crawl benchmark): every test file says
//! `mod support;` and uses what it needs from here. They start real processes and servers on
//! 127.0.0.1 only and clean up after themselves: a helper that starts a process stops it when
//! dropped, and one meant to live in a `static` (where nothing is dropped) must stop it some
//! other way (see `slapd`). Tests, not helpers, make assertions about the service.
//!
//! - [`service`]: the real binary, started with a config file, and raw HTTP/1.1 to it.
//! - [`slapd`]: a throwaway OpenLDAP server with a fixed directory of users.
//! - [`tls`]: a throwaway PKI (test CA, unrelated CA, server certificate) made with `openssl`.
//! - [`fake_gitlab`]: an in-process fake of GitLab's REST API (projects, protection rules).
//! - [`fake_registry`]: an in-process Docker Distribution registry with injectable faults, and
//!   builders of manifest JSON.
//! - [`real_registry`]: Debian's `docker-registry` with a GitLab-like token issuer and a pusher.
//! - [`s3`]: moto's S3 server, buckets and objects on it, and the registry's `storage.s3`.
//! - [`collector`]: the collector's harness: registry settings, the standard content pushed
//!   with its ground truth, and a comparison of snapshots.
//! - [`garbage`]: the storage tests' registry content with four kinds of garbage.
//! - [`state_fixture`]: the small hand-computed state file of the namespace and health tests.
//! - [`logs`]: a logger that keeps every line, to prove that no secret is logged.
//! - [`warm`]: the requests a warm crawl of unchanged content makes (fake and real registry).

// Each test binary uses only some of the helpers.
#![allow(dead_code)]

pub mod collector;
pub mod fake_gitlab;
pub mod fake_registry;
pub mod garbage;
pub mod logs;
pub mod real_registry;
pub mod s3;
pub mod service;
pub mod slapd;
pub mod state_fixture;
pub mod tls;
pub mod warm;

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let p = std::env::temp_dir().join(format!(
            "grur-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        // Private whatever the umask: the service refuses a state directory others may write.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700)).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port on 127.0.0.1 that nobody listens on right now (bound, then closed).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port on 127.0.0.1: {e}"))
}

/// The program `name` on `PATH`, or in the system directories that a user's `PATH` may lack.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/bin".into(), "/sbin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// What a test needs is not installed (`msg` says what and how to install it): a failure
/// under `CI=true`, where nothing may be skipped silently; elsewhere a loud notice, and the
/// caller skips `what`.
pub fn missing_prerequisite(what: &str, msg: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and {msg}");
    }
    // Straight to stderr: the test harness captures eprintln! of passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!!!!!! SKIPPING {what}: {msg} !!!!!!!!\n"
    );
}
