//! The schedule: every member of a [`Fleet`] ticks every `interval` (±10% jitter so a fleet does not hit
//! Okta in lock-step). One timer loop over a heap of due times drives all of them; at most
//! `concurrency` ticks run at once, so 10,000 configured instances are 10,000 heap entries, not 10,000
//! tasks. Members added or removed while running are picked up within [`RESCAN`]. Generic over what it
//! schedules, so it is tested here with a fake fleet on paused time.

use crate::error::HostError;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How often the member list is read again.
pub(crate) const RESCAN: Duration = Duration::from_secs(10);

/// What a finished tick asks of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Tick again at once (it stopped at its page limit).
    Now,
    /// Tick again after the interval.
    Later,
    /// It no longer exists.
    Gone,
}

/// What the scheduler drives.
pub(crate) trait Fleet: Send + Sync + 'static {
    /// The ids of every member, now.
    fn ids(&self) -> impl Future<Output = Result<HashSet<i64>, HostError>> + Send;
    /// Runs one tick of `id`.
    fn tick(&self, id: i64) -> impl Future<Output = Next> + Send;
    /// Called once when the schedule stops: ticks in flight should end now (between commits).
    fn stop(&self) {}
    /// Called on every turn of the loop (a liveness heartbeat).
    fn heartbeat(&self) {}
    /// How often the member list is read again.
    fn rescan_every(&self) -> Duration {
        RESCAN
    }
}

/// A fraction of `interval` between -10% and +10%.
fn jittered(interval: Duration) -> Duration {
    let f = 0.9 + rand::random::<f64>() * 0.2;
    interval.mul_f64(f)
}

/// Drives ticks on a schedule.
pub(crate) struct Scheduler {
    interval: Duration,
    concurrency: usize,
}

impl Scheduler {
    /// A scheduler ticking each member every `interval`, at most `concurrency` at once.
    pub(crate) fn new(interval: Duration, concurrency: usize) -> Scheduler {
        Scheduler {
            interval,
            concurrency: concurrency.max(1),
        }
    }

    /// Runs until `shutdown` resolves, then asks the ticks in flight to stop ([`Fleet::stop`]) and waits
    /// for them. A member list that cannot be read is tried again at the next scan.
    pub(crate) async fn run<F: Fleet>(
        &self,
        fleet: Arc<F>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), HostError> {
        let mut due: BinaryHeap<Reverse<(Instant, i64)>> = BinaryHeap::new();
        let mut known: HashSet<i64> = HashSet::new();
        let mut in_flight: HashSet<i64> = HashSet::new();
        let mut tasks = tokio::task::JoinSet::new();
        let mut next_scan = Instant::now();
        let mut scan_failing = false;
        tokio::pin!(shutdown);
        let result: Result<(), HostError> = loop {
            fleet.heartbeat();
            let now = Instant::now();
            if now >= next_scan {
                match fleet.ids().await {
                    Ok(ids) => {
                        for id in ids.difference(&known) {
                            due.push(Reverse((now, *id)));
                        }
                        known = ids;
                        scan_failing = false;
                    }
                    // The state is unreachable (a fleet's database away): what is known keeps its
                    // schedule, and the next scan tries again; the ticks themselves fail or wait.
                    Err(e) => {
                        if !scan_failing {
                            tracing::error!(
                                "cannot read the instances: {e}; trying again in {}s",
                                fleet.rescan_every().as_secs_f64()
                            );
                        }
                        scan_failing = true;
                    }
                }
                next_scan = now + fleet.rescan_every();
            }
            while tasks.len() < self.concurrency {
                let Some(Reverse((at, id))) = due.peek().copied() else {
                    break;
                };
                if at > now {
                    break;
                }
                due.pop();
                if !known.contains(&id) || !in_flight.insert(id) {
                    // Removed, or already ticking (it is pushed again when that tick ends).
                    continue;
                }
                let fleet = fleet.clone();
                tasks.spawn(async move { (id, fleet.tick(id).await) });
            }
            // With every slot busy, what is due waits for a tick to end: waking for it would spin.
            let next_due = match due.peek() {
                Some(Reverse((at, _))) if tasks.len() < self.concurrency => (*at).min(next_scan),
                _ => next_scan,
            };
            tokio::select! {
                _ = &mut shutdown => break Ok(()),
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Ok((id, next)) = done {
                        in_flight.remove(&id);
                        match next {
                            Next::Now => due.push(Reverse((Instant::now(), id))),
                            Next::Later => due.push(Reverse((Instant::now() + jittered(self.interval), id))),
                            Next::Gone => {}
                        }
                    }
                }
                _ = tokio::time::sleep_until(next_due) => {}
            }
        };
        fleet.stop();
        tracing::debug!(in_flight = tasks.len(), "stopping the ticks in flight");
        while tasks.join_next().await.is_some() {}
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// Members whose ticks take `tick_time`, some asking for more a few times.
    #[derive(Default)]
    struct FakeFleet {
        ids: Mutex<HashSet<i64>>,
        tick_time: Duration,
        /// How many more immediate ticks a member asks for.
        more: Mutex<HashMap<i64, u32>>,
        ticks: Mutex<Vec<(i64, Instant)>>,
        running: Mutex<HashSet<i64>>,
        most_at_once: Mutex<usize>,
        overlapped: Mutex<bool>,
        /// When set, a tick ends as soon as the fleet is stopped (like the host's ticks).
        stoppable: bool,
        stop: crate::stop::StopSignal,
        stopped_early: Mutex<u32>,
    }

