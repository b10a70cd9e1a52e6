//! Connector versions: components stored content-addressed (by SHA-256) beside the state database, and
//! an append-only history of activations, globally or per instance. The active version of an instance is
//! its newest per-instance activation, else the newest global one, else the connector embedded in the
//! binary. Rolling back re-activates the version that was active before the current one.

use crate::state::{now_ms, StateDb, StateError};
use rusqlite::{params, OptionalExtension};
use std::path::PathBuf;

/// A stored component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentRecord {
    /// SHA-256 of the `.wasm`, hex.
    pub hash: String,
    /// Connector name from `describe`.
    pub name: String,
    /// Semantic version from `describe`.
    pub version: String,
    /// WIT version it targets.
    pub wit_version: String,
    /// Cursor-state schema it reads and writes.
    pub state_schema: u32,
    /// The stored copy.
    pub path: PathBuf,
    /// When it was added, Unix ms.
    pub added_ms: i64,
}

/// One entry of the activation history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationRecord {
    /// Order of activations.
    pub seq: i64,
    /// `None`: all instances.
    pub instance_id: Option<i64>,
    /// `None`: the embedded connector.
    pub hash: Option<String>,
    /// When, Unix ms.
    pub at_ms: i64,
    /// `activate`, `rollback`, or `auto-rollback: ...`.
    pub reason: String,
}

/// Stores a component record (idempotent for the same hash).
pub fn add_component(db: &StateDb, c: &ComponentRecord) -> Result<(), StateError> {
    db.conn().execute(
        "INSERT OR IGNORE INTO components(hash, name, version, wit_version, state_schema, path, added_ms)
         VALUES (?1,?2,?3,?4,?5,?6,?7)",
        params![c.hash, c.name, c.version, c.wit_version, c.state_schema, c.path.to_string_lossy(), now_ms()],
    )?;
    Ok(())
}

fn component_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ComponentRecord> {
    Ok(ComponentRecord {
        hash: r.get(0)?,
        name: r.get(1)?,
        version: r.get(2)?,
        wit_version: r.get(3)?,
        state_schema: r.get(4)?,
        path: PathBuf::from(r.get::<_, String>(5)?),
        added_ms: r.get(6)?,
    })
}

const COMPONENT_COLUMNS: &str = "hash, name, version, wit_version, state_schema, path, added_ms";

