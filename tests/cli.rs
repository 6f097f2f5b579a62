//! The command line of the real binary: version, default config, --check-config, and the
//! messages for bad configuration files, and the exit status of each kind of failure.

mod support;

use std::process::Command;

use support::service::{self, BIN};
use support::TempDir;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn version_and_help() {
    let (code, out, _) = run(&["--version"]);
    assert_eq!(
        (code, out.trim()),
        (
            0,
            format!(
                "gitlab-registry-usage-rest, version {}",
                env!("CARGO_PKG_VERSION")
            )
            .as_str()
        )
    );
    assert_eq!(run(&["-V"]).0, 0);
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for opt in [
        "--config-file",
        "--print-default-config",
        "--check-config",
        "--version",
    ] {
        assert!(out.contains(opt), "{opt} missing from --help");
    }
    let (code, _, err) = run(&["--no-such-option"]);
    assert_eq!(code, 2);
    assert!(err.contains("--no-such-option"));
}

#[test]
fn default_config_fails_the_check_on_its_placeholders() {
    let dir = TempDir::new("cli");
    let (code, text, _) = run(&["--print-default-config"]);
    assert_eq!(code, 0);
    let f = dir.path().join("default.conf");
    std::fs::write(&f, &text).unwrap();
    let (code, out, err) = run(&["--check-config", "--offline", "-c", f.to_str().unwrap()]);
    assert_eq!(code, 78, "{out}{err}");
    let errors: Vec<&str> = out.lines().filter(|l| l.starts_with("error: ")).collect();
    assert!(
        errors.iter().any(
            |e| e.contains("[jwt] secret_key") && e.contains("head -c32 /dev/urandom | base64")
        ),
        "{out}"
    );
    for key in [
        "[ldap] host",
        "[registry] registry_base_url",
        "[registry] access_token",
    ] {
        assert!(errors.iter().any(|e| e.contains(key)), "{key}: {out}");
    }
    // with a real secret, a directory and no collector, the same file is fine
    let state = dir.path().join("state.json");
    let fixed = text
        .replace(
            gitlab_registry_usage_rest::config::PLACEHOLDER_SECRET,
            "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWo=",
        )
        .replace("host = myldap.com", "host = ldap.corp.example")
        .replace("base_dn = dc=example,dc=com", "base_dn = ou=people,o=corp")
        .replace("valid_gid = 00000", "valid_gid = 500")
        .replace(
            "registry_base_url = https://registry.mygitlab.com/",
            "registry_base_url =",
        )
        .replace(
            "# state_file = /var/lib/gitlab-registry-usage-rest/state.json",
            &format!("state_file = {}", state.display()),
        )
        .replace("socket_port = 5000", "socket_port = 0");
    std::fs::write(&f, fixed).unwrap();
    let (code, out, err) = run(&["--check-config", "--offline", "-c", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("configuration OK"), "{out}");
    // the service itself refuses the placeholder: a configuration error (EX_CONFIG)
    std::fs::write(&f, &text).unwrap();
    let (code, _, err) = run(&["-c", f.to_str().unwrap()]);
    assert_eq!(code, 78);
    assert!(err.contains("secret_key"), "{err}");
}

#[test]
fn bad_config_files_name_file_section_key_value_and_form() {
    let dir = TempDir::new("cli");
    let f = dir.path().join("bad.conf");
    let fs = f.to_str().unwrap();
    std::fs::write(&f, "[jwt]\nauth_token_expires = 2 fortnights\n").unwrap();
    let (code, _, err) = run(&["-c", fs]);
    assert_eq!(code, 78);
    assert!(
        err.contains(fs)
            && err.contains("[jwt] auth_token_expires")
            && err.contains("2 fortnights")
            && err.contains("expected"),
        "{err}"
    );
    std::fs::write(&f, "[general]\nthis line is broken\n").unwrap();
    let (code, out, _) = run(&["--check-config", "-c", fs]);
    assert_eq!(code, 78, "a configuration error is EX_CONFIG");
    assert!(out.starts_with(&format!("error: {fs}:2:")), "{out}");
    let missing = dir.path().join("missing.conf");
    let (code, _, err) = run(&["-c", missing.to_str().unwrap()]);
    assert_eq!(code, 78);
    assert!(err.contains(missing.to_str().unwrap()), "{err}");
}

#[test]
fn unknown_keys_are_warned_about() {
    let dir = TempDir::new("cli");
    let f = dir.path().join("typo.conf");
    std::fs::write(
        &f,
        format!(
            "[general]\nsocket_port = 0\nsocket_prot = 1\n[ldap]\nhost = ldap.corp.example\n\
             [jwt]\nsecret_key = {}\n[registry]\nregistry_base_url =\nstate_file = {}\n",
            service::SECRET,
            dir.path().join("s.json").display()
        ),
    )
    .unwrap();
    let (code, out, _) = run(&["--check-config", "--offline", "-c", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("warning: [general] socket_prot")),
        "{out}"
    );
}

/// Runs the service with stderr in a file, `journal` naming that file in `JOURNAL_STREAM` (as
/// systemd does for the journal's socket) or `Some("1:2")` naming something else.
fn start_up_failure_log(journal: Option<&str>) -> String {
    use std::os::unix::fs::MetadataExt;
    let dir = TempDir::new("logs");
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let f = dir.path().join("c.conf");
    std::fs::write(
        &f,
        format!(
            "[general]\nsocket_port = {port}\nsocket_prot = 1\n[ldap]\nhost = ldap://127.0.0.1:1\nallow_insecure = true\n\
             [jwt]\nsecret_key = {}\n[registry]\nregistry_base_url =\nstate_file =\n",
            service::SECRET
        ),
    )
    .unwrap();
    let log = dir.path().join("stderr.log");
    let file = std::fs::File::create(&log).unwrap();
    let meta = file.metadata().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("-c").arg(&f).stderr(file).env_remove("RUST_LOG");
    match journal {
        Some("this file") => cmd.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino())),
        Some(other) => cmd.env("JOURNAL_STREAM", other),
        None => cmd.env_remove("JOURNAL_STREAM"),
    };
    let status = cmd.status().unwrap();
    assert_eq!(status.code(), Some(1));
    std::fs::read_to_string(&log).unwrap()
}

