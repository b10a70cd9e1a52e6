//! DPoP proof verification (RFC 9449 §4.3) with Okta's checks, in Okta's order, with the strings of
//! Okta's error catalog (DPOP.md §1.1, §9.1 steps 3–4). Shared by both endpoints: the token
//! endpoint adds the nonce and `jti` rules, the resource endpoint `ath` and the key binding.
//!
//! Deviation: Okta advertises `RS256 RS384 RS512 ES256 ES384 ES512`, but only P-256 is available
//! here, so an `ES384`/`ES512` proof is answered "The DPoP proof JWT signature algorithm is
//! invalid." rather than verified.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::Verifier;
use rsa::{BigUint, RsaPublicKey};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::jwt;
use crate::DpopSettings;

/// What Okta's resource server advertises in `WWW-Authenticate: DPoP algs="…"`.
pub const ADVERTISED_ALGS: &str = "RS256 RS384 RS512 ES256 ES384 ES512";
/// The proof algorithms verified here (the discovery document lists these).
pub const VERIFIED_ALGS: [&str; 4] = ["RS256", "RS384", "RS512", "ES256"];
/// A proof may be at most this old (Okta: "more than five minutes in the past").
const MAX_AGE_MS: i64 = 300_000;
/// JWK members that only a private (or symmetric) key has; RFC 9449 §4.3 point 7.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Why a proof was refused; [`ProofError::description`] is Okta's `error_description`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofError {
    /// The app requires DPoP and the request has no `DPoP` header.
    Missing,
    /// More than one `DPoP` header.
    Multiple,
    /// Not three base64url parts of JSON, or `jwk` missing, not an object, not a public key.
    Unparsable,
    /// `typ` is not `dpop+jwt`.
    Typ,
    /// `alg` not one we verify.
    Alg,
    /// The signature does not verify against `jwk`.
    Signature,
    /// `htm` is not the request method.
    Htm,
    /// `htu` is not the request URL.
    Htu,
    /// `iat` missing or not an integer.
    Iat,
    /// `iat` beyond the allowed future skew.
    Future,
    /// `iat` more than 5 minutes ago.
    Past,
    /// `exp` present and past.
    Expired,
    /// `exp` present but not a number: Okta's catalog has no specific text for it.
    Invalid,
    /// `jti` missing (or not a non-empty string).
    Jti,
    /// `jti` seen before.
    Replayed,
    /// `ath` missing or not the hash of the presented token.
    Ath,
    /// The proof key is not the one the token is bound to.
    NotBound,
}

impl ProofError {
    /// Okta's `error_description`.
    pub fn description(self) -> &'static str {
        match self {
            ProofError::Missing => "The DPoP proof JWT header is missing.",
            ProofError::Multiple => "Multiple DPoP proof JWT headers are not allowed.",
            ProofError::Unparsable => "The DPoP proof JWT cannot be parsed.",
            ProofError::Typ => "'typ' must be 'dpop+jwt' in the DPoP proof JWT.",
            ProofError::Alg => "The DPoP proof JWT signature algorithm is invalid.",
            ProofError::Signature => "The DPoP proof JWT signature is invalid.",
            ProofError::Htm => "'htm' claim in the DPoP proof JWT is invalid.",
            ProofError::Htu => "'htu' claim in the DPoP proof JWT is invalid.",
            ProofError::Iat => "'iat' claim in the DPoP proof JWT is invalid.",
            ProofError::Future => "The DPoP proof JWT is issued in the future.",
            ProofError::Past => "The DPoP proof JWT is issued more than five minutes in the past.",
            ProofError::Expired => "The DPoP proof JWT is expired.",
            ProofError::Invalid => "The DPoP proof JWT is invalid.",
            ProofError::Jti => "'jti' claim in the DPoP proof JWT is invalid.",
            ProofError::Replayed => "The DPoP proof JWT has already been used.",
            ProofError::Ath => {
                "'ath' claim in the DPoP proof does not match the presented access_token."
            }
            ProofError::NotBound => "The access_token is not bound to the provided DPoP proof.",
        }
    }
}

