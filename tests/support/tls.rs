//! A throwaway PKI for tests that need TLS on 127.0.0.1, made with the `openssl` command:
//! `ca.pem` / `ca.key` (the test CA), `other-ca.pem` (an unrelated CA, to show refusal), and
//! `server.pem` / `server.key`, a server certificate for `IP:127.0.0.1` and `DNS:localhost`
//! signed by the test CA. P-256 keys: generating them takes milliseconds, unlike RSA.
//!
//! Std only; used by the harnesses of slapd and docker-registry. Needs the Debian package
//! `openssl`.

use std::path::Path;
use std::process::{Command, Stdio};

/// Runs `cmd`; its stdout, or an error with everything it printed.
pub fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Writes the CA, the unrelated CA and the server certificate and key into `dir`.
pub fn make_test_pki(openssl: &Path, dir: &Path) -> Result<(), String> {
    let openssl = |args: &[&str]| run(Command::new(openssl).current_dir(dir).args(args));
    // `openssl req` with a new P-256 key (no passphrase) written to `key`, then `rest`.
    let req = |key: &str, rest: &[&str]| {
        let mut args = vec![
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            key,
        ];
        args.extend_from_slice(rest);
        openssl(&args)
    };
    let make_ca = |name: &str, cn: &str| {
        req(
            &format!("{name}.key"),
            &[
                "-x509",
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-subj",
                &format!("/CN={cn}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        )
    };
    make_ca("ca", "test CA")?;
    make_ca("other-ca", "unrelated test CA")?;
    req(
        "server.key",
        &["-new", "-out", "server.csr", "-subj", "/CN=localhost"],
    )?;
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n\
         basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\n",
    )
    .map_err(|e| e.to_string())?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ])?;
    Ok(())
}
