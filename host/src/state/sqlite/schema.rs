//! Every table of the state file and every change to them, in one ordered list. The schema version is
//! the `schema_version` row of `meta` (older releases wrote it there; a file without `meta` is version
//! 0). Opening a file applies the migrations it lacks, each in its own IMMEDIATE transaction with the
//! version bump, re-reading the version under the write lock: several processes opening the same file at
//! once migrate it exactly once. A file newer than [`LATEST`] is refused.

use crate::state::StateError;
use rusqlite::{Connection, Transaction, TransactionBehavior};
use std::path::Path;

/// One schema change.
struct Migration {
    /// The version the file has after it.
    version: i64,
    /// What it does, for logs.
    what: &'static str,
    apply: fn(&Transaction<'_>) -> Result<(), StateError>,
}

/// The migrations, oldest first; `version` counts up from 1 without gaps.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        what: "instances, delivery progress, components, activations, failure counts",
        apply: base_tables,
    },
    Migration {
        version: 2,
        what: "outbox pages (replacing per-event rows), tick log, newest published time",
        apply: outbox_pages,
    },
    Migration {
        version: 3,
        what: "activation kinds as a column",
        apply: activation_kinds,
    },
    Migration {
        version: 4,
        what: "digests of compiled components",
        apply: artifact_digests,
    },
    Migration {
        version: 5,
        what: "DPoP: each instance's mode and last token scheme, the token endpoints' nonces",
        apply: dpop,
    },
    Migration {
        version: 6,
        what: "each instance's silence alert, pause and key rotation",
        apply: silence_alert,
    },
    Migration {
        version: 7,
        what: "each instance's excluded event types and redaction rules",
        apply: exclusions,
    },
];

/// The schema version this build writes.
pub(crate) const LATEST: i64 = 7;

/// Brings the file at `conn` up to [`LATEST`].
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StateError> {
    debug_assert_eq!(MIGRATIONS.last().map(|m| m.version), Some(LATEST));
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found = version(&tx)?;
        if found > LATEST {
            return Err(StateError::TooNew {
                path: path.display().to_string(),
                found,
                supported: LATEST,
            });
        }
        let Some(next) = MIGRATIONS.iter().find(|m| m.version == found + 1) else {
            return Ok(()); // up to date; dropping the transaction ends it
        };
        tracing::debug!(
            version = next.version,
            "migrating the state database: {}",
            next.what
        );
        (next.apply)(&tx)?;
        tx.execute(
            "INSERT INTO meta(key, value) VALUES ('schema_version', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [next.version],
        )?;
        tx.commit()?;
    }
}

/// The file's schema version: 0 without a `meta` table.
fn version(conn: &Connection) -> Result<i64, StateError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    )?;
    let v: Option<i64> = rusqlite::OptionalExtension::optional(conn.query_row(
        "SELECT value FROM meta WHERE key='schema_version'",
        [],
        |r| r.get(0),
    ))?;
    Ok(v.unwrap_or(0))
}

/// Version 1: the first release's tables. `IF NOT EXISTS` throughout, because files of the 1.x
/// releases differ in which of them they have (version 2 runs this again for that reason).
fn base_tables(tx: &Transaction<'_>) -> Result<(), StateError> {
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS instances(
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            domain TEXT NOT NULL,
            client_id TEXT NOT NULL,
            key_id TEXT,
            private_key_path TEXT NOT NULL,
            backfill_days INTEGER NOT NULL,
            categories INTEGER NOT NULL,
            ca_file TEXT,
            created_ms INTEGER NOT NULL,
            cursor BLOB,
            cursor_updated_ms INTEGER,
            last_tick_ms INTEGER,
            last_outcome TEXT,
            last_error TEXT,
            events_total INTEGER NOT NULL DEFAULT 0);
         CREATE TABLE IF NOT EXISTS delivery(
            id INTEGER PRIMARY KEY CHECK (id = 1),
            acked_seq INTEGER NOT NULL,
            pending_sink TEXT,
            pending_first INTEGER,
            pending_last INTEGER,
            pending_offset INTEGER);
         INSERT OR IGNORE INTO delivery(id, acked_seq) VALUES (1, 0);
         CREATE TABLE IF NOT EXISTS components(
            hash TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            version TEXT NOT NULL,
            wit_version TEXT NOT NULL,
            state_schema INTEGER NOT NULL,
            path TEXT NOT NULL,
            added_ms INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS version_failures(
            instance_id INTEGER PRIMARY KEY,
            hash TEXT,
            count INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS activations(
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            instance_id INTEGER,
            hash TEXT,
            at_ms INTEGER NOT NULL,
            reason TEXT NOT NULL);",
    )?;
    Ok(())
}

/// Version 2: one outbox row per committed page (see `outbox.rs`), the tick log, and each instance's
/// newest `published`. Rows of version 1's per-event `outbox` table move into pages of one event each,
/// keeping their sequence numbers.
fn outbox_pages(tx: &Transaction<'_>) -> Result<(), StateError> {
    base_tables(tx)?;
    add_column_if_missing(tx, "instances", "last_published", "TEXT")?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS tick_log(
            instance_id INTEGER NOT NULL,
            at_ms INTEGER NOT NULL,
            events INTEGER NOT NULL);
         CREATE INDEX IF NOT EXISTS tick_log_instance ON tick_log(instance_id, at_ms);
         CREATE INDEX IF NOT EXISTS tick_log_at ON tick_log(at_ms);
         CREATE TABLE IF NOT EXISTS outbox_pages(
            first_seq INTEGER PRIMARY KEY,
            last_seq INTEGER NOT NULL,
            instance_id INTEGER NOT NULL,
            events BLOB NOT NULL);",
    )?;
    super::outbox::migrate_event_rows(tx)
}

