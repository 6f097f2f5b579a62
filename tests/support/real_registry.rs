//! The real registry for the collector's and the storage scanner's tests: Debian's
//! `docker-registry` (Docker Distribution 2.8) on a free 127.0.0.1 port with filesystem storage
//! in a temp dir (or `storage.s3` on a bucket, see `s3.rs`) and token authentication, backed by a token issuer that behaves like GitLab's `/jwt/auth` (HTTP Basic,
//! RS256 JWTs with a libtrust `kid`, `access` claims per requested scope), and a pusher that
//! uploads blobs and manifests through the registry API.
//!
//! It must never skip silently under `CI=true`: a missing `docker-registry` or `openssl` fails.
//! The issuer runs on the fake's server (the service's own connection layer, see
//! `fake_registry.rs`). A [`RealRegistry`] stops its processes when dropped, so it must not live
//! in a `static`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::collector::Target;
use super::fake_registry::{base64, percent_decode, sha256, Desc, MiniServer, Reply, Req, Resp};
use super::{find_program, free_port, missing_prerequisite, tls, TempDir};

pub const SERVICE: &str = "container_registry";
pub const ISSUER: &str = "test-gitlab";
pub const CRAWL_USER: &str = "root";
pub const CRAWL_TOKEN: &str = "glpat-crawl-secret-0123";
const PUSH_USER: &str = "pusher";
const PUSH_TOKEN: &str = "push-secret-4567";

const BINARY: &str = "docker-registry";

/// `Some(path)` of the registry binary; `None` (skip) outside CI; a failure under `CI=true`.
pub fn registry_binary() -> Option<PathBuf> {
    let found = find_program(BINARY);
    if found.is_none() {
        missing_prerequisite(
            "REGISTRY TESTS",
            "docker-registry is not installed (Debian package docker-registry: \
             apt-get install -y docker-registry)",
        );
    }
    found
}

fn run(cmd: &mut Command) {
    if let Err(e) = tls::run(cmd) {
        panic!("{e} (is openssl installed?)");
    }
}

/// libtrust's key id: base32 of the first 30 bytes of SHA-256(DER SubjectPublicKeyInfo),
/// in 12 groups of 4 separated by `:`.
pub fn libtrust_kid(spki_der: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, spki_der);
    let bytes = &d.as_ref()[..30];
    const A: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits: u64 = 0;
    let mut n = 0;
    let mut s = String::new();
    for &b in bytes {
        bits = (bits << 8) | u64::from(b);
        n += 8;
        while n >= 5 {
            n -= 5;
            s.push(A[((bits >> n) & 31) as usize] as char);
        }
    }
    s.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":")
}

/// What the token issuer saw.
#[derive(Default)]
pub struct IssuerLog {
    pub requests: AtomicUsize,
    pub crawl_requests: AtomicUsize,
    pub max_scopes: AtomicUsize,
    pub refused: AtomicUsize,
    /// Every token issued to the crawler (to check that none is logged).
    pub issued: Mutex<Vec<String>>,
}

struct IssuerKey {
    der: Vec<u8>,
    kid: String,
}

pub struct RealRegistry {
    pub url: String,
    pub realm: String,
    pub log: Arc<IssuerLog>,
    child: Child,
    _issuer: MiniServer,
    dir: TempDir,
    pusher: Pusher,
}

impl Drop for RealRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The registry's `storage.s3` section (Distribution's parameter names).
#[derive(Debug, Clone)]
pub struct S3Storage {
    pub regionendpoint: String,
    pub bucket: String,
    pub region: String,
    pub accesskey: String,
    pub secretkey: String,
    pub rootdirectory: String,
}

/// Where the registry keeps its data.
#[derive(Debug, Clone, Default)]
pub enum Storage {
    /// `storage.filesystem` in the registry's temp dir ([`RealRegistry::storage_root`]).
    #[default]
    Filesystem,
    S3(S3Storage),
}

