//! A single-pass JSON scanner for System Log pages: validates the JSON grammar of each event while
//! finding where it ends and where its top-level `uuid`, `eventType` and `published` values are.
//!
//! It replaces serde's generic "ignore this value" walk on the hot path (about half of the connector's
//! CPU time per page): string contents, which are most of an event's bytes, are skipped 8 bytes at a time.
//! Anything it does not handle plainly — escaped keys, duplicate fields, nesting deeper than
//! [`MAX_DEPTH`] — makes it give up, and the caller falls back to the serde parse, which then decides.

/// Nesting the scanner follows (serde_json's default recursion limit is 128).
pub const MAX_DEPTH: usize = 100;

/// A JSON string literal found in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrSpan {
    /// Byte range of the literal including its quotes.
    pub start: usize,
    /// One past the closing quote.
    pub end: usize,
    /// Whether it contains backslash escapes (then it must be decoded).
    pub escaped: bool,
}

/// One top-level field value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// A string.
    Str(StrSpan),
    /// Any other JSON value (number, null, object, …).
    Other,
}

/// What the scanner found in one event object.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EventSpans {
    /// One past the object's closing brace.
    pub end: usize,
    /// `uuid`, if present.
    pub uuid: Option<Field>,
    /// `eventType`, if present.
    pub event_type: Option<Field>,
    /// `published`, if present.
    pub published: Option<Field>,
}

/// Whitespace as JSON defines it.
pub fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = b.get(i) {
        i += 1;
    }
    i
}

/// Scans the object starting at `b[i] == '{'`. `None`: invalid, or something the scanner leaves to serde.
pub fn event(b: &[u8], i: usize) -> Option<EventSpans> {
    if b.get(i) != Some(&b'{') {
        return None;
    }
    let mut out = EventSpans::default();
    let mut i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        out.end = i + 1;
        return Some(out);
    }
    loop {
        let key = string(b, i)?;
        if key.escaped {
            return None; // could spell a field name in escapes; let serde decode it
        }
        i = skip_ws(b, key.end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        let slot = match &b[key.start + 1..key.end - 1] {
            b"uuid" => Some(&mut out.uuid),
            b"eventType" => Some(&mut out.event_type),
            b"published" => Some(&mut out.published),
            _ => None,
        };
        let field = if b.get(i) == Some(&b'"') {
            let s = string(b, i)?;
            i = s.end;
            Field::Str(s)
        } else {
            i = value(b, i, 1)?;
            Field::Other
        };
        if let Some(slot) = slot {
            if slot.replace(field).is_some() {
                return None; // duplicate field: serde refuses it
            }
        }
        i = skip_ws(b, i);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => {
                out.end = i + 1;
                return Some(out);
            }
            _ => return None,
        }
    }
}

/// Skips the value at `b[i]` (no leading whitespace); returns the index after it.
fn value(b: &[u8], i: usize, depth: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => string(b, i).map(|s| s.end),
        b'{' => container(b, i, depth, b'}', true),
        b'[' => container(b, i, depth, b']', false),
        b't' => literal(b, i, b"true"),
        b'f' => literal(b, i, b"false"),
        b'n' => literal(b, i, b"null"),
        b'-' | b'0'..=b'9' => number(b, i),
        _ => None,
    }
}

/// An object (`keyed`) or array starting at `b[i]`.
fn container(b: &[u8], i: usize, depth: usize, close: u8, keyed: bool) -> Option<usize> {
    if depth >= MAX_DEPTH {
        return None;
    }
    let mut i = skip_ws(b, i + 1);
    if b.get(i) == Some(&close) {
        return Some(i + 1);
    }
    loop {
        if keyed {
            i = skip_ws(b, string(b, i)?.end);
            if b.get(i) != Some(&b':') {
                return None;
            }
            i = skip_ws(b, i + 1);
        }
        i = skip_ws(b, value(b, i, depth + 1)?);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(&c) if c == close => return Some(i + 1),
            _ => return None,
        }
    }
}

fn literal(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    (b.get(i..i + word.len())? == word).then_some(i + word.len())
}

