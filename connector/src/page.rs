//! Parsing a System Log page without re-serializing events: each event's raw JSON text is kept
//! exactly as sent, and only `uuid`, `eventType` and `published` are read from it.

use crate::scan;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// One event of a page, borrowed from the response body.
#[derive(Debug)]
pub struct RawEvent<'a> {
    /// The event's JSON text exactly as in the body.
    pub raw: &'a str,
    /// `uuid`.
    pub uuid: Cow<'a, str>,
    /// `eventType`.
    pub event_type: Cow<'a, str>,
    /// `published` (empty when absent or not a string).
    pub published: Cow<'a, str>,
}

/// Why a page could not be used.
#[derive(Debug, PartialEq, Eq)]
pub enum PageError {
    /// Not UTF-8 / not a JSON array / truncated: worth retrying.
    NotJson(String),
    /// Valid JSON but an event lacks `uuid` or `eventType`: retrying will not help.
    Malformed(String),
}

#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    uuid: Option<Str<'a>>,
    #[serde(borrow, rename = "eventType")]
    event_type: Option<Str<'a>>,
    // Raw so an odd `published` (null, number) never refuses the page; it is informational.
    #[serde(borrow)]
    published: Option<&'a RawValue>,
}

/// A JSON string kept as a slice of the body when it has no escapes (`borrow` on a bare `Cow` field is
/// what makes serde borrow; on `Option<Cow>` it silently allocates).
#[derive(Deserialize)]
struct Str<'a>(#[serde(borrow)] Cow<'a, str>);

/// `published` as a string: borrowed when it is a plain string literal, decoded when escaped, else empty.
fn published_text(raw: Option<&RawValue>) -> Cow<'_, str> {
    let Some(raw) = raw else {
        return Cow::Borrowed("");
    };
    let text = raw.get();
    match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) if !inner.contains('\\') => Cow::Borrowed(inner),
        Some(_) => serde_json::from_str::<String>(text)
            .map(Cow::Owned)
            .unwrap_or(Cow::Borrowed("")),
        None => Cow::Borrowed(""),
    }
}

/// Parse a page body: a JSON array of event objects.
///
/// One pass over the body in the common case ([`crate::scan`]): each event's JSON is checked while its
/// end and its `uuid`, `eventType` and `published` are found. Anything the scanner refuses or leaves to
/// serde falls back to the two-pass serde parse ([`parse_page_strict`]), so what is refused, and how it is
/// classified, never depends on the fast path.
pub fn parse_page(body: &[u8]) -> Result<Vec<RawEvent<'_>>, PageError> {
    match parse_page_fast(body) {
        Some(events) => Ok(events),
        None => parse_page_strict(body),
    }
}

/// The single-pass parse; `None` whenever anything is off (the strict parse then reports it).
fn parse_page_fast(body: &[u8]) -> Option<Vec<RawEvent<'_>>> {
    let text = std::str::from_utf8(body).ok()?;
    let b = text.as_bytes();
    let mut i = scan::skip_ws(b, 0);
    if b.get(i) != Some(&b'[') {
        return None;
    }
    i = scan::skip_ws(b, i + 1);
    let mut out = Vec::with_capacity(1000);
    if b.get(i) == Some(&b']') {
        return (scan::skip_ws(b, i + 1) == b.len()).then_some(out);
    }
    loop {
        let e = scan::event(b, i)?;
        out.push(RawEvent {
            raw: &text[i..e.end],
            uuid: required(text, e.uuid)?,
            event_type: required(text, e.event_type)?,
            published: match e.published {
                Some(scan::Field::Str(s)) => string_value(text, s)?,
                _ => Cow::Borrowed(""),
            },
        });
        i = scan::skip_ws(b, e.end);
        match b.get(i) {
            Some(b',') => i = scan::skip_ws(b, i + 1),
            Some(b']') => return (scan::skip_ws(b, i + 1) == b.len()).then_some(out),
            _ => return None,
        }
    }
}

/// A field that must be a string (`uuid`, `eventType`).
fn required(text: &str, field: Option<scan::Field>) -> Option<Cow<'_, str>> {
    match field? {
        scan::Field::Str(s) => string_value(text, s),
        scan::Field::Other => None,
    }
}

