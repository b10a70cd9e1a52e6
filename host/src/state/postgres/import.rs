//! Receiving a single host's state ([`crate::state::migrate`]): one transaction into a target without
//! instances or queued events. Instance ids are kept (queued events and activations name them); each
//! queued event goes to its instance's shard stream, numbered from 1 in the order it was committed,
//! and keeps its place in its instance's own count (the queued events of an instance are its newest).

use super::PostgresState;
use crate::state::migrate::MigrationPlan;
use crate::state::page_codec::page_rows;
use crate::state::{shard_of, PageEvent, StateError, SHARDS};
use std::collections::HashMap;

/// Events per imported page row.
const IMPORT_PAGE: usize = 1000;

impl PostgresState {
    pub(crate) async fn import(&self, plan: &MigrationPlan) -> Result<(), StateError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.db(e))?;
        let db = |e| self.db(e);
        // The pages go into the current bucket's partition, made at connect and kept ahead since.
        // No other host may take part while the target is filled, and it must be empty.
        tx.batch_execute("LOCK TABLE instances, shard_streams IN EXCLUSIVE MODE")
            .await
            .map_err(db)?;
        let (instances, queued): (i64, i64) = {
            let r = tx
                .query_one(
                    "SELECT (SELECT count(*) FROM instances),
                        (SELECT COALESCE(SUM(next_seq - 1), 0)::bigint FROM shard_streams)",
                    &[],
                )
                .await
                .map_err(db)?;
            (r.get(0), r.get(1))
        };
        if instances > 0 || queued > 0 {
            return Err(StateError::Database(
                format!(
                    "the target state already holds {instances} instance(s) and has committed {queued} event(s); move into an empty one"
                )
                .into(),
            ));
        }
        let mut domain_of: HashMap<i64, &str> = HashMap::new();
        let mut own_next: HashMap<i64, i64> = HashMap::new();
        for (i, cursor, published) in &plan.instances {
            domain_of.insert(i.id, &i.domain);
            let queued_of_instance =
                plan.queued.iter().filter(|e| e.instance_id == i.id).count() as i64;
            own_next.insert(i.id, i.events_total - queued_of_instance + 1);
            tx.execute(
                "INSERT INTO instances(id, name, domain, shard, client_id, key_id, private_key_path,
                    backfill_days, categories, ca_file, created_ms, cursor, next_seq, last_tick_ms,
                    last_outcome, last_error, events_total, last_published, dpop, token_scheme,
                    silence_after_s, paused, pending_key_path, pending_key_id, excluded_event_types,
                    redaction)
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,
                    $22,$23,$24,$25,$26)",
                &[
                    &i.id,
                    &i.name,
                    &i.domain,
                    &(shard_of(&i.domain) as i32),
                    &i.client_id,
                    &i.key_id,
                    &i.private_key_path.to_string_lossy().as_ref(),
                    &i16::from(i.backfill_days),
                    &i32::from(i.categories.bits()),
                    &i.ca_file.as_deref().map(|p| p.to_string_lossy().into_owned()),
                    &i.created_ms,
                    cursor,
                    &(i.events_total + 1),
                    &i.last_tick_ms,
                    &i.last_outcome.map(|o| o.as_str()),
                    &i.last_error,
                    &i.events_total,
                    published,
                    &i.dpop.as_str(),
                    &i.token_scheme.map(|t| t.as_str()),
                    &i.silence_after_s,
                    &i.paused,
                    &i.pending_key.as_ref().map(|(p, _)| p.to_string_lossy().into_owned()),
                    &i.pending_key.as_ref().map(|(_, kid)| kid.clone()),
                    &i.exclusions.to_stored(),
                    &i.redaction.to_stored(),
                ],
            )
            .await
            .map_err(db)?;
        }
        tx.batch_execute(
            "SELECT setval(pg_get_serial_sequence('instances', 'id'),
                GREATEST((SELECT COALESCE(MAX(id), 0) FROM instances), 1))",
        )
        .await
        .map_err(db)?;

        // Queued events, in commit order, cut into pages of one instance each.
        let mut stream_next: HashMap<u32, i64> = HashMap::new();
        let mut removed_next: HashMap<i64, i64> = HashMap::new();
        let mut at = 0;
        while at < plan.queued.len() {
            let instance_id = plan.queued[at].instance_id;
            let mut end = at + 1;
            while end < plan.queued.len()
                && end - at < IMPORT_PAGE
                && plan.queued[end].instance_id == instance_id
            {
                end += 1;
            }
            let run = &plan.queued[at..end];
            // An instance removed before the move still has its queued events delivered: they go
            // to the stream of shard `id mod SHARDS`.
            let shard = match domain_of.get(&instance_id) {
                Some(domain) => shard_of(domain),
                None => (instance_id.rem_euclid(i64::from(SHARDS))) as u32,
            };
            let own = match own_next.get_mut(&instance_id) {
                Some(n) => n,
                None => removed_next.entry(instance_id).or_insert(1),
            };
            let events: Vec<PageEvent> = run
                .iter()
                .map(|e| PageEvent {
                    uuid: String::new(),
                    event_type: e.event_type.clone(),
                    published: String::new(),
                    categories: e.categories,
                    raw: e.raw.clone(),
                })
                .collect();
            let seq = stream_next.entry(shard).or_insert(1);
            for (count, blob) in page_rows(&events)? {
                let count = count as i64;
                tx.execute(
                    "INSERT INTO outbox_pages(bucket, shard, first_seq, last_seq, instance_id,
                        instance_first_seq, epoch, events)
                     VALUES ((floor(extract(epoch from now()))::bigint / 600), $1, $2, $3, $4, $5, 0, $6)",
                    &[&(shard as i32), &*seq, &(*seq + count - 1), &instance_id, &*own, &blob],
                )
                .await
                .map_err(db)?;
                *seq += count;
                *own += count;
            }
            at = end;
        }
        for (shard, next) in &stream_next {
            tx.execute(
                "UPDATE shard_streams SET next_seq = $2, acked_seq = 0 WHERE shard = $1",
                &[&(*shard as i32), next],
            )
            .await
            .map_err(db)?;
        }

        for (c, bytes) in &plan.components {
            super::versions::insert_component(&*tx, c, bytes)
                .await
                .map_err(db)?;
        }
        for a in &plan.activations {
            super::versions::insert_activation(
                &*tx, a.scope, &a.version, a.at_ms, a.kind, &a.reason,
            )
            .await
            .map_err(db)?;
        }
        for (domain, nonce, at) in &plan.nonces {
            tx.execute(
                "INSERT INTO dpop_nonces(domain, nonce, received_ms) VALUES ($1,$2,$3)
                 ON CONFLICT (domain) DO NOTHING",
                &[domain, nonce, at],
            )
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(())
    }
}
