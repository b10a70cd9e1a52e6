//! DPoP proofs (RFC 9449): the header and claims are built here, where Okta's rules live; the host signs
//! them with a proof key that never enters the sandbox. Every request and every retry gets a new proof
//! (Okta consumes a proof's `jti` even when it answers 400 or 429), signed right before it is sent.

use crate::env::{DpopNonce, Env, ProofKey};
use crate::fmt::hex;
use crate::types::{ErrorKind, TickError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// How long a kept token-endpoint nonce is sent before Okta is left to issue a fresh one. Okta renews its
/// nonce every 24 hours and accepts one for three days; 22 hours keeps well inside both.
pub const NONCE_FRESH_MS: u64 = 22 * 3_600_000;

/// Most `use_dpop_nonce` challenges answered within one token request (Okta needs one at most; a second
/// covers a rotation racing the first). Each must bring a new nonce.
pub const MAX_NONCE_CHALLENGES: u32 = 2;

#[derive(Serialize)]
struct Header<'a> {
    typ: &'static str,
    alg: &'a str,
    jwk: &'a RawValue,
}

#[derive(Serialize)]
struct Claims<'a> {
    htm: &'a str,
    htu: &'a str,
    iat: u64,
    jti: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ath: Option<&'a str>,
}

/// What one proof says.
#[derive(Clone, Copy, Debug)]
pub struct ProofFor<'a> {
    /// `POST` or `GET`, uppercase (Okta compares case-sensitively).
    pub htm: &'a str,
    /// The request URL; its query and fragment are left out of `htu`.
    pub url: &'a str,
    /// The server's nonce, when it has issued one.
    pub nonce: Option<&'a str>,
    /// The access token the request presents (resource requests only): its hash becomes `ath`.
    pub access_token: Option<&'a str>,
}

/// `htu`: the URL without query and fragment (RFC 9449 §4.2; every Okta SDK strips them too).
pub fn htu(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    &url[..end]
}

/// `ath`: base64url (no padding) of SHA-256 over the access token's ASCII.
pub fn ath(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// `base64url(header) "." base64url(claims)` of a proof. `random16` supplies the `jti`.
pub fn signing_input(
    key: &ProofKey,
    proof: ProofFor<'_>,
    now_ms: u64,
    random16: &[u8],
) -> Result<String, String> {
    // The host's JWK must be a JSON object: Okta cannot parse a proof whose `jwk` is a string.
    let jwk = RawValue::from_string(key.jwk.clone())
        .ok()
        .filter(|v| v.get().trim_start().starts_with('{'))
        .ok_or("the host's proof key is not a JWK object")?;
    let header = Header {
        typ: "dpop+jwt",
        alg: &key.alg,
        jwk: &jwk,
    };
    let jti = hex(random16);
    let ath = proof.access_token.map(ath);
    let claims = Claims {
        htm: proof.htm,
        htu: htu(proof.url),
        iat: now_ms / 1000,
        jti: &jti,
        nonce: proof.nonce.filter(|n| !n.is_empty()),
        ath: ath.as_deref(),
    };
    let h = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    let c = serde_json::to_vec(&claims).map_err(|e| e.to_string())?;
    Ok(format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(h),
        URL_SAFE_NO_PAD.encode(c)
    ))
}

/// A signed proof for `proof`, built and signed now (the key is fetched from the host once per call).
pub fn sign<E: Env>(
    env: &mut E,
    key: &mut Option<ProofKey>,
    proof: ProofFor<'_>,
) -> Result<String, TickError> {
    let host = |what: &str, e: String| {
        TickError::new(
            ErrorKind::Host,
            format!("the host could not {what} a DPoP proof ({e})"),
        )
    };
    let k = match key {
        Some(k) => k,
        None => key.insert(env.dpop_key().map_err(|e| host("provide the key for", e))?),
    };
    let now = env.now_ms();
    let jti = env.random_bytes(16);
    let input = signing_input(k, proof, now, &jti).map_err(|e| host("build", e))?;
    let sig = env.sign_dpop(&input).map_err(|e| host("sign", e))?;
    Ok(format!("{input}.{sig}"))
}

