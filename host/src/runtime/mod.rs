//! The sandbox: a connector component (the embedded default or a stored file) compiled on the host's one
//! engine, and a fresh `Store` per call from a shared `InstancePre`. The component gets `wasi:http`
//! (through the host's allow-listed hook), clocks and randomness, and no filesystem, environment,
//! sockets or stdio. Each call runs under a memory cap and a wall-clock deadline; epoch interruption
//! makes even a guest stuck in a loop yield, so the deadline can always stop it. A refused request, a
//! refused page or a refused memory growth fails the call with an error naming the limit, even if the
//! component swallows the refusal.
//!
//! By role: [`bindings`] (generated code and conversions), [`engine`] (one engine per host, the compile
//! cache), [`store`] (per-call data), [`limits`], [`imports`] (the `host` interface), [`validate`]
//! (output checks). Pages leave through the [`Outbox`](crate::state::Outbox) trait: this module knows no
//! database.

mod bindings;
mod dpop;
mod engine;
mod imports;
mod limits;
mod store;
mod validate;

pub use imports::{CommitObserver, CommitStats};
pub use limits::SandboxLimits;
pub use validate::PageRefused;

pub(crate) use engine::{CompileCache, SandboxEngine};
pub(crate) use store::{CallContext, DpopCall};

use crate::stop::StopSignal;
use bindings::{ConnectorIndices, OktaConnector, SamplingIndices};
use okta_ingest_model::{Categories, ErrorKind, EventSample, TokenScheme, Tuning};
use std::borrow::Cow;
use std::path::PathBuf;
use std::time::Duration;
use store::StoreData;
use thiserror::Error;
use wasmtime::component::{Component, HasSelf, InstancePre, Linker};
use wasmtime::Store;

/// The major version of the WIT package this host implements.
pub const WIT_MAJOR: u32 = 1;
/// The interface a connector must export (followed by its version).
const EXPORT_PREFIX: &str = "okta-ingest:connector/connector@";
/// The optional export added in WIT 1.2 (a newer 1.x minor matches it too).
const SAMPLING_EXPORT: &str = "okta-ingest:connector/sampling@1.2.0";

/// The connector component built from this source tree, embedded at build time.
static EMBEDDED_CONNECTOR: &[u8] = include_bytes!(env!("OKTA_INGEST_CONNECTOR_WASM"));

/// Largest component file read: the connector is a few MiB.
const MAX_COMPONENT_BYTES: u64 = 64 << 20;

/// Reads a component file (a regular file of at most [`MAX_COMPONENT_BYTES`]).
pub(crate) fn read_component(path: &std::path::Path) -> Result<Vec<u8>, RuntimeError> {
    crate::files::read_regular(path, MAX_COMPONENT_BYTES).map_err(|source| RuntimeError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// The embedded connector's bytes (tests store them as a file).
#[cfg(test)]
pub(crate) fn embedded_connector() -> &'static [u8] {
    EMBEDDED_CONNECTOR
}

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
        #[source]
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
    Commit(#[source] crate::state::StateError),
    /// The call ran past its deadline and was stopped.
    #[error("connector ran longer than its limit of {0:?} and was stopped")]
    Timeout(Duration),
    /// The host is stopping: the call was ended between two commits (nothing it had committed is
    /// lost; what it was fetching is fetched again at the next start).
    #[error("stopped because the host is shutting down")]
    Stopped,
    /// The component tried to grow its linear memory past the cap and was stopped.
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
    InvalidOutput(#[source] PageRefused),
}

/// Which connector component a host runs.
#[derive(Debug, Clone, Default)]
pub enum ComponentSource {
    /// The connector embedded in this build (or a version activated with `component activate`).
    #[default]
    Embedded,
    /// This `.wasm` component file, for every instance, whatever is activated.
    File(PathBuf),
}

/// What a loaded connector says it is (its `describe`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorInfo {
    /// Connector name, e.g. `okta-system-log`.
    pub name: String,
    /// Semantic version of the build.
    pub version: String,
    /// WIT package version it targets.
    pub wit_version: String,
    /// Newest cursor-state schema it reads and writes.
    pub state_schema: u32,
}

/// An instance as the connector sees it.
#[derive(Debug, Clone)]
pub(crate) struct ConnectorConfig {
    pub domain: String,
    pub client_id: String,
    pub key_id: Option<String>,
    pub backfill_days: u8,
    pub categories: Categories,
}

/// An access token the host caches between ticks, in memory only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccessToken {
    pub token: String,
    pub expires_at_ms: u64,
    /// How it is presented; a `DPoP` token is bound to this process's proof key.
    pub scheme: TokenScheme,
}

