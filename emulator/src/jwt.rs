//! Verification of `private_key_jwt` client assertions, with Okta's checks and error texts.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha2::{Sha256, Sha384, Sha512};

use crate::{okta, ClientKeyPair, EmulatorError};

/// The client-assertion algorithms Okta takes for an RSA key (the discovery document lists these).
pub const ASSERTION_ALGS: [&str; 3] = ["RS256", "RS384", "RS512"];

/// Okta accepts an assertion expiring at most this far ahead.
pub const MAX_EXP_AHEAD_S: i64 = 3600;
/// Slack for clock differences between the client and us (both ways).
const SKEW_S: i64 = 60;

/// Why an assertion was refused; `response` gives Okta's status and body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssertionError {
    /// Not three base64url parts of JSON.
    #[error("The client_assertion token is malformed.")]
    Malformed,
    /// `iss`/`sub` (or the `client_id` parameter) do not name a registered client.
    #[error("Invalid value for 'client_id' parameter.")]
    UnknownClient,
    /// `iss` and `sub` differ, or the `client_id` form parameter differs from them.
    #[error("The client_assertion token must have 'iss' and 'sub' claims equal to the client_id.")]
    IssuerMismatch,
    /// The header names an algorithm Okta would not accept for an RSA key (including `none`).
    #[error("The client_assertion token has an unsupported 'alg'.")]
    BadAlg,
    /// The header carries a kid the client has not registered.
    #[error("The client_assertion JWT kid is invalid.")]
    BadKid,
    /// The signature does not verify against the registered key.
    #[error("The client_assertion signature is invalid.")]
    BadSignature,
    /// `aud` is not exactly the token URL the client called.
    #[error("The audience claim for client_assertion must be the endpoint invoking the client_assertion.")]
    BadAudience,
    /// No `exp` claim.
    #[error("The client_assertion token must contain an 'exp' claim.")]
    MissingExp,
    /// `exp` is in the past.
    #[error("The client_assertion token is expired.")]
    Expired,
    /// `exp` is more than an hour ahead.
    #[error("The client_assertion token has an expiration too far into the future.")]
    ExpTooFar,
    /// `iat` is in the future.
    #[error("The client_assertion token has an issued at time in the future.")]
    IssuedInFuture,
    /// The `jti` was seen before.
    #[error("The client_assertion token has already been used.")]
    Replayed,
}

impl AssertionError {
    /// Okta's HTTP status and JSON body for this failure.
    pub fn response(&self) -> (u16, String) {
        match self {
            AssertionError::UnknownClient => (401, okta::unknown_client()),
            other => (401, okta::oauth_error("invalid_client", &other.to_string())),
        }
    }
}

/// A decoded (not yet verified) JWT.
#[derive(Debug, Clone)]
pub struct DecodedJwt {
    /// The JOSE header.
    pub header: Value,
    /// The claims.
    pub claims: Value,
    /// `base64url(header) "." base64url(claims)`: the bytes that were signed.
    signing_input: String,
    signature: Vec<u8>,
}

fn b64(part: &str) -> Result<Vec<u8>, AssertionError> {
    // Tolerate padded base64url: some JWT libraries emit it.
    URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| AssertionError::Malformed)
}

impl DecodedJwt {
    /// The bytes the signature covers.
    pub fn signing_input(&self) -> &[u8] {
        self.signing_input.as_bytes()
    }

    /// The decoded signature.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }
}

/// Splits and decodes a compact JWS.
pub fn decode(jwt: &str) -> Result<DecodedJwt, AssertionError> {
    let mut parts = jwt.trim().split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AssertionError::Malformed);
    };
    let header: Value = serde_json::from_slice(&b64(h)?).map_err(|_| AssertionError::Malformed)?;
    let claims: Value = serde_json::from_slice(&b64(c)?).map_err(|_| AssertionError::Malformed)?;
    if !header.is_object() || !claims.is_object() {
        return Err(AssertionError::Malformed);
    }
    Ok(DecodedJwt {
        header,
        claims,
        signing_input: format!("{h}.{c}"),
        signature: b64(s)?,
    })
}

/// Parses an SPKI (`PUBLIC KEY`) or PKCS#1 (`RSA PUBLIC KEY`) PEM.
pub fn parse_public_key(pem: &str) -> Option<RsaPublicKey> {
    RsaPublicKey::from_public_key_pem(pem.trim())
        .ok()
        .or_else(|| RsaPublicKey::from_pkcs1_pem(pem.trim()).ok())
}

/// Whether `sig` is an RS256/RS384/RS512 (`alg`) signature of `input` under `key`.
pub fn verify_rsa(alg: &str, key: &RsaPublicKey, input: &[u8], sig: &[u8]) -> bool {
    let Ok(sig) = Signature::try_from(sig) else {
        return false;
    };
    let key = key.clone();
    match alg {
        "RS256" => VerifyingKey::<Sha256>::new(key).verify(input, &sig).is_ok(),
        "RS384" => VerifyingKey::<Sha384>::new(key).verify(input, &sig).is_ok(),
        "RS512" => VerifyingKey::<Sha512>::new(key).verify(input, &sig).is_ok(),
        _ => false,
    }
}

