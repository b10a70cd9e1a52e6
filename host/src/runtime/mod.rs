//! The sandbox: a wasmtime engine, a connector component (the embedded default or a file), and a fresh
//! `Store` per call from a shared `InstancePre`. The component gets `wasi:http` (through the host's
//! allow-listed hook), clocks and randomness, and no filesystem, environment, sockets or stdio. Each call
//! runs under a memory cap and a wall-clock deadline; epoch interruption makes even a guest stuck in a
//! loop yield, so the deadline can always stop it. A refused request, a refused page or a refused memory
//! growth fails the call with an error naming the limit, even if the component swallows the refusal.

use crate::http::InstanceHttp;
use crate::signing::Rs256Signer;
use crate::state::{PageEvent, StateDb};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{Error as WasiHttpError, WasiBody};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Rust bindings generated from `wit/connector.wit` (the world `okta-connector`); the WIT file documents
/// each item.
#[allow(missing_docs)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "okta-connector",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// The connector's exports (`describe`, `tick`, `check`) and their types.
pub use bindings::exports::okta_ingest::connector::connector as guest;
/// The contract's shared types (`tick-input`, `tick-report`, `error-kind`, ...).
pub use bindings::okta_ingest::connector::types as wit;
use bindings::{okta_ingest, OktaConnector, OktaConnectorPre};

/// The major version of the WIT package this host implements.
pub const WIT_MAJOR: u32 = 1;
/// The interface a connector must export.
pub const EXPORT_PREFIX: &str = "okta-ingest:connector/connector@";

/// The connector component built from this source tree, embedded at build time.
pub static EMBEDDED_CONNECTOR: &[u8] = include_bytes!(env!("OKTA_INGEST_CONNECTOR_WASM"));

/// A failure loading or running a connector component.
#[derive(Debug, Error)]
pub enum RuntimeError {
    /// The engine could not be set up.
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
    /// The file could not be read.
    #[error("cannot read component {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes are not a WebAssembly component.
    #[error("{what} is not a WebAssembly component ({detail}); build the connector with `cargo build --target wasm32-wasip2`")]
    NotAComponent {
        /// Which file.
        what: String,
        /// Compiler message.
        detail: String,
    },
    /// The component targets another WIT major version or another world.
    #[error("{what} is not a compatible okta-ingest connector: {detail}")]
    Incompatible {
        /// Which file.
        what: String,
        /// What is wrong.
        detail: String,
    },
    /// The component trapped (a bug or a hostile component); nothing it did after its last commit counts.
    #[error("connector trapped: {0}")]
    Trap(String),
    /// A page could not be committed after the component had moved on (e.g. the disk is full); nothing
    /// after the last committed page counts, and the next tick fetches it again.
    #[error("committing a page failed: {0}; the next tick fetches it again")]
    Commit(String),
    /// The call ran past its deadline and was stopped.
    #[error("connector ran longer than its limit of {0:?} and was stopped")]
    Timeout(Duration),
    /// The component tried to grow a linear memory past the cap and was stopped.
    #[error("connector tried to use {wanted_mib} MiB of memory, over its limit of {limit_mib} MiB, and was stopped")]
    MemoryLimit {
        /// The size it asked for, MiB (rounded up).
        wanted_mib: usize,
        /// The cap, MiB.
        limit_mib: usize,
    },
    /// The component sent a request to a destination other than the instance's origin. The request was
    /// refused before any connection was made; the call fails even if the component carried on.
    #[error("connector tried to reach {uri}, but it may only reach https://{allowed}; the request was refused")]
    DestinationRefused {
        /// The refused request's URI (first one of the call).
        uri: String,
        /// The one origin allowed.
        allowed: String,
    },
    /// The component committed a page the host refused (nothing of it was stored); the call fails even
    /// if the component carried on.
    #[error("connector produced invalid output, which was refused: {0}")]
    InvalidOutput(String),
}

/// Limits for one call into a component.
#[derive(Debug, Clone)]
pub struct SandboxLimits {
    /// Linear memory cap, bytes.
    pub memory_bytes: usize,
    /// Wall-clock limit of one tick or check.
    pub call_timeout: Duration,
    /// Most events in one committed page.
    pub max_events_per_page: usize,
    /// Largest single event, bytes.
    pub max_event_bytes: usize,
    /// Largest cursor state, bytes.
    pub max_state_bytes: usize,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            memory_bytes: 512 << 20,
            call_timeout: Duration::from_secs(15 * 60),
            max_events_per_page: 10_000,
            max_event_bytes: 8 << 20,
            max_state_bytes: 4 << 20,
        }
    }
}

