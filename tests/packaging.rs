//! What ships besides the binary, checked against the code so they cannot drift: the man
//! pages (lint-clean, every config key and CLI option, the crate's version), the packaged
//! default config (the library's text, byte for byte), the systemd unit (`systemd-analyze
//! verify` silent, sandbox exposure at most 2.0), the Debian maintainer scripts and the Arch
//! PKGBUILD, .SRCINFO, sysusers.d and tmpfiles.d files.
//!
//! External tools (mandoc, man, systemd-analyze, systemd-sysusers, bash, sh) are used when
//! present; a missing one skips its check with a loud message, except under `CI=true`, where
//! it fails. Nothing here installs anything or touches the system outside a temp directory.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gitlab_registry_usage_rest::config;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const PAGE1: &str = "man/gitlab-registry-usage-rest.1";
const PAGE5: &str = "man/gitlab_registry_usage_rest.conf.5";
const UNIT: &str = "packaging/systemd/gitlab-registry-usage-rest.service";
const CONF: &str = "packaging/gitlab_registry_usage_rest.conf";
const PKGBUILD: &str = "packaging/arch/PKGBUILD";
const SRCINFO: &str = "packaging/arch/.SRCINFO";
const MAX_EXPOSURE: f64 = 2.0;

/// The command line as documented (the man page and the README); options that
/// `--help` lists are added to it at run time.
const CLI_OPTIONS: &[&str] = &[
    "-c",
    "--config-file",
    "--config-file=FILE",
    "-cFILE",
    "--print-default-config",
    "--check-config",
    "--demo",
    "--port",
    "-V",
    "--version",
    "--help",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Whether `tool` can be run; a missing tool fails under CI and is skipped loudly elsewhere.
fn have(tool: &str, package: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            !on_ci(),
            "{tool} is missing (Debian package {package}); CI must have it"
        );
        eprintln!(
            "SKIPPED: {tool} is not installed (Debian package {package}); its check did not run"
        );
    }
    found
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The page's text roughly as a reader sees it: dash, font and no-break escapes removed, and
/// the font macros' arguments joined the way roff joins them (`.BI \-c FILE` is `-cFILE`,
/// `.B a b` is `a b`), so option names can be searched for as they are typed.
fn plain(roff: &str) -> String {
    let unescape = |s: &str| {
        s.replace("\\-", "-")
            .replace("\\%", "")
            .replace("\\fB", "")
            .replace("\\fI", "")
            .replace("\\fR", "")
            .replace("\\fP", "")
            .replace("\\c", "")
    };
    let mut out = String::new();
    for line in roff.lines() {
        let (mac, rest) = line.split_once(' ').unwrap_or((line, ""));
        let joiner = match mac {
            ".BI" | ".IB" | ".BR" | ".RB" | ".IR" | ".RI" => Some(""),
            ".B" | ".I" => Some(" "),
            _ => None,
        };
        match joiner {
            Some(j) => {
                // Arguments are separated by spaces; a quoted argument keeps its spaces.
                let mut args = Vec::new();
                let mut cur = String::new();
                let mut quoted = false;
                for ch in rest.chars() {
                    match ch {
                        '"' => quoted = !quoted,
                        ' ' if !quoted => {
                            if !cur.is_empty() {
                                args.push(std::mem::take(&mut cur));
                            }
                        }
                        c => cur.push(c),
                    }
                }
                if !cur.is_empty() {
                    args.push(cur);
                }
                out.push_str(&unescape(&args.join(j)));
            }
            None => out.push_str(&unescape(line)),
        }
        out.push('\n');
    }
    out
}

/// A scratch directory under the target directory, emptied first.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[test]
fn packaged_config_is_the_librarys_default() {
    // Regenerate with: gitlab-registry-usage-rest --print-default-config > packaging/gitlab_registry_usage_rest.conf
    assert!(
        read(CONF) == config::default_config_text(),
        "{CONF} differs from config::default_config_text(); regenerate it with --print-default-config"
    );
}

