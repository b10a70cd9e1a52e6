//! A client certificate and its private key for mutual TLS (a syslog receiver that authenticates its
//! senders). The key is read from its file when the sink opens and kept only in memory: it is never
//! stored in the state, logged or shown.

use std::path::Path;

/// The most a certificate chain or key file may hold.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// A certificate chain and its private key, ready for rustls.
pub(crate) struct ClientIdentity {
    pub(crate) chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    pub(crate) key: rustls::pki_types::PrivateKeyDer<'static>,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("certificates", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl ClientIdentity {
    /// Reads the PEM certificate chain (leaf first) at `cert` and the PEM private key (PKCS#8, PKCS#1
    /// or SEC1) at `key`. A key file others can read is used, with a warning.
    pub(crate) fn load(cert: &Path, key: &Path) -> Result<ClientIdentity, String> {
        let read = |p: &Path, what: &str| {
            crate::files::read_regular(p, MAX_PEM_BYTES)
                .map_err(|e| format!("cannot read the client {what} {}: {e}", p.display()))
        };
        let chain = rustls_pemfile::certs(&mut read(cert, "certificate")?.as_slice())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("the client certificate {}: {e}", cert.display()))?;
        if chain.is_empty() {
            return Err(format!(
                "the client certificate file {} holds no PEM certificate",
                cert.display()
            ));
        }
        warn_if_readable_by_others(key);
        let key_der = rustls_pemfile::private_key(&mut read(key, "key")?.as_slice())
            // The parser's message could quote key material: name the file only.
            .map_err(|_| format!("the client key {} is not a PEM private key", key.display()))?
            .ok_or_else(|| {
                format!(
                    "the client key file {} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
                    key.display()
                )
            })?;
        Ok(ClientIdentity {
            chain,
            key: key_der,
        })
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path) {
        if m.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                "the client key {} can be read by other users (mode {:o}); chmod 600 it",
                path.display(),
                m.permissions().mode() & 0o777
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_or_empty_files_are_refused_naming_the_file_not_its_contents() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, "not a certificate").unwrap();
        std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n").unwrap();
        let e = ClientIdentity::load(&cert, &key).unwrap_err();
        assert!(
            e.contains("holds no PEM certificate") && e.contains("cert.pem"),
            "{e}"
        );
        let missing = ClientIdentity::load(&dir.path().join("absent.pem"), &key).unwrap_err();
        assert!(
            missing.contains("cannot read the client certificate"),
            "{missing}"
        );
        assert!(
            ClientIdentity::load(dir.path(), &key).is_err(),
            "a directory"
        );
    }
}
