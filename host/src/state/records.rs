//! What the state stores, in the host's own types: every backend reads and writes these.

use crate::exclusions::Exclusions;
use crate::redaction::Redaction;
use okta_ingest_model::{Categories, DpopMode, TokenScheme};
use std::path::PathBuf;

/// An Okta instance as stored: what the user set up, plus what its ticks have done so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Row id; stable for the instance's life (outbox events carry it).
    pub id: i64,
    /// Unique name chosen by the user.
    pub name: String,
    /// Okta domain (`host` or `host:port`), the one origin the connector may reach.
    pub domain: String,
    /// OAuth client id of the API Services app.
    pub client_id: String,
    /// `kid` of the registered public key, when the app has several.
    pub key_id: Option<String>,
    /// Path of the PEM file holding the private key; the key itself is never stored.
    pub private_key_path: PathBuf,
    /// Days of history the first tick fetches (fixed at creation).
    pub backfill_days: u8,
    /// Selected event categories.
    pub categories: Categories,
    /// Event types dropped even inside the selected categories (never stored, never delivered).
    pub exclusions: Exclusions,
    /// Members removed from every event before it is stored.
    pub redaction: Redaction,
    /// Extra CA certificates (PEM) trusted for this instance's domain.
    pub ca_file: Option<PathBuf>,
    /// When it was added, Unix ms.
    pub created_ms: i64,
    /// Whether a cursor exists (the first tick has committed).
    pub has_cursor: bool,
    /// When the last tick ended, Unix ms.
    pub last_tick_ms: Option<i64>,
    /// How the last tick ended.
    pub last_outcome: Option<LastOutcome>,
    /// The last tick's error message, if it failed.
    pub last_error: Option<String>,
    /// Events committed for this instance since it was added.
    pub events_total: i64,
    /// Whether it asks Okta for DPoP-bound tokens.
    pub dpop: DpopMode,
    /// How the last token a tick obtained was presented (`None` before the first token).
    pub token_scheme: Option<TokenScheme>,
    /// Alert when no event has arrived for this many seconds (0: never).
    pub silence_after_s: i64,
    /// Paused by the user: it does not tick until resumed (its queued events are still delivered).
    pub paused: bool,
    /// A key rotation in progress: the new key's file and `kid`, used once a check with it passes.
    pub pending_key: Option<(PathBuf, String)>,
}

impl Instance {
    /// `record` as the state holds it before its first tick (no cursor, no ticks, no events), with row
    /// id `id`.
    pub fn before_first_tick(id: i64, record: NewInstanceRecord) -> Instance {
        Instance {
            id,
            name: record.name,
            domain: record.domain,
            client_id: record.client_id,
            key_id: record.key_id,
            private_key_path: record.private_key_path,
            backfill_days: record.backfill_days,
            categories: record.categories,
            exclusions: record.exclusions,
            redaction: record.redaction,
            ca_file: record.ca_file,
            created_ms: 0,
            has_cursor: false,
            last_tick_ms: None,
            last_outcome: None,
            last_error: None,
            events_total: 0,
            dpop: record.dpop,
            token_scheme: None,
            silence_after_s: record.silence_after_s,
            paused: record.paused,
            pending_key: None,
        }
    }
}

/// How a tick ended, as stored (the database keeps the names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastOutcome {
    /// It stopped at the page limit; more is waiting (`ok`).
    More,
    /// Nothing more to fetch for now (`caught-up`).
    CaughtUp,
    /// It failed (`error`); everything committed before stays committed.
    Failed,
}

impl LastOutcome {
    /// The stored name: `ok`, `caught-up` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            LastOutcome::More => "ok",
            LastOutcome::CaughtUp => "caught-up",
            LastOutcome::Failed => "error",
        }
    }

    /// The outcome with that stored name.
    pub fn from_name(name: &str) -> Option<LastOutcome> {
        match name {
            "ok" => Some(LastOutcome::More),
            "caught-up" => Some(LastOutcome::CaughtUp),
            "error" => Some(LastOutcome::Failed),
            _ => None,
        }
    }
}

