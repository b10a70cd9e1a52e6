//! Instances and their cursors in a fleet's state. Each row carries its shard (from its domain, so a
//! domain edit moves it) and its own event count (`next_seq`, which the page commit compares).

use super::PostgresState;
use crate::exclusions::Exclusions;
use crate::redaction::Redaction;
use crate::state::{
    shard_of, Instance, InstanceChanges, LastOutcome, NewInstanceRecord, StateError,
};
use okta_ingest_model::{Categories, DpopMode, TokenScheme};
use std::path::PathBuf;
use tokio_postgres::error::SqlState;

const SELECT: &str = "SELECT id, name, domain, client_id, key_id, private_key_path, backfill_days,
    categories, ca_file, created_ms, cursor IS NOT NULL, last_tick_ms, last_outcome, last_error,
    events_total, dpop, token_scheme, silence_after_s, paused, pending_key_path, pending_key_id,
    excluded_event_types, redaction FROM instances";

fn row(r: &tokio_postgres::Row) -> Instance {
    Instance {
        id: r.get(0),
        name: r.get(1),
        domain: r.get(2),
        client_id: r.get(3),
        key_id: r.get(4),
        private_key_path: PathBuf::from(r.get::<_, String>(5)),
        backfill_days: u8::try_from(r.get::<_, i16>(6)).unwrap_or(0),
        categories: Categories::from_bits(r.get::<_, i32>(7) as u8),
        ca_file: r.get::<_, Option<String>>(8).map(PathBuf::from),
        created_ms: r.get(9),
        has_cursor: r.get(10),
        last_tick_ms: r.get(11),
        last_outcome: r
            .get::<_, Option<String>>(12)
            .as_deref()
            .and_then(LastOutcome::from_name),
        last_error: r.get(13),
        events_total: r.get(14),
        dpop: DpopMode::parse(&r.get::<_, String>(15)).unwrap_or_default(),
        token_scheme: r
            .get::<_, Option<String>>(16)
            .as_deref()
            .and_then(TokenScheme::parse),
        silence_after_s: r.get(17),
        paused: r.get(18),
        pending_key: match (
            r.get::<_, Option<String>>(19),
            r.get::<_, Option<String>>(20),
        ) {
            (Some(path), Some(kid)) => Some((PathBuf::from(path), kid)),
            _ => None,
        },
        exclusions: Exclusions::from_stored(&r.get::<_, String>(21)),
        redaction: Redaction::from_stored(&r.get::<_, String>(22)),
    }
}

