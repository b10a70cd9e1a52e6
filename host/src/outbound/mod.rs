//! Outbound HTTP for connector components: the host's `wasi:http` hook. Every request must go to
//! `https://<instance domain>` ([`origin`]); anything else is refused before a socket is opened. Allowed
//! requests go to an embedder's [`OutboundInterceptor`] if one is set (benchmarks answer in memory), else
//! through a pooled keep-alive client ([`clients`]) with timeouts, and the response body is read here
//! under a size cap so a hostile or broken peer cannot exhaust memory. System Log requests pass the org's
//! shared rate budget first ([`org_budget`]). Failures become the closest `wasi:http` error code
//! ([`failure`]), so the connector can tell the user whether it was DNS, TLS, a refused connection or a
//! timeout.

mod client_identity;
mod clients;
pub(crate) mod failure;
mod org_budget;
mod origin;

pub(crate) use client_identity::ClientIdentity;
use clients::ClientPool;
pub(crate) use clients::{load_ca_file, rustls_client_config};
pub use clients::{HttpLimits, HttpSetupError};
use org_budget::OrgBudgets;
pub(crate) use origin::AllowedOrigin;

use async_trait::async_trait;
use bytes::Bytes;
use failure::TransportFailure;
use http_body_util::{BodyExt, Full};
use std::sync::Arc;
use wasmtime_wasi_http::{Error as WasiHttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// Answers a connector's allowed requests instead of the network: an embedder's seam (benchmarks measure
/// the sandbox alone with one). The allow-list applies before it; the org's rate budget does not.
#[async_trait]
pub trait OutboundInterceptor: Send + Sync {
    /// The response to `request` (with its whole body).
    async fn respond(&self, request: &http::request::Parts, body: &Bytes) -> http::Response<Bytes>;
}

/// Everything a connector's requests go through: the pooled clients, the orgs' rate budgets, an
/// embedder's interceptor.
pub(crate) struct Outbound {
    clients: ClientPool,
    budgets: OrgBudgets,
    interceptor: Option<Arc<dyn OutboundInterceptor>>,
}

impl Outbound {
    /// `share_percent` of each org's System Log limit for this host's instances together.
    pub(crate) fn new(
        limits: HttpLimits,
        share_percent: u8,
        interceptor: Option<Arc<dyn OutboundInterceptor>>,
    ) -> Outbound {
        Outbound {
            clients: ClientPool::new(limits),
            budgets: OrgBudgets::new(share_percent),
            interceptor,
        }
    }

    /// The pooled host-side client trusting `ca_file` besides the system roots (the setup probe's; a
    /// connector's requests go through [`Outbound::for_instance`]).
    pub(crate) fn client(
        &self,
        ca_file: Option<&std::path::Path>,
    ) -> Result<reqwest::Client, HttpSetupError> {
        self.clients.client(ca_file)
    }

    /// The hooks for one call of an instance on `domain`, trusting `ca_file` besides the system roots.
    pub(crate) fn for_instance(
        &self,
        instance: &str,
        domain: &str,
        ca_file: Option<&std::path::Path>,
    ) -> Result<InstanceHttp, HttpSetupError> {
        let client = self.clients.client(ca_file)?;
        Ok(InstanceHttp::new(
            instance,
            domain,
            client,
            self.interceptor.clone(),
            self.budgets.clone(),
            self.clients.limits().clone(),
        ))
    }
}

/// The path of Okta's System Log API, the one the org budget gates.
const SYSTEM_LOG_PATH: &str = "/api/v1/logs";

/// Where an instance's allowed requests go.
#[derive(Clone)]
enum Route {
    /// HTTPS through the pooled client for the instance's CA settings.
    Network(reqwest::Client),
    /// The embedder's interceptor.
    Intercepted(Arc<dyn OutboundInterceptor>),
    /// Nowhere: calls that must not reach the network (`describe`).
    Offline,
}

/// The `wasi:http` hooks for one call of one instance.
pub(crate) struct InstanceHttp {
    /// Where requests may go.
    pub(crate) origin: AllowedOrigin,
    route: Route,
    budget: Option<OrgBudgets>,
    limits: HttpLimits,
    instance: String,
}

impl InstanceHttp {
    /// Hooks for an instance on `domain`, over the network (or `interceptor`), gated by `budget`.
    fn new(
        instance: &str,
        domain: &str,
        client: reqwest::Client,
        interceptor: Option<Arc<dyn OutboundInterceptor>>,
        budget: OrgBudgets,
        limits: HttpLimits,
    ) -> InstanceHttp {
        let route = match interceptor {
            Some(i) => Route::Intercepted(i),
            None => Route::Network(client),
        };
        InstanceHttp {
            origin: AllowedOrigin::from_domain(domain),
            route,
            budget: Some(budget),
            limits,
            instance: instance.to_string(),
        }
    }

    /// Hooks that refuse every request (for `describe`).
    pub(crate) fn offline(what: &str) -> InstanceHttp {
        InstanceHttp {
            origin: AllowedOrigin::from_domain("invalid.invalid"),
            route: Route::Offline,
            budget: None,
            limits: HttpLimits::default(),
            instance: what.to_string(),
        }
    }
}

type IoFuture = Box<dyn std::future::Future<Output = Result<(), WasiHttpError>> + Send>;

impl WasiHttpHooks for InstanceHttp {
    /// The connector writes a small request body before handing the request over; let it buffer.
    fn p2_outgoing_body_buffer_chunks(&mut self) -> usize {
        16
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: IoFuture,
    ) -> Box<
        dyn std::future::Future<
                Output = Result<(http::Response<WasiBody>, IoFuture), WasiHttpError>,
            > + Send,
    > {
        drop(fut);
        let allowed = self.origin.allows(request.uri());
        let route = self.route.clone();
        let limits = self.limits.clone();
        let budget = self
            .budget
            .clone()
            .filter(|_| request.uri().path() == SYSTEM_LOG_PATH)
            .map(|b| (b, self.origin.to_string()));
        let instance = self.instance.clone();
        Box::new(async move {
            if !allowed {
                tracing::warn!(%instance, uri = %request.uri(), "refused an outbound request: only https://<instance domain> is allowed");
                return Err(WasiHttpError::HttpRequestDenied);
            }
            let client = match route {
                Route::Network(client) => client,
                Route::Offline => return Err(WasiHttpError::HttpRequestDenied),
                Route::Intercepted(interceptor) => {
                    let (parts, body) = request.into_parts();
                    let body = collect_limited(body, limits.max_request_bytes).await?;
                    let resp = interceptor.respond(&parts, &body).await.map(full_body);
                    return Ok((resp, Box::new(async { Ok(()) }) as IoFuture));
                }
            };
            let permit = match &budget {
                Some((b, org)) => Some(b.acquire(org).await),
                None => None,
            };
            // For the request-level log line: the path without its query (which carries cursors).
            let method = request.method().clone();
            let path = request.uri().path().to_string();
            let started = std::time::Instant::now();
            let resp = send(client, request, options, &limits).await;
            if let (Some(p), Ok(r)) = (permit, &resp) {
                p.complete(r.headers());
            }
            if let Ok(r) = &resp {
                let header = |name: &str| {
                    r.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-")
                        .to_string()
                };
                tracing::debug!(
                    %instance,
                    %method,
                    %path,
                    status = r.status().as_u16(),
                    rate_limit_remaining = %header(okta_ingest_model::rate_limit::REMAINING),
                    okta_request_id = %header("x-okta-request-id"),
                    ms = started.elapsed().as_millis() as u64,
                    "okta request"
                );
            }
            let resp = resp.inspect_err(
                |e| tracing::debug!(%instance, error = ?e, "outbound request failed"),
            )?;
            Ok((resp, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}

fn full_body(b: Bytes) -> WasiBody {
    Full::new(b)
        .map_err(|never: std::convert::Infallible| match never {})
        .boxed_unsync()
}

async fn send(
    client: reqwest::Client,
    request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
    limits: &HttpLimits,
) -> Result<http::Response<WasiBody>, WasiHttpError> {
    let (parts, body) = request.into_parts();
    // Drain the guest's body here and give the client a complete one: a body-less GET must reach the
    // server without a stray empty body (hyper otherwise resets the connection).
    let body = collect_limited(body, limits.max_request_bytes).await?;
    let first_byte = options
        .and_then(|o| o.first_byte_timeout)
        .unwrap_or(limits.max_first_byte_timeout)
        .min(limits.max_first_byte_timeout);
    let between = options
        .and_then(|o| o.between_bytes_timeout)
        .unwrap_or(limits.between_bytes_timeout)
        .min(limits.between_bytes_timeout);
    let mut req = client.request(parts.method, parts.uri.to_string());
    for (name, value) in parts.headers.iter() {
        if name != http::header::HOST && name != http::header::CONTENT_LENGTH {
            req = req.header(name, value);
        }
    }
    if !body.is_empty() {
        req = req.body(body);
    }
    let mut resp = match tokio::time::timeout(first_byte, req.send()).await {
        Err(_) => return Err(WasiHttpError::HttpResponseTimeout),
        Ok(r) => r.map_err(wasi_error)?,
    };
    let mut builder = http::Response::builder().status(resp.status());
    for (name, value) in resp.headers() {
        builder = builder.header(name, value);
    }
    let mut buf = Vec::with_capacity(resp.content_length().unwrap_or(0).min(8 << 20) as usize);
    loop {
        match tokio::time::timeout(between, resp.chunk()).await {
            Err(_) => return Err(WasiHttpError::ConnectionReadTimeout),
            Ok(Err(e)) => return Err(wasi_error(e)),
            Ok(Ok(None)) => break,
            Ok(Ok(Some(chunk))) => {
                if buf.len() + chunk.len() > limits.max_response_bytes {
                    return Err(WasiHttpError::HttpResponseBodySize(Some(
                        limits.max_response_bytes as u64,
                    )));
                }
                buf.extend_from_slice(&chunk);
            }
        }
    }
    builder
        .body(full_body(Bytes::from(buf)))
        .map_err(|e| WasiHttpError::InternalError(Some(e.to_string())))
}

async fn collect_limited(body: WasiBody, max: usize) -> Result<Bytes, WasiHttpError> {
    let limited = http_body_util::Limited::new(body, max);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => match e.downcast::<WasiHttpError>() {
            Ok(inner) => Err(*inner),
            Err(_) => Err(WasiHttpError::HttpRequestBodySize(Some(max as u64))),
        },
    }
}

/// The closest `wasi:http` error code for a client error.
fn wasi_error(e: reqwest::Error) -> WasiHttpError {
    match failure::classify(&e) {
        TransportFailure::Timeout => WasiHttpError::ConnectionTimeout,
        TransportFailure::Refused => WasiHttpError::ConnectionRefused,
        TransportFailure::Dns => WasiHttpError::DnsError {
            rcode: Some(failure::chain(&e)),
            info_code: None,
        },
        TransportFailure::TlsCertificate => WasiHttpError::TlsCertificateError,
        TransportFailure::Tls => WasiHttpError::TlsProtocolError,
        TransportFailure::Terminated => WasiHttpError::ConnectionTerminated,
        TransportFailure::Incomplete => WasiHttpError::HttpResponseIncomplete,
        TransportFailure::Other => WasiHttpError::InternalError(Some(failure::chain(&e))),
    }
}
