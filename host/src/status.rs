//! Operational status per instance ([`Host::status`]): active connector version, last tick, events in
//! the last tick / 24 h / ever, cursor lag, undelivered events and the last error. Read from the state
//! database, so it works for another process's `run` as well as inside an embedding host.

use crate::ingest::{Host, HostError};
use crate::state::{now_ms, InstanceRecord, InstanceStats, TICK_LOG_RETENTION_MS};
use std::time::{Duration, SystemTime};

/// One instance's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceStatus {
    /// Instance name.
    pub name: String,
    /// Label of the active connector version (`embedded 0.1.0` or `1.2.0 (abcd…)`).
    pub connector: String,
    /// Hash of the active stored version (`None`: the embedded connector).
    pub connector_hash: Option<String>,
    /// When the last tick ended, Unix ms.
    pub last_tick_ms: Option<i64>,
    /// `ok`, `caught-up` or `error`.
    pub last_outcome: Option<String>,
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
    /// Last error message.
    pub last_error: Option<String>,
    /// When and why the version was rolled back automatically, if the activation in force is one.
    pub auto_rollback: Option<(i64, String)>,
}

/// `now - published` for an RFC 3339 `published`; `None` if it does not parse, zero if in the future.
pub fn cursor_lag(published: &str, now: SystemTime) -> Option<Duration> {
    let t = humantime::parse_rfc3339_weak(published).ok()?;
    Some(now.duration_since(t).unwrap_or(Duration::ZERO))
}

/// Combines an instance record and its database figures into a status (no I/O, for tests).
pub fn compose(
    rec: &InstanceRecord,
    stats: &InstanceStats,
    connector: String,
    connector_hash: Option<String>,
    auto_rollback: Option<(i64, String)>,
    now: SystemTime,
) -> InstanceStatus {
    InstanceStatus {
        name: rec.name.clone(),
        connector,
        connector_hash,
        last_tick_ms: rec.last_tick_ms,
        last_outcome: rec.last_outcome.clone(),
        events_last_tick: stats.events_last_tick,
        events_24h: stats.events_since,
        events_total: rec.events_total.max(0) as u64,
        last_published: stats.last_published.clone(),
        cursor_lag: stats
            .last_published
            .as_deref()
            .and_then(|p| cursor_lag(p, now)),
        outbox_depth: stats.outbox_depth,
        last_error: rec.last_error.clone(),
        auto_rollback,
    }
}

impl Host {
    /// Status of every instance, by name. Tick outcomes still held in memory are written first, so an
    /// embedding host sees its own latest ticks.
    pub fn status(&self) -> Result<Vec<InstanceStatus>, HostError> {
        self.flush_status();
        let (recs, stats) = {
            let db = self.db();
            let recs = db.list_instances()?;
            let stats = db.instance_stats(now_ms() - TICK_LOG_RETENTION_MS)?;
            (recs, stats)
        };
        let now = SystemTime::now();
        let mut out = Vec::with_capacity(recs.len());
        for r in &recs {
            let active = self.active_activation(r.id)?;
            let hash = active.as_ref().and_then(|a| a.hash.clone());
            let label = self.version_label(hash.as_deref())?;
            let rollback = active
                .filter(|a| a.reason.starts_with("auto-rollback"))
                .map(|a| (a.at_ms, a.reason));
            let s = stats.get(&r.id).cloned().unwrap_or_default();
            out.push(compose(r, &s, label, hash, rollback, now));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> InstanceRecord {
        InstanceRecord {
            id: 1,
            name: "org".into(),
            domain: "acme.okta.com".into(),
            client_id: "0oa1".into(),
            key_id: None,
            private_key_path: "/k.pem".into(),
            backfill_days: 0,
            categories: 7,
            ca_file: None,
            created_ms: 0,
            has_cursor: true,
            last_tick_ms: Some(1_000),
            last_outcome: Some("caught-up".into()),
            last_error: None,
            events_total: 42,
        }
    }

    #[test]
    fn lag_is_now_minus_the_newest_published() {
        let now = humantime::parse_rfc3339("2026-03-01T12:05:30Z").unwrap();
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
        let now = humantime::parse_rfc3339("2026-03-01T12:01:00Z").unwrap();
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

    #[test]
    fn host_status_reads_ticks_and_commits_from_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::open(crate::HostConfig::new(dir.path().join("s.db"))).unwrap();
        let id = {
            let mut db = host.db();
            let mut r = rec();
            r.name = "a".into();
            let id = db.add_instance(&r).unwrap();
            let e = crate::state::PageEvent {
                uuid: "u1",
                event_type: "user.session.start",
                published: "2026-01-01T00:00:00.000Z",
                categories: 1,
                raw: "{}",
            };
            db.commit_page(id, &[e], b"c").unwrap();
            db.record_ticks(&[(
                id,
                crate::state::TickStatus {
                    at_ms: now_ms(),
                    outcome: "ok".into(),
                    error: None,
                    events: 1,
                },
            )])
            .unwrap();
            id
        };
        let all = host.status().unwrap();
        assert_eq!(all.len(), 1);
        let s = &all[0];
        assert_eq!(s.name, "a");
        assert!(s.connector.starts_with("embedded "), "{}", s.connector);
        assert_eq!(
            (
                s.events_last_tick,
                s.events_24h,
                s.events_total,
                s.outbox_depth
            ),
            (1, 1, 1, 1)
        );
        assert!(s.cursor_lag.unwrap() > Duration::from_secs(86_400));
        assert_eq!(host.instance_by_id(id).unwrap().unwrap().name, "a");
    }
}
