//! Stored connector versions (the `.wasm` bytes too, so every host of a fleet can load one), their
//! activation history and consecutive-failure counts.

use super::PostgresState;
use crate::state::{
    Activation, ActivationKind, ComponentHash, ComponentRecord, Scope, StateError, Version,
};
use std::path::PathBuf;
use tokio_postgres::GenericClient;

const COMPONENT_COLUMNS: &str = "hash, name, version, wit_version, state_schema, path, added_ms";
const ACTIVATION_COLUMNS: &str = "seq, instance_id, hash, at_ms, kind, reason";

fn component_row(r: &tokio_postgres::Row) -> ComponentRecord {
    ComponentRecord {
        hash: ComponentHash::from_stored(r.get(0)),
        name: r.get(1),
        version: r.get(2),
        wit_version: r.get(3),
        state_schema: u32::try_from(r.get::<_, i64>(4)).unwrap_or(0),
        path: PathBuf::from(r.get::<_, String>(5)),
        added_ms: r.get(6),
    }
}

fn activation_row(r: &tokio_postgres::Row) -> Activation {
    Activation {
        seq: r.get(0),
        scope: match r.get::<_, Option<i64>>(1) {
            None => Scope::Global,
            Some(id) => Scope::Instance(id),
        },
        version: match r.get::<_, Option<String>>(2) {
            None => Version::Embedded,
            Some(h) => Version::Stored(ComponentHash::from_stored(h)),
        },
        at_ms: r.get(3),
        kind: ActivationKind::from_name(&r.get::<_, String>(4)).unwrap_or(ActivationKind::Rollback),
        reason: r.get(5),
    }
}

fn scope_id(scope: Scope) -> Option<i64> {
    match scope {
        Scope::Global => None,
        Scope::Instance(id) => Some(id),
    }
}

/// Stores a component's record and bytes (nothing if its hash is already there): for `component add`
/// and for a state moved from SQLite.
pub(super) async fn insert_component(
    client: &impl GenericClient,
    c: &ComponentRecord,
    bytes: &[u8],
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO components(hash, name, version, wit_version, state_schema, path, added_ms,
                bytes) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (hash) DO NOTHING",
            &[
                &c.hash.as_str(),
                &c.name,
                &c.version,
                &c.wit_version,
                &i64::from(c.state_schema),
                &c.path.to_string_lossy().as_ref(),
                &c.added_ms,
                &bytes,
            ],
        )
        .await?;
    Ok(())
}

/// Appends an activation made at `at_ms`: for `component activate`/`rollback` and for a moved state.
pub(super) async fn insert_activation(
    client: &impl GenericClient,
    scope: Scope,
    version: &Version,
    at_ms: i64,
    kind: ActivationKind,
    reason: &str,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO activations(instance_id, hash, at_ms, kind, reason) VALUES ($1,$2,$3,$4,$5)",
            &[
                &scope_id(scope),
                &version.hash().map(ComponentHash::as_str),
                &at_ms,
                &kind.as_str(),
                &reason,
            ],
        )
        .await?;
    Ok(())
}

impl PostgresState {
    pub(crate) async fn pg_add_component(
        &self,
        c: &ComponentRecord,
        bytes: &[u8],
    ) -> Result<(), StateError> {
        let client = self.client().await?;
        insert_component(&**client, c, bytes)
            .await
            .map_err(|e| self.db(e))
    }

    pub(crate) async fn pg_components(&self) -> Result<Vec<ComponentRecord>, StateError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!("SELECT {COMPONENT_COLUMNS} FROM components ORDER BY added_ms, hash"),
                &[],
            )
            .await
            .map_err(|e| self.db(e))?;
        Ok(rows.iter().map(component_row).collect())
    }

    pub(crate) async fn pg_component(
        &self,
        hash: &ComponentHash,
    ) -> Result<Option<ComponentRecord>, StateError> {
        let client = self.client().await?;
        let r = client
            .query_opt(
                &format!("SELECT {COMPONENT_COLUMNS} FROM components WHERE hash = $1"),
                &[&hash.as_str()],
            )
            .await
            .map_err(|e| self.db(e))?;
        Ok(r.as_ref().map(component_row))
    }

    pub(crate) async fn pg_component_bytes(
        &self,
        hash: &ComponentHash,
    ) -> Result<Option<Vec<u8>>, StateError> {
        let client = self.client().await?;
        let r = client
            .query_opt(
                "SELECT bytes FROM components WHERE hash = $1",
                &[&hash.as_str()],
            )
            .await
            .map_err(|e| self.db(e))?;
        Ok(r.map(|r| r.get(0)))
    }

    pub(crate) async fn pg_append_activation(
        &self,
        scope: Scope,
        version: &Version,
        kind: ActivationKind,
        reason: &str,
    ) -> Result<(), StateError> {
        let client = self.client().await?;
        insert_activation(
            &**client,
            scope,
            version,
            super::now_as_stored(),
            kind,
            reason,
        )
        .await
        .map_err(|e| self.db(e))
    }

    pub(crate) async fn pg_activations(&self, scope: Scope) -> Result<Vec<Activation>, StateError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {ACTIVATION_COLUMNS} FROM activations
                     WHERE instance_id IS NOT DISTINCT FROM $1 ORDER BY seq"
                ),
                &[&scope_id(scope)],
            )
            .await
            .map_err(|e| self.db(e))?;
        Ok(rows.iter().map(activation_row).collect())
    }

    pub(crate) async fn pg_newest_activation(
        &self,
        scope: Scope,
    ) -> Result<Option<Activation>, StateError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {ACTIVATION_COLUMNS} FROM activations
                 WHERE instance_id IS NOT DISTINCT FROM $1 ORDER BY seq DESC LIMIT 1"
            ))
            .await
            .map_err(|e| self.db(e))?;
        let r = client
            .query_opt(&stmt, &[&scope_id(scope)])
            .await
            .map_err(|e| self.db(e))?;
        Ok(r.as_ref().map(activation_row))
    }

    pub(crate) async fn pg_activation_generation(&self) -> Result<i64, StateError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT COALESCE(MAX(seq), 0)::bigint FROM activations")
            .await
            .map_err(|e| self.db(e))?;
        let r = client.query_one(&stmt, &[]).await.map_err(|e| self.db(e))?;
        Ok(r.get(0))
    }

    pub(crate) async fn pg_record_failure(
        &self,
        instance_id: i64,
        version: &Version,
    ) -> Result<u32, StateError> {
        let client = self.client().await?;
        let r = client
            .query_one(
                "INSERT INTO version_failures(instance_id, hash, count) VALUES ($1, $2, 1)
                 ON CONFLICT (instance_id) DO UPDATE SET
                    count = CASE WHEN version_failures.hash IS NOT DISTINCT FROM EXCLUDED.hash
                        THEN version_failures.count + 1 ELSE 1 END,
                    hash = EXCLUDED.hash
                 RETURNING count",
                &[&instance_id, &version.hash().map(ComponentHash::as_str)],
            )
            .await
            .map_err(|e| self.db(e))?;
        Ok(u32::try_from(r.get::<_, i64>(0)).unwrap_or(u32::MAX))
    }

    pub(crate) async fn pg_clear_failures(&self, instance_id: i64) -> Result<(), StateError> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM version_failures WHERE instance_id = $1",
                &[&instance_id],
            )
            .await
            .map_err(|e| self.db(e))?;
        Ok(())
    }
}
