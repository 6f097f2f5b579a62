//! A throwaway OpenLDAP server for tests: a CA and a server certificate for 127.0.0.1 and
//! localhost (made with the `openssl` command), a `slapd.conf` with an mdb database for
//! `dc=example,dc=com`, a few users loaded with `slapadd`, and `slapd` listening on free loopback
//! ports for `ldap://` (plain and StartTLS) and `ldaps://`.
//!
//! Std only (besides [`super::tls`]). It needs the Debian packages `slapd` and `openssl`.
//! When they are missing, [`shared`] and [`start`] panic under `CI=true` (a CI run must never
//! skip LDAP tests silently) and otherwise print a loud notice and return `None`.
//!
//! Clean-up does not rely on destructors, which never run for a `static`: `slapd` runs under a
//! small `sh` watchdog that reads its stdin, a pipe from the test process. When the pipe closes
//! (the [`Slapd`] is dropped, or the test process exits or is killed) the watchdog kills `slapd`
//! and removes the temporary directory.
//!
//! Directory layout (passwords are the constants below):
//! - `ou=people,dc=example,dc=com`, readable anonymously: alice (gidNumber 10000), bob (20000),
//!   carol (10000, a password with spaces and non-ASCII characters), erin (10000, two `uid`
//!   values: `erin` and `e.mueller`), twin1 and twin2 (10000, both also `uid: twin`).
//! - `ou=staff,dc=example,dc=com`, invisible to anyone but the service account
//!   `cn=svc,dc=example,dc=com`: dave (10000). Proves the `bind_dn` search mode.
//! - `userPassword` is only usable for binding, never readable.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::tls::{self, run};
use super::{find_program, free_port, missing_prerequisite};

pub const SUFFIX: &str = "dc=example,dc=com";
pub const PEOPLE: &str = "ou=people,dc=example,dc=com";
pub const STAFF: &str = "ou=staff,dc=example,dc=com";
pub const VALID_GID: &str = "10000";

pub const ALICE_PW: &str = "alice-pw";
pub const BOB_PW: &str = "bob-pw";
/// Leading, inner and trailing spaces, Latin-1 and CJK characters.
pub const CAROL_PW: &str = " carol's pässwörd 密码 with  spaces ";
pub const ERIN_PW: &str = "erin-pw";
pub const DAVE_PW: &str = "dave-pw";
/// twin1 and twin2 both also carry `uid: twin`, which makes `twin` ambiguous.
pub const TWIN_PW: &str = "twin-pw";
pub const SVC_DN: &str = "cn=svc,dc=example,dc=com";
pub const SVC_PW: &str = "svc-pw";
/// The directory's administrator (slapd's `rootdn`), for tests that change entries.
pub const ROOT_DN: &str = "cn=admin,dc=example,dc=com";
pub const ROOT_PW: &str = "root-pw";

/// How long `slapd` may take to listen after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Slapd {
    pub dir: PathBuf,
    pub ldap_port: u16,
    pub ldaps_port: u16,
    watchdog: Child,
}

impl Slapd {
    pub fn ldap_url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.ldap_port)
    }

    pub fn ldaps_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.ldaps_port)
    }

    /// The CA that signed the server certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A second CA that signed nothing this server presents.
    pub fn other_ca_file(&self) -> PathBuf {
        self.dir.join("other-ca.pem")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("slapd.log")).unwrap_or_default()
    }

    /// Sets `uid`'s `gidNumber` under [`PEOPLE`] (with `ldapmodify` as the rootdn) until the
    /// guard is dropped, which restores `restore`: a failing test leaves the directory as it
    /// was.
    pub fn set_gid(&self, uid: &str, gid: &str, restore: &str) -> GidGuard<'_> {
        self.modify_gid(uid, gid).unwrap();
        GidGuard {
            slapd: self,
            uid: uid.to_string(),
            restore: restore.to_string(),
        }
    }

    fn modify_gid(&self, uid: &str, gid: &str) -> Result<(), String> {
        let ldif = format!(
            "dn: uid={uid},{PEOPLE}\nchangetype: modify\nreplace: gidNumber\ngidNumber: {gid}\n"
        );
        let mut child = Command::new("ldapmodify")
            .args(["-x", "-H", &self.ldap_url(), "-D", ROOT_DN, "-w", ROOT_PW])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("ldapmodify (Debian package ldap-utils): {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(ldif.as_bytes())
                .map_err(|e| e.to_string())?;
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "ldapmodify failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    }
}

/// Restores a user's `gidNumber` when dropped (see [`Slapd::set_gid`]).
pub struct GidGuard<'a> {
    slapd: &'a Slapd,
    uid: String,
    restore: String,
}

