//! The command line of the real binary: version, default config, --check-config, and the
//! messages for bad configuration files, and the exit status of each kind of failure.

mod common;

use std::process::Command;

use common::{TempDir, BIN};

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
fn default_config_fails_check_only_on_the_placeholder_secret() {
    let dir = TempDir::new("cli");
    let (code, text, _) = run(&["--print-default-config"]);
    assert_eq!(code, 0);
    let f = dir.path().join("default.conf");
    std::fs::write(&f, &text).unwrap();
    let (code, out, err) = run(&["--check-config", "-c", f.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        errors[0].contains("[jwt] secret_key")
            && errors[0].contains("head -c32 /dev/urandom | base64"),
        "{err}"
    );
    // with a real secret the same file is fine
    let fixed = text.replace(
        gitlab_registry_usage_rest::config::PLACEHOLDER_SECRET,
        "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWo=",
    );
    std::fs::write(&f, fixed).unwrap();
    let (code, out, err) = run(&["--check-config", "-c", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("configuration OK"));
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
    let (code, _, err) = run(&["--check-config", "-c", fs]);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("{fs}:2:")), "{err}");
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
            "[general]\nsocket_prot = 1\n[jwt]\nsecret_key = {}\n",
            common::SECRET
        ),
    )
    .unwrap();
    let (code, _, err) = run(&["--check-config", "-c", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("[general] socket_prot"), "{err}");
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
            common::SECRET
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