/// The request a proof must be for.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// `htm`: the HTTP method, compared exactly (Okta refused `"Get"`).
    pub method: &'a str,
    /// The Host header the client used.
    pub host: &'a str,
    /// The request path as sent (percent-encoded); compared after percent-decoding.
    pub path: &'a str,
}

/// A proof that passed the checks common to both endpoints.
#[derive(Debug, Clone)]
pub struct Proof {
    claims: Value,
    /// RFC 7638 SHA-256 thumbprint of its `jwk`, base64url: the token's `cnf.jkt`.
    pub thumbprint: String,
}

impl Proof {
    fn text(&self, claim: &str) -> Option<&str> {
        self.claims
            .get(claim)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The `nonce` claim.
    pub fn nonce(&self) -> Option<&str> {
        self.text("nonce")
    }

    /// The `jti` claim (a non-empty string, else none).
    pub fn jti(&self) -> Option<&str> {
        self.text("jti")
    }

    /// The `ath` claim.
    pub fn ath(&self) -> Option<&str> {
        self.text("ath")
    }
}

/// The request's one `DPoP` header: `Ok(None)` without one, [`ProofError::Multiple`] with several.
/// A value that is not visible ASCII is returned empty, so it fails as unparsable like any other
/// malformed proof.
pub fn header(headers: &http::HeaderMap) -> Result<Option<&str>, ProofError> {
    let mut all = headers.get_all("dpop").iter();
    match (all.next(), all.next()) {
        (None, _) => Ok(None),
        (Some(v), None) => Ok(Some(v.to_str().unwrap_or(""))),
        (Some(_), Some(_)) => Err(ProofError::Multiple),
    }
}

/// The `jti` and `iat` of a proof, read without verifying anything: Okta consumes a proof's `jti`
/// before it checks the proof (and before rate limiting), so the endpoints record it first.
pub fn peek(proof: &str) -> Option<(String, Option<i64>)> {
    let decoded = jwt::decode(proof).ok()?;
    let jti = decoded
        .claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty())?;
    Some((
        jti.to_string(),
        decoded.claims.get("iat").and_then(Value::as_i64),
    ))
}

/// `ath` for `token`: base64url(SHA-256(ASCII token)), RFC 9449 §4.2.
pub fn ath_of(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// Checks a proof's form, signature, `htm`, `htu`, `iat` and `exp`, in that order (first failure
/// wins), at emulator time `now_ms`.
pub fn verify(
    proof: &str,
    target: &Target<'_>,
    now_ms: u64,
    settings: &DpopSettings,
) -> Result<Proof, ProofError> {
    let decoded = jwt::decode(proof).map_err(|_| ProofError::Unparsable)?;
    let jwk = decoded
        .header
        .get("jwk")
        .and_then(Jwk::parse)
        .ok_or(ProofError::Unparsable)?;
    if decoded.header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(ProofError::Typ);
    }
    let alg = decoded
        .header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !VERIFIED_ALGS.contains(&alg) {
        return Err(ProofError::Alg);
    }
    if !jwk.verifies(alg, decoded.signing_input(), decoded.signature()) {
        return Err(ProofError::Signature);
    }
    let claims = decoded.claims;
    if claims.get("htm").and_then(Value::as_str) != Some(target.method) {
        return Err(ProofError::Htm);
    }
    let htu = claims.get("htu").and_then(Value::as_str).unwrap_or("");
    if !htu_matches(htu, target, settings.strict_htu) {
        return Err(ProofError::Htu);
    }
    let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
    let iat_ms = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or(ProofError::Iat)?
        .saturating_mul(1000);
    let skew = i64::try_from(settings.future_skew.as_millis()).unwrap_or(i64::MAX);
    if iat_ms > now.saturating_add(skew) {
        return Err(ProofError::Future);
    }
    if iat_ms < now - MAX_AGE_MS {
        return Err(ProofError::Past);
    }
    match claims.get("exp") {
        None => {}
        Some(exp) => match exp.as_f64() {
            Some(e) if e * 1000.0 < now as f64 => return Err(ProofError::Expired),
            Some(_) => {}
            None => return Err(ProofError::Invalid),
        },
    }
    Ok(Proof {
        claims,
        thumbprint: jwk.thumbprint(),
    })
}

