//! The collector against Debian's `docker-registry` serving https with a certificate from a
//! private CA made for the test: refused (with a message naming the fix) until that CA is
//! trusted, through the system's store or `[registry] ca_file`. The system store is pointed at
//! with `SSL_CERT_FILE` (read by rustls-native-certs), which is set for this whole test
//! process: this file holds this one test.

mod registry_support;

use gitlab_registry_usage_rest::registry::{crawl_once, CrawlError};

use registry_support::real::{RealOptions, RealRegistry, CRAWL_TOKEN, CRAWL_USER};
use registry_support::*;

#[test]
fn a_registry_behind_a_private_ca() {
    capture_logs();
    let Some(mut reg) = RealRegistry::start_with(RealOptions {
        tls: true,
        token_auth: false,
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
        other => panic!("expected an untrusted certificate, got {:?}", other.map(|o| o.stats)),
    }

    // The CA in the system's store (as update-ca-certificates would put it).
    std::env::set_var("SSL_CERT_FILE", reg.ca_file());
    let out = crawl_once(&cfg, None, test_options()).unwrap();
    assert!(out.failed.is_empty(), "{:?}", out.failed);
    assert_same(&out.snapshot, &truth.snapshot());
    std::env::remove_var("SSL_CERT_FILE");
}
