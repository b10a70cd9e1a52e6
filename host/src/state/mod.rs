//! Durable state in SQLite: instances, each instance's cursor, and the outbox of events awaiting delivery.
//!
//! A page's events and the cursor after them are written in one transaction (`commit_page`), so a crash
//! leaves either both or neither. Delivery reads the outbox and acknowledges by sequence number; a file
//! sink records its intended write first (`begin_write`) so a torn append can be cut back and redone.
//! WAL mode with `synchronous=FULL`: a committed page survives a crash or power loss.

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

const SCHEMA_VERSION: i64 = 2;

mod outbox;
pub use outbox::{OutboxRow, PageEvent, PendingWrite};

/// A state-database failure, with what the user should do.
#[derive(Debug, Error)]
pub enum StateError {
    /// The file could not be created or opened.
    #[error("cannot open state database {path}: {source}; check the --db path and its directory permissions")]
    Open {
        /// The database path.
        path: String,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The file exists but is not a usable okta-ingest database.
    #[error("state database {path} is unreadable ({detail}); it may be corrupt or not an okta-ingest database: restore it from a backup or point --db elsewhere")]
    Corrupt {
        /// The database path.
        path: String,
        /// What SQLite said.
        detail: String,
    },
    /// The database was written by a newer okta-ingest.
    #[error("state database {path} has schema version {found}, newer than this okta-ingest understands ({SCHEMA_VERSION}); upgrade okta-ingest")]
    TooNew {
        /// The database path.
        path: String,
        /// The version found.
        found: i64,
    },
    /// Another process holds the database.
    #[error("state database {0} is locked by another process (is another okta-ingest running with the same --db?)")]
    Locked(String),
    /// No instance of that name.
    #[error("no instance named {0:?}; see `okta-ingest instance list`")]
    NoSuchInstance(String),
    /// An instance of that name exists.
    #[error("an instance named {0:?} already exists; choose another name or `okta-ingest instance edit {0}`")]
    DuplicateInstance(String),
    /// Any other SQLite failure.
    #[error("state database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Preparing data for the database failed (out of memory, in practice).
    #[error("state database: could not {action}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The cause.
        source: std::io::Error,
    },
}

/// An instance as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRecord {
    /// Row id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Okta domain (`host` or `host:port`).
    pub domain: String,
    /// OAuth client id.
    pub client_id: String,
    /// Optional `kid`.
    pub key_id: Option<String>,
    /// Path of the PEM file holding the private key (the key itself is never stored).
    pub private_key_path: PathBuf,
    /// Backfill days for the first tick.
    pub backfill_days: u8,
    /// Selected categories (bit set, see `config::Categories`).
    pub categories: u8,
    /// Extra CA certificates (PEM) trusted for this instance.
    pub ca_file: Option<PathBuf>,
    /// When it was added, Unix ms.
    pub created_ms: i64,
    /// Whether a cursor exists (the first tick has committed).
    pub has_cursor: bool,
    /// Last tick time, Unix ms.
    pub last_tick_ms: Option<i64>,
    /// `ok`, `caught-up`, or `error`.
    pub last_outcome: Option<String>,
    /// Last error message.
    pub last_error: Option<String>,
    /// Events committed for this instance, ever.
    pub events_total: i64,
}

/// Editable fields of an instance; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct InstanceEdit {
    /// New domain; changing it also resets the cursor (it belongs to another org).
    pub domain: Option<String>,
    /// New client id.
    pub client_id: Option<String>,
    /// New key id (`Some(None)` removes it).
    pub key_id: Option<Option<String>>,
    /// New private key path.
    pub private_key_path: Option<PathBuf>,
    /// New categories.
    pub categories: Option<u8>,
    /// New CA file (`Some(None)` removes it).
    pub ca_file: Option<Option<PathBuf>>,
}

/// The outcome of one tick, for `status` and `instance show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickStatus {
    /// When the tick ended, Unix ms.
    pub at_ms: i64,
    /// `ok`, `caught-up` or `error`.
    pub outcome: String,
    /// The error message, if any.
    pub error: Option<String>,
    /// Events committed by the tick (kept for 24 h in `tick_log` when non-zero).
    pub events: u64,
}

