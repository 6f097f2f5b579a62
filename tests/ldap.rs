//! The LDAP authenticator against a real `slapd` (see `support/slapd.rs`), on every transport,
//! with the failures a directory can produce: wrong credentials, injection attempts, a server
//! that hangs, one that is down, an untrusted certificate, and bad settings.

mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use gitlab_registry_usage_rest::auth::ldap::LdapAuthenticator;
use gitlab_registry_usage_rest::auth::{Authenticator, LoginError};
use gitlab_registry_usage_rest::config;
use support::logs::{capture_all_logs, logged};
use support::slapd::{self, Slapd};

const TIMEOUT: Duration = Duration::from_secs(1);

/// The shared server, with the capturing logger installed; `None` when slapd is not installed
/// outside CI (the harness has printed why).
fn server() -> Option<&'static Slapd> {
    capture_all_logs();
    slapd::shared()
}

/// Settings as an operator would write them for `url` (ldaps:// and StartTLS trust the test CA).
fn settings(s: &Slapd, url: &str) -> config::Ldap {
    config::Ldap {
        host: url.to_string(),
        base_dn: slapd::PEOPLE.into(),
        valid_gid: slapd::VALID_GID.into(),
        username_attribute: "uid".into(),
        gid_attribute: "gidNumber".into(),
        bind_dn: String::new(),
        bind_password: String::new(),
        ca_file: Some(s.ca_file()),
        starttls: false,
        allow_insecure: false,
        timeout: TIMEOUT,
        max_concurrent: 4,
        max_failures_per_minute: 10,
        max_tracked_clients: 100,
        max_failures_per_user: 30,
        recheck_interval: std::time::Duration::from_secs(900),
        recheck_grace: std::time::Duration::from_secs(3600),
    }
}

fn ldaps(s: &Slapd) -> config::Ldap {
    settings(s, &s.ldaps_url())
}

fn starttls(s: &Slapd) -> config::Ldap {
    config::Ldap {
        starttls: true,
        ..settings(s, &s.ldap_url())
    }
}

fn plain(s: &Slapd) -> config::Ldap {
    config::Ldap {
        allow_insecure: true,
        ca_file: None,
        ..settings(s, &s.ldap_url())
    }
}

fn authenticator(cfg: &config::Ldap) -> LdapAuthenticator {
    LdapAuthenticator::new(cfg).unwrap()
}

fn login(cfg: &config::Ldap, user: &str, password: &str) -> Result<String, LoginError> {
    authenticator(cfg).authenticate(user, password)
}

