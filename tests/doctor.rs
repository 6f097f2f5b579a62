//! `--check-config` as a doctor: the real binary checks a configuration offline, then binds the
//! port, creates the state file's directory entry, and reaches the suite's real slapd and real
//! docker-registry (with its token issuer), or closed ports. Every finding is one line starting
//! with `ok:`, `warning:` or `error:` that names the key to change; the exit status is 0 only
//! without errors (78 when the configuration itself is wrong, 1 when the world around it is).

mod support;

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use support::real_registry::{RealRegistry, CRAWL_TOKEN, CRAWL_USER};
use support::service::{self, BIN, SECRET};
use support::{slapd, TempDir};

struct Report {
    code: i32,
    out: String,
    took: Duration,
}

impl Report {
    /// The verdict lines of one kind (`ok`, `warning`, `error`).
    fn lines(&self, verdict: &str) -> Vec<&str> {
        let prefix = format!("{verdict}: ");
        self.out
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .collect()
    }

    /// The one line of `verdict` that mentions `key`.
    fn line(&self, verdict: &str, key: &str) -> &str {
        let found: Vec<&str> = self
            .lines(verdict)
            .into_iter()
            .filter(|l| l.contains(key))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected one {verdict} line naming {key}:\n{}",
            self.out
        );
        found[0]
    }
}

fn doctor(config: &std::path::Path, extra: &[&str]) -> Report {
    let started = Instant::now();
    let out = Command::new(BIN)
        .arg("--check-config")
        .args(extra)
        .arg("-c")
        .arg(config)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Report {
        code: out.status.code().unwrap_or(-1),
        out: text,
        took: started.elapsed(),
    }
}