/// What a tick committed, reported to the host as pages land.
#[derive(Debug, Clone, Default)]
pub struct CommitStats {
    /// Pages committed.
    pub pages: u64,
    /// Events committed.
    pub events: u64,
    /// Events per category bit (authentication, security, itp, lifecycle).
    pub per_category: [u64; 4],
    /// `published` of the last event committed.
    pub last_published: Option<String>,
}

/// Called after every committed page (for progress bars and status).
pub type CommitObserver = Arc<dyn Fn(&str, &CommitStats) + Send + Sync>;

/// Per-call context: which instance, its key, where to commit.
pub struct CallContext {
    /// Instance row id.
    pub instance_id: i64,
    /// Instance name (logs).
    pub instance: String,
    /// Signer over the instance's private key (`None` for `describe`, which never signs).
    pub signer: Option<Arc<Rs256Signer>>,
    /// The state database (commits) — `None` for `check`, which must not commit.
    pub db: Option<Arc<Mutex<StateDb>>>,
    /// The HTTP hook for this instance.
    pub http: InstanceHttp,
    /// Progress observer.
    pub observer: Option<CommitObserver>,
}

/// `CallContext` without the HTTP hook, which the store keeps in a [`GuardedHttp`].
struct CallInfo {
    instance_id: i64,
    instance: String,
    signer: Option<Arc<Rs256Signer>>,
    db: Option<Arc<Mutex<StateDb>>>,
    observer: Option<CommitObserver>,
}

/// The instance's HTTP hook, recording the first request it refuses so the host can fail the call
/// whatever the component does with the error it gets.
struct GuardedHttp {
    inner: InstanceHttp,
    refused: Option<String>,
}

type IoFuture = Box<dyn std::future::Future<Output = Result<(), WasiHttpError>> + Send>;

impl wasmtime_wasi_http::WasiHttpHooks for GuardedHttp {
    fn p2_outgoing_body_buffer_chunks(&mut self) -> usize {
        self.inner.p2_outgoing_body_buffer_chunks()
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: IoFuture,
    ) -> Box<
        dyn std::future::Future<
                Output = Result<(http::Response<WasiBody>, IoFuture), WasiHttpError>,
            > + Send,
    > {
        if self.refused.is_none() && !self.inner.origin.allows(request.uri()) {
            self.refused = Some(request.uri().to_string());
        }
        self.inner.send_request(request, options, fut)
    }
}

