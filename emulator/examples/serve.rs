//! Serves an emulator until Ctrl-C, for trying clients (e.g. the Okta SDK) by hand.
//!
//! `cargo run -p okta-emulator --example serve -- [DIR] [EVENTS] [DAYS]` writes `ca.pem` and
//! `client-key.pem` to DIR (default `./emulator-out`) and prints the org URL, client id and the
//! number of committed events.

use okta_emulator::{generate_client_key_pair, Emulator, EmulatorConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| "emulator-out".into()));
    let events: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(3000);
    let days: u32 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(13);
    let emu = Emulator::start(EmulatorConfig {
        events,
        days,
        ..Default::default()
    })
    .await?;
    let keys = generate_client_key_pair("0oa-example-client")?;
    emu.register_client(keys.logs_reader());
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("ca.pem"), emu.ca_pem())?;
    std::fs::write(dir.join("client-key.pem"), &keys.private_key_pem)?;
    println!("org_url=https://{}", emu.domain());
    println!("client_id={}", keys.client_id);
    println!("kid={}", keys.kid);
    println!("committed={}", emu.committed().len());
    tokio::signal::ctrl_c().await?;
    emu.shutdown().await;
    Ok(())
}
