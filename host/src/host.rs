//! The [`Host`] facade: the one API the `okta-ingest` command and embedders use. It delegates to the
//! services (`services.rs` composes them): instances, credentials, ticks, versions, runs and the
//! schedule, delivery and status, over one state ([`crate::state`]) and one sandbox engine.

use crate::config::HostConfig;
use crate::delivery::Sink;
use crate::error::HostError;
use crate::events::StatusEvent;
use crate::instances::{EditInstance, NewInstance};
use crate::keys::PublicKeyInfo;
use crate::metrics::Metrics;
use crate::rotation::RotationDone;
use crate::run::{InstanceRun, RunSummary};
use crate::runtime::{CommitObserver, ConnectorInfo};
use crate::services::Services;
use crate::setup::{ConnectionTest, OrgProbe, ProbeFailure, TestSubject};
use crate::state::{ComponentRecord, Instance, SqliteState, StateBackend};
use crate::status::InstanceStatus;
use crate::tick::TickReport;
use crate::versions::ComponentUse;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The okta-ingest host. Cheap to clone (the clones share everything).
#[derive(Clone)]
pub struct Host {
    services: Arc<Services>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("state", &self.services.state.location())
            .finish_non_exhaustive()
    }
}

impl Host {
    /// Opens the SQLite state file `config.db_path` (creating it, mode 0600). The connector is compiled
    /// on first use.
    pub fn open(config: HostConfig) -> Result<Host, HostError> {
        let state = SqliteState::open(&config.db_path)?;
        Host::with_state(config, Arc::new(state))
    }

    /// A host on a SQLite connection the embedder already has, to a file on disk; the okta-ingest
    /// tables are created in it if missing. `config.db_path` becomes the connection's file.
    pub fn with_connection(
        mut config: HostConfig,
        conn: rusqlite::Connection,
    ) -> Result<Host, HostError> {
        let state = SqliteState::from_connection(conn)?;
        config.db_path = state.path().to_path_buf();
        Host::with_state(config, Arc::new(state))
    }

    /// A host on any state backend.
    pub fn with_state(config: HostConfig, state: Arc<dyn StateBackend>) -> Result<Host, HostError> {
        Ok(Host {
            services: Arc::new(Services::new(config, state)?),
        })
    }

    /// The configuration the host was built with.
    pub fn config(&self) -> &HostConfig {
        &self.services.config
    }

    /// Where the state lives (the SQLite file's path).
    pub fn state_location(&self) -> String {
        self.services.state.location()
    }

