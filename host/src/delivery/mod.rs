//! Delivery: moves events from the durable outbox to a sink, and acknowledges only what the sink has
//! written (for files: synced to disk), so a crash or a failing sink loses nothing.
//!
//! [`Delivery::drain`] records each write before making it (how depends on the sink's [`Repair`]),
//! writes, acknowledges and prunes, in batches of [`DEFAULT_BATCH_EVENTS`]; it reads the next batch while
//! the sink writes the current one. [`DeliveryWorker`] runs it on a thread of its own (a current-thread
//! runtime: the state's delivery calls may block there, never on the host's async workers) whenever a
//! commit wakes it, and retries while the sink fails.
//!
//! Sinks: [`StdoutSink`], [`FileSink`], [`WebhookSink`], [`SplunkHecSink`], [`ElasticsearchSink`], [`SyslogSink`], [`S3Sink`], or an embedder's [`Sink`].

mod batches;
mod elasticsearch;
mod file;
mod https;
mod s3;
mod sink;
mod splunk_hec;
mod stdout;
mod syslog;
mod webhook;

pub use elasticsearch::{BulkAuth, BulkDocument, BulkOptions, ElasticsearchSink};
pub use file::{FileSink, ReopenHandle};
pub use s3::{S3Addressing, S3Options, S3Sink};
pub use sink::{Repair, Sink, SinkError, SinkSetting, SinkStop};
pub use splunk_hec::{SplunkHecOptions, SplunkHecSink, DEFAULT_TOKEN_ENV as DEFAULT_HEC_TOKEN_ENV};
pub use stdout::StdoutSink;
pub use syslog::{SyslogOptions, SyslogSink, SYSLOG_FACILITIES};
pub use webhook::{WebhookOptions, WebhookSink};

use crate::metrics::SinkCounters;
use crate::state::{DeliveryStore, OutboxEvent, PendingWrite, Stream};
use crate::stop::StopSignal;
use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Events per delivery batch for sinks without a preference. Each batch costs two small state
/// transactions and a sink sync; 5,000 typical events (~6 MB) keep that below 1% of a backfill's cost.
pub const DEFAULT_BATCH_EVENTS: usize = 5000;

/// How long the worker waits for a wake-up before looking at the outbox anyway, and after a failure.
const IDLE_WAIT: Duration = Duration::from_millis(500);
const RETRY_WAIT: Duration = Duration::from_secs(2);

/// At a shutdown, how long delivery may go on: first the final drain, then (asked to stop after the
/// batch in flight) the end of that batch. A batch still unacknowledged then is abandoned: it stays
/// queued, its write recorded, and the next start repairs or re-sends it exactly (see [`Repair`]).
pub(crate) const STOP_GRACE: Duration = Duration::from_millis(1000);
/// The part of [`STOP_GRACE`] given to the final drain before delivery is asked to stop.
const FINAL_DRAIN: Duration = Duration::from_millis(700);

/// Moves events from the outbox to one sink.
pub(crate) struct Delivery {
    /// The sink; `None` only while a write runs on a blocking thread (or if that thread was lost).
    sink: Option<Box<dyn Sink>>,
    batch: usize,
    /// The streams whose write recorded by an earlier process (or a failed write) has been dealt with.
    recovered: HashSet<Stream>,
    /// Set at a shutdown: no batch is started after the one in flight.
    stopping: Arc<AtomicBool>,
    /// What `/metrics` shows of the sink.
    counters: Arc<SinkCounters>,
}

impl Delivery {
    /// Delivery to `sink` in batches of its preferred size.
    pub(crate) fn new(sink: Box<dyn Sink>) -> Delivery {
        let batch = sink.batch_hint().unwrap_or(DEFAULT_BATCH_EVENTS);
        Delivery::with_batch(sink, batch)
    }

    /// Delivery to `sink` in batches of at most `batch` events.
    pub(crate) fn with_batch(mut sink: Box<dyn Sink>, batch: usize) -> Delivery {
        let stopping: Arc<AtomicBool> = Arc::default();
        sink.watch_stop(SinkStop::new(stopping.clone()));
        let counters: Arc<SinkCounters> = Arc::default();
        counters.set_sink(&sink.id());
        Delivery {
            sink: Some(sink),
            batch: batch.max(1),
            recovered: HashSet::new(),
            stopping,
            counters,
        }
    }

