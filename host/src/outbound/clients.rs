//! Pooled HTTPS clients (system roots plus an optional CA file), the limits every outbound request
//! gets, and reading CA files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;

/// Limits applied to every request a connector sends.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// Longest wait for response headers, whatever the component asks for.
    pub max_first_byte_timeout: Duration,
    /// Longest gap between body chunks.
    pub between_bytes_timeout: Duration,
    /// Largest response body accepted.
    pub max_response_bytes: usize,
    /// Largest request body accepted from the component.
    pub max_request_bytes: usize,
}

impl Default for HttpLimits {
    /// 10 s to connect, at most 2 minutes to the response headers and 30 s between body chunks, response
    /// bodies up to 64 MiB, request bodies up to 1 MiB.
    fn default() -> Self {
        HttpLimits {
            connect_timeout: Duration::from_secs(10),
            max_first_byte_timeout: Duration::from_secs(120),
            between_bytes_timeout: Duration::from_secs(30),
            max_response_bytes: 64 << 20,
            max_request_bytes: 1 << 20,
        }
    }
}

/// Why an HTTPS client could not be set up.
#[derive(Debug, Error)]
pub enum HttpSetupError {
    /// The CA file could not be read or holds no certificate.
    #[error("cannot use CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The TLS client could not be built.
    #[error("cannot build the HTTPS client: {0}")]
    Client(#[source] reqwest::Error),
}

/// Pooled HTTPS clients, one per distinct CA file, shared by all instances and ticks (connections are
/// kept alive between ticks).
#[derive(Clone, Default)]
pub(crate) struct ClientPool {
    clients: Arc<Mutex<HashMap<Option<PathBuf>, reqwest::Client>>>,
    limits: HttpLimits,
}

impl ClientPool {
    pub(crate) fn new(limits: HttpLimits) -> ClientPool {
        ClientPool {
            clients: Arc::default(),
            limits,
        }
    }

    pub(crate) fn limits(&self) -> &HttpLimits {
        &self.limits
    }

    /// The client trusting system roots plus `ca_file`, built once.
    pub(crate) fn client(&self, ca_file: Option<&Path>) -> Result<reqwest::Client, HttpSetupError> {
        let key = ca_file.map(Path::to_path_buf);
        let mut map = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(&key) {
            return Ok(c.clone());
        }
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(self.limits.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(crate::USER_AGENT);
        if let Some(path) = ca_file {
            for cert in load_ca_file(path)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder.build().map_err(HttpSetupError::Client)?;
        map.insert(key, client.clone());
        Ok(client)
    }
}

/// Reads every certificate in a PEM file.
pub(crate) fn load_ca_file(path: &Path) -> Result<Vec<reqwest::Certificate>, HttpSetupError> {
    let err = |reason: String| HttpSetupError::CaFile {
        path: path.display().to_string(),
        reason,
    };
    let pem = crate::files::read_regular(path, 1 << 20).map_err(|e| err(e.to_string()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no CERTIFICATE block found".into()));
    }
    Ok(certs)
}

/// A rustls client configuration (for connections that are not HTTP: PostgreSQL, syslog) with the
/// system's roots and `ca_file`'s certificates; no client certificate. The error says what is wrong.
pub(crate) fn rustls_client_config(
    ca_file: Option<&Path>,
    identity: Option<super::ClientIdentity>,
) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A system certificate rustls cannot parse is skipped, as every rustls client does.
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
        let mut added = 0;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| format!("the CA file {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("the CA file {}: {e}", path.display()))?;
            added += 1;
        }
        if added == 0 {
            return Err(format!(
                "the CA file {} holds no PEM certificate",
                path.display()
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    match identity {
        None => Ok(builder.with_no_client_auth()),
        Some(id) => builder
            .with_client_auth_cert(id.chain, id.key)
            .map_err(|e| format!("the client certificate and key do not go together: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_files_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate").unwrap();
        let e = load_ca_file(&empty).unwrap_err().to_string();
        assert!(
            e.starts_with("cannot use CA file") && e.contains("empty.pem"),
            "{e}"
        );
        let missing = load_ca_file(&dir.path().join("missing.pem")).unwrap_err();
        assert!(matches!(missing, HttpSetupError::CaFile { .. }));
    }
}
