//! `GET /api/v1/logs` with authentication: re-auth on 401, and classification of 4xx answers.

use crate::env::{header, Env, HttpRequest, HttpResponse, Method};
use crate::errors::OktaError;
use crate::page::{parse_page, PageError, RawEvent};
use crate::ratelimit::Pace;
use crate::session::Session;
use crate::types::{ErrorKind, TickError};

impl<E: Env> Session<'_, E> {
    /// Fetch one System Log URL; returns a 2xx response. On 401 the token is dropped and a new one tried
    /// once; other refusals become classified errors. `retry` is shared with the caller's retries.
    pub fn get_logs(
        &mut self,
        url: &str,
        retry: &mut u32,
    ) -> Result<(HttpResponse, Pace), TickError> {
        let mut reauthenticated = false;
        loop {
            let timeout_ms = self.tuning.request_timeout_ms;
            // The bearer is taken per attempt: a retry after a long rate-limit wait or back-off must not
            // resend a token that expired meanwhile.
            let (resp, pace) = self.send(
                |s| {
                    let bearer = s.bearer()?;
                    Ok(logs_request(url, &bearer, timeout_ms))
                },
                retry,
            )?;
            match resp.status {
                200..=299 => return Ok((resp, pace)),
                // Expired or revoked token (Okta says invalid_token): one fresh token per page.
                401 if !reauthenticated => {
                    self.token = None;
                    reauthenticated = true;
                }
                _ => return Err(classify_logs_error(&resp)),
            }
        }
    }
}

/// The System Log request `get_logs` sends (and `prefetch_next` guesses).
fn logs_request(url: &str, bearer: &str, timeout_ms: u64) -> HttpRequest {
    HttpRequest {
        method: Method::Get,
        url: url.to_string(),
        headers: vec![
            ("accept".into(), "application/json".into()),
            ("authorization".into(), format!("Bearer {bearer}")),
        ],
        body: Vec::new(),
        timeout_ms,
    }
}

/// Map a non-2xx System Log answer (after retries and re-auth) to what the user must fix.
pub fn classify_logs_error(resp: &HttpResponse) -> TickError {
    let e = OktaError::parse(&resp.body);
    let www = header(&resp.headers, "www-authenticate").unwrap_or("");
    let code = e.code().map(str::to_string);
    let detail = e.describe(&resp.body);
    let status = resp.status;
    match status {
        401 => TickError::http(
            ErrorKind::AuthFailed,
            format!("Okta rejected a freshly issued token for the System Log (401, {}); check the app's grants and status", www_or(www, &detail)),
            status,
            code,
        ),
        403 if www.contains("insufficient_scope") => TickError::http(
            ErrorKind::ScopeNotGranted,
            "the token lacks okta.logs.read (403 insufficient_scope): grant okta.logs.read in the app's Okta API Scopes tab",
            status,
            code,
        ),
        403 => TickError::http(
            ErrorKind::Forbidden,
            format!(
                "Okta refused to read the System Log (403, {detail}): assign the Read-only Administrator or Report \
                 Administrator role to the app (Admin roles tab)"
            ),
            status,
            code,
        ),
        400 => TickError::http(
            ErrorKind::InvalidRequest,
            format!("Okta refused the System Log query (400, {detail}); check the selected categories and backfill days"),
            status,
            code,
        ),
        _ => TickError::http(
            ErrorKind::BadResponse,
            format!("Okta answered the System Log request with unexpected HTTP {status} ({detail}); check the Okta domain"),
            status,
            code,
        ),
    }
}

fn www_or<'a>(www: &'a str, detail: &'a str) -> &'a str {
    if www.is_empty() {
        detail
    } else {
        www
    }
}

impl<E: Env> Session<'_, E> {
    /// Fetch and parse one page, retrying truncated or non-JSON bodies like 5xx, then hand the borrowed
    /// events to `f` (no copy of the body is made).
    pub fn with_page<R>(
        &mut self,
        url: &str,
        f: impl FnOnce(&mut Self, &HttpResponse, Vec<RawEvent<'_>>, Pace) -> Result<R, TickError>,
    ) -> Result<R, TickError> {
        let mut retry = 0;
        loop {
            let (resp, pace) = self.get_logs(url, &mut retry)?;
            self.prefetch_next(&resp, pace);
            match parse_page(&resp.body) {
                Ok(page) => return f(self, &resp, page, pace),
                Err(PageError::NotJson(m)) => {
                    let err = bad_page(resp.status, &m);
                    self.back_off(&mut retry, err)?;
                }
                Err(PageError::Malformed(m)) => return Err(bad_page(resp.status, &m)),
            }
        }
    }
}

impl<E: Env> Session<'_, E> {
    /// Starts fetching the page after `resp` while `resp` is parsed and committed, so Okta's latency
    /// overlaps our work. Only when the tick will fetch another page, no pacing pause is due, the page is
    /// not empty (an empty page means caught up) and a token is at hand; the request is exactly the one
    /// `get_logs` will send, so a mismatch just costs the guess.
    fn prefetch_next(&mut self, resp: &HttpResponse, pace: Pace) {
        if !self.prefetch || !matches!(pace, Pace::None) || is_empty_array(&resp.body) {
            return;
        }
        let Some(next) = crate::links::next_link(&resp.headers) else {
            return;
        };
        if crate::links::validate_logs_url(next, &self.config.domain).is_err() {
            return;
        }
        let now = self.env.now_ms();
        let Some(token) = self.token.as_ref().filter(|t| crate::token::usable(t, now)) else {
            return;
        };
        let req = logs_request(next, &token.token, self.tuning.request_timeout_ms);
        self.env.prefetch(req);
    }
}

/// True for a body that is `[]` (with any whitespace).
fn is_empty_array(body: &[u8]) -> bool {
    let mut it = body.iter().filter(|b| !b.is_ascii_whitespace());
    it.next() == Some(&b'[') && it.next() == Some(&b']') && it.next().is_none()
}

fn bad_page(status: u16, what: &str) -> TickError {
    TickError::http(
        ErrorKind::BadResponse,
        format!("Okta sent an unusable System Log page ({what}); the cursor did not move, the next tick retries"),
        status,
        None,
    )
}
