//! The SQLite backend: one file, WAL mode, `synchronous=FULL` (a committed page survives a crash or a
//! power loss), 16 KiB pages, created with mode 0600, migrated on open ([`schema`]).
//!
//! [`SqliteState`] shares one connection behind a mutex. Its calls are short and local, so they run
//! inline; the page commit, which syncs the disk, is called by the runtime from a blocking thread (the
//! component fetches its next page meanwhile). Delivery gets a connection of its own ([`delivery`]).
//!
//! One file per table group: `instances`, `outbox` (pages, delivery progress), `versions`, `tick_log`.
//! Each adds methods to [`Db`], the connection, which the trait implementations here call.

mod artifacts;
mod delivery;
mod instances;
mod nonces;
mod outbox;
mod runner;
pub(crate) mod schema;
mod tick_log;
mod versions;

use super::{
    Activation, ActivationKind, ArtifactLedger, ComponentHash, ComponentRecord, DeliveryStore,
    Instance, InstanceChanges, InstanceStats, InstanceStore, NewInstanceRecord, NonceStore, Outbox,
    Page, RunnerLock, Scope, StateBackend, StateError, TickLog, TickRecord, Version, VersionStore,
};
use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How long a connection waits for another one's write to finish before reporting the database locked.
const BUSY_LIMIT: Duration = Duration::from_secs(10);
const BUSY_POLL: Duration = Duration::from_micros(250);

/// WAL pages (16 KiB) after which a commit checkpoints: 256 MiB for ordinary connections, 64 MiB for the
/// delivery connection (see [`Db::checkpoint_early`]).
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

impl From<rusqlite::Error> for StateError {
    fn from(e: rusqlite::Error) -> StateError {
        StateError::Database(Box::new(e))
    }
}

/// Now, Unix ms, as the database stores times.
pub(crate) fn now_as_stored() -> i64 {
    i64::try_from(okta_ingest_model::time::now_ms()).unwrap_or(i64::MAX)
}

/// One connection to the state file.
pub(crate) struct Db {
    conn: Connection,
    path: PathBuf,
}

impl Db {
    /// Opens (creating with mode 0600 if needed) and migrates the database at `path`.
    pub(crate) fn open(path: &Path) -> Result<Db, StateError> {
        let display = path.display().to_string();
        create_private_file(path).map_err(|e| StateError::Open {
            path: display.clone(),
            source: Box::new(e),
        })?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let started = std::time::Instant::now();
        let db = loop {
            let conn = Connection::open_with_flags(path, flags).map_err(|e| StateError::Open {
                path: display.clone(),
                source: Box::new(e),
            })?;
            match Db::adopt(conn, path.to_path_buf()) {
                // Two connections setting up a fresh file at once: switching it to WAL can fail with
                // SQLITE_BUSY without consulting the busy handler (SQLite gives up at once where
                // waiting could deadlock). The other finishes in milliseconds; start again.
                Err(StateError::Locked(_)) if started.elapsed() < BUSY_LIMIT => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                other => break other?,
            }
        };
        // Only once the file proved to be an okta-ingest database: a file that is not one is left
        // exactly as it was, mode included.
        tighten_database_files(path);
        Ok(db)
    }

    /// Sets a connection up (pragmas, migrations); the file must be on disk.
    fn adopt(conn: Connection, path: PathBuf) -> Result<Db, StateError> {
        let mut db = Db { conn, path };
        db.init().map_err(|e| db.classify(e))?;
        Ok(db)
    }

    fn init(&mut self) -> Result<(), StateError> {
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
        self.conn.execute_batch("PRAGMA synchronous=FULL")?;
        schema::migrate(&mut self.conn, &self.path)
    }

    /// Makes this connection checkpoint the WAL at 64 MiB, before any other connection would (at 256
    /// MiB): the delivery connection does, so page commits do not pay for checkpoints.
    pub(crate) fn checkpoint_early(&self) -> Result<(), StateError> {
        self.conn.execute_batch(&format!(
            "PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES_EARLY}"
        ))?;
        Ok(())
    }

    /// Maps SQLite's codes to the errors a user can act on: corrupt file, locked, unwritable.
    pub(crate) fn classify(&self, e: StateError) -> StateError {
        let path = self.path.display().to_string();
        let code = match &e {
            StateError::Database(inner) => inner
                .downcast_ref::<rusqlite::Error>()
                .and_then(|e| e.sqlite_error_code()),
            _ => None,
        };
        use rusqlite::ErrorCode as C;
        match (code, e) {
            (Some(C::NotADatabase | C::DatabaseCorrupt), StateError::Database(inner)) => {
                StateError::Corrupt {
                    path,
                    detail: inner.to_string(),
                }
            }
            (Some(C::DatabaseBusy | C::DatabaseLocked), _) => StateError::Locked(path),
            (Some(C::ReadOnly | C::CannotOpen), StateError::Database(source)) => {
                StateError::Open { path, source }
            }
            (_, e) => e,
        }
    }

