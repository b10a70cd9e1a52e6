//! The webhook sink's settings.

use std::path::PathBuf;
use std::time::Duration;

/// The webhook sink's settings; the defaults suit most receivers.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// Most events per POST.
    pub batch_events: usize,
    /// Most bytes per POST body (a single larger event is still sent, alone).
    pub batch_bytes: usize,
    /// Name of the environment variable holding the `Authorization` header value (e.g. `Bearer xyz`); the
    /// value is read once when the sink opens and never logged.
    pub auth_env: Option<String>,
    /// Extra CA certificates (PEM) to trust besides the system roots.
    pub ca_file: Option<PathBuf>,
    /// Timeout of one request (connect, send, response).
    pub timeout: Duration,
    /// Retries of one batch after a retryable failure, before the write fails.
    pub retries: u32,
    /// First back-off (doubles per retry, ±jitter, at most [`MAX_BACKOFF`](crate::delivery::https::MAX_BACKOFF)).
    pub retry_base: Duration,
}

impl Default for WebhookOptions {
    /// 500 events or 4 MiB a POST, no `Authorization`, system roots, 30 s a request, 5 retries from 500 ms.
    fn default() -> Self {
        WebhookOptions {
            batch_events: 500,
            batch_bytes: 4 * 1024 * 1024,
            auth_env: None,
            ca_file: None,
            timeout: Duration::from_secs(30),
            retries: 5,
            retry_base: Duration::from_millis(500),
        }
    }
}