#[test]
fn man_pages_carry_the_crate_version() {
    for page in [PAGE1, PAGE5] {
        let src = read(page);
        let th = src
            .lines()
            .find(|l| l.starts_with(".TH "))
            .unwrap_or_else(|| panic!("{page}: no .TH line"));
        // .TH TITLE SECTION DATE "gitlab-registry-usage-rest X.Y.Z" "MANUAL"
        let fields: Vec<&str> = th.split('"').collect();
        assert_eq!(
            fields.get(1).copied(),
            Some(format!("gitlab-registry-usage-rest {VERSION}").as_str()),
            "{page}: {th}"
        );
    }
}

#[test]
fn man_pages_lint_clean() {
    if have("mandoc", "mandoc") {
        for page in [PAGE1, PAGE5] {
            // STYLE messages are advice; WARNING and above are real problems.
            let o = run(Command::new("mandoc")
                .args(["-T", "lint", "-W", "warning"])
                .arg(root().join(page)));
            assert!(
                o.status.success() && text(&o).is_empty(),
                "mandoc -T lint {page}:\n{}",
                text(&o)
            );
        }
    }
    if have("man", "man-db") {
        for page in [PAGE1, PAGE5] {
            // groff (what man-db renders with) has its own warnings.
            let o = run(Command::new("man")
                .args(["--warnings", "-l"])
                .arg(root().join(page))
                .env("LC_ALL", "C.UTF-8")
                .env("MANPAGER", "cat")
                .env("PAGER", "cat")
                .env("MANWIDTH", "80"));
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                o.status.success() && err.trim().is_empty(),
                "man --warnings -l {page}:\n{err}"
            );
            assert!(String::from_utf8_lossy(&o.stdout).contains("SYNOPSIS"));
        }
    }
}

#[test]
fn conf_page_documents_every_key_in_its_section() {
    let src = read(PAGE5);
    // Keys are `.TP` items whose tag is `.B key`, below `.SH SECTION [name]`.
    let mut documented = BTreeSet::new();
    let mut section: Option<String> = None;
    let mut after_tp = false;
    for line in src.lines() {
        if let Some(name) = line
            .strip_prefix(".SH SECTION [")
            .and_then(|r| r.strip_suffix(']'))
        {
            section = Some(name.to_string());
        } else if line.starts_with(".SH ") {
            section = None;
        } else if let (true, Some(sec), Some(key)) = (after_tp, &section, line.strip_prefix(".B "))
        {
            documented.insert((sec.clone(), plain(key).trim().to_string()));
        }
        after_tp = line == ".TP";
    }
    let known: BTreeSet<(String, String)> = config::KEYS
        .iter()
        .map(|k| (k.section.to_string(), k.name.to_string()))
        .collect();
    let missing: Vec<_> = known.difference(&documented).collect();
    assert!(missing.is_empty(), "{PAGE5} does not document {missing:?}");
    let stale: Vec<_> = documented.difference(&known).collect();
    assert!(stale.is_empty(), "{PAGE5} documents unknown keys {stale:?}");
    // The defaults it states are the library's: spot-check the ones people copy.
    let p = plain(&src);
    for default in [
        "/var/lib/gitlab-registry-usage-rest/state.json",
        "2 weeks",
        "1 hour",
        "30 s",
        "5 s",
    ] {
        assert!(
            config::default_config_text().contains(default) && p.contains(default),
            "{default}"
        );
    }
}

