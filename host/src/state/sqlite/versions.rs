//! Connector versions: `components` (stored `.wasm` files by SHA-256), `activations` (an append-only
//! history per scope, with its kind as a column) and `version_failures` (consecutive failures of an
//! instance's version). What the history means (which version is active, what a rollback restores) is
//! the versions service's, not the store's.

use super::{now_as_stored, Db};
use crate::state::{
    Activation, ActivationKind, ComponentHash, ComponentRecord, Scope, StateError, Version,
};
use rusqlite::{params, OptionalExtension};
use std::path::PathBuf;

const COMPONENT_COLUMNS: &str = "hash, name, version, wit_version, state_schema, path, added_ms";

fn component_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ComponentRecord> {
    Ok(ComponentRecord {
        hash: ComponentHash::from_stored(r.get(0)?),
        name: r.get(1)?,
        version: r.get(2)?,
        wit_version: r.get(3)?,
        state_schema: r.get(4)?,
        path: PathBuf::from(r.get::<_, String>(5)?),
        added_ms: r.get(6)?,
    })
}

fn activation_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Activation> {
    let scope = match r.get::<_, Option<i64>>(1)? {
        None => Scope::Global,
        Some(id) => Scope::Instance(id),
    };
    let version = match r.get::<_, Option<String>>(2)? {
        None => Version::Embedded,
        Some(h) => Version::Stored(ComponentHash::from_stored(h)),
    };
    let kind: String = r.get(4)?;
    Ok(Activation {
        seq: r.get(0)?,
        scope,
        version,
        at_ms: r.get(3)?,
        // Unknown kinds cannot be written by this build; a hand-edited row counts as a rollback.
        kind: ActivationKind::from_name(&kind).unwrap_or(ActivationKind::Rollback),
        reason: r.get(5)?,
    })
}

fn scope_id(scope: Scope) -> Option<i64> {
    match scope {
        Scope::Global => None,
        Scope::Instance(id) => Some(id),
    }
}

