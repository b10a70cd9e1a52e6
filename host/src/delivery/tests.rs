//! Delivery against a real SQLite state: every event once, in order; torn writes cut; failing, panicking
//! and batch-naming sinks.

use super::*;
use crate::state::testing::new_instance;
use crate::state::{InstanceStore, Outbox, Page, PageEvent, SqliteState, StateBackend};
use okta_ingest_model::Categories;
use std::io::Write;
use std::path::Path;

fn event(i: usize) -> PageEvent {
    PageEvent {
        uuid: format!("u{i}"),
        event_type: "t".into(),
        published: "p".into(),
        categories: Categories::AUTHENTICATION,
        raw: format!("{{\"uuid\":\"u{i}\"}}"),
    }
}

async fn state_with_events(dir: &Path, n: usize) -> (SqliteState, Box<dyn DeliveryStore>, i64) {
    let state = SqliteState::open(&dir.join("s.db")).unwrap();
    let id = state.add_instance(&new_instance("a")).await.unwrap().id;
    state
        .commit_page(Page {
            instance_id: id,
            events: (0..n).map(event).collect(),
            cursor: b"c".to_vec(),
        })
        .await
        .unwrap();
    let store = state.delivery().await.unwrap();
    (state, store, id)
}

#[tokio::test]
async fn file_sink_gets_every_event_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (state, mut store, _) = state_with_events(dir.path(), 25).await;
    let out = dir.path().join("out.jsonl");
    let sink = FileSink::open(&out).unwrap();
    let n = Delivery::with_batch(Box::new(sink), 10)
        .drain(store.as_mut())
        .await
        .unwrap();
    assert_eq!(n, 25);
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 25);
    assert_eq!(lines[24], "{\"uuid\":\"u24\"}");
    assert_eq!(state.outbox_depth().await.unwrap(), 0);
}

#[tokio::test]
async fn a_torn_unacknowledged_write_is_cut_and_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let (_state, mut store, _) = state_with_events(dir.path(), 3).await;
    let out = dir.path().join("out.jsonl");
    std::fs::write(&out, "{\"earlier\":1}\n").unwrap();
    // Simulate a crash: the intent was recorded at offset 14, half a line was written, no ack.
    store
        .begin_write(
            Stream::Whole,
            &PendingWrite {
                sink: format!("file:{}", out.display()),
                first_seq: 1,
                last_seq: 3,
                offset: 14,
            },
        )
        .await
        .unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&out)
        .unwrap()
        .write_all(b"{\"uuid\":\"u0\"}\n{\"uu")
        .unwrap();
    let sink = FileSink::open(&out).unwrap();
    Delivery::with_batch(Box::new(sink), 100)
        .drain(store.as_mut())
        .await
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
    fn write(&mut self, _: &[OutboxEvent]) -> Result<(), SinkError> {
        Err(SinkError::Other {
            sink: "failing".into(),
            message: "down".into(),
        })
    }
}

#[tokio::test]
async fn a_failing_sink_keeps_events_queued() {
    let dir = tempfile::tempdir().unwrap();
    let (state, mut store, _) = state_with_events(dir.path(), 5).await;
    assert!(Delivery::with_batch(Box::new(Failing), 10)
        .drain(store.as_mut())
        .await
        .is_err());
    assert_eq!(state.outbox_depth().await.unwrap(), 5);
}

