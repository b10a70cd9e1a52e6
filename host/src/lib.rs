//! okta-ingest host library: runs the Okta System Log connector component in a wasmtime sandbox, keeps
//! durable state (SQLite by default), schedules ticks and feeds sinks. The `okta-ingest` command is a
//! thin CLI over this library; `ARCHITECTURE.md` is the map.
//!
//! # Embedding
//!
//! 1. Build a [`Host`] with [`Host::open`] from a [`HostConfig`] (the state file keeps instances,
//!    cursors and the outbox; [`HostConfig::new`] gives the defaults: the embedded connector, 50% of each
//!    org's rate limit, 8 instances at a time).
//! 2. Add instances once with [`Host::add_instance`] (everything is validated; nothing is stored if a
//!    value is refused). They persist in the state.
//! 3. Implement [`Sink`] for your destination. `write` is called on a delivery thread with events in
//!    commit order; returning `Ok` acknowledges them (they leave the outbox), returning `Err` keeps them
//!    queued and delivery retries.
//! 4. Optionally follow progress with [`Host::set_commit_observer`] (after each committed page) or
//!    [`Host::subscribe`] (ticks finished, versions rolled back).
//! 5. Catch up once with [`Host::run_once`], or poll on a schedule with [`Host::run`] until a shutdown
//!    future resolves (ticks in flight finish and the outbox is drained before it returns).
//!
//! `host/examples/embed.rs` is a complete, runnable version (`cargo run -p okta-ingest-host --example
//! embed`, against the built-in emulator unless `OKTA_DOMAIN` is set).
//!
//! ```no_run
//! use okta_ingest::{Categories, Host, HostConfig, NewInstance, OutboxEvent, Sink, SinkError};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! /// Hands events to the rest of the service through a channel.
//! struct ChannelSink(tokio::sync::mpsc::Sender<(String, String)>);
//!
//! impl Sink for ChannelSink {
//!     fn id(&self) -> String {
//!         "channel".into()
//!     }
//!     fn write(&mut self, events: &[OutboxEvent]) -> Result<(), SinkError> {
//!         for e in events {
//!             // The delivery thread is not an async context: blocking_send gives back-pressure.
//!             self.0
//!                 .blocking_send((e.event_type.clone(), e.raw.clone()))
//!                 .map_err(|_| SinkError::Other { sink: self.id(), message: "service stopped".into() })?;
//!         }
//!         Ok(())
//!     }
//! }
//!
//! # async fn service() -> anyhow::Result<()> {
//! let host = Host::open(HostConfig::new("/var/lib/my-service/okta.db"))?;
//! if host.list_instances().await?.is_empty() {
//!     host.add_instance(NewInstance {
//!         name: "prod".into(),
//!         domain: "company.okta.com".into(),
//!         client_id: "0oa1b2c3d4".into(),
//!         private_key: "/etc/my-service/okta-app-key.pem".into(),
//!         key_id: None,
//!         backfill_days: 7,
//!         categories: Categories::DEFAULT,
//!         ca_file: None,
//!         // Bound tokens where the app requires them, Bearer where it does not.
//!         dpop: okta_ingest::DpopMode::Auto,
//!         silence_after: Some(okta_ingest::DEFAULT_SILENCE_AFTER),
//!         // Every event type of the selected categories.
//!         exclusions: okta_ingest::Exclusions::default(),
//!         // Every member of every event.
//!         redaction: okta_ingest::Redaction::default(),
//!     })
//!     .await?;
//! }
//! host.set_commit_observer(Arc::new(|instance: &str, stats: &okta_ingest::CommitStats| {
//!     println!("{instance}: {} events so far this tick", stats.events);
//! }));
//!
//! let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
//! tokio::spawn(async move {
//!     while let Some((event_type, raw)) = rx.recv().await {
//!         // ... the service's own work ...
//! #       let _ = (event_type, raw);
//!     }
//! });
//!
//! // Catch up once...
//! let summary = host.run_once(Box::new(ChannelSink(tx.clone()))).await?;
//! println!("{} events delivered, all ok: {}", summary.delivered, summary.ok());
//! // ...then poll every 5 minutes until the service shuts down.
//! let shutdown = async {
//!     let _ = tokio::signal::ctrl_c().await;
//! };
//! host.run(Box::new(ChannelSink(tx)), Duration::from_secs(300), shutdown).await?;
//! # Ok(())
//! # }
//! # fn main() { let _ = service(); }
//! ```
//!
//! Instances of the same Okta org share its rate budget: each paces on the org-wide
//! `X-Rate-Limit-Remaining` (see [`Tuning::rate_limit_share_percent`]).
//!
//! # The API
//!
//! Everything public is re-exported here; the modules are private, except [`state`], the seam for
//! state backends (its traits, the records they store, and [`SqliteState`]). No type generated from the
//! WIT contract appears in the API: [`TickReport`], [`ErrorKind`] and [`ConnectorInfo`] are the host's
//! own.
//!
//! [`keys`] makes and describes the RSA keys users register in Okta (its items are re-exported here too).

