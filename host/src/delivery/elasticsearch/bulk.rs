//! `_bulk`'s wire format: per event a `create` action line (`_id` = Okta's `uuid`, so a repeat is a
//! harmless 409) and the document line, and the per-item results of the answer.

use super::BulkDocument;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow)]
    uuid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    published: Option<Cow<'a, str>>,
}

/// One event's two NDJSON lines; `None` when `raw` is not a JSON object (the outbox only holds
/// objects, so this is a bug elsewhere).
pub(crate) fn item(raw: &str, document: BulkDocument) -> Option<Vec<u8>> {
    let f: Fields<'_> = serde_json::from_str(raw).ok()?;
    let body = raw.trim();
    let members = body.strip_prefix('{')?.trim_start();
    let mut out = Vec::with_capacity(raw.len() + 96);
    out.extend_from_slice(b"{\"create\":{");
    if let Some(id) = &f.uuid {
        out.extend_from_slice(b"\"_id\":");
        out.extend_from_slice(serde_json::to_string(id.as_ref()).ok()?.as_bytes());
    }
    out.extend_from_slice(b"}}\n{");
    if let Some(p) = &f.published {
        out.extend_from_slice(b"\"@timestamp\":");
        out.extend_from_slice(serde_json::to_string(p.as_ref()).ok()?.as_bytes());
    }
    match document {
        BulkDocument::Event => {
            // The event's members as Okta sent them (`members` starts after its `{`).
            if f.published.is_some() && !members.starts_with('}') {
                out.push(b',');
            }
            // Newlines would end the NDJSON line; inside JSON they are only whitespace.
            push_one_line(&mut out, members);
        }
        BulkDocument::Message => {
            if f.published.is_some() {
                out.push(b',');
            }
            out.extend_from_slice(b"\"message\":");
            out.extend_from_slice(serde_json::to_string(raw).ok()?.as_bytes());
            out.push(b'}');
        }
    }
    out.push(b'\n');
    Some(out)
}

fn push_one_line(out: &mut Vec<u8>, text: &str) {
    let start = out.len();
    out.extend_from_slice(text.as_bytes());
    for b in &mut out[start..] {
        if *b == b'\n' || *b == b'\r' {
            *b = b' ';
        }
    }
}

/// An item's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ItemOutcome {
    /// Indexed now (201) or before (409: a document with this `_id` exists).
    Indexed,
    /// Refused for now (429, 5xx): send this item again.
    Retry(String),
    /// Refused for good (a mapping error, …).
    Refused(String),
}

#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    items: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct ItemResult {
    status: u16,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// The per-item outcomes of a `_bulk` answer, in request order; `None` if it is not a bulk answer.
pub(crate) fn outcomes(answer: &str) -> Option<Vec<ItemOutcome>> {
    let a: Answer<'_> = serde_json::from_str(answer).ok()?;
    let mut out = Vec::with_capacity(a.items.len());
    for item in a.items {
        // Each item is `{"create": {...}}` (the action's name as its only key).
        let map: std::collections::HashMap<String, ItemResult> =
            serde_json::from_str(item.get()).ok()?;
        let r = map.into_values().next()?;
        let why = || {
            r.error
                .as_ref()
                .map(|e| {
                    let t = e.get("type").and_then(|v| v.as_str()).unwrap_or("error");
                    let reason = e.get("reason").and_then(|v| v.as_str()).unwrap_or("");
                    format!(
                        "HTTP {} {t}: {}",
                        r.status,
                        reason.chars().take(200).collect::<String>()
                    )
                })
                .unwrap_or_else(|| format!("HTTP {}", r.status))
        };
        out.push(match r.status {
            200..=299 | 409 => ItemOutcome::Indexed,
            429 | 500..=599 => ItemOutcome::Retry(why()),
            _ => ItemOutcome::Refused(why()),
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &str =
        "{\"uuid\":\"u-1\",\"published\":\"2026-11-30T10:00:00.123Z\",\"n\": 1.50,\"s\":\"a\\nb\"}";

    #[test]
    fn an_item_is_a_create_with_the_uuid_and_the_event_after_a_timestamp() {
        let lines = String::from_utf8(item(RAW, BulkDocument::Event).unwrap()).unwrap();
        assert_eq!(
            lines,
            "{\"create\":{\"_id\":\"u-1\"}}\n{\"@timestamp\":\"2026-11-30T10:00:00.123Z\",\"uuid\":\"u-1\",\"published\":\"2026-11-30T10:00:00.123Z\",\"n\": 1.50,\"s\":\"a\\nb\"}\n"
        );
        let doc: serde_json::Value = serde_json::from_str(lines.lines().nth(1).unwrap()).unwrap();
        assert_eq!(doc["s"], "a\nb");
        // Pretty-printed events stay on one line.
        let pretty = "{\n  \"uuid\": \"u-2\"\n}";
        let lines = String::from_utf8(item(pretty, BulkDocument::Event).unwrap()).unwrap();
        assert_eq!(lines.lines().count(), 2, "{lines}");
        assert_eq!(lines.lines().nth(1).unwrap(), "{\"uuid\": \"u-2\" }");
    }

    #[test]
    fn the_message_form_carries_the_event_as_a_string() {
        let lines = String::from_utf8(item(RAW, BulkDocument::Message).unwrap()).unwrap();
        let doc: serde_json::Value = serde_json::from_str(lines.lines().nth(1).unwrap()).unwrap();
        assert_eq!(doc["message"], RAW);
        assert_eq!(doc["@timestamp"], "2026-11-30T10:00:00.123Z");
        assert!(item("[1]", BulkDocument::Event).is_none());
        assert_eq!(
            String::from_utf8(item("{}", BulkDocument::Event).unwrap()).unwrap(),
            "{\"create\":{}}\n{}\n"
        );
    }

    #[test]
    fn item_results_are_read_in_order() {
        let answer = r#"{"took":3,"errors":true,"items":[
            {"create":{"_index":"okta","_id":"a","status":201}},
            {"create":{"_index":"okta","_id":"b","status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists"}}},
            {"create":{"_index":"okta","_id":"c","status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
            {"create":{"_index":"okta","_id":"d","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [n]"}}}
        ]}"#;
        let o = outcomes(answer).unwrap();
        assert_eq!(o[0], ItemOutcome::Indexed);
        assert_eq!(o[1], ItemOutcome::Indexed);
        assert!(
            matches!(&o[2], ItemOutcome::Retry(m) if m.contains("429") && m.contains("queue full"))
        );
        assert!(matches!(&o[3], ItemOutcome::Refused(m) if m.contains("mapper_parsing_exception")));
        assert!(outcomes("{\"error\":\"x\"}").is_none());
    }
}
