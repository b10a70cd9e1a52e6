//! Delivery's own connection to the state file. It runs on the delivery worker's thread, so its calls
//! block that thread only; it checkpoints the WAL early so page commits do not have to.

use super::Db;
use crate::state::{DeliveryStore, OutboxEvent, PendingWrite, StateError};
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

#[async_trait]
impl DeliveryStore for SqliteDelivery {
    async fn acked_seq(&mut self) -> Result<i64, StateError> {
        self.with(|db| db.acked_seq())
    }
    async fn read_batch(
        &mut self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, StateError> {
        self.with(|db| db.read_outbox(after_seq, limit))
    }
    async fn pending_write(&mut self) -> Result<Option<PendingWrite>, StateError> {
        self.with(|db| db.pending_write())
    }
    async fn begin_write(&mut self, write: &PendingWrite) -> Result<(), StateError> {
        self.with(|db| db.begin_write(write))
    }
    async fn ack(&mut self, last_seq: i64) -> Result<(), StateError> {
        self.with(|db| db.ack(last_seq))
    }
}
