//! Signing client assertions with the instance's RSA private key (RS256), natively in the host.
//! The key is read from the PEM file the user configured each time a run starts; it is never copied into
//! the database, the logs, or the component.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer as _};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use sha2::Sha256;
use std::path::Path;
use thiserror::Error;

/// Why a private key file cannot be used.
#[derive(Debug, Error)]
pub enum KeyError {
    /// The file could not be read.
    #[error("cannot read private key file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a usable RSA private key; the reason says what it is instead.
    #[error("private key file {path} is not usable: {reason}")]
    Unusable {
        /// The file.
        path: String,
        /// What is wrong and what to give instead.
        reason: String,
    },
}

/// An RS256 signer over one RSA private key.
pub struct Rs256Signer {
    key: SigningKey<Sha256>,
}

impl std::fmt::Debug for Rs256Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.write_str("Rs256Signer { .. }")
    }
}

impl Rs256Signer {
    /// Loads and checks a PEM file (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`).
    pub fn from_pem_file(path: &Path) -> Result<Rs256Signer, KeyError> {
        // A PEM key is a few KiB: a device or a FIFO given by mistake must not be read forever.
        let text = crate::files::read_regular(path, 64 << 10).map_err(|source| KeyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let text = String::from_utf8_lossy(&text);
        Self::from_pem(&text).map_err(|reason| KeyError::Unusable {
            path: path.display().to_string(),
            reason,
        })
    }

    /// Parses PEM text; the error is a reason a user can act on. Text around the first PEM block (blank
    /// lines, `Bag Attributes` from a PKCS#12 export) is ignored.
    pub fn from_pem(text: &str) -> Result<Rs256Signer, String> {
        Ok(Rs256Signer {
            key: SigningKey::<Sha256>::new(parse_private_pem(text)?),
        })
    }

    /// Signs `input` with RS256 and returns the base64url (no padding) signature.
    pub fn sign_b64url(&self, input: &[u8]) -> String {
        let sig = self.key.sign(input);
        URL_SAFE_NO_PAD.encode(sig.to_bytes())
    }
}

/// The RSA private key in PEM text (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`, at least 2048
/// bits), or a reason a user can act on: what the text holds instead and what to give. Text around the
/// first PEM block is ignored. The one parser of user-supplied keys (signing, `keys.rs`).
pub(crate) fn parse_private_pem(text: &str) -> Result<RsaPrivateKey, String> {
    let text = first_block(text);
    let label = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("-----BEGIN "))
        .and_then(|l| l.strip_suffix("-----"))
        .map(str::to_string);
    let key = match label.as_deref() {
        None => return Err("no PEM block found; give the private key file (-----BEGIN PRIVATE KEY-----) you generated for the Okta app".into()),
        Some("RSA PRIVATE KEY") if text.contains("Proc-Type: 4,ENCRYPTED") => {
            return Err("the key is encrypted with a passphrase; decrypt it first: openssl rsa -in key.pem -out key-plain.pem".into())
        }
        Some("RSA PRIVATE KEY") => RsaPrivateKey::from_pkcs1_pem(text)
            .map_err(|e| format!("the RSA PRIVATE KEY block does not parse ({e})"))?,
        Some("PRIVATE KEY") => RsaPrivateKey::from_pkcs8_pem(text).map_err(|e| {
            format!("the PRIVATE KEY block is not an RSA key ({e}); okta-ingest signs with RS256 and needs an RSA private key")
        })?,
        Some("ENCRYPTED PRIVATE KEY") => {
            return Err("the key is encrypted with a passphrase; decrypt it first: openssl pkcs8 -in key.pem -out key-plain.pem".into())
        }
        Some("EC PRIVATE KEY") => {
            return Err("it is an EC key; okta-ingest signs with RS256 and needs an RSA private key (openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048)".into())
        }
        Some(l) if l.contains("PUBLIC KEY") || l.contains("CERTIFICATE") => {
            return Err(format!("it holds a {l}, not a private key; give the private half of the key pair whose public key is registered in Okta"))
        }
        Some(l) => return Err(format!("unexpected PEM block {l:?}; give an RSA private key (PKCS#1 or PKCS#8)")),
    };
    if key.size() < 256 {
        return Err("the RSA key is shorter than 2048 bits; Okta requires at least 2048".into());
    }
    Ok(key)
}

/// The first `-----BEGIN …-----` … `-----END …-----` block of `text` (all of `text` without one).
fn first_block(text: &str) -> &str {
    let Some(start) = text.find("-----BEGIN ") else {
        return text;
    };
    let Some(end_marker) = text[start..].find("-----END ").map(|i| start + i) else {
        return &text[start..];
    };
    let after = end_marker + "-----END ".len();
    match text[after..].find("-----") {
        Some(i) => &text[start..after + i + "-----".len()],
        None => &text[start..],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    use rsa::signature::Verifier;

    fn key() -> RsaPrivateKey {
        let mut rng = rand::thread_rng();
        RsaPrivateKey::new(&mut rng, 2048).unwrap()
    }

    #[test]
    fn signs_verifiable_rs256() {
        let k = key();
        let pem = k.to_pkcs8_pem(LineEnding::LF).unwrap();
        let signer = Rs256Signer::from_pem(&pem).unwrap();
        let sig = signer.sign_b64url(b"header.claims");
        let bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
        let verifier = VerifyingKey::<Sha256>::new(k.to_public_key());
        let sig = Signature::try_from(bytes.as_slice()).unwrap();
        verifier.verify(b"header.claims", &sig).unwrap();
        assert!(verifier.verify(b"header.other", &sig).is_err());
    }

    #[test]
    fn pkcs1_is_accepted() {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let pem = key().to_pkcs1_pem(LineEnding::LF).unwrap();
        assert!(Rs256Signer::from_pem(&pem).is_ok());
    }

    #[test]
    fn bad_pems_explain_themselves() {
        let cases = [
            ("hello", "no PEM block"),
            ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "not a private key"),
            ("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n", "EC key"),
            ("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", "encrypted"),
            ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not an RSA key"),
        ];
        for (pem, want) in cases {
            let e = Rs256Signer::from_pem(pem).unwrap_err();
            assert!(e.contains(want), "{pem:?}: {e}");
        }
    }

    #[test]
    fn text_around_the_block_is_ignored() {
        let pem = key().to_pkcs8_pem(LineEnding::LF).unwrap();
        let wrapped = format!("Bag Attributes\n    localKeyID: 01\n{}\n\n", pem.as_str());
        assert!(Rs256Signer::from_pem(&wrapped).is_ok());
        assert_eq!(first_block("no block"), "no block");
    }

    #[test]
    fn debug_never_prints_the_key() {
        let pem = key().to_pkcs8_pem(LineEnding::LF).unwrap();
        let s = Rs256Signer::from_pem(&pem).unwrap();
        assert_eq!(format!("{s:?}"), "Rs256Signer { .. }");
    }
}
