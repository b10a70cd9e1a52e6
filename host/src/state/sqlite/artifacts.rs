//! `compiled_artifacts`: the SHA-256 of each compiled-component file the host wrote into its cache.

use super::{now_as_stored, Db};
use crate::state::StateError;
use rusqlite::{params, OptionalExtension};

impl Db {
    pub(crate) fn artifact_digest(&self, name: &str) -> Result<Option<String>, StateError> {
        Ok(self
            .conn
            .prepare_cached("SELECT sha256 FROM compiled_artifacts WHERE name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional()?)
    }

    pub(crate) fn record_artifact(&self, name: &str, sha256: &str) -> Result<(), StateError> {
        self.conn.execute(
            "INSERT INTO compiled_artifacts(name, sha256, recorded_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT(name) DO UPDATE SET sha256 = excluded.sha256, recorded_ms = excluded.recorded_ms",
            params![name, sha256, now_as_stored()],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::db;

    #[test]
    fn a_digest_is_recorded_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(dir.path());
        assert_eq!(db.artifact_digest("a.cwasm").unwrap(), None);
        db.record_artifact("a.cwasm", "11").unwrap();
        db.record_artifact("a.cwasm", "22").unwrap();
        assert_eq!(
            db.artifact_digest("a.cwasm").unwrap().as_deref(),
            Some("22")
        );
    }
}
