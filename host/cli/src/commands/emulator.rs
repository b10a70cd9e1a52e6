//! `emulator`: serve the Okta emulator standalone, with a generated client key, and print the exact
//! `instance add` line to point okta-ingest at it.

use crate::args::EmulatorArgs;
use anyhow::Context;
use okta_emulator::{Emulator, EmulatorConfig};
use std::process::ExitCode;

/// Runs the emulator until Ctrl-C.
pub async fn run(args: EmulatorArgs) -> anyhow::Result<ExitCode> {
    // The directory gets a private key: new directories are 0700, and the files in it are written
    // without following links (`write_private_file`).
    let mut mkdir = std::fs::DirBuilder::new();
    mkdir.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut mkdir, 0o700);
    mkdir
        .create(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let dir = std::path::absolute(&args.dir).unwrap_or(args.dir.clone());
    let emulator = Emulator::start(EmulatorConfig {
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], args.port)),
        events: args.events,
        days: args.days,
        rate_limit_per_minute: args.rate_limit,
        ..EmulatorConfig::default()
    })
    .await
    .with_context(|| format!("starting the emulator on 127.0.0.1:{}", args.port))?;
    let client = emulator
        .add_logs_reader("0oa-okta-emulator-client", &dir)
        .context("registering a client with the emulator")?;
    outln!(
        "Okta emulator on https://{} with {} events over {} days",
        emulator.domain(),
        args.events,
        args.days
    );
    outln!("Use it with:");
    outln!(
        "  okta-ingest instance add emulator --domain {} --client-id {} --key-id {} --private-key {} --ca-file {} --backfill-days {} --events authentication,security,itp,lifecycle",
        emulator.domain(),
        client.keys.client_id,
        client.keys.kid,
        client.key_path.display(),
        client.ca_path.display(),
        args.days.min(14)
    );
    outln!("Ctrl-C stops it.");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    emulator.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