    impl FakeFleet {
        fn with(ids: &[i64], tick_time: Duration) -> Arc<FakeFleet> {
            Arc::new(FakeFleet {
                ids: Mutex::new(ids.iter().copied().collect()),
                tick_time,
                ..FakeFleet::default()
            })
        }
        fn ticks_of(&self, id: i64) -> Vec<Instant> {
            let ticks = self.ticks.lock().unwrap();
            ticks
                .iter()
                .filter(|(i, _)| *i == id)
                .map(|(_, t)| *t)
                .collect()
        }
    }

    impl Fleet for FakeFleet {
        async fn ids(&self) -> Result<HashSet<i64>, HostError> {
            Ok(self.ids.lock().unwrap().clone())
        }
        async fn tick(&self, id: i64) -> Next {
            {
                let mut running = self.running.lock().unwrap();
                if !running.insert(id) {
                    *self.overlapped.lock().unwrap() = true;
                }
                let mut most = self.most_at_once.lock().unwrap();
                *most = (*most).max(running.len());
            }
            self.ticks.lock().unwrap().push((id, Instant::now()));
            if self.stoppable {
                tokio::select! {
                    _ = tokio::time::sleep(self.tick_time) => {}
                    _ = self.stop.requested() => *self.stopped_early.lock().unwrap() += 1,
                }
            } else {
                tokio::time::sleep(self.tick_time).await;
            }
            self.running.lock().unwrap().remove(&id);
            if !self.ids.lock().unwrap().contains(&id) {
                return Next::Gone;
            }
            let mut more = self.more.lock().unwrap();
            match more.get_mut(&id) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    Next::Now
                }
                _ => Next::Later,
            }
        }
        fn stop(&self) {
            self.stop.request();
        }
    }

    const INTERVAL: Duration = Duration::from_secs(300);

    /// Runs the scheduler on `fleet` for `for_how_long` of (paused) time.
    async fn run_for(fleet: Arc<FakeFleet>, concurrency: usize, for_how_long: Duration) {
        Scheduler::new(INTERVAL, concurrency)
            .run(fleet, tokio::time::sleep(for_how_long))
            .await
            .unwrap();
    }

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

    #[tokio::test(start_paused = true)]
    async fn every_member_ticks_at_once_then_every_interval() {
        let start = Instant::now();
        let fleet = FakeFleet::with(&[1, 2, 3], Duration::from_millis(10));
        run_for(fleet.clone(), 8, Duration::from_secs(1000)).await;
        for id in [1, 2, 3] {
            let t = fleet.ticks_of(id);
            assert_eq!(t.len(), 4, "at 0 and about every 300 s until 1000 s: {t:?}");
            assert_eq!(t[0], start);
            for w in t.windows(2) {
                let gap = w[1] - w[0];
                assert!(
                    gap >= Duration::from_secs(270) && gap <= Duration::from_secs(331),
                    "{gap:?}"
                );
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_member_with_more_to_fetch_ticks_again_at_once() {
        let fleet = FakeFleet::with(&[1], Duration::from_millis(10));
        fleet.more.lock().unwrap().insert(1, 3);
        run_for(fleet.clone(), 8, Duration::from_secs(100)).await;
        let t = fleet.ticks_of(1);
        assert_eq!(t.len(), 4, "one tick plus three immediate ones: {t:?}");
        assert!(t[3] - t[0] < Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn no_more_than_the_concurrency_run_at_once_and_a_member_never_overlaps_itself() {
        let ids: Vec<i64> = (1..=10).collect();
        // Ticks as long as the interval: a member's next tick is due before its last one ends.
        let fleet = FakeFleet::with(&ids, INTERVAL);
        for id in &ids {
            fleet.more.lock().unwrap().insert(*id, 1_000);
        }
        run_for(fleet.clone(), 3, Duration::from_secs(3600)).await;
        assert_eq!(*fleet.most_at_once.lock().unwrap(), 3);
        assert!(!*fleet.overlapped.lock().unwrap());
        assert!(
            ids.iter().all(|id| !fleet.ticks_of(*id).is_empty()),
            "none starves"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn members_added_or_removed_while_running_are_picked_up_within_the_rescan() {
        let fleet = FakeFleet::with(&[1, 2], Duration::from_millis(10));
        let start = Instant::now();
        let scheduler = {
            let fleet = fleet.clone();
            tokio::spawn(run_for(fleet, 8, Duration::from_secs(700)))
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        fleet.ids.lock().unwrap().insert(3);
        fleet.ids.lock().unwrap().remove(&2);
        scheduler.await.unwrap();
        let added = fleet.ticks_of(3);
        assert!(!added.is_empty() && added[0] - start <= RESCAN, "{added:?}");
        assert_eq!(
            fleet.ticks_of(2).len(),
            1,
            "a removed member is not ticked again"
        );
        assert!(fleet.ticks_of(1).len() >= 3);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_waits_for_the_ticks_in_flight() {
        let fleet = FakeFleet::with(&[1], Duration::from_secs(30));
        let start = Instant::now();
        run_for(fleet.clone(), 8, Duration::from_secs(1)).await;
        assert!(
            Instant::now() - start >= Duration::from_secs(30),
            "the tick finished"
        );
        assert!(fleet.running.lock().unwrap().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_stops_the_ticks_in_flight_at_once() {
        let fleet = Arc::new(FakeFleet {
            ids: Mutex::new([1, 2].into_iter().collect()),
            tick_time: Duration::from_secs(600),
            stoppable: true,
            ..FakeFleet::default()
        });
        let start = Instant::now();
        run_for(fleet.clone(), 8, Duration::from_secs(1)).await;
        assert_eq!(
            Instant::now() - start,
            Duration::from_secs(1),
            "returned when the shutdown came, not after the 600 s ticks"
        );
        assert_eq!(*fleet.stopped_early.lock().unwrap(), 2);
        assert!(fleet.running.lock().unwrap().is_empty());
    }
}