/// How the registry is set up.
#[derive(Debug, Clone)]
pub struct RealOptions {
    /// Serve https with a certificate for 127.0.0.1 signed by a CA made for the test
    /// (`ca_file()`), instead of plain http.
    pub tls: bool,
    /// Token authentication through the issuer (else anonymous access).
    pub token_auth: bool,
    pub storage: Storage,
}

impl Default for RealOptions {
    fn default() -> Self {
        RealOptions {
            tls: false,
            token_auth: true,
            storage: Storage::Filesystem,
        }
    }
}

/// The `storage:` section of the registry's config.yml.
fn storage_yaml(storage: &Storage, dir: &Path) -> String {
    let driver = match storage {
        Storage::Filesystem => format!(
            "  filesystem:\n    rootdirectory: {}\n",
            dir.join("storage").display()
        ),
        // Blobs are served by the registry itself, not redirected to presigned S3 URLs, so
        // clients see the same registry on either driver.
        Storage::S3(s) => format!(
            "  s3:\n    accesskey: {}\n    secretkey: {}\n    region: {}\n    \
             regionendpoint: {}\n    bucket: {}\n    secure: false\n    v4auth: true\n    \
             rootdirectory: {}\n  redirect:\n    disable: true\n",
            s.accesskey, s.secretkey, s.region, s.regionendpoint, s.bucket, s.rootdirectory
        ),
    };
    format!("storage:\n{driver}  delete:\n    enabled: true\n")
}

/// `docker-registry` with the environment it needs: without `AWS_CA_BUNDLE`, with which
/// Distribution 2.8's S3 driver panics at start ("unable to load custom CA bundle").
fn registry_command(binary: &Path) -> Command {
    let mut cmd = Command::new(binary);
    cmd.env_remove("AWS_CA_BUNDLE");
    cmd
}

/// A test agent that trusts the system roots, or only `ca` when given.
fn agent(ca: Option<&Path>, timeout: Duration) -> ureq::Agent {
    let mut b = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(timeout));
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).unwrap();
        let cert = ureq::tls::Certificate::from_pem(&pem).unwrap();
        b = b.tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&[cert]))
                .build(),
        );
    }
    b.build().into()
}

impl RealRegistry {
    /// Starts issuer and registry; `None` when the binary is missing outside CI.
    pub fn start() -> Option<RealRegistry> {
        RealRegistry::start_with(RealOptions::default())
    }

