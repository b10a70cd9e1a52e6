//! The admin HTTP endpoint ([`AdminEndpoint`]): `GET /healthz` (200 `ok` while the scheduler loop is
//! alive, 503 otherwise) and `GET /metrics` (Prometheus text, see [`Metrics`](crate::Metrics)). Plain
//! HTTP/1.1 on hyper. Loopback by default; any other address needs a bearer token, and when a token is set
//! every request must carry `Authorization: Bearer TOKEN` (401 otherwise).

use crate::Host;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;

/// Why the admin endpoint cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A non-loopback address without a token.
    #[error("admin address {0} is not a loopback address: anyone who can reach it could read metrics; set a bearer token or bind 127.0.0.1")]
    TokenRequired(SocketAddr),
    /// The token variable is unset or empty.
    #[error("the environment variable {0} (the admin token) is not set or empty")]
    TokenMissing(String),
    /// The token is too short to be a secret.
    #[error("the admin token in {var} has {len} characters; use at least {MIN_TOKEN_LEN} (e.g. `openssl rand -hex 24`)")]
    TokenTooShort {
        /// The variable.
        var: String,
        /// Its length.
        len: usize,
    },
    /// The address names no usable host.
    #[error("admin address {0:?} is not HOST:PORT with a host that resolves (e.g. 127.0.0.1:9100 or localhost:9100)")]
    Address(String),
    /// The address cannot be bound.
    #[error("cannot listen on admin address {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Refuses a non-loopback address without a token.
fn check_bind(addr: SocketAddr, token: Option<&str>) -> Result<(), AdminError> {
    if addr.ip().is_loopback() || token.is_some_and(|t| !t.is_empty()) {
        Ok(())
    } else {
        Err(AdminError::TokenRequired(addr))
    }
}

/// The shortest admin token accepted: a guessable token protects nothing.
pub const MIN_TOKEN_LEN: usize = 16;

/// Reads a token from the environment variable `var` (none without a variable).
fn token_from_env(var: Option<&str>) -> Result<Option<String>, AdminError> {
    match var {
        None => Ok(None),
        Some(v) => checked_token(v, std::env::var(v).ok()).map(Some),
    }
}

/// The token read from the variable `var`: set, not blank, and at least [`MIN_TOKEN_LEN`] long.
fn checked_token(var: &str, value: Option<String>) -> Result<String, AdminError> {
    let value = value.unwrap_or_default();
    let t = value.trim();
    if t.is_empty() {
        return Err(AdminError::TokenMissing(var.to_string()));
    }
    let len = t.chars().count();
    if len < MIN_TOKEN_LEN {
        return Err(AdminError::TokenTooShort {
            var: var.to_string(),
            len,
        });
    }
    Ok(t.to_string())
}

/// A bound admin endpoint, ready to serve.
#[derive(Debug)]
pub struct AdminEndpoint {
    listener: tokio::net::TcpListener,
    token: Option<String>,
    health: HealthPolicy,
}

/// What `/healthz` needs and checks.
#[derive(Debug, Clone, Copy, Default)]
struct HealthPolicy {
    /// `/healthz` answers without the token (orchestrator probes); `/metrics` still needs it.
    open: bool,
    /// Unhealthy when no tick has ended without failing for this long.
    stalled_after: Option<std::time::Duration>,
}

impl AdminEndpoint {
    /// Reads the bearer token from the environment variable `var`, if one is named.
    pub fn token_from_env(var: Option<&str>) -> Result<Option<String>, AdminError> {
        token_from_env(var)
    }

