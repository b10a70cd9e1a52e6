//! The PostgreSQL backend: the state of a fleet of hosts, shared through one database (FLEET.md).
//! Every trait of [`crate::state`] is implemented over a small connection pool; the page commit and
//! delivery's acknowledgements are fenced by shard leases ([`leases`]), so a host whose lease moved on
//! cannot commit, and says so.
//!
//! One file per table group, as in the SQLite backend: `instances`, `outbox` (pages, streams,
//! partitions, delivery), `versions`, `tick_log`, `caches` (nonces, compiled-component digests), plus
//! `connect` (URL, TLS, pool, errors), `schema` (migrations) and `leases`.
//!
//! Every call is bounded by a timeout: a database that stops answering (a partition black-holing the
//! connection) fails the call as [`StateError::Unavailable`] instead of hanging a tick or delivery.

mod caches;
pub(crate) mod connect;
mod import;
mod instances;
mod leases;
mod outbox;
mod schema;
mod tick_log;
mod versions;

pub use connect::is_postgres_url;

use super::{
    shard_of, Activation, ActivationKind, ArtifactLedger, ComponentHash, ComponentRecord,
    DeliveryStore, FleetCounters, FleetHost, FleetStatus, Instance, InstanceChanges, InstanceStats,
    InstanceStore, NewInstanceRecord, NonceStore, Outbox, Page, RunnerLock, Scope, ShardLease,
    StateBackend, StateError, TickLog, TickRecord, Version, VersionStore,
};
use async_trait::async_trait;
use leases::Leases;
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How long one call may take before it fails as unreachable (a page commit of a large page
/// included).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The default lease time: a dead host's shards move after about this long.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(15);

/// How often partitions are checked (created ahead, delivered ones dropped).
const PARTITION_EVERY: Duration = Duration::from_secs(60);

/// How to reach a fleet's state and how this host takes part.
#[derive(Clone)]
pub struct PostgresOptions {
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=...]` (libpq URL keywords that
    /// tokio-postgres knows; `PGPASSWORD` is used when the URL has no password).
    pub url: String,
    /// Extra CA certificates (PEM) trusted for the database's TLS certificate, besides the system's.
    pub ca_file: Option<PathBuf>,
    /// This host's name in leases and `status` (default: the machine's hostname). A process adds an
    /// incarnation of its own, so a restarted host never inherits its previous leases.
    pub host_name: String,
    /// How long a lease lasts without renewal; renewals run every third of it.
    pub lease_ttl: Duration,
    /// Connections this host keeps at most.
    pub pool_size: usize,
}

impl std::fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("url", &connect::redacted(&self.url))
            .field("ca_file", &self.ca_file)
            .field("host_name", &self.host_name)
            .field("lease_ttl", &self.lease_ttl)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

impl PostgresOptions {
    /// The defaults for `url`: the machine's hostname, a 15 s lease, 8 connections.
    pub fn new(url: impl Into<String>) -> PostgresOptions {
        PostgresOptions {
            url: url.into(),
            ca_file: None,
            host_name: crate::machine::hostname(),
            lease_ttl: DEFAULT_LEASE_TTL,
            pool_size: 8,
        }
    }
}

// Now, Unix ms, as every backend stores times.
use super::sqlite::now_as_stored;

struct Inner {
    pool: deadpool_postgres::Pool,
    /// The URL without its password.
    location: String,
    options: PostgresOptions,
    leases: Arc<Leases>,
}

/// A fleet's state in one PostgreSQL database.
#[derive(Clone)]
pub struct PostgresState {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PostgresState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresState")
            .field("location", &self.inner.location)
            .finish()
    }
}

impl PostgresState {
    /// Connects, creating or migrating the tables as needed (several hosts starting at once migrate
    /// once), and makes the outbox's partitions.
    pub async fn connect(options: PostgresOptions) -> Result<PostgresState, StateError> {
        let location = connect::redacted(&options.url);
        let pool = connect::pool(
            &options.url,
            options.ca_file.as_deref(),
            options.pool_size,
            options.lease_ttl,
        )?;
        let leases = Arc::new(Leases::new(&options.host_name, options.lease_ttl));
        let state = PostgresState {
            inner: Arc::new(Inner {
                pool,
                location,
                options,
                leases,
            }),
        };
        state
            .timed(async {
                let mut client = state.client().await?;
                schema::migrate(&mut client, &state.inner.location).await
            })
            .await
            .map_err(|e| match e {
                StateError::Unavailable { location, source } => StateError::Open {
                    path: location,
                    source,
                },
                e => e,
            })?;
        state.timed(state.ensure_partitions()).await?;
        Ok(state)
    }

    /// A pooled connection.
    async fn client(&self) -> Result<deadpool_postgres::Object, StateError> {
        self.inner
            .pool
            .get()
            .await
            .map_err(|e| connect::classify_pool(&self.inner.location, e))
    }

    /// `call`, failing as unreachable when it takes longer than [`CALL_TIMEOUT`].
    async fn timed<T>(
        &self,
        call: impl Future<Output = Result<T, StateError>>,
    ) -> Result<T, StateError> {
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(r) => r,
            Err(_) => Err(StateError::Unavailable {
                location: self.inner.location.clone(),
                source: format!("no answer within {}s", CALL_TIMEOUT.as_secs()).into(),
            }),
        }
    }

    /// This process's identity in the fleet (its name and incarnation).
    pub fn host_id(&self) -> &str {
        &self.inner.leases.me
    }

    /// The lease loop: a round every TTL/3 until `stop` fires, then leave the fleet.
    async fn lease_loop(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let leases = self.inner.leases.clone();
        let every = leases.ttl / 3;
        let mut failing: Option<String> = None;
        let mut partitions_due = tokio::time::Instant::now() + PARTITION_EVERY;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => break,
            }
            let round =
                tokio::time::timeout(every, leases.round(&self.inner.pool, &self.inner.location))
                    .await
                    .unwrap_or_else(|_| {
                        Err(StateError::Unavailable {
                            location: self.inner.location.clone(),
                            source: "the lease round got no answer in time".into(),
                        })
                    });
            match round {
                Ok(_) => {
                    if let Some(e) = failing.take() {
                        tracing::info!("the state database answers again (after: {e}); leases renewed, polling resumes");
                    }
                }
                Err(e) => {
                    leases.round_failed();
                    let msg = e.to_string();
                    if failing.as_deref() != Some(&msg) {
                        tracing::error!("lease round failed: {msg}; this host stops ticking its shards once their leases' local deadlines pass, and resumes by itself");
                    }
                    failing = Some(msg);
                }
            }
            if failing.is_none() && tokio::time::Instant::now() >= partitions_due {
                partitions_due = tokio::time::Instant::now() + PARTITION_EVERY;
                if let Err(e) = self.timed(self.ensure_partitions()).await {
                    tracing::warn!("outbox partition upkeep failed: {e}; retried in a minute");
                }
            }
        }
        leases.leave(&self.inner.pool, &self.inner.location).await;
    }
}

/// Ends the lease loop (which then gives the leases back) when the runner's claim is dropped.
struct LeaveOnDrop(tokio::sync::watch::Sender<bool>);

impl Drop for LeaveOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(true);
    }
}

#[async_trait]
impl InstanceStore for PostgresState {
    async fn add_instance(&self, new: &NewInstanceRecord) -> Result<Instance, StateError> {
        self.timed(self.pg_add_instance(new)).await
    }
    async fn edit_instance(
        &self,
        name: &str,
        changes: &InstanceChanges,
    ) -> Result<Instance, StateError> {
        self.timed(self.pg_edit_instance(name, changes)).await
    }
    async fn remove_instance(&self, name: &str) -> Result<(), StateError> {
        self.timed(self.pg_remove_instance(name)).await
    }
    async fn list_instances(&self) -> Result<Vec<Instance>, StateError> {
        self.timed(self.pg_list_instances()).await
    }
    async fn instance(&self, name: &str) -> Result<Instance, StateError> {
        self.timed(self.pg_instance(name)).await
    }
    async fn instance_by_id(&self, id: i64) -> Result<Option<Instance>, StateError> {
        self.timed(self.pg_instance_by_id(id)).await
    }
    async fn cursor(&self, instance_id: i64) -> Result<Option<Vec<u8>>, StateError> {
        self.timed(self.pg_cursor(instance_id)).await
    }
}

#[async_trait]
impl Outbox for PostgresState {
    async fn commit_page(&self, page: Page) -> Result<(), StateError> {
        if let Some(delay) = test_commit_delay() {
            // Test-only: widens the window between fetching a page and committing it, so the chaos
            // test's zombie reliably holds a fetched page across a takeover.
            tokio::time::sleep(delay).await;
        }
        self.timed(self.pg_commit_page(&page)).await
    }
    async fn outbox_depth(&self) -> Result<i64, StateError> {
        self.timed(self.pg_outbox_depth()).await
    }
}

/// `OKTA_INGEST_TEST_COMMIT_DELAY_MS`: a pause before every page commit, for the fleet's chaos test.
fn test_commit_delay() -> Option<Duration> {
    static DELAY: std::sync::OnceLock<Option<Duration>> = std::sync::OnceLock::new();
    *DELAY.get_or_init(|| {
        std::env::var("OKTA_INGEST_TEST_COMMIT_DELAY_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis)
    })
}

#[async_trait]
impl VersionStore for PostgresState {
    async fn add_component(
        &self,
        component: &ComponentRecord,
        bytes: &[u8],
    ) -> Result<(), StateError> {
        self.timed(self.pg_add_component(component, bytes)).await
    }
    async fn component_bytes(&self, hash: &ComponentHash) -> Result<Option<Vec<u8>>, StateError> {
        self.timed(self.pg_component_bytes(hash)).await
    }
    async fn components(&self) -> Result<Vec<ComponentRecord>, StateError> {
        self.timed(self.pg_components()).await
    }
    async fn component(&self, hash: &ComponentHash) -> Result<Option<ComponentRecord>, StateError> {
        self.timed(self.pg_component(hash)).await
    }
    async fn append_activation(
        &self,
        scope: Scope,
        version: &Version,
        kind: ActivationKind,
        reason: &str,
    ) -> Result<(), StateError> {
        self.timed(self.pg_append_activation(scope, version, kind, reason))
            .await
    }
    async fn activations(&self, scope: Scope) -> Result<Vec<Activation>, StateError> {
        self.timed(self.pg_activations(scope)).await
    }
    async fn newest_activation(&self, scope: Scope) -> Result<Option<Activation>, StateError> {
        self.timed(self.pg_newest_activation(scope)).await
    }
    async fn activation_generation(&self) -> Result<i64, StateError> {
        self.timed(self.pg_activation_generation()).await
    }
    async fn record_failure(&self, instance_id: i64, version: &Version) -> Result<u32, StateError> {
        self.timed(self.pg_record_failure(instance_id, version))
            .await
    }
    async fn clear_failures(&self, instance_id: i64) -> Result<(), StateError> {
        self.timed(self.pg_clear_failures(instance_id)).await
    }
}

#[async_trait]
impl TickLog for PostgresState {
    async fn record_ticks(&self, ticks: &[(i64, TickRecord)]) -> Result<(), StateError> {
        self.timed(self.pg_record_ticks(ticks)).await
    }
    async fn instance_stats(
        &self,
        since_ms: i64,
    ) -> Result<HashMap<i64, InstanceStats>, StateError> {
        self.timed(self.pg_instance_stats(since_ms)).await
    }
    async fn events_per_hour(
        &self,
        instance_id: i64,
        since_ms: i64,
    ) -> Result<Vec<(i64, u64)>, StateError> {
        self.timed(self.pg_events_per_hour(instance_id, since_ms))
            .await
    }
}

#[async_trait]
impl ArtifactLedger for PostgresState {
    async fn artifact_digest(&self, name: &str) -> Result<Option<String>, StateError> {
        self.timed(self.pg_artifact_digest(name)).await
    }
    async fn record_artifact(&self, name: &str, sha256: &str) -> Result<(), StateError> {
        self.timed(self.pg_record_artifact(name, sha256)).await
    }
}

#[async_trait]
impl NonceStore for PostgresState {
    async fn dpop_nonce(&self, domain: &str) -> Result<Option<(String, i64)>, StateError> {
        self.timed(self.pg_dpop_nonce(domain)).await
    }
    async fn keep_dpop_nonce(
        &self,
        domain: &str,
        nonce: &str,
        received_ms: i64,
    ) -> Result<(), StateError> {
        self.timed(self.pg_keep_dpop_nonce(domain, nonce, received_ms))
            .await
    }
}

#[async_trait]
impl StateBackend for PostgresState {
    async fn delivery(&self) -> Result<Box<dyn DeliveryStore>, StateError> {
        Ok(Box::new(outbox::PgDelivery {
            state: self.clone(),
        }))
    }

    /// Joins the fleet: lease rounds run until this host holds its fair share, or for at most one
    /// lease time and a third (so a `run --once` started after a host died finds that host's shards
    /// once their leases expire, and a host joining a live fleet gets the shards the others give
    /// back); then the lease loop runs until the claim is dropped.
    async fn claim_runner(&self) -> Result<RunnerLock, StateError> {
        let leases = &self.inner.leases;
        let give_up = tokio::time::Instant::now() + leases.ttl + leases.ttl / 3;
        loop {
            let (held, share) = self
                .timed(leases.round(&self.inner.pool, &self.inner.location))
                .await?;
            if held >= share || tokio::time::Instant::now() >= give_up {
                break;
            }
            tracing::debug!(held, share, "waiting for shard leases to come free");
            tokio::time::sleep(leases.ttl / 6).await;
        }
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(self.clone().lease_loop(rx));
        tracing::info!(
            host = %leases.me,
            ttl_s = leases.ttl.as_secs_f64(),
            shards = leases.shards().len(),
            "joined the fleet on {}",
            self.inner.location
        );
        Ok(RunnerLock::new(LeaveOnDrop(tx)))
    }

    fn location(&self) -> String {
        self.inner.location.clone()
    }

    async fn schedulable(&self) -> Result<std::collections::HashSet<i64>, StateError> {
        let held = self.inner.leases.shard_ids();
        if held.is_empty() {
            return Ok(Default::default());
        }
        self.timed(async {
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT id FROM instances WHERE NOT paused AND shard = ANY($1)",
                    &[&held],
                )
                .await
                .map_err(|e| self.db(e))?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
        .await
    }

    fn lease_ttl(&self) -> Option<Duration> {
        Some(self.inner.leases.ttl)
    }

    fn holds(&self, instance: &Instance) -> bool {
        self.inner
            .leases
            .epoch(shard_of(&instance.domain))
            .is_some()
    }

    async fn fleet_status(&self) -> Result<Option<FleetStatus>, StateError> {
        self.timed(async {
            let client = self.client().await?;
            let hosts = client
                .query(
                    "SELECT h.id, h.name, h.pid,
                        (extract(epoch from (now() - h.heartbeat_at)) * 1000)::bigint,
                        h.expires_at > now(),
                        (SELECT count(*) FROM shard_leases l WHERE l.owner = h.id AND l.expires_at > now())
                     FROM hosts h ORDER BY h.heartbeat_at DESC",
                    &[],
                )
                .await
                .map_err(|e| self.db(e))?;
            let leases = client
                .query(
                    "SELECT shard, owner, epoch,
                        CASE WHEN isfinite(expires_at)
                            THEN (extract(epoch from (expires_at - now())) * 1000)::bigint
                            ELSE -1 END
                     FROM shard_leases WHERE owner IS NOT NULL OR epoch > 0 ORDER BY shard",
                    &[],
                )
                .await
                .map_err(|e| self.db(e))?;
            let joined = self.inner.leases.counters().claims > 0 || !self.inner.leases.shards().is_empty();
            Ok(Some(FleetStatus {
                this_host: joined.then(|| self.inner.leases.me.clone()),
                hosts: hosts
                    .iter()
                    .map(|r| FleetHost {
                        id: r.get(0),
                        name: r.get(1),
                        pid: r.get(2),
                        heartbeat_age_ms: r.get(3),
                        alive: r.get(4),
                        shards: u32::try_from(r.get::<_, i64>(5)).unwrap_or(0),
                    })
                    .collect(),
                leases: leases
                    .iter()
                    .map(|r| ShardLease {
                        shard: r.get::<_, i32>(0) as u32,
                        owner: r.get(1),
                        epoch: r.get(2),
                        expires_in_ms: r.get(3),
                    })
                    .collect(),
                lease_ttl_ms: Some(i64::try_from(self.inner.leases.ttl.as_millis()).unwrap_or(0)),
            }))
        })
        .await
    }

    fn fleet_counters(&self) -> Option<FleetCounters> {
        Some(self.inner.leases.counters())
    }

    async fn leave(&self) {
        self.inner
            .leases
            .leave(&self.inner.pool, &self.inner.location)
            .await;
    }
}

#[cfg(test)]
mod tests;
