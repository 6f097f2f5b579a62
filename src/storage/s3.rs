//! The storage scanner's S3 client: lists, reads and checks the objects of a registry's S3
//! bucket (Distribution's `storage.s3` driver: the filesystem layout as keys under
//! `rootdirectory`), read-only.
//!
//! Requests are presigned URLs made by `rusty-s3` (which does no I/O) and sent with ureq,
//! one at a time, each bounded by `timeout`. A custom `regionendpoint` (MinIO, Ceph, moto)
//! means path-style URLs; AWS gets virtual-host ones. Keys given to and by this module are
//! relative to `rootdirectory`. It must never write to the bucket, and never log a URL: the
//! signature in it is a credential, so logs and errors name the bucket and key only.

use std::fmt;
use std::time::Duration;

use rusty_s3::actions::{ListObjectsV2, S3Action};
use rusty_s3::{Bucket, Credentials, Method, UrlStyle};
use url::Url;

use crate::snapshot::time::parse_rfc3339;
use crate::tls::{load_roots, CaMode};

mod error;
mod uploads;

pub use error::S3Error;
use error::{classify, parse_error, Ctx};
use uploads::{parse_uploads, parts_result};

/// S3 answers at most 1,000 keys (and uploads) a page.
const PAGE: usize = 1000;
/// S3 error bodies and listing pages we read: a page of 1,000 keys of 1 KiB each fits.
const XML_LIMIT: u64 = 8 << 20;

