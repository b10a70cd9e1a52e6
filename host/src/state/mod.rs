//! Durable state, behind traits a second backend (e.g. a network database shared by a fleet) can
//! implement without changes to the runtime, the scheduler or delivery. [`SqliteState`] is the
//! embedded default.
//!
//! The traits follow the host's capabilities:
//! - [`InstanceStore`]: instances and their cursors.
//! - [`Outbox`]: a page's events and its cursor, committed together (the runtime's only way in).
//! - [`DeliveryStore`]: what delivery has acknowledged, and the write a sink recorded before making it.
//! - [`VersionStore`]: stored connector versions, the activation history, failure counts.
//! - [`TickLog`]: each tick's outcome and the figures `status` shows.
//! - [`ArtifactLedger`]: digests of the compiled components the host cached, checked before loading.
//! - [`NonceStore`]: the newest DPoP nonce of each Okta domain's token endpoint.
//!
//! A state has one runner at a time ([`StateBackend::claim_runner`]): two processes ticking one state
//! would both fetch from the same cursor and drain the same outbox.
//!
//! Every method is async and fallible. A backend that fences writers (a lease epoch) reports a lost
//! lease as a [`StateError`] from the call it refuses; callers already treat any error as "nothing of
//! this call happened". The SQLite backend runs its calls inline: they are short and local, and the
//! ones that sync the disk are made from threads that may block (the runtime calls
//! [`Outbox::commit_page`] from a blocking thread; [`DeliveryStore`] runs on delivery's own thread).

mod error;
mod fleet;
mod migrate;
pub(crate) mod page_codec;
pub(crate) mod postgres;
mod records;
pub(crate) mod sqlite;
#[cfg(test)]
pub(crate) mod testing;

pub use error::StateError;
pub use fleet::{shard_of, FleetCounters, FleetHost, FleetStatus, ShardLease, SHARDS};
pub use migrate::{sqlite_to_postgres, MigrationReport};
pub use postgres::{is_postgres_url, PostgresOptions, PostgresState, DEFAULT_LEASE_TTL};
pub use records::{
    Activation, ActivationKind, ComponentHash, ComponentRecord, Instance, InstanceChanges,
    InstanceStats, LastOutcome, NewInstanceRecord, OutboxEvent, Page, PageEvent, PendingWrite,
    Scope, Stream, TickRecord, Version,
};
pub use sqlite::SqliteState;

use async_trait::async_trait;
use std::collections::{HashMap, HashSet};

/// Instances and their cursors.
#[async_trait]
pub trait InstanceStore: Send + Sync {
    /// Stores a new (validated) instance; fails with [`StateError::DuplicateInstance`] if the name is
    /// taken.
    async fn add_instance(&self, new: &NewInstanceRecord) -> Result<Instance, StateError>;
    /// Applies changes; a new domain drops the cursor (it points into another org).
    async fn edit_instance(
        &self,
        name: &str,
        changes: &InstanceChanges,
    ) -> Result<Instance, StateError>;
    /// Removes an instance; its undelivered events stay queued and are still delivered.
    async fn remove_instance(&self, name: &str) -> Result<(), StateError>;
    /// Every instance, by name.
    async fn list_instances(&self) -> Result<Vec<Instance>, StateError>;
    /// One instance by name ([`StateError::NoSuchInstance`] if there is none).
    async fn instance(&self, name: &str) -> Result<Instance, StateError>;
    /// One instance by id (`None` once removed): one indexed lookup, for the scheduler.
    async fn instance_by_id(&self, id: i64) -> Result<Option<Instance>, StateError>;
    /// The cursor the connector last committed for an instance (opaque to the host).
    async fn cursor(&self, instance_id: i64) -> Result<Option<Vec<u8>>, StateError>;
}

/// Where the connector's pages go: the runtime commits through this and nothing else.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Appends the page's events to the outbox and stores its cursor, in one transaction: after a crash
    /// either both are there or neither. A page without events only moves the cursor. May block the
    /// calling thread until the commit is durable (the runtime calls it from a blocking thread).
    async fn commit_page(&self, page: Page) -> Result<(), StateError>;
    /// Events committed and not yet acknowledged by a sink.
    async fn outbox_depth(&self) -> Result<i64, StateError>;
}

