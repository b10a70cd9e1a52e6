//! Operational status per instance: active connector version, last tick, events in the last tick / 24 h
//! / ever, cursor lag, undelivered events and the last error. Read from the state, so it works for
//! another process's `run` as well as inside an embedding host.

use crate::error::HostError;
use crate::state::{
    ActivationKind, ComponentHash, Instance, InstanceStats, LastOutcome, TickLog,
    TICK_LOG_RETENTION_MS,
};
use crate::versions::Versions;
use std::time::Duration;

/// One instance's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceStatus {
    /// The instance.
    pub name: String,
    /// Label of the active connector version (`embedded 0.1.0` or `1.2.0 (abcd…)`).
    pub connector: String,
    /// Hash of the active stored version (`None`: the embedded connector).
    pub connector_hash: Option<ComponentHash>,
    /// When the last tick ended, Unix ms.
    pub last_tick_ms: Option<i64>,
    /// How the last tick ended.
    pub last_outcome: Option<LastOutcome>,
    /// Events committed (queued for delivery) by the last tick.
    pub events_last_tick: u64,
    /// Events committed by ticks in the last 24 hours.
    pub events_24h: u64,
    /// Events committed ever.
    pub events_total: u64,
    /// Newest Okta `published` time committed, as Okta sent it.
    pub last_published: Option<String>,
    /// Now minus `last_published` (`None` until an event is committed; zero if Okta's clock is ahead).
    pub cursor_lag: Option<Duration>,
    /// This instance's events committed but not yet delivered.
    pub outbox_depth: i64,
    /// The last tick's error message.
    pub last_error: Option<String>,
    /// When and why the version was rolled back automatically, if the activation in force is one.
    pub auto_rollback: Option<(i64, String)>,
    /// The instance's DPoP setting.
    pub dpop: okta_ingest_model::DpopMode,
    /// How the last token a tick obtained was presented (`None` before the first).
    pub token_scheme: Option<okta_ingest_model::TokenScheme>,
    /// Where the instance is in its life.
    pub phase: Phase,
    /// How long no event has arrived: since the newest committed event, else since the instance was
    /// added (at most the tick log's 24 hours: older than that, it is at least that).
    pub since_last_event: Duration,
    /// The instance's silence alert (`None`: off).
    pub silence_after: Option<Duration>,
}

/// Where an instance is in its life, as the console's state line and `status` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Saved; no tick has ended yet.
    Configured,
    /// Fetching its backfill: the last tick stopped with more to fetch. `percent` is how far the newest
    /// committed event is between the backfill's start and now.
    Backfilling {
        /// 0..=99.
        percent: u8,
    },
    /// Caught up: each tick fetches what is new.
    Live,
    /// The last tick failed (see the last error).
    Failing,
    /// Paused by the user: no ticks until resumed.
    Paused,
}

impl Phase {
    /// `configured`, `backfilling`, `live` or `failing`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Configured => "configured",
            Phase::Backfilling { .. } => "backfilling",
            Phase::Live => "live",
            Phase::Failing => "failing",
            Phase::Paused => "paused",
        }
    }

    /// The phase of an instance from its record and the newest event committed.
    fn of(rec: &Instance, last_published_ms: Option<u64>, now_ms: u64) -> Phase {
        if rec.paused {
            return Phase::Paused;
        }
        match rec.last_outcome {
            None => Phase::Configured,
            Some(LastOutcome::Failed) => Phase::Failing,
            Some(LastOutcome::CaughtUp) => Phase::Live,
            Some(LastOutcome::More) => {
                let start = u64::try_from(rec.created_ms)
                    .unwrap_or(0)
                    .saturating_sub(u64::from(rec.backfill_days) * 86_400_000);
                let done = last_published_ms.map_or(0, |p| p.saturating_sub(start));
                let span = now_ms.saturating_sub(start).max(1);
                Phase::Backfilling {
                    percent: (done.saturating_mul(100) / span).min(99) as u8,
                }
            }
        }
    }
}

impl InstanceStatus {
    /// True when its silence alert is on and no event has arrived for longer than it.
    pub fn silent(&self) -> bool {
        // A paused instance is quiet on purpose.
        self.phase != Phase::Paused
            && self
                .silence_after
                .is_some_and(|after| self.since_last_event > after)
    }