#[test]
fn command_page_documents_every_option() {
    let p = plain(&read(PAGE1));
    let mut options: BTreeSet<String> = CLI_OPTIONS.iter().map(|s| s.to_string()).collect();
    // Whatever the binary itself offers must be documented too.
    let help = run(Command::new(env!("CARGO_BIN_EXE_gitlab-registry-usage-rest")).arg("--help"));
    assert!(help.status.success(), "--help: {}", text(&help));
    for word in String::from_utf8_lossy(&help.stdout).split([' ', ',', '\n', '[', ']']) {
        let opt: String = word
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if opt.len() > 1 && opt.starts_with('-') && opt != "--" {
            options.insert(opt);
        }
    }
    for opt in &options {
        assert!(p.contains(opt.as_str()), "{PAGE1} does not mention {opt}");
    }
    for heading in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "ENDPOINTS",
        "FILES",
        "SIGNALS",
        "EXIT STATUS",
        "EXAMPLES",
        "SEE ALSO",
    ] {
        assert!(
            p.lines()
                .any(|l| l == format!(".SH {heading}") || l == format!(".SH \"{heading}\"")),
            "{PAGE1} has no {heading} section"
        );
    }
    for endpoint in [
        "/auth_token",
        "/repositories",
        "/tags",
        "embed=",
        "links=",
        config::DEFAULT_PATH,
        "curl",
    ] {
        assert!(p.contains(endpoint), "{PAGE1} does not mention {endpoint}");
    }
}

