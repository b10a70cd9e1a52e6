//! One Okta org's System Log rate budget, shared by every instance this host runs against that org.
//!
//! This is the one place outside the connector that knows an Okta API fact (the `X-Rate-Limit-*`
//! headers, through the shared model): the budget is per org, and only the host sees all the instances
//! on an org. Each connector already pauses once the org's window usage (`Limit - Remaining`) reaches its
//! share, but it only learns that from its own responses: several instances starting requests at once
//! could together go past the share. The host therefore gates System Log requests per org: a request
//! starts only while the window's known usage plus the requests in flight stays under the share;
//! otherwise it waits for the reset. Waiting happens in the async hook, so no thread is blocked.

use okta_ingest_model::rate_limit::RateLimit;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Default, Clone, Copy)]
struct Window {
    limit: u64,
    remaining: u64,
    reset_s: u64,
    in_flight: u64,
}

/// The budgets of all orgs, keyed by origin (`host:port`).
#[derive(Debug, Clone)]
pub(crate) struct OrgBudgets {
    windows: Arc<Mutex<HashMap<String, Window>>>,
    share_percent: u8,
}

fn now_s() -> f64 {
    okta_ingest_model::time::now_ms() as f64 / 1000.0
}

impl OrgBudgets {
    /// Budgets that let this host use `share_percent` (1..=100) of each org's limit.
    pub(crate) fn new(share_percent: u8) -> OrgBudgets {
        OrgBudgets {
            windows: Arc::default(),
            share_percent: share_percent.clamp(1, 100),
        }
    }

    /// How long to wait before a request to `org` may start (`None`: now, and it is counted as in flight).
    fn try_start(&self, org: &str, now: f64) -> Option<Duration> {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let w = windows.entry(org.to_string()).or_default();
        if w.limit > 0 && now < w.reset_s as f64 {
            let allowed = (w.limit * u64::from(self.share_percent) / 100).max(1);
            let used = w.limit.saturating_sub(w.remaining) + w.in_flight;
            if used >= allowed {
                // A little past the reset, as Okta's windows are not aligned to our clock.
                return Some(Duration::from_secs_f64(w.reset_s as f64 - now + 0.25));
            }
        } else if w.limit > 0 {
            // The window has reset: only what is in flight counts until a response says more.
            w.remaining = w.limit;
        }
        w.in_flight += 1;
        None
    }

    /// Waits until a System Log request to `org` fits the share, then counts it as in flight.
    pub(crate) async fn acquire(&self, org: &str) -> Permit {
        while let Some(wait) = self.try_start(org, now_s()) {
            if wait >= Duration::from_secs(1) {
                tracing::info!(%org, wait_s = wait.as_secs(), "this host's share of the org's System Log rate limit is used; waiting {} s for the window to reset", wait.as_secs_f64().ceil());
            } else {
                tracing::debug!(%org, ?wait, "org rate budget used; waiting for the window to reset");
            }
            tokio::time::sleep(wait).await;
        }
        Permit {
            budgets: self.clone(),
            org: org.to_string(),
            done: false,
        }
    }

    fn finish(&self, org: &str, headers: Option<&http::HeaderMap>) {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let w = windows.entry(org.to_string()).or_default();
        w.in_flight = w.in_flight.saturating_sub(1);
        let Some(h) = headers else { return };
        let rl = RateLimit::parse(|name| h.get(name).and_then(|v| v.to_str().ok()));
        if let (Some(limit), Some(remaining), Some(reset)) = (rl.limit, rl.remaining, rl.reset_s) {
            // A concurrency 429 reports 0/0: not a window size, leave the known window alone.
            if limit > 0
                && (reset > w.reset_s
                    || reset == w.reset_s && remaining < w.remaining
                    || w.limit == 0)
            {
                *w = Window {
                    limit,
                    remaining,
                    reset_s: reset,
                    in_flight: w.in_flight,
                };
            }
        }
    }
}

/// A System Log request in flight; finish it with the response headers (dropping it counts it done).
pub(crate) struct Permit {
    budgets: OrgBudgets,
    org: String,
    done: bool,
}

impl Permit {
    /// Records the response's rate-limit headers.
    pub(crate) fn complete(mut self, headers: &http::HeaderMap) {
        self.done = true;
        self.budgets.finish(&self.org, Some(headers));
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.done {
            self.budgets.finish(&self.org, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(limit: u64, remaining: u64, reset: u64) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert("x-rate-limit-limit", limit.into());
        h.insert("x-rate-limit-remaining", remaining.into());
        h.insert("x-rate-limit-reset", reset.into());
        h
    }

    #[test]
    fn in_flight_requests_count_against_the_share() {
        let b = OrgBudgets::new(50);
        let now = 1_000.0;
        // Unknown window: requests may start.
        assert_eq!(b.try_start("org", now), None);
        b.finish("org", Some(&headers(10, 9, 1_060)));
        // Used 1 of 10; share 5: four more may be in flight together, the fifth waits.
        for _ in 0..4 {
            assert_eq!(b.try_start("org", now), None);
        }
        let wait = b.try_start("org", now).expect("share reached");
        assert!(
            wait > Duration::from_secs(59) && wait < Duration::from_secs(61),
            "{wait:?}"
        );
        // After the reset the window starts over.
        for _ in 0..4 {
            b.finish("org", None);
        }
        assert_eq!(b.try_start("org", 1_061.0), None);
    }

    #[test]
    fn concurrency_429_headers_do_not_shrink_the_window() {
        let b = OrgBudgets::new(50);
        assert_eq!(b.try_start("org", 0.0), None);
        b.finish("org", Some(&headers(100, 90, 60)));
        assert_eq!(b.try_start("org", 1.0), None);
        b.finish("org", Some(&headers(0, 0, 61)));
        assert_eq!(
            b.try_start("org", 1.0),
            None,
            "0/0 is not a window of size 0"
        );
    }

    #[test]
    fn other_orgs_are_independent() {
        let b = OrgBudgets::new(50);
        assert_eq!(b.try_start("a", 0.0), None);
        b.finish("a", Some(&headers(2, 1, 60)));
        assert!(b.try_start("a", 1.0).is_some());
        assert_eq!(b.try_start("b", 1.0), None);
    }

    #[tokio::test]
    async fn a_permit_counts_once_whether_completed_or_dropped() {
        let b = OrgBudgets::new(100);
        let p = b.acquire("org").await;
        p.complete(&headers(2, 1, u64::MAX / 2));
        let dropped = b.acquire("org").await;
        drop(dropped);
        let w = b.windows.lock().unwrap()["org"];
        assert_eq!(w.in_flight, 0);
    }
}
