//! A faithful emulator of Okta's token endpoint (`POST /oauth2/v1/token`, `private_key_jwt`)
//! and System Log API (`GET /api/v1/logs`) over HTTPS, Bearer or DPoP (RFC 9449), for end-to-end
//! tests, benchmarks and demos. See `README.md` and `spec/okta/API-FACTS.md` for the behaviour emulated.

#![warn(missing_docs)]

mod auth;
mod catalog;
mod clock;
mod discovery;
mod dpop;
mod error;
mod files;
mod filter;
mod generator;
mod jwt;
mod keys;
mod live;
mod logs;
mod nonce;
mod okta;
mod ratelimit;
mod replay;
mod reply;
mod server;
mod state;
mod store;
mod tls;
mod token;

#[cfg(test)]
mod dpop_https_tests;
#[cfg(test)]
mod test_proof;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use error::EmulatorError;
pub use files::{read_private_file, write_private_file, MAX_KEY_FILE};
pub use filter::{parse as parse_filter, Filter, FilterError};
pub use generator::{minimal_events, Generator};
pub use jwt::{client_assertion, sign_claims};
pub use keys::{client_key_pair_from_pem, generate_client_key_pair, ClientKeyPair};
pub use tls::{CA_CERT_FILE, CA_KEY_FILE};

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
    /// Keep the CA in this directory (`ca-key.pem`, mode 0600, and `ca.pem`) and reuse it at the next
    /// start, so a client trusting a `ca.pem` from an earlier start keeps working. `None` (the
    /// default): a fresh CA each start, nothing written.
    pub ca_dir: Option<PathBuf>,
    /// Keep committing this many generated events a minute while running, `published` now, spread
    /// over the event types like the initial ones; `0` (the default): none.
    pub live_events_per_minute: u32,
    /// How DPoP proofs are judged (see [`DpopSettings`]); changeable later with
    /// [`Emulator::set_dpop_settings`].
    pub dpop: DpopSettings,
}

/// The DPoP behaviours Okta leaves undocumented or that a test wants to provoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopSettings {
    /// How far in the future a proof's iat may be (Okta's value is undocumented), default 60 s.
    pub future_skew: Duration,
    /// Refuse an htu carrying a query or fragment (default true).
    pub strict_htu: bool,
    /// Resource server demands its own nonce (RFC 9449 §9; Okta does not today), default false.
    pub rs_nonce_required: bool,
    /// Misbehaving server: the token endpoint answers use_dpop_nonce with the same nonce forever,
    /// default false.
    pub nonce_loop: bool,
}

