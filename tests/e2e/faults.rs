//! Okta misbehaving mid-backfill: 429s, 500s, a reset connection and a revoked token are survived
//! without losing or doubling an event.

use crate::support::*;
use okta_emulator::{EmulatorConfig, Fault};

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_server_errors_and_revoked_tokens_lose_nothing() {
    let spec = CategorySpec::load();
    let selection: &[&str] = &["authentication", "security", "itp", "lifecycle"];
    let fx = Fixture::new(EmulatorConfig {
        events: 4_000,
        days: 13,
        ..EmulatorConfig::default()
    })
    .await;
    fx.add_instance(
        "org",
        &[
            "--backfill-days",
            "14",
            "--events",
            "authentication,security,itp,lifecycle",
        ],
    )
    .await;
    let reset = (now_s() + 2).to_string();
    let limited = |status: u16, code: &str| {
        Fault::Status {
        status,
        body: format!("{{\"errorCode\":\"{code}\",\"errorSummary\":\"injected\",\"errorLink\":\"{code}\",\"errorId\":\"x\",\"errorCauses\":[]}}"),
        headers: vec![
            ("X-Rate-Limit-Limit".into(), "120".into()),
            ("X-Rate-Limit-Remaining".into(), "0".into()),
            ("X-Rate-Limit-Reset".into(), reset.clone()),
        ],
    }
    };
    fx.emulator.push_fault(limited(429, "E0000047"));
    fx.emulator.push_fault(limited(500, "E0000009"));
    fx.emulator.push_fault(Fault::ResetConnection);
    let out = fx.path("events.jsonl");
    // Revoke tokens while the backfill is running.
    let emu = fx.emulator.clone();
    let revoker = tokio::spawn(async move {
        for _ in 0..3 {
            tokio::time::sleep(std::time::Duration::from_millis(700)).await;
            emu.revoke_tokens();
        }
    });
    let run = fx.run_once(&out).await;
    revoker.await.unwrap();
    assert!(run.status.success(), "{}", text(&run));
    assert_exactly(
        &lines(&out),
        &spec.expected(&fx.emulator.committed(), selection),
    );
    let stats = fx.emulator.stats();
    assert!(stats.faults_served >= 3, "{stats:?}");
    assert!(stats.rate_limited >= 1, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_server_error_fails_the_run_and_keeps_the_cursor() {
    let spec = CategorySpec::load();
    let selection: &[&str] = &["authentication", "security", "itp"];
    let fx = Fixture::new(EmulatorConfig {
        events: 1_500,
        days: 13,
        ..EmulatorConfig::default()
    })
    .await;
    fx.add_instance("org", &["--backfill-days", "14"]).await;
    // One request plus its 4 retries (the default --max-retries), all answered 500.
    for _ in 0..5 {
        fx.emulator.push_fault(Fault::Status {
            status: 500,
            body: "{\"errorCode\":\"E0000009\",\"errorSummary\":\"Internal Server Error\"}".into(),
            headers: vec![],
        });
    }
    let out = fx.path("events.jsonl");
    let failed = fx.run_once(&out).await;
    assert!(!failed.status.success(), "{}", text(&failed));
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(err.contains("org: FAILED") && err.contains("500"), "{err}");
    assert_eq!(fx.emulator.stats().faults_served, 5);
    assert!(
        lines(&out).is_empty(),
        "nothing was committed, so nothing is delivered"
    );
    // The next run (faults exhausted) picks up where the cursor is: nothing lost, nothing doubled.
    let ok = fx.run_once(&out).await;
    assert!(ok.status.success(), "{}", text(&ok));
    assert_exactly(
        &lines(&out),
        &spec.expected(&fx.emulator.committed(), selection),
    );
}