/// Per-instance figures for `status` that are not part of [`InstanceRecord`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceStats {
    /// Newest Okta `published` time committed for the instance (RFC 3339, as Okta sent it).
    pub last_published: Option<String>,
    /// Events committed by the instance's last recorded tick.
    pub events_last_tick: u64,
    /// Events committed by ticks ending at or after the `since_ms` given to [`StateDb::instance_stats`].
    pub events_since: u64,
    /// Events of this instance committed but not yet acknowledged by a sink.
    pub outbox_depth: i64,
}

/// How long `tick_log` rows are kept.
pub const TICK_LOG_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

/// How long a connection waits for another one's write to finish before reporting the database locked.
const BUSY_LIMIT: Duration = Duration::from_secs(10);
const BUSY_POLL: Duration = Duration::from_micros(250);

/// WAL pages (16 KiB) after which a commit checkpoints: 256 MiB for ordinary connections, 64 MiB for the
/// delivery connection (see `StateDb::checkpoint_early`).
const WAL_CHECKPOINT_PAGES_LATE: u32 = 16_384;
const WAL_CHECKPOINT_PAGES_EARLY: u32 = 4_096;

/// SQLite's default busy handler sleeps in steps growing to 100 ms, which stalls a page commit behind a
/// delivery acknowledgement for far longer than the acknowledgement takes; poll briefly instead.
fn busy_wait(attempt: i32) -> bool {
    let limit = (BUSY_LIMIT.as_micros() / BUSY_POLL.as_micros()) as i32;
    if attempt >= limit {
        return false;
    }
    std::thread::sleep(BUSY_POLL);
    true
}

/// A connection to the state database.
pub struct StateDb {
    conn: Connection,
    path: PathBuf,
}

/// Now, Unix ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn is_corruption(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase) | Some(rusqlite::ErrorCode::DatabaseCorrupt)
    )
}

