//! RFC 5424 messages in RFC 5425 frames: `LEN SP <PRI>1 TIMESTAMP HOSTNAME APP-NAME - - [SD] MSG`, where
//! PRI is the facility and the event's `severity`, TIMESTAMP its `published`, the structured data
//! element carries `uuid`, `eventType`, instance and sequence (MSGID allows only 32 characters, and
//! a `uuid` has 36), and MSG is the event byte for byte: octet counting frames it, so nothing in it is
//! escaped or cut, and no BOM is added in front of the JSON.

use super::options::FACILITIES;
use crate::state::OutboxEvent;
use serde::Deserialize;
use std::borrow::Cow;

/// What every message of a sink shares, checked once when the sink opens.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    /// The facility's number (0–23).
    facility: u8,
    /// `HOSTNAME SP APP-NAME SP PROCID SP MSGID`, the part between TIMESTAMP and STRUCTURED-DATA.
    middle: String,
    sd_id: String,
}

impl Header {
    /// Checks the fields against RFC 5424's grammar; the error says which and why.
    pub(crate) fn new(
        facility: &str,
        hostname: &str,
        app_name: &str,
        sd_id: &str,
    ) -> Result<Header, String> {
        let facility = FACILITIES
            .iter()
            .position(|f| f.eq_ignore_ascii_case(facility))
            .ok_or_else(|| {
                format!(
                    "unknown syslog facility {facility:?}; use one of {}",
                    FACILITIES.join(", ")
                )
            })?;
        printable("hostname", hostname, 255, "")?;
        printable("app name", app_name, 48, "")?;
        printable("structured data id", sd_id, 32, "= ]\"")?;
        if !sd_id.contains('@') {
            return Err(format!(
                "the structured data id {sd_id:?} needs the form NAME@NUMBER (an IANA private enterprise number): names without @ are reserved for IANA"
            ));
        }
        Ok(Header {
            // FACILITIES has 24 entries.
            facility: facility as u8,
            middle: format!("{hostname} {app_name} - -"),
            sd_id: sd_id.to_string(),
        })
    }
}

/// RFC 5424's PRINTUSASCII (`!` to `~`), 1 to `max` characters, none of `also_not`.
fn printable(what: &str, value: &str, max: usize, also_not: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|b| (33..=126).contains(&b) && !also_not.as_bytes().contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the syslog {what} {value:?} must be 1 to {max} printable ASCII characters without spaces{}",
            if also_not.trim().is_empty() {
                String::new()
            } else {
                format!(" or any of {}", also_not.trim())
            }
        ))
    }
}

#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow)]
    published: Option<Cow<'a, str>>,
    #[serde(borrow)]
    severity: Option<Cow<'a, str>>,
    #[serde(borrow)]
    uuid: Option<Cow<'a, str>>,
}

/// Okta's `severity` as a syslog severity: DEBUG 7, INFO 6, WARN 4, ERROR 3; informational when absent
/// or unknown.
fn severity(okta: Option<&str>) -> u8 {
    match okta {
        Some(s) if s.eq_ignore_ascii_case("DEBUG") => 7,
        Some(s) if s.eq_ignore_ascii_case("WARN") => 4,
        Some(s) if s.eq_ignore_ascii_case("ERROR") => 3,
        _ => 6,
    }
}

