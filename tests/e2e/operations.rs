//! What an operator relies on day to day: `status` that tells the truth (and `--check`, `--json`),
//! read-only commands that never invent a state file, limits that protect the org, request-level logs
//! at `-vv` and JSON logs, a `check` that fails fast on a certificate problem, and SIGHUP for log
//! rotation.

use crate::support::*;
use okta_emulator::EmulatorConfig;
use std::time::{Duration, Instant};

fn json_of(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_key_file_is_the_last_error_and_status_check_fails() {
    let fx = Fixture::with_org(100).await;
    let out = fx.path("out.jsonl");
    assert!(fx.run_once(&out).await.status.success());
    let ok = fx.cli(&["status", "--check"]).await;
    assert!(ok.status.success(), "{}", text(&ok));
    std::fs::rename(fx.path("key.pem"), fx.path("moved.pem")).unwrap();
    let failed = fx.run_once(&out).await;
    assert!(!failed.status.success());
    let check = fx.cli(&["status", "--check"]).await;
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    let err = String::from_utf8_lossy(&check.stderr);
    assert!(
        err.contains("org: FAILING: cannot read private key file"),
        "{err}"
    );
    let doc = json_of(&fx.cli(&["status", "--json"]).await);
    let org = &doc["instances"][0];
    assert_eq!(org["name"], "org");
    assert_eq!(org["last_outcome"], "error");
    assert!(
        org["last_error"].as_str().unwrap().contains("private key"),
        "{doc}"
    );
    assert_eq!(doc["queued"], 0);
    let list = json_of(&fx.cli(&["instance", "list", "--json"]).await);
    assert_eq!(list[0]["name"], "org");
    assert_eq!(list[0]["last_outcome"], "error");
    assert!(list[0]["private_key"]
        .as_str()
        .unwrap()
        .ends_with("key.pem"));
    let components = json_of(&fx.cli(&["component", "list", "--json"]).await);
    assert!(components["embedded"].is_string() && components["stored"].is_array());
}

#[tokio::test]
async fn a_refused_sink_is_recorded_as_the_last_error() {
    let fx = Fixture::with_org(50).await;
    let dir_sink = format!("file:{}", fx.dir.path().display());
    let run = fx.cli(&["run", "--once", "--sink", &dir_sink]).await;
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("opening the file") && !err.contains("stay queued") && err.contains("--sink"),
        "nothing was fetched, so nothing is said to be queued: {err}"
    );
    let doc = json_of(&fx.cli(&["status", "--json"]).await);
    let e = doc["instances"][0]["last_error"]
        .as_str()
        .unwrap_or_default();
    assert!(e.contains("the sink was refused at start"), "{doc}");
    assert!(!fx.cli(&["status", "--check"]).await.status.success());
}

#[tokio::test]
async fn read_only_commands_never_create_a_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("no/such/dir/typo.db");
    for args in [
        vec!["status"],
        vec!["instance", "list"],
        vec!["instance", "show", "x"],
        vec!["check", "x"],
        vec!["component", "list"],
    ] {
        let out = tokio::process::Command::new(BIN)
            .arg("--db")
            .arg(&typo)
            .args(&args)
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("no state database at") && err.contains("--db"),
            "{err}"
        );
    }
    assert!(!dir.path().join("no").exists(), "nothing was created");
}

#[tokio::test]
async fn without_home_the_state_file_must_be_named() {
    let cwd = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(BIN)
        .arg("status")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir(cwd.path())
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("HOME") && err.contains("--db PATH"), "{err}");
    assert_eq!(
        std::fs::read_dir(cwd.path()).unwrap().count(),
        0,
        "no ./okta-ingest.db"
    );
}

#[tokio::test]
async fn a_short_interval_needs_the_explicit_override() {
    let fx = Fixture::with_org(10).await;
    let run = fx.cli(&["run", "--interval", "10s"]).await;
    assert_eq!(run.status.code(), Some(1));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("minimum of 1m")
            && err.contains("--allow-short-interval")
            && err.contains("rate limit"),
        "{err}"
    );
    let zero = fx
        .cli(&["run", "--interval", "0s", "--allow-short-interval"])
        .await;
    assert!(
        String::from_utf8_lossy(&zero.stderr).contains("more than 0"),
        "{}",
        text(&zero)
    );
}

