//! One tick's (or check's) working context, and sending with retries and rate-limit handling.

use crate::env::{Env, HttpRequest, HttpResponse, ProofKey};
use crate::errors::{transport, OktaError};
use crate::ratelimit::{backoff_ms, decide, rate_limit_budget_ms, Decision, Pace};
use crate::types::{AccessToken, ErrorKind, InstanceConfig, LogLevel, TickError, Tuning};

/// Shared state while talking to Okta.
pub struct Session<'a, E: Env> {
    /// The effects.
    pub env: &'a mut E,
    /// The instance.
    pub config: &'a InstanceConfig,
    /// Limits and pacing.
    pub tuning: &'a Tuning,
    /// The token in use, if any.
    pub token: Option<AccessToken>,
    /// 429 answers and rate-limit waits so far.
    pub rate_limited: u32,
    /// Whether the next page may be fetched ahead (only while the tick will ask for it).
    pub prefetch: bool,
    /// Time slept so far in this tick waiting for announced rate-limit resets after a 429.
    pub limit_waited_ms: u64,
    /// The host's DPoP proof key, fetched at the first proof.
    pub proof_key: Option<ProofKey>,
    /// The token endpoint's DPoP nonce (from the host's per-org cache, then from Okta's answers).
    pub as_nonce: Option<String>,
    /// A nonce the System Log (the resource server) asked for, separate from the token endpoint's.
    pub rs_nonce: Option<String>,
}

impl<'a, E: Env> Session<'a, E> {
    /// A session with nothing spent yet.
    pub fn new(
        env: &'a mut E,
        config: &'a InstanceConfig,
        tuning: &'a Tuning,
        token: Option<AccessToken>,
    ) -> Session<'a, E> {
        Session {
            env,
            config,
            tuning,
            token,
            rate_limited: 0,
            prefetch: false,
            limit_waited_ms: 0,
            proof_key: None,
            as_nonce: None,
            rs_nonce: None,
        }
    }
}

