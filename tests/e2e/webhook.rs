//! The webhook sink against a local HTTPS receiver that misbehaves on purpose: server errors, a dropped
//! connection after it read the body, a 429, and a receiver that rejects everything (400).

use crate::receiver::*;
use crate::support::*;
use std::process::Output;

const SECRET: &str = "Bearer e2e-webhook-s3cret";
const SELECTION: &[&str] = &["authentication", "security", "itp", "lifecycle"];

async fn fixture(events: usize) -> Fixture {
    fixture_on(Backend::Sqlite, events).await
}

/// An emulator with `events` over 13 days and the instance "org", the state on `backend`.
async fn fixture_on(backend: Backend, events: usize) -> Fixture {
    let fx = Fixture::on(
        backend,
        okta_emulator::EmulatorConfig {
            events,
            days: 13,
            ..okta_emulator::EmulatorConfig::default()
        },
    )
    .await;
    fx.add_org().await;
    fx
}

/// `run --once --sink <receiver>` with fast pacing and the auth header from the environment.
async fn run_to(fx: &Fixture, rx: &Receiver, extra: &[&str]) -> Output {
    command(fx, rx, extra).output().await.expect("binary runs")
}

fn command(fx: &Fixture, rx: &Receiver, extra: &[&str]) -> tokio::process::Command {
    let url = rx.url();
    let ca = rx.ca_file.display().to_string();
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("--db")
        .arg(fx.db())
        .args([
            "run",
            "--once",
            "--sink",
            &url,
            "--webhook-ca-file",
            &ca,
            "--webhook-auth-env",
            "E2E_WEBHOOK_AUTH",
            "--webhook-retry-base",
            "10ms",
        ])
        .args(extra)
        .args(FAST)
        .env("E2E_WEBHOOK_AUTH", SECRET)
        .envs(fx.env())
        .env_remove("RUST_LOG");
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flaky_receiver_gets_every_event_once_per_idempotency_key() {
    a_flaky_receiver_gets_every_event_once_per_idempotency_key_on(Backend::Sqlite).await;
}

/// The same on a fleet's state (PostgreSQL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flaky_receiver_gets_every_event_once_per_idempotency_key_on_postgres() {
    a_flaky_receiver_gets_every_event_once_per_idempotency_key_on(Backend::Postgres).await;
}

