//! DPoP scenarios: proofs on the token request and on every System Log attempt, the nonce exchange and
//! its cache, the modes, and Okta's `WWW-Authenticate` errors.

use super::*;
use crate::env::{DpopNonce, HttpRequest};
use crate::types::ErrorKind;
use crate::{run_check, run_tick, DpopMode, TokenScheme};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

fn part(jwt: &str, i: usize) -> Value {
    let p = jwt.split('.').nth(i).unwrap_or_default();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap_or_default()).unwrap_or_default()
}

/// The claims of a request's `DPoP` proof (`Value::Null` without one).
fn proof(req: &HttpRequest) -> Value {
    req.headers
        .iter()
        .find(|(n, _)| n == "dpop")
        .map_or(Value::Null, |(_, v)| part(v, 1))
}

fn authorization(req: &HttpRequest) -> &str {
    crate::env::header(&req.headers, "authorization").unwrap_or("")
}

/// The assertion's claims of a token request.
fn assertion(req: &HttpRequest) -> Value {
    let body = String::from_utf8_lossy(&req.body).to_string();
    let a = body
        .split('&')
        .find_map(|kv| kv.strip_prefix("client_assertion="))
        .unwrap_or_default()
        .to_string();
    part(&a, 1)
}

fn dpop_token(token: &str, nonce: &str) -> HttpResponse {
    resp(
        200,
        &[("dpop-nonce", nonce)],
        &format!("{{\"token_type\":\"DPoP\",\"expires_in\":3600,\"access_token\":\"{token}\",\"scope\":\"okta.logs.read\"}}"),
    )
}

fn nonce_challenge(nonce: &str) -> HttpResponse {
    resp(
        400,
        &[("dpop-nonce", nonce)],
        r#"{"error":"use_dpop_nonce","error_description":"Authorization server requires nonce in DPoP proof."}"#,
    )
}

fn www(error: &str, description: &str) -> String {
    format!(
        r#"DPoP algs="RS256 RS384 RS512 ES256 ES384 ES512", authorization_uri="http://{DOMAIN}/oauth2/v1/authorize", realm="http://{DOMAIN}", scope="okta.logs.read", error="{error}", error_description="{description}", resource="/api/v1/logs""#
    )
}

fn bound_token() -> AccessToken {
    AccessToken {
        token: "bound".into(),
        scheme: TokenScheme::Dpop,
        ..valid_token()
    }
}

#[test]
fn the_first_token_answers_the_nonce_challenge_with_a_new_assertion_and_proof() {
    let mut e = env();
    e.push(nonce_challenge("n1"))
        .push(dpop_token("tok", "n1"))
        .push(page(&[ev("a", "user.session.start")], "1"))
        .push(page(&[], "2"));
    let r = run_tick(&mut e, input(None, None));
    assert_eq!(r.error, None);
    let (first, second) = (&e.requests[0], &e.requests[1]);
    let (p1, p2) = (proof(first), proof(second));
    assert_eq!(p1["htm"], "POST");
    assert_eq!(p1["htu"], format!("https://{DOMAIN}/oauth2/v1/token"));
    assert!(p1.get("nonce").is_none(), "no nonce before Okta issued one");
    assert_eq!(p2["nonce"], "n1");
    assert_ne!(p1["jti"], p2["jti"], "a new proof per attempt");
    assert_ne!(
        assertion(first)["jti"],
        assertion(second)["jti"],
        "and a new client assertion: Okta consumed the first one"
    );
    assert_eq!(e.kept_nonces, vec!["n1".to_string()], "kept for the org");
    let header = e.requests[2]
        .headers
        .iter()
        .find(|(n, _)| n == "dpop")
        .map(|(_, v)| part(v, 0))
        .expect("proof");
    assert_eq!(header["typ"], "dpop+jwt");
    assert_eq!(header["alg"], "ES256");
    assert!(header["jwk"].is_object());
    let logs = proof(&e.requests[2]);
    assert_eq!(authorization(&e.requests[2]), "DPoP tok");
    assert_eq!(logs["htm"], "GET");
    assert_eq!(
        logs["htu"],
        format!("https://{DOMAIN}/api/v1/logs"),
        "no query in htu"
    );
    assert!(e.requests[2].url.contains('?'), "the query is still sent");
    assert_eq!(logs["ath"], crate::dpop::ath("tok"));
    assert!(
        logs.get("nonce").is_none(),
        "System Log proofs carry no nonce"
    );
    assert_ne!(proof(&e.requests[3])["jti"], logs["jti"]);
    assert_eq!(r.token.map(|t| t.scheme), Some(TokenScheme::Dpop));
}

