//! The service process and its collector thread: a collector that dies ends the process with
//! a failure status (so that systemd restarts it) instead of leaving it to serve ever older
//! data. Uses the debug builds' panic hook (`GITLAB_REGISTRY_USAGE_REST_TEST_PANIC`), so this
//! file holds this one test: the variable is set for the whole test process.

mod support;

use std::time::{Duration, Instant};

use support::collector::{push_standard, Truth};
use support::fake_registry::{FakeOptions, FakeRegistry};
use support::service::{Options, Service};

#[test]
fn a_dead_collector_ends_the_process_with_status_70() {
    if !cfg!(debug_assertions) {
        eprintln!("SKIPPED: the panic hook exists in debug builds only");
        return;
    }
    std::env::set_var("GITLAB_REGISTRY_USAGE_REST_TEST_PANIC", "collector");
    let mut reg = FakeRegistry::start(FakeOptions::default());
    push_standard(&mut reg, &mut Truth::default(), 0);
    let (user, pass) = reg.opts.auth.clone().unwrap();
    let mut svc = Service::start(Options {
        registry: format!(
            "registry_base_url = {url}\ngitlab_base_url = {url}\nusername = {user}\n\
             access_token = {pass}\nupdate_interval = 1 hour\n",
            url = reg.url
        ),
        ..Options::default()
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(st) = svc.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "the service still runs 15 s after its collector died; log:\n{}",
            svc.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // Let the log reader take the last lines.
    std::thread::sleep(Duration::from_millis(200));
    let log = svc.log_text();
    assert_eq!(status.code(), Some(70), "{log}");
    assert!(
        log.contains("collector") && log.contains("restart"),
        "no line saying why: {log}"
    );
}
