//! A bounded sample of an org's recent events (the WIT 1.2 `sampling` export): counts per event type
//! with their categories, from which a setup screen derives counts per category and a rate.

use crate::Categories;

/// How many events of one event type a sample read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventTypeCount {
    /// Okta's `eventType`.
    pub event_type: String,
    /// Every category it belongs to (empty: it would never be delivered).
    pub categories: Categories,
    /// Events of this type read.
    pub events: u32,
}

/// What a sample read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventSample {
    /// How far back from the sample's time the counts reach, milliseconds: the whole window when
    /// `complete`, else back to the oldest event read.
    pub covered_ms: u64,
    /// True when every event of the window was read.
    pub complete: bool,
    /// System Log pages fetched.
    pub pages: u32,
    /// Events read per event type, most frequent first (ties by name).
    pub event_types: Vec<EventTypeCount>,
    /// The org's System Log requests per minute, if Okta said.
    pub rate_limit_per_minute: Option<u32>,
}

impl EventSample {
    /// Events read that belong to at least one of `selected` (an event in several counts once, as it is
    /// delivered once).
    pub fn events_in(&self, selected: Categories) -> u64 {
        self.event_types
            .iter()
            .filter(|t| !t.categories.common(selected).is_empty())
            .map(|t| u64::from(t.events))
            .sum()
    }

    /// The `n` most frequent event types of `category`.
    pub fn top_types(
        &self,
        category: Categories,
        n: usize,
    ) -> impl Iterator<Item = &EventTypeCount> {
        self.event_types
            .iter()
            .filter(move |t| t.categories.contains(category) && !category.is_empty())
            .take(n)
    }

    /// Events of `selected` per day at the sampled rate; `None` when the sample covers no time.
    pub fn per_day(&self, selected: Categories) -> Option<f64> {
        (self.covered_ms > 0)
            .then(|| self.events_in(selected) as f64 * 86_400_000.0 / self.covered_ms as f64)
    }

    /// Sorts `event_types` most frequent first, ties by name (the order the contract promises).
    pub fn sort(&mut self) {
        self.event_types.sort_by(|a, b| {
            b.events
                .cmp(&a.events)
                .then(a.event_type.cmp(&b.event_type))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(event_type: &str, categories: Categories, events: u32) -> EventTypeCount {
        EventTypeCount {
            event_type: event_type.into(),
            categories,
            events,
        }
    }

    fn sample() -> EventSample {
        let mut s = EventSample {
            covered_ms: 12 * 3_600_000,
            complete: false,
            pages: 3,
            event_types: vec![
                t("zone.update", Categories::SECURITY, 5),
                t(
                    "user.session.end",
                    Categories::AUTHENTICATION | Categories::ITP,
                    20,
                ),
                t("user.session.start", Categories::AUTHENTICATION, 100),
                t("app.other", Categories::NONE, 7),
            ],
            rate_limit_per_minute: Some(120),
        };
        s.sort();
        s
    }

    #[test]
    fn an_event_in_several_selected_categories_counts_once() {
        let s = sample();
        assert_eq!(s.events_in(Categories::AUTHENTICATION), 120);
        assert_eq!(s.events_in(Categories::ITP), 20);
        assert_eq!(
            s.events_in(Categories::AUTHENTICATION | Categories::ITP),
            120
        );
        assert_eq!(s.events_in(Categories::ALL), 125);
        assert_eq!(s.events_in(Categories::NONE), 0);
    }

    #[test]
    fn rate_and_top_types() {
        let s = sample();
        // 125 events in 12 hours: 250 a day.
        assert_eq!(s.per_day(Categories::ALL), Some(250.0));
        let names: Vec<&str> = s
            .top_types(Categories::AUTHENTICATION, 2)
            .map(|t| t.event_type.as_str())
            .collect();
        assert_eq!(names, ["user.session.start", "user.session.end"]);
        assert_eq!(s.top_types(Categories::NONE, 3).count(), 0);
        let empty = EventSample::default();
        assert_eq!(empty.per_day(Categories::ALL), None);
    }
}