    /// Checks the address (a non-loopback one needs `token`) and binds it: call before starting anything
    /// else, so a refused address stops at once.
    pub async fn bind(
        addr: SocketAddr,
        token: Option<String>,
    ) -> Result<AdminEndpoint, AdminError> {
        check_bind(addr, token.as_deref())?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| AdminError::Bind { addr, source })?;
        Ok(AdminEndpoint {
            listener,
            token,
            health: HealthPolicy::default(),
        })
    }

    /// Resolves `host:port` (`localhost:9100`, `127.0.0.1:9100`, `[::1]:9100`) to the address to bind:
    /// a loopback one when the name has several.
    pub async fn resolve(address: &str) -> Result<SocketAddr, AdminError> {
        if let Ok(addr) = address.parse::<SocketAddr>() {
            return Ok(addr);
        }
        let bad = || AdminError::Address(address.to_string());
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(address)
            .await
            .map_err(|_| bad())?
            .collect();
        addrs
            .iter()
            .find(|a| a.ip().is_loopback() && a.is_ipv4())
            .or_else(|| addrs.iter().find(|a| a.ip().is_loopback()))
            .or_else(|| addrs.first())
            .copied()
            .ok_or_else(bad)
    }

    /// Lets `/healthz` answer without the token (for orchestrator probes that cannot send one);
    /// `/metrics` still needs it.
    pub fn open_healthz(mut self, open: bool) -> AdminEndpoint {
        self.health.open = open;
        self
    }

    /// Makes `/healthz` report the host unhealthy when no tick has ended without failing for `after`
    /// (say three intervals): ingestion has stalled even though the process runs.
    pub fn stalled_after(mut self, after: std::time::Duration) -> AdminEndpoint {
        self.health.stalled_after = Some(after);
        self
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves `/healthz` and `/metrics` for `host` until `shutdown` resolves.
    pub async fn serve(self, host: Host, shutdown: impl std::future::Future<Output = ()>) {
        serve(self.listener, host, self.token, self.health, shutdown).await
    }
}

/// True when `header` is `Bearer <expected>` (the scheme in any case, as RFC 7235 says; the token
/// compared in constant time).
fn authorized(expected: Option<&str>, header: Option<&[u8]>) -> bool {
    let Some(expected) = expected else {
        return true;
    };
    let Some(got) = header.and_then(|h| {
        let scheme = h.get(..7)?;
        scheme
            .eq_ignore_ascii_case(b"bearer ")
            .then(|| h[7..].trim_ascii())
    }) else {
        return false;
    };
    let want = expected.as_bytes();
    got.len() == want.len() && got.iter().zip(want).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0
}

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

async fn handle(
    host: Host,
    token: Option<Arc<str>>,
    health: HealthPolicy,
    req: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let auth = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    let public = health.open && req.uri().path() == "/healthz";
    if !public && !authorized(token.as_deref(), auth) {
        let mut r = reply(
            StatusCode::UNAUTHORIZED,
            "text/plain",
            "unauthorized\n".into(),
        );
        r.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            hyper::header::HeaderValue::from_static("Bearer"),
        );
        return r;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        );
    }
    match req.uri().path() {
        "/healthz" => {
            let m = host.metrics();
            let stalled = health
                .stalled_after
                .zip(m.since_progress())
                .filter(|(after, since)| since > after);
            if !m.is_alive() {
                reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    "scheduler not running".into(),
                )
            } else if let Some((_, since)) = stalled {
                reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    format!(
                        "stalled: no tick has succeeded for {} s; see `status` or the log",
                        since.as_secs()
                    ),
                )
            } else {
                match silent_instances(&host).await {
                    Some(silent) => reply(StatusCode::SERVICE_UNAVAILABLE, "text/plain", silent),
                    None => reply(StatusCode::OK, "text/plain", "ok".into()),
                }
            }
        }
        "/metrics" => {
            let depth = host.outbox_depth().await.ok();
            let mut text = host.metrics().render(depth);
            if let Ok(all) = host.status().await {
                text.push_str(&crate::status::silence_metrics(&all));
            }
            if let Some(c) = host.fleet_counters() {
                text.push_str(&crate::metrics::fleet_metrics(&c));
            }
            reply(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                text,
            )
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found; try /healthz or /metrics\n".into(),
        ),
    }
}

/// `silent: NAME (no events for 75 min; alert after 60 min), …` when any instance's silence alert
/// fires.
async fn silent_instances(host: &Host) -> Option<String> {
    let all = host.status().await.ok()?;
    let silent: Vec<String> = all
        .iter()
        .filter(|s| s.silent())
        .map(|s| {
            format!(
                "{} (no events for {} min; alert after {} min)",
                s.name,
                s.since_last_event.as_secs() / 60,
                s.silence_after.map_or(0, |d| d.as_secs() / 60)
            )
        })
        .collect();
    (!silent.is_empty()).then(|| format!("silent: {}", silent.join(", ")))
}

