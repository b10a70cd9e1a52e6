//! Okta misbehaving mid-backfill: 429s, 500s, a reset connection and a revoked token are survived
//! without losing or doubling an event.

use crate::support::*;
use okta_emulator::{EmulatorConfig, Fault};
use std::time::Duration;

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_server_errors_and_revoked_tokens_lose_nothing() {
    rate_limits_server_errors_and_revoked_tokens_lose_nothing_on(Backend::Sqlite).await;
}

/// The same on a fleet's state (PostgreSQL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_server_errors_and_revoked_tokens_lose_nothing_on_postgres() {
    rate_limits_server_errors_and_revoked_tokens_lose_nothing_on(Backend::Postgres).await;
}

async fn rate_limits_server_errors_and_revoked_tokens_lose_nothing_on(backend: Backend) {
    let spec = CategorySpec::load();
    let selection: &[&str] = &["authentication", "security", "itp", "lifecycle"];
    let fx = Fixture::with_org_on(backend, 4_000).await;
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
            tokio::time::sleep(Duration::from_millis(700)).await;
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

// ---------------------------------------------------------------------------------------------
// "Nothing lost, nothing doubled": every fault below ends with the file sink holding exactly the
// expected events.

const ALL: &[&str] = &["authentication", "security", "itp", "lifecycle"];
const ALL_ARG: &str = "authentication,security,itp,lifecycle";

/// `run --once --sink file:out` with fast back-offs; `extra` may override `--request-timeout`.
async fn run_with(fx: &Fixture, out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let sink = format!("file:{}", out.display());
    let mut args = vec![
        "run",
        "--once",
        "--sink",
        &sink,
        "--retry-base",
        "50ms",
        "--max-wait",
        "30s",
    ];
    if !extra.contains(&"--request-timeout") {
        args.extend(["--request-timeout", "5s"]);
    }
    args.extend_from_slice(extra);
    fx.cli(&args).await
}

async fn all_categories(config: EmulatorConfig) -> Fixture {
    all_categories_on(Backend::Sqlite, config).await
}

/// An instance "org" reading every category with a 14-day backfill, the state on `backend`.
async fn all_categories_on(backend: Backend, config: EmulatorConfig) -> Fixture {
    let fx = Fixture::on(backend, config).await;
    fx.add_instance("org", &["--backfill-days", "14", "--events", ALL_ARG])
        .await;
    fx
}

fn expected_all(fx: &Fixture) -> Vec<String> {
    CategorySpec::load().expected(&fx.emulator.committed(), ALL)
}

fn okta_error(code: &str, summary: &str) -> String {
    format!("{{\"errorCode\":\"{code}\",\"errorSummary\":\"{summary}\",\"errorLink\":\"{code}\",\"errorId\":\"oae1\",\"errorCauses\":[]}}")
}

/// No duplicates, and every line is one of the expected events (a prefix of a run may be missing).
fn assert_subset(got: &[String], expected: &[String]) {
    let exp: std::collections::HashSet<&String> = expected.iter().collect();
    let mut seen = std::collections::HashSet::new();
    for g in got {
        assert!(
            exp.contains(g),
            "unexpected line: {}",
            &g[..g.len().min(200)]
        );
        assert!(
            seen.insert(g),
            "delivered twice: {}",
            &g[..g.len().min(200)]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_bucket_exhausted_for_many_windows_is_waited_out_without_hammering() {
    // The org's budget is gone (limit 0) for ~8 s of 1-s windows, then comes back. Waiting for the
    // announced reset (+1 s margin: a 2–3 s cycle) must not spend retries (--max-retries 1 would end
    // the tick at the second 429 otherwise) and must not send more than one request per window.
    let fx = all_categories(EmulatorConfig {
        events: 3_000,
        days: 13,
        rate_limit_per_minute: Some(0),
        rate_limit_window: Duration::from_secs(1),
        ..EmulatorConfig::default()
    })
    .await;
    let emu = fx.emulator.clone();
    let lift = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(8)).await;
        emu.set_rate_limit(Some(100));
    });
    let out = fx.path("events.jsonl");
    let started = std::time::Instant::now();
    let run = run_with(&fx, &out, &["--max-retries", "1"]).await;
    lift.await.unwrap();
    assert!(run.status.success(), "{}", text(&run));
    assert_exactly(&lines(&out), &expected_all(&fx));
    let stats = fx.emulator.stats();
    assert!(stats.rate_limited >= 2, "{stats:?}");
    assert!(stats.requests_while_limited_per_window <= 1, "{stats:?}");
    assert!(started.elapsed() >= Duration::from_secs(8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_429_waits_for_the_estimated_reset() {
    let fx = all_categories(EmulatorConfig {
        events: 2_500,
        days: 13,
        ..EmulatorConfig::default()
    })
    .await;
    // Each 429 estimates its own reset (a stale one would be backed off, spending a retry).
    let start = now_s();
    for i in 0..3 {
        let reset = (start + 3 + i).to_string();
        fx.emulator.push_fault(Fault::Status {
            status: 429,
            body: okta_error(
                "E0000047",
                "API call exceeded rate limit due to too many requests.",
            ),
            headers: vec![
                ("X-Rate-Limit-Limit".into(), "0".into()),
                ("X-Rate-Limit-Remaining".into(), "0".into()),
                ("X-Rate-Limit-Reset".into(), reset.clone()),
            ],
        });
    }
    let out = fx.path("events.jsonl");
    let run = run_with(&fx, &out, &["--max-retries", "1"]).await;
    assert!(run.status.success(), "{}", text(&run));
    assert_exactly(&lines(&out), &expected_all(&fx));
    let stats = fx.emulator.stats();
    assert_eq!(stats.faults_served, 3, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remaining_near_zero_slows_down_before_any_429() {
    // 4 requests per 2-s window; unpaced, 6 pages in a row would exceed it. At the default 50% share
    // the connector pauses after 2 requests of each window until the reset.
    let fx = all_categories(EmulatorConfig {
        events: 5_000,
        days: 13,
        rate_limit_per_minute: Some(4),
        rate_limit_window: Duration::from_secs(2),
        ..EmulatorConfig::default()
    })
    .await;
    let out = fx.path("events.jsonl");
    let run = run_with(&fx, &out, &[]).await;
    assert!(run.status.success(), "{}", text(&run));
    assert_exactly(&lines(&out), &expected_all(&fx));
    let stats = fx.emulator.stats();
    assert_eq!(stats.rate_limited, 0, "paced, never limited: {stats:?}");
    assert!(stats.log_requests >= 6, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_resets_timeouts_and_broken_pages_are_retried() {
    server_errors_resets_timeouts_and_broken_pages_are_retried_on(Backend::Sqlite).await;
}

/// The same on a fleet's state (PostgreSQL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_resets_timeouts_and_broken_pages_are_retried_on_postgres() {
    server_errors_resets_timeouts_and_broken_pages_are_retried_on(Backend::Postgres).await;
}

async fn server_errors_resets_timeouts_and_broken_pages_are_retried_on(backend: Backend) {
    let fx = all_categories_on(
        backend,
        EmulatorConfig {
            events: 9_000,
            days: 13,
            ..EmulatorConfig::default()
        },
    )
    .await;
    // One fault per page, each followed by a normal answer (Delay(0)) for its retry.
    let faults = [
        Fault::Status {
            status: 500,
            body: okta_error("E0000009", "Internal Server Error"),
            headers: vec![],
        },
        Fault::Status {
            status: 500,
            body: okta_error("E0000053", "Invalid request"),
            headers: vec![],
        },
        Fault::ResetConnection,
        Fault::Delay(Duration::from_secs(3)), // > --request-timeout 1s
        Fault::TruncatedBody,
        Fault::NotJson,
    ];
    let n = faults.len() as u64;
    for f in faults {
        fx.emulator.push_fault(f);
        fx.emulator.push_fault(Fault::Delay(Duration::ZERO));
    }
    let out = fx.path("events.jsonl");
    let run = run_with(&fx, &out, &["--request-timeout", "1s"]).await;
    assert!(run.status.success(), "{}", text(&run));
    assert_exactly(&lines(&out), &expected_all(&fx));
    assert_eq!(fx.emulator.stats().faults_served, 2 * n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_faults_end_the_run_clearly_and_a_rerun_delivers_exactly() {
    persistent_faults_end_the_run_clearly_and_a_rerun_delivers_exactly_on(Backend::Sqlite).await;
}

/// The same on a fleet's state (PostgreSQL): each failed run leaves its shard to the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_faults_end_the_run_clearly_and_a_rerun_delivers_exactly_on_postgres() {
    persistent_faults_end_the_run_clearly_and_a_rerun_delivers_exactly_on(Backend::Postgres).await;
}

async fn persistent_faults_end_the_run_clearly_and_a_rerun_delivers_exactly_on(backend: Backend) {
    let fx = all_categories_on(
        backend,
        EmulatorConfig {
            events: 6_000,
            days: 13,
            ..EmulatorConfig::default()
        },
    )
    .await;
    let out = fx.path("events.jsonl");
    let expected = expected_all(&fx);
    let cases: Vec<(Vec<Fault>, &[&str])> = vec![
        // A page without a next link: not retried, the cursor stays before that page.
        (
            vec![Fault::NoNextLink],
            &["rel=\"next\"", "cursor did not move"],
        ),
        // 500 E0000053 on every attempt (1 + 4 retries).
        (
            (0..5)
                .map(|_| Fault::Status {
                    status: 500,
                    body: okta_error("E0000053", "Invalid request"),
                    headers: vec![],
                })
                .collect(),
            &["500", "E0000053"],
        ),
        // A body that is never JSON.
        (
            (0..5).map(|_| Fault::NotJson).collect(),
            &["unusable System Log page"],
        ),
        // Every attempt slower than the request timeout.
        (
            (0..5)
                .map(|_| Fault::Delay(Duration::from_secs(2)))
                .collect(),
            &["timed out"],
        ),
    ];
    let mut prev = 0;
    for (i, (faults, words)) in cases.into_iter().enumerate() {
        // Let one more page through before each fault, so every case fails further into the backfill.
        fx.emulator.push_fault(Fault::Delay(Duration::ZERO));
        for f in faults {
            fx.emulator.push_fault(f);
        }
        let run = run_with(&fx, &out, &["--request-timeout", "1s"]).await;
        assert!(!run.status.success(), "case {i}: {}", text(&run));
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(err.contains("org: FAILED"), "case {i}: {err}");
        for w in words {
            assert!(err.contains(w), "case {i}: expected {w:?} in {err}");
        }
        let got = lines(&out);
        assert_subset(&got, &expected);
        assert!(
            got.len() > prev,
            "case {i}: the page before the fault was delivered"
        );
        prev = got.len();
    }
    let ok = run_with(&fx, &out, &[]).await;
    assert!(ok.status.success(), "{}", text(&ok));
    assert_exactly(&lines(&out), &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expiring_during_a_paced_backfill_are_replaced() {
    // 2-s tokens, and pacing (2 of 4 requests per 2-s window) makes the backfill outlive several.
    let fx = all_categories(EmulatorConfig {
        events: 4_000,
        days: 13,
        token_lifetime: Duration::from_secs(2),
        rate_limit_per_minute: Some(4),
        rate_limit_window: Duration::from_secs(2),
        ..EmulatorConfig::default()
    })
    .await;
    let emu = fx.emulator.clone();
    let revoker = tokio::spawn(async move {
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(900)).await;
            emu.revoke_tokens();
        }
    });
    let out = fx.path("events.jsonl");
    let run = run_with(&fx, &out, &[]).await;
    revoker.await.unwrap();
    assert!(run.status.success(), "{}", text(&run));
    assert_exactly(&lines(&out), &expected_all(&fx));
    let stats = fx.emulator.stats();
    assert!(stats.tokens_issued >= 2, "{stats:?}");
    assert_eq!(stats.rate_limited, 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_endpoint_down_for_a_while_then_back() {
    let fx = all_categories(EmulatorConfig {
        events: 2_000,
        days: 13,
        ..EmulatorConfig::default()
    })
    .await;
    let unavailable = || Fault::TokenEndpoint {
        status: 503,
        body:
            "{\"errorCode\":\"E0000010\",\"errorSummary\":\"Service is temporarily unavailable\"}"
                .into(),
    };
    // Briefly down: within the retries.
    for _ in 0..3 {
        fx.emulator.push_fault(unavailable());
    }
    let out = fx.path("events.jsonl");
    let run = run_with(&fx, &out, &[]).await;
    assert!(run.status.success(), "{}", text(&run));
    assert_exactly(&lines(&out), &expected_all(&fx));
    assert_eq!(fx.emulator.stats().faults_served, 3);

    // Down for longer than the retries: the run fails clearly, nothing moves; later it recovers.
    fx.emulator.generate_events(1_500, 1, 0.0);
    for _ in 0..5 {
        fx.emulator.push_fault(unavailable());
    }
    let before = lines(&out).len();
    let failed = run_with(&fx, &out, &[]).await;
    assert!(!failed.status.success(), "{}", text(&failed));
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(err.contains("org: FAILED") && err.contains("503"), "{err}");
    assert_eq!(lines(&out).len(), before);
    let ok = run_with(&fx, &out, &[]).await;
    assert!(ok.status.success(), "{}", text(&ok));
    assert_exactly(&lines(&out), &expected_all(&fx));
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_keeps_events_queued_until_a_working_sink_runs() {
    let fx = all_categories(EmulatorConfig {
        events: 3_000,
        days: 13,
        ..EmulatorConfig::default()
    })
    .await;
    // /dev/full: every write fails with ENOSPC.
    let full = run_with(&fx, std::path::Path::new("/dev/full"), &[]).await;
    assert!(!full.status.success(), "{}", text(&full));
    let err = String::from_utf8_lossy(&full.stderr);
    assert!(
        err.contains("org: caught up"),
        "ingestion is unaffected: {err}"
    );
    assert!(
        err.contains("delivery FAILED")
            && err.contains("still queued")
            && err.contains("No space left"),
        "{err}"
    );
    // Delivery resumes with a working sink: every event exactly once.
    let out = fx.path("events.jsonl");
    let ok = run_with(&fx, &out, &[]).await;
    assert!(ok.status.success(), "{}", text(&ok));
    assert_exactly(&lines(&out), &expected_all(&fx));
    // The disk fills up again; more events arrive; then it recovers.
    fx.emulator.generate_events(1_200, 1, 0.0);
    let full = run_with(&fx, std::path::Path::new("/dev/full"), &[]).await;
    assert!(!full.status.success(), "{}", text(&full));
    let ok = run_with(&fx, &out, &[]).await;
    assert!(ok.status.success(), "{}", text(&ok));
    assert_exactly(&lines(&out), &expected_all(&fx));
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_sink_is_reported_and_delivery_resumes_later() {
    use std::os::unix::fs::PermissionsExt;
    let fx = all_categories(EmulatorConfig {
        events: 2_000,
        days: 13,
        ..EmulatorConfig::default()
    })
    .await;
    let out = fx.path("events.jsonl");
    let first = run_with(&fx, &out, &[]).await;
    assert!(first.status.success(), "{}", text(&first));
    fx.emulator.generate_events(1_000, 1, 0.0);

    // A directory the sink may not create its file in (0500).
    let ro_dir = fx.path("ro");
    std::fs::create_dir(&ro_dir).unwrap();
    std::fs::set_permissions(&ro_dir, std::fs::Permissions::from_mode(0o500)).unwrap();
    let blocked = std::fs::write(ro_dir.join("probe"), b"x").is_err(); // false when running as root
    if blocked {
        let run = run_with(&fx, &ro_dir.join("events.jsonl"), &[]).await;
        assert!(!run.status.success(), "{}", text(&run));
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(
            err.contains("opening the file") && err.contains("ermission denied"),
            "{err}"
        );
    }
    // A read-only file: opened but unwritable (as root, /proc/version refuses writes with EIO).
    let ro_file = if blocked {
        let f = fx.path("ro.jsonl");
        std::fs::write(&f, b"").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o400)).unwrap();
        f
    } else {
        std::path::PathBuf::from("/proc/version")
    };
    let run = run_with(&fx, &ro_file, &[]).await;
    assert!(!run.status.success(), "{}", text(&run));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("stay queued") || err.contains("still queued"),
        "{err}"
    );
    std::fs::set_permissions(&ro_dir, std::fs::Permissions::from_mode(0o700)).unwrap();

    let ok = run_with(&fx, &out, &[]).await;
    assert!(ok.status.success(), "{}", text(&ok));
    assert_exactly(&lines(&out), &expected_all(&fx));
}
