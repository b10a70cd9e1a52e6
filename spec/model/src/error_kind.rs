//! What went wrong in a tick, in terms a user can act on: the WIT `error-kind` enum, same cases.

/// The kind of a tick's failure, as the connector classified it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The app requires DPoP-bound tokens and the token request carried no proof.
    DpopRequired,
    /// The client assertion was rejected: wrong private key or `kid`.
    InvalidSignature,
    /// Okta does not know the client id.
    UnknownClient,
    /// `okta.logs.read` is not granted to the app.
    ScopeNotGranted,
    /// The app has no admin role that may read the System Log.
    Forbidden,
    /// Any other token-endpoint rejection.
    AuthFailed,
    /// TLS, DNS, connection or timeout failure reaching Okta (transient).
    Network,
    /// Rate limited for longer than the tick may wait (transient).
    RateLimited,
    /// Okta answered 5xx after all retries (transient).
    ServerError,
    /// Okta answered something unusable: not JSON, truncated, no `next` link (transient).
    BadResponse,
    /// Okta refused the request as invalid (400), e.g. a bad filter.
    InvalidRequest,
    /// The cursor state could not be read, e.g. written by a newer connector.
    State,
    /// The host refused a call: a commit or a signature failed.
    Host,
}

impl ErrorKind {
    /// True for failures that go away by themselves (network, rate limit, 5xx, a bad answer): the next
    /// tick retries, nobody has to change anything.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::Network
                | ErrorKind::RateLimited
                | ErrorKind::ServerError
                | ErrorKind::BadResponse
        )
    }

    /// The kebab-case name of the WIT case (`scope-not-granted`), for logs and machine-readable output.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::DpopRequired => "dpop-required",
            ErrorKind::InvalidSignature => "invalid-signature",
            ErrorKind::UnknownClient => "unknown-client",
            ErrorKind::ScopeNotGranted => "scope-not-granted",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::AuthFailed => "auth-failed",
            ErrorKind::Network => "network",
            ErrorKind::RateLimited => "rate-limited",
            ErrorKind::ServerError => "server-error",
            ErrorKind::BadResponse => "bad-response",
            ErrorKind::InvalidRequest => "invalid-request",
            ErrorKind::State => "state",
            ErrorKind::Host => "host",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
