//! DPoP end to end: the real binary against the emulator's faithful DPoP (nonces, `jti` replay detection,
//! `htm`/`htu`/`iat`/`ath`/`cnf.jkt` checks) on an app that requires it, and the modes against apps that
//! do and do not bind tokens.

use crate::support::*;
use okta_emulator::{ClientRegistration, DpopSettings, EmulatorConfig, Fault};
use std::time::Duration;

const ALL: [&str; 4] = ["authentication", "security", "itp", "lifecycle"];

/// An emulator with `events` over `days` days whose client is an app with "Require DPoP" checked.
async fn dpop_app(events: usize, days: u32) -> Fixture {
    let fx = Fixture::new(EmulatorConfig {
        events,
        days,
        ..EmulatorConfig::default()
    })
    .await;
    fx.emulator.register_client(ClientRegistration {
        require_dpop: true,
        ..ClientRegistration::logs_reader(&fx.client.client_id, &fx.client.public_key_pem)
    });
    fx
}

fn said(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

/// A 14-day backfill through a DPoP-requiring app, with a 429, a 500, a reset
/// connection and the token revoked mid-backfill (what Okta answers once a token expires): every event
/// is delivered once, and the emulator saw no proof or assertion twice (a retry that re-sent a proof
/// would be refused as "already been used" and show up there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_through_a_dpop_app_survives_429s_500s_and_a_lost_token() {
    let fx = dpop_app(12_000, 13).await;
    fx.add_org().await;
    let reset = (okta_ingest_model::time::now_ms() / 1000 + 2).to_string();
    fx.emulator.push_fault(Fault::Status {
        status: 429,
        body: r#"{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit due to too many requests."}"#.into(),
        headers: vec![
            ("X-Rate-Limit-Limit".into(), "0".into()),
            ("X-Rate-Limit-Remaining".into(), "0".into()),
            ("X-Rate-Limit-Reset".into(), reset),
        ],
    });
    fx.emulator.push_fault(Fault::Status {
        status: 500,
        body: String::new(),
        headers: vec![],
    });
    fx.emulator.push_fault(Fault::ResetConnection);
    let emu = fx.emulator.clone();
    let revoke = tokio::spawn(async move {
        while emu.stats().log_requests < 6 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        emu.revoke_tokens();
    });
    let out = fx.path("events.jsonl");
    let run = fx.run_once(&out).await;
    revoke.await.unwrap();
    assert!(run.status.success(), "{}", text(&run));
    let spec = CategorySpec::load();
    assert_exactly(&lines(&out), &spec.expected(&fx.emulator.committed(), &ALL));
    let s = fx.emulator.stats();
    assert_eq!(s.faults_served, 3, "{s:?}");
    assert!(s.rate_limited >= 1, "{s:?}");
    assert!(
        s.dpop_tokens_issued >= 2,
        "a new token after the revocation: {s:?}"
    );
    assert_eq!(s.bearer_tokens_issued, 0, "{s:?}");
    assert_eq!((s.replayed_proofs, s.replayed_assertions), (0, 0), "{s:?}");
    assert_eq!(s.dpop_errors, 0, "{s:?}");
    assert_eq!(
        s.dpop_nonce_challenges, 1,
        "the second token request used the kept nonce: {s:?}"
    );
}

/// A second process (a new proof key, no token) sends the nonce the first one kept in the state: no
/// challenge round trip, none of Okta's challenge events in the System Log. `status` and `instance show`
/// name the token kind, and `check` reports it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_second_run_needs_no_nonce_challenge() {
    let fx = dpop_app(500, 1).await;
    fx.add_instance("org", &["--backfill-days", "2"]).await;
    let check = fx.cli(&["check", "org"]).await;
    assert!(check.status.success(), "{}", text(&check));
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("OK: DPoP (ES256) token obtained"),
        "{}",
        text(&check)
    );
    assert_eq!(fx.emulator.stats().dpop_nonce_challenges, 1);
    let out = fx.path("events.jsonl");
    for round in 0..2 {
        fx.emulator.generate_events(50, 1, 0.0);
        let run = fx.run_once(&out).await;
        assert!(run.status.success(), "round {round}: {}", text(&run));
    }
    let s = fx.emulator.stats();
    assert_eq!(s.dpop_tokens_issued, 3, "one per process: {s:?}");
    assert_eq!(s.dpop_nonce_challenges, 1, "only the very first: {s:?}");
    let spec = CategorySpec::load();
    let selected = ["authentication", "security", "itp"];
    assert_exactly(
        &lines(&out),
        &spec.expected(&fx.emulator.committed(), &selected),
    );

    let status = fx.cli(&["status"]).await;
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("token: DPoP (ES256) (DPoP mode auto)"),
        "{}",
        text(&status)
    );
    let json = fx.cli(&["status", "--json"]).await;
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(doc["instances"][0]["token_scheme"], "dpop", "{doc}");
    let show = fx.cli(&["instance", "show", "org"]).await;
    let shown = String::from_utf8_lossy(&show.stdout);
    assert!(
        shown.contains("dpop:          auto") && shown.contains("token:         DPoP (ES256)"),
        "{shown}"
    );
}

