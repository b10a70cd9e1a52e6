//! okta-ingest host library: runs the Okta System Log connector component in a wasmtime sandbox, keeps
//! durable state in SQLite, schedules ticks and feeds sinks. See `ARCHITECTURE.md` for the map.
//!
//! # Embedding
//!
//! The `okta-ingest` binary is a thin CLI over this library; another tokio service can embed it the same
//! way:
//!
//! 1. Build a [`Host`] with [`Host::open`] from a [`HostConfig`] (the SQLite state file keeps instances,
//!    cursors and the outbox; [`HostConfig::new`] gives the defaults: the embedded connector, 50% of the
//!    org's rate limit, 8 instances at a time).
//! 2. Add instances once with [`Host::add_instance`] (everything is validated; nothing is stored if a
//!    value is refused). They persist in the state file.
//! 3. Implement [`sink::Sink`] for your destination. `write` is called on a delivery thread with events
//!    in commit order; returning `Ok` acknowledges them (they leave the outbox), returning `Err` keeps
//!    them queued and delivery retries.
//! 4. Optionally subscribe to progress with [`Host::set_commit_observer`] (called after each committed
//!    page).
//! 5. Catch up once with [`Host::run_once`], or poll on a schedule with [`Host::run`] until a shutdown
//!    future resolves (in-flight ticks finish and the outbox is drained before it returns).
//!
//! `host/examples/embed.rs` is a complete, runnable version (`cargo run -p okta-ingest --example embed`,
//! against the built-in emulator unless `OKTA_DOMAIN` is set).
//!
//! ```no_run
//! use okta_ingest::sink::{Sink, SinkError};
//! use okta_ingest::state::OutboxRow;
//! use okta_ingest::{Categories, Host, HostConfig, NewInstance};
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
//!     fn write(&mut self, events: &[OutboxRow]) -> Result<(), SinkError> {
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
//! let host = Arc::new(Host::open(HostConfig::new("/var/lib/my-service/okta.db"))?);
//! if host.list_instances()?.is_empty() {
//!     host.add_instance(NewInstance {
//!         name: "prod".into(),
//!         domain: "company.okta.com".into(),
//!         client_id: "0oa1b2c3d4".into(),
//!         private_key: "/etc/my-service/okta-app-key.pem".into(),
//!         key_id: None,
//!         backfill_days: 7,
//!         categories: Categories::DEFAULT,
//!         ca_file: None,
//!     })?;
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
//! ```
//!
//! Instances of the same Okta org share its rate budget: each paces on the org-wide
//! `X-Rate-Limit-Remaining` (see [`Tuning::rate_limit_share_percent`]).

#![warn(missing_docs)]

pub mod activation;
pub mod admin;
pub mod budget;
pub mod config;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod runtime;
pub mod schedule;
pub mod signing;
pub mod sink;
pub mod state;
pub mod status;
pub mod versions;
pub mod webhook;

pub use config::Categories;
pub use ingest::{
    EditInstance, Host, HostConfig, HostError, InstanceRun, NewInstance, RunSummary, StatusEvent,
    Tuning,
};
pub use runtime::{CommitStats, ComponentSource, SandboxLimits};