#[test]
fn a_kept_nonce_needs_no_challenge_and_a_stale_one_is_not_sent() {
    let mut e = env();
    e.nonce = Some(DpopNonce {
        value: "warm".into(),
        received_ms: NOW - 3_600_000,
    });
    e.push(dpop_token("tok", "warm")).push(page(&[], "1"));
    let r = run_tick(&mut e, input(None, None));
    assert_eq!(r.error, None);
    assert_eq!(proof(&e.requests[0])["nonce"], "warm");
    assert_eq!(e.requests.len(), 2, "no challenge round trip");
    assert!(e.kept_nonces.is_empty(), "nothing new to keep");

    let mut e = env();
    e.nonce = Some(DpopNonce {
        value: "old".into(),
        received_ms: NOW - 23 * 3_600_000,
    });
    e.push(nonce_challenge("new"))
        .push(dpop_token("tok", "new"))
        .push(page(&[], "1"));
    assert_eq!(run_tick(&mut e, input(None, None)).error, None);
    assert!(proof(&e.requests[0]).get("nonce").is_none());
    assert_eq!(e.kept_nonces, vec!["new".to_string()]);
}

#[test]
fn a_server_repeating_its_nonce_or_issuing_new_ones_forever_ends_the_tick() {
    let mut e = env();
    e.push(nonce_challenge("same"))
        .push(nonce_challenge("same"))
        .push(dpop_token("never", "same"));
    let err = run_tick(&mut e, input(None, None)).error.expect("error");
    assert_eq!(e.requests.len(), 2);
    assert!(err.message.contains("asked again"), "{}", err.message);
    assert_eq!(err.okta_code.as_deref(), Some("use_dpop_nonce"));

    let mut e = env();
    for n in ["a", "b", "c", "d"] {
        e.push(nonce_challenge(n));
    }
    let err = run_tick(&mut e, input(None, None)).error.expect("error");
    assert_eq!(
        e.requests.len(),
        3,
        "bounded: the first attempt and two answers"
    );
    assert!(err.message.contains("new DPoP nonces"), "{}", err.message);
}

#[test]
fn auto_uses_a_bearer_token_where_the_app_does_not_bind_and_required_refuses_it() {
    let mut e = env();
    e.push(token_ok("plain")).push(page(&[], "1"));
    let r = run_tick(&mut e, input(None, None));
    assert_eq!(r.error, None);
    assert_ne!(proof(&e.requests[0]), Value::Null, "auto offers a proof");
    assert_eq!(authorization(&e.requests[1]), "Bearer plain");
    assert_eq!(proof(&e.requests[1]), Value::Null, "no proof with Bearer");
    assert_eq!(r.token.map(|t| t.scheme), Some(TokenScheme::Bearer));

    let mut e = env();
    e.push(token_ok("plain"));
    let mut i = input(None, None);
    i.config.dpop = DpopMode::Required;
    let err = run_tick(&mut e, i).error.expect("error");
    assert_eq!(err.kind, ErrorKind::AuthFailed);
    assert!(
        err.message.contains("requires DPoP-bound tokens"),
        "{}",
        err.message
    );
    assert_eq!(e.requests.len(), 1, "the Bearer token is never used");
}

