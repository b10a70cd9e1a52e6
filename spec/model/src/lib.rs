//! The okta-ingest domain model: the facts about Okta's System Log that more than one crate needs, each
//! defined once.
//!
//! - [`Categories`]: the event categories a user selects (the WIT `categories` flags, same bit order),
//!   their names, and [`CategoryCounts`], counters keyed by category.
//! - [`time`]: Okta's UTC timestamps (`2026-01-01T00:00:00.000Z`), formatting and parsing, and the
//!   wall clock in Unix milliseconds.
//! - [`rate_limit`]: Okta's `X-Rate-Limit-*` response headers.
//! - [`Tuning`]: pacing and retry settings of a tick, with the one set of defaults.
//! - [`ErrorKind`]: what went wrong in a tick (the WIT `error-kind`).
//! - [`EventSample`]: a bounded count of an org's recent events per event type (the WIT 1.2
//!   `sampling` export), for setup screens.
//! - [`DpopMode`] and [`TokenScheme`]: whether an instance asks for DPoP-bound tokens, and how a token
//!   is presented (the WIT `dpop` interface's enums).
//!
//! Which event types belong to which category is not here: the connector classifies (it owns Okta's API
//! semantics), and the emulator and the end-to-end tests keep their own, independent classification on
//! purpose, as test oracles.
//!
//! The crate has no dependencies and builds for `wasm32-wasip2` as well as natively.

mod categories;
mod dpop;
mod error_kind;
pub mod rate_limit;
mod sample;
pub mod time;
mod tuning;

pub use categories::{Categories, CategoryCounts};
pub use dpop::{DpopMode, TokenScheme};
pub use error_kind::ErrorKind;
pub use sample::{EventSample, EventTypeCount};
pub use tuning::Tuning;
