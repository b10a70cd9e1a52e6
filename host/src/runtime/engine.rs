//! The one wasmtime [`Engine`] of a host, its epoch ticker, and the compiled-component cache.
//!
//! Every connector version a host loads shares the engine (wasmtime's guidance, and Spin's): one epoch
//! thread advances it every 10 ms, so a deadline can interrupt any guest, and it stops when the last
//! clone of the engine is dropped. Compiling a component takes ~0.6 s; the machine code is cached in a
//! directory across restarts, keyed by the component's SHA-256 and a SHA-256 of the engine's
//! compatibility hash (never `DefaultHasher`, whose output may change between Rust releases), so a new
//! wasmtime or other settings never load stale code.
//!
//! Cached machine code runs outside the sandbox, so nothing in the cache is trusted by its name: the
//! host records each file's SHA-256 in the state ([`ArtifactLedger`]) when it writes it and loads only
//! bytes that match, read into memory first (no window between the check and the load). A cache
//! directory that is not this user's, or that others may write, is not used at all.

use super::RuntimeError;
use crate::state::{ArtifactLedger, ComponentHash};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::Component;
use wasmtime::Engine;

/// How often the epoch advances: the granularity of a guest's deadline.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The compile cache: a private directory, and the ledger that says what its files must contain.
#[derive(Clone)]
pub(crate) struct CompileCache {
    pub(crate) dir: PathBuf,
    pub(crate) ledger: Arc<dyn ArtifactLedger>,
}

/// A host's engine and compile cache.
#[derive(Clone)]
pub(crate) struct SandboxEngine {
    engine: Engine,
    cache: Option<CompileCache>,
}

/// Largest compiled-component file read back from the cache.
const MAX_CACHED_BYTES: u64 = 512 << 20;

impl SandboxEngine {
    /// A new engine with its epoch ticker; `cache` keeps compiled code across restarts.
    pub(crate) fn new(cache: Option<CompileCache>) -> Result<SandboxEngine, RuntimeError> {
        let mut cfg = wasmtime::Config::new();
        cfg.wasm_component_model(true);
        cfg.epoch_interruption(true);
        let engine = Engine::new(&cfg).map_err(|e| RuntimeError::Engine(e.to_string()))?;
        spawn_epoch_ticker(&engine);
        Ok(SandboxEngine { engine, cache })
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles `bytes`, or loads the machine code this host compiled earlier from the cache.
    pub(crate) async fn compile(
        &self,
        bytes: &[u8],
        what: &str,
    ) -> Result<Component, RuntimeError> {
        let not_a_component = |e: wasmtime::Error| RuntimeError::NotAComponent {
            what: what.to_string(),
            detail: format!("{e:#}"),
        };
        let Some(cache) = self.usable_cache() else {
            return Component::new(&self.engine, bytes).map_err(not_a_component);
        };
        let name = format!(
            "{}-{}.cwasm",
            ComponentHash::of(bytes),
            self.compatibility_key()
        );
        let path = cache.dir.join(&name);
        if let Some(component) = self.load_cached(cache, &name, &path).await {
            return Ok(component);
        }
        let component = Component::new(&self.engine, bytes).map_err(not_a_component)?;
        match write_cache(&cache.dir, &path, &component) {
            Ok(digest) => {
                if let Err(e) = cache.ledger.record_artifact(&name, &digest).await {
                    tracing::warn!("could not record the compiled component's digest (it is recompiled next start): {e}");
                }
            }
            Err(e) => {
                tracing::warn!(dir = %cache.dir.display(), "could not cache the compiled component (it is recompiled next start): {e}")
            }
        }
        Ok(component)
    }

    /// The cache, if its directory is this user's and private (created 0700 when missing).
    fn usable_cache(&self) -> Option<&CompileCache> {
        let cache = self.cache.as_ref()?;
        if !cache.dir.exists() {
            if let Err(e) = crate::files::create_private_dir(&cache.dir) {
                tracing::warn!(dir = %cache.dir.display(), "cannot create the compiled-component cache; compiling without it: {e}");
                return None;
            }
        }
        if !crate::files::is_private_dir(&cache.dir) {
            tracing::warn!(
                dir = %cache.dir.display(),
                "not using the compiled-component cache: the directory is not owned by this user or others may write to it (machine code from it would run outside the sandbox)"
            );
            return None;
        }
        Some(cache)
    }

    /// The cached machine code `name`, if its bytes are exactly what this host recorded writing.
    async fn load_cached(
        &self,
        cache: &CompileCache,
        name: &str,
        path: &Path,
    ) -> Option<Component> {
        let bytes = match crate::files::read_regular(path, MAX_CACHED_BYTES) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring an unreadable compiled-component cache entry: {e}");
                return None;
            }
        };
        let recorded = match cache.ledger.artifact_digest(name).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(
                    "cannot read the compiled component's recorded digest; compiling again: {e}"
                );
                return None;
            }
        };
        if recorded.as_deref() != Some(ComponentHash::of(&bytes).as_str()) {
            tracing::warn!(path = %path.display(), "ignoring a compiled-component cache entry this host did not write (its digest is not the one recorded); compiling again");
            return None;
        }
        // SAFETY: `deserialize` runs its input as machine code. These bytes are, digest for digest,
        // the ones this host serialized itself (the digest is in the state, which only this user can
        // write), for exactly this component and engine configuration (the file name).
        match unsafe { Component::deserialize(&self.engine, &bytes) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring an unusable compiled-component cache entry: {e:#}");
                None
            }
        }
    }

    /// 16 hex digits of a SHA-256 over the engine's compatibility hash.
    pub(super) fn compatibility_key(&self) -> String {
        let mut h = Sha256Hasher::default();
        self.engine.precompile_compatibility_hash().hash(&mut h);
        h.hex(8)
    }
}

