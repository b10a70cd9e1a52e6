//! The outbox: committed events awaiting delivery, and what delivery has acknowledged.
//!
//! Every event has a sequence number (increasing, never reused). A committed page is stored as one row of
//! `outbox_pages` holding its events `first_seq..=last_seq` in one blob, so a page costs
//! one insert, delivery reads pages whole, and an acknowledgement deletes whole pages once every event in
//! them is acknowledged. Per-event rows cost ~5 ms of B-tree work per 1,000-event page to insert and as
//! much again to delete, all while holding the database's write lock (measured before this layout).
//!
//! Blobs are encoded and compressed by [`page_codec`](crate::state::page_codec), as in every backend.

use super::{now_as_stored, Db};
use crate::state::page_codec::{
    compress, decode, decompress, encode, encoded_len, newest_published, page_rows,
};
use crate::state::{OutboxEvent, Page, PageEvent, PendingWrite, StateError, Stream};
use okta_ingest_model::Categories;
use rusqlite::{params, Connection, OptionalExtension};

/// Moves rows of the per-event `outbox` table of schema version 1 into `outbox_pages` (one row per event,
/// keeping its sequence number) and drops it, inside the migration's transaction.
pub(super) fn migrate_event_rows(tx: &Connection) -> Result<(), StateError> {
    let exists: bool = tx.query_row(
        "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type='table' AND name='outbox')",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(());
    }
    {
        let mut read = tx.prepare(
            "SELECT seq, instance_id, uuid, event_type, published, categories, raw FROM outbox
             ORDER BY seq",
        )?;
        let mut insert = tx.prepare(
            "INSERT INTO outbox_pages(first_seq, last_seq, instance_id, events) VALUES (?1,?1,?2,?3)",
        )?;
        let mut rows = read.query([])?;
        while let Some(r) = rows.next()? {
            let (seq, instance_id): (i64, i64) = (r.get(0)?, r.get(1)?);
            let (uuid, event_type, published, raw): (String, String, String, String) =
                (r.get(2)?, r.get(3)?, r.get(4)?, r.get(6)?);
            let event = PageEvent {
                uuid,
                event_type,
                published,
                categories: Categories::from_bits(r.get(5)?),
                raw,
            };
            let mut encoded = Vec::with_capacity(encoded_len(&event));
            encode(&mut encoded, &event);
            insert.execute(params![seq, instance_id, compress(&encoded)?])?;
        }
    }
    tx.execute_batch("DROP TABLE outbox")?;
    Ok(())
}

impl Db {
    /// Appends a page's events to the outbox and stores the cursor after them, in one transaction.
    pub(crate) fn commit_page(&mut self, page: &Page) -> Result<(), StateError> {
        let (instance_id, events, cursor) = (page.instance_id, &page.events, &page.cursor);
        // Encode and compress before the transaction, which holds the write lock from its start.
        let rows = page_rows(events)?;
        let newest = newest_published(events);

        // IMMEDIATE: the first statement only reads, and a deferred transaction that read before another
        // connection's commit could not become a writer (SQLITE_BUSY without waiting).
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            // A page without events (a first or idle tick moving the cursor) only updates the instance.
            if !rows.is_empty() {
                let mut next = next_seq(&tx)?;
                let mut insert = tx.prepare_cached(
                    "INSERT INTO outbox_pages(first_seq, last_seq, instance_id, events)
                     VALUES (?1,?2,?3,?4)",
                )?;
                for (n, blob) in &rows {
                    let last = next + *n as i64 - 1;
                    insert.execute(params![next, last, instance_id, blob])?;
                    next = last + 1;
                }
            }
            let n = tx
                .prepare_cached(
                    "UPDATE instances SET cursor=?2, cursor_updated_ms=?3,
                        events_total=events_total+?4,
                        last_published=CASE WHEN ?5 IS NOT NULL
                            AND (last_published IS NULL OR ?5 > last_published) THEN ?5
                            ELSE last_published END
                     WHERE id=?1",
                )?
                .execute(params![
                    instance_id,
                    cursor,
                    now_as_stored(),
                    events.len() as i64,
                    newest
                ])?;
            if n == 0 {
                return Err(StateError::NoSuchInstance(format!("#{instance_id}")));
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Highest sequence number acknowledged by a sink.
    pub(crate) fn acked_seq(&self) -> Result<i64, StateError> {
        Ok(self
            .conn
            .query_row("SELECT acked_seq FROM delivery WHERE id=1", [], |r| {
                r.get(0)
            })?)
    }

    /// Up to `limit` outbox events after `after_seq`, in order.
    pub(crate) fn read_outbox(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, StateError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT first_seq, instance_id, events FROM outbox_pages WHERE last_seq > ?1
             ORDER BY first_seq",
        )?;
        let mut rows = stmt.query([after_seq])?;
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(r) = rows.next()? else { break };
            let (first_seq, instance_id): (i64, i64) = (r.get(0)?, r.get(1)?);
            let blob = r.get_ref(2)?.as_blob().map_err(rusqlite::Error::from)?;
            let encoded = decompress(blob).ok_or_else(|| self.damaged(first_seq))?;
            let events = decode(&encoded).ok_or_else(|| self.damaged(first_seq))?;
            for (seq, e) in (first_seq..).zip(events) {
                if seq <= after_seq {
                    continue;
                }
                if out.len() == limit {
                    break;
                }
                out.push(OutboxEvent {
                    stream: Stream::Whole,
                    seq,
                    instance_id,
                    event_type: e.event_type.to_string(),
                    categories: Categories::from_bits(e.categories),
                    raw: e.raw.to_string(),
                });
            }
        }
        Ok(out)
    }

