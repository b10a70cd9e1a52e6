//! How a delivery batch becomes POSTs: deterministic splitting, the byte-exact JSON array body, and the
//! idempotency key that names a batch.

use crate::state::{OutboxEvent, Stream};
use sha2::{Digest, Sha256};
use std::ops::Range;

/// Splits rows into POST batches: at most `max_events` each and at most `max_bytes` of body (`[`, `]` and
/// commas included), except that an event larger than `max_bytes` goes alone. Deterministic: the same
/// rows always split the same way (the idempotency keys depend on it).
pub fn split_batches(
    rows: &[OutboxEvent],
    max_events: usize,
    max_bytes: usize,
) -> Vec<Range<usize>> {
    let max_events = max_events.max(1);
    let mut out = Vec::new();
    let mut start = 0;
    let mut size = 2; // "[]"
    for (i, r) in rows.iter().enumerate() {
        let n = i - start;
        let add = r.raw.len() + usize::from(n > 0);
        if n > 0 && (n >= max_events || size + add > max_bytes) {
            out.push(start..i);
            start = i;
            size = 2 + r.raw.len();
        } else {
            size += add;
        }
    }
    if start < rows.len() {
        out.push(start..rows.len());
    }
    out
}

/// The POST body: the raw events joined with commas inside `[...]`, byte for byte.
pub fn batch_body(rows: &[OutboxEvent]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(2 + rows.iter().map(|r| r.raw.len() + 1).sum::<usize>());
    buf.push(b'[');
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(r.raw.as_bytes());
    }
    buf.push(b']');
    buf
}

/// The `Idempotency-Key` of a batch: a digest of the sink id, the outbox stream, the first and last
/// sequence numbers and the body. The same batch always gets the same key, on whichever host of a fleet
/// sends it (a fleet's streams are its shards, and the sink id is the receiver's URL); the body digest
/// keeps keys from colliding when a different state database (sequence numbers start again at 1) sends
/// to the same receiver. A single host's key (the whole outbox) is as it was before fleets existed.
pub fn idempotency_key(
    sink_id: &str,
    stream: Stream,
    first_seq: i64,
    last_seq: i64,
    body: &[u8],
) -> String {
    let body_digest = Sha256::digest(body);
    let mut h = Sha256::new();
    h.update(b"okta-ingest webhook batch v1\n");
    h.update(sink_id.as_bytes());
    if let Stream::Shard(n) = stream {
        h.update(format!("\nshard {n}").as_bytes());
    }
    h.update(format!("\n{first_seq}\n{last_seq}\n").as_bytes());
    h.update(body_digest);
    let d = h.finalize();
    let hex: String = d.iter().take(16).map(|b| format!("{b:02x}")).collect();
    match stream {
        Stream::Whole => format!("okta-ingest-{first_seq}-{last_seq}-{hex}"),
        Stream::Shard(n) => format!("okta-ingest-s{n}-{first_seq}-{last_seq}-{hex}"),
    }
}
