//! The cursor state: opaque to the host, JSON to us. Holds Okta's `next` link (never a timestamp:
//! re-querying by `published` skips or duplicates late events) and a de-duplication window.

use crate::types::{ErrorKind, TickError};
use serde::{Deserialize, Serialize};
use std::collections::{HashSet, VecDeque};

/// Newest state schema this build reads and writes.
pub const SCHEMA: u32 = 1;
/// How many recently delivered uuids are remembered across pages and ticks.
pub const WINDOW: usize = 2048;

/// Schema-1 cursor state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorState {
    /// Always [`SCHEMA`] when written by this build.
    pub schema: u32,
    /// Okta's `rel="next"` URL to fetch next.
    pub next: String,
    /// The filter expression that produced `next`.
    pub filter: String,
    /// Recently delivered uuids, oldest first.
    #[serde(default)]
    pub recent: Vec<String>,
}

#[derive(Deserialize)]
struct SchemaOnly {
    schema: u32,
}

impl CursorState {
    /// Parse stored bytes; newer schemas and garbage are `state` errors (and must not be overwritten).
    pub fn parse(bytes: &[u8]) -> Result<CursorState, TickError> {
        let unreadable = |e: serde_json::Error| {
            TickError::new(
                ErrorKind::State,
                format!(
                    "cursor state is unreadable ({e}); remove and add the instance again to start over"
                ),
            )
        };
        // Look at the schema first so a newer layout is reported as such, not as garbage.
        let schema = serde_json::from_slice::<SchemaOnly>(bytes)
            .map_err(unreadable)?
            .schema;
        if schema > SCHEMA {
            return Err(TickError::new(
                ErrorKind::State,
                format!("cursor state was written by a newer connector (schema {schema}); activate that version or newer"),
            ));
        }
        if schema != SCHEMA {
            return Err(TickError::new(
                ErrorKind::State,
                format!("cursor state has unknown schema {schema}; remove and add the instance again to start over"),
            ));
        }
        serde_json::from_slice(bytes).map_err(unreadable)
    }

    /// Serialize (cannot fail for this plain struct; an empty vec would be refused by `parse`).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The de-duplication window: ordered for eviction, hashed for lookup.
#[derive(Debug, Default)]
pub struct Recent {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl Recent {
    /// Window from stored uuids (oldest first), keeping only the newest [`WINDOW`].
    pub fn from_list(list: Vec<String>) -> Recent {
        let mut r = Recent::default();
        let skip = list.len().saturating_sub(WINDOW);
        for u in list.into_iter().skip(skip) {
            r.push(u);
        }
        r
    }
    /// True when `uuid` was delivered recently.
    pub fn contains(&self, uuid: &str) -> bool {
        self.set.contains(uuid)
    }
    /// Remember a delivered uuid, evicting the oldest beyond [`WINDOW`].
    pub fn push(&mut self, uuid: String) {
        if !self.set.insert(uuid.clone()) {
            return;
        }
        self.order.push_back(uuid);
        while self.order.len() > WINDOW {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }
    /// The uuids, oldest first, for the state.
    pub fn to_list(&self) -> Vec<String> {
        self.order.iter().cloned().collect()
    }
}

/// Borrowing twin of [`CursorState`] so each commit serializes the window without cloning it.
#[derive(Serialize)]
struct StateRef<'a> {
    schema: u32,
    next: &'a str,
    filter: &'a str,
    recent: &'a VecDeque<String>,
}

impl Recent {
    /// The state bytes for cursor `next` under `filter`, with this window.
    pub fn state_bytes(&self, next: &str, filter: &str) -> Vec<u8> {
        let s = StateRef {
            schema: SCHEMA,
            next,
            filter,
            recent: &self.order,
        };
        serde_json::to_vec(&s).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let s = CursorState {
            schema: 1,
            next: "https://a/api/v1/logs?after=1_2".into(),
            filter: "eventType eq \"x\"".into(),
            recent: vec!["u1".into(), "u2".into()],
        };
        let b = s.to_bytes();
        assert!(std::str::from_utf8(&b).is_ok_and(|t| t.starts_with("{\"schema\":1,\"next\":")));
        assert_eq!(CursorState::parse(&b), Ok(s));
    }

    #[test]
    fn refuses_newer_and_garbage() {
        let e = CursorState::parse(br#"{"schema":2,"whatever":true}"#).err();
        assert!(e.as_ref().is_some_and(
            |e| e.kind == ErrorKind::State && e.message.contains("newer connector (schema 2)")
        ));
        for bad in [
            &b"not json"[..],
            b"",
            b"{}",
            br#"{"schema":1}"#,
            br#"{"schema":0,"next":"","filter":""}"#,
            b"\xff",
        ] {
            assert!(CursorState::parse(bad).is_err_and(|e| e.kind == ErrorKind::State));
        }
    }

    #[test]
    fn window_evicts_oldest() {
        let mut r = Recent::from_list((0..WINDOW + 5).map(|i| i.to_string()).collect());
        assert!(!r.contains("4") && r.contains("5"));
        r.push("new".into());
        assert!(!r.contains("5") && r.contains("6") && r.contains("new"));
        assert_eq!(r.to_list().len(), WINDOW);
    }
}
