use super::keys::DURATION_FORM;
use super::*;

fn p() -> &'static Path {
    Path::new("/etc/test.conf")
}

/// Asserts that the file `text` is refused with a message containing all of `parts`.
#[track_caller]
fn assert_refused(text: &str, parts: &[&str]) {
    let e = Config::from_ini_text(text, p()).unwrap_err().to_string();
    for part in parts {
        assert!(e.contains(part), "{text:?}: {e}");
    }
}

#[test]
fn durations() {
    assert_eq!(
        parse_duration("2 weeks"),
        Some(Duration::from_secs(1_209_600))
    );
    assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
    assert_eq!(parse_duration("30 m"), Some(Duration::from_secs(1800)));
    assert_eq!(parse_duration("5 Seconds"), Some(Duration::from_secs(5)));
    assert_eq!(parse_duration("1 HOUR"), Some(Duration::from_secs(3600)));
    assert_eq!(parse_duration("2 fortnights"), None);
    assert_eq!(
        parse_duration("2 years"),
        Some(Duration::from_secs(63_072_000))
    );
    assert_eq!(parse_duration("0"), Some(Duration::ZERO));
    assert_eq!(parse_duration("5"), None);
    assert_eq!(parse_duration("weeks"), None);
    assert_eq!(parse_duration("-1 s"), None);
    assert_eq!(parse_duration("1.5 h"), None);
    assert_eq!(parse_duration("99999999999999999999 w"), None);
}

#[test]
fn crawl_timeout_auto_and_explicit() {
    let t = |text: &str| Config::from_ini_text(text, p()).map(|c| c.registry.crawl_timeout);
    let h = |n: u64| Duration::from_secs(n * 3600);
    assert_eq!(t(""), Ok(h(4)));
    assert_eq!(
        t("[registry]\nupdate_interval = 1 m\n"),
        Ok(Duration::from_secs(600))
    );
    assert_eq!(t("[registry]\nupdate_interval = 12 h\n"), Ok(h(24)));
    assert_eq!(
        t("[registry]\nupdate_interval = 3 h\ncrawl_timeout = AUTO\n"),
        Ok(h(12))
    );
    assert_eq!(
        t("[registry]\ncrawl_timeout = 90 m\n"),
        Ok(Duration::from_secs(5400))
    );
    for bad in ["0 s", "soon", ""] {
        assert_refused(
            &format!("[registry]\ncrawl_timeout = {bad}\n"),
            &["[registry] crawl_timeout"],
        );
    }
}

#[test]
fn projects_auto_true_false() {
    use crate::registry::ProjectsMode;
    let t = |text: &str| Config::from_ini_text(text, p()).map(|c| c.registry.projects);
    assert_eq!(t(""), Ok(ProjectsMode::Auto));
    for (v, want) in [
        ("auto", ProjectsMode::Auto),
        ("AUTO", ProjectsMode::Auto),
        ("true", ProjectsMode::On),
        ("yes", ProjectsMode::On),
        ("false", ProjectsMode::Off),
        ("0", ProjectsMode::Off),
    ] {
        assert_eq!(t(&format!("[registry]\nprojects = {v}\n")), Ok(want), "{v}");
    }
    for bad in ["sometimes", "", "2"] {
        assert_refused(
            &format!("[registry]\nprojects = {bad}\n"),
            &["[registry] projects", "auto, true or false"],
        );
    }
}

#[test]
fn cleanup_regex_size_limit_default_and_bounds() {
    let c = Config::from_ini_text("", p()).unwrap();
    assert_eq!(
        c.general.cleanup_regex_size_limit,
        crate::cleanup::DEFAULT_REGEX_SIZE_LIMIT
    );
    let c = Config::from_ini_text("[general]\ncleanup_regex_size_limit = 5000\n", p()).unwrap();
    assert_eq!(c.general.cleanup_regex_size_limit, 5000);
    for bad in ["0", "-1", "1 MiB"] {
        assert_refused(
            &format!("[general]\ncleanup_regex_size_limit = {bad}\n"),
            &["[general] cleanup_regex_size_limit", "positive"],
        );
    }
}

