use super::*;
use crate::env::HttpErrorKind;
use crate::run_tick;
use crate::types::ErrorKind;

fn reset_in(s: u64) -> String {
    (NOW / 1000 + s).to_string()
}

#[test]
fn rate_limited_waits_for_reset_then_succeeds() {
    let mut e = env();
    let reset = reset_in(5);
    e.push(resp(
        429,
        &[("x-rate-limit-reset", &reset)],
        "{\"errorCode\":\"E0000047\"}",
    ))
    .push(page(&[ev("a", "user.session.start")], "1"))
    .push(page(&[], "1"));
    let r = run_tick(&mut e, input(None, Some(valid_token())));
    assert_eq!(r.error, None);
    assert_eq!(r.rate_limited, 1);
    // Reset is 5 s from NOW, +1 s margin, minus the 10 ms the request took.
    assert_eq!(e.sleeps, vec![5_990]);
    assert_eq!(e.requests[0].url, e.requests[1].url);
}

#[test]
fn rate_limit_without_reset_backs_off() {
    let mut e = env();
    e.push(resp(429, &[], ""))
        .push(resp(429, &[("x-rate-limit-reset", "soon")], ""))
        .push(page(&[], "1"));
    let r = run_tick(&mut e, input(None, Some(valid_token())));
    assert_eq!((r.error, r.rate_limited), (None, 2));
    assert_eq!(e.sleeps, vec![100, 200]);
}

#[test]
fn rate_limit_reset_too_far_ends_the_tick() {
    let mut e = env();
    let reset = reset_in(600);
    e.push(resp(
        429,
        &[("x-rate-limit-reset", &reset)],
        "{\"errorCode\":\"E0000047\",\"errorSummary\":\"API call exceeded rate limit\"}",
    ));
    let r = run_tick(&mut e, input(None, Some(valid_token())));
    let err = r.error.expect("error");
    assert_eq!(
        (err.kind, err.http_status, err.okta_code.as_deref()),
        (ErrorKind::RateLimited, Some(429), Some("E0000047"))
    );
    assert!(e.sleeps.is_empty() && e.commits.is_empty());
}

#[test]
fn pacing_sleeps_when_the_share_is_used() {
    let mut e = env();
    let reset = reset_in(20);
    let mut p1 = page(&[ev("a", "user.session.start")], "1");
    for (n, v) in [
        ("x-rate-limit-limit", "120"),
        ("x-rate-limit-remaining", "60"),
        ("x-rate-limit-reset", reset.as_str()),
    ] {
        p1.headers.push((n.into(), v.into()));
    }
    let mut p2 = page(&[ev("b", "user.session.start")], "2");
    for (n, v) in [
        ("x-rate-limit-limit", "120"),
        ("x-rate-limit-remaining", "100"),
        ("x-rate-limit-reset", reset.as_str()),
    ] {
        p2.headers.push((n.into(), v.into()));
    }
    e.push(p1).push(p2).push(page(&[], "2"));
    let r = run_tick(&mut e, input(None, Some(valid_token())));
    assert_eq!(r.error, None);
    assert_eq!((r.events, r.rate_limited), (2, 1));
    assert_eq!(e.sleeps, vec![20_990]);
}

#[test]
fn pacing_beyond_max_wait_ends_after_committing() {
    let mut e = env();
    let reset = reset_in(300);
    let mut p1 = page(&[ev("a", "user.session.start")], "1");
    for (n, v) in [
        ("x-rate-limit-limit", "50"),
        ("x-rate-limit-remaining", "0"),
        ("x-rate-limit-reset", reset.as_str()),
    ] {
        p1.headers.push((n.into(), v.into()));
    }
    e.push(p1);
    let r = run_tick(&mut e, input(None, Some(valid_token())));
    assert_eq!(r.error.map(|e| e.kind), Some(ErrorKind::RateLimited));
    assert_eq!((r.events, e.commits.len(), e.requests.len()), (1, 1, 1));
}

#[test]
fn server_errors_are_retried_then_leave_the_cursor() {
    let mut e = env();
    for _ in 0..3 {
        e.push(resp(
            500,
            &[],
            "{\"errorCode\":\"E0000009\",\"errorSummary\":\"Internal Server Error\"}",
        ));
    }
    let state = crate::state::CursorState {
        schema: 1,
        next: next_url("5"),
        filter: crate::filter::build_filter(input(None, None).config.categories),
        recent: vec![],
    };
    let r = run_tick(&mut e, input(Some(state.to_bytes()), Some(valid_token())));
    let err = r.error.expect("error");
    assert_eq!(
        (err.kind, err.http_status, err.okta_code.as_deref()),
        (ErrorKind::ServerError, Some(500), Some("E0000009"))
    );
    assert_eq!(e.sleeps, vec![100, 200]);
    assert_eq!(e.requests.len(), 3);
    assert!(e.commits.is_empty());
    assert!(!err.message.contains('\n'));
}

#[test]
fn server_error_then_success() {
    let mut e = env();
    e.push(resp(503, &[], ""))
        .push_err(HttpErrorKind::Timeout, "first byte timeout");
    e.push(page(&[], "1"));
    let r = run_tick(&mut e, input(None, Some(valid_token())));
    assert_eq!(r.error, None);
    assert_eq!(e.sleeps, vec![100, 200]);
}

#[test]
fn network_errors_name_the_cause() {
    for (kind, word, expect) in [
        (HttpErrorKind::Tls, "TLS", ErrorKind::Network),
        (HttpErrorKind::Dns, "DNS", ErrorKind::Network),
        (HttpErrorKind::Network, "connection", ErrorKind::Network),
        (HttpErrorKind::Timeout, "timed out", ErrorKind::Network),
    ] {
        let mut e = env();
        for _ in 0..3 {
            e.push_err(kind, "ErrorCode::Something");
        }
        let r = run_tick(&mut e, input(None, Some(valid_token())));
        let err = r.error.expect("error");
        assert_eq!(err.kind, expect);
        assert!(
            err.message.contains(word) && err.message.contains("acme.okta.com"),
            "{}",
            err.message
        );
    }
    // The host's allow-list refusal is not retried.
    let mut e = env();
    e.push_err(HttpErrorKind::Denied, "HttpRequestDenied");
    let r = run_tick(&mut e, input(None, Some(valid_token())));
    assert_eq!(r.error.map(|e| e.kind), Some(ErrorKind::Host));
    assert_eq!(e.requests.len(), 1);
}
