//! `demo`: the whole product on a fresh machine with nothing configured. Starts the Okta emulator on
//! loopback over HTTPS with a generated CA, registers a generated client key, adds an instance with a
//! 14-day backfill of every category, runs it until caught up, and prints a summary.

use super::args::DemoArgs;
use super::progress::Progress;
use anyhow::Context;
use okta_emulator::{
    generate_client_key_pair, ClientKeyPair, ClientRegistration, Emulator, EmulatorConfig,
};
use okta_ingest::sink::FileSink;
use okta_ingest::{Categories, Host, HostConfig, NewInstance};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Writes `text` to `path` with mode 0600 (it may be a private key).
pub(crate) fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Registers a generated client key pair with `emulator` (with its kid, the logs scope and an admin
/// role) and writes its private key and the emulator's CA into `dir`; returns the pair and both paths.
pub(crate) fn register_client(
    emulator: &Emulator,
    client_id: &str,
    dir: &Path,
) -> anyhow::Result<(ClientKeyPair, PathBuf, PathBuf)> {
    let client = generate_client_key_pair(client_id).context("generating a client key")?;
    emulator.register_client(ClientRegistration {
        client_id: client.client_id.clone(),
        public_key_pem: client.public_key_pem.clone(),
        kid: Some(client.kid.clone()),
        require_dpop: false,
        scopes: vec!["okta.logs.read".into()],
        admin_role: true,
    });
    let key_path = dir.join("client-key.pem");
    let ca_path = dir.join("ca.pem");
    write_private(&key_path, &client.private_key_pem)?;
    write_private(&ca_path, &emulator.ca_pem())?;
    Ok((client, key_path, ca_path))
}

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
    let (client, key_path, ca_path) = register_client(&emulator, "0oa-okta-ingest-demo", dir)?;

    let host = Host::open(HostConfig::new(dir.join("state.db")))?;
    let all = Categories::ALL
        .iter()
        .fold(Categories::default(), |a, (_, c)| a | *c);
    let rec = host.add_instance(NewInstance {
        name: "demo".into(),
        domain: emulator.domain(),
        client_id: client.client_id.clone(),
        private_key: key_path,
        key_id: Some(client.kid.clone()),
        backfill_days: 14,
        categories: all,
        ca_file: Some(ca_path),
    })?;
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
    for (i, (name, _)) in Categories::ALL.iter().enumerate() {
        println!("    {name:<27} {}", inst.per_category[i]);
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
