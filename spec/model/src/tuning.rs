//! Pacing and retry settings of a tick, with the defaults every host and test starts from.

/// Pacing and retry settings of one tick, in the units of the WIT `tuning` record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// Most System Log pages one tick fetches before the scheduler gets control back.
    pub max_pages: u32,
    /// Longest single wait for a rate-limit reset, ms; a longer one ends the tick instead.
    pub max_wait_ms: u64,
    /// First back-off after a 5xx, timeout or reset connection, ms (doubles per retry).
    pub retry_base_ms: u64,
    /// Retries of one request before the tick gives up.
    pub max_retries: u32,
    /// Share of the org's `X-Rate-Limit-Limit` to use, percent (1..=100); the rest stays free for the
    /// org's other API clients.
    pub rate_limit_share_percent: u8,
    /// Events per page, Okta's `limit` (1..=1000).
    pub page_size: u32,
    /// Timeout of one request until Okta's response headers, ms.
    pub request_timeout_ms: u64,
}

impl Default for Tuning {
    /// The defaults of the `okta-ingest` command and of `HostConfig`: 100 pages a tick, waits of up to
    /// 2 minutes for a rate-limit reset, 1 s first back-off, 4 retries, half of the org's rate limit,
    /// 1,000 events a page, 60 s to Okta's response headers.
    fn default() -> Self {
        Tuning {
            max_pages: 100,
            max_wait_ms: 120_000,
            retry_base_ms: 1_000,
            max_retries: 4,
            rate_limit_share_percent: 50,
            page_size: 1000,
            request_timeout_ms: 60_000,
        }
    }
}
