//! The service under test: starts the real binary on 127.0.0.1:0 with a config file and an
//! optional state-file fixture written to a fresh temporary directory, learns the port from
//! its "listening on" log line, and talks raw HTTP/1.1 to it (so tests control every byte of
//! the request target). A [`Service`] kills its process when dropped, so it must not live in a
//! `static` (nothing is dropped there: the process would outlive the test binary); share one
//! per test thread with `thread_local!` instead.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gitlab_registry_usage_rest::auth::jwt::Tokens;
use gitlab_registry_usage_rest::snapshot::{Snapshot, SnapshotInput};

use super::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_gitlab-registry-usage-rest");
pub const SECRET: &str = "test-secret-0123456789abcdef-0123456789";

/// What to start the service with.
pub struct Options {
    /// Extra INI text appended after the harness's own sections (use new section headers or
    /// keys the harness does not set).
    pub general: String,
    pub ldap: String,
    pub registry: String,
    /// Extra `[jwt]` keys.
    pub jwt: String,
    /// Written to the state file before start.
    pub state: Option<Vec<u8>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            general: String::new(),
            // Nothing listens on port 1: logins get "directory unavailable".
            ldap: "host = ldap://127.0.0.1:1\nallow_insecure = true\ntimeout = 1 s\n".into(),
            registry: "registry_base_url =\n".into(),
            jwt: String::new(),
            state: None,
        }
    }
}

/// A running service; killed on drop.
pub struct Service {
    pub child: Child,
    pub addr: String,
    pub dir: TempDir,
    pub config: PathBuf,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Service {
    pub fn start(opts: Options) -> Service {
        let (dir, config) = Service::write_config(opts);
        Service::start_with_args(dir, config, &[])
    }

    /// Like [`Service::start`], with the open-files limit (soft and hard) set to `nofile`
    /// through the shell's `ulimit -n`, as a systemd unit without `LimitNOFILE=` would.
    pub fn start_with_fd_limit(opts: Options, nofile: u32) -> Service {
        let (dir, config) = Service::write_config(opts);
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
            .arg(BIN)
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null());
        Service::spawn(cmd, dir, config)
    }

    fn write_config(opts: Options) -> (TempDir, PathBuf) {
        let dir = TempDir::new("svc");
        let state = dir.path().join("state.json");
        if let Some(bytes) = &opts.state {
            std::fs::write(&state, bytes).unwrap();
        }
        let config = dir.path().join("test.conf");
        let text = format!(
            "[general]\nsocket_host = 127.0.0.1\nsocket_port = 0\nworkers = 4\n{}\n[ldap]\n{}\n[jwt]\nsecret_key = {SECRET}\nauth_token_expires = 1 hour\n{}\n[registry]\nstate_file = {}\n{}\n",
            opts.general,
            opts.ldap,
            opts.jwt,
            state.display(),
            opts.registry
        );
        std::fs::write(&config, text).unwrap();
        (dir, config)
    }

    /// Starts the binary with `-c <config>` plus `extra` arguments (or, when `extra` names
    /// the config itself, just `extra`).
    pub fn start_with_args(dir: TempDir, config: PathBuf, extra: &[&str]) -> Service {
        let mut cmd = Command::new(BIN);
        if !extra.iter().any(|a| a.contains("test.conf")) {
            cmd.arg("-c").arg(&config);
        }
        cmd.args(extra).stdout(Stdio::null());
        Service::spawn(cmd, dir, config)
    }

    /// `--demo --port 0`; the banner (stdout) is collected into the returned buffer.
    pub fn start_demo() -> (Service, Arc<Mutex<String>>) {
        let mut cmd = Command::new(BIN);
        cmd.args(["--demo", "--port", "0"]).stdout(Stdio::piped());
        let dir = TempDir::new("demo");
        let config = dir.path().join("none");
        let mut svc = Service::spawn(cmd, dir, config);
        let out = svc.child.stdout.take().unwrap();
        let banner = Arc::new(Mutex::new(String::new()));
        let b2 = banner.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let mut b = b2.lock().unwrap();
                b.push_str(&line);
                b.push('\n');
            }
        });
        (svc, banner)
    }

    fn spawn(mut cmd: Command, dir: TempDir, config: PathBuf) -> Service {
        let mut child = cmd
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest.split('/').next().unwrap_or("").to_string();
                    let _ = tx.send(addr);
                }
                log2.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "service did not start; log:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        Service {
            child,
            addr,
            dir,
            config,
            log,
        }
    }

    /// The process's resident set size in KiB (from `/proc`).
    pub fn rss_kib(&self) -> u64 {
        proc_status(self.child.id(), "VmRSS:")
    }

    /// The process's thread count (from `/proc`).
    pub fn threads(&self) -> u64 {
        proc_status(self.child.id(), "Threads:")
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// A valid token for `user`, minted with the configured secret.
    pub fn token(&self, user: &str) -> String {
        Tokens::new(SECRET.as_bytes(), Duration::from_secs(3600))
            .issue(user, now())
            .unwrap()
    }

    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.token("alice"))
    }

    pub fn get(&self, target: &str, headers: &[(&str, &str)]) -> HttpResponse {
        request(&self.addr, "GET", target, headers)
    }

    /// GET with a valid token.
    pub fn get_auth(&self, target: &str) -> HttpResponse {
        let b = self.bearer();
        self.get(target, &[("Authorization", &b)])
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A number from `/proc/<pid>/status` (the first word after `key`).
pub fn proc_status(pid: u32, key: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One raw HTTP/1.1 request with `Connection: close`; the target is sent byte for byte.
pub fn request(addr: &str, method: &str, target: &str, headers: &[(&str, &str)]) -> HttpResponse {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse_response(&raw, method == "HEAD")
}

fn parse_response(raw: &[u8], head: bool) -> HttpResponse {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no header end");
    let head_text = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head_text.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked && !head {
        body = dechunk(&body);
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..pos]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[pos + 2..pos + 2 + size]);
        b = &b[pos + 2 + size + 2..];
    }
    out
}

/// State-file bytes for a snapshot input.
pub fn state_bytes(input: SnapshotInput) -> Vec<u8> {
    Snapshot::build(input).unwrap().to_state_json()
}
