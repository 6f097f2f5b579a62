//! `/auth_token` end to end: the real binary logging users in against a real slapd, with the
//! guards around it (rate limit, concurrent-login gate, a hung directory) over HTTP.

mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use gitlab_registry_usage_rest::auth::jwt::Tokens;
use support::service::{self, Options, Service};
use support::slapd;
fn base64_encode(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn basic(user: &str, pw: &str) -> String {
    format!("Basic {}", base64_encode(format!("{user}:{pw}").as_bytes()))
}

fn ldaps_options(s: &slapd::Slapd, extra: &str) -> Options {
    Options {
        general: "debug = true\n".into(),
        ldap: format!(
            "host = {}\nbase_dn = {}\nvalid_gid = {}\nca_file = {}\ntimeout = 2 s\n{extra}",
            s.ldaps_url(),
            slapd::PEOPLE,
            slapd::VALID_GID,
            s.ca_file().display()
        ),
        state: Some(service::state_bytes(Default::default())),
        ..Options::default()
    }
}

fn sub_of(token: &str) -> String {
    Tokens::new(service::SECRET.as_bytes(), Duration::from_secs(1))
        .verify(token, service::now())
        .unwrap()
        .sub
}

#[test]
fn login_issues_a_token_for_the_directory_name_and_refusals_look_alike() {
    let Some(s) = slapd::shared() else { return };
    let svc = Service::start(ldaps_options(s, "max_failures_per_minute = 0\n"));
    let r = svc.get(
        "/auth_token",
        &[("Authorization", &basic("ALICE", slapd::ALICE_PW))],
    );
    assert_eq!(r.status, 200, "{}\n{}", r.text(), svc.log_text());
    let token = r.json()["auth_token"].as_str().unwrap().to_string();
    assert_eq!(sub_of(&token), "alice", "sub is the directory's spelling");
    let api = svc.get(
        "/repositories",
        &[("Authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(api.status, 200);

    let carol = svc.get(
        "/auth_token",
        &[("Authorization", &basic("carol", slapd::CAROL_PW))],
    );
    assert_eq!(carol.status, 200, "spaces and non-ASCII in the password");

    let mut bodies = Vec::new();
    for (user, pw) in [
        ("alice", "wrong"),
        ("bob", slapd::BOB_PW),
        ("nobody", "x"),
        ("*", slapd::ALICE_PW),
        ("alice)(uid=*", slapd::ALICE_PW),
        ("a*", slapd::ALICE_PW),
        ("alice", ""),
    ] {
        let r = svc.get("/auth_token", &[("Authorization", &basic(user, pw))]);
        assert_eq!(r.status, 401, "{user:?}");
        assert_eq!(
            r.header("WWW-Authenticate"),
            Some("Basic realm=\"Authentication Required\"")
        );
        bodies.push(r.text());
    }
    bodies.dedup();
    assert_eq!(
        bodies.len(),
        1,
        "every refusal has the same body: {bodies:?}"
    );
    let long = "a".repeat(300);
    assert_eq!(
        svc.get("/auth_token", &[("Authorization", &basic(&long, "x"))])
            .status,
        401
    );
    assert_eq!(
        svc.get("/auth_token", &[("Authorization", "Basic %%%")])
            .status,
        401
    );
    let log = svc.log_text();
    assert!(log.contains("failed login for user \"bob\""), "{log}");
    for pw in [slapd::ALICE_PW, slapd::CAROL_PW.trim(), slapd::BOB_PW] {
        assert!(!log.contains(pw), "a password reached the log");
    }
    assert!(!log.contains(&token), "a token reached the log");
}

#[test]
fn failed_logins_are_rate_limited_per_address() {
    let Some(s) = slapd::shared() else { return };
    let svc = Service::start(ldaps_options(s, "max_failures_per_minute = 3\n"));
    for _ in 0..3 {
        assert_eq!(
            svc.get("/auth_token", &[("Authorization", &basic("alice", "bad"))])
                .status,
            401
        );
    }
    let r = svc.get(
        "/auth_token",
        &[("Authorization", &basic("alice", slapd::ALICE_PW))],
    );
    assert_eq!(r.status, 429);
    let wait: u64 = r.header("Retry-After").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait));
    assert!(r.json()["msg"].is_string());
    assert!(svc
        .log_text()
        .contains("too many failed logins from 127.0.0.1"));
}

#[test]
fn a_hung_directory_costs_one_login_slot_for_one_timeout_and_nothing_else() {
    // Accepts TCP connections and never says a word.
    let hung = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hung.local_addr().unwrap().port();
    let _keep = std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in hung.incoming().take(8) {
            held.push(c);
        }
    });
    let svc = Service::start(Options {
        ldap: format!("host = ldap://127.0.0.1:{port}\nallow_insecure = true\ntimeout = 2 s\nmax_concurrent = 1\n"),
        state: Some(service::state_bytes(Default::default())),
        ..Options::default()
    });
    let addr = svc.addr.clone();
    let started = Instant::now();
    let slow = std::thread::spawn(move || {
        service::request(
            &addr,
            "GET",
            "/auth_token",
            &[("Authorization", &basic("alice", "pw"))],
        )
    });
    std::thread::sleep(Duration::from_millis(300));
    // the one login slot is taken: the next login is turned away at once
    let busy = svc.get("/auth_token", &[("Authorization", &basic("bob", "pw"))]);
    assert_eq!(busy.status, 503);
    assert!(busy.header("Retry-After").is_some());
    // and the API keeps answering meanwhile
    assert_eq!(svc.get_auth("/repositories").status, 200);
    let r = slow.join().unwrap();
    let took = started.elapsed();
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.json()["msg"]
        .as_str()
        .unwrap()
        .contains("could not be checked"));
    assert!(took < Duration::from_secs(8), "took {took:?}");
    // the slot is free again
    let again = svc.get("/auth_token", &[("Authorization", &basic("bob", "pw"))]);
    assert_eq!(again.status, 503);
    assert!(again.json()["msg"]
        .as_str()
        .unwrap()
        .contains("could not be checked"));
}