impl<E: Env> Session<'_, E> {
    /// Send a request built by `build` (called again for every attempt, so token requests get a fresh
    /// assertion), retrying transport errors, 5xx and 429 within `tuning`. `retry` counts retries already
    /// spent on this logical request. Returns any response that is neither 429 nor 5xx.
    ///
    /// A 429 announcing its reset is waited out without spending a retry: that is what Okta asks for, and a
    /// bucket exhausted by other tools can stay empty for several windows. What bounds it is `max_wait_ms`
    /// per wait and [`rate_limit_budget_ms`] for all such waits in one tick; beyond either the tick ends
    /// (everything committed stays committed) and the next tick continues.
    pub fn send(
        &mut self,
        mut build: impl FnMut(&mut Self) -> Result<HttpRequest, TickError>,
        retry: &mut u32,
    ) -> Result<(HttpResponse, Pace), TickError> {
        loop {
            let req = build(self)?;
            let resp = match self.env.http(req) {
                Ok(r) => r,
                Err(e) => {
                    let err = transport(&self.config.domain, &e);
                    if e.kind.is_permanent() {
                        // An untrusted certificate, a name that does not resolve, a refused or
                        // malformed request: the same attempt would fail the same way.
                        return Err(err);
                    }
                    self.back_off(retry, err)?;
                    continue;
                }
            };
            let now = self.env.now_ms();
            match decide(&resp.headers, resp.status, now, self.tuning) {
                Decision::Accept { pace } => return Ok((resp, pace)),
                Decision::WaitAndRetry { wait_ms } => {
                    self.rate_limited += 1;
                    let budget = rate_limit_budget_ms(self.tuning);
                    if self.limit_waited_ms.saturating_add(wait_ms) > budget {
                        return Err(rate_limited_too_long(&resp, self.limit_waited_ms));
                    }
                    self.limit_waited_ms += wait_ms;
                    self.env.log(
                        LogLevel::Info,
                        &format!(
                            "rate limited by {} (429); waiting {} s for the reset",
                            self.config.domain,
                            wait_ms.div_ceil(1000)
                        ),
                    );
                    self.env.sleep_ms(wait_ms);
                }
                Decision::Backoff { rate_limited: true } => {
                    self.rate_limited += 1;
                    let err = rate_limited(&resp, None);
                    self.back_off(retry, err)?;
                }
                Decision::Backoff {
                    rate_limited: false,
                } => {
                    let err = server_error(&resp);
                    self.back_off(retry, err)?;
                }
                Decision::TooLong { wait_ms } => {
                    self.rate_limited += 1;
                    return Err(rate_limited(&resp, Some(wait_ms)));
                }
            }
        }
    }

    /// Sleep the exponential back-off for the next retry, or give up with `err` when retries are spent.
    pub fn back_off(&mut self, retry: &mut u32, mut err: TickError) -> Result<(), TickError> {
        if *retry >= self.tuning.max_retries {
            if *retry > 0 {
                err.message = format!("{} (gave up after {} retries)", err.message, *retry);
            }
            return Err(err);
        }
        let wait = backoff_ms(self.tuning, *retry);
        *retry += 1;
        let msg = format!(
            "retry {}/{} in {wait} ms after: {}",
            retry, self.tuning.max_retries, err.message
        );
        self.env.log(LogLevel::Warn, &msg);
        self.env.sleep_ms(wait);
        Ok(())
    }

    /// Apply pacing before the next request; `Err` when the wait would exceed `max_wait_ms`.
    pub fn pace(&mut self, pace: Pace) -> Result<(), TickError> {
        match pace {
            Pace::None => Ok(()),
            Pace::Sleep(ms) => {
                self.rate_limited += 1;
                // An operator sees waits long enough to notice; short ones are detail.
                let level = if ms >= 1000 {
                    LogLevel::Info
                } else {
                    LogLevel::Debug
                };
                self.env.log(
                    level,
                    &format!(
                        "this instance's share of {}'s System Log rate limit is used; waiting {} s for the reset",
                        self.config.domain,
                        ms.div_ceil(1000)
                    ),
                );
                self.env.sleep_ms(ms);
                Ok(())
            }
            Pace::TooLong(ms) => {
                self.rate_limited += 1;
                Err(TickError::new(
                    ErrorKind::RateLimited,
                    format!(
                        "this instance used its share of Okta's System Log rate limit and the reset is {} s away; \
                         the next tick continues (raise the share or max wait to go faster)",
                        ms / 1000
                    ),
                ))
            }
        }
    }
}

fn rate_limited(resp: &HttpResponse, wait_ms: Option<u64>) -> TickError {
    let e = OktaError::parse(&resp.body);
    let when = match wait_ms {
        Some(ms) => format!("the reset is {} s away", ms / 1000),
        None => "retries are used up".to_string(),
    };
    TickError::http(
        ErrorKind::RateLimited,
        format!("Okta rate-limited the request (429) and {when}; the next tick continues — other tools may share the org's budget"),
        429,
        e.code().map(str::to_string),
    )
}

fn rate_limited_too_long(resp: &HttpResponse, waited_ms: u64) -> TickError {
    let e = OktaError::parse(&resp.body);
    TickError::http(
        ErrorKind::RateLimited,
        format!(
            "Okta kept rate-limiting the System Log (429) after this tick already waited {} s for resets; \
             the tick stops here with everything fetched so far committed, the next tick continues — other \
             tools may be using the org's budget",
            waited_ms / 1000
        ),
        429,
        e.code().map(str::to_string),
    )
}

fn server_error(resp: &HttpResponse) -> TickError {
    let e = OktaError::parse(&resp.body);
    TickError::http(
        ErrorKind::ServerError,
        format!(
            "Okta answered HTTP {} ({}); Okta may be degraded, the next tick retries",
            resp.status,
            e.describe(&resp.body)
        ),
        resp.status,
        e.code().map(str::to_string),
    )
}
