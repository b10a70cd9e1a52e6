//! The effects the connector needs, as one trait: the WASI glue implements it for real, tests fake it.

use crate::types::{Event, LogLevel};

/// HTTP method (only what Okta's APIs need).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// GET (System Log).
    Get,
    /// POST (token endpoint).
    Post,
}

/// An outgoing HTTPS request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    /// Method.
    pub method: Method,
    /// Absolute `https://` URL.
    pub url: String,
    /// Header names lowercase.
    pub headers: Vec<(String, String)>,
    /// Body; empty for GET.
    pub body: Vec<u8>,
    /// Timeout until the first response byte, ms.
    pub timeout_ms: u64,
}

/// A response as received.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header names lowercase; repeated headers kept as separate entries.
    pub headers: Vec<(String, String)>,
    /// The full body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// First value of a header (`name` must be lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// First value of header `name` (lowercase) in `headers`.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Why a request got no response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpErrorKind {
    /// Connection refused/reset/other transport failure.
    Network,
    /// Connect or response timeout.
    Timeout,
    /// The host refused the request (allow-list).
    Denied,
    /// TLS handshake failure other than an untrusted certificate.
    Tls,
    /// The server's certificate is not trusted (unknown CA, wrong name, expired): permanent.
    Certificate,
    /// Name resolution failed (the name does not resolve): permanent for this call.
    Dns,
    /// The request could not be expressed (e.g. an authority the host's HTTP layer refuses): permanent.
    Invalid,
}

impl HttpErrorKind {
    /// True when retrying the same request within this call cannot help (the next tick still tries).
    pub fn is_permanent(self) -> bool {
        matches!(
            self,
            HttpErrorKind::Denied
                | HttpErrorKind::Certificate
                | HttpErrorKind::Dns
                | HttpErrorKind::Invalid
        )
    }
}

/// A request that got no HTTP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpError {
    /// The kind.
    pub kind: HttpErrorKind,
    /// Details for the user.
    pub message: String,
}

/// The public half of the host's DPoP proof key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofKey {
    /// The JWS `alg` the host signs proofs with, e.g. `ES256`.
    pub alg: String,
    /// The public JWK as JSON object text (public members only).
    pub jwk: String,
}

/// A token-endpoint `dpop-nonce` as the host keeps it for the org.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpopNonce {
    /// The value, as Okta sent it.
    pub value: String,
    /// When the host received it, Unix epoch milliseconds.
    pub received_ms: u64,
}

/// Every effect of the connector. Implemented over WASI in `component.rs` and by a fake in tests.
pub trait Env {
    /// Wall clock, Unix epoch milliseconds.
    fn now_ms(&self) -> u64;
    /// `n` cryptographically random bytes.
    fn random_bytes(&mut self, n: usize) -> Vec<u8>;
    /// Wait `ms` milliseconds.
    fn sleep_ms(&mut self, ms: u64);
    /// Send one request and read the whole response.
    fn http(&mut self, req: HttpRequest) -> Result<HttpResponse, HttpError>;
    /// Start `req` now because it is probably the next request: a later [`Env::http`] with the same
    /// method, URL and `authorization` may return its response instead of sending again. Lets the next
    /// page download while this one is processed. The default does nothing.
    fn prefetch(&mut self, req: HttpRequest) {
        let _ = req;
    }
    /// RS256-sign `signing_input` with the instance key; returns the base64url signature.
    fn sign(&mut self, signing_input: &str) -> Result<String, String>;
    /// The host's DPoP proof key (public half); the same for the whole call.
    fn dpop_key(&mut self) -> Result<ProofKey, String>;
    /// Sign a DPoP proof's `signing_input` with the proof key; returns the base64url JWS signature.
    fn sign_dpop(&mut self, signing_input: &str) -> Result<String, String>;
    /// The token-endpoint nonce the host keeps for this org, if any.
    fn dpop_nonce(&mut self) -> Option<DpopNonce>;
    /// Hand the host a new token-endpoint nonce for this org.
    fn keep_dpop_nonce(&mut self, value: &str);
    /// Durably commit one page of events together with the new cursor state.
    fn commit_page(&mut self, events: Vec<Event>, state: Vec<u8>) -> Result<(), String>;
    /// Write a log line.
    fn log(&mut self, level: LogLevel, msg: &str);
}