fn unavailable(r: Result<String, LoginError>) -> String {
    match r {
        Err(LoginError::Unavailable(why)) => why,
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

fn setup_error(cfg: &config::Ldap) -> String {
    LdapAuthenticator::new(cfg).unwrap_err().to_string()
}

#[test]
fn success_on_every_transport() {
    let Some(s) = server() else { return };
    for cfg in [plain(s), starttls(s), ldaps(s)] {
        assert_eq!(
            login(&cfg, "alice", slapd::ALICE_PW),
            Ok("alice".to_string()),
            "{}",
            cfg.host
        );
    }
}

#[test]
fn bare_host_means_ldaps() {
    let Some(s) = server() else { return };
    // Nothing listens on 127.0.0.1:636 here; the point is that the attempt goes out as TLS
    // to the ldaps port, never as plain LDAP.
    let cfg = config::Ldap {
        host: "127.0.0.1".into(),
        ..ldaps(s)
    };
    let why = unavailable(login(&cfg, "alice", slapd::ALICE_PW));
    assert!(why.contains("ldaps://127.0.0.1"), "{why}");
}

#[test]
fn wrong_password_group_and_user_are_all_rejected() {
    let Some(s) = server() else { return };
    for cfg in [plain(s), ldaps(s)] {
        let a = authenticator(&cfg);
        assert_eq!(a.authenticate("alice", "wrong"), Err(LoginError::Rejected));
        assert_eq!(
            a.authenticate("alice", slapd::BOB_PW),
            Err(LoginError::Rejected)
        );
        // bob is outside the valid group, with his own correct password.
        assert_eq!(
            a.authenticate("bob", slapd::BOB_PW),
            Err(LoginError::Rejected)
        );
        assert_eq!(
            a.authenticate("mallory", slapd::ALICE_PW),
            Err(LoginError::Rejected)
        );
        // dave exists, but not under base_dn.
        assert_eq!(
            a.authenticate("dave", slapd::DAVE_PW),
            Err(LoginError::Rejected)
        );
    }
}

#[test]
fn empty_gid_attribute_drops_the_group_check() {
    let Some(s) = server() else { return };
    let cfg = config::Ldap {
        gid_attribute: String::new(),
        valid_gid: String::new(),
        ..plain(s)
    };
    assert_eq!(login(&cfg, "bob", slapd::BOB_PW), Ok("bob".to_string()));
    assert_eq!(login(&cfg, "bob", "wrong"), Err(LoginError::Rejected));
}

#[test]
fn filter_injection_does_not_log_in() {
    let Some(s) = server() else { return };
    let a = authenticator(&plain(s));
    for user in [
        "*",
        "a*",
        "alice*",
        "*lice",
        "alice)(uid=*",
        "alice)(|(uid=*",
        "*)(uid=*))(|(uid=*",
        "alice)(gidNumber=*",
        r"alice\",
        r"\2a",
        "alice\0",
    ] {
        assert_eq!(
            a.authenticate(user, slapd::ALICE_PW),
            Err(LoginError::Rejected),
            "{user:?}"
        );
    }
}

#[test]
fn token_subject_is_the_directory_name() {
    let Some(s) = server() else { return };
    let a = authenticator(&ldaps(s));
    // uid matches case-insensitively (caseIgnoreMatch) and ignores surplus spaces.
    assert_eq!(
        a.authenticate("ALICE", slapd::ALICE_PW),
        Ok("alice".to_string())
    );
    assert_eq!(
        a.authenticate(" alice ", slapd::ALICE_PW),
        Ok("alice".to_string())
    );
    // Multi-valued uid: the value the user typed (ignoring case), else the first.
    assert_eq!(
        a.authenticate("E.Mueller", slapd::ERIN_PW),
        Ok("e.mueller".to_string())
    );
    assert_eq!(
        a.authenticate("ERIN", slapd::ERIN_PW),
        Ok("erin".to_string())
    );
}

#[test]
fn ambiguous_user_name_is_rejected() {
    let Some(s) = server() else { return };
    let a = authenticator(&plain(s));
    assert_eq!(
        a.authenticate("twin", slapd::TWIN_PW),
        Err(LoginError::Rejected)
    );
    assert_eq!(
        a.authenticate("twin1", slapd::TWIN_PW),
        Ok("twin1".to_string())
    );
    let logs = logged();
    assert!(
        logs.iter()
            .any(|l| l.starts_with("WARN") && l.contains("more than one entry")),
        "{logs:?}"
    );
}

#[test]
fn password_with_spaces_and_non_ascii() {
    let Some(s) = server() else { return };
    let a = authenticator(&starttls(s));
    assert_eq!(
        a.authenticate("carol", slapd::CAROL_PW),
        Ok("carol".to_string())
    );
    assert_eq!(
        a.authenticate("carol", slapd::CAROL_PW.trim()),
        Err(LoginError::Rejected)
    );
}

#[test]
fn empty_password_is_refused_without_asking() {
    let Some(s) = server() else { return };
    assert_eq!(login(&plain(s), "alice", ""), Err(LoginError::Rejected));
    // Against a port nobody listens on: Rejected (not Unavailable) proves no connection was tried.
    let cfg = config::Ldap {
        host: format!("ldap://127.0.0.1:{}", support::free_port()),
        ..plain(s)
    };
    assert_eq!(login(&cfg, "alice", ""), Err(LoginError::Rejected));
    assert_eq!(login(&cfg, "", "pw"), Err(LoginError::Rejected));
}

#[test]
fn bind_dn_search_mode() {
    let Some(s) = server() else { return };
    let anonymous = config::Ldap {
        base_dn: slapd::STAFF.into(),
        ..ldaps(s)
    };
    let service = config::Ldap {
        bind_dn: slapd::SVC_DN.into(),
        bind_password: slapd::SVC_PW.into(),
        ..anonymous.clone()
    };
    // The staff subtree is invisible to anonymous search, and the log says what to set.
    let why = unavailable(login(&anonymous, "dave", slapd::DAVE_PW));
    assert!(why.contains("bind_dn"), "{why}");

    assert_eq!(
        login(&service, "dave", slapd::DAVE_PW),
        Ok("dave".to_string())
    );
    assert_eq!(login(&service, "dave", "wrong"), Err(LoginError::Rejected));
    assert_eq!(
        login(&service, "nobody", slapd::DAVE_PW),
        Err(LoginError::Rejected)
    );

    // A wrong service password is a configuration problem, not the user's.
    let broken = config::Ldap {
        bind_password: "wrong".into(),
        ..service.clone()
    };
    let why = unavailable(login(&broken, "dave", slapd::DAVE_PW));
    assert!(
        why.contains("bind_dn") && why.contains("invalidCredentials"),
        "{why}"
    );
}

#[test]
fn missing_base_dn_is_unavailable() {
    let Some(s) = server() else { return };
    let cfg = config::Ldap {
        base_dn: "ou=nowhere,dc=example,dc=com".into(),
        ..plain(s)
    };
    let why = unavailable(login(&cfg, "alice", slapd::ALICE_PW));
    assert!(why.contains("base_dn"), "{why}");
}

/// Accepts TCP connections and never answers; holds them for `hold`.
fn silent_server(hold: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let deadline = Instant::now() + hold;
        let mut held = Vec::new();
        while Instant::now() < deadline {
            match listener.accept() {
                Ok((conn, _)) => held.push(conn),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    port
}

#[test]
fn hung_server_times_out() {
    let Some(s) = server() else { return };
    let port = silent_server(Duration::from_secs(20));
    let url = format!("ldap://127.0.0.1:{port}");
    let cases = [
        // connected at once, then the search never gets an answer
        config::Ldap {
            host: url.clone(),
            ..plain(s)
        },
        // the StartTLS request never gets an answer
        config::Ldap {
            host: url,
            ..starttls(s)
        },
        // the TLS handshake never gets an answer
        config::Ldap {
            host: format!("ldaps://127.0.0.1:{port}"),
            ..ldaps(s)
        },
        // the service-account bind never gets an answer
        config::Ldap {
            host: format!("ldaps://127.0.0.1:{port}"),
            bind_dn: slapd::SVC_DN.into(),
            bind_password: slapd::SVC_PW.into(),
            ..ldaps(s)
        },
    ];
    let handles: Vec<_> = cases
        .into_iter()
        .map(|cfg| {
            std::thread::spawn(move || {
                let started = Instant::now();
                let r = login(&cfg, "alice", slapd::ALICE_PW);
                (cfg.host, started.elapsed(), r)
            })
        })
        .collect();
    for h in handles {
        let (host, took, r) = h.join().unwrap();
        let why = unavailable(r);
        assert!(why.contains("did not answer within"), "{host}: {why}");
        // About one timeout; the margin is for a loaded machine, not for a second timeout.
        assert!(
            took >= TIMEOUT && took < TIMEOUT * 2 + Duration::from_millis(500),
            "{host}: took {took:?}"
        );
    }
}

#[test]
fn server_down_is_unavailable() {
    let Some(s) = server() else { return };
    let port = support::free_port();
    for cfg in [
        config::Ldap {
            host: format!("ldap://127.0.0.1:{port}"),
            ..plain(s)
        },
        config::Ldap {
            host: format!("ldaps://127.0.0.1:{port}"),
            ..ldaps(s)
        },
    ] {
        let why = unavailable(login(&cfg, "alice", slapd::ALICE_PW));
        assert!(why.contains("onnect"), "{why}");
    }
}

#[test]
fn untrusted_certificate_is_unavailable() {
    let Some(s) = server() else { return };
    let wrong_ca = [
        config::Ldap {
            ca_file: Some(s.other_ca_file()),
            ..ldaps(s)
        },
        config::Ldap {
            ca_file: Some(s.other_ca_file()),
            ..starttls(s)
        },
        // the system roots do not know the test CA either
        config::Ldap {
            ca_file: None,
            ..ldaps(s)
        },
    ];
    for cfg in wrong_ca {
        let Ok(a) = LdapAuthenticator::new(&cfg) else {
            // a machine without any system roots refuses to start instead, which is also safe
            assert!(cfg.ca_file.is_none());
            continue;
        };
        let why = unavailable(a.authenticate("alice", slapd::ALICE_PW));
        assert!(
            why.contains("not trusted") && why.contains("ca_file"),
            "{why}"
        );
    }
}

#[test]
fn settings_are_checked_at_start_up() {
    let Some(s) = server() else { return };
    let e = setup_error(&config::Ldap {
        allow_insecure: false,
        ..plain(s)
    });
    assert!(
        e.contains("starttls") && e.contains("allow_insecure"),
        "{e}"
    );
    let e = setup_error(&config::Ldap {
        starttls: true,
        ..ldaps(s)
    });
    assert!(e.contains("starttls"), "{e}");
    let e = setup_error(&config::Ldap {
        ca_file: Some(s.dir.join("no-such-ca.pem")),
        ..ldaps(s)
    });
    assert!(e.contains("ca_file") && e.contains("no-such-ca.pem"), "{e}");
    let garbage = slapd::write_file(&s.dir, "garbage.pem", b"not a certificate\n");
    let e = setup_error(&config::Ldap {
        ca_file: Some(garbage),
        ..ldaps(s)
    });
    assert!(e.contains("ca_file"), "{e}");
    let broken = slapd::write_file(
        &s.dir,
        "broken.pem",
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    let e = setup_error(&config::Ldap {
        ca_file: Some(broken),
        ..ldaps(s)
    });
    assert!(e.contains("ca_file"), "{e}");
    let e = setup_error(&config::Ldap {
        host: "ldapi://%2Frun%2Fslapd".into(),
        ..ldaps(s)
    });
    assert!(e.contains("host"), "{e}");
    let e = setup_error(&config::Ldap {
        bind_dn: slapd::SVC_DN.into(),
        ..ldaps(s)
    });
    assert!(e.contains("bind_password"), "{e}");
    let e = setup_error(&config::Ldap {
        username_attribute: "uid)(uid=*".into(),
        ..ldaps(s)
    });
    assert!(e.contains("username_attribute"), "{e}");
    let e = setup_error(&config::Ldap {
        valid_gid: String::new(),
        ..ldaps(s)
    });
    assert!(e.contains("valid_gid"), "{e}");
}

#[test]
fn insecure_mode_is_warned_about() {
    let Some(s) = server() else { return };
    authenticator(&plain(s));
    let logs = logged();
    assert!(
        logs.iter()
            .any(|l| l.starts_with("WARN") && l.contains("clear text")),
        "{logs:?}"
    );
}

#[test]
fn concurrent_logins() {
    let Some(s) = server() else { return };
    let a = std::sync::Arc::new(authenticator(&ldaps(s)));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let a = a.clone();
            std::thread::spawn(move || {
                if i % 2 == 0 {
                    a.authenticate("alice", slapd::ALICE_PW)
                } else {
                    a.authenticate("alice", "wrong")
                }
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let r = h.join().unwrap();
        if i % 2 == 0 {
            assert_eq!(r, Ok("alice".to_string()));
        } else {
            assert_eq!(r, Err(LoginError::Rejected));
        }
    }
}

#[test]
fn passwords_never_reach_the_log() {
    let Some(s) = server() else { return };
    let secret = "s3cret-that-must-not-be-logged";
    let service = config::Ldap {
        base_dn: slapd::STAFF.into(),
        bind_dn: slapd::SVC_DN.into(),
        bind_password: secret.into(),
        ..ldaps(s)
    };
    let _ = login(&service, "dave", secret);
    let _ = login(&plain(s), "alice", secret);
    let _ = login(&plain(s), "nobody", secret);
    let _ = login(&plain(s), "carol", slapd::CAROL_PW);
    let logs = logged();
    // Debug records were captured (so the check below means something).
    assert!(logs.iter().any(|l| l.contains("LDAP: searching")));
    for pw in [
        secret,
        slapd::CAROL_PW.trim(),
        slapd::ALICE_PW,
        slapd::SVC_PW,
    ] {
        assert!(!logs.iter().any(|l| l.contains(pw)), "{pw} logged");
    }
}

/// Not a test: prints how long logins take. Run by hand:
/// `cargo test --test ldap -- --ignored --nocapture measure_login_times`
#[test]
#[ignore]
fn measure_login_times() {
    let s = server().expect("slapd");
    let rounds = 100;
    for (name, cfg) in [("ldap://", plain(s)), ("ldaps://", ldaps(s))] {
        let a = authenticator(&cfg);
        let cases: [(&str, &str, &str, bool); 4] = [
            ("success", "alice", slapd::ALICE_PW, true),
            ("wrong password", "alice", "wrong-pw", false),
            ("unknown user", "mallory", "wrong-pw", false),
            ("outside the group", "bob", slapd::BOB_PW, false),
        ];
        // Warm up, then interleave the cases so drift on a shared machine hits all alike.
        for (_, u, p, _) in cases {
            let _ = a.authenticate(u, p);
        }
        let mut times = vec![Vec::new(); cases.len()];
        for _ in 0..rounds {
            for (i, (_, u, p, ok)) in cases.iter().enumerate() {
                let t = Instant::now();
                let r = a.authenticate(u, p);
                times[i].push(t.elapsed());
                assert_eq!(r.is_ok(), *ok);
            }
        }
        for (i, (case, ..)) in cases.iter().enumerate() {
            let t = &mut times[i];
            t.sort();
            let mean = t.iter().sum::<Duration>() / t.len() as u32;
            println!(
                "{name:9} {case:18} median {:>8.2?}  mean {:>8.2?}  p10 {:>8.2?}  p90 {:>8.2?}",
                t[t.len() / 2],
                mean,
                t[t.len() / 10],
                t[t.len() * 9 / 10]
            );
        }
    }
}