    /// Subscribes to status events (ticks finished, versions rolled back). Slow subscribers miss events
    /// (`RecvError::Lagged`) rather than slow the host down.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<StatusEvent> {
        self.services.events.subscribe()
    }

    /// This host's tick metrics (Prometheus text via [`Metrics::render`]).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.services.metrics
    }

    /// Calls `observer` after every committed page (progress bars, metrics).
    pub fn set_commit_observer(&self, observer: CommitObserver) {
        *self
            .services
            .ticker
            .observer
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(observer);
    }

    /// Makes this process the state's one runner now, and keeps it while the host lives. Ticking and
    /// delivering do this themselves ([`Host::tick`], [`Host::run_once`], [`Host::run`]); a command calls
    /// it first to be refused before it opens anything else. Another process's claim is
    /// [`StateError::InUse`](crate::StateError::InUse), naming it.
    pub async fn claim_runner(&self) -> Result<(), HostError> {
        self.services.claim_runner().await
    }

    /// Validates and stores a new instance. Nothing is stored if any value is refused.
    pub async fn add_instance(&self, new: NewInstance) -> Result<Instance, HostError> {
        self.services.instances.add(new).await
    }

    /// Stores a new instance as a draft: validated like [`Host::add_instance`] but paused, so it is kept
    /// while something in Okta is still to be done and ticks only once resumed ([`Host::set_paused`]).
    /// For a setup whose test connection has not passed yet.
    pub async fn add_draft_instance(&self, new: NewInstance) -> Result<Instance, HostError> {
        self.services.instances.add_paused(new).await
    }

    /// Edits an instance; every new value is validated first.
    pub async fn edit_instance(
        &self,
        name: &str,
        edit: EditInstance,
    ) -> Result<Instance, HostError> {
        self.services.instances.edit(name, edit).await
    }

    /// Removes an instance; returns how many of its events are still queued: they are still delivered
    /// (by the next run, whatever instances are left).
    pub async fn remove_instance(&self, name: &str) -> Result<i64, HostError> {
        let id = self.instance(name).await?.id;
        let queued = self
            .services
            .state
            .instance_stats(i64::MAX)
            .await?
            .get(&id)
            .map_or(0, |s| s.outbox_depth);
        self.services.state.remove_instance(name).await?;
        Ok(queued)
    }

    /// All instances, by name.
    pub async fn list_instances(&self) -> Result<Vec<Instance>, HostError> {
        Ok(self.services.state.list_instances().await?)
    }

    /// One instance by name.
    pub async fn instance(&self, name: &str) -> Result<Instance, HostError> {
        Ok(self.services.state.instance(name).await?)
    }

    /// Events committed but not yet delivered.
    pub async fn outbox_depth(&self) -> Result<i64, HostError> {
        Ok(self.services.state.outbox_depth().await?)
    }

    /// `check`: gets a token and reads one small page of the System Log, committing nothing, with the
    /// connector version the instance runs. `Ok` is a one-line summary; Okta's refusal is
    /// [`HostError::Check`] with its kind and what to do.
    pub async fn check(&self, name: &str) -> Result<String, HostError> {
        let instance = self.instance(name).await?;
        // The version its ticks run, not the default: a check proves what the next tick will do.
        let (rt, _) = self.services.versions.resolve(&instance).await?;
        self.services.ticker.check(&instance, &rt).await
    }

    /// Starts rotating an instance's key (or returns the rotation in progress): a new RSA key is made
    /// beside the state (`keys/<instance>/<kid>.pem`, mode 0600) and its public half returned, for the
    /// user to add in Okta. The instance keeps signing with its current key meanwhile.
    pub async fn start_key_rotation(&self, name: &str) -> Result<PublicKeyInfo, HostError> {
        crate::rotation::start(&self.services, name).await
    }

    /// Finishes a key rotation once Okta has the new key: a check signed with it must pass, then the
    /// instance switches and the old key file is deleted if okta-ingest made it. A failed check
    /// changes nothing and says what Okta answered.
    pub async fn finish_key_rotation(&self, name: &str) -> Result<RotationDone, HostError> {
        crate::rotation::finish(&self.services, name).await
    }

    /// Cancels a key rotation: the new key is deleted, the instance keeps its key.
    pub async fn cancel_key_rotation(&self, name: &str) -> Result<(), HostError> {
        crate::rotation::cancel(&self.services, name).await
    }

    /// An instance's events of the last 24 hours, per hour: 24 counts, the oldest hour first (the
    /// current, partial hour last).
    pub async fn events_per_hour(&self, name: &str) -> Result<Vec<u64>, HostError> {
        let id = self.instance(name).await?.id;
        let now = okta_ingest_model::time::now_ms() as i64;
        let this_hour = now / 3_600_000 * 3_600_000;
        let first = this_hour - 23 * 3_600_000;
        let mut hours = vec![0u64; 24];
        for (hour, n) in self.services.state.events_per_hour(id, first).await? {
            if let Ok(i) = usize::try_from((hour - first) / 3_600_000) {
                if let Some(slot) = hours.get_mut(i) {
                    *slot += n;
                }
            }
        }
        Ok(hours)
    }

    /// Pauses an instance (`true`: it stops ticking within a rescan, its queued events are still
    /// delivered) or resumes it.
    pub async fn set_paused(&self, name: &str, paused: bool) -> Result<(), HostError> {
        self.edit_instance(
            name,
            EditInstance {
                paused: Some(paused),
                ..EditInstance::default()
            },
        )
        .await
        .map(|_| ())
    }

    /// Probes an Okta org before anything is set up: DNS, TLS (system roots plus `ca_file`) and Okta's
    /// discovery document. `domain` is canonical (see [`crate::setup::suggest_domain`]).
    pub async fn probe_org(
        &self,
        domain: &str,
        ca_file: Option<&Path>,
    ) -> Result<Result<OrgProbe, ProbeFailure>, HostError> {
        let client = self.services.ticker.outbound.client(ca_file)?;
        Ok(crate::setup::probe_org(&client, domain).await)
    }

    /// Tests a new instance before it is saved, stage by stage (see [`ConnectionTest`]): the org probe,
    /// then a token and one page, exactly as the instance's ticks would get them. Nothing is stored.
    /// `Err` is a value refused before any request (a bad domain, an unusable key file, a name taken).
    pub async fn test_connection(&self, new: &NewInstance) -> Result<ConnectionTest, HostError> {
        let instance = self.services.instances.unsaved(new).await?;
        let probe = match self
            .probe_org(&instance.domain, instance.ca_file.as_deref())
            .await?
        {
            Ok(p) => p,
            Err(failure) => return Ok(ConnectionTest::unreachable(&failure)),
        };
        let (rt, _) = self.services.versions.resolve(&instance).await?;
        let check = self.services.ticker.check(&instance, &rt).await;
        let subject = TestSubject {
            client_id: instance.client_id.clone(),
            key_id: instance.key_id.clone(),
        };
        Ok(ConnectionTest::from_check(&probe, &check, &subject))
    }

    /// Samples the org a new instance would read (nothing is stored): the newest events of the last
    /// 24 hours in every category, at most [`SAMPLE_PAGES`](crate::setup::estimate::SAMPLE_PAGES)
    /// pages, counted per event type, for choosing categories and a backfill (see
    /// [`crate::setup::GroupCount`] and [`crate::setup::BackfillEstimate`]). Run it after
    /// [`Host::test_connection`] passes; [`HostError::SamplingUnsupported`] when the connector version
    /// predates WIT 1.2.
    pub async fn sample_org(&self, new: &NewInstance) -> Result<crate::EventSample, HostError> {
        let mut instance = self.services.instances.unsaved(new).await?;
        instance.categories = okta_ingest_model::Categories::ALL;
        let (rt, _) = self.services.versions.resolve(&instance).await?;
        self.services
            .ticker
            .sample(
                &instance,
                &rt,
                Duration::from_millis(crate::setup::estimate::SAMPLE_WINDOW_MS),
                crate::setup::estimate::SAMPLE_PAGES,
            )
            .await
    }

    /// How many events a backfill of `days` of `categories` would fetch at the rate `sample` saw, and
    /// how long it takes at this host's page size and share of the org's System Log limit.
    pub fn estimate_backfill(
        &self,
        sample: &crate::EventSample,
        categories: crate::Categories,
        days: u8,
    ) -> Option<crate::setup::BackfillEstimate> {
        let t = &self.config().tuning;
        crate::setup::BackfillEstimate::new(
            sample,
            categories,
            days,
            t.page_size,
            t.rate_limit_share_percent,
        )
    }

    /// Runs one tick of an instance: up to `max_pages_per_tick` pages, each committed with its cursor.
    /// `Err` means it could not start; how it ended once running is the report's outcome.
    ///
    /// The first tick makes this process the state's one runner ([`HostError::State`] with
    /// [`StateError::InUse`](crate::StateError::InUse) names another process that is); so do
    /// [`Host::run_once`] and [`Host::run`].
    pub async fn tick(&self, instance: &Instance) -> Result<TickReport, HostError> {
        self.services.claim_runner().await?;
        self.services
            .ticker
            .tick(instance, &crate::stop::StopSignal::default())
            .await
    }

    /// Ticks one instance until it is caught up or fails.
    pub async fn catch_up(&self, instance: &Instance) -> InstanceRun {
        if let Err(e) = self.services.claim_runner().await {
            return InstanceRun {
                name: instance.name.clone(),
                error: Some(e.to_string()),
                ..InstanceRun::default()
            };
        }
        crate::run::catch_up(
            &self.services,
            instance,
            &crate::stop::StopSignal::default(),
        )
        .await
    }

    /// Every instance ticks until caught up, while a delivery thread feeds `sink` from the outbox.
    pub async fn run_once(&self, sink: Box<dyn Sink>) -> Result<RunSummary, HostError> {
        self.run_once_until(sink, std::future::pending()).await
    }

    /// [`Host::run_once`], ended early when `shutdown` resolves: the ticks in flight end between two
    /// page commits (a committed page keeps its cursor; the one being fetched is fetched again next
    /// time) and delivery stops after the batch in flight, all within about a second. The summary then
    /// says [`RunSummary::stopped`].
    pub async fn run_once_until(
        &self,
        sink: Box<dyn Sink>,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<RunSummary, HostError> {
        crate::run::run_once(&self.services, sink, shutdown).await
    }

    /// Runs on the schedule (every `interval`, ±10% jitter) until `shutdown` resolves. Then, within
    /// about a second: the ticks in flight end between two page commits (rate-limit waits, back-offs
    /// and requests in flight are cancelled), delivery finishes or abandons the batch in flight (it
    /// stays queued and is sent again, under the same identity, at the next start), and it returns.
    pub async fn run(
        &self,
        sink: Box<dyn Sink>,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), HostError> {
        crate::run::run(self.services.clone(), sink, interval, shutdown).await
    }

    /// Records, as every instance's last tick, that ticking could not start for a reason outside the
    /// instances (e.g. the sink was refused), so `status` shows it instead of an old success.
    pub async fn record_setup_failure(&self, message: &str) -> Result<(), HostError> {
        for instance in self.services.state.list_instances().await? {
            let report =
                TickReport::could_not_start(&instance.name, message.to_string(), Duration::ZERO);
            self.services
                .ticker
                .recorder
                .record(&instance, &report)
                .await;
        }
        self.services.ticker.recorder.flush().await;
        Ok(())
    }

    /// Writes tick outcomes still held in memory (they are written at most every second while running).
    pub async fn flush_status(&self) {
        self.services.ticker.recorder.flush().await;
    }

    /// Status of every instance, by name. Tick outcomes still held in memory are written first, so an
    /// embedding host sees its own latest ticks.
    pub async fn status(&self) -> Result<Vec<InstanceStatus>, HostError> {
        self.flush_status().await;
        let instances = self.list_instances().await?;
        crate::status::status(instances, &*self.services.state, &self.services.versions).await
    }

    /// A fleet's hosts and shard leases (`None`: a single-host state).
    pub async fn fleet_status(&self) -> Result<Option<crate::state::FleetStatus>, HostError> {
        Ok(self.services.state.fleet_status().await?)
    }

    /// This process's lease and fencing counters (`None`: a single-host state).
    pub fn fleet_counters(&self) -> Option<crate::state::FleetCounters> {
        self.services.state.fleet_counters()
    }

    /// What the embedded connector (or the configured component file) says it is.
    pub async fn connector_info(&self) -> Result<ConnectorInfo, HostError> {
        self.services.versions.default_info().await
    }

    /// Validates a `.wasm` component, compiles it once, and stores it by content hash. Adding the same
    /// file twice is harmless; a refused file leaves no trace.
    pub async fn add_component(&self, file: &Path) -> Result<ComponentRecord, HostError> {
        self.services.versions.add(file).await
    }

    /// Stored versions with the instances that run them.
    pub async fn list_components(&self) -> Result<Vec<ComponentUse>, HostError> {
        self.services.versions.list().await
    }

    /// Activates a stored version (by semver or hash prefix; `embedded` for the built-in connector) for
    /// all instances or one (a canary); returns its label. Running hosts pick it up at each instance's
    /// next tick.
    pub async fn activate_component(
        &self,
        version: &str,
        instance: Option<&str>,
    ) -> Result<String, HostError> {
        let id = match instance {
            Some(n) => Some(self.instance(n).await?.id),
            None => None,
        };
        self.services.versions.activate(version, id).await
    }

    /// Undoes the newest activation (globally or for one instance); returns the version now active.
    pub async fn rollback_component(&self, instance: Option<&str>) -> Result<String, HostError> {
        let id = match instance {
            Some(n) => Some(self.instance(n).await?.id),
            None => None,
        };
        self.services.versions.rollback(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::testing::{event, new_instance, page};
    use crate::state::{InstanceStore, Outbox, StateError, TickLog, TickRecord};

    #[tokio::test]
    async fn a_host_adopts_an_existing_connection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("embedder.db");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE embedder_own(x INTEGER)")
            .unwrap();
        let host = Host::with_connection(HostConfig::new("ignored.db"), conn).unwrap();
        assert_eq!(host.config().db_path, path);
        assert!(host.list_instances().await.unwrap().is_empty());
        let memory = rusqlite::Connection::open_in_memory().unwrap();
        assert!(
            Host::with_connection(HostConfig::new("x.db"), memory).is_err(),
            "delivery needs a file"
        );
    }

    #[tokio::test]
    async fn a_second_host_on_one_state_file_may_read_but_not_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let runner = Host::open(HostConfig::new(&path)).unwrap();
        runner.claim_runner().await.unwrap();
        let embedder = Host::open(HostConfig::new(&path)).unwrap();
        let sink = crate::FileSink::open(&dir.path().join("out.jsonl")).unwrap();
        let refused = embedder.run_once(Box::new(sink)).await.unwrap_err();
        assert!(
            matches!(&refused, HostError::State(StateError::InUse { .. })),
            "{refused}"
        );
        assert!(
            refused
                .to_string()
                .contains(&format!("pid {} since ", std::process::id())),
            "{refused}"
        );
        assert!(embedder.status().await.is_ok(), "reads still work");
        assert!(embedder.list_instances().await.unwrap().is_empty());
        drop(runner);
        embedder.claim_runner().await.unwrap();
    }

    #[tokio::test]
    async fn host_status_reads_ticks_and_commits_from_the_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let host = Host::open(HostConfig::new(&path)).unwrap();
        let state = SqliteState::open(&path).unwrap();
        let id = state.add_instance(&new_instance("a")).await.unwrap().id;
        state
            .commit_page(page(id, vec![event("u1", "{}")], b"c"))
            .await
            .unwrap();
        state
            .record_ticks(&[(
                id,
                TickRecord {
                    at_ms: crate::state::sqlite::now_as_stored(),
                    outcome: crate::state::LastOutcome::More,
                    error: None,
                    events: 1,
                    token_scheme: None,
                },
            )])
            .await
            .unwrap();
        let all = host.status().await.unwrap();
        assert_eq!(all.len(), 1);
        let s = &all[0];
        assert_eq!(s.name, "a");
        assert!(s.connector.starts_with("embedded "), "{}", s.connector);
        assert_eq!(
            (
                s.events_last_tick,
                s.events_24h,
                s.events_total,
                s.outbox_depth
            ),
            (1, 1, 1, 1)
        );
        assert!(s.cursor_lag.unwrap() > Duration::from_secs(86_400));
        assert_eq!(host.instance("a").await.unwrap().id, id);
    }

    /// A log writer into memory, for looking at everything a test's host logged.
    #[derive(Clone, Default)]
    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The DPoP proof key is used (the emulator issued bound tokens for it) and its private scalar is in
    /// none of its encodings in the state file and its WAL, the delivered events, or anything logged at
    /// trace level.
    #[tokio::test(flavor = "current_thread")]
    async fn the_dpop_proof_key_is_in_no_file_and_no_log() {
        use base64::Engine as _;
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let emulator = okta_emulator::Emulator::start(okta_emulator::EmulatorConfig {
            events: 300,
            days: 1,
            ..Default::default()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let reader = emulator
            .add_logs_reader("0oa-dpop-key", dir.path())
            .unwrap();
        emulator.register_client(okta_emulator::ClientRegistration {
            require_dpop: true,
            ..reader.keys.logs_reader()
        });
        let db = dir.path().join("state.db");
        let host = Host::open(HostConfig::new(&db)).unwrap();
        host.add_instance(NewInstance {
            exclusions: Default::default(),
            redaction: Default::default(),
            name: "org".into(),
            domain: emulator.domain(),
            client_id: reader.keys.client_id.clone(),
            private_key: reader.key_path.clone(),
            key_id: Some(reader.keys.kid.clone()),
            backfill_days: 2,
            categories: okta_ingest_model::Categories::ALL,
            ca_file: Some(reader.ca_path.clone()),
            dpop: okta_ingest_model::DpopMode::Auto,
            silence_after: Some(crate::DEFAULT_SILENCE_AFTER),
        })
        .await
        .unwrap();
        let out = dir.path().join("events.jsonl");
        let summary = host
            .run_once(Box::new(crate::FileSink::open(&out).unwrap()))
            .await
            .unwrap();
        assert!(summary.ok() && summary.delivered > 0, "{summary:?}");
        assert!(emulator.stats().dpop_tokens_issued >= 1);

        let secret = host.services.ticker.proof_key.secret_bytes();
        assert_eq!(secret.len(), 32);
        let forms = [
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&secret),
            base64::engine::general_purpose::STANDARD.encode(&secret),
            secret
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
        ];
        let mut places = vec![("the log", logs.0.lock().unwrap().clone())];
        for f in ["state.db", "state.db-wal", "events.jsonl"] {
            if let Ok(bytes) = std::fs::read(dir.path().join(f)) {
                places.push((f, bytes));
            }
        }
        assert!(
            String::from_utf8_lossy(&places[0].1).contains("okta request"),
            "the log was captured"
        );
        for (what, bytes) in &places {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_slice()),
                "{what} holds the raw key"
            );
            let text = String::from_utf8_lossy(bytes);
            for form in &forms {
                assert!(
                    !text.contains(form.as_str()),
                    "{what} holds the key ({form:.6}…)"
                );
            }
        }
        emulator.shutdown().await;
    }
}
