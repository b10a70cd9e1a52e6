//! Connector versions in a running host: `component add` (validate, compile once, store by SHA-256),
//! activation and rollback ([`history`] says what they mean), resolution of each instance's active
//! version before each of its ticks (so a running `run` picks up an activation at each instance's next
//! tick while a tick in flight finishes on its version), and automatic rollback of a version that keeps
//! failing on an instance.
//!
//! Loaded versions are kept while the activation history is unchanged; when it changes (its generation
//! moves), every loaded stored version is dropped and the active ones load again on their next tick
//! (from the compile cache), so versions nobody runs any more do not stay in memory.

mod history;

use crate::error::HostError;
use crate::runtime::{
    ComponentSource, ConnectorInfo, ConnectorRuntime, RuntimeError, SandboxEngine, SandboxLimits,
};
use crate::state::{
    Activation, ActivationKind, ComponentHash, ComponentRecord, Instance, Scope, StateBackend,
    Version,
};
use history::AutoRollback;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// A stored version and the instances it runs for.
#[derive(Debug, Clone)]
pub struct ComponentUse {
    /// The stored component.
    pub component: ComponentRecord,
    /// Names of the instances whose active version it is.
    pub instances: Vec<String>,
}

/// A version rolled back automatically for an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RolledBack {
    pub from: String,
    pub to: String,
    pub reason: String,
}

/// How the versions service is set up.
pub(crate) struct VersionsConfig {
    pub source: ComponentSource,
    pub limits: SandboxLimits,
    pub store_dir: PathBuf,
    pub auto_rollback_after: u32,
}

/// Stored versions loaded in this process, valid for one activation generation.
#[derive(Default)]
struct Loaded {
    generation: i64,
    by_hash: HashMap<ComponentHash, Arc<ConnectorRuntime>>,
}

/// Connector versions: resolve, add, activate, roll back.
pub(crate) struct Versions {
    state: Arc<dyn StateBackend>,
    engine: SandboxEngine,
    config: VersionsConfig,
    /// The embedded connector, or the `ComponentSource::File` override.
    default: OnceCell<Arc<ConnectorRuntime>>,
    loaded: tokio::sync::Mutex<Loaded>,
    /// Consecutive failures per instance as last counted (the count lives in the state; this spares a
    /// write after every successful tick).
    failures: Mutex<HashMap<i64, u32>>,
}

impl Versions {
    pub(crate) fn new(
        state: Arc<dyn StateBackend>,
        engine: SandboxEngine,
        config: VersionsConfig,
    ) -> Versions {
        Versions {
            state,
            engine,
            config,
            default: OnceCell::new(),
            loaded: tokio::sync::Mutex::default(),
            failures: Mutex::default(),
        }
    }

    /// The runtime every instance uses unless a stored version is active: the embedded connector (or
    /// the configured file), compiled on first use.
    pub(crate) async fn default_runtime(&self) -> Result<Arc<ConnectorRuntime>, HostError> {
        let rt = self
            .default
            .get_or_try_init(|| async {
                ConnectorRuntime::load(
                    &self.engine,
                    &self.config.source,
                    self.config.limits.clone(),
                )
                .await
                .map(Arc::new)
            })
            .await?;
        Ok(rt.clone())
    }

    /// The runtime for an instance's active version, and that version. A configured file overrides
    /// activations.
    pub(crate) async fn resolve(
        &self,
        instance: &Instance,
    ) -> Result<(Arc<ConnectorRuntime>, Version), HostError> {
        if matches!(self.config.source, ComponentSource::File(_)) {
            return Ok((self.default_runtime().await?, Version::Embedded));
        }
        let version = self.active_version(instance.id).await?;
        let generation = self.state.activation_generation().await?;
        let mut loaded = self.loaded.lock().await;
        if loaded.generation != generation {
            // Activations changed: drop what is loaded; active versions reload from the compile cache.
            loaded.by_hash.clear();
            loaded.generation = generation;
        }
        let Version::Stored(hash) = &version else {
            drop(loaded);
            return Ok((self.default_runtime().await?, version));
        };
        if let Some(rt) = loaded.by_hash.get(hash) {
            return Ok((rt.clone(), version));
        }
        let Some(stored) = self.state.component(hash).await? else {
            return Err(HostError::VersionMissing(hash.to_string()));
        };
        // The stored file is named by its hash; a file changed since `component add` is not that
        // version any more. A fleet's state keeps the bytes themselves (checked the same way).
        let bytes = match self.state.component_bytes(hash).await? {
            Some(bytes) => bytes,
            None => crate::runtime::read_component(&stored.path)?,
        };
        if ComponentHash::of(&bytes) != *hash {
            return Err(HostError::VersionTampered {
                version: stored.version,
                path: stored.path.display().to_string(),
            });
        }
        let rt = Arc::new(
            ConnectorRuntime::from_bytes(
                &self.engine,
                &bytes,
                stored.path.display().to_string(),
                self.config.limits.clone(),
            )
            .await?,
        );
        loaded.by_hash.insert(hash.clone(), rt.clone());
        Ok((rt, version))
    }

