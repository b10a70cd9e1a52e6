//! HEC's wire format: each event in an envelope (`time` from Okta's `published`, the configured
//! `sourcetype`, `index`, `source` and `host`, and the event itself byte for byte as `event`), the
//! envelopes of a batch concatenated (HEC takes a stream of JSON objects, not an array), and the
//! answers of the event and acknowledgement endpoints.

use super::SplunkHecOptions;
use crate::state::OutboxEvent;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashMap;

/// The metadata every envelope carries, as JSON members (`"sourcetype":"…",…,`), escaped once.
pub(crate) fn metadata(opts: &SplunkHecOptions) -> String {
    let mut out = String::new();
    let fields = [
        ("sourcetype", Some(&opts.sourcetype)),
        ("index", opts.index.as_ref()),
        ("source", opts.source.as_ref()),
        ("host", opts.host.as_ref()),
    ];
    for (name, value) in fields {
        if let Some(v) = value {
            // A `String` always serialises.
            let v = serde_json::to_string(v).unwrap_or_default();
            out.push_str(&format!("\"{name}\":{v},"));
        }
    }
    out
}

#[derive(Deserialize)]
struct Published<'a> {
    #[serde(borrow)]
    published: Option<Cow<'a, str>>,
}

/// `published` as HEC's `time`: seconds since the epoch with milliseconds (`1700000000.123`); `None`
/// when the event has no parsable `published` (HEC then uses the time it received the event).
pub(crate) fn event_time(raw: &str) -> Option<String> {
    let p: Published<'_> = serde_json::from_str(raw).ok()?;
    let ms = okta_ingest_model::time::parse_ms(p.published.as_deref()?)?;
    Some(format!("{}.{:03}", ms / 1000, ms % 1000))
}

/// One event's envelope, followed by a newline.
pub(crate) fn envelope(raw: &str, metadata: &str) -> Vec<u8> {
    let time = event_time(raw)
        .map(|t| format!("\"time\":{t},"))
        .unwrap_or_default();
    let mut out = Vec::with_capacity(raw.len() + metadata.len() + time.len() + 12);
    out.extend_from_slice(b"{");
    out.extend_from_slice(time.as_bytes());
    out.extend_from_slice(metadata.as_bytes());
    out.extend_from_slice(b"\"event\":");
    out.extend_from_slice(raw.as_bytes());
    out.extend_from_slice(b"}\n");
    out
}

/// The envelopes of `events`.
pub(crate) fn envelopes(events: &[OutboxEvent], metadata: &str) -> Vec<Vec<u8>> {
    events.iter().map(|e| envelope(&e.raw, metadata)).collect()
}

#[derive(Deserialize)]
struct SendAnswer {
    #[serde(rename = "ackId")]
    ack_id: Option<u64>,
}

/// The `ackId` of the event endpoint's answer (`{"text":"Success","code":0,"ackId":7}`).
pub(crate) fn ack_id(answer: &str) -> Option<u64> {
    serde_json::from_str::<SendAnswer>(answer).ok()?.ack_id
}

#[derive(Deserialize)]
struct AckAnswer {
    acks: HashMap<String, bool>,
}

/// The acknowledgement endpoint's answer (`{"acks":{"7":true,"8":false}}`): the ids reported indexed.
pub(crate) fn indexed(answer: &str) -> Option<Vec<u64>> {
    let a: AckAnswer = serde_json::from_str(answer).ok()?;
    Some(
        a.acks
            .into_iter()
            .filter(|(_, done)| *done)
            .filter_map(|(id, _)| id.parse().ok())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_carries_the_time_the_metadata_and_the_event_byte_for_byte() {
        let opts = SplunkHecOptions {
            index: Some("okta".into()),
            host: Some("h\"1".into()),
            ..SplunkHecOptions::default()
        };
        let meta = metadata(&opts);
        assert_eq!(
            meta,
            "\"sourcetype\":\"OktaIM2:log\",\"index\":\"okta\",\"host\":\"h\\\"1\","
        );
        let raw = "{\"uuid\":\"u1\",\"published\":\"2026-11-30T10:00:00.123Z\",\"n\": 1.50}";
        let e = envelope(raw, &meta);
        let text = std::str::from_utf8(&e).unwrap();
        assert!(text.ends_with("}\n"));
        assert_eq!(
            text,
            format!("{{\"time\":1796032800.123,{meta}\"event\":{raw}}}\n")
        );
        let v: serde_json::Value = serde_json::from_slice(&e).unwrap();
        assert_eq!(v["sourcetype"], "OktaIM2:log");
        assert_eq!(v["host"], "h\"1");
        // The event is embedded verbatim, not re-serialised ("1.50" stays).
        assert!(text.contains("\"n\": 1.50}"));
    }

    #[test]
    fn an_event_without_a_published_time_gets_none() {
        assert_eq!(event_time("{\"uuid\":\"u\"}"), None);
        assert_eq!(event_time("{\"published\":\"yesterday\"}"), None);
        assert_eq!(event_time("not json"), None);
        let e = envelope("{\"uuid\":\"u\"}", "\"sourcetype\":\"s\",");
        assert_eq!(e, b"{\"sourcetype\":\"s\",\"event\":{\"uuid\":\"u\"}}\n");
    }

    #[test]
    fn answers_are_read() {
        assert_eq!(
            ack_id("{\"text\":\"Success\",\"code\":0,\"ackId\":7}"),
            Some(7)
        );
        assert_eq!(ack_id("{\"text\":\"Success\",\"code\":0}"), None);
        let mut done = indexed("{\"acks\":{\"7\":true,\"8\":false,\"9\":true}}").unwrap();
        done.sort_unstable();
        assert_eq!(done, [7, 9]);
        assert_eq!(indexed("{}"), None);
    }
}