/// All stored components, oldest first.
pub fn list_components(db: &StateDb) -> Result<Vec<ComponentRecord>, StateError> {
    let mut stmt = db.conn().prepare(&format!(
        "SELECT {COMPONENT_COLUMNS} FROM components ORDER BY added_ms, hash"
    ))?;
    let rows = stmt.query_map([], component_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A component by hash.
pub fn component(db: &StateDb, hash: &str) -> Result<Option<ComponentRecord>, StateError> {
    Ok(db
        .conn()
        .query_row(
            &format!("SELECT {COMPONENT_COLUMNS} FROM components WHERE hash = ?1"),
            [hash],
            component_row,
        )
        .optional()?)
}

/// Finds components by exact version or by hash prefix (at least 8 hex digits).
pub fn find_components(
    db: &StateDb,
    version_or_hash: &str,
) -> Result<Vec<ComponentRecord>, StateError> {
    let all = list_components(db)?;
    let by_version: Vec<ComponentRecord> = all
        .iter()
        .filter(|c| c.version == version_or_hash)
        .cloned()
        .collect();
    if !by_version.is_empty() {
        return Ok(by_version);
    }
    if version_or_hash.len() >= 8 {
        return Ok(all
            .into_iter()
            .filter(|c| c.hash.starts_with(version_or_hash))
            .collect());
    }
    Ok(Vec::new())
}

/// Appends an activation (`hash` `None` = embedded) for one instance or all.
pub fn activate(
    db: &StateDb,
    instance_id: Option<i64>,
    hash: Option<&str>,
    reason: &str,
) -> Result<(), StateError> {
    db.conn().execute(
        "INSERT INTO activations(instance_id, hash, at_ms, reason) VALUES (?1,?2,?3,?4)",
        params![instance_id, hash, now_ms(), reason],
    )?;
    Ok(())
}

/// The newest activation for exactly this scope (`None` = the global scope).
fn newest(db: &StateDb, instance_id: Option<i64>) -> Result<Option<ActivationRecord>, StateError> {
    Ok(history(db, instance_id)?.into_iter().last())
}

/// The activation history of one scope, oldest first.
pub fn history(
    db: &StateDb,
    instance_id: Option<i64>,
) -> Result<Vec<ActivationRecord>, StateError> {
    let mut stmt = db.conn().prepare_cached(
        "SELECT seq, instance_id, hash, at_ms, reason FROM activations
         WHERE instance_id IS ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map([instance_id], |r| {
        Ok(ActivationRecord {
            seq: r.get(0)?,
            instance_id: r.get(1)?,
            hash: r.get(2)?,
            at_ms: r.get(3)?,
            reason: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The activation in force for an instance: its own newest, else the global newest; `None` if neither
/// exists (the embedded connector).
pub fn active_for(db: &StateDb, instance_id: i64) -> Result<Option<ActivationRecord>, StateError> {
    if let Some(a) = newest(db, Some(instance_id))? {
        return Ok(Some(a));
    }
    newest(db, None)
}

/// A number that changes whenever any activation is recorded (cheap to poll before each tick).
pub fn generation(db: &StateDb) -> Result<i64, StateError> {
    Ok(db
        .conn()
        .query_row("SELECT COALESCE(MAX(seq), 0) FROM activations", [], |r| {
            r.get(0)
        })?)
}

/// The versions activated in a scope and not rolled back, oldest first: activations push, rollbacks pop.
fn stack(hist: &[ActivationRecord]) -> Vec<Option<String>> {
    let mut st = Vec::new();
    for a in hist {
        if a.reason.starts_with("activate") {
            st.push(a.hash.clone());
        } else {
            st.pop();
        }
    }
    st
}

/// Undoes the newest activation still in force in a scope: the version activated before it comes back
/// (for an instance with none, the global choice; globally with none, the embedded connector). Returns
/// the version now active in that scope (`Some(None)` = embedded), or `None` if nothing can be undone.
pub fn rollback(
    db: &StateDb,
    instance_id: Option<i64>,
    reason: &str,
) -> Result<Option<Option<String>>, StateError> {
    let mut st = stack(&history(db, instance_id)?);
    if st.pop().is_none() {
        return Ok(None);
    }
    let target = match (st.last(), instance_id) {
        (Some(previous), _) => previous.clone(),
        (None, Some(_)) => newest(db, None)?.and_then(|a| a.hash),
        (None, None) => None,
    };
    debug_assert!(!reason.starts_with("activate"));
    activate(db, instance_id, target.as_deref(), reason)?;
    Ok(Some(target))
}

/// Counts one more consecutive failure of `hash` on an instance (a failure on another version restarts
/// the count); returns the count. Kept in the database so separate `run --once` processes add up.
pub fn record_failure(
    db: &StateDb,
    instance_id: i64,
    hash: Option<&str>,
) -> Result<u32, StateError> {
    Ok(db.conn().query_row(
        "INSERT INTO version_failures(instance_id, hash, count) VALUES (?1, ?2, 1)
         ON CONFLICT(instance_id) DO UPDATE SET
            count = CASE WHEN hash IS excluded.hash THEN count + 1 ELSE 1 END,
            hash = excluded.hash
         RETURNING count",
        params![instance_id, hash],
        |r| r.get(0),
    )?)
}

/// Forgets an instance's failure count (after a successful tick or a rollback).
pub fn clear_failures(db: &StateDb, instance_id: i64) -> Result<(), StateError> {
    db.conn().execute(
        "DELETE FROM version_failures WHERE instance_id = ?1",
        [instance_id],
    )?;
    Ok(())
}

/// Rolls one instance back from a failing version: undoes its own newest activation if it has one, else
/// pins it to the global version before the current global one (or the embedded connector). Returns the
/// version now active for it, or `None` when it already runs the embedded connector.
pub fn auto_rollback(
    db: &StateDb,
    instance_id: i64,
    reason: &str,
) -> Result<Option<Option<String>>, StateError> {
    if !stack(&history(db, Some(instance_id))?).is_empty() {
        return rollback(db, Some(instance_id), reason);
    }
    let mut global = stack(&history(db, None)?);
    if global.pop().is_none() {
        return Ok(None);
    }
    let target = global.last().cloned().flatten();
    activate(db, Some(instance_id), target.as_deref(), reason)?;
    Ok(Some(target))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(hash: &str, version: &str) -> ComponentRecord {
        ComponentRecord {
            hash: hash.into(),
            name: "okta-system-log".into(),
            version: version.into(),
            wit_version: "1.0.0".into(),
            state_schema: 1,
            path: format!("/c/{hash}.wasm").into(),
            added_ms: 0,
        }
    }

    #[test]
    fn activation_scopes_and_rollback() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(&dir.path().join("s.db")).unwrap();
        add_component(&db, &rec("aaaaaaaa11", "1.0.0")).unwrap();
        add_component(&db, &rec("bbbbbbbb22", "1.1.0")).unwrap();
        assert_eq!(find_components(&db, "1.1.0").unwrap().len(), 1);
        assert_eq!(
            find_components(&db, "aaaaaaaa").unwrap()[0].version,
            "1.0.0"
        );
        assert!(
            find_components(&db, "aaa").unwrap().is_empty(),
            "short prefixes are ambiguous"
        );
        assert_eq!(
            active_for(&db, 7).unwrap(),
            None,
            "nothing activated: embedded"
        );
        let g0 = generation(&db).unwrap();
        activate(&db, None, Some("aaaaaaaa11"), "activate").unwrap();
        activate(&db, None, Some("bbbbbbbb22"), "activate").unwrap();
        assert!(generation(&db).unwrap() > g0);
        assert_eq!(
            active_for(&db, 7).unwrap().unwrap().hash.as_deref(),
            Some("bbbbbbbb22")
        );
        // A canary on one instance.
        activate(&db, Some(7), Some("aaaaaaaa11"), "activate").unwrap();
        assert_eq!(
            active_for(&db, 7).unwrap().unwrap().hash.as_deref(),
            Some("aaaaaaaa11")
        );
        assert_eq!(
            active_for(&db, 8).unwrap().unwrap().hash.as_deref(),
            Some("bbbbbbbb22")
        );
        // Instance rollback with no earlier per-instance version falls back to the global choice.
        assert_eq!(
            rollback(&db, Some(7), "rollback").unwrap(),
            Some(Some("bbbbbbbb22".into()))
        );
        // Global rollback goes back to the previous global version.
        assert_eq!(
            rollback(&db, None, "rollback").unwrap(),
            Some(Some("aaaaaaaa11".into()))
        );
        assert_eq!(
            active_for(&db, 8).unwrap().unwrap().hash.as_deref(),
            Some("aaaaaaaa11")
        );
        // ...and once more to the embedded connector; then there is nothing left to undo.
        assert_eq!(rollback(&db, None, "rollback").unwrap(), Some(None));
        assert_eq!(active_for(&db, 8).unwrap().unwrap().hash, None);
        assert_eq!(rollback(&db, None, "rollback").unwrap(), None);
        // A failing global version is rolled back for one instance only.
        activate(&db, None, Some("bbbbbbbb22"), "activate").unwrap();
        assert_eq!(
            auto_rollback(&db, 9, "auto-rollback: trapped").unwrap(),
            Some(None)
        );
        assert_eq!(active_for(&db, 9).unwrap().unwrap().hash, None);
        assert_eq!(
            active_for(&db, 8).unwrap().unwrap().hash.as_deref(),
            Some("bbbbbbbb22")
        );
        assert_eq!(record_failure(&db, 9, Some("x")).unwrap(), 1);
        assert_eq!(record_failure(&db, 9, Some("x")).unwrap(), 2);
        assert_eq!(
            record_failure(&db, 9, Some("y")).unwrap(),
            1,
            "another version starts over"
        );
        clear_failures(&db, 9).unwrap();
        assert_eq!(record_failure(&db, 9, Some("y")).unwrap(), 1);
        let empty = tempfile::tempdir().unwrap();
        let db2 = StateDb::open(&empty.path().join("s.db")).unwrap();
        assert_eq!(
            rollback(&db2, None, "rollback").unwrap(),
            None,
            "nothing to roll back"
        );
    }
}
