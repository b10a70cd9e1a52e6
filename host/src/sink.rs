//! Sinks: where delivered events go. Each writes one JSON object per line, the event exactly as Okta
//! sent it. Delivery reads the durable outbox and acknowledges only what a sink has written (and, for
//! files, flushed to disk), so a crash or a failing sink loses nothing.

use crate::state::{OutboxRow, PendingWrite, StateDb, StateError};
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A sink failure; the events stay in the outbox and are delivered when the sink recovers.
#[derive(Debug, Error)]
pub enum SinkError {
    /// Writing failed.
    #[error("sink {sink}: {action} failed: {source}; events stay queued and are delivered when it recovers")]
    Io {
        /// The sink.
        sink: String,
        /// What was being done.
        action: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The outbox could not be read or acknowledged.
    #[error(transparent)]
    State(#[from] StateError),
    /// An embedder's sink failed.
    #[error("sink {sink}: {message}")]
    Other {
        /// The sink.
        sink: String,
        /// What failed.
        message: String,
    },
}

/// A destination for events. Implement this to embed okta-ingest with your own destination.
pub trait Sink: Send {
    /// A stable identity, e.g. `stdout` or `file:/abs/path`.
    fn id(&self) -> String;
    /// For sinks that can undo a torn write (files): the current end offset, recorded before each write.
    fn position(&mut self) -> Result<Option<u64>, SinkError> {
        Ok(None)
    }
    /// Cuts the sink back to `offset` (only called with an offset from `position`).
    fn truncate(&mut self, offset: u64) -> Result<(), SinkError> {
        let _ = offset;
        Ok(())
    }
    /// Writes the events in order and returns once they are durable as far as this sink can tell.
    fn write(&mut self, events: &[OutboxRow]) -> Result<(), SinkError>;
    /// True for sinks that name each batch by its outbox range (the webhook's idempotency key): delivery
    /// then records every batch before writing it and, after a failure or a crash, re-sends exactly that
    /// range first, so the re-sent batch gets the same name.
    fn stable_batches(&self) -> bool {
        false
    }
    /// Preferred most events per `write` (delivery's default otherwise).
    fn batch_hint(&self) -> Option<usize> {
        None
    }
}

/// Appends `raw` plus a newline; whitespace newlines inside the JSON become spaces so each event stays one
/// line (newlines inside JSON strings are always escaped, so the JSON value is unchanged).
pub fn push_line(buf: &mut Vec<u8>, raw: &str) {
    let start = buf.len();
    buf.extend_from_slice(raw.as_bytes());
    // memchr2 is SIMD: this check runs over every byte delivered.
    if memchr::memchr2(b'\n', b'\r', raw.as_bytes()).is_some() {
        for b in &mut buf[start..] {
            if *b == b'\n' || *b == b'\r' {
                *b = b' ';
            }
        }
    }
    buf.push(b'\n');
}

/// Writes events to standard output (at-least-once: a crash after writing and before the acknowledgement
/// repeats that batch).
pub struct StdoutSink;

impl Sink for StdoutSink {
    fn id(&self) -> String {
        "stdout".into()
    }
    fn write(&mut self, events: &[OutboxRow]) -> Result<(), SinkError> {
        let mut buf = Vec::with_capacity(events.iter().map(|e| e.raw.len() + 1).sum());
        for e in events {
            push_line(&mut buf, &e.raw);
        }
        let mut out = std::io::stdout().lock();
        out.write_all(&buf)
            .and_then(|_| out.flush())
            .map_err(|source| SinkError::Io {
                sink: self.id(),
                action: "writing to standard output",
                source,
            })
    }
}

/// Appends events to a file and syncs it before acknowledging. Exactly-once: the offset is recorded before
/// each write, and an unacknowledged tail is cut off and rewritten after a crash.
pub struct FileSink {
    path: PathBuf,
    file: File,
}

impl FileSink {
    /// Opens (creating, mode 0600) the file for appending.
    pub fn open(path: &Path) -> Result<FileSink, SinkError> {
        let mut opts = OpenOptions::new();
        opts.create(true).read(true).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(path).map_err(|source| SinkError::Io {
            sink: format!("file:{}", path.display()),
            action: "opening the file",
            source,
        })?;
        Ok(FileSink {
            path: path.to_path_buf(),
            file,
        })
    }

    fn is_regular(&self) -> Result<bool, SinkError> {
        Ok(self
            .file
            .metadata()
            .map_err(self.io("reading file metadata"))?
            .is_file())
    }

    fn io(&self, action: &'static str) -> impl FnOnce(std::io::Error) -> SinkError + '_ {
        move |source| SinkError::Io {
            sink: self.id(),
            action,
            source,
        }
    }
}

impl Sink for FileSink {
    fn id(&self) -> String {
        format!("file:{}", self.path.display())
    }
    fn position(&mut self) -> Result<Option<u64>, SinkError> {
        if !self.is_regular()? {
            // A device or FIFO cannot be cut back: delivery is at-least-once there, like stdout.
            return Ok(None);
        }
        let end = self
            .file
            .seek(SeekFrom::End(0))
            .map_err(self.io("seeking"))?;
        Ok(Some(end))
    }
    fn truncate(&mut self, offset: u64) -> Result<(), SinkError> {
        if !self.is_regular()? {
            return Ok(());
        }
        let len = self
            .file
            .metadata()
            .map_err(self.io("reading the file size"))?
            .len();
        if offset == len {
            return Ok(()); // nothing was written after the recorded offset
        }
        if offset > len {
            // The file is shorter than when the write began (rotated or truncated by someone else):
            // extending it would insert zeros, so leave it and rewrite the batch at its end.
            tracing::warn!(sink = %self.id(), offset, len, "file shrank since the unacknowledged write; not cutting it");
            return Ok(());
        }
        self.file
            .set_len(offset)
            .map_err(self.io("truncating a torn write"))?;
        self.file.sync_data().map_err(self.io("syncing"))
    }
    fn write(&mut self, events: &[OutboxRow]) -> Result<(), SinkError> {
        let mut buf = Vec::with_capacity(events.iter().map(|e| e.raw.len() + 1).sum());
        for e in events {
            push_line(&mut buf, &e.raw);
        }
        if self.is_regular()? {
            self.file
                .seek(SeekFrom::End(0))
                .map_err(self.io("seeking"))?;
        }
        self.file.write_all(&buf).map_err(self.io("writing"))?;
        if self.is_regular()? {
            self.file.sync_data().map_err(self.io("syncing to disk"))?;
        }
        Ok(())
    }
}

/// Parses `--sink`: `stdout`, `file:PATH` or `https://HOST/PATH` (webhook with default options).
pub fn open_sink(spec: &str) -> Result<Box<dyn Sink>, SinkError> {
    open_sink_with(spec, &crate::webhook::WebhookOptions::default())
}

/// [`open_sink`] with the webhook options (`--webhook-*`).
pub fn open_sink_with(
    spec: &str,
    webhook: &crate::webhook::WebhookOptions,
) -> Result<Box<dyn Sink>, SinkError> {
    match spec {
        s if s.starts_with("https://") || s.starts_with("http://") => Ok(Box::new(
            crate::webhook::WebhookSink::open(s, webhook.clone())?,
        )),
        "stdout" | "-" => Ok(Box::new(StdoutSink)),
        s if s.starts_with("file:") => {
            let path = std::path::absolute(&s[5..]).unwrap_or_else(|_| PathBuf::from(&s[5..]));
            Ok(Box::new(FileSink::open(&path)?))
        }
        other => Err(SinkError::Other {
            sink: other.to_string(),
            message: "unknown sink; use stdout, file:PATH or https://HOST/PATH (webhook)".into(),
        }),
    }
}

/// Events per delivery batch for sinks without a preference. Each batch costs two small SQLite
/// transactions and a sink sync; 5,000 typical events (~6 MB) keep that below 1% of a backfill's cost.
pub const DEFAULT_BATCH_EVENTS: usize = 5000;

/// Moves events from the outbox to a sink until the outbox is empty; returns how many were delivered and
/// per-category counts are left to the caller (rows carry their categories).
pub struct Delivery {
    batch: usize,
    recovered: bool,
}

impl Delivery {
    /// Delivery in batches of at most `batch` events.
    pub fn new(batch: usize) -> Delivery {
        Delivery {
            batch: batch.max(1),
            recovered: false,
        }
    }

    /// Delivers everything currently in the outbox. `on_batch` sees each delivered batch (for summaries).
    pub fn drain(
        &mut self,
        db: &mut StateDb,
        sink: &mut dyn Sink,
        on_batch: &mut dyn FnMut(&[OutboxRow]),
    ) -> Result<u64, SinkError> {
        let stable = sink.stable_batches();
        // For stable-batch sinks: the last sequence of a recorded, unacknowledged batch, re-sent as is.
        let mut resend_upto = None;
        if !self.recovered {
            // A write recorded but never acknowledged: cut it off, it is rewritten below from the outbox.
            if let Some(p) = db.pending_write()? {
                if p.sink == sink.id() && stable {
                    tracing::warn!(sink = %p.sink, first = p.first_seq, last = p.last_seq, "re-sending an unacknowledged batch");
                    resend_upto = Some(p.last_seq);
                } else if p.sink == sink.id() {
                    tracing::warn!(sink = %p.sink, offset = p.offset, "repairing an unacknowledged write");
                    sink.truncate(p.offset)?;
                }
            }
            self.recovered = true;
        }
        let mut delivered = 0u64;
        // The next batch, read from the outbox while the sink wrote (and synced) the previous one.
        let mut prefetched: Option<Vec<OutboxRow>> = None;
        loop {
            let mut rows = match prefetched.take() {
                Some(rows) => rows,
                None => db.read_outbox(db.acked_seq()?, self.batch)?,
            };
            if let Some(upto) = resend_upto.take() {
                if rows.first().is_some_and(|r| r.seq <= upto) {
                    rows.retain(|r| r.seq <= upto);
                }
            }
            let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
                return Ok(delivered);
            };
            let position = sink.position()?;
            if position.is_some() || stable {
                let offset = position.unwrap_or(0);
                db.begin_write(&PendingWrite {
                    sink: sink.id(),
                    first_seq: first.seq,
                    last_seq: last.seq,
                    offset,
                })?;
            }
            // Writing (a file sink's sync is mostly waiting for the disk) overlaps with reading and
            // decompressing the next batch; acknowledgements still follow the writes in order.
            let (written, next) = std::thread::scope(|s| {
                let writer = s.spawn(|| sink.write(&rows));
                let next = db.read_outbox(last.seq, self.batch);
                let written = writer.join().unwrap_or_else(|_| {
                    Err(SinkError::Other {
                        sink: "delivery".into(),
                        message: "the sink panicked while writing".into(),
                    })
                });
                (written, next)
            });
            if let Err(e) = written {
                // Part of the batch may be on disk: cut it off before the next attempt rewrites it.
                self.recovered = false;
                return Err(e);
            }
            // A failed read is retried (and reported) at the top of the loop.
            prefetched = next.ok();
            db.ack(last.seq)?;
            on_batch(&rows);
            delivered += rows.len() as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{InstanceRecord, PageEvent};

    fn db_with_events(dir: &Path, n: usize) -> StateDb {
        let mut db = StateDb::open(&dir.join("s.db")).unwrap();
        let id = db
            .add_instance(&InstanceRecord {
                id: 0,
                name: "a".into(),
                domain: "d".into(),
                client_id: "c".into(),
                key_id: None,
                private_key_path: "/k".into(),
                backfill_days: 0,
                categories: 1,
                ca_file: None,
                created_ms: 0,
                has_cursor: false,
                last_tick_ms: None,
                last_outcome: None,
                last_error: None,
                events_total: 0,
            })
            .unwrap();
        let raws: Vec<String> = (0..n).map(|i| format!("{{\"uuid\":\"u{i}\"}}")).collect();
        let uuids: Vec<String> = (0..n).map(|i| format!("u{i}")).collect();
        let evs: Vec<PageEvent<'_>> = (0..n)
            .map(|i| PageEvent {
                uuid: &uuids[i],
                event_type: "t",
                published: "p",
                categories: 1,
                raw: &raws[i],
            })
            .collect();
        db.commit_page(id, &evs, b"c").unwrap();
        db
    }

    #[test]
    fn file_sink_gets_every_event_once_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = db_with_events(dir.path(), 25);
        let out = dir.path().join("out.jsonl");
        let mut sink = FileSink::open(&out).unwrap();
        let n = Delivery::new(10)
            .drain(&mut db, &mut sink, &mut |_| {})
            .unwrap();
        assert_eq!(n, 25);
        let text = std::fs::read_to_string(&out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 25);
        assert_eq!(lines[24], "{\"uuid\":\"u24\"}");
        assert_eq!(db.outbox_depth().unwrap(), 0);
    }

    #[test]
    fn a_torn_unacknowledged_write_is_cut_and_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = db_with_events(dir.path(), 3);
        let out = dir.path().join("out.jsonl");
        std::fs::write(&out, "{\"earlier\":1}\n").unwrap();
        // Simulate a crash: the intent was recorded at offset 14, half a line was written, no ack.
        db.begin_write(&PendingWrite {
            sink: format!("file:{}", out.display()),
            first_seq: 1,
            last_seq: 3,
            offset: 14,
        })
        .unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&out)
            .unwrap()
            .write_all(b"{\"uuid\":\"u0\"}\n{\"uu")
            .unwrap();
        let mut sink = FileSink::open(&out).unwrap();
        Delivery::new(100)
            .drain(&mut db, &mut sink, &mut |_| {})
            .unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(
            text,
            "{\"earlier\":1}\n{\"uuid\":\"u0\"}\n{\"uuid\":\"u1\"}\n{\"uuid\":\"u2\"}\n"
        );
    }

    struct Failing;
    impl Sink for Failing {
        fn id(&self) -> String {
            "failing".into()
        }
        fn write(&mut self, _: &[OutboxRow]) -> Result<(), SinkError> {
            Err(SinkError::Other {
                sink: "failing".into(),
                message: "down".into(),
            })
        }
    }

    #[test]
    fn a_failing_sink_keeps_events_queued() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = db_with_events(dir.path(), 5);
        assert!(Delivery::new(10)
            .drain(&mut db, &mut Failing, &mut |_| {})
            .is_err());
        assert_eq!(db.outbox_depth().unwrap(), 5);
    }

