use super::*;
use crate::run_sample;
use crate::types::ErrorKind;

const DAY: u64 = 86_400_000;

fn at(uuid: &str, event_type: &str, published: &str) -> String {
    format!("{{\"uuid\":\"{uuid}\",\"published\":\"{published}\",\"eventType\":\"{event_type}\"}}")
}

fn small_pages() -> Tuning {
    Tuning {
        page_size: 2,
        ..tuning()
    }
}

#[test]
fn a_short_page_is_the_whole_window_counted_per_event_type() {
    let mut e = env();
    let mut p = page(
        &[
            at("a", "user.session.start", "2026-11-25T23:00:00.000Z"),
            at("b", "user.session.end", "2026-11-25T22:00:00.000Z"),
            at("c", "user.session.start", "2026-11-25T21:00:00.000Z"),
        ],
        "x",
    );
    p.headers.push(("x-rate-limit-limit".into(), "120".into()));
    e.push(token_ok("t")).push(p);
    let cfg = config(Categories::ALL);
    let s = run_sample(&mut e, &cfg, &tuning(), DAY, 3).expect("sample");
    assert!(s.complete);
    assert_eq!((s.covered_ms, s.pages), (DAY, 1));
    assert_eq!(s.rate_limit_per_minute, Some(120));
    let got: Vec<(&str, Categories, u32)> = s
        .event_types
        .iter()
        .map(|t| (t.event_type.as_str(), t.categories, t.events))
        .collect();
    assert_eq!(
        got,
        [
            ("user.session.start", Categories::AUTHENTICATION, 2),
            (
                "user.session.end",
                Categories::AUTHENTICATION | Categories::ITP,
                1
            ),
        ]
    );
    let url = &e.requests[1].url;
    assert!(
        url.starts_with("https://acme.okta.com/api/v1/logs?limit=1000&sortOrder=DESCENDING")
            && url.contains(
                "&since=2026-11-25T00%3A00%3A00.000Z&until=2026-11-26T00%3A00%3A00.000Z&filter="
            ),
        "{url}"
    );
    assert!(e.commits.is_empty(), "a sample commits nothing");
}

#[test]
fn full_pages_follow_next_until_the_cap_and_report_the_time_covered() {
    let mut e = env();
    e.push(token_ok("t"))
        .push(page(
            &[
                at("a", "user.session.start", "2026-11-25T23:00:00.000Z"),
                at("b", "zone.update", "2026-11-25T22:00:00.000Z"),
            ],
            "p2",
        ))
        .push(page(
            &[
                at("c", "user.session.start", "2026-11-25T20:00:00.000Z"),
                at("d", "user.session.start", "2026-11-25T18:00:00.000Z"),
            ],
            "p3",
        ));
    let cfg = config(Categories::ALL);
    let s = run_sample(&mut e, &cfg, &small_pages(), DAY, 2).expect("sample");
    assert!(!s.complete, "the cap was reached with more to read");
    assert_eq!(s.pages, 2);
    // Newest first: the oldest event read is 6 hours before now.
    assert_eq!(s.covered_ms, 6 * 3_600_000);
    assert_eq!(s.events_in(Categories::AUTHENTICATION), 3);
    assert_eq!(s.events_in(Categories::SECURITY), 1);
    assert_eq!(e.requests[2].url, next_url("p2"));
    assert_eq!(e.requests.len(), 3, "no page beyond the cap");
}

#[test]
fn the_page_cap_cannot_be_raised_past_the_contract_limit() {
    let mut e = env();
    e.push(token_ok("t"));
    for i in 0..20 {
        e.push(page(
            &[
                at(
                    &format!("a{i}"),
                    "user.session.start",
                    "2026-11-25T23:00:00.000Z",
                ),
                at(
                    &format!("b{i}"),
                    "user.session.start",
                    "2026-11-25T23:00:00.000Z",
                ),
            ],
            &format!("p{i}"),
        ));
    }
    let s =
        run_sample(&mut e, &config(Categories::ALL), &small_pages(), DAY, 1000).expect("sample");
    assert_eq!(s.pages, crate::sample::MAX_SAMPLE_PAGES);
}

#[test]
fn refusals_are_the_checks_errors_and_a_foreign_next_link_is_refused() {
    let cfg = config(Categories::AUTHENTICATION);
    let mut e = env();
    e.push(token_ok("t")).push(resp(403, &[], "{}"));
    let err = run_sample(&mut e, &cfg, &tuning(), DAY, 3).expect_err("403");
    assert_eq!(err.kind, ErrorKind::Forbidden);

    let mut e = env();
    let mut p = page(
        &[
            at("a", "user.session.start", "2026-11-25T23:00:00.000Z"),
            at("b", "user.session.start", "2026-11-25T22:00:00.000Z"),
        ],
        "x",
    );
    p.headers[2].1 = "<https://evil.example/api/v1/logs?after=1>; rel=\"next\"".into();
    e.push(token_ok("t")).push(p);
    let err = run_sample(&mut e, &cfg, &small_pages(), DAY, 3).expect_err("foreign link");
    assert_eq!(err.kind, ErrorKind::BadResponse);
    assert!(err.message.contains("evil.example"), "{}", err.message);
    assert_eq!(
        e.requests.len(),
        2,
        "the token never went to the other host"
    );

    let err = run_sample(&mut env(), &config(Categories::NONE), &tuning(), DAY, 3)
        .expect_err("nothing selected");
    assert_eq!(err.kind, ErrorKind::InvalidRequest);
}
