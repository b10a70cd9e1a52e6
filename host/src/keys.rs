//! The RSA keys users register in Okta's "Add a public key" dialog: generated here ([`GeneratedKey`]) or
//! brought by the user ([`PublicKeyInfo::from_private_pem`], [`store_private_pem`]), described as the
//! JWK and the PEM that dialog takes, with the RFC 7638 thumbprint as their `kid`. Private keys are only
//! ever written to 0600 files: never printed, logged or put in an error.

use crate::files::{create_private_dir, private_options, read_regular};
use crate::signing::parse_private_pem;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::pkcs8::der::zeroize::Zeroizing;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The size of generated keys, in bits (Okta's minimum).
const GENERATED_BITS: usize = 2048;
/// A PEM private key is a few KiB; a larger file found where one is stored is not read whole.
const MAX_KEY_FILE: u64 = 64 << 10;

/// Why a key cannot be made, read or stored. No message holds key material.
#[derive(Debug, Error)]
pub enum KeyFileError {
    /// The system's random source or the RSA key generation failed.
    #[error("cannot generate an RSA key: {0}")]
    Generate(rsa::Error),
    /// The key could not be encoded as PEM.
    #[error("cannot encode the private key as PKCS#8 PEM: {0}")]
    Encode(rsa::pkcs8::Error),
    /// The text is not a usable RSA private key; the reason says what it is instead.
    #[error("the private key is not usable: {reason}")]
    Unusable {
        /// What is wrong and what to give instead.
        reason: String,
    },
    /// A file is already at the path; key files are never overwritten.
    #[error("{path} already exists and holds another key; key files are never overwritten: choose another path, or move that file away first")]
    Exists {
        /// The file.
        path: String,
    },
    /// A directory for the key could not be created.
    #[error("cannot create the key directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The key file could not be written (or, when storing, the file already there read).
    #[error("cannot write the key file {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A new RSA key pair, made here for an Okta app. `Debug` shows only its `kid`.
pub struct GeneratedKey {
    key: RsaPrivateKey,
    public: PublicKeyInfo,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material: the kid is public.
        f.debug_struct("GeneratedKey")
            .field("kid", &self.public.kid)
            .finish_non_exhaustive()
    }
}

impl GeneratedKey {
    /// Generates an RSA 2048 key from the operating system's random source.
    pub fn generate() -> Result<GeneratedKey, KeyFileError> {
        let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, GENERATED_BITS)
            .map_err(KeyFileError::Generate)?;
        let public = PublicKeyInfo::of(&key.to_public_key());
        Ok(GeneratedKey { key, public })
    }

    /// The public half, as Okta takes it.
    pub fn public(&self) -> &PublicKeyInfo {
        &self.public
    }

    /// Writes the PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`) with mode 0600, refusing to overwrite an
    /// existing file, creating missing parent directories with mode 0700.
    pub fn write_private_pem(&self, path: &Path) -> Result<(), KeyFileError> {
        let pem = private_pem(&self.key)?;
        create_parent(path)?;
        write_new(path, pem.as_bytes()).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => KeyFileError::Exists {
                path: path.display().to_string(),
            },
            _ => KeyFileError::Write {
                path: path.display().to_string(),
                source: e,
            },
        })
    }
}

/// The public half of an RSA key, in the forms Okta's "Add a public key" dialog takes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PublicKeyInfo {
    /// The RFC 7638 thumbprint ([`rsa_thumbprint`]): the `kid` to register and to sign with.
    pub kid: String,
    /// The modulus size in bits.
    pub bits: usize,
    /// The public JWK as compact JSON, members in the order `kty`, `e`, `n`, `kid`, `alg` (`RS256`),
    /// `use` (`sig`).
    pub jwk: String,
    /// The public key as SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub pem: String,
}

