//! `emulator`: serve the Okta emulator standalone, with a generated client key, and print the exact
//! `instance add` line to point okta-ingest at it.

use super::args::EmulatorArgs;
use super::demo::write_private;
use anyhow::Context;
use okta_emulator::{generate_client_key_pair, ClientRegistration, Emulator, EmulatorConfig};
use std::process::ExitCode;

/// Runs the emulator until Ctrl-C.
pub async fn run(args: EmulatorArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.dir)
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
    let client =
        generate_client_key_pair("0oa-okta-emulator-client").context("generating a client key")?;
    emulator.register_client(ClientRegistration {
        client_id: client.client_id.clone(),
        public_key_pem: client.public_key_pem.clone(),
        kid: Some(client.kid.clone()),
        require_dpop: false,
        scopes: vec!["okta.logs.read".into()],
        admin_role: true,
    });
    let key = dir.join("client-key.pem");
    let ca = dir.join("ca.pem");
    write_private(&key, &client.private_key_pem)?;
    write_private(&ca, &emulator.ca_pem())?;
    println!(
        "Okta emulator on https://{} with {} events over {} days",
        emulator.domain(),
        args.events,
        args.days
    );
    println!("Use it with:");
    println!(
        "  okta-ingest instance add emulator --domain {} --client-id {} --key-id {} --private-key {} --ca-file {} --backfill-days {} --events authentication,security,itp,lifecycle",
        emulator.domain(),
        client.client_id,
        client.kid,
        key.display(),
        ca.display(),
        args.days.min(14)
    );
    println!("Ctrl-C stops it.");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    emulator.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
