//! Single use of DPoP proof `jti`s across both endpoints (RFC 9449 §11.1). Okta consumes a proof's
//! `jti` as soon as it sees the request, even when the answer is a 429 or a nonce challenge
//! (DPOP.md §2.2), so the endpoints record it before anything else and ask here whether it had
//! been seen.

use std::collections::HashMap;

/// A proof passes the `iat` check for 5 minutes after its `iat`; remember its `jti` that long.
const REMEMBER_MS: u64 = 300_000;
/// A proof dated further ahead than this is refused as "issued in the future" whatever the skew
/// setting sensibly is; capping the date bounds how long a forged far-future `iat` is remembered.
const MAX_FUTURE_MS: u64 = 3_600_000;
/// Expired entries are swept at most this often (emulator time), not on every request.
const PRUNE_EVERY_MS: u64 = 10_000;

/// Seen proof `jti`s and until when (emulator ms) each must stay remembered.
#[derive(Debug, Default)]
pub struct SeenJtis {
    until: HashMap<String, u64>,
    next_prune_ms: u64,
}

impl SeenJtis {
    /// Records `jti` of a proof dated `iat_s` (if it has a usable one) seen at `now`; true when it
    /// had been seen before and is still remembered. It is remembered until 5 minutes past the
    /// later of its `iat` and now: at least as long as a proof carrying it could pass the `iat`
    /// check. Memory is bounded by the
    /// request rate times 5 minutes (plus the proof's future dating, at most an hour).
    pub fn record(&mut self, jti: &str, iat_s: Option<i64>, now: u64) -> bool {
        // A clock shifted back by more than a sweep interval would otherwise postpone sweeping.
        if now >= self.next_prune_ms || now + PRUNE_EVERY_MS < self.next_prune_ms {
            self.until.retain(|_, until| *until > now);
            self.next_prune_ms = now + PRUNE_EVERY_MS;
        }
        let dated = iat_s
            .and_then(|s| u64::try_from(s).ok())
            .map_or(now, |s| s.saturating_mul(1000))
            .clamp(now, now + MAX_FUTURE_MS);
        let until = dated + REMEMBER_MS;
        let seen = self.until.get(jti).is_some_and(|u| *u > now);
        let kept = self.until.entry(jti.to_string()).or_insert(until);
        *kept = (*kept).max(until);
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jti_is_refused_while_its_proof_could_pass_and_forgotten_after() {
        let mut s = SeenJtis::default();
        let t0 = 1_700_000_000_000;
        let iat = Some((t0 / 1000) as i64);
        assert!(!s.record("a", iat, t0));
        assert!(s.record("a", iat, t0 + 1), "replay");
        assert!(
            s.record("a", iat, t0 + 299_000),
            "still within 5 min of its iat"
        );
        assert!(!s.record("b", None, t0));
        // Six minutes on, the sweep drops "b" (a proof that old fails on iat anyway); "a", seen
        // again at 299 s, is kept five minutes from then.
        assert!(!s.record("c", None, t0 + 360_000));
        assert_eq!(s.until.len(), 2);
        assert!(s.record("a", iat, t0 + 598_000));
        assert!(!s.record("b", None, t0 + 598_000));
        // A proof dated ahead is remembered until five minutes past its own iat.
        let ahead = Some((t0 / 1000) as i64 + 60);
        assert!(!s.record("d", ahead, t0));
        assert!(s.record("d", None, t0 + 350_000));
    }
}