/// Version 3: what an activation did, as a column (it was the start of the free-text `reason`).
fn activation_kinds(tx: &Transaction<'_>) -> Result<(), StateError> {
    add_column_if_missing(
        tx,
        "activations",
        "kind",
        "TEXT NOT NULL DEFAULT 'activate'",
    )?;
    tx.execute_batch(
        "UPDATE activations SET kind = CASE
            WHEN reason LIKE 'activate%' THEN 'activate'
            WHEN reason LIKE 'auto-rollback%' THEN 'auto-rollback'
            ELSE 'rollback' END",
    )?;
    Ok(())
}

/// Version 4: the SHA-256 of every compiled-component file the host wrote, checked before loading one.
fn artifact_digests(tx: &Transaction<'_>) -> Result<(), StateError> {
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS compiled_artifacts(
            name TEXT PRIMARY KEY,
            sha256 TEXT NOT NULL,
            recorded_ms INTEGER NOT NULL)",
    )?;
    Ok(())
}

/// Version 5: each instance's DPoP mode (existing instances get `auto`, the default for new ones: it
/// works with apps that bind tokens and with apps that do not) and how its last token was presented;
/// the newest `dpop-nonce` of each Okta domain's token endpoint (not a secret: Okta hands it to anyone
/// who asks, and kept it saves every start a challenge that Okta writes into the System Log).
fn dpop(tx: &Transaction<'_>) -> Result<(), StateError> {
    add_column_if_missing(tx, "instances", "dpop", "TEXT NOT NULL DEFAULT 'auto'")?;
    add_column_if_missing(tx, "instances", "token_scheme", "TEXT")?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS dpop_nonces(
            domain TEXT PRIMARY KEY,
            nonce TEXT NOT NULL,
            received_ms INTEGER NOT NULL)",
    )?;
    Ok(())
}

/// Version 6: after how many seconds without an event an instance counts as silent (0: never;
/// existing instances get the default a new one gets, one hour), whether the user paused it, and the
/// new key of a rotation in progress (its path and `kid`; the key itself is only in its file).
fn silence_alert(tx: &Transaction<'_>) -> Result<(), StateError> {
    add_column_if_missing(tx, "instances", "paused", "INTEGER NOT NULL DEFAULT 0")?;
    add_column_if_missing(tx, "instances", "pending_key_path", "TEXT")?;
    add_column_if_missing(tx, "instances", "pending_key_id", "TEXT")?;
    add_column_if_missing(
        tx,
        "instances",
        "silence_after_s",
        &format!(
            "INTEGER NOT NULL DEFAULT {}",
            crate::validate::DEFAULT_SILENCE_AFTER.as_secs()
        ),
    )
}

/// Version 7: the event types an instance drops even inside its categories, comma-separated, and the
/// members it removes from events (`Redaction::to_stored`); empty: none, what existing instances get.
fn exclusions(tx: &Transaction<'_>) -> Result<(), StateError> {
    add_column_if_missing(
        tx,
        "instances",
        "excluded_event_types",
        "TEXT NOT NULL DEFAULT ''",
    )?;
    add_column_if_missing(tx, "instances", "redaction", "TEXT NOT NULL DEFAULT ''")
}

