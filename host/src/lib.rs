//! okta-ingest host library: runs the Okta System Log connector component in a wasmtime sandbox, keeps
//! durable state in SQLite, schedules ticks and feeds sinks. See `ARCHITECTURE.md` for the map.
//!
//! Embedding: build a [`Host`] from a [`HostConfig`], add instances, then [`Host::run_once`] or
//! [`Host::run`] with a [`sink::Sink`] of your own.

pub mod activation;
pub mod config;
pub mod http;
pub mod ingest;
pub mod runtime;
pub mod schedule;
pub mod signing;
pub mod sink;
pub mod state;
pub mod versions;

pub use config::Categories;
pub use ingest::{
    EditInstance, Host, HostConfig, HostError, InstanceRun, NewInstance, RunSummary, Tuning,
};
pub use runtime::{CommitStats, ComponentSource, SandboxLimits};
