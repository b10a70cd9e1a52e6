//! The host facade: instances, ticks, delivery and the schedule, over the state database and a
//! connector runtime. The `okta-ingest` binary uses only this API; embedders use it the same way.

use crate::config::{self, Categories, ConfigError};
use crate::http::{AllowedOrigin, ClientPool, HttpLimits, HttpSetupError, InstanceHttp};
use crate::runtime::{
    wit, CallContext, CommitObserver, CommitStats, ComponentSource, ConnectorRuntime, RuntimeError,
    SandboxLimits,
};
use crate::signing::{KeyError, Rs256Signer};
use crate::sink::{Delivery, Sink, SinkError};
use crate::state::{InstanceEdit, InstanceRecord, StateDb, StateError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::sync::OnceCell;

/// Any failure of a host operation, with what the user should do.
#[derive(Debug, Error)]
pub enum HostError {
    /// Bad configuration value.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Unusable private key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// State database problem.
    #[error(transparent)]
    State(#[from] StateError),
    /// HTTPS client / CA problem.
    #[error(transparent)]
    Http(#[from] HttpSetupError),
    /// Component problem.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// Sink problem.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// A connector-version operation was refused.
    #[error("{0}")]
    Version(String),
    /// The backfill of an existing instance cannot change.
    #[error("the backfill of an existing instance cannot be edited (it only applies to the first tick, which has run or is set up); remove and re-add the instance to backfill again")]
    BackfillNotEditable,
    /// Okta or the connector reported a failure.
    #[error("{instance}: {message}")]
    Tick {
        /// Instance name.
        instance: String,
        /// Error kind as the connector classified it.
        kind: Option<wit::ErrorKind>,
        /// One-line message.
        message: String,
    },
}

/// Pacing and retry settings passed to every tick.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Pages per tick before the scheduler gets control back.
    pub max_pages_per_tick: u32,
    /// Longest wait for a rate-limit reset inside a tick.
    pub max_wait: Duration,
    /// First retry back-off.
    pub retry_base: Duration,
    /// Retries per request.
    pub max_retries: u32,
    /// Share of the org's rate limit to use, percent.
    pub rate_limit_share_percent: u8,
    /// Events per page.
    pub page_size: u32,
    /// Per-request timeout until response headers.
    pub request_timeout: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            max_pages_per_tick: 100,
            max_wait: Duration::from_secs(120),
            retry_base: Duration::from_secs(1),
            max_retries: 4,
            rate_limit_share_percent: 50,
            page_size: 1000,
            request_timeout: Duration::from_secs(60),
        }
    }
}

impl Tuning {
    fn to_wit(&self) -> wit::Tuning {
        wit::Tuning {
            max_pages: self.max_pages_per_tick,
            max_wait_ms: self.max_wait.as_millis() as u64,
            retry_base_ms: self.retry_base.as_millis() as u64,
            max_retries: self.max_retries,
            rate_limit_share_percent: self.rate_limit_share_percent.clamp(1, 100),
            page_size: self.page_size.clamp(1, 1000),
            request_timeout_ms: self.request_timeout.as_millis() as u64,
        }
    }
}

/// How to build a [`Host`].
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// SQLite state file.
    pub db_path: PathBuf,
    /// Which connector component to run.
    pub component: ComponentSource,
    /// Sandbox limits.
    pub sandbox: SandboxLimits,
    /// Outbound HTTP limits.
    pub http: HttpLimits,
    /// Pacing passed to the connector.
    pub tuning: Tuning,
    /// Instances ticking at the same time.
    pub concurrency: usize,
    /// Consecutive traps or non-transient failures of a stored connector version on one instance before
    /// that instance is rolled back to the previous version (0: never).
    pub auto_rollback_after: u32,
    /// Where compiled components are cached across restarts (`None`: compile every start).
    pub component_cache: Option<PathBuf>,
}