    /// The version active for an instance.
    async fn active_version(&self, instance_id: i64) -> Result<Version, HostError> {
        let own = self
            .state
            .newest_activation(Scope::Instance(instance_id))
            .await?;
        if own.is_some() {
            return Ok(history::active(own.as_ref(), None));
        }
        let global = self.state.newest_activation(Scope::Global).await?;
        Ok(history::active(None, global.as_ref()))
    }

    /// The activation in force for an instance (`None`: nothing activated, the embedded connector).
    pub(crate) async fn active_activation(
        &self,
        instance_id: i64,
    ) -> Result<Option<Activation>, HostError> {
        match self
            .state
            .newest_activation(Scope::Instance(instance_id))
            .await?
        {
            Some(a) => Ok(Some(a)),
            None => Ok(self.state.newest_activation(Scope::Global).await?),
        }
    }

    /// Validates a `.wasm` (a component of our world with a compatible WIT major), compiles it once
    /// (into the compile cache), stores it under its SHA-256 and records it. Adding the same file twice
    /// is harmless. A refused file leaves no trace.
    pub(crate) async fn add(&self, file: &Path) -> Result<ComponentRecord, HostError> {
        let bytes = crate::runtime::read_component(file)?;
        let hash = ComponentHash::of(&bytes);
        let rt = ConnectorRuntime::from_bytes(
            &self.engine,
            &bytes,
            file.display().to_string(),
            self.config.limits.clone(),
        )
        .await?;
        let dir = &self.config.store_dir;
        let stored = dir.join(format!("{hash}.wasm"));
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| RuntimeError::Read { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        if !stored.exists() {
            let tmp = stored.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, &bytes)
                .and_then(|_| std::fs::rename(&tmp, &stored))
                .map_err(io(&stored))?;
        }
        let info = rt.info();
        let rec = ComponentRecord {
            hash: hash.clone(),
            name: info.name.clone(),
            version: info.version.clone(),
            wit_version: info.wit_version.clone(),
            state_schema: info.state_schema,
            path: stored,
            added_ms: crate::state::sqlite::now_as_stored(),
        };
        self.state.add_component(&rec, &bytes).await?;
        Ok(rec)
    }

    /// Stored versions with the instances that run them.
    pub(crate) async fn list(&self) -> Result<Vec<ComponentUse>, HostError> {
        let comps = self.state.components().await?;
        let mut active = Vec::new();
        for i in self.state.list_instances().await? {
            active.push((i.name, self.active_version(i.id).await?));
        }
        Ok(comps
            .into_iter()
            .map(|c| ComponentUse {
                instances: active
                    .iter()
                    .filter(|(_, v)| v.hash() == Some(&c.hash))
                    .map(|(n, _)| n.clone())
                    .collect(),
                component: c,
            })
            .collect())
    }

    /// What the embedded connector (or the configured file) says it is.
    pub(crate) async fn default_info(&self) -> Result<ConnectorInfo, HostError> {
        Ok(self.default_runtime().await?.info().clone())
    }

    /// A label for a version: `embedded 0.1.0` or `1.2.0 (abcd12345678)`.
    pub(crate) async fn label(&self, version: &Version) -> Result<String, HostError> {
        Ok(match version {
            Version::Embedded => match self.default_info().await {
                Ok(info) => format!("embedded {}", info.version),
                Err(e) => {
                    tracing::warn!("cannot load the embedded connector to label it: {e}");
                    "embedded (version unknown)".into()
                }
            },
            Version::Stored(h) => match self.state.component(h).await? {
                Some(c) => format!("{} ({})", c.version, c.hash.short(12)),
                None => format!("unknown ({h})"),
            },
        })
    }

