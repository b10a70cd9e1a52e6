//! Connector versions in the running host: `component add` (validate, store content-addressed,
//! precompile), activation and rollback, per-tick resolution of the active version (so a running `run`
//! picks up an activation at each instance's next tick while a tick in flight finishes on its version),
//! and automatic rollback of a version that keeps failing on an instance.

use crate::ingest::{Host, HostError};
use crate::runtime::{wit, CommitStats, ComponentSource, ConnectorRuntime, RuntimeError};
use crate::state::InstanceRecord;
use crate::versions::{self, ComponentRecord};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A stored version and the instances it runs for.
#[derive(Debug, Clone)]
pub struct ComponentUse {
    /// The stored component.
    pub component: ComponentRecord,
    /// Instances whose active version it is.
    pub instances: Vec<String>,
}

impl Host {
    fn components_dir(&self) -> PathBuf {
        match &self.config.component_cache {
            Some(d) => d.clone(),
            None => self
                .config
                .db_path
                .parent()
                .unwrap_or(Path::new("."))
                .join("components"),
        }
    }

    /// Validates a `.wasm` (a component of our world with a compatible WIT major), stores it under its
    /// SHA-256 and precompiles it. Adding the same file twice is harmless.
    pub async fn add_component(&self, file: &Path) -> Result<ComponentRecord, HostError> {
        use sha2::Digest;
        let bytes = std::fs::read(file).map_err(|source| RuntimeError::Read {
            path: file.display().to_string(),
            source,
        })?;
        let hash: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        // Validate before storing anything: a refused file leaves no trace.
        let checked = ConnectorRuntime::load(
            &ComponentSource::File(file.to_path_buf()),
            self.config.sandbox.clone(),
        )
        .await?;
        let dir = self.components_dir();
        std::fs::create_dir_all(&dir).map_err(|source| RuntimeError::Read {
            path: dir.display().to_string(),
            source,
        })?;
        let stored = dir.join(format!("{hash}.wasm"));
        if !stored.exists() {
            let tmp = stored.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, &bytes)
                .and_then(|_| std::fs::rename(&tmp, &stored))
                .map_err(|source| RuntimeError::Read {
                    path: stored.display().to_string(),
                    source,
                })?;
        }
        drop(checked);
        // Load the stored copy through the compile cache so a restart never recompiles it.
        let rt = Arc::new(
            ConnectorRuntime::load_cached(
                &ComponentSource::File(stored.clone()),
                self.config.sandbox.clone(),
                Some(&dir),
            )
            .await?,
        );
        let d = rt.description();
        let rec = ComponentRecord {
            hash: hash.clone(),
            name: d.name.clone(),
            version: d.version.clone(),
            wit_version: d.wit_version.clone(),
            state_schema: d.state_schema,
            path: stored,
            added_ms: crate::state::now_ms(),
        };
        versions::add_component(&self.db(), &rec)?;
        self.versions.lock().await.insert(hash, rt);
        Ok(rec)
    }

    /// Stored versions with the instances that run them.
    pub fn list_components(&self) -> Result<Vec<ComponentUse>, HostError> {
        let db = self.db();
        let comps = versions::list_components(&db)?;
        let instances = db.list_instances()?;
        let mut active = Vec::new();
        for i in &instances {
            active.push((
                i.name.clone(),
                versions::active_for(&db, i.id)?.and_then(|a| a.hash),
            ));
        }
        Ok(comps
            .into_iter()
            .map(|c| ComponentUse {
                instances: active
                    .iter()
                    .filter(|(_, h)| h.as_deref() == Some(c.hash.as_str()))
                    .map(|(n, _)| n.clone())
                    .collect(),
                component: c,
            })
            .collect())
    }

    /// The activation in force for an instance (`None`: nothing activated, the embedded connector).
    pub fn active_activation(
        &self,
        instance_id: i64,
    ) -> Result<Option<versions::ActivationRecord>, HostError> {
        Ok(versions::active_for(&self.db(), instance_id)?)
    }

    /// A human label for a version: `1.2.0 (abcd1234)` or `embedded 0.1.0`.
    pub fn version_label(&self, hash: Option<&str>) -> Result<String, HostError> {
        Ok(match hash {
            None => format!("embedded {}", env!("CARGO_PKG_VERSION")),
            Some(h) => match versions::component(&self.db(), h)? {
                Some(c) => format!("{} ({})", c.version, &c.hash[..12]),
                None => format!("unknown ({h})"),
            },
        })
    }

    /// Activates a stored version (by semver or hash prefix; `embedded` for the built-in connector) for
    /// all instances or one (a canary). Running hosts pick it up at each instance's next tick.
    pub fn activate_component(
        &self,
        version: &str,
        instance: Option<&str>,
    ) -> Result<String, HostError> {
        let db = self.db();
        let hash = if version == "embedded" || version == "builtin" {
            None
        } else {
            let found = versions::find_components(&db, version)?;
            match found.as_slice() {
                [one] => Some(one.hash.clone()),
                [] => return Err(HostError::Version(format!("no stored component has version or hash {version:?}; see `okta-ingest component list`, or add it with `okta-ingest component add FILE`"))),
                many => return Err(HostError::Version(format!("{} stored components match {version:?}; give a longer hash prefix", many.len()))),
            }
        };
        let instance_id = instance
            .map(|n| db.get_instance(n).map(|r| r.id))
            .transpose()?;
        versions::activate(&db, instance_id, hash.as_deref(), "activate")?;
        drop(db);
        self.version_label(hash.as_deref())
    }

    /// Undoes the newest activation (globally or for one instance); returns the version now active.
    pub fn rollback_component(&self, instance: Option<&str>) -> Result<String, HostError> {
        let db = self.db();
        let instance_id = instance
            .map(|n| db.get_instance(n).map(|r| r.id))
            .transpose()?;
        let now = versions::rollback(&db, instance_id, "rollback")?;
        drop(db);
        match now {
            Some(hash) => self.version_label(hash.as_deref()),
            None => Err(HostError::Version(
                "nothing to roll back: no version was activated in that scope".into(),
            )),
        }
    }

    /// The runtime for an instance's active version, and that version's hash (`None` = embedded).
    /// `--component FILE` overrides activations.
    pub(crate) async fn runtime_for(
        &self,
        rec: &InstanceRecord,
    ) -> Result<(Arc<ConnectorRuntime>, Option<String>), HostError> {
        if matches!(self.config.component, ComponentSource::File(_)) {
            return Ok((self.runtime().await?, None));
        }
        let (hash, path) = {
            let db = self.db();
            match versions::active_for(&db, rec.id)?.and_then(|a| a.hash) {
                None => (None, None),
                Some(h) => {
                    let path = versions::component(&db, &h)?.map(|c| c.path);
                    (Some(h), path)
                }
            }
        };
        let (Some(hash), Some(path)) = (hash.clone(), path) else {
            if let Some(h) = hash {
                return Err(HostError::Version(format!(
                    "active version {h} is not stored any more; activate another"
                )));
            }
            return Ok((self.runtime().await?, None));
        };
        let mut loaded = self.versions.lock().await;
        if let Some(rt) = loaded.get(&hash) {
            return Ok((rt.clone(), Some(hash)));
        }
        let rt = Arc::new(
            ConnectorRuntime::load_cached(
                &ComponentSource::File(path),
                self.config.sandbox.clone(),
                Some(&self.components_dir()),
            )
            .await?,
        );
        loaded.insert(hash.clone(), rt.clone());
        Ok((rt, Some(hash)))
    }

    /// Counts consecutive non-transient failures of a stored version on an instance and rolls that
    /// instance back after `auto_rollback_after` of them.
    pub(crate) fn note_outcome(
        &self,
        rec: &InstanceRecord,
        version: Option<String>,
        result: &Result<(wit::TickReport, CommitStats), RuntimeError>,
    ) {
        use wit::ErrorKind as K;
        let failure = match result {
            Err(e) => Some(e.to_string()),
            Ok((r, _)) => r.error.as_ref().and_then(|e| {
                matches!(e.kind, K::State | K::Host | K::InvalidRequest).then(|| e.message.clone())
            }),
        };
        let limit = self.config.auto_rollback_after;
        let Some(message) = failure else {
            // Clear a stored count once per process, then only after failures.
            let dirty = self
                .failures
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(rec.id, 0)
                .is_none_or(|n| n > 0);
            if dirty {
                if let Err(e) = versions::clear_failures(&self.db(), rec.id) {
                    tracing::warn!(instance = %rec.name, "could not reset the failure count: {e}");
                }
            }
            return;
        };
        let count = match versions::record_failure(&self.db(), rec.id, version.as_deref()) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(instance = %rec.name, "could not count the failure: {e}");
                return;
            }
        };
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(rec.id, count);
        if limit == 0 || count < limit || version.is_none() {
            return;
        }
        let reason = format!("auto-rollback after {limit} failures in a row: {message}");
        let from = self.version_label(version.as_deref()).unwrap_or_default();
        let db = self.db();
        let rolled = versions::auto_rollback(&db, rec.id, &reason)
            .and_then(|r| versions::clear_failures(&db, rec.id).map(|_| r));
        drop(db);
        match rolled {
            Ok(Some(to)) => {
                let to = self.version_label(to.as_deref()).unwrap_or_default();
                tracing::error!(instance = %rec.name, %from, %to, "connector version rolled back: {reason}");
                self.emit(crate::ingest::StatusEvent::RolledBack {
                    instance: rec.name.clone(),
                    from,
                    to,
                    reason,
                });
            }
            Ok(None) => {}
            Err(e) => tracing::error!(instance = %rec.name, "automatic rollback failed: {e}"),
        }
    }
}