/// Everything one tick needs.
pub(crate) struct TickInput {
    pub config: ConnectorConfig,
    pub state: Option<Vec<u8>>,
    pub token: Option<AccessToken>,
    pub tuning: Tuning,
}

/// A failure the connector classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnectorError {
    pub kind: ErrorKind,
    pub message: String,
    pub http_status: Option<u16>,
    pub okta_code: Option<String>,
}

/// What the connector reports at the end of a tick.
#[derive(Debug, Clone)]
pub(crate) struct ConnectorReport {
    pub pages: u32,
    pub filtered: u32,
    pub duplicates: u32,
    pub rate_limited: u32,
    pub caught_up: bool,
    pub token: Option<AccessToken>,
    pub error: Option<ConnectorError>,
}

/// A compiled connector, ready to instantiate many times.
pub(crate) struct ConnectorRuntime {
    engine: SandboxEngine,
    pre: InstancePre<StoreData>,
    /// The `connector` export every component has.
    connector: ConnectorIndices,
    /// The `sampling` export of a 1.2 (or newer 1.x) component; `None` for an older one.
    sampling: Option<SamplingIndices>,
    info: ConnectorInfo,
    limits: SandboxLimits,
}

impl ConnectorRuntime {
    /// Loads `source` (reading a file) and checks it; `describe` is called once to learn its version.
    pub(crate) async fn load(
        engine: &SandboxEngine,
        source: &ComponentSource,
        limits: SandboxLimits,
    ) -> Result<ConnectorRuntime, RuntimeError> {
        let (what, bytes): (String, Cow<'static, [u8]>) = match source {
            ComponentSource::Embedded => {
                ("the embedded connector".into(), EMBEDDED_CONNECTOR.into())
            }
            ComponentSource::File(p) => (p.display().to_string(), read_component(p)?.into()),
        };
        Self::from_bytes(engine, &bytes, what, limits).await
    }

    /// Compiles (or loads from the cache) and checks a component held in memory.
    pub(crate) async fn from_bytes(
        engine: &SandboxEngine,
        bytes: &[u8],
        what: String,
        limits: SandboxLimits,
    ) -> Result<ConnectorRuntime, RuntimeError> {
        if !bytes.starts_with(b"\0asm") || bytes.get(4..8) != Some(&[0x0d, 0x00, 0x01, 0x00]) {
            let detail = if bytes.starts_with(b"\0asm") {
                "it is a core WebAssembly module, not a component".to_string()
            } else {
                "no WebAssembly component header".to_string()
            };
            return Err(RuntimeError::NotAComponent { what, detail });
        }
        let component = engine.compile(bytes, &what).await?;
        check_exports(engine, &component, &what)?;
        let mut linker: Linker<StoreData> = Linker::new(engine.engine());
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
        let connector = ConnectorIndices::new(&instance_pre).map_err(incompatible)?;
        // Optional (WIT 1.2): a component without it runs, and sampling says it needs a newer one. One
        // that exports it with another shape is not a 1.x component.
        let sampling = match component.get_export_index(None, SAMPLING_EXPORT) {
            None => None,
            Some(_) => Some(SamplingIndices::new(&instance_pre).map_err(incompatible)?),
        };
        let mut rt = ConnectorRuntime {
            engine: engine.clone(),
            pre: instance_pre,
            connector,
            sampling,
            info: ConnectorInfo {
                name: String::new(),
                version: String::new(),
                wit_version: String::new(),
                state_schema: 0,
            },
            limits,
        };
        rt.info = rt.describe().await?;
        let wit_major = rt
            .info
            .wit_version
            .split('.')
            .next()
            .and_then(|m| m.parse::<u32>().ok());
        if wit_major != Some(WIT_MAJOR) {
            return Err(RuntimeError::Incompatible {
                what,
                detail: format!(
                    "it targets WIT version {} but this host implements {WIT_MAJOR}.x",
                    rt.info.wit_version
                ),
            });
        }
        Ok(rt)
    }

