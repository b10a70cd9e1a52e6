//! The `instances` table: what each instance is, its cursor, and its last tick's outcome.

use super::{now_as_stored, Db};
use crate::exclusions::Exclusions;
use crate::redaction::Redaction;
use crate::state::{Instance, InstanceChanges, LastOutcome, NewInstanceRecord, StateError};
use okta_ingest_model::{Categories, DpopMode, TokenScheme};
use rusqlite::{params, OptionalExtension};
use std::path::PathBuf;

const SELECT: &str = "SELECT id, name, domain, client_id, key_id, private_key_path, backfill_days,
    categories, ca_file, created_ms, cursor IS NOT NULL, last_tick_ms, last_outcome, last_error,
    events_total, dpop, token_scheme, silence_after_s, paused, pending_key_path, pending_key_id,
    excluded_event_types, redaction FROM instances";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Instance> {
    Ok(Instance {
        id: r.get(0)?,
        name: r.get(1)?,
        domain: r.get(2)?,
        client_id: r.get(3)?,
        key_id: r.get(4)?,
        private_key_path: PathBuf::from(r.get::<_, String>(5)?),
        backfill_days: r.get(6)?,
        categories: Categories::from_bits(r.get(7)?),
        ca_file: r.get::<_, Option<String>>(8)?.map(PathBuf::from),
        created_ms: r.get(9)?,
        has_cursor: r.get(10)?,
        last_tick_ms: r.get(11)?,
        last_outcome: r
            .get::<_, Option<String>>(12)?
            .as_deref()
            .and_then(LastOutcome::from_name),
        last_error: r.get(13)?,
        events_total: r.get(14)?,
        // A value this build does not know (a newer release wrote it) reads as the default.
        dpop: r
            .get::<_, String>(15)
            .ok()
            .as_deref()
            .and_then(DpopMode::parse)
            .unwrap_or_default(),
        token_scheme: r
            .get::<_, Option<String>>(16)?
            .as_deref()
            .and_then(TokenScheme::parse),
        silence_after_s: r.get(17)?,
        paused: r.get(18)?,
        pending_key: match (
            r.get::<_, Option<String>>(19)?,
            r.get::<_, Option<String>>(20)?,
        ) {
            (Some(path), Some(kid)) => Some((PathBuf::from(path), kid)),
            _ => None,
        },
        exclusions: Exclusions::from_stored(&r.get::<_, String>(21)?),
        redaction: Redaction::from_stored(&r.get::<_, String>(22)?),
    })
}