impl Drop for GidGuard<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.slapd.modify_gid(&self.uid, &self.restore) {
            eprintln!("could not restore the gidNumber of {}: {e}", self.uid);
        }
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        // Closing the watchdog's stdin makes it kill slapd and remove the directory.
        drop(self.watchdog.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.watchdog.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
    }
}

/// One server per test binary, started on first use; `None` (after a loud notice) when slapd
/// is not installed outside CI.
pub fn shared() -> Option<&'static Slapd> {
    static SHARED: OnceLock<Option<Slapd>> = OnceLock::new();
    SHARED.get_or_init(start).as_ref()
}

/// A server of one's own, stopped on drop.
pub fn start() -> Option<Slapd> {
    let Some(tools) = Tools::find() else {
        missing_prerequisite(
            "LDAP TESTS",
            "slapd, slapadd, slappasswd or openssl not found: install the Debian packages \
             `slapd openssl` to run the LDAP tests",
        );
        return None;
    };
    // A free port found by binding to :0 can be taken by someone else before slapd binds it:
    // try again with new ports, a bounded number of times.
    let mut last_error = String::new();
    for _ in 0..3 {
        match start_once(&tools) {
            Ok(s) => return Some(s),
            Err(e) => last_error = e,
        }
    }
    let apparmor = if Path::new("/sys/kernel/security/apparmor").exists() {
        " (AppArmor is active: if a profile confines /usr/sbin/slapd, as on Ubuntu, it may \
         forbid the temporary directory; `aa-complain /usr/sbin/slapd` lifts that)"
    } else {
        ""
    };
    panic!("slapd did not start: {last_error}{apparmor}");
}

struct Tools {
    slapd: PathBuf,
    slapadd: PathBuf,
    slappasswd: PathBuf,
    openssl: PathBuf,
}

impl Tools {
    fn find() -> Option<Tools> {
        Some(Tools {
            slapd: find_program("slapd")?,
            slapadd: find_program("slapadd")?,
            slappasswd: find_program("slappasswd")?,
            openssl: find_program("openssl")?,
        })
    }
}

fn start_once(tools: &Tools) -> Result<Slapd, String> {
    let dir = temp_dir()?;
    // Until the watchdog owns the directory, remove it ourselves on failure.
    let result = prepare_and_launch(tools, &dir);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn prepare_and_launch(tools: &Tools, dir: &Path) -> Result<Slapd, String> {
    make_certificates(tools, dir)?;
    std::fs::create_dir(dir.join("db")).map_err(|e| e.to_string())?;
    let conf = dir.join("slapd.conf");
    std::fs::write(&conf, slapd_conf(dir)).map_err(|e| e.to_string())?;
    let ldif = dir.join("data.ldif");
    std::fs::write(&ldif, data_ldif(tools)?).map_err(|e| e.to_string())?;
    run(Command::new(&tools.slapadd)
        .arg("-q")
        .arg("-f")
        .arg(&conf)
        .arg("-l")
        .arg(&ldif))?;

    let ldap_port = free_port();
    let ldaps_port = free_port();
    let urls = format!("ldap://127.0.0.1:{ldap_port}/ ldaps://127.0.0.1:{ldaps_port}/");
    // Any `-d` keeps slapd in the foreground, so the watchdog can kill it by pid; level 32768
    // ("none") still prints errors such as a port already in use, unlike `-d 0`.
    let script = r#"
        "$1" -d 32768 -f "$2" -h "$3" >"$4/slapd.log" 2>&1 &
        pid=$!
        echo "$pid"
        read -r _ || :
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        rm -rf "$4"
    "#;
    let mut watchdog = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("slapd-watchdog")
        .arg(&tools.slapd)
        .arg(&conf)
        .arg(&urls)
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run sh: {e}"))?;
    // The watchdog prints slapd's pid at once; EOF (no pid) means it died.
    let mut pid_line = String::new();
    if let Some(out) = watchdog.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut pid_line);
    }
    let pid: u32 = pid_line.trim().parse().unwrap_or(0);
    let slapd = Slapd {
        dir: dir.to_path_buf(),
        ldap_port,
        ldaps_port,
        watchdog,
    };

    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if listening(ldap_port) && listening(ldaps_port) {
            return Ok(slapd);
        }
        if !alive(pid) {
            return Err(format!("slapd exited at start on {urls}: {}", slapd.log()));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "slapd not listening on {urls} after {START_TIMEOUT:?}: {}",
                slapd.log()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether process `pid` runs (a zombie, exited but not yet reaped by the watchdog, does not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat.rsplit_once(") ")?.1.chars().next()?;
            Some(state != 'Z' && state != 'X')
        })
        .unwrap_or(false)
}