    /// The status as JSON: the one shape `status --json` prints and the web console's API serves, so a
    /// script written against either reads both.
    pub fn to_json(&self) -> serde_json::Value {
        let when = |ms: Option<i64>| {
            ms.and_then(|ms| u64::try_from(ms).ok())
                .filter(|ms| *ms > 0)
                .map(okta_ingest_model::time::format_s)
        };
        serde_json::json!({
            "name": self.name,
            "connector": self.connector,
            "connector_hash": self.connector_hash.as_ref().map(|h| h.as_str().to_string()),
            "last_tick": when(self.last_tick_ms),
            "last_tick_ms": self.last_tick_ms,
            "last_outcome": self.last_outcome.map(|o| o.as_str()),
            "events_last_tick": self.events_last_tick,
            "events_24h": self.events_24h,
            "events_total": self.events_total,
            "newest_published": self.last_published,
            "cursor_lag_s": self.cursor_lag.map(|d| d.as_secs()),
            "queued": self.outbox_depth,
            "last_error": self.last_error,
            "auto_rollback": self.auto_rollback.as_ref().map(|(at, reason)| serde_json::json!({"at_ms": at, "reason": reason})),
            "dpop": self.dpop.as_str(),
            "token_scheme": self.token_scheme.map(|t| t.as_str()),
            "phase": self.phase.as_str(),
            "seconds_since_last_event": self.since_last_event.as_secs(),
            "silence_alert_s": self.silence_after.map(|d| d.as_secs()),
            "silent": self.silent(),
            "backfill_percent": match self.phase {
                Phase::Backfilling { percent } => Some(percent),
                _ => None,
            },
        })
    }
}

/// `okta_ingest_seconds_since_last_event{instance="…"}` and `okta_ingest_silent{instance="…"}` for
/// `/metrics` (Prometheus text).
pub fn silence_metrics(all: &[InstanceStatus]) -> String {
    let mut out = String::from(
        "# HELP okta_ingest_seconds_since_last_event Seconds since the instance's newest event (or since it was added).\n# TYPE okta_ingest_seconds_since_last_event gauge\n",
    );
    for s in all {
        out.push_str(&format!(
            "okta_ingest_seconds_since_last_event{{instance=\"{}\"}} {}\n",
            s.name,
            s.since_last_event.as_secs()
        ));
    }
    out.push_str("# HELP okta_ingest_silent 1 when the instance's silence alert is firing.\n# TYPE okta_ingest_silent gauge\n");
    for s in all {
        out.push_str(&format!(
            "okta_ingest_silent{{instance=\"{}\"}} {}\n",
            s.name,
            u8::from(s.silent())
        ));
    }
    out
}

/// `now - published` for an RFC 3339 `published`; `None` if it does not parse, zero if in the future.
pub(crate) fn cursor_lag(published: &str, now_ms: u64) -> Option<Duration> {
    let t = okta_ingest_model::time::parse_ms(published)?;
    Some(Duration::from_millis(now_ms.saturating_sub(t)))
}

/// An instance and its figures as a status (no I/O).
fn compose(
    rec: &Instance,
    stats: &InstanceStats,
    connector: String,
    connector_hash: Option<ComponentHash>,
    auto_rollback: Option<(i64, String)>,
    now_ms: u64,
) -> InstanceStatus {
    InstanceStatus {
        name: rec.name.clone(),
        connector,
        connector_hash,
        last_tick_ms: rec.last_tick_ms,
        last_outcome: rec.last_outcome,
        events_last_tick: stats.events_last_tick,
        events_24h: stats.events_since,
        events_total: rec.events_total.max(0) as u64,
        last_published: stats.last_published.clone(),
        cursor_lag: stats
            .last_published
            .as_deref()
            .and_then(|p| cursor_lag(p, now_ms)),
        outbox_depth: stats.outbox_depth,
        last_error: rec.last_error.clone(),
        auto_rollback,
        dpop: rec.dpop,
        token_scheme: rec.token_scheme,
        since_last_event: match stats
            .last_published
            .as_deref()
            .and_then(|p| cursor_lag(p, now_ms))
        {
            Some(lag) => lag,
            None => {
                let since = u64::try_from(rec.created_ms)
                    .unwrap_or(0)
                    .max(now_ms.saturating_sub(TICK_LOG_RETENTION_MS as u64));
                Duration::from_millis(now_ms.saturating_sub(since))
            }
        },
        silence_after: u64::try_from(rec.silence_after_s)
            .ok()
            .filter(|s| *s > 0)
            .map(Duration::from_secs),
        phase: Phase::of(
            rec,
            stats
                .last_published
                .as_deref()
                .and_then(okta_ingest_model::time::parse_ms),
            now_ms,
        ),
    }
}