/// `[storage]` for `driver = s3`, with Distribution's parameter names.
#[derive(Clone)]
pub struct S3Config {
    pub bucket: String,
    pub region: String,
    /// Empty: AWS (`https://s3.<region>.amazonaws.com`, virtual-host style).
    pub regionendpoint: String,
    pub accesskey: String,
    pub secretkey: String,
    /// `/` or empty: the registry's keys start at the bucket's top.
    pub rootdirectory: String,
    /// Each request as a whole, connect to last byte.
    pub timeout: Duration,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("regionendpoint", &self.regionendpoint)
            .field("accesskey", &self.accesskey)
            .field("secretkey", &"<hidden>")
            .field("rootdirectory", &self.rootdirectory)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// One bucket, its credentials and an HTTP agent. Cheap to share behind `&`.
pub struct S3Client {
    bucket: Bucket,
    credentials: Credentials,
    /// `rootdirectory` as a key prefix: empty or ending in `/`.
    root: String,
    endpoint: String,
    region: String,
    timeout: Duration,
    agent: ureq::Agent,
}

impl fmt::Debug for S3Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Client")
            .field("bucket", &self.bucket.name())
            .field("endpoint", &self.endpoint)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// Distribution's key of a path: `rootdirectory` without trailing `/`, then the path, without
/// leading `/`. As a prefix: empty for `/` or nothing, else `dir/`.
pub(crate) fn root_prefix(rootdirectory: &str) -> String {
    let r = rootdirectory.trim_end_matches('/').trim_start_matches('/');
    if r.is_empty() {
        String::new()
    } else {
        format!("{r}/")
    }
}

/// The endpoint URL and URL style for a configuration.
pub(crate) fn endpoint(cfg: &S3Config) -> Result<(Url, UrlStyle), S3Error> {
    let config = |key, reason: String| S3Error::Config { key, reason };
    if cfg.regionendpoint.is_empty() {
        if cfg.region.is_empty() {
            return Err(config(
                "region",
                "needed for AWS (no regionendpoint): e.g. us-east-1".into(),
            ));
        }
        let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        if !cfg.region.chars().all(valid) {
            return Err(config(
                "region",
                format!("{:?} is not a region name (e.g. eu-west-1)", cfg.region),
            ));
        }
        let url = Url::parse(&format!("https://s3.{}.amazonaws.com/", cfg.region))
            .map_err(|e| config("region", format!("{:?}: {e}", cfg.region)))?;
        // A dotted bucket name breaks the wildcard certificate of virtual-host URLs.
        let style = if cfg.bucket.contains('.') {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        return Ok((url, style));
    }
    let text = if cfg.regionendpoint.contains("://") {
        cfg.regionendpoint.clone()
    } else {
        format!("https://{}", cfg.regionendpoint)
    };
    let url = Url::parse(&text).map_err(|e| {
        config(
            "regionendpoint",
            format!(
                "{:?} is not a URL ({e}); e.g. https://minio.example:9000",
                cfg.regionendpoint
            ),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(config(
            "regionendpoint",
            format!(
                "{:?} must be an http:// or https:// URL with a host",
                cfg.regionendpoint
            ),
        ));
    }
    Ok((url, UrlStyle::Path))
}

impl S3Client {
    /// Checks the configuration and builds the agent; does no I/O but loading the system CAs
    /// for an https endpoint.
    pub fn new(cfg: &S3Config) -> Result<S3Client, S3Error> {
        if cfg.bucket.is_empty() {
            return Err(S3Error::Config {
                key: "bucket",
                reason: "empty: name the registry's bucket".into(),
            });
        }
        if cfg.accesskey.is_empty() != cfg.secretkey.is_empty() {
            return Err(S3Error::Config {
                key: "secretkey",
                reason: "accesskey and secretkey go together: set both".into(),
            });
        }
        if cfg.timeout.is_zero() {
            return Err(S3Error::Config {
                key: "timeout",
                reason: "must be above 0".into(),
            });
        }
        let (url, style) = endpoint(cfg)?;
        let endpoint = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default())
            + &url.port().map(|p| format!(":{p}")).unwrap_or_default();
        let region = if cfg.region.is_empty() {
            "us-east-1".to_string()
        } else {
            cfg.region.clone()
        };
        let https = url.scheme() == "https";
        let bucket = Bucket::new(url, style, cfg.bucket.clone(), region.clone()).map_err(|e| {
            S3Error::Config {
                key: "bucket",
                reason: format!("{:?} cannot be used with this endpoint ({e:?})", cfg.bucket),
            }
        })?;
        let mut builder = ureq::Agent::config_builder()
            // 4xx/5xx bodies carry S3's error code.
            .http_status_as_error(false)
            // A redirect is S3 naming another region: reported, not followed.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_global(Some(cfg.timeout))
            .user_agent(concat!(
                "gitlab-registry-usage-rest/",
                env!("CARGO_PKG_VERSION")
            ));
        if https {
            let roots =
                load_roots("storage", None, CaMode::Add).map_err(|reason| S3Error::Config {
                    key: "regionendpoint",
                    reason,
                })?;
            let certs: Vec<ureq::tls::Certificate<'static>> = roots
                .certs
                .iter()
                .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
                .collect();
            builder = builder.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::from(certs))
                    .build(),
            );
        }
        Ok(S3Client {
            bucket,
            credentials: Credentials::new(cfg.accesskey.clone(), cfg.secretkey.clone()),
            root: root_prefix(&cfg.rootdirectory),
            endpoint,
            region,
            timeout: cfg.timeout,
            agent: builder.build().into(),
        })
    }

    /// How long a signed URL stays valid: enough for its one request, and no more.
    fn expiry(&self) -> Duration {
        self.timeout
            .saturating_mul(2)
            .clamp(Duration::from_secs(60), Duration::from_secs(3600))
    }

    fn creds(&self) -> Option<&Credentials> {
        // No key pair: anonymous requests (a public bucket).
        (!self.credentials.key().is_empty()).then_some(&self.credentials)
    }

    /// The signed URL of one ListObjectsV2 page.
    pub(crate) fn list_url(&self, prefix: &str, token: Option<&str>) -> Url {
        let mut action = ListObjectsV2::new(&self.bucket, self.creds());
        action.with_prefix(format!("{}{prefix}", self.root));
        action.with_max_keys(PAGE);
        if let Some(t) = token {
            action.with_continuation_token(t.to_string());
        }
        action.sign(self.expiry())
    }

    /// The signed URL of one ListMultipartUploads page.
    pub(crate) fn uploads_url(&self, prefix: &str, markers: Option<(&str, &str)>) -> Url {
        let mut q = rusty_s3::Map::new();
        let full = format!("{}{prefix}", self.root);
        q.insert("encoding-type", "url");
        q.insert("max-uploads", PAGE.to_string());
        q.insert("prefix", full);
        q.insert("uploads", "");
        if let Some((key, id)) = markers {
            q.insert("key-marker", key.to_string());
            q.insert("upload-id-marker", id.to_string());
        }
        self.sign(Method::Get, self.bucket.base_url().clone(), &q)
    }

    fn sign(&self, method: Method, url: Url, query: &rusty_s3::Map<'_>) -> Url {
        match self.creds() {
            Some(c) => rusty_s3::signing::sign(
                &jiff::Timestamp::now(),
                method,
                url,
                c.key(),
                c.secret(),
                c.token(),
                self.bucket.region(),
                self.expiry().as_secs(),
                query.iter(),
                std::iter::empty(),
            ),
            None => {
                let mut url = url;
                url.query_pairs_mut().extend_pairs(query.iter());
                url
            }
        }
    }

    /// ListObjectsV2 of every key under `prefix` (relative to rootdirectory, no leading '/'),
    /// all pages, 1,000 keys a page; calls `f(key_relative_to_root, size)`.
    pub fn list(&self, prefix: &str, f: &mut dyn FnMut(&str, u64)) -> Result<u64, S3Error> {
        let mut token: Option<String> = None;
        let mut pages = 0u64;
        loop {
            let body = self.read_xml(
                self.list_url(prefix, token.as_deref()),
                prefix,
                "ListObjectsV2",
            )?;
            pages += 1;
            let page =
                ListObjectsV2::parse_response(&body).map_err(|e| self.xml("ListObjectsV2", e))?;
            for obj in &page.contents {
                let size = obj.size.ok_or_else(|| S3Error::Xml {
                    bucket: self.bucket.name().into(),
                    what: "ListObjectsV2",
                    reason: format!("no Size for key {}", obj.key),
                })?;
                match obj.key.strip_prefix(&self.root) {
                    Some(rel) => f(rel, size),
                    None => log::debug!(
                        "s3: bucket {}: skipping key {} outside the root",
                        self.bucket.name(),
                        obj.key
                    ),
                }
            }
            match page.next_continuation_token {
                // A server repeating its token would make this loop forever.
                Some(next) if token.as_deref() == Some(next.as_str()) => {
                    return Err(self.xml("ListObjectsV2", "the same continuation token twice"));
                }
                Some(next) => token = Some(next),
                None => return Ok(pages),
            }
        }
    }

    /// GET of one object, refusing bodies over `max` bytes.
    pub fn get(&self, key: &str, max: u64) -> Result<Vec<u8>, S3Error> {
        let full = format!("{}{key}", self.root);
        let url = self
            .bucket
            .get_object(self.creds(), &full)
            .sign(self.expiry());
        let mut resp = self.send(Method::Get, url, key, "GetObject")?;
        if resp.status().as_u16() != 200 {
            return Err(self.refusal(resp, key, "s3:GetObject"));
        }
        let declared = resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let too_large = || S3Error::TooLarge {
            bucket: self.bucket.name().into(),
            key: key.into(),
            size: declared,
            max,
        };
        if declared.is_some_and(|n| n > max) {
            return Err(too_large());
        }
        resp.body_mut()
            .with_config()
            .limit(max)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => too_large(),
                e => self.transport(e, key),
            })
    }

    /// ListMultipartUploads under prefix: (key, upload id, initiated epoch seconds).
    pub fn multipart_uploads(&self, prefix: &str) -> Result<Vec<(String, String, i64)>, S3Error> {
        let mut out = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let url = self.uploads_url(
                prefix,
                markers.as_ref().map(|(k, i)| (k.as_str(), i.as_str())),
            );
            let body = self.read_xml(url, prefix, "ListMultipartUploads")?;
            let page = parse_uploads(&body).map_err(|e| self.xml("ListMultipartUploads", e))?;
            for u in page.uploads {
                let Some(rel) = u.key.strip_prefix(&self.root) else {
                    continue;
                };
                let initiated = parse_rfc3339(&u.initiated).ok_or_else(|| {
                    self.xml(
                        "ListMultipartUploads",
                        format!("Initiated {:?} is not a time", u.initiated),
                    )
                })?;
                out.push((rel.to_string(), u.upload_id, initiated));
            }
            match page.next {
                Some(next) if markers.as_ref() == Some(&next) => {
                    return Err(self.xml("ListMultipartUploads", "the same markers twice"));
                }
                Some(next) => markers = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// The bytes uploaded so far to multipart upload `upload_id` of `key` (relative to
    /// rootdirectory, as [`S3Client::multipart_uploads`] gives it): the sum of its parts'
    /// sizes (ListParts, all pages). A half-done registry upload's `data` is such an upload.
    pub fn upload_bytes(&self, key: &str, upload_id: &str) -> Result<u64, S3Error> {
        let full = format!("{}{key}", self.root);
        let mut marker: Option<u16> = None;
        let mut bytes = 0u64;
        loop {
            let mut action = self.bucket.list_parts(self.creds(), &full, upload_id);
            if let Some(m) = marker {
                action.set_part_number_marker(m);
            }
            let url = action.sign(self.expiry());
            let body = self.read_xml(url, key, "ListParts")?;
            let page = rusty_s3::actions::ListParts::parse_response(&parts_result(&body))
                .map_err(|e| self.xml("ListParts", e))?;
            bytes += page.parts.iter().map(|p| p.size).sum::<u64>();
            match page.next_part_number_marker {
                Some(next) if marker.is_some_and(|m| next <= m) => {
                    return Err(self.xml("ListParts", "a part number marker that does not advance"));
                }
                Some(next) => marker = Some(next),
                None => return Ok(bytes),
            }
        }
    }

    /// HEAD bucket (for --check-config).
    pub fn check(&self) -> Result<(), S3Error> {
        let url = self.bucket.head_bucket(self.creds()).sign(self.expiry());
        let resp = self.send(Method::Head, url, "", "HeadBucket")?;
        match resp.status().as_u16() {
            200 => Ok(()),
            // HEAD has no body to tell a bad key from a missing permission: a one-key
            // listing says which.
            403 => match self.read_xml(self.list_url_one(), "", "ListObjectsV2") {
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            },
            _ => Err(self.refusal(resp, "", "s3:ListBucket")),
        }
    }

    fn list_url_one(&self) -> Url {
        let mut action = ListObjectsV2::new(&self.bucket, self.creds());
        action.with_max_keys(1);
        action.sign(self.expiry())
    }

    /// Sends a signed request; a transport failure becomes a typed error. Logs bucket and key.
    fn send(
        &self,
        method: Method,
        url: Url,
        key: &str,
        action: &str,
    ) -> Result<ureq::http::Response<ureq::Body>, S3Error> {
        log::debug!(
            "s3: {action} bucket {} key {:?}",
            self.bucket.name(),
            format!("{}{key}", self.root)
        );
        let result = match method {
            Method::Head => self.agent.head(url.as_str()).call(),
            _ => self.agent.get(url.as_str()).call(),
        };
        result.map_err(|e| self.transport(e, key))
    }

    /// The body of a 200 answer to a listing, or the error S3 gave.
    fn read_xml(&self, url: Url, key: &str, action: &'static str) -> Result<String, S3Error> {
        let mut resp = self.send(Method::Get, url, key, action)?;
        if resp.status().as_u16() != 200 {
            let needs = match action {
                "ListMultipartUploads" => "s3:ListBucketMultipartUploads",
                "ListParts" => "s3:ListMultipartUploadParts",
                _ => "s3:ListBucket",
            };
            return Err(self.refusal(resp, key, needs));
        }
        resp.body_mut()
            .with_config()
            .limit(XML_LIMIT)
            .read_to_string()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => {
                    self.xml(action, format!("more than {XML_LIMIT} bytes"))
                }
                e => self.transport(e, key),
            })
    }

    fn xml(&self, what: &'static str, reason: impl fmt::Display) -> S3Error {
        S3Error::Xml {
            bucket: self.bucket.name().into(),
            what,
            reason: reason.to_string(),
        }
    }

    /// A transport error, without ureq's text where it could hold the URL.
    fn transport(&self, e: ureq::Error, key: &str) -> S3Error {
        let bucket = self.bucket.name().to_string();
        let unreachable = |reason: String| S3Error::Unreachable {
            bucket: bucket.clone(),
            endpoint: self.endpoint.clone(),
            reason,
        };
        match e {
            ureq::Error::Timeout(_) => S3Error::Timeout {
                bucket,
                key: key.into(),
                after: self.timeout,
            },
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => S3Error::Timeout {
                bucket,
                key: key.into(),
                after: self.timeout,
            },
            ureq::Error::Io(io) => unreachable(io.to_string()),
            ureq::Error::HostNotFound => unreachable("host not found".into()),
            ureq::Error::ConnectionFailed => unreachable("connection failed".into()),
            ureq::Error::Tls(m) => unreachable(format!("TLS: {m}")),
            ureq::Error::Rustls(r) => unreachable(format!("TLS: {r}")),
            ureq::Error::Protocol(p) => unreachable(format!("not HTTP: {p}")),
            ureq::Error::BadUri(_) | ureq::Error::Http(_) => {
                unreachable("the request URL is invalid".into())
            }
            other => unreachable(kind_only(&other)),
        }
    }

    /// The typed error for a non-2xx answer (consumes its body, at most `XML_LIMIT`).
    fn refusal(
        &self,
        mut resp: ureq::http::Response<ureq::Body>,
        key: &str,
        action: &'static str,
    ) -> S3Error {
        let status = resp.status().as_u16();
        let region_header = resp
            .headers()
            .get("x-amz-bucket-region")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = resp
            .body_mut()
            .with_config()
            .limit(XML_LIMIT)
            .read_to_string()
            .unwrap_or_default();
        let parsed = parse_error(&body);
        classify(
            status,
            &parsed,
            &region_header,
            &Ctx {
                bucket: self.bucket.name(),
                key,
                region: &self.region,
                action,
            },
        )
    }
}