    /// A damaged outbox page: corruption, never skipped.
    fn damaged(&self, first_seq: i64) -> StateError {
        StateError::Corrupt {
            path: self.path.display().to_string(),
            detail: format!("the outbox page starting at event {first_seq} is damaged"),
        }
    }

    #[cfg(test)]
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }
}

/// Creates the database file with mode 0600 (and missing parent directories with 0700) before SQLite
/// opens it, so events and settings are never readable by others, even for a moment.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    if path.exists() {
        return Ok(());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::files::create_private_dir(dir)?;
    }
    match crate::files::private_options()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Makes an existing database and its WAL and shared-memory files (SQLite gives them the database's
/// mode) private: they hold emails and IP addresses. By path only: a descriptor opened and closed here
/// would release this process's SQLite locks on the file.
fn tighten_database_files(path: &Path) {
    crate::files::tighten_path(path);
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        crate::files::tighten_path_quietly(Path::new(&name));
    }
}

/// The state in one SQLite file: instances, cursors, the outbox, versions and the tick log.
#[derive(Clone)]
pub struct SqliteState {
    db: Arc<Mutex<Db>>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteState")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteState {
    /// Opens the state file, creating it (mode 0600, and its directory) or migrating it as needed.
    pub fn open(path: &Path) -> Result<SqliteState, StateError> {
        Ok(SqliteState::from_db(Db::open(path)?))
    }

    /// Adopts a connection an embedder already opened on a database file, creating or migrating the
    /// okta-ingest tables in it. The file must be on disk: delivery opens a second connection to it.
    pub fn from_connection(conn: Connection) -> Result<SqliteState, StateError> {
        let path = match conn.path() {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => {
                return Err(StateError::Open {
                    path: ":memory:".into(),
                    source: "an in-memory database cannot be shared with the delivery worker"
                        .into(),
                })
            }
        };
        Ok(SqliteState::from_db(Db::adopt(conn, path)?))
    }