impl Default for DpopSettings {
    fn default() -> Self {
        DpopSettings {
            future_skew: Duration::from_secs(60),
            strict_htu: true,
            rs_nonce_required: false,
            nonce_loop: false,
        }
    }
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
            ca_dir: None,
            live_events_per_minute: 0,
            dpop: DpopSettings::default(),
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
    /// "Require Demonstrating Proof of Possession (DPoP)": token requests need a valid DPoP proof
    /// (RFC 9449, checked as Okta does: nonce handshake, single-use `jti`, `iat` window) and get a
    /// `token_type: "DPoP"` token bound to the proof's key, which `/api/v1/logs` accepts only with
    /// the `DPoP` scheme and a fresh proof. Without a proof: 400 `invalid_dpop_proof` "The DPoP
    /// proof JWT header is missing.".
    pub require_dpop: bool,
    /// Only when `require_dpop` is false: a proof sent anyway is ignored and a Bearer token issued
    /// (what Okta is reported to do, DPOP.md §1.4). False: such a proof is verified like for a
    /// DPoP app and, if valid, yields a DPoP-bound token (an app that allows DPoP binds when
    /// offered a proof, RFC 9449 §5), while a request without one still gets Bearer.
    pub accept_unsolicited_dpop: bool,
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
            accept_unsolicited_dpop: true,
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

/// A client registered by [`Emulator::add_logs_reader`] or [`Emulator::open_logs_reader`], with its
/// files.
#[derive(Debug, Clone)]
pub struct LogsReader {
    /// The key pair (client id, kid, PEMs).
    pub keys: ClientKeyPair,
    /// The private key file.
    pub key_path: PathBuf,
    /// The emulator's CA certificate file.
    pub ca_path: PathBuf,
    /// Whether the key was already in the directory (read back) rather than generated now.
    pub reused: bool,
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
    /// Access tokens issued (Bearer and DPoP).
    pub tokens_issued: u64,
    /// DPoP-bound (`token_type: "DPoP"`) tokens issued.
    pub dpop_tokens_issued: u64,
    /// Bearer tokens issued.
    pub bearer_tokens_issued: u64,
    /// Token requests answered 400 `use_dpop_nonce` (the nonce handshake).
    pub dpop_nonce_challenges: u64,
    /// `/api/v1/logs` requests answered 401 `use_dpop_nonce` (only with
    /// [`DpopSettings::rs_nonce_required`]).
    pub rs_nonce_challenges: u64,
    /// Requests (either endpoint) carrying a DPoP proof whose `jti` had been seen before, whatever
    /// the answer (it may be a 429 that came first).
    pub replayed_proofs: u64,
    /// Token requests carrying a client assertion whose `jti` had been seen before.
    pub replayed_assertions: u64,
    /// Answers `invalid_dpop_proof` (either endpoint), or `invalid_request` about DPoP from
    /// `/api/v1/logs`.
    pub dpop_errors: u64,
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
    tasks: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Binds, generates the CA (or reuses the one kept in `config.ca_dir`) and the server
    /// certificate, generates `config.events` events and spawns the server (and, with
    /// `config.live_events_per_minute`, the live traffic) on the current tokio runtime.
    pub async fn start(config: EmulatorConfig) -> Result<Emulator, EmulatorError> {
        let tls = tls::generate(config.ca_dir.as_deref())?;
        let listener = tokio::net::TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(&config, addr));
        if config.events > 0 {
            shared.generate(config.events, config.days, config.late_fraction);
        }
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = vec![tokio::spawn(server::run(
            listener,
            tls.config,
            shared.clone(),
            stop_rx.clone(),
        ))];
        if config.live_events_per_minute > 0 {
            tasks.push(tokio::spawn(live::run(
                shared.clone(),
                config.live_events_per_minute,
                stop_rx,
            )));
        }
        Ok(Emulator {
            shared,
            addr,
            ca_pem: Arc::from(tls.ca_pem),
            stop: Arc::new(stop),
            tasks: Arc::new(std::sync::Mutex::new(tasks)),
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
        dir: &Path,
    ) -> Result<LogsReader, EmulatorError> {
        let keys = generate_client_key_pair(client_id)?;
        let key_path = key_file(client_id, dir)?;
        write_private_file(&key_path, &keys.private_key_pem)?;
        self.logs_reader(keys, key_path, dir, false)
    }

    /// [`Emulator::add_logs_reader`], but a key already in `dir` (`{client_id}-key.pem`, from an
    /// earlier start) is read back and registered instead of a new one, so its kid stays the same
    /// and an okta-ingest instance set up with it keeps working. An existing key file is used only
    /// when it is a private regular file ([`read_private_file`]) holding an RSA private key; anything
    /// else is refused, saying why.
    pub fn open_logs_reader(
        &self,
        client_id: &str,
        dir: &Path,
    ) -> Result<LogsReader, EmulatorError> {
        let key_path = key_file(client_id, dir)?;
        match read_private_file(&key_path, MAX_KEY_FILE)? {
            Some(pem) => {
                let keys = client_key_pair_from_pem(client_id, &pem).map_err(|e| {
                    EmulatorError::Refused {
                        path: key_path.display().to_string(),
                        reason: format!(
                            "it does not hold a usable key ({e}); remove it to have a new one \
                             generated"
                        ),
                    }
                })?;
                self.logs_reader(keys, key_path, dir, true)
            }
            None => self.add_logs_reader(client_id, dir),
        }
    }

    fn logs_reader(
        &self,
        keys: ClientKeyPair,
        key_path: PathBuf,
        dir: &Path,
        reused: bool,
    ) -> Result<LogsReader, EmulatorError> {
        self.register_client(keys.logs_reader());
        let ca_path = dir.join(CA_CERT_FILE);
        write_private_file(&ca_path, &self.ca_pem())?;
        Ok(LogsReader {
            keys,
            key_path,
            ca_path,
            reused,
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

    /// Replaces the DPoP settings; the next request uses them.
    pub fn set_dpop_settings(&self, settings: DpopSettings) {
        lock(&self.shared.inner).dpop = settings;
    }

    /// Moves the emulator's clock by `by_ms` (negative: back), cumulatively. It drives what Okta
    /// decides by its clock: DPoP `iat`/`exp`, nonce rotation (24 h) and expiry (72 h), the client
    /// assertion's `iat`/`exp`, and access-token expiry. Rate-limit windows and event generation
    /// stay on real time. A client talking to a shifted emulator must date its assertions and
    /// proofs by [`Emulator::clock_ms`].
    pub fn shift_clock(&self, by_ms: i64) {
        self.shared.clock.shift(by_ms);
    }

    /// The emulator's clock (real time plus every [`Emulator::shift_clock`]), epoch ms.
    pub fn clock_ms(&self) -> u64 {
        self.shared.clock.now_ms()
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

    /// Stops accepting and the live traffic, lets in-flight requests finish, and waits for the
    /// server task.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        for t in tasks {
            let _ = t.await;
        }
    }
}

/// `dir/{client_id}-key.pem`, for a client id that is a plain file-name part.
fn key_file(client_id: &str, dir: &Path) -> Result<PathBuf, EmulatorError> {
    let plain = !client_id.is_empty()
        && !client_id.starts_with('.')
        && client_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !plain {
        return Err(EmulatorError::Key(format!(
            "client id {client_id:?} cannot name a key file (letters, digits, '-', '_', '.' only)"
        )));
    }
    Ok(dir.join(format!("{client_id}-key.pem")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::tests::TestDir;

    fn trusting(ca_pem: &str) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("ca");
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .build()
            .expect("client")
    }

    /// A token for `keys` from `emu`, over TLS trusting `ca_pem`: the HTTP status.
    async fn token_status(
        emu: &Emulator,
        ca_pem: &str,
        keys: &ClientKeyPair,
    ) -> reqwest::Result<u16> {
        let url = format!("https://{}/oauth2/v1/token", emu.domain());
        let assertion = client_assertion(keys, &url).expect("assertion");
        let form = [
            ("grant_type", "client_credentials"),
            ("scope", "okta.logs.read"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ];
        let r = trusting(ca_pem).post(url).form(&form).send().await?;
        Ok(r.status().as_u16())
    }

    fn kept(dir: &Path) -> EmulatorConfig {
        EmulatorConfig {
            ca_dir: Some(dir.to_path_buf()),
            ..EmulatorConfig::default()
        }
    }

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
    }

    /// The defect: every start generated a new client key (and CA), so an instance set up against an
    /// earlier start failed with "The client_assertion JWT kid is invalid" (and then on TLS).
    #[tokio::test]
    async fn a_kept_directory_keeps_the_client_key_and_the_ca_across_restarts() {
        let dir = TestDir::new("restart");
        let first = Emulator::start(kept(&dir.0)).await.expect("start");
        let a = first.open_logs_reader("0oa-kept", &dir.0).expect("reader");
        assert!(!a.reused);
        let old_ca = std::fs::read_to_string(&a.ca_path).expect("ca.pem");
        assert_eq!(old_ca, first.ca_pem());
        #[cfg(unix)]
        for f in [&a.key_path, &a.ca_path, &dir.path(CA_KEY_FILE)] {
            assert_eq!(mode(f), 0o600, "{}", f.display());
        }
        let old_key = std::fs::read_to_string(&a.key_path).expect("key");
        assert_eq!(
            token_status(&first, &old_ca, &a.keys).await.expect("tls"),
            200
        );
        first.shutdown().await;

        let second = Emulator::start(kept(&dir.0)).await.expect("restart");
        let b = second.open_logs_reader("0oa-kept", &dir.0).expect("reader");
        assert!(b.reused);
        assert_eq!(
            (&b.keys.kid, &b.keys.client_id),
            (&a.keys.kid, &a.keys.client_id)
        );
        assert_eq!(std::fs::read_to_string(&b.key_path).expect("key"), old_key);
        // What a client saved at the first start (its key, the first ca.pem) still works.
        assert_eq!(
            token_status(&second, &old_ca, &a.keys).await.expect("tls"),
            200
        );
        second.shutdown().await;

        // Control: without the kept directory the CA is new and the old ca.pem does not validate it,
        // and a fresh key replaces the old one in the registration.
        let fresh = Emulator::start(EmulatorConfig::default())
            .await
            .expect("start");
        fresh.register_client(
            generate_client_key_pair("0oa-kept")
                .expect("keys")
                .logs_reader(),
        );
        assert!(token_status(&fresh, &old_ca, &a.keys).await.is_err());
        assert_eq!(
            token_status(&fresh, &fresh.ca_pem(), &a.keys)
                .await
                .expect("tls"),
            401
        );
        fresh.shutdown().await;
    }

    /// Okta's org authorization server describes itself to anyone; the token endpoint it names is
    /// the one that issues tokens.
    #[tokio::test]
    async fn the_discovery_document_is_served_without_auth_and_names_the_token_endpoint() {
        let emu = Emulator::start(EmulatorConfig::default())
            .await
            .expect("start");
        let keys = generate_client_key_pair("0oa-discovery").expect("keys");
        emu.register_client(keys.logs_reader());
        let client = trusting(&emu.ca_pem());
        let url = format!("https://{}/.well-known/openid-configuration", emu.domain());
        let r = client.get(&url).send().await.expect("get");
        assert_eq!(r.status(), 200);
        assert!(r.headers().contains_key("x-rate-limit-remaining"));
        let m: serde_json::Value = r.json().await.expect("json");
        let base = format!("https://{}", emu.domain());
        assert_eq!(m["issuer"], base.as_str());
        assert_eq!(
            m["token_endpoint"],
            format!("{base}/oauth2/v1/token").as_str()
        );
        assert!(m["jwks_uri"].is_string(), "{m}");
        let listed = |k: &str, v: &str| m[k].as_array().is_some_and(|a| a.iter().any(|x| x == v));
        assert!(
            listed("token_endpoint_auth_methods_supported", "private_key_jwt"),
            "{m}"
        );
        assert!(listed("dpop_signing_alg_values_supported", "ES256"), "{m}");
        assert!(listed("grant_types_supported", "client_credentials"), "{m}");
        assert_eq!(
            token_status(&emu, &emu.ca_pem(), &keys).await.expect("tls"),
            200
        );
        let post = client.post(&url).send().await.expect("post");
        assert_eq!(post.status(), 405);
        emu.shutdown().await;
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_kept_key_others_can_read_or_a_link_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TestDir::new("loose");
        let emu = Emulator::start(kept(&dir.0)).await.expect("start");
        let a = emu.open_logs_reader("0oa-kept", &dir.0).expect("reader");
        std::fs::set_permissions(&a.key_path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = emu
            .open_logs_reader("0oa-kept", &dir.0)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&a.key_path.display().to_string())
                && e.contains("other users can read or write it (mode 644)"),
            "{e}"
        );
        // Not regenerated over either: the operator decides.
        std::fs::set_permissions(&a.key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            emu.open_logs_reader("0oa-kept", &dir.0)
                .expect("again")
                .keys
                .kid,
            a.keys.kid
        );

        std::fs::remove_file(&a.key_path).unwrap();
        std::os::unix::fs::symlink(dir.path(CA_KEY_FILE), &a.key_path).unwrap();
        let e = emu
            .open_logs_reader("0oa-kept", &dir.0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("symbolic link"), "{e}");
        std::fs::remove_file(&a.key_path).unwrap();
        std::fs::write(&a.key_path, "not a key").unwrap();
        std::fs::set_permissions(&a.key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let e = emu
            .open_logs_reader("0oa-kept", &dir.0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not hold a usable key"), "{e}");
        emu.shutdown().await;

        let ca_key = dir.path(CA_KEY_FILE);
        std::fs::set_permissions(&ca_key, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = Emulator::start(kept(&dir.0)).await.unwrap_err().to_string();
        assert!(e.contains("ca-key.pem") && e.contains("mode 640"), "{e}");
        assert!(emu_key_file_refuses_odd_client_ids(&dir.0));
    }

    fn emu_key_file_refuses_odd_client_ids(dir: &Path) -> bool {
        ["", "../x", ".hidden", "a/b"]
            .iter()
            .all(|id| key_file(id, dir).is_err())
            && key_file("0oa-x_y.z", dir).is_ok()
    }

    /// `live_events_per_minute`: events keep arriving while the emulator runs, published now, and
    /// stop with `shutdown`.
    #[tokio::test]
    async fn a_live_emulator_keeps_committing_until_shutdown() {
        let emu = Emulator::start(EmulatorConfig {
            events: 5,
            live_events_per_minute: 60_000,
            ..EmulatorConfig::default()
        })
        .await
        .expect("start");
        let started = okta_ingest_model::time::now_ms();
        tokio::time::sleep(Duration::from_millis(400)).await;
        let view = emu.clone();
        emu.shutdown().await;
        let stopped = okta_ingest_model::time::now_ms();
        let events = view.committed();
        let live = &events[5..];
        // 1000/s for ~400 ms: at least a quarter of that even on a loaded machine.
        assert!(live.len() >= 100, "{} live events", live.len());
        let mut uuids = std::collections::HashSet::new();
        for e in live {
            let published = okta_ingest_model::time::parse_ms(&e.published).expect("published");
            assert!(
                (started..=stopped).contains(&published) && e.commit_ms == published,
                "{e:?}"
            );
            assert!(uuids.insert(e.uuid.clone()));
        }
        let types: std::collections::HashSet<&str> =
            live.iter().map(|e| e.event_type.as_str()).collect();
        assert!(types.len() > 10, "{types:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            view.committed().len(),
            events.len(),
            "nothing after shutdown"
        );
    }
}