impl StateDb {
    /// Opens (creating with mode 0600 if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<StateDb, StateError> {
        let display = path.display().to_string();
        create_private_file(path).map_err(|e| StateError::Open {
            path: display.clone(),
            source: rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(e.to_string()),
            ),
        })?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|source| StateError::Open {
            path: display.clone(),
            source,
        })?;
        let db = StateDb {
            conn,
            path: path.to_path_buf(),
        };
        db.init().map_err(|e| db.classify(e))?;
        Ok(db)
    }

    /// Adopts a connection the embedder already opened on a database file, creating or migrating the
    /// okta-ingest tables in it. The file must be on disk (delivery opens a second connection to it).
    pub fn from_connection(conn: Connection) -> Result<StateDb, StateError> {
        let path = match conn.path() {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => {
                return Err(StateError::Open {
                    path: ":memory:".into(),
                    source: rusqlite::Error::InvalidPath(PathBuf::from(":memory:")),
                })
            }
        };
        let db = StateDb { conn, path };
        db.init().map_err(|e| db.classify(e))?;
        Ok(db)
    }

    /// The database path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for the other tables' modules (`versions`).
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    fn classify(&self, e: StateError) -> StateError {
        let path = self.path.display().to_string();
        match e {
            StateError::Sqlite(inner) if is_corruption(&inner) => StateError::Corrupt {
                path,
                detail: inner.to_string(),
            },
            StateError::Sqlite(inner)
                if matches!(
                    inner.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseBusy)
                        | Some(rusqlite::ErrorCode::DatabaseLocked)
                ) =>
            {
                StateError::Locked(path)
            }
            StateError::Sqlite(inner)
                if matches!(
                    inner.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::ReadOnly) | Some(rusqlite::ErrorCode::CannotOpen)
                ) =>
            {
                StateError::Open {
                    path,
                    source: inner,
                }
            }
            other => other,
        }
    }

    fn init(&self) -> Result<(), StateError> {
        self.conn.busy_handler(Some(busy_wait))?;
        // Larger pages: a 2 KB event spans fewer pages, so each page commit is fewer writes. Only takes
        // effect when the file is created (before WAL mode is set).
        self.conn.execute_batch("PRAGMA page_size=16384")?;
        // A checkpoint runs in whichever connection's commit crosses the threshold, and that commit waits
        // for it (~100 ms for 64 MiB). Connections checkpoint at 256 MiB of WAL; the delivery connection
        // lowers its own threshold (`checkpoint_early`) so that, while it runs, checkpoints happen off the
        // page-commit path.
        self.conn.execute_batch(&format!(
            "PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES_LATE}"
        ))?;
        // journal_mode returns a row; a corrupt file fails here first.
        let _: String = self
            .conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        self.conn.execute_batch(
            "PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS instances(
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
             INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', 2);
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
                reason TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS tick_log(
                instance_id INTEGER NOT NULL,
                at_ms INTEGER NOT NULL,
                events INTEGER NOT NULL);
             CREATE INDEX IF NOT EXISTS tick_log_instance ON tick_log(instance_id, at_ms);
             CREATE INDEX IF NOT EXISTS tick_log_at ON tick_log(at_ms);",
        )?;
        self.add_column_if_missing("instances", "last_published", "TEXT")?;
        let found: i64 = self.conn.query_row(
            "SELECT value FROM meta WHERE key='schema_version'",
            [],
            |r| r.get(0),
        )?;
        if found > SCHEMA_VERSION {
            return Err(StateError::TooNew {
                path: self.path.display().to_string(),
                found,
            });
        }
        self.conn.execute_batch(outbox::CREATE_TABLE)?;
        if found < 2 {
            // Version 1 kept one outbox row per event.
            outbox::migrate_event_rows(&self.conn)?;
            self.conn
                .execute("UPDATE meta SET value=2 WHERE key='schema_version'", [])?;
        }
        Ok(())
    }

    /// `ALTER TABLE table ADD COLUMN column decl` unless `PRAGMA table_info` already lists the column, so
    /// databases created by older versions gain the column on open.
    fn add_column_if_missing(
        &self,
        table: &str,
        column: &str,
        decl: &str,
    ) -> Result<(), StateError> {
        let mut stmt = self.conn.prepare(&format!("PRAGMA table_info({table})"))?;
        let names = stmt.query_map([], |r| r.get::<_, String>(1))?;
        for n in names {
            if n? == column {
                return Ok(());
            }
        }
        self.conn
            .execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
        Ok(())
    }

    /// Adds an instance; fails if the name is taken.
    pub fn add_instance(&self, rec: &InstanceRecord) -> Result<i64, StateError> {
        let r = self.conn.execute(
            "INSERT INTO instances(name, domain, client_id, key_id, private_key_path, backfill_days,
                categories, ca_file, created_ms) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
            params![
                rec.name,
                rec.domain,
                rec.client_id,
                rec.key_id,
                rec.private_key_path.to_string_lossy(),
                rec.backfill_days,
                rec.categories,
                rec.ca_file.as_ref().map(|p| p.to_string_lossy().to_string()),
                now_ms(),
            ],
        );
        match r {
            Ok(_) => Ok(self.conn.last_insert_rowid()),
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) => {
                Err(StateError::DuplicateInstance(rec.name.clone()))
            }
            Err(e) => Err(self.classify(e.into())),
        }
    }

    const SELECT: &'static str = "SELECT id, name, domain, client_id, key_id, private_key_path,
        backfill_days, categories, ca_file, created_ms, cursor IS NOT NULL, last_tick_ms, last_outcome,
        last_error, events_total FROM instances";

    fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<InstanceRecord> {
        Ok(InstanceRecord {
            id: r.get(0)?,
            name: r.get(1)?,
            domain: r.get(2)?,
            client_id: r.get(3)?,
            key_id: r.get(4)?,
            private_key_path: PathBuf::from(r.get::<_, String>(5)?),
            backfill_days: r.get(6)?,
            categories: r.get(7)?,
            ca_file: r.get::<_, Option<String>>(8)?.map(PathBuf::from),
            created_ms: r.get(9)?,
            has_cursor: r.get(10)?,
            last_tick_ms: r.get(11)?,
            last_outcome: r.get(12)?,
            last_error: r.get(13)?,
            events_total: r.get(14)?,
        })
    }

    /// All instances, by name.
    pub fn list_instances(&self) -> Result<Vec<InstanceRecord>, StateError> {
        let mut stmt = self
            .conn
            .prepare(&format!("{} ORDER BY name", Self::SELECT))?;
        let rows = stmt.query_map([], Self::row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One instance by row id (`None` if it was removed).
    pub fn get_instance_by_id(&self, id: i64) -> Result<Option<InstanceRecord>, StateError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{} WHERE id = ?1", Self::SELECT))?;
        Ok(stmt.query_row([id], Self::row).optional()?)
    }

    /// One instance by name.
    pub fn get_instance(&self, name: &str) -> Result<InstanceRecord, StateError> {
        self.conn
            .query_row(
                &format!("{} WHERE name = ?1", Self::SELECT),
                [name],
                Self::row,
            )
            .optional()?
            .ok_or_else(|| StateError::NoSuchInstance(name.to_string()))
    }

    /// Applies an edit. Changing the domain drops the cursor: it points into another org.
    pub fn edit_instance(
        &self,
        name: &str,
        edit: &InstanceEdit,
    ) -> Result<InstanceRecord, StateError> {
        let cur = self.get_instance(name)?;
        let domain_changed = edit.domain.as_ref().is_some_and(|d| *d != cur.domain);
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "UPDATE instances SET domain=?2, client_id=?3, key_id=?4, private_key_path=?5, categories=?6,
                ca_file=?7 WHERE id=?1",
            params![
                cur.id,
                edit.domain.as_ref().unwrap_or(&cur.domain),
                edit.client_id.as_ref().unwrap_or(&cur.client_id),
                edit.key_id.clone().unwrap_or(cur.key_id.clone()),
                edit.private_key_path
                    .as_ref()
                    .unwrap_or(&cur.private_key_path)
                    .to_string_lossy(),
                edit.categories.unwrap_or(cur.categories),
                edit.ca_file
                    .clone()
                    .unwrap_or(cur.ca_file.clone())
                    .map(|p| p.to_string_lossy().to_string()),
            ],
        )?;
        if domain_changed {
            tx.execute("UPDATE instances SET cursor=NULL WHERE id=?1", [cur.id])?;
        }
        tx.commit()?;
        self.get_instance(name)
    }

    /// Removes an instance; its undelivered events stay in the outbox and are still delivered.
    pub fn remove_instance(&self, name: &str) -> Result<(), StateError> {
        let n = self
            .conn
            .execute("DELETE FROM instances WHERE name=?1", [name])?;
        if n == 0 {
            return Err(StateError::NoSuchInstance(name.to_string()));
        }
        Ok(())
    }

    /// The instance's cursor blob, if any.
    pub fn cursor(&self, instance_id: i64) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self
            .conn
            .query_row(
                "SELECT cursor FROM instances WHERE id=?1",
                [instance_id],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    /// Records many tick outcomes in one transaction (one disk sync for a whole fleet's idle ticks), in
    /// order (the last of an instance's ticks becomes its status). Ticks that committed events also go to
    /// `tick_log`, which keeps 24 h (idle ticks add no rows: a tick missing there committed nothing).
    pub fn record_ticks(&mut self, ticks: &[(i64, TickStatus)]) -> Result<(), StateError> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE instances SET last_tick_ms=?2, last_outcome=?3, last_error=?4 WHERE id=?1",
            )?;
            let mut log = tx.prepare_cached(
                "INSERT INTO tick_log(instance_id, at_ms, events) VALUES (?1,?2,?3)",
            )?;
            for (id, t) in ticks {
                stmt.execute(params![id, t.at_ms, t.outcome, t.error])?;
                if t.events > 0 {
                    log.execute(params![id, t.at_ms, t.events as i64])?;
                }
            }
            tx.execute(
                "DELETE FROM tick_log WHERE at_ms < ?1",
                [now_ms() - TICK_LOG_RETENTION_MS],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Per instance id: newest `published`, events of the last tick and of ticks since `since_ms`, and
    /// undelivered events. Instances without ticks or events get zeros.
    pub fn instance_stats(
        &self,
        since_ms: i64,
    ) -> Result<std::collections::HashMap<i64, InstanceStats>, StateError> {
        let mut out: std::collections::HashMap<i64, InstanceStats> = Default::default();
        let mut stmt = self.conn.prepare_cached(
            "SELECT i.id, i.last_published,
                (SELECT COALESCE(SUM(t.events), 0) FROM tick_log t
                    WHERE t.instance_id = i.id AND t.at_ms = i.last_tick_ms),
                (SELECT COALESCE(SUM(t.events), 0) FROM tick_log t
                    WHERE t.instance_id = i.id AND t.at_ms >= ?1)
             FROM instances i",
        )?;
        let rows = stmt.query_map([since_ms], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                InstanceStats {
                    last_published: r.get(1)?,
                    events_last_tick: r.get::<_, i64>(2)?.max(0) as u64,
                    events_since: r.get::<_, i64>(3)?.max(0) as u64,
                    outbox_depth: 0,
                },
            ))
        })?;
        for row in rows {
            let (id, s) = row?;
            out.insert(id, s);
        }
        for (id, n) in self.outbox_depth_by_instance()? {
            if let Some(s) = out.get_mut(&id) {
                s.outbox_depth = n;
            }
        }
        Ok(out)
    }

    /// Makes this connection checkpoint the WAL at 64 MiB, before any other connection would (at 256
    /// MiB): the delivery worker calls this, so page commits do not pay for checkpoints.
    pub fn checkpoint_early(&self) -> Result<(), StateError> {
        self.conn.execute_batch(&format!(
            "PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES_EARLY}"
        ))?;
        Ok(())
    }
}

