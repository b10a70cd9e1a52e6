//! Where a finished tick is reported: metrics, subscribers, and the state's tick log. Outcomes are
//! written in batches (at most every second, and at the end of a run), so a fleet's idle ticks do not
//! cost a disk sync each.

use super::TickReport;
use crate::events::{Events, StatusEvent};
use crate::metrics::{Metrics, TickObservation};
use crate::state::{Instance, StateBackend, TickRecord};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often pending outcomes are written at most.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Pending {
    /// In order; every tick is kept (the tick log counts each one's events).
    ticks: Vec<(i64, TickRecord)>,
    last_flush: Option<Instant>,
}

/// Reports finished ticks.
pub(crate) struct TickRecorder {
    state: Arc<dyn StateBackend>,
    pending: Mutex<Pending>,
    metrics: Arc<Metrics>,
    events: Events,
}

impl TickRecorder {
    pub(crate) fn new(
        state: Arc<dyn StateBackend>,
        metrics: Arc<Metrics>,
        events: Events,
    ) -> TickRecorder {
        TickRecorder {
            state,
            pending: Mutex::default(),
            metrics,
            events,
        }
    }

    /// Records one finished tick.
    pub(crate) async fn record(&self, instance: &Instance, report: &TickReport) {
        let failure = report.outcome.failure();
        self.metrics.observe_tick(&TickObservation {
            instance: &instance.name,
            outcome: report.outcome.recorded().as_str(),
            events: report.committed.events,
            pages: report.committed.pages,
            rate_limited: report.rate_limited,
            duration: report.duration,
        });
        self.events.emit(StatusEvent::TickFinished {
            instance: instance.name.clone(),
            connector: report.connector.clone(),
            pages: u32::try_from(report.committed.pages).unwrap_or(u32::MAX),
            events: report.committed.events,
            caught_up: matches!(report.outcome, super::TickOutcome::CaughtUp),
            error: failure.map(|f| f.message.clone()),
        });
        let due = {
            let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            p.ticks.push((
                instance.id,
                TickRecord {
                    at_ms: crate::state::sqlite::now_as_stored(),
                    outcome: report.outcome.recorded(),
                    error: failure.map(|f| f.message.clone()),
                    events: report.committed.events,
                    token_scheme: report.token_scheme,
                },
            ));
            p.last_flush.is_none_or(|t| t.elapsed() >= FLUSH_EVERY)
        };
        if due {
            self.flush().await;
        }
    }

    /// Reports a version rolled back for an instance.
    pub(crate) fn rolled_back(&self, instance: &Instance, rb: crate::versions::RolledBack) {
        self.events.emit(StatusEvent::RolledBack {
            instance: instance.name.clone(),
            from: rb.from,
            to: rb.to,
            reason: rb.reason,
        });
    }

    /// Writes the outcomes still held in memory (`status` and `instance list` read them from the state).
    pub(crate) async fn flush(&self) {
        let ticks = {
            let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            p.last_flush = Some(Instant::now());
            std::mem::take(&mut p.ticks)
        };
        if ticks.is_empty() {
            return;
        }
        if let Err(e) = self.state.record_ticks(&ticks).await {
            tracing::warn!("could not record tick outcomes: {e}");
        }
    }
}
