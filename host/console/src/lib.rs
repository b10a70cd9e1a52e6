//! okta-ingest's web console: guided setup of an instance with a staged test connection, then live
//! status and actions per instance, served by the same process that ingests (`okta-ingest ui`,
//! `okta-ingest run --ui ADDR`).
//!
//! Server-rendered pages (askama templates in `templates/`, auto-escaped) on axum; every control is a
//! real form that works without JavaScript, and the vendored htmx (`assets/`, 0BSD) turns posts into
//! in-page swaps and polls the live parts. Nothing is fetched from another origin.
//!
//! Security, in the order every request meets it (each rule has a test in `tests/http.rs`):
//! 1. `access::guard`: the Host allow-list (421), the one-time login token swapped for an `HttpOnly;
//!    SameSite=Strict` cookie, no session → 401; security headers on every answer.
//! 2. tower-http's Fetch-Metadata CSRF layer: a cross-site state-changing request → 403.
//! 3. The pages: a private key can be generated or uploaded but is never rendered or sent back; only
//!    its `kid`, size and public half are.
//!
//! Loopback only: a console on another address would send its cookie in clear text.

mod access;
mod api;
mod assets;
mod dashboard;
mod pages;
mod setup;

use axum::routing::{get, post};
use axum::Router;
use okta_ingest::Host;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// What the console shows besides the host's own state.
#[derive(Debug, Clone)]
pub struct ConsoleOptions {
    /// Where this process delivers events (`file:/var/log/okta.jsonl`), shown on the setup and status
    /// pages: instances set up here deliver there.
    pub sink: String,
    /// Directory keys generated or uploaded here are written to (mode 0600 files, a 0700 directory).
    pub keys_dir: PathBuf,
}

/// Why the console cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// Not a loopback address.
    #[error("the console address {0} is not a loopback address: it serves plain HTTP with a session cookie, so it listens on 127.0.0.1 or [::1] only (reach it from elsewhere through an SSH tunnel, e.g. ssh -L 8730:127.0.0.1:8730 HOST)")]
    NotLoopback(SocketAddr),
    /// The address cannot be bound.
    #[error("cannot listen on the console address {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Shared by every handler.
pub(crate) struct Console {
    pub(crate) host: Host,
    pub(crate) options: ConsoleOptions,
}

pub(crate) type Shared = Arc<Console>;

/// A bound console, ready to serve.
pub struct ConsoleServer {
    listener: tokio::net::TcpListener,
    access: Arc<access::Access>,
    login_url: String,
    options: ConsoleOptions,
}

impl std::fmt::Debug for ConsoleServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The login URL is a credential until used.
        f.debug_struct("ConsoleServer")
            .field("addr", &self.listener.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl ConsoleServer {
    /// Binds `addr` (loopback only; port 0 picks a free one) and makes the one-time login token.
    pub async fn bind(
        addr: SocketAddr,
        options: ConsoleOptions,
    ) -> Result<ConsoleServer, ConsoleError> {
        if !addr.ip().is_loopback() {
            return Err(ConsoleError::NotLoopback(addr));
        }
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ConsoleError::Bind { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| ConsoleError::Bind { addr, source })?;
        let (access, token) = access::Access::new(bound.port());
        let host = if bound.is_ipv6() {
            format!("[::1]:{}", bound.port())
        } else {
            format!("127.0.0.1:{}", bound.port())
        };
        Ok(ConsoleServer {
            listener,
            access: Arc::new(access),
            login_url: format!("http://{host}/?token={token}"),
            options,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The one-time login URL to give the user (its token works once).
    pub fn login_url(&self) -> &str {
        &self.login_url
    }

    /// Serves `host`'s console until `shutdown` resolves.
    pub async fn serve(
        self,
        host: Host,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let shared = Arc::new(Console {
            host,
            options: self.options,
        });
        let app = router(shared, self.access);
        if let Err(e) = axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!("console: {e}");
        }
    }
}

/// Every route, behind the access guard and the CSRF layer.
fn router(shared: Shared, access: Arc<access::Access>) -> Router {
    Router::new()
        .route("/", get(dashboard::index))
        .route("/fragments/instances", get(dashboard::instances_fragment))
        .route("/instances/{name}", get(dashboard::instance_page))
        .route("/instances/{name}/check", post(dashboard::check_now))
        .route("/instances/{name}/remove", post(dashboard::remove))
        .route("/instances/{name}/pause", post(dashboard::pause))
        .route(
            "/instances/{name}/categories",
            post(dashboard::edit_categories),
        )
        .route("/instances/{name}/resume", post(dashboard::resume))
        .route("/instances/{name}/rotate", post(dashboard::rotate))
        .route(
            "/instances/{name}/rotate/finish",
            post(dashboard::rotate_finish),
        )
        .route(
            "/instances/{name}/rotate/cancel",
            post(dashboard::rotate_cancel),
        )
        .route("/setup", get(setup::start).post(setup::step))
        .route("/api/instances", get(api::instances))
        .route("/api/instances/{name}", get(api::instance))
        .route("/assets/{file}", get(assets::serve))
        .with_state(shared)
        .layer(tower_http::csrf::CsrfLayer::new())
        .layer(axum::middleware::from_fn_with_state(access, access::guard))
}
