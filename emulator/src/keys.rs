//! Client key pairs for `private_key_jwt`: tests and the demo generate one and register its
//! public half with the emulator.

use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};

use crate::EmulatorError;

/// An RSA key pair for one client, PEM-encoded.
#[derive(Clone, Debug)]
pub struct ClientKeyPair {
    /// The client id the pair was generated for.
    pub client_id: String,
    /// Key id to put in the JWT header and in the registration.
    pub kid: String,
    /// PKCS#8 private key PEM (`-----BEGIN PRIVATE KEY-----`).
    pub private_key_pem: String,
    /// SPKI public key PEM (`-----BEGIN PUBLIC KEY-----`).
    pub public_key_pem: String,
}

/// Generates an RSA-2048 key pair; the kid is derived from the public key so it is stable
/// for a given key.
pub fn generate_client_key_pair(client_id: &str) -> Result<ClientKeyPair, EmulatorError> {
    let mut rng = rand::thread_rng();
    let private =
        RsaPrivateKey::new(&mut rng, 2048).map_err(|e| EmulatorError::Key(e.to_string()))?;
    let public = RsaPublicKey::from(&private);
    let private_key_pem = private
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| EmulatorError::Key(e.to_string()))?
        .to_string();
    let public_der = public
        .to_public_key_der()
        .map_err(|e| EmulatorError::Key(e.to_string()))?;
    let public_key_pem = public
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| EmulatorError::Key(e.to_string()))?;
    let digest = Sha256::digest(public_der.as_bytes());
    let kid: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Ok(ClientKeyPair {
        client_id: client_id.to_string(),
        kid,
        private_key_pem,
        public_key_pem,
    })
}