/// `auto` on an app that does not bind tokens: Okta ignores the proof and issues a Bearer token, which
/// is then used as one. `required` on the same app refuses it and says what to change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bearer_app_works_in_auto_and_fails_clearly_in_required() {
    let fx = Fixture::new(EmulatorConfig {
        events: 300,
        days: 1,
        ..EmulatorConfig::default()
    })
    .await;
    fx.add_instance("auto", &["--backfill-days", "1"]).await;
    let ok = fx.cli(&["check", "auto"]).await;
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("OK: Bearer token obtained"),
        "{}",
        text(&ok)
    );
    let out = fx.path("events.jsonl");
    let run = fx.run_once(&out).await;
    assert!(run.status.success(), "{}", text(&run));
    assert!(!lines(&out).is_empty());
    let s = fx.emulator.stats();
    assert_eq!((s.dpop_tokens_issued, s.dpop_errors), (0, 0), "{s:?}");

    // Another instance of the same app with other categories, requiring bound tokens.
    fx.add_instance("strict", &["--events", "lifecycle", "--dpop", "required"])
        .await;
    let refused = fx.cli(&["check", "strict"]).await;
    assert!(!refused.status.success(), "{}", text(&refused));
    let said = said(&refused);
    assert!(
        said.contains("Okta issued a Bearer token, but this instance requires DPoP-bound tokens")
            && said.contains("Require Demonstrating Proof of Possession")
            && said.contains("okta-ingest instance edit strict --dpop auto"),
        "{said}"
    );
}

/// An app that requires DPoP and an instance with DPoP off: the diagnosis says to turn it on (not to
/// weaken the app), and after `instance edit --dpop auto` the same check passes with a bound token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_off_on_a_dpop_app_says_to_turn_it_on() {
    let fx = dpop_app(100, 1).await;
    fx.add_instance("org", &["--dpop", "off"]).await;
    let off = fx.cli(&["check", "org"]).await;
    assert!(!off.status.success(), "{}", text(&off));
    let said_off = said(&off);
    assert!(
        said_off.contains("requires DPoP-bound tokens and this instance's DPoP mode is off")
            && said_off.contains("okta-ingest instance edit org --dpop auto")
            && !said_off.contains("uncheck"),
        "{said_off}"
    );
    let edit = fx.cli(&["instance", "edit", "org", "--dpop", "auto"]).await;
    assert!(edit.status.success(), "{}", text(&edit));
    let on = fx.cli(&["check", "org"]).await;
    assert!(on.status.success(), "{}", text(&on));
    assert!(said(&on).contains("DPoP (ES256)"), "{}", text(&on));
    let bad = fx
        .cli(&["instance", "edit", "org", "--dpop", "sometimes"])
        .await;
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(
        said(&bad).contains("auto") && said(&bad).contains("required"),
        "the choices are listed: {}",
        text(&bad)
    );
}

/// A clock far off Okta's: the token request is refused (the client assertion and the proof are both
/// dated) and the message says to fix the clock. Ahead and behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skewed_clock_ends_with_a_clock_hint() {
    let fx = dpop_app(10, 1).await;
    fx.add_instance("org", &[]).await;
    // Okta 10 minutes behind us (our clock ahead), then 6 minutes ahead of where we are.
    for (shift, what) in [(-600_000, "ahead"), (960_000, "behind")] {
        fx.emulator.shift_clock(shift);
        let out = fx.cli(&["check", "org"]).await;
        assert!(!out.status.success(), "{what}: {}", text(&out));
        assert!(
            said(&out).contains("clock is probably off"),
            "{what}: {}",
            text(&out)
        );
    }
}

/// A token endpoint that keeps answering `use_dpop_nonce` with the nonce the proof already carries ends
/// the check after one retry, saying so, instead of looping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_loop_ends_with_a_clear_error() {
    let fx = dpop_app(10, 1).await;
    fx.emulator.set_dpop_settings(DpopSettings {
        nonce_loop: true,
        ..DpopSettings::default()
    });
    fx.add_instance("org", &[]).await;
    let out = fx.cli(&["check", "org"]).await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        said(&out).contains("asked again for the DPoP nonce the proof already carried"),
        "{}",
        text(&out)
    );
    let s = fx.emulator.stats();
    assert_eq!(
        s.token_requests, 2,
        "the first attempt and one answer: {s:?}"
    );
}

/// A resource server that wants a nonce of its own (RFC 9449 §9; Okta's does not today) gets one retry
/// with it, and the events arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_server_nonce_is_answered() {
    let fx = dpop_app(200, 1).await;
    fx.emulator.set_dpop_settings(DpopSettings {
        rs_nonce_required: true,
        ..DpopSettings::default()
    });
    fx.add_instance("org", &["--backfill-days", "2"]).await;
    let out = fx.path("events.jsonl");
    let run = fx.run_once(&out).await;
    assert!(run.status.success(), "{}", text(&run));
    let spec = CategorySpec::load();
    let selected = ["authentication", "security", "itp"];
    assert_exactly(
        &lines(&out),
        &spec.expected(&fx.emulator.committed(), &selected),
    );
    let s = fx.emulator.stats();
    assert_eq!(s.rs_nonce_challenges, 1, "{s:?}");
    assert_eq!(s.replayed_proofs, 0, "{s:?}");
}
