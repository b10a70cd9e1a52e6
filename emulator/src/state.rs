//! Shared in-memory state behind the server and the `Emulator` handle.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use rsa::RsaPublicKey;
use serde_json::Value;

use crate::clock::Clock;
use crate::generator::{GeneratedEvent, Generator};
use crate::nonce::Nonces;
use crate::ratelimit::Bucket;
use crate::replay::SeenJtis;
use crate::store::{NewEvent, Store};
use crate::{ClientRegistration, CommittedEvent, DpopSettings, EmulatorConfig, Fault, Stats};
use okta_ingest_model::time::{now_ms, parse_ms};

/// Okta's token endpoint bucket is far larger than the logs one (300–2000/min).
const TOKEN_RATE_LIMIT: u32 = 2000;

/// Locks, ignoring poisoning: a panicked holder cannot leave these structures half-updated
/// in a way that matters more than taking the whole emulator down.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A registered client with its parsed key.
pub struct ClientEntry {
    /// As registered.
    pub reg: ClientRegistration,
    /// Parsed public key; `None` if the PEM was unusable (every signature then fails).
    pub key: Option<RsaPublicKey>,
}

/// An issued access token.
pub struct TokenInfo {
    /// Owner.
    pub client_id: String,
    /// Scopes granted to this token.
    pub scopes: Vec<String>,
    /// Expiry, emulator epoch ms.
    pub expires_ms: u64,
    /// DPoP binding: the RFC 7638 thumbprint of the proof key (`cnf.jkt`); `None` for Bearer.
    pub jkt: Option<String>,
}

/// Mutable state other than the event store.
pub struct Inner {
    /// Clients by id.
    pub clients: HashMap<String, ClientEntry>,
    /// Live tokens.
    pub tokens: HashMap<String, TokenInfo>,
    /// Seen assertion jtis and their `exp` (emulator epoch s), pruned once expired.
    pub used_jti: HashMap<String, i64>,
    /// Seen DPoP proof jtis, both endpoints.
    pub proof_jtis: SeenJtis,
    /// The token endpoint's (authorization server's) DPoP nonces.
    pub as_nonces: Nonces,
    /// The resource server's own DPoP nonces (used only with `rs_nonce_required`).
    pub rs_nonces: Nonces,
    /// DPoP behaviour switches.
    pub dpop: DpopSettings,
    /// Queued faults.
    pub faults: VecDeque<Fault>,
    /// `/api/v1/logs` bucket.
    pub logs_bucket: Bucket,
    /// `/oauth2/v1/token` bucket.
    pub token_bucket: Bucket,
    /// Requests to unknown paths: unlimited, but they still get rate-limit headers.
    pub other_bucket: Bucket,
    /// Counters (`requests_while_limited_per_window` is filled from the bucket on read).
    pub stats: Stats,
    /// Event generator.
    pub generator: Generator,
    /// Alternates the Link header style per logs response.
    pub link_toggle: u64,
}

/// Everything the server and the handle share.
pub struct Shared {
    /// Mutable state.
    pub inner: Mutex<Inner>,
    /// Events (read-mostly: pages are served under a read lock).
    pub store: RwLock<Store>,
    /// Where we listen (fallback domain when a request has no Host).
    pub addr: SocketAddr,
    /// Lifetime of issued tokens.
    pub token_lifetime: Duration,
    /// Okta's clock as tests shift it (see `clock.rs` for what it drives).
    pub clock: Clock,
}

impl Shared {
    /// Fresh state for `config`.
    pub fn new(config: &EmulatorConfig, addr: SocketAddr) -> Self {
        Shared {
            inner: Mutex::new(Inner {
                clients: HashMap::new(),
                tokens: HashMap::new(),
                used_jti: HashMap::new(),
                proof_jtis: SeenJtis::default(),
                as_nonces: Nonces::default(),
                rs_nonces: Nonces::default(),
                dpop: config.dpop.clone(),
                faults: VecDeque::new(),
                logs_bucket: Bucket::new(config.rate_limit_per_minute)
                    .with_window(config.rate_limit_window.as_millis().max(1) as u64),
                token_bucket: Bucket::new(Some(TOKEN_RATE_LIMIT)),
                other_bucket: Bucket::new(None),
                stats: Stats::default(),
                generator: Generator::new(config.seed),
                link_toggle: 0,
            }),
            store: RwLock::new(Store::default()),
            addr,
            token_lifetime: config.token_lifetime,
            clock: Clock::default(),
        }
    }

    /// Read access to the store.
    pub fn store_read(&self) -> RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Write access to the store.
    pub fn store_write(&self) -> RwLockWriteGuard<'_, Store> {
        self.store.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers or replaces a client.
    pub fn register_client(&self, reg: ClientRegistration) {
        let key = crate::jwt::parse_public_key(&reg.public_key_pem);
        if key.is_none() {
            tracing::warn!(client_id = %reg.client_id, "registered public key is not a usable RSA PEM");
        }
        lock(&self.inner)
            .clients
            .insert(reg.client_id.clone(), ClientEntry { reg, key });
    }

    /// Generates and appends events.
    pub fn generate(&self, n: usize, days: u32, late_fraction: f64) -> usize {
        let now = now_ms();
        let events = lock(&self.inner)
            .generator
            .generate(n, days, late_fraction, now);
        self.append_generated(events);
        n
    }

    /// Generates `n` events published and committed now, and appends them.
    pub fn generate_now(&self, n: usize) -> usize {
        let now = now_ms();
        let events = lock(&self.inner).generator.generate_now(n, now);
        self.append_generated(events);
        n
    }

    /// Appends generated events to the store (their `published` text is in `raw`).
    fn append_generated(&self, events: Vec<GeneratedEvent>) {
        self.store_write()
            .append(events.into_iter().map(|g| NewEvent {
                uuid: g.uuid,
                event_type: g.event_type,
                published: None,
                published_ms: g.published_ms,
                commit_ms: g.commit_ms,
                raw: g.raw,
            }));
    }

    /// Commits caller-supplied events now.
    pub fn commit_values(&self, events: Vec<Value>) {
        let now = now_ms();
        let new: Vec<NewEvent> = events
            .into_iter()
            .map(|v| {
                let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
                let published = text("published");
                let published_ms = published.as_deref().and_then(parse_ms).unwrap_or(now);
                NewEvent {
                    uuid: text("uuid").unwrap_or_default(),
                    event_type: text("eventType").unwrap_or_default(),
                    published: Some(published.unwrap_or_default()),
                    published_ms,
                    commit_ms: now,
                    raw: v.to_string(),
                }
            })
            .collect();
        self.store_write().append(new);
    }

    /// Snapshot of all committed events.
    pub fn committed(&self) -> Vec<CommittedEvent> {
        self.store_read()
            .events()
            .iter()
            .map(|e| CommittedEvent {
                uuid: e.uuid.clone(),
                event_type: e.event_type.clone(),
                published: e.published.clone(),
                raw: e.raw.to_string(),
                commit_ms: e.commit_ms,
            })
            .collect()
    }
}
