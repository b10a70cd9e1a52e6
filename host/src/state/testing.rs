//! Records for tests across the crate: one place for the fixture every test would otherwise spell out.

use super::{Instance, NewInstanceRecord, Page, PageEvent};
use okta_ingest_model::Categories;

/// A valid new instance called `name` on `acme.okta.com`.
pub(crate) fn new_instance(name: &str) -> NewInstanceRecord {
    NewInstanceRecord {
        name: name.into(),
        domain: "acme.okta.com".into(),
        client_id: "0oa1".into(),
        key_id: None,
        private_key_path: "/k.pem".into(),
        backfill_days: 7,
        categories: Categories::DEFAULT,
        exclusions: Default::default(),
        redaction: Default::default(),
        ca_file: None,
        dpop: okta_ingest_model::DpopMode::Auto,
        silence_after_s: 3600,
        paused: false,
    }
}

/// `new_instance(name)` as the state returns it before its first tick (id 1).
pub(crate) fn instance(name: &str) -> Instance {
    Instance::before_first_tick(1, new_instance(name))
}

/// An authentication event `uuid` published 2026-01-01, with `raw` as its JSON.
pub(crate) fn event(uuid: &str, raw: &str) -> PageEvent {
    PageEvent {
        uuid: uuid.into(),
        event_type: "user.session.start".into(),
        published: "2026-01-01T00:00:00.000Z".into(),
        categories: Categories::AUTHENTICATION,
        raw: raw.into(),
    }
}

/// An event `uuid` of `event_type` in the categories `categories` (bits), with `raw` as its JSON.
pub(crate) fn typed_event(uuid: &str, event_type: &str, categories: u8, raw: &str) -> PageEvent {
    PageEvent {
        uuid: uuid.into(),
        event_type: event_type.into(),
        published: "2026-01-01T00:00:00.000Z".into(),
        categories: Categories::from_bits(categories),
        raw: raw.into(),
    }
}

/// A page of `events` for an instance, with cursor `cursor`.
pub(crate) fn page(instance_id: i64, events: Vec<PageEvent>, cursor: &[u8]) -> Page {
    Page {
        instance_id,
        events,
        cursor: cursor.to_vec(),
    }
}
