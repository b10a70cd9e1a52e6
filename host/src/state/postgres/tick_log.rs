//! Tick outcomes and the per-instance figures of `status`, in a fleet's state. An idle tick that
//! changes nothing writes nothing: the instance row is updated only when the outcome, the error or the
//! token scheme changed (so at 100,000 idle instances the database sees the lease heartbeats and
//! little else), and `last_tick_ms` is the time of the last tick that changed something.

use super::PostgresState;
use crate::state::{InstanceStats, StateError, TickRecord, TICK_LOG_RETENTION_MS};
use std::collections::HashMap;

impl PostgresState {
    pub(crate) async fn pg_record_ticks(
        &self,
        ticks: &[(i64, TickRecord)],
    ) -> Result<(), StateError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.db(e))?;
        let update = tx
            .prepare_cached(
                "UPDATE instances SET last_tick_ms = $2, last_outcome = $3, last_error = $4,
                    token_scheme = COALESCE($5, token_scheme)
                 WHERE id = $1 AND ($6::bigint > 0
                    OR last_outcome IS DISTINCT FROM $3 OR last_error IS DISTINCT FROM $4
                    OR ($5::text IS NOT NULL AND token_scheme IS DISTINCT FROM $5::text)
                    OR last_tick_ms IS NULL)",
            )
            .await
            .map_err(|e| self.db(e))?;
        let mut logged = false;
        for (id, t) in ticks {
            let scheme = t.token_scheme.map(|s| s.as_str());
            let events = i64::try_from(t.events).unwrap_or(i64::MAX);
            tx.execute(
                &update,
                &[
                    id,
                    &t.at_ms,
                    &t.outcome.as_str(),
                    &t.error,
                    &scheme,
                    &events,
                ],
            )
            .await
            .map_err(|e| self.db(e))?;
            if t.events > 0 {
                tx.execute(
                    "INSERT INTO tick_log(instance_id, at_ms, events) VALUES ($1, $2, $3)",
                    &[id, &t.at_ms, &events],
                )
                .await
                .map_err(|e| self.db(e))?;
                logged = true;
            }
        }
        if logged {
            tx.execute(
                "DELETE FROM tick_log WHERE at_ms < $1",
                &[&(super::now_as_stored() - TICK_LOG_RETENTION_MS)],
            )
            .await
            .map_err(|e| self.db(e))?;
        }
        tx.commit().await.map_err(|e| self.db(e))?;
        Ok(())
    }

    pub(crate) async fn pg_events_per_hour(
        &self,
        instance_id: i64,
        since_ms: i64,
    ) -> Result<Vec<(i64, u64)>, StateError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT (at_ms / 3600000) * 3600000 AS hour, SUM(events)::bigint FROM tick_log
                 WHERE instance_id = $1 AND at_ms >= $2 GROUP BY hour ORDER BY hour",
                &[&instance_id, &since_ms],
            )
            .await
            .map_err(|e| self.db(e))?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1).max(0) as u64))
            .collect())
    }

    pub(crate) async fn pg_instance_stats(
        &self,
        since_ms: i64,
    ) -> Result<HashMap<i64, InstanceStats>, StateError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT i.id, i.last_published,
                    (SELECT COALESCE(SUM(t.events), 0)::bigint FROM tick_log t
                        WHERE t.instance_id = i.id AND t.at_ms = i.last_tick_ms),
                    (SELECT COALESCE(SUM(t.events), 0)::bigint FROM tick_log t
                        WHERE t.instance_id = i.id AND t.at_ms >= $1)
                 FROM instances i",
                &[&since_ms],
            )
            .await
            .map_err(|e| self.db(e))?;
        let mut out: HashMap<i64, InstanceStats> = rows
            .iter()
            .map(|r| {
                (
                    r.get::<_, i64>(0),
                    InstanceStats {
                        last_published: r.get(1),
                        events_last_tick: r.get::<_, i64>(2).max(0) as u64,
                        events_since: r.get::<_, i64>(3).max(0) as u64,
                        outbox_depth: 0,
                    },
                )
            })
            .collect();
        for (id, n) in self.outbox_depth_by_instance(&**client).await? {
            if let Some(s) = out.get_mut(&id) {
                s.outbox_depth = n;
            }
        }
        Ok(out)
    }
}
