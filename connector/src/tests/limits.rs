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

/// 429s whose resets are each one window (60 s) further away, as an exhausted bucket answers.
fn storm(e: &mut FakeEnv, n: u64) {
    for i in 0..n {
        let reset = reset_in(60 * (i + 1));
        e.push(resp(
            429,
            &[
                ("x-rate-limit-limit", "20"),
                ("x-rate-limit-remaining", "0"),
                ("x-rate-limit-reset", &reset),
            ],
            "{\"errorCode\":\"E0000047\",\"errorSummary\":\"API call exceeded rate limit due to too many requests.\"}",
        ));
    }
}

#[test]
fn waiting_for_announced_resets_spends_no_retries() {
    // A bucket exhausted for four minutes: four 429s, more than max_retries (2), then the limit lifts.
    let mut e = env();
    storm(&mut e, 4);
    e.push(page(&[ev("a", "user.session.start")], "1"))
        .push(page(&[], "1"));
    let r = run_tick(&mut e, input(None, Some(valid_token())));
    assert_eq!(r.error, None);
    assert_eq!((r.events, r.rate_limited, r.caught_up), (1, 4, true));
    // One request per window: each wait reaches the announced reset (+1 s margin).
    assert_eq!(e.sleeps, vec![60_990, 59_990, 59_990, 59_990]);
    assert_eq!(e.requests.len(), 6);
    assert!(e.requests[..5].iter().all(|q| q.url == e.requests[0].url));
}

#[test]
fn total_rate_limit_waiting_per_tick_is_bounded() {
    // max_wait 65 s → at most 325 s of reset waits per tick; the sixth wait would pass it.
    let mut e = env();
    storm(&mut e, 10);
    let r = run_tick(&mut e, input(None, Some(valid_token())));
    let err = r.error.expect("error");
    assert_eq!(
        (err.kind, err.http_status, err.okta_code.as_deref()),
        (ErrorKind::RateLimited, Some(429), Some("E0000047"))
    );
    assert!(
        err.message.contains("already waited 300 s"),
        "{}",
        err.message
    );
    assert_eq!(e.sleeps.len(), 5);
    assert_eq!(e.requests.len(), 6);
    assert!(e.commits.is_empty());
}

#[test]
fn rate_limit_waits_and_retries_are_counted_separately() {
    // 429 waits do not spend retries, and retries spent on 5xx are still limited (max_retries 2).
    let mut e = env();
    storm(&mut e, 2);
    let second = e.responses.pop_back().unwrap(); // reset 120 s from NOW
    e.push(resp(500, &[], "")).push(resp(502, &[], ""));
    e.responses.push_back(second);
    e.push(resp(503, &[], ""));
    let r = run_tick(&mut e, input(None, Some(valid_token())));
    let err = r.error.expect("error");
    assert_eq!(err.kind, ErrorKind::ServerError);
    assert!(
        err.message.contains("gave up after 2 retries"),
        "{}",
        err.message
    );
    assert_eq!(e.sleeps.len(), 4, "{:?}", e.sleeps);
    assert_eq!((e.sleeps[1], e.sleeps[2]), (100, 200));
    assert_eq!(r.rate_limited, 2);
}

#[test]
fn concurrency_429_waits_for_the_estimated_reset() {
    let mut e = env();
    let reset = reset_in(2);
    e.push(resp(
        429,
        &[
            ("x-rate-limit-limit", "0"),
            ("x-rate-limit-remaining", "0"),
            ("x-rate-limit-reset", &reset),
        ],
        "{\"errorCode\":\"E0000047\"}",
    ))
    .push(page(&[], "1"));
    let r = run_tick(&mut e, input(None, Some(valid_token())));
    assert_eq!((r.error, r.rate_limited), (None, 1));
    assert_eq!(e.sleeps, vec![2_990]);
}

#[test]
fn a_reset_in_the_past_backs_off_instead_of_hammering() {
    let mut e = env();
    let past = reset_in(0);
    let stale = || {
        resp(
            429,
            &[
                ("x-rate-limit-limit", "20"),
                ("x-rate-limit-remaining", "0"),
                ("x-rate-limit-reset", &past),
            ],
            "",
        )
    };
    // NOW/1000 + 1 s margin is 1 s ahead; move the clock past it so the reset is stale.
    e.now += 5_000;
    e.push(stale()).push(stale()).push(stale());
    let r = run_tick(&mut e, input(None, Some(valid_token())));
    assert_eq!(r.error.map(|e| e.kind), Some(ErrorKind::RateLimited));
    assert_eq!(e.sleeps, vec![100, 200]);
    assert_eq!(e.requests.len(), 3);
}

#[test]
fn a_token_that_expires_during_a_rate_limit_wait_is_replaced_before_the_retry() {
    let mut e = env();
    let short = AccessToken {
        token: "cached".into(),
        expires_at_ms: NOW + 70_000, // usable now, not after a 61 s wait
        ..valid_token()
    };
    storm(&mut e, 1);
    e.push(token_ok("fresh")).push(page(&[], "1"));
    let r = run_tick(&mut e, input(None, Some(short)));
    assert_eq!(r.error, None);
    let auth =
        |i: usize| crate::env::header(&e.requests[i].headers, "authorization").map(str::to_string);
    assert_eq!(auth(0).as_deref(), Some("Bearer cached"));
    assert!(e.requests[1].url.ends_with("/oauth2/v1/token"));
    assert_eq!(auth(2).as_deref(), Some("Bearer fresh"));
    assert_eq!(r.token.map(|t| t.token).as_deref(), Some("fresh"));
}