    /// The version a user means: `embedded`, a stored semver, or a hash prefix of 8+ hex digits.
    async fn find(&self, given: &str) -> Result<Version, HostError> {
        if given == "embedded" {
            return Ok(Version::Embedded);
        }
        let all = self.state.components().await?;
        let by_version: Vec<&ComponentRecord> = all.iter().filter(|c| c.version == given).collect();
        let found: Vec<&ComponentRecord> = if !by_version.is_empty() {
            by_version
        } else if given.len() >= 8 {
            all.iter()
                .filter(|c| c.hash.as_str().starts_with(given))
                .collect()
        } else {
            Vec::new()
        };
        match found.as_slice() {
            [one] => Ok(Version::Stored(one.hash.clone())),
            [] => Err(HostError::VersionNotFound(given.to_string())),
            many => Err(HostError::AmbiguousVersion {
                given: given.to_string(),
                count: many.len(),
            }),
        }
    }

    /// Activates a version for all instances or one (a canary); returns its label.
    pub(crate) async fn activate(
        &self,
        given: &str,
        instance_id: Option<i64>,
    ) -> Result<String, HostError> {
        let version = self.find(given).await?;
        let scope = instance_id.map_or(Scope::Global, Scope::Instance);
        self.state
            .append_activation(scope, &version, ActivationKind::Activate, "activate")
            .await?;
        self.label(&version).await
    }

    /// Undoes the newest activation (globally or for one instance); returns the label now active.
    pub(crate) async fn rollback(&self, instance_id: Option<i64>) -> Result<String, HostError> {
        let scope = instance_id.map_or(Scope::Global, Scope::Instance);
        let history = self.state.activations(scope).await?;
        let global_newest = match scope {
            Scope::Instance(_) => self.state.newest_activation(Scope::Global).await?,
            Scope::Global => None,
        };
        let target = history::rollback_target(
            &history,
            matches!(scope, Scope::Instance(_)),
            global_newest.as_ref(),
        )
        .ok_or(HostError::NothingToRollBack)?;
        self.state
            .append_activation(scope, &target, ActivationKind::Rollback, "rollback")
            .await?;
        self.label(&target).await
    }

    /// Counts consecutive failures of a stored version on an instance (`failure`: the message of a
    /// failure that counts against the version, `None` after a tick that went well) and rolls the
    /// instance back after `auto_rollback_after` of them.
    pub(crate) async fn note_outcome(
        &self,
        instance: &Instance,
        version: &Version,
        failure: Option<&str>,
    ) -> Option<RolledBack> {
        let Some(message) = failure else {
            // Clear a stored count once per process, then only after failures.
            let dirty = self
                .failures
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(instance.id, 0)
                .is_none_or(|n| n > 0);
            if dirty {
                if let Err(e) = self.state.clear_failures(instance.id).await {
                    tracing::warn!(instance = %instance.name, "could not reset the failure count: {e}");
                }
            }
            return None;
        };
        let count = match self.state.record_failure(instance.id, version).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(instance = %instance.name, "could not count the failure: {e}");
                return None;
            }
        };
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(instance.id, count);
        let limit = self.config.auto_rollback_after;
        if limit == 0 || count < limit || *version == Version::Embedded {
            return None;
        }
        let reason = format!("auto-rollback after {limit} failures in a row: {message}");
        match self.auto_rollback(instance.id, &reason).await {
            Ok(Some(to)) => {
                let from = self.label(version).await.unwrap_or_default();
                let to = self.label(&to).await.unwrap_or_default();
                tracing::error!(instance = %instance.name, %from, %to, "connector version rolled back: {reason}");
                Some(RolledBack { from, to, reason })
            }
            Ok(None) => None,
            Err(e) => {
                tracing::error!(instance = %instance.name, "automatic rollback failed: {e}");
                None
            }
        }
    }

    /// Rolls one instance back from a failing version; returns the version now active for it.
    async fn auto_rollback(
        &self,
        instance_id: i64,
        reason: &str,
    ) -> Result<Option<Version>, HostError> {
        let scope = Scope::Instance(instance_id);
        let own = self.state.activations(scope).await?;
        let global = self.state.activations(Scope::Global).await?;
        let target = match history::auto_rollback(&own, &global) {
            AutoRollback::Nothing => return Ok(None),
            AutoRollback::UndoOwn => {
                let global_newest = global.last();
                match history::rollback_target(&own, true, global_newest) {
                    Some(t) => t,
                    None => return Ok(None),
                }
            }
            AutoRollback::Pin(t) => t,
        };
        self.state
            .append_activation(scope, &target, ActivationKind::AutoRollback, reason)
            .await?;
        self.state.clear_failures(instance_id).await?;
        Ok(Some(target))
    }

    /// How many stored versions are loaded (for tests of the cache).
    #[cfg(test)]
    async fn loaded_count(&self) -> usize {
        self.loaded.lock().await.by_hash.len()
    }
}

#[cfg(test)]
mod tests;
