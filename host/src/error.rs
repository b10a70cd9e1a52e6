//! [`HostError`]: any failure of a host operation, with what the user should do. Messages name no
//! command-line flags; the CLI adds those hints.

use crate::delivery::SinkError;
use crate::outbound::HttpSetupError;
use crate::runtime::RuntimeError;
use crate::signing::KeyError;
use crate::state::StateError;
use crate::validate::ConfigError;
use okta_ingest_model::ErrorKind;
use thiserror::Error;

/// Any failure of a host operation.
#[derive(Debug, Error)]
pub enum HostError {
    /// A setting cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The private key cannot be used.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The state failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The HTTPS client or a CA file cannot be used.
    #[error(transparent)]
    Http(#[from] HttpSetupError),
    /// A component cannot be loaded, or a call into it failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A sink failed.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// No stored component matches a version or hash.
    #[error("no stored component has version or hash {0:?}")]
    VersionNotFound(String),
    /// Several stored components match a version or hash prefix.
    #[error("{count} stored components match {given:?}; give a longer hash prefix")]
    AmbiguousVersion {
        /// What was asked for.
        given: String,
        /// How many match.
        count: usize,
    },
    /// The active version's component is no longer stored.
    #[error("active version {0} is not stored any more; activate another")]
    VersionMissing(String),
    /// A stored component's file no longer has the content it was stored with.
    #[error("stored connector version {version} at {path} was changed after it was added and is not run; add the component again, or activate another version")]
    VersionTampered {
        /// The version it was.
        version: String,
        /// The file.
        path: String,
    },
    /// Nothing was activated in the scope of a rollback.
    #[error("nothing to roll back: no version was activated in that scope")]
    NothingToRollBack,
    /// A key file could not be made or read.
    #[error(transparent)]
    KeyFile(#[from] crate::keys::KeyFileError),
    /// Finishing or cancelling a key rotation that was not started.
    #[error("instance {0} has no key rotation in progress; start one first")]
    NoKeyRotation(String),
    /// The backfill of an existing instance cannot change.
    #[error("the backfill of an existing instance cannot be edited (it only applies to the first tick, which has run or is set up); remove and re-add the instance to backfill again")]
    BackfillNotEditable,
    /// The connector version an instance runs cannot sample (it predates WIT 1.2).
    #[error("connector {version} cannot sample recent events (it targets WIT {wit_version}; sampling needs 1.2 or newer): activate a newer connector version")]
    SamplingUnsupported {
        /// The connector's version.
        version: String,
        /// The WIT version it targets.
        wit_version: String,
    },
    /// Okta or the connector reported a failure (`check`, `sample`).
    #[error("{instance}: {message}")]
    Check {
        /// Instance name.
        instance: String,
        /// The kind, as the connector classified it.
        kind: ErrorKind,
        /// One line: what failed and what to do.
        message: String,
        /// HTTP status Okta answered, if any.
        http_status: Option<u16>,
        /// Okta's `errorCode` or OAuth `error`, if any.
        okta_code: Option<String>,
    },
}