    /// What the loaded connector says it is.
    pub(crate) fn info(&self) -> &ConnectorInfo {
        &self.info
    }

    fn store(&self, ctx: CallContext) -> Store<StoreData> {
        let mut store = Store::new(self.engine.engine(), StoreData::new(ctx, &self.limits));
        store.limiter(|d| &mut d.limits);
        // Yield to the async runtime every epoch (10 ms) so a deadline can interrupt any guest loop.
        store.epoch_deadline_async_yield_and_update(1);
        store
    }

    async fn describe(&self) -> Result<ConnectorInfo, RuntimeError> {
        let ctx = CallContext {
            instance_id: 0,
            instance: "describe".into(),
            signer: None,
            outbox: None,
            http: crate::outbound::InstanceHttp::offline("describe"),
            observer: None,
            dpop: None,
            exclusions: Default::default(),
            redaction: Default::default(),
        };
        let mut store = self.store(ctx);
        let timeout = self.limits.describe_timeout;
        let fut = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            let guest = self.connector.load(&mut store, &instance)?;
            guest.call_describe(&mut store).await
        };
        let result = tokio::time::timeout(timeout, fut).await;
        let d = outcome(&mut store, timeout, result)?;
        Ok(ConnectorInfo {
            name: d.name,
            version: d.version,
            wit_version: d.wit_version,
            state_schema: d.state_schema,
        })
    }

    /// Runs one tick in a fresh store. Returns the connector's report (or why the call failed) and what
    /// was committed, which counts even when the call failed after some pages.
    ///
    /// When `stop` is requested the call is dropped at its next await point (a request in flight, a
    /// rate-limit wait, a back-off): the page whose commit already started still commits, the one being
    /// fetched is dropped, and the result is [`RuntimeError::Stopped`].
    pub(crate) async fn tick(
        &self,
        ctx: CallContext,
        input: &TickInput,
        stop: &StopSignal,
    ) -> (Result<ConnectorReport, RuntimeError>, CommitStats) {
        let mut store = self.store(ctx);
        let timeout = self.limits.call_timeout;
        let input = bindings::input_to_wit(input);
        let fut = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            let guest = self.connector.load(&mut store, &instance)?;
            guest.call_tick(&mut store, &input).await
        };
        let result = tokio::select! {
            r = tokio::time::timeout(timeout, fut) => Some(r),
            _ = stop.requested() => None,
        };
        // The last page may still be committing; its outcome decides the call's.
        let _ = store.data_mut().finish_commit().await;
        let stats = std::mem::take(&mut store.data_mut().stats);
        // A 1.0 component never names the scheme: its tokens are Bearer tokens.
        let scheme = store.data().token_scheme_out.unwrap_or_default();
        let report = match result {
            Some(result) => {
                outcome(&mut store, timeout, result).map(|r| bindings::report_from_wit(r, scheme))
            }
            None => Err(match store.data_mut().take_violation() {
                Some(violation) => violation,
                None => RuntimeError::Stopped,
            }),
        };
        (report, stats)
    }

    /// Runs `check` in a fresh store (no commits possible).
    pub(crate) async fn check(
        &self,
        ctx: CallContext,
        config: &ConnectorConfig,
        tuning: &Tuning,
    ) -> Result<Result<String, ConnectorError>, RuntimeError> {
        let mut store = self.store(ctx);
        let timeout = self.limits.check_timeout.min(self.limits.call_timeout);
        let (config, tuning) = (
            bindings::config_to_wit(config),
            bindings::tuning_to_wit(tuning),
        );
        let fut = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            let guest = self.connector.load(&mut store, &instance)?;
            guest.call_check(&mut store, &config, tuning).await
        };
        let result = tokio::time::timeout(timeout, fut).await;
        Ok(outcome(&mut store, timeout, result)?.map_err(bindings::error_from_wit))
    }

    /// True when the component exports `sampling` (WIT 1.2).
    #[cfg(test)]
    pub(crate) fn can_sample(&self) -> bool {
        self.sampling.is_some()
    }

    /// Runs `sample` in a fresh store (no commits possible); `Ok(None)` when the component predates
    /// WIT 1.2 and cannot.
    pub(crate) async fn sample(
        &self,
        ctx: CallContext,
        config: &ConnectorConfig,
        tuning: &Tuning,
        window: Duration,
        max_pages: u32,
    ) -> Result<Option<Result<EventSample, ConnectorError>>, RuntimeError> {
        let Some(sampling) = &self.sampling else {
            return Ok(None);
        };
        let mut store = self.store(ctx);
        let timeout = self.limits.check_timeout.min(self.limits.call_timeout);
        let (config, tuning) = (
            bindings::config_to_wit(config),
            bindings::tuning_to_wit(tuning),
        );
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        let fut = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            let guest = sampling.load(&mut store, &instance)?;
            guest
                .call_sample(&mut store, &config, tuning, window_ms, max_pages)
                .await
        };
        let result = tokio::time::timeout(timeout, fut).await;
        Ok(Some(
            outcome(&mut store, timeout, result)?
                .map(bindings::sample_from_wit)
                .map_err(bindings::error_from_wit),
        ))
    }
}