impl HostConfig {
    /// Defaults for a state file.
    pub fn new(db_path: impl Into<PathBuf>) -> HostConfig {
        let db_path = db_path.into();
        HostConfig {
            db_path: db_path.clone(),
            component: ComponentSource::Embedded,
            sandbox: SandboxLimits::default(),
            http: HttpLimits::default(),
            tuning: Tuning::default(),
            concurrency: 8,
            auto_rollback_after: 3,
            component_cache: Some(default_component_cache(&db_path)),
        }
    }
}

/// A new instance as the user describes it.
#[derive(Debug, Clone)]
pub struct NewInstance {
    /// Unique name.
    pub name: String,
    /// Okta domain (scheme and trailing slash are stripped).
    pub domain: String,
    /// OAuth client id.
    pub client_id: String,
    /// PEM file with the RSA private key.
    pub private_key: PathBuf,
    /// `kid` of the registered key, if the app has several.
    pub key_id: Option<String>,
    /// 0..=14 days of history on the first tick.
    pub backfill_days: u8,
    /// Categories to deliver.
    pub categories: Categories,
    /// Extra CA certificates to trust.
    pub ca_file: Option<PathBuf>,
}

/// Changes to an instance; `None` keeps a value.
#[derive(Debug, Clone, Default)]
pub struct EditInstance {
    /// New domain (resets the cursor).
    pub domain: Option<String>,
    /// New client id.
    pub client_id: Option<String>,
    /// New key file.
    pub private_key: Option<PathBuf>,
    /// New key id (`Some(None)` clears it).
    pub key_id: Option<Option<String>>,
    /// New categories.
    pub categories: Option<Categories>,
    /// New CA file (`Some(None)` clears it).
    pub ca_file: Option<Option<PathBuf>>,
    /// Refused: the backfill cannot change.
    pub backfill_days: Option<u8>,
}

/// What happened to one instance in a run.
#[derive(Debug, Clone, Default)]
pub struct InstanceRun {
    /// Instance name.
    pub name: String,
    /// Ticks run.
    pub ticks: u32,
    /// Pages fetched.
    pub pages: u64,
    /// Events committed.
    pub events: u64,
    /// Events per category (authentication, security, itp, lifecycle).
    pub per_category: [u64; 4],
    /// Events dropped as duplicates.
    pub duplicates: u64,
    /// 429s and rate-limit waits.
    pub rate_limited: u64,
    /// Why it stopped early, if it did.
    pub error: Option<String>,
}

/// The result of `run --once`.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    /// Per instance.
    pub instances: Vec<InstanceRun>,
    /// Events handed to the sink.
    pub delivered: u64,
    /// Events still queued (sink failing).
    pub queued: i64,
    /// Delivery failure, if any.
    pub sink_error: Option<String>,
    /// Wall time.
    pub elapsed: Duration,
}

impl RunSummary {
    /// True when every instance caught up and every event reached the sink.
    pub fn ok(&self) -> bool {
        self.sink_error.is_none() && self.instances.iter().all(|i| i.error.is_none())
    }
}

/// The okta-ingest host.
pub struct Host {
    pub(crate) config: HostConfig,
    pub(crate) db: Arc<Mutex<StateDb>>,
    runtime: OnceCell<Arc<ConnectorRuntime>>,
    /// Stored connector versions loaded so far, by hash (see `activation.rs`).
    pub(crate) versions: tokio::sync::Mutex<HashMap<String, Arc<ConnectorRuntime>>>,
    /// Consecutive non-transient failures per instance as last counted (the count lives in the database;
    /// this spares a write after every successful tick).
    pub(crate) failures: Mutex<HashMap<i64, u32>>,
    clients: ClientPool,
    /// Each Okta org's System Log budget, shared by the instances on it.
    budgets: crate::budget::OrgBudgets,
    /// Access tokens by app: instances of the same app on the same org share one (Okta's token endpoint
    /// has its own rate limit; a token per instance would waste it). In memory only.
    tokens: Mutex<HashMap<AppKey, wit::AccessToken>>,
    /// Parsed private keys by file, reloaded when the file changes (parsing RSA keys costs milliseconds).
    signers: Mutex<HashMap<PathBuf, CachedSigner>>,
    /// Tick outcomes not yet written: flushed in one transaction at most every second, so idle ticks do
    /// not cost a disk sync each.
    pending_status: Mutex<PendingStatus>,
    observer: Mutex<Option<CommitObserver>>,
    events: tokio::sync::broadcast::Sender<StatusEvent>,
    /// Counters and histograms of this process's ticks (`/metrics`).
    metrics: Arc<crate::metrics::Metrics>,
}