#[tokio::test]
async fn check_fails_fast_on_an_untrusted_certificate_and_names_the_fix() {
    let fx = Fixture::with_org(10).await;
    assert!(fx
        .cli(&["instance", "edit", "org", "--no-ca-file"])
        .await
        .status
        .success());
    let started = Instant::now();
    let check = fx.cli(&["check", "org"]).await;
    let took = started.elapsed();
    eprintln!(
        "check with an untrusted certificate: {:.2} s",
        took.as_secs_f64()
    );
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(
        said.contains("certificate is not trusted") && said.contains("--ca-file"),
        "{said}"
    );
    assert!(
        !said.contains("ErrorCode") && !said.contains("next tick"),
        "{said}"
    );
    assert!(took < Duration::from_secs(10), "no retries: {took:?}");
    assert_eq!(
        fx.emulator.stats().token_requests,
        0,
        "nothing got through TLS"
    );
}

#[tokio::test]
async fn vv_logs_each_request_and_json_logs_are_json_without_secrets() {
    let fx = Fixture::with_org(200).await;
    let out = fx.path("out.jsonl");
    let sink = format!("file:{}", out.display());
    let run = fx
        .cli(&[
            "-vv",
            "--log-format",
            "json",
            "run",
            "--once",
            "--sink",
            &sink,
        ])
        .await;
    assert!(run.status.success(), "{}", text(&run));
    let stderr = String::from_utf8_lossy(&run.stderr);
    let mut requests = 0;
    for line in stderr.lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if v["message"] == "okta request" {
            requests += 1;
            assert!(v["method"].is_string() && v["status"].is_number(), "{v}");
            assert!(
                v["path"].as_str().is_some_and(|p| !p.contains('?')),
                "no query: {v}"
            );
            if v["path"] == "/api/v1/logs" {
                assert!(
                    v["okta_request_id"].as_str().is_some_and(|id| id != "-"),
                    "{v}"
                );
                assert!(v["rate_limit_remaining"].is_string(), "{v}");
            }
        }
    }
    assert!(requests >= 2, "the token and the log requests: {stderr}");
    for secret in ["Bearer ", "eyJ", "client_assertion="] {
        assert!(!stderr.contains(secret), "{secret} in the log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_moves_the_file_sink_to_a_new_file_after_rotation() {
    let fx = Fixture::new(EmulatorConfig {
        events: 200,
        days: 13,
        live_events_per_minute: 1200,
        ..EmulatorConfig::default()
    })
    .await;
    fx.add_org().await;
    let out = fx.path("events.jsonl");
    let rotated = fx.path("events.jsonl.1");
    let sink = format!("file:{}", out.display());
    let mut args = vec![
        "run",
        "--interval",
        "1s",
        "--allow-short-interval",
        "--admin",
        "localhost:0",
        "--sink",
        &sink,
    ];
    args.extend_from_slice(FAST);
    let mut run = Running::start(&fx, &args, "run.log");
    let wait = |what: &'static str, ok: Box<dyn Fn() -> bool>| async move {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ok() {
            assert!(Instant::now() < deadline, "never: {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let out2 = out.clone();
    wait("the backfill", Box::new(move || lines(&out2).len() >= 200)).await;
    let log = run.log();
    assert!(
        log.contains("admin on http://127.0.0.1:"),
        "localhost resolved: {log}"
    );
    std::fs::rename(&out, &rotated).unwrap();
    run.signal(libc::SIGHUP);
    let out3 = out.clone();
    wait(
        "a new file with new events",
        Box::new(move || !lines(&out3).is_empty()),
    )
    .await;
    let old_len = lines(&rotated).len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        lines(&rotated).len(),
        old_len,
        "nothing more went to the rotated file"
    );
    assert!(
        run.child.try_wait().unwrap().is_none(),
        "SIGHUP did not end it: {}",
        run.log()
    );
    run.signal(libc::SIGTERM);
    let status = run
        .exit_within(Duration::from_secs(60), "after SIGTERM")
        .await;
    let log = run.log();
    assert!(status.success(), "{log}");
    assert!(log.contains("reopened the file (log rotation)"), "{log}");
    let mut all = lines(&rotated);
    all.extend(lines(&out));
    let unique: std::collections::HashSet<&String> = all.iter().collect();
    assert_eq!(
        unique.len(),
        all.len(),
        "nothing doubled across the rotation"
    );
}