#[test]
fn ldap_settings_that_cannot_work_stop_the_service_at_start() {
    let dir = support::TempDir::new("ldapcfg");
    let conf = dir.path().join("bad.conf");
    std::fs::write(
        &conf,
        format!("[ldap]\nhost = ldap://127.0.0.1:389\n[jwt]\nsecret_key = {}\n[registry]\nregistry_base_url =\nstate_file =\n", service::SECRET),
    )
    .unwrap();
    let out = std::process::Command::new(service::BIN)
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    // settings that cannot work are a configuration error (EX_CONFIG)
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("starttls") && err.contains("allow_insecure"),
        "{err}"
    );
}

/// The 503 of `/auth_token` says only that the login could not be checked: the directory's
/// URL, base DN, service account and user DNs are for the operator's log, not for anyone on
/// the network.
#[test]
fn an_unavailable_directory_tells_the_client_nothing_about_it() {
    let assert_hidden = |svc: &Service, secrets: &[&str]| {
        let r = svc.get("/auth_token", &[("Authorization", &basic("alice", "pw"))]);
        assert_eq!(r.status, 503, "{}", r.text());
        assert_eq!(r.header("Retry-After"), Some("30"));
        let body = r.text();
        assert_eq!(
            r.json(),
            serde_json::json!({"msg": "The login could not be checked; try again later"}),
            "{body}"
        );
        // the details are in the log, for the operator
        let log = svc.log_text();
        for s in secrets {
            assert!(!body.contains(s), "{s:?} in the body: {body}");
            assert!(log.contains(s), "{s:?} missing from the log:\n{log}");
        }
    };
    // Nothing listens: the URL stays in the log.
    let down = Service::start(Options {
        state: Some(service::state_bytes(Default::default())),
        ..Options::default()
    });
    assert_hidden(&down, &["ldap://127.0.0.1:1"]);

    let Some(s) = slapd::shared() else { return };
    // A refused service account: URL and bind DN stay in the log.
    let svc = Service::start(ldaps_options(
        s,
        &format!("bind_dn = {}\nbind_password = wrong\n", slapd::SVC_DN),
    ));
    assert_hidden(&svc, &[&s.ldaps_url(), slapd::SVC_DN]);
    // A base DN that does not exist: it stays in the log.
    let mut opts = ldaps_options(s, "");
    opts.ldap = opts
        .ldap
        .replace(slapd::PEOPLE, "ou=nowhere,dc=example,dc=com");
    let svc = Service::start(opts);
    assert_hidden(&svc, &["ou=nowhere,dc=example,dc=com"]);
}