/// The memory cap (`StoreLimits`), remembering a refused growth so the error can name the limit. The cap
/// is on the total of all the component's linear memories, not per memory.
struct Limiter {
    inner: StoreLimits,
    memory_bytes: usize,
    refused_growth: Option<usize>,
    total: usize,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total_after = self.total.saturating_sub(current).saturating_add(desired);
        if total_after > self.memory_bytes {
            self.refused_growth = Some(total_after);
            wasmtime::bail!(
                "memory limit of {} bytes exceeded (wanted {total_after})",
                self.memory_bytes
            );
        }
        let allowed = self.inner.memory_growing(current, desired, maximum)?;
        if allowed {
            self.total = total_after;
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// The `T` of `Store<T>`.
pub struct StoreData {
    wasi: WasiCtx,
    table: ResourceTable,
    http_ctx: WasiHttpCtx,
    ctx: CallInfo,
    http: GuardedHttp,
    limits: Limiter,
    sandbox: SandboxLimits,
    stats: CommitStats,
    /// Why the host refused a page, if it did (the first time).
    refused_page: Option<String>,
    /// The page being validated and committed while the component fetches the next one.
    in_flight: Option<tokio::task::JoinHandle<PageCommit>>,
    /// A commit that failed after the component had moved on.
    commit_error: Option<String>,
}

/// What a background page commit did.
struct PageCommit {
    result: Result<(), CommitFailure>,
    events: u64,
    per_category: [u64; 4],
    last_published: Option<String>,
}

enum CommitFailure {
    /// The page broke an output limit (nothing was written).
    Refused(String),
    /// The database write failed (nothing was written).
    Database(String),
}

impl StoreData {
    /// Waits for the page commit in flight, if any, and accounts for it. `Err` if it failed.
    async fn finish_commit(&mut self) -> Result<(), String> {
        let Some(handle) = self.in_flight.take() else {
            return Ok(());
        };
        let done = match handle.await {
            Ok(done) => done,
            Err(e) => {
                let msg = format!("commit task failed: {e}");
                self.commit_error.get_or_insert_with(|| msg.clone());
                return Err(msg);
            }
        };
        match done.result {
            Ok(()) => {
                let s = &mut self.stats;
                s.pages += 1;
                s.events += done.events;
                for (i, c) in done.per_category.iter().enumerate() {
                    s.per_category[i] += c;
                }
                if done.last_published.is_some() {
                    s.last_published = done.last_published;
                }
                if let Some(obs) = &self.ctx.observer {
                    obs(&self.ctx.instance, &self.stats);
                }
                Ok(())
            }
            Err(CommitFailure::Refused(e)) => {
                tracing::warn!(instance = %self.ctx.instance, "refused a page from the connector: {e}");
                self.refused_page.get_or_insert_with(|| e.clone());
                Err(e)
            }
            Err(CommitFailure::Database(e)) => {
                self.commit_error.get_or_insert_with(|| e.clone());
                Err(e)
            }
        }
    }

    /// A host-enforced limit the call ran into, which fails the call whatever the component returned.
    fn violation(&self) -> Option<RuntimeError> {
        if let Some(wanted) = self.limits.refused_growth {
            return Some(RuntimeError::MemoryLimit {
                wanted_mib: wanted.div_ceil(1 << 20),
                limit_mib: self.limits.memory_bytes >> 20,
            });
        }
        if let Some(uri) = &self.http.refused {
            return Some(RuntimeError::DestinationRefused {
                uri: uri.clone(),
                allowed: self.http.inner.origin.to_string(),
            });
        }
        if let Some(e) = &self.refused_page {
            return Some(RuntimeError::InvalidOutput(e.clone()));
        }
        self.commit_error
            .as_ref()
            .map(|e| RuntimeError::Commit(e.clone()))
    }
}

impl WasiView for StoreData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for StoreData {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http_ctx,
            table: &mut self.table,
            hooks: &mut self.http,
        }
    }
}

impl okta_ingest::connector::types::Host for StoreData {}

impl okta_ingest::connector::host::Host for StoreData {
    async fn sign(&mut self, signing_input: String) -> wasmtime::Result<Result<String, String>> {
        let Some(signer) = self.ctx.signer.clone() else {
            return Ok(Err("no signing key in this call".into()));
        };
        // RSA signing takes ~2 ms: keep it off the async worker threads.
        let sig = tokio::task::spawn_blocking(move || signer.sign_b64url(signing_input.as_bytes()))
            .await
            .map_err(|e| Result::<String, String>::Err(e.to_string()));
        Ok(sig.map_err(|e| format!("{e:?}")))
    }

    async fn commit_page(
        &mut self,
        events: Vec<wit::Event>,
        state: Vec<u8>,
    ) -> wasmtime::Result<Result<(), String>> {
        let Some(db) = self.ctx.db.clone() else {
            return Ok(Err("committing is not allowed during check".into()));
        };
        // Pipelining: wait for the previous page's commit, then hand this page to a blocking thread and let
        // the component fetch the next page meanwhile. Pages still commit one at a time, in order, each with
        // its cursor; a failure is reported at the next commit or when the call ends, and the cursor in the
        // database never passes a page that was not committed.
        if let Err(e) = self.finish_commit().await {
            return Ok(Err(e));
        }
        let id = self.ctx.instance_id;
        let limits = self.sandbox.clone();
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            let per_category = count(&events);
            let last_published = events.last().map(|e| e.published.clone());
            let n = events.len() as u64;
            let result = match validate_page(&limits, &events, &state) {
                Err(e) => Err(CommitFailure::Refused(e)),
                Ok(()) => {
                    let refs: Vec<PageEvent<'_>> = events
                        .iter()
                        .map(|e| PageEvent {
                            uuid: &e.uuid,
                            event_type: &e.event_type,
                            published: &e.published,
                            categories: categories_bits(e.categories),
                            raw: &e.raw,
                        })
                        .collect();
                    let mut db = db.lock().unwrap_or_else(|p| p.into_inner());
                    db.commit_page(id, &refs, &state)
                        .map_err(|e| CommitFailure::Database(e.to_string()))
                }
            };
            PageCommit {
                result,
                events: n,
                per_category,
                last_published,
            }
        }));
        Ok(Ok(()))
    }

    async fn log(
        &mut self,
        level: okta_ingest::connector::host::LogLevel,
        message: String,
    ) -> wasmtime::Result<()> {
        use okta_ingest::connector::host::LogLevel;
        let instance = &self.ctx.instance;
        // Bound what a component can push into our logs.
        let message: String = message.chars().take(2000).collect();
        match level {
            LogLevel::Debug => tracing::debug!(%instance, "connector: {message}"),
            LogLevel::Info => tracing::info!(%instance, "connector: {message}"),
            LogLevel::Warn => tracing::warn!(%instance, "connector: {message}"),
            LogLevel::Error => tracing::error!(%instance, "connector: {message}"),
        }
        Ok(())
    }
}

