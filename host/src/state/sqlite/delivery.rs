//! Delivery's own connection to the state file. It runs on the delivery worker's thread, so its calls
//! block that thread only; it checkpoints the WAL early so page commits do not have to.

use super::Db;
use crate::state::{DeliveryStore, OutboxEvent, PendingWrite, StateError, Stream};
use async_trait::async_trait;
use std::path::Path;

/// A [`DeliveryStore`] over its own SQLite connection.
pub(crate) struct SqliteDelivery {
    db: Db,
}

impl SqliteDelivery {
    pub(crate) fn open(path: &Path) -> Result<SqliteDelivery, StateError> {
        let db = Db::open(path)?;
        db.checkpoint_early().map_err(|e| db.classify(e))?;
        Ok(SqliteDelivery { db })
    }

    fn with<T>(
        &mut self,
        f: impl FnOnce(&mut Db) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        f(&mut self.db).map_err(|e| self.db.classify(e))
    }
}

/// A SQLite state has one stream, the whole outbox; a call naming another is a caller's bug.
fn whole(stream: Stream) -> Result<(), StateError> {
    match stream {
        Stream::Whole => Ok(()),
        other => Err(StateError::Database(
            format!("a SQLite state has no {other}, only the whole outbox").into(),
        )),
    }
}

#[async_trait]
impl DeliveryStore for SqliteDelivery {
    async fn streams(&mut self) -> Result<Vec<Stream>, StateError> {
        Ok(vec![Stream::Whole])
    }
    async fn acked_seq(&mut self, stream: Stream) -> Result<i64, StateError> {
        whole(stream)?;
        self.with(|db| db.acked_seq())
    }
    async fn read_batch(
        &mut self,
        stream: Stream,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, StateError> {
        whole(stream)?;
        self.with(|db| db.read_outbox(after_seq, limit))
    }
    async fn pending_write(&mut self, stream: Stream) -> Result<Option<PendingWrite>, StateError> {
        whole(stream)?;
        self.with(|db| db.pending_write())
    }
    async fn begin_write(
        &mut self,
        stream: Stream,
        write: &PendingWrite,
    ) -> Result<(), StateError> {
        whole(stream)?;
        self.with(|db| db.begin_write(write))
    }
    async fn ack(&mut self, stream: Stream, last_seq: i64) -> Result<(), StateError> {
        whole(stream)?;
        self.with(|db| db.ack(last_seq))
    }
}
