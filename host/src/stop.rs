//! [`StopSignal`]: how a run asks the ticks it started to end now. A tick that sees it drops the
//! connector call at its next await point (a request in flight, a rate-limit wait, a back-off), waits
//! for the page commit already started (milliseconds), and ends as [`TickOutcome::Stopped`]
//! (crate::TickOutcome::Stopped). Both fates of the page in flight are safe: a committed page moved the
//! cursor with it; a dropped one was never committed, so the next start fetches it again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// A one-way, cloneable "stop now" flag with a future to wait on.
#[derive(Debug, Clone, Default)]
pub(crate) struct StopSignal {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    requested: AtomicBool,
    notify: Notify,
}

impl StopSignal {
    /// Asks everything holding this signal to stop; idempotent.
    pub(crate) fn request(&self) {
        self.inner.requested.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    /// True once a stop was requested.
    pub(crate) fn is_requested(&self) -> bool {
        self.inner.requested.load(Ordering::SeqCst)
    }

    /// Resolves once a stop is requested (at once if it already was).
    pub(crate) async fn requested(&self) {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            // Registered before the check, so a request between the two is not missed.
            notified.as_mut().enable();
            if self.is_requested() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_request_wakes_every_waiter_and_later_waiters_return_at_once() {
        let stop = StopSignal::default();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let s = stop.clone();
                tokio::spawn(async move { s.requested().await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!stop.is_requested());
        stop.request();
        for w in waiters {
            tokio::time::timeout(Duration::from_secs(5), w)
                .await
                .expect("woken")
                .unwrap();
        }
        tokio::time::timeout(Duration::from_millis(100), stop.requested())
            .await
            .expect("already requested");
    }
}
