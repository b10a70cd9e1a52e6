//! The outbox of a fleet: one stream per shard (`shard_streams`: the next sequence number, what delivery
//! acknowledged, the write it recorded), pages in `outbox_pages` partitioned by commit time.
//!
//! The page commit is the one write on the tick path, fenced (FLEET.md §2.3): in one transaction it
//! locks the instance row (its shard, and its own event count, compared as a CAS), re-reads the shard's
//! lease row `FOR SHARE` and compares owner and epoch with this process's, allocates the page's sequence
//! numbers from the shard's stream row (its lock orders a shard's commits, so sequence order is commit
//! order and delivery, reading past its position, never skips a page committed late), inserts the page
//! and moves the cursor. A takeover's `UPDATE` of the lease row waits for that share lock or has
//! committed before it, so no commit of an old epoch lands after a new owner's.
//!
//! Pruning drops whole partitions (ten minutes of commits each, see [`BUCKET_NOW`]) once every page in them is
//! acknowledged: a backfill's churn never waits for `DELETE` and autovacuum.

use super::connect::classify;
use super::PostgresState;
use crate::state::page_codec::{decode, decompress, newest_published, page_rows};
use crate::state::{OutboxEvent, Page, PendingWrite, StateError, Stream};
use okta_ingest_model::Categories;
use tokio_postgres::error::SqlState;
use tokio_postgres::GenericClient;

/// Partitions kept ready ahead of the current one.
const BUCKETS_AHEAD: i64 = 2;

/// The advisory lock key of partition maintenance (`okta` + 1).
const PARTITION_LOCK: i64 = 0x6f6b_7462;

/// The current bucket, by the database's clock: each outbox partition holds 600 seconds of commits.
const BUCKET_NOW: &str = "(floor(extract(epoch from now()))::bigint / 600)";

/// The lease check inside a commit or an acknowledgement: `shard`'s lease row, share-locked until the
/// transaction ends, must still name this process with the epoch it holds.
pub(crate) async fn check_lease(
    state: &PostgresState,
    tx: &tokio_postgres::Transaction<'_>,
    shard: u32,
) -> Result<i64, StateError> {
    let leases = &state.inner.leases;
    let Some(epoch) = leases.epoch(shard) else {
        let detail = "is not held by this host".to_string();
        state.inner.leases.refused(shard, &detail);
        return Err(StateError::Fenced { shard, detail });
    };
    let row = tx
        .query_one(
            "SELECT owner, epoch FROM shard_leases WHERE shard = $1 FOR SHARE",
            &[&(shard as i32)],
        )
        .await
        .map_err(|e| state.db(e))?;
    let (owner, now_epoch): (Option<String>, i64) = (row.get(0), row.get(1));
    if owner.as_deref() != Some(leases.me.as_str()) || now_epoch != epoch {
        let detail = format!(
            "now ({}, epoch {now_epoch}), this host's was epoch {epoch}",
            owner.as_deref().unwrap_or("no owner")
        );
        leases.refused(shard, &detail);
        return Err(StateError::Fenced { shard, detail });
    }
    Ok(epoch)
}

impl PostgresState {
    /// Appends a page's events to its shard's stream and moves the cursor, in one fenced transaction.
    pub(crate) async fn pg_commit_page(&self, page: &Page) -> Result<(), StateError> {
        // Encode and compress before the transaction, which holds locks from its first statement.
        let rows = page_rows(&page.events)?;
        let newest = newest_published(&page.events);
        for attempt in 0..2 {
            match self.try_commit(page, &rows, newest).await {
                Err(StateError::Database(e)) if attempt == 0 && missing_partition(&*e) => {
                    // Partition maintenance fell behind (the database was away): make it now.
                    self.ensure_partitions().await?;
                }
                other => return other,
            }
        }
        Err(StateError::Database(
            "the outbox has no partition for this commit".into(),
        ))
    }

