//! Which certificate authorities outgoing TLS trusts (to the LDAP server, the registry and
//! GitLab): the system's roots, a configured `ca_file`, or both — one loader, with the mode
//! said explicitly at each call, because the two settings mean different things: `[ldap]
//! ca_file` *replaces* the system roots (as OpenLDAP's `TLS_CACERT` does), `[registry]
//! ca_file` *adds* to them (blob downloads may be redirected to storage with a public
//! certificate while the registry has a private one).
//!
//! It reads the named file and the system store and nothing else; it builds no connection.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// What a configured CA file does to the system roots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaMode {
    /// The file's CAs instead of the system's (the system's when there is no file).
    Replace,
    /// The file's CAs as well as the system's.
    Add,
}

/// The trusted CA certificates, and where they came from (for the log).
#[derive(Debug, Default)]
pub struct Roots {
    pub certs: Vec<CertificateDer<'static>>,
    pub from_system: usize,
    pub from_file: usize,
}

/// Loads the CAs for one section (`ldap`, `registry`: named in the messages). A file that
/// cannot be read, is not PEM or holds no certificate is an error naming the key.
pub fn load_roots(section: &str, ca_file: Option<&Path>, mode: CaMode) -> Result<Roots, String> {
    let mut roots = Roots::default();
    if ca_file.is_none() || mode == CaMode::Add {
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            log::warn!("{section}: a system CA certificate could not be loaded: {e}");
        }
        roots.from_system = native.certs.len();
        roots.certs = native.certs;
    }
    if let Some(path) = ca_file {
        let shown = path.display();
        let pem = std::fs::read(path)
            .map_err(|e| format!("[{section}] ca_file {shown}: cannot read it: {e}"))?;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert
                .map_err(|e| format!("[{section}] ca_file {shown}: not a valid PEM file: {e}"))?;
            roots.certs.push(cert);
            roots.from_file += 1;
        }
        if roots.from_file == 0 {
            return Err(format!(
                "[{section}] ca_file {shown}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it"
            ));
        }
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_names_the_key() {
        let dir = std::env::temp_dir().join(format!("tls-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok();
        let f = dir.join("empty.pem");
        std::fs::write(&f, "not a certificate\n").ok();
        for mode in [CaMode::Replace, CaMode::Add] {
            let e = load_roots("ldap", Some(&f), mode).err().unwrap_or_default();
            assert!(e.starts_with("[ldap] ca_file"), "{e}");
            assert!(e.contains("no PEM certificate"), "{e}");
        }
        let e = load_roots("registry", Some(&dir.join("missing.pem")), CaMode::Add)
            .err()
            .unwrap_or_default();
        assert!(
            e.contains("[registry] ca_file") && e.contains("cannot read it"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