/// The result of a call: a limit the host enforced during it comes first (it fails the call even when
/// the component swallowed the refusal and returned normally), then the deadline, then a trap.
fn outcome<R>(
    store: &mut Store<StoreData>,
    timeout: Duration,
    result: Result<wasmtime::Result<R>, tokio::time::error::Elapsed>,
) -> Result<R, RuntimeError> {
    if let Some(violation) = store.data_mut().take_violation() {
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

/// Refuses a component that does not export `okta-ingest:connector/connector@1.x`, naming what it
/// exports instead.
fn check_exports(
    engine: &SandboxEngine,
    component: &Component,
    what: &str,
) -> Result<(), RuntimeError> {
    let ty = component.component_type();
    let names: Vec<String> = ty
        .exports(engine.engine())
        .map(|(n, _)| n.to_string())
        .collect();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{ArtifactLedger, StateError};
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    /// The state's digests, in memory.
    #[derive(Default)]
    struct MemLedger(Mutex<HashMap<String, String>>);

    #[async_trait::async_trait]
    impl ArtifactLedger for MemLedger {
        async fn artifact_digest(&self, name: &str) -> Result<Option<String>, StateError> {
            Ok(self.0.lock().unwrap().get(name).cloned())
        }
        async fn record_artifact(&self, name: &str, sha256: &str) -> Result<(), StateError> {
            self.0.lock().unwrap().insert(name.into(), sha256.into());
            Ok(())
        }
    }

    fn cached_files(dir: &std::path::Path) -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default()
    }

    fn engine_with(dir: &std::path::Path, ledger: &Arc<MemLedger>) -> SandboxEngine {
        SandboxEngine::new(Some(CompileCache {
            dir: dir.to_path_buf(),
            ledger: ledger.clone(),
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn compiled_components_are_cached_and_a_bad_entry_is_recompiled() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("components");
        let ledger = Arc::new(MemLedger::default());
        let engine = engine_with(&cache, &ledger);
        let rt = load_embedded(&engine).await;
        let first = rt.info().clone();
        let files = cached_files(&cache);
        assert_eq!(files.len(), 1, "{files:?}");
        assert!(files[0].extension().is_some_and(|e| e == "cwasm"));
        assert_eq!(ledger.0.lock().unwrap().len(), 1, "its digest is recorded");
        // A second start (another engine, same settings) loads the cached machine code.
        let engine2 = engine_with(&cache, &ledger);
        let again = load_embedded(&engine2).await;
        assert_eq!(again.info().version, first.version);
        drop((rt, again));
        // A damaged entry is not trusted: it is replaced by a fresh compile.
        std::fs::write(&files[0], b"garbage").unwrap();
        let repaired = load_embedded(&engine).await;
        assert_eq!(repaired.info().name, first.name);
        assert!(std::fs::metadata(&files[0]).unwrap().len() > 1000);
    }

    async fn load_embedded(engine: &SandboxEngine) -> ConnectorRuntime {
        ConnectorRuntime::load(engine, &ComponentSource::Embedded, SandboxLimits::default())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn machine_code_planted_in_the_cache_never_runs() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("components");
        let ledger = Arc::new(MemLedger::default());
        let engine = engine_with(&cache, &ledger);
        // Someone who can write the cache compiles another component with the same settings and puts
        // its machine code under the embedded connector's cache name.
        let other = std::fs::read(okta_ingest_test_artifacts::WIT_V1_3).unwrap();
        let planted = Component::new(engine.engine(), &other)
            .unwrap()
            .serialize()
            .unwrap();
        crate::files::create_private_dir(&cache).unwrap();
        let name = format!(
            "{}-{}.cwasm",
            crate::state::ComponentHash::of(EMBEDDED_CONNECTOR),
            engine.compatibility_key()
        );
        std::fs::write(cache.join(&name), &planted).unwrap();
        let rt = load_embedded(&engine).await;
        assert_eq!(
            rt.info().name,
            "okta-system-log",
            "the embedded connector runs, not what was planted"
        );
        // Even with the planted file's digest recorded under another name, it is not loaded.
        assert_ne!(
            std::fs::read(cache.join(&name)).unwrap(),
            planted,
            "the entry was rewritten by this host"
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_cache_directory_others_may_write_is_not_used() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("components");
        std::fs::create_dir(&cache).unwrap();
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
        let ledger = Arc::new(MemLedger::default());
        let engine = engine_with(&cache, &ledger);
        let rt = load_embedded(&engine).await;
        assert_eq!(rt.info().name, "okta-system-log");
        assert!(
            cached_files(&cache).is_empty(),
            "nothing written to or read from it"
        );
        assert!(ledger.0.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_embedded_connector_describes_itself_as_wit_1() {
        let rt = load_embedded(&SandboxEngine::new(None).unwrap()).await;
        assert_eq!(rt.info().name, "okta-system-log");
        assert!(rt.info().wit_version.starts_with("1."), "{:?}", rt.info());
    }

    /// `sampling` is optional: the embedded connector (1.2) has it, the released 1.0 build does not and
    /// still loads, and a 1.3 component's newer `sampling` is found by the 1.2 name and called.
    #[tokio::test]
    async fn sampling_is_found_on_1_2_and_newer_components_and_absent_on_older_ones() {
        let engine = SandboxEngine::new(None).unwrap();
        assert!(load_embedded(&engine).await.can_sample());
        let from = |path: &'static str| {
            let engine = engine.clone();
            async move {
                let bytes = std::fs::read(path).unwrap();
                ConnectorRuntime::from_bytes(&engine, &bytes, path.into(), SandboxLimits::default())
                    .await
                    .unwrap()
            }
        };
        let old = from(okta_ingest_test_artifacts::CONNECTOR_WIT_1_0).await;
        assert!(!old.can_sample());
        let config = ConnectorConfig {
            domain: "acme.okta.com".into(),
            client_id: "0oa1".into(),
            key_id: None,
            backfill_days: 0,
            categories: Categories::ALL,
        };
        let ctx = || CallContext {
            instance_id: 0,
            instance: "sample".into(),
            signer: None,
            outbox: None,
            http: crate::outbound::InstanceHttp::offline("sample"),
            observer: None,
            dpop: None,
            exclusions: Default::default(),
            redaction: Default::default(),
        };
        let window = Duration::from_secs(86_400);
        let none = old
            .sample(ctx(), &config, &Tuning::default(), window, 3)
            .await
            .unwrap();
        assert!(none.is_none(), "a 1.0 component is not asked");
        let newer = from(okta_ingest_test_artifacts::WIT_V1_3).await;
        assert!(newer.can_sample());
        let sample = newer
            .sample(ctx(), &config, &Tuning::default(), window, 3)
            .await
            .unwrap()
            .expect("a 1.3 component samples")
            .expect("its fixed sample");
        assert_eq!(sample.covered_ms, 86_400_000);
        assert_eq!(sample.events_in(Categories::AUTHENTICATION), 42);
    }
}
