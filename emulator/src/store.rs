//! The committed-event store: a Vec in commit order (cursor lookups are binary searches), plus
//! a lazily rebuilt index in `published` order for bounded queries.

use std::sync::Arc;

use okta_ingest_model::time::format_ms;

/// One stored event.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// `uuid` (empty when the committed JSON had none).
    pub uuid: String,
    /// `eventType`.
    pub event_type: String,
    /// `published` as stored in the JSON.
    pub published: String,
    /// `published` in epoch ms (commit time when unparseable).
    pub published_ms: u64,
    /// Commit (persistence) time, epoch ms; non-decreasing along the store.
    pub commit_ms: u64,
    /// 1-based ordinal among events committed in the same millisecond.
    pub seq: u32,
    /// The exact bytes served.
    pub raw: Arc<str>,
}

impl StoredEvent {
    /// The polling cursor pointing at this event: `{commit_ms}_{seq}`.
    pub fn cursor(&self) -> String {
        format!("{}_{}", self.commit_ms, self.seq)
    }
}

/// Parses a `{a}_{b}` cursor.
pub fn parse_cursor(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once('_')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Events in commit order.
#[derive(Debug, Default)]
pub struct Store {
    events: Vec<StoredEvent>,
    /// Indices into `events` sorted by (published_ms, index); valid when its length matches.
    by_published: Vec<usize>,
}

/// An event to append (times in epoch ms).
pub struct NewEvent {
    /// `uuid`.
    pub uuid: String,
    /// `eventType`.
    pub event_type: String,
    /// `published` text; derived from `published_ms` when `None`.
    pub published: Option<String>,
    /// `published`, epoch ms.
    pub published_ms: u64,
    /// Intended commit time; raised to the last commit time so commit order stays monotonic.
    pub commit_ms: u64,
    /// JSON text.
    pub raw: String,
}

impl Store {
    /// All events, commit order.
    pub fn events(&self) -> &[StoredEvent] {
        &self.events
    }

    /// Appends events in the given order. Okta persists events in time order, so a commit
    /// time earlier than the newest stored one is raised to it rather than inserted in the
    /// past (which would hide it from clients already holding a later cursor).
    pub fn append(&mut self, new: impl IntoIterator<Item = NewEvent>) {
        for n in new {
            let (last_ms, last_seq) = self
                .events
                .last()
                .map(|e| (e.commit_ms, e.seq))
                .unwrap_or((0, 0));
            let commit_ms = n.commit_ms.max(last_ms);
            let seq = if commit_ms == last_ms {
                last_seq + 1
            } else {
                1
            };
            self.events.push(StoredEvent {
                uuid: n.uuid,
                event_type: n.event_type,
                published: n.published.unwrap_or_else(|| format_ms(n.published_ms)),
                published_ms: n.published_ms,
                commit_ms,
                seq,
                raw: Arc::from(n.raw),
            });
        }
    }

    /// Index of the first event strictly after cursor `(commit_ms, seq)`.
    pub fn after_cursor(&self, cursor: (u64, u64)) -> usize {
        self.events
            .partition_point(|e| (e.commit_ms, u64::from(e.seq)) <= cursor)
    }

    /// Index of the first event committed at or after `ms`.
    pub fn committed_since(&self, ms: u64) -> usize {
        self.events.partition_point(|e| e.commit_ms < ms)
    }

    /// True when [`Store::by_published`] needs [`Store::reindex`] first.
    pub fn needs_reindex(&self) -> bool {
        self.by_published.len() != self.events.len()
    }

    /// Rebuilds the published-order index.
    pub fn reindex(&mut self) {
        let mut idx: Vec<usize> = (0..self.events.len()).collect();
        idx.sort_by_key(|&i| (self.events[i].published_ms, i));
        self.by_published = idx;
    }

    /// Indices in (published_ms, index) order (empty if stale; call `reindex` first).
    pub fn by_published(&self) -> &[usize] {
        if self.needs_reindex() {
            &[]
        } else {
            &self.by_published
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(commit_ms: u64, published_ms: u64) -> NewEvent {
        NewEvent {
            uuid: format!("u{commit_ms}"),
            event_type: "t".into(),
            published: None,
            published_ms,
            commit_ms,
            raw: "{}".into(),
        }
    }

    #[test]
    fn cursors_and_same_millisecond_sequences() {
        let mut s = Store::default();
        s.append([ev(100, 90), ev(100, 50), ev(105, 104), ev(103, 10)]);
        let c: Vec<String> = s.events().iter().map(StoredEvent::cursor).collect();
        // The late append (103) is raised to 105 to keep commit order monotonic.
        assert_eq!(c, ["100_1", "100_2", "105_1", "105_2"]);
        assert_eq!(s.after_cursor((100, 1)), 1);
        assert_eq!(s.after_cursor((100, 2)), 2);
        assert_eq!(s.after_cursor((0, 0)), 0);
        assert_eq!(s.after_cursor((105, 2)), 4);
        assert_eq!(s.after_cursor((104, 99)), 2);
        assert_eq!(s.committed_since(101), 2);
        assert_eq!(
            parse_cursor("1627500044869_1"),
            Some((1_627_500_044_869, 1))
        );
        assert_eq!(parse_cursor("x_1"), None);
        assert_eq!(parse_cursor("12"), None);
        assert!(s.needs_reindex());
        s.reindex();
        assert_eq!(s.by_published(), &[3, 1, 0, 2]);
        assert_eq!(s.events()[0].published, "1970-01-01T00:00:00.090Z");
    }
}