    /// Delivers everything currently in the outbox, stream by stream; returns how many events. A stream
    /// that fails (its sink, or its lease lost) does not hold the others up: the first error is returned
    /// once every stream was tried.
    pub(crate) async fn drain(&mut self, store: &mut dyn DeliveryStore) -> Result<u64, SinkError> {
        let mut delivered = 0u64;
        let mut first_error = None;
        for stream in store.streams().await? {
            if self.stopping.load(Ordering::SeqCst) {
                break;
            }
            match self.drain_stream(store, stream).await {
                Ok(n) => delivered += n,
                Err(e) => {
                    // The rest of a failing stream waits for the retry; others go on.
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if delivered == 0 => Err(e),
            Some(e) => {
                tracing::warn!("delivered {delivered} events; a stream failed: {e}");
                Err(e)
            }
            None => Ok(delivered),
        }
    }

    /// Delivers everything currently in one stream.
    async fn drain_stream(
        &mut self,
        store: &mut dyn DeliveryStore,
        stream: Stream,
    ) -> Result<u64, SinkError> {
        let Some(sink) = self.sink.as_mut() else {
            return Err(SinkError::Panicked {
                sink: "delivery".into(),
            });
        };
        let repair = sink.repair();
        let id = sink.id();
        // For `SameBatch` sinks: the last sequence of a recorded, unacknowledged batch, re-sent as is.
        let mut resend_upto = None;
        if !self.recovered.contains(&stream) {
            if let Some(p) = store.pending_write(stream).await? {
                if p.sink == id {
                    match repair {
                        Repair::SameBatch => {
                            tracing::warn!(sink = %p.sink, %stream, first = p.first_seq, last = p.last_seq, "re-sending an unacknowledged batch");
                            resend_upto = Some(p.last_seq);
                        }
                        Repair::Truncate => {
                            tracing::warn!(sink = %p.sink, %stream, offset = p.offset, "repairing an unacknowledged write");
                            sink.truncate(p.offset)?;
                        }
                        Repair::None => {}
                    }
                }
            }
            self.recovered.insert(stream);
        }
        let mut delivered = 0u64;
        // The next batch, read from the outbox while the sink wrote (and synced) the previous one.
        let mut prefetched: Option<Vec<OutboxEvent>> = None;
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                return Ok(delivered);
            }
            let mut rows = match prefetched.take() {
                Some(rows) => rows,
                None => {
                    let acked = store.acked_seq(stream).await?;
                    store.read_batch(stream, acked, self.batch).await?
                }
            };
            if let Some(upto) = resend_upto.take() {
                if rows.first().is_some_and(|r| r.seq <= upto) {
                    rows.retain(|r| r.seq <= upto);
                }
            }
            let (Some(first), Some(last)) =
                (rows.first().map(|r| r.seq), rows.last().map(|r| r.seq))
            else {
                return Ok(delivered);
            };
            let Some(mut sink) = self.sink.take() else {
                return Err(SinkError::Panicked { sink: id });
            };
            let mut recorded_offset = 0;
            if repair != Repair::None {
                let offset = match repair {
                    Repair::Truncate => match sink.position() {
                        Ok(o) => o,
                        Err(e) => {
                            self.sink = Some(sink);
                            return Err(e);
                        }
                    },
                    _ => 0,
                };
                recorded_offset = offset;
                let recorded = store
                    .begin_write(
                        stream,
                        &PendingWrite {
                            sink: id.clone(),
                            first_seq: first,
                            last_seq: last,
                            offset,
                        },
                    )
                    .await;
                if let Err(e) = recorded {
                    self.sink = Some(sink);
                    return Err(e.into());
                }
            }
            // Writing (a file sink's sync is mostly waiting for the disk) overlaps with reading and
            // decompressing the next batch; acknowledgements still follow the writes in order.
            let write_started = std::time::Instant::now();
            let writer = tokio::task::spawn_blocking(move || {
                let written = std::panic::catch_unwind(AssertUnwindSafe(|| sink.write(&rows)));
                (sink, rows, written)
            });
            let next = store.read_batch(stream, last, self.batch).await;
            let (sink, rows, written) = match writer.await {
                Ok(done) => done,
                // The blocking thread was cancelled (the runtime is shutting down): the sink is gone.
                Err(_) => return Err(SinkError::Panicked { sink: id }),
            };
            let took = write_started.elapsed();
            self.sink = Some(sink);
            match written {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    self.counters.failed();
                    // Part of the batch may be on disk: cut it off now, so no reader sees a torn line
                    // while the sink is down (best effort: the next attempt cuts it again first).
                    self.recovered.remove(&stream);
                    if repair == Repair::Truncate {
                        if let Some(sink) = self.sink.as_mut() {
                            if let Err(cut) = sink.truncate(recorded_offset) {
                                tracing::warn!(sink = %id, "could not cut back the failed write yet: {cut}");
                            }
                        }
                    }
                    return Err(e);
                }
                Err(_panic) => {
                    self.counters.failed();
                    self.recovered.remove(&stream);
                    return Err(SinkError::Panicked { sink: id });
                }
            }
            // A failed read is retried (and reported) at the top of the loop.
            prefetched = next.ok();
            store.ack(stream, last).await?;
            self.counters.delivered(rows.len() as u64, took);
            delivered += rows.len() as u64;
        }
    }
}

/// What a delivery worker did, when it finishes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DeliveryOutcome {
    /// Events handed to the sink and acknowledged.
    pub delivered: u64,
    /// The sink's last error, if the outbox could not be emptied at the end.
    pub error: Option<String>,
}