#![warn(missing_docs)]
#![doc(test(attr(deny(warnings))))]

mod admin;
mod config;
mod credentials;
mod delivery;
mod dpop;
mod error;
mod events;
mod exclusions;
mod files;
mod host;
mod instances;
pub mod keys;
mod machine;
mod metrics;
mod outbound;
mod redaction;
mod rotation;
mod run;
mod runtime;
mod schedule;
mod services;
pub mod setup;
mod signing;
pub mod state;
mod status;
mod stop;
mod tick;
mod validate;
mod versions;

pub use admin::{AdminEndpoint, AdminError};
pub use config::{HostConfig, Tuning};
pub use delivery::{
    BulkAuth, BulkDocument, BulkOptions, ElasticsearchSink, FileSink, ReopenHandle, Repair,
    S3Addressing, S3Options, S3Sink, Sink, SinkError, SinkSetting, SinkStop, SplunkHecOptions,
    SplunkHecSink, StdoutSink, SyslogOptions, SyslogSink, WebhookOptions, WebhookSink,
    DEFAULT_BATCH_EVENTS, DEFAULT_HEC_TOKEN_ENV, SYSLOG_FACILITIES,
};
/// The JWS algorithm of the host's DPoP proofs (the token kind `check` reports: `DPoP (ES256)`).
pub use dpop::ALG as DPOP_PROOF_ALG;
pub use error::HostError;
pub use events::StatusEvent;
pub use exclusions::{Exclusions, MAX_EXCLUSIONS};
pub use host::Host;
pub use instances::{EditInstance, NewInstance};
pub use keys::{
    instance_key_path, keys_dir, rsa_thumbprint, store_private_pem, GeneratedKey, KeyFileError,
    PublicKeyInfo,
};
pub use metrics::{InstanceFigures, Metrics};
pub use okta_ingest_model::{
    Categories, CategoryCounts, DpopMode, ErrorKind, EventSample, EventTypeCount, TokenScheme,
};
pub use outbound::{HttpLimits, HttpSetupError, OutboundInterceptor};
pub use redaction::{Redaction, MAX_REDACTION_RULES};
pub use rotation::RotationDone;
pub use run::{InstanceRun, RunSummary};
pub use runtime::{
    CommitObserver, CommitStats, ComponentSource, ConnectorInfo, PageRefused, RuntimeError,
    SandboxLimits, WIT_MAJOR,
};
pub use signing::KeyError;
pub use state::{
    ComponentHash, ComponentRecord, Instance, LastOutcome, OutboxEvent, SqliteState, StateError,
    Version,
};
pub use status::{InstanceStatus, Phase};
pub use tick::{FailureCause, TickFailure, TickOutcome, TickReport};
pub use validate::{
    normalize_domain, parse_backfill, parse_categories, validate_name, ConfigError,
    DEFAULT_SILENCE_AFTER, MAX_BACKFILL_DAYS, MIN_SILENCE_AFTER,
};
pub use versions::ComponentUse;

/// The `User-Agent` of every request the host sends.
pub(crate) const USER_AGENT: &str = concat!("okta-ingest/", env!("CARGO_PKG_VERSION"));
