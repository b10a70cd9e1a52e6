//! A faithful emulator of Okta's token endpoint (`POST /oauth2/v1/token`, `private_key_jwt`)
//! and System Log API (`GET /api/v1/logs`) over HTTPS, for end-to-end tests, benchmarks and
//! demos. See `README.md` and `spec/okta/API-FACTS.md` for the behaviour emulated.

#![warn(missing_docs)]

mod catalog;
mod error;
mod filter;
mod generator;
mod jwt;
mod keys;
mod logs;
mod okta;
mod ratelimit;
mod reply;
mod server;
mod state;
mod store;
mod tls;
mod token;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use error::EmulatorError;
pub use filter::{parse as parse_filter, Filter, FilterError};
pub use generator::{minimal_events, Generator};
pub use jwt::{client_assertion, sign_claims};
pub use keys::{generate_client_key_pair, ClientKeyPair};

use state::{lock, Shared};

/// How to start an emulator.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Address to listen on (default `127.0.0.1:0`: any free port).
    pub bind: SocketAddr,
    /// Events to generate at start (default 0).
    pub events: usize,
    /// Spread the generated events over the last N days (default 14).
    pub days: u32,
    /// Seed for deterministic generation (default 1).
    pub seed: u64,
    /// Fraction of generated events committed late, 2–30 min after `published` (default 0.02).
    pub late_fraction: f64,
    /// `/api/v1/logs` requests allowed per window; `None` never answers 429 (the headers are
    /// still sent, with a limit of 1,000,000).
    pub rate_limit_per_minute: Option<u32>,
    /// Length of a `/api/v1/logs` rate-limit window (default 60 s, like Okta); tests shorten it to
    /// exercise several windows in seconds.
    pub rate_limit_window: Duration,
    /// Lifetime of issued access tokens (default one hour, like Okta).
    pub token_lifetime: Duration,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            events: 0,
            days: 14,
            seed: 1,
            late_fraction: 0.02,
            rate_limit_per_minute: None,
            rate_limit_window: Duration::from_secs(60),
            token_lifetime: Duration::from_secs(3600),
        }
    }
}

/// A client (Okta "API Services" app) allowed to use the token endpoint.
#[derive(Debug, Clone)]
pub struct ClientRegistration {
    /// The client id (`iss`/`sub` of its assertions).
    pub client_id: String,
    /// Its RSA public key, SPKI (`PUBLIC KEY`) or PKCS#1 (`RSA PUBLIC KEY`) PEM.
    pub public_key_pem: String,
    /// Registered key id; when set, an assertion whose header carries another kid is refused.
    pub kid: Option<String>,
    /// "Require DPoP": token requests without a DPoP proof get 400 `invalid_dpop_proof`.
    pub require_dpop: bool,
    /// Granted scopes, normally `["okta.logs.read"]`.
    pub scopes: Vec<String>,
    /// Whether the app has an admin role; without one `/api/v1/logs` answers 403.
    pub admin_role: bool,
}

impl ClientRegistration {
    /// An app set up the way the README tells users to: `okta.logs.read` granted, an admin role
    /// assigned, DPoP not required, and the key registered without a kid (so any kid is accepted).
    /// Change the fields for the misconfigurations a test needs.
    pub fn logs_reader(client_id: &str, public_key_pem: &str) -> ClientRegistration {
        ClientRegistration {
            client_id: client_id.to_string(),
            public_key_pem: public_key_pem.to_string(),
            kid: None,
            require_dpop: false,
            scopes: vec!["okta.logs.read".into()],
            admin_role: true,
        }
    }
}

impl ClientKeyPair {
    /// [`ClientRegistration::logs_reader`] for this pair, with its kid registered.
    pub fn logs_reader(&self) -> ClientRegistration {
        ClientRegistration {
            kid: Some(self.kid.clone()),
            ..ClientRegistration::logs_reader(&self.client_id, &self.public_key_pem)
        }
    }
}

/// A client registered by [`Emulator::add_logs_reader`], with the files it wrote.
#[derive(Debug, Clone)]
pub struct LogsReader {
    /// The key pair (client id, kid, PEMs).
    pub keys: ClientKeyPair,
    /// The private key file.
    pub key_path: std::path::PathBuf,
    /// The emulator's CA certificate file.
    pub ca_path: std::path::PathBuf,
}

/// Writes `text` to a new file at `path` with mode 0600 (it may be a private key). Whatever was at
/// `path` is removed first and never followed: a symbolic link planted there is replaced, not written
/// through.
pub fn write_private_file(path: &std::path::Path, text: &str) -> Result<(), EmulatorError> {
    use std::io::Write;
    let err = |source| EmulatorError::File {
        path: path.display().to_string(),
        source,
    };
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    let mut opts = std::fs::OpenOptions::new();
    // create_new is O_CREAT|O_EXCL: it fails on anything at `path`, a link included.
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(err)
}

/// An event as committed (persisted) by the emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedEvent {
    /// `uuid` of the event (empty if the committed JSON had none).
    pub uuid: String,
    /// `eventType`.
    pub event_type: String,
    /// `published` text.
    pub published: String,
    /// The exact JSON text served.
    pub raw: String,
    /// Commit (persistence) time, epoch ms.
    pub commit_ms: u64,
}

