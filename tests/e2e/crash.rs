//! Crashes: `okta-ingest run` killed with SIGKILL at random moments during a large backfill, and a
//! state database locked by another process. Nothing is lost, nothing is doubled.

use crate::support::*;
use okta_emulator::EmulatorConfig;
use rand::Rng;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const ALL: &[&str] = &["authentication", "security", "itp", "lifecycle"];
/// SIGKILLs in all, and how many of them must land before the backfill is delivered: fewer on
/// PostgreSQL, where each new process first waits for the killed one's shard lease to lapse.
fn kills(backend: Backend) -> (usize, usize) {
    match backend {
        Backend::Sqlite => (24, 20),
        Backend::Postgres => (12, 10),
    }
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// Starts `okta-ingest run` on the schedule (not --once), stderr appended to `log`.
fn spawn_run(fx: &Fixture, out: &Path, log: &Path) -> tokio::process::Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("--db")
        .arg(fx.db())
        .args([
            "run",
            "--interval",
            "1s",
            "--allow-short-interval",
            "--sink",
        ])
        .arg(format!("file:{}", out.display()))
        .args(FAST)
        .envs(fx.env())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .kill_on_drop(true);
    cmd.spawn().expect("binary starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_during_a_backfill_loses_and_doubles_nothing() {
    sigkill_at_random_moments_during_a_backfill_loses_and_doubles_nothing_on(Backend::Sqlite).await;
}

/// The same on a fleet's state (PostgreSQL): every page commit and acknowledgement is a fenced
/// transaction there, and each process is a new lease holder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_during_a_backfill_loses_and_doubles_nothing_on_postgres() {
    sigkill_at_random_moments_during_a_backfill_loses_and_doubles_nothing_on(Backend::Postgres)
        .await;
}

async fn sigkill_at_random_moments_during_a_backfill_loses_and_doubles_nothing_on(
    backend: Backend,
) {
    let (kill_count, mid_backfill) = kills(backend);
    // Paced by a small rate limit (6 requests per 1-second window, half of it ours: about 3 pages a
    // second) so the backfill takes many process lifetimes and the kills land mid-backfill however fast
    // the machine or okta-ingest is.
    let fx = Fixture::on(
        backend,
        EmulatorConfig {
            events: 60_000,
            days: 13,
            rate_limit_per_minute: Some(6),
            rate_limit_window: Duration::from_secs(1),
            ..EmulatorConfig::default()
        },
    )
    .await;
    fx.add_org().await;
    let expected = CategorySpec::load().expected(&fx.emulator.committed(), ALL);
    assert!(expected.len() >= 45_000, "{}", expected.len());
    let expected_bytes: u64 = expected.iter().map(|e| e.len() as u64 + 1).sum();
    let out = fx.path("events.jsonl");
    let log = fx.path("run.log");
    let started = Instant::now();
    let mut rng = rand::thread_rng();

    // Each process first compiles the component (about a second). Most kills come a random 100–800 ms
    // after the process has delivered something (so it is mid-page, mid-commit or mid-delivery), some
    // during start-up (mid-repair of a torn tail). The work time is capped from the measured throughput
    // so that all kills land before the backfill is complete, whatever the machine's speed.
    let mut kills = 0;
    let mut kills_mid_backfill = 0;
    let mut rate: Option<f64> = None; // bytes delivered per second of work
    while kills < kill_count {
        let before = file_len(&out);
        let mut child = spawn_run(&fx, &out, &log);
        let t0 = Instant::now();
        let during_startup = kills > 0 && rng.gen_bool(0.15);
        if during_startup {
            tokio::time::sleep(Duration::from_millis(rng.gen_range(10..900))).await;
        } else {
            if before >= expected_bytes {
                // Everything is delivered: nothing more will grow the file.
                child.start_kill().unwrap();
                child.wait().await.unwrap();
                break;
            }
            while file_len(&out) <= before && t0.elapsed() < Duration::from_secs(60) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert!(
                file_len(&out) > before,
                "no delivery within 60 s: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            let mut work = Duration::from_millis(rng.gen_range(100..800));
            if let Some(r) = rate.filter(|r| *r > 0.0) {
                let left = expected_bytes.saturating_sub(file_len(&out)) as f64;
                let budget = (left / (kill_count - kills + 1) as f64 / r).clamp(0.02, 0.8);
                work = work.min(Duration::from_secs_f64(budget));
            }
            let from = file_len(&out);
            tokio::time::sleep(work).await;
            let done = file_len(&out).saturating_sub(from) as f64 / work.as_secs_f64();
            rate = Some(rate.map_or(done, |r: f64| r.max(done)));
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "okta-ingest run exited by itself ({status}): {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        if file_len(&out) < expected_bytes {
            kills_mid_backfill += 1;
        }
        child.start_kill().unwrap();
        child.wait().await.unwrap();
        kills += 1;
    }
    eprintln!(
        "{kills} kills ({kills_mid_backfill} before the backfill was delivered), {} of {} bytes delivered before the final run, {:?}",
        file_len(&out),
        expected_bytes,
        started.elapsed()
    );
    assert!(
        kills_mid_backfill >= mid_backfill,
        "the backfill finished too early to be interrupted"
    );

    // A final, uninterrupted run completes the backfill and delivery.
    let run = fx.run_once(&out).await;
    assert!(run.status.success(), "{}", text(&run));
    let got = lines(&out);
    assert_exactly(&got, &expected);
    // Verbatim and whole: the file is exactly the expected lines (no torn tail, no stray bytes).
    assert_eq!(file_len(&out), expected_bytes);
    match backend {
        Backend::Sqlite => {
            let db = rusqlite::Connection::open(fx.db()).unwrap();
            let mode: String = db
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .unwrap();
            assert_eq!(mode, "wal");
            // Everything acknowledged, and acknowledged pages deleted.
            let pages: i64 = db
                .query_row("SELECT COUNT(*) FROM outbox_pages", [], |r| r.get(0))
                .unwrap();
            assert_eq!(pages, 0);
        }
        Backend::Postgres => {
            // Everything acknowledged (pages stay in their partition until it is dropped whole).
            let unacknowledged = crate::fleet::sql(
                &fx,
                "SELECT count(*) FROM outbox_pages p JOIN shard_streams s ON s.shard = p.shard
                 WHERE p.last_seq > s.acked_seq",
            );
            assert_eq!(unacknowledged, "0");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_is_a_clear_error_and_loses_nothing() {
    let fx = Fixture::new(EmulatorConfig {
        events: 2_000,
        days: 13,
        ..EmulatorConfig::default()
    })
    .await;
    fx.add_instance("org", &["--backfill-days", "14"]).await;
    let out = fx.path("events.jsonl");
    // Another process (here: this test) holds the write lock for longer than the busy timeout.
    let holder = rusqlite::Connection::open(fx.db()).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let locked = fx.run_once(&out).await;
    assert!(!locked.status.success(), "{}", text(&locked));
    let err = String::from_utf8_lossy(&locked.stderr);
    assert!(
        err.contains("is locked by another process") && err.contains("state.db"),
        "{err}"
    );
    assert!(lines(&out).is_empty());
    holder.execute_batch("COMMIT").unwrap();
    drop(holder);
    let ok = fx.run_once(&out).await;
    assert!(ok.status.success(), "{}", text(&ok));
    assert_exactly(
        &lines(&out),
        &CategorySpec::load().expected(
            &fx.emulator.committed(),
            &["authentication", "security", "itp"],
        ),
    );
}