#[cfg(test)]
impl StateDb {
    fn ack_in_tx_for_test(&self) -> Result<(), StateError> {
        self.conn
            .execute("UPDATE delivery SET acked_seq=acked_seq WHERE id=1", [])?;
        Ok(())
    }
}

/// Creates the database file with mode 0600 before SQLite opens it, so events and settings are never
/// world-readable, even for a moment.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    if path.exists() {
        return Ok(());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str) -> InstanceRecord {
        InstanceRecord {
            id: 0,
            name: name.into(),
            domain: "acme.okta.com".into(),
            client_id: "0oa1".into(),
            key_id: None,
            private_key_path: "/k.pem".into(),
            backfill_days: 7,
            categories: 7,
            ca_file: None,
            created_ms: 0,
            has_cursor: false,
            last_tick_ms: None,
            last_outcome: None,
            last_error: None,
            events_total: 0,
        }
    }

    fn ev<'a>(uuid: &'a str, raw: &'a str) -> PageEvent<'a> {
        PageEvent {
            uuid,
            event_type: "user.session.start",
            published: "2026-01-01T00:00:00.000Z",
            categories: 1,
            raw,
        }
    }

    #[test]
    fn page_and_cursor_commit_together_and_ack_prunes() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = StateDb::open(&dir.path().join("s.db")).unwrap();
        let id = db.add_instance(&rec("a")).unwrap();
        db.commit_page(
            id,
            &[ev("u1", "{\"a\":1}"), ev("u2", "{\"b\": \"null\"}")],
            b"c1",
        )
        .unwrap();
        assert_eq!(db.cursor(id).unwrap().as_deref(), Some(&b"c1"[..]));
        let rows = db.read_outbox(0, 10).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].raw, "{\"b\": \"null\"}");
        assert_eq!(db.outbox_depth().unwrap(), 2);
        db.ack(rows[0].seq).unwrap();
        assert_eq!(db.outbox_depth().unwrap(), 1);
        assert_eq!(
            db.read_outbox(db.acked_seq().unwrap(), 10).unwrap().len(),
            1
        );
        assert_eq!(db.get_instance("a").unwrap().events_total, 2);
    }

    #[test]
    fn a_failed_commit_leaves_neither_events_nor_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = StateDb::open(&dir.path().join("s.db")).unwrap();
        // Instance 99 does not exist: the cursor update fails, so the events must roll back too.
        let r = db.commit_page(99, &[ev("u1", "{}")], b"c1");
        assert!(r.is_err());
        assert_eq!(db.read_outbox(0, 10).unwrap().len(), 0);
    }

    #[test]
    fn duplicate_names_and_missing_instances_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(&dir.path().join("s.db")).unwrap();
        db.add_instance(&rec("a")).unwrap();
        assert!(matches!(
            db.add_instance(&rec("a")),
            Err(StateError::DuplicateInstance(_))
        ));
        assert!(matches!(
            db.get_instance("zz"),
            Err(StateError::NoSuchInstance(_))
        ));
        assert!(matches!(
            db.remove_instance("zz"),
            Err(StateError::NoSuchInstance(_))
        ));
    }

    #[test]
    fn editing_the_domain_resets_the_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = StateDb::open(&dir.path().join("s.db")).unwrap();
        let id = db.add_instance(&rec("a")).unwrap();
        db.commit_page(id, &[], b"c").unwrap();
        let r = db
            .edit_instance(
                "a",
                &InstanceEdit {
                    categories: Some(15),
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(r.has_cursor);
        assert_eq!(r.categories, 15);
        let r = db
            .edit_instance(
                "a",
                &InstanceEdit {
                    domain: Some("other.okta.com".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(!r.has_cursor);
    }

    #[test]
    fn pending_write_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = StateDb::open(&dir.path().join("s.db")).unwrap();
        let w = PendingWrite {
            sink: "file:/x".into(),
            first_seq: 1,
            last_seq: 5,
            offset: 42,
        };
        db.begin_write(&w).unwrap();
        assert_eq!(db.pending_write().unwrap(), Some(w));
        db.ack(5).unwrap();
        assert_eq!(db.pending_write().unwrap(), None);
    }

    #[test]
    fn wal_and_synchronous_full() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(&dir.path().join("s.db")).unwrap();
        let mode: String = db
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        let sync: i64 = db
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!((mode.as_str(), sync), ("wal", 2), "2 = FULL");
    }

    #[test]
    fn a_database_locked_by_another_connection_is_reported_as_locked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.db");
        StateDb::open(&p).unwrap();
        let holder = Connection::open(&p).unwrap();
        holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let conn = Connection::open(&p).unwrap();
        conn.busy_timeout(Duration::from_millis(50)).unwrap();
        let db = StateDb {
            conn,
            path: p.clone(),
        };
        let e = db
            .ack_in_tx_for_test()
            .map_err(|e| db.classify(e))
            .unwrap_err();
        assert!(matches!(e, StateError::Locked(_)), "{e}");
        assert!(e.to_string().contains("locked by another process"));
    }

    #[cfg(unix)]
    #[test]
    fn database_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.db");
        StateDb::open(&p).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

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
        let mut db = StateDb::open(&p).unwrap();
        let id = db.get_instance("old").unwrap().id;
        db.commit_page(id, &[ev("u1", "{}")], b"c").unwrap();
        let stats = db.instance_stats(0).unwrap();
        assert_eq!(
            stats[&id].last_published.as_deref(),
            Some("2026-01-01T00:00:00.000Z")
        );
        drop(db);
        // Opening again is a no-op for the migration.
        StateDb::open(&p).unwrap();
    }

    #[test]
    fn stats_count_the_last_tick_the_window_and_the_newest_published() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = StateDb::open(&dir.path().join("s.db")).unwrap();
        let a = db.add_instance(&rec("a")).unwrap();
        let b = db.add_instance(&rec("b")).unwrap();
        let mut newer = ev("u2", "{}");
        newer.published = "2026-01-02T00:00:00.000Z";
        db.commit_page(a, &[newer, ev("u1", "{}")], b"c").unwrap();
        // A late commit with an older `published` does not move the newest back.
        db.commit_page(a, &[ev("u3", "{}")], b"c").unwrap();
        let now = now_ms();
        let t = |at_ms, events| TickStatus {
            at_ms,
            outcome: "ok".into(),
            error: None,
            events,
        };
        db.record_ticks(&[
            (a, t(now - TICK_LOG_RETENTION_MS - 1000, 100)), // pruned: older than 24 h
            (a, t(now - 5000, 2)),
            (a, t(now - 10, 1)),
            (b, t(now - 10, 0)),
        ])
        .unwrap();
        let s = db.instance_stats(now - TICK_LOG_RETENTION_MS).unwrap();
        assert_eq!(
            s[&a].last_published.as_deref(),
            Some("2026-01-02T00:00:00.000Z")
        );
        assert_eq!((s[&a].events_last_tick, s[&a].events_since), (1, 3));
        assert_eq!(s[&a].outbox_depth, 3);
        assert_eq!(s[&b], InstanceStats::default());
        let rows: i64 = db
            .conn
            .query_row("SELECT COUNT(*) FROM tick_log", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 2, "old and idle ticks leave no rows");
        assert_eq!(db.get_instance_by_id(b).unwrap().unwrap().name, "b");
        assert_eq!(db.get_instance_by_id(999).unwrap(), None);
    }

    #[test]
    fn a_file_that_is_not_a_database_is_reported_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.db");
        std::fs::write(&p, vec![0x42u8; 8192]).unwrap();
        let e = StateDb::open(&p).err().expect("must fail");
        assert!(matches!(e, StateError::Corrupt { .. }), "{e}");
    }
}
