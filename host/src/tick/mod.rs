//! One tick of one instance: resolve its connector version, run the connector in the sandbox with the
//! instance's key, token and cursor, and report what it did ([`TickReport`], ending in one
//! [`TickOutcome`]). Also `check`, the same call path without commits.

mod outcome;
mod recorder;

pub use outcome::{FailureCause, TickFailure, TickOutcome, TickReport};
pub(crate) use recorder::TickRecorder;

use crate::credentials::Credentials;
use crate::dpop::{Nonces, ProofKey};
use crate::error::HostError;
use crate::outbound::Outbound;
use crate::runtime::{
    CallContext, CommitObserver, ConnectorConfig, ConnectorRuntime, DpopCall, TickInput,
};
use crate::state::{Instance, Outbox, StateBackend};
use crate::stop::StopSignal;
use crate::versions::Versions;
use okta_ingest_model::{EventSample, TokenScheme};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Longest single rate-limit wait inside a check, ms.
const CHECK_MAX_WAIT_MS: u64 = 10_000;
/// Longest wait for one response inside a check, ms.
const CHECK_REQUEST_TIMEOUT_MS: u64 = 10_000;

/// Runs ticks and checks.
pub(crate) struct Ticker {
    pub(crate) state: Arc<dyn StateBackend>,
    pub(crate) versions: Arc<Versions>,
    pub(crate) credentials: Credentials,
    pub(crate) outbound: Outbound,
    pub(crate) tuning: okta_ingest_model::Tuning,
    pub(crate) recorder: TickRecorder,
    pub(crate) observer: Mutex<Option<CommitObserver>>,
    /// This process's DPoP proof key (every bound token of the process is bound to it).
    pub(crate) proof_key: Arc<ProofKey>,
    /// The token endpoints' DPoP nonces, by domain.
    pub(crate) nonces: Arc<Nonces>,
}

fn connector_config(instance: &Instance) -> ConnectorConfig {
    ConnectorConfig {
        domain: instance.domain.clone(),
        client_id: instance.client_id.clone(),
        key_id: instance.key_id.clone(),
        backfill_days: instance.backfill_days,
        categories: instance.categories,
    }
}

impl Ticker {
    /// What a call for `instance` may use; `commit` lets it commit pages.
    fn call_context(
        &self,
        instance: &Instance,
        commit: bool,
        token_scheme: TokenScheme,
    ) -> Result<CallContext, HostError> {
        let signer = self.credentials.signer(&instance.private_key_path)?;
        let http = self.outbound.for_instance(
            &instance.name,
            &instance.domain,
            instance.ca_file.as_deref(),
        )?;
        let outbox: Option<Arc<dyn Outbox>> = commit.then(|| self.state.clone() as Arc<dyn Outbox>);
        Ok(CallContext {
            instance_id: instance.id,
            instance: instance.name.clone(),
            signer: Some(signer),
            outbox,
            http,
            observer: self
                .observer
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            dpop: Some(DpopCall {
                mode: instance.dpop,
                key: self.proof_key.clone(),
                nonces: self.nonces.clone(),
                domain: instance.domain.clone(),
                token_scheme,
            }),
            exclusions: instance.exclusions.clone(),
            redaction: instance.redaction.clone(),
        })
    }