#[test]
fn every_retry_of_a_system_log_request_is_signed_again() {
    let mut e = env();
    let reset = ((NOW + 2_000) / 1000).to_string();
    e.push(resp(
        429,
        &[
            ("x-rate-limit-limit", "20"),
            ("x-rate-limit-remaining", "0"),
            ("x-rate-limit-reset", &reset),
        ],
        "",
    ))
    .push(resp(500, &[], ""))
    .push_err(crate::HttpErrorKind::Timeout, "timed out");
    e.push(page(&[], "1"));
    let r = run_tick(&mut e, input(None, Some(bound_token())));
    assert_eq!(r.error, None);
    assert_eq!(e.requests.len(), 4);
    let jtis: std::collections::HashSet<String> = e
        .requests
        .iter()
        .map(|r| proof(r)["jti"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        jtis.len(),
        4,
        "a new proof after the 429, the 500 and the timeout"
    );
    assert!(e.requests.iter().all(|r| authorization(r) == "DPoP bound"));
}

#[test]
fn an_expired_bound_token_is_replaced_with_the_kept_nonce() {
    let mut e = env();
    e.nonce = Some(DpopNonce {
        value: "n".into(),
        received_ms: NOW,
    });
    e.push(resp(
        401,
        &[(
            "www-authenticate",
            &www("invalid_token", "The token has expired."),
        )],
        "",
    ))
    .push(dpop_token("t2", "n"))
    .push(page(&[], "1"));
    let r = run_tick(&mut e, input(None, Some(bound_token())));
    assert_eq!(r.error, None);
    assert_eq!(e.requests[1].method, crate::Method::Post);
    assert_eq!(proof(&e.requests[1])["nonce"], "n");
    assert_eq!(authorization(&e.requests[2]), "DPoP t2");
    assert_eq!(proof(&e.requests[2])["ath"], crate::dpop::ath("t2"));
}

#[test]
fn a_resource_server_nonce_is_answered_once() {
    let challenge = www(
        "use_dpop_nonce",
        "Resource server requires nonce in DPoP proof",
    );
    let mut e = env();
    e.push(resp(
        401,
        &[("www-authenticate", &challenge), ("dpop-nonce", "rs1")],
        "",
    ))
    .push(page(&[], "1"));
    assert_eq!(
        run_tick(&mut e, input(None, Some(bound_token()))).error,
        None
    );
    assert_eq!(proof(&e.requests[1])["nonce"], "rs1");
    assert!(e.kept_nonces.is_empty(), "not the token endpoint's nonce");

    let mut e = env();
    for n in ["rs1", "rs2"] {
        e.push(resp(
            401,
            &[("www-authenticate", &challenge), ("dpop-nonce", n)],
            "",
        ));
    }
    e.push(dpop_token("t2", "n"));
    e.push(resp(
        401,
        &[("www-authenticate", &challenge), ("dpop-nonce", "rs3")],
        "",
    ));
    let err = run_tick(&mut e, input(None, Some(bound_token())))
        .error
        .expect("error");
    assert!(err.message.contains("nonce"), "{}", err.message);
}

#[test]
fn proof_refusals_are_reported_verbatim_with_what_to_do() {
    let cases = [
        ("The DPoP proof JWT is issued in the future.", "clock"),
        (
            "The DPoP proof JWT is issued more than five minutes in the past.",
            "NTP",
        ),
        (
            "'htu' claim in the DPoP proof JWT is invalid.",
            "htu was https://acme.okta.com/api/v1/logs",
        ),
        ("The DPoP proof JWT has already been used.", "proxy"),
    ];
    for (description, advice) in cases {
        let mut e = env();
        e.push(resp(
            400,
            &[("www-authenticate", &www("invalid_dpop_proof", description))],
            "",
        ));
        let err = run_tick(&mut e, input(None, Some(bound_token())))
            .error
            .expect("error");
        assert_eq!(err.kind, ErrorKind::AuthFailed);
        assert_eq!(err.okta_code.as_deref(), Some("invalid_dpop_proof"));
        assert!(
            err.message.contains(description) && err.message.contains(advice),
            "{description}: {}",
            err.message
        );
        assert_eq!(
            e.requests.len(),
            1,
            "not retried: the same proof rules apply"
        );
    }
}

#[test]
fn a_prefetched_page_carries_its_own_fresh_proof() {
    let mut e = env();
    e.push(page(&[ev("a", "user.session.start")], "1"))
        .push(page(&[], "2"));
    let r = run_tick(&mut e, input(None, Some(bound_token())));
    assert_eq!(r.error, None);
    let ahead = e.prefetched.first().expect("prefetched");
    assert_eq!(ahead.url, next_url("1"));
    let p = proof(ahead);
    assert_eq!(p["htu"], format!("https://{DOMAIN}/api/v1/logs"));
    assert_ne!(p["jti"], proof(&e.requests[0])["jti"]);
    assert_eq!(authorization(ahead), "DPoP bound");
}

#[test]
fn check_names_the_token_kind() {
    let mut e = env();
    e.push(nonce_challenge("n"))
        .push(dpop_token("t", "n"))
        .push(page(&[], "1"));
    let ok = run_check(&mut e, &config(Categories::AUTHENTICATION), &tuning()).expect("ok");
    assert!(ok.starts_with("OK: DPoP (ES256) token obtained"), "{ok}");
}
