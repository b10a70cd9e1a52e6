use super::*;
use crate::state::CursorState;
use crate::types::ErrorKind;
use crate::{run_tick, Categories};

#[test]
fn first_tick_sends_since_and_later_ticks_follow_next() {
    let mut e = env();
    e.push(token_ok("t1"))
        .push(page(
            &[ev("a", "user.session.start"), ev("b", "zone.update")],
            "100_1",
        ))
        .push(page(&[], "100_1"));
    let r = run_tick(&mut e, input(None, None));
    assert_eq!(r.error, None);
    assert_eq!((r.pages, r.events, r.caught_up), (2, 2, true));
    assert_eq!(e.requests.len(), 3);
    assert!(e.requests[0].url.ends_with("/oauth2/v1/token"));
    let first = &e.requests[1].url;
    assert!(first.starts_with(
        "https://acme.okta.com/api/v1/logs?limit=1000&sortOrder=ASCENDING&filter=eventType%20eq%20"
    ));
    // 7 days before NOW.
    assert!(
        first.ends_with("&since=2026-11-19T00%3A00%3A00.000Z"),
        "{first}"
    );
    assert!(!first.contains("until"));
    assert_eq!(
        e.requests[1]
            .headers
            .iter()
            .find(|(n, _)| n == "authorization")
            .map(|(_, v)| v.as_str()),
        Some("Bearer t1")
    );
    assert_eq!(e.requests[2].url, next_url("100_1"));
    // The empty page did not change the cursor, so only one commit.
    assert_eq!(e.commits.len(), 1);
    let st = CursorState::parse(&e.commits[0].1).expect("state");
    assert_eq!(st.next, next_url("100_1"));
    assert_eq!(st.recent, vec!["a".to_string(), "b".to_string()]);
    let token = r.token.clone().expect("token");
    assert_eq!(token.token, "t1");

    // Second tick: cached token, stored cursor, no since.
    let state = last_state(&e);
    let mut e2 = env();
    e2.push(page(&[ev("c", "user.session.end")], "200_1"))
        .push(page(&[], "200_1"));
    let r2 = run_tick(&mut e2, input(state, Some(token)));
    assert_eq!(r2.error, None);
    assert_eq!(e2.requests[0].url, next_url("100_1"));
    assert!(e2
        .requests
        .iter()
        .all(|q| !q.url.contains("since") && !q.url.contains("until")));
    assert_eq!(r2.events, 1);
}

#[test]
fn first_empty_page_commits_the_cursor() {
    let mut e = env();
    e.push(token_ok("t")).push(page(&[], "1_1"));
    let r = run_tick(&mut e, input(None, None));
    assert!(r.caught_up && r.error.is_none());
    assert_eq!(e.commits.len(), 1);
    assert!(e.commits[0].0.is_empty());
}

#[test]
fn dedup_within_and_across_pages_and_ticks() {
    let mut e = env();
    e.push(page(
        &[ev("a", "user.session.start"), ev("b", "user.session.start")],
        "1",
    ))
    .push(page(
        &[
            ev("b", "user.session.start"),
            ev("c", "user.session.start"),
            ev("c", "user.session.start"),
        ],
        "2",
    ))
    .push(page(&[], "2"));
    let r = run_tick(&mut e, input(None, Some(valid_token())));
    assert_eq!((r.events, r.duplicates), (3, 2));
    let st = last_state(&e);
    let mut e2 = env();
    e2.push(page(
        &[ev("c", "user.session.start"), ev("d", "user.session.start")],
        "3",
    ))
    .push(page(&[], "3"));
    let r2 = run_tick(&mut e2, input(st, Some(valid_token())));
    assert_eq!((r2.events, r2.duplicates), (1, 1));
    assert_eq!(e2.commits[0].0[0].uuid, "d");
}

#[test]
fn overlapping_categories_deliver_once_with_all_flags() {
    let mut e = env();
    e.push(page(
        &[
            ev("a", "user.session.end"),
            ev("b", "app.generic.unauth_app_access_attempt"),
        ],
        "1",
    ))
    .push(page(&[], "1"));
    let r = run_tick(&mut e, input(None, Some(valid_token())));
    assert_eq!((r.events, r.filtered), (1, 1));
    let delivered = &e.commits[0].0;
    assert_eq!(delivered.len(), 1);
    assert_eq!(
        delivered[0].categories,
        Categories::AUTHENTICATION | Categories::ITP
    );
}

#[test]
fn all_filtered_page_still_moves_the_cursor() {
    let mut e = env();
    e.push(page(&[ev("x", "app.other")], "9"))
        .push(page(&[], "9"));
    let r = run_tick(&mut e, input(None, Some(valid_token())));
    assert_eq!((r.events, r.filtered, e.commits.len()), (0, 1, 1));
    assert!(e.commits[0].0.is_empty());
    assert!(CursorState::parse(&e.commits[0].1).is_ok_and(|s| s.next == next_url("9")));
}