    /// Runs one tick: up to `max_pages` pages, each committed with its cursor. An `Err` means the tick
    /// could not start (its version, key or CA file is unusable; nothing ran); anything that happens
    /// once the connector runs is in the report's outcome.
    ///
    /// `stop` ends it early at the host's shutdown ([`TickOutcome::Stopped`]).
    pub(crate) async fn tick(
        &self,
        instance: &Instance,
        stop: &StopSignal,
    ) -> Result<TickReport, HostError> {
        let started = Instant::now();
        let prepared = async {
            let (rt, version) = self.versions.resolve(instance).await?;
            let token = self.credentials.token(instance);
            let scheme = token.as_ref().map(|t| t.scheme).unwrap_or_default();
            let ctx = self.call_context(instance, true, scheme)?;
            let input = TickInput {
                config: connector_config(instance),
                state: self.state.cursor(instance.id).await?,
                token,
                tuning: self.tuning.clone(),
            };
            Ok::<_, HostError>((rt, version, ctx, input))
        };
        let (rt, version, ctx, input) = match prepared.await {
            Ok(p) => p,
            Err(e) => {
                // Recorded like any failed tick, so `status` shows why nothing happens.
                let report =
                    TickReport::could_not_start(&instance.name, e.to_string(), started.elapsed());
                self.recorder.record(instance, &report).await;
                return Err(e);
            }
        };
        let (result, committed) = rt.tick(ctx, &input, stop).await;
        let (outcome, connector_report) = TickOutcome::decide(result);
        let connector = rt.info().version.clone();
        let report = TickReport {
            instance: instance.name.clone(),
            connector: connector.clone(),
            pages_fetched: connector_report.as_ref().map_or(0, |r| u64::from(r.pages)),
            filtered: connector_report
                .as_ref()
                .map_or(0, |r| u64::from(r.filtered)),
            duplicates: connector_report
                .as_ref()
                .map_or(0, |r| u64::from(r.duplicates)),
            rate_limited: connector_report
                .as_ref()
                .map_or(0, |r| u64::from(r.rate_limited)),
            token_scheme: connector_report
                .as_ref()
                .and_then(|r| r.token.as_ref())
                .map(|t| t.scheme),
            outcome,
            committed,
            duration: started.elapsed(),
        };
        self.recorder.record(instance, &report).await;
        if matches!(report.outcome, TickOutcome::Stopped) {
            // Says nothing about the version either way.
            return Ok(report);
        }
        let counted = report
            .outcome
            .failure()
            .filter(|f| f.counts_against_version())
            .map(|f| f.message.as_str());
        if let Some(rb) = self
            .versions
            .note_outcome(instance, &version, counted)
            .await
        {
            self.recorder.rolled_back(instance, rb);
        }
        if let Some(r) = connector_report {
            tracing::debug!(
                instance = %instance.name,
                connector = %connector,
                pages = r.pages,
                events = report.committed.events,
                caught_up = r.caught_up,
                "tick done"
            );
            self.credentials.keep_token(instance, r.token);
        }
        Ok(report)
    }

    /// `check`: a token and one small page of the System Log, nothing committed. `Ok` is a one-line
    /// summary; Okta's (or the connector's) refusal is [`HostError::Check`].
    pub(crate) async fn check(
        &self,
        instance: &Instance,
        rt: &ConnectorRuntime,
    ) -> Result<String, HostError> {
        let ctx = self.call_context(instance, false, TokenScheme::Bearer)?;
        match rt
            .check(ctx, &connector_config(instance), &self.answer_tuning())
            .await?
        {
            Ok(msg) => Ok(msg),
            Err(e) => Err(check_failed(instance, e)),
        }
    }

    /// `sample`: counts of the org's events of the last `window` in the instance's categories, at most
    /// `max_pages` pages, nothing committed (see [`EventSample`]).
    pub(crate) async fn sample(
        &self,
        instance: &Instance,
        rt: &ConnectorRuntime,
        window: std::time::Duration,
        max_pages: u32,
    ) -> Result<EventSample, HostError> {
        let ctx = self.call_context(instance, false, TokenScheme::Bearer)?;
        let config = connector_config(instance);
        match rt
            .sample(ctx, &config, &self.answer_tuning(), window, max_pages)
            .await?
        {
            None => Err(HostError::SamplingUnsupported {
                version: rt.info().version.clone(),
                wit_version: rt.info().wit_version.clone(),
            }),
            Some(Ok(sample)) => Ok(sample),
            Some(Err(e)) => Err(check_failed(instance, e)),
        }
    }

    /// A check or a sample answers a person waiting for it: fewer retries and shorter waits than a
    /// tick, so it ends within the sandbox's check limit (permanent errors are not retried at all).
    fn answer_tuning(&self) -> okta_ingest_model::Tuning {
        okta_ingest_model::Tuning {
            max_retries: self.tuning.max_retries.min(2),
            max_wait_ms: self.tuning.max_wait_ms.min(CHECK_MAX_WAIT_MS),
            request_timeout_ms: self.tuning.request_timeout_ms.min(CHECK_REQUEST_TIMEOUT_MS),
            ..self.tuning.clone()
        }
    }
}

/// The connector's refusal in a check or a sample, as the host reports it.
fn check_failed(instance: &Instance, e: crate::runtime::ConnectorError) -> HostError {
    HostError::Check {
        instance: instance.name.clone(),
        kind: e.kind,
        message: e.message,
        http_status: e.http_status,
        okta_code: e.okta_code,
    }
}