/// What the verifier needs to know about the client.
pub struct ClientKeyInfo<'a> {
    /// Parsed registered key (`None` when the registered PEM was unusable: nothing verifies).
    pub key: Option<&'a RsaPublicKey>,
    /// Registered kid, if any.
    pub kid: Option<&'a str>,
}

/// A verified assertion's replay-relevant data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The `jti`, if present (to remember until `exp`).
    pub jti: Option<String>,
    /// The `exp`, epoch seconds.
    pub exp: i64,
}

/// The `iss` claim (used to find the client before anything else is checked).
pub fn issuer(jwt: &DecodedJwt) -> Option<&str> {
    jwt.claims.get("iss").and_then(Value::as_str)
}

/// Checks header, signature and claims of an assertion from an already identified client.
/// `already_used`: its `jti` had been seen before this request (the token endpoint records a
/// `jti` as consumed before it checks anything, as Okta does); reported only after every other
/// check passed.
pub fn verify(
    jwt: &DecodedJwt,
    client_id: &str,
    form_client_id: Option<&str>,
    client: &ClientKeyInfo<'_>,
    expected_aud: &str,
    now_s: i64,
    already_used: bool,
) -> Result<Verified, AssertionError> {
    let claim_str = |k: &str| jwt.claims.get(k).and_then(Value::as_str);
    if claim_str("iss") != Some(client_id) || claim_str("sub") != Some(client_id) {
        return Err(AssertionError::IssuerMismatch);
    }
    if form_client_id.is_some_and(|f| f != client_id) {
        return Err(AssertionError::IssuerMismatch);
    }
    let alg = jwt.header.get("alg").and_then(Value::as_str).unwrap_or("");
    if let (Some(want), Some(got)) = (client.kid, jwt.header.get("kid").and_then(Value::as_str)) {
        if want != got {
            return Err(AssertionError::BadKid);
        }
    }
    let Some(key) = client.key else {
        return Err(AssertionError::BadSignature);
    };
    let input = jwt.signing_input.as_bytes();
    // Okta also takes RS384/RS512 for RSA keys; `none`, HS* and EC algs cannot match an RSA key.
    if !ASSERTION_ALGS.contains(&alg) {
        return Err(AssertionError::BadAlg);
    }
    if !verify_rsa(alg, key, input, &jwt.signature) {
        return Err(AssertionError::BadSignature);
    }
    // `aud` may be a string or an array holding the token URL; Okta wants the exact URL.
    let aud_ok = match jwt.claims.get("aud") {
        Some(Value::String(a)) => a == expected_aud,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(expected_aud)),
        _ => false,
    };
    if !aud_ok {
        return Err(AssertionError::BadAudience);
    }
    let num = |k: &str| jwt.claims.get(k).and_then(Value::as_f64).map(|f| f as i64);
    let exp = num("exp").ok_or(AssertionError::MissingExp)?;
    if exp <= now_s {
        return Err(AssertionError::Expired);
    }
    if exp > now_s + MAX_EXP_AHEAD_S + 5 {
        return Err(AssertionError::ExpTooFar);
    }
    if num("iat").is_some_and(|iat| iat > now_s + SKEW_S) {
        return Err(AssertionError::IssuedInFuture);
    }
    let jti = claim_str("jti").map(str::to_string);
    if jti.is_some() && already_used {
        return Err(AssertionError::Replayed);
    }
    Ok(Verified { jti, exp })
}

/// Mints a client assertion the way a well-behaved connector does: RS256, `kid` header,
/// `iss` = `sub` = client id, `aud` = `token_url`, `iat` now, `exp` in 5 minutes, fresh `jti`.
/// A convenience for tests and demos.
pub fn client_assertion(pair: &ClientKeyPair, token_url: &str) -> Result<String, EmulatorError> {
    let now = (okta_ingest_model::time::now_ms() / 1000) as i64;
    sign_claims(
        pair,
        &json!({
            "iss": pair.client_id, "sub": pair.client_id, "aud": token_url,
            "iat": now, "exp": now + 300, "jti": okta::random_token(16),
        }),
    )
}

