//! What a sample of the org's recent events (see [`Host::sample_org`](crate::Host::sample_org)) says to
//! someone choosing categories and a backfill: how many events each group had in the last 24 hours, and
//! how many events and how long a backfill of N days would take within the org's System Log limit.

use okta_ingest_model::{Categories, EventSample};

/// How far back a setup sample looks.
pub const SAMPLE_WINDOW_MS: u64 = 24 * 3_600_000;
/// Most pages a setup sample reads: a few requests of the org's per-minute budget, once.
pub const SAMPLE_PAGES: u32 = 3;
/// The System Log limit assumed when Okta did not say: the smallest org's (Integrator Free), so an
/// estimate errs long.
pub const ASSUMED_RATE_LIMIT_PER_MINUTE: u32 = 20;

/// Events of one group in the sampled window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupCount {
    /// Events a day: counted when the sample read the whole day, else extrapolated from the part it read.
    pub per_day: u64,
    /// True when counted, false when extrapolated.
    pub exact: bool,
}

impl GroupCount {
    /// The count of `selected` in `sample`, `None` when the sample covers no time.
    pub fn of(sample: &EventSample, selected: Categories) -> Option<GroupCount> {
        let exact = sample.complete && sample.covered_ms >= SAMPLE_WINDOW_MS;
        let per_day = if exact {
            sample.events_in(selected)
        } else {
            sample.per_day(selected)?.round() as u64
        };
        Some(GroupCount { per_day, exact })
    }

    /// `1,234 in the last 24 h` or `≈ 56k a day (rate of the newest 3,000)`.
    pub fn describe(&self, sample: &EventSample) -> String {
        if self.exact {
            format!("{} in the last 24 h", thousands(self.per_day))
        } else {
            format!(
                "≈ {} a day (rate of the newest {} events)",
                compact(self.per_day),
                thousands(sample.events_in(Categories::ALL))
            )
        }
    }
}

/// What a sample says of one group: its count and its most frequent event types, e.g. `1,234 in the
/// last 24 h; most often user.session.start, policy.evaluate_sign_on`. `None` when the sample covers no
/// time.
pub fn describe_group(sample: &EventSample, category: Categories) -> Option<String> {
    let count = GroupCount::of(sample, category)?;
    let top: Vec<&str> = sample
        .top_types(category, 3)
        .map(|t| t.event_type.as_str())
        .collect();
    Some(if top.is_empty() {
        count.describe(sample)
    } else {
        format!("{}; most often {}", count.describe(sample), top.join(", "))
    })
}

/// A backfill's size and duration at the sampled rate.
#[derive(Debug, Clone, PartialEq)]
pub struct BackfillEstimate {
    /// Events the backfill would fetch.
    pub events: u64,
    /// System Log pages (requests) that takes.
    pub pages: u64,
    /// Requests a minute the instance may use (its share of the org's limit).
    pub requests_per_minute: u32,
    /// The org's limit the share is of, and whether Okta said it (else it is assumed).
    pub org_limit: u32,
    /// True when `org_limit` came from Okta's `X-Rate-Limit-Limit`.
    pub limit_known: bool,
    /// Minutes it takes at that pace (Okta's own latency aside).
    pub minutes: f64,
}

impl BackfillEstimate {
    /// The estimate for `days` of `selected` at `share_percent` of the org's limit; `None` when the
    /// sample covers no time.
    pub fn new(
        sample: &EventSample,
        selected: Categories,
        days: u8,
        page_size: u32,
        share_percent: u8,
    ) -> Option<BackfillEstimate> {
        let per_day = GroupCount::of(sample, selected)?.per_day;
        let events = per_day.saturating_mul(u64::from(days));
        let page_size = u64::from(page_size.clamp(1, 1000));
        let pages = events.div_ceil(page_size);
        let (org_limit, limit_known) = match sample.rate_limit_per_minute {
            Some(l) if l > 0 => (l, true),
            _ => (ASSUMED_RATE_LIMIT_PER_MINUTE, false),
        };
        let share = u32::from(share_percent.clamp(1, 100));
        let requests_per_minute = (org_limit * share / 100).max(1);
        Some(BackfillEstimate {
            events,
            pages,
            requests_per_minute,
            org_limit,
            limit_known,
            minutes: pages as f64 / f64::from(requests_per_minute),
        })
    }