impl Db {
    pub(crate) fn add_component(&self, c: &ComponentRecord) -> Result<(), StateError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO components(hash, name, version, wit_version, state_schema, path, added_ms)
             VALUES (?1,?2,?3,?4,?5,?6,?7)",
            params![
                c.hash.as_str(),
                c.name,
                c.version,
                c.wit_version,
                c.state_schema,
                c.path.to_string_lossy(),
                c.added_ms
            ],
        )?;
        Ok(())
    }

    pub(crate) fn components(&self) -> Result<Vec<ComponentRecord>, StateError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COMPONENT_COLUMNS} FROM components ORDER BY added_ms, hash"
        ))?;
        let rows = stmt.query_map([], component_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(crate) fn component(
        &self,
        hash: &ComponentHash,
    ) -> Result<Option<ComponentRecord>, StateError> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {COMPONENT_COLUMNS} FROM components WHERE hash = ?1"
            ))?
            .query_row([hash.as_str()], component_row)
            .optional()?)
    }

    pub(crate) fn append_activation(
        &self,
        scope: Scope,
        version: &Version,
        kind: ActivationKind,
        reason: &str,
    ) -> Result<(), StateError> {
        self.conn.execute(
            "INSERT INTO activations(instance_id, hash, at_ms, kind, reason) VALUES (?1,?2,?3,?4,?5)",
            params![
                scope_id(scope),
                version.hash().map(ComponentHash::as_str),
                now_as_stored(),
                kind.as_str(),
                reason
            ],
        )?;
        Ok(())
    }

    pub(crate) fn activations(&self, scope: Scope) -> Result<Vec<Activation>, StateError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, instance_id, hash, at_ms, kind, reason FROM activations
             WHERE instance_id IS ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([scope_id(scope)], activation_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(crate) fn newest_activation(&self, scope: Scope) -> Result<Option<Activation>, StateError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT seq, instance_id, hash, at_ms, kind, reason FROM activations
                 WHERE instance_id IS ?1 ORDER BY seq DESC LIMIT 1",
            )?
            .query_row([scope_id(scope)], activation_row)
            .optional()?)
    }

    pub(crate) fn activation_generation(&self) -> Result<i64, StateError> {
        Ok(self
            .conn
            .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM activations")?
            .query_row([], |r| r.get(0))?)
    }

    pub(crate) fn record_failure(
        &self,
        instance_id: i64,
        version: &Version,
    ) -> Result<u32, StateError> {
        Ok(self.conn.query_row(
            "INSERT INTO version_failures(instance_id, hash, count) VALUES (?1, ?2, 1)
             ON CONFLICT(instance_id) DO UPDATE SET
                count = CASE WHEN hash IS excluded.hash THEN count + 1 ELSE 1 END,
                hash = excluded.hash
             RETURNING count",
            params![instance_id, version.hash().map(ComponentHash::as_str)],
            |r| r.get(0),
        )?)
    }

    pub(crate) fn clear_failures(&self, instance_id: i64) -> Result<(), StateError> {
        self.conn.execute(
            "DELETE FROM version_failures WHERE instance_id = ?1",
            [instance_id],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::db;
    use super::*;

    fn rec(hash: &str, version: &str) -> ComponentRecord {
        ComponentRecord {
            hash: ComponentHash::from_stored(hash.into()),
            name: "okta-system-log".into(),
            version: version.into(),
            wit_version: "1.0.0".into(),
            state_schema: 1,
            path: format!("/c/{hash}.wasm").into(),
            added_ms: 0,
        }
    }

    #[test]
    fn components_are_stored_once_by_hash() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(dir.path());
        db.add_component(&rec("aaaaaaaa11", "1.0.0")).unwrap();
        db.add_component(&rec("aaaaaaaa11", "1.0.0")).unwrap();
        db.add_component(&rec("bbbbbbbb22", "1.1.0")).unwrap();
        assert_eq!(db.components().unwrap().len(), 2);
        let h = ComponentHash::from_stored("bbbbbbbb22".into());
        assert_eq!(db.component(&h).unwrap().unwrap().version, "1.1.0");
        assert_eq!(
            db.component(&ComponentHash::from_stored("cc".into()))
                .unwrap(),
            None
        );
    }

    #[test]
    fn the_history_keeps_scope_version_and_kind() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(dir.path());
        let g0 = db.activation_generation().unwrap();
        let a = Version::Stored(ComponentHash::from_stored("aa".into()));
        db.append_activation(Scope::Global, &a, ActivationKind::Activate, "activate")
            .unwrap();
        db.append_activation(
            Scope::Instance(7),
            &Version::Embedded,
            ActivationKind::AutoRollback,
            "trapped",
        )
        .unwrap();
        assert!(db.activation_generation().unwrap() > g0);
        let global = db.activations(Scope::Global).unwrap();
        assert_eq!(
            (global.len(), &global[0].version, global[0].kind),
            (1, &a, ActivationKind::Activate)
        );
        let newest = db.newest_activation(Scope::Instance(7)).unwrap().unwrap();
        assert_eq!(
            (newest.version, newest.kind, newest.reason.as_str()),
            (Version::Embedded, ActivationKind::AutoRollback, "trapped")
        );
        assert_eq!(db.newest_activation(Scope::Instance(8)).unwrap(), None);
    }

    #[test]
    fn failures_count_per_version_and_clear() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(dir.path());
        let x = Version::Stored(ComponentHash::from_stored("x".into()));
        let y = Version::Stored(ComponentHash::from_stored("y".into()));
        assert_eq!(db.record_failure(9, &x).unwrap(), 1);
        assert_eq!(db.record_failure(9, &x).unwrap(), 2);
        assert_eq!(
            db.record_failure(9, &y).unwrap(),
            1,
            "another version starts over"
        );
        db.clear_failures(9).unwrap();
        assert_eq!(db.record_failure(9, &y).unwrap(), 1);
        assert_eq!(db.record_failure(9, &Version::Embedded).unwrap(), 1);
    }
}
