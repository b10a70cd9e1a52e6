//! How a committed page is stored, by every backend: its events encoded one after another (see
//! [`encode`]) and zstd-compressed (a fast negative level, see [`COMPRESSION_LEVEL`]), one blob per page
//! (or per [`MAX_ROW_BYTES`] of it). Every byte of the outbox is written to the database's log, read
//! back by delivery and copied again by checkpoints; System Log JSON compresses ~7.5x at ~2 GB/s at that
//! level, so compressing costs less CPU than those copies and halves the disk traffic of a backfill.

use crate::state::{PageEvent, StateError};

/// A page whose encoding would exceed this is stored as several rows (in the same transaction): SQLite
/// refuses values over 1 GB (PostgreSQL `bytea` too), and a connector may send up to 10,000 events of up to 8 MB.
pub(crate) const MAX_ROW_BYTES: usize = 64 << 20;

/// Appends one event to a page blob: categories (1 byte), `eventType` length and raw length (u32 little
/// endian each), then both texts. `uuid` and `published` are not stored: delivery does not use them.
pub(crate) fn encode(buf: &mut Vec<u8>, e: &PageEvent) {
    buf.push(e.categories.bits());
    buf.extend_from_slice(&(e.event_type.len() as u32).to_le_bytes());
    buf.extend_from_slice(&(e.raw.len() as u32).to_le_bytes());
    buf.extend_from_slice(e.event_type.as_bytes());
    buf.extend_from_slice(e.raw.as_bytes());
}

pub(crate) fn encoded_len(e: &PageEvent) -> usize {
    9 + e.event_type.len() + e.raw.len()
}

/// One decoded event of a page blob, borrowed from it.
pub(crate) struct Decoded<'a> {
    pub(crate) categories: u8,
    pub(crate) event_type: &'a str,
    pub(crate) raw: &'a str,
}

/// zstd level for page blobs. On emulator pages: level 1 compresses 10.2x at 1.4 GB/s, -3 7.5x at
/// 2.0 GB/s; the bytes saved by level 1 cost more CPU than writing them.
const COMPRESSION_LEVEL: i32 = -3;

/// Compresses an encoded page.
pub(crate) fn compress(encoded: &[u8]) -> Result<Vec<u8>, StateError> {
    zstd::bulk::compress(encoded, COMPRESSION_LEVEL).map_err(|e| StateError::Io {
        action: "compressing an outbox page",
        source: e,
    })
}

/// Decompresses a page blob; `None` if it is damaged or claims more than a page may hold.
pub(crate) fn decompress(blob: &[u8]) -> Option<Vec<u8>> {
    let size = zstd::zstd_safe::get_frame_content_size(blob).ok()??;
    let size = usize::try_from(size).ok().filter(|&n| n <= MAX_ROW_BYTES)?;
    let out = zstd::bulk::decompress(blob, size).ok()?;
    (out.len() == size).then_some(out)
}

/// Decodes an encoded (decompressed) page; `None` if it is damaged.
pub(crate) fn decode(mut blob: &[u8]) -> Option<Vec<Decoded<'_>>> {
    let mut out = Vec::new();
    while !blob.is_empty() {
        let (&categories, rest) = blob.split_first()?;
        let type_len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let raw_len = u32::from_le_bytes(rest.get(4..8)?.try_into().ok()?) as usize;
        let rest = &rest[8..];
        let event_type = std::str::from_utf8(rest.get(..type_len)?).ok()?;
        let raw_end = type_len.checked_add(raw_len)?;
        let raw = std::str::from_utf8(rest.get(type_len..raw_end)?).ok()?;
        out.push(Decoded {
            categories,
            event_type,
            raw,
        });
        blob = &rest[raw_end..];
    }
    Some(out)
}

/// A page's events as rows: (events in the row, compressed blob), in order; no rows without events.
/// Encoded and compressed before any transaction starts, which would hold locks meanwhile.
pub(crate) fn page_rows(events: &[PageEvent]) -> Result<Vec<(usize, Vec<u8>)>, StateError> {
    let mut rows: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut chunk = Vec::new();
    let mut in_chunk = 0usize;
    let total: usize = events.iter().map(encoded_len).sum();
    chunk.reserve(total.min(MAX_ROW_BYTES));
    for e in events {
        if in_chunk > 0 && chunk.len() + encoded_len(e) > MAX_ROW_BYTES {
            rows.push((in_chunk, compress(&chunk)?));
            chunk.clear();
            in_chunk = 0;
        }
        encode(&mut chunk, e);
        in_chunk += 1;
    }
    if in_chunk > 0 {
        rows.push((in_chunk, compress(&chunk)?));
    }
    Ok(rows)
}

/// The newest `published` of a page (Okta's RFC 3339 UTC strings order as text).
pub(crate) fn newest_published(events: &[PageEvent]) -> Option<&str> {
    events.iter().map(|e| e.published.as_str()).max()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::state::testing::typed_event as ev;

    #[test]
    fn encoding_round_trips_and_damage_is_detected() {
        let events = [
            ev(
                "a",
                "user.session.start",
                1,
                "{\"uuid\":\"a\",\"x\":\"Ünïcödé ✓\"}",
            ),
            ev("b", "", 0b1010, "{}"),
        ];
        let mut blob = Vec::new();
        for e in &events {
            encode(&mut blob, e);
        }
        assert_eq!(blob.len(), events.iter().map(encoded_len).sum::<usize>());
        let back = decode(&blob).expect("decodes");
        assert_eq!(back.len(), 2);
        for (d, e) in back.iter().zip(&events) {
            assert_eq!(
                (d.categories, d.event_type, d.raw),
                (e.categories.bits(), e.event_type.as_str(), e.raw.as_str())
            );
        }
        assert!(decode(&[]).is_some_and(|d| d.is_empty()));
        for cut in 1..blob.len() {
            if cut == encoded_len(&events[0]) {
                continue; // a whole first event is a valid blob
            }
            assert!(decode(&blob[..cut]).is_none(), "cut at {cut}");
        }
        let mut bad_utf8 = blob.clone();
        let at = 9 + events[0].event_type.len() + 12; // inside the first raw text ("Ü")
        bad_utf8[at] = 0xff;
        assert!(decode(&bad_utf8).is_none());
    }

    #[test]
    fn a_page_too_large_for_one_row_is_split_and_each_row_decodes() {
        let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(MAX_ROW_BYTES / 2));
        let rows = page_rows(&vec![ev("u", "t", 1, &big); 3]).unwrap();
        assert_eq!(rows.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [1, 1, 1]);
        for (_, blob) in &rows {
            let plain = decompress(blob).expect("decompresses");
            assert_eq!(decode(&plain).unwrap()[0].raw, big);
        }
        assert!(page_rows(&[]).unwrap().is_empty());
    }
}