/// `ALTER TABLE table ADD COLUMN column decl` unless the table already has the column.
fn add_column_if_missing(
    tx: &Transaction<'_>,
    table: &str,
    column: &str,
    decl: &str,
) -> Result<(), StateError> {
    let mut stmt = tx.prepare(&format!("PRAGMA table_info({table})"))?;
    let names = stmt.query_map([], |r| r.get::<_, String>(1))?;
    for n in names {
        if n? == column {
            return Ok(());
        }
    }
    tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::Db;
    use super::*;
    use crate::state::{ActivationKind, Scope, TickRecord};

    #[test]
    fn an_old_database_gains_the_new_column_and_table_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.db");
        {
            // The instances table as the first release created it: no last_published, no tick_log.
            let c = Connection::open(&p).unwrap();
            c.execute_batch(
                "CREATE TABLE instances(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
                    domain TEXT NOT NULL, client_id TEXT NOT NULL, key_id TEXT,
                    private_key_path TEXT NOT NULL, backfill_days INTEGER NOT NULL,
                    categories INTEGER NOT NULL, ca_file TEXT, created_ms INTEGER NOT NULL,
                    cursor BLOB, cursor_updated_ms INTEGER, last_tick_ms INTEGER, last_outcome TEXT,
                    last_error TEXT, events_total INTEGER NOT NULL DEFAULT 0);
                 INSERT INTO instances(name, domain, client_id, private_key_path, backfill_days,
                    categories, created_ms) VALUES ('old', 'a.okta.com', 'c', '/k', 0, 7, 1);",
            )
            .unwrap();
        }
        let mut db = Db::open(&p).unwrap();
        let id = db.instance("old").unwrap().id;
        db.commit_page(&page(id, vec![event("u1", "{}")], b"c"))
            .unwrap();
        db.record_ticks(&[(
            id,
            TickRecord {
                at_ms: super::super::now_as_stored(),
                outcome: crate::state::LastOutcome::CaughtUp,
                error: None,
                events: 1,
                token_scheme: None,
            },
        )])
        .unwrap();
        let stats = db.instance_stats(0).unwrap();
        assert_eq!(
            stats[&id].last_published.as_deref(),
            Some("2026-01-01T00:00:00.000Z")
        );
        drop(db);
        // Opening again is a no-op for the migration.
        Db::open(&p).unwrap();
    }

    #[test]
    fn activation_kinds_are_taken_from_the_old_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.db");
        {
            let mut c = Connection::open(&p).unwrap();
            // A version-2 file: every table, the kind still inside `reason`.
            version(&c).unwrap();
            for m in &MIGRATIONS[..2] {
                let tx = c.transaction().unwrap();
                (m.apply)(&tx).unwrap();
                tx.commit().unwrap();
            }
            c.execute_batch(
                "INSERT INTO meta(key, value) VALUES ('schema_version', 2);
                 INSERT INTO activations(instance_id, hash, at_ms, reason) VALUES
                    (NULL, 'aa', 1, 'activate'), (7, NULL, 2, 'builtin rollback'),
                    (NULL, NULL, 3, 'rollback'), (7, 'aa', 4, 'auto-rollback after 3 failures in a row: x');",
            )
            .unwrap();
        }
        let db = Db::open(&p).unwrap();
        let kinds = |scope| {
            db.activations(scope)
                .unwrap()
                .into_iter()
                .map(|a| a.kind)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            kinds(Scope::Global),
            [ActivationKind::Activate, ActivationKind::Rollback]
        );
        assert_eq!(
            kinds(Scope::Instance(7)),
            [ActivationKind::Rollback, ActivationKind::AutoRollback]
        );
    }

    #[test]
    fn a_newer_database_is_refused_and_concurrent_opens_migrate_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.db");
        // Two threads open a fresh file at once: both succeed, the file ends at the latest version.
        let a = std::thread::spawn({
            let p = p.clone();
            move || Db::open(&p).map(|_| ())
        });
        let b = std::thread::spawn({
            let p = p.clone();
            move || Db::open(&p).map(|_| ())
        });
        a.join().unwrap().unwrap();
        b.join().unwrap().unwrap();
        let db = Db::open(&p).unwrap();
        assert_eq!(version(db.conn()).unwrap(), LATEST);
        db.conn()
            .execute("UPDATE meta SET value=99 WHERE key='schema_version'", [])
            .unwrap();
        drop(db);
        let e = Db::open(&p).err().expect("a newer file is refused");
        assert!(
            matches!(
                e,
                StateError::TooNew {
                    found: 99,
                    supported: LATEST,
                    ..
                }
            ),
            "{e}"
        );
    }
}
