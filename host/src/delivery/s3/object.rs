//! What a delivery batch becomes in S3: one object per instance in the batch, gzip'd NDJSON (each event
//! verbatim on its own line, in sequence order), under a key that names its events:
//!
//! `PREFIX` `instance=ID/dt=YYYY-MM-DD/` `FIRST-LAST-DIGEST.ndjson.gz`
//!
//! `dt` is the UTC date of the object's first event (`published`), FIRST and LAST its first and last
//! sequence numbers (20 digits, so keys sort in delivery order) and DIGEST the start of the SHA-256 of
//! its NDJSON. The same events always make the same key, so a re-sent batch (delivery re-sends an
//! unacknowledged one exactly) lands on the objects it already wrote; and a key can only be taken by
//! exactly these events, even when a new state starts its sequence numbers again under the same prefix.

use super::sigv4::sha256_hex;
use crate::delivery::sink::push_line;
use crate::state::OutboxEvent;
use std::collections::BTreeMap;
use std::io::Write;

/// One object to upload.
#[derive(Debug)]
pub(crate) struct Object {
    /// The object key (not encoded).
    pub key: String,
    /// The gzip'd NDJSON.
    pub body: Vec<u8>,
    pub instance_id: i64,
    pub first_seq: i64,
    pub last_seq: i64,
    pub events: usize,
}

/// The objects `events` (a delivery batch, in sequence order) make under `prefix` (empty, or ending
/// with `/`).
pub(crate) fn objects(events: &[OutboxEvent], prefix: &str) -> std::io::Result<Vec<Object>> {
    let mut by_instance: BTreeMap<i64, Vec<&OutboxEvent>> = BTreeMap::new();
    for e in events {
        by_instance.entry(e.instance_id).or_default().push(e);
    }
    by_instance
        .into_iter()
        .map(|(instance_id, group)| object(prefix, instance_id, &group))
        .collect()
}

fn object(prefix: &str, instance_id: i64, events: &[&OutboxEvent]) -> std::io::Result<Object> {
    let mut ndjson = Vec::with_capacity(events.iter().map(|e| e.raw.len() + 1).sum());
    for e in events {
        push_line(&mut ndjson, &e.raw);
    }
    let (first_seq, last_seq) = (
        events.first().map_or(0, |e| e.seq),
        events.last().map_or(0, |e| e.seq),
    );
    let date = events
        .first()
        .and_then(|e| published_date(&e.raw))
        .unwrap_or_else(|| "undated".into());
    let digest = sha256_hex(&ndjson);
    let key = format!(
        "{prefix}instance={instance_id}/dt={date}/{first_seq:020}-{last_seq:020}-{}.ndjson.gz",
        &digest[..12]
    );
    // flate2 writes a header without a name or time, so the same NDJSON always gzips the same.
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(ndjson.len() / 6),
        flate2::Compression::default(),
    );
    gz.write_all(&ndjson)?;
    Ok(Object {
        key,
        body: gz.finish()?,
        instance_id,
        first_seq,
        last_seq,
        events: events.len(),
    })
}

/// `YYYY-MM-DD` of the event's `published`, if it has a well-formed one.
fn published_date(raw: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Published {
        published: Option<String>,
    }
    let published = serde_json::from_str::<Published>(raw).ok()?.published?;
    let ms = okta_ingest_model::time::parse_ms(&published)?;
    Some(okta_ingest_model::time::format_s(ms)[..10].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Stream;
    use std::io::Read;

    fn event(seq: i64, instance_id: i64, raw: &str) -> OutboxEvent {
        OutboxEvent {
            stream: Stream::Whole,
            seq,
            instance_id,
            event_type: "user.session.start".into(),
            categories: Default::default(),
            raw: raw.into(),
        }
    }

    fn gunzip(body: &[u8]) -> String {
        let mut out = String::new();
        flate2::read::GzDecoder::new(body)
            .read_to_string(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn a_batch_makes_one_object_per_instance_keyed_by_its_events() {
        let a = r#"{"uuid":"a","published":"2026-12-03T23:59:59.999Z"}"#;
        let b = r#"{"uuid":"b","published":"2026-12-04T00:00:00.000+01:00"}"#;
        let c = "{\"uuid\":\"c\",\n\"published\":\"2026-12-04T08:00:00.000Z\"}";
        let batch = [event(41, 7, a), event(42, 3, b), event(43, 7, c)];
        let objects = objects(&batch, "okta/").unwrap();
        assert_eq!(objects.len(), 2);
        let (three, seven) = (&objects[0], &objects[1]);
        assert!(
            three.key.starts_with(
                "okta/instance=3/dt=2026-12-03/00000000000000000042-00000000000000000042-"
            ),
            "{}",
            three.key
        );
        assert!(three.key.ends_with(".ndjson.gz"));
        assert_eq!(gunzip(&three.body), format!("{b}\n"));
        assert_eq!((seven.first_seq, seven.last_seq, seven.events), (41, 43, 2));
        assert!(seven.key.starts_with(
            "okta/instance=7/dt=2026-12-03/00000000000000000041-00000000000000000043-"
        ));
        // Each event on its own line, verbatim but for the newline inside the pretty one.
        assert_eq!(
            gunzip(&seven.body),
            format!("{a}\n{}\n", c.replace('\n', " "))
        );

        // The same events always make the same objects, byte for byte.
        let again = super::objects(&batch, "okta/").unwrap();
        assert_eq!(again[1].key, seven.key);
        assert_eq!(again[1].body, seven.body);
        // Other events at the same sequence numbers (a new state) never take the same key.
        let other = super::objects(&[event(41, 7, c), event(43, 7, a)], "okta/").unwrap();
        assert_ne!(other[0].key, seven.key);
        // An event without a usable `published` still goes somewhere stable.
        let undated = super::objects(&[event(1, 1, "{\"uuid\":\"x\"}")], "").unwrap();
        assert!(undated[0].key.starts_with("instance=1/dt=undated/"));
    }
}