fn path_text(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

impl PostgresState {
    pub(crate) async fn pg_add_instance(
        &self,
        new: &NewInstanceRecord,
    ) -> Result<Instance, StateError> {
        let client = self.client().await?;
        let r = client
            .execute(
                "INSERT INTO instances(name, domain, shard, client_id, key_id, private_key_path,
                    backfill_days, categories, ca_file, created_ms, dpop, silence_after_s, paused,
                    excluded_event_types, redaction)
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)",
                &[
                    &new.name,
                    &new.domain,
                    &(shard_of(&new.domain) as i32),
                    &new.client_id,
                    &new.key_id,
                    &path_text(&new.private_key_path),
                    &i16::from(new.backfill_days),
                    &i32::from(new.categories.bits()),
                    &new.ca_file.as_deref().map(path_text),
                    &super::now_as_stored(),
                    &new.dpop.as_str(),
                    &new.silence_after_s,
                    &new.paused,
                    &new.exclusions.to_stored(),
                    &new.redaction.to_stored(),
                ],
            )
            .await;
        // Give the connection back before reading the row on another: holding one while waiting for a
        // second deadlocks a pool whose every connection is held by such a call.
        drop(client);
        match r {
            Ok(_) => self.pg_instance(&new.name).await,
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                Err(StateError::DuplicateInstance(new.name.clone()))
            }
            Err(e) => Err(self.db(e)),
        }
    }

    pub(crate) async fn pg_list_instances(&self) -> Result<Vec<Instance>, StateError> {
        let client = self.client().await?;
        let rows = client
            .query(&format!("{SELECT} ORDER BY name"), &[])
            .await
            .map_err(|e| self.db(e))?;
        Ok(rows.iter().map(row).collect())
    }

    pub(crate) async fn pg_instance_by_id(&self, id: i64) -> Result<Option<Instance>, StateError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!("{SELECT} WHERE id = $1"))
            .await
            .map_err(|e| self.db(e))?;
        let r = client
            .query_opt(&stmt, &[&id])
            .await
            .map_err(|e| self.db(e))?;
        Ok(r.as_ref().map(row))
    }

    pub(crate) async fn pg_instance(&self, name: &str) -> Result<Instance, StateError> {
        let client = self.client().await?;
        client
            .query_opt(&format!("{SELECT} WHERE name = $1"), &[&name])
            .await
            .map_err(|e| self.db(e))?
            .as_ref()
            .map(row)
            .ok_or_else(|| StateError::NoSuchInstance(name.to_string()))
    }

    pub(crate) async fn pg_edit_instance(
        &self,
        name: &str,
        edit: &InstanceChanges,
    ) -> Result<Instance, StateError> {
        let cur = self.pg_instance(name).await?;
        let domain = edit.domain.as_ref().unwrap_or(&cur.domain);
        let domain_changed = *domain != cur.domain;
        let pending = edit.pending_key.clone().unwrap_or(cur.pending_key.clone());
        let client = self.client().await?;
        client
            .execute(
                "UPDATE instances SET domain=$2, shard=$3, client_id=$4, key_id=$5,
                    private_key_path=$6, categories=$7, ca_file=$8, dpop=$9, silence_after_s=$10,
                    paused=$11, pending_key_path=$12, pending_key_id=$13,
                    cursor = CASE WHEN $14 THEN NULL ELSE cursor END, excluded_event_types=$15,
                    redaction=$16
                 WHERE id=$1",
                &[
                    &cur.id,
                    domain,
                    &(shard_of(domain) as i32),
                    edit.client_id.as_ref().unwrap_or(&cur.client_id),
                    &edit.key_id.clone().unwrap_or(cur.key_id.clone()),
                    &path_text(
                        edit.private_key_path
                            .as_ref()
                            .unwrap_or(&cur.private_key_path),
                    ),
                    &i32::from(edit.categories.unwrap_or(cur.categories).bits()),
                    &edit
                        .ca_file
                        .clone()
                        .unwrap_or(cur.ca_file.clone())
                        .as_deref()
                        .map(path_text),
                    &edit.dpop.unwrap_or(cur.dpop).as_str(),
                    &edit.silence_after_s.unwrap_or(cur.silence_after_s),
                    &edit.paused.unwrap_or(cur.paused),
                    &pending.as_ref().map(|(p, _)| path_text(p)),
                    &pending.as_ref().map(|(_, kid)| kid.clone()),
                    &domain_changed,
                    &edit
                        .exclusions
                        .as_ref()
                        .unwrap_or(&cur.exclusions)
                        .to_stored(),
                    &edit
                        .redaction
                        .as_ref()
                        .unwrap_or(&cur.redaction)
                        .to_stored(),
                ],
            )
            .await
            .map_err(|e| self.db(e))?;
        drop(client);
        self.pg_instance(name).await
    }

    pub(crate) async fn pg_remove_instance(&self, name: &str) -> Result<(), StateError> {
        let client = self.client().await?;
        let n = client
            .execute("DELETE FROM instances WHERE name = $1", &[&name])
            .await
            .map_err(|e| self.db(e))?;
        if n == 0 {
            return Err(StateError::NoSuchInstance(name.to_string()));
        }
        Ok(())
    }

    pub(crate) async fn pg_cursor(&self, instance_id: i64) -> Result<Option<Vec<u8>>, StateError> {
        let client = self.client().await?;
        let r = client
            .query_opt(
                "SELECT cursor FROM instances WHERE id = $1",
                &[&instance_id],
            )
            .await
            .map_err(|e| self.db(e))?;
        Ok(r.and_then(|r| r.get::<_, Option<Vec<u8>>>(0)))
    }
}
