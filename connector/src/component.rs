//! WASI component glue: exports the WIT `connector` interface and implements [`Env`] over
//! wasi:http (outgoing-handler), wasi:clocks, wasi:random and the host imports (`host`, and `dpop`
//! since WIT 1.1); exports `sampling` too (WIT 1.2). Strictly
//! synchronous: every wait blocks on a WASI pollable, which the host services asynchronously.

use crate::env::{
    DpopNonce, Env, HttpError, HttpErrorKind, HttpRequest, HttpResponse, Method, ProofKey,
};
use crate::types as t;

wit_bindgen::generate!({
    path: "../wit",
    world: "okta-connector-sampling",
});

use exports::okta_ingest::connector::connector::Guest;
use exports::okta_ingest::connector::sampling::{self, Guest as SamplingGuest};
use okta_ingest::connector::dpop;
use okta_ingest::connector::host;
use okta_ingest::connector::types as w;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingBody, Method as WMethod, OutgoingBody,
    OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::streams::StreamError;

/// Largest single write into the request body stream.
const WRITE_CHUNK: usize = 4096;
/// Bytes asked for per read of a response body: a page (~2.5 MB) in a few host calls.
const READ_CHUNK: u64 = 1 << 20;
/// Most a Content-Length may reserve up front (the host caps bodies itself).
const MAX_PRESIZE: usize = 32 << 20;

struct Component;

export!(Component);

impl Guest for Component {
    fn describe() -> w::Description {
        let d = crate::describe();
        w::Description {
            name: d.name,
            version: d.version,
            wit_version: d.wit_version,
            state_schema: d.state_schema,
        }
    }

    fn tick(input: w::TickInput) -> w::TickReport {
        let scheme = from_wit_scheme(dpop::get_token_scheme());
        let input = t::TickInput {
            config: input.config.into(),
            state: input.state,
            token: input.token.map(|a| t::AccessToken {
                token: a.token,
                expires_at_ms: a.expires_at_ms,
                scheme,
            }),
            tuning: input.tuning.into(),
        };
        let mut env = WasiEnv::default();
        let report = crate::run_tick(&mut env, input);
        if let Some(token) = &report.token {
            dpop::set_token_scheme(to_wit_scheme(token.scheme));
        }
        report.into()
    }

    fn check(config: w::InstanceConfig, tuning: w::Tuning) -> Result<String, w::TickError> {
        let (config, tuning): (t::InstanceConfig, t::Tuning) = (config.into(), tuning.into());
        let mut env = WasiEnv::default();
        crate::run_check(&mut env, &config, &tuning).map_err(w::TickError::from)
    }
}

impl SamplingGuest for Component {
    fn sample(
        config: w::InstanceConfig,
        tuning: w::Tuning,
        window_ms: u64,
        max_pages: u32,
    ) -> Result<sampling::EventSample, w::TickError> {
        let (config, tuning): (t::InstanceConfig, t::Tuning) = (config.into(), tuning.into());
        let mut env = WasiEnv::default();
        let s = crate::run_sample(&mut env, &config, &tuning, window_ms, max_pages)
            .map_err(w::TickError::from)?;
        Ok(sampling::EventSample {
            covered_ms: s.covered_ms,
            complete: s.complete,
            pages: s.pages,
            event_types: s
                .event_types
                .into_iter()
                .map(|e| sampling::EventTypeCount {
                    event_type: e.event_type,
                    categories: w::Categories::from_bits_truncate(e.categories.bits()),
                    events: e.events,
                })
                .collect(),
            rate_limit_per_minute: s.rate_limit_per_minute,
        })
    }
}

impl From<w::InstanceConfig> for t::InstanceConfig {
    fn from(c: w::InstanceConfig) -> t::InstanceConfig {
        t::InstanceConfig {
            domain: c.domain,
            client_id: c.client_id,
            key_id: c.key_id,
            backfill_days: c.backfill_days,
            categories: t::Categories::from_bits(c.categories.bits()),
            dpop: match dpop::mode() {
                dpop::DpopMode::Auto => t::DpopMode::Auto,
                dpop::DpopMode::Required => t::DpopMode::Required,
                dpop::DpopMode::Off => t::DpopMode::Off,
            },
        }
    }
}

