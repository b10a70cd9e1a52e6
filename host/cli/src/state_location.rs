//! Where the state is: a SQLite file (one host), or a PostgreSQL URL (a fleet of hosts sharing it),
//! and how this host takes part in a fleet. `--db` takes either; the commands open a host through
//! [`open_host`] and never look at which one it is.

use anyhow::Context;
use clap::Args;
use okta_ingest::state::{is_postgres_url, PostgresOptions, PostgresState};
use okta_ingest::{Host, HostConfig};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// How this host joins a fleet (used only when `--db` is a `postgres://` URL).
#[derive(Debug, Clone, Args)]
pub struct FleetArgs {
    /// Fleet mode: extra CA certificates (PEM) to trust for the PostgreSQL server's TLS certificate,
    /// besides the system's roots (a certificate is always verified when TLS is used; `sslmode=require`
    /// in the URL makes TLS mandatory).
    #[arg(
        long,
        global = true,
        env = "OKTA_INGEST_DB_CA_FILE",
        value_name = "PEM"
    )]
    pub db_ca_file: Option<PathBuf>,
    /// Fleet mode: this host's name in shard leases and `status` (default: the machine's hostname).
    /// Each process adds an incarnation of its own, so a restarted host never reuses old leases.
    #[arg(
        long,
        global = true,
        env = "OKTA_INGEST_HOST_NAME",
        value_name = "NAME"
    )]
    pub host_name: Option<String>,
    /// Fleet mode: how long a shard lease lasts without renewal (renewed every third of it). A host
    /// that dies hands its shards over after about this long; a host cut off from PostgreSQL stops
    /// polling its shards just before it.
    #[arg(long, global = true, env = "OKTA_INGEST_LEASE_TTL", value_name = "DURATION", default_value = "15s", value_parser = crate::format::parse_duration)]
    pub lease_ttl: std::time::Duration,
}

/// The fleet settings of this invocation (set once by `dispatch`).
static FLEET: OnceLock<FleetArgs> = OnceLock::new();

/// Keeps this invocation's fleet settings for [`open_host`].
pub fn set_fleet_args(args: FleetArgs) {
    let _ = FLEET.set(args);
}

/// Whether `db` names a fleet's PostgreSQL database.
pub fn is_fleet(db: &Path) -> bool {
    db.to_str().is_some_and(is_postgres_url)
}

/// The local path that stands for the state in a [`HostConfig`]: the SQLite file itself, or for a
/// fleet `okta-ingest/fleet/state` under the user's data directory (this host's compiled-component
/// cache and generated keys live beside it; the state itself is in PostgreSQL).
pub fn local_path(db: &Path) -> PathBuf {
    if !is_fleet(db) {
        return db.to_path_buf();
    }
    crate::args::default_db()
        .and_then(|p| p.parent().map(|d| d.join("fleet").join("state")))
        .unwrap_or_else(|| std::env::temp_dir().join("okta-ingest-fleet").join("state"))
}

/// A host over the state at `db` with `config` (whose paths came from [`local_path`]).
pub async fn open_host(db: &Path, config: HostConfig) -> anyhow::Result<Host> {
    if !is_fleet(db) {
        return Ok(Host::open(config)?);
    }
    let url = db
        .to_str()
        .context("the PostgreSQL URL is not valid UTF-8")?;
    let state = PostgresState::connect(postgres_options(url)?).await?;
    Ok(Host::with_state(config, Arc::new(state))?)
}

/// The PostgreSQL options for `url` with this invocation's fleet settings.
pub fn postgres_options(url: &str) -> anyhow::Result<PostgresOptions> {
    let mut options = PostgresOptions::new(url);
    if let Some(fleet) = FLEET.get() {
        options.ca_file = fleet.db_ca_file.clone();
        if let Some(name) = &fleet.host_name {
            options.host_name = name.clone();
        }
        options.lease_ttl = fleet.lease_ttl;
    }
    if options.lease_ttl < std::time::Duration::from_secs(1) {
        anyhow::bail!("--lease-ttl must be at least 1s");
    }
    Ok(options)
}
