//! Outbound HTTP for connector components: the host's `wasi:http` hook. Every request must go to
//! `https://<instance domain>`; anything else is refused before a socket is opened. Requests go through a
//! pooled, keep-alive client (system roots plus an optional per-instance CA file) with timeouts, and the
//! response body is read here under a size cap so a hostile or broken peer cannot exhaust memory.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;
use wasmtime_wasi_http::{Error as WasiHttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// Limits applied to every outbound request.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// Longest wait for response headers, whatever the component asks for.
    pub max_first_byte_timeout: Duration,
    /// Longest gap between body chunks.
    pub between_bytes_timeout: Duration,
    /// Largest response body accepted.
    pub max_response_bytes: usize,
    /// Largest request body accepted from the component.
    pub max_request_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            connect_timeout: Duration::from_secs(10),
            max_first_byte_timeout: Duration::from_secs(120),
            between_bytes_timeout: Duration::from_secs(30),
            max_response_bytes: 64 << 20,
            max_request_bytes: 1 << 20,
        }
    }
}

/// Why a client could not be built.
#[derive(Debug, Error)]
pub enum HttpSetupError {
    /// The CA file could not be read or parsed.
    #[error("cannot use --ca-file {path}: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The TLS client could not be built.
    #[error("cannot build the HTTPS client: {0}")]
    Client(String),
}

/// Pooled HTTPS clients, one per distinct CA file, shared by all instances and ticks.
#[derive(Clone, Default)]
pub struct ClientPool {
    clients: Arc<Mutex<HashMap<Option<PathBuf>, reqwest::Client>>>,
    limits: HttpLimits,
}

impl ClientPool {
    /// A pool with the given limits.
    pub fn new(limits: HttpLimits) -> ClientPool {
        ClientPool {
            clients: Arc::default(),
            limits,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &HttpLimits {
        &self.limits
    }

    /// The client trusting system roots plus `ca_file`, built once and reused (keeps connections alive).
    pub fn client(&self, ca_file: Option<&Path>) -> Result<reqwest::Client, HttpSetupError> {
        let key = ca_file.map(Path::to_path_buf);
        let mut map = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(&key) {
            return Ok(c.clone());
        }
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(self.limits.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("okta-ingest/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = ca_file {
            for cert in load_ca_file(path)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| HttpSetupError::Client(e.to_string()))?;
        map.insert(key, client.clone());
        Ok(client)
    }
}

/// Reads every certificate in a PEM file.
pub fn load_ca_file(path: &Path) -> Result<Vec<reqwest::Certificate>, HttpSetupError> {
    let err = |reason: String| HttpSetupError::CaFile {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no CERTIFICATE block found".into()));
    }
    Ok(certs)
}

/// The one origin an instance may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedOrigin {
    host: String,
    port: u16,
}

impl AllowedOrigin {
    /// From an instance domain (`host` or `host:port`, https implied).
    pub fn from_domain(domain: &str) -> AllowedOrigin {
        let (host, port) = split_authority(domain).unwrap_or((domain.to_ascii_lowercase(), 443));
        AllowedOrigin { host, port }
    }

    /// True when `uri` is `https://` on exactly this host and port.
    pub fn allows(&self, uri: &http::Uri) -> bool {
        if uri.scheme() != Some(&http::uri::Scheme::HTTPS) {
            return false;
        }
        let Some(auth) = uri.authority() else {
            return false;
        };
        let host = auth.host().to_ascii_lowercase();
        let port = auth.port_u16().unwrap_or(443);
        host == self.host && port == self.port
    }
}

impl std::fmt::Display for AllowedOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            443 => write!(f, "{}", self.host),
            port => write!(f, "{}:{port}", self.host),
        }
    }
}

fn split_authority(domain: &str) -> Option<(String, u16)> {
    let auth: http::uri::Authority = domain.parse().ok()?;
    Some((
        auth.host().to_ascii_lowercase(),
        auth.port_u16().unwrap_or(443),
    ))
}

/// Answers a request in memory: `(method, uri, headers, body) -> response`.
pub type InMemoryHandler =
    Arc<dyn Fn(&http::request::Parts, &[u8]) -> http::Response<Bytes> + Send + Sync>;

/// How an instance's allowed requests leave the host.
#[derive(Clone)]
pub enum Transport {
    /// HTTPS through a pooled client (the normal case).
    Network(reqwest::Client),
    /// Answered in memory by the embedder, e.g. to measure the sandbox alone in benchmarks. The
    /// allow-list still applies.
    InMemory(InMemoryHandler),
}

