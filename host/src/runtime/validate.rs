//! The host checks every page a component commits itself: a hostile component must not fill the outbox
//! with garbage, and sinks write `raw` verbatim as one JSON line.

use super::bindings::{categories_from_wit, wit};
use super::SandboxLimits;
use thiserror::Error;

/// Why the host refused a page (nothing of it was stored).
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum PageRefused {
    /// More events than a page may hold.
    #[error("page has {count} events, over the limit of {limit}")]
    TooManyEvents {
        /// Events in the page.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The cursor state is too large.
    #[error("cursor state is {size} bytes, over the limit of {limit}")]
    StateTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// One event is too large.
    #[error("event {uuid} is {size} bytes, over the limit of {limit}")]
    EventTooLarge {
        /// The event's uuid.
        uuid: String,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// An event that is not a JSON object, or has no uuid.
    #[error("event {uuid:?} is not a JSON object with a uuid")]
    NotAnObject {
        /// The event's uuid (possibly empty).
        uuid: String,
    },
    /// An event whose JSON does not parse.
    #[error("event {uuid} is not valid JSON ({detail})")]
    NotJson {
        /// The event's uuid.
        uuid: String,
        /// The parser's message.
        detail: String,
    },
    /// An event in none of the categories.
    #[error("event {uuid} belongs to no category")]
    NoCategory {
        /// The event's uuid.
        uuid: String,
    },
}

/// Checks a page against the output limits.
pub(super) fn validate_page(
    lim: &SandboxLimits,
    events: &[wit::Event],
    state: &[u8],
) -> Result<(), PageRefused> {
    if events.len() > lim.max_events_per_page {
        return Err(PageRefused::TooManyEvents {
            count: events.len(),
            limit: lim.max_events_per_page,
        });
    }
    if state.len() > lim.max_state_bytes {
        return Err(PageRefused::StateTooLarge {
            size: state.len(),
            limit: lim.max_state_bytes,
        });
    }
    for e in events {
        if e.raw.len() > lim.max_event_bytes {
            return Err(PageRefused::EventTooLarge {
                uuid: e.uuid.clone(),
                size: e.raw.len(),
                limit: lim.max_event_bytes,
            });
        }
        let raw = e.raw.trim();
        if e.uuid.is_empty() || !raw.starts_with('{') || !raw.ends_with('}') {
            return Err(PageRefused::NotAnObject {
                uuid: e.uuid.clone(),
            });
        }
        // Sinks write `raw` verbatim as one JSON line: it must parse (this also rules out raw
        // control characters such as newlines inside strings).
        if let Err(err) = serde_json::from_str::<serde::de::IgnoredAny>(raw) {
            return Err(PageRefused::NotJson {
                uuid: e.uuid.clone(),
                detail: err.to_string(),
            });
        }
        if categories_from_wit(e.categories).is_empty() {
            return Err(PageRefused::NoCategory {
                uuid: e.uuid.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(uuid: &str, raw: &str, categories: wit::Categories) -> wit::Event {
        wit::Event {
            uuid: uuid.into(),
            event_type: "user.session.start".into(),
            published: "2026-01-01T00:00:00.000Z".into(),
            categories,
            raw: raw.into(),
        }
    }

    #[test]
    fn each_limit_is_named_in_its_refusal() {
        let lim = SandboxLimits {
            max_events_per_page: 2,
            max_event_bytes: 40,
            max_state_bytes: 4,
            ..SandboxLimits::default()
        };
        let a = wit::Categories::AUTHENTICATION;
        let ok = ev("u1", "{\"uuid\":\"u1\"}", a);
        assert_eq!(
            validate_page(&lim, std::slice::from_ref(&ok), b"st"),
            Ok(())
        );
        let cases: Vec<(Vec<wit::Event>, &[u8], &str)> = vec![
            (
                vec![ok.clone(); 3],
                b"",
                "page has 3 events, over the limit of 2",
            ),
            (
                vec![],
                b"12345",
                "cursor state is 5 bytes, over the limit of 4",
            ),
            (
                vec![ev("big", &format!("{{\"p\":\"{}\"}}", "x".repeat(40)), a)],
                b"",
                "event big is 48 bytes, over the limit of 40",
            ),
            (
                vec![ev("", "{}", a)],
                b"",
                "event \"\" is not a JSON object with a uuid",
            ),
            (
                vec![ev("u2", "[1]", a)],
                b"",
                "event \"u2\" is not a JSON object with a uuid",
            ),
            (
                vec![ev("u3", "{\"a\":}", a)],
                b"",
                "event u3 is not valid JSON",
            ),
            (
                vec![ev("u4", "{\"a\":\"x\ny\"}", a)],
                b"",
                "event u4 is not valid JSON",
            ),
            (
                vec![ev("u5", "{}", wit::Categories::empty())],
                b"",
                "event u5 belongs to no category",
            ),
        ];
        for (events, state, want) in cases {
            let got = validate_page(&lim, &events, state).unwrap_err().to_string();
            assert!(got.starts_with(want), "{got:?} should start with {want:?}");
        }
    }
}