/// Delivery's view of the outbox: the [`Stream`]s this process delivers, each read in order and
/// acknowledged up to a position. One exists per delivery worker, on the worker's own thread. A backend
/// that fences writers refuses `begin_write` and `ack` on a stream whose lease this process lost.
#[async_trait]
pub trait DeliveryStore: Send {
    /// The streams with events this process should deliver now (SQLite: the one whole outbox, always;
    /// PostgreSQL: the shards this host holds that have undelivered events).
    async fn streams(&mut self) -> Result<Vec<Stream>, StateError>;
    /// Highest sequence number of `stream` a sink acknowledged.
    async fn acked_seq(&mut self, stream: Stream) -> Result<i64, StateError>;
    /// Up to `limit` events of `stream` after `after_seq`, in commit order.
    async fn read_batch(
        &mut self,
        stream: Stream,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, StateError>;
    /// The write a sink recorded on `stream` and did not acknowledge, if any.
    async fn pending_write(&mut self, stream: Stream) -> Result<Option<PendingWrite>, StateError>;
    /// Records a write before the sink makes it, so a crash in the middle can be repaired.
    async fn begin_write(&mut self, stream: Stream, write: &PendingWrite)
        -> Result<(), StateError>;
    /// Acknowledges everything of `stream` up to `last_seq`, clears its pending write and prunes what is
    /// delivered.
    async fn ack(&mut self, stream: Stream, last_seq: i64) -> Result<(), StateError>;
}

/// Stored connector versions, their activation history, and consecutive-failure counts.
#[async_trait]
pub trait VersionStore: Send + Sync {
    /// Stores a component's record (idempotent for the same hash). `bytes` is the `.wasm`: a backend
    /// shared by several hosts keeps it too, so every host can load the version (SQLite keeps only the
    /// record: the file is in the component store beside it).
    async fn add_component(
        &self,
        component: &ComponentRecord,
        bytes: &[u8],
    ) -> Result<(), StateError>;
    /// The `.wasm` of a stored component, if this backend keeps the bytes (`None`: read the record's
    /// file). The caller checks them against the hash.
    async fn component_bytes(&self, hash: &ComponentHash) -> Result<Option<Vec<u8>>, StateError>;
    /// Every stored component, oldest first.
    async fn components(&self) -> Result<Vec<ComponentRecord>, StateError>;
    /// One stored component.
    async fn component(&self, hash: &ComponentHash) -> Result<Option<ComponentRecord>, StateError>;
    /// Appends an activation to a scope's history.
    async fn append_activation(
        &self,
        scope: Scope,
        version: &Version,
        kind: ActivationKind,
        reason: &str,
    ) -> Result<(), StateError>;
    /// A scope's activation history, oldest first.
    async fn activations(&self, scope: Scope) -> Result<Vec<Activation>, StateError>;
    /// The newest activation of a scope.
    async fn newest_activation(&self, scope: Scope) -> Result<Option<Activation>, StateError>;
    /// A number that changes whenever any activation is appended (cheap to poll before each tick).
    async fn activation_generation(&self) -> Result<i64, StateError>;
    /// Counts one more consecutive failure of `version` on an instance (a failure on another version
    /// starts over at 1) and returns the count. Kept durably so separate `run --once` processes add up.
    async fn record_failure(&self, instance_id: i64, version: &Version) -> Result<u32, StateError>;
    /// Forgets an instance's failure count.
    async fn clear_failures(&self, instance_id: i64) -> Result<(), StateError>;
}

/// Tick outcomes and the per-instance figures of `status`.
#[async_trait]
pub trait TickLog: Send + Sync {
    /// Records ticks in order, in one transaction (a fleet's idle ticks cost one disk sync); the last
    /// tick of an instance becomes its status. Ticks that committed events are kept for 24 hours.
    async fn record_ticks(&self, ticks: &[(i64, TickRecord)]) -> Result<(), StateError>;
    /// Per instance id: newest `published`, events of the last tick and of ticks since `since_ms`, and
    /// undelivered events. Instances without ticks or events get zeros.
    async fn instance_stats(
        &self,
        since_ms: i64,
    ) -> Result<HashMap<i64, InstanceStats>, StateError>;
    /// An instance's committed events per hour since `since_ms` (hour start in Unix ms, events), oldest
    /// first; hours without events are left out.
    async fn events_per_hour(
        &self,
        instance_id: i64,
        since_ms: i64,
    ) -> Result<Vec<(i64, u64)>, StateError>;
}

/// What each compiled-component file must contain: the host records a digest when it writes one and
/// loads only a file that matches, so machine code planted in the cache never runs.
#[async_trait]
pub trait ArtifactLedger: Send + Sync {
    /// The SHA-256 (hex) recorded for the artifact `name`, if this state's host wrote one.
    async fn artifact_digest(&self, name: &str) -> Result<Option<String>, StateError>;
    /// Records the SHA-256 of the artifact `name` just written.
    async fn record_artifact(&self, name: &str, sha256: &str) -> Result<(), StateError>;
}

/// The newest `dpop-nonce` each Okta domain's token endpoint issued. Not a secret (Okta gives one to
/// anyone who asks); kept so a restarted host needs no nonce challenge, each of which Okta writes into
/// the System Log being read.
#[async_trait]
pub trait NonceStore: Send + Sync {
    /// The nonce kept for `domain` and when it was received (Unix ms), if any.
    async fn dpop_nonce(&self, domain: &str) -> Result<Option<(String, i64)>, StateError>;
    /// Keeps `nonce` as `domain`'s newest, received at `received_ms`.
    async fn keep_dpop_nonce(
        &self,
        domain: &str,
        nonce: &str,
        received_ms: i64,
    ) -> Result<(), StateError>;
}

/// Proof that this process is the state's one runner (it ticks and delivers); dropping it lets the
/// next one in. A backend keeps whatever holds the claim inside.
pub struct RunnerLock(#[allow(dead_code, reason = "held for its Drop")] Box<dyn Send + Sync>);

impl RunnerLock {
    /// A claim held by `guard` until it is dropped.
    pub fn new(guard: impl Send + Sync + 'static) -> RunnerLock {
        RunnerLock(Box::new(guard))
    }
}

impl std::fmt::Debug for RunnerLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunnerLock")
    }
}

