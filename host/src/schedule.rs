//! The schedule: every instance ticks every `interval` (±10% jitter so a fleet does not hit Okta in
//! lock-step). One timer loop over a heap of due times drives all instances; at most `concurrency` ticks
//! run at once, so 10,000 configured instances are 10,000 heap entries, not 10,000 tasks or stores.
//! Instances added or removed while running are picked up within `RESCAN`.

use crate::ingest::{Host, HostError};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

const RESCAN: Duration = Duration::from_secs(10);

/// Drives ticks on a schedule.
pub struct Scheduler {
    interval: Duration,
    concurrency: usize,
}

/// A fraction of `interval` between -10% and +10%.
fn jittered(interval: Duration) -> Duration {
    let f = 0.9 + rand::random::<f64>() * 0.2;
    interval.mul_f64(f)
}

impl Scheduler {
    /// A scheduler ticking each instance every `interval`.
    pub fn new(interval: Duration, concurrency: usize) -> Scheduler {
        Scheduler {
            interval,
            concurrency: concurrency.max(1),
        }
    }

    /// Runs until `shutdown` resolves, then waits for in-flight ticks.
    pub async fn run(
        &self,
        host: Arc<Host>,
        wake_delivery: impl Fn() + Send + Sync + Clone + 'static,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), HostError> {
        let mut due: BinaryHeap<Reverse<(Instant, i64)>> = BinaryHeap::new();
        let mut known: HashSet<i64> = HashSet::new();
        let mut in_flight: HashSet<i64> = HashSet::new();
        let mut tasks = tokio::task::JoinSet::new();
        let mut next_scan = Instant::now();
        tokio::pin!(shutdown);
        let result: Result<(), HostError> = 'sched: loop {
            host.metrics().heartbeat();
            let now = Instant::now();
            if now >= next_scan {
                let ids: HashSet<i64> = match host.list_instances() {
                    Ok(list) => list.into_iter().map(|r| r.id).collect(),
                    Err(e) => break 'sched Err(e),
                };
                for id in ids.difference(&known) {
                    due.push(Reverse((now, *id)));
                }
                known = ids;
                next_scan = now + RESCAN;
            }
            while tasks.len() < self.concurrency {
                let Some(Reverse((at, id))) = due.peek().copied() else {
                    break;
                };
                if at > now {
                    break;
                }
                due.pop();
                if !known.contains(&id) || in_flight.contains(&id) {
                    continue;
                }
                // One indexed lookup (not a scan of every instance): picks up edits since the last tick.
                let rec = match host.instance_by_id(id) {
                    Ok(Some(rec)) => rec,
                    Ok(None) => continue,
                    Err(e) => break 'sched Err(e),
                };
                in_flight.insert(id);
                let host = host.clone();
                let wake = wake_delivery.clone();
                tasks.spawn(async move {
                    let result = host.tick(&rec).await;
                    wake();
                    let more = match &result {
                        Ok((report, _)) => {
                            // `Host::tick` logs successful ticks (with the connector version).
                            if let Some(e) = &report.error {
                                tracing::warn!(instance = %rec.name, "tick ended early: {}", e.message);
                            }
                            report.error.is_none() && !report.caught_up
                        }
                        Err(e) => {
                            tracing::error!(instance = %rec.name, "tick failed: {e}");
                            false
                        }
                    };
                    (id, more)
                });
            }
            let next_due = due
                .peek()
                .map(|Reverse((at, _))| *at)
                .unwrap_or(next_scan)
                .min(next_scan);
            tokio::select! {
                _ = &mut shutdown => break Ok(()),
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Ok((id, more)) = done {
                        in_flight.remove(&id);
                        let at = if more { Instant::now() } else { Instant::now() + jittered(self.interval) };
                        due.push(Reverse((at, id)));
                    }
                }
                _ = tokio::time::sleep_until(next_due) => {}
            }
        };
        tracing::info!(
            in_flight = tasks.len(),
            "shutting down: waiting for ticks in flight"
        );
        while tasks.join_next().await.is_some() {}
        host.flush_status();
        host.metrics().scheduler_stopped();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..1000 {
            let d = jittered(Duration::from_secs(300));
            assert!(
                d >= Duration::from_secs(270) && d <= Duration::from_secs(330),
                "{d:?}"
            );
        }
    }
}