    async fn try_commit(
        &self,
        page: &Page,
        rows: &[(usize, Vec<u8>)],
        newest: Option<&str>,
    ) -> Result<(), StateError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.db(e))?;
        let id = page.instance_id;
        let Some(instance) = tx
            .query_opt(
                "SELECT shard, next_seq FROM instances WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await
            .map_err(|e| self.db(e))?
        else {
            return Err(StateError::NoSuchInstance(format!("#{id}")));
        };
        let shard = instance.get::<_, i32>(0) as u32;
        let mut instance_seq: i64 = instance.get(1);
        let epoch = check_lease(self, &tx, shard).await?;
        let n = page.events.len() as i64;
        if n > 0 {
            let mut seq: i64 = tx
                .query_one(
                    "UPDATE shard_streams SET next_seq = next_seq + $2 WHERE shard = $1
                     RETURNING next_seq - $2",
                    &[&(shard as i32), &n],
                )
                .await
                .map_err(|e| self.db(e))?
                .get(0);
            let insert = tx
                .prepare_cached(&format!(
                    "INSERT INTO outbox_pages(bucket, shard, first_seq, last_seq, instance_id,
                        instance_first_seq, epoch, events)
                     VALUES ({BUCKET_NOW}, $1, $2, $3, $4, $5, $6, $7)"
                ))
                .await
                .map_err(|e| self.db(e))?;
            for (count, blob) in rows {
                let count = *count as i64;
                let last = seq + count - 1;
                tx.execute(
                    &insert,
                    &[
                        &(shard as i32),
                        &seq,
                        &last,
                        &id,
                        &instance_seq,
                        &epoch,
                        blob,
                    ],
                )
                .await
                .map_err(|e| self.db(e))?;
                seq = last + 1;
                instance_seq += count;
            }
        }
        tx.execute(
            "UPDATE instances SET cursor = $2, cursor_updated_ms = $3, next_seq = next_seq + $4,
                events_total = events_total + $4,
                last_published = CASE WHEN $5::text IS NOT NULL
                    AND (last_published IS NULL OR $5::text > last_published) THEN $5::text
                    ELSE last_published END
             WHERE id = $1",
            &[&id, &page.cursor, &super::now_as_stored(), &n, &newest],
        )
        .await
        .map_err(|e| self.db(e))?;
        tx.commit().await.map_err(|e| self.db(e))?;
        Ok(())
    }

    /// Events committed and not yet acknowledged, over every stream.
    pub(crate) async fn pg_outbox_depth(&self) -> Result<i64, StateError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT COALESCE(SUM(next_seq - 1 - acked_seq), 0)::bigint FROM shard_streams",
                &[],
            )
            .await
            .map_err(|e| self.db(e))?;
        Ok(row.get(0))
    }

    /// Unacknowledged events per instance id (instances with none are absent).
    pub(crate) async fn outbox_depth_by_instance(
        &self,
        client: &impl GenericClient,
    ) -> Result<std::collections::HashMap<i64, i64>, StateError> {
        let rows = client
            .query(
                "SELECT p.instance_id, SUM(p.last_seq - GREATEST(p.first_seq - 1, s.acked_seq))::bigint
                 FROM outbox_pages p JOIN shard_streams s ON s.shard = p.shard
                 WHERE p.last_seq > s.acked_seq GROUP BY p.instance_id",
                &[],
            )
            .await
            .map_err(|e| self.db(e))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Makes sure the partitions for now and the next buckets exist, and drops the ones before now
    /// whose every page is acknowledged. Cheap when there is nothing to do; one host at a time does it.
    pub(crate) async fn ensure_partitions(&self) -> Result<(), StateError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.db(e))?;
        let got: bool = tx
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&PARTITION_LOCK])
            .await
            .map_err(|e| self.db(e))?
            .get(0);
        if !got {
            return Ok(()); // another host is at it
        }
        // DDL on a partitioned table waits for its readers: never for long.
        tx.batch_execute("SET LOCAL lock_timeout = '2s'")
            .await
            .map_err(|e| self.db(e))?;
        let now: i64 = tx
            .query_one(&format!("SELECT {BUCKET_NOW}"), &[])
            .await
            .map_err(|e| self.db(e))?
            .get(0);
        let existing = partitions(&*tx).await.map_err(|e| self.db(e))?;
        for bucket in now..=now + BUCKETS_AHEAD {
            if existing.contains(&bucket) {
                continue;
            }
            tx.batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS outbox_pages_b{bucket} PARTITION OF outbox_pages
                    FOR VALUES FROM ({bucket}) TO ({next});
                 ALTER TABLE outbox_pages_b{bucket} ALTER COLUMN events SET STORAGE EXTERNAL;",
                next = bucket + 1
            ))
            .await
            .map_err(|e| self.db(e))?;
        }
        // A partition is dropped only under its exclusive lock, taken before looking: a commit that
        // began in that bucket and is still running has finished by then, and its page is seen.
        for bucket in existing.into_iter().filter(|b| *b < now - 1) {
            tx.batch_execute(&format!(
                "LOCK TABLE outbox_pages_b{bucket} IN ACCESS EXCLUSIVE MODE"
            ))
            .await
            .map_err(|e| self.db(e))?;
            let undelivered: bool = tx
                .query_one(
                    &format!(
                        "SELECT EXISTS(SELECT 1 FROM outbox_pages_b{bucket} p
                            JOIN shard_streams s ON s.shard = p.shard WHERE p.last_seq > s.acked_seq)"
                    ),
                    &[],
                )
                .await
                .map_err(|e| self.db(e))?
                .get(0);
            if !undelivered {
                tx.batch_execute(&format!("DROP TABLE outbox_pages_b{bucket}"))
                    .await
                    .map_err(|e| self.db(e))?;
                tracing::debug!(bucket, "dropped a delivered outbox partition");
            }
        }
        tx.commit().await.map_err(|e| self.db(e))?;
        Ok(())
    }
}