    /// [`RealRegistry::start`] with TLS and/or without authentication.
    pub fn start_with(opts: RealOptions) -> Option<RealRegistry> {
        let binary = registry_binary()?;
        let dir = TempDir::new("registry");
        let ca = opts.tls.then(|| {
            tls::make_test_pki(Path::new("openssl"), &dir.0)
                .unwrap_or_else(|e| panic!("cannot make the test CA (is openssl installed?): {e}"));
            dir.0.join("ca.pem")
        });
        let key = make_key(&dir.0);
        let log = Arc::new(IssuerLog::default());
        let key = Arc::new(key);
        let (k, l) = (key.clone(), log.clone());
        let issuer = MiniServer::start(Arc::new(move |rq: &Req| Reply::Send(issue(rq, &k, &l))));
        let realm = format!("{}/jwt/auth", issuer.url());

        for attempt in 0..3 {
            let port = free_port();
            let scheme = if opts.tls { "https" } else { "http" };
            let url = format!("{scheme}://127.0.0.1:{port}");
            let config = dir.0.join("config.yml");
            let tls_conf = if opts.tls {
                format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    dir.0.join("server.pem").display(),
                    dir.0.join("server.key").display()
                )
            } else {
                String::new()
            };
            let auth_conf = if opts.token_auth {
                format!(
                    "auth:\n  token:\n    realm: {realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                    dir.0.join("cert.pem").display()
                )
            } else {
                String::new()
            };
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\n\
                     log:\n  level: warn\n  accesslog:\n    disabled: true\n\
                     {storage}\
                     http:\n  addr: 127.0.0.1:{port}\n  secret: test-secret-not-for-production\n{tls_conf}{auth_conf}",
                    storage = storage_yaml(&opts.storage, &dir.0),
                ),
            )
            .unwrap();
            let logfile =
                std::fs::File::create(dir.0.join(format!("registry-{attempt}.log"))).unwrap();
            let mut child = registry_command(&binary)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(logfile.try_clone().unwrap())
                .stderr(logfile)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let agent = agent(ca.as_deref(), Duration::from_secs(2));
            let deadline = Instant::now() + Duration::from_secs(15);
            let mut up = false;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited: the port was taken, try another
                }
                if let Ok(r) = agent.get(&format!("{url}/v2/")).call() {
                    if matches!(r.status().as_u16(), 200 | 401) {
                        up = true;
                        break;
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if up {
                return Some(RealRegistry {
                    pusher: Pusher::new(&url, &realm, ca.as_deref()),
                    url,
                    realm,
                    log,
                    child,
                    _issuer: issuer,
                    dir,
                });
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let logs: String = (0..3)
            .filter_map(|a| std::fs::read_to_string(dir.0.join(format!("registry-{a}.log"))).ok())
            .collect();
        panic!("docker-registry did not come up on 127.0.0.1:\n{logs}");
    }

    /// The collector's settings for this registry: its token issuer plays GitLab, so
    /// `gitlab_base_url` is the issuer's origin (the only realm trusted besides the registry).
    pub fn config(&self, user: &str, token: &str) -> gitlab_registry_usage_rest::config::Registry {
        let mut cfg = super::collector::registry_config(&self.url, user, token);
        cfg.gitlab_base_url = format!("{}/", self.realm.trim_end_matches("/jwt/auth"));
        cfg
    }

    /// The PEM file of the CA that signed the registry's certificate (with `tls`).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.0.join("ca.pem")
    }

    /// A CA that signed nothing here.
    pub fn other_ca_file(&self) -> PathBuf {
        self.dir.0.join("other-ca.pem")
    }

    pub fn storage(&self) -> &Path {
        &self.dir.0
    }

    /// The registry's config.yml (for `docker-registry garbage-collect` and the like).
    pub fn config_file(&self) -> PathBuf {
        self.dir.0.join("config.yml")
    }

    /// The registry's storage root (`docker/registry/v2/...` lies below it) on the
    /// filesystem driver.
    pub fn storage_root(&self) -> PathBuf {
        self.dir.0.join("storage")
    }

    /// Deletes a manifest by digest (and so every tag on it); asserts 202.
    pub fn delete_manifest(&mut self, repo: &str, digest: &str) {
        self.pusher.delete_manifest(repo, digest);
    }

    /// Starts a blob upload in `repo` and sends `bytes` of it, never finishing it: a
    /// half-done upload (`_uploads/<id>/` in the storage).
    pub fn start_upload(&mut self, repo: &str, bytes: &[u8]) {
        self.pusher.start_upload(repo, bytes);
    }

    /// Stops the registry (for garbage collection, which needs it stopped or read-only).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Runs `docker-registry garbage-collect` on the stopped registry's configuration with
    /// `extra` flags; returns its output, asserting success.
    pub fn garbage_collect(&self, extra: &[&str]) -> String {
        garbage_collect_with(&self.dir.0.join("config.yml"), extra)
    }
}

