//! Operations: `run --admin` serves /healthz and Prometheus /metrics while the scheduler runs, `status`
//! shows version, last tick, 24 h counts and the outbox; a non-loopback admin address without a token is
//! refused before anything starts.

use crate::support::*;
use okta_emulator::EmulatorConfig;
use std::time::Duration;

/// The value of the sample `name{labels}` (labels exactly as rendered), if present.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_endpoint_and_status_report_a_running_host() {
    let spec = CategorySpec::load();
    let fx = Fixture::new(EmulatorConfig {
        events: 1_500,
        days: 13,
        ..EmulatorConfig::default()
    })
    .await;
    fx.add_instance("org", &["--backfill-days", "14"]).await;
    let expected = spec.expected(
        &fx.emulator.committed(),
        &["authentication", "security", "itp"],
    );
    assert!(!expected.is_empty());

    let port = free_port();
    let admin = format!("127.0.0.1:{port}");
    let out = fx.path("events.jsonl");
    let sink = format!("file:{}", out.display());
    let mut args = vec![
        "--db".to_string(),
        fx.db(),
        "run".into(),
        "--interval".into(),
        "1s".into(),
        "--allow-short-interval".into(),
        "--admin".into(),
        admin.clone(),
        "--sink".into(),
        sink,
    ];
    args.extend(FAST.iter().map(|s| s.to_string()));
    let child = tokio::process::Command::new(BIN)
        .args(&args)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let base = format!("http://{admin}");
    let mut healthy = false;
    for _ in 0..150 {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
            if r.status() == 200 && r.text().await.unwrap_or_default() == "ok" {
                healthy = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "/healthz never answered 200 ok");

    // Scrape until the counters match what reached the sink and nothing is left queued.
    let want = expected.len() as f64;
    let sink_events = format!(
        "okta_ingest_sink_events_total{{sink=\"file:{}\"}}",
        out.display()
    );
    let mut metrics = String::new();
    for _ in 0..150 {
        let r = http.get(format!("{base}/metrics")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
        metrics = r.text().await.unwrap();
        if sample(&metrics, "okta_ingest_events_total{instance=\"org\"}") == Some(want)
            && sample(&metrics, "okta_ingest_outbox_depth") == Some(0.0)
            && sample(&metrics, &sink_events) == Some(want)
            && lines(&out).len() == expected.len()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        sample(&metrics, "okta_ingest_events_total{instance=\"org\"}"),
        Some(want),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "okta_ingest_outbox_depth"),
        Some(0.0),
        "{metrics}"
    );
    assert_exactly(&lines(&out), &expected);
    // The sink's own counters agree with what reached it.
    assert_eq!(sample(&metrics, &sink_events), Some(want), "{metrics}");
    assert_eq!(
        sample(
            &metrics,
            &sink_events.replace("sink_events_total", "sink_up")
        ),
        Some(1.0),
        "{metrics}"
    );
    let pages = sample(&metrics, "okta_ingest_pages_total{instance=\"org\"}").unwrap();
    assert!(pages >= 1.0, "{metrics}");
    assert_eq!(
        sample(&metrics, "okta_ingest_errors_total{instance=\"org\"}"),
        Some(0.0)
    );
    let ticks = sample(
        &metrics,
        "okta_ingest_tick_duration_seconds_count{instance=\"org\"}",
    )
    .unwrap();
    let inf = sample(
        &metrics,
        "okta_ingest_tick_duration_seconds_bucket{instance=\"org\",le=\"+Inf\"}",
    )
    .unwrap();
    assert!(ticks >= 1.0 && inf == ticks, "{metrics}");
    assert!(
        metrics.contains("# TYPE okta_ingest_tick_duration_seconds histogram"),
        "{metrics}"
    );
    assert!(metrics.contains("okta_ingest_ticks_total{instance=\"org\",outcome="));

    // `status` (another process, same database) while the run goes on: the tick log is flushed within
    // a tick or two.
    let mut shown = String::new();
    for _ in 0..50 {
        let st = fx.cli(&["status"]).await;
        assert!(st.status.success(), "{}", text(&st));
        shown = String::from_utf8_lossy(&st.stdout).to_string();
        if shown.contains(&format!("{} in last 24 h", expected.len())) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let version = format!("org: connector embedded {}", env!("CARGO_PKG_VERSION"));
    assert!(shown.contains(&version), "{shown}");
    assert!(shown.contains("queued for delivery: 0 events"), "{shown}");
    assert!(
        shown.contains(&format!(
            "in last 24 h, {} total; queued 0; cursor lag ",
            expected.len()
        )),
        "{shown}"
    );
    assert!(!shown.contains("last tick never"), "{shown}");
    assert!(!shown.contains("cursor lag -"), "{shown}");
    assert!(
        shown.contains("(caught-up)") || shown.contains("(ok)"),
        "{shown}"
    );

    let pid = child.id().unwrap().to_string();
    let term = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(term.success());
    let done = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("run stops on SIGTERM")
        .unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    // The admin endpoint went away with the run.
    assert!(http.get(format!("{base}/healthz")).send().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_admin_address_without_a_token_is_refused() {
    let fx = Fixture::new(EmulatorConfig {
        events: 10,
        days: 1,
        ..EmulatorConfig::default()
    })
    .await;
    fx.add_instance("org", &[]).await;
    let addr = format!("0.0.0.0:{}", free_port());
    let run = tokio::time::timeout(
        Duration::from_secs(30),
        fx.cli(&[
            "run",
            "--interval",
            "1s",
            "--allow-short-interval",
            "--admin",
            &addr,
        ]),
    )
    .await
    .expect("refused at once, not running");
    assert!(!run.status.success(), "{}", text(&run));
    let stderr = String::from_utf8_lossy(&run.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one clear line: {stderr}");
    assert!(
        lines[0].starts_with("error: ")
            && lines[0].contains("not a loopback address")
            && lines[0].contains("--admin-token-env"),
        "{stderr}"
    );
    assert!(run.stdout.is_empty(), "nothing delivered: {}", text(&run));
    // A token variable that is not set is refused too.
    let run = fx
        .cli(&[
            "run",
            "--interval",
            "1s",
            "--allow-short-interval",
            "--admin",
            &addr,
            "--admin-token-env",
            "OKTA_INGEST_E2E_UNSET_TOKEN",
        ])
        .await;
    assert!(!run.status.success());
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("not set or empty"),
        "{}",
        text(&run)
    );
}