const CATEGORY_FLAGS: [wit::Categories; 4] = [
    wit::Categories::AUTHENTICATION,
    wit::Categories::SECURITY,
    wit::Categories::ITP,
    wit::Categories::LIFECYCLE,
];

/// The WIT flags as the bit set stored in the database (bit i = `config::Categories::ALL[i]`).
pub fn categories_bits(c: wit::Categories) -> u8 {
    CATEGORY_FLAGS
        .iter()
        .enumerate()
        .filter(|(_, f)| c.contains(**f))
        .fold(0, |acc, (i, _)| acc | (1 << i))
}

/// The stored bit set as WIT flags.
pub fn categories_from_bits(bits: u8) -> wit::Categories {
    CATEGORY_FLAGS
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .fold(wit::Categories::empty(), |acc, (_, f)| acc | *f)
}

fn count(events: &[wit::Event]) -> [u64; 4] {
    let mut c = [0u64; 4];
    for e in events {
        let bits = categories_bits(e.categories);
        for (i, slot) in c.iter_mut().enumerate() {
            if bits & (1 << i) != 0 {
                *slot += 1;
            }
        }
    }
    c
}

/// The host enforces output limits itself: a hostile component must not fill the outbox with garbage.
fn validate_page(lim: &SandboxLimits, events: &[wit::Event], state: &[u8]) -> Result<(), String> {
    if events.len() > lim.max_events_per_page {
        return Err(format!(
            "page has {} events, over the limit of {}",
            events.len(),
            lim.max_events_per_page
        ));
    }
    if state.len() > lim.max_state_bytes {
        return Err(format!(
            "cursor state is {} bytes, over the limit of {}",
            state.len(),
            lim.max_state_bytes
        ));
    }
    for e in events {
        if e.raw.len() > lim.max_event_bytes {
            return Err(format!(
                "event {} is {} bytes, over the limit of {}",
                e.uuid,
                e.raw.len(),
                lim.max_event_bytes
            ));
        }
        let raw = e.raw.trim();
        if e.uuid.is_empty() || !raw.starts_with('{') || !raw.ends_with('}') {
            return Err(format!(
                "event {:?} is not a JSON object with a uuid",
                e.uuid
            ));
        }
        // Sinks write `raw` verbatim as one JSON line: it must parse (this also rules out raw
        // control characters such as newlines inside strings).
        if let Err(err) = serde_json::from_str::<serde::de::IgnoredAny>(raw) {
            return Err(format!("event {} is not valid JSON ({err})", e.uuid));
        }
        if categories_bits(e.categories) == 0 {
            return Err(format!("event {} belongs to no category", e.uuid));
        }
    }
    Ok(())
}

/// A compiled connector, ready to instantiate many times.
pub struct ConnectorRuntime {
    engine: Engine,
    pre: OktaConnectorPre<StoreData>,
    description: guest::Description,
    limits: SandboxLimits,
    stop_epoch: Arc<AtomicBool>,
}

impl Drop for ConnectorRuntime {
    fn drop(&mut self) {
        self.stop_epoch.store(true, Ordering::Relaxed);
    }
}

/// Which component to load.
#[derive(Debug, Clone)]
pub enum ComponentSource {
    /// The connector embedded in this binary.
    Embedded,
    /// A `.wasm` component file.
    File(std::path::PathBuf),
}

