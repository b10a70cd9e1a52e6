//! Whether and when to try a request again: HTTP statuses, transport failures, back-off, and
//! [`Retrier`], the loop every network sink runs around one request or connection.

use super::{MAX_BACKOFF, PERMANENT_PAUSE};
use crate::delivery::sink::{SinkError, SinkStop};
use crate::outbound::failure::{chain, classify, TransportFailure};
use rand::Rng;
use std::time::{Duration, Instant};

/// What to do after one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Accepted.
    Delivered,
    /// Try again (after `retry_after` if the receiver said so).
    Retry {
        /// Why.
        reason: String,
        /// The receiver's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// Give up on this batch now; retrying the same request cannot help.
    Permanent(String),
}

/// Classifies an HTTP answer: 2xx delivered; 408, 429 and 5xx retryable; anything else permanent.
pub fn classify_status(status: u16, retry_after: Option<&str>, body: &str) -> Attempt {
    let snippet = snippet(body);
    match status {
        200..=299 => Attempt::Delivered,
        408 | 429 | 500..=599 => Attempt::Retry {
            reason: format!("HTTP {status}{snippet}"),
            retry_after: retry_after.and_then(parse_retry_after),
        },
        300..=399 => Attempt::Permanent(format!(
            "HTTP {status}: the receiver redirects, which is not followed for a POST; use the final URL"
        )),
        _ => Attempt::Permanent(format!("the receiver rejected the batch with HTTP {status}{snippet}")),
    }
}

fn snippet(body: &str) -> String {
    let t = body.trim();
    if t.is_empty() {
        return String::new();
    }
    let mut end = t.len().min(200);
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    let cut: String = t[..end]
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!(": {cut}{}", if end < t.len() { "…" } else { "" })
}

/// `Retry-After` in seconds (HTTP dates are ignored: the back-off applies), capped at [`MAX_BACKOFF`].
fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim()
        .parse::<u64>()
        .ok()
        .map(|s| Duration::from_secs(s).min(MAX_BACKOFF))
}

/// Classifies a transport failure: certificate problems are permanent (retrying cannot fix trust), every
/// other connect, timeout or I/O failure is retryable.
pub fn classify_error(e: &reqwest::Error) -> Attempt {
    let chain = chain(e);
    if classify(e) == TransportFailure::TlsCertificate {
        return Attempt::Permanent(format!(
            "TLS: {chain} (trust the receiver's CA with the sink's CA file)"
        ));
    }
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "connection failed"
    };
    Attempt::Retry {
        reason: format!("{what}: {chain}"),
        retry_after: None,
    }
}

/// Back-off before retry `n` (1-based): `base * 2^(n-1)` capped at [`MAX_BACKOFF`], with "equal jitter"
/// (between half and all of it), or the receiver's `Retry-After` when it asked for longer.
pub fn backoff(base: Duration, n: u32, retry_after: Option<Duration>) -> Duration {
    let exp = base
        .saturating_mul(1u32 << (n.saturating_sub(1)).min(20))
        .min(MAX_BACKOFF);
    let half = exp / 2;
    let jitter = if half.is_zero() {
        Duration::ZERO
    } else {
        Duration::from_nanos(rand::thread_rng().gen_range(0..=half.as_nanos() as u64))
    };
    let d = half + jitter;
    match retry_after {
        Some(r) if r > d => r,
        _ => d,
    }
}

/// A sink's retries of one unit (a request, a connection): at most `retries` more attempts after a
/// retryable failure, with [`backoff`]; after a permanent failure, a pause of [`PERMANENT_PAUSE`] during
/// which the receiver is not asked again. Back-offs end early when the host stops.
pub(crate) struct Retrier {
    id: String,
    /// The sink's kind in log lines (`webhook`, `Splunk HEC`, `syslog`).
    kind: &'static str,
    retries: u32,
    retry_base: Duration,
    /// The last permanent failure and when.
    rejected: Option<(String, Instant)>,
    stop: SinkStop,
}

impl Retrier {
    /// Retries for sink `id`.
    pub(crate) fn new(id: &str, kind: &'static str, retries: u32, retry_base: Duration) -> Retrier {
        Retrier {
            id: id.to_string(),
            kind,
            retries,
            retry_base,
            rejected: None,
            stop: SinkStop::default(),
        }
    }

    /// The handle that ends a back-off when the host stops.
    pub(crate) fn watch_stop(&mut self, stop: SinkStop) {
        self.stop = stop;
    }

    /// Sleeps `d` unless the host stops first; `false` when interrupted.
    pub(crate) fn sleep(&self, d: Duration) -> bool {
        self.stop.sleep(d)
    }

    /// Fails at once while a permanent failure's pause lasts.
    pub(crate) fn check_paused(&mut self) -> Result<(), SinkError> {
        if let Some((message, at)) = &self.rejected {
            if at.elapsed() < PERMANENT_PAUSE {
                return Err(self.receiver_error(message.clone()));
            }
            self.rejected = None;
        }
        Ok(())
    }

    /// A `Receiver` error of this sink.
    pub(crate) fn receiver_error(&self, message: String) -> SinkError {
        SinkError::Receiver {
            sink: self.id.clone(),
            message,
        }
    }

    /// What follows an attempt's `outcome`, `retries` counting the retries so far: `Ok(true)` when it
    /// was delivered, `Ok(false)` to attempt again (the back-off has been waited), `Err` to give up.
    /// `first` (the first sequence number of what was sent) is named in the errors.
    pub(crate) fn after(
        &mut self,
        outcome: Attempt,
        retries: &mut u32,
        first: i64,
    ) -> Result<bool, SinkError> {
        match outcome {
            Attempt::Delivered => Ok(true),
            Attempt::Permanent(reason) => {
                let message = format!(
                    "{reason}; not retried (a permanent error: fix the receiver or its configuration); events from {first} on stay queued and are sent again in {} s or by the next run",
                    PERMANENT_PAUSE.as_secs()
                );
                self.rejected = Some((message.clone(), Instant::now()));
                Err(self.receiver_error(message))
            }
            Attempt::Retry {
                reason,
                retry_after,
            } => {
                if *retries >= self.retries {
                    return Err(self.receiver_error(format!(
                        "{reason} (gave up after {} attempts); events stay queued and are delivered when the receiver recovers",
                        *retries + 1
                    )));
                }
                *retries += 1;
                let wait = backoff(self.retry_base, *retries, retry_after);
                tracing::warn!(sink = %self.id, %reason, retry = *retries, wait = ?wait, "{} batch failed; retrying", self.kind);
                if !self.stop.sleep(wait) {
                    return Err(self.receiver_error(format!(
                        "{reason}; not retried because the host is stopping; events from {first} on stay queued and are sent again at the next start"
                    )));
                }
                Ok(false)
            }
        }
    }
}
