use super::*;
use crate::types::ErrorKind;
use crate::{run_check, run_tick, Categories, Method};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

fn form_value<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    body.split('&').find_map(|kv| {
        kv.split_once('=')
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v)
    })
}

fn claims(assertion: &str) -> serde_json::Value {
    let part = assertion.split('.').nth(1).unwrap_or_default();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap_or_default()).unwrap_or_default()
}

#[test]
fn token_request_carries_a_fresh_signed_assertion() {
    let mut e = env();
    e.push(token_ok("t1")).push(page(&[], "1"));
    let mut i = input(None, None);
    i.config.key_id = Some("key-7".into());
    let r = run_tick(&mut e, i);
    assert_eq!(r.error, None);
    let req = &e.requests[0];
    assert_eq!(req.method, Method::Post);
    assert_eq!(req.url, "https://acme.okta.com/oauth2/v1/token");
    assert!(req.headers.contains(&(
        "content-type".into(),
        "application/x-www-form-urlencoded".into()
    )));
    assert!(req
        .headers
        .contains(&("accept".into(), "application/json".into())));
    let body = String::from_utf8(req.body.clone()).unwrap_or_default();
    assert_eq!(form_value(&body, "grant_type"), Some("client_credentials"));
    assert_eq!(form_value(&body, "scope"), Some("okta.logs.read"));
    assert_eq!(
        form_value(&body, "client_assertion_type"),
        Some("urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer")
    );
    let assertion = form_value(&body, "client_assertion").unwrap_or_default();
    assert_eq!(assertion, format!("{}.c2lnbmF0dXJl", e.signed[0]));
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(assertion.split('.').next().unwrap_or_default())
            .unwrap_or_default(),
    )
    .unwrap_or_default();
    assert_eq!(
        header,
        serde_json::json!({"alg":"RS256","typ":"JWT","kid":"key-7"})
    );
    let c = claims(assertion);
    assert_eq!(
        (c["iss"].as_str(), c["sub"].as_str()),
        (Some("0oaclient"), Some("0oaclient"))
    );
    assert_eq!(c["aud"], "https://acme.okta.com/oauth2/v1/token");
    assert_eq!(c["iat"], NOW / 1000);
    assert_eq!(c["exp"], NOW / 1000 + 300);
    assert_eq!(c["jti"].as_str().map(str::len), Some(32));
    let t = r.token.expect("token");
    assert_eq!(t.token, "t1");
    assert_eq!(t.expires_at_ms, NOW + 10 + 3_600_000);
}

#[test]
fn cached_token_is_reused_and_near_expiry_is_replaced() {
    let mut e = env();
    e.push(page(&[], "1"));
    let r = run_tick(&mut e, input(None, Some(valid_token())));
    assert_eq!(e.requests.len(), 1);
    assert_eq!(r.token, Some(valid_token()));

    let mut e = env();
    e.push(token_ok("fresh")).push(page(&[], "1"));
    let stale = AccessToken {
        token: "old".into(),
        expires_at_ms: NOW + 59_000,
        ..valid_token()
    };
    let r = run_tick(&mut e, input(None, Some(stale)));
    assert_eq!(e.requests.len(), 2);
    assert_eq!(r.token.map(|t| t.token), Some("fresh".to_string()));
}

#[test]
fn expired_token_401_reauthenticates_once() {
    let www = "Bearer authorization_uri=\"x\", error=\"invalid_token\", error_description=\"The token has expired.\"";
    let mut e = env();
    e.push(resp(401, &[("www-authenticate", www)], ""))
        .push(token_ok("t2"))
        .push(page(&[], "1"));
    let r = run_tick(&mut e, input(None, Some(valid_token())));
    assert_eq!(r.error, None);
    assert_eq!(e.requests.len(), 3);
    assert!(e.requests[2]
        .headers
        .contains(&("authorization".into(), "Bearer t2".into())));
    assert_eq!(r.token.map(|t| t.token), Some("t2".to_string()));

    let mut e = env();
    e.push(resp(401, &[("www-authenticate", www)], ""))
        .push(token_ok("t2"))
        .push(resp(401, &[("www-authenticate", www)], ""));
    let r = run_tick(&mut e, input(None, Some(valid_token())));
    let err = r.error.expect("error");
    assert_eq!(
        (err.kind, err.http_status),
        (ErrorKind::AuthFailed, Some(401))
    );
}