fn engine() -> Result<Engine, RuntimeError> {
    let mut cfg = wasmtime::Config::new();
    cfg.wasm_component_model(true);
    cfg.epoch_interruption(true);
    Engine::new(&cfg).map_err(|e| RuntimeError::Engine(e.to_string()))
}

/// Compiles `bytes`, or loads the machine code compiled earlier from `cache_dir`. Entries are keyed by the
/// component's SHA-256 and the engine's compatibility hash, so a new wasmtime or different settings never
/// load stale code; a restart skips the ~0.6 s compile.
fn compile(
    engine: &Engine,
    bytes: &[u8],
    what: &str,
    cache_dir: Option<&Path>,
) -> Result<Component, RuntimeError> {
    use sha2::Digest;
    use std::hash::{Hash, Hasher};
    let not_a_component = |e: wasmtime::Error| RuntimeError::NotAComponent {
        what: what.to_string(),
        detail: format!("{e:#}"),
    };
    let Some(dir) = cache_dir else {
        return Component::new(engine, bytes).map_err(not_a_component);
    };
    let digest = sha2::Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let mut compat = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut compat);
    let path = dir.join(format!("{hex}-{:016x}.cwasm", compat.finish()));
    if path.exists() {
        // SAFETY: the file is one this host serialized itself into its private (0700) cache directory,
        // named by the exact component hash and engine compatibility; `deserialize_file` trusts its input.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(c) => return Ok(c),
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring an unusable compiled-component cache entry: {e:#}");
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    let component = Component::new(engine, bytes).map_err(not_a_component)?;
    if let Err(e) = write_cache(dir, &path, &component) {
        tracing::warn!(dir = %dir.display(), "could not cache the compiled component (it is recompiled next start): {e}");
    }
    Ok(component)
}

fn write_cache(dir: &Path, path: &Path, component: &Component) -> std::io::Result<()> {
    let code = component.serialize().map_err(std::io::Error::other)?;
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    // Write then rename, so a concurrent start never sees half a file.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, code)?;
    std::fs::rename(&tmp, path)
}

impl ConnectorRuntime {
    /// Compiles and checks a component; `describe` is called once to learn its version.
    pub async fn load(
        source: &ComponentSource,
        limits: SandboxLimits,
    ) -> Result<ConnectorRuntime, RuntimeError> {
        Self::load_cached(source, limits, None).await
    }

    /// Like [`ConnectorRuntime::load`], keeping compiled machine code in `cache_dir` across restarts.
    pub async fn load_cached(
        source: &ComponentSource,
        limits: SandboxLimits,
        cache_dir: Option<&Path>,
    ) -> Result<ConnectorRuntime, RuntimeError> {
        let engine = engine()?;
        let (what, bytes): (String, std::borrow::Cow<'static, [u8]>) = match source {
            ComponentSource::Embedded => {
                ("the embedded connector".into(), EMBEDDED_CONNECTOR.into())
            }
            ComponentSource::File(p) => (
                p.display().to_string(),
                std::fs::read(p)
                    .map_err(|source| RuntimeError::Read {
                        path: p.display().to_string(),
                        source,
                    })?
                    .into(),
            ),
        };
        if !bytes.starts_with(b"\0asm") || bytes.get(4..8) != Some(&[0x0d, 0x00, 0x01, 0x00]) {
            let detail = if bytes.starts_with(b"\0asm") {
                "it is a core WebAssembly module, not a component".to_string()
            } else {
                "no WebAssembly component header".to_string()
            };
            return Err(RuntimeError::NotAComponent { what, detail });
        }
        let component = compile(&engine, &bytes, &what, cache_dir)?;
        check_exports(&engine, &component, &what)?;
        let mut linker: Linker<StoreData> = Linker::new(&engine);
        let incompatible = |e: wasmtime::Error| RuntimeError::Incompatible {
            what: what.clone(),
            detail: format!("{e:#}"),
        };
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(incompatible)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(incompatible)?;
        OktaConnector::add_to_linker::<StoreData, HasSelf<StoreData>>(&mut linker, |s| s)
            .map_err(incompatible)?;
        let instance_pre =
            linker
                .instantiate_pre(&component)
                .map_err(|e| RuntimeError::Incompatible {
                    what: what.clone(),
                    detail: format!("it needs imports this host does not provide: {e:#}"),
                })?;
        let pre = OktaConnectorPre::new(instance_pre).map_err(incompatible)?;
        let stop_epoch = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(engine.clone(), stop_epoch.clone());
        let mut rt = ConnectorRuntime {
            engine,
            pre,
            description: guest::Description {
                name: String::new(),
                version: String::new(),
                wit_version: String::new(),
                state_schema: 0,
            },
            limits,
            stop_epoch,
        };
        rt.description = rt.describe().await?;
        let wit_major = rt
            .description
            .wit_version
            .split('.')
            .next()
            .and_then(|m| m.parse::<u32>().ok());
        if wit_major != Some(WIT_MAJOR) {
            return Err(RuntimeError::Incompatible {
                what,
                detail: format!(
                    "it targets WIT version {} but this host implements {WIT_MAJOR}.x",
                    rt.description.wit_version
                ),
            });
        }
        Ok(rt)
    }

    /// What the loaded connector says it is.
    pub fn description(&self) -> &guest::Description {
        &self.description
    }

    /// The sandbox limits in force.
    pub fn limits(&self) -> &SandboxLimits {
        &self.limits
    }

    fn store(&self, ctx: CallContext) -> Store<StoreData> {
        let CallContext {
            instance_id,
            instance,
            signer,
            db,
            http,
            observer,
        } = ctx;
        let data = StoreData {
            // No preopens, no env, no args, no stdio, no sockets: the component sees nothing of the host.
            wasi: WasiCtxBuilder::new()
                .allow_tcp(false)
                .allow_udp(false)
                .allow_ip_name_lookup(false)
                .build(),
            table: ResourceTable::new(),
            http_ctx: WasiHttpCtx::new(),
            ctx: CallInfo {
                instance_id,
                instance,
                signer,
                db,
                observer,
            },
            http: GuardedHttp {
                inner: http,
                refused: None,
            },
            limits: Limiter {
                inner: StoreLimitsBuilder::new()
                    .memory_size(self.limits.memory_bytes)
                    .instances(4)
                    .tables(20)
                    .memories(4)
                    .trap_on_grow_failure(true)
                    .build(),
                memory_bytes: self.limits.memory_bytes,
                refused_growth: None,
                total: 0,
            },
            sandbox: self.limits.clone(),
            stats: CommitStats::default(),
            refused_page: None,
            in_flight: None,
            commit_error: None,
        };
        let mut store = Store::new(&self.engine, data);
        store.limiter(|d| &mut d.limits);
        // Yield to the async runtime every epoch (10 ms) so a deadline can interrupt any guest loop.
        store.epoch_deadline_async_yield_and_update(1);
        store
    }

    async fn describe(&self) -> Result<guest::Description, RuntimeError> {
        let ctx = CallContext {
            instance_id: 0,
            instance: "describe".into(),
            signer: None,
            db: None,
            http: crate::http::InstanceHttp {
                origin: crate::http::AllowedOrigin::from_domain("invalid.invalid"),
                transport: crate::http::Transport::Network(reqwest::Client::new()),
                budget: None,
                limits: Default::default(),
                instance: "describe".into(),
            },
            observer: None,
        };
        let mut store = self.store(ctx);
        let timeout = Duration::from_secs(10);
        let fut = async {
            let bindings = self.pre.instantiate_async(&mut store).await?;
            bindings
                .okta_ingest_connector_connector()
                .call_describe(&mut store)
                .await
        };
        let result = tokio::time::timeout(timeout, fut).await;
        outcome(&store, timeout, result)
    }

    /// Runs one tick in a fresh store. Returns the report and what was committed.
    pub async fn tick(
        &self,
        ctx: CallContext,
        input: wit::TickInput,
    ) -> Result<(wit::TickReport, CommitStats), RuntimeError> {
        let mut store = self.store(ctx);
        let timeout = self.limits.call_timeout;
        let fut = async {
            let bindings = self.pre.instantiate_async(&mut store).await?;
            bindings
                .okta_ingest_connector_connector()
                .call_tick(&mut store, &input)
                .await
        };
        let result = tokio::time::timeout(timeout, fut).await;
        // The last page may still be committing; its outcome decides the call's.
        let _ = store.data_mut().finish_commit().await;
        let stats = std::mem::take(&mut store.data_mut().stats);
        let report = outcome(&store, timeout, result)?;
        Ok((report, stats))
    }

    /// Runs `check` in a fresh store (no commits possible).
    pub async fn check(
        &self,
        ctx: CallContext,
        config: wit::InstanceConfig,
        tuning: wit::Tuning,
    ) -> Result<Result<String, wit::TickError>, RuntimeError> {
        let mut store = self.store(ctx);
        let timeout = Duration::from_secs(120).min(self.limits.call_timeout);
        let fut = async {
            let bindings = self.pre.instantiate_async(&mut store).await?;
            bindings
                .okta_ingest_connector_connector()
                .call_check(&mut store, &config, tuning)
                .await
        };
        let result = tokio::time::timeout(timeout, fut).await;
        outcome(&store, timeout, result)
    }
}

/// The result of a call: a limit the host enforced during it comes first (it fails the call even when
/// the component swallowed the refusal and returned normally), then the deadline, then a trap.
fn outcome<R>(
    store: &Store<StoreData>,
    timeout: Duration,
    result: Result<wasmtime::Result<R>, tokio::time::error::Elapsed>,
) -> Result<R, RuntimeError> {
    if let Some(violation) = store.data().violation() {
        return Err(violation);
    }
    match result {
        Err(_) => Err(RuntimeError::Timeout(timeout)),
        Ok(Err(e)) => Err(RuntimeError::Trap(trap_message(&e))),
        Ok(Ok(r)) => Ok(r),
    }
}

/// One line for a trap: the trap itself (e.g. "wasm `unreachable` instruction executed") or the root
/// cause, without wasmtime's multi-line wasm backtrace (logged at debug level instead).
fn trap_message(e: &wasmtime::Error) -> String {
    tracing::debug!("connector call failed: {e:?}");
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => e.root_cause().to_string(),
    }
}

