//! Benchmark 1, backfill throughput: `okta-ingest run --once` as a child process against the
//! in-process emulator.

use super::report::{Figure, Report};
use super::{proc, setup};
use okta_emulator::Emulator;
use std::path::Path;
use std::time::Instant;

const B: &str = "1. backfill";

/// What benchmark 6 reuses: the same emulator and data.
pub struct Backfill {
    /// The emulator (still running).
    pub emulator: Emulator,
    /// A registered client.
    pub client: setup::Client,
    /// Events the emulator holds (all types).
    pub total: usize,
    /// Events okta-ingest selects with every category.
    pub selected: usize,
    /// okta-ingest's events/s, if measured.
    pub events_per_s: Option<f64>,
}

/// Generates `n` events over 13 days (all inside the 14-day backfill window) and measures the child.
pub async fn run(
    exe: &Path,
    dir: &Path,
    n: usize,
    report: &mut Report,
    measure: bool,
) -> anyhow::Result<Backfill> {
    eprintln!("[1] generating {n} events over 13 days in the emulator ...");
    let t = Instant::now();
    let emulator = setup::emulator(n, 13).await?;
    let (total, selected) = setup::selected_count(&emulator);
    eprintln!(
        "[1] generated {total} events ({selected} in the four categories) in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let client = setup::register(&emulator, dir, "0oa-bench-backfill")?;
    let mut bf = Backfill {
        emulator,
        client,
        total,
        selected,
        events_per_s: None,
    };
    if !measure {
        return Ok(bf);
    }
    let db = dir.join("state.db");
    let out = dir.join("events.jsonl");
    setup::add_instance(&db, "bench", &bf.emulator, &bf.client, 14).await?;
    let log = dir.join("run.log");
    let cmd = setup::run_once_cmd(exe, &db, &out, &log, &["--rate-limit-share", "100"])?;
    eprintln!("[1] okta-ingest run --once (child process) ...");
    let cpu_before = proc::self_cpu();
    let r = proc::run_async(cmd).await?;
    let emu_cpu = proc::self_cpu() - cpu_before;
    let delivered = setup::count_lines(&out).unwrap_or(0);
    if r.code != 0 {
        anyhow::bail!("run --once exited with {}: {}", r.code, proc::tail(&log, 5));
    }
    let wall = r.wall.as_secs_f64();
    let eps = delivered as f64 / wall;
    let what = format!(
        "{} generated, {selected} selected (all 4 categories), 14-day backfill, file sink",
        bf.total
    );
    let check = if delivered as usize == selected {
        format!("{delivered} = expected {selected}")
    } else {
        format!("MISMATCH: {delivered} lines, expected {selected}")
    };
    report.push(Figure::text(B, "events delivered", &check, &what));
    report.push(Figure::new(
        B,
        "wall time",
        wall,
        "s",
        2,
        "child process start to exit: component compile, token, paging over HTTPS, SQLite commits (fsync), file sink writes + fsync",
    ));
    report.push(
        Figure::new(
            B,
            "throughput",
            eps,
            "events/s",
            0,
            "events delivered / wall time above",
        )
        .target(">= 50,000 events/s", 50_000.0, true),
    );
    report.push(Figure::new(
        B,
        "child CPU",
        r.cpu() / delivered.max(1) as f64 * 1e6,
        "CPU s per million events",
        1,
        &format!(
            "user {:.2} s + sys {:.2} s of the okta-ingest child (wait4); the in-process emulator used another {:.2} CPU s, not counted",
            r.user, r.sys, emu_cpu
        ),
    ));
    report.push(Figure::new(
        B,
        "child peak RSS",
        r.maxrss_kib as f64 / 1024.0,
        "MiB",
        1,
        &format!(
            "VmHWM of the okta-ingest child (/proc, sampled every 10 ms); wait4's ru_maxrss said {:.0} MiB, which Linux inherits from this bench process over fork + exec",
            r.ru_maxrss_kib as f64 / 1024.0
        ),
    ));
    bf.events_per_s = Some(eps);
    Ok(bf)
}
