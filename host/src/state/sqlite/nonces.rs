//! `dpop_nonces`: the newest `dpop-nonce` of each Okta domain's token endpoint.

use super::Db;
use crate::state::StateError;
use rusqlite::{params, OptionalExtension};

impl Db {
    pub(crate) fn dpop_nonce(&self, domain: &str) -> Result<Option<(String, i64)>, StateError> {
        Ok(self
            .conn
            .prepare_cached("SELECT nonce, received_ms FROM dpop_nonces WHERE domain = ?1")?
            .query_row([domain], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    pub(crate) fn keep_dpop_nonce(
        &self,
        domain: &str,
        nonce: &str,
        received_ms: i64,
    ) -> Result<(), StateError> {
        self.conn.execute(
            "INSERT INTO dpop_nonces(domain, nonce, received_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT(domain) DO UPDATE SET nonce = excluded.nonce, received_ms = excluded.received_ms",
            params![domain, nonce, received_ms],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::db;

    #[test]
    fn a_nonce_is_kept_per_domain_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(dir.path());
        assert_eq!(db.dpop_nonce("a.okta.com").unwrap(), None);
        db.keep_dpop_nonce("a.okta.com", "n1", 10).unwrap();
        db.keep_dpop_nonce("b.okta.com", "m1", 11).unwrap();
        db.keep_dpop_nonce("a.okta.com", "n2", 12).unwrap();
        assert_eq!(
            db.dpop_nonce("a.okta.com").unwrap(),
            Some(("n2".to_string(), 12))
        );
        assert_eq!(
            db.dpop_nonce("b.okta.com").unwrap(),
            Some(("m1".to_string(), 11))
        );
    }
}