    /// Delivers the first batch, then panics (a bug in an embedder's sink).
    struct PanicsOnSecondBatch(usize);
    impl Sink for PanicsOnSecondBatch {
        fn id(&self) -> String {
            "panics".into()
        }
        fn write(&mut self, _: &[OutboxRow]) -> Result<(), SinkError> {
            self.0 += 1;
            if self.0 == 2 {
                panic!("sink bug");
            }
            Ok(())
        }
    }

    #[test]
    fn a_sink_that_panics_is_an_error_and_keeps_its_batch_queued() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = db_with_events(dir.path(), 25);
        let result = Delivery::new(10).drain(&mut db, &mut PanicsOnSecondBatch(0), &mut |_| {});
        assert!(
            matches!(&result, Err(SinkError::Other { message, .. }) if message.contains("panicked")),
            "{result:?}"
        );
        // The first batch was acknowledged; the one the sink panicked on and the rest are still queued.
        assert_eq!(db.outbox_depth().unwrap(), 15);
        // Past its second call the sink works again.
        let rest = Delivery::new(10).drain(&mut db, &mut PanicsOnSecondBatch(2), &mut |_| {});
        assert_eq!(rest.unwrap(), 15);
    }

    /// Writes half of the first batch, then fails once; afterwards works.
    struct TornOnce {
        inner: FileSink,
        failed: bool,
    }
    impl Sink for TornOnce {
        fn id(&self) -> String {
            self.inner.id()
        }
        fn position(&mut self) -> Result<Option<u64>, SinkError> {
            self.inner.position()
        }
        fn truncate(&mut self, offset: u64) -> Result<(), SinkError> {
            self.inner.truncate(offset)
        }
        fn write(&mut self, events: &[OutboxRow]) -> Result<(), SinkError> {
            if !self.failed {
                self.failed = true;
                self.inner
                    .file
                    .write_all(b"{\"uuid\":\"u0\"}\n{\"uu")
                    .unwrap();
                return Err(SinkError::Other {
                    sink: self.id(),
                    message: "disk full".into(),
                });
            }
            self.inner.write(events)
        }
    }

    #[test]
    fn a_write_that_fails_half_way_is_cut_before_the_retry_in_the_same_process() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = db_with_events(dir.path(), 3);
        let out = dir.path().join("out.jsonl");
        let mut sink = TornOnce {
            inner: FileSink::open(&out).unwrap(),
            failed: false,
        };
        let mut delivery = Delivery::new(100);
        assert!(delivery.drain(&mut db, &mut sink, &mut |_| {}).is_err());
        assert_eq!(db.outbox_depth().unwrap(), 3);
        assert_eq!(delivery.drain(&mut db, &mut sink, &mut |_| {}).unwrap(), 3);
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "{\"uuid\":\"u0\"}\n{\"uuid\":\"u1\"}\n{\"uuid\":\"u2\"}\n"
        );
    }

    #[test]
    fn a_file_that_shrank_is_not_extended_with_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = db_with_events(dir.path(), 2);
        let out = dir.path().join("out.jsonl");
        db.begin_write(&PendingWrite {
            sink: format!("file:{}", out.display()),
            first_seq: 1,
            last_seq: 2,
            offset: 1_000,
        })
        .unwrap();
        let mut sink = FileSink::open(&out).unwrap(); // rotated: a new, empty file
        Delivery::new(100)
            .drain(&mut db, &mut sink, &mut |_| {})
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "{\"uuid\":\"u0\"}\n{\"uuid\":\"u1\"}\n"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_device_fails_cleanly_and_keeps_events_queued() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = db_with_events(dir.path(), 3);
        let mut sink = FileSink::open(Path::new("/dev/full")).unwrap();
        let mut delivery = Delivery::new(100);
        for _ in 0..2 {
            let e = delivery
                .drain(&mut db, &mut sink, &mut |_| {})
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("writing failed") && e.contains("stay queued"),
                "{e}"
            );
        }
        assert_eq!(db.outbox_depth().unwrap(), 3);
        assert_eq!(db.pending_write().unwrap(), None);
    }

    /// Records the (first, last) of every write; fails the first `fail` writes.
    struct Ranges {
        seen: Vec<(i64, i64)>,
        fail: usize,
    }
    impl Sink for Ranges {
        fn id(&self) -> String {
            "ranges".into()
        }
        fn stable_batches(&self) -> bool {
            true
        }
        fn write(&mut self, events: &[OutboxRow]) -> Result<(), SinkError> {
            self.seen
                .push((events[0].seq, events[events.len() - 1].seq));
            if self.fail > 0 {
                self.fail -= 1;
                return Err(SinkError::Other {
                    sink: "ranges".into(),
                    message: "down".into(),
                });
            }
            Ok(())
        }
    }

    #[test]
    fn a_stable_batch_sink_gets_the_same_range_again_after_a_failure_or_crash() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = db_with_events(dir.path(), 3);
        let mut sink = Ranges {
            seen: vec![],
            fail: 1,
        };
        let mut delivery = Delivery::new(100);
        assert!(delivery.drain(&mut db, &mut sink, &mut |_| {}).is_err());
        // More events arrive before the retry: the failed batch is still re-sent exactly as it was.
        let id = db.list_instances().unwrap()[0].id;
        let raw = "{\"uuid\":\"late\"}";
        db.commit_page(
            id,
            &[PageEvent {
                uuid: "late",
                event_type: "t",
                published: "p",
                categories: 1,
                raw,
            }],
            b"c2",
        )
        .unwrap();
        // A new process (after a crash) also finds the recorded range.
        let mut fresh = Delivery::new(100);
        let mut crashed = Ranges {
            seen: vec![],
            fail: 0,
        };
        assert_eq!(fresh.drain(&mut db, &mut crashed, &mut |_| {}).unwrap(), 4);
        assert_eq!(crashed.seen, vec![(1, 3), (4, 4)]);
        assert_eq!(sink.seen, vec![(1, 3)]);
        assert_eq!(db.pending_write().unwrap(), None);
    }

    #[test]
    fn pretty_printed_json_stays_on_one_line() {
        let mut buf = Vec::new();
        push_line(&mut buf, "{\n  \"a\": \"x\\ny\"\n}");
        assert_eq!(buf, b"{   \"a\": \"x\\ny\" }\n");
    }
}
