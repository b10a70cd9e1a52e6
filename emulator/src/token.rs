//! `POST /oauth2/v1/token`: client credentials with `private_key_jwt`, verified like Okta, and DPoP
//! (RFC 9449) with Okta's nonce handshake, checks and order (DPOP.md §9.1).

use std::collections::HashMap;

use bytes::Bytes;
use serde_json::Value;

use crate::dpop::{self, ProofError, Target};
use crate::jwt::{self, AssertionError, ClientKeyInfo};
use crate::okta;
use crate::reply::Reply;
use crate::state::{lock, Inner, Shared, TokenInfo};
use crate::Fault;
use okta_ingest_model::time::now_ms;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The path a token proof's `htu` must name (Okta wants it exact: no trailing slash).
pub(crate) const TOKEN_PATH: &str = "/oauth2/v1/token";

fn oauth(status: u16, error: &str, description: &str) -> Reply {
    Reply::json(status, okta::oauth_error(error, description))
}

/// The form body; the first occurrence of a repeated field wins, like most servlet containers.
struct Form(HashMap<String, String>);

impl Form {
    fn parse(body: &Bytes) -> Form {
        let mut form = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(body) {
            form.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
        Form(form)
    }

    /// A field, absent when empty.
    fn field(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str).filter(|v| !v.is_empty())
    }
}

/// Whether the request's single-use values had been seen before it arrived.
#[derive(Debug, Clone, Copy)]
struct Consumed {
    assertion_replayed: bool,
    proof_replayed: bool,
}

/// Handles one token request; `host` is the Host header the client used (the assertion `aud` and
/// the proof `htu` must name it).
pub fn handle(
    shared: &Shared,
    method: &http::Method,
    headers: &http::HeaderMap,
    host: &str,
    body: &Bytes,
) -> Reply {
    let now = shared.clock.now_ms();
    let form = Form::parse(body);
    let (decision, fault, consumed) = {
        let mut inner = lock(&shared.inner);
        inner.stats.token_requests += 1;
        let consumed = consume(&mut inner, &form, headers, now);
        // Rate limits run on real time: a shifted clock must not open or close windows.
        let decision = inner.token_bucket.hit(now_ms());
        let pos = inner
            .faults
            .iter()
            .position(|f| matches!(f, Fault::TokenEndpoint { .. }));
        let fault = pos.and_then(|p| inner.faults.remove(p));
        if fault.is_some() {
            inner.stats.faults_served += 1;
        }
        (decision, fault, consumed)
    };
    let reply = if let Some(Fault::TokenEndpoint { status, body }) = fault {
        Reply::json(status, body)
    } else if !decision.allowed {
        Reply::json(429, okta::rate_limited())
    } else {
        answer(shared, method, headers, host, &form, consumed, now)
    };
    let mut reply = reply
        .header("cache-control", "no-cache, no-store")
        .header("pragma", "no-cache");
    for (n, v) in decision.headers() {
        reply = reply.header(n, v);
    }
    reply
}

/// Records the assertion's and the proof's `jti` as used, before the rate limit, the faults and
/// any check: Okta consumes both on sight, so a request refused with a 429 or a `use_dpop_nonce`
/// still burns them (DPOP.md §1.2, §2.2, §9.1 step 1). Only what can be read without verifying is
/// recorded; the verdicts come later, in Okta's order.
fn consume(inner: &mut Inner, form: &Form, headers: &http::HeaderMap, now: u64) -> Consumed {
    let now_s = (now / 1000) as i64;
    let mut client_id = form.field("client_id").map(str::to_string);
    let mut assertion_replayed = false;
    if let Some(jwt) = form
        .field("client_assertion")
        .and_then(|a| jwt::decode(a).ok())
    {
        if let Some(iss) = jwt::issuer(&jwt) {
            client_id = Some(iss.to_string());
        }
        if let Some(jti) = jwt.claims.get("jti").and_then(Value::as_str) {
            // Forget jtis whose assertion can no longer be replayed anyway.
            inner.used_jti.retain(|_, exp| *exp >= now_s);
            assertion_replayed = inner.used_jti.contains_key(jti);
            // Kept until the assertion expires. An `exp` it could never pass with (missing, past,
            // over an hour ahead) fails its own check before replay is looked at, so the clamp
            // only bounds memory.
            let exp = jwt
                .claims
                .get("exp")
                .and_then(Value::as_f64)
                .map_or(now_s, |e| e as i64)
                .clamp(now_s, now_s + jwt::MAX_EXP_AHEAD_S + 5);
            let kept = inner.used_jti.entry(jti.to_string()).or_insert(exp);
            *kept = (*kept).max(exp);
            if assertion_replayed {
                inner.stats.replayed_assertions += 1;
            }
        }
    }
    // A Bearer app that ignores unsolicited proofs ignores them entirely, replays included.
    let ignored = client_id
        .as_deref()
        .and_then(|c| inner.clients.get(c))
        .is_some_and(|c| !c.reg.require_dpop && c.reg.accept_unsolicited_dpop);
    let mut proof_replayed = false;
    if let (false, Ok(Some(proof))) = (ignored, dpop::header(headers)) {
        if let Some((jti, iat)) = dpop::peek(proof) {
            proof_replayed = inner.proof_jtis.record(&jti, iat, now);
            if proof_replayed {
                inner.stats.replayed_proofs += 1;
            }
        }
    }
    Consumed {
        assertion_replayed,
        proof_replayed,
    }
}