#[test]
fn trusted_realms_are_urls() {
    let t = |text: &str| Config::from_ini_text(text, p()).map(|c| c.registry.trusted_realms);
    assert_eq!(t(""), Ok(vec![]));
    assert_eq!(
        t("[registry]\ntrusted_realms = https://a.example/jwt/auth, http://b:8080\n"),
        Ok(vec![
            "https://a.example/jwt/auth".to_string(),
            "http://b:8080".to_string()
        ])
    );
    assert_refused(
        "[registry]\ntrusted_realms = auth.example.com\n",
        &["[registry] trusted_realms"],
    );
}

#[test]
fn booleans() {
    for t in ["true", "Yes", "T", "y", "1", "TRUE"] {
        assert!(parse_bool_loose(t), "{t}");
    }
    for f in ["False", "no", "0", "", "nope"] {
        assert!(!parse_bool_loose(f), "{f}");
    }
}

#[test]
fn default_text_parses_and_fails_only_on_secret() {
    let c = Config::from_ini_text(&default_config_text(), p()).unwrap();
    assert_eq!(c.general.socket_port, 5000);
    assert_eq!(c.general.server_prefix, "");
    assert_eq!(c.jwt.auth_token_expires, Duration::from_secs(1_209_600));
    assert_eq!(c.registry.concurrency, 8);
    assert_eq!(c.registry.update_interval, Duration::from_secs(3600));
    assert_eq!(c.ldap.url(), "ldaps://myldap.com");
    assert!(c.general.workers >= 4);
    let c = Config::from_ini_text(
        "[general]\nworkers = auto\n[ldap]\nmax_concurrent = AUTO\n",
        p(),
    )
    .unwrap();
    assert_eq!(
        (c.general.workers, c.ldap.max_concurrent),
        (default_workers(), default_workers() / 2)
    );
    let c = Config::from_ini_text("[general]\nworkers = 3\n", p()).unwrap();
    assert_eq!((c.general.workers, c.ldap.max_concurrent), (3, 1));
    let e = c.check_secret(p()).unwrap_err().to_string();
    assert!(
        e.contains("[jwt] secret_key") && e.contains("head -c32 /dev/urandom | base64"),
        "{e}"
    );
    assert!(unknown_keys(&parse_ini(&default_config_text(), p()).unwrap()).is_empty());
}

#[test]
fn every_key_optional() {
    let c = Config::from_ini_text("", p()).unwrap();
    assert_eq!(
        c,
        Config::from_ini_text(&default_config_text(), p()).unwrap()
    );
    let c = Config::from_ini_text(
        "[jwt]\nsecret_key = 0123456789abcdef0123456789abcdef\n",
        p(),
    )
    .unwrap();
    c.check_secret(p()).unwrap();
    assert_eq!(c.ldap.username_attribute, "uid");
}

#[test]
fn bad_values_name_section_key_value_and_form() {
    let e = Config::from_ini_text("[jwt]\nauth_token_expires = 2 fortnights\n", p()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "/etc/test.conf: [jwt] auth_token_expires = \"2 fortnights\": expected {DURATION_FORM}"
        )
    );
    assert_refused(
        "[general]\nsocket_port = 70000\n",
        &["[general] socket_port = \"70000\""],
    );
    assert_refused("[registry]\nconcurrency = 0\n", &["[registry] concurrency"]);
    assert_refused("[ldap]\nstarttls = maybe\n", &["[ldap] starttls"]);
    let e = Config::from_ini_text("[jwt]\nsecret_key = short\n", p())
        .unwrap()
        .check_secret(p())
        .unwrap_err();
    assert!(
        e.to_string().contains("hidden") && !e.to_string().contains("short"),
        "{e}"
    );
}

#[test]
fn cors_allowed_origins() {
    let g = Config::from_ini_text("", p()).unwrap().general;
    assert_eq!(g.cors_allowed_origins, None);
    let g = Config::from_ini_text(
        "[general]\ncors_allowed_origins = https://Dash.example/, http://127.0.0.1:8080\n",
        p(),
    )
    .unwrap()
    .general;
    assert_eq!(
        g.cors_allowed_origins,
        Some(vec![
            "https://dash.example".into(),
            "http://127.0.0.1:8080".into()
        ])
    );
    for bad in [
        "dash.example",
        "https://d.example/path",
        "",
        "https://*.example",
    ] {
        assert_refused(
            &format!("[general]\ncors_allowed_origins = {bad}\n"),
            &["cors_allowed_origins"],
        );
    }
}