/// `key=value` lines of the unit, in order.
fn unit_settings() -> Vec<(String, String)> {
    read(UNIT)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn unit_runs_the_service_as_its_own_user() {
    let s = unit_settings();
    let get = |k: &str| s.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    assert_eq!(
        get("ExecStart"),
        Some("/usr/bin/gitlab-registry-usage-rest -c /etc/gitlab_registry_usage_rest.conf")
    );
    assert_eq!(get("User"), Some("gitlab-registry-usage-rest"));
    assert_eq!(get("Group"), Some("gitlab-registry-usage-rest"));
    assert_eq!(get("StateDirectory"), Some("gitlab-registry-usage-rest"));
    assert_eq!(get("KillSignal"), Some("SIGTERM"));
    assert_eq!(get("ProtectSystem"), Some("strict"));
    assert_eq!(
        get("RestrictAddressFamilies"),
        Some("AF_INET AF_INET6 AF_UNIX")
    );
    // The conffile is readable by this user only, which a DynamicUser could not be.
    assert_eq!(get("DynamicUser"), None);
    // A configuration error (78) is not retried; a busy port at boot (1) is.
    assert_eq!(get("Restart"), Some("on-failure"));
    assert_eq!(get("RestartPreventExitStatus"), Some("78"));
    // Room for max_connections descriptors and more.
    let nofile: usize = get("LimitNOFILE").and_then(|v| v.parse().ok()).unwrap_or(0);
    let max_connections: usize = config::key_def("general", "max_connections")
        .and_then(|k| k.default.parse().ok())
        .unwrap_or(usize::MAX);
    assert!(nofile > max_connections + 100, "LimitNOFILE={nofile}");
    // The service does not reload: no ExecReload that would pretend it does.
    assert_eq!(get("ExecReload"), None);
    // The state file default lives in the StateDirectory.
    assert!(
        config::default_config_text().contains("/var/lib/gitlab-registry-usage-rest/state.json")
    );
}

#[test]
fn unit_verifies_silently_and_is_sandboxed() {
    if !have("systemd-analyze", "systemd") {
        return;
    }
    let dir = scratch("unit");
    // verify insists that ExecStart exists and is executable: point it at /bin/true.
    let unit = read(UNIT).replace(
        "ExecStart=/usr/bin/gitlab-registry-usage-rest",
        "ExecStart=/bin/true",
    );
    let path = dir.join("gitlab-registry-usage-rest.service");
    fs::write(&path, unit).expect("write unit");
    let mut verify = Command::new("systemd-analyze");
    verify.arg("verify");
    if have("man", "man-db") {
        // verify also runs `man` for every Documentation= entry: let it find ours.
        for (src, sec) in [(PAGE1, "man1"), (PAGE5, "man5")] {
            let d = dir.join("man").join(sec);
            fs::create_dir_all(&d).expect("man dir");
            let name = Path::new(src).file_name().expect("file name");
            fs::copy(root().join(src), d.join(name)).expect("copy page");
        }
        verify.env("MANPATH", dir.join("man"));
    } else {
        verify.arg("--man=no");
    }
    let o = run(verify.arg(&path));
    assert!(
        o.status.success() && text(&o).trim().is_empty(),
        "systemd-analyze verify printed:\n{}",
        text(&o)
    );

    let o = run(Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&path));
    let report = text(&o);
    let score: f64 = report
        .lines()
        .find_map(|l| {
            let rest = l.split("Overall exposure level for ").nth(1)?;
            rest.split(": ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no exposure level in:\n{report}"));
    assert!(
        score <= MAX_EXPOSURE,
        "exposure {score} > {MAX_EXPOSURE}:\n{report}"
    );
}

/// The Debian package's assets from Cargo.toml: (source, destination file, mode).
fn deb_assets() -> Vec<(String, String, String)> {
    let toml = read("Cargo.toml");
    let section = toml
        .split("[package.metadata.deb]")
        .nth(1)
        .expect("[package.metadata.deb] in Cargo.toml");
    section
        .lines()
        .map(str::trim)
        .filter_map(|l| l.strip_prefix("[\"")?.strip_suffix("\"],"))
        .map(|l| {
            let parts: Vec<&str> = l.split("\", \"").collect();
            assert_eq!(parts.len(), 3, "asset line {l}");
            let (src, dest, mode) = (parts[0], parts[1], parts[2]);
            let dest = if dest.ends_with('/') {
                let name = Path::new(src).file_name().expect("name").to_string_lossy();
                format!("{dest}{name}")
            } else {
                dest.to_string()
            };
            (src.to_string(), dest, mode.to_string())
        })
        .collect()
}

#[test]
fn debian_metadata_ships_everything_with_the_right_modes() {
    let assets = deb_assets();
    let dests: BTreeSet<&str> = assets.iter().map(|(_, d, _)| d.as_str()).collect();
    for want in [
        "usr/bin/gitlab-registry-usage-rest",
        "usr/share/man/man1/gitlab-registry-usage-rest.1",
        "usr/share/man/man5/gitlab_registry_usage_rest.conf.5",
        "usr/lib/systemd/system/gitlab-registry-usage-rest.service",
        "etc/gitlab_registry_usage_rest.conf",
    ] {
        assert!(dests.contains(want), "the .deb lacks {want}");
    }
    for (src, dest, mode) in &assets {
        if !src.starts_with("target/") {
            assert!(root().join(src).is_file(), "asset {src} does not exist");
        }
        if dest.starts_with("etc/") {
            assert_eq!(mode, "640", "{dest} holds secrets");
            assert_eq!(src, CONF);
        }
    }
    let toml = read("Cargo.toml");
    assert!(toml.contains("conf-files = [\"/etc/gitlab_registry_usage_rest.conf\"]"));
    assert!(toml.contains("maintainer-scripts = \"packaging/debian/\""));
    // The Debian synopsis is the package description and must fit on one line.
    assert!(env!("CARGO_PKG_DESCRIPTION").len() < 79);
}

#[test]
fn debian_maintainer_scripts() {
    for script in ["postinst", "prerm", "postrm"] {
        let rel = format!("packaging/debian/{script}");
        let src = read(&rel);
        assert!(src.starts_with("#!/bin/sh\n"), "{rel}");
        assert!(src.contains("\nset -e\n"), "{rel}");
        if have("sh", "dash") {
            let o = run(Command::new("sh").arg("-n").arg(root().join(&rel)));
            assert!(o.status.success(), "sh -n {rel}: {}", text(&o));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(root().join(&rel))
                .expect("stat")
                .permissions()
                .mode();
            assert!(mode & 0o111 != 0, "{rel} is not executable");
        }
    }
    let postinst = read("packaging/debian/postinst");
    assert!(postinst.contains("adduser --system --group --no-create-home --home \"$STATE\""));
    assert!(postinst.contains("STATE=/var/lib/gitlab-registry-usage-rest"));
    assert!(postinst.contains("chmod 0640 \"$CONF\""));
    assert!(postinst.contains("chown \"root:$NAME\" \"$CONF\""));
    let postrm = read("packaging/debian/postrm");
    assert!(postrm.contains("purge)"));
    assert!(postrm.contains("rm -rf \"$STATE\""));
    assert!(postrm.contains("deluser --system"));
}

/// Values of the PKGBUILD's variables, read by bash itself (the file is only assignments and
/// functions, so sourcing it runs nothing).
fn pkgbuild_vars() -> Vec<String> {
    let o = run(Command::new("bash").arg("-c").arg(
        "set -eu; source \"$1\"; printf '%s\\n' \"$pkgname\" \"$pkgver\" \"$pkgrel\" \"${backup[*]}\"",
    )
    .arg("bash")
    .arg(root().join(PKGBUILD)));
    assert!(o.status.success(), "sourcing {PKGBUILD}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn pkgbuild_is_valid_and_matches_srcinfo_and_cargo() {
    if !have("bash", "bash") {
        return;
    }
    let o = run(Command::new("bash").arg("-n").arg(root().join(PKGBUILD)));
    assert!(o.status.success(), "bash -n {PKGBUILD}: {}", text(&o));
    let vars = pkgbuild_vars();
    assert_eq!(vars[0], "gitlab-registry-usage-rest");
    assert_eq!(vars[1], VERSION, "PKGBUILD pkgver vs Cargo.toml");
    assert_eq!(vars[3], "etc/gitlab_registry_usage_rest.conf");

    let srcinfo = read(SRCINFO);
    let field = |name: &str| -> Vec<String> {
        srcinfo
            .lines()
            .filter_map(|l| l.trim().strip_prefix(&format!("{name} = ")))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(field("pkgver"), [VERSION.to_string()], ".SRCINFO pkgver");
    assert_eq!(field("pkgrel"), [vars[2].clone()], ".SRCINFO pkgrel");
    assert_eq!(field("pkgbase"), [vars[0].clone()]);
    assert_eq!(field("pkgname"), [vars[0].clone()]);
    assert_eq!(field("backup"), [vars[3].clone()]);
    assert_eq!(
        field("source"),
        [format!("gitlab-registry-usage-rest-{VERSION}.tar.gz")]
    );

    let pkgbuild = read(PKGBUILD);
    for must in [
        "cargo fetch --locked --target \"$(rustc -vV | sed -n 's/host: //p')\"",
        "cargo build --frozen --release",
        "cargo test --frozen --lib",
    ] {
        assert!(pkgbuild.contains(must), "{PKGBUILD} lacks {must}");
    }
}

#[test]
fn pkgbuild_package_installs_what_the_deb_installs() {
    if !have("bash", "bash") || !have("install", "coreutils") {
        return;
    }
    let vars = pkgbuild_vars();
    let dir = scratch("arch");
    let src = dir.join("src");
    let tree = src.join(format!("{}-{}", vars[0], vars[1]));
    // The release tarball's tree, with a stand-in for the built binary.
    for rel in [
        PAGE1,
        PAGE5,
        UNIT,
        CONF,
        "packaging/arch/gitlab-registry-usage-rest.sysusers",
        "packaging/arch/gitlab-registry-usage-rest.tmpfiles",
        "README.md",
        "ARCHITECTURE.md",
        "docs/API.md",
        "docs/CONFIGURATION.md",
        "docs/PERFORMANCE.md",
        "packaging/prometheus/gitlab-registry-usage-rest.rules.yml",
        "packaging/prometheus/gitlab-registry-usage-rest.rules.test.yml",
        "LICENSE",
    ] {
        let to = tree.join(rel);
        fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        fs::copy(root().join(rel), &to).unwrap_or_else(|e| panic!("{rel}: {e}"));
    }
    let bin = tree.join("target/release/gitlab-registry-usage-rest");
    fs::create_dir_all(bin.parent().expect("parent")).expect("mkdir");
    fs::write(&bin, "stand-in").expect("binary");
    let pkg = dir.join("pkg");
    let o = run(Command::new("bash")
        .arg("-c")
        .arg("set -euo pipefail; source \"$1\"; cd \"$srcdir\"; package")
        .arg("bash")
        .arg(root().join(PKGBUILD))
        .env("srcdir", &src)
        .env("pkgdir", &pkg));
    assert!(o.status.success(), "package(): {}", text(&o));

    let mut installed = BTreeSet::new();
    let mut stack = vec![pkg.clone()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(&pkg).expect("prefix");
                installed.insert(rel.to_string_lossy().into_owned());
            }
        }
    }
    let mut expected: BTreeSet<String> = deb_assets().into_iter().map(|(_, d, _)| d).collect();
    expected.extend([
        "usr/lib/sysusers.d/gitlab-registry-usage-rest.conf".to_string(),
        "usr/lib/tmpfiles.d/gitlab-registry-usage-rest.conf".to_string(),
        "usr/share/licenses/gitlab-registry-usage-rest/LICENSE".to_string(),
    ]);
    assert_eq!(installed, expected);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |rel: &str| {
            fs::metadata(pkg.join(rel))
                .expect("stat")
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("etc/gitlab_registry_usage_rest.conf"), 0o640);
        assert_eq!(mode("usr/bin/gitlab-registry-usage-rest"), 0o755);
    }
}