fn check_exports(engine: &Engine, component: &Component, what: &str) -> Result<(), RuntimeError> {
    let ty = component.component_type();
    let names: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    let ours: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with(EXPORT_PREFIX))
        .collect();
    let wanted = format!("{EXPORT_PREFIX}{WIT_MAJOR}.");
    if ours.iter().any(|n| n.starts_with(&wanted)) {
        return Ok(());
    }
    let detail = match ours.first() {
        Some(n) => format!(
            "it exports {n}, built for another major version of the okta-ingest WIT contract; this host needs {wanted}x"
        ),
        None => format!("it does not export {wanted}x (exports: {})", names.join(", ")),
    };
    Err(RuntimeError::Incompatible {
        what: what.to_string(),
        detail,
    })
}

/// Advances the engine's epoch every 10 ms until the runtime is dropped.
fn spawn_epoch_ticker(engine: Engine, stop: Arc<AtomicBool>) {
    let weak = engine.weak();
    drop(engine);
    std::thread::Builder::new()
        .name("okta-ingest-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(10));
                match weak.upgrade() {
                    Some(e) => e.increment_epoch(),
                    None => break,
                }
            }
        })
        .ok();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached_files(dir: &Path) -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn compiled_components_are_cached_and_a_bad_entry_is_recompiled() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("components");
        let rt = ConnectorRuntime::load_cached(
            &ComponentSource::Embedded,
            SandboxLimits::default(),
            Some(&cache),
        )
        .await
        .unwrap();
        let first = rt.description().clone();
        let files = cached_files(&cache);
        assert_eq!(files.len(), 1, "{files:?}");
        assert!(files[0].extension().is_some_and(|e| e == "cwasm"));
        // A second start loads the cached machine code and gets the same connector.
        let again = ConnectorRuntime::load_cached(
            &ComponentSource::Embedded,
            SandboxLimits::default(),
            Some(&cache),
        )
        .await
        .unwrap();
        assert_eq!(again.description().version, first.version);
        // The entry is memory-mapped while loaded: drop both before damaging it in place.
        drop((rt, again));
        // A damaged entry is not trusted: it is replaced by a fresh compile.
        std::fs::write(&files[0], b"garbage").unwrap();
        let repaired = ConnectorRuntime::load_cached(
            &ComponentSource::Embedded,
            SandboxLimits::default(),
            Some(&cache),
        )
        .await
        .unwrap();
        assert_eq!(repaired.description().name, first.name);
        assert!(std::fs::metadata(&files[0]).unwrap().len() > 1000);
    }
}
