//! Rate-limit, retry and pacing decisions — pure functions of a response, the clock and the tuning.

use crate::env::header;
use crate::types::Tuning;
use okta_ingest_model::rate_limit::RateLimit;

/// Back-off is capped so one wait never exceeds a minute (Okta's windows are ~60 s).
pub const MAX_BACKOFF_MS: u64 = 60_000;
/// All waits for announced 429 resets in one tick together stay within this many `max_wait_ms`
/// (default 2 min → 10 min, under the host's default 15-min tick limit): an org whose budget stays
/// exhausted for minutes is waited out, yet a tick never sleeps unboundedly.
pub const RATE_LIMIT_BUDGET_WAITS: u64 = 5;

/// The most one tick sleeps in total waiting for 429 resets.
pub fn rate_limit_budget_ms(tuning: &Tuning) -> u64 {
    tuning.max_wait_ms.saturating_mul(RATE_LIMIT_BUDGET_WAITS)
}

/// Margin added to `X-Rate-Limit-Reset`: it has one-second resolution and clocks drift.
const RESET_MARGIN_MS: u64 = 1_000;

/// What to do with a response before looking at its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Use the response (any status but 429/5xx); then apply `pace` before the next request.
    Accept {
        /// Pacing before the next request.
        pace: Pace,
    },
    /// 429 with a usable reset (in the future): sleep `wait_ms`, then retry.
    WaitAndRetry {
        /// How long to sleep.
        wait_ms: u64,
    },
    /// 429 without a usable reset (missing, invalid or already past — e.g. clock skew), or 5xx:
    /// exponential back-off, then retry; spends a retry.
    Backoff {
        /// True for 429 (counted as rate limited), false for 5xx.
        rate_limited: bool,
    },
    /// 429 whose reset is further away than `max_wait_ms`: end the tick.
    TooLong {
        /// The wait that would have been needed.
        wait_ms: u64,
    },
}

/// Pacing after a successful response, so this instance stays within its share of the org's budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// Share not used up: go on.
    None,
    /// Share used: sleep this long before the next request.
    Sleep(u64),
    /// Share used and the reset is beyond `max_wait_ms`: stop before the next request.
    TooLong(u64),
}

/// Decide how to treat a response with `status` and `headers` received at `now_ms`.
pub fn decide(headers: &[(String, String)], status: u16, now_ms: u64, tuning: &Tuning) -> Decision {
    let limits = RateLimit::parse(|name| header(headers, name));
    let reset_wait = reset_wait_ms(&limits, now_ms);
    match status {
        429 => match reset_wait {
            // A reset already past would mean retrying at once, again and again: back off instead.
            Some(0) | None => Decision::Backoff { rate_limited: true },
            Some(w) if w <= tuning.max_wait_ms => Decision::WaitAndRetry { wait_ms: w },
            Some(w) => Decision::TooLong { wait_ms: w },
        },
        500..=599 => Decision::Backoff {
            rate_limited: false,
        },
        _ => Decision::Accept {
            pace: pace(&limits, reset_wait, tuning),
        },
    }
}

fn pace(limits: &RateLimit, reset_wait: Option<u64>, tuning: &Tuning) -> Pace {
    let (Some(limit), Some(remaining)) = (limits.limit, limits.remaining) else {
        return Pace::None;
    };
    if limit == 0 {
        return Pace::None; // no meaningful budget reported
    }
    let used = limit.saturating_sub(remaining);
    let share = u64::from(tuning.rate_limit_share_percent.clamp(1, 100));
    // used ≥ limit × share / 100, in integers.
    if used.saturating_mul(100) < limit.saturating_mul(share) {
        return Pace::None;
    }
    match reset_wait {
        Some(w) if w <= tuning.max_wait_ms => Pace::Sleep(w),
        Some(w) => Pace::TooLong(w),
        // Share used but no reset given: slow down by one back-off step rather than hammer.
        None => Pace::Sleep(tuning.retry_base_ms.min(tuning.max_wait_ms)),
    }
}

/// Milliseconds from `now_ms` until `X-Rate-Limit-Reset` (+ margin); `None` when missing or invalid.
fn reset_wait_ms(limits: &RateLimit, now_ms: u64) -> Option<u64> {
    let reset_s = limits.reset_s?;
    let reset_ms = reset_s.checked_mul(1000)?.checked_add(RESET_MARGIN_MS)?;
    Some(reset_ms.saturating_sub(now_ms))
}

