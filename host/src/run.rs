//! Running instances: [`catch_up`] one instance, [`run_once`] (every instance to caught-up while a
//! delivery thread drains the outbox alongside), and [`run`] (the schedule until shutdown).

use crate::delivery::{DeliveryWorker, Sink};
use crate::error::HostError;
use crate::schedule::{Fleet, Next, Scheduler};
use crate::services::Services;
use crate::state::Instance;
use crate::stop::StopSignal;
use crate::tick::{FailureCause, TickOutcome};
use okta_ingest_model::CategoryCounts;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What happened to one instance in a run.
#[derive(Debug, Clone, Default)]
pub struct InstanceRun {
    /// The instance's name.
    pub name: String,
    /// Ticks run until it caught up or failed (more than one when it stopped at the page limit).
    pub ticks: u32,
    /// System Log pages fetched.
    pub pages: u64,
    /// Events committed (queued for delivery).
    pub events: u64,
    /// Events committed per category (an event in two categories counts in both).
    pub per_category: CategoryCounts,
    /// Events dropped as duplicates.
    pub duplicates: u64,
    /// 429s and rate-limit waits.
    pub rate_limited: u64,
    /// Why it stopped before catching up, if it did.
    pub error: Option<String>,
    /// True when the run was stopped (a shutdown) before it caught up; not a failure.
    pub stopped: bool,
}

/// The result of a catch-up run ([`Host::run_once`](crate::Host::run_once)).
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    /// What each instance did, in name order.
    pub instances: Vec<InstanceRun>,
    /// Events handed to the sink.
    pub delivered: u64,
    /// Events still queued (the sink failed).
    pub queued: i64,
    /// Why delivery stopped with events queued, if it did.
    pub sink_error: Option<String>,
    /// Wall time of the whole run, delivery included.
    pub elapsed: Duration,
}

impl RunSummary {
    /// True when every instance caught up and every event reached the sink.
    pub fn ok(&self) -> bool {
        self.sink_error.is_none()
            && self
                .instances
                .iter()
                .all(|i| i.error.is_none() && !i.stopped)
    }

    /// True when a shutdown ended the run before every instance caught up.
    pub fn stopped(&self) -> bool {
        self.instances.iter().any(|i| i.stopped)
    }
}

/// Ticks one instance until it is caught up or fails.
pub(crate) async fn catch_up(
    services: &Services,
    instance: &Instance,
    stop: &StopSignal,
) -> InstanceRun {
    let mut run = InstanceRun {
        name: instance.name.clone(),
        ..Default::default()
    };
    loop {
        if stop.is_requested() {
            run.stopped = true;
            return run;
        }
        run.ticks += 1;
        let report = match services.ticker.tick(instance, stop).await {
            Ok(r) => r,
            Err(e) => {
                run.error = Some(e.to_string());
                return run;
            }
        };
        run.pages += report.pages_fetched;
        run.events += report.committed.events;
        run.per_category.merge(&report.committed.per_category);
        run.duplicates += report.duplicates;
        run.rate_limited += report.rate_limited;
        match report.outcome {
            TickOutcome::More => {}
            TickOutcome::CaughtUp => return run,
            TickOutcome::Stopped => {
                run.stopped = true;
                return run;
            }
            TickOutcome::Failed(f) => {
                run.error = Some(f.message);
                return run;
            }
        }
    }
}

