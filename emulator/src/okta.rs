//! Okta-shaped response bodies and random identifiers.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::Rng;
use serde_json::{json, Value};

/// A random Okta-looking error id (`oae…`), fresh for every error like Okta's.
pub fn error_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    let tail: String = (0..22)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("oae{tail}")
}

/// A random Okta-looking request id (27 base64url characters, like `XkH3xj0DQ0d2BqM-jn3lPgAABPA`).
pub fn request_id() -> String {
    random_token(20)
}

/// A random opaque token (base64url of `bytes` random bytes).
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill(buf.as_mut_slice());
    URL_SAFE_NO_PAD.encode(buf)
}

/// The Management-API error body: `errorCode`, `errorSummary`, `errorLink`, `errorId`,
/// `errorCauses` (each cause an `{"errorSummary": …}` object).
pub fn api_error(code: &str, summary: &str, causes: &[String]) -> String {
    let causes: Vec<_> = causes
        .iter()
        .map(|c| json!({ "errorSummary": c }))
        .collect();
    ordered_error(code, summary, code, &Value::Array(causes))
}

/// Builds the error object in Okta's key order (serde_json's map would sort the keys).
fn ordered_error(code: &str, summary: &str, link: &str, causes: &Value) -> String {
    let s = |v: &str| Value::String(v.to_string()).to_string();
    format!(
        r#"{{"errorCode":{},"errorSummary":{},"errorLink":{},"errorId":{},"errorCauses":{}}}"#,
        s(code),
        s(summary),
        s(link),
        s(&error_id()),
        causes
    )
}

/// The OAuth 2.0 error body the token endpoint uses for most failures.
pub fn oauth_error(error: &str, description: &str) -> String {
    json!({ "error": error, "error_description": description }).to_string()
}

/// Okta's answer for an unknown client: the Management-API shape, not the OAuth one.
pub fn unknown_client() -> String {
    ordered_error(
        "invalid_client",
        "Invalid value for 'client_id' parameter.",
        "invalid_client",
        &Value::Array(vec![]),
    )
}

/// 429 body, shared by every endpoint.
pub fn rate_limited() -> String {
    api_error(
        "E0000047",
        "API call exceeded rate limit due to too many requests.",
        &[],
    )
}