/// A [`Hasher`] that feeds SHA-256, so a `Hash` value gives the same key on every Rust release.
#[derive(Default)]
struct Sha256Hasher(sha2::Sha256);

impl Sha256Hasher {
    fn hex(self, bytes: usize) -> String {
        use sha2::Digest;
        self.0
            .finalize()
            .iter()
            .take(bytes)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        sha2::Digest::update(&mut self.0, bytes);
    }
    fn finish(&self) -> u64 {
        use sha2::Digest;
        let d = self.0.clone().finalize();
        u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
    }
}

/// Writes the serialized component (0600, then renamed into place so a concurrent start never sees half
/// a file) and returns its SHA-256.
fn write_cache(dir: &Path, path: &Path, component: &Component) -> std::io::Result<String> {
    use std::io::Write;
    let code = component.serialize().map_err(std::io::Error::other)?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("cwasm"),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    crate::files::private_options()
        .write(true)
        .create_new(true)
        .open(&tmp)?
        .write_all(&code)?;
    std::fs::rename(&tmp, path)?;
    Ok(ComponentHash::of(&code).to_string())
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the last clone of the engine is dropped.
fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("okta-ingest-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            match weak.upgrade() {
                Some(e) => e.increment_epoch(),
                None => break,
            }
        });
    if let Err(e) = spawned {
        // Without it deadlines cannot interrupt a guest; every call still has its timeout future.
        tracing::error!("could not start the epoch thread: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compatibility_key_is_stable_for_an_engine_and_hex() {
        let a = SandboxEngine::new(None).unwrap();
        let b = SandboxEngine::new(None).unwrap();
        let k = a.compatibility_key();
        assert_eq!(k, b.compatibility_key(), "same settings, same key");
        assert_eq!(k.len(), 16);
        assert!(k.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn the_epoch_ticker_stops_with_the_engine() {
        let engine = SandboxEngine::new(None).unwrap();
        let weak = engine.engine().weak();
        drop(engine);
        std::thread::sleep(EPOCH_TICK * 5);
        assert!(weak.upgrade().is_none(), "nothing keeps the engine alive");
    }
}