/// What a running host reports to [`Host::subscribe`] subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusEvent {
    /// A tick ended.
    TickFinished {
        /// Instance name.
        instance: String,
        /// Connector version that ran it.
        connector: String,
        /// Pages fetched.
        pages: u32,
        /// Events committed.
        events: u64,
        /// Nothing more to fetch for now.
        caught_up: bool,
        /// Why it ended early, if it did.
        error: Option<String>,
    },
    /// A failing connector version was rolled back for an instance.
    RolledBack {
        /// Instance name.
        instance: String,
        /// The version that kept failing.
        from: String,
        /// The version now active.
        to: String,
        /// Why.
        reason: String,
    },
}

/// Identifies the OAuth app a token belongs to.
type AppKey = (String, String, PathBuf, Option<String>);

struct CachedSigner {
    modified: Option<std::time::SystemTime>,
    len: u64,
    signer: Arc<Rs256Signer>,
}

#[derive(Default)]
struct PendingStatus {
    /// In order; every tick is kept (the tick log counts each one's events).
    ticks: Vec<(i64, crate::state::TickStatus)>,
    last_flush: Option<Instant>,
}

fn app_key(rec: &InstanceRecord) -> AppKey {
    (
        rec.domain.clone(),
        rec.client_id.clone(),
        rec.private_key_path.clone(),
        rec.key_id.clone(),
    )
}

impl Host {
    /// Opens the state database (creating it, mode 0600). The component is compiled on first use.
    pub fn open(config: HostConfig) -> Result<Host, HostError> {
        let db = StateDb::open(&config.db_path)?;
        Ok(Self::with_db(config, db))
    }

    /// Builds a host on a SQLite connection the embedder already has (to a file on disk); the
    /// okta-ingest tables are created in it if missing. `config.db_path` is replaced by the connection's
    /// file.
    pub fn with_connection(
        mut config: HostConfig,
        conn: rusqlite::Connection,
    ) -> Result<Host, HostError> {
        let db = StateDb::from_connection(conn)?;
        config.db_path = db.path().to_path_buf();
        Ok(Self::with_db(config, db))
    }

    fn with_db(config: HostConfig, db: StateDb) -> Host {
        Host {
            clients: ClientPool::new(config.http.clone()),
            budgets: crate::budget::OrgBudgets::new(config.tuning.rate_limit_share_percent),
            config,
            db: Arc::new(Mutex::new(db)),
            runtime: OnceCell::new(),
            versions: tokio::sync::Mutex::default(),
            failures: Mutex::default(),
            tokens: Mutex::default(),
            signers: Mutex::default(),
            pending_status: Mutex::default(),
            observer: Mutex::default(),
            metrics: Arc::default(),
            events: tokio::sync::broadcast::channel(1024).0,
        }
    }