/// Back-off before retry number `attempt` (0-based): `retry_base_ms × 2^attempt`, capped.
pub fn backoff_ms(tuning: &Tuning, attempt: u32) -> u64 {
    let factor = 1u64.checked_shl(attempt.min(32)).unwrap_or(u64::MAX);
    tuning
        .retry_base_ms
        .saturating_mul(factor)
        .min(MAX_BACKOFF_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hs(l: Option<&str>, r: Option<&str>, reset: Option<&str>) -> Vec<(String, String)> {
        let mut v = Vec::new();
        for (n, x) in [
            ("x-rate-limit-limit", l),
            ("x-rate-limit-remaining", r),
            ("x-rate-limit-reset", reset),
        ] {
            if let Some(x) = x {
                v.push((n.to_string(), x.to_string()));
            }
        }
        v
    }

    const NOW: u64 = 1_800_000_000_000;

    /// The settings these cases were written for: 65 s longest wait, 500 ms first back-off.
    fn test_tuning() -> Tuning {
        Tuning {
            max_wait_ms: 65_000,
            retry_base_ms: 500,
            request_timeout_ms: 30_000,
            ..Tuning::default()
        }
    }

    #[test]
    fn status_429() {
        let t = test_tuning();
        assert_eq!(
            decide(&hs(None, None, Some("1800000010")), 429, NOW, &t),
            Decision::WaitAndRetry { wait_ms: 11_000 }
        );
        // A reset already past (clock skew, stale header): back off rather than retry at once.
        assert_eq!(
            decide(&hs(None, None, Some("1799999990")), 429, NOW, &t),
            Decision::Backoff { rate_limited: true }
        );
        // A concurrency 429 reports 0/0 and an estimated reset: wait for it.
        assert_eq!(
            decide(&hs(Some("0"), Some("0"), Some("1800000002")), 429, NOW, &t),
            Decision::WaitAndRetry { wait_ms: 3_000 }
        );
        assert_eq!(
            decide(&hs(None, None, Some("1800000100")), 429, NOW, &t),
            Decision::TooLong { wait_ms: 101_000 }
        );
        assert_eq!(
            decide(&hs(None, None, Some("soon")), 429, NOW, &t),
            Decision::Backoff { rate_limited: true }
        );
        assert_eq!(
            decide(&hs(None, None, Some("99999999999999999999")), 429, NOW, &t),
            Decision::Backoff { rate_limited: true }
        );
        assert_eq!(
            decide(&[], 429, NOW, &t),
            Decision::Backoff { rate_limited: true }
        );
    }

    #[test]
    fn status_5xx_and_others() {
        let t = test_tuning();
        assert_eq!(
            decide(&[], 503, NOW, &t),
            Decision::Backoff {
                rate_limited: false
            }
        );
        assert_eq!(
            decide(&[], 200, NOW, &t),
            Decision::Accept { pace: Pace::None }
        );
        assert_eq!(
            decide(&[], 401, NOW, &t),
            Decision::Accept { pace: Pace::None }
        );
    }

    #[test]
    fn pacing_by_share() {
        let t = Tuning {
            rate_limit_share_percent: 50,
            ..test_tuning()
        };
        let reset = Some("1800000020");
        // 59 of 120 used: under the 60 share.
        assert_eq!(
            decide(&hs(Some("120"), Some("61"), reset), 200, NOW, &t),
            Decision::Accept { pace: Pace::None }
        );
        // 60 used: share reached.
        assert_eq!(
            decide(&hs(Some("120"), Some("60"), reset), 200, NOW, &t),
            Decision::Accept {
                pace: Pace::Sleep(21_000)
            }
        );
        let far = Some("1800000999");
        assert!(matches!(
            decide(&hs(Some("120"), Some("0"), far), 200, NOW, &t),
            Decision::Accept {
                pace: Pace::TooLong(_)
            }
        ));
        // Missing or odd headers: no pacing, no panic.
        assert_eq!(
            decide(&hs(Some("120"), None, reset), 200, NOW, &t),
            Decision::Accept { pace: Pace::None }
        );
        assert_eq!(
            decide(&hs(Some("0"), Some("0"), reset), 200, NOW, &t),
            Decision::Accept { pace: Pace::None }
        );
        assert_eq!(
            decide(&hs(Some("x"), Some("0"), reset), 200, NOW, &t),
            Decision::Accept { pace: Pace::None }
        );
        assert_eq!(
            decide(&hs(Some("10"), Some("50"), reset), 200, NOW, &t),
            Decision::Accept { pace: Pace::None }
        );
        // Share used, reset missing: a small back-off step.
        assert_eq!(
            decide(&hs(Some("10"), Some("0"), None), 200, NOW, &t),
            Decision::Accept {
                pace: Pace::Sleep(500)
            }
        );
        // 100% share: pace only when nothing remains.
        let full = Tuning {
            rate_limit_share_percent: 100,
            ..t
        };
        assert_eq!(
            decide(&hs(Some("120"), Some("1"), reset), 200, NOW, &full),
            Decision::Accept { pace: Pace::None }
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let t = Tuning {
            retry_base_ms: 500,
            ..test_tuning()
        };
        assert_eq!(backoff_ms(&t, 0), 500);
        assert_eq!(backoff_ms(&t, 3), 4_000);
        assert_eq!(backoff_ms(&t, 20), MAX_BACKOFF_MS);
        assert_eq!(backoff_ms(&t, u32::MAX), MAX_BACKOFF_MS);
    }
}