    /// `≈ 180k events, ≈ 3 min (180 requests at 60 a minute: 50% of the org's 120)`.
    pub fn describe(&self) -> String {
        if self.events == 0 {
            return "no events expected at the sampled rate".to_string();
        }
        let limit = if self.limit_known {
            format!("the org's {}", self.org_limit)
        } else {
            format!("an assumed {} (Okta did not say)", self.org_limit)
        };
        format!(
            "≈ {} events, ≈ {} ({} request{} at {} a minute, a share of {limit})",
            compact(self.events),
            duration(self.minutes),
            thousands(self.pages),
            if self.pages == 1 { "" } else { "s" },
            self.requests_per_minute,
        )
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `950`, `1.2k`, `56k`, `3.4M`.
fn compact(n: u64) -> String {
    match n {
        0..=999 => n.to_string(),
        1_000..=9_999 => format!("{:.1}k", n as f64 / 1e3),
        10_000..=999_999 => format!("{}k", (n as f64 / 1e3).round()),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// `under a minute`, `12 min`, `2.5 h`.
fn duration(minutes: f64) -> String {
    if minutes < 1.0 {
        "under a minute".to_string()
    } else if minutes < 90.0 {
        format!("{} min", minutes.ceil())
    } else {
        format!("{:.1} h", minutes / 60.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use okta_ingest_model::EventTypeCount;

    fn sample(complete: bool, covered_ms: u64, limit: Option<u32>) -> EventSample {
        EventSample {
            covered_ms,
            complete,
            pages: 3,
            event_types: vec![
                EventTypeCount {
                    event_type: "user.session.start".into(),
                    categories: Categories::AUTHENTICATION,
                    events: 2_500,
                },
                EventTypeCount {
                    event_type: "zone.update".into(),
                    categories: Categories::SECURITY,
                    events: 500,
                },
            ],
            rate_limit_per_minute: limit,
        }
    }

    #[test]
    fn a_complete_day_is_counted_and_a_partial_one_extrapolated() {
        let whole = sample(true, SAMPLE_WINDOW_MS, Some(120));
        let c = GroupCount::of(&whole, Categories::SECURITY).expect("count");
        assert_eq!((c.per_day, c.exact), (500, true));
        assert_eq!(c.describe(&whole), "500 in the last 24 h");

        // 3,000 newest events reached 2 hours back: 12 times that a day.
        let part = sample(false, 2 * 3_600_000, Some(120));
        let c = GroupCount::of(&part, Categories::ALL).expect("count");
        assert_eq!((c.per_day, c.exact), (36_000, false));
        assert_eq!(
            c.describe(&part),
            "≈ 36k a day (rate of the newest 3,000 events)"
        );
        assert_eq!(
            GroupCount::of(&sample(false, 0, None), Categories::ALL),
            None
        );
    }

    #[test]
    fn a_backfill_is_sized_by_the_rate_and_paced_by_the_share_of_the_limit() {
        let part = sample(false, 2 * 3_600_000, Some(120));
        let e = BackfillEstimate::new(&part, Categories::ALL, 14, 1000, 50).expect("estimate");
        // 36,000 a day for 14 days; 504 pages at 60 a minute.
        assert_eq!(
            (e.events, e.pages, e.requests_per_minute),
            (504_000, 504, 60)
        );
        assert!((e.minutes - 8.4).abs() < 1e-9);
        assert_eq!(
            e.describe(),
            "≈ 504k events, ≈ 9 min (504 requests at 60 a minute, a share of the org's 120)"
        );
        let unknown = sample(true, SAMPLE_WINDOW_MS, None);
        let e = BackfillEstimate::new(&unknown, Categories::AUTHENTICATION, 7, 1000, 50)
            .expect("estimate");
        assert_eq!(
            (e.events, e.requests_per_minute, e.limit_known),
            (17_500, 10, false)
        );
        assert!(
            e.describe().contains("an assumed 20 (Okta did not say)"),
            "{}",
            e.describe()
        );
        let none = BackfillEstimate::new(&unknown, Categories::AUTHENTICATION, 0, 1000, 50)
            .expect("estimate");
        assert_eq!(none.describe(), "no events expected at the sampled rate");
    }

    #[test]
    fn a_group_is_described_by_its_count_and_its_most_frequent_types() {
        let whole = sample(true, SAMPLE_WINDOW_MS, Some(120));
        assert_eq!(
            describe_group(&whole, Categories::AUTHENTICATION).as_deref(),
            Some("2,500 in the last 24 h; most often user.session.start")
        );
        assert_eq!(
            describe_group(&whole, Categories::LIFECYCLE).as_deref(),
            Some("0 in the last 24 h")
        );
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(compact(950), "950");
        assert_eq!(compact(1_234), "1.2k");
        assert_eq!(compact(3_400_000), "3.4M");
        assert_eq!(duration(0.5), "under a minute");
        assert_eq!(duration(120.0), "2.0 h");
    }
}