/// A ureq error's variant name only: some variants' texts hold the URL.
fn kind_only(e: &ureq::Error) -> String {
    let text = format!("{e:?}");
    text.split(['(', ' ', '{'])
        .next()
        .unwrap_or("error")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(endpoint: &str, root: &str) -> S3Config {
        S3Config {
            bucket: "registry-bucket".into(),
            region: "eu-west-1".into(),
            regionendpoint: endpoint.into(),
            accesskey: "AKIDEXAMPLE".into(),
            secretkey: "wJalrXUtnFEMI-secret".into(),
            rootdirectory: root.into(),
            timeout: Duration::from_secs(10),
        }
    }

    fn client(endpoint: &str, root: &str) -> S3Client {
        S3Client::new(&cfg(endpoint, root)).unwrap()
    }

    fn query(url: &Url) -> Vec<(String, String)> {
        url.query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    fn param(url: &Url, name: &str) -> Option<String> {
        query(url)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    #[test]
    fn root_prefix_follows_distribution() {
        assert_eq!(root_prefix(""), "");
        assert_eq!(root_prefix("/"), "");
        assert_eq!(root_prefix("//"), "");
        assert_eq!(root_prefix("/registry"), "registry/");
        assert_eq!(root_prefix("registry/"), "registry/");
        assert_eq!(root_prefix("/a/b/"), "a/b/");
    }

    #[test]
    fn aws_is_virtual_host_and_custom_endpoints_path_style() {
        let (url, style) = endpoint(&cfg("", "/")).unwrap();
        assert_eq!(url.as_str(), "https://s3.eu-west-1.amazonaws.com/");
        assert!(matches!(style, UrlStyle::VirtualHost));
        let c = client("", "/");
        assert_eq!(
            c.bucket.base_url().as_str(),
            "https://registry-bucket.s3.eu-west-1.amazonaws.com/"
        );

        let c = client("http://127.0.0.1:9000", "/");
        assert_eq!(
            c.bucket.base_url().as_str(),
            "http://127.0.0.1:9000/registry-bucket/"
        );
        let c = client("minio.example:9000", "/");
        assert_eq!(
            c.bucket.base_url().as_str(),
            "https://minio.example:9000/registry-bucket/"
        );

        let mut dotted = cfg("", "/");
        dotted.bucket = "reg.example.com".into();
        assert!(matches!(endpoint(&dotted).unwrap().1, UrlStyle::Path));
    }

    #[test]
    fn bad_configuration_names_the_key() {
        for region in ["", "eu west", "a/b", "EU"] {
            let mut c = cfg("", "/");
            c.region = region.into();
            assert!(
                matches!(
                    S3Client::new(&c),
                    Err(S3Error::Config { key: "region", .. })
                ),
                "{region:?}"
            );
        }
        for bad in ["ftp://x", "http://", "http://[::1"] {
            let e = S3Client::new(&cfg(bad, "/")).unwrap_err();
            assert!(
                matches!(
                    e,
                    S3Error::Config {
                        key: "regionendpoint",
                        ..
                    }
                ),
                "{bad}: {e}"
            );
        }
        let mut c = cfg("http://127.0.0.1:1", "/");
        c.bucket.clear();
        assert!(matches!(
            S3Client::new(&c),
            Err(S3Error::Config { key: "bucket", .. })
        ));
        let mut c = cfg("http://127.0.0.1:1", "/");
        c.secretkey.clear();
        assert!(matches!(
            S3Client::new(&c),
            Err(S3Error::Config {
                key: "secretkey",
                ..
            })
        ));
        let mut c = cfg("http://127.0.0.1:1", "/");
        c.timeout = Duration::ZERO;
        assert!(matches!(
            S3Client::new(&c),
            Err(S3Error::Config { key: "timeout", .. })
        ));
    }

    #[test]
    fn list_url_prefixes_the_root_and_encodes_prefix_and_token() {
        let c = client("http://127.0.0.1:9000", "/registry/");
        let url = c.list_url("docker/registry/v2/blobs/", None);
        assert_eq!(url.path(), "/registry-bucket/");
        assert_eq!(
            param(&url, "prefix").as_deref(),
            Some("registry/docker/registry/v2/blobs/")
        );
        assert_eq!(param(&url, "max-keys").as_deref(), Some("1000"));
        assert_eq!(param(&url, "list-type").as_deref(), Some("2"));
        assert_eq!(param(&url, "encoding-type").as_deref(), Some("url"));
        assert!(param(&url, "continuation-token").is_none());
        assert!(param(&url, "X-Amz-Signature").is_some());
        assert!(
            !url.as_str().contains("wJalrXUtnFEMI"),
            "the secret is never in a URL"
        );

        let odd = "a b+c/ü&=%?#";
        let token = "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=";
        let url = c.list_url(odd, Some(token));
        // Encoded on the wire (no raw space, '+', '&', '#'), decoded back to the same text.
        let raw = url.query().unwrap();
        assert!(
            raw.contains("prefix=registry%2Fa%20b%2Bc%2F%C3%BC%26%3D%25%3F%23"),
            "{raw}"
        );
        assert!(
            raw.contains("continuation-token=1ueGcxLPRx1Tr%2FXYExHnhbYLgveDs2J%2Fwm36Hy4vbOwM%3D"),
            "{raw}"
        );
        assert_eq!(param(&url, "prefix"), Some(format!("registry/{odd}")));
        assert_eq!(param(&url, "continuation-token").as_deref(), Some(token));
    }

    #[test]
    fn uploads_url_is_signed_with_markers() {
        let c = client("http://127.0.0.1:9000", "/");
        let url = c.uploads_url("docker/registry/v2/repositories/", None);
        assert_eq!(param(&url, "uploads").as_deref(), Some(""));
        assert_eq!(
            param(&url, "prefix").as_deref(),
            Some("docker/registry/v2/repositories/")
        );
        assert_eq!(param(&url, "max-uploads").as_deref(), Some("1000"));
        assert!(param(&url, "key-marker").is_none());
        assert!(param(&url, "X-Amz-Signature").is_some());
        let url = c.uploads_url("p/", Some(("p/k y", "id+1")));
        assert_eq!(param(&url, "key-marker").as_deref(), Some("p/k y"));
        assert_eq!(param(&url, "upload-id-marker").as_deref(), Some("id+1"));
    }

    #[test]
    fn anonymous_without_a_key_pair() {
        let mut c = cfg("http://127.0.0.1:9000", "/");
        c.accesskey.clear();
        c.secretkey.clear();
        let c = S3Client::new(&c).unwrap();
        let url = c.uploads_url("x/", None);
        assert!(param(&url, "X-Amz-Signature").is_none());
        assert_eq!(param(&url, "prefix").as_deref(), Some("x/"));
    }

    #[test]
    fn a_client_is_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<S3Client>();
    }

    #[test]
    fn debug_hides_the_secret() {
        let c = cfg("", "/");
        assert!(!format!("{c:?}").contains("wJalrXUtnFEMI"));
        let cl = client("", "/");
        assert!(!format!("{cl:?}").contains("wJalrXUtnFEMI"));
    }

    #[test]
    fn kind_only_drops_variant_payloads() {
        assert_eq!(
            kind_only(&ureq::Error::BadUri("http://x/?X-Amz-Signature=s".into())),
            "BadUri"
        );
        assert_eq!(
            kind_only(&ureq::Error::TooManyRedirects),
            "TooManyRedirects"
        );
    }
}
