//! What one tick did: [`TickReport`], and how it ended, [`TickOutcome`], decided once, here, for
//! everything that asks (the status, the scheduler, catch-up, automatic rollback).

use crate::runtime::{CommitStats, ConnectorReport, RuntimeError};
use crate::state::LastOutcome;
use okta_ingest_model::ErrorKind;
use std::sync::Arc;
use std::time::Duration;

/// How a tick ended.
#[derive(Debug, Clone)]
pub enum TickOutcome {
    /// Nothing more to fetch for now.
    CaughtUp,
    /// It stopped at the page limit: more is waiting, the instance ticks again at once.
    More,
    /// It ended early; everything committed before the failure stays committed.
    Failed(TickFailure),
    /// The host is stopping and ended it between commits; what it committed stays committed, the rest
    /// is fetched at the next start. Neither a failure nor progress for the version.
    Stopped,
}

/// Why a tick ended early.
#[derive(Debug, Clone)]
pub struct TickFailure {
    /// Who failed: Okta (as the connector classified it) or the sandbox.
    pub cause: FailureCause,
    /// One line: what failed and what to do.
    pub message: String,
}

/// Who failed in a tick.
#[derive(Debug, Clone)]
pub enum FailureCause {
    /// Okta (or the way to it), as the connector classified it.
    Okta {
        /// What kind of failure, e.g. `scope-not-granted`.
        kind: ErrorKind,
        /// HTTP status Okta answered, if any.
        http_status: Option<u16>,
        /// Okta's `errorCode` or OAuth `error`, if any.
        okta_code: Option<String>,
    },
    /// The sandbox stopped the connector: a trap, the deadline, a limit, a refused page or request, or
    /// a commit the state refused.
    Sandbox(Arc<RuntimeError>),
    /// The tick could not start: its key or CA file is unusable, its version cannot be loaded, or the
    /// state could not be read. Nothing ran.
    Setup,
}

impl TickFailure {
    /// True when the failure says something about the connector version rather than about Okta or the
    /// network: the sandbox stopped it, its cursor state was unreadable, the host refused it, or Okta
    /// refused its request as invalid. Such failures count towards an automatic rollback.
    pub fn counts_against_version(&self) -> bool {
        match &self.cause {
            FailureCause::Sandbox(_) => true,
            FailureCause::Setup => false,
            FailureCause::Okta { kind, .. } => matches!(
                kind,
                ErrorKind::State | ErrorKind::Host | ErrorKind::InvalidRequest
            ),
        }
    }
}

impl TickOutcome {
    /// The outcome from what the call returned; the connector's report, if it returned one, comes back
    /// for its counters and token.
    pub(crate) fn decide(
        result: Result<ConnectorReport, RuntimeError>,
    ) -> (TickOutcome, Option<ConnectorReport>) {
        match result {
            Err(RuntimeError::Stopped) => (TickOutcome::Stopped, None),
            Err(e) => (
                TickOutcome::Failed(TickFailure {
                    message: e.to_string(),
                    cause: FailureCause::Sandbox(Arc::new(e)),
                }),
                None,
            ),
            Ok(r) => {
                let outcome = match &r.error {
                    Some(e) => TickOutcome::Failed(TickFailure {
                        cause: FailureCause::Okta {
                            kind: e.kind,
                            http_status: e.http_status,
                            okta_code: e.okta_code.clone(),
                        },
                        message: e.message.clone(),
                    }),
                    None if r.caught_up => TickOutcome::CaughtUp,
                    None => TickOutcome::More,
                };
                (outcome, Some(r))
            }
        }
    }

    /// The failure, if the tick failed.
    pub fn failure(&self) -> Option<&TickFailure> {
        match self {
            TickOutcome::Failed(f) => Some(f),
            _ => None,
        }
    }

    /// True when the instance should tick again at once (stopped at the page limit, no failure).
    pub fn more(&self) -> bool {
        matches!(self, TickOutcome::More)
    }

