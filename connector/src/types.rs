//! Plain-Rust mirrors of the WIT `types` interface, so all logic builds and tests natively. `Categories`,
//! `ErrorKind` and `Tuning` are the shared model's (`okta-ingest-model`), the same types the host uses.

pub use okta_ingest_model::{Categories, DpopMode, ErrorKind, TokenScheme, Tuning};

/// One instance as the user configured it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceConfig {
    /// Okta domain (`company.okta.com` or `host:port`), no scheme, no path.
    pub domain: String,
    /// OAuth client id of the API Services app.
    pub client_id: String,
    /// `kid` for the client-assertion header.
    pub key_id: Option<String>,
    /// Days of history fetched on the very first tick.
    pub backfill_days: u8,
    /// Categories to deliver.
    pub categories: Categories,
    /// Whether to ask for DPoP-bound tokens (WIT 1.1 `dpop.mode`).
    pub dpop: DpopMode,
}

/// An access token cached by the host between ticks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessToken {
    /// The token as Okta returned it.
    pub token: String,
    /// Expiry, Unix epoch milliseconds.
    pub expires_at_ms: u64,
    /// How it is presented: `DPoP` tokens are bound to the host's proof key and need a proof per request.
    pub scheme: TokenScheme,
}

/// Everything one tick needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TickInput {
    /// The instance.
    pub config: InstanceConfig,
    /// Cursor state last committed; `None` before the first page.
    pub state: Option<Vec<u8>>,
    /// A token from an earlier tick.
    pub token: Option<AccessToken>,
    /// Limits and pacing.
    pub tuning: Tuning,
}

/// One event to deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Okta's `uuid`.
    pub uuid: String,
    /// Okta's `eventType`.
    pub event_type: String,
    /// Okta's `published`, as sent (empty when absent).
    pub published: String,
    /// Selected categories the event belongs to.
    pub categories: Categories,
    /// The event's JSON exactly as Okta sent it.
    pub raw: String,
}

/// A failure, with what to tell the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TickError {
    /// The kind.
    pub kind: ErrorKind,
    /// One line: what failed and what to do.
    pub message: String,
    /// HTTP status Okta answered, if any.
    pub http_status: Option<u16>,
    /// Okta's `errorCode` or OAuth `error`, if any.
    pub okta_code: Option<String>,
}

impl TickError {
    /// An error without HTTP details.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        TickError {
            kind,
            message: one_line(message.into()),
            http_status: None,
            okta_code: None,
        }
    }
    /// An error carrying Okta's status and code.
    pub fn http(
        kind: ErrorKind,
        message: impl Into<String>,
        status: u16,
        code: Option<String>,
    ) -> Self {
        TickError {
            kind,
            message: one_line(message.into()),
            http_status: Some(status),
            okta_code: code,
        }
    }
}

/// Messages may embed Okta's text; the contract promises one line, so fold any line breaks.
fn one_line(s: String) -> String {
    if s.contains(['\n', '\r']) {
        s.replace(['\n', '\r'], " ")
    } else {
        s
    }
}

/// The outcome of one tick.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Pages fetched.
    pub pages: u32,
    /// Events committed.
    pub events: u32,
    /// Events outside the selected categories.
    pub filtered: u32,
    /// Events dropped by de-duplication.
    pub duplicates: u32,
    /// 429 answers and rate-limit waits.
    pub rate_limited: u32,
    /// True when the last page was empty.
    pub caught_up: bool,
    /// Token to reuse next tick.
    pub token: Option<AccessToken>,
    /// Set when the tick ended early.
    pub error: Option<TickError>,
}

/// What a connector build is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Description {
    /// Connector name.
    pub name: String,
    /// Semantic version of this build.
    pub version: String,
    /// WIT package version targeted.
    pub wit_version: String,
    /// Newest cursor-state schema read and written.
    pub state_schema: u32,
}

/// Log severity (mirror of the WIT `log-level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    /// Detail for `-vv`: each request and decision.
    Debug,
    /// Progress worth seeing in a service log.
    Info,
    /// Something the user may have to act on, e.g. a page that needed the slow parse.
    Warn,
    /// A failure the tick reports as its error.
    Error,
}
