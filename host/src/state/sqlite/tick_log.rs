//! Tick outcomes: each instance's last one (on its `instances` row) and the events of recent ticks
//! (`tick_log`, kept for 24 hours; idle ticks add no rows, so a tick missing there committed nothing).

use super::{now_as_stored, Db};
use crate::state::{InstanceStats, StateError, TickRecord, TICK_LOG_RETENTION_MS};
use rusqlite::params;
use std::collections::HashMap;

impl Db {
    pub(crate) fn record_ticks(&mut self, ticks: &[(i64, TickRecord)]) -> Result<(), StateError> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE instances SET last_tick_ms=?2, last_outcome=?3, last_error=?4,
                    token_scheme=COALESCE(?5, token_scheme) WHERE id=?1",
            )?;
            let mut log = tx.prepare_cached(
                "INSERT INTO tick_log(instance_id, at_ms, events) VALUES (?1,?2,?3)",
            )?;
            for (id, t) in ticks {
                let scheme = t.token_scheme.map(|s| s.as_str());
                stmt.execute(params![id, t.at_ms, t.outcome.as_str(), t.error, scheme])?;
                if t.events > 0 {
                    log.execute(params![id, t.at_ms, t.events as i64])?;
                }
            }
            tx.execute(
                "DELETE FROM tick_log WHERE at_ms < ?1",
                [now_as_stored() - TICK_LOG_RETENTION_MS],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub(crate) fn events_per_hour(
        &self,
        instance_id: i64,
        since_ms: i64,
    ) -> Result<Vec<(i64, u64)>, StateError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT (at_ms / 3600000) * 3600000 AS hour, SUM(events) FROM tick_log
             WHERE instance_id = ?1 AND at_ms >= ?2 GROUP BY hour ORDER BY hour",
        )?;
        let rows = stmt.query_map(params![instance_id, since_ms], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(crate) fn instance_stats(
        &self,
        since_ms: i64,
    ) -> Result<HashMap<i64, InstanceStats>, StateError> {
        let mut out: HashMap<i64, InstanceStats> = HashMap::new();
        let mut stmt = self.conn.prepare_cached(
            "SELECT i.id, i.last_published,
                (SELECT COALESCE(SUM(t.events), 0) FROM tick_log t
                    WHERE t.instance_id = i.id AND t.at_ms = i.last_tick_ms),
                (SELECT COALESCE(SUM(t.events), 0) FROM tick_log t
                    WHERE t.instance_id = i.id AND t.at_ms >= ?1)
             FROM instances i",
        )?;
        let rows = stmt.query_map([since_ms], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                InstanceStats {
                    last_published: r.get(1)?,
                    events_last_tick: r.get::<_, i64>(2)?.max(0) as u64,
                    events_since: r.get::<_, i64>(3)?.max(0) as u64,
                    outbox_depth: 0,
                },
            ))
        })?;
        for row in rows {
            let (id, s) = row?;
            out.insert(id, s);
        }
        for (id, n) in self.outbox_depth_by_instance()? {
            if let Some(s) = out.get_mut(&id) {
                s.outbox_depth = n;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::state::{LastOutcome, PageEvent};

    #[test]
    fn stats_count_the_last_tick_the_window_and_the_newest_published() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = db(dir.path());
        let a = db.add_instance(&new_instance("a")).unwrap().id;
        let b = db.add_instance(&new_instance("b")).unwrap().id;
        let newer = PageEvent {
            published: "2026-01-02T00:00:00.000Z".into(),
            ..event("u2", "{}")
        };
        db.commit_page(&page(a, vec![newer, event("u1", "{}")], b"c"))
            .unwrap();
        // A late commit with an older `published` does not move the newest back.
        db.commit_page(&page(a, vec![event("u3", "{}")], b"c"))
            .unwrap();
        let now = now_as_stored();
        let t = |at_ms, events| TickRecord {
            at_ms,
            outcome: LastOutcome::More,
            error: None,
            events,
            token_scheme: None,
        };
        db.record_ticks(&[
            (a, t(now - TICK_LOG_RETENTION_MS - 1000, 100)), // pruned: older than 24 h
            (a, t(now - 5000, 2)),
            (a, t(now - 10, 1)),
            (b, t(now - 10, 0)),
        ])
        .unwrap();
        let s = db.instance_stats(now - TICK_LOG_RETENTION_MS).unwrap();
        assert_eq!(
            s[&a].last_published.as_deref(),
            Some("2026-01-02T00:00:00.000Z")
        );
        assert_eq!((s[&a].events_last_tick, s[&a].events_since), (1, 3));
        assert_eq!(s[&a].outbox_depth, 3);
        assert_eq!(s[&b], InstanceStats::default());
        let rows: i64 = db
            .conn
            .query_row("SELECT COUNT(*) FROM tick_log", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 2, "old and idle ticks leave no rows");
        let hour = |ms: i64| ms / 3_600_000 * 3_600_000;
        let per_hour = db.events_per_hour(a, now - 3_600_000 * 2).unwrap();
        let total: u64 = per_hour.iter().map(|(_, n)| n).sum();
        assert_eq!(total, 3);
        assert!(per_hour
            .iter()
            .all(|(h, _)| *h == hour(now) || *h == hour(now - 5000)));
        assert!(db.events_per_hour(b, 0).unwrap().is_empty());
        assert_eq!(db.instance_by_id(b).unwrap().unwrap().name, "b");
        assert_eq!(db.instance_by_id(999).unwrap(), None);
        let a_row = db.instance("a").unwrap();
        assert_eq!(
            (a_row.last_tick_ms, a_row.last_outcome),
            (Some(now - 10), Some(LastOutcome::More))
        );
    }

    #[test]
    fn the_last_token_scheme_is_kept_until_a_tick_names_another() {
        use okta_ingest_model::TokenScheme;
        let dir = tempfile::tempdir().unwrap();
        let mut db = db(dir.path());
        let id = db.add_instance(&new_instance("a")).unwrap().id;
        let tick = |scheme| TickRecord {
            at_ms: now_as_stored(),
            outcome: LastOutcome::CaughtUp,
            error: None,
            events: 0,
            token_scheme: scheme,
        };
        let scheme = |db: &Db| db.instance("a").unwrap().token_scheme;
        assert_eq!(scheme(&db), None);
        db.record_ticks(&[(id, tick(Some(TokenScheme::Dpop)))])
            .unwrap();
        assert_eq!(scheme(&db), Some(TokenScheme::Dpop));
        // A tick that ended without a token (it could not get one) says nothing about the scheme.
        db.record_ticks(&[(id, tick(None))]).unwrap();
        assert_eq!(scheme(&db), Some(TokenScheme::Dpop));
        db.record_ticks(&[(id, tick(Some(TokenScheme::Bearer)))])
            .unwrap();
        assert_eq!(scheme(&db), Some(TokenScheme::Bearer));
    }
}