/// The buckets that have a partition.
async fn partitions(client: &impl GenericClient) -> Result<Vec<i64>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'outbox_pages'::regclass",
            &[],
        )
        .await?;
    let mut out: Vec<i64> = rows
        .iter()
        .filter_map(|r| {
            r.get::<_, String>(0)
                .strip_prefix("outbox_pages_b")
                .and_then(|b| b.parse().ok())
        })
        .collect();
    out.sort_unstable();
    Ok(out)
}

/// "no partition of relation found for row".
fn missing_partition(e: &(dyn std::error::Error + 'static)) -> bool {
    e.downcast_ref::<tokio_postgres::Error>()
        .and_then(|e| e.code())
        .is_some_and(|c| *c == SqlState::CHECK_VIOLATION)
}

/// A [`DeliveryStore`](crate::state::DeliveryStore) over the pool: the streams are the shards this
/// host holds.
pub(crate) struct PgDelivery {
    pub(crate) state: PostgresState,
}

fn shard(stream: Stream) -> Result<u32, StateError> {
    match stream {
        Stream::Shard(n) => Ok(n),
        Stream::Whole => Err(StateError::Database(
            "a fleet's outbox has a stream per shard, not one whole stream".into(),
        )),
    }
}

#[async_trait::async_trait]
impl crate::state::DeliveryStore for PgDelivery {
    async fn streams(&mut self) -> Result<Vec<Stream>, StateError> {
        let held = self.state.inner.leases.shard_ids();
        if held.is_empty() {
            return Ok(Vec::new());
        }
        let s = &self.state;
        s.timed(async {
            let client = s.client().await?;
            let rows = client
                .query(
                    "SELECT shard FROM shard_streams WHERE shard = ANY($1) AND next_seq - 1 > acked_seq
                     ORDER BY shard",
                    &[&held],
                )
                .await
                .map_err(|e| s.db(e))?;
            Ok(rows
                .iter()
                .map(|r| Stream::Shard(r.get::<_, i32>(0) as u32))
                .collect())
        })
        .await
    }

    async fn acked_seq(&mut self, stream: Stream) -> Result<i64, StateError> {
        let shard = shard(stream)? as i32;
        let s = &self.state;
        s.timed(async {
            let client = s.client().await?;
            let row = client
                .query_one(
                    "SELECT acked_seq FROM shard_streams WHERE shard = $1",
                    &[&shard],
                )
                .await
                .map_err(|e| s.db(e))?;
            Ok(row.get(0))
        })
        .await
    }

    async fn read_batch(
        &mut self,
        stream: Stream,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, StateError> {
        let shard_no = shard(stream)?;
        let s = &self.state;
        s.timed(async {
            let client = s.client().await?;
            // Each page holds at least one event: `limit` pages always cover `limit` events.
            let pages = client
                .query(
                    "SELECT first_seq, instance_id, events FROM outbox_pages
                     WHERE shard = $1 AND last_seq > $2 ORDER BY first_seq LIMIT $3",
                    &[
                        &(shard_no as i32),
                        &after_seq,
                        &i64::try_from(limit).unwrap_or(i64::MAX),
                    ],
                )
                .await
                .map_err(|e| s.db(e))?;
            let mut out = Vec::new();
            for r in &pages {
                let first_seq: i64 = r.get(0);
                let instance_id: i64 = r.get(1);
                let blob: &[u8] = r.get(2);
                let damaged = || StateError::Corrupt {
                    path: s.inner.location.clone(),
                    detail: format!(
                        "the outbox page of {stream} starting at event {first_seq} is damaged"
                    ),
                };
                let encoded = decompress(blob).ok_or_else(damaged)?;
                let events = decode(&encoded).ok_or_else(damaged)?;
                for (seq, e) in (first_seq..).zip(events) {
                    if seq <= after_seq {
                        continue;
                    }
                    if out.len() == limit {
                        return Ok(out);
                    }
                    out.push(OutboxEvent {
                        stream,
                        seq,
                        instance_id,
                        event_type: e.event_type.to_string(),
                        categories: Categories::from_bits(e.categories),
                        raw: e.raw.to_string(),
                    });
                }
            }
            Ok(out)
        })
        .await
    }

    async fn pending_write(&mut self, stream: Stream) -> Result<Option<PendingWrite>, StateError> {
        let shard = shard(stream)? as i32;
        let s = &self.state;
        s.timed(async {
            let client = s.client().await?;
            let row = client
                .query_one(
                    "SELECT pending_sink, pending_first, pending_last, pending_offset FROM shard_streams
                     WHERE shard = $1",
                    &[&shard],
                )
                .await
                .map_err(|e| s.db(e))?;
            let sink: Option<String> = row.get(0);
            Ok(sink.map(|sink| PendingWrite {
                sink,
                first_seq: row.get::<_, Option<i64>>(1).unwrap_or(0),
                last_seq: row.get::<_, Option<i64>>(2).unwrap_or(0),
                offset: row.get::<_, Option<i64>>(3).unwrap_or(0).max(0) as u64,
            }))
        })
        .await
    }

    async fn begin_write(
        &mut self,
        stream: Stream,
        write: &PendingWrite,
    ) -> Result<(), StateError> {
        self.fenced_update(
            stream,
            "UPDATE shard_streams SET pending_sink = $2, pending_first = $3, pending_last = $4,
                pending_offset = $5 WHERE shard = $1",
            &[
                &write.sink,
                &write.first_seq,
                &write.last_seq,
                &i64::try_from(write.offset).unwrap_or(i64::MAX),
            ],
        )
        .await
    }

    async fn ack(&mut self, stream: Stream, last_seq: i64) -> Result<(), StateError> {
        self.fenced_update(
            stream,
            "UPDATE shard_streams SET acked_seq = GREATEST(acked_seq, $2), pending_sink = NULL,
                pending_first = NULL, pending_last = NULL, pending_offset = NULL WHERE shard = $1",
            &[&last_seq],
        )
        .await
    }
}

impl PgDelivery {
    /// Runs `sql` on `stream`'s row (`$1` is the shard, `params` are `$2`...) in a transaction that
    /// first checks the shard's lease, as the page commit does.
    async fn fenced_update(
        &self,
        stream: Stream,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<(), StateError> {
        let shard_no = shard(stream)?;
        let s = &self.state;
        s.timed(async {
            let mut client = s.client().await?;
            let tx = client.transaction().await.map_err(|e| s.db(e))?;
            check_lease(s, &tx, shard_no).await?;
            let shard_param = shard_no as i32;
            let mut all: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&shard_param];
            all.extend_from_slice(params);
            tx.execute(sql, &all).await.map_err(|e| s.db(e))?;
            tx.commit().await.map_err(|e| s.db(e))
        })
        .await
    }
}

impl PostgresState {
    /// A database error in this state's terms.
    pub(crate) fn db(&self, e: tokio_postgres::Error) -> StateError {
        classify(&self.inner.location, e)
    }
}