impl Target for RealRegistry {
    fn blob(&mut self, repo: &str, desc: &Desc, bytes: &[u8]) {
        self.pusher.blob(repo, desc, bytes);
    }
    fn manifest(&mut self, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> String {
        self.pusher.manifest(repo, reference, media_type, body)
    }
}

/// Every blob file of the registry's storage: digest → bytes.
pub fn blob_files(root: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let dir = root.join("docker/registry/v2/blobs/sha256");
    let Ok(prefixes) = std::fs::read_dir(&dir) else {
        return out;
    };
    for p in prefixes.flatten() {
        for b in std::fs::read_dir(p.path()).unwrap().flatten() {
            if let Ok(meta) = std::fs::metadata(b.path().join("data")) {
                let hex = b.file_name().to_string_lossy().into_owned();
                out.insert(format!("sha256:{hex}"), meta.len());
            }
        }
    }
    out
}

/// Runs `docker-registry garbage-collect` with `extra` flags on the registry configuration
/// `config` (the registry must be stopped or read-only); returns its output, asserting success.
pub fn garbage_collect_with(config: &Path, extra: &[&str]) -> String {
    let binary = registry_binary().expect("the registry ran, so its binary exists");
    let out = registry_command(&binary)
        .arg("garbage-collect")
        .args(extra)
        .arg(config)
        .output()
        .expect("docker-registry garbage-collect runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "garbage-collect {extra:?} failed: {text}"
    );
    text
}

fn make_key(dir: &Path) -> IssuerKey {
    let key = dir.join("key.pem");
    run(Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&key));
    run(Command::new("openssl")
        .args([
            "req",
            "-new",
            "-x509",
            "-days",
            "2",
            "-subj",
            "/CN=test-token-issuer",
            "-key",
        ])
        .arg(&key)
        .arg("-out")
        .arg(dir.join("cert.pem")));
    run(Command::new("openssl")
        .args(["rsa", "-traditional", "-outform", "DER", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(dir.join("key.der")));
    run(Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(dir.join("pub.der")));
    IssuerKey {
        der: std::fs::read(dir.join("key.der")).unwrap(),
        kid: libtrust_kid(&std::fs::read(dir.join("pub.der")).unwrap()),
    }
}

/// GitLab's `/jwt/auth`, as far as the registry and the collector can tell.
fn issue(rq: &Req, key: &IssuerKey, log: &IssuerLog) -> Resp {
    log.requests.fetch_add(1, Ordering::SeqCst);
    let url = rq.url.as_str();
    let query = rq.query();
    let params: Vec<(String, String)> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect();
    let auth = rq.header("authorization").unwrap_or_default().to_string();
    let basic = |u: &str, p: &str| format!("Basic {}", base64(format!("{u}:{p}").as_bytes()));
    let user = if auth == basic(CRAWL_USER, CRAWL_TOKEN) {
        CRAWL_USER
    } else if auth == basic(PUSH_USER, PUSH_TOKEN) {
        PUSH_USER
    } else {
        log.refused.fetch_add(1, Ordering::SeqCst);
        return Resp::json(401, r#"{"message":"HTTP Basic: Access denied"}"#)
            .header("WWW-Authenticate", "Basic realm=\"GitLab\"");
    };
    let service_ok = params.iter().any(|(k, v)| k == "service" && v == SERVICE);
    if !url.starts_with("/jwt/auth?") || !service_ok {
        return Resp::json(400, "{}");
    }
    let scopes: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.as_str())
        .collect();
    if user == CRAWL_USER {
        log.crawl_requests.fetch_add(1, Ordering::SeqCst);
        log.max_scopes.fetch_max(scopes.len(), Ordering::SeqCst);
    }
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|s| {
            // type:name:actions, where the name may itself hold colons (a port)
            let (ty, rest) = s.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            let wanted: Vec<&str> = actions.split(',').collect();
            // The crawler may pull and list the catalog; the pusher may do what it asks.
            let granted: Vec<&str> = if user == CRAWL_USER {
                wanted
                    .into_iter()
                    .filter(|a| *a == "pull" || *a == "*")
                    .collect()
            } else {
                wanted
            };
            Some(serde_json::json!({"type": ty, "name": name, "actions": granted}))
        })
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    static JTI: AtomicUsize = AtomicUsize::new(0);
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": user,
        "aud": SERVICE,
        "exp": now + 300,
        "nbf": now - 5,
        "iat": now,
        "jti": format!("jti-{}", JTI.fetch_add(1, Ordering::SeqCst)),
        "access": access,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(key.kid.clone());
    let token = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_der(&key.der),
    )
    .unwrap();
    if user == CRAWL_USER {
        log.issued.lock().unwrap().push(token.clone());
    }
    let body =
        serde_json::json!({"token": token, "expires_in": 300, "issued_at": "2026-01-01T00:00:00Z"});
    Resp::json(200, body.to_string())
}

