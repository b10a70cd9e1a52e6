//! The `private_key_jwt` client assertion. The key stays in the host: we build the signing input
//! and ask the host to sign it.

use crate::fmt::hex;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;

/// Assertion lifetime. Okta refuses `exp` more than an hour ahead; 5 minutes is plenty for one POST.
pub const LIFETIME_S: u64 = 300;

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<&'a str>,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
    jti: &'a str,
}

/// The token endpoint URL, which is also the assertion's `aud`.
pub fn token_url(domain: &str) -> String {
    format!("https://{domain}/oauth2/v1/token")
}

/// `base64url(header) "." base64url(claims)` for a fresh assertion. `random16` supplies the `jti`
/// (single-use at Okta, so every assertion needs new randomness).
pub fn signing_input(
    domain: &str,
    client_id: &str,
    key_id: Option<&str>,
    now_ms: u64,
    random16: &[u8],
) -> String {
    let now = now_ms / 1000;
    let aud = token_url(domain);
    let jti = hex(random16);
    let header = Header {
        alg: "RS256",
        typ: "JWT",
        kid: key_id,
    };
    let claims = Claims {
        iss: client_id,
        sub: client_id,
        aud: &aud,
        iat: now,
        exp: now + LIFETIME_S,
        jti: &jti,
    };
    // Serializing these plain structs cannot fail; an empty part would be rejected by Okta anyway.
    let h = serde_json::to_vec(&header).unwrap_or_default();
    let c = serde_json::to_vec(&claims).unwrap_or_default();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(h),
        URL_SAFE_NO_PAD.encode(c)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn part(s: &str, i: usize) -> Value {
        let p = s.split('.').nth(i).unwrap_or_default();
        let bytes = URL_SAFE_NO_PAD.decode(p).unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }

    #[test]
    fn claims_and_header() {
        let s = signing_input(
            "acme.okta.com",
            "0oa\"x",
            Some("kid-1"),
            1_800_000_000_999,
            &[0xab; 16],
        );
        assert!(!s.contains('=') && !s.contains('+') && !s.contains('/'));
        let h = part(&s, 0);
        assert_eq!(
            h,
            serde_json::json!({"alg":"RS256","typ":"JWT","kid":"kid-1"})
        );
        let c = part(&s, 1);
        assert_eq!(c["iss"], "0oa\"x");
        assert_eq!(c["sub"], "0oa\"x");
        assert_eq!(c["aud"], "https://acme.okta.com/oauth2/v1/token");
        assert_eq!(c["iat"], 1_800_000_000u64);
        assert_eq!(c["exp"], 1_800_000_300u64);
        assert_eq!(c["jti"], "ab".repeat(16));
        let no_kid = part(&signing_input("d", "c", None, 0, &[1; 16]), 0);
        assert_eq!(no_kid, serde_json::json!({"alg":"RS256","typ":"JWT"}));
    }
}