    /// Events committed but not yet acknowledged by a sink.
    pub(crate) fn outbox_depth(&self) -> Result<i64, StateError> {
        Ok(self.conn.query_row(
            "SELECT COALESCE(SUM(p.last_seq - MAX(p.first_seq - 1, d.acked_seq)), 0)
             FROM outbox_pages p, delivery d WHERE d.id=1 AND p.last_seq > d.acked_seq",
            [],
            |r| r.get(0),
        )?)
    }

    /// Unacknowledged events per instance id (instances with none are absent).
    pub(crate) fn outbox_depth_by_instance(
        &self,
    ) -> Result<std::collections::HashMap<i64, i64>, StateError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT p.instance_id, SUM(p.last_seq - MAX(p.first_seq - 1, d.acked_seq))
             FROM outbox_pages p, delivery d WHERE d.id=1 AND p.last_seq > d.acked_seq
             GROUP BY p.instance_id",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The write a sink recorded and did not acknowledge, if any.
    pub(crate) fn pending_write(&self) -> Result<Option<PendingWrite>, StateError> {
        Ok(self
            .conn
            .query_row(
                "SELECT pending_sink, pending_first, pending_last, pending_offset FROM delivery
                 WHERE id=1 AND pending_sink IS NOT NULL",
                [],
                |r| {
                    Ok(PendingWrite {
                        sink: r.get(0)?,
                        first_seq: r.get(1)?,
                        last_seq: r.get(2)?,
                        offset: r.get::<_, i64>(3)? as u64,
                    })
                },
            )
            .optional()?)
    }

    /// Records a write before it happens.
    pub(crate) fn begin_write(&self, w: &PendingWrite) -> Result<(), StateError> {
        self.conn.execute(
            "UPDATE delivery SET pending_sink=?1, pending_first=?2, pending_last=?3, pending_offset=?4
             WHERE id=1",
            params![w.sink, w.first_seq, w.last_seq, w.offset as i64],
        )?;
        Ok(())
    }

    /// Acknowledges everything up to `last_seq`: clears the pending write and deletes the pages whose
    /// events are all acknowledged.
    pub(crate) fn ack(&mut self, last_seq: i64) -> Result<(), StateError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE delivery SET acked_seq=MAX(acked_seq, ?1), pending_sink=NULL, pending_first=NULL,
                pending_last=NULL, pending_offset=NULL WHERE id=1",
            [last_seq],
        )?;
        tx.execute(
            "DELETE FROM outbox_pages
             WHERE last_seq <= (SELECT acked_seq FROM delivery WHERE id=1)",
            [],
        )?;
        tx.commit()?;
        Ok(())
    }
}

