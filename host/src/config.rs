//! How a [`Host`](crate::Host) is built: [`HostConfig`] and the pacing it passes to every tick,
//! [`Tuning`].

use crate::outbound::{HttpLimits, OutboundInterceptor};
use crate::runtime::{ComponentSource, SandboxLimits};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Pacing and retry settings passed to every tick. The defaults are the shared model's
/// ([`okta_ingest_model::Tuning::default`]), the same the command line shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuning {
    /// Pages per tick before the scheduler gets control back.
    pub max_pages_per_tick: u32,
    /// Longest single wait for a rate-limit reset inside a tick (all such waits together: 5 times this).
    pub max_wait: Duration,
    /// First back-off after a 5xx or network error (doubles per retry).
    pub retry_base: Duration,
    /// Retries of one request before a tick gives up.
    pub max_retries: u32,
    /// Share of each org's System Log rate limit that this host's instances on it use together, percent.
    pub rate_limit_share_percent: u8,
    /// Events per page (Okta's maximum is 1,000).
    pub page_size: u32,
    /// Timeout of one request until Okta's response headers.
    pub request_timeout: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning::from(&okta_ingest_model::Tuning::default())
    }
}

impl From<&okta_ingest_model::Tuning> for Tuning {
    fn from(t: &okta_ingest_model::Tuning) -> Tuning {
        Tuning {
            max_pages_per_tick: t.max_pages,
            max_wait: Duration::from_millis(t.max_wait_ms),
            retry_base: Duration::from_millis(t.retry_base_ms),
            max_retries: t.max_retries,
            rate_limit_share_percent: t.rate_limit_share_percent,
            page_size: t.page_size,
            request_timeout: Duration::from_millis(t.request_timeout_ms),
        }
    }
}

impl From<&Tuning> for okta_ingest_model::Tuning {
    fn from(t: &Tuning) -> okta_ingest_model::Tuning {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        okta_ingest_model::Tuning {
            max_pages: t.max_pages_per_tick,
            max_wait_ms: ms(t.max_wait),
            retry_base_ms: ms(t.retry_base),
            max_retries: t.max_retries,
            rate_limit_share_percent: t.rate_limit_share_percent.clamp(1, 100),
            page_size: t.page_size.clamp(1, 1000),
            request_timeout_ms: ms(t.request_timeout),
        }
    }
}

/// How to build a [`Host`](crate::Host). [`HostConfig::new`] gives the defaults for a state file.
#[derive(Clone)]
pub struct HostConfig {
    /// The SQLite state file (instances, cursors, queued events, versions); created with mode 0600.
    pub db_path: PathBuf,
    /// Which connector component to run.
    pub component: ComponentSource,
    /// Limits of every call into the component.
    pub sandbox: SandboxLimits,
    /// Limits of every request the component sends.
    pub http: HttpLimits,
    /// Pacing passed to the connector.
    pub tuning: Tuning,
    /// Instances ticking at the same time.
    pub concurrency: usize,
    /// Consecutive traps or non-transient failures of a stored connector version on one instance before
    /// that instance is rolled back to the previous version (0: never).
    pub auto_rollback_after: u32,
    /// Where `component add` stores components (`STATE.components/` beside the state file).
    pub component_store: PathBuf,
    /// Where compiled components are cached across restarts (`None`: compile at every start). Only a
    /// directory of this user that others cannot write is used, and only files whose digest the state
    /// recorded are loaded (their machine code runs outside the sandbox).
    pub component_cache: Option<PathBuf>,
    /// Answers the connector's allowed requests instead of the network (benchmarks, tests).
    pub outbound_interceptor: Option<Arc<dyn OutboundInterceptor>>,
}

impl std::fmt::Debug for HostConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostConfig")
            .field("db_path", &self.db_path)
            .field("component", &self.component)
            .field("sandbox", &self.sandbox)
            .field("http", &self.http)
            .field("tuning", &self.tuning)
            .field("concurrency", &self.concurrency)
            .field("auto_rollback_after", &self.auto_rollback_after)
            .field("component_store", &self.component_store)
            .field("component_cache", &self.component_cache)
            .field("outbound_interceptor", &self.outbound_interceptor.is_some())
            .finish()
    }
}

impl HostConfig {
    /// The defaults for a state file: the embedded connector, the default limits and tuning (50% of each
    /// org's rate limit), 8 instances at a time, automatic rollback after 3 failures, stored and
    /// compiled components in `STATE.components/` beside the state file (its own: two state files in one
    /// directory do not share it).
    pub fn new(db_path: impl Into<PathBuf>) -> HostConfig {
        let db_path = db_path.into();
        let components = components_dir(&db_path);
        HostConfig {
            db_path,
            component: ComponentSource::Embedded,
            sandbox: SandboxLimits::default(),
            http: HttpLimits::default(),
            tuning: Tuning::default(),
            concurrency: 8,
            auto_rollback_after: 3,
            component_store: components.clone(),
            component_cache: Some(components),
            outbound_interceptor: None,
        }
    }
}

/// `STATE.components/` beside the state file `STATE`.
fn components_dir(db_path: &Path) -> PathBuf {
    let mut name = db_path.as_os_str().to_owned();
    name.push(".components");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuning_defaults_are_the_models_and_convert_back() {
        let t = Tuning::default();
        assert_eq!(t.max_wait, Duration::from_secs(120));
        assert_eq!(t.retry_base, Duration::from_secs(1));
        assert_eq!(t.request_timeout, Duration::from_secs(60));
        assert_eq!(
            okta_ingest_model::Tuning::from(&t),
            okta_ingest_model::Tuning::default()
        );
    }

    #[test]
    fn components_live_beside_the_state_file_named_after_it() {
        let c = HostConfig::new("/var/lib/okta/state.db");
        assert_eq!(
            c.component_store,
            Path::new("/var/lib/okta/state.db.components")
        );
        assert_eq!(
            c.component_cache.as_deref(),
            Some(Path::new("/var/lib/okta/state.db.components"))
        );
        // Two state files in one directory never share compiled code.
        assert_ne!(
            HostConfig::new("/var/lib/okta/other.db").component_store,
            c.component_store
        );
        assert_eq!(
            HostConfig::new("state.db").component_store,
            Path::new("state.db.components")
        );
    }
}