async fn a_flaky_receiver_gets_every_event_once_per_idempotency_key_on(backend: Backend) {
    let spec = CategorySpec::load();
    let fx = fixture_on(backend, 3_000).await;
    let rx = Receiver::start(
        fx.dir.path(),
        "flaky",
        &[
            Action::Status(500),
            Action::Status(502),
            Action::Status(503),
            Action::Drop,
            Action::Status(429),
        ],
        200,
    )
    .await;
    let run = run_to(
        &fx,
        &rx,
        &["--webhook-batch-events", "250", "--webhook-retries", "8"],
    )
    .await;
    assert!(run.status.success(), "{}", text(&run));
    assert!(
        !text(&run).contains("s3cret"),
        "the auth value leaked: {}",
        text(&run)
    );

    let expected = spec.expected(&fx.emulator.committed(), SELECTION);
    assert!(expected.len() > 1_000, "{}", expected.len());
    let log = rx.log();
    // The five injected failures happened, and every request carried the auth header and JSON type.
    assert!(
        log.iter().filter(|r| r.status >= 400).count() >= 4,
        "{log:?}"
    );
    assert!(log.iter().any(|r| r.status == 0));
    assert!(log.iter().any(|r| r.status == 429));
    for r in &log {
        assert_eq!(r.auth.as_deref(), Some(SECRET));
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        assert!(elements(&r.body).len() <= 250);
    }
    // The batch whose connection was dropped after the receiver read it was re-sent with the same key.
    let dropped = log.iter().find(|r| r.status == 0).unwrap();
    assert!(
        log.iter()
            .any(|r| r.status == 200 && r.key == dropped.key && r.body == dropped.body),
        "the dropped batch was not re-sent under the same key"
    );
    // At least once: every expected event in some accepted body.
    let accepted: std::collections::HashSet<String> = log
        .iter()
        .filter(|r| r.status == 200)
        .flat_map(|r| elements(&r.body))
        .collect();
    assert!(expected.iter().all(|e| accepted.contains(e)));
    // Exactly once after de-duplicating by key, byte for byte.
    assert_exactly(&deduplicated(&log), &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejecting_receiver_fails_the_run_and_keeps_the_events_queued() {
    let spec = CategorySpec::load();
    let fx = fixture(1_200).await;
    let bad = Receiver::start(fx.dir.path(), "bad", &[], 400).await;
    let run = run_to(&fx, &bad, &[]).await;
    assert!(!run.status.success(), "{}", text(&run));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("delivery FAILED")
            && err.contains("HTTP 400")
            && err.contains("schema mismatch")
            && err.contains("not retried")
            && err.contains("stay queued"),
        "{}",
        text(&run)
    );
    // A permanent error is not retried within a write: few requests, not one per back-off step.
    let rejected = bad.log();
    assert!(
        !rejected.is_empty() && rejected.len() <= 20,
        "{}",
        rejected.len()
    );

    // The cursor moved on, so everything the next run delivers comes from the outbox.
    let good = Receiver::start(fx.dir.path(), "good", &[], 200).await;
    let run = run_to(&fx, &good, &[]).await;
    assert!(run.status.success(), "{}", text(&run));
    let log = good.log();
    let got: Vec<String> = log.iter().flat_map(|r| elements(&r.body)).collect();
    assert_exactly(&got, &spec.expected(&fx.emulator.committed(), SELECTION));
    // Default batch size: 500 events.
    assert!(log.iter().all(|r| elements(&r.body).len() <= 500));
    assert!(log.iter().any(|r| elements(&r.body).len() == 500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_receiver_took_a_batch_resends_it_with_the_same_key() {
    a_crash_after_the_receiver_took_a_batch_resends_it_with_the_same_key_on(Backend::Sqlite).await;
}

/// The same on a fleet's state (PostgreSQL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_receiver_took_a_batch_resends_it_with_the_same_key_on_postgres() {
    a_crash_after_the_receiver_took_a_batch_resends_it_with_the_same_key_on(Backend::Postgres)
        .await;
}

async fn a_crash_after_the_receiver_took_a_batch_resends_it_with_the_same_key_on(backend: Backend) {
    let spec = CategorySpec::load();
    let fx = fixture_on(backend, 2_000).await;
    // The first batch is accepted; the receiver reads the second and never answers; the sender is killed.
    let rx = Receiver::start(
        fx.dir.path(),
        "crash",
        &[Action::Status(200), Action::Hang],
        200,
    )
    .await;
    let mut child = command(
        &fx,
        &rx,
        &["--webhook-batch-events", "300", "--webhook-timeout", "60s"],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .kill_on_drop(true)
    .spawn()
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while rx.log().len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the second batch never arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    child.kill().await.unwrap(); // SIGKILL: no acknowledgement of the second batch
    let hung = rx.log()[1].clone();

    let run = run_to(&fx, &rx, &["--webhook-batch-events", "300"]).await;
    assert!(run.status.success(), "{}", text(&run));
    let log = rx.log();
    assert!(
        log[2..]
            .iter()
            .any(|r| r.status == 200 && r.key == hung.key && r.body == hung.body),
        "the batch in flight at the crash was not re-sent under the same key"
    );
    assert_exactly(
        &deduplicated(&log),
        &spec.expected(&fx.emulator.committed(), SELECTION),
    );
}

/// A receiver that quotes the request's `Authorization` back (a gateway, a debug proxy) must not put
/// the secret into okta-ingest's output: what is quoted from a receiver has the secret redacted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_echoing_the_secret_does_not_put_it_in_the_output() {
    let fx = fixture(300).await;
    let echo = Receiver::start(fx.dir.path(), "echo", &[Action::EchoAuth], 401).await;
    let run = run_to(&fx, &echo, &[]).await;
    assert!(!run.status.success(), "{}", text(&run));
    let all = text(&run);
    assert!(
        all.contains("HTTP 401") && all.contains("bad token"),
        "{all}"
    );
    let token = SECRET.trim_start_matches("Bearer ");
    assert!(!all.contains(token), "the secret leaked: {all}");
    assert!(
        all.contains("***"),
        "the echo is redacted, not dropped: {all}"
    );
    assert_eq!(echo.log()[0].auth.as_deref(), Some(SECRET), "it was sent");
}