    /// Subscribes to status events (ticks finished, versions rolled back). Slow subscribers miss events
    /// (`RecvError::Lagged`) rather than slowing the host down.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<StatusEvent> {
        self.events.subscribe()
    }

    pub(crate) fn emit(&self, event: StatusEvent) {
        // No subscriber is fine.
        let _ = self.events.send(event);
    }

    /// This host's tick metrics (Prometheus text via [`crate::metrics::Metrics::render`]).
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.metrics
    }

    /// Calls `observer` after every committed page (progress bars, metrics).
    pub fn set_commit_observer(&self, observer: CommitObserver) {
        *self.observer.lock().unwrap_or_else(|p| p.into_inner()) = Some(observer);
    }

    pub(crate) fn db(&self) -> std::sync::MutexGuard<'_, StateDb> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The connector runtime, compiling the component on first use.
    pub async fn runtime(&self) -> Result<Arc<ConnectorRuntime>, HostError> {
        let rt = self
            .runtime
            .get_or_try_init(|| async {
                ConnectorRuntime::load_cached(
                    &self.config.component,
                    self.config.sandbox.clone(),
                    self.config.component_cache.as_deref(),
                )
                .await
                .map(Arc::new)
            })
            .await?;
        Ok(rt.clone())
    }

    /// Validates and stores a new instance. Nothing is stored if any value is refused.
    pub fn add_instance(&self, new: NewInstance) -> Result<InstanceRecord, HostError> {
        let name = config::validate_name(&new.name)?;
        let domain = config::normalize_domain(&new.domain)?;
        let client_id = config::validate_client_id(&new.client_id)?;
        let key_id = new
            .key_id
            .as_deref()
            .map(config::validate_key_id)
            .transpose()?;
        if new.backfill_days > config::MAX_BACKFILL_DAYS {
            return Err(ConfigError::Backfill(new.backfill_days.to_string()).into());
        }
        if new.categories.is_empty() {
            return Err(ConfigError::NoCategories.into());
        }
        let private_key_path = absolute(&new.private_key);
        Rs256Signer::from_pem_file(&private_key_path)?;
        let ca_file = new.ca_file.as_deref().map(absolute);
        if let Some(ca) = &ca_file {
            crate::http::load_ca_file(ca)?;
        }
        let rec = InstanceRecord {
            id: 0,
            name: name.clone(),
            domain,
            client_id,
            key_id,
            private_key_path,
            backfill_days: new.backfill_days,
            categories: new.categories.bits(),
            ca_file,
            created_ms: 0,
            has_cursor: false,
            last_tick_ms: None,
            last_outcome: None,
            last_error: None,
            events_total: 0,
        };
        let db = self.db();
        db.add_instance(&rec)?;
        Ok(db.get_instance(&name)?)
    }

    /// Edits an instance; every new value is validated first.
    pub fn edit_instance(
        &self,
        name: &str,
        edit: EditInstance,
    ) -> Result<InstanceRecord, HostError> {
        if edit.backfill_days.is_some() {
            return Err(HostError::BackfillNotEditable);
        }
        let private_key_path = edit.private_key.as_deref().map(absolute);
        if let Some(p) = &private_key_path {
            Rs256Signer::from_pem_file(p)?;
        }
        let ca_file = edit.ca_file.map(|o| o.as_deref().map(absolute));
        if let Some(Some(ca)) = &ca_file {
            crate::http::load_ca_file(ca)?;
        }
        if edit.categories.is_some_and(|c| c.is_empty()) {
            return Err(ConfigError::NoCategories.into());
        }
        let e = InstanceEdit {
            domain: edit
                .domain
                .as_deref()
                .map(config::normalize_domain)
                .transpose()?,
            client_id: edit
                .client_id
                .as_deref()
                .map(config::validate_client_id)
                .transpose()?,
            key_id: edit
                .key_id
                .map(|k| k.as_deref().map(config::validate_key_id).transpose())
                .transpose()?,
            private_key_path,
            categories: edit.categories.map(|c| c.bits()),
            ca_file,
        };
        Ok(self.db().edit_instance(name, &e)?)
    }

    /// Removes an instance (its undelivered events are still delivered).
    pub fn remove_instance(&self, name: &str) -> Result<(), HostError> {
        Ok(self.db().remove_instance(name)?)
    }

    /// All instances.
    pub fn list_instances(&self) -> Result<Vec<InstanceRecord>, HostError> {
        Ok(self.db().list_instances()?)
    }

    /// One instance by row id (`None` if it was removed): one indexed lookup, for the scheduler.
    pub fn instance_by_id(&self, id: i64) -> Result<Option<InstanceRecord>, HostError> {
        Ok(self.db().get_instance_by_id(id)?)
    }

    /// One instance.
    pub fn instance(&self, name: &str) -> Result<InstanceRecord, HostError> {
        Ok(self.db().get_instance(name)?)
    }

    /// Events committed but not yet delivered.
    pub fn outbox_depth(&self) -> Result<i64, HostError> {
        Ok(self.db().outbox_depth()?)
    }

    fn tokens_lock(&self) -> std::sync::MutexGuard<'_, HashMap<AppKey, wit::AccessToken>> {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wit_config(rec: &InstanceRecord) -> wit::InstanceConfig {
        wit::InstanceConfig {
            domain: rec.domain.clone(),
            client_id: rec.client_id.clone(),
            key_id: rec.key_id.clone(),
            backfill_days: rec.backfill_days,
            categories: crate::runtime::categories_from_bits(rec.categories),
        }
    }

    fn call_context(&self, rec: &InstanceRecord, commit: bool) -> Result<CallContext, HostError> {
        let signer = self.signer(&rec.private_key_path)?;
        let client = self.clients.client(rec.ca_file.as_deref())?;
        Ok(CallContext {
            instance_id: rec.id,
            instance: rec.name.clone(),
            signer: Some(signer),
            db: commit.then(|| self.db.clone()),
            http: InstanceHttp {
                origin: AllowedOrigin::from_domain(&rec.domain),
                transport: crate::http::Transport::Network(client),
                budget: Some(self.budgets.clone()),
                limits: self.clients.limits().clone(),
                instance: rec.name.clone(),
            },
            observer: self
                .observer
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        })
    }

    /// `check`: get a token and read one small page; Ok is a one-line summary.
    pub async fn check(&self, name: &str) -> Result<String, HostError> {
        let rec = self.instance(name)?;
        let rt = self.runtime().await?;
        let ctx = self.call_context(&rec, false)?;
        match rt
            .check(ctx, Self::wit_config(&rec), self.config.tuning.to_wit())
            .await?
        {
            Ok(msg) => Ok(msg),
            Err(e) => Err(HostError::Tick {
                instance: rec.name,
                kind: Some(e.kind),
                message: e.message,
            }),
        }
    }

    /// Runs one tick of one instance: fetches up to `max_pages_per_tick` pages, committing each.
    pub async fn tick(
        &self,
        rec: &InstanceRecord,
    ) -> Result<(wit::TickReport, CommitStats), HostError> {
        let started = Instant::now();
        let (rt, version) = self.runtime_for(rec).await?;
        let ctx = self.call_context(rec, true)?;
        let state = self.db().cursor(rec.id)?;
        let token = self.tokens_lock().get(&app_key(rec)).cloned();
        let input = wit::TickInput {
            config: Self::wit_config(rec),
            state,
            token,
            tuning: self.config.tuning.to_wit(),
        };
        let result = rt.tick(ctx, input).await;
        let (outcome, error) = match &result {
            Ok((r, _)) => match &r.error {
                Some(e) => ("error", Some(e.message.clone())),
                None if r.caught_up => ("caught-up", None),
                None => ("ok", None),
            },
            Err(e) => ("error", Some(e.to_string())),
        };
        let (events, pages, rate_limited) = match &result {
            Ok((r, s)) => (s.events, s.pages, u64::from(r.rate_limited)),
            Err(_) => (0, 0, 0),
        };
        self.metrics.observe_tick(&crate::metrics::TickObservation {
            instance: &rec.name,
            outcome,
            events,
            pages,
            rate_limited,
            duration: started.elapsed(),
        });
        self.emit(StatusEvent::TickFinished {
            instance: rec.name.clone(),
            connector: rt.description().version.clone(),
            pages: pages as u32,
            events,
            caught_up: matches!(&result, Ok((r, _)) if r.caught_up && r.error.is_none()),
            error: error.clone(),
        });
        self.record_status(rec.id, outcome, error, events);
        self.note_outcome(rec, version, &result);
        let (report, stats) = result?;
        tracing::info!(
            instance = %rec.name,
            connector = %rt.description().version,
            pages = report.pages,
            events = report.events,
            caught_up = report.caught_up,
            "tick done"
        );
        let mut tokens = self.tokens_lock();
        match &report.token {
            Some(t) => tokens.insert(app_key(rec), t.clone()),
            None => tokens.remove(&app_key(rec)),
        };
        Ok((report, stats))
    }

    /// The signer for a key file, parsed once and reloaded when the file changes.
    fn signer(&self, path: &Path) -> Result<Arc<Rs256Signer>, HostError> {
        let meta = std::fs::metadata(path).ok();
        let modified = meta.as_ref().and_then(|m| m.modified().ok());
        let len = meta.as_ref().map_or(0, |m| m.len());
        let mut cache = self.signers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cache.get(path) {
            if meta.is_some() && c.modified == modified && c.len == len {
                return Ok(c.signer.clone());
            }
        }
        let signer = Arc::new(Rs256Signer::from_pem_file(path)?);
        cache.insert(
            path.to_path_buf(),
            CachedSigner {
                modified,
                len,
                signer: signer.clone(),
            },
        );
        Ok(signer)
    }

    fn record_status(&self, instance_id: i64, outcome: &str, error: Option<String>, events: u64) {
        let due = {
            let mut p = self
                .pending_status
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            p.ticks.push((
                instance_id,
                crate::state::TickStatus {
                    at_ms: crate::state::now_ms(),
                    outcome: outcome.to_string(),
                    error,
                    events,
                },
            ));
            p.last_flush
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        };
        if due {
            self.flush_status();
        }
    }

    /// Writes tick outcomes still held in memory (`instance list`/`show` read them from the database).
    pub fn flush_status(&self) {
        let ticks: Vec<(i64, crate::state::TickStatus)> = {
            let mut p = self
                .pending_status
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            p.last_flush = Some(Instant::now());
            std::mem::take(&mut p.ticks)
        };
        if ticks.is_empty() {
            return;
        }
        if let Err(e) = self.db().record_ticks(&ticks) {
            tracing::warn!("could not record tick outcomes: {e}");
        }
    }

    /// Ticks one instance until it is caught up or fails.
    pub async fn catch_up(&self, rec: &InstanceRecord) -> InstanceRun {
        let mut run = InstanceRun {
            name: rec.name.clone(),
            ..Default::default()
        };
        loop {
            run.ticks += 1;
            match self.tick(rec).await {
                Err(e) => {
                    run.error = Some(e.to_string());
                    return run;
                }
                Ok((report, stats)) => {
                    run.pages += u64::from(report.pages);
                    run.events += stats.events;
                    run.duplicates += u64::from(report.duplicates);
                    run.rate_limited += u64::from(report.rate_limited);
                    for i in 0..4 {
                        run.per_category[i] += stats.per_category[i];
                    }
                    if let Some(e) = report.error {
                        run.error = Some(e.message);
                        return run;
                    }
                    if report.caught_up {
                        return run;
                    }
                }
            }
        }
    }

    /// Every instance ticks until caught up, while a delivery thread feeds `sink` from the outbox.
    pub async fn run_once(&self, sink: Box<dyn Sink>) -> Result<RunSummary, HostError> {
        let started = Instant::now();
        let instances = self.list_instances()?;
        if !instances.is_empty() {
            self.runtime().await?;
        }
        let delivery = DeliveryWorker::start(&self.config.db_path, sink)?;
        let sem = Arc::new(tokio::sync::Semaphore::new(self.config.concurrency.max(1)));
        let runs = futures::future::join_all(instances.iter().map(|rec| {
            let sem = sem.clone();
            let wake = delivery.waker();
            async move {
                let _permit = sem.acquire().await;
                let r = self.catch_up(rec).await;
                wake();
                r
            }
        }))
        .await;
        self.flush_status();
        let (delivered, sink_error) = delivery.finish().await;
        Ok(RunSummary {
            instances: runs,
            delivered,
            queued: self.outbox_depth()?,
            sink_error,
            elapsed: started.elapsed(),
        })
    }

    /// Runs forever on the schedule (every `interval`, ±10% jitter) until `shutdown` resolves; in-flight
    /// ticks finish, then the outbox is drained one last time.
    pub async fn run(
        self: Arc<Self>,
        sink: Box<dyn Sink>,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), HostError> {
        self.runtime().await?;
        let delivery = DeliveryWorker::start(&self.config.db_path, sink)?;
        let sched = crate::schedule::Scheduler::new(interval, self.config.concurrency);
        let result = sched.run(self.clone(), delivery.waker(), shutdown).await;
        let (_, sink_error) = delivery.finish().await;
        if let Some(e) = sink_error {
            tracing::error!("delivery stopped with events still queued: {e}");
        }
        result
    }
}