#[test]
fn arch_sysusers_and_tmpfiles_snippets() {
    let sysusers = read("packaging/arch/gitlab-registry-usage-rest.sysusers");
    assert!(sysusers.lines().any(|l| l.starts_with(
        "u gitlab-registry-usage-rest - \"gitlab-registry-usage-rest daemon\" /var/lib/gitlab-registry-usage-rest"
    )));
    let tmpfiles = read("packaging/arch/gitlab-registry-usage-rest.tmpfiles");
    assert!(tmpfiles
        .lines()
        .any(|l| l
            == "z /etc/gitlab_registry_usage_rest.conf 0640 root gitlab-registry-usage-rest -"));
    if !have("systemd-sysusers", "systemd") {
        return;
    }
    // Apply the sysusers snippet to an empty root: it must create exactly our user and group.
    let dir = scratch("sysusers");
    fs::create_dir_all(dir.join("etc")).expect("etc");
    for f in ["passwd", "group", "shadow", "gshadow"] {
        fs::write(dir.join("etc").join(f), "").expect("empty db");
    }
    let o = run(Command::new("sh")
        .arg("-c")
        .arg("systemd-sysusers --root=\"$1\" - < \"$2\"")
        .arg("sh")
        .arg(&dir)
        .arg(root().join("packaging/arch/gitlab-registry-usage-rest.sysusers")));
    assert!(o.status.success(), "systemd-sysusers: {}", text(&o));
    let passwd = fs::read_to_string(dir.join("etc/passwd")).expect("passwd");
    let fields: Vec<&str> = passwd.trim().split(':').collect();
    assert_eq!(fields[0], "gitlab-registry-usage-rest", "{passwd}");
    assert_eq!(fields[5], "/var/lib/gitlab-registry-usage-rest", "{passwd}");
    let group = fs::read_to_string(dir.join("etc/group")).expect("group");
    assert!(group.starts_with("gitlab-registry-usage-rest:"), "{group}");
}

#[test]
fn license_is_mit() {
    let l = read("LICENSE");
    assert!(l.starts_with("MIT License"));
    assert!(l.contains("Copyright (c) 2026 the gitlab-registry-usage-rest authors"));
    assert_eq!(env!("CARGO_PKG_LICENSE"), "MIT");
}
