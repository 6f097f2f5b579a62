//! The collector against Debian's `docker-registry` serving https with a certificate from a
//! private CA made for the test: refused (with a message naming the fix) until that CA is
//! trusted, through the system's store or `[registry] ca_file`. The system store is pointed at
//! with `SSL_CERT_FILE` (read by rustls-native-certs), which is set for this whole test
//! process: this file holds this one test.

mod support;

use gitlab_registry_usage_rest::registry::{crawl_once, CrawlError};

use support::collector::*;
use support::logs::capture_logs;
use support::real_registry::{RealOptions, RealRegistry, CRAWL_TOKEN, CRAWL_USER};
use support::TempDir;

#[test]
fn a_registry_behind_a_private_ca() {
    capture_logs();
    let Some(mut reg) = RealRegistry::start_with(RealOptions {
        tls: true,
        token_auth: false,
        ..RealOptions::default()
    }) else {
        return;
    };
    assert!(reg.url.starts_with("https://"), "{}", reg.url);
    let mut truth = Truth::default();
    push_standard(&mut reg, &mut truth, 2);
    let cfg = reg.config(CRAWL_USER, CRAWL_TOKEN);

    // Not trusted: the catalog fails, and the message says what to do.
    std::env::remove_var("SSL_CERT_FILE");
    match crawl_once(&cfg, None, test_options()) {
        Err(CrawlError::Catalog(e)) => {
            assert!(e.contains("not trusted") && e.contains("ca_file"), "{e}")
        }
        other => panic!(
            "expected an untrusted certificate, got {:?}",
            other.map(|o| o.stats)
        ),
    }

    // The CA in the system's store (as update-ca-certificates would put it).
    std::env::set_var("SSL_CERT_FILE", reg.ca_file());
    let out = crawl_once(&cfg, None, test_options()).unwrap();
    assert!(out.failed.is_empty(), "{:?}", out.failed);
    assert_same(&out.snapshot, &truth.snapshot());
    std::env::remove_var("SSL_CERT_FILE");

    // [registry] ca_file: added to the system roots.
    let mut with_ca = cfg.clone();
    with_ca.ca_file = Some(reg.ca_file());
    let out = crawl_once(&with_ca, None, test_options()).unwrap();
    assert_same(&out.snapshot, &truth.snapshot());
    // Another CA does not help.
    with_ca.ca_file = Some(reg.other_ca_file());
    assert!(matches!(
        crawl_once(&with_ca, None, test_options()),
        Err(CrawlError::Catalog(e)) if e.contains("not trusted")
    ));
    // A file that is not there, or holds no certificate, stops before any request.
    let dir = TempDir::new("ca-files");
    for (name, content) in [("missing.pem", None), ("empty.pem", Some("no pem here\n"))] {
        let path = dir.0.join(name);
        if let Some(c) = content {
            std::fs::write(&path, c).unwrap();
        }
        with_ca.ca_file = Some(path.clone());
        match crawl_once(&with_ca, None, test_options()) {
            Err(CrawlError::Setup(e)) => assert!(e.contains("[registry] ca_file"), "{e}"),
            other => panic!(
                "{name}: expected a set-up error, got {:?}",
                other.map(|o| o.stats)
            ),
        }
        // --check-config says so too.
        let conf = dir.0.join("test.conf");
        std::fs::write(
            &conf,
            format!(
                "[jwt]\nsecret_key = test-secret-0123456789abcdef-0123456789\n\
                 [registry]\nca_file = {}\n",
                path.display()
            ),
        )
        .unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gitlab-registry-usage-rest"))
            .arg("--check-config")
            .arg("-c")
            .arg(&conf)
            .output()
            .unwrap();
        // The doctor's report goes to stdout.
        let err = String::from_utf8_lossy(&out.stdout);
        assert!(
            !out.status.success() && err.contains("[registry] ca_file"),
            "{err}"
        );
    }

    // An https registry whose token endpoint is plain http: the credentials are not sent,
    // even to gitlab_base_url's origin or a listed realm.
    let Some(mut reg) = RealRegistry::start_with(RealOptions {
        tls: true,
        token_auth: true,
        ..RealOptions::default()
    }) else {
        return;
    };
    push_standard(&mut reg, &mut Truth::default(), 0);
    let mut cfg = reg.config(CRAWL_USER, CRAWL_TOKEN);
    cfg.ca_file = Some(reg.ca_file());
    cfg.trusted_realms = vec![reg.realm.clone()];
    match crawl_once(&cfg, None, test_options()) {
        Err(CrawlError::Token(e)) => assert!(e.to_string().contains("plain http"), "{e}"),
        other => panic!(
            "expected a refused http realm, got {:?}",
            other.map(|o| o.stats)
        ),
    }
    let crawler_asked = reg
        .log
        .crawl_requests
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(crawler_asked, 0, "the access token went over plain http");
    assert_eq!(reg.log.refused.load(std::sync::atomic::Ordering::SeqCst), 0);
}