/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
fn number(b: &[u8], mut i: usize) -> Option<usize> {
    let digits = |b: &[u8], mut i: usize| -> Option<usize> {
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        (i > start).then_some(i)
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    i = match b.get(i)? {
        b'0' => i + 1,
        b'1'..=b'9' => digits(b, i)?,
        _ => return None,
    };
    if b.get(i) == Some(&b'.') {
        i = digits(b, i + 1)?;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        i = digits(b, i)?;
    }
    Some(i)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Offset of the first quote, backslash or control character in `b`, or `b.len()`. Eight bytes at a
/// time: a byte's high bit in `mask` is set for each such byte (and possibly for bytes after one, never
/// before), so the lowest set bit is the first.
fn special_offset(b: &[u8]) -> usize {
    let mut chunks = b.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        let v = u64::from_le_bytes(bytes);
        let quote = v ^ (ONES * u64::from(b'"'));
        let backslash = v ^ (ONES * u64::from(b'\\'));
        let mask = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (v.wrapping_sub(ONES * 0x20) & !v);
        let mask = mask & HIGHS;
        if mask != 0 {
            return offset + mask.trailing_zeros() as usize / 8;
        }
        offset += 8;
    }
    let tail = chunks.remainder();
    offset
        + tail
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
            .unwrap_or(tail.len())
}

/// The string literal starting at `b[i] == '"'`. Control characters are invalid inside; escapes are
/// checked for form (`\uXXXX` needs four hex digits).
fn string(b: &[u8], i: usize) -> Option<StrSpan> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let start = i;
    let mut i = i + 1;
    let mut escaped = false;
    loop {
        i += special_offset(b.get(i..)?);
        match *b.get(i)? {
            b'"' => {
                return Some(StrSpan {
                    start,
                    end: i + 1,
                    escaped,
                })
            }
            b'\\' => {
                escaped = true;
                match *b.get(i + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                    b'u' => {
                        let hex = b.get(i + 2..i + 6)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        i += 6;
                    }
                    _ => return None,
                }
            }
            _ => return None, // a control character
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(s: &str) -> Option<usize> {
        event(s.as_bytes(), 0).map(|e| e.end)
    }

    #[test]
    fn finds_the_end_and_the_three_fields() {
        let s = r#"{"a":{"uuid":"inner"},"uuid":"u-1","x":[1,-2.5e+3,true,false,null,"]}"],"eventType":"t\"q","published":null} tail"#;
        let e = event(s.as_bytes(), 0).expect("valid");
        assert_eq!(&s[e.end..], " tail");
        let Some(Field::Str(u)) = e.uuid else {
            panic!("uuid")
        };
        assert_eq!((&s[u.start..u.end], u.escaped), ("\"u-1\"", false));
        let Some(Field::Str(t)) = e.event_type else {
            panic!("eventType")
        };
        assert_eq!((&s[t.start..t.end], t.escaped), (r#""t\"q""#, true));
        assert_eq!(e.published, Some(Field::Other));
        assert_eq!(end("{}"), Some(2));
        assert_eq!(end("{ \"k\" : [ ] }"), Some(13));
    }

    #[test]
    fn long_strings_are_skipped_in_chunks_without_missing_specials() {
        for pad in 0..20 {
            let filler = "x".repeat(pad);
            for special in ["\\\"", "\\\\", "\\u00e9", "é✓", ""] {
                let s = format!("{{\"k\":\"{filler}{special}{filler}\"}}");
                assert_eq!(end(&s), Some(s.len()), "{s}");
            }
            let ctrl = format!("{{\"k\":\"{filler}\n{filler}\"}}");
            assert_eq!(end(&ctrl), None, "raw newline in a string");
            let open = format!("{{\"k\":\"{filler}");
            assert_eq!(end(&open), None, "unterminated");
        }
    }

    #[test]
    fn refuses_invalid_json_and_leaves_odd_cases_to_serde() {
        for bad in [
            "",
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{\"a\":1 \"b\":2}",
            "{a:1}",
            "{\"a\":tru}",
            "{\"a\":nul}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":.5}",
            "{\"a\":1e}",
            "{\"a\":-}",
            "{\"a\":+1}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\u12g4\"}",
            "{\"a\":[1,]}",
            "{\"a\":[1 2]}",
            "{\"a\":{\"b\":1,}}",
            "[1]",
            "{\"u\\u0075id\":\"x\"}",
            "{\"uuid\":\"a\",\"uuid\":\"b\"}",
        ] {
            assert_eq!(end(bad), None, "{bad}");
        }
        let deep = format!(
            "{{\"a\":{}{}}}",
            "[".repeat(MAX_DEPTH),
            "]".repeat(MAX_DEPTH)
        );
        assert_eq!(end(&deep), None, "deeper than MAX_DEPTH");
        let ok = format!(
            "{{\"a\":{}{}}}",
            "[".repeat(MAX_DEPTH - 2),
            "]".repeat(MAX_DEPTH - 2)
        );
        assert_eq!(end(&ok), Some(ok.len()));
    }

    #[test]
    fn numbers() {
        for (n, ok) in [
            ("0", true),
            ("-0", true),
            ("12", true),
            ("1.5", true),
            ("-1.5e10", true),
            ("1E+2", true),
            ("1e-2", true),
            ("00", false),
            ("-", false),
            ("1.e2", false),
            ("1e+", false),
        ] {
            let s = format!("{{\"n\":{n}}}");
            assert_eq!(end(&s).is_some(), ok, "{n}");
        }
    }
}
