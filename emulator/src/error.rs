//! Errors the emulator reports to its (Rust) caller. Errors a *client* causes are never
//! `EmulatorError`s: they become Okta-shaped HTTP answers instead.

/// Failures while starting the emulator or generating key material.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// Binding or inspecting the listening socket failed.
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    /// Generating the CA or server certificate failed.
    #[error("certificate generation failed: {0}")]
    Certificate(#[from] rcgen::Error),
    /// Building the rustls server configuration failed.
    #[error("TLS configuration failed: {0}")]
    Tls(#[from] rustls::Error),
    /// A file for a client (its key, the CA) could not be written.
    #[error("cannot write {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file kept from an earlier start (a key, the CA) could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file kept from an earlier start is not safe or not usable as what it should be: a link, not
    /// a regular file, readable or writable by other users, or not a key.
    #[error("refusing to use {path}: {reason}")]
    Refused {
        /// The file.
        path: String,
        /// Why, and what to do about it.
        reason: String,
    },
    /// RSA key generation or encoding failed.
    #[error("RSA key error: {0}")]
    Key(String),
}
