//! Failures of the state, in terms a user can act on. Messages name no command-line flags: the CLI adds
//! those hints.

use thiserror::Error;

/// The error a backend's cause is carried as.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A failure of the durable state; nothing of the failed call happened.
#[derive(Debug, Error)]
pub enum StateError {
    /// The state could not be created or opened.
    #[error(
        "cannot open state database {path}: {source}; check the path and its directory permissions"
    )]
    Open {
        /// Where it is.
        path: String,
        /// Why not.
        #[source]
        source: BoxError,
    },
    /// The state exists but is not a usable okta-ingest database.
    #[error("state database {path} is unreadable ({detail}); it may be corrupt or not an okta-ingest database: restore it from a backup or use another state file")]
    Corrupt {
        /// Where it is.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// The state was written by a newer okta-ingest.
    #[error("state database {path} has schema version {found}, newer than this okta-ingest understands ({supported}); upgrade okta-ingest")]
    TooNew {
        /// Where it is.
        path: String,
        /// The version found.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// Another process holds the state.
    #[error("state database {0} is locked by another process (is another okta-ingest running with the same state file?)")]
    Locked(String),
    /// Another process is the state's runner: it ticks and delivers, and a state has one runner.
    #[error("state database {path} is in use by another okta-ingest run ({holder}); one process at a time ticks and delivers a state's instances: stop that one first, or give this one another state file")]
    InUse {
        /// Where the state is.
        path: String,
        /// Who holds it: `pid N since TIME`, as the holder recorded it.
        holder: String,
    },
    /// A fleet's lease on the shard moved to another host (or lapsed) before this commit: nothing of
    /// it happened, and the new holder continues from what was committed.
    #[error("the lease on shard {shard} is no longer this host's ({detail}); nothing was committed, and the shard's new holder continues from the last commit")]
    Fenced {
        /// The shard.
        shard: u32,
        /// Who holds it now, or why it lapsed.
        detail: String,
    },
    /// The state database cannot be reached (down, or the network to it); nothing of the call happened.
    #[error(
        "cannot reach the state database {location}: {source}; polling pauses until it is back"
    )]
    Unavailable {
        /// Where it is (without a password).
        location: String,
        /// Why not.
        #[source]
        source: BoxError,
    },
    /// No instance of that name.
    #[error("no instance named {0:?}")]
    NoSuchInstance(String),
    /// An instance of that name exists.
    #[error("an instance named {0:?} already exists; choose another name or edit it")]
    DuplicateInstance(String),
    /// Any other failure of the database.
    #[error("state database error: {0}")]
    Database(#[source] BoxError),
    /// Preparing data for the database failed (out of memory, in practice).
    #[error("state database: could not {action}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}