fn listening(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

fn temp_dir() -> Result<PathBuf, String> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    // No spaces: the path goes into slapd.conf unquoted.
    let dir = std::env::temp_dir().join(format!(
        "slapd-test-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// The CA and the server certificate (see `tls.rs`, shared with the registry's TLS tests).
fn make_certificates(tools: &Tools, dir: &Path) -> Result<(), String> {
    tls::make_test_pki(&tools.openssl, dir)
}

fn slapd_conf(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile {d}/ca.pem
TLSCertificateFile {d}/server.pem
TLSCertificateKeyFile {d}/server.key

database mdb
maxsize 10485760
suffix "{SUFFIX}"
rootdn "cn=admin,{SUFFIX}"
rootpw {ROOT_PW}
directory {d}/db
access to attrs=userPassword
    by anonymous auth
    by * none
access to dn.subtree="{STAFF}"
    by dn.exact="{SVC_DN}" read
    by * none
access to *
    by * read
"#
    )
}

fn data_ldif(tools: &Tools) -> Result<String, String> {
    let hash = |pw: &str| -> Result<String, String> {
        Ok(run(Command::new(&tools.slappasswd)
            .args(["-h", "{SSHA}", "-s"])
            .arg(pw))?
        .trim()
        .to_string())
    };
    let person = |uids: &[&str], ou: &str, gid: &str, uid_number: u32, pw: &str| {
        let mut s = format!(
            "dn: uid={},{ou}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n\
             cn: {0}\nsn: {0}\n",
            uids[0]
        );
        for uid in uids {
            s += &format!("uid: {uid}\n");
        }
        s += &format!(
            "uidNumber: {uid_number}\ngidNumber: {gid}\nhomeDirectory: /home/{}\nuserPassword: {}\n\n",
            uids[0],
            hash(pw)?
        );
        Ok::<_, String>(s)
    };
    let mut ldif = format!(
        "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
         dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: {STAFF}\nobjectClass: organizationalUnit\nou: staff\n\n\
         dn: {SVC_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n\
         cn: svc\nuserPassword: {}\n\n",
        hash(SVC_PW)?
    );
    ldif += &person(&["alice"], PEOPLE, VALID_GID, 1001, ALICE_PW)?;
    ldif += &person(&["bob"], PEOPLE, "20000", 1002, BOB_PW)?;
    ldif += &person(&["carol"], PEOPLE, VALID_GID, 1003, CAROL_PW)?;
    ldif += &person(&["erin", "e.mueller"], PEOPLE, VALID_GID, 1005, ERIN_PW)?;
    ldif += &person(&["dave"], STAFF, VALID_GID, 1004, DAVE_PW)?;
    ldif += &person(&["twin1", "twin"], PEOPLE, VALID_GID, 1006, TWIN_PW)?;
    ldif += &person(&["twin2", "twin"], PEOPLE, VALID_GID, 1007, TWIN_PW)?;
    Ok(ldif)
}

/// Writes `text` to a new file in `dir` (for tests that need a broken CA file and the like).
pub fn write_file(dir: &Path, name: &str, text: &[u8]) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(text).unwrap();
    path
}