    /// The outcome as the state records it.
    pub fn recorded(&self) -> LastOutcome {
        match self {
            TickOutcome::CaughtUp => LastOutcome::CaughtUp,
            // Stopped before catching up: more is waiting, and nothing failed.
            TickOutcome::More | TickOutcome::Stopped => LastOutcome::More,
            TickOutcome::Failed(_) => LastOutcome::Failed,
        }
    }
}

/// What one tick did.
#[derive(Debug, Clone)]
pub struct TickReport {
    /// The instance's name.
    pub instance: String,
    /// The connector version that ran it (`describe`'s version).
    pub connector: String,
    /// How it ended.
    pub outcome: TickOutcome,
    /// What it committed (also when it failed part-way).
    pub committed: CommitStats,
    /// System Log pages it fetched.
    pub pages_fetched: u64,
    /// Events received but outside the selected categories.
    pub filtered: u64,
    /// Events received again and dropped by the de-duplication window.
    pub duplicates: u64,
    /// 429 answers and rate-limit waits.
    pub rate_limited: u64,
    /// Wall time of the tick, from resolving the version to the connector's return.
    pub duration: Duration,
    /// How the token the tick ended with is presented (`None`: it ended without one).
    pub token_scheme: Option<okta_ingest_model::TokenScheme>,
}

impl TickReport {
    /// A tick of `instance` that could not start (nothing ran), for the record.
    pub(crate) fn could_not_start(
        instance: &str,
        message: String,
        duration: Duration,
    ) -> TickReport {
        TickReport {
            instance: instance.to_string(),
            connector: "-".into(),
            outcome: TickOutcome::Failed(TickFailure {
                cause: FailureCause::Setup,
                message,
            }),
            committed: CommitStats::default(),
            pages_fetched: 0,
            filtered: 0,
            duplicates: 0,
            rate_limited: 0,
            duration,
            token_scheme: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::ConnectorError;

    fn decide(r: Result<ConnectorReport, RuntimeError>) -> TickOutcome {
        TickOutcome::decide(r).0
    }

    fn report(caught_up: bool, error: Option<ErrorKind>) -> Result<ConnectorReport, RuntimeError> {
        Ok(ConnectorReport {
            pages: 1,
            filtered: 0,
            duplicates: 0,
            rate_limited: 0,
            caught_up,
            token: None,
            error: error.map(|kind| ConnectorError {
                kind,
                message: "m".into(),
                http_status: Some(400),
                okta_code: None,
            }),
        })
    }

    #[test]
    fn the_outcome_is_decided_once_from_the_report() {
        assert!(matches!(decide(report(true, None)), TickOutcome::CaughtUp));
        let more = decide(report(false, None));
        assert!(more.more() && more.failure().is_none());
        assert_eq!(more.recorded(), LastOutcome::More);
        let failed = decide(report(true, Some(ErrorKind::Network)));
        assert!(
            !failed.more(),
            "a failure is never 'more', even when caught up"
        );
        assert_eq!(failed.recorded(), LastOutcome::Failed);
        let trapped = decide(Err(RuntimeError::Trap("unreachable".into())));
        assert_eq!(
            trapped.failure().map(|f| f.message.as_str()),
            Some("connector trapped: unreachable")
        );
        let stopped = decide(Err(RuntimeError::Stopped));
        assert!(matches!(stopped, TickOutcome::Stopped));
        assert!(stopped.failure().is_none() && !stopped.more());
        assert_eq!(stopped.recorded(), LastOutcome::More);
    }

    #[test]
    fn only_failures_of_the_version_count_against_it() {
        let counts = |r| {
            decide(r)
                .failure()
                .is_some_and(|f| f.counts_against_version())
        };
        assert!(counts(Err(RuntimeError::Timeout(Duration::from_secs(1)))));
        for kind in [ErrorKind::State, ErrorKind::Host, ErrorKind::InvalidRequest] {
            assert!(counts(report(false, Some(kind))), "{kind}");
        }
        for kind in [
            ErrorKind::Network,
            ErrorKind::RateLimited,
            ErrorKind::ServerError,
            ErrorKind::InvalidSignature,
            ErrorKind::Forbidden,
        ] {
            assert!(!counts(report(false, Some(kind))), "{kind}");
        }
        assert!(!counts(report(true, None)));
    }
}