/// Pushes through the registry API with the pusher's own tokens.
struct Pusher {
    url: String,
    realm: String,
    agent: ureq::Agent,
    tokens: HashMap<String, String>,
}

impl Pusher {
    fn new(url: &str, realm: &str, ca: Option<&Path>) -> Pusher {
        Pusher {
            url: url.into(),
            realm: realm.into(),
            agent: agent(ca, Duration::from_secs(20)),
            tokens: HashMap::new(),
        }
    }

    fn token(&mut self, repo: &str) -> String {
        if let Some(t) = self.tokens.get(repo) {
            return t.clone();
        }
        let url = format!(
            "{}?service={SERVICE}&scope=repository:{repo}:pull,push,delete",
            self.realm
        );
        let mut r = self
            .agent
            .get(&url)
            .header(
                "Authorization",
                &format!(
                    "Basic {}",
                    base64(format!("{PUSH_USER}:{PUSH_TOKEN}").as_bytes())
                ),
            )
            .call()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let v: serde_json::Value = r.body_mut().read_json().unwrap();
        let t = format!("Bearer {}", v["token"].as_str().unwrap());
        self.tokens.insert(repo.into(), t.clone());
        t
    }

    /// The upload's absolute location after `POST /v2/<repo>/blobs/uploads/`.
    fn upload_location(&mut self, repo: &str, auth: &str) -> String {
        let r = self
            .agent
            .post(&format!("{}/v2/{repo}/blobs/uploads/", self.url))
            .header("Authorization", auth)
            .send_empty()
            .unwrap();
        assert_eq!(r.status().as_u16(), 202, "upload start in {repo}");
        let loc = r
            .headers()
            .get("location")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        if loc.starts_with('/') {
            format!("{}{loc}", self.url)
        } else {
            loc
        }
    }

    fn start_upload(&mut self, repo: &str, bytes: &[u8]) {
        let auth = self.token(repo);
        let loc = self.upload_location(repo, &auth);
        let r = self
            .agent
            .patch(&loc)
            .header("Authorization", &auth)
            .header("Content-Type", "application/octet-stream")
            .send(bytes)
            .unwrap();
        assert_eq!(r.status().as_u16(), 202, "upload chunk in {repo}");
    }

    fn blob(&mut self, repo: &str, desc: &Desc, bytes: &[u8]) {
        let auth = self.token(repo);
        let loc = self.upload_location(repo, &auth);
        let sep = if loc.contains('?') { '&' } else { '?' };
        let mut r = self
            .agent
            .put(&format!("{loc}{sep}digest={}", desc.digest))
            .header("Authorization", &auth)
            .header("Content-Type", "application/octet-stream")
            .send(bytes)
            .unwrap();
        let status = r.status().as_u16();
        assert_eq!(
            status,
            201,
            "blob upload to {repo}: {}",
            r.body_mut().read_to_string().unwrap_or_default()
        );
    }

    fn delete_manifest(&mut self, repo: &str, digest: &str) {
        let auth = self.token(repo);
        let mut r = self
            .agent
            .delete(&format!("{}/v2/{repo}/manifests/{digest}", self.url))
            .header("Authorization", &auth)
            .call()
            .unwrap();
        let status = r.status().as_u16();
        assert_eq!(
            status,
            202,
            "delete {repo}@{digest}: {}",
            r.body_mut().read_to_string().unwrap_or_default()
        );
    }

    fn manifest(&mut self, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> String {
        let auth = self.token(repo);
        let mut r = self
            .agent
            .put(&format!("{}/v2/{repo}/manifests/{reference}", self.url))
            .header("Authorization", &auth)
            .header("Content-Type", media_type)
            .send(body)
            .unwrap();
        let status = r.status().as_u16();
        let digest = r
            .headers()
            .get("docker-content-digest")
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(
            status,
            201,
            "manifest {repo}:{reference} ({media_type}): {}",
            r.body_mut().read_to_string().unwrap_or_default()
        );
        let digest = digest.unwrap_or_else(|| sha256(body));
        assert_eq!(digest, sha256(body), "the registry digests what we sent");
        digest
    }
}