impl PublicKeyInfo {
    /// Describes `key`.
    pub fn of(key: &RsaPublicKey) -> PublicKeyInfo {
        let kid = rsa_thumbprint(key);
        let jwk = Jwk {
            kty: "RSA".into(),
            e: b64(&key.e().to_bytes_be()),
            n: b64(&key.n().to_bytes_be()),
            kid: kid.clone(),
            alg: "RS256".into(),
            use_: "sig".into(),
        };
        let pem = key
            .to_public_key_pem(LineEnding::LF)
            // Encoding two integers in DER fails only for sizes far beyond any RSA key.
            .expect("an RSA public key has an SPKI encoding");
        PublicKeyInfo {
            kid,
            bits: key.n().bits(),
            jwk: jwk.render(false),
            pem,
        }
    }

    /// Describes the public half of a private key the user brings (PKCS#1 or PKCS#8 PEM text); a key
    /// that cannot be used is refused with the reason signing would give.
    pub fn from_private_pem(text: &str) -> Result<PublicKeyInfo, KeyFileError> {
        let key = parse_private_pem(text).map_err(|reason| KeyFileError::Unusable { reason })?;
        Ok(PublicKeyInfo::of(&key.to_public_key()))
    }

    /// The same JWK pretty-printed (two-space indent, members in the same order), for display.
    pub fn jwk_pretty(&self) -> String {
        match serde_json::from_str::<Jwk>(&self.jwk) {
            Ok(jwk) => jwk.render(true),
            // Only if the public field was changed to something else.
            Err(_) => self.jwk.clone(),
        }
    }
}

/// The public JWK of an RSA signing key.
#[derive(serde::Deserialize)]
struct Jwk {
    kty: String,
    e: String,
    n: String,
    kid: String,
    alg: String,
    #[serde(rename = "use")]
    use_: String,
}

impl Jwk {
    /// As a JSON object with the members in the order `kty`, `e`, `n`, `kid`, `alg`, `use`: compact, or
    /// as `serde_json`'s pretty printer writes it.
    fn render(&self, pretty: bool) -> String {
        let members = [
            ("kty", &self.kty),
            ("e", &self.e),
            ("n", &self.n),
            ("kid", &self.kid),
            ("alg", &self.alg),
            ("use", &self.use_),
        ];
        let quote = |s: &str| serde_json::Value::from(s).to_string();
        let sep = if pretty { ": " } else { ":" };
        let parts: Vec<String> = members
            .iter()
            .map(|(k, v)| format!("{}{sep}{}", quote(k), quote(v)))
            .collect();
        if pretty {
            format!("{{\n  {}\n}}", parts.join(",\n  "))
        } else {
            format!("{{{}}}", parts.join(","))
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// RFC 7638 JWK thumbprint of an RSA public key: base64url (no padding) of the SHA-256 of
/// `{"e":…,"kty":"RSA","n":…}`.
pub fn rsa_thumbprint(key: &RsaPublicKey) -> String {
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        b64(&key.e().to_bytes_be()),
        b64(&key.n().to_bytes_be())
    );
    b64(&Sha256::digest(canonical.as_bytes()))
}

/// Where keys generated or uploaded for instances live: `<directory of the state file>/keys`.
pub fn keys_dir(state_file: &Path) -> PathBuf {
    state_file
        .parent()
        .unwrap_or_else(|| Path::new(""))
        .join("keys")
}

/// Where the key `kid` generated for instance `name` lives: `<keys dir>/<name>/<kid>.pem`, from the
/// root (the instance stores the path, and a later run may start in another directory).
pub fn instance_key_path(state_file: &Path, name: &str, kid: &str) -> PathBuf {
    let path = keys_dir(state_file).join(name).join(format!("{kid}.pem"));
    std::path::absolute(&path).unwrap_or(path)
}

/// Stores an uploaded private key (PEM text): checks it as [`PublicKeyInfo::from_private_pem`] does,
/// writes it as PKCS#8 PEM to `<dir>/<kid>.pem` with mode 0600 (`dir` created with 0700), and returns the
/// path and the public half. Storing the same key again returns the file already there.
pub fn store_private_pem(dir: &Path, text: &str) -> Result<(PathBuf, PublicKeyInfo), KeyFileError> {
    let key = parse_private_pem(text).map_err(|reason| KeyFileError::Unusable { reason })?;
    let info = PublicKeyInfo::of(&key.to_public_key());
    // The same key in any encoding is written as the same bytes, so a second upload finds them.
    let pem = private_pem(&key)?;
    let path = dir.join(format!("{}.pem", info.kid));
    create_private_dir(dir).map_err(|source| KeyFileError::CreateDir {
        path: dir.display().to_string(),
        source,
    })?;
    let write_error = |source| KeyFileError::Write {
        path: path.display().to_string(),
        source,
    };
    match write_new(&path, pem.as_bytes()) {
        Ok(()) => Ok((path, info)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let existing = Zeroizing::new(read_regular(&path, MAX_KEY_FILE).map_err(write_error)?);
            if existing.as_slice() == pem.as_bytes() {
                Ok((path, info))
            } else {
                Err(KeyFileError::Exists {
                    path: path.display().to_string(),
                })
            }
        }
        Err(e) => Err(write_error(e)),
    }
}

/// The PKCS#8 PEM of `key`, wiped from memory when dropped.
fn private_pem(key: &RsaPrivateKey) -> Result<Zeroizing<String>, KeyFileError> {
    key.to_pkcs8_pem(LineEnding::LF)
        .map_err(KeyFileError::Encode)
}

/// Creates the missing parents of `path` with mode 0700.
fn create_parent(path: &Path) -> Result<(), KeyFileError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            create_private_dir(dir).map_err(|source| KeyFileError::CreateDir {
                path: dir.display().to_string(),
                source,
            })
        }
        _ => Ok(()),
    }
}

