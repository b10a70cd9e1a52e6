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
