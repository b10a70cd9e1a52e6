//! The syslog sink's settings.

use std::path::PathBuf;
use std::time::Duration;

/// The syslog facilities of RFC 5424 §6.2.1, by the names syslog configurations use.
pub const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// The syslog-over-TLS sink's settings.
#[derive(Debug, Clone)]
pub struct SyslogOptions {
    /// The facility of every message, a name from [`FACILITIES`]; `auth` (security and authorisation
    /// messages) by default. The severity comes from each event's `severity`.
    pub facility: String,
    /// APP-NAME of every message (at most 48 printable ASCII characters).
    pub app_name: String,
    /// HOSTNAME of every message (at most 255 printable ASCII characters); the machine's hostname when
    /// `None`.
    pub hostname: Option<String>,
    /// The SD-ID of the structured data element that carries the event's `uuid`, `eventType`, instance
    /// and sequence number: `NAME@PEN`, where PEN is an IANA private enterprise number. The default,
    /// `okta@32473`, uses the number RFC 5612 reserves for documentation; set your organisation's own.
    pub sd_id: String,
    /// Most events per connection (each connection is one unit of acknowledgement: see the module).
    pub batch_events: usize,
    /// Most bytes per connection; a single larger message still goes, alone.
    pub batch_bytes: usize,
    /// Extra CA certificates (PEM) to trust besides the system roots.
    pub ca_file: Option<PathBuf>,
    /// For a receiver that authenticates senders (mutual TLS): the PEM certificate chain and the PEM
    /// private key files. The key is read when the sink opens and never stored or logged.
    pub client_certificate: Option<(PathBuf, PathBuf)>,
    /// Timeout of each step of a connection: connect, each write, and the receiver's close.
    pub timeout: Duration,
    /// Retries of one connection after a failure, before the write fails.
    pub retries: u32,
    /// First back-off (doubles per retry, ±jitter, at most 30 s).
    pub retry_base: Duration,
}

impl Default for SyslogOptions {
    /// Facility `auth`, APP-NAME `okta-ingest`, the machine's hostname, SD-ID `okta@32473`, 1,000 events
    /// or 4 MB a connection, system roots, 30 s a step, 5 retries from 500 ms.
    fn default() -> Self {
        SyslogOptions {
            facility: "auth".to_string(),
            app_name: "okta-ingest".to_string(),
            hostname: None,
            sd_id: "okta@32473".to_string(),
            batch_events: 1000,
            batch_bytes: 4_000_000,
            ca_file: None,
            client_certificate: None,
            timeout: Duration::from_secs(30),
            retries: 5,
            retry_base: Duration::from_millis(500),
        }
    }
}
