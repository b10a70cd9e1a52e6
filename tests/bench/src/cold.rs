//! Benchmark 4, cold start: `okta-ingest run --once` on one caught-up instance, process start to exit.

use super::report::{Figure, Report};
use super::{proc, setup};
use std::path::Path;

const B: &str = "4. cold start";

/// One instance caught up by an untimed first run, then `runs` timed runs.
pub async fn run(exe: &Path, dir: &Path, runs: usize, report: &mut Report) -> anyhow::Result<()> {
    let emu = setup::emulator(1_000, 1).await?;
    let client = setup::register(&emu, dir, "0oa-bench-cold")?;
    let db = dir.join("state.db");
    let out = dir.join("events.jsonl");
    setup::add_instance(&db, "cold", &emu, &client, 1).await?;
    let log = dir.join("run.log");
    let first = proc::run_async(setup::run_once_cmd(exe, &db, &out, &log, &[])?).await?;
    if first.code != 0 {
        anyhow::bail!(
            "the catch-up run failed ({}): {}",
            first.code,
            proc::tail(&log, 5)
        );
    }
    eprintln!(
        "[4] caught up ({} events); {runs} timed runs ...",
        setup::count_lines(&out)?
    );
    let (mut walls, mut cpus, mut rss) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        let r = proc::run_async(setup::run_once_cmd(exe, &db, &out, &log, &[])?).await?;
        if r.code != 0 {
            anyhow::bail!("run --once failed ({}): {}", r.code, proc::tail(&log, 5));
        }
        walls.push(r.wall.as_secs_f64() * 1000.0);
        cpus.push(r.cpu() * 1000.0);
        rss.push(r.maxrss_kib as f64 / 1024.0);
    }
    let n = walls.len();
    let min = walls.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = walls.iter().cloned().fold(0.0, f64::max);
    // The host caches compiled components beside the state file (`<db>.components`; builds before
    // issue 10 used `<db dir>/components`); measure without it too (the first start after an install or
    // upgrade).
    let cache = [dir.join("state.db.components"), dir.join("components")]
        .into_iter()
        .find(|d| d.is_dir());
    let cached = cache.is_some();
    let mut nocache = Vec::new();
    if let Some(cache) = &cache {
        for _ in 0..3 {
            std::fs::remove_dir_all(cache)?;
            let r = proc::run_async(setup::run_once_cmd(exe, &db, &out, &log, &[])?).await?;
            if r.code != 0 {
                anyhow::bail!("run --once failed ({}): {}", r.code, proc::tail(&log, 5));
            }
            nocache.push(r.wall.as_secs_f64() * 1000.0);
        }
    }
    emu.shutdown().await;
    let compile = if cached {
        "load the compiled component from the host's cache (<db>.components, filled by the untimed first run)"
    } else {
        "compile the embedded component (no compiled-component cache found)"
    };
    report.push(
        Figure::new(
            B,
            "median wall",
            setup::median(&mut walls),
            "ms",
            0,
            &format!(
                "median of {n} runs (min {min:.0}, max {max:.0} ms): spawn to exit of `run --once` on 1 caught-up instance: open DB, {compile}, new token (RSA sign), 1 empty page, exit"
            ),
        )
        .target("<= 150 ms", 150.0, false),
    );
    if !nocache.is_empty() {
        let k = nocache.len();
        report.push(
            Figure::new(
                B,
                "median wall, cache emptied",
                setup::median(&mut nocache),
                "ms",
                0,
                &format!("median of {k} runs with <db>.components deleted before each: as above but compiling the component (Cranelift) and writing the cache"),
            )
            .target("<= 150 ms", 150.0, false),
        );
    }
    report.push(Figure::new(
        B,
        "median child CPU",
        setup::median(&mut cpus),
        "ms",
        0,
        "user + sys of the child (wait4), cached runs",
    ));
    report.push(Figure::new(
        B,
        "median child peak RSS",
        setup::median(&mut rss),
        "MiB",
        1,
        "VmHWM of the child (/proc, sampled every 10 ms), cached runs",
    ));
    Ok(())
}