/// Signs arbitrary claims with RS256 and the pair's kid (tests use it to forge bad assertions).
pub fn sign_claims(pair: &ClientKeyPair, claims: &Value) -> Result<String, EmulatorError> {
    let key = RsaPrivateKey::from_pkcs8_pem(&pair.private_key_pem)
        .map_err(|e| EmulatorError::Key(e.to_string()))?;
    let header = json!({ "alg": "RS256", "typ": "JWT", "kid": pair.kid });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = SigningKey::<Sha256>::new(key)
        .sign(input.as_bytes())
        .to_bytes();
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::OnceLock;

    const AUD: &str = "https://127.0.0.1:8443/oauth2/v1/token";

    fn pair() -> &'static ClientKeyPair {
        static PAIR: OnceLock<ClientKeyPair> = OnceLock::new();
        PAIR.get_or_init(|| crate::generate_client_key_pair("0oa1").expect("keygen"))
    }

    fn now() -> i64 {
        (okta_ingest_model::time::now_ms() / 1000) as i64
    }

    fn check(jwt: &str, used: &HashMap<String, i64>) -> Result<Verified, AssertionError> {
        let key = parse_public_key(&pair().public_key_pem).expect("key");
        let info = ClientKeyInfo {
            key: Some(&key),
            kid: Some(&pair().kid),
        };
        let replayed = decode(jwt)?
            .claims
            .get("jti")
            .and_then(Value::as_str)
            .is_some_and(|j| used.contains_key(j));
        verify(&decode(jwt)?, "0oa1", None, &info, AUD, now(), replayed)
    }

    fn claims(f: impl FnOnce(&mut Value)) -> String {
        let n = now();
        let mut c = json!({"iss":"0oa1","sub":"0oa1","aud":AUD,"iat":n,"exp":n+300,"jti":"j1"});
        f(&mut c);
        sign_claims(pair(), &c).expect("sign")
    }

    #[test]
    fn accepts_good_assertion_and_detects_replay() {
        let jwt = claims(|_| {});
        let v = check(&jwt, &HashMap::new()).expect("valid");
        assert_eq!(v.jti.as_deref(), Some("j1"));
        let used = HashMap::from([("j1".to_string(), v.exp)]);
        assert_eq!(check(&jwt, &used), Err(AssertionError::Replayed));
        assert!(check(&client_assertion(pair(), AUD).expect("mint"), &used).is_ok());
    }

    #[test]
    fn rejects_bad_claims() {
        let n = now();
        type Tweak = Box<dyn FnOnce(&mut Value)>;
        let cases: Vec<(Tweak, AssertionError)> = vec![
            (
                Box::new(|c| c["aud"] = json!("https://localhost/oauth2/v1/token")),
                AssertionError::BadAudience,
            ),
            (
                Box::new(move |c| c["exp"] = json!(n + 7200)),
                AssertionError::ExpTooFar,
            ),
            (
                Box::new(move |c| c["exp"] = json!(n - 100)),
                AssertionError::Expired,
            ),
            (
                Box::new(|c| {
                    c.as_object_mut().map(|o| o.remove("exp"));
                }),
                AssertionError::MissingExp,
            ),
            (
                Box::new(move |c| c["iat"] = json!(n + 600)),
                AssertionError::IssuedInFuture,
            ),
            (
                Box::new(|c| c["sub"] = json!("other")),
                AssertionError::IssuerMismatch,
            ),
        ];
        for (f, want) in cases {
            assert_eq!(check(&claims(f), &HashMap::new()), Err(want));
        }
    }

    #[test]
    fn rejects_forged_alg_kid_and_signature() {
        let jwt = claims(|_| {});
        let parts: Vec<&str> = jwt.split('.').collect();
        // alg none with an empty signature
        let none_hdr = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
        assert_eq!(
            check(&format!("{none_hdr}.{}.", parts[1]), &HashMap::new()),
            Err(AssertionError::BadAlg)
        );
        let hs = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#);
        assert_eq!(
            check(&format!("{hs}.{}.{}", parts[1], parts[2]), &HashMap::new()),
            Err(AssertionError::BadAlg)
        );
        let kid_hdr = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"nope"}"#);
        assert_eq!(
            check(
                &format!("{kid_hdr}.{}.{}", parts[1], parts[2]),
                &HashMap::new()
            ),
            Err(AssertionError::BadKid)
        );
        // Claims swapped after signing: signature must fail.
        let other = URL_SAFE_NO_PAD.encode(r#"{"iss":"0oa1","sub":"0oa1"}"#);
        assert_eq!(
            check(
                &format!("{}.{other}.{}", parts[0], parts[2]),
                &HashMap::new()
            ),
            Err(AssertionError::BadSignature)
        );
        assert_eq!(
            check("abc", &HashMap::new()).err(),
            Some(AssertionError::Malformed)
        );
        assert_eq!(
            check("a.b.c", &HashMap::new()).err(),
            Some(AssertionError::Malformed)
        );
    }

    #[test]
    fn wrong_key_is_bad_signature_and_pkcs1_pem_parses() {
        let other = crate::generate_client_key_pair("0oa1").expect("keygen");
        let jwt = sign_claims(
            &other,
            &json!({"iss":"0oa1","sub":"0oa1","aud":AUD,"exp":now()+60}),
        )
        .expect("sign");
        let key = parse_public_key(&pair().public_key_pem).expect("key");
        // no registered kid: kid header is not compared, the signature decides
        let info = ClientKeyInfo {
            key: Some(&key),
            kid: None,
        };
        let r = verify(
            &decode(&jwt).expect("decode"),
            "0oa1",
            None,
            &info,
            AUD,
            now(),
            false,
        );
        assert_eq!(r, Err(AssertionError::BadSignature));
        use rsa::pkcs1::EncodeRsaPublicKey;
        let pkcs1 = key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).expect("pem");
        assert_eq!(parse_public_key(&pkcs1), Some(key));
        assert_eq!(
            AssertionError::BadSignature.response().1,
            r#"{"error":"invalid_client","error_description":"The client_assertion signature is invalid."}"#
        );
    }
}
