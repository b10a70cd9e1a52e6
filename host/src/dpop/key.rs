//! The DPoP proof key: one ES256 (P-256) key per host process, generated in memory at first use. Tokens
//! are bound to it (`cnf.jkt`), and since tokens live in memory only, a restart's new key needs nothing
//! but new tokens. It is a different key from the client assertion's, as Okta's guide asks.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use sha2::{Digest, Sha256};

/// The JWS algorithm of the proof key.
pub const ALG: &str = "ES256";

/// A P-256 signing key and its public JWK.
pub(crate) struct ProofKey {
    key: SigningKey,
    jwk: String,
    thumbprint: String,
}

impl std::fmt::Debug for ProofKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material; the thumbprint is public (it is in every bound token).
        write!(f, "ProofKey {{ jkt: {} }}", self.thumbprint)
    }
}

impl ProofKey {
    /// A new random key from the operating system's generator.
    pub(crate) fn generate() -> ProofKey {
        ProofKey::from_signing_key(SigningKey::random(&mut rand::rngs::OsRng))
    }

    fn from_signing_key(key: SigningKey) -> ProofKey {
        let point = key.verifying_key().to_encoded_point(false);
        // An uncompressed point always has both coordinates, 32 bytes each for P-256.
        let coord =
            |c: Option<&p256::FieldBytes>| c.map(|b| URL_SAFE_NO_PAD.encode(b)).unwrap_or_default();
        let (x, y) = (coord(point.x()), coord(point.y()));
        // RFC 7638: the required members in lexicographic order, no whitespace.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        ProofKey {
            key,
            jwk: format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y}"}}"#),
            thumbprint,
        }
    }

    /// The public JWK, a JSON object with public members only.
    pub(crate) fn public_jwk(&self) -> &str {
        &self.jwk
    }

    /// The RFC 7638 SHA-256 thumbprint (what Okta puts in a bound token's `cnf.jkt`).
    pub(crate) fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The private scalar, for the tests that look for it where it must not be.
    #[cfg(test)]
    pub(crate) fn secret_bytes(&self) -> Vec<u8> {
        self.key.to_bytes().to_vec()
    }

    /// Signs `input` with ES256; the JWS signature (`r || s`, 64 bytes) in base64url without padding.
    pub(crate) fn sign_b64url(&self, input: &[u8]) -> String {
        let sig: Signature = self.key.sign(input);
        URL_SAFE_NO_PAD.encode(sig.to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier as _;
    use p256::ecdsa::VerifyingKey;

    /// The verifying key a server would build from the JWK alone.
    fn from_jwk(jwk: &str) -> VerifyingKey {
        let v: serde_json::Value = serde_json::from_str(jwk).unwrap();
        let coord = |k: &str| URL_SAFE_NO_PAD.decode(v[k].as_str().unwrap()).unwrap();
        let (x, y) = (coord("x"), coord("y"));
        assert_eq!((x.len(), y.len()), (32, 32), "left-padded coordinates");
        let mut sec1 = vec![4u8];
        sec1.extend(x);
        sec1.extend(y);
        VerifyingKey::from_sec1_bytes(&sec1).unwrap()
    }

    #[test]
    fn proofs_verify_against_the_public_jwk_alone() {
        let k = ProofKey::generate();
        let v: serde_json::Value = serde_json::from_str(k.public_jwk()).unwrap();
        assert_eq!(v["kty"], "EC");
        assert_eq!(v["crv"], "P-256");
        assert!(v.get("d").is_none(), "no private member");
        let sig = URL_SAFE_NO_PAD.decode(k.sign_b64url(b"h.c")).unwrap();
        assert_eq!(sig.len(), 64);
        let sig = Signature::from_slice(&sig).unwrap();
        let vk = from_jwk(k.public_jwk());
        vk.verify(b"h.c", &sig).unwrap();
        assert!(vk.verify(b"h.x", &sig).is_err());
    }

    #[test]
    fn keys_are_new_each_time_and_never_printed() {
        let (a, b) = (ProofKey::generate(), ProofKey::generate());
        assert_ne!(a.public_jwk(), b.public_jwk());
        let shown = format!("{a:?}");
        assert_eq!(shown, format!("ProofKey {{ jkt: {} }}", a.thumbprint()));
        assert_eq!(a.thumbprint().len(), 43, "base64url of 32 bytes");
    }

    #[test]
    fn the_thumbprint_is_rfc_7638s() {
        // RFC 7638 §3.1 defines the input; check it against an independent computation.
        let k = ProofKey::generate();
        let v: serde_json::Value = serde_json::from_str(k.public_jwk()).unwrap();
        let canonical =
            serde_json::json!({"crv": v["crv"], "kty": v["kty"], "x": v["x"], "y": v["y"]});
        // serde_json's map is sorted by key, so this is the canonical form.
        let digest = Sha256::digest(canonical.to_string().as_bytes());
        assert_eq!(k.thumbprint(), URL_SAFE_NO_PAD.encode(digest));
    }
}
