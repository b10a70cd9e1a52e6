//! Rotating an instance's key without a gap: a new key is made and kept beside the old one (the
//! instance keeps signing with the old key, so ingestion never stops) until a check signed with the new
//! key's `kid` passes, which proves the user added it in Okta; only then does the instance switch, and
//! the old key is retired. Okta keeps up to 50 keys per app, so both can be registered at once.

use crate::error::HostError;
use crate::keys::{instance_key_path, keys_dir, GeneratedKey, PublicKeyInfo};
use crate::services::Services;
use crate::state::{Instance, InstanceChanges};
use std::path::{Path, PathBuf};

/// How a finished rotation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationDone {
    /// The `kid` the instance now signs with.
    pub new_kid: String,
    /// The `kid` it signed with before, if it had one.
    pub old_kid: Option<String>,
    /// The old key's file, and whether it was deleted (only files okta-ingest made are; a key the
    /// user brought is theirs to delete).
    pub old_key: (PathBuf, bool),
    /// The check's summary with the new key.
    pub check: String,
}

/// The keys directory, absolute: the instance stores the key's path, and a run may start elsewhere.
fn keys_root(services: &Services) -> PathBuf {
    let dir = keys_dir(&services.config.db_path);
    std::path::absolute(&dir).unwrap_or(dir)
}

/// Starts a rotation (or returns the one in progress): a new key, written 0600, recorded as pending.
pub(crate) async fn start(services: &Services, name: &str) -> Result<PublicKeyInfo, HostError> {
    let instance = services.state.instance(name).await?;
    if let Some((path, _)) = &instance.pending_key {
        let text =
            crate::files::read_regular(path, 64 << 10).map_err(|source| crate::KeyError::Read {
                path: path.display().to_string(),
                source,
            })?;
        return Ok(PublicKeyInfo::from_private_pem(&String::from_utf8_lossy(
            &text,
        ))?);
    }
    let db = services.config.db_path.clone();
    let instance_name = name.to_string();
    let (path, info) = tokio::task::spawn_blocking(move || {
        let key = GeneratedKey::generate()?;
        let path = instance_key_path(&db, &instance_name, &key.public().kid);
        key.write_private_pem(&path)?;
        Ok::<_, crate::keys::KeyFileError>((path, key.public().clone()))
    })
    .await
    .map_err(|e| HostError::NoKeyRotation(format!("{name} (key generation stopped: {e})")))??;
    services
        .state
        .edit_instance(
            name,
            &InstanceChanges {
                pending_key: Some(Some((path, info.kid.clone()))),
                ..InstanceChanges::default()
            },
        )
        .await?;
    Ok(info)
}

/// Finishes a rotation: a check signed with the new key; when it passes the instance switches to it
/// and the old key is retired, when it fails both stay as they were (the error says why).
pub(crate) async fn finish(services: &Services, name: &str) -> Result<RotationDone, HostError> {
    let instance = services.state.instance(name).await?;
    let Some((new_path, new_kid)) = instance.pending_key.clone() else {
        return Err(HostError::NoKeyRotation(name.to_string()));
    };
    let with_new = Instance {
        private_key_path: new_path.clone(),
        key_id: Some(new_kid.clone()),
        ..instance.clone()
    };
    let (rt, _) = services.versions.resolve(&with_new).await?;
    let check = services.ticker.check(&with_new, &rt).await?;
    services
        .state
        .edit_instance(
            name,
            &InstanceChanges {
                private_key_path: Some(new_path),
                key_id: Some(Some(new_kid.clone())),
                pending_key: Some(None),
                ..InstanceChanges::default()
            },
        )
        .await?;
    let old = instance.private_key_path.clone();
    let deleted = made_here(services, &old) && std::fs::remove_file(&old).is_ok();
    Ok(RotationDone {
        new_kid,
        old_kid: instance.key_id,
        old_key: (old, deleted),
        check,
    })
}

/// Cancels a rotation: the new key's file is deleted, the instance keeps its key.
pub(crate) async fn cancel(services: &Services, name: &str) -> Result<(), HostError> {
    let instance = services.state.instance(name).await?;
    let Some((path, _)) = instance.pending_key else {
        return Err(HostError::NoKeyRotation(name.to_string()));
    };
    services
        .state
        .edit_instance(
            name,
            &InstanceChanges {
                pending_key: Some(None),
                ..InstanceChanges::default()
            },
        )
        .await?;
    if made_here(services, &path) {
        let _ = std::fs::remove_file(&path);
    }
    Ok(())
}

/// True for a key file under the state's keys directory: one okta-ingest generated or stored.
fn made_here(services: &Services, path: &Path) -> bool {
    path.starts_with(keys_root(services))
}