/// Delivers the first batch, then panics (a bug in an embedder's sink).
struct PanicsOnSecondBatch(usize);
impl Sink for PanicsOnSecondBatch {
    fn id(&self) -> String {
        "panics".into()
    }
    fn write(&mut self, _: &[OutboxEvent]) -> Result<(), SinkError> {
        self.0 += 1;
        if self.0 == 2 {
            panic!("sink bug");
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_sink_that_panics_is_an_error_and_keeps_its_batch_queued() {
    let dir = tempfile::tempdir().unwrap();
    let (state, mut store, _) = state_with_events(dir.path(), 25).await;
    let mut delivery = Delivery::with_batch(Box::new(PanicsOnSecondBatch(0)), 10);
    let result = delivery.drain(store.as_mut()).await;
    assert!(
        matches!(&result, Err(e @ SinkError::Panicked { .. }) if e.to_string().contains("panicked")),
        "{result:?}"
    );
    // The first batch was acknowledged; the one the sink panicked on and the rest are still queued.
    assert_eq!(state.outbox_depth().await.unwrap(), 15);
    // Past its second call the sink works again, and delivery still has it.
    assert_eq!(delivery.drain(store.as_mut()).await.unwrap(), 15);
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
    fn repair(&self) -> Repair {
        self.inner.repair()
    }
    fn position(&mut self) -> Result<u64, SinkError> {
        self.inner.position()
    }
    fn truncate(&mut self, offset: u64) -> Result<(), SinkError> {
        self.inner.truncate(offset)
    }
    fn write(&mut self, events: &[OutboxEvent]) -> Result<(), SinkError> {
        if !self.failed {
            self.failed = true;
            self.inner
                .file_mut()
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

#[tokio::test]
async fn a_write_that_fails_half_way_is_cut_before_the_retry_in_the_same_process() {
    let dir = tempfile::tempdir().unwrap();
    let (state, mut store, _) = state_with_events(dir.path(), 3).await;
    let out = dir.path().join("out.jsonl");
    let sink = TornOnce {
        inner: FileSink::open(&out).unwrap(),
        failed: false,
    };
    let mut delivery = Delivery::with_batch(Box::new(sink), 100);
    assert!(delivery.drain(store.as_mut()).await.is_err());
    assert_eq!(state.outbox_depth().await.unwrap(), 3);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "",
        "the torn tail is cut at once, not left for readers until the retry"
    );
    assert_eq!(delivery.drain(store.as_mut()).await.unwrap(), 3);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "{\"uuid\":\"u0\"}\n{\"uuid\":\"u1\"}\n{\"uuid\":\"u2\"}\n"
    );
}

#[tokio::test]
async fn a_file_that_shrank_is_not_extended_with_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let (_state, mut store, _) = state_with_events(dir.path(), 2).await;
    let out = dir.path().join("out.jsonl");
    store
        .begin_write(
            Stream::Whole,
            &PendingWrite {
                sink: format!("file:{}", out.display()),
                first_seq: 1,
                last_seq: 2,
                offset: 1_000,
            },
        )
        .await
        .unwrap();
    let sink = FileSink::open(&out).unwrap(); // rotated: a new, empty file
    Delivery::with_batch(Box::new(sink), 100)
        .drain(store.as_mut())
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "{\"uuid\":\"u0\"}\n{\"uuid\":\"u1\"}\n"
    );
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_full_device_fails_cleanly_and_keeps_events_queued() {
    let dir = tempfile::tempdir().unwrap();
    let (state, mut store, _) = state_with_events(dir.path(), 3).await;
    let sink = FileSink::open(Path::new("/dev/full")).unwrap();
    let mut delivery = Delivery::with_batch(Box::new(sink), 100);
    for _ in 0..2 {
        let e = delivery
            .drain(store.as_mut())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("writing failed") && e.contains("stay queued"),
            "{e}"
        );
    }
    assert_eq!(state.outbox_depth().await.unwrap(), 3);
    assert_eq!(store.pending_write(Stream::Whole).await.unwrap(), None);
}

/// Records the (first, last) of every write; fails the first `fail` writes.
struct Ranges {
    seen: Arc<std::sync::Mutex<Vec<(i64, i64)>>>,
    fail: usize,
}
impl Sink for Ranges {
    fn id(&self) -> String {
        "ranges".into()
    }
    fn repair(&self) -> Repair {
        Repair::SameBatch
    }
    fn write(&mut self, events: &[OutboxEvent]) -> Result<(), SinkError> {
        self.seen
            .lock()
            .unwrap()
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

#[tokio::test]
async fn a_stable_batch_sink_gets_the_same_range_again_after_a_failure_or_crash() {
    let dir = tempfile::tempdir().unwrap();
    let (state, mut store, id) = state_with_events(dir.path(), 3).await;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Ranges {
        seen: seen.clone(),
        fail: 1,
    };
    let mut delivery = Delivery::with_batch(Box::new(sink), 100);
    assert!(delivery.drain(store.as_mut()).await.is_err());
    // More events arrive before the retry: the failed batch is still re-sent exactly as it was.
    state
        .commit_page(Page {
            instance_id: id,
            events: vec![PageEvent {
                uuid: "late".into(),
                raw: "{\"uuid\":\"late\"}".into(),
                ..event(0)
            }],
            cursor: b"c2".to_vec(),
        })
        .await
        .unwrap();
    // A new process (after a crash) also finds the recorded range.
    let crashed_seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut fresh = Delivery::with_batch(
        Box::new(Ranges {
            seen: crashed_seen.clone(),
            fail: 0,
        }),
        100,
    );
    let mut store2 = state.delivery().await.unwrap();
    assert_eq!(fresh.drain(store2.as_mut()).await.unwrap(), 4);
    assert_eq!(*crashed_seen.lock().unwrap(), vec![(1, 3), (4, 4)]);
    assert_eq!(*seen.lock().unwrap(), vec![(1, 3)]);
    assert_eq!(store.pending_write(Stream::Whole).await.unwrap(), None);
}

#[tokio::test]
async fn the_worker_delivers_on_wake_and_drains_once_more_when_finishing() {
    let dir = tempfile::tempdir().unwrap();
    let (state, store, id) = state_with_events(dir.path(), 3).await;
    let out = dir.path().join("out.jsonl");
    let metrics = crate::Metrics::new();
    let worker = DeliveryWorker::start(
        store,
        Box::new(FileSink::open(&out).unwrap()),
        metrics.sink_counters(),
    )
    .unwrap();
    let wake = worker.waker();
    state
        .commit_page(Page {
            instance_id: id,
            events: vec![event(7)],
            cursor: b"c2".to_vec(),
        })
        .await
        .unwrap();
    wake();
    let outcome = worker.finish(&StopSignal::default()).await;
    assert_eq!(
        outcome,
        DeliveryOutcome {
            delivered: 4,
            error: None
        }
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 4);
    let text = metrics.render(None);
    let sink = format!("{{sink=\"file:{}\"}}", out.display());
    for line in [
        format!("okta_ingest_sink_events_total{sink} 4"),
        format!("okta_ingest_sink_write_failures_total{sink} 0"),
        format!("okta_ingest_sink_up{sink} 1"),
    ] {
        assert!(text.contains(&line), "{line} in:\n{text}");
    }
    assert!(!text.contains("okta_ingest_sink_last_delivery_timestamp_seconds{sink} 0.000"));
}

#[tokio::test]
async fn a_worker_whose_sink_keeps_failing_reports_the_error_when_finishing() {
    let dir = tempfile::tempdir().unwrap();
    let (state, store, _) = state_with_events(dir.path(), 2).await;
    let metrics = crate::Metrics::new();
    let worker = DeliveryWorker::start(store, Box::new(Failing), metrics.sink_counters()).unwrap();
    let outcome = worker.finish(&StopSignal::default()).await;
    assert_eq!(outcome.delivered, 0);
    let text = metrics.render(None);
    assert!(
        text.contains("okta_ingest_sink_up{sink=\"failing\"} 0\n"),
        "{text}"
    );
    assert!(
        !text.contains("okta_ingest_sink_write_failures_total{sink=\"failing\"} 0"),
        "{text}"
    );
    assert!(
        outcome.error.as_deref().is_some_and(|e| e.contains("down")),
        "{outcome:?}"
    );
    assert_eq!(state.outbox_depth().await.unwrap(), 2);
}

/// A sink whose every write takes far longer than a shutdown may wait (a hung receiver).
struct Hung;

impl Sink for Hung {
    fn id(&self) -> String {
        "hung".into()
    }
    fn write(&mut self, _: &[OutboxEvent]) -> Result<(), SinkError> {
        std::thread::sleep(Duration::from_secs(20));
        Ok(())
    }
}

#[tokio::test]
async fn at_a_shutdown_a_hung_sink_is_abandoned_within_the_grace_and_its_events_stay_queued() {
    let dir = tempfile::tempdir().unwrap();
    let (state, store, _) = state_with_events(dir.path(), 3).await;
    let worker = DeliveryWorker::start(store, Box::new(Hung), Default::default()).unwrap();
    // Let the write start.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stop = StopSignal::default();
    stop.request();
    let started = std::time::Instant::now();
    let outcome = worker.finish(&stop).await;
    let took = started.elapsed();
    assert!(
        took >= STOP_GRACE && took < STOP_GRACE + Duration::from_millis(500),
        "{took:?}"
    );
    assert_eq!(outcome.delivered, 0);
    assert!(
        outcome
            .error
            .as_deref()
            .is_some_and(|e| e.contains("stay queued")),
        "{outcome:?}"
    );
    assert_eq!(state.outbox_depth().await.unwrap(), 3);
}

/// A sink that waits the way the webhook's back-off does: interruptibly.
#[derive(Default)]
struct BackingOff {
    stop: SinkStop,
}

impl Sink for BackingOff {
    fn id(&self) -> String {
        "backing-off".into()
    }
    fn write(&mut self, _: &[OutboxEvent]) -> Result<(), SinkError> {
        loop {
            if !self.stop.sleep(Duration::from_secs(20)) {
                return Err(SinkError::Other {
                    sink: self.id(),
                    message: "stopping; events stay queued".into(),
                });
            }
        }
    }
    fn watch_stop(&mut self, stop: SinkStop) {
        self.stop = stop;
    }
}

#[tokio::test]
async fn at_a_shutdown_a_backing_off_sink_gives_up_before_the_grace_ends() {
    let dir = tempfile::tempdir().unwrap();
    let (state, store, _) = state_with_events(dir.path(), 2).await;
    let worker =
        DeliveryWorker::start(store, Box::new(BackingOff::default()), Default::default()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stop = StopSignal::default();
    stop.request();
    let started = std::time::Instant::now();
    let outcome = worker.finish(&stop).await;
    let took = started.elapsed();
    assert!(took < STOP_GRACE, "the sink gave up when asked: {took:?}");
    assert!(
        outcome
            .error
            .as_deref()
            .is_some_and(|e| e.contains("stopping")),
        "the sink's own error, not an abandoned batch: {outcome:?}"
    );
    assert_eq!(state.outbox_depth().await.unwrap(), 2);
}
