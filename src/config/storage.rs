//! The `[storage]` section: which of the registry's storages the scan reads (see
//! [`crate::storage`]) and its limits. Key names are Docker Distribution's (`storage.s3.*`,
//! `storage.filesystem.rootdirectory`), so an administrator can copy them from the
//! registry's `config.yml`. Checks that need two keys (a driver without its root or bucket)
//! are here; the values alone are checked by the key table.

use std::time::Duration;

use super::{ConfigError, Reader};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageDriver {
    Off,
    Filesystem,
    S3,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Storage {
    pub driver: StorageDriver,
    pub rootdirectory: String,
    pub bucket: String,
    pub region: String,
    pub regionendpoint: String,
    pub accesskey: String,
    /// Never logged.
    pub secretkey: String,
    /// `None`: one scan after every published crawl.
    pub scan_interval: Option<Duration>,
    pub timeout: Duration,
    pub max_manifest_size: u64,
    pub max_warnings: usize,
}

pub(super) fn read(r: &Reader<'_>) -> Result<Storage, ConfigError> {
    let driver = match r.text("storage", "driver")?.as_str() {
        "filesystem" => StorageDriver::Filesystem,
        "s3" => StorageDriver::S3,
        _ => StorageDriver::Off,
    };
    let s = Storage {
        driver,
        rootdirectory: r.text("storage", "rootdirectory")?,
        bucket: r.text("storage", "bucket")?,
        region: r.text("storage", "region")?,
        regionendpoint: r.text("storage", "regionendpoint")?,
        accesskey: r.text("storage", "accesskey")?,
        secretkey: r.raw("storage", "secretkey").trim().to_string(),
        scan_interval: r.get("storage", "scan_interval", |v| {
            if v.trim().eq_ignore_ascii_case("auto") {
                Some(None)
            } else {
                super::parse_duration(v).filter(|d| !d.is_zero()).map(Some)
            }
        })?,
        timeout: r.duration("storage", "timeout")?,
        max_manifest_size: r.get("storage", "max_manifest_size", super::parse_bytes)? as u64,
        max_warnings: r.get("storage", "max_warnings", super::positive)?,
    };
    let missing = |key: &str, expected: &str| Err(r.error("storage", key, "", expected));
    match driver {
        StorageDriver::Filesystem if s.rootdirectory.is_empty() => missing(
            "rootdirectory",
            "with driver = filesystem, the directory holding docker/registry/v2 (the registry's \
             storage.filesystem.rootdirectory, e.g. /var/opt/gitlab/gitlab-rails/shared/registry)",
        ),
        StorageDriver::S3 if s.bucket.is_empty() => missing(
            "bucket",
            "with driver = s3, the registry's storage.s3.bucket",
        ),
        StorageDriver::S3 if s.region.is_empty() => missing(
            "region",
            "with driver = s3, the registry's storage.s3.region (e.g. us-east-1)",
        ),
        _ => Ok(s),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;
    use std::path::Path;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_ini_text(text, Path::new("/etc/x.conf"))
    }

    #[test]
    fn off_by_default_and_distribution_names() {
        let c = load("").unwrap();
        assert_eq!(c.storage.driver, StorageDriver::Off);
        assert_eq!(
            (c.storage.scan_interval, c.storage.max_manifest_size),
            (None, 4 << 20)
        );
        let c = load(
            "[storage]\ndriver = s3\nbucket = reg\nregionendpoint = http://127.0.0.1:9000\n\
             accesskey = a\nsecretkey =  s \nscan_interval = 6 h\nrootdirectory = /gitlab\n",
        )
        .unwrap();
        let s = &c.storage;
        assert_eq!(s.driver, StorageDriver::S3);
        assert_eq!((s.bucket.as_str(), s.region.as_str()), ("reg", "us-east-1"));
        assert_eq!(
            (s.secretkey.as_str(), s.rootdirectory.as_str()),
            ("s", "/gitlab")
        );
        assert_eq!(s.scan_interval, Some(Duration::from_secs(6 * 3600)));
    }

    #[test]
    fn bad_values_name_file_key_and_form() {
        let e = load("[storage]\ndriver = azure\n").unwrap_err().to_string();
        assert!(
            e.starts_with("/etc/x.conf: [storage] driver = \"azure\": expected filesystem, s3"),
            "{e}"
        );
        let e = load("[storage]\ndriver = filesystem\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("[storage] rootdirectory") && e.contains("docker/registry/v2"),
            "{e}"
        );
        let e = load("[storage]\ndriver = s3\n").unwrap_err().to_string();
        assert!(e.contains("[storage] bucket"), "{e}");
        let e = load("[storage]\nscan_interval = 0 s\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("scan_interval"), "{e}");
        let e = load("[storage]\nmax_manifest_size = lots\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_manifest_size"), "{e}");
        // As in Distribution, an endpoint without a scheme is https (the client's rule).
        assert!(load("[storage]\nregionendpoint = minio.example:9000\n").is_ok());
        let e = load("[storage]\nmax_warnings = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_warnings"), "{e}");
    }
}
