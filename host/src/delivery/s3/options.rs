//! The S3 sink's settings.

use std::path::PathBuf;
use std::time::Duration;

/// How a bucket is named in request URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Addressing {
    /// Virtual-hosted on AWS (`https://BUCKET.s3.REGION.amazonaws.com/KEY`) unless the bucket name has a
    /// dot (its TLS name would not match); path style on any other endpoint.
    Auto,
    /// `https://ENDPOINT/BUCKET/KEY`: what S3-compatible stores (MinIO, Ceph, moto) expect.
    Path,
    /// `https://BUCKET.ENDPOINT/KEY`.
    VirtualHosted,
}

/// The S3 sink's settings. Credentials are not here: they come from the environment the way AWS tools
/// read them (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
#[derive(Debug, Clone)]
pub struct S3Options {
    /// The region requests are signed for.
    pub region: String,
    /// `https://HOST[:PORT]` of an S3-compatible store; `None` for AWS (`https://s3.REGION.amazonaws.com`).
    /// Plain `http://` only on this machine.
    pub endpoint: Option<String>,
    /// How the bucket is named in URLs.
    pub addressing: S3Addressing,
    /// Most events per delivery batch (each batch makes one object per instance in it).
    pub batch_events: usize,
    /// Sends `If-None-Match: *`, so a retried upload never replaces an object (S3 answers 412, which
    /// counts as delivered: the key names exactly these events). Turn off for stores that refuse the
    /// header; a retry then writes the same bytes to the same key again.
    pub conditional_write: bool,
    /// Extra CA certificates (PEM) to trust besides the system roots.
    pub ca_file: Option<PathBuf>,
    /// Timeout of one upload (connect, send, response).
    pub timeout: Duration,
    /// Retries of one upload after a retryable failure, before the write fails.
    pub retries: u32,
    /// First back-off (doubles per retry, ±jitter, at most 30 s).
    pub retry_base: Duration,
}

impl Default for S3Options {
    /// us-east-1 on AWS, addressing by endpoint, 10,000 events a batch, conditional writes, system
    /// roots, 60 s an upload, 5 retries from 500 ms.
    fn default() -> Self {
        S3Options {
            region: "us-east-1".into(),
            endpoint: None,
            addressing: S3Addressing::Auto,
            batch_events: 10_000,
            conditional_write: true,
            ca_file: None,
            timeout: Duration::from_secs(60),
            retries: 5,
            retry_base: Duration::from_millis(500),
        }
    }
}
