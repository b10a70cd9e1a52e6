//! `GET /.well-known/openid-configuration`: the org authorization server's metadata, which Okta serves
//! without authentication, listing what this emulator implements: the token endpoint with
//! `private_key_jwt` and the client-credentials grant, and the algorithms it verifies.
//!
//! Deviation: `jwks_uri` names Okta's `/oauth2/v1/keys`, which the emulator does not serve (its access
//! tokens are opaque, so there is nothing to verify with those keys).

use serde_json::{json, Value};

use crate::reply::Reply;

/// The path of the metadata document.
pub const PATH: &str = "/.well-known/openid-configuration";

/// The metadata for clients that reached the emulator as `host` (the Host header: Okta builds the
/// URLs from the domain it is called by).
pub fn handle(host: &str) -> Reply {
    Reply::json(200, metadata(host).to_string())
}

/// The metadata document, in the names of RFC 8414 and OpenID Connect Discovery.
fn metadata(host: &str) -> Value {
    let base = format!("https://{host}");
    json!({
        "issuer": base,
        "token_endpoint": format!("{base}{}", crate::token::TOKEN_PATH),
        "jwks_uri": format!("{base}/oauth2/v1/keys"),
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": ["okta.logs.read"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": crate::jwt::ASSERTION_ALGS,
        "dpop_signing_alg_values_supported": crate::dpop::VERIFIED_ALGS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_urls_name_the_domain_the_client_used() {
        let m = metadata("127.0.0.1:8443");
        assert_eq!(m["issuer"], "https://127.0.0.1:8443");
        assert_eq!(
            m["token_endpoint"],
            "https://127.0.0.1:8443/oauth2/v1/token"
        );
        assert_eq!(m["jwks_uri"], "https://127.0.0.1:8443/oauth2/v1/keys");
        assert_eq!(
            m["token_endpoint_auth_methods_supported"],
            json!(["private_key_jwt"])
        );
        assert_eq!(
            m["dpop_signing_alg_values_supported"],
            json!(["RS256", "RS384", "RS512", "ES256"])
        );
        let reply = handle("okta.example");
        assert_eq!(reply.status, 200);
        let body: Value = serde_json::from_slice(&reply.body).expect("json");
        assert_eq!(body["issuer"], "https://okta.example");
    }
}