async fn serve(
    listener: tokio::net::TcpListener,
    host: Host,
    token: Option<String>,
    health: HealthPolicy,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let token: Option<Arc<str>> = token.map(Arc::from);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("admin endpoint: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let host = host.clone();
        let token = token.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let host = host.clone();
                let token = token.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(host, token, health, req).await) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(10))
                .serve_connection(io, service);
            if let Err(e) = conn.await {
                tracing::debug!("admin connection: {e}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_loopback_addresses_need_a_token() {
        let lo: SocketAddr = "127.0.0.1:9100".parse().unwrap();
        let lo6: SocketAddr = "[::1]:9100".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:9100".parse().unwrap();
        let lan: SocketAddr = "10.1.2.3:9100".parse().unwrap();
        assert!(check_bind(lo, None).is_ok());
        assert!(check_bind(lo6, None).is_ok());
        for addr in [any, lan] {
            let e = check_bind(addr, None).unwrap_err();
            let msg = e.to_string();
            assert!(
                msg.contains("not a loopback address") && msg.contains("bearer token"),
                "{msg}"
            );
            assert!(!msg.contains('\n'), "one line: {msg}");
            assert!(
                check_bind(addr, Some("")).is_err(),
                "an empty token is none"
            );
            assert!(check_bind(addr, Some("s3cret")).is_ok());
        }
    }

    #[test]
    fn the_token_variable_must_be_set() {
        assert!(token_from_env(None).unwrap().is_none());
        let e = token_from_env(Some("OKTA_INGEST_TEST_SURELY_UNSET_VAR")).unwrap_err();
        assert!(e.to_string().contains("not set or empty"), "{e}");
        let e = checked_token("T", Some("  short \n".into())).unwrap_err();
        assert!(e.to_string().contains("has 5 characters"), "{e}");
        assert_eq!(
            checked_token("T", Some(" 0123456789abcdef\n".into())).unwrap(),
            "0123456789abcdef"
        );
    }

    #[tokio::test]
    async fn host_names_resolve_to_a_loopback_address() {
        let a = AdminEndpoint::resolve("localhost:9100").await.unwrap();
        assert!(a.ip().is_loopback() && a.port() == 9100, "{a}");
        assert_eq!(
            AdminEndpoint::resolve("[::1]:9").await.unwrap(),
            "[::1]:9".parse::<SocketAddr>().unwrap()
        );
        for bad in ["localhost", "no-such-host.invalid:9100", ":9100x"] {
            let e = AdminEndpoint::resolve(bad).await.unwrap_err();
            assert!(matches!(e, AdminError::Address(_)), "{bad}: {e}");
        }
    }

    #[test]
    fn bearer_tokens_are_checked_exactly() {
        assert!(authorized(None, None), "no token configured: open");
        assert!(authorized(Some("abc"), Some(b"Bearer abc")));
        assert!(!authorized(Some("abc"), None));
        assert!(!authorized(Some("abc"), Some(b"Bearer abd")));
        assert!(!authorized(Some("abc"), Some(b"Bearer abcd")));
        assert!(!authorized(Some("abc"), Some(b"Basic abc")));
        assert!(!authorized(Some("abc"), Some(b"abc")));
        assert!(authorized(Some("abc"), Some(b"bearer abc")), "any case");
        assert!(authorized(Some("abc"), Some(b"BEARER abc")));
    }

    #[tokio::test]
    async fn requests_without_the_token_get_401() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::open(crate::HostConfig::new(dir.path().join("s.db"))).unwrap();
        host.metrics().heartbeat();
        let endpoint = AdminEndpoint::bind("127.0.0.1:0".parse().unwrap(), Some("s3cret".into()))
            .await
            .unwrap();
        let addr = endpoint.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(endpoint.serve(host, async {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::new();
        let url = format!("http://{addr}/metrics");
        let r = client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 401);
        let r = client.get(&url).bearer_auth("wrong").send().await.unwrap();
        assert_eq!(r.status(), 401);
        let r = client.get(&url).bearer_auth("s3cret").send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r
            .text()
            .await
            .unwrap()
            .contains("okta_ingest_outbox_depth 0"));
        let r = client
            .get(format!("http://{addr}/healthz"))
            .bearer_auth("s3cret")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "ok");
        let r = client
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "the token guards /healthz too by default");
        let _ = stop.send(());
        server.await.unwrap();
    }

    #[tokio::test]
    async fn an_open_healthz_needs_no_token_and_reports_a_stalled_host() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::open(crate::HostConfig::new(dir.path().join("s.db"))).unwrap();
        host.metrics().heartbeat();
        let endpoint = AdminEndpoint::bind(
            "127.0.0.1:0".parse().unwrap(),
            Some("0123456789abcdef".into()),
        )
        .await
        .unwrap()
        .open_healthz(true)
        .stalled_after(std::time::Duration::from_millis(300));
        let addr = endpoint.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(endpoint.serve(host.clone(), async {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::new();
        let health = format!("http://{addr}/healthz");
        let r = client.get(&health).send().await.unwrap();
        assert_eq!(r.status(), 200, "open, and fresh");
        let r = client
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "only /healthz is open");
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        host.metrics().heartbeat();
        let r = client.get(&health).send().await.unwrap();
        assert_eq!(r.status(), 503, "alive, but no tick succeeded for 400 ms");
        assert!(r.text().await.unwrap().starts_with("stalled"));
        host.metrics().progressed();
        let r = client.get(&health).send().await.unwrap();
        assert_eq!(r.status(), 200, "healthy again after a good tick");
        let _ = stop.send(());
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_silent_instance_turns_healthz_503_and_is_on_metrics() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let host = Host::open(crate::HostConfig::new(&db)).unwrap();
        host.metrics().heartbeat();
        let key = crate::GeneratedKey::generate().unwrap();
        let key_path = dir.path().join("k.pem");
        key.write_private_pem(&key_path).unwrap();
        for (name, client, after) in [
            ("quiet", "0oa1", Some(crate::DEFAULT_SILENCE_AFTER)),
            ("muted", "0oa2", None),
        ] {
            host.add_instance(crate::NewInstance {
                exclusions: Default::default(),
                redaction: Default::default(),
                name: name.into(),
                domain: "acme.okta.com".into(),
                client_id: client.into(),
                private_key: key_path.clone(),
                key_id: None,
                backfill_days: 0,
                categories: okta_ingest_model::Categories::DEFAULT,
                ca_file: None,
                dpop: okta_ingest_model::DpopMode::Auto,
                silence_after: after,
            })
            .await
            .unwrap();
        }
        let endpoint = AdminEndpoint::bind("127.0.0.1:0".parse().unwrap(), None)
            .await
            .unwrap();
        let addr = endpoint.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(endpoint.serve(host.clone(), async {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::new();
        let health = format!("http://{addr}/healthz");
        assert_eq!(
            client.get(&health).send().await.unwrap().status(),
            200,
            "just added: not silent"
        );
        // Both were added 2 hours ago and no event has arrived since.
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute("UPDATE instances SET created_ms = created_ms - 7200000", [])
            .unwrap();
        let r = client.get(&health).send().await.unwrap();
        assert_eq!(r.status(), 503);
        let text = r.text().await.unwrap();
        assert!(
            text.starts_with("silent: quiet (no events for 120 min; alert after 60 min)"),
            "{text}"
        );
        assert!(!text.contains("muted"), "its alert is off: {text}");
        let metrics = client
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let since = metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix("okta_ingest_seconds_since_last_event{instance=\"quiet\"} ")
            })
            .unwrap();
        assert!(
            (7199..7300).contains(&since.parse::<u64>().unwrap()),
            "{since}"
        );
        assert!(metrics.contains("okta_ingest_silent{instance=\"quiet\"} 1"));
        assert!(metrics.contains("okta_ingest_silent{instance=\"muted\"} 0"));
        let _ = stop.send(());
        server.await.unwrap();
    }
}