fn from_wit_scheme(s: dpop::TokenScheme) -> t::TokenScheme {
    match s {
        dpop::TokenScheme::Bearer => t::TokenScheme::Bearer,
        dpop::TokenScheme::Dpop => t::TokenScheme::Dpop,
    }
}

fn to_wit_scheme(s: t::TokenScheme) -> dpop::TokenScheme {
    match s {
        t::TokenScheme::Bearer => dpop::TokenScheme::Bearer,
        t::TokenScheme::Dpop => dpop::TokenScheme::Dpop,
    }
}

impl From<w::Tuning> for t::Tuning {
    fn from(x: w::Tuning) -> t::Tuning {
        t::Tuning {
            max_pages: x.max_pages,
            max_wait_ms: x.max_wait_ms,
            retry_base_ms: x.retry_base_ms,
            max_retries: x.max_retries,
            rate_limit_share_percent: x.rate_limit_share_percent,
            page_size: x.page_size,
            request_timeout_ms: x.request_timeout_ms,
        }
    }
}

impl From<t::TickReport> for w::TickReport {
    fn from(r: t::TickReport) -> w::TickReport {
        w::TickReport {
            pages: r.pages,
            events: r.events,
            filtered: r.filtered,
            duplicates: r.duplicates,
            rate_limited: r.rate_limited,
            caught_up: r.caught_up,
            token: r.token.map(|a| w::AccessToken {
                token: a.token,
                expires_at_ms: a.expires_at_ms,
            }),
            error: r.error.map(w::TickError::from),
        }
    }
}

impl From<t::TickError> for w::TickError {
    fn from(e: t::TickError) -> w::TickError {
        use t::ErrorKind as K;
        use w::ErrorKind as W;
        let kind = match e.kind {
            K::DpopRequired => W::DpopRequired,
            K::InvalidSignature => W::InvalidSignature,
            K::UnknownClient => W::UnknownClient,
            K::ScopeNotGranted => W::ScopeNotGranted,
            K::Forbidden => W::Forbidden,
            K::AuthFailed => W::AuthFailed,
            K::Network => W::Network,
            K::RateLimited => W::RateLimited,
            K::ServerError => W::ServerError,
            K::BadResponse => W::BadResponse,
            K::InvalidRequest => W::InvalidRequest,
            K::State => W::State,
            K::Host => W::Host,
        };
        w::TickError {
            kind,
            message: e.message,
            http_status: e.http_status,
            okta_code: e.okta_code,
        }
    }
}

/// [`Env`] over WASI and the host imports.
#[derive(Default)]
struct WasiEnv {
    /// A System Log request started ahead of time (see [`Env::prefetch`]).
    prefetched: Option<Prefetched>,
}

struct Prefetched {
    url: String,
    authorization: Option<String>,
    future: FutureIncomingResponse,
}

fn authorization(req: &HttpRequest) -> Option<String> {
    req.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.clone())
}

impl Env for WasiEnv {
    fn now_ms(&self) -> u64 {
        let now = wasip2::clocks::wall_clock::now();
        now.seconds.saturating_mul(1000) + u64::from(now.nanoseconds / 1_000_000)
    }

    fn random_bytes(&mut self, n: usize) -> Vec<u8> {
        wasip2::random::random::get_random_bytes(n as u64)
    }

    fn sleep_ms(&mut self, ms: u64) {
        // A pollable wait: the host parks this instance without blocking one of its threads.
        wasip2::clocks::monotonic_clock::subscribe_duration(ms.saturating_mul(1_000_000)).block();
    }

    fn http(&mut self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        if let Some(p) = self.prefetched.take() {
            if req.method == Method::Get
                && p.url == req.url
                && p.authorization == authorization(&req)
            {
                return finish(p.future);
            }
            // Not the request that was guessed: drop it (the host cancels it).
        }
        send(req)
    }

    fn prefetch(&mut self, req: HttpRequest) {
        self.prefetched = None;
        if req.method != Method::Get {
            return;
        }
        if let Ok(future) = start(&req) {
            self.prefetched = Some(Prefetched {
                url: req.url.clone(),
                authorization: authorization(&req),
                future,
            });
        }
    }

    fn sign(&mut self, signing_input: &str) -> Result<String, String> {
        host::sign(signing_input)
    }

