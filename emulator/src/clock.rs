//! The emulator's own clock: real time plus an offset that tests move with
//! [`crate::Emulator::shift_clock`], so a day of nonce rotation or an hour of token lifetime
//! passes in a millisecond. Only what Okta decides by its clock reads it (DPoP `iat`/`exp`, nonce
//! rotation and expiry, the client assertion's `iat`/`exp`, access-token expiry); rate-limit
//! windows and event generation stay on real time, so shifting never floods or empties a bucket.

use std::sync::atomic::{AtomicI64, Ordering};

use okta_ingest_model::time::now_ms;

/// Real time plus a cumulative offset.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    /// Emulator time, epoch ms (never before the epoch, whatever the offset).
    pub fn now_ms(&self) -> u64 {
        let real = i64::try_from(now_ms()).unwrap_or(i64::MAX);
        let shifted = real.saturating_add(self.offset_ms.load(Ordering::Relaxed));
        u64::try_from(shifted).unwrap_or(0)
    }

    /// Moves the clock by `by_ms` (negative: back), on top of earlier shifts.
    pub fn shift(&self, by_ms: i64) {
        // fetch_update rather than fetch_add: saturate instead of wrapping on absurd offsets.
        let _ = self
            .offset_ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |o| {
                Some(o.saturating_add(by_ms))
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_add_up_and_never_go_before_the_epoch() {
        let c = Clock::default();
        let real = now_ms();
        c.shift(86_400_000);
        c.shift(3_600_000);
        let t = c.now_ms();
        assert!(
            t >= real + 90_000_000 && t < real + 90_060_000,
            "{t} vs {real}"
        );
        c.shift(i64::MIN);
        assert_eq!(c.now_ms(), 0);
    }
}
