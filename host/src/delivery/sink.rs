//! The [`Sink`] trait: where delivered events go. Implement it to embed okta-ingest with a destination
//! of your own.

use crate::state::{OutboxEvent, StateError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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
        #[source]
        source: std::io::Error,
    },
    /// The sink could not be opened (at start, or when reopened); nothing was written to it.
    #[error("sink {sink}: {action} failed: {source}")]
    Open {
        /// The sink.
        sink: String,
        /// What was being done.
        action: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The outbox could not be read or acknowledged.
    #[error(transparent)]
    State(#[from] StateError),
    /// One of the sink's settings cannot be used (nothing was sent).
    #[error("sink {sink}: {reason}")]
    Config {
        /// The sink.
        sink: String,
        /// Which setting.
        setting: SinkSetting,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The receiver refused the batch or could not be reached after all retries.
    #[error("sink {sink}: {message}")]
    Receiver {
        /// The sink.
        sink: String,
        /// What happened, and whether it is retried.
        message: String,
    },
    /// Another process writes to the same sink (a file has one writer, or its lines would interleave).
    #[error("sink {sink}: another process is writing to it (okta-ingest locks a file sink while it writes); stop that one, or give this one another file")]
    InUse {
        /// The sink.
        sink: String,
    },
    /// The sink panicked while writing (a bug in it); the batch stays queued.
    #[error("sink {sink}: the sink panicked while writing; events stay queued")]
    Panicked {
        /// The sink.
        sink: String,
    },
    /// An embedder's sink failed.
    #[error("sink {sink}: {message}")]
    Other {
        /// The sink.
        sink: String,
        /// What failed.
        message: String,
    },
}

/// A sink setting, named in [`SinkError::Config`] so a front end can point at its own option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkSetting {
    /// Where the sink sends (a URL).
    Destination,
    /// The `Authorization` value (read from an environment variable).
    Authorization,
    /// Extra CA certificates to trust.
    CaFile,
    /// The HTTPS client as a whole.
    Client,
    /// How messages are formed (a syslog facility, hostname, app name or structured data id).
    Message,
    /// The client certificate and key for mutual TLS.
    ClientCertificate,
}

/// A destination for events. `write` runs on delivery's own thread, never on the async runtime, so
/// blocking in it is fine (and gives back-pressure).
pub trait Sink: Send {
    /// A stable identity, e.g. `stdout` or `file:/abs/path`; recorded with each write.
    fn id(&self) -> String;
    /// Writes the events in order and returns once they are as durable as this sink can make them.
    /// `Ok` acknowledges them (they leave the outbox); `Err` keeps them queued and delivery retries.
    fn write(&mut self, events: &[OutboxEvent]) -> Result<(), SinkError>;
    /// How a torn write is repaired after a crash or a failed write; see [`Repair`].
    fn repair(&self) -> Repair {
        Repair::None
    }
    /// For [`Repair::Truncate`]: the current end offset, recorded before each write.
    fn position(&mut self) -> Result<u64, SinkError> {
        Ok(0)
    }
    /// For [`Repair::Truncate`]: cuts the sink back to `offset` (an offset from `position`).
    fn truncate(&mut self, offset: u64) -> Result<(), SinkError> {
        let _ = offset;
        Ok(())
    }
    /// Preferred most events per `write` (delivery's default otherwise).
    fn batch_hint(&self) -> Option<usize> {
        None
    }
    /// Called once, before the first write, with the handle that says when the host is stopping. A sink
    /// that waits inside `write` (a retry back-off) should wait with [`SinkStop::sleep`] and give up
    /// (return an error: the batch stays queued) when it is interrupted.
    fn watch_stop(&mut self, stop: SinkStop) {
        let _ = stop;
    }
}

/// Tells a sink that the host is stopping (see [`Sink::watch_stop`]).
#[derive(Debug, Clone, Default)]
pub struct SinkStop(Arc<AtomicBool>);

impl SinkStop {
    pub(crate) fn new(flag: Arc<AtomicBool>) -> SinkStop {
        SinkStop(flag)
    }

    /// True once the host is stopping.
    pub fn is_requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Sleeps `d` unless the host stops first; `false` when it was interrupted.
    pub fn sleep(&self, d: std::time::Duration) -> bool {
        const STEP: std::time::Duration = std::time::Duration::from_millis(20);
        let until = std::time::Instant::now() + d;
        loop {
            if self.is_requested() {
                return false;
            }
            let now = std::time::Instant::now();
            if now >= until {
                return true;
            }
            std::thread::sleep(STEP.min(until - now));
        }
    }
}

/// What delivery records before each write so an interrupted one can be made good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// Nothing: an interrupted batch is written again (at least once), like stdout.
    None,
    /// The sink can be cut back (a regular file): its offset is recorded before each write, and an
    /// unacknowledged tail is cut off before the batch is written again (exactly once).
    Truncate,
    /// The sink names each batch by its outbox range (the webhook's idempotency key): the range is
    /// recorded before each write and re-sent exactly after a failure or crash, so the re-sent batch
    /// gets the same name.
    SameBatch,
}

/// Appends `raw` plus a newline; whitespace newlines inside the JSON become spaces so each event stays one
/// line (newlines inside JSON strings are always escaped, so the JSON value is unchanged).
pub(crate) fn push_line(buf: &mut Vec<u8>, raw: &str) {
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

/// The events as lines, each verbatim.
pub(crate) fn lines(events: &[OutboxEvent]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(events.iter().map(|e| e.raw.len() + 1).sum());
    for e in events {
        push_line(&mut buf, &e.raw);
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_printed_json_stays_on_one_line() {
        let mut buf = Vec::new();
        push_line(&mut buf, "{\n  \"a\": \"x\\ny\"\n}");
        assert_eq!(buf, b"{   \"a\": \"x\\ny\" }\n");
    }
}