/// A misbehaviour for the next request; queued FIFO with [`Emulator::push_fault`].
/// `TokenEndpoint` faults are consumed by the next token request, all others by the next
/// `/api/v1/logs` request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this status, body and extra headers (rate-limit headers are added unless given).
    Status {
        /// HTTP status.
        status: u16,
        /// Body text.
        body: String,
        /// Extra headers.
        headers: Vec<(String, String)>,
    },
    /// Close the connection (TCP reset) without answering.
    ResetConnection,
    /// Wait, then answer normally.
    Delay(Duration),
    /// Announce a longer Content-Length than sent, then close.
    TruncatedBody,
    /// Answer 200 with `<html>oops</html>`.
    NotJson,
    /// Answer normally but without the `rel="next"` link.
    NoNextLink,
    /// Answer the next token request with this status and body.
    TokenEndpoint {
        /// HTTP status.
        status: u16,
        /// Body text.
        body: String,
    },
}

/// Counters, for assertions in tests and benchmarks.
#[derive(Default, Clone, Debug)]
pub struct Stats {
    /// Requests to `/oauth2/v1/token`.
    pub token_requests: u64,
    /// Access tokens issued.
    pub tokens_issued: u64,
    /// Requests to `/api/v1/logs`.
    pub log_requests: u64,
    /// `/api/v1/logs` requests answered 429 (by the bucket or by an injected `Fault::Status`).
    pub rate_limited: u64,
    /// Max number of `/api/v1/logs` requests received in one rate-limit window after that
    /// window's first 429 (0 for a client that waits for the reset).
    pub requests_while_limited_per_window: u64,
    /// Most `/api/v1/logs` requests received in one rate-limit window.
    pub max_log_requests_per_window: u64,
    /// Faults served.
    pub faults_served: u64,
}

/// A running emulator. Cheap to clone; all clones control the same server.
#[derive(Clone)]
pub struct Emulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    ca_pem: Arc<str>,
    stop: Arc<watch::Sender<bool>>,
    task: Arc<std::sync::Mutex<Option<JoinHandle<()>>>>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Binds, generates the CA and server certificate, generates `config.events` events and
    /// spawns the server on the current tokio runtime.
    pub async fn start(config: EmulatorConfig) -> Result<Emulator, EmulatorError> {
        let tls = tls::generate()?;
        let listener = tokio::net::TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(&config, addr));
        if config.events > 0 {
            shared.generate(config.events, config.days, config.late_fraction);
        }
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(server::run(listener, tls.config, shared.clone(), stop_rx));
        Ok(Emulator {
            shared,
            addr,
            ca_pem: Arc::from(tls.ca_pem),
            stop: Arc::new(stop),
            task: Arc::new(std::sync::Mutex::new(Some(task))),
        })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Okta "domain" to configure clients with: `127.0.0.1:PORT`.
    pub fn domain(&self) -> String {
        self.addr.to_string()
    }

    /// PEM of the CA that signed the server certificate.
    pub fn ca_pem(&self) -> String {
        self.ca_pem.to_string()
    }

    /// Registers (or replaces) a client.
    pub fn register_client(&self, client: ClientRegistration) {
        self.shared.register_client(client);
    }

    /// Generates a key pair for `client_id`, registers it as a logs reader
    /// ([`ClientKeyPair::logs_reader`]), and writes its private key (`{client_id}-key.pem`) and this
    /// emulator's CA (`ca.pem`) into `dir`, both with mode 0600: what a demo, a benchmark or a test
    /// points an okta-ingest instance at.
    pub fn add_logs_reader(
        &self,
        client_id: &str,
        dir: &std::path::Path,
    ) -> Result<LogsReader, EmulatorError> {
        let keys = generate_client_key_pair(client_id)?;
        self.register_client(keys.logs_reader());
        let key_path = dir.join(format!("{client_id}-key.pem"));
        let ca_path = dir.join("ca.pem");
        write_private_file(&key_path, &keys.private_key_pem)?;
        write_private_file(&ca_path, &self.ca_pem())?;
        Ok(LogsReader {
            keys,
            key_path,
            ca_path,
        })
    }

    /// Commits events now, in this order, whatever their `published`. Each is stored as its
    /// serde_json serialisation and served verbatim from then on.
    pub fn commit_events(&self, events: Vec<serde_json::Value>) {
        self.shared.commit_values(events);
    }

    /// Appends `n` generated events published over the last `days` days; returns `n`.
    pub fn generate_events(&self, n: usize, days: u32, late_fraction: f64) -> usize {
        self.shared.generate(n, days, late_fraction)
    }

    /// All committed events, in commit order.
    pub fn committed(&self) -> Vec<CommittedEvent> {
        self.shared.committed()
    }

    /// Queues a fault (FIFO).
    pub fn push_fault(&self, fault: Fault) {
        lock(&self.shared.inner).faults.push_back(fault);
    }

    /// Revokes every issued token: they now answer 401 `invalid_token`.
    pub fn revoke_tokens(&self) {
        lock(&self.shared.inner).tokens.clear();
    }

    /// Changes the `/api/v1/logs` rate limit (`None`: unlimited).
    pub fn set_rate_limit(&self, per_minute: Option<u32>) {
        lock(&self.shared.inner).logs_bucket.set_limit(per_minute);
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        let inner = lock(&self.shared.inner);
        let mut s = inner.stats.clone();
        s.requests_while_limited_per_window = inner.logs_bucket.max_after_first_429;
        s.max_log_requests_per_window = inner.logs_bucket.max_per_window;
        s
    }

    /// Stops accepting, lets in-flight requests finish, and waits for the server task.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let task = lock(&self.task).take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}