/// The value of a string literal: borrowed unless it has escapes.
fn string_value(text: &str, s: scan::StrSpan) -> Option<Cow<'_, str>> {
    let literal = &text[s.start..s.end];
    if s.escaped {
        serde_json::from_str::<String>(literal).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(&literal[1..literal.len() - 1]))
    }
}

/// Two passes: the whole array as raw values, then each element's head. Classifies errors.
fn parse_page_strict(body: &[u8]) -> Result<Vec<RawEvent<'_>>, PageError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| PageError::NotJson(format!("body is not UTF-8: {e}")))?;
    let raws: Vec<&RawValue> = serde_json::from_str(text)
        .map_err(|e| PageError::NotJson(format!("body is not a JSON array of events: {e}")))?;
    let mut out = Vec::with_capacity(raws.len());
    for (i, raw) in raws.into_iter().enumerate() {
        // `Head` would also read a JSON array positionally; an event is an object.
        if !raw.get().starts_with('{') {
            return Err(PageError::Malformed(format!(
                "event #{i} is not a JSON object"
            )));
        }
        let head: Head<'_> = serde_json::from_str(raw.get()).map_err(|e| {
            PageError::Malformed(format!("event #{i} is not a valid event object: {e}"))
        })?;
        let (Some(Str(uuid)), Some(Str(event_type))) = (head.uuid, head.event_type) else {
            return Err(PageError::Malformed(format!(
                "event #{i} has no uuid or eventType"
            )));
        };
        out.push(RawEvent {
            raw: raw.get(),
            uuid,
            event_type,
            published: published_text(head.published),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_text_is_preserved_exactly() {
        let e1 = "{ \"zeta\" : 1,\n  \"uuid\":\"u-1\", \"eventType\":\"user.session.start\",\"published\":\"2026-01-01T00:00:00.000Z\",\
                  \"securityContext\":{\"zone\":\"null\",\"asNumber\":null},\"debugContext\":{\"debugData\":{\"m\":\"{a=b, c=[d]}\"}},\
                  \"displayMessage\":\"Ünïcödé ✓ \\u00e9 \\\"q\\\"\", \"target\":[{\"x\":[1,2.50,{\"y\":{}}]}],\"alpha\":true }";
        let e2 = "{\"eventType\":\"a\\u002eb\",\"uuid\":\"u-2\",\"published\":\"x\\u0031\"}";
        let body = format!(" [\n{e1} ,\t{e2}\n] ");
        let page = parse_page(body.as_bytes()).expect("valid page");
        assert_eq!(page.len(), 2);
        assert_eq!(page[0].raw, e1);
        assert_eq!(page[0].uuid, "u-1");
        assert_eq!(page[0].published, "2026-01-01T00:00:00.000Z");
        assert!(matches!(page[0].uuid, Cow::Borrowed(_)));
        assert_eq!(page[1].raw, e2);
        assert_eq!(page[1].event_type, "a.b");
        assert_eq!(page[1].published, "x1");
    }

    #[test]
    fn the_single_pass_parse_takes_ordinary_pages_and_agrees_with_the_strict_one() {
        let pages = [
            " [\n{\"uuid\":\"u-1\",\"eventType\":\"a\",\"published\":\"p\",\"x\":[1,{\"y\":\"]}\"}]} ,\t{\"eventType\":\"b\\u002e\",\"uuid\":\"u-2\"}\n] ",
            "[]",
            " [ ] ",
            "[{\"uuid\":\"a\",\"eventType\":\"b\",\"published\":null,\"s\":\"\\\"}{,\"}]",
        ];
        for body in pages {
            let fast = parse_page_fast(body.as_bytes()).expect("single pass takes it");
            let strict = parse_page_strict(body.as_bytes()).expect("strict takes it");
            assert_eq!(fast.len(), strict.len());
            for (f, s) in fast.iter().zip(&strict) {
                assert_eq!(
                    (f.raw, &f.uuid, &f.event_type, &f.published),
                    (s.raw, &s.uuid, &s.event_type, &s.published),
                    "{body}"
                );
            }
        }
        // What the single pass refuses, the strict parse classifies.
        for bad in [
            "[{\"uuid\":\"a\",\"eventType\":\"b\"}",
            "[{\"uuid\":\"a\",\"eventType\":\"b\"},]",
            "[{\"uuid\":\"a\",\"eventType\":\"b\"}] x",
            "[{\"uuid\":\"a\",\"eventType\":\"b\"} {\"uuid\":\"c\",\"eventType\":\"d\"}]",
            "[[\"a\",\"b\",null]]",
            "[{\"uuid\":\"a\",\"uuid\":\"b\",\"eventType\":\"c\"}]",
            "[{\"uuid\":\"a\",\"eventType\":\"b\",\"n\":01}]",
        ] {
            assert!(parse_page_fast(bad.as_bytes()).is_none(), "{bad}");
            assert!(parse_page(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    /// Mutated pages (bytes flipped, inserted, deleted, cut): whatever the single pass accepts, the strict
    /// parse accepts with the same result.
    #[test]
    fn the_single_pass_never_accepts_what_the_strict_parse_refuses_or_reads_it_differently() {
        let base = concat!(
            "[{\"uuid\":\"u-1\",\"eventType\":\"user.session.start\",\"published\":\"2026-01-01T00:00:00.000Z\",",
            "\"actor\":{\"id\":\"00u1\",\"alternateId\":\"a@b.c\",\"detail\":null},\"n\":[1,-2.5e3,true,false],",
            "\"msg\":\"Ünïcödé ✓ \\u00e9 \\\"q\\\" \\\\ \\/\"},",
            " {\"eventType\":\"a\\u002eb\",\"uuid\":\"u-2\",\"published\":5,\"x\":{\"y\":{\"z\":[]}}}]"
        );
        assert!(parse_page_fast(base.as_bytes()).is_some());
        let alphabet = b"{}[]\",:\\0123456789.eE+-tfnul \n\tx\x01";
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut accepted = 0;
        for _ in 0..20_000 {
            let mut body = base.as_bytes().to_vec();
            for _ in 0..1 + next() % 3 {
                let at = (next() % body.len() as u64) as usize;
                let c = alphabet[(next() % alphabet.len() as u64) as usize];
                match next() % 4 {
                    0 => body[at] = c,
                    1 => body.insert(at, c),
                    2 => {
                        body.remove(at);
                    }
                    _ => body.truncate(at),
                }
                if body.is_empty() {
                    break;
                }
            }
            let Some(fast) = parse_page_fast(&body) else {
                continue;
            };
            accepted += 1;
            let strict = parse_page_strict(&body).unwrap_or_else(|e| {
                panic!(
                    "single pass took what strict refuses ({e:?}): {}",
                    String::from_utf8_lossy(&body)
                )
            });
            assert_eq!(fast.len(), strict.len());
            for (f, s) in fast.iter().zip(&strict) {
                assert_eq!(
                    (f.raw, &f.uuid, &f.event_type, &f.published),
                    (s.raw, &s.uuid, &s.event_type, &s.published)
                );
            }
        }
        assert!(accepted > 100, "mutations kept valid only {accepted} times");
    }

    #[test]
    fn errors() {
        assert_eq!(parse_page(b"[]").map(|p| p.len()), Ok(0));
        for bad in [
            &b""[..],
            b"<html>",
            b"[{\"uuid\":\"a\",\"eventType\":\"b\"}",
            b"{\"errorCode\":\"E1\"}",
            b"[1,2",
            b"\xff[]",
        ] {
            assert!(
                matches!(parse_page(bad), Err(PageError::NotJson(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        for bad in [
            &b"[{\"uuid\":\"a\"}]"[..],
            b"[{\"eventType\":\"b\"}]",
            b"[1]",
            b"[{\"uuid\":5,\"eventType\":\"b\"}]",
            b"[null]",
            b"[[\"a\",\"b\",null]]",
        ] {
            assert!(
                matches!(parse_page(bad), Err(PageError::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let odd = parse_page(b"[{\"uuid\":\"a\",\"eventType\":\"b\",\"published\":null},{\"uuid\":\"c\",\"eventType\":\"b\",\"published\":5}]");
        assert!(odd.is_ok_and(|p| p[0].published.is_empty() && p[1].published.is_empty()));
    }
}
