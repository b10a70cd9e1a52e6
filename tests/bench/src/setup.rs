//! Shared setup: the in-process emulator, a registered client with its key and CA files, instances.

use anyhow::Context;
use okta_emulator::{Emulator, EmulatorConfig};
use okta_ingest::{Categories, Host, HostConfig, NewInstance};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub use okta_ingest_model::time::now_ms;

/// An emulator without a System Log rate limit, with `events` generated over `days` days.
pub async fn emulator(events: usize, days: u32) -> anyhow::Result<Emulator> {
    Emulator::start(EmulatorConfig {
        events,
        days,
        rate_limit_per_minute: None,
        ..EmulatorConfig::default()
    })
    .await
    .context("starting the emulator")
}

/// A client registered with the emulator, its key and the emulator's CA written to `dir`.
#[derive(Debug, Clone)]
pub struct Client {
    /// Client id.
    pub client_id: String,
    /// Registered kid.
    pub kid: String,
    /// Private key PEM file.
    pub key_path: PathBuf,
    /// Emulator CA PEM file.
    pub ca_path: PathBuf,
}

/// Registers a fresh client (key pair generated here), its key and the CA written to `dir`.
pub fn register(emu: &Emulator, dir: &Path, client_id: &str) -> anyhow::Result<Client> {
    let r = emu
        .add_logs_reader(client_id, dir)
        .context("registering a client with the emulator")?;
    Ok(Client {
        client_id: r.keys.client_id,
        kid: r.keys.kid,
        key_path: r.key_path,
        ca_path: r.ca_path,
    })
}

/// [`register`], for an app with "Require Demonstrating Proof of Possession (DPoP)" checked.
pub fn register_requiring_dpop(
    emu: &Emulator,
    dir: &Path,
    client_id: &str,
) -> anyhow::Result<Client> {
    let r = emu
        .add_logs_reader(client_id, dir)
        .context("registering a client with the emulator")?;
    emu.register_client(okta_emulator::ClientRegistration {
        require_dpop: true,
        ..r.keys.logs_reader()
    });
    Ok(Client {
        client_id: r.keys.client_id,
        kid: r.keys.kid,
        key_path: r.key_path,
        ca_path: r.ca_path,
    })
}

/// Adds one instance (all categories) through the library API, as `instance add` would; `db` is a
/// SQLite file or a PostgreSQL URL.
pub async fn add_instance(
    db: &Path,
    name: &str,
    emu: &Emulator,
    client: &Client,
    backfill_days: u8,
) -> anyhow::Result<()> {
    let host = match db
        .to_str()
        .filter(|d| okta_ingest::state::is_postgres_url(d))
    {
        Some(url) => {
            let state = okta_ingest::state::PostgresState::connect(
                okta_ingest::state::PostgresOptions::new(url),
            )
            .await?;
            Host::with_state(HostConfig::new(db), std::sync::Arc::new(state))?
        }
        None => Host::open(HostConfig::new(db))?,
    };
    host.add_instance(NewInstance {
        exclusions: Default::default(),
        redaction: Default::default(),
        name: name.into(),
        domain: emu.domain(),
        client_id: client.client_id.clone(),
        private_key: client.key_path.clone(),
        key_id: Some(client.kid.clone()),
        backfill_days,
        categories: Categories::ALL,
        ca_file: Some(client.ca_path.clone()),
        dpop: okta_ingest::DpopMode::Auto,
        silence_after: Some(okta_ingest::DEFAULT_SILENCE_AFTER),
    })
    .await?;
    Ok(())
}

/// Committed events, and how many of them the connector selects with every category.
pub fn selected_count(emu: &Emulator) -> (usize, usize) {
    use okta_ingest_connector::categories::classify;
    let all = emu.committed();
    let selected = all
        .iter()
        .filter(|e| !classify(&e.event_type, Categories::ALL).is_empty())
        .count();
    (all.len(), selected)
}

/// Lines in a file (events in a file sink).
pub fn count_lines(path: &Path) -> anyhow::Result<u64> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            return Ok(n);
        }
        n += buf[..k].iter().filter(|b| **b == b'\n').count() as u64;
    }
}

/// `okta-ingest --db DB run --once --sink file:OUT [extra]`, stdout/stderr to `log`.
pub fn run_once_cmd(
    exe: &Path,
    db: &Path,
    out: &Path,
    log: &Path,
    extra: &[&str],
) -> anyhow::Result<Command> {
    let mut cmd = Command::new(exe);
    cmd.arg("--db")
        .arg(db)
        .args(["run", "--once", "--sink"])
        .arg(format!("file:{}", out.display()))
        .args(extra)
        .env_remove("RUST_LOG")
        .env_remove("OKTA_INGEST_DB")
        .stdin(Stdio::null());
    let f = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    cmd.stdout(f.try_clone()?).stderr(f);
    Ok(cmd)
}

/// Median of a non-empty list.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
