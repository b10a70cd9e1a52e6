//! The one wasmtime [`Engine`] of a host, its epoch ticker, and the compiled-component cache.
//!
//! Every connector version a host loads shares the engine (wasmtime's guidance, and Spin's): one epoch
//! thread advances it every 10 ms, so a deadline can interrupt any guest, and it stops when the last
//! clone of the engine is dropped. Compiling a component takes ~0.6 s; the machine code is cached in a
//! directory across restarts, keyed by the component's SHA-256 and a SHA-256 of the engine's
//! compatibility hash (never `DefaultHasher`, whose output may change between Rust releases), so a new
//! wasmtime or other settings never load stale code.

use super::RuntimeError;
use crate::state::ComponentHash;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;
use wasmtime::component::Component;
use wasmtime::Engine;

/// How often the epoch advances: the granularity of a guest's deadline.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// A host's engine and compile cache.
#[derive(Clone)]
pub(crate) struct SandboxEngine {
    engine: Engine,
    cache_dir: Option<PathBuf>,
}

impl SandboxEngine {
    /// A new engine with its epoch ticker; `cache_dir` keeps compiled code across restarts.
    pub(crate) fn new(cache_dir: Option<PathBuf>) -> Result<SandboxEngine, RuntimeError> {
        let mut cfg = wasmtime::Config::new();
        cfg.wasm_component_model(true);
        cfg.epoch_interruption(true);
        let engine = Engine::new(&cfg).map_err(|e| RuntimeError::Engine(e.to_string()))?;
        spawn_epoch_ticker(&engine);
        Ok(SandboxEngine { engine, cache_dir })
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles `bytes`, or loads the machine code compiled earlier from the cache.
    pub(crate) fn compile(&self, bytes: &[u8], what: &str) -> Result<Component, RuntimeError> {
        let not_a_component = |e: wasmtime::Error| RuntimeError::NotAComponent {
            what: what.to_string(),
            detail: format!("{e:#}"),
        };
        let Some(dir) = &self.cache_dir else {
            return Component::new(&self.engine, bytes).map_err(not_a_component);
        };
        let path = dir.join(format!(
            "{}-{}.cwasm",
            ComponentHash::of(bytes),
            self.compatibility_key()
        ));
        if path.exists() {
            // SAFETY: the file is one this host serialized itself into its private (0700) cache directory,
            // named by the exact component hash and engine compatibility; `deserialize_file` trusts its input.
            match unsafe { Component::deserialize_file(&self.engine, &path) } {
                Ok(c) => return Ok(c),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "ignoring an unusable compiled-component cache entry: {e:#}");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let component = Component::new(&self.engine, bytes).map_err(not_a_component)?;
        if let Err(e) = write_cache(dir, &path, &component) {
            tracing::warn!(dir = %dir.display(), "could not cache the compiled component (it is recompiled next start): {e}");
        }
        Ok(component)
    }

    /// 16 hex digits of a SHA-256 over the engine's compatibility hash.
    fn compatibility_key(&self) -> String {
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

fn write_cache(dir: &Path, path: &Path, component: &Component) -> std::io::Result<()> {
    let code = component.serialize().map_err(std::io::Error::other)?;
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    // Write then rename, so a concurrent start never sees half a file.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, code)?;
    std::fs::rename(&tmp, path)
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
