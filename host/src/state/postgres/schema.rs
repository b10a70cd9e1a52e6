//! Every table of a fleet's state and every change to them, in one ordered list, applied when a host
//! connects. Each migration runs in its own transaction that first takes a transaction-scoped advisory
//! lock and then re-reads the version: hosts starting at the same moment queue on the lock, the first
//! migrates, the others find the work done. A database newer than [`LATEST`] is refused.

use super::connect::classify;
use crate::state::{StateError, SHARDS};
use tokio_postgres::Client;

/// The advisory lock key of migrations (any fixed number; `okta` in ASCII).
const MIGRATION_LOCK: i64 = 0x6f6b_7461;

/// One schema change.
struct Migration {
    /// The version the database has after it.
    version: i64,
    /// What it does, for logs.
    what: &'static str,
    /// The statements.
    sql: fn() -> String,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        what:
            "instances, shard leases and streams, hosts, the partitioned outbox, versions, tick log",
        sql: base_tables,
    },
    Migration {
        version: 2,
        what: "each instance's excluded event types and redaction rules",
        sql: exclusions,
    },
];

/// The schema version this build writes.
pub(crate) const LATEST: i64 = 2;

/// Brings the database up to [`LATEST`].
pub(crate) async fn migrate(client: &mut Client, location: &str) -> Result<(), StateError> {
    let db = |e| classify(location, e);
    loop {
        let tx = client.transaction().await.map_err(db)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(db)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS okta_ingest_meta(key text PRIMARY KEY, value bigint NOT NULL)",
        )
        .await
        .map_err(db)?;
        let found: i64 = tx
            .query_opt(
                "SELECT value FROM okta_ingest_meta WHERE key = 'schema_version'",
                &[],
            )
            .await
            .map_err(db)?
            .map(|r| r.get(0))
            .unwrap_or(0);
        if found > LATEST {
            return Err(StateError::TooNew {
                path: location.to_string(),
                found,
                supported: LATEST,
            });
        }
        let Some(next) = MIGRATIONS.iter().find(|m| m.version == found + 1) else {
            tx.commit().await.map_err(db)?;
            return Ok(());
        };
        tracing::info!(
            version = next.version,
            "migrating the state database: {}",
            next.what
        );
        tx.batch_execute(&(next.sql)()).await.map_err(db)?;
        tx.execute(
            "INSERT INTO okta_ingest_meta(key, value) VALUES ('schema_version', $1)
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[&next.version],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
    }
}

/// Version 2: the event types an instance drops even inside its categories, comma-separated, and the
/// members it removes from events (`Redaction::to_stored`); empty: none, what existing instances get.
fn exclusions() -> String {
    "ALTER TABLE instances ADD COLUMN IF NOT EXISTS excluded_event_types text NOT NULL DEFAULT '';
     ALTER TABLE instances ADD COLUMN IF NOT EXISTS redaction text NOT NULL DEFAULT ''"
        .into()
}

/// Version 1. The outbox is partitioned by commit time (ten minutes per partition, see
/// `outbox.rs`): delivered partitions are dropped whole, so pruning never waits for `DELETE` and
/// autovacuum to keep up with a backfill's churn.
fn base_tables() -> String {
    let last_shard = SHARDS - 1;
    format!(
        "CREATE TABLE instances(
            id bigserial PRIMARY KEY,
            name text NOT NULL UNIQUE,
            domain text NOT NULL,
            shard integer NOT NULL,
            client_id text NOT NULL,
            key_id text,
            private_key_path text NOT NULL,
            backfill_days smallint NOT NULL,
            categories integer NOT NULL,
            ca_file text,
            created_ms bigint NOT NULL,
            cursor bytea,
            cursor_updated_ms bigint,
            next_seq bigint NOT NULL DEFAULT 1,
            last_tick_ms bigint,
            last_outcome text,
            last_error text,
            events_total bigint NOT NULL DEFAULT 0,
            last_published text,
            dpop text NOT NULL DEFAULT 'auto',
            token_scheme text,
            silence_after_s bigint NOT NULL,
            paused boolean NOT NULL DEFAULT false,
            pending_key_path text,
            pending_key_id text);
         CREATE INDEX instances_shard ON instances(shard);
         CREATE TABLE shard_leases(
            shard integer PRIMARY KEY,
            owner text,
            epoch bigint NOT NULL DEFAULT 0,
            expires_at timestamptz NOT NULL DEFAULT '-infinity');
         INSERT INTO shard_leases(shard) SELECT generate_series(0, {last_shard});
         CREATE TABLE shard_streams(
            shard integer PRIMARY KEY,
            next_seq bigint NOT NULL DEFAULT 1,
            acked_seq bigint NOT NULL DEFAULT 0,
            pending_sink text,
            pending_first bigint,
            pending_last bigint,
            pending_offset bigint);
         INSERT INTO shard_streams(shard) SELECT generate_series(0, {last_shard});
         CREATE TABLE hosts(
            id text PRIMARY KEY,
            name text NOT NULL,
            pid bigint NOT NULL,
            started_at timestamptz NOT NULL DEFAULT now(),
            heartbeat_at timestamptz NOT NULL,
            expires_at timestamptz NOT NULL);
         CREATE TABLE outbox_pages(
            bucket bigint NOT NULL,
            shard integer NOT NULL,
            first_seq bigint NOT NULL,
            last_seq bigint NOT NULL,
            instance_id bigint NOT NULL,
            instance_first_seq bigint NOT NULL,
            epoch bigint NOT NULL,
            events bytea NOT NULL,
            PRIMARY KEY (shard, first_seq, bucket)) PARTITION BY RANGE (bucket);
         CREATE TABLE components(
            hash text PRIMARY KEY,
            name text NOT NULL,
            version text NOT NULL,
            wit_version text NOT NULL,
            state_schema bigint NOT NULL,
            path text NOT NULL,
            added_ms bigint NOT NULL,
            bytes bytea NOT NULL);
         CREATE TABLE activations(
            seq bigserial PRIMARY KEY,
            instance_id bigint,
            hash text,
            at_ms bigint NOT NULL,
            kind text NOT NULL,
            reason text NOT NULL);
         CREATE TABLE version_failures(
            instance_id bigint PRIMARY KEY,
            hash text,
            count bigint NOT NULL);
         CREATE TABLE tick_log(
            instance_id bigint NOT NULL,
            at_ms bigint NOT NULL,
            events bigint NOT NULL);
         CREATE INDEX tick_log_instance ON tick_log(instance_id, at_ms);
         CREATE INDEX tick_log_at ON tick_log(at_ms);
         CREATE TABLE compiled_artifacts(
            host text NOT NULL,
            name text NOT NULL,
            sha256 text NOT NULL,
            recorded_ms bigint NOT NULL,
            PRIMARY KEY (host, name));
         CREATE TABLE dpop_nonces(
            domain text PRIMARY KEY,
            nonce text NOT NULL,
            received_ms bigint NOT NULL);"
    )
}
