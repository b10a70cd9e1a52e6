//! The Okta System Log connector.
//!
//! All Okta logic is plain Rust behind the [`Env`] trait (clock, randomness, HTTP, signing, commits),
//! so it is unit-tested natively; `component.rs` maps [`Env`] onto WASI and the host imports and
//! exports the `okta-ingest:connector/connector@1.2.0` and `sampling@1.2.0` interfaces when built for
//! wasm.

pub mod api;
pub mod assertion;
pub mod categories;
pub mod check;
pub mod dpop;
pub mod env;
pub mod errors;
pub mod filter;
pub mod fmt;
pub mod links;
pub mod page;
pub mod ratelimit;
pub mod sample;
pub mod scan;
pub mod session;
pub mod state;
pub mod tick;
pub mod token;
pub mod types;
pub mod www_authenticate;

#[cfg(target_family = "wasm")]
mod component;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

pub use check::run_check;
pub use env::{Env, HttpError, HttpErrorKind, HttpRequest, HttpResponse, Method};
pub use sample::run_sample;
pub use tick::run_tick;
pub use types::*;

/// Name, version and contract version of this build.
pub fn describe() -> Description {
    Description {
        name: "okta-system-log".to_string(),
        // A build can claim another version (the host's live-swap test builds one that way).
        version: option_env!("OKTA_CONNECTOR_VERSION")
            .unwrap_or(env!("CARGO_PKG_VERSION"))
            .to_string(),
        wit_version: "1.2.0".to_string(),
        state_schema: state::SCHEMA,
    }
}