#[test]
fn metrics_enabled_needs_a_bearer_token() {
    assert_refused(
        "[metrics]\nenabled = true\n",
        &["[metrics]", "bearer_token"],
    );
    let m = Config::from_ini_text("[metrics]\nenabled = true\nbearer_token = t0k3n\n", p())
        .unwrap()
        .metrics;
    assert_eq!(
        (m.enabled, m.bearer_token.as_deref()),
        (true, Some("t0k3n"))
    );
    assert!(!Config::from_ini_text("", p()).unwrap().metrics.enabled);
}

#[test]
fn not_before_and_failures_per_user() {
    let c = Config::from_ini_text("", p()).unwrap();
    assert_eq!((c.jwt.not_before, c.ldap.max_failures_per_user), (None, 30));
    assert_eq!(
        (c.ldap.recheck_interval, c.ldap.recheck_grace),
        (Duration::from_secs(900), Duration::from_secs(3600))
    );
    let c = Config::from_ini_text(
        "[jwt]\nnot_before = 2026-12-03T08:00:00Z\n[ldap]\nmax_failures_per_user = 0\n",
        p(),
    )
    .unwrap();
    assert_eq!(c.jwt.not_before, Some(1_796_284_800));
    assert_eq!(c.ldap.max_failures_per_user, 0);
    for bad in [
        "not_before = yesterday",
        "not_before = 1969-01-01T00:00:00Z",
    ] {
        assert_refused(&format!("[jwt]\n{bad}\n"), &["not_before"]);
    }
}

#[test]
fn registry_limits() {
    let r = Config::from_ini_text("", p()).unwrap().registry;
    assert_eq!((r.max_manifest_size, r.max_name_depth), (4 << 20, 32));
    let r = Config::from_ini_text(
        "[registry]\nmax_manifest_size = 512K\nmax_name_depth = 8\n",
        p(),
    )
    .unwrap()
    .registry;
    assert_eq!((r.max_manifest_size, r.max_name_depth), (512 << 10, 8));
    for bad in ["max_manifest_size = 0", "max_name_depth = 0"] {
        assert_refused(
            &format!("[registry]\n{bad}\n"),
            &[bad.split(' ').next().unwrap()],
        );
    }
}

#[test]
fn connection_limits() {
    let l = Config::from_ini_text("", p()).unwrap().general.limits;
    assert_eq!(
        (l.max_request_head, l.max_headers, l.max_connections),
        (16384, 100, 10_000)
    );
    assert_eq!(
        (l.header_timeout, l.keepalive_timeout, l.write_timeout),
        (
            Duration::from_secs(10),
            Duration::from_secs(60),
            Duration::from_secs(30)
        )
    );
    let l = Config::from_ini_text(
        "[general]\nmax_request_head = 4096\nmax_headers = 20\nheader_timeout = 2 s\nkeepalive_timeout = 5s\nwrite_timeout = 1 minute\nmax_connections = 50\n",
        p(),
    )
    .unwrap()
    .general
    .limits;
    assert_eq!(
        (l.max_request_head, l.max_headers, l.max_connections),
        (4096, 20, 50)
    );
    assert_eq!(l.write_timeout, Duration::from_secs(60));
    assert_eq!(l.max_connections_per_client, 256);
    let g = Config::from_ini_text("[general]\nworkers = 8\n", p())
        .unwrap()
        .general;
    assert_eq!(g.max_streams, 2, "auto: a quarter of the workers");
    let g = Config::from_ini_text("[general]\nmax_streams = 3\n", p())
        .unwrap()
        .general;
    assert_eq!(g.max_streams, 3);
    for bad in [
        "max_connections = 0",
        "max_connections_per_client = 0",
        "header_timeout = 0 s",
        "max_headers = lots",
    ] {
        assert_refused(
            &format!("[general]\n{bad}\n"),
            &[bad.split(' ').next().unwrap()],
        );
    }
}

#[test]
fn prefix_and_ldap_url() {
    let c = Config::from_ini_text(
        "[general]\nserver_prefix = /registry-usage/\n[ldap]\nhost = ldap://x:389\n",
        p(),
    )
    .unwrap();
    assert_eq!(c.general.server_prefix, "/registry-usage");
    assert_eq!(c.ldap.url(), "ldap://x:389");
    assert_eq!(c.warnings().len(), 0);
}

