//! A real S3 server for the storage tests: moto's (PyPI `moto[server]`, installed by
//! scripts/test.sh into a venv in the user's cache, or `$MOTO_VENV`) on a free 127.0.0.1
//! port, stopped when the [`Moto`] is dropped; buckets, objects and multipart uploads made
//! with signed requests of our own (`rusty-s3` over ureq); the registry's `storage.s3`
//! section for [`super::real_registry`] to run Debian's `docker-registry` on a bucket; and a
//! recorder of what a pusher sent, as the ground truth of sizes.
//!
//! moto keeps everything in memory, accepts any key pair and does not check the signature of
//! presigned URLs (with `INITIAL_NO_AUTH_ACTION_COUNT` set it answers them with HTTP 500), so
//! refused credentials are tested against a fake endpoint, not here. Under `CI=true` a
//! missing moto fails; elsewhere the caller skips with a notice.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gitlab_registry_usage_rest::storage::s3::S3Config;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

use super::collector::Target;
use super::fake_registry::Desc;
use super::real_registry::S3Storage;
use super::{free_port, missing_prerequisite, TempDir};

/// The key pair moto accepts (any would do) and the registry's config uses.
pub const ACCESS_KEY: &str = "testing";
pub const SECRET_KEY: &str = "testing";
pub const REGION: &str = "us-east-1";