/// The nonce to start a token request with: the one the host keeps for the org while it is fresh.
pub fn kept_nonce<E: Env>(env: &mut E) -> Option<String> {
    let now = env.now_ms();
    env.dpop_nonce()
        .filter(|DpopNonce { received_ms, .. }| now.saturating_sub(*received_ms) < NONCE_FRESH_MS)
        .map(|n| n.value)
}

/// The `alg` of the proof key, for messages (`DPoP (ES256)`).
pub fn describe_key(key: Option<&ProofKey>) -> String {
    match key {
        Some(k) => format!("DPoP ({})", k.alg),
        None => "DPoP".to_string(),
    }
}

/// A hint for Okta's clock-related proof and assertion errors, or `None`.
pub fn clock_hint(description: &str) -> Option<&'static str> {
    let d = description.to_ascii_lowercase();
    (d.contains("in the future") || d.contains("five minutes in the past") || d.contains("expired"))
        .then_some("this machine's clock is probably off: Okta accepts proofs only within five minutes of its own time; synchronise the clock (NTP)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn part(s: &str, i: usize) -> Value {
        let p = s.split('.').nth(i).unwrap_or_default();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
    }

    fn key() -> ProofKey {
        ProofKey {
            alg: "ES256".into(),
            jwk: r#"{"kty":"EC","crv":"P-256","x":"eA","y":"eQ"}"#.into(),
        }
    }

    #[test]
    fn htu_drops_query_and_fragment_only() {
        assert_eq!(
            htu("https://a.okta.com/api/v1/logs?limit=1000&after=1_2"),
            "https://a.okta.com/api/v1/logs"
        );
        assert_eq!(htu("https://a.okta.com/x#f"), "https://a.okta.com/x");
        assert_eq!(
            htu("https://a.okta.com/oauth2/v1/token"),
            "https://a.okta.com/oauth2/v1/token"
        );
    }

    #[test]
    fn ath_is_rfc_9449s_example() {
        // RFC 9449 §7.1: the token "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU" has this ath.
        assert_eq!(
            ath("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }

    #[test]
    fn a_token_proof_has_okta_s_header_and_claims() {
        let s = signing_input(
            &key(),
            ProofFor {
                htm: "POST",
                url: "https://a.okta.com/oauth2/v1/token",
                nonce: Some("n-1"),
                access_token: None,
            },
            1_800_000_000_999,
            &[0xab; 16],
        )
        .unwrap();
        let h = part(&s, 0);
        assert_eq!(h["typ"], "dpop+jwt");
        assert_eq!(h["alg"], "ES256");
        assert!(h["jwk"].is_object(), "jwk is an object, not a string: {h}");
        assert_eq!(h["jwk"]["crv"], "P-256");
        let c = part(&s, 1);
        assert_eq!(
            c,
            serde_json::json!({"htm":"POST","htu":"https://a.okta.com/oauth2/v1/token",
                "iat":1_800_000_000u64,"jti":"ab".repeat(16),"nonce":"n-1"})
        );
    }

    #[test]
    fn a_resource_proof_has_ath_and_no_empty_nonce() {
        let s = signing_input(
            &key(),
            ProofFor {
                htm: "GET",
                url: "https://a.okta.com/api/v1/logs?after=x",
                nonce: Some(""),
                access_token: Some("tok"),
            },
            1000,
            &[1; 16],
        )
        .unwrap();
        let c = part(&s, 1);
        assert_eq!(c["htu"], "https://a.okta.com/api/v1/logs");
        assert_eq!(c["ath"], ath("tok"));
        assert!(c.get("nonce").is_none(), "{c}");
    }

    #[test]
    fn a_jwk_that_is_not_an_object_is_refused() {
        let bad = ProofKey {
            alg: "ES256".into(),
            jwk: "\"a string\"".into(),
        };
        let p = ProofFor {
            htm: "GET",
            url: "https://a/x",
            nonce: None,
            access_token: None,
        };
        assert!(signing_input(&bad, p, 0, &[0; 16]).is_err());
    }

    #[test]
    fn clock_errors_get_a_clock_hint() {
        for d in [
            "The DPoP proof JWT is issued in the future.",
            "The DPoP proof JWT is issued more than five minutes in the past.",
            "The client_assertion token has an issued at time in the future.",
        ] {
            assert!(clock_hint(d).is_some(), "{d}");
        }
        assert!(clock_hint("'htu' claim in the DPoP proof JWT is invalid.").is_none());
    }
}