#[test]
fn byte_sizes() {
    assert_eq!(parse_bytes("64 MiB"), Some(64 << 20));
    assert_eq!(parse_bytes("512K"), Some(512 << 10));
    assert_eq!(parse_bytes("1 GB"), Some(1_000_000_000));
    assert_eq!(parse_bytes("0"), Some(0));
    assert_eq!(parse_bytes("1048576 b"), Some(1 << 20));
    for bad in [
        "",
        "MiB",
        "1.5 MiB",
        "-1",
        "1 TiB",
        "99999999999999999999 G",
    ] {
        assert_eq!(parse_bytes(bad), None, "{bad}");
    }
    let c = Config::from_ini_text("", p()).unwrap();
    assert_eq!(c.general.cache_budget, 64 << 20);
    assert_refused(
        "[general]\ncache_budget = lots\n",
        &["[general] cache_budget"],
    );
}

#[test]
fn the_key_table_is_consistent_and_every_checked_key_is_read() {
    for k in KEYS {
        assert!(
            k.kind.accepts(k.default),
            "[{}] {}: default {:?} is not {}",
            k.section,
            k.name,
            k.default,
            k.kind.expected()
        );
        assert_eq!(
            KEYS.iter()
                .filter(|o| o.section == k.section && o.name == k.name)
                .count(),
            1
        );
        // A value no kind but Text/Raw/Path/LooseBool accepts: the parser must reject it
        // naming this key, which proves the key is read and checked.
        if !k.kind.accepts("\u{1}bad") {
            let text = format!("[{}]\n{} = \u{1}bad\n", k.section, k.name);
            let e = Config::from_ini_text(&text, p()).unwrap_err().to_string();
            assert!(e.contains(&format!("[{}] {}", k.section, k.name)), "{e}");
        }
    }
    assert!(default_config_text().contains(&format!("At least {MIN_SECRET_LEN} bytes")));
}

#[test]
fn trusted_proxies_take_addresses_and_cidr_ranges() {
    let c = Config::from_ini_text(
        "[general]\ntrusted_proxies = 127.0.0.1, 10.0.0.0/8 ::1\n  2001:db8::/32\n",
        p(),
    )
    .unwrap();
    let shown: Vec<String> = c
        .general
        .trusted_proxies
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(shown, ["127.0.0.1", "10.0.0.0/8", "::1", "2001:db8::/32"]);
    for bad in ["10.0.0.1/8", "10.0.0.0/33", "proxy.example"] {
        assert_refused(
            &format!("[general]\ntrusted_proxies = {bad}\n"),
            &["[general] trusted_proxies", "CIDR"],
        );
    }
}

#[test]
fn history_keep() {
    let k = |text: &str| Config::from_ini_text(text, p()).map(|c| c.history.keep);
    assert_eq!(k(""), Ok(Duration::from_secs(2 * 365 * 86_400)));
    assert_eq!(k("[history]\nkeep = 0\n"), Ok(Duration::ZERO));
    assert_eq!(
        k("[history]\nkeep = 30 days\n"),
        Ok(Duration::from_secs(30 * 86_400))
    );
    let e = k("[history]\nkeep = forever\n").unwrap_err().to_string();
    assert!(e.contains("[history] keep") && e.contains("a unit"), "{e}");
}

#[test]
fn metrics_keys() {
    let c = Config::from_ini_text("", p()).unwrap();
    assert_eq!(
        c.metrics,
        MetricsConfig {
            enabled: false,
            bearer_token: None
        }
    );
    let c = Config::from_ini_text(
        "[metrics]\nenabled = yes\nbearer_token =  s3cret-token \n",
        p(),
    )
    .unwrap();
    assert!(c.metrics.enabled);
    assert_eq!(c.metrics.bearer_token.as_deref(), Some("s3cret-token"));
    assert_refused("[metrics]\nenabled = sometimes\n", &["[metrics] enabled"]);
    let text = default_config_text();
    assert!(text.contains("[metrics]\n") && text.contains("# enabled = False\n"));
    assert!(text.contains("# bearer_token =\n"));
}

#[test]
fn unknown_keys_are_listed() {
    let ini = parse_ini("[general]\nsocket_prot = 1\n[extra]\n", p()).unwrap();
    assert_eq!(
        unknown_keys(&ini),
        vec!["[extra]".to_string(), "[general] socket_prot".into()]
    );
}