/// Every instance ticks until caught up, while a delivery thread feeds `sink` from the outbox. When
/// `shutdown` resolves first, the ticks in flight end between commits and delivery stops after the batch
/// in flight (within [`STOP_GRACE`](crate::delivery::STOP_GRACE)).
pub(crate) async fn run_once(
    services: &Services,
    sink: Box<dyn Sink>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<RunSummary, HostError> {
    let started = Instant::now();
    services.claim_runner().await?;
    let instances: Vec<_> = services
        .state
        .list_instances()
        .await?
        .into_iter()
        // In a fleet, the instances of the shards this host holds; the others are another host's.
        .filter(|i| !i.paused && services.state.holds(i))
        .collect();
    if !instances.is_empty() {
        // Compile before starting anything, so a broken component fails the run at once.
        services.versions.default_runtime().await?;
    }
    let delivery = DeliveryWorker::start(
        services.state.delivery().await?,
        sink,
        services.metrics.sink_counters(),
    )?;
    let stop = StopSignal::default();
    let work = async {
        let sem = tokio::sync::Semaphore::new(services.config.concurrency.max(1));
        let wake = delivery.waker();
        let runs = futures::future::join_all(instances.iter().map(|instance| {
            let (sem, wake, stop) = (&sem, &wake, &stop);
            async move {
                let _permit = sem.acquire().await;
                let r = catch_up(services, instance, stop).await;
                wake();
                r
            }
        }))
        .await;
        services.ticker.recorder.flush().await;
        let outcome = delivery.finish(&stop).await;
        services.state.leave().await;
        (runs, outcome)
    };
    let (runs, outcome) = until_done(work, shutdown, &stop).await;
    Ok(RunSummary {
        instances: runs,
        delivered: outcome.delivered,
        queued: services.state.outbox_depth().await?,
        sink_error: outcome.error,
        elapsed: started.elapsed(),
    })
}

/// Runs on the schedule (every `interval`, ±10% jitter) until `shutdown` resolves; ticks in flight
/// finish, then the outbox is drained one last time.
pub(crate) async fn run(
    services: Arc<Services>,
    sink: Box<dyn Sink>,
    interval: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), HostError> {
    services.claim_runner().await?;
    services.versions.default_runtime().await?;
    let delivery = DeliveryWorker::start(
        services.state.delivery().await?,
        sink,
        services.metrics.sink_counters(),
    )?;
    let stop = StopSignal::default();
    let fleet = Arc::new(Instances {
        services: services.clone(),
        wake: Box::new(delivery.waker()),
        stop: stop.clone(),
        interval,
    });
    let result = Scheduler::new(interval, services.config.concurrency)
        .run(fleet, shutdown)
        .await;
    // The scheduler stopped the ticks (a shutdown) or failed; either way delivery gets the grace only.
    stop.request();
    services.ticker.recorder.flush().await;
    services.metrics.scheduler_stopped();
    if let Some(e) = delivery.finish(&stop).await.error {
        tracing::error!("delivery stopped with events still queued: {e}");
    }
    services.state.leave().await;
    result
}

/// `300s` as `5m`, `90s` as `90s`: for log lines.
pub(crate) fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{}ms", d.as_millis()),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Drives `work` to its end; when `shutdown` resolves first, requests `stop` and keeps driving `work`
/// (which then ends promptly).
async fn until_done<T>(
    work: impl std::future::Future<Output = T>,
    shutdown: impl std::future::Future<Output = ()>,
    stop: &StopSignal,
) -> T {
    let watch = async {
        shutdown.await;
        stop.request();
        std::future::pending::<std::convert::Infallible>().await
    };
    tokio::select! {
        done = work => done,
        never = watch => match never {},
    }
}

/// A host's instances, as the scheduler sees them.
struct Instances {
    services: Arc<Services>,
    wake: Box<dyn Fn() + Send + Sync>,
    /// Requested when the scheduler stops: the ticks in flight end between commits.
    stop: StopSignal,
    /// For the log lines ("next tick in ...").
    interval: Duration,
}

impl Fleet for Instances {
    async fn ids(&self) -> Result<HashSet<i64>, HostError> {
        let ids = self.services.state.schedulable().await?;
        if ids.is_empty() {
            // Nothing to tick is not a stall.
            self.services.metrics.progressed();
        }
        Ok(ids)
    }

    async fn tick(&self, id: i64) -> Next {
        // One indexed lookup (not a scan of every instance): picks up edits since the last tick.
        let instance = match self.services.state.instance_by_id(id).await {
            // Paused since the last scan: it leaves the schedule, and a resume adds it back.
            Ok(Some(i)) if i.paused => return Next::Gone,
            // Its shard's lease moved to another host (or lapsed): a later scan adds it back if this
            // host holds it again.
            Ok(Some(i)) if !self.services.state.holds(&i) => return Next::Gone,
            Ok(Some(i)) => i,
            Ok(None) => return Next::Gone,
            Err(e) => {
                tracing::error!(instance = id, "cannot read the instance: {e}");
                return Next::Later;
            }
        };
        let report = self.services.ticker.tick(&instance, &self.stop).await;
        (self.wake)();
        let next = short_duration(self.interval);
        match report {
            Err(e) => {
                tracing::error!(instance = %instance.name, "tick failed: {e}; next try in about {next}");
                Next::Later
            }
            Ok(r) => {
                let c = &r.committed;
                if r.outcome.failure().is_none() {
                    self.services.metrics.progressed();
                }
                match r.outcome.failure() {
                    Some(f) if matches!(f.cause, FailureCause::Sandbox(_)) => {
                        tracing::error!(instance = %instance.name, events = c.events, "tick failed: {}; next try in about {next}", f.message)
                    }
                    Some(f) => {
                        tracing::warn!(instance = %instance.name, events = c.events, "tick ended early: {}; next try in about {next}", f.message)
                    }
                    None if c.events > 0 => {
                        let state = if r.outcome.more() {
                            "more to fetch"
                        } else {
                            "caught up"
                        };
                        tracing::info!(
                            instance = %instance.name,
                            events = c.events,
                            pages = c.pages,
                            duplicates = r.duplicates,
                            newest = c.last_published.as_deref().unwrap_or("-"),
                            "fetched {} events ({state})",
                            c.events
                        );
                    }
                    None => {
                        tracing::debug!(instance = %instance.name, pages = r.pages_fetched, "nothing new")
                    }
                }
                if r.outcome.more() {
                    Next::Now
                } else {
                    Next::Later
                }
            }
        }
    }

    fn stop(&self) {
        self.stop.request();
    }

    fn heartbeat(&self) {
        self.services.metrics.heartbeat();
    }

    /// A fleet rescans at each lease round, so a claimed shard's instances start ticking at once.
    fn rescan_every(&self) -> Duration {
        match self.services.state.lease_ttl() {
            Some(ttl) => (ttl / 3).min(crate::schedule::RESCAN),
            None => crate::schedule::RESCAN,
        }
    }
}