/// An SD-PARAM value with `"`, `\` and `]` escaped (RFC 5424 §6.3.3).
fn param_value(out: &mut String, v: &str) {
    for c in v.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// One event as a framed message: `LEN SP SYSLOG-MSG`.
pub(crate) fn frame(event: &OutboxEvent, header: &Header) -> Vec<u8> {
    let fields: Option<Fields<'_>> = serde_json::from_str(&event.raw).ok();
    let (published, okta_severity, uuid) = match &fields {
        Some(f) => (
            f.published.as_deref(),
            f.severity.as_deref(),
            f.uuid.as_deref(),
        ),
        None => (None, None, None),
    };
    let timestamp = published
        .and_then(okta_ingest_model::time::parse_ms)
        .map(okta_ingest_model::time::format_ms)
        .unwrap_or_else(|| "-".to_string());
    let pri = u16::from(header.facility) * 8 + u16::from(severity(okta_severity));
    let mut head = format!("<{pri}>1 {timestamp} {} [{}", header.middle, header.sd_id);
    if let Some(uuid) = uuid {
        head.push_str(" uuid=\"");
        param_value(&mut head, uuid);
        head.push('"');
    }
    head.push_str(" eventType=\"");
    param_value(&mut head, &event.event_type);
    head.push_str(&format!(
        "\" instance=\"{}\" seq=\"{}\"] ",
        event.instance_id, event.seq
    ));
    let len = head.len() + event.raw.len();
    let mut out = Vec::with_capacity(len + 8);
    out.extend_from_slice(format!("{len} ").as_bytes());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(event.raw.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Stream;
    use okta_ingest_model::Categories;

    fn event(raw: &str, event_type: &str) -> OutboxEvent {
        OutboxEvent {
            stream: Stream::Whole,
            seq: 42,
            instance_id: 7,
            event_type: event_type.into(),
            categories: Categories::default(),
            raw: raw.into(),
        }
    }

    fn header() -> Header {
        Header::new("auth", "ingest-1", "okta-ingest", "okta@32473").unwrap()
    }

    /// The frame's length prefix and the message after it.
    fn parts(frame: &[u8]) -> (usize, String) {
        let text = String::from_utf8(frame.to_vec()).unwrap();
        let (len, msg) = text.split_once(' ').unwrap();
        (len.parse().unwrap(), msg.to_string())
    }

    #[test]
    fn a_message_carries_the_event_verbatim_with_its_time_severity_and_ids() {
        let raw = "{\"uuid\":\"a1b2\",\"published\":\"2026-11-30T10:00:00.123Z\",\"severity\":\"WARN\",\n \"displayMessage\":\"é ] \\\" x\"}";
        let (len, msg) = parts(&frame(&event(raw, "user.session.start"), &header()));
        assert_eq!(len, msg.len(), "the prefix counts octets");
        assert_eq!(
            msg,
            format!("<36>1 2026-11-30T10:00:00.123Z ingest-1 okta-ingest - - [okta@32473 uuid=\"a1b2\" eventType=\"user.session.start\" instance=\"7\" seq=\"42\"] {raw}"),
            "auth (4) * 8 + warning (4)"
        );
    }

    #[test]
    fn missing_or_odd_fields_give_nil_values_and_escaped_params() {
        let (_, msg) = parts(&frame(
            &event("{\"uuid\":\"u\\\"]\\\\\"}", "x\"y"),
            &header(),
        ));
        assert!(
            msg.starts_with("<38>1 - ingest-1 okta-ingest - - [okta@32473 uuid=\"u\\\"\\]\\\\\" eventType=\"x\\\"y\""),
            "{msg}"
        );
        let (_, msg) = parts(&frame(&event("not json", "t"), &header()));
        assert!(msg.starts_with("<38>1 - ingest-1"), "{msg}");
        assert!(msg.ends_with("seq=\"42\"] not json"), "{msg}");
        for (okta, sev) in [
            ("DEBUG", 7),
            ("INFO", 6),
            ("WARN", 4),
            ("ERROR", 3),
            ("x", 6),
        ] {
            assert_eq!(severity(Some(okta)), sev);
        }
    }

    #[test]
    fn header_fields_follow_the_grammar() {
        let local7 = Header::new("LOCAL7", "h", "a", "x@1").unwrap();
        assert_eq!(local7.facility, 23);
        let e = Header::new("security", "h", "a", "x@1").unwrap_err();
        assert!(e.contains("local7"), "{e}");
        assert!(Header::new("auth", "my host", "a", "x@1")
            .unwrap_err()
            .contains("hostname"));
        assert!(Header::new("auth", "h", &"a".repeat(49), "x@1")
            .unwrap_err()
            .contains("app name"));
        assert!(Header::new("auth", "h", "a", "okta")
            .unwrap_err()
            .contains("NAME@NUMBER"));
        assert!(Header::new("auth", "h", "a", "ok=ta@1").is_err());
    }
}