/// Rewrites the line of `key` in the configuration file `f` to `key = value`.
fn set_key(f: &std::path::Path, key: &str, value: &str) {
    let text = std::fs::read_to_string(f)
        .unwrap()
        .lines()
        .map(|l| {
            if l.starts_with(key) {
                format!("{key} = {value}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(f, text).unwrap();
}

/// A configuration file in `dir` with `[general]` on a free port and a state file in `dir`.
fn write_config(dir: &TempDir, ldap: &str, registry: &str) -> std::path::PathBuf {
    let f = dir.path().join("doctor.conf");
    std::fs::write(
        &f,
        format!(
            "[general]\nsocket_host = 127.0.0.1\nsocket_port = {}\n\
             cors_allowed_origins = https://dashboard.example\n\
             [ldap]\n{ldap}\n[jwt]\nsecret_key = {SECRET}\nauth_token_expires = 14 d\n\
             [registry]\nstate_file = {}\n{registry}\n",
            support::free_port(),
            dir.path().join("state").join("state.json").display()
        ),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("state")).unwrap();
    f
}

#[test]
fn the_default_configuration_is_not_called_ok() {
    let dir = TempDir::new("doctor");
    let text = Command::new(BIN)
        .arg("--print-default-config")
        .output()
        .unwrap()
        .stdout;
    let f = dir.path().join("default.conf");
    std::fs::write(&f, text).unwrap();
    let r = doctor(&f, &["--offline"]);
    assert_eq!(r.code, 78, "{}", r.out);
    r.line("error", "[jwt] secret_key");
    r.line("error", "[ldap] host");
    r.line("error", "[registry] registry_base_url");
    r.line("error", "[registry] gitlab_base_url");
    r.line("error", "[registry] access_token");
    // the original's permissive CORS is called out
    assert!(r
        .line("warning", "[general] cors_allowed_origins")
        .contains("any web page"));
    assert!(!r.out.contains("xxx"), "the access token is never printed");
    // durations as written, not in seconds
    assert!(r.out.contains("tokens expire after 2 weeks"), "{}", r.out);
    assert!(r.out.contains("every 1 hour"), "{}", r.out);
    assert!(r.out.contains("timeout 30 s"), "{}", r.out);
    assert!(!r.out.contains("1209600"), "{}", r.out);
    assert!(
        r.out.contains("--offline"),
        "says what it skipped: {}",
        r.out
    );
    assert!(!r.out.contains("configuration OK"), "{}", r.out);
    // the placeholders are not contacted even without --offline
    let r = doctor(&f, &[]);
    assert_eq!(r.code, 78, "{}", r.out);
    assert!(r.took < Duration::from_secs(10), "took {:?}", r.took);
    assert!(r.line("error", "[ldap] host").contains("not contacted"));
}

#[test]
fn closed_ports_a_taken_port_and_a_missing_directory_are_errors() {
    let dir = TempDir::new("doctor");
    let ldap = format!(
        "host = ldaps://127.0.0.1:{}\ntimeout = 2 s\n",
        support::free_port()
    );
    let registry = format!(
        "registry_base_url = http://127.0.0.1:{}/\ngitlab_base_url = http://127.0.0.1:{}/\n\
         username = root\naccess_token = glpat-0123\ntimeout = 2 s\n",
        support::free_port(),
        support::free_port()
    );
    let f = write_config(&dir, &ldap, &registry);
    let r = doctor(&f, &[]);
    assert_eq!(r.code, 1, "{}", r.out);
    assert!(r.took < Duration::from_secs(15), "took {:?}", r.took);
    assert!(r.line("error", "[ldap] host").contains("127.0.0.1"));
    assert!(r
        .line("error", "[registry] registry_base_url")
        .contains("127.0.0.1"));
    r.line("ok", "[general] socket_port");
    r.line("ok", "[registry] state_file");
    assert!(r.out.contains("tokens expire after 14 d"), "{}", r.out);
    // --offline: the network is not asked, so nothing fails
    let r = doctor(&f, &["--offline"]);
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(r.lines("error").is_empty(), "{}", r.out);
    assert!(r.out.contains("configuration OK"), "{}", r.out);

    // a port that another program holds, and a state directory that does not exist
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    set_key(&f, "socket_port", &port.to_string());
    let missing = dir.path().join("missing").join("s.json");
    set_key(&f, "state_file", &missing.display().to_string());
    let r = doctor(&f, &["--offline"]);
    assert_eq!(r.code, 1, "{}", r.out);
    assert!(r
        .line("error", "[general] socket_port")
        .contains(&port.to_string()));
    assert!(r
        .line("error", "[registry] state_file")
        .contains("does not exist"));
    // nothing was left behind
    assert_eq!(
        std::fs::read_dir(dir.path().join("state")).unwrap().count(),
        0
    );
}

#[test]
fn the_running_service_on_the_port_is_a_warning() {
    let svc = service::Service::start(service::Options::default());
    let port = svc.addr.rsplit(':').next().unwrap().to_string();
    let dir = TempDir::new("doctor");
    let f = write_config(
        &dir,
        "host = ldap://127.0.0.1:1\nallow_insecure = true\n",
        "registry_base_url =\n",
    );
    set_key(&f, "socket_port", &port);
    let r = doctor(&f, &["--offline"]);
    assert!(
        r.line("warning", "[general] socket_port")
            .contains("gitlab-registry-usage-rest"),
        "{}",
        r.out
    );
    assert_eq!(r.code, 0, "{}", r.out);
}

#[test]
fn real_directory_and_registry() {
    let Some(s) = slapd::shared() else { return };
    let Some(reg) = RealRegistry::start() else {
        return;
    };
    let dir = TempDir::new("doctor");
    let ldap = |ca: &std::path::Path, pw: &str| {
        format!(
            "host = {}\nbase_dn = {}\nvalid_gid = {}\nca_file = {}\nbind_dn = {}\nbind_password = {pw}\ntimeout = 2 s\n",
            s.ldaps_url(),
            slapd::PEOPLE,
            slapd::VALID_GID,
            ca.display(),
            slapd::SVC_DN
        )
    };
    let registry = |token: &str| {
        format!(
            "registry_base_url = {}/\ngitlab_base_url = {}/\nusername = {CRAWL_USER}\naccess_token = {token}\ntimeout = 5 s\n",
            reg.url,
            reg.realm.trim_end_matches("/jwt/auth")
        )
    };
    let f = write_config(
        &dir,
        &ldap(&s.ca_file(), slapd::SVC_PW),
        &registry(CRAWL_TOKEN),
    );
    let r = doctor(&f, &[]);
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(
        r.lines("error").is_empty() && r.lines("warning").is_empty(),
        "{}",
        r.out
    );
    let l = r.line("ok", "[ldap] host");
    assert!(l.contains("TLS") && l.contains(slapd::SVC_DN), "{l}");
    let l = r.line("ok", "[registry] registry_base_url");
    assert!(l.contains("token") && l.contains("catalog"), "{l}");
    assert!(!r.out.contains(CRAWL_TOKEN) && !r.out.contains(slapd::SVC_PW));
    assert!(r.out.contains("configuration OK"), "{}", r.out);

    // a wrong service password, an untrusted CA, a wrong access token: each names its key
    let text = std::fs::read_to_string(&f).unwrap();
    let wrong = dir.path().join("wrong.conf");
    std::fs::write(
        &wrong,
        text.replace(
            &format!("bind_password = {}", slapd::SVC_PW),
            "bind_password = nope",
        ),
    )
    .unwrap();
    let r = doctor(&wrong, &[]);
    assert_eq!(r.code, 1, "{}", r.out);
    assert!(
        r.line("error", "[ldap] bind_dn").contains("bind_password"),
        "{}",
        r.out
    );
    std::fs::write(
        &wrong,
        text.replace(
            &s.ca_file().display().to_string(),
            &s.other_ca_file().display().to_string(),
        ),
    )
    .unwrap();
    let r = doctor(&wrong, &[]);
    assert_eq!(r.code, 1, "{}", r.out);
    r.line("error", "[ldap] ca_file");
    std::fs::write(
        &wrong,
        text.replace(
            &format!("access_token = {CRAWL_TOKEN}"),
            "access_token = glpat-wrong",
        ),
    )
    .unwrap();
    let r = doctor(&wrong, &[]);
    assert_eq!(r.code, 1, "{}", r.out);
    r.line("error", "[registry] access_token");
    assert!(!r.out.contains("glpat-wrong"), "{}", r.out);
}

#[test]
fn open_metrics_are_refused_naming_the_key() {
    let dir = TempDir::new("doctor");
    let f = write_config(
        &dir,
        "host = ldap://127.0.0.1:1\nallow_insecure = true",
        "registry_base_url =\n[metrics]\nenabled = true\n",
    );
    let r = doctor(&f, &["--offline"]);
    assert_eq!(r.code, 78, "{}", r.out);
    assert!(r.out.contains("[metrics] bearer_token"), "{}", r.out);
}
