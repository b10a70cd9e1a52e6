//! The Elasticsearch / OpenSearch `_bulk` sink's settings.

use std::path::PathBuf;
use std::time::Duration;

/// What each indexed document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkDocument {
    /// The event's own members, byte for byte, after an added `@timestamp` (its `published`): for an
    /// index or data stream of your own.
    Event,
    /// `{"@timestamp": published, "message": "<the event as a JSON string>"}`: what Elastic's Okta
    /// integration pipeline (`logs-okta.system-*`) parses into ECS.
    Message,
}

/// How the sink authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkAuth {
    /// No `Authorization` header.
    None,
    /// `Authorization: ApiKey VALUE`, VALUE from this environment variable (the encoded API key).
    ApiKeyEnv(String),
    /// `Authorization: Basic …`, from this environment variable holding `USER:PASSWORD`.
    BasicEnv(String),
}

/// The `_bulk` sink's settings.
#[derive(Debug, Clone)]
pub struct BulkOptions {
    /// How requests authenticate; secrets come from the environment, never logged.
    pub auth: BulkAuth,
    /// What each document is.
    pub document: BulkDocument,
    /// Most events per request.
    pub batch_events: usize,
    /// Most bytes per request body (a single larger event is still sent, alone).
    pub batch_bytes: usize,
    /// Extra CA certificates (PEM) to trust besides the system roots.
    pub ca_file: Option<PathBuf>,
    /// Timeout of one request (connect, send, response).
    pub timeout: Duration,
    /// Retries of one request, or of the items the cluster refused for now (429, 5xx), before the write
    /// fails.
    pub retries: u32,
    /// First back-off (doubles per retry, ±jitter, at most 30 s).
    pub retry_base: Duration,
}

impl Default for BulkOptions {
    /// No auth, the event as the document, 1,000 events or 5 MiB a request, system roots, 30 s a
    /// request, 5 retries from 500 ms.
    fn default() -> Self {
        BulkOptions {
            auth: BulkAuth::None,
            document: BulkDocument::Event,
            batch_events: 1000,
            batch_bytes: 5 * 1024 * 1024,
            ca_file: None,
            timeout: Duration::from_secs(30),
            retries: 5,
            retry_base: Duration::from_millis(500),
        }
    }
}