    fn from_db(db: Db) -> SqliteState {
        SqliteState {
            path: db.path.clone(),
            db: Arc::new(Mutex::new(db)),
        }
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the connection, classifying its error.
    fn with<T>(&self, f: impl FnOnce(&mut Db) -> Result<T, StateError>) -> Result<T, StateError> {
        let mut db = self.lock();
        f(&mut db).map_err(|e| db.classify(e))
    }

    fn lock(&self) -> MutexGuard<'_, Db> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl InstanceStore for SqliteState {
    async fn add_instance(&self, new: &NewInstanceRecord) -> Result<Instance, StateError> {
        self.with(|db| db.add_instance(new))
    }
    async fn edit_instance(
        &self,
        name: &str,
        changes: &InstanceChanges,
    ) -> Result<Instance, StateError> {
        self.with(|db| db.edit_instance(name, changes))
    }
    async fn remove_instance(&self, name: &str) -> Result<(), StateError> {
        self.with(|db| db.remove_instance(name))
    }
    async fn list_instances(&self) -> Result<Vec<Instance>, StateError> {
        self.with(|db| db.list_instances())
    }
    async fn instance(&self, name: &str) -> Result<Instance, StateError> {
        self.with(|db| db.instance(name))
    }
    async fn instance_by_id(&self, id: i64) -> Result<Option<Instance>, StateError> {
        self.with(|db| db.instance_by_id(id))
    }
    async fn cursor(&self, instance_id: i64) -> Result<Option<Vec<u8>>, StateError> {
        self.with(|db| db.cursor(instance_id))
    }
}

#[async_trait]
impl Outbox for SqliteState {
    async fn commit_page(&self, page: Page) -> Result<(), StateError> {
        // Encoding, compression and the synced commit take milliseconds; the runtime calls this from a
        // blocking thread of its own, so it runs inline (another hop would only add latency).
        self.with(|db| db.commit_page(&page))
    }
    async fn outbox_depth(&self) -> Result<i64, StateError> {
        self.with(|db| db.outbox_depth())
    }
}

#[async_trait]
impl VersionStore for SqliteState {
    async fn add_component(
        &self,
        component: &ComponentRecord,
        _bytes: &[u8],
    ) -> Result<(), StateError> {
        // The bytes are in the component store beside the file (`record.path`).
        self.with(|db| db.add_component(component))
    }
    async fn component_bytes(&self, _hash: &ComponentHash) -> Result<Option<Vec<u8>>, StateError> {
        Ok(None)
    }
    async fn components(&self) -> Result<Vec<ComponentRecord>, StateError> {
        self.with(|db| db.components())
    }
    async fn component(&self, hash: &ComponentHash) -> Result<Option<ComponentRecord>, StateError> {
        self.with(|db| db.component(hash))
    }
    async fn append_activation(
        &self,
        scope: Scope,
        version: &Version,
        kind: ActivationKind,
        reason: &str,
    ) -> Result<(), StateError> {
        self.with(|db| db.append_activation(scope, version, kind, reason))
    }
    async fn activations(&self, scope: Scope) -> Result<Vec<Activation>, StateError> {
        self.with(|db| db.activations(scope))
    }
    async fn newest_activation(&self, scope: Scope) -> Result<Option<Activation>, StateError> {
        self.with(|db| db.newest_activation(scope))
    }
    async fn activation_generation(&self) -> Result<i64, StateError> {
        self.with(|db| db.activation_generation())
    }
    async fn record_failure(&self, instance_id: i64, version: &Version) -> Result<u32, StateError> {
        self.with(|db| db.record_failure(instance_id, version))
    }
    async fn clear_failures(&self, instance_id: i64) -> Result<(), StateError> {
        self.with(|db| db.clear_failures(instance_id))
    }
}

#[async_trait]
impl TickLog for SqliteState {
    async fn record_ticks(&self, ticks: &[(i64, TickRecord)]) -> Result<(), StateError> {
        self.with(|db| db.record_ticks(ticks))
    }
    async fn instance_stats(
        &self,
        since_ms: i64,
    ) -> Result<HashMap<i64, InstanceStats>, StateError> {
        self.with(|db| db.instance_stats(since_ms))
    }
    async fn events_per_hour(
        &self,
        instance_id: i64,
        since_ms: i64,
    ) -> Result<Vec<(i64, u64)>, StateError> {
        self.with(|db| db.events_per_hour(instance_id, since_ms))
    }
}

#[async_trait]
impl ArtifactLedger for SqliteState {
    async fn artifact_digest(&self, name: &str) -> Result<Option<String>, StateError> {
        self.with(|db| db.artifact_digest(name))
    }
    async fn record_artifact(&self, name: &str, sha256: &str) -> Result<(), StateError> {
        self.with(|db| db.record_artifact(name, sha256))
    }
}

#[async_trait]
impl NonceStore for SqliteState {
    async fn dpop_nonce(&self, domain: &str) -> Result<Option<(String, i64)>, StateError> {
        self.with(|db| db.dpop_nonce(domain))
    }
    async fn keep_dpop_nonce(
        &self,
        domain: &str,
        nonce: &str,
        received_ms: i64,
    ) -> Result<(), StateError> {
        self.with(|db| db.keep_dpop_nonce(domain, nonce, received_ms))
    }
}

#[async_trait]
impl StateBackend for SqliteState {
    async fn delivery(&self) -> Result<Box<dyn DeliveryStore>, StateError> {
        Ok(Box::new(delivery::SqliteDelivery::open(&self.path)?))
    }
    async fn claim_runner(&self) -> Result<RunnerLock, StateError> {
        runner::claim(&self.path)
    }
    fn location(&self) -> String {
        self.path.display().to_string()
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Helpers for the state tests of this module's files.

    pub(crate) use crate::state::testing::{event, new_instance, page};

    /// A fresh database in `dir`.
    pub(crate) fn db(dir: &std::path::Path) -> super::Db {
        super::Db::open(&dir.join("s.db")).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    #[test]
    fn wal_and_synchronous_full() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(dir.path());
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
        Db::open(&p).unwrap();
        let holder = Connection::open(&p).unwrap();
        holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let conn = Connection::open(&p).unwrap();
        conn.busy_timeout(Duration::from_millis(50)).unwrap();
        let db = Db {
            conn,
            path: p.clone(),
        };
        let e = db
            .conn
            .execute("UPDATE delivery SET acked_seq=acked_seq WHERE id=1", [])
            .map_err(StateError::from)
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
        Db::open(&p).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn a_file_that_is_not_a_database_is_reported_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.db");
        std::fs::write(&p, vec![0x42u8; 8192]).unwrap();
        let e = Db::open(&p).err().expect("must fail");
        assert!(matches!(e, StateError::Corrupt { .. }), "{e}");
    }

    #[test]
    fn an_in_memory_database_is_refused() {
        let memory = Connection::open_in_memory().unwrap();
        assert!(
            SqliteState::from_connection(memory).is_err(),
            "delivery needs a file"
        );
    }
}
