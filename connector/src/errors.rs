//! Turning Okta error bodies and transport failures into one-line, actionable [`TickError`]s.

use crate::env::{HttpError, HttpErrorKind};
use crate::types::{ErrorKind, TickError};
use serde::Deserialize;

/// Both error shapes Okta uses: OAuth (`error`/`error_description`) and API (`errorCode`/`errorSummary`).
#[derive(Debug, Default, Deserialize)]
pub struct OktaError {
    /// OAuth error code.
    #[serde(default)]
    pub error: Option<String>,
    /// OAuth error text.
    #[serde(default)]
    pub error_description: Option<String>,
    /// API error code, e.g. `E0000047`.
    #[serde(default, rename = "errorCode")]
    pub error_code: Option<String>,
    /// API error text.
    #[serde(default, rename = "errorSummary")]
    pub error_summary: Option<String>,
}

impl OktaError {
    /// Parse an error body; anything unparsable yields an empty error (the caller falls back to the status).
    pub fn parse(body: &[u8]) -> OktaError {
        serde_json::from_slice(body).unwrap_or_default()
    }
    /// `error` or `errorCode`.
    pub fn code(&self) -> Option<&str> {
        self.error.as_deref().or(self.error_code.as_deref())
    }
    /// `error_description` or `errorSummary`.
    pub fn text(&self) -> Option<&str> {
        self.error_description
            .as_deref()
            .or(self.error_summary.as_deref())
    }
    /// "code: text" for messages, or a snippet of the raw body when it had neither.
    pub fn describe(&self, body: &[u8]) -> String {
        match (self.code(), self.text()) {
            (Some(c), Some(t)) => format!("{c}: {t}"),
            (Some(c), None) => c.to_string(),
            (None, Some(t)) => t.to_string(),
            (None, None) => snippet(body),
        }
    }
}

/// The start of a body, lossily decoded and on one line, for messages.
pub fn snippet(body: &[u8]) -> String {
    if body.is_empty() {
        return "empty body".to_string();
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    let one: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("body starts {:?}", one.trim())
}

/// A transport failure after retries (or at once, for a permanent one) → `network` (or `host` when the
/// host's allow-list refused it). Worded for ticks and checks alike: what failed and what to check.
pub fn transport(domain: &str, e: &HttpError) -> TickError {
    let (kind, what, fix) = match e.kind {
        HttpErrorKind::Dns => (
            ErrorKind::Network,
            "the name does not resolve",
            "check the Okta domain's spelling and this machine's DNS",
        ),
        HttpErrorKind::Certificate => (
            ErrorKind::Network,
            "its TLS certificate is not trusted",
            "if the domain is right, a TLS-inspecting proxy or a private CA is in the way: trust that CA \
             certificate for this instance",
        ),
        HttpErrorKind::Tls => (
            ErrorKind::Network,
            "the TLS handshake failed",
            "check the domain and any TLS-intercepting proxy",
        ),
        HttpErrorKind::Timeout => (
            ErrorKind::Network,
            "the connection timed out",
            "check the network path to Okta",
        ),
        HttpErrorKind::Network => (
            ErrorKind::Network,
            "the connection failed",
            "check the network path to Okta",
        ),
        HttpErrorKind::Invalid => (
            ErrorKind::Host,
            "the request could not be made",
            "check the instance's domain",
        ),
        HttpErrorKind::Denied => (
            ErrorKind::Host,
            "the host refused the request",
            "the connector may only call https://<configured domain>; check the instance's domain",
        ),
    };
    let detail = match e.kind {
        // Nothing to add to "not trusted".
        HttpErrorKind::Certificate => String::new(),
        _ => format!(" ({})", e.message),
    };
    TickError::new(
        kind,
        format!("could not reach Okta at {domain}: {what}{detail}; {fix}"),
    )
}