fn answer(
    shared: &Shared,
    method: &http::Method,
    headers: &http::HeaderMap,
    host: &str,
    form: &Form,
    consumed: Consumed,
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
    let field = |k: &str| form.field(k);
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
    let aud = format!("https://{host}{TOKEN_PATH}");
    let mut inner = lock(&shared.inner);
    let Some(client) = inner.clients.get(&client_id) else {
        return error_reply(&AssertionError::UnknownClient);
    };
    let info = ClientKeyInfo {
        key: client.key.as_ref(),
        kid: client.reg.kid.as_deref(),
    };
    if let Err(e) = jwt::verify(
        &decoded,
        &client_id,
        form_client_id,
        &info,
        &aud,
        now_s,
        consumed.assertion_replayed,
    ) {
        return error_reply(&e);
    }
    let app = DpopApp {
        require: client.reg.require_dpop,
        ignore_unsolicited: client.reg.accept_unsolicited_dpop,
    };
    let granted = client.reg.scopes.clone();
    let jkt = match bind(&mut inner, headers, host, app, consumed.proof_replayed, now) {
        Ok(jkt) => jkt,
        Err(r) => return r,
    };
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
    let token_type = if jkt.is_some() { "DPoP" } else { "Bearer" };
    // Okta sends the nonce on the 200 too (DPOP.md §1.3), so a client can keep it fresh.
    let nonce = jkt.as_ref().map(|_| inner.as_nonces.current(now));
    inner.tokens.insert(
        token.clone(),
        TokenInfo {
            client_id,
            scopes: requested.clone(),
            expires_ms: now + shared.token_lifetime.as_millis() as u64,
            jkt,
        },
    );
    inner.stats.tokens_issued += 1;
    if nonce.is_some() {
        inner.stats.dpop_tokens_issued += 1;
    } else {
        inner.stats.bearer_tokens_issued += 1;
    }
    drop(inner);
    let s = |v: &str| Value::String(v.to_string()).to_string();
    // Okta's key order, which serde_json's sorted map would not keep.
    let reply = Reply::json(
        200,
        format!(
            r#"{{"token_type":"{token_type}","expires_in":{lifetime},"access_token":{},"scope":{}}}"#,
            s(&token),
            s(&requested.join(" "))
        ),
    );
    match nonce {
        Some(n) => reply.header("dpop-nonce", n),
        None => reply,
    }
}

/// The app's DPoP settings.
#[derive(Debug, Clone, Copy)]
struct DpopApp {
    require: bool,
    ignore_unsolicited: bool,
}

/// DPOP.md §9.1 steps 2–6: the key thumbprint to bind the token to (`None`: a Bearer token), or
/// the answer refusing the request. `replayed`: the proof's `jti` had been seen before.
fn bind(
    inner: &mut Inner,
    headers: &http::HeaderMap,
    host: &str,
    app: DpopApp,
    replayed: bool,
    now: u64,
) -> Result<Option<String>, Reply> {
    let refuse = |inner: &mut Inner, e: ProofError| {
        inner.stats.dpop_errors += 1;
        oauth(400, "invalid_dpop_proof", e.description())
    };
    let proof = match dpop::header(headers) {
        Err(e) => return Err(refuse(inner, e)),
        Ok(None) if app.require => return Err(refuse(inner, ProofError::Missing)),
        Ok(None) => return Ok(None),
        Ok(Some(_)) if !app.require && app.ignore_unsolicited => return Ok(None),
        Ok(Some(p)) => p,
    };
    let target = Target {
        method: "POST",
        host,
        path: TOKEN_PATH,
    };
    let proof = dpop::verify(proof, &target, now, &inner.dpop).map_err(|e| refuse(inner, e))?;
    // The nonce comes before `jti`: Okta's own first proof has no `jti` and still gets the
    // challenge (DPOP.md §1.1).
    let nonce_ok = !inner.dpop.nonce_loop
        && proof
            .nonce()
            .is_some_and(|n| inner.as_nonces.accepts(n, now));
    if !nonce_ok {
        inner.stats.dpop_nonce_challenges += 1;
        let nonce = inner.as_nonces.current(now);
        return Err(oauth(
            400,
            "use_dpop_nonce",
            "Authorization server requires nonce in DPoP proof.",
        )
        .header("dpop-nonce", nonce));
    }
    if proof.jti().is_none() {
        return Err(refuse(inner, ProofError::Jti));
    }
    if replayed {
        return Err(refuse(inner, ProofError::Replayed));
    }
    Ok(Some(proof.thumbprint))
}

fn error_reply(e: &AssertionError) -> Reply {
    let (status, body) = e.response();
    Reply::json(status, body)
}