#[test]
fn raw_bytes_are_delivered_exactly() {
    let odd = "{\"uuid\":\"u1\",  \"eventType\" : \"user.session.start\",\"published\":\"2026-11-25T10:00:00.000Z\",\n\
               \"z\":{\"zone\":\"null\",\"debugData\":{\"x\":\"{k=v, l=[1]}\"}},\"msg\":\"Grüße 🚀 \\u00e9\\n\",\"a\":[{},[],null,1.0e3]}";
    let mut e = env();
    e.push(page(&[odd.to_string()], "1")).push(page(&[], "1"));
    let r = run_tick(&mut e, input(None, Some(valid_token())));
    assert_eq!(r.events, 1);
    let ev = &e.commits[0].0[0];
    assert_eq!(ev.raw, odd);
    assert_eq!(
        (ev.uuid.as_str(), ev.event_type.as_str()),
        ("u1", "user.session.start")
    );
    assert_eq!(ev.published, "2026-11-25T10:00:00.000Z");
}

#[test]
fn max_pages_stops_not_caught_up() {
    let mut e = env();
    e.push(page(&[ev("a", "user.session.start")], "1"))
        .push(page(&[ev("b", "user.session.start")], "2"));
    let mut i = input(None, Some(valid_token()));
    i.tuning.max_pages = 2;
    let r = run_tick(&mut e, i);
    assert_eq!(
        (r.pages, r.events, r.caught_up, r.error),
        (2, 2, false, None)
    );
}

#[test]
fn page_without_next_link_is_an_error_and_keeps_the_cursor() {
    let mut e = env();
    let mut p = page(&[ev("a", "user.session.start")], "1");
    p.headers
        .retain(|(n, v)| n != "link" || !v.contains("next"));
    e.push(p);
    let r = run_tick(&mut e, input(None, Some(valid_token())));
    assert_eq!(r.error.map(|e| e.kind), Some(ErrorKind::BadResponse));
    assert!(e.commits.is_empty());
}

#[test]
fn foreign_next_link_is_refused() {
    let mut e = env();
    let mut p = page(&[ev("a", "user.session.start")], "1");
    p.headers = vec![(
        "link".into(),
        "<https://evil.example/api/v1/logs?after=1>; rel=\"next\"".into(),
    )];
    e.push(p);
    let r = run_tick(&mut e, input(None, Some(valid_token())));
    assert_eq!(r.error.map(|e| e.kind), Some(ErrorKind::BadResponse));
    assert!(e.commits.is_empty());
}

#[test]
fn comma_joined_link_header_is_followed() {
    let mut e = env();
    let mut p = page(&[ev("a", "user.session.start")], "1");
    p.headers = vec![(
        "link".into(),
        format!(
            "<https://{DOMAIN}/api/v1/logs?limit=1000>; rel=\"self\", <{}>;rel=next",
            next_url("77_2")
        ),
    )];
    e.push(p).push(page(&[], "77_2"));
    let r = run_tick(&mut e, input(None, Some(valid_token())));
    assert_eq!(r.error, None);
    assert_eq!(e.requests[1].url, next_url("77_2"));
}

#[test]
fn non_json_page_is_retried_then_errors() {
    let mut e = env();
    e.push(resp(200, &[], "<html>oops</html>"))
        .push(page(&[ev("a", "user.session.start")], "1"))
        .push(page(&[], "1"));
    let r = run_tick(&mut e, input(None, Some(valid_token())));
    assert_eq!((r.error, r.events), (None, 1));
    assert_eq!(e.sleeps, vec![100]);

    let mut e = env();
    for _ in 0..3 {
        e.push(resp(200, &[], "[{\"uuid\":\"a\",\"eventType\""));
    }
    let r = run_tick(&mut e, input(None, Some(valid_token())));
    assert_eq!(r.error.map(|e| e.kind), Some(ErrorKind::BadResponse));
    assert_eq!(e.requests.len(), 3);
    assert!(e.commits.is_empty());
}

#[test]
fn malformed_event_is_a_bad_response() {
    let mut e = env();
    e.push(page(
        &["{\"eventType\":\"user.session.start\"}".to_string()],
        "1",
    ));
    let r = run_tick(&mut e, input(None, Some(valid_token())));
    assert_eq!(r.error.map(|e| e.kind), Some(ErrorKind::BadResponse));
    assert_eq!(e.requests.len(), 1);
}

