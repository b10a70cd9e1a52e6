//! Okta-style per-minute rate-limit bucket. A window opens with the first request after the
//! previous window ended and lasts 60 s (Okta's windows are not aligned to the wall clock).

/// Default window length.
pub const WINDOW_MS: u64 = 60_000;
/// The `X-Rate-Limit-Limit` reported when no limit is enforced.
pub const UNLIMITED: u32 = 1_000_000;

/// The outcome of counting one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// False: answer 429.
    pub allowed: bool,
    /// `X-Rate-Limit-Limit`.
    pub limit: u32,
    /// `X-Rate-Limit-Remaining`.
    pub remaining: u32,
    /// `X-Rate-Limit-Reset`, UTC epoch seconds.
    pub reset_epoch_s: u64,
}

impl Decision {
    /// The three `X-Rate-Limit-*` headers.
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            ("x-rate-limit-limit", self.limit.to_string()),
            ("x-rate-limit-remaining", self.remaining.to_string()),
            ("x-rate-limit-reset", self.reset_epoch_s.to_string()),
        ]
    }
}

/// One bucket.
#[derive(Debug, Clone)]
pub struct Bucket {
    per_minute: Option<u32>,
    window_ms: u64,
    window_start_ms: Option<u64>,
    count: u64,
    /// Requests received in this window after its first 429 (`None` until that 429).
    after_first_429: Option<u64>,
    /// Max of `after_first_429` over all windows so far.
    pub max_after_first_429: u64,
    /// Most requests received in any one window so far.
    pub max_per_window: u64,
}

impl Bucket {
    /// A bucket allowing `per_minute` requests a window (`None`: never limits).
    pub fn new(per_minute: Option<u32>) -> Self {
        Bucket {
            per_minute,
            window_ms: WINDOW_MS,
            window_start_ms: None,
            count: 0,
            after_first_429: None,
            max_after_first_429: 0,
            max_per_window: 0,
        }
    }

    /// The same bucket with windows of `window_ms` instead of 60 s (tests).
    pub fn with_window(mut self, window_ms: u64) -> Self {
        self.window_ms = window_ms.max(1);
        self
    }

    /// Changes the limit; the current window keeps its count.
    pub fn set_limit(&mut self, per_minute: Option<u32>) {
        self.per_minute = per_minute;
    }

    /// Counts one request arriving at `now_ms`.
    pub fn hit(&mut self, now_ms: u64) -> Decision {
        let start = match self.window_start_ms {
            Some(s) if now_ms < s + self.window_ms => s,
            _ => {
                self.window_start_ms = Some(now_ms);
                self.count = 0;
                self.after_first_429 = None;
                now_ms
            }
        };
        self.count += 1;
        self.max_per_window = self.max_per_window.max(self.count);
        let limit = self.per_minute.unwrap_or(UNLIMITED);
        let allowed = self.per_minute.is_none() || self.count <= u64::from(limit);
        if let Some(n) = self.after_first_429.as_mut() {
            *n += 1;
            self.max_after_first_429 = self.max_after_first_429.max(*n);
        } else if !allowed {
            self.after_first_429 = Some(0);
        }
        Decision {
            allowed,
            limit,
            remaining: u64::from(limit).saturating_sub(self.count) as u32,
            reset_epoch_s: (start + self.window_ms).div_ceil(1000),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_within_window_and_resets_after() {
        let mut b = Bucket::new(Some(3));
        let t0 = 1_000_000_500;
        let d: Vec<_> = (0..3).map(|i| b.hit(t0 + i * 1000)).collect();
        assert!(d.iter().all(|d| d.allowed));
        assert_eq!(
            d.iter().map(|d| d.remaining).collect::<Vec<_>>(),
            vec![2, 1, 0]
        );
        assert_eq!(d[0].reset_epoch_s, (t0 + 60_000).div_ceil(1000));
        let limited = b.hit(t0 + 5_000);
        assert!(!limited.allowed);
        assert_eq!((limited.remaining, limited.limit), (0, 3));
        assert_eq!(
            b.max_after_first_429, 0,
            "the first 429 itself is not counted"
        );
        b.hit(t0 + 6_000);
        b.hit(t0 + 7_000);
        assert_eq!(b.max_after_first_429, 2);
        // The window is not wall-clock aligned: it ends 60 s after its first request.
        assert!(!b.hit(t0 + 59_999).allowed);
        let fresh = b.hit(t0 + 60_000);
        assert!(fresh.allowed);
        assert_eq!(fresh.remaining, 2);
        assert_eq!(fresh.reset_epoch_s, (t0 + 120_000).div_ceil(1000));
        assert_eq!(b.max_after_first_429, 3);
    }

    #[test]
    fn a_shorter_window_resets_sooner() {
        let mut b = Bucket::new(Some(1)).with_window(2_000);
        let t0 = 1_000_000_500;
        assert!(b.hit(t0).allowed);
        let limited = b.hit(t0 + 1_000);
        assert!(!limited.allowed);
        assert_eq!(limited.reset_epoch_s, (t0 + 2_000).div_ceil(1000));
        assert!(b.hit(t0 + 2_000).allowed);
    }

    #[test]
    fn unlimited_reports_a_million_and_never_limits() {
        let mut b = Bucket::new(None);
        for i in 0..2000 {
            let d = b.hit(i);
            assert!(d.allowed);
            assert_eq!(d.limit, UNLIMITED);
        }
        b.set_limit(Some(10));
        assert!(
            !b.hit(2001).allowed,
            "a lowered limit applies to the running window"
        );
    }
}