    fn dpop_key(&mut self) -> Result<ProofKey, String> {
        dpop::public_key().map(|k| ProofKey {
            alg: k.alg,
            jwk: k.jwk,
        })
    }

    fn sign_dpop(&mut self, signing_input: &str) -> Result<String, String> {
        dpop::sign_proof(signing_input)
    }

    fn dpop_nonce(&mut self) -> Option<DpopNonce> {
        dpop::get_nonce().map(|n| DpopNonce {
            value: n.value,
            received_ms: n.received_at_ms,
        })
    }

    fn keep_dpop_nonce(&mut self, value: &str) {
        dpop::keep_nonce(value);
    }

    fn commit_page(&mut self, events: Vec<t::Event>, state: Vec<u8>) -> Result<(), String> {
        let events: Vec<w::Event> = events
            .into_iter()
            .map(|e| w::Event {
                uuid: e.uuid,
                event_type: e.event_type,
                published: e.published,
                categories: w::Categories::from_bits_truncate(e.categories.bits()),
                raw: e.raw,
            })
            .collect();
        host::commit_page(&events, &state)
    }

    fn log(&mut self, level: t::LogLevel, msg: &str) {
        let level = match level {
            t::LogLevel::Debug => host::LogLevel::Debug,
            t::LogLevel::Info => host::LogLevel::Info,
            t::LogLevel::Warn => host::LogLevel::Warn,
            t::LogLevel::Error => host::LogLevel::Error,
        };
        host::log(level, msg);
    }
}

fn net(message: impl Into<String>) -> HttpError {
    HttpError {
        kind: HttpErrorKind::Network,
        message: message.into(),
    }
}

/// Map wasi-http's error codes to the connector's transport error kinds.
fn from_code(code: &ErrorCode) -> HttpError {
    let kind = match code {
        ErrorCode::DnsError(_) => HttpErrorKind::Dns,
        ErrorCode::TlsCertificateError => HttpErrorKind::Certificate,
        ErrorCode::TlsProtocolError | ErrorCode::TlsAlertReceived(_) => HttpErrorKind::Tls,
        ErrorCode::HttpRequestUriInvalid => HttpErrorKind::Invalid,
        ErrorCode::DnsTimeout
        | ErrorCode::ConnectionTimeout
        | ErrorCode::HttpResponseTimeout
        | ErrorCode::ConnectionReadTimeout => HttpErrorKind::Timeout,
        ErrorCode::HttpRequestDenied => HttpErrorKind::Denied,
        _ => HttpErrorKind::Network,
    };
    let message = match code {
        // The kind says it all; the wasi-http name would only leak an internal.
        ErrorCode::TlsCertificateError => "the certificate is not trusted".to_string(),
        ErrorCode::DnsError(p) => match &p.rcode {
            Some(rcode) => rcode.clone(),
            None => "the name does not resolve".to_string(),
        },
        other => format!("{other:?}"),
    };
    HttpError { kind, message }
}

/// A stream error: the underlying wasi-http error code when there is one.
fn from_stream(e: StreamError, what: &str) -> HttpError {
    match e {
        StreamError::Closed => net(format!("{what}: stream closed")),
        StreamError::LastOperationFailed(err) => match wasip2::http::types::http_error_code(&err) {
            Some(code) => {
                let mut h = from_code(&code);
                h.message = format!("{what}: {}", h.message);
                h
            }
            None => net(format!("{what}: {}", err.to_debug_string())),
        },
    }
}

/// `https://authority/path?query` → (authority, path-with-query).
fn split_url(url: &str) -> Option<(&str, &str)> {
    let rest = url
        .get(..8)
        .filter(|s| s.eq_ignore_ascii_case("https://"))
        .map(|_| &url[8..])?;
    match rest.find('/') {
        Some(i) => Some((&rest[..i], &rest[i..])),
        None => Some((rest, "/")),
    }
}

/// One blocking request/response over wasi:http.
fn send(req: HttpRequest) -> Result<HttpResponse, HttpError> {
    finish(start(&req)?)
}

