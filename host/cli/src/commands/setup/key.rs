//! The key of an instance being set up, by the wizard or by `instance add --generate-key`. A key made
//! here goes `keys/NAME/KID.pem` beside the state file (0600, directories 0700), and is removed again when
//! the setup ends without saving, unless it is kept on purpose. A key the user brings is only read, to
//! show its public half.

use anyhow::Context;
use okta_ingest::{instance_key_path, keys_dir, GeneratedKey, PublicKeyInfo};
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// A PEM private key is a few KiB; a larger file is no key, and is not read whole.
const MAX_KEY_FILE: u64 = 64 << 10;

/// A key generated in this run. Dropped without [`PendingKey::keep`], its file is removed (with its
/// directory, when that is left empty): whatever ends a setup without saving leaves no key behind.
pub(crate) struct PendingKey {
    key: GeneratedKey,
    db: PathBuf,
    path: PathBuf,
    keep: bool,
}

impl PendingKey {
    /// Writes `key`, just generated, for instance `name`. Generating is left to the caller, off the
    /// async threads: it takes a moment, and a setup stopped meanwhile must find no file written.
    pub(crate) fn write(key: GeneratedKey, db: &Path, name: &str) -> anyhow::Result<PendingKey> {
        // The name becomes a directory: refuse one that is not a plain name before writing anything.
        okta_ingest::validate_name(name)?;
        let path = instance_key_path(db, name, &key.public().kid);
        key.write_private_pem(&path)?;
        Ok(PendingKey {
            key,
            db: db.to_path_buf(),
            path,
            keep: false,
        })
    }

    /// The private key's file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The public half, to register in Okta.
    pub(crate) fn public(&self) -> &PublicKeyInfo {
        self.key.public()
    }

    /// Moves the key under instance `name` (the wizard asks for the name after the key was made).
    pub(super) fn rename(&mut self, name: &str) -> anyhow::Result<()> {
        okta_ingest::validate_name(name)?;
        let path = instance_key_path(&self.db, name, &self.key.public().kid);
        if path == self.path {
            return Ok(());
        }
        // Written anew rather than renamed, so the new directory gets the library's modes.
        self.key.write_private_pem(&path)?;
        let old = std::mem::replace(&mut self.path, path);
        remove_key_file(&old);
        Ok(())
    }

    /// Keeps the file: the instance using it was saved, or a later run is to reuse it.
    pub(crate) fn keep(mut self) -> PathBuf {
        self.keep = true;
        self.path.clone()
    }
}

impl Drop for PendingKey {
    fn drop(&mut self) {
        if !self.keep {
            remove_key_file(&self.path);
        }
    }
}

/// Removes a key file, and its directory if now empty.
fn remove_key_file(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        tracing::warn!(path = %path.display(), "cannot remove the key generated for the instance: {e}");
        return;
    }
    if let Some(dir) = path.parent() {
        // Fails, harmlessly, when other keys are in it.
        let _ = std::fs::remove_dir(dir);
    }
}

/// The public half of the private key in the user's file `path`; a file that is no usable key is
/// refused with the reason.
pub(super) fn read_public(path: &Path) -> anyhow::Result<PublicKeyInfo> {
    let text = read_key_file(path)?;
    Ok(PublicKeyInfo::from_private_pem(&text)?)
}

/// The one key generated earlier for instance `name` (by a `setup --answers` run whose test failed),
/// if there is exactly one.
pub(super) fn earlier_generated(db: &Path, name: &str) -> anyhow::Result<Option<PathBuf>> {
    let dir = keys_dir(db).join(name);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
    };
    let mut pems = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "pem") {
            pems.push(path);
        }
    }
    match pems.len() {
        0 => Ok(None),
        1 => Ok(pems.pop()),
        n => anyhow::bail!(
            "{} holds {n} keys for instance {name}: name the one registered in Okta as private_key instead of generate_key",
            dir.display()
        ),
    }
}

/// A key file's text, read bounded: only a regular file, and only if small enough to be a key.
fn read_key_file(path: &Path) -> anyhow::Result<String> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() {
        anyhow::bail!("{} is not a regular file", path.display());
    }
    if meta.len() > MAX_KEY_FILE {
        anyhow::bail!(
            "{} is {} bytes: too large for a PEM private key",
            path.display(),
            meta.len()
        );
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_KEY_FILE).read_to_string(&mut text))
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(text)
}