#[test]
fn log_lines_carry_priorities_only_for_the_journal_and_timestamps_otherwise() {
    let journal = start_up_failure_log(Some("this file"));
    let lines: Vec<&str> = journal.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("<4>warning: ") && l.contains("socket_prot")),
        "{journal}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("<3>error: ") && l.contains("cannot listen")),
        "{journal}"
    );
    assert!(lines.iter().all(|l| l.starts_with('<')), "{journal}");

    for other in [None, Some("1:2")] {
        let text = start_up_failure_log(other);
        assert!(!text.contains("<4>") && !text.contains("<3>"), "{text}");
        for l in text.lines() {
            // 2026-11-30T19:26:34Z warning: ...
            let (ts, rest) = l.split_once(' ').unwrap();
            assert!(
                gitlab_registry_usage_rest::snapshot::time::parse_rfc3339(ts).is_some()
                    && ts.ends_with('Z'),
                "{l}"
            );
            assert!(
                rest.starts_with("warning: ")
                    || rest.starts_with("error: ")
                    || rest.starts_with("info: "),
                "{l}"
            );
        }
        assert!(
            text.contains(" warning: ") && text.contains("socket_prot"),
            "{text}"
        );
        assert!(
            text.contains(" error: ") && text.contains("cannot listen"),
            "{text}"
        );
    }
}

#[test]
fn a_port_in_use_exits_1_so_that_systemd_retries() {
    let dir = TempDir::new("cli");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let f = dir.path().join("busy.conf");
    std::fs::write(
        &f,
        format!(
            "[general]\nsocket_host = 127.0.0.1\nsocket_port = {port}\n[ldap]\nhost = ldap://127.0.0.1:1\nallow_insecure = true\n[jwt]\nsecret_key = {}\n[registry]\nregistry_base_url =\nstate_file =\n",
            service::SECRET
        ),
    )
    .unwrap();
    let (code, _, err) = run(&["-c", f.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("cannot listen on") && err.contains(&port.to_string()),
        "{err}"
    );
}

#[test]
fn a_state_directory_others_may_write_exits_78_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("cli");
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let f = dir.path().join("open.conf");
    std::fs::write(
        &f,
        format!(
            "[general]\nsocket_host = 127.0.0.1\nsocket_port = {}\n[ldap]\nhost = ldap://127.0.0.1:1\nallow_insecure = true\n[jwt]\nsecret_key = {}\n[registry]\nregistry_base_url =\nstate_file = {}/state.json\n",
            support::free_port(),
            service::SECRET,
            open.display()
        ),
    )
    .unwrap();
    let (code, _, err) = run(&["-c", f.to_str().unwrap()]);
    assert_eq!(code, 78, "{err}");
    assert!(
        err.contains("state_file")
            && err.contains(&open.display().to_string())
            && err.contains("chmod go-w"),
        "{err}"
    );
}
