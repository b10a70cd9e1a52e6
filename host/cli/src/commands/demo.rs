//! `demo`: the whole product on a fresh machine with nothing configured. Starts the Okta emulator on
//! loopback over HTTPS with a generated CA, registers a generated client key, adds an instance with a
//! 14-day backfill of every category, runs it until caught up, and prints a summary.

use crate::args::DemoArgs;
use crate::progress::Progress;
use anyhow::Context;
use okta_emulator::{Emulator, EmulatorConfig};
use okta_ingest::{Categories, FileSink, Host, HostConfig, NewInstance};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Runs the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let dir = std::env::temp_dir().join(format!("okta-ingest-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = demo(&dir, &args).await;
    if args.keep {
        eprintln!("demo files kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn demo(dir: &Path, args: &DemoArgs) -> anyhow::Result<ExitCode> {
    eprintln!(
        "starting the Okta emulator with {} events over 14 days ...",
        args.events
    );
    let emulator = Emulator::start(EmulatorConfig {
        events: args.events,
        days: 14,
        ..EmulatorConfig::default()
    })
    .await
    .context("starting the emulator")?;
    let client = emulator
        .add_logs_reader("0oa-okta-ingest-demo", dir)
        .context("registering a client with the emulator")?;

    let host = Host::open(HostConfig::new(dir.join("state.db")))?;
    let rec = host
        .add_instance(NewInstance {
            name: "demo".into(),
            domain: emulator.domain(),
            client_id: client.keys.client_id.clone(),
            private_key: client.key_path,
            key_id: Some(client.keys.kid.clone()),
            backfill_days: 14,
            categories: Categories::ALL,
            ca_file: Some(client.ca_path),
        })
        .await?;
    eprintln!(
        "instance demo -> https://{} (all categories, 14-day backfill)",
        rec.domain
    );
    let progress = Progress::new(&[rec]);
    host.set_commit_observer(progress.observer());
    let out: PathBuf = dir.join("events.jsonl");
    let summary = host.run_once(Box::new(FileSink::open(&out)?)).await?;
    progress.finish();
    super::run::report(&summary);
    let lines = count_lines(&out)?;
    let secs = summary.elapsed.as_secs_f64();
    let inst = summary.instances.first().cloned().unwrap_or_default();
    println!();
    println!("okta-ingest demo summary");
    println!(
        "  emulator events (all types):  {}",
        emulator.committed().len()
    );
    println!("  events delivered:             {}", summary.delivered);
    for (name, n) in inst.per_category.iter() {
        println!("    {name:<27} {n}");
    }
    println!("    (an event in two categories counts in both, and is delivered once)");
    println!("  pages:                        {}", inst.pages);
    println!("  lines in events.jsonl:        {lines}");
    println!("  seconds:                      {secs:.2}");
    println!(
        "  events/s:                     {:.0}",
        summary.delivered as f64 / secs.max(1e-9)
    );
    emulator.shutdown().await;
    if !summary.ok() || lines != summary.delivered {
        eprintln!("demo FAILED");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn count_lines(path: &Path) -> anyhow::Result<u64> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(bytes.iter().filter(|b| **b == b'\n').count() as u64)
}
