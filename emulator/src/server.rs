//! Accept loop and per-connection HTTP/1.1 (keep-alive) over TLS, with routing.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio_rustls::TlsAcceptor;

use crate::okta;
use crate::reply::{Outcome, Reply, RespBody};
use crate::state::{lock, Shared};

/// Token requests are tiny; anything bigger is refused rather than buffered.
const MAX_BODY: usize = 64 * 1024;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves until `stop` flips to true.
pub async fn run(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    let _ = tcp.set_nodelay(true);
                    conns.spawn(connection(tcp, acceptor.clone(), shared.clone(), stop.clone()));
                }
                Err(e) => {
                    // Typically EMFILE under load: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = stop.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    // Give in-flight requests a moment, then drop whatever is left.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    conns.abort_all();
}

type SvcFuture = Pin<Box<dyn Future<Output = Result<Response<RespBody>, Infallible>> + Send>>;

async fn connection(
    tcp: TcpStream,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!("TLS handshake failed: {e}");
            return;
        }
        Err(_) => return,
    };
    let kill = Arc::new(Notify::new());
    let kill_svc = kill.clone();
    let svc = service_fn(move |req: Request<Incoming>| -> SvcFuture {
        let shared = shared.clone();
        let kill = kill_svc.clone();
        Box::pin(async move {
            match route(&shared, req).await {
                Outcome::Reply(r) => Ok(with_request_id(r).into_response()),
                Outcome::Reset => {
                    kill.notify_one();
                    // The connection task drops the socket; this response never happens.
                    std::future::pending().await
                }
            }
        })
    });
    let mut conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(tls), svc);
    tokio::select! {
        res = &mut conn => {
            if let Err(e) = res {
                tracing::debug!("connection ended: {e}");
            }
        }
        _ = kill.notified() => {
            // Abort: RST rather than a clean TLS close, as a crashing proxy would.
            let parts = conn.into_parts();
            let (tcp, _) = parts.io.into_inner().into_inner();
            let _ = tcp.set_zero_linger();
            drop(tcp);
        }
        _ = stop.changed() => {
            Pin::new(&mut conn).graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
        }
    }
}

/// The Host the client used (Okta builds `aud` and Link URLs from it).
fn host_of(shared: &Shared, req: &Request<Incoming>) -> String {
    req.headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_else(|| shared.addr.to_string())
}

async fn route(shared: &Shared, req: Request<Incoming>) -> Outcome {
    let host = host_of(shared, &req);
    let path = req.uri().path().to_string();
    match path.trim_end_matches('/') {
        "/api/v1/logs" => {
            if req.method() != http::Method::GET {
                return Outcome::Reply(with_other_limits(shared, method_not_allowed("GET")));
            }
            let query = req.uri().query().unwrap_or("").to_string();
            crate::logs::handle(shared, req.headers(), &path, &query, &host).await
        }
        crate::discovery::PATH => {
            // Okta serves the metadata to anyone, with rate-limit headers like every response.
            if req.method() != http::Method::GET {
                return Outcome::Reply(with_other_limits(shared, method_not_allowed("GET")));
            }
            Outcome::Reply(with_other_limits(shared, crate::discovery::handle(&host)))
        }
        "/oauth2/v1/token" => {
            let (parts, body) = req.into_parts();
            let body = match Limited::new(body, MAX_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => {
                    return Outcome::Reply(Reply::json(
                        400,
                        okta::oauth_error(
                            "invalid_request",
                            "The request body is too large or unreadable.",
                        ),
                    ))
                }
            };
            Outcome::Reply(crate::token::handle(
                shared,
                &parts.method,
                &parts.headers,
                &host,
                &body,
            ))
        }
        _ => Outcome::Reply(with_other_limits(
            shared,
            Reply::json(
                404,
                okta::api_error(
                    "E0000007",
                    &format!("Not found: Resource not found: {path} (GET)"),
                    &[],
                ),
            ),
        )),
    }
}

/// Okta tags every response with `X-Okta-Request-Id` (what support asks for; the official SDKs
/// echo it as `X-Okta-Retry-For` when they retry a 429). A fault that sets its own keeps it.
fn with_request_id(reply: Reply) -> Reply {
    if reply.has_header("x-okta-request-id") {
        return reply;
    }
    reply.header("x-okta-request-id", okta::request_id())
}

/// Okta sends rate-limit headers on every response, even errors outside the two endpoints.
fn with_other_limits(shared: &Shared, mut reply: Reply) -> Reply {
    let decision = lock(&shared.inner)
        .other_bucket
        .hit(okta_ingest_model::time::now_ms());
    for (n, v) in decision.headers() {
        reply = reply.header(n, v);
    }
    reply
}

fn method_not_allowed(allow: &str) -> Reply {
    Reply::json(
        405,
        okta::api_error(
            "E0000022",
            "The endpoint does not support the provided HTTP method",
            &[],
        ),
    )
    .header("allow", allow)
}
