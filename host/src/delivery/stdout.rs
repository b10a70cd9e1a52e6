//! The standard-output sink.

use super::sink::{lines, Sink, SinkError};
use crate::state::OutboxEvent;
use std::io::Write;

/// Writes events to standard output, one per line (at least once: a crash after writing and before
/// the acknowledgement repeats that batch).
#[derive(Debug, Default)]
pub struct StdoutSink;

impl Sink for StdoutSink {
    fn id(&self) -> String {
        "stdout".into()
    }
    fn write(&mut self, events: &[OutboxEvent]) -> Result<(), SinkError> {
        let buf = lines(events);
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
