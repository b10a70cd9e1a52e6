//! What hosts keep to save work: the digests of the compiled components each host wrote (per host: a
//! compiled file lives on that host's disk) and each Okta domain's newest DPoP nonce (shared: any host
//! may talk to the org next).

use super::PostgresState;
use crate::state::StateError;

impl PostgresState {
    pub(crate) async fn pg_artifact_digest(
        &self,
        name: &str,
    ) -> Result<Option<String>, StateError> {
        let client = self.client().await?;
        let r = client
            .query_opt(
                "SELECT sha256 FROM compiled_artifacts WHERE host = $1 AND name = $2",
                &[&self.inner.options.host_name, &name],
            )
            .await
            .map_err(|e| self.db(e))?;
        Ok(r.map(|r| r.get(0)))
    }

    pub(crate) async fn pg_record_artifact(
        &self,
        name: &str,
        sha256: &str,
    ) -> Result<(), StateError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO compiled_artifacts(host, name, sha256, recorded_ms) VALUES ($1,$2,$3,$4)
                 ON CONFLICT (host, name) DO UPDATE SET sha256 = EXCLUDED.sha256,
                    recorded_ms = EXCLUDED.recorded_ms",
                &[&self.inner.options.host_name, &name, &sha256, &super::now_as_stored()],
            )
            .await
            .map_err(|e| self.db(e))?;
        Ok(())
    }

    pub(crate) async fn pg_dpop_nonce(
        &self,
        domain: &str,
    ) -> Result<Option<(String, i64)>, StateError> {
        let client = self.client().await?;
        let r = client
            .query_opt(
                "SELECT nonce, received_ms FROM dpop_nonces WHERE domain = $1",
                &[&domain],
            )
            .await
            .map_err(|e| self.db(e))?;
        Ok(r.map(|r| (r.get(0), r.get(1))))
    }

    pub(crate) async fn pg_keep_dpop_nonce(
        &self,
        domain: &str,
        nonce: &str,
        received_ms: i64,
    ) -> Result<(), StateError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO dpop_nonces(domain, nonce, received_ms) VALUES ($1,$2,$3)
                 ON CONFLICT (domain) DO UPDATE SET nonce = EXCLUDED.nonce,
                    received_ms = EXCLUDED.received_ms",
                &[&domain, &nonce, &received_ms],
            )
            .await
            .map_err(|e| self.db(e))?;
        Ok(())
    }
}
