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

/// Runs the demo in a fresh private temporary directory (mkdtemp: unique, 0700, so nothing planted in
/// the temp directory can redirect the generated key), removed when the demo ends however it ends.
pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("okta-ingest-demo-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // tempfile leaves the mode to the umask otherwise.
        builder.permissions(std::fs::Permissions::from_mode(0o700));
    }
    let dir = builder
        .tempdir()
        .context("creating the demo's temporary directory")?;
    let result = demo(dir.path(), &args).await;
    if args.keep {
        let kept = dir.keep();
        eprintln!("demo files kept in {}", kept.display());
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
    outln!();
    outln!("okta-ingest demo summary");
    outln!(
        "  emulator events (all types):  {}",
        emulator.committed().len()
    );
    outln!("  events delivered:             {}", summary.delivered);
    for (name, n) in inst.per_category.iter() {
        outln!("    {name:<27} {n}");
    }
    outln!("    (an event in two categories counts in both, and is delivered once)");
    outln!("  pages:                        {}", inst.pages);
    outln!("  lines in events.jsonl:        {lines}");
    outln!("  seconds:                      {secs:.2}");
    outln!(
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