/// Wake-ups and the stop request, shared between the worker and its callers.
#[derive(Default)]
struct Signals {
    wake: Notify,
    finish: AtomicBool,
    /// Events acknowledged so far (what an abandoned worker reports).
    delivered: AtomicU64,
}

/// A thread that drains the outbox into the sink whenever woken, and retries while the sink fails.
pub(crate) struct DeliveryWorker {
    signals: Arc<Signals>,
    stopping: Arc<AtomicBool>,
    done: tokio::sync::oneshot::Receiver<DeliveryOutcome>,
}

impl DeliveryWorker {
    /// Starts the worker on its own thread; it records what it delivers into `counters`.
    pub(crate) fn start(
        mut store: Box<dyn DeliveryStore>,
        sink: Box<dyn Sink>,
        counters: Arc<SinkCounters>,
    ) -> Result<DeliveryWorker, SinkError> {
        let signals = Arc::new(Signals::default());
        let shared = signals.clone();
        let io = |source| SinkError::Io {
            sink: "delivery".into(),
            action: "starting the delivery thread",
            source,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(io)?;
        counters.set_sink(&sink.id());
        let mut delivery = Delivery::new(sink);
        delivery.counters = counters;
        let stopping = delivery.stopping.clone();
        let (report, done) = tokio::sync::oneshot::channel();
        // Not joined: at a shutdown a worker stuck in a sink's write is abandoned (see `finish`).
        std::thread::Builder::new()
            .name("okta-ingest-delivery".into())
            .spawn(move || {
                let outcome = runtime.block_on(run(delivery, store.as_mut(), &shared));
                let _ = report.send(outcome);
            })
            .map_err(io)?;
        Ok(DeliveryWorker {
            signals,
            stopping,
            done,
        })
    }

    /// A cheap callback that wakes the worker (after a commit).
    pub(crate) fn waker(&self) -> impl Fn() + Send + Sync + Clone + 'static {
        let signals = self.signals.clone();
        move || signals.wake.notify_one()
    }

    /// Asks for a final drain and waits for it. Once `stop` is requested (at once if it already is) the
    /// drain gets [`STOP_GRACE`] in all: then the batch in flight is abandoned (it stays queued) and
    /// the worker's thread is left to end by itself.
    pub(crate) async fn finish(mut self, stop: &StopSignal) -> DeliveryOutcome {
        self.signals.finish.store(true, Ordering::SeqCst);
        self.signals.wake.notify_one();
        let lost = || DeliveryOutcome {
            delivered: 0,
            error: Some("the delivery thread panicked".into()),
        };
        tokio::select! {
            done = &mut self.done => return done.unwrap_or_else(|_| lost()),
            _ = stop.requested() => {}
        }
        if let Ok(done) = tokio::time::timeout(FINAL_DRAIN, &mut self.done).await {
            return done.unwrap_or_else(|_| lost());
        }
        self.stopping.store(true, Ordering::SeqCst);
        match tokio::time::timeout(STOP_GRACE - FINAL_DRAIN, &mut self.done).await {
            Ok(done) => done.unwrap_or_else(|_| lost()),
            Err(_) => DeliveryOutcome {
                delivered: self.signals.delivered.load(Ordering::SeqCst),
                error: Some(
                    "stopped while the sink was still busy with a batch (retrying or slow); that batch \
                     and the rest stay queued and are delivered at the next start"
                        .into(),
                ),
            },
        }
    }
}

/// The worker's loop: drain, then wait for a wake-up (or a while); after a finish request, drain once
/// more and stop.
async fn run(
    mut delivery: Delivery,
    store: &mut dyn DeliveryStore,
    signals: &Signals,
) -> DeliveryOutcome {
    let mut delivered = 0u64;
    let mut last_error: Option<String> = None;
    loop {
        let finishing = signals.finish.load(Ordering::SeqCst);
        match delivery.drain(store).await {
            // A drain cut short by a stop proves nothing about the sink: its last error stands.
            Ok(n) if delivery.stopping.load(Ordering::SeqCst) => {
                delivered += n;
                signals.delivered.fetch_add(n, Ordering::SeqCst);
            }
            Ok(n) => {
                delivered += n;
                signals.delivered.fetch_add(n, Ordering::SeqCst);
                if last_error.take().is_some() {
                    tracing::info!("sink recovered; delivery resumed");
                }
            }
            Err(e) => {
                let msg = e.to_string();
                if last_error.as_deref() != Some(&msg) {
                    tracing::error!("{msg}");
                }
                last_error = Some(msg);
            }
        }
        if finishing {
            return DeliveryOutcome {
                delivered,
                error: last_error,
            };
        }
        let wait = if last_error.is_some() {
            RETRY_WAIT
        } else {
            IDLE_WAIT
        };
        tokio::select! {
            _ = signals.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests;