/// The `wasi:http` hooks for one tick of one instance.
pub struct InstanceHttp {
    /// Where requests may go.
    pub origin: AllowedOrigin,
    /// Where allowed requests go: the pooled client for this instance's CA settings, or a handler.
    pub transport: Transport,
    /// The org's System Log budget shared with the host's other instances (`None`: not gated).
    pub budget: Option<crate::budget::OrgBudgets>,
    /// Limits.
    pub limits: HttpLimits,
    /// Instance name, for logs.
    pub instance: String,
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
        let transport = self.transport.clone();
        let limits = self.limits.clone();
        let budget = self
            .budget
            .clone()
            .filter(|_| request.uri().path() == "/api/v1/logs")
            .map(|b| (b, self.origin.to_string()));
        let instance = self.instance.clone();
        Box::new(async move {
            if !allowed {
                tracing::warn!(%instance, uri = %request.uri(), "refused an outbound request: only https://<instance domain> is allowed");
                return Err(WasiHttpError::HttpRequestDenied);
            }
            let client = match transport {
                Transport::Network(client) => client,
                Transport::InMemory(handler) => {
                    let (parts, body) = request.into_parts();
                    let body = collect_limited(body, limits.max_request_bytes).await?;
                    let resp = handler(&parts, &body).map(|b| {
                        Full::new(b)
                            .map_err(|never: std::convert::Infallible| match never {})
                            .boxed_unsync()
                    });
                    return Ok((resp, Box::new(async { Ok(()) }) as IoFuture));
                }
            };
            let permit = match &budget {
                Some((b, org)) => Some(b.acquire(org).await),
                None => None,
            };
            let resp = send(client, request, options, &limits).await;
            if let (Some(p), Ok(r)) = (permit, &resp) {
                p.complete(r.headers());
            }
            let resp = resp.inspect_err(
                |e| tracing::debug!(%instance, error = ?e, "outbound request failed"),
            )?;
            Ok((resp, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
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
        Ok(r) => r.map_err(map_reqwest_error)?,
    };
    let mut builder = http::Response::builder().status(resp.status());
    for (name, value) in resp.headers() {
        builder = builder.header(name, value);
    }
    let mut buf = Vec::with_capacity(resp.content_length().unwrap_or(0).min(8 << 20) as usize);
    loop {
        match tokio::time::timeout(between, resp.chunk()).await {
            Err(_) => return Err(WasiHttpError::ConnectionReadTimeout),
            Ok(Err(e)) => return Err(map_reqwest_error(e)),
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
    let body = Full::new(Bytes::from(buf))
        .map_err(|never: std::convert::Infallible| match never {})
        .boxed_unsync();
    builder
        .body(body)
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

/// Maps a client error to the closest `wasi:http` error code, so the connector can tell the user whether
/// it was DNS, TLS, a refused connection or a timeout.
fn map_reqwest_error(e: reqwest::Error) -> WasiHttpError {
    let mut chain = e.to_string();
    let mut source = std::error::Error::source(&e);
    let mut refused = false;
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            refused |= io.kind() == std::io::ErrorKind::ConnectionRefused;
        }
        source = s.source();
    }
    let lower = chain.to_ascii_lowercase();
    if e.is_timeout() {
        WasiHttpError::ConnectionTimeout
    } else if refused || lower.contains("connection refused") {
        WasiHttpError::ConnectionRefused
    } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
        WasiHttpError::DnsError {
            rcode: Some(chain),
            info_code: None,
        }
    } else if lower.contains("certificate") {
        WasiHttpError::TlsCertificateError
    } else if lower.contains("tls") || lower.contains("handshake") {
        WasiHttpError::TlsProtocolError
    } else if lower.contains("reset") || lower.contains("closed") || lower.contains("connection") {
        WasiHttpError::ConnectionTerminated
    } else if e.is_body() || e.is_decode() {
        WasiHttpError::HttpResponseIncomplete
    } else {
        WasiHttpError::InternalError(Some(chain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_instance_origin_is_allowed() {
        let o = AllowedOrigin::from_domain("acme.okta.com");
        assert!(o.allows(&"https://acme.okta.com/api/v1/logs".parse().unwrap()));
        assert!(o.allows(&"https://ACME.okta.com:443/oauth2/v1/token".parse().unwrap()));
        assert!(!o.allows(&"http://acme.okta.com/api/v1/logs".parse().unwrap()));
        assert!(!o.allows(&"https://acme.okta.com:8443/".parse().unwrap()));
        assert!(!o.allows(&"https://169.254.169.254/latest/meta-data".parse().unwrap()));
        assert!(!o.allows(&"https://acme.okta.com.evil.com/".parse().unwrap()));
        let local = AllowedOrigin::from_domain("127.0.0.1:8443");
        assert!(local.allows(&"https://127.0.0.1:8443/api/v1/logs".parse().unwrap()));
        assert!(!local.allows(&"https://127.0.0.1:8444/api/v1/logs".parse().unwrap()));
    }
}