/// Malformed credentials count as failures of the client that sends them (no directory
/// lookup), so the walk through X-Forwarded-For decides whom they lock out: behind a trusted
/// proxy, only that client; header lines are combined, `ip:port` entries parse, IPv6 clients
/// count per /64, and an IPv4-mapped peer matches an IPv4 `trusted_proxies` entry.
#[test]
fn the_failure_limit_follows_the_client_through_trusted_proxies() {
    let dir = support::TempDir::new("xff");
    let config = dir.path().join("test.conf");
    // Listening on the IPv4-mapped loopback address makes every peer ::ffff:127.0.0.1.
    std::fs::write(
        &config,
        format!(
            "[general]\nsocket_host = ::ffff:127.0.0.1\nsocket_port = 0\nworkers = 2\n\
             trusted_proxies = 127.0.0.1, 10.0.0.0/8\n\
             [ldap]\nhost = ldap://127.0.0.1:1\nallow_insecure = true\ntimeout = 1 s\n\
             max_failures_per_minute = 2\n\
             [jwt]\nsecret_key = {}\n[registry]\nregistry_base_url =\nstate_file =\n",
            service::SECRET
        ),
    )
    .unwrap();
    let svc = Service::start_with_args(dir, config, &[]);
    let login = |xff: &[&str]| {
        let mut h: Vec<(&str, &str)> = xff.iter().map(|v| ("X-Forwarded-For", *v)).collect();
        h.push(("Authorization", "Basic %%%"));
        svc.get("/auth_token", &h).status
    };
    // A client that forges its own first line; the outer proxy appends a line with a port,
    // the inner one (10.1.2.3, trusted) adds the outer proxy.
    assert_eq!(login(&["1.1.1.1", "198.51.100.7:5555, 10.1.2.3"]), 401);
    assert_eq!(login(&["2.2.2.2", "198.51.100.7, 10.1.2.3"]), 401);
    assert_eq!(
        login(&["3.3.3.3, 198.51.100.7"]),
        429,
        "the same client, whatever it forges"
    );
    assert_eq!(
        login(&["198.51.100.8"]),
        401,
        "another client is not affected"
    );
    // IPv6: one bucket per /64, with or without brackets and port.
    assert_eq!(login(&["2001:db8::1"]), 401);
    assert_eq!(login(&["[2001:db8::2]:443"]), 401);
    assert_eq!(login(&["2001:db8::ffff:1"]), 429);
    assert_eq!(login(&["2001:db8:0:1::1"]), 401, "another /64");
    let log = svc.log_text();
    assert!(
        log.contains("too many failed logins from 198.51.100.7"),
        "{log}"
    );
    assert!(
        log.contains("too many failed logins from 2001:db8::/64"),
        "{log}"
    );
}

/// Failed logins of one user name from many clients: beyond `max_failures_per_user` in a
/// minute, that name gets 429 with Retry-After, whoever asks; other names are not affected.
#[test]
fn failed_logins_are_limited_per_user_name_across_clients() {
    let Some(s) = slapd::shared() else { return };
    let mut opts = ldaps_options(
        s,
        "max_failures_per_minute = 100\nmax_failures_per_user = 3\n",
    );
    opts.general.push_str("trusted_proxies = 127.0.0.1\n");
    let svc = Service::start(opts);
    let attempt = |user: &str, pw: &str, client: &str| {
        svc.get(
            "/auth_token",
            &[
                ("Authorization", &basic(user, pw)),
                ("X-Forwarded-For", client),
            ],
        )
    };
    for (i, client) in ["10.0.0.1", "10.0.0.2", "10.0.0.3"].iter().enumerate() {
        let r = attempt("no-such-user", "guess", client);
        assert_eq!(r.status, 401, "attempt {i}: {}", r.text());
    }
    let r = attempt("no-such-user", "guess", "10.0.0.4");
    assert_eq!(r.status, 429, "{}\n{}", r.text(), svc.log_text());
    let wait: u64 = r.header("Retry-After").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // another name from the same clients is judged as usual
    assert_eq!(attempt("alice", slapd::ALICE_PW, "10.0.0.4").status, 200);
}

/// `[jwt] not_before`: tokens issued earlier are refused (a global log-out); later ones work.
#[test]
fn tokens_issued_before_not_before_are_refused() {
    let now = service::now();
    let cut = gitlab_registry_usage_rest::snapshot::time::format_rfc3339(now as i64 - 60);
    let svc = Service::start(Options {
        jwt: format!("not_before = {cut}\n"),
        state: Some(service::state_bytes(Default::default())),
        ..Options::default()
    });
    let tokens = Tokens::new(service::SECRET.as_bytes(), Duration::from_secs(7200));
    let old = tokens.issue("alice", now - 3600).unwrap();
    let r = svc.get(
        "/repositories",
        &[("Authorization", &format!("Bearer {old}"))],
    );
    assert!(
        r.status == 401 || r.status == 422,
        "a token from before not_before: {} {}",
        r.status,
        r.text()
    );
    let fresh = tokens.issue("alice", now).unwrap();
    let r = svc.get(
        "/repositories",
        &[("Authorization", &format!("Bearer {fresh}"))],
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

/// `[ldap] recheck_interval`: a user taken out of `valid_gid` loses access with the token
/// they already hold within that time, and gets it back when put back in.
#[test]
fn a_user_removed_from_the_group_loses_access_within_recheck_interval() {
    let Some(s) = slapd::start() else { return };
    let svc = Service::start(ldaps_options(&s, "recheck_interval = 1 s\n"));
    let r = svc.get(
        "/auth_token",
        &[("Authorization", &basic("alice", slapd::ALICE_PW))],
    );
    assert_eq!(r.status, 200, "{}\n{}", r.text(), svc.log_text());
    let bearer = format!("Bearer {}", r.json()["auth_token"].as_str().unwrap());
    let api = || svc.get("/repositories", &[("Authorization", &bearer)]);
    assert_eq!(api().status, 200);
    {
        let _moved = s.set_gid("alice", "20000", slapd::VALID_GID);
        std::thread::sleep(Duration::from_millis(1500));
        let r = api();
        assert_eq!(
            r.status,
            401,
            "still allowed after leaving the group: {}",
            r.text()
        );
        assert!(r.text().contains("log in again"), "{}", r.text());
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(api().status, 200, "{}", svc.log_text());
}