/// The sequence number the next committed event gets: one past the newest stored or acknowledged one
/// (pages leave the table only when acknowledged, so numbers are never reused).
fn next_seq(conn: &Connection) -> Result<i64, StateError> {
    Ok(conn
        .prepare_cached(
            "SELECT MAX((SELECT acked_seq FROM delivery WHERE id=1),
                COALESCE((SELECT last_seq FROM outbox_pages ORDER BY first_seq DESC LIMIT 1), 0)) + 1",
        )?
        .query_row([], |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::super::test_support;
    use super::*;
    use crate::state::InstanceStats;

    use crate::state::testing::typed_event as ev;

    fn page(instance_id: i64, events: Vec<PageEvent>, cursor: &[u8]) -> Page {
        test_support::page(instance_id, events, cursor)
    }

    fn db_with_instance(dir: &std::path::Path) -> (Db, i64) {
        let db = Db::open(&dir.join("s.db")).unwrap();
        db.conn()
            .execute_batch(
                "INSERT INTO instances(id, name, domain, client_id, private_key_path, backfill_days,
                    categories, created_ms) VALUES (1, 'a', 'x.okta.com', 'c', '/k.pem', 0, 15, 0),
                    (2, 'b', 'y.okta.com', 'c', '/k.pem', 0, 15, 0)",
            )
            .unwrap();
        (db, 1)
    }

    #[test]
    fn sequence_numbers_continue_across_pages_partial_reads_and_acks() {
        let dir = tempfile::tempdir().unwrap();
        let (mut db, id) = db_with_instance(dir.path());
        let raws: Vec<String> = (0..7).map(|i| format!("{{\"n\":{i}}}")).collect();
        fn events(r: &[String]) -> Vec<PageEvent> {
            r.iter().map(|raw| ev("u", "t", 1, raw)).collect()
        }
        db.commit_page(&page(id, events(&raws[..3]), b"c1"))
            .unwrap();
        db.commit_page(&page(id, vec![], b"c2")).unwrap(); // moves the cursor, stores nothing
        db.commit_page(&page(2, events(&raws[3..]), b"c3")).unwrap();
        assert_eq!(db.outbox_depth().unwrap(), 7);

        let first = db.read_outbox(0, 2).unwrap();
        assert_eq!(first.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2]);
        // An ack inside a page keeps the page; reads resume after the acked event.
        db.ack(2).unwrap();
        assert_eq!(db.outbox_depth().unwrap(), 5);
        let rest = db.read_outbox(db.acked_seq().unwrap(), 100).unwrap();
        assert_eq!(
            rest.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [3, 4, 5, 6, 7]
        );
        assert_eq!(rest[0].raw, "{\"n\":2}");
        assert_eq!((rest[0].instance_id, rest[1].instance_id), (1, 2));
        let by_instance = db.outbox_depth_by_instance().unwrap();
        assert_eq!(
            (by_instance.get(&1), by_instance.get(&2)),
            (Some(&1), Some(&4))
        );

        db.ack(7).unwrap();
        assert_eq!(db.outbox_depth().unwrap(), 0);
        let pages: i64 = db
            .conn()
            .query_row("SELECT COUNT(*) FROM outbox_pages", [], |r| r.get(0))
            .unwrap();
        assert_eq!(pages, 0, "fully acknowledged pages are deleted");
        // Numbers are not reused once the table is empty.
        db.commit_page(&page(id, events(&raws[..1]), b"c4"))
            .unwrap();
        assert_eq!(db.read_outbox(7, 10).unwrap()[0].seq, 8);
    }

    #[test]
    fn a_page_too_large_for_one_row_is_split_within_the_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let (mut db, id) = db_with_instance(dir.path());
        let big = format!(
            "{{\"pad\":\"{}\"}}",
            "x".repeat(crate::state::page_codec::MAX_ROW_BYTES / 2)
        );
        let events = vec![ev("u", "t", 1, &big); 3];
        db.commit_page(&page(id, events, b"c")).unwrap();
        let rows: Vec<(i64, i64)> = db
            .conn()
            .prepare("SELECT first_seq, last_seq FROM outbox_pages ORDER BY first_seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows, [(1, 1), (2, 2), (3, 3)]);
        let back = db.read_outbox(0, 10).unwrap();
        assert_eq!(back.len(), 3);
        assert!(back.iter().all(|r| r.raw == big));
    }

    #[test]
    fn a_damaged_page_is_reported_as_corruption_not_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let (mut db, id) = db_with_instance(dir.path());
        db.commit_page(&page(id, vec![ev("u", "t", 1, "{}")], b"c"))
            .unwrap();
        db.conn()
            .execute("UPDATE outbox_pages SET events=x'01ffffffff'", [])
            .unwrap();
        let err = db.read_outbox(0, 10).unwrap_err();
        assert!(matches!(err, StateError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn a_version_1_outbox_is_migrated_with_its_sequence_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                 INSERT INTO meta VALUES ('schema_version', 1);
                 CREATE TABLE outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT, instance_id INTEGER NOT NULL,
                    uuid TEXT NOT NULL, event_type TEXT NOT NULL, published TEXT NOT NULL,
                    categories INTEGER NOT NULL, raw TEXT NOT NULL);
                 CREATE TABLE delivery(id INTEGER PRIMARY KEY CHECK (id = 1), acked_seq INTEGER NOT NULL,
                    pending_sink TEXT, pending_first INTEGER, pending_last INTEGER, pending_offset INTEGER);
                 INSERT INTO delivery(id, acked_seq) VALUES (1, 40);
                 INSERT INTO outbox VALUES (41, 3, 'u1', 'user.session.start', 'p', 1, '{\"a\":1}');
                 INSERT INTO outbox VALUES (45, 3, 'u2', 'user.lifecycle.create', 'p', 8, '{\"a\":2}');",
            )
            .unwrap();
        }
        let db = Db::open(&path).unwrap();
        let rows = db.read_outbox(40, 10).unwrap();
        assert_eq!(
            rows.iter()
                .map(|r| (
                    r.seq,
                    r.instance_id,
                    r.event_type.as_str(),
                    r.categories.bits(),
                    r.raw.as_str()
                ))
                .collect::<Vec<_>>(),
            [
                (41, 3, "user.session.start", 1, "{\"a\":1}"),
                (45, 3, "user.lifecycle.create", 8, "{\"a\":2}")
            ]
        );
        let old: bool = db
            .conn()
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE name='outbox')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(!old, "the old table is dropped");
        let version: i64 = db
            .conn()
            .query_row(
                "SELECT value FROM meta WHERE key='schema_version'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(version, super::super::schema::LATEST);
        drop(db);
        // Opening again is a no-op.
        assert_eq!(Db::open(&path).unwrap().outbox_depth().unwrap(), 2);
    }

    #[test]
    fn page_and_cursor_commit_together_and_ack_prunes() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = test_support::db(dir.path());
        let id = db
            .add_instance(&test_support::new_instance("a"))
            .unwrap()
            .id;
        db.commit_page(&page(
            id,
            vec![
                test_support::event("u1", "{\"a\":1}"),
                test_support::event("u2", "{\"b\": \"null\"}"),
            ],
            b"c1",
        ))
        .unwrap();
        assert_eq!(db.cursor(id).unwrap().as_deref(), Some(&b"c1"[..]));
        let rows = db.read_outbox(0, 10).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].raw, "{\"b\": \"null\"}");
        assert_eq!(db.outbox_depth().unwrap(), 2);
        db.ack(rows[0].seq).unwrap();
        assert_eq!(db.outbox_depth().unwrap(), 1);
        assert_eq!(
            db.read_outbox(db.acked_seq().unwrap(), 10).unwrap().len(),
            1
        );
        assert_eq!(db.instance("a").unwrap().events_total, 2);
    }

    #[test]
    fn a_failed_commit_leaves_neither_events_nor_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = test_support::db(dir.path());
        // Instance 99 does not exist: the cursor update fails, so the events must roll back too.
        let r = db.commit_page(&page(99, vec![test_support::event("u1", "{}")], b"c1"));
        assert!(r.is_err());
        assert_eq!(db.read_outbox(0, 10).unwrap().len(), 0);
    }

    #[test]
    fn pending_write_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = test_support::db(dir.path());
        let w = PendingWrite {
            sink: "file:/x".into(),
            first_seq: 1,
            last_seq: 5,
            offset: 42,
        };
        db.begin_write(&w).unwrap();
        assert_eq!(db.pending_write().unwrap(), Some(w));
        db.ack(5).unwrap();
        assert_eq!(db.pending_write().unwrap(), None);
    }

    #[test]
    fn depth_per_instance_feeds_the_stats() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = test_support::db(dir.path());
        let id = db
            .add_instance(&test_support::new_instance("a"))
            .unwrap()
            .id;
        db.commit_page(&page(id, vec![test_support::event("u1", "{}")], b"c"))
            .unwrap();
        let stats = db.instance_stats(0).unwrap();
        assert_eq!(
            stats[&id],
            InstanceStats {
                last_published: Some("2026-01-01T00:00:00.000Z".into()),
                outbox_depth: 1,
                ..InstanceStats::default()
            }
        );
    }
}
