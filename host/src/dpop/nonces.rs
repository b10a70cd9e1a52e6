//! The token endpoints' DPoP nonces, one per Okta domain: every instance of an org shares it, and it is
//! written through to the state so that a restarted host sends it at once instead of being challenged.

use crate::state::StateBackend;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A kept nonce and when it was received (Unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeptNonce {
    pub(crate) value: String,
    pub(crate) received_ms: u64,
}

/// Nonces by domain, in memory over the state.
pub(crate) struct Nonces {
    state: Arc<dyn StateBackend>,
    /// `None` for a domain whose state row was read and was absent.
    cache: Mutex<HashMap<String, Option<KeptNonce>>>,
}

impl Nonces {
    pub(crate) fn new(state: Arc<dyn StateBackend>) -> Nonces {
        Nonces {
            state,
            cache: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<KeptNonce>>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The nonce kept for `domain` (read from the state once per process).
    pub(crate) async fn get(&self, domain: &str) -> Option<KeptNonce> {
        if let Some(known) = self.lock().get(domain) {
            return known.clone();
        }
        let stored = match self.state.dpop_nonce(domain).await {
            Ok(n) => n.map(|(value, at)| KeptNonce {
                value,
                received_ms: u64::try_from(at).unwrap_or(0),
            }),
            Err(e) => {
                // Only costs a challenge round trip; not worth failing a tick for.
                tracing::debug!(%domain, "could not read the kept DPoP nonce: {e}");
                None
            }
        };
        self.lock()
            .entry(domain.to_string())
            .or_insert(stored)
            .clone()
    }

    /// Keeps `value` as `domain`'s nonce, now.
    pub(crate) async fn keep(&self, domain: &str, value: &str) {
        let received_ms = okta_ingest_model::time::now_ms();
        let changed = {
            let mut cache = self.lock();
            let slot = cache.entry(domain.to_string()).or_insert(None);
            // The same value again keeps its first time: its age is what tells when Okta retires it.
            let changed = slot.as_ref().is_none_or(|k| k.value != value);
            if changed {
                *slot = Some(KeptNonce {
                    value: value.to_string(),
                    received_ms,
                });
            }
            changed
        };
        if changed {
            let at = i64::try_from(received_ms).unwrap_or(i64::MAX);
            if let Err(e) = self.state.keep_dpop_nonce(domain, value, at).await {
                tracing::debug!(%domain, "could not store the DPoP nonce: {e}");
            }
        }
    }
}