/// Status of every instance, by name.
pub(crate) async fn status(
    instances: Vec<Instance>,
    log: &dyn TickLog,
    versions: &Versions,
) -> Result<Vec<InstanceStatus>, HostError> {
    let now_ms = okta_ingest_model::time::now_ms();
    let since = i64::try_from(now_ms).unwrap_or(i64::MAX) - TICK_LOG_RETENTION_MS;
    let stats = log.instance_stats(since).await?;
    let mut out = Vec::with_capacity(instances.len());
    for r in &instances {
        let active = versions.active_activation(r.id).await?;
        let version = active
            .as_ref()
            .map_or(crate::state::Version::Embedded, |a| a.version.clone());
        let label = versions.label(&version).await?;
        let rollback = active
            .filter(|a| a.kind == ActivationKind::AutoRollback)
            .map(|a| (a.at_ms, a.reason));
        let s = stats.get(&r.id).cloned().unwrap_or_default();
        out.push(compose(
            r,
            &s,
            label,
            version.hash().cloned(),
            rollback,
            now_ms,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use okta_ingest_model::time::parse_ms;

    fn rec() -> Instance {
        Instance {
            has_cursor: true,
            last_tick_ms: Some(1_000),
            last_outcome: Some(LastOutcome::CaughtUp),
            events_total: 42,
            ..crate::state::testing::instance("org")
        }
    }

    fn at(s: &str) -> u64 {
        parse_ms(s).unwrap()
    }

    #[test]
    fn lag_is_now_minus_the_newest_published() {
        let now = at("2026-03-01T12:05:30Z");
        assert_eq!(
            cursor_lag("2026-03-01T12:00:00.000Z", now),
            Some(Duration::from_secs(330))
        );
        assert_eq!(
            cursor_lag("2026-03-01T12:05:29.500Z", now),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            cursor_lag("2026-03-01T13:00:00Z", now),
            Some(Duration::ZERO),
            "Okta's clock ahead of ours is no lag"
        );
        assert_eq!(cursor_lag("yesterday", now), None);
    }

    #[test]
    fn the_phase_follows_the_last_tick_the_backfill_and_a_pause() {
        let day = 86_400_000u64;
        let now = 10 * day;
        // Added at day 9 with a 2-day backfill: the backfill spans days 7..10.
        let base = Instance {
            created_ms: (9 * day) as i64,
            backfill_days: 2,
            ..rec()
        };
        let with = |outcome| Instance {
            last_outcome: outcome,
            ..base.clone()
        };
        assert_eq!(Phase::of(&with(None), None, now), Phase::Configured);
        assert_eq!(
            Phase::of(&with(Some(LastOutcome::CaughtUp)), None, now),
            Phase::Live
        );
        assert_eq!(
            Phase::of(&with(Some(LastOutcome::Failed)), None, now),
            Phase::Failing
        );
        let more = with(Some(LastOutcome::More));
        assert_eq!(
            Phase::of(&more, None, now),
            Phase::Backfilling { percent: 0 }
        );
        assert_eq!(
            Phase::of(&more, Some(8 * day + day / 2), now),
            Phase::Backfilling { percent: 50 }
        );
        assert_eq!(
            Phase::of(&more, Some(now), now),
            Phase::Backfilling { percent: 99 },
            "never 100% while there is more to fetch"
        );
        let paused = Instance {
            paused: true,
            ..more
        };
        assert_eq!(Phase::of(&paused, None, now), Phase::Paused);
    }

    #[test]
    fn compose_carries_counts_and_computes_the_lag() {
        let now = at("2026-03-01T12:01:00Z");
        let stats = InstanceStats {
            last_published: Some("2026-03-01T12:00:00.000Z".into()),
            events_last_tick: 3,
            events_since: 40,
            outbox_depth: 5,
        };
        let s = compose(&rec(), &stats, "embedded 0.1.0".into(), None, None, now);
        assert_eq!(
            (
                s.events_last_tick,
                s.events_24h,
                s.events_total,
                s.outbox_depth
            ),
            (3, 40, 42, 5)
        );
        assert_eq!(s.cursor_lag, Some(Duration::from_secs(60)));
        assert_eq!(s.connector, "embedded 0.1.0");
        let never = compose(
            &rec(),
            &InstanceStats::default(),
            "x".into(),
            None,
            None,
            now,
        );
        assert_eq!((never.cursor_lag, never.events_24h), (None, 0));
    }
}