#[test]
fn newer_or_garbage_state_is_refused_untouched() {
    for st in [&br#"{"schema":2,"next":"x"}"#[..], b"garbage"] {
        let mut e = env();
        let r = run_tick(&mut e, input(Some(st.to_vec()), Some(valid_token())));
        let err = r.error.expect("error");
        assert_eq!(err.kind, ErrorKind::State);
        assert!(e.requests.is_empty() && e.commits.is_empty());
    }
    let mut e = env();
    let r = run_tick(&mut e, input(Some(br#"{"schema":2}"#.to_vec()), None));
    assert!(r.error.is_some_and(|e| e
        .message
        .contains("newer connector (schema 2); activate that version or newer")));
}

#[test]
fn changed_categories_keep_the_after_cursor() {
    let st = CursorState {
        schema: 1,
        next: next_url("555_3"),
        filter: "eventType eq \"old\"".into(),
        recent: vec![],
    };
    let mut e = env();
    e.push(page(&[], "555_3"));
    let r = run_tick(&mut e, input(Some(st.to_bytes()), Some(valid_token())));
    assert_eq!(r.error, None);
    let url = &e.requests[0].url;
    assert!(
        url.contains("&filter=eventType%20eq%20")
            && url.ends_with("&after=555_3")
            && !url.contains("since"),
        "{url}"
    );
    // The new filter is stored with the next link (state changed → committed).
    assert_eq!(e.commits.len(), 1);
    assert!(CursorState::parse(&e.commits[0].1).is_ok_and(|s| s.filter != "eventType eq \"old\""));
}

#[test]
fn stored_cursor_for_another_domain_is_a_state_error() {
    let st = CursorState {
        schema: 1,
        next: "https://other.okta.com/api/v1/logs?after=1".into(),
        filter: String::new(),
        recent: vec![],
    };
    let mut e = env();
    let r = run_tick(&mut e, input(Some(st.to_bytes()), Some(valid_token())));
    assert_eq!(r.error.map(|e| e.kind), Some(ErrorKind::State));
    assert!(e.requests.is_empty());
}

#[test]
fn failed_commit_stops_with_host_error() {
    let mut e = env();
    e.fail_commit = true;
    e.push(page(&[ev("a", "user.session.start")], "1"))
        .push(page(&[], "1"));
    let r = run_tick(&mut e, input(None, Some(valid_token())));
    assert_eq!(r.error.map(|e| e.kind), Some(ErrorKind::Host));
    assert_eq!((r.events, e.requests.len()), (0, 1));
}

#[test]
fn no_categories_is_an_invalid_request() {
    let mut e = env();
    let mut i = input(None, Some(valid_token()));
    i.config.categories = Categories::NONE;
    let r = run_tick(&mut e, i);
    assert_eq!(r.error.map(|e| e.kind), Some(ErrorKind::InvalidRequest));
    assert!(e.requests.is_empty());
}

#[test]
fn truncated_and_odd_input_never_panics() {
    let good = page(
        &[
            ev("a", "user.session.start"),
            "{\"uuid\":\"é\",\"eventType\":\"zone.x\",\"n\":{\"k\":[1,\"\\u00e9\"]}}".to_string(),
        ],
        "1",
    );
    for cut in 0..good.body.len() {
        let mut p = good.clone();
        p.body.truncate(cut);
        let mut e = env();
        e.push(p);
        let mut i = input(None, Some(valid_token()));
        i.tuning.max_retries = 0;
        let r = run_tick(&mut e, i);
        assert!(r.error.is_some() || r.caught_up, "cut {cut}");
    }
    for link in [
        "<",
        ">",
        ";",
        ",",
        "<>; rel=next",
        "<https://acme.okta.com>; rel=next",
        "<https://acme.okta.com/api/v1/logs?é=ü>; rel=\"next\"",
        "\u{0}",
    ] {
        let mut p = page(&[ev("a", "user.session.start")], "1");
        p.headers = vec![("link".into(), link.into())];
        let mut e = env();
        e.push(p).push(page(&[], "1"));
        let _ = run_tick(&mut e, input(None, Some(valid_token())));
    }
    let mut e = env();
    e.push(resp(
        429,
        &[("x-rate-limit-reset", "18446744073709551615")],
        "\u{0}",
    ));
    let _ = run_tick(&mut e, input(None, Some(valid_token())));
}

#[test]
fn the_next_page_is_prefetched_exactly_as_it_will_be_requested() {
    let mut e = env();
    e.push(token_ok("t1"))
        .push(page(&[ev("a", "user.session.start")], "100_1"))
        .push(page(&[ev("b", "user.session.start")], "200_1"))
        .push(page(&[], "200_1"));
    let r = run_tick(&mut e, input(None, None));
    assert_eq!(r.error, None);
    // Pages 1 and 2 announce their successors; the empty page (caught up) announces nothing.
    assert_eq!(e.prefetched.len(), 2);
    assert_eq!(
        e.prefetched[0], e.requests[2],
        "the guess is the request that follows"
    );
    assert_eq!(e.prefetched[1], e.requests[3]);
}

#[test]
fn no_prefetch_past_the_last_page_of_a_tick() {
    let mut e = env();
    e.push(token_ok("t1"))
        .push(page(&[ev("a", "user.session.start")], "100_1"));
    let mut inp = input(None, None);
    inp.tuning.max_pages = 1;
    let r = run_tick(&mut e, inp);
    assert_eq!((r.pages, r.caught_up), (1, false));
    assert!(e.prefetched.is_empty(), "the tick ends after this page");
}
