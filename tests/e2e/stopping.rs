//! Prompt stops: `okta-ingest run` (and `run --once`, and `check`) gets SIGTERM or SIGINT in each state
//! a daemon can be in, and the time from the signal to the process's exit is measured. The bound here
//! is generous (a loaded CI machine); the guarantee is about a second, and each test prints its figure
//! (`cargo test ... stopping -- --nocapture`). Where the stop interrupts fetching, a rerun proves the
//! page in flight was either committed or dropped: every event exactly once.

use crate::support::*;
use okta_emulator::{EmulatorConfig, Fault};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

const ALL: &[&str] = &["authentication", "security", "itp", "lifecycle"];
/// The test's bound on signal-to-exit; the product's guarantee is two seconds.
const BOUND: Duration = Duration::from_secs(5);

/// Sends `sig` to `run` and measures until the process has exited; asserts the test's bound.
async fn stop(mut run: Running, sig: i32, state: &str) -> (Duration, ExitStatus, String) {
    run.signal(sig);
    let sent = Instant::now();
    let status = run.exit_within(Duration::from_secs(60), state).await;
    let took = sent.elapsed();
    eprintln!("stop time ({state}): {:.3} s", took.as_secs_f64());
    let log = run.log();
    assert!(
        took < BOUND,
        "{state}: {took:?} from signal to exit; log:\n{log}"
    );
    (took, status, log)
}

/// `run --interval INTERVAL --sink SINK` with test-speed pacing.
fn daemon(fx: &Fixture, interval: &str, sink: &str) -> Running {
    let mut args = vec!["run", "--interval", interval, "--sink", sink];
    args.extend_from_slice(FAST);
    Running::start(fx, &args, "run.log")
}

/// The log line of a tick that caught up.
fn caught_up(log: &str) -> bool {
    log.contains("(caught up)")
}

