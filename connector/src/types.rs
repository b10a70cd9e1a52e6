//! Plain-Rust mirrors of the WIT `types` interface, so all logic builds and tests natively.

/// Event categories a user can select (mirror of the WIT `categories` flags, same bit order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Categories(pub u8);

impl Categories {
    /// Authentication events.
    pub const AUTHENTICATION: Categories = Categories(1);
    /// Security events.
    pub const SECURITY: Categories = Categories(2);
    /// Identity Threat Protection events.
    pub const ITP: Categories = Categories(4);
    /// Identity lifecycle events.
    pub const LIFECYCLE: Categories = Categories(8);
    /// Every category.
    pub const ALL: Categories = Categories(15);
    /// No category.
    pub const NONE: Categories = Categories(0);

    /// True when every flag of `other` is set in `self`.
    pub fn contains(self, other: Categories) -> bool {
        self.0 & other.0 == other.0
    }
    /// True when no flag is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// Flags set in both.
    pub fn intersect(self, other: Categories) -> Categories {
        Categories(self.0 & other.0)
    }
}

impl std::ops::BitOr for Categories {
    type Output = Categories;
    fn bitor(self, rhs: Categories) -> Categories {
        Categories(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for Categories {
    fn bitor_assign(&mut self, rhs: Categories) {
        self.0 |= rhs.0;
    }
}

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
}

/// An access token cached by the host between ticks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessToken {
    /// The bearer token as Okta returned it.
    pub token: String,
    /// Expiry, Unix epoch milliseconds.
    pub expires_at_ms: u64,
}

/// Host-chosen limits and pacing for one tick.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// Most pages fetched in one tick.
    pub max_pages: u32,
    /// Longest single rate-limit wait, ms.
    pub max_wait_ms: u64,
    /// First back-off, ms (doubles per retry).
    pub retry_base_ms: u64,
    /// Retries of one request before giving up.
    pub max_retries: u32,
    /// Share of `X-Rate-Limit-Limit` this instance may use, percent.
    pub rate_limit_share_percent: u8,
    /// Events per page.
    pub page_size: u32,
    /// Timeout of one HTTP request until the first response byte, ms.
    pub request_timeout_ms: u64,
}

impl Default for Tuning {
    /// Values a host would reasonably choose; used by tests and examples.
    fn default() -> Self {
        Tuning {
            max_pages: 100,
            max_wait_ms: 65_000,
            retry_base_ms: 500,
            max_retries: 4,
            rate_limit_share_percent: 50,
            page_size: 1000,
            request_timeout_ms: 30_000,
        }
    }
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

/// What went wrong, in terms a user can act on (mirror of the WIT `error-kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The app requires DPoP.
    DpopRequired,
    /// The client assertion was rejected (key or `kid`).
    InvalidSignature,
    /// Okta does not know the client id.
    UnknownClient,
    /// `okta.logs.read` not granted.
    ScopeNotGranted,
    /// The app has no admin role.
    Forbidden,
    /// Other token-endpoint rejection.
    AuthFailed,
    /// TLS, DNS, connection or timeout failure.
    Network,
    /// Rate limited for longer than allowed.
    RateLimited,
    /// 5xx after all retries.
    ServerError,
    /// Unusable answer.
    BadResponse,
    /// Okta refused the request as invalid (400).
    InvalidRequest,
    /// Cursor state unreadable.
    State,
    /// The host refused a call.
    Host,
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
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warning.
    Warn,
    /// Error.
    Error,
}