fn token_failure(status: u16, body: &str) -> crate::TickError {
    let mut e = env();
    e.push(resp(status, &[], body));
    let r = run_tick(&mut e, input(None, None));
    assert!(e.commits.is_empty());
    r.error.expect("error")
}

#[test]
fn token_errors_are_classified() {
    // An app that requires DPoP, while this instance's DPoP mode is off.
    let mut e = env();
    e.push(resp(
        400,
        &[],
        r#"{"error":"invalid_dpop_proof","error_description":"The DPoP proof JWT header is missing."}"#,
    ));
    let mut i = input(None, None);
    i.config.dpop = DpopMode::Off;
    let dpop = run_tick(&mut e, i).error.expect("error");
    assert_eq!(dpop.kind, ErrorKind::DpopRequired);
    assert!(
        dpop.message.contains("DPoP mode is off") && dpop.message.contains("auto"),
        "{}",
        dpop.message
    );
    assert!(
        !e.requests[0].headers.iter().any(|(n, _)| n == "dpop"),
        "off sends no proof"
    );
    assert_eq!(dpop.okta_code.as_deref(), Some("invalid_dpop_proof"));
    // With proofs on, Okta's refusal of one is reported verbatim.
    let refused = token_failure(
        400,
        r#"{"error":"invalid_dpop_proof","error_description":"The DPoP proof JWT signature is invalid."}"#,
    );
    assert_eq!(refused.kind, ErrorKind::AuthFailed);
    assert!(
        refused
            .message
            .contains("invalid_dpop_proof: The DPoP proof JWT signature is invalid."),
        "{}",
        refused.message
    );
    // A nonce challenge without a nonce cannot be answered.
    assert_eq!(
        token_failure(400, r#"{"error":"use_dpop_nonce","error_description":"x"}"#).kind,
        ErrorKind::BadResponse
    );
    // A clock that is off shows in the client assertion too.
    let clock = token_failure(
        401,
        r#"{"error":"invalid_client","error_description":"The client_assertion token has an issued at time in the future."}"#,
    );
    assert!(clock.message.contains("clock"), "{}", clock.message);

    let sig = token_failure(
        401,
        r#"{"error":"invalid_client","error_description":"The client_assertion signature is invalid."}"#,
    );
    assert_eq!(sig.kind, ErrorKind::InvalidSignature);
    assert!(sig
        .message
        .contains("wrong private key for this client id, or the public key is not registered"));

    let kid = token_failure(
        401,
        r#"{"error":"invalid_client","error_description":"The client_assertion JWT kid is invalid."}"#,
    );
    assert_eq!(kid.kind, ErrorKind::InvalidSignature);
    assert!(kid.message.contains("--key-id"));

    let unknown = token_failure(
        401,
        r#"{"errorCode":"invalid_client","errorSummary":"Invalid value for 'client_id' parameter.","errorLink":"invalid_client","errorId":"oae1","errorCauses":[]}"#,
    );
    assert_eq!(
        (unknown.kind, unknown.okta_code.as_deref()),
        (ErrorKind::UnknownClient, Some("invalid_client"))
    );

    let scope = token_failure(
        400,
        r#"{"error":"invalid_scope","error_description":"The following scopes are not granted"}"#,
    );
    assert_eq!(scope.kind, ErrorKind::ScopeNotGranted);
    assert!(scope.message.contains("Okta API Scopes tab"));

    let other = token_failure(
        401,
        r#"{"error":"invalid_grant","error_description":"Something\nelse."}"#,
    );
    assert_eq!(other.kind, ErrorKind::AuthFailed);
    assert!(other.message.contains("Something else.") && !other.message.contains('\n'));

    let garbage = token_failure(400, "<html>");
    assert_eq!(
        (garbage.kind, garbage.http_status),
        (ErrorKind::AuthFailed, Some(400))
    );
}

#[test]
fn token_endpoint_5xx_is_retried_with_fresh_assertions() {
    let mut e = env();
    e.push(resp(502, &[], ""))
        .push(token_ok("t"))
        .push(page(&[], "1"));
    let r = run_tick(&mut e, input(None, None));
    assert_eq!(r.error, None);
    assert_eq!(e.signed.len(), 2);
    assert_ne!(claims(&e.signed[0])["jti"], claims(&e.signed[1])["jti"]);
}

#[test]
fn dpop_token_type_and_signing_failure() {
    // With DPoP off, a bound token cannot be used (no proof key was offered): the app needs the mode on.
    let mut e = env();
    e.push(resp(
        200,
        &[],
        r#"{"token_type":"DPoP","expires_in":3600,"access_token":"x"}"#,
    ));
    let mut i = input(None, None);
    i.config.dpop = DpopMode::Off;
    assert_eq!(
        run_tick(&mut e, i).error.map(|e| e.kind),
        Some(ErrorKind::DpopRequired)
    );

    let mut e = env();
    e.sign_result = Err("no key".into());
    let r = run_tick(&mut e, input(None, None));
    assert_eq!(r.error.map(|e| e.kind), Some(ErrorKind::Host));
    assert!(e.requests.is_empty());
}

#[test]
fn logs_refusals_are_classified() {
    let cases = [
        (
            resp(
                403,
                &[],
                r#"{"errorCode":"E0000006","errorSummary":"You do not have permission to perform the requested action"}"#,
            ),
            ErrorKind::Forbidden,
        ),
        (
            resp(
                403,
                &[("www-authenticate", "Bearer error=\"insufficient_scope\"")],
                "",
            ),
            ErrorKind::ScopeNotGranted,
        ),
        (
            resp(
                400,
                &[],
                r#"{"errorCode":"E0000053","errorSummary":"Invalid filter"}"#,
            ),
            ErrorKind::InvalidRequest,
        ),
        (resp(404, &[], "not found"), ErrorKind::BadResponse),
    ];
    for (r, kind) in cases {
        let mut e = env();
        e.push(r);
        let err = run_tick(&mut e, input(None, Some(valid_token())))
            .error
            .expect("error");
        assert_eq!(err.kind, kind, "{}", err.message);
        if kind == ErrorKind::Forbidden {
            assert!(err.message.contains("Report Administrator"));
            assert_eq!(err.okta_code.as_deref(), Some("E0000006"));
        }
        if kind == ErrorKind::InvalidRequest {
            assert!(err.message.contains("E0000053: Invalid filter"));
        }
    }
}

#[test]
fn check_reports_one_line() {
    let mut e = env();
    e.push(token_ok("t"))
        .push(page(&[ev("a", "user.session.start")], "1"));
    let cfg = config(Categories::AUTHENTICATION);
    let ok = run_check(&mut e, &cfg, &tuning());
    assert_eq!(
        ok,
        Ok(
            "OK: Bearer token obtained, System Log readable (1 event(s) in the last hour sample)"
                .to_string()
        )
    );
    let url = &e.requests[1].url;
    assert!(
        url.contains("limit=1&") && url.ends_with("&since=2026-11-25T23%3A00%3A00.000Z"),
        "{url}"
    );
    assert!(e.commits.is_empty());

    let mut e = env();
    e.push(token_ok("t")).push(resp(403, &[], "{}"));
    assert_eq!(
        run_check(&mut e, &cfg, &tuning()).err().map(|e| e.kind),
        Some(ErrorKind::Forbidden)
    );

    let mut e = env();
    for _ in 0..3 {
        e.push_err(crate::HttpErrorKind::Tls, "TlsProtocolError");
    }
    let err = run_check(&mut e, &cfg, &tuning()).expect_err("error");
    assert!(err.kind == ErrorKind::Network && err.message.contains("TLS"));
}

#[test]
fn permanent_transport_errors_are_not_retried() {
    let cfg = config(Categories::AUTHENTICATION);
    for (kind, words) in [
        (
            crate::HttpErrorKind::Certificate,
            "certificate is not trusted",
        ),
        (crate::HttpErrorKind::Dns, "does not resolve"),
        (crate::HttpErrorKind::Invalid, "could not be made"),
    ] {
        let mut e = env();
        e.push_err(kind, "detail");
        let err = run_check(&mut e, &cfg, &tuning()).expect_err("error");
        assert!(err.message.contains(words), "{kind:?}: {}", err.message);
        assert!(
            e.sleeps.is_empty() && e.responses.is_empty() && e.requests.len() == 1,
            "{kind:?}: one attempt, no back-off: {:?}",
            e.sleeps
        );
        assert!(!err.message.contains("ErrorCode"), "{}", err.message);
    }
}

#[test]
fn describe_names_the_build() {
    let d = crate::describe();
    assert_eq!(
        (d.name.as_str(), d.wit_version.as_str(), d.state_schema),
        ("okta-system-log", "1.2.0", 1)
    );
    assert_eq!(d.version, env!("CARGO_PKG_VERSION"));
}