impl std::fmt::Display for LastOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A new instance, already validated (the instances service checks every field), ready to store. The
/// fields mean what they mean in [`Instance`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInstanceRecord {
    /// A name no other instance has; the store refuses a duplicate.
    pub name: String,
    /// The domain, normalised (`host` or `host:port`, lowercase).
    pub domain: String,
    /// The OAuth client id.
    pub client_id: String,
    /// The key's `kid`, if the app has several keys.
    pub key_id: Option<String>,
    /// Absolute path of the private key file.
    pub private_key_path: PathBuf,
    /// Days of history for the first tick, at most 14.
    pub backfill_days: u8,
    /// The selected categories, at least one.
    pub categories: Categories,
    /// Event types dropped even inside them.
    pub exclusions: Exclusions,
    /// Members removed from every event.
    pub redaction: Redaction,
    /// Absolute path of an extra CA file, if any.
    pub ca_file: Option<PathBuf>,
    /// Whether it asks Okta for DPoP-bound tokens.
    pub dpop: DpopMode,
    /// Alert when no event has arrived for this many seconds (0: never).
    pub silence_after_s: i64,
    /// Stored paused: a draft, saved before its test connection passed, that ticks once resumed.
    pub paused: bool,
}

/// Validated changes to an instance; `None` keeps a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceChanges {
    /// New domain; changing it also drops the cursor.
    pub domain: Option<String>,
    /// New client id.
    pub client_id: Option<String>,
    /// New key id (`Some(None)` removes it).
    pub key_id: Option<Option<String>>,
    /// New private key path.
    pub private_key_path: Option<PathBuf>,
    /// New categories (at least one).
    pub categories: Option<Categories>,
    /// New excluded event types (an empty list removes them).
    pub exclusions: Option<Exclusions>,
    /// New redaction rules (empty: none).
    pub redaction: Option<Redaction>,
    /// New CA file (`Some(None)` removes it).
    pub ca_file: Option<Option<PathBuf>>,
    /// New DPoP mode.
    pub dpop: Option<DpopMode>,
    /// New silence alert, seconds (0: never).
    pub silence_after_s: Option<i64>,
    /// Pause (`true`) or resume (`false`).
    pub paused: Option<bool>,
    /// Start (`Some(Some(..))`) or end (`Some(None)`) a key rotation.
    pub pending_key: Option<Option<(PathBuf, String)>>,
}

/// One tick's outcome, as the tick log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickRecord {
    /// When the tick ended, Unix ms.
    pub at_ms: i64,
    /// How it ended.
    pub outcome: LastOutcome,
    /// Its error message, if it failed.
    pub error: Option<String>,
    /// Events it committed.
    pub events: u64,
    /// How the token it ended with is presented (`None`: it ended without one, nothing to record).
    pub token_scheme: Option<TokenScheme>,
}

/// Per-instance figures for `status` that are not part of [`Instance`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceStats {
    /// Newest Okta `published` committed for the instance (RFC 3339, as Okta sent it).
    pub last_published: Option<String>,
    /// Events committed by the instance's last recorded tick.
    pub events_last_tick: u64,
    /// Events committed by ticks ending at or after the `since_ms` asked for.
    pub events_since: u64,
    /// Events of this instance committed but not yet acknowledged by a sink.
    pub outbox_depth: i64,
}

/// One event of a committed page: what delivery needs, plus what the commit records about the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageEvent {
    /// Okta's `uuid`.
    pub uuid: String,
    /// Okta's `eventType`.
    pub event_type: String,
    /// Okta's `published`, as sent.
    pub published: String,
    /// The selected categories it belongs to.
    pub categories: Categories,
    /// The event's JSON exactly as Okta sent it.
    pub raw: String,
}

/// One committed page: its events and the cursor after them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The instance it belongs to.
    pub instance_id: i64,
    /// Its events in Okta's order (may be empty: a tick that only moves the cursor).
    pub events: Vec<PageEvent>,
    /// The connector's cursor state after this page (opaque to the host).
    pub cursor: Vec<u8>,
}

/// One ordered stream of the outbox. Sequence numbers count up from 1 within a stream, never reused, and
/// delivery keeps one acknowledged position (and one recorded write) per stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stream {
    /// The whole outbox of a single-host state (SQLite): every instance's events in commit order.
    Whole,
    /// One shard of a fleet's state (PostgreSQL): the events of the instances whose Okta org hashes to
    /// it, delivered by the host holding the shard's lease.
    Shard(u32),
}

