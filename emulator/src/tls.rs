//! Certificates: a CA (fresh per emulator, or kept in a directory across starts), and a server
//! certificate it signs for 127.0.0.1, ::1 and localhost at every start. Clients trust the CA via
//! `Emulator::ca_pem`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;

use crate::EmulatorError;

/// The generated TLS material.
pub struct TlsMaterial {
    /// PEM of the CA.
    pub ca_pem: String,
    /// Ready-to-use server configuration (HTTP/1.1 via ALPN).
    pub config: Arc<ServerConfig>,
}

/// The CA key file in a kept directory (mode 0600); `ca.pem` beside it is its certificate.
pub const CA_KEY_FILE: &str = "ca-key.pem";
/// The CA certificate file in a kept directory.
pub const CA_CERT_FILE: &str = "ca.pem";

/// Generates the CA and server certificate and builds the rustls configuration. With `ca_dir`, the
/// CA key is read from `ca_dir/ca-key.pem` when there is one (refused unless private, see
/// [`crate::read_private_file`]), else generated and written there, and `ca_dir/ca.pem` is (re)written.
/// The CA certificate depends only on its key (fixed name, validity and serial), so a `ca.pem` saved
/// at any earlier start validates every later server certificate.
pub fn generate(ca_dir: Option<&Path>) -> Result<TlsMaterial, EmulatorError> {
    let ca_key = match ca_dir {
        None => KeyPair::generate()?,
        Some(dir) => kept_ca_key(dir)?,
    };
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "okta-emulator test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key)?;
    if let Some(dir) = ca_dir {
        crate::write_private_file(&dir.join(CA_CERT_FILE), &ca_cert.pem())?;
    }

    let key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()])?;
    leaf.subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    leaf.subject_alt_names
        .push(SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    leaf.distinguished_name
        .push(DnType::CommonName, "okta-emulator");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_cert = leaf.signed_by(&key, &ca_cert, &ca_key)?;

    // Explicit provider: never depend on a process-wide default being installed (or not).
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf_cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsMaterial {
        ca_pem: ca_cert.pem(),
        config: Arc::new(config),
    })
}

/// The CA key kept in `dir`, or a new one written there.
fn kept_ca_key(dir: &Path) -> Result<KeyPair, EmulatorError> {
    let path = dir.join(CA_KEY_FILE);
    match crate::read_private_file(&path, crate::files::MAX_KEY_FILE)? {
        Some(pem) => KeyPair::from_pem(&pem).map_err(|e| EmulatorError::Refused {
            path: path.display().to_string(),
            reason: format!(
                "it is not a usable CA key ({e}); remove it to have a new CA generated"
            ),
        }),
        None => {
            let key = KeyPair::generate()?;
            crate::write_private_file(&path, &key.serialize_pem())?;
            Ok(key)
        }
    }
}
