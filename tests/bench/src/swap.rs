//! Benchmark 5, live swap: `component activate` to the first tick on the new version, while
//! `okta-ingest run` keeps ticking one caught-up instance.

use super::report::{Figure, Report};
use super::setup;
use anyhow::Context;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

const B: &str = "5. live swap";
/// Time between ticks of the running instance; the swap can only show at a tick.
const INTERVAL_MS: u64 = 10;

/// Waits for a `tick done` log line from `connector=version`; returns when it was read.
async fn first_tick_on(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
    version: &str,
) -> anyhow::Result<Instant> {
    let wanted = format!("connector={version} ");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = tokio::time::timeout(left, lines.next_line())
            .await
            .context("no tick on the new version within 30 s")??
            .context("the run exited")?;
        if line.contains("tick done") && line.contains(&wanted) {
            return Ok(Instant::now());
        }
    }
}

/// Swaps between the embedded connector and a second build `rounds` times each way.
pub async fn run(exe: &Path, dir: &Path, rounds: usize, report: &mut Report) -> anyhow::Result<()> {
    // A second build of the connector that reports another version (tests/artifacts).
    let (other, other_version) = (
        okta_ingest_test_artifacts::SWAP,
        okta_ingest_test_artifacts::SWAP_VERSION,
    );
    let embedded = env!("CARGO_PKG_VERSION");
    let emu = setup::emulator(200, 1).await?;
    let client = setup::register(&emu, dir, "0oa-bench-swap")?;
    let db = dir.join("state.db");
    setup::add_instance(&db, "swap", &emu, &client, 1).await?;
    let cli = |args: &[&str]| {
        let mut c = std::process::Command::new(exe);
        c.arg("--db")
            .arg(&db)
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        c
    };
    let added = cli(&["component", "add", other]).output()?;
    anyhow::ensure!(
        added.status.success(),
        "component add failed: {}",
        String::from_utf8_lossy(&added.stderr)
    );
    let out = dir.join("events.jsonl");
    let mut child = tokio::process::Command::new(exe)
        .arg("--db")
        .arg(&db)
        .args([
            "-v",
            "run",
            "--interval",
            &format!("{INTERVAL_MS}ms"),
            "--allow-short-interval",
            "--sink",
        ])
        .arg(format!("file:{}", out.display()))
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stderr = child.stderr.take().context("no stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    first_tick_on(&mut lines, embedded)
        .await
        .context("the run never ticked")?;
    let mut swaps = Vec::new();
    for round in 0..rounds.max(1) * 2 {
        let to = if round % 2 == 0 {
            other_version
        } else {
            "embedded"
        };
        let shown = if round % 2 == 0 {
            other_version
        } else {
            embedded
        };
        let act = tokio::task::spawn_blocking({
            let mut c = cli(&["component", "activate", to]);
            move || c.output()
        })
        .await??;
        // The activation is committed when the command exits: time from there.
        let activated = Instant::now();
        anyhow::ensure!(
            act.status.success(),
            "activate failed: {}",
            String::from_utf8_lossy(&act.stderr)
        );
        let ticked = first_tick_on(&mut lines, shown).await?;
        swaps.push(ticked.duration_since(activated).as_secs_f64() * 1000.0);
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
    emu.shutdown().await;
    let n = swaps.len();
    let max = swaps.iter().cloned().fold(0.0, f64::max);
    let med = setup::median(&mut swaps);
    report.push(
        Figure::new(
            B,
            "activate -> first tick on the new version (median)",
            med,
            "ms",
            1,
            &format!(
                "median of {n} swaps between the embedded connector and a second build ({other_version}), max {max:.1} ms; \
                 `run --interval {INTERVAL_MS}ms` on one caught-up instance, so this includes up to {INTERVAL_MS} ms until \
                 the instance's next tick, the version lookup, loading the stored component (precompiled at `component add`; \
                 cached after the first swap), one idle tick (HTTPS request, empty page) and reading the log line"
            ),
        )
        .target("<= 50 ms + time to the next tick", 50.0 + INTERVAL_MS as f64, false),
    );
    Ok(())
}
