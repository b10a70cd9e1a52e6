//! `POST /oauth2/v1/token`: client credentials with `private_key_jwt`, verified like Okta.

use std::collections::HashMap;

use bytes::Bytes;
use serde_json::Value;

use crate::jwt::{self, AssertionError, ClientKeyInfo};
use crate::okta;
use crate::reply::Reply;
use crate::state::{lock, Shared, TokenInfo};
use crate::Fault;
use okta_ingest_model::time::now_ms;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn oauth(status: u16, error: &str, description: &str) -> Reply {
    Reply::json(status, okta::oauth_error(error, description))
}

/// Handles one token request; `host` is the Host header the client used (the `aud` must match).
pub fn handle(
    shared: &Shared,
    method: &http::Method,
    headers: &http::HeaderMap,
    host: &str,
    body: &Bytes,
) -> Reply {
    let now = now_ms();
    let (decision, fault) = {
        let mut inner = lock(&shared.inner);
        inner.stats.token_requests += 1;
        let decision = inner.token_bucket.hit(now);
        let pos = inner
            .faults
            .iter()
            .position(|f| matches!(f, Fault::TokenEndpoint { .. }));
        let fault = pos.and_then(|p| inner.faults.remove(p));
        if fault.is_some() {
            inner.stats.faults_served += 1;
        }
        (decision, fault)
    };
    let reply = if let Some(Fault::TokenEndpoint { status, body }) = fault {
        Reply::json(status, body)
    } else if !decision.allowed {
        Reply::json(429, okta::rate_limited())
    } else {
        answer(shared, method, headers, host, body, now)
    };
    let mut reply = reply
        .header("cache-control", "no-cache, no-store")
        .header("pragma", "no-cache");
    for (n, v) in decision.headers() {
        reply = reply.header(n, v);
    }
    reply
}

fn answer(
    shared: &Shared,
    method: &http::Method,
    headers: &http::HeaderMap,
    host: &str,
    body: &Bytes,
    now: u64,
) -> Reply {
    if method != http::Method::POST {
        return Reply::json(
            405,
            okta::api_error(
                "E0000022",
                "The endpoint does not support the provided HTTP method",
                &[],
            ),
        )
        .header("allow", "POST");
    }
    // First occurrence wins, like most servlet containers.
    let mut form: HashMap<String, String> = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        form.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    let field = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty());
    match field("grant_type") {
        None => {
            return oauth(400, "invalid_request", "The token request must specify a 'grant_type'. Valid values: [client_credentials]")
        }
        Some("client_credentials") => {}
        Some(_) => {
            return oauth(
                400,
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server. Configured grant types: [client_credentials].",
            )
        }
    }
    let Some(assertion) = field("client_assertion") else {
        return oauth(401, "invalid_client", "Client authentication failed. Either the client or the client credentials are invalid.");
    };
    if field("client_assertion_type") != Some(JWT_BEARER) {
        return oauth(
            400,
            "invalid_request",
            &format!("The 'client_assertion_type' parameter must be '{JWT_BEARER}'."),
        );
    }
    let decoded = match jwt::decode(assertion) {
        Ok(d) => d,
        Err(e) => return error_reply(&e),
    };
    let form_client_id = field("client_id");
    let Some(client_id) = jwt::issuer(&decoded).or(form_client_id).map(str::to_string) else {
        return error_reply(&AssertionError::UnknownClient);
    };
    let now_s = (now / 1000) as i64;
    let aud = format!("https://{host}/oauth2/v1/token");
    let mut inner = lock(&shared.inner);
    let Some(client) = inner.clients.get(&client_id) else {
        return error_reply(&AssertionError::UnknownClient);
    };
    let info = ClientKeyInfo {
        key: client.key.as_ref(),
        kid: client.reg.kid.as_deref(),
    };
    let verified = match jwt::verify(
        &decoded,
        &client_id,
        form_client_id,
        &info,
        &aud,
        now_s,
        &inner.used_jti,
    ) {
        Ok(v) => v,
        Err(e) => return error_reply(&e),
    };
    let require_dpop = client.reg.require_dpop;
    let granted = client.reg.scopes.clone();
    if let Some(jti) = verified.jti {
        // Forget jtis whose assertion can no longer be replayed anyway.
        inner.used_jti.retain(|_, exp| *exp >= now_s);
        inner.used_jti.insert(jti, verified.exp);
    }
    if require_dpop && !headers.contains_key("dpop") {
        return oauth(
            400,
            "invalid_dpop_proof",
            "The DPoP proof JWT header is missing.",
        );
    }
    if require_dpop {
        // DPoP proofs are not emulated: a proof is refused rather than silently accepted.
        return oauth(400, "invalid_dpop_proof", "The DPoP proof JWT is invalid.");
    }
    let requested: Vec<String> = field("scope")
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if requested.is_empty() {
        return oauth(400, "invalid_scope", "The authorization server resource does not have any configured default scopes, 'scope' must be provided.");
    }
    if requested.iter().any(|s| !granted.contains(s)) {
        return oauth(
            400,
            "invalid_scope",
            "One or more scopes are not configured for the authorization server resource.",
        );
    }
    let token = okta::random_token(48);
    let lifetime = shared.token_lifetime.as_secs();
    inner.tokens.retain(|_, t| t.expires_ms > now);
    inner.tokens.insert(
        token.clone(),
        TokenInfo {
            client_id,
            scopes: requested.clone(),
            expires_ms: now + shared.token_lifetime.as_millis() as u64,
        },
    );
    inner.stats.tokens_issued += 1;
    drop(inner);
    let s = |v: &str| Value::String(v.to_string()).to_string();
    // Okta's key order, which serde_json's sorted map would not keep.
    Reply::json(
        200,
        format!(
            r#"{{"token_type":"Bearer","expires_in":{lifetime},"access_token":{},"scope":{}}}"#,
            s(&token),
            s(&requested.join(" "))
        ),
    )
}

fn error_reply(e: &AssertionError) -> Reply {
    let (status, body) = e.response();
    Reply::json(status, body)
}
