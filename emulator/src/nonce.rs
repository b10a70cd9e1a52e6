//! DPoP nonces (RFC 9449 §8 for the authorization server, §9 for a resource server), with Okta's
//! documented lifetimes: "renews the value every 24 hours. The old `dpop-nonce` value continues to
//! work for three days after generation" (DPOP.md §1.3). One value per server for the whole org:
//! whether Okta scopes it per client is undocumented, and an org-wide value is the stricter
//! assumption for a client that caches it.

use crate::okta;

/// A new current nonce is issued this long after the previous one.
pub const ROTATE_MS: u64 = 24 * 3_600_000;
/// A nonce is accepted this long after it was issued.
pub const ACCEPT_MS: u64 = 72 * 3_600_000;

/// The nonces one server has issued and still accepts.
#[derive(Debug, Default)]
pub struct Nonces {
    /// `(value, issued at)` in emulator ms, oldest first; the last one is current.
    issued: Vec<(String, u64)>,
}

impl Nonces {
    /// The value to hand out now, issuing a fresh one when none exists or the current one is
    /// 24 h old. Issued lazily, so a clock shifted by days rotates once, not once per day skipped
    /// (the skipped values were never seen by anybody).
    pub fn current(&mut self, now: u64) -> String {
        self.prune(now);
        let stale = self
            .issued
            .last()
            .is_none_or(|(_, at)| now.saturating_sub(*at) >= ROTATE_MS);
        if stale {
            // 32 base64url characters, like Okta's `8NLZUUhVawx1ns8AjrC4F6j8D2phvaw7`.
            self.issued.push((okta::random_token(24), now));
        }
        self.issued
            .last()
            .map(|(n, _)| n.clone())
            .unwrap_or_default()
    }

    /// Whether `nonce` was issued by this server within the last 72 h.
    pub fn accepts(&mut self, nonce: &str, now: u64) -> bool {
        self.prune(now);
        self.issued.iter().any(|(n, _)| n == nonce)
    }

    /// Forgets values past their 72 h (a clock shifted back keeps everything: age saturates at 0).
    fn prune(&mut self, now: u64) {
        self.issued
            .retain(|(_, at)| now.saturating_sub(*at) < ACCEPT_MS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3_600_000;

    #[test]
    fn rotates_daily_and_accepts_each_value_for_three_days() {
        let mut n = Nonces::default();
        let t0 = 1_700_000_000_000;
        let first = n.current(t0);
        assert_eq!(first.len(), 32);
        assert_eq!(n.current(t0 + 23 * H), first, "stable within a day");
        let second = n.current(t0 + 24 * H);
        assert_ne!(second, first, "rotated after 24 h");
        assert!(n.accepts(&first, t0 + 71 * H), "old value still works");
        assert!(!n.accepts(&first, t0 + 72 * H), "but not after 72 h");
        assert!(n.accepts(&second, t0 + 72 * H));
        assert!(!n.accepts("made-up", t0));
        // A jump of a week issues one new value, and nothing older survives.
        let later = n.current(t0 + 7 * 24 * H);
        assert!(n.accepts(&later, t0 + 7 * 24 * H));
        assert!(!n.accepts(&second, t0 + 7 * 24 * H));
        assert_eq!(n.issued.len(), 1);
    }
}
