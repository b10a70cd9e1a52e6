//! Client key pairs for `private_key_jwt`: tests and the demo generate one and register its
//! public half with the emulator; the standalone emulator reads one back from its directory.

use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
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
    key_pair(client_id, &private)
}

/// The pair of an existing RSA private key (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY` PEM),
/// with the same kid [`generate_client_key_pair`] gave it; its private PEM is re-encoded as PKCS#8.
pub fn client_key_pair_from_pem(
    client_id: &str,
    private_key_pem: &str,
) -> Result<ClientKeyPair, EmulatorError> {
    let private = RsaPrivateKey::from_pkcs8_pem(private_key_pem).or_else(|pkcs8| {
        RsaPrivateKey::from_pkcs1_pem(private_key_pem).map_err(|_| {
            EmulatorError::Key(format!("not an RSA private key PEM (PKCS#8: {pkcs8})"))
        })
    })?;
    key_pair(client_id, &private)
}

fn key_pair(client_id: &str, private: &RsaPrivateKey) -> Result<ClientKeyPair, EmulatorError> {
    let public = RsaPublicKey::from(private);
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

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1::EncodeRsaPrivateKey;

    #[test]
    fn a_key_read_back_has_the_same_kid_and_public_key() {
        let a = generate_client_key_pair("0oa-a").unwrap();
        let b = client_key_pair_from_pem("0oa-a", &a.private_key_pem).unwrap();
        assert_eq!((&a.kid, &a.public_key_pem), (&b.kid, &b.public_key_pem));
        assert_eq!(a.private_key_pem, b.private_key_pem);
        // PKCS#1 too.
        let private = RsaPrivateKey::from_pkcs8_pem(&a.private_key_pem).unwrap();
        let pkcs1 = private.to_pkcs1_pem(LineEnding::LF).unwrap();
        assert_eq!(
            client_key_pair_from_pem("0oa-a", &pkcs1).unwrap().kid,
            a.kid
        );
        let e =
            client_key_pair_from_pem("0oa-a", "-----BEGIN PRIVATE KEY-----\nAAAA\n").unwrap_err();
        assert!(e.to_string().contains("not an RSA private key PEM"), "{e}");
    }
}