/// Hands a request to the host; it is in flight until [`finish`] waits for it.
fn start(req: &HttpRequest) -> Result<FutureIncomingResponse, HttpError> {
    let (authority, path) =
        split_url(&req.url).ok_or_else(|| net(format!("not an https URL: {}", req.url)))?;
    let headers = Fields::new();
    for (name, value) in &req.headers {
        headers
            .append(name, value.as_bytes())
            .map_err(|e| net(format!("header {name}: {e:?}")))?;
    }
    let request = OutgoingRequest::new(headers);
    let method = match req.method {
        Method::Get => WMethod::Get,
        Method::Post => WMethod::Post,
    };
    let bad = |what: &str| HttpError {
        kind: HttpErrorKind::Invalid,
        message: format!("the request's {what} is not valid"),
    };
    request.set_method(&method).map_err(|_| bad("method"))?;
    request
        .set_scheme(Some(&Scheme::Https))
        .map_err(|_| bad("scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|_| bad("authority"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|_| bad("path"))?;

    let options = RequestOptions::new();
    // 0 means "host default" rather than "fail instantly". A host may refuse some options; the request
    // then simply runs with its defaults.
    if req.timeout_ms > 0 {
        let ns = Some(req.timeout_ms.saturating_mul(1_000_000));
        let _ = options.set_connect_timeout(ns);
        let _ = options.set_first_byte_timeout(ns);
        let _ = options.set_between_bytes_timeout(ns);
    }

    let body = request.body().map_err(|_| bad("body"))?;
    if !req.body.is_empty() {
        write_body(&body, &req.body)?;
    }
    // A GET body is finished without a single write (no chunked empty body).
    OutgoingBody::finish(body, None).map_err(|c| from_code(&c))?;

    outgoing_handler::handle(request, Some(options)).map_err(|c| from_code(&c))
}

/// Waits for a request's response and reads it whole.
fn finish(future: FutureIncomingResponse) -> Result<HttpResponse, HttpError> {
    let response = loop {
        match future.get() {
            Some(Ok(Ok(r))) => break r,
            Some(Ok(Err(code))) => return Err(from_code(&code)),
            Some(Err(())) => return Err(net("response already taken")),
            None => future.subscribe().block(),
        }
    };
    let status = response.status();
    let headers: Vec<(String, String)> = {
        let fields = response.headers();
        let entries = fields.entries();
        drop(fields); // child resource: must go before the response is consumed
        entries
            .into_iter()
            .map(|(n, v)| {
                (
                    n.to_ascii_lowercase(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect()
    };
    let incoming = response
        .consume()
        .map_err(|_| net("response body already taken"))?;
    let size_hint = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.trim().parse::<usize>().ok());
    let body = read_body(&incoming, size_hint)?;
    drop(IncomingBody::finish(incoming)); // trailers are not used
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn write_body(body: &OutgoingBody, data: &[u8]) -> Result<(), HttpError> {
    let stream = body
        .write()
        .map_err(|_| net("request body stream unavailable"))?;
    let mut rest = data;
    while !rest.is_empty() {
        let allowed = stream
            .check_write()
            .map_err(|e| from_stream(e, "writing request body"))?;
        if allowed == 0 {
            stream.subscribe().block();
            continue;
        }
        let n = rest
            .len()
            .min(WRITE_CHUNK)
            .min(usize::try_from(allowed).unwrap_or(WRITE_CHUNK));
        stream
            .write(&rest[..n])
            .map_err(|e| from_stream(e, "writing request body"))?;
        rest = &rest[n..];
    }
    stream
        .blocking_flush()
        .map_err(|e| from_stream(e, "flushing request body"))?;
    Ok(())
}

/// Reads a whole body. `size_hint` (Content-Length, capped) sizes the buffer once instead of growing it.
fn read_body(incoming: &IncomingBody, size_hint: Option<usize>) -> Result<Vec<u8>, HttpError> {
    let stream = incoming
        .stream()
        .map_err(|_| net("response body stream unavailable"))?;
    let mut buf = Vec::with_capacity(size_hint.unwrap_or(0).min(MAX_PRESIZE));
    loop {
        match stream.blocking_read(READ_CHUNK) {
            Ok(chunk) => buf.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            // e.g. HttpResponseIncomplete: a truncated body is a transport error, retried.
            Err(e) => return Err(from_stream(e, "reading response body")),
        }
    }
    Ok(buf)
}