/// A thread that drains the outbox into the sink whenever woken, and retries while the sink fails.
pub(crate) struct DeliveryWorker {
    tx: std::sync::mpsc::Sender<bool>,
    handle: std::thread::JoinHandle<(u64, Option<String>)>,
}

impl DeliveryWorker {
    fn start(db_path: &Path, mut sink: Box<dyn Sink>) -> Result<DeliveryWorker, HostError> {
        let mut db = StateDb::open(db_path)?;
        db.checkpoint_early()?;
        let (tx, rx) = std::sync::mpsc::channel::<bool>();
        let handle = std::thread::Builder::new()
            .name("okta-ingest-delivery".into())
            .spawn(move || {
                let mut delivery = Delivery::new(
                    sink.batch_hint()
                        .unwrap_or(crate::sink::DEFAULT_BATCH_EVENTS),
                );
                let mut delivered = 0u64;
                let mut last_error: Option<String> = None;
                let mut finishing = false;
                loop {
                    match delivery.drain(&mut db, sink.as_mut(), &mut |_| {}) {
                        Ok(n) => {
                            delivered += n;
                            if last_error.take().is_some() {
                                tracing::info!("sink recovered; delivery resumed");
                            }
                        }
                        Err(e) => {
                            let msg = e.to_string();
                            if last_error.as_deref() != Some(&msg) {
                                tracing::error!("{msg}");
                            }
                            last_error = Some(msg);
                            if finishing {
                                return (delivered, last_error);
                            }
                        }
                    }
                    if finishing {
                        return (delivered, None);
                    }
                    let wait = if last_error.is_some() {
                        Duration::from_secs(2)
                    } else {
                        Duration::from_millis(500)
                    };
                    match rx.recv_timeout(wait) {
                        Ok(true) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                            finishing = true
                        }
                        Ok(false) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    }
                }
            })
            .map_err(|e| {
                HostError::Sink(SinkError::Other {
                    sink: "delivery".into(),
                    message: e.to_string(),
                })
            })?;
        Ok(DeliveryWorker { tx, handle })
    }

    /// A cheap callback that wakes the worker (after a commit).
    pub(crate) fn waker(&self) -> impl Fn() + Send + Sync + Clone + 'static {
        let tx = Mutex::new(self.tx.clone());
        let tx = Arc::new(tx);
        move || {
            let _ = tx.lock().map(|t| t.send(false));
        }
    }

    /// Final drain; returns events delivered and the last sink error if the outbox could not be emptied.
    async fn finish(self) -> (u64, Option<String>) {
        let _ = self.tx.send(true);
        let handle = self.handle;
        tokio::task::spawn_blocking(move || {
            handle
                .join()
                .unwrap_or((0, Some("delivery thread panicked".into())))
        })
        .await
        .unwrap_or((0, Some("delivery thread panicked".into())))
    }
}

/// `components/` beside the state database.
fn default_component_cache(db_path: &Path) -> PathBuf {
    let dir = db_path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    dir.join("components")
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_host_adopts_an_existing_connection_and_reports_ticks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("embedder.db");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE embedder_own(x INTEGER)")
            .unwrap();
        let host = Host::with_connection(HostConfig::new("ignored.db"), conn).unwrap();
        assert_eq!(host.config.db_path, path);
        assert!(host.list_instances().unwrap().is_empty());
        let mut events = host.subscribe();
        host.emit(StatusEvent::TickFinished {
            instance: "a".into(),
            connector: "1.0.0".into(),
            pages: 1,
            events: 2,
            caught_up: true,
            error: None,
        });
        assert!(matches!(
            events.recv().await.unwrap(),
            StatusEvent::TickFinished { events: 2, .. }
        ));
        let memory = rusqlite::Connection::open_in_memory().unwrap();
        assert!(
            Host::with_connection(HostConfig::new("x.db"), memory).is_err(),
            "delivery needs a file"
        );
    }
}