/// The public key in a proof header; its members are kept as sent (base64url text), which is what
/// the RFC 7638 thumbprint hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Jwk {
    Ec { crv: String, x: String, y: String },
    Rsa { n: String, e: String },
}

impl Jwk {
    /// A JSON object holding a public EC or RSA key; extra members (`kid`, `use`, `alg`) are
    /// tolerated as Okta does, private ones are not.
    fn parse(v: &Value) -> Option<Jwk> {
        let o = v.as_object()?;
        if PRIVATE_MEMBERS.iter().any(|m| o.contains_key(*m)) {
            return None;
        }
        let b64 = |k: &str| {
            let s = o.get(k)?.as_str()?;
            URL_SAFE_NO_PAD.decode(s).ok()?;
            Some(s.to_string())
        };
        match o.get("kty")?.as_str()? {
            "EC" => Some(Jwk::Ec {
                crv: o.get("crv")?.as_str()?.to_string(),
                x: b64("x")?,
                y: b64("y")?,
            }),
            "RSA" => Some(Jwk::Rsa {
                n: b64("n")?,
                e: b64("e")?,
            }),
            _ => None,
        }
    }

    /// RFC 7638: the required members only, in lexicographic order, no whitespace, SHA-256.
    fn thumbprint(&self) -> String {
        let s = |v: &str| Value::String(v.to_string()).to_string();
        let canonical = match self {
            Jwk::Ec { crv, x, y } => format!(
                r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
                s(crv),
                s(x),
                s(y)
            ),
            Jwk::Rsa { n, e } => format!(r#"{{"e":{},"kty":"RSA","n":{}}}"#, s(e), s(n)),
        };
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// Whether `sig` is `alg`'s signature of `input` under this key; a key of the wrong type or
    /// curve for `alg`, or an invalid point or modulus, verifies nothing.
    fn verifies(&self, alg: &str, input: &[u8], sig: &[u8]) -> bool {
        // Members were checked to be base64url in `parse`.
        let bytes = |s: &str| URL_SAFE_NO_PAD.decode(s).unwrap_or_default();
        match (self, alg) {
            (Jwk::Ec { crv, x, y }, "ES256") if crv == "P-256" => {
                let (x, y) = (bytes(x), bytes(y));
                if x.len() != 32 || y.len() != 32 {
                    return false;
                }
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                // JWS ES256 signatures are the raw 64-byte r||s, not DER (RFC 7518 §3.4).
                let (Ok(key), Ok(sig)) = (
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(&point),
                    p256::ecdsa::Signature::from_slice(sig),
                ) else {
                    return false;
                };
                key.verify(input, &sig).is_ok()
            }
            (Jwk::Rsa { n, e }, "RS256" | "RS384" | "RS512") => {
                let key = RsaPublicKey::new(
                    BigUint::from_bytes_be(&bytes(n)),
                    BigUint::from_bytes_be(&bytes(e)),
                );
                key.is_ok_and(|k| jwt::verify_rsa(alg, &k, input, sig))
            }
            _ => false,
        }
    }
}

/// RFC 9449 §4.3 point 9 with RFC 3986 §6.2.2–6.2.3 normalisation: scheme and host compared
/// case-insensitively (the `url` crate lower-cases them), the default port implied, dot segments
/// removed, the path compared percent-decoded (Okta decodes it: okta-sdk-python#541). `strict`
/// refuses an `htu` with a query or fragment, which RFC 9449 §4.2 says it never has.
fn htu_matches(htu: &str, target: &Target<'_>, strict: bool) -> bool {
    let (Ok(got), Ok(want)) = (
        url::Url::parse(htu),
        url::Url::parse(&format!("https://{}/", target.host)),
    ) else {
        return false;
    };
    if strict && (got.query().is_some() || got.fragment().is_some()) {
        return false;
    }
    got.scheme() == "https"
        && got.username().is_empty()
        && got.password().is_none()
        && got.host() == want.host()
        && got.port_or_known_default() == want.port_or_known_default()
        && percent_decoded(got.path()) == percent_decoded(target.path)
}

/// `%XX` sequences decoded; a `%` not followed by two hex digits is kept as is.
fn percent_decoded(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_proof::DpopKey;
    use serde_json::json;
    use std::time::Duration;

    const HOST: &str = "127.0.0.1:8443";
    const TOKEN: Target<'static> = Target {
        method: "POST",
        host: HOST,
        path: "/oauth2/v1/token",
    };

    fn now() -> u64 {
        1_700_000_000_000
    }

    fn settings() -> DpopSettings {
        DpopSettings::default()
    }

    fn claims(htu: &str) -> Value {
        json!({"htm":"POST","htu":htu,"iat":now() / 1000,"jti":"j-1"})
    }

    fn check(proof: &str) -> Result<Proof, ProofError> {
        verify(proof, &TOKEN, now(), &settings())
    }

    fn url() -> String {
        format!("https://{HOST}/oauth2/v1/token")
    }

    #[test]
    fn a_good_es256_proof_passes_and_exposes_its_claims() {
        let key = DpopKey::es256();
        let mut c = claims(&url());
        c["nonce"] = json!("n-1");
        c["ath"] = json!("a-1");
        let p = check(&key.sign(&c)).expect("valid");
        assert_eq!(
            (p.jti(), p.nonce(), p.ath()),
            (Some("j-1"), Some("n-1"), Some("a-1"))
        );
        assert_eq!(p.thumbprint, key.thumbprint());
        assert_eq!(p.thumbprint.len(), 43);
        // Extra JWK members (kid, use, alg) are tolerated, and do not change the thumbprint.
        let extra = key.sign_with(&c, |h| {
            h["jwk"]["kid"] = json!("k1");
            h["jwk"]["use"] = json!("sig");
            h["kid"] = json!("k1");
        });
        assert_eq!(check(&extra).expect("extra").thumbprint, key.thumbprint());
    }

    #[test]
    fn rsa_proofs_of_every_hash_verify() {
        for alg in ["RS256", "RS384", "RS512"] {
            let key = DpopKey::rsa(alg);
            let p = check(&key.sign(&claims(&url()))).unwrap_or_else(|e| panic!("{alg}: {e:?}"));
            assert_eq!(p.thumbprint, key.thumbprint());
        }
        // The signature must be made with the hash `alg` names.
        let key = DpopKey::rsa("RS256");
        let lying = key.sign_with(&claims(&url()), |h| h["alg"] = json!("RS384"));
        assert_eq!(check(&lying).err(), Some(ProofError::Signature));
    }

    #[test]
    fn rfc7638_thumbprint_vector() {
        let jwk = Jwk::parse(&json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        }))
        .expect("jwk");
        assert_eq!(
            jwk.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn malformed_proofs_cannot_be_parsed() {
        let key = DpopKey::es256();
        let good = key.sign(&claims(&url()));
        let parts: Vec<&str> = good.split('.').collect();
        let b = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let hdr = |f: &dyn Fn(&mut Value)| {
            let mut h = key.header();
            f(&mut h);
            format!("{}.{}.{}", b(&h), parts[1], parts[2])
        };
        let d = URL_SAFE_NO_PAD.encode([7u8; 32]);
        let cases = [
            String::new(),
            "abc".into(),
            "a.b".into(),
            format!("{good}.x"),
            format!("{}.{}.!!", parts[0], parts[1]),
            format!("{}.{}", b(&json!([1])), parts[1]) + "." + parts[2],
            // okta-sdk-dotnet#758: the jwk serialised as a JSON string.
            hdr(&|h| h["jwk"] = Value::String(h["jwk"].to_string())),
            hdr(&|h| {
                h.as_object_mut().map(|o| o.remove("jwk"));
            }),
            hdr(&|h| h["jwk"]["d"] = json!(d)),
            hdr(&|h| h["jwk"]["kty"] = json!("oct")),
            hdr(&|h| h["jwk"]["x"] = json!(1)),
            hdr(&|h| h["jwk"]["y"] = json!("not base64!")),
        ];
        for c in cases {
            assert_eq!(check(&c).err(), Some(ProofError::Unparsable), "{c}");
        }
    }

    #[test]
    fn header_typ_alg_and_signature_errors() {
        let key = DpopKey::es256();
        let c = claims(&url());
        let with = |f: &dyn Fn(&mut Value)| check(&key.sign_with(&c, f)).err();
        assert_eq!(with(&|h| h["typ"] = json!("JWT")), Some(ProofError::Typ));
        assert_eq!(
            with(&|h| h["typ"] = json!("DPoP+JWT")),
            Some(ProofError::Typ)
        );
        assert_eq!(
            with(&|h| {
                h.as_object_mut().map(|o| o.remove("typ"));
            }),
            Some(ProofError::Typ)
        );
        for alg in ["none", "HS256", "PS256", "EdDSA", "ES384", "ES512"] {
            assert_eq!(
                with(&|h| h["alg"] = json!(alg)),
                Some(ProofError::Alg),
                "{alg}"
            );
        }
        // Another key in the header than the one that signed.
        let other = DpopKey::es256();
        assert_eq!(
            with(&|h| h["jwk"] = other.jwk()),
            Some(ProofError::Signature)
        );
        // An RSA alg with an EC key, and an EC key on another curve.
        assert_eq!(
            with(&|h| h["alg"] = json!("RS256")),
            Some(ProofError::Signature)
        );
        assert_eq!(
            with(&|h| h["jwk"]["crv"] = json!("P-384")),
            Some(ProofError::Signature)
        );
        // Claims changed after signing.
        let good = key.sign(&c);
        let parts: Vec<&str> = good.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(claims("https://elsewhere/").to_string());
        assert_eq!(
            check(&format!("{}.{forged}.{}", parts[0], parts[2])).err(),
            Some(ProofError::Signature)
        );
        // A DER signature is not a JWS ES256 signature.
        let der = URL_SAFE_NO_PAD.encode([0x30u8; 70]);
        assert_eq!(
            check(&format!("{}.{}.{der}", parts[0], parts[1])).err(),
            Some(ProofError::Signature)
        );
    }

    #[test]
    fn htm_and_htu_are_compared_like_okta() {
        let key = DpopKey::es256();
        let with = |f: &dyn Fn(&mut Value)| {
            let mut c = claims(&url());
            f(&mut c);
            check(&key.sign(&c)).err()
        };
        for htm in ["post", "Post", "GET", ""] {
            assert_eq!(
                with(&|c| c["htm"] = json!(htm)),
                Some(ProofError::Htm),
                "{htm}"
            );
        }
        assert_eq!(with(&|c| c["htm"] = json!(1)), Some(ProofError::Htm));
        for ok in [
            "HTTPS://127.0.0.1:8443/oauth2/v1/token",
            "https://127.0.0.1:8443/oauth2/v1/./token",
            "https://127.0.0.1:8443/oauth2/v1/%74oken",
        ] {
            assert_eq!(with(&|c| c["htu"] = json!(ok)), None, "{ok}");
        }
        for bad in [
            "http://127.0.0.1:8443/oauth2/v1/token",
            "https://127.0.0.1/oauth2/v1/token",
            "https://localhost:8443/oauth2/v1/token",
            "https://127.0.0.1:8443/oauth2/v1/token/",
            "https://127.0.0.1:8443//oauth2/v1/token",
            "https://127.0.0.1:8443/oauth2/v1/token?x=1",
            "https://127.0.0.1:8443/oauth2/v1/token#f",
            "https://u@127.0.0.1:8443/oauth2/v1/token",
            "/oauth2/v1/token",
            "",
        ] {
            assert_eq!(
                with(&|c| c["htu"] = json!(bad)),
                Some(ProofError::Htu),
                "{bad}"
            );
        }
        // Not strict: the query and fragment are ignored, as RFC 9449 §4.3 says.
        let lax = DpopSettings {
            strict_htu: false,
            ..settings()
        };
        let mut c = claims(&url());
        c["htu"] = json!(format!("{}?x=1#f", url()));
        assert!(verify(&key.sign(&c), &TOKEN, now(), &lax).is_ok());
        // The default port is implied on both sides, and the host compared case-insensitively.
        let on_443 = Target {
            host: "Okta.Example:443",
            ..TOKEN
        };
        let mut c = claims("https://okta.example/oauth2/v1/token");
        assert!(verify(&key.sign(&c), &on_443, now(), &settings()).is_ok());
        c["htu"] = json!("https://okta.example:443/oauth2/v1/token");
        assert!(verify(&key.sign(&c), &on_443, now(), &settings()).is_ok());
        // Resource paths are compared decoded (Okta: okta-sdk-python#541).
        let users = Target {
            method: "GET",
            host: HOST,
            path: "/api/v1/users/a%40b",
        };
        let mut c = claims(&format!("https://{HOST}/api/v1/users/a@b"));
        c["htm"] = json!("GET");
        assert!(verify(&key.sign(&c), &users, now(), &settings()).is_ok());
        assert_eq!(percent_decoded("%4"), b"%4");
        assert_eq!(percent_decoded("%zz%41"), b"%zzA");
        assert_eq!(percent_decoded("a%2"), b"a%2");
    }

    #[test]
    fn iat_and_exp_windows() {
        let key = DpopKey::es256();
        let s = (now() / 1000) as i64;
        let with = |f: &dyn Fn(&mut Value)| {
            let mut c = claims(&url());
            f(&mut c);
            check(&key.sign(&c)).err()
        };
        assert_eq!(
            with(&|c| {
                c.as_object_mut().map(|o| o.remove("iat"));
            }),
            Some(ProofError::Iat)
        );
        for bad in [json!("1700000000"), json!(1_700_000_000.5), json!(null)] {
            assert_eq!(with(&|c| c["iat"] = bad.clone()), Some(ProofError::Iat));
        }
        assert_eq!(
            with(&|c| c["iat"] = json!(s + 60)),
            None,
            "60 s skew allowed"
        );
        assert_eq!(
            with(&|c| c["iat"] = json!(s + 61)),
            Some(ProofError::Future)
        );
        assert_eq!(
            with(&|c| c["iat"] = json!(s + 600)),
            Some(ProofError::Future)
        );
        assert_eq!(with(&|c| c["iat"] = json!(s - 300)), None);
        assert_eq!(with(&|c| c["iat"] = json!(s - 301)), Some(ProofError::Past));
        assert_eq!(with(&|c| c["iat"] = json!(s - 360)), Some(ProofError::Past));
        assert_eq!(
            with(&|c| c["iat"] = json!(i64::MIN)),
            Some(ProofError::Past)
        );
        assert_eq!(
            with(&|c| c["iat"] = json!(i64::MAX)),
            Some(ProofError::Future)
        );
        assert_eq!(with(&|c| c["exp"] = json!(s + 300)), None);
        assert_eq!(
            with(&|c| c["exp"] = json!(s - 1)),
            Some(ProofError::Expired)
        );
        assert_eq!(
            with(&|c| c["exp"] = json!("soon")),
            Some(ProofError::Invalid)
        );
        let tight = DpopSettings {
            future_skew: Duration::ZERO,
            ..settings()
        };
        let mut c = claims(&url());
        c["iat"] = json!(s + 1);
        assert_eq!(
            verify(&key.sign(&c), &TOKEN, now(), &tight).err(),
            Some(ProofError::Future)
        );
    }

    #[test]
    fn headers_peek_and_ath() {
        let mut h = http::HeaderMap::new();
        assert_eq!(header(&h), Ok(None));
        h.append("DPoP", http::HeaderValue::from_static("a.b.c"));
        assert_eq!(header(&h), Ok(Some("a.b.c")));
        h.append("dpop", http::HeaderValue::from_static("d.e.f"));
        assert_eq!(header(&h), Err(ProofError::Multiple));
        let mut h = http::HeaderMap::new();
        h.append(
            "dpop",
            http::HeaderValue::from_bytes(b"\xff").expect("opaque"),
        );
        assert_eq!(header(&h), Ok(Some("")));

        let key = DpopKey::es256();
        let p = key.sign(&claims(&url()));
        assert_eq!(peek(&p), Some(("j-1".into(), Some((now() / 1000) as i64))));
        let mut c = claims(&url());
        c["jti"] = json!("");
        assert_eq!(peek(&key.sign(&c)), None);
        assert_eq!(peek("garbage"), None);
        // RFC 9449 §7.1's example: the hash of the example access token.
        assert_eq!(
            ath_of("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
        for e in [ProofError::Missing, ProofError::Replayed, ProofError::Ath] {
            assert!(e.description().ends_with('.'), "{e:?}");
        }
    }
}
