//! The Splunk HEC sink's settings.

use std::path::PathBuf;
use std::time::Duration;

/// The Splunk HTTP Event Collector sink's settings; the defaults suit Splunk's Okta add-on.
#[derive(Debug, Clone)]
pub struct SplunkHecOptions {
    /// Name of the environment variable holding the HEC token (sent as `Authorization: Splunk TOKEN`);
    /// read once when the sink opens, never logged.
    pub token_env: String,
    /// The events' `sourcetype`: `OktaIM2:log` is the one the Splunk Add-on for Okta Identity Cloud
    /// maps to CIM.
    pub sourcetype: String,
    /// The events' `index` (the token's default index when `None`).
    pub index: Option<String>,
    /// The events' `source` (the token's default when `None`).
    pub source: Option<String>,
    /// The events' `host` (the collector's default when `None`).
    pub host: Option<String>,
    /// Wait for indexer acknowledgement (the token needs "Enable indexer acknowledgement"): a batch
    /// counts as delivered only once `/services/collector/ack` reports it indexed.
    pub ack: bool,
    /// How long to wait for a batch's acknowledgement before the write fails (the batch stays queued
    /// and is sent again).
    pub ack_timeout: Duration,
    /// Time between acknowledgement queries.
    pub ack_poll: Duration,
    /// Most events per POST.
    pub batch_events: usize,
    /// Most bytes per POST body (a single larger event is still sent, alone).
    pub batch_bytes: usize,
    /// Extra CA certificates (PEM) to trust besides the system roots.
    pub ca_file: Option<PathBuf>,
    /// Timeout of one request (connect, send, response).
    pub timeout: Duration,
    /// Retries of one request after a retryable failure, before the write fails.
    pub retries: u32,
    /// First back-off (doubles per retry, ±jitter, at most 30 s).
    pub retry_base: Duration,
}

/// The environment variable the HEC token is read from unless another is named.
pub const DEFAULT_TOKEN_ENV: &str = "SPLUNK_HEC_TOKEN";

impl Default for SplunkHecOptions {
    /// `SPLUNK_HEC_TOKEN`, sourcetype `OktaIM2:log`, no acknowledgement (2 min / 1 s when enabled), 500
    /// events or 1 MB a POST (HEC's default `max_content_length`), system roots, 30 s a request, 5 retries
    /// from 500 ms.
    fn default() -> Self {
        SplunkHecOptions {
            token_env: DEFAULT_TOKEN_ENV.to_string(),
            sourcetype: "OktaIM2:log".to_string(),
            index: None,
            source: None,
            host: None,
            ack: false,
            ack_timeout: Duration::from_secs(120),
            ack_poll: Duration::from_secs(1),
            batch_events: 500,
            batch_bytes: 1_000_000,
            ca_file: None,
            timeout: Duration::from_secs(30),
            retries: 5,
            retry_base: Duration::from_millis(500),
        }
    }
}
