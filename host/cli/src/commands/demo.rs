//! `demo`: the whole product on a fresh machine with nothing configured. Starts the Okta emulator on
//! loopback over HTTPS with a generated CA, registers a generated client key for an app that requires
//! DPoP (what Okta's admin console creates by default), adds an instance with a 14-day backfill of every
//! category, runs it until caught up, and prints a summary.

use crate::args::DemoArgs;
use crate::progress::Progress;
use anyhow::Context;
use okta_emulator::{ClientRegistration, Emulator, EmulatorConfig};
use okta_ingest::{Categories, FileSink, Host, HostConfig, NewInstance, Sink};
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
    // New API Services apps have "Require Demonstrating Proof of Possession (DPoP)" checked.
    emulator.register_client(ClientRegistration {
        require_dpop: true,
        ..client.keys.logs_reader()
    });

    let host = Host::open(HostConfig::new(dir.join("state.db")))?;
    let rec = host
        .add_instance(NewInstance {
            exclusions: Default::default(),
            redaction: Default::default(),
            name: "demo".into(),
            domain: emulator.domain(),
            client_id: client.keys.client_id.clone(),
            private_key: client.key_path,
            key_id: Some(client.keys.kid.clone()),
            backfill_days: 14,
            categories: Categories::ALL,
            ca_file: Some(client.ca_path),
            dpop: okta_ingest::DpopMode::Auto,
            silence_after: Some(okta_ingest::DEFAULT_SILENCE_AFTER),
        })
        .await?;
    eprintln!(
        "instance demo -> https://{} (all categories, 14-day backfill, an app that requires DPoP)",
        rec.domain
    );
    let progress = Progress::new(&[rec]);
    host.set_commit_observer(progress.observer());
    let out: PathBuf = dir.join("events.jsonl");
    // The demo's own file, or the sink asked for (opened before anything runs, so a bad one fails now).
    let sink: Box<dyn Sink> = match &args.sink {
        None => Box::new(FileSink::open(&out)?),
        Some(spec) => crate::sink_spec::open(spec, &args.sinks.options())?.sink,
    };
    let sink_id = sink.id();
    if args.sink.is_some() {
        eprintln!("delivering to {sink_id}");
    }
    // Ctrl-C stops the demo within about a second, and its directory is still removed.
    let shutdown = crate::signals::Shutdown::install();
    let summary = host.run_once_until(sink, shutdown.requested()).await?;
    progress.finish();
    super::run::report(&summary);
    if summary.stopped() {
        emulator.shutdown().await;
        eprintln!("demo stopped");
        return Ok(crate::signals::interrupted());
    }
    // With the demo's file the summary checks it line by line; another sink's receiver is the user's.
    let lines = match args.sink {
        None => Some(count_lines(&out)?),
        Some(_) => None,
    };
    let secs = summary.elapsed.as_secs_f64();
    let inst = summary.instances.first().cloned().unwrap_or_default();
    outln!();
    outln!("okta-ingest demo summary");
    outln!(
        "  emulator events (all types):  {}",
        emulator.committed().len()
    );
    outln!("  events delivered:             {}", summary.delivered);
    outln!("    (fewer: about a fifth of the emulator's event types are in no category, so never selected)");
    for (name, n) in inst.per_category.iter() {
        outln!("    {name:<27} {n}");
    }
    outln!("    (an event in two categories counts in both, and is delivered once)");
    outln!("  pages:                        {}", inst.pages);
    let stats = emulator.stats();
    outln!(
        "  tokens:                       {} DPoP-bound ({}), {} Bearer; {} nonce challenge(s), {} replayed proof(s)",
        stats.dpop_tokens_issued,
        okta_ingest::DPOP_PROOF_ALG,
        stats.bearer_tokens_issued,
        stats.dpop_nonce_challenges,
        stats.replayed_proofs
    );
    match lines {
        Some(lines) => outln!("  lines in events.jsonl:        {lines}"),
        None => outln!("  sink:                         {sink_id}"),
    }
    outln!("  seconds:                      {secs:.2}");
    outln!(
        "  events/s:                     {:.0}",
        summary.delivered as f64 / secs.max(1e-9)
    );
    emulator.shutdown().await;
    if !summary.ok() || lines.is_some_and(|l| l != summary.delivered) {
        eprintln!("demo FAILED");
        return Ok(ExitCode::FAILURE);
    }
    what_next()?;
    Ok(ExitCode::SUCCESS)
}

/// Where to go from here: the emulator on its own, then a real Okta org.
fn what_next() -> std::io::Result<()> {
    outln!();
    outln!("What next");
    outln!("  The emulator on its own (its key and CA stay in the directory across restarts):");
    outln!("    okta-ingest emulator --dir ./okta-emulator --live 60");
    outln!(
        "    then run the `instance add`, `check` and `run` lines it prints (their --db is a state"
    );
    outln!("    file in that directory, not your default one).");
    outln!("  A real Okta org, guided and tested step by step:");
    outln!(
        "    okta-ingest ui       (a local web console; or `okta-ingest setup` in the terminal)"
    );
    outln!("  A real Okta org, by hand:");
    outln!("    1. Admin console: create an API Services app; Client Credentials: Public key / Private key,");
    outln!("       add your public key (`okta-ingest keygen` makes the pair and prints the JWK to paste).");
    outln!("       \"Require Demonstrating Proof of Possession (DPoP)\" may stay checked: okta-ingest binds");
    outln!("       its tokens with a key of its own (--dpop auto, the default).");
    outln!(
        "    2. Okta API Scopes: grant okta.logs.read. Admin roles: assign Report Administrator."
    );
    outln!("    3. okta-ingest instance add prod --domain company.okta.com --client-id 0oa... \\");
    outln!("         --private-key ./okta-app-key.pem --backfill-days 7 --events authentication,security,itp");
    outln!("       okta-ingest check prod");
    outln!("       okta-ingest run --sink file:/var/log/okta/events.jsonl");
    outln!("  README.md has the details; every command has --help.");
    Ok(())
}

fn count_lines(path: &Path) -> anyhow::Result<u64> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(bytes.iter().filter(|b| **b == b'\n').count() as u64)
}
