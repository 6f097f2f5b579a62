//! `--demo` end to end: the real binary starts the built-in registry, crawls it with the real
//! collector, and the curl commands its banner prints work.

mod support;

use std::time::{Duration, Instant};

use support::service::{self, Service};
fn base64_encode(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

#[test]
fn demo_banner_login_and_whole_tree() {
    let (svc, banner) = Service::start_demo();
    // the banner is printed once the API listens
    let deadline = Instant::now() + Duration::from_secs(10);
    while !banner.lock().unwrap().contains("Stop with Ctrl-C") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = banner.lock().unwrap().clone();
    assert!(
        text.contains("127.0.0.1") && text.contains("loopback"),
        "{text}"
    );
    let login = text
        .lines()
        .find(|l| l.trim_start().starts_with("Login:"))
        .unwrap_or_else(|| panic!("{text}"));
    // "Login:     user demo, password XXXX (valid ...)"
    let user = login
        .split("user ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let password = login
        .split("password ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(
        text.contains(&format!(
            "curl -u {user}:{password} http://{}/auth_token",
            svc.addr
        )),
        "{text}"
    );

    let auth = format!(
        "Basic {}",
        base64_encode(format!("{user}:{password}").as_bytes())
    );
    let r = svc.get("/auth_token", &[("Authorization", &auth)]);
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.json()["auth_token"].as_str().unwrap().to_string();
    let wrong = format!(
        "Basic {}",
        base64_encode(format!("{user}:not-{password}").as_bytes())
    );
    assert_eq!(
        svc.get("/auth_token", &[("Authorization", &wrong)]).status,
        401
    );

    // the first crawl runs in the background: 503 until it is done
    let bearer = format!("Bearer {token}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let tree = loop {
        let r = svc.get("/repositories?embed=true", &[("Authorization", &bearer)]);
        if r.status == 200 {
            break r.json();
        }
        assert_eq!(r.status, 503, "{}", r.text());
        assert!(
            Instant::now() < deadline,
            "no crawl within 60 s:\n{}",
            svc.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let items = tree["_embedded"]["items"].as_array().unwrap();
    assert!(items.len() > 20, "{}", items.len());
    let total: u64 = items.iter().filter_map(|r| r["disk_size"].as_u64()).sum();
    assert!(total > 0);
    let alpine = svc.get(
        "/repositories/platform%2Fbase%2Falpine?embed=true&links=true",
        &[("Authorization", &bearer)],
    );
    assert_eq!(alpine.status, 200, "{}", alpine.text());
    // The built-in registry plays GitLab's project API: repositories have projects and the
    // banner's /policies answers.
    assert_eq!(
        alpine.json()["project"]["path"],
        "platform/base",
        "{}",
        alpine.text()
    );
    let policies = svc.get(
        "/policies?sort=freed_bytes_if_enabled&order=desc&limit=5",
        &[("Authorization", &bearer)],
    );
    assert_eq!(policies.status, 200, "{}", policies.text());
    assert!(
        policies.json()["_embedded"]["items"]
            .as_array()
            .unwrap()
            .len()
            == 5
    );
}

#[test]
fn a_taken_demo_port_names_the_option_to_change() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = std::process::Command::new(service::BIN)
        .args(["--demo", "--port", &port])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--port"), "{err}");
    assert!(!err.contains("socket_port"), "{err}");
}
