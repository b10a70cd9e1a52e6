//! Test-only DPoP proof builder, written independently of the verifier in `dpop.rs` (its own JWK
//! and thumbprint code) so the two check each other.

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use rsa::pkcs1v15::SigningKey as RsaSigningKey;
use rsa::signature::SignatureEncoding;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};

/// A client's DPoP key.
pub enum DpopKey {
    /// ES256 on P-256.
    Ec(p256::ecdsa::SigningKey),
    /// RSA with the hash of `alg` (RS256/384/512).
    Rsa(&'static RsaPrivateKey, &'static str),
}

/// One 2048-bit key for all RSA tests: generating one per test would dominate the run time.
fn rsa_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("rsa keygen"))
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl DpopKey {
    /// A fresh P-256 key.
    pub fn es256() -> DpopKey {
        DpopKey::Ec(p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng))
    }

    /// The shared RSA key, signing with `alg`.
    pub fn rsa(alg: &'static str) -> DpopKey {
        DpopKey::Rsa(rsa_key(), alg)
    }

    /// The public JWK: `{kty,crv,x,y}` with 32-byte coordinates, or `{kty,n,e}`.
    pub fn jwk(&self) -> Value {
        match self {
            DpopKey::Ec(k) => {
                let point = k.verifying_key().to_encoded_point(false);
                let coord = |c: Option<&p256::FieldBytes>| b64(c.expect("uncompressed point"));
                json!({"kty":"EC","crv":"P-256","x":coord(point.x()),"y":coord(point.y())})
            }
            DpopKey::Rsa(k, _) => {
                json!({"kty":"RSA","n":b64(&k.n().to_bytes_be()),"e":b64(&k.e().to_bytes_be())})
            }
        }
    }

    /// The JOSE header a well-behaved client sends.
    pub fn header(&self) -> Value {
        let alg = match self {
            DpopKey::Ec(_) => "ES256",
            DpopKey::Rsa(_, alg) => alg,
        };
        json!({"typ":"dpop+jwt","alg":alg,"jwk":self.jwk()})
    }

    /// RFC 7638 thumbprint of [`DpopKey::jwk`]; serde_json sorts object keys, which is the
    /// canonical order.
    pub fn thumbprint(&self) -> String {
        let j = self.jwk();
        let required = match self {
            DpopKey::Ec(_) => json!({"crv":j["crv"],"kty":"EC","x":j["x"],"y":j["y"]}),
            DpopKey::Rsa(..) => json!({"e":j["e"],"kty":"RSA","n":j["n"]}),
        };
        b64(&Sha256::digest(required.to_string().as_bytes()))
    }

    /// A compact JWS of `claims` under [`DpopKey::header`].
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with(claims, |_| {})
    }

    /// Like [`DpopKey::sign`] with the header changed by `tweak` first (signed as changed).
    pub fn sign_with(&self, claims: &Value, tweak: impl FnOnce(&mut Value)) -> String {
        let mut header = self.header();
        tweak(&mut header);
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = match self {
            DpopKey::Ec(k) => {
                let s: p256::ecdsa::Signature = k.sign(input.as_bytes());
                s.to_bytes().to_vec()
            }
            DpopKey::Rsa(k, alg) => {
                let k = (*k).clone();
                let bytes = input.as_bytes();
                match *alg {
                    "RS384" => RsaSigningKey::<Sha384>::new(k).sign(bytes).to_vec(),
                    "RS512" => RsaSigningKey::<Sha512>::new(k).sign(bytes).to_vec(),
                    _ => RsaSigningKey::<Sha256>::new(k).sign(bytes).to_vec(),
                }
            }
        };
        format!("{input}.{}", b64(&sig))
    }

    /// A proof as a client sends it: fresh `jti`, `iat` = `now_s`, `nonce` and `ath` when given.
    pub fn proof(
        &self,
        htm: &str,
        htu: &str,
        now_s: u64,
        nonce: Option<&str>,
        ath: Option<&str>,
    ) -> String {
        let mut c = json!({"htm":htm,"htu":htu,"iat":now_s,"jti":crate::okta::random_token(16)});
        if let Some(n) = nonce {
            c["nonce"] = json!(n);
        }
        if let Some(a) = ath {
            c["ath"] = json!(a);
        }
        self.sign(&c)
    }
}