/// Writes `bytes` to a new 0600 file at `path` and syncs it; an existing file is left alone
/// (`AlreadyExists`), and a file left half-written by a failure is removed.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = private_options().write(true).create_new(true).open(path)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if written.is_err() {
        drop(file);
        let _ = std::fs::remove_file(path);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::Rs256Signer;
    use rsa::BigUint;

    /// RFC 7638 §3.1.
    const RFC_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

    fn rfc_key() -> RsaPublicKey {
        let n = BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(RFC_N).unwrap());
        let e = BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode("AQAB").unwrap());
        RsaPublicKey::new(n, e).unwrap()
    }

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_rfc_7638_example_thumbprint() {
        let key = rfc_key();
        assert_eq!(
            rsa_thumbprint(&key),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        let info = PublicKeyInfo::of(&key);
        assert_eq!(info.kid, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        assert_eq!(info.bits, 2048);
        assert_eq!(
            info.jwk,
            format!(
                r#"{{"kty":"RSA","e":"AQAB","n":"{RFC_N}","kid":"{}","alg":"RS256","use":"sig"}}"#,
                info.kid
            )
        );
        assert!(
            info.pem.starts_with("-----BEGIN PUBLIC KEY-----\n"),
            "{}",
            info.pem
        );
        let pretty = info.jwk_pretty();
        assert!(
            pretty.starts_with("{\n  \"kty\": \"RSA\",\n  \"e\": \"AQAB\",\n  \"n\": "),
            "{pretty}"
        );
        assert!(
            pretty.ends_with("\"alg\": \"RS256\",\n  \"use\": \"sig\"\n}"),
            "{pretty}"
        );
        let a: serde_json::Value = serde_json::from_str(&pretty).unwrap();
        let b: serde_json::Value = serde_json::from_str(&info.jwk).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn a_generated_key_round_trips_through_its_private_file() {
        let key = GeneratedKey::generate().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/dir/app.pem");
        key.write_private_pem(&path).unwrap();

        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(Rs256Signer::from_pem(&text).is_ok());
        assert_eq!(
            &PublicKeyInfo::from_private_pem(&text).unwrap(),
            key.public()
        );
        assert_eq!(key.public().bits, 2048);
        #[cfg(unix)]
        {
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&dir.path().join("new/dir")), 0o700);
            assert_eq!(mode(&dir.path().join("new")), 0o700);
        }

        let e = key.write_private_pem(&path).unwrap_err();
        assert!(matches!(e, KeyFileError::Exists { .. }), "{e}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            text,
            "not overwritten"
        );

        // Debug and errors show the kid at most, never the key.
        let shown = format!("{key:?} {e} {e:?}");
        assert_eq!(
            format!("{key:?}"),
            format!("GeneratedKey {{ kid: {:?}, .. }}", key.public().kid)
        );
        let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        for chunk in body.as_bytes().chunks(16) {
            assert!(
                !shown.contains(std::str::from_utf8(chunk).unwrap()),
                "{shown}"
            );
        }
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    }

    #[test]
    fn pkcs1_and_pkcs8_forms_of_a_key_have_one_kid_and_are_stored_once() {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let key = GeneratedKey::generate().unwrap();
        let pkcs8 = key.key.to_pkcs8_pem(LineEnding::LF).unwrap();
        let pkcs1 = key.key.to_pkcs1_pem(LineEnding::LF).unwrap();
        assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let a = PublicKeyInfo::from_private_pem(&pkcs1).unwrap();
        let b = PublicKeyInfo::from_private_pem(&pkcs8).unwrap();
        assert_eq!(a, b);
        assert_eq!(&a, key.public());

        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let (path, info) = store_private_pem(&keys, &pkcs1).unwrap();
        assert_eq!(path, keys.join(format!("{}.pem", a.kid)));
        assert_eq!(info, a);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            *pkcs8,
            "stored as PKCS#8"
        );
        #[cfg(unix)]
        {
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&keys), 0o700);
        }
        // Again, in either form: the same file.
        assert_eq!(
            store_private_pem(&keys, &pkcs8).unwrap(),
            (path.clone(), a.clone())
        );
        assert_eq!(store_private_pem(&keys, &pkcs1).unwrap().0, path);
        // Something else under that name is not overwritten.
        std::fs::write(&path, "other").unwrap();
        let e = store_private_pem(&keys, &pkcs8).unwrap_err();
        assert!(matches!(e, KeyFileError::Exists { .. }), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "other");
    }

    #[test]
    fn keys_that_cannot_sign_are_refused_with_the_signing_reasons() {
        let cases = [
            (
                "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
                "EC key",
            ),
            (
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                "not a private key",
            ),
            ("hello", "no PEM block"),
        ];
        let dir = tempfile::tempdir().unwrap();
        for (pem, want) in cases {
            let signing = Rs256Signer::from_pem(pem).unwrap_err();
            let e = PublicKeyInfo::from_private_pem(pem).unwrap_err();
            assert!(
                matches!(&e, KeyFileError::Unusable { reason } if *reason == signing),
                "{e}"
            );
            assert!(e.to_string().contains(want), "{e}");
            let e = store_private_pem(dir.path(), pem).unwrap_err();
            assert!(e.to_string().contains(want), "{e}");
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "nothing stored"
        );
        // A real public key (the RFC's) is refused as such.
        let pem = PublicKeyInfo::of(&rfc_key()).pem;
        let e = PublicKeyInfo::from_private_pem(&pem)
            .unwrap_err()
            .to_string();
        assert!(e.contains("PUBLIC KEY, not a private key"), "{e}");
    }

    #[test]
    fn keys_live_beside_the_state_file() {
        assert_eq!(
            keys_dir(Path::new("/var/lib/okta-ingest/state.db")),
            Path::new("/var/lib/okta-ingest/keys")
        );
        assert_eq!(keys_dir(Path::new("state.db")), Path::new("keys"));
    }
}