/// The venv scripts/test.sh installs moto into.
pub fn moto_venv() -> PathBuf {
    if let Some(v) = std::env::var_os("MOTO_VENV") {
        return v.into();
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/nonexistent"));
    cache.join("gitlab-registry-usage-rest/moto-venv")
}

/// `Some(moto_server)`; `None` (skip) outside CI; a failure under `CI=true`.
pub fn moto_server() -> Option<PathBuf> {
    let bin = moto_venv().join("bin/moto_server");
    if bin.is_file() {
        return Some(bin);
    }
    missing_prerequisite(
        "S3 TESTS",
        &format!(
            "{} is missing (scripts/test.sh installs it: python3 -m venv V && \
             V/bin/pip install 'moto[server]' boto3)",
            bin.display()
        ),
    );
    None
}

/// A running moto server.
pub struct Moto {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    child: Child,
    dir: TempDir,
    agent: ureq::Agent,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts moto; `None` when it is not installed outside CI.
    pub fn start() -> Option<Moto> {
        let bin = moto_server()?;
        let dir = TempDir::new("moto");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into();
        for attempt in 0..3 {
            let port = free_port();
            let log = std::fs::File::create(dir.0.join(format!("moto-{attempt}.log"))).unwrap();
            let mut child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let endpoint = format!("http://127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // the port was taken: another one
                }
                let up = agent
                    .get(&format!("{endpoint}/moto-api/data.json"))
                    .call()
                    .is_ok_and(|r| r.status().as_u16() == 200);
                if up {
                    return Some(Moto {
                        endpoint,
                        child,
                        dir,
                        agent,
                    });
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let logs: String = (0..3)
            .filter_map(|a| std::fs::read_to_string(dir.0.join(format!("moto-{a}.log"))).ok())
            .collect();
        panic!("moto_server did not come up on 127.0.0.1:\n{logs}");
    }

    /// Our client's configuration for `bucket` on this server.
    pub fn config(&self, bucket: &str, rootdirectory: &str) -> S3Config {
        S3Config {
            bucket: bucket.into(),
            region: REGION.into(),
            regionendpoint: self.endpoint.clone(),
            accesskey: ACCESS_KEY.into(),
            secretkey: SECRET_KEY.into(),
            rootdirectory: rootdirectory.into(),
            timeout: Duration::from_secs(20),
        }
    }

    /// The registry's `storage.s3` on `bucket` (see `RealOptions::storage`).
    pub fn registry_storage(&self, bucket: &str, rootdirectory: &str) -> S3Storage {
        S3Storage {
            regionendpoint: self.endpoint.clone(),
            bucket: bucket.into(),
            region: REGION.into(),
            accesskey: ACCESS_KEY.into(),
            secretkey: SECRET_KEY.into(),
            rootdirectory: rootdirectory.into(),
        }
    }

    fn bucket(&self, name: &str) -> Bucket {
        let url = self.endpoint.parse().unwrap();
        Bucket::new(url, UrlStyle::Path, name.to_string(), REGION).unwrap()
    }

    fn creds() -> Credentials {
        Credentials::new(ACCESS_KEY, SECRET_KEY)
    }

    fn expect(
        &self,
        what: &str,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> String {
        let mut r = r.unwrap_or_else(|e| panic!("moto: {what}: {e}"));
        let status = r.status().as_u16();
        let body = r.body_mut().read_to_string().unwrap_or_default();
        assert_eq!(status, 200, "moto: {what}: {body}");
        body
    }

    /// Creates `name` (3 to 63 lowercase letters, digits, `-`).
    pub fn create_bucket(&self, name: &str) {
        let b = self.bucket(name);
        let c = Moto::creds();
        let url = b.create_bucket(&c).sign(Duration::from_secs(60));
        let r = self.agent.put(url.as_str()).send_empty();
        self.expect(&format!("create bucket {name}"), r);
    }

    /// Stores `bytes` at the full key `key`.
    pub fn put(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let b = self.bucket(bucket);
        let c = Moto::creds();
        let url = b.put_object(Some(&c), key).sign(Duration::from_secs(60));
        let r = self.agent.put(url.as_str()).send(bytes);
        self.expect(&format!("put {key}"), r);
    }

    /// Stores every `(key, bytes)` with `threads` connections; bounded by the list's length.
    pub fn put_all(&self, bucket: &str, objects: &[(String, Vec<u8>)], threads: usize) {
        let chunk = objects.len().div_ceil(threads.max(1)).max(1);
        std::thread::scope(|s| {
            for part in objects.chunks(chunk) {
                s.spawn(move || {
                    for (k, v) in part {
                        self.put(bucket, k, v);
                    }
                });
            }
        });
    }

    /// Starts a multipart upload of the full key `key` (with no part); returns its id.
    pub fn create_multipart_upload(&self, bucket: &str, key: &str) -> String {
        let b = self.bucket(bucket);
        let c = Moto::creds();
        let url = b
            .create_multipart_upload(Some(&c), key)
            .sign(Duration::from_secs(60));
        let r = self.agent.post(url.as_str()).send_empty();
        let body = self.expect(&format!("create multipart upload {key}"), r);
        rusty_s3::actions::CreateMultipartUpload::parse_response(&body)
            .unwrap_or_else(|e| panic!("moto: CreateMultipartUpload answer {body:?}: {e}"))
            .upload_id()
            .to_string()
    }

    /// The requests moto has logged so far whose request line contains `needle` (e.g.
    /// `"GET /bucket?"`, or `"list-type=2"` for ListObjectsV2 pages).
    pub fn requests_matching(&self, needle: &str) -> usize {
        let log = std::fs::read_dir(&self.dir.0)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("moto-"))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .collect::<String>();
        log.lines()
            .filter(|l| l.contains("HTTP/1.1") && l.contains(needle))
            .count()
    }
}

/// A [`Target`] that forwards to another and records every blob and manifest it sent: their
/// digests and byte lengths are what the storage must hold.
pub struct Recording<'a> {
    pub inner: &'a mut dyn Target,
    /// digest -> bytes, blobs and manifests alike (both are blob data in storage).
    pub sent: BTreeMap<String, u64>,
}

impl<'a> Recording<'a> {
    pub fn new(inner: &'a mut dyn Target) -> Recording<'a> {
        Recording {
            inner,
            sent: BTreeMap::new(),
        }
    }
}

impl Target for Recording<'_> {
    fn blob(&mut self, repo: &str, desc: &Desc, bytes: &[u8]) {
        self.inner.blob(repo, desc, bytes);
        self.sent.insert(desc.digest.clone(), bytes.len() as u64);
    }
    fn manifest(&mut self, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> String {
        let digest = self.inner.manifest(repo, reference, media_type, body);
        self.sent.insert(digest.clone(), body.len() as u64);
        digest
    }
}
