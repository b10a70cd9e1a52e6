//! Running instances: [`catch_up`] one instance, [`run_once`] (every instance to caught-up while a
//! delivery thread drains the outbox alongside), and [`run`] (the schedule until shutdown).

use crate::delivery::{DeliveryWorker, Sink};
use crate::error::HostError;
use crate::schedule::{Fleet, Next, Scheduler};
use crate::services::Services;
use crate::state::Instance;
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
        self.sink_error.is_none() && self.instances.iter().all(|i| i.error.is_none())
    }
}

/// Ticks one instance until it is caught up or fails.
pub(crate) async fn catch_up(services: &Services, instance: &Instance) -> InstanceRun {
    let mut run = InstanceRun {
        name: instance.name.clone(),
        ..Default::default()
    };
    loop {
        run.ticks += 1;
        let report = match services.ticker.tick(instance).await {
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
            TickOutcome::Failed(f) => {
                run.error = Some(f.message);
                return run;
            }
        }
    }
}

/// Every instance ticks until caught up, while a delivery thread feeds `sink` from the outbox.
pub(crate) async fn run_once(
    services: &Services,
    sink: Box<dyn Sink>,
) -> Result<RunSummary, HostError> {
    let started = Instant::now();
    services.claim_runner().await?;
    let instances = services.state.list_instances().await?;
    if !instances.is_empty() {
        // Compile before starting anything, so a broken component fails the run at once.
        services.versions.default_runtime().await?;
    }
    let delivery = DeliveryWorker::start(services.state.delivery().await?, sink)?;
    let sem = tokio::sync::Semaphore::new(services.config.concurrency.max(1));
    let wake = delivery.waker();
    let runs = futures::future::join_all(instances.iter().map(|instance| {
        let (sem, wake) = (&sem, &wake);
        async move {
            let _permit = sem.acquire().await;
            let r = catch_up(services, instance).await;
            wake();
            r
        }
    }))
    .await;
    services.ticker.recorder.flush().await;
    let outcome = delivery.finish().await;
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
    let delivery = DeliveryWorker::start(services.state.delivery().await?, sink)?;
    let fleet = Arc::new(Instances {
        services: services.clone(),
        wake: Box::new(delivery.waker()),
    });
    let result = Scheduler::new(interval, services.config.concurrency)
        .run(fleet, shutdown)
        .await;
    services.ticker.recorder.flush().await;
    services.metrics.scheduler_stopped();
    if let Some(e) = delivery.finish().await.error {
        tracing::error!("delivery stopped with events still queued: {e}");
    }
    result
}

/// A host's instances, as the scheduler sees them.
struct Instances {
    services: Arc<Services>,
    wake: Box<dyn Fn() + Send + Sync>,
}

impl Fleet for Instances {
    async fn ids(&self) -> Result<HashSet<i64>, HostError> {
        Ok(self
            .services
            .state
            .list_instances()
            .await?
            .into_iter()
            .map(|i| i.id)
            .collect())
    }

    async fn tick(&self, id: i64) -> Next {
        // One indexed lookup (not a scan of every instance): picks up edits since the last tick.
        let instance = match self.services.state.instance_by_id(id).await {
            Ok(Some(i)) => i,
            Ok(None) => return Next::Gone,
            Err(e) => {
                tracing::error!(instance = id, "cannot read the instance: {e}");
                return Next::Later;
            }
        };
        let report = self.services.ticker.tick(&instance).await;
        (self.wake)();
        match report {
            Err(e) => {
                tracing::error!(instance = %instance.name, "tick failed: {e}");
                Next::Later
            }
            Ok(r) => {
                match r.outcome.failure() {
                    Some(f) if matches!(f.cause, FailureCause::Sandbox(_)) => {
                        tracing::error!(instance = %instance.name, "tick failed: {}", f.message)
                    }
                    Some(f) => {
                        tracing::warn!(instance = %instance.name, "tick ended early: {}", f.message)
                    }
                    None => {}
                }
                if r.outcome.more() {
                    Next::Now
                } else {
                    Next::Later
                }
            }
        }
    }

    fn heartbeat(&self) {
        self.services.metrics.heartbeat();
    }
}
