//! The `host` interface the component imports: `sign` (the key stays here), `commit-page` (through the
//! [`Outbox`](crate::state::Outbox) trait, never a database directly) and `log`.
//!
//! `commit-page` is pipelined: the host waits for the previous page's commit, then validates and commits
//! this page in the background while the component fetches the next one. Pages still commit one at a
//! time, in order, each with its cursor; a failure is reported at the next commit or when the call ends,
//! and the stored cursor never passes a page that was not committed.

use super::bindings::{categories_from_wit, wit, HostImports, LogLevel};
use super::store::StoreData;
use super::validate::{validate_page, PageRefused};
use crate::exclusions::Exclusions;
use crate::redaction::Redaction;
use crate::state::{Page, PageEvent, StateError};
use okta_ingest_model::CategoryCounts;
use std::sync::Arc;

/// What a tick has committed so far, reported to the observer as pages land.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Pages committed (a page without events counts: it moved the cursor).
    pub pages: u64,
    /// Events committed.
    pub events: u64,
    /// Events committed per category (an event in two categories counts in both).
    pub per_category: CategoryCounts,
    /// `published` of the last event committed.
    pub last_published: Option<String>,
}

/// Called after every committed page with the instance's name and its tick's totals so far (progress
/// bars, status).
pub type CommitObserver = Arc<dyn Fn(&str, &CommitStats) + Send + Sync>;

/// What a background page commit did.
pub(super) struct PageCommit {
    result: Result<(), CommitFailure>,
    events: u64,
    per_category: CategoryCounts,
    last_published: Option<String>,
}

enum CommitFailure {
    /// The page broke an output limit (nothing was written).
    Refused(PageRefused),
    /// The state refused the commit (nothing was written).
    State(StateError),
}

impl StoreData {
    /// Waits for the page commit in flight, if any, and accounts for it. `Err` (the message for the
    /// component) if it failed; the failure itself is kept for the call's result.
    pub(super) async fn finish_commit(&mut self) -> Result<(), String> {
        let Some(handle) = self.in_flight.take() else {
            return Ok(());
        };
        let done = match handle.await {
            Ok(done) => done,
            Err(e) => {
                let e = StateError::Database(Box::new(e));
                let msg = e.to_string();
                self.commit_error.get_or_insert(e);
                return Err(msg);
            }
        };
        match done.result {
            Ok(()) => {
                let s = &mut self.stats;
                s.pages += 1;
                s.events += done.events;
                s.per_category.merge(&done.per_category);
                if done.last_published.is_some() {
                    s.last_published = done.last_published;
                }
                if let Some(obs) = &self.observer {
                    obs(&self.instance, &self.stats);
                }
                Ok(())
            }
            Err(CommitFailure::Refused(e)) => {
                tracing::warn!(instance = %self.instance, "refused a page from the connector: {e}");
                let msg = e.to_string();
                self.refused_page.get_or_insert(e);
                Err(msg)
            }
            Err(CommitFailure::State(e)) => {
                let msg = e.to_string();
                self.commit_error.get_or_insert(e);
                Err(msg)
            }
        }
    }
}

impl HostImports for StoreData {
    async fn sign(&mut self, signing_input: String) -> wasmtime::Result<Result<String, String>> {
        let Some(signer) = self.signer.clone() else {
            return Ok(Err("no signing key in this call".into()));
        };
        // RSA signing takes ~2 ms: keep it off the async worker threads.
        let sig = tokio::task::spawn_blocking(move || signer.sign_b64url(signing_input.as_bytes()))
            .await
            .map_err(|e| e.to_string());
        Ok(sig)
    }

    async fn commit_page(
        &mut self,
        events: Vec<wit::Event>,
        state: Vec<u8>,
    ) -> wasmtime::Result<Result<(), String>> {
        let Some(outbox) = self.outbox.clone() else {
            return Ok(Err("committing is not allowed during check".into()));
        };
        if let Err(e) = self.finish_commit().await {
            return Ok(Err(e));
        }
        let instance_id = self.instance_id;
        let limits = self.sandbox.clone();
        let exclusions = self.exclusions.clone();
        let redaction = self.redaction.clone();
        // One blocking thread per page, in order: validation parses every event, and the commit syncs
        // the disk. The outbox's (async) commit is driven from that thread; a local backend such as
        // SQLite runs it right there, a network one waits on the runtime's reactor.
        let runtime = tokio::runtime::Handle::current();
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            if let Err(refused) = validate_page(&limits, &events, &state) {
                return PageCommit::failed(CommitFailure::Refused(refused));
            }
            let (page, per_category) =
                match page(instance_id, events, state, &exclusions, &redaction) {
                    Ok(p) => p,
                    Err(refused) => return PageCommit::failed(CommitFailure::Refused(refused)),
                };
            let events = page.events.len() as u64;
            let last_published = page.events.last().map(|e| e.published.clone());
            let result = runtime
                .block_on(outbox.commit_page(page))
                .map_err(CommitFailure::State);
            PageCommit {
                result,
                events,
                per_category,
                last_published,
            }
        }));
        Ok(Ok(()))
    }

    async fn log(&mut self, level: LogLevel, message: String) -> wasmtime::Result<()> {
        let instance = &self.instance;
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

impl PageCommit {
    fn failed(failure: CommitFailure) -> PageCommit {
        PageCommit {
            result: Err(failure),
            events: 0,
            per_category: CategoryCounts::default(),
            last_published: None,
        }
    }
}

/// The host's page from the component's, moving every string (no copies), and its category counts.
/// The page to commit: the component's events minus the instance's excluded event types, each with
/// the members its redaction removes (both done here, before the outbox, so no sink ever sees them),
/// with the cursor that moves past all of them.
fn page(
    instance_id: i64,
    events: Vec<wit::Event>,
    cursor: Vec<u8>,
    exclusions: &Exclusions,
    redaction: &Redaction,
) -> Result<(Page, CategoryCounts), PageRefused> {
    let mut counts = CategoryCounts::default();
    let events = events
        .into_iter()
        .filter(|e| !exclusions.excludes(&e.event_type))
        .map(|mut e| {
            if !redaction.is_empty() {
                e.raw = redaction.apply(&e.raw).ok_or_else(|| PageRefused::NotJson {
                    uuid: e.uuid.clone(),
                    detail: "the instance's redaction cannot be applied to it (nested deeper than 64 along a rule's path)".into(),
                })?;
            }
            let categories = categories_from_wit(e.categories);
            counts.add(categories);
            Ok(PageEvent {
                uuid: e.uuid,
                event_type: e.event_type,
                published: e.published,
                categories,
                raw: e.raw,
            })
        })
        .collect::<Result<_, PageRefused>>()?;
    Ok((
        Page {
            instance_id,
            events,
            cursor,
        },
        counts,
    ))
}