fn path_text(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

impl Db {
    pub(crate) fn add_instance(&self, new: &NewInstanceRecord) -> Result<Instance, StateError> {
        let r = self.conn.execute(
            "INSERT INTO instances(name, domain, client_id, key_id, private_key_path, backfill_days,
                categories, ca_file, created_ms, dpop, silence_after_s, paused, excluded_event_types,
                redaction)
                VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)",
            params![
                new.name,
                new.domain,
                new.client_id,
                new.key_id,
                path_text(&new.private_key_path),
                new.backfill_days,
                new.categories.bits(),
                new.ca_file.as_deref().map(path_text),
                now_as_stored(),
                new.dpop.as_str(),
                new.silence_after_s,
                new.paused,
                new.exclusions.to_stored(),
                new.redaction.to_stored(),
            ],
        );
        match r {
            Ok(_) => self.instance(&new.name),
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) => {
                Err(StateError::DuplicateInstance(new.name.clone()))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn list_instances(&self) -> Result<Vec<Instance>, StateError> {
        let mut stmt = self.conn.prepare(&format!("{SELECT} ORDER BY name"))?;
        let rows = stmt.query_map([], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(crate) fn instance_by_id(&self, id: i64) -> Result<Option<Instance>, StateError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{SELECT} WHERE id = ?1"))?;
        Ok(stmt.query_row([id], row).optional()?)
    }

    pub(crate) fn instance(&self, name: &str) -> Result<Instance, StateError> {
        self.conn
            .query_row(&format!("{SELECT} WHERE name = ?1"), [name], row)
            .optional()?
            .ok_or_else(|| StateError::NoSuchInstance(name.to_string()))
    }

    pub(crate) fn edit_instance(
        &self,
        name: &str,
        edit: &InstanceChanges,
    ) -> Result<Instance, StateError> {
        let cur = self.instance(name)?;
        let domain_changed = edit.domain.as_ref().is_some_and(|d| *d != cur.domain);
        let pending = edit.pending_key.clone().unwrap_or(cur.pending_key.clone());
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "UPDATE instances SET domain=?2, client_id=?3, key_id=?4, private_key_path=?5, categories=?6,
                ca_file=?7, dpop=?8, silence_after_s=?9, paused=?10,
                pending_key_path=?11, pending_key_id=?12, excluded_event_types=?13, redaction=?14
                WHERE id=?1",
            params![
                cur.id,
                edit.domain.as_ref().unwrap_or(&cur.domain),
                edit.client_id.as_ref().unwrap_or(&cur.client_id),
                edit.key_id.clone().unwrap_or(cur.key_id.clone()),
                path_text(edit.private_key_path.as_ref().unwrap_or(&cur.private_key_path)),
                edit.categories.unwrap_or(cur.categories).bits(),
                edit.ca_file
                    .clone()
                    .unwrap_or(cur.ca_file.clone())
                    .as_deref()
                    .map(path_text),
                edit.dpop.unwrap_or(cur.dpop).as_str(),
                edit.silence_after_s.unwrap_or(cur.silence_after_s),
                edit.paused.unwrap_or(cur.paused),
                pending.as_ref().map(|(p, _)| path_text(p)),
                pending.as_ref().map(|(_, kid)| kid.clone()),
                edit.exclusions.as_ref().unwrap_or(&cur.exclusions).to_stored(),
                edit.redaction.as_ref().unwrap_or(&cur.redaction).to_stored(),
            ],
        )?;
        if domain_changed {
            tx.execute("UPDATE instances SET cursor=NULL WHERE id=?1", [cur.id])?;
        }
        tx.commit()?;
        self.instance(name)
    }

    pub(crate) fn remove_instance(&self, name: &str) -> Result<(), StateError> {
        let n = self
            .conn
            .execute("DELETE FROM instances WHERE name=?1", [name])?;
        if n == 0 {
            return Err(StateError::NoSuchInstance(name.to_string()));
        }
        Ok(())
    }

    pub(crate) fn cursor(&self, instance_id: i64) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self
            .conn
            .prepare_cached("SELECT cursor FROM instances WHERE id=?1")?
            .query_row([instance_id], |r| r.get(0))
            .optional()?
            .flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn duplicate_names_and_missing_instances_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(dir.path());
        db.add_instance(&new_instance("a")).unwrap();
        assert!(matches!(
            db.add_instance(&new_instance("a")),
            Err(StateError::DuplicateInstance(_))
        ));
        assert!(matches!(
            db.instance("zz"),
            Err(StateError::NoSuchInstance(_))
        ));
        assert!(matches!(
            db.remove_instance("zz"),
            Err(StateError::NoSuchInstance(_))
        ));
    }

    #[test]
    fn editing_the_domain_resets_the_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = db(dir.path());
        let id = db.add_instance(&new_instance("a")).unwrap().id;
        db.commit_page(&page(id, vec![], b"c")).unwrap();
        let r = db
            .edit_instance(
                "a",
                &InstanceChanges {
                    categories: Some(Categories::ALL),
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(r.has_cursor);
        assert_eq!(r.categories, Categories::ALL);
        let r = db
            .edit_instance(
                "a",
                &InstanceChanges {
                    domain: Some("other.okta.com".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(!r.has_cursor);
    }

    #[test]
    fn an_instance_round_trips_every_field() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(dir.path());
        let mut new = new_instance("full");
        new.key_id = Some("kid1".into());
        new.ca_file = Some("/ca.pem".into());
        new.categories = Categories::LIFECYCLE | Categories::ITP;
        new.paused = true;
        new.exclusions = Exclusions::parse("policy.evaluate_sign_on,system.agent.*").unwrap();
        new.redaction = Redaction::parse(
            "debugContext.debugData.*",
            "debugContext.debugData.requestUri",
        )
        .unwrap();
        let got = db.add_instance(&new).unwrap();
        assert_eq!(got.exclusions, new.exclusions);
        assert_eq!(got.redaction, new.redaction);
        let cleared = db
            .edit_instance(
                "full",
                &InstanceChanges {
                    exclusions: Some(Exclusions::default()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(cleared.exclusions.is_empty());
        let got = db
            .edit_instance(
                "full",
                &InstanceChanges {
                    exclusions: Some(new.exclusions.clone()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(got.paused, "a draft is stored paused");
        assert!(!db.add_instance(&new_instance("plain")).unwrap().paused);
        assert_eq!(
            (
                got.domain.as_str(),
                got.client_id.as_str(),
                got.key_id.as_deref(),
                got.private_key_path.to_str(),
                got.backfill_days,
                got.categories,
                got.ca_file.as_deref().and_then(|p| p.to_str()),
                got.has_cursor,
                got.last_outcome,
            ),
            (
                "acme.okta.com",
                "0oa1",
                Some("kid1"),
                Some("/k.pem"),
                7,
                Categories::LIFECYCLE | Categories::ITP,
                Some("/ca.pem"),
                false,
                None
            )
        );
        assert!(got.created_ms > 0);
        assert_eq!(db.instance_by_id(got.id).unwrap().unwrap(), got);
        assert_eq!(db.instance_by_id(999).unwrap(), None);
        let plain = db.instance("plain").unwrap();
        assert_eq!(db.list_instances().unwrap(), vec![got, plain]);
    }
}
