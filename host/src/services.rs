//! What a host is made of: the services, built once over one state and one sandbox engine, and shared
//! (behind an `Arc`) by the facade and the modules that run them (`run.rs`, the scheduler's fleet).

use crate::config::HostConfig;
use crate::credentials::Credentials;
use crate::error::HostError;
use crate::events::Events;
use crate::instances::Instances;
use crate::metrics::Metrics;
use crate::outbound::Outbound;
use crate::runtime::{CompileCache, SandboxEngine};
use crate::state::{RunnerLock, StateBackend};
use crate::tick::{TickRecorder, Ticker};
use crate::versions::{Versions, VersionsConfig};
use std::sync::Arc;

/// The services a host composes. Shared with the modules that run them.
pub(crate) struct Services {
    pub(crate) config: HostConfig,
    pub(crate) state: Arc<dyn StateBackend>,
    pub(crate) instances: Instances,
    pub(crate) versions: Arc<Versions>,
    pub(crate) ticker: Ticker,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) events: Events,
    /// This process's claim to be the state's runner, taken at the first tick and kept.
    runner: tokio::sync::OnceCell<RunnerLock>,
}

impl Services {
    /// Builds every service over `state`, with one sandbox engine.
    pub(crate) fn new(
        config: HostConfig,
        state: Arc<dyn StateBackend>,
    ) -> Result<Services, HostError> {
        let engine = SandboxEngine::new(config.component_cache.clone().map(|dir| CompileCache {
            dir,
            ledger: state.clone(),
        }))?;
        let metrics = Arc::new(Metrics::new());
        let events = Events::new();
        let versions = Arc::new(Versions::new(
            state.clone(),
            engine,
            VersionsConfig {
                source: config.component.clone(),
                limits: config.sandbox.clone(),
                store_dir: config.component_store.clone(),
                auto_rollback_after: config.auto_rollback_after,
            },
        ));
        let ticker = Ticker {
            state: state.clone(),
            versions: versions.clone(),
            credentials: Credentials::default(),
            outbound: Outbound::new(
                config.http.clone(),
                config.tuning.rate_limit_share_percent,
                config.outbound_interceptor.clone(),
            ),
            tuning: okta_ingest_model::Tuning::from(&config.tuning),
            recorder: TickRecorder::new(state.clone(), metrics.clone(), events.clone()),
            observer: Default::default(),
            proof_key: {
                let key = crate::dpop::ProofKey::generate();
                // Public (Okta writes it into every bound token as `cnf.jkt`), so fit for a log.
                tracing::debug!(
                    jkt = key.thumbprint(),
                    "generated this process's DPoP proof key"
                );
                Arc::new(key)
            },
            nonces: Arc::new(crate::dpop::Nonces::new(state.clone())),
        };
        Ok(Services {
            instances: Instances::new(state.clone()),
            state,
            versions,
            ticker,
            metrics,
            events,
            config,
            runner: tokio::sync::OnceCell::new(),
        })
    }

    /// Makes this process the state's runner (once; kept while the host lives). Everything that ticks
    /// or delivers calls this first: a second runner would fetch from the same cursor and drain the same
    /// outbox.
    pub(crate) async fn claim_runner(&self) -> Result<(), HostError> {
        self.runner
            .get_or_try_init(|| self.state.claim_runner())
            .await?;
        Ok(())
    }
}