impl std::fmt::Display for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stream::Whole => f.write_str("outbox"),
            Stream::Shard(n) => write!(f, "shard {n}"),
        }
    }
}

/// An event read back from the outbox for delivery. Sinks receive these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// The stream the event is in; `seq` counts within it.
    pub stream: Stream,
    /// Delivery sequence number within the stream: increasing, never reused.
    pub seq: i64,
    /// The instance the event came from.
    pub instance_id: i64,
    /// Okta's `eventType`.
    pub event_type: String,
    /// The selected categories it belongs to.
    pub categories: Categories,
    /// The event's JSON exactly as Okta sent it; sinks write these bytes unchanged.
    pub raw: String,
}

/// A sink write recorded before it happens, so a crash in the middle can be repaired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingWrite {
    /// The sink's identity (e.g. `file:/abs/path`).
    pub sink: String,
    /// First sequence number in the write.
    pub first_seq: i64,
    /// Last sequence number in the write.
    pub last_seq: i64,
    /// Where in the sink the write starts (a file offset; 0 for sinks without one).
    pub offset: u64,
}

/// A component's SHA-256, lowercase hex: its identity in the version store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentHash(String);

impl ComponentHash {
    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> ComponentHash {
        use sha2::Digest;
        ComponentHash(
            sha2::Sha256::digest(bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        )
    }
    /// A hash as stored (not checked: the store holds what the host wrote).
    pub fn from_stored(hex: String) -> ComponentHash {
        ComponentHash(hex)
    }
    /// The full hex text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The first `n` hex digits (all of them if it is shorter, e.g. a damaged row), for labels.
    pub fn short(&self, n: usize) -> &str {
        self.0.get(..n).unwrap_or(&self.0)
    }
}

impl std::fmt::Display for ComponentHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A connector version: the one built into the binary, or a stored component.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Version {
    /// The connector embedded in this build.
    Embedded,
    /// A component stored with `component add`.
    Stored(ComponentHash),
}

impl Version {
    /// The stored component's hash (`None` for the embedded connector).
    pub fn hash(&self) -> Option<&ComponentHash> {
        match self {
            Version::Embedded => None,
            Version::Stored(h) => Some(h),
        }
    }
}

/// A stored component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentRecord {
    /// SHA-256 of the `.wasm`.
    pub hash: ComponentHash,
    /// Connector name from `describe`.
    pub name: String,
    /// Semantic version from `describe`.
    pub version: String,
    /// WIT version it targets.
    pub wit_version: String,
    /// Cursor-state schema it reads and writes.
    pub state_schema: u32,
    /// The stored copy of the `.wasm`.
    pub path: PathBuf,
    /// When it was added, Unix ms.
    pub added_ms: i64,
}

/// Whom an activation applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every instance without an activation of its own.
    Global,
    /// One instance (a canary, or an automatic rollback).
    Instance(i64),
}

/// What an entry of the activation history did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivationKind {
    /// A user activated a version (pushes it on the scope's stack).
    Activate,
    /// A user rolled back (pops the newest activation).
    Rollback,
    /// The host rolled an instance back from a version that kept failing.
    AutoRollback,
}

impl ActivationKind {
    /// The stored name: `activate`, `rollback` or `auto-rollback`.
    pub fn as_str(self) -> &'static str {
        match self {
            ActivationKind::Activate => "activate",
            ActivationKind::Rollback => "rollback",
            ActivationKind::AutoRollback => "auto-rollback",
        }
    }

    /// The kind with that stored name.
    pub fn from_name(name: &str) -> Option<ActivationKind> {
        match name {
            "activate" => Some(ActivationKind::Activate),
            "rollback" => Some(ActivationKind::Rollback),
            "auto-rollback" => Some(ActivationKind::AutoRollback),
            _ => None,
        }
    }
}

/// One entry of the activation history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    /// Order of activations (increasing).
    pub seq: i64,
    /// Whom it applies to.
    pub scope: Scope,
    /// The version it made active.
    pub version: Version,
    /// When, Unix ms.
    pub at_ms: i64,
    /// What it did.
    pub kind: ActivationKind,
    /// Why, in words (for an automatic rollback: the failures).
    pub reason: String,
}
