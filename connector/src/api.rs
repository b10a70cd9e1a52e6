//! `GET /api/v1/logs` with authentication: Bearer or DPoP (a fresh proof per attempt), re-auth on 401,
//! a resource-server nonce answered once, and classification of 4xx answers (DPoP errors arrive as an
//! empty body with the error in `WWW-Authenticate`).

use crate::dpop::{self, ProofFor};
use crate::env::{header, Env, HttpRequest, HttpResponse, Method};
use crate::errors::OktaError;
use crate::page::{parse_page, PageError, RawEvent};
use crate::ratelimit::Pace;
use crate::session::Session;
use crate::token::dpop_refused;
use crate::types::{ErrorKind, TickError, TokenScheme};
use crate::www_authenticate::Challenge;

impl<E: Env> Session<'_, E> {
    /// Fetch one System Log URL; returns a 2xx response. On 401 the token is dropped and a new one tried
    /// once; a resource-server nonce challenge is answered once; other refusals become classified errors.
    /// `retry` is shared with the caller's retries.
    pub fn get_logs(
        &mut self,
        url: &str,
        retry: &mut u32,
    ) -> Result<(HttpResponse, Pace), TickError> {
        let mut reauthenticated = false;
        let mut rs_nonce_answered = false;
        loop {
            // The token (and the proof) is taken per attempt: a retry after a long rate-limit wait or
            // back-off must not resend a token that expired meanwhile, nor a proof Okta already consumed.
            let (resp, pace) = self.send(|s| s.logs_request(url), retry)?;
            if (200..300).contains(&resp.status) {
                return Ok((resp, pace));
            }
            let challenge = header(&resp.headers, "www-authenticate").map(Challenge::parse);
            let error = challenge.as_ref().and_then(Challenge::error);
            let bound = self
                .token
                .as_ref()
                .is_some_and(|t| t.scheme == TokenScheme::Dpop);
            match (resp.status, error) {
                (401, Some("use_dpop_nonce")) if bound && !rs_nonce_answered => {
                    let Some(n) = resp.header("dpop-nonce").filter(|n| !n.is_empty()) else {
                        return Err(classify_logs_error(&resp, url));
                    };
                    self.rs_nonce = Some(n.to_string());
                    rs_nonce_answered = true;
                }
                // Expired or revoked token (Okta says invalid_token): one fresh token per page.
                (401, _) if !reauthenticated => {
                    self.token = None;
                    reauthenticated = true;
                }
                _ => return Err(classify_logs_error(&resp, url)),
            }
        }
    }

    /// The System Log request for `url` with the current token: `Bearer`, or `DPoP` with a proof signed
    /// now (`get_logs` sends it, `prefetch_next` starts it early).
    fn logs_request(&mut self, url: &str) -> Result<HttpRequest, TickError> {
        let token = self.access_token()?;
        self.logs_request_with(url, &token)
    }

    fn logs_request_with(
        &mut self,
        url: &str,
        token: &crate::types::AccessToken,
    ) -> Result<HttpRequest, TickError> {
        let mut headers = vec![("accept".to_string(), "application/json".to_string())];
        match token.scheme {
            TokenScheme::Bearer => {
                headers.push(("authorization".into(), format!("Bearer {}", token.token)));
            }
            TokenScheme::Dpop => {
                let nonce = self.rs_nonce.clone();
                let proof = dpop::sign(
                    self.env,
                    &mut self.proof_key,
                    ProofFor {
                        htm: "GET",
                        url,
                        nonce: nonce.as_deref(),
                        access_token: Some(&token.token),
                    },
                )?;
                headers.push(("authorization".into(), format!("DPoP {}", token.token)));
                headers.push(("dpop".into(), proof));
            }
        }
        Ok(HttpRequest {
            method: Method::Get,
            url: url.to_string(),
            headers,
            body: Vec::new(),
            timeout_ms: self.tuning.request_timeout_ms,
        })
    }
}

/// Map a non-2xx System Log answer (after retries and re-auth) to what the user must fix. `url` is the
/// request's (its `htu` is named when Okta says the proof's URL is wrong).
pub fn classify_logs_error(resp: &HttpResponse, url: &str) -> TickError {
    let e = OktaError::parse(&resp.body);
    let www = header(&resp.headers, "www-authenticate").unwrap_or("");
    let challenge = Challenge::parse(www);
    let detail = e.describe(&resp.body);
    let status = resp.status;
    let code = e.code().or(challenge.error()).map(str::to_string);
    let description = challenge.description().unwrap_or("");
    match (status, challenge.error()) {
        (400 | 401, Some("invalid_dpop_proof")) => {
            let mut msg = dpop_refused("a System Log request", description);
            if description.contains("'htu'") {
                msg = format!("{msg} (the proof's htu was {})", dpop::htu(url));
            }
            return TickError::http(ErrorKind::AuthFailed, msg, status, code);
        }
        (400 | 401, Some("use_dpop_nonce")) => {
            return TickError::http(
                ErrorKind::BadResponse,
                format!("the System Log asked again for a DPoP nonce after one was sent ({description}); the next tick tries again"),
                status,
                code,
            );
        }
        (400, Some("invalid_request")) if description.contains("DPoP") => {
            return TickError::http(
                ErrorKind::AuthFailed,
                format!("the System Log refused how the token was presented ({description}); the next tick gets a new token"),
                status,
                code,
            );
        }
        _ => {}
    }
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
        let Some(token) = self.token.clone().filter(|t| crate::token::usable(t, now)) else {
            return;
        };
        // A DPoP request is signed now and sent now: the proof is as fresh as any other.
        if let Ok(req) = self.logs_request_with(next, &token) {
            self.env.prefetch(req);
        }
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