fn fast_with_max_wait(max_wait: &'static str) -> Vec<&'static str> {
    vec![
        "--retry-base",
        "50ms",
        "--max-wait",
        max_wait,
        "--request-timeout",
        "5s",
    ]
}

fn file_sink(out: &Path) -> String {
    format!("file:{}", out.display())
}

/// A rerun to caught-up delivers every selected event exactly once in all (the stopped run's share
/// included).
async fn rerun_delivers_exactly_once(fx: &Fixture, out: &Path) {
    let rerun = fx.run_once(out).await;
    assert!(rerun.status.success(), "{}", text(&rerun));
    let expected = CategorySpec::load().expected(&fx.emulator.committed(), ALL);
    assert_exactly(&lines(out), &expected);
}

/// An org whose rate limit gives us one request a minute (half of 2): after the first page the
/// connector waits for the reset.
async fn rate_limited_org() -> Fixture {
    let fx = Fixture::new(EmulatorConfig {
        events: 5000,
        days: 13,
        rate_limit_per_minute: Some(2),
        ..EmulatorConfig::default()
    })
    .await;
    fx.add_org().await;
    fx
}

/// The log line of a rate-limit wait (the connector's or the host's org budget's).
fn in_a_rate_limit_wait(log: &str) -> bool {
    log.contains("waiting") && log.contains("rate limit")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn between_ticks_sigterm_stops_at_once_and_the_log_tells_the_story() {
    let fx = Fixture::with_org(1500).await;
    let out = fx.path("out.jsonl");
    let sink = file_sink(&out);
    let run = daemon(&fx, "1m", &sink);
    run.wait_for("the tick that caught up", caught_up).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, status, log) = stop(run, libc::SIGTERM, "between ticks").await;
    assert!(status.success(), "{status:?}\n{log}");
    // What an operator sees at the default level: the start, the tick that fetched, the stop.
    assert!(
        log.contains("running 1 instance (org) every 1m") && log.contains(&sink[5..]),
        "{log}"
    );
    assert!(
        log.contains("fetched ") && log.contains("instance=org"),
        "{log}"
    );
    assert!(
        log.contains("SIGTERM: stopping") && log.contains("stopped cleanly in "),
        "{log}"
    );
    assert!(
        !log.contains("okta request"),
        "request lines only at -vv: {log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_request_in_flight_sigterm_drops_the_page_and_a_rerun_fetches_it() {
    let fx = Fixture::with_org(3000).await;
    // The first System Log page takes a minute to arrive.
    fx.emulator
        .push_fault(Fault::Delay(Duration::from_secs(60)));
    let out = fx.path("out.jsonl");
    let sink = file_sink(&out);
    // A request timeout longer than the delay: the request is still in flight at the signal.
    let args = [
        "run",
        "--interval",
        "1m",
        "--sink",
        &sink,
        "--retry-base",
        "50ms",
        "--request-timeout",
        "90s",
    ];
    let run = Running::start(&fx, &args, "run.log");
    let deadline = Instant::now() + Duration::from_secs(60);
    while fx.emulator.stats().log_requests == 0 {
        assert!(Instant::now() < deadline, "no request: {}", run.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, status, log) = stop(run, libc::SIGTERM, "request in flight").await;
    assert!(status.success(), "{status:?}\n{log}");
    rerun_delivers_exactly_once(&fx, &out).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_rate_limit_wait_sigint_stops_at_once() {
    let fx = rate_limited_org().await;
    let out = fx.path("out.jsonl");
    let sink = file_sink(&out);
    let mut args = vec!["run", "--interval", "5m", "--sink", &sink];
    args.extend_from_slice(&fast_with_max_wait("2m"));
    let run = Running::start(&fx, &args, "run.log");
    run.wait_for("the rate-limit wait", in_a_rate_limit_wait)
        .await;
    let (_, status, log) = stop(run, libc::SIGINT, "rate-limit wait").await;
    assert!(status.success(), "{status:?}\n{log}");
    assert!(
        log.contains("for the reset") || log.contains("window to reset"),
        "the wait is logged at the default level: {log}"
    );
    fx.emulator.set_rate_limit(None);
    rerun_delivers_exactly_once(&fx, &out).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_back_off_sigterm_stops_at_once() {
    let fx = Fixture::with_org(500).await;
    for _ in 0..3 {
        fx.emulator.push_fault(Fault::Status {
            status: 503,
            body: "{}".into(),
            headers: vec![],
        });
    }
    let out = fx.path("out.jsonl");
    let sink = file_sink(&out);
    let run = Running::start(
        &fx,
        &[
            "run",
            "--interval",
            "5m",
            "--sink",
            &sink,
            "--retry-base",
            "60s",
        ],
        "run.log",
    );
    run.wait_for("the back-off", |l| l.contains("retry 1/"))
        .await;
    let (_, status, log) = stop(run, libc::SIGTERM, "back-off").await;
    assert!(status.success(), "{status:?}\n{log}");
}

/// A receiver that accepts connections and never answers.
fn hung_receiver() -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().take(20) {
            held.push(s);
        }
    });
    (addr, t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_a_webhook_retry_sigterm_stops_within_the_grace() {
    let fx = Fixture::with_org(500).await;
    let (addr, _receiver) = hung_receiver();
    let url = format!("http://{addr}/in");
    let mut args = vec![
        "run",
        "--interval",
        "5m",
        "--sink",
        &url,
        "--webhook-timeout",
        "1s",
        "--webhook-retry-base",
        "20s",
    ];
    args.extend_from_slice(FAST);
    let run = Running::start(&fx, &args, "run.log");
    run.wait_for("a webhook retry", |l| {
        l.contains("webhook batch failed; retrying")
    })
    .await;
    let (_, status, log) = stop(run, libc::SIGTERM, "webhook retry").await;
    assert!(status.success(), "{status:?}\n{log}");
    assert!(log.contains("stay queued"), "{log}");
    // Nothing was lost: the events are still queued for the next start.
    let status = fx.cli(&["status", "--json"]).await;
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert!(doc["queued"].as_i64().unwrap() > 0, "{doc}");
}

/// A FIFO nobody reads: the file sink's write blocks once the pipe is full (a slow sink).
fn blocked_fifo(fx: &Fixture) -> PathBuf {
    let fifo = fx.path("events.fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo(3) on a path in our temp dir.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    fifo
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_blocked_sink_sigterm_abandons_the_batch_within_the_grace() {
    let fx = Fixture::with_org(3000).await;
    let fifo = blocked_fifo(&fx);
    let sink = file_sink(&fifo);
    let run = daemon(&fx, "5m", &sink);
    run.wait_for("events fetched", caught_up).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (took, status, log) = stop(run, libc::SIGTERM, "slow sink").await;
    assert!(status.success(), "{status:?}\n{log}");
    assert!(
        took >= Duration::from_millis(900),
        "it waited for the batch first: {took:?}"
    );
    assert!(log.contains("stay queued"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    let fx = Fixture::with_org(3000).await;
    let fifo = blocked_fifo(&fx);
    let sink = file_sink(&fifo);
    let run = daemon(&fx, "5m", &sink);
    run.wait_for("events fetched", caught_up).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The first signal starts the stop, which waits up to a second for the blocked batch; the
    // second ends the process before that.
    run.signal(libc::SIGTERM);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_, status, log) = stop(run, libc::SIGINT, "second signal").await;
    assert_eq!(status.code(), Some(130), "the forced exit: {log}");
    assert!(log.contains("exiting now"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_stops_at_once_and_says_so() {
    let fx = rate_limited_org().await;
    let out = fx.path("out.jsonl");
    let sink = file_sink(&out);
    let mut args = vec!["run", "--once", "--sink", &sink];
    args.extend_from_slice(&fast_with_max_wait("2m"));
    let run = Running::start(&fx, &args, "once.log");
    run.wait_for("the rate-limit wait", in_a_rate_limit_wait)
        .await;
    let (_, status, log) = stop(run, libc::SIGTERM, "run --once in a rate-limit wait").await;
    assert_eq!(status.code(), Some(130), "not caught up: {log}");
    assert!(
        log.contains("stopped by a signal before catching up"),
        "{log}"
    );
    fx.emulator.set_rate_limit(None);
    rerun_delivers_exactly_once(&fx, &out).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_stops_at_once() {
    let fx = Fixture::with_org(100).await;
    fx.emulator
        .push_fault(Fault::Delay(Duration::from_secs(60)));
    let run = Running::start(&fx, &["check", "org"], "check.log");
    let deadline = Instant::now() + Duration::from_secs(60);
    while fx.emulator.stats().log_requests == 0 {
        assert!(Instant::now() < deadline, "no request: {}", run.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, status, log) = stop(run, libc::SIGTERM, "check").await;
    assert_eq!(status.code(), Some(130), "{log}");
}