/// Everything a host stores, behind one handle.
#[async_trait]
pub trait StateBackend:
    InstanceStore + Outbox + VersionStore + TickLog + ArtifactLedger + NonceStore
{
    /// A store for a delivery worker (SQLite: its own connection).
    async fn delivery(&self) -> Result<Box<dyn DeliveryStore>, StateError>;
    /// Claims the state for this process's ticks and deliveries; [`StateError::InUse`] names the
    /// holder when another process has it. Management and read-only calls need no claim.
    async fn claim_runner(&self) -> Result<RunnerLock, StateError>;
    /// Where the state lives, for messages (a file path; a database URL without its password).
    fn location(&self) -> String;
    /// Whether this process may tick `instance` now. A single-host state's runner may tick every
    /// instance; in a fleet, only while it holds the lease of the instance's shard and the lease's local
    /// deadline has not passed (the commit is fenced regardless).
    fn holds(&self, instance: &Instance) -> bool {
        let _ = instance;
        true
    }
    /// The ids of the instances this process should schedule now: not paused, and (in a fleet) in a
    /// shard it holds.
    async fn schedulable(&self) -> Result<HashSet<i64>, StateError> {
        Ok(self
            .list_instances()
            .await?
            .into_iter()
            .filter(|i| !i.paused && self.holds(i))
            .map(|i| i.id)
            .collect())
    }
    /// A fleet's lease time (`None`: a single-host state, no leases).
    fn lease_ttl(&self) -> Option<std::time::Duration> {
        None
    }
    /// The fleet's hosts and leases, for `status` (`None`: a single-host state).
    async fn fleet_status(&self) -> Result<Option<FleetStatus>, StateError> {
        Ok(None)
    }
    /// This process's lease and fencing counters (`None`: a single-host state).
    fn fleet_counters(&self) -> Option<FleetCounters> {
        None
    }
    /// Leaves a fleet at a clean stop: gives this process's leases back so other hosts take its shards
    /// at once rather than after the lease time. Nothing to do for a single-host state.
    async fn leave(&self) {}
}

/// How long `tick_log` rows are kept.
pub const TICK_LOG_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;
